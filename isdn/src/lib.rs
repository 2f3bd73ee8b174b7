//! Sans-IO ISDN signalling for message waiting on a PRI D-channel: Q.921 LAPD, Q.931
//! call-independent signalling, ROSE/BER, the ECMA-242 (QSIG) and ETSI EN 300 745-1 MWI
//! operations. No I/O: frames and
//! time in, frames, timers and events out.

#![forbid(unsafe_code)]

pub mod ber;
pub mod call;
pub mod dump;
pub mod etsi;
pub mod q921;
pub mod q931;
pub mod qsig;
pub mod rose;
pub mod span;
