//! ber
