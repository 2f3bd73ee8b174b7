//! G.711 audio as DAHDI channels carry it: the companding law (crate g711, re-exported here)
//! and the 20 ms block every FXS port reads and writes.

pub use g711::{alaw_decode, alaw_encode, ulaw_decode, ulaw_encode, Law, UnknownLaw};

/// Sample rate of DAHDI channels, Hz.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples (octets) in one block (`DAHDI_SET_BLOCKSIZE 160`).
pub const BLOCK_SAMPLES: usize = 160;
/// Duration of one block, ms.
pub const BLOCK_MS: u64 = 20;
/// One block of G.711 codes in the port's law: what a back-end writes to the channel at once.
pub type Block = [u8; BLOCK_SAMPLES];
