//! qsig
