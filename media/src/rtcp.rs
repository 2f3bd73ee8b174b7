//! RTCP (RFC 3550 §6) for one call leg with one remote source: compound packets built and read
//! with the `rtcp-types` crate, NTP timestamps, round-trip time, and the report interval.
//!
//! Every compound we send is an SR (when we sent RTP since the last report) or an RR, then an
//! SDES with our CNAME (RFC 3550 §6.1), then a BYE when the stream closes (§6.6). A received
//! compound is taken only when it is valid as a whole (RFC 3550 §A.2: version 2, lengths that
//! add up, padding only on the last packet, an SR or RR first); packets we do not use (APP,
//! XR, feedback) are skipped.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rtcp_types::{
    Bye, Compound, CompoundBuilder, Packet, ReceiverReport, ReportBlock, RtcpPacketWriter,
    RtcpPacketWriterExt, Sdes, SdesChunk, SdesItem, SenderReport,
};

/// The mean report interval (RFC 3550 §6.2 reduced to what one two-party call needs: its
/// 5 s minimum).
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// `t` as a 64-bit NTP timestamp (RFC 3550 §4: seconds since 1900 in the high 32 bits, the
/// fraction in the low 32). Times before 1970 count as 1970.
pub fn ntp(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp (RFC 3550 §6.4.1 LSR), in 1/65536 s.
pub fn middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// `d` in units of 1/65536 s, saturated to 32 bits (RFC 3550 §6.4.1 DLSR).
pub fn short_units(d: Duration) -> u32 {
    u32::try_from(d.as_micros() * 65_536 / 1_000_000).unwrap_or(u32::MAX)
}

/// The round-trip time from a report block about our source (RFC 3550 §6.4.1: A - LSR - DLSR,
/// A the arrival time in the same middle-32-bit units); `None` when the block carries no LSR
/// (the peer has not had an SR of ours yet) or the result is negative (clocks or a bad block).
pub fn round_trip(arrival: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let units = arrival.wrapping_sub(lsr).wrapping_sub(dlsr);
    if units > i32::MAX as u32 {
        return None;
    }
    Some(Duration::from_micros(u64::from(units) * 1_000_000 / 65_536))
}

/// The next report interval: [`INTERVAL`] scaled by a random factor in [0.5, 1.5) (RFC 3550
/// §6.3.1, so the reports of many streams do not synchronise). `state` is an xorshift64
/// generator, advanced.
pub fn next_interval(state: &mut u64) -> Duration {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let unit = (*state >> 11) as f64 / (1u64 << 53) as f64;
    INTERVAL.mul_f64(0.5 + unit)
}

/// What our sender report says (RFC 3550 §6.4.1 sender info).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderInfo {
    /// The wall-clock time of the report, NTP format.
    pub ntp: u64,
    /// The same instant on the RTP clock.
    pub rtp_timestamp: u32,
    /// Packets sent since the start (modulo 2^32).
    pub packets: u32,
    /// Payload octets sent since the start (modulo 2^32).
    pub octets: u32,
}

/// What we report about the remote source (one RFC 3550 §6.4.1 report block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// The remote source reported on.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (signed 24 bits).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_max: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the remote's last SR; 0 if none.
    pub lsr: u32,
    /// Delay since that SR, 1/65536 s; 0 if none.
    pub dlsr: u32,
}

/// Builds one compound: SR (when `sender` is given) or RR, with at most one report `block`,
/// SDES CNAME, and a BYE when `bye`.
///
/// # Errors
/// A CNAME longer than the 255 octets of an SDES item (RFC 3550 §6.5).
pub fn build(
    ssrc: u32,
    cname: &str,
    sender: Option<SenderInfo>,
    block: Option<Block>,
    bye: bool,
) -> Result<Vec<u8>, rtcp_types::RtcpWriteError> {
    let report = block.map(|b| {
        ReportBlock::builder(b.ssrc)
            .fraction_lost(b.fraction_lost)
            // The field is 24-bit two's complement (RFC 3550 §6.4.1).
            .cumulative_lost(b.cumulative_lost as u32 & 0xff_ffff)
            .extended_sequence_number(b.extended_max)
            .interarrival_jitter(b.jitter)
            .last_sender_report_timestamp(b.lsr)
            .delay_since_last_sender_report_timestamp(b.dlsr)
    });
    let mut compound = CompoundBuilder::default();
    compound = match sender {
        Some(s) => {
            let mut sr = SenderReport::builder(ssrc)
                .ntp_timestamp(s.ntp)
                .rtp_timestamp(s.rtp_timestamp)
                .packet_count(s.packets)
                .octet_count(s.octets);
            if let Some(r) = report {
                sr = sr.add_report_block(r);
            }
            compound.add_packet(sr)
        }
        None => {
            let mut rr = ReceiverReport::builder(ssrc);
            if let Some(r) = report {
                rr = rr.add_report_block(r);
            }
            compound.add_packet(rr)
        }
    };
    compound =
        compound.add_packet(Sdes::builder().add_chunk(
            SdesChunk::builder(ssrc).add_item(SdesItem::builder(SdesItem::CNAME, cname)),
        ));
    if bye {
        compound = compound.add_packet(Bye::builder().add_source(ssrc));
    }
    let mut out = vec![0; compound.calculate_size()?];
    compound.write_into(&mut out)?;
    Ok(out)
}

/// Why a received compound was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// A packet of it did not parse (the crate's reason).
    Parse(rtcp_types::RtcpParseError),
    /// The first packet is not an SR or RR (RFC 3550 §6.1, §A.2).
    NotReportFirst,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(e) => write!(f, "RTCP compound: {e}"),
            Self::NotReportFirst => f.write_str("RTCP compound does not start with an SR or RR"),
        }
    }
}

impl std::error::Error for Error {}

/// A report block about one of the sender's sources, as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost, 1/256.
    pub fraction_lost: u8,
    /// Interarrival jitter, timestamp units.
    pub jitter: u32,
    /// LSR as echoed.
    pub lsr: u32,
    /// DLSR as echoed.
    pub dlsr: u32,
}

/// What a valid compound told us.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// The SSRC of the SR or RR that opens the compound.
    pub sender: u32,
    /// The NTP timestamp of the sender report, when it is one.
    pub sr_ntp: Option<u64>,
    /// The report blocks (at most 31 per report: RFC 3550 §6.4.1's 5-bit count).
    pub blocks: Vec<ReceivedBlock>,
    /// The sources a BYE in it says leave.
    pub bye: Vec<u32>,
}

/// Reads a compound, all or nothing.
///
/// # Errors
/// [`Error`] when any packet is malformed or the first is not a report.
pub fn parse(bytes: &[u8]) -> Result<Received, Error> {
    let mut out = Received::default();
    for (i, packet) in Compound::parse(bytes).map_err(Error::Parse)?.enumerate() {
        match (i, packet.map_err(Error::Parse)?) {
            (0, Packet::Sr(sr)) => {
                out.sender = sr.ssrc();
                out.sr_ntp = Some(sr.ntp_timestamp());
                out.blocks.extend(sr.report_blocks().map(|b| received(&b)));
            }
            (0, Packet::Rr(rr)) => {
                out.sender = rr.ssrc();
                out.blocks.extend(rr.report_blocks().map(|b| received(&b)));
            }
            (0, _) => return Err(Error::NotReportFirst),
            (_, Packet::Bye(bye)) => out.bye.extend(bye.ssrcs()),
            _ => {}
        }
    }
    Ok(out)
}

fn received(b: &ReportBlock<'_>) -> ReceivedBlock {
    ReceivedBlock {
        ssrc: b.ssrc(),
        fraction_lost: b.fraction_lost(),
        jitter: b.interarrival_jitter(),
        lsr: b.last_sender_report_timestamp(),
        dlsr: b.delay_since_last_sender_report_timestamp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_of_a_known_time_and_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_500);
        assert_eq!(ntp(t), ((NTP_UNIX_OFFSET + 1) << 32) | (1 << 31));
        assert_eq!(
            middle(ntp(t)),
            ((NTP_UNIX_OFFSET as u32 + 1) << 16) | 0x8000
        );
        // LSR at 1.0 s, held 0.25 s by the peer, back at 1.5 s: 250 ms.
        let rtt = round_trip(0x1_8000, 0x1_0000, 0x4000).expect("rtt");
        assert_eq!(rtt, Duration::from_millis(250));
        assert_eq!(round_trip(0x1_8000, 0, 0), None);
        assert_eq!(round_trip(0x1_0000, 0x1_8000, 0), None);
        assert_eq!(short_units(Duration::from_secs(2)), 0x2_0000);
    }

    #[test]
    fn intervals_are_randomised_around_five_seconds() {
        let mut state = 0x1234_5678_9abc_def1;
        let all: Vec<Duration> = (0..1000).map(|_| next_interval(&mut state)).collect();
        assert!(all
            .iter()
            .all(|d| *d >= INTERVAL / 2 && *d < INTERVAL * 3 / 2));
        let mean = all.iter().sum::<Duration>() / 1000;
        assert!(mean > Duration::from_millis(4_800) && mean < Duration::from_millis(5_200));
    }

    #[test]
    fn sr_sdes_bye_round_trip() {
        let block = Block {
            ssrc: 7,
            fraction_lost: 25,
            cumulative_lost: -1,
            extended_max: 70_000,
            jitter: 80,
            lsr: 0x1234_5678,
            dlsr: 0x10,
        };
        let info = SenderInfo {
            ntp: 0xdead_beef_0000_0001,
            rtp_timestamp: 9,
            packets: 3,
            octets: 480,
        };
        let bytes = build(5, "a1b2", Some(info), Some(block), true).expect("build");
        assert_eq!(bytes.len() % 4, 0);
        let got = parse(&bytes).expect("parse");
        assert_eq!(got.sender, 5);
        assert_eq!(got.sr_ntp, Some(info.ntp));
        assert_eq!(
            got.blocks,
            [ReceivedBlock {
                ssrc: 7,
                fraction_lost: 25,
                jitter: 80,
                lsr: 0x1234_5678,
                dlsr: 0x10
            }]
        );
        assert_eq!(got.bye, [5]);
        let rr = build(5, "a1b2", None, None, false).expect("build");
        assert_eq!(parse(&rr).expect("rr").sr_ntp, None);
    }

    #[test]
    fn a_real_peers_compound_and_bad_ones() {
        // RR with one block + SDES CNAME "user@host" + BYE, laid out by hand after RFC 3550
        // §6.4.2, §6.5, §6.6 (as baresip and SIPp send them).
        let mut c = vec![0x81, 201, 0, 7, 0, 0, 0, 1];
        c.extend([
            0, 0, 0, 2, 0x10, 0, 0, 3, 0, 1, 0, 5, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        c.extend([0x81, 202, 0, 4, 0, 0, 0, 1, 1, 9]);
        c.extend(b"user@host");
        c.push(0); // the chunk's end, to a 32-bit boundary
        c.extend([0x81, 203, 0, 1, 0, 0, 0, 1]);
        let got = parse(&c).expect("compound");
        assert_eq!(got.sender, 1);
        assert_eq!(got.blocks[0].fraction_lost, 0x10);
        assert_eq!(got.blocks[0].jitter, 9);
        assert_eq!(got.bye, [1]);
        // SDES first: not a report.
        assert_eq!(parse(&c[32..]), Err(Error::NotReportFirst));
        // Truncated, wrong version, empty: errors, no panic.
        assert!(matches!(parse(&c[..30]), Err(Error::Parse(_))));
        let mut v1 = c.clone();
        v1[32] = 0x41;
        assert!(matches!(parse(&v1), Err(Error::Parse(_))));
        assert!(matches!(parse(&[]), Err(Error::Parse(_))));
    }
}
