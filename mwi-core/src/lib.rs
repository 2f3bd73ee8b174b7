//! What sipd and chand share: the MWI state of a number, the configuration schema with its
//! validation, the routing rule (which FXS port or PRI span a number goes to), and the
//! shared-memory MWI table that carries state from sipd to chand.

pub mod config;
pub mod mwi;
pub mod route;
pub mod service;
pub mod table;

pub use mwi::{MessageClass, MwiSink, MwiState};
