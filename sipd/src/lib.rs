//! sipd: the SIP user agent of dahdi-mwi. It learns the message-waiting state of every
//! configured number from a voice-mail server (RFC 3842 message-summary, by subscription or
//! unsolicited NOTIFY); the user agent reports it as events and the daemon writes the shared
//! table.
//!
//! Protocol logic is sans-IO on the `sansio::Core` contract: [`wire`] (messages), [`summary`]
//! (bodies), [`transaction`] (RFC 3261 §17), [`digest`] (RFC 7616/8760), [`ua`] (RFC 6665
//! subscriptions, registration, OPTIONS) take bytes and time and return bytes, timers and
//! events; only the daemon touches sockets.
#![forbid(unsafe_code)]

pub mod call;
pub mod challenge;
pub mod daemon;
pub mod digest;
pub mod guard;
pub mod limits;
pub mod nonces;
pub mod notifier;
pub mod resolve;
pub mod sdp;
pub mod secret;
pub mod snapshot;
pub mod status;
pub mod summary;
pub mod trace;
pub mod transaction;
pub mod ua;
pub mod wire;
