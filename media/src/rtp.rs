//! RTP (RFC 3550 §5) for one G.711 call leg: the codecs, the random identity of our source,
//! and the receive-side sequence accounting of RFC 3550 Appendix A.1 and A.3 that the
//! receiver reports carry.
//!
//! Headers are parsed and built with the `rtp-types` crate, which checks what RFC 3550 §A.1
//! asks of a received header: version 2, the CSRC list and the extension within the packet,
//! and a padding count that is non-zero and within the packet.

use fxs::Law;

/// The codecs of a call: the vocabulary of the call-control protocol (`callctl::Codec`), so the
/// daemons and the media path name them one way.
pub use callctl::Codec;

/// The companding law of `codec`'s payload octets.
pub fn law_of(codec: Codec) -> Law {
    match codec {
        Codec::Pcmu => Law::Mulaw,
        Codec::Pcma => Law::Alaw,
    }
}

/// Re-encodes G.711 octets of one law into the other through the 16-bit linear sample (the
/// mapping of G.711 Tables 1 and 2; µ-law ↔ A-law is not one-to-one, so a round trip may move a
/// sample by one step). A 256-entry table, built once per direction of a call.
#[derive(Clone)]
pub struct Transcoder {
    table: [u8; 256],
}

impl Transcoder {
    /// The table from law `from` to law `to`; `None` when they match (octets then pass
    /// untouched).
    pub fn new(from: Law, to: Law) -> Option<Self> {
        (from != to).then(|| Self {
            table: std::array::from_fn(|o| to.encode(from.decode(o as u8))),
        })
    }

    /// Re-encodes `octets` in place.
    pub fn apply(&self, octets: &mut [u8]) {
        for o in octets {
            *o = self.table[usize::from(*o)];
        }
    }
}

/// The random starting point of our source (RFC 3550 §5.1: SSRC, initial sequence number and
/// timestamp random, so a packet cannot be guessed by someone off the path), plus a CNAME and
/// a seed for the RTCP interval's randomisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Our synchronisation source.
    pub ssrc: u32,
    /// Sequence number of our first packet.
    pub sequence: u16,
    /// RTP timestamp of our first sample.
    pub timestamp: u32,
    /// 96 random bits, the CNAME (RFC 7022 §4.2: a per-session random CNAME).
    pub cname: [u8; 12],
    /// Seed of the generator that randomises RTCP intervals (not a secret).
    pub seed: u64,
}

impl Identity {
    /// Draws an identity from the operating system's CSPRNG.
    ///
    /// # Errors
    /// The CSPRNG's error (e.g. no entropy source).
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut b = [0u8; 30];
        getrandom::fill(&mut b)?;
        Ok(Self::from_bytes(b))
    }

    /// An identity from 30 given octets (tests and fuzzing use fixed ones).
    pub fn from_bytes(b: [u8; 30]) -> Self {
        let mut cname = [0u8; 12];
        cname.copy_from_slice(&b[10..22]);
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&b[22..30]);
        Self {
            ssrc: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            sequence: u16::from_be_bytes([b[4], b[5]]),
            timestamp: u32::from_be_bytes([b[6], b[7], b[8], b[9]]),
            cname,
            // xorshift needs a non-zero state.
            seed: u64::from_be_bytes(seed) | 1,
        }
    }
}

/// A gap larger than this is a jump, not a loss (RFC 3550 §A.1 `MAX_DROPOUT`).
pub const MAX_DROPOUT: u16 = 3000;
/// A packet this far behind the highest is a late or duplicate one (RFC 3550 §A.1
/// `MAX_MISORDER`); further behind is a jump.
pub const MAX_MISORDER: u16 = 100;

/// What [`Sequence::update`] made of a sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seq {
    /// In order, or within [`MAX_DROPOUT`] ahead (the gap counts as lost), or reordered or
    /// duplicated within [`MAX_MISORDER`] behind.
    Valid,
    /// A jump: dropped, unless the next packet follows it (then the source restarted and the
    /// counts start over: RFC 3550 §A.1).
    Jump,
}

/// The receive statistics of one source (RFC 3550 §A.1 `source`, §A.3 loss).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sequence {
    max_seq: u16,
    /// Wraps of the sequence number, shifted left 16 (RFC 3550 §A.1 `cycles`).
    cycles: u32,
    base_seq: u32,
    /// The sequence number that would confirm a jump (RFC 3550 §A.1 `bad_seq`).
    bad_seq: Option<u16>,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
}

impl Sequence {
    /// Starts counting at the first packet of a source, numbered `seq`.
    pub fn new(seq: u16) -> Self {
        Self {
            max_seq: seq,
            cycles: 0,
            base_seq: u32::from(seq),
            bad_seq: None,
            received: 1,
            expected_prior: 0,
            received_prior: 0,
        }
    }

    /// Accounts for a packet numbered `seq` (RFC 3550 §A.1 `update_seq`).
    pub fn update(&mut self, seq: u16) -> Seq {
        let delta = seq.wrapping_sub(self.max_seq);
        if delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
        } else if delta <= u16::MAX - MAX_MISORDER {
            if self.bad_seq != Some(seq) {
                self.bad_seq = Some(seq.wrapping_add(1));
                return Seq::Jump;
            }
            *self = Self::new(seq);
            return Seq::Valid;
        }
        self.bad_seq = None;
        self.received = self.received.wrapping_add(1);
        Seq::Valid
    }

    /// Whether `seq` would be taken as in order or a permissible gap after the highest number
    /// seen (what a packet from a new address must show to move the stream there).
    pub fn follows(&self, seq: u16) -> bool {
        let delta = seq.wrapping_sub(self.max_seq);
        delta != 0 && delta < MAX_DROPOUT
    }

    /// The extended highest sequence number received (RFC 3550 §6.4.1).
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets received (duplicates included, as RFC 3550 §A.3 counts them).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// The cumulative number of packets lost (RFC 3550 §A.3): expected minus received, which
    /// duplicates can make negative; clamped to the report's signed 24 bits.
    pub fn cumulative_lost(&self) -> i32 {
        let expected = self.expected();
        let lost = i64::from(expected) - i64::from(self.received);
        lost.clamp(-0x80_0000, 0x7f_ffff) as i32
    }

    /// The fraction lost since the last call, in 1/256 (RFC 3550 §A.3); the interval restarts.
    pub fn fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        }
    }

    fn expected(&self) -> u32 {
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_counts_losses_wraps_and_duplicates() {
        let mut s = Sequence::new(65_530);
        for seq in 65_531..=65_535u16 {
            assert_eq!(s.update(seq), Seq::Valid);
        }
        // Wrap, with 2 and 5 lost.
        for seq in [0u16, 1, 3, 4, 6] {
            assert_eq!(s.update(seq), Seq::Valid);
        }
        assert_eq!(s.extended_max(), (1 << 16) + 6);
        assert_eq!(s.cumulative_lost(), 2);
        assert_eq!(s.fraction_lost(), (2 * 256 / 13) as u8);
        assert_eq!(s.fraction_lost(), 0); // nothing since
        assert_eq!(s.update(6), Seq::Valid); // duplicate
        assert_eq!(s.cumulative_lost(), 1);
    }

    #[test]
    fn a_jump_is_dropped_once_and_then_restarts_the_count() {
        let mut s = Sequence::new(100);
        assert_eq!(s.update(20_000), Seq::Jump);
        assert_eq!(s.extended_max(), 100);
        assert_eq!(s.update(20_001), Seq::Valid);
        assert_eq!(s.extended_max(), 20_001);
        assert_eq!(s.received(), 1);
        assert_eq!(s.cumulative_lost(), 0);
        assert!(s.follows(20_002) && !s.follows(20_001) && !s.follows(30_000));
    }

    #[test]
    fn identity_fields_and_transcoding() {
        let mut b = [0u8; 30];
        b[0] = 0x12;
        b[5] = 7;
        let id = Identity::from_bytes(b);
        assert_eq!(id.ssrc, 0x1200_0000);
        assert_eq!(id.sequence, 7);
        assert_eq!(id.seed, 1);
        let a = Identity::random().expect("getrandom");
        let b = Identity::random().expect("getrandom");
        assert_ne!((a.ssrc, a.cname), (b.ssrc, b.cname));
        let mut octets = [Law::Mulaw.encode(1000), Law::Mulaw.silence()];
        Transcoder::new(Law::Mulaw, Law::Alaw)
            .expect("laws differ")
            .apply(&mut octets);
        assert!(Transcoder::new(Law::Alaw, Law::Alaw).is_none());
        assert_eq!(
            octets,
            [
                Law::Alaw.encode(Law::Mulaw.decode(Law::Mulaw.encode(1000))),
                Law::Alaw.silence()
            ]
        );
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(law_of(Codec::Pcmu), Law::Mulaw);
    }
}
