//! sipd: the SIP user agent of dahdi-mwi. It learns the message-waiting state of every
//! configured number from a voice-mail server (RFC 3842 message-summary, by subscription or
//! unsolicited NOTIFY) and writes it through [`mwi_core::MwiSink`].
//!
//! Protocol logic is sans-IO: [`wire`] (messages), [`summary`] (bodies), [`transaction`]
//! (RFC 3261 §17), [`digest`] (RFC 7616/8760), [`subscription`] (RFC 6665) take bytes and time
//! and return bytes, timers and events; only the daemon touches sockets.

pub mod daemon;
pub mod digest;
pub mod guard;
pub mod limits;
pub mod nonces;
pub mod resolve;
pub mod sink;
pub mod snapshot;
pub mod status;
pub mod summary;
pub mod transaction;
pub mod ua;
pub mod wire;
