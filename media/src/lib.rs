//! The media path of a call, sans-IO (the contract of the `sansio` crate): what chand's
//! real-time loop needs between a DAHDI channel's 20 ms G.711 blocks and the RTP socket.
//!
//! - [`event`]: RFC 4733 telephone-events: the 4-octet payload, a sender that turns a digit
//!   into its packets, a receiver that turns packets back into digits.
//! - [`jitter`]: the play-out buffer: RTP payloads in, one 20 ms block per tick out, adaptive
//!   delay from the RFC 3550 §6.4.1 interarrival jitter, losses concealed by [`plc`].
//! - [`plc`]: packet-loss concealment after ITU-T G.711 Appendix I (pitch-period repetition).
//!
//! G.711 passes through untouched when the line's law is the codec's: samples are decoded only
//! to conceal a loss.
#![forbid(unsafe_code)]

pub mod event;
pub mod jitter;
pub mod plc;

/// Samples per second of G.711 and of RFC 4733 events on it (RFC 3551 §4.5.14).
pub const RATE: u32 = 8000;
/// Samples in one 20 ms packet or DAHDI block.
pub const FRAME: usize = 160;
