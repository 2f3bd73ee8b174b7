//! What sipd and chand share about a number: its message-waiting state ([`MwiState`]) and
//! where it goes ([`route`]: an FXS port, a PRI span, or not served). The configuration, the
//! shared-memory table and the service plumbing are crates of their own (mwi-config,
//! mwi-table, mwi-service; ARCHITECTURE.md).
#![forbid(unsafe_code)]

pub mod mwi;
pub mod route;

pub use mwi::{MessageClass, MwiSink, MwiState};
