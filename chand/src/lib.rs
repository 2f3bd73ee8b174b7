//! chand, the dahdi-mwi channel daemon: FXS ports and QSIG PRI spans, on DAHDI or the sim back-end.
#![forbid(unsafe_code)]

pub mod backend;
pub mod control;
pub mod daemon;
pub mod seqpacket;
pub mod status;
pub mod trace;
