//! The play-out buffer of one RTP stream towards a DAHDI channel: G.711 payloads in as they
//! arrive, one 20 ms frame out per tick of the channel's clock.
//!
//! - Timestamps are extended to 64 bits (wrap and reordering safe); a payload may be any
//!   whole number of samples (10, 20, 30 ms packets).
//! - The interarrival jitter J is the estimator of RFC 3550 §6.4.1 (J += (|D| - J) / 16).
//!   The target delay is 3·J plus one frame, held within [`MIN_DELAY`]..=[`MAX_DELAY`].
//! - A frame whose samples are missing while the buffer holds at least the target delay of
//!   later ones is a loss: concealed ([`crate::plc`]) and played past. A frame missing from a
//!   buffer shallower than the target is concealed without moving the play-out point, which
//!   adds one frame of delay (how the delay grows when the network's jitter does).
//! - A buffer deeper than the target by a frame for a whole second drops 10 ms (how the delay
//!   shrinks again). A packet more than [`MAX_DELAY`] ahead of the play-out point re-bases it
//!   (the sender jumped: a new talk spurt after hold, a restarted stream).
//! - Late packets (behind the play-out point) and duplicates are counted and dropped; at most
//!   [`MAX_PACKETS`] are held.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fxs::Law;

use crate::plc::Concealer;
use crate::FRAME;

/// Least and initial target delay, in samples (20 ms).
pub const MIN_DELAY: u64 = 160;
/// Largest target delay, in samples (200 ms).
pub const MAX_DELAY: u64 = 1600;
/// Packets held at most.
pub const MAX_PACKETS: usize = 128;
/// Pulls over which the buffer must stay too deep before it is trimmed (1 s of frames).
const TRIM_WINDOW: u32 = 50;
/// Samples dropped by one trim (10 ms).
const TRIM: u64 = 80;

/// What the buffer counted, for status and RTCP reports.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct JitterStats {
    /// Packets taken.
    pub received: u64,
    /// Frames concealed because their packets were lost.
    pub lost: u64,
    /// Frames concealed while the buffer was shallower than the target (the delay grew by a
    /// frame each).
    pub underruns: u64,
    /// Packets that came after their play-out time.
    pub late: u64,
    /// Packets seen twice.
    pub duplicates: u64,
    /// Times 10 ms were dropped to shrink the delay, or the stream was re-based.
    pub trims: u64,
    /// Interarrival jitter (RFC 3550 §6.4.1), ms.
    pub jitter_ms: f64,
    /// Current target delay, ms.
    pub target_ms: f64,
}

/// The play-out buffer.
pub struct JitterBuffer {
    law: Law,
    concealer: Concealer,
    /// Extended timestamp → payload.
    packets: BTreeMap<u64, Vec<u8>>,
    /// Extended timestamp of the next sample to play, once the first packet came.
    playout: Option<u64>,
    /// Timestamp of the packet that set the play-out point: before it, the target delay's
    /// lead-in is silence, not loss.
    lead_in_end: u64,
    /// The last timestamp seen and its extension.
    last: Option<(u32, u64)>,
    epoch: Option<Instant>,
    /// RFC 3550 §6.4.1: previous transit time and the jitter, in samples.
    transit: Option<i64>,
    jitter: f64,
    /// Pulls in a row at which the buffer was deeper than target + one frame.
    deep: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer for payloads in `law`.
    pub fn new(law: Law) -> Self {
        Self {
            law,
            concealer: Concealer::new(law),
            packets: BTreeMap::new(),
            playout: None,
            lead_in_end: 0,
            last: None,
            epoch: None,
            transit: None,
            jitter: 0.0,
            deep: 0,
            stats: JitterStats {
                target_ms: MIN_DELAY as f64 / 8.0,
                ..JitterStats::default()
            },
        }
    }

    /// The payload of a packet with RTP timestamp `timestamp`, received at `now`.
    pub fn handle_packet(&mut self, now: Instant, timestamp: u32, payload: &[u8]) {
        if payload.is_empty() {
            return;
        }
        let ts = self.extend(timestamp);
        self.update_jitter(now, ts);
        self.stats.received += 1;
        let playout = match self.playout {
            Some(p) if ts > p + MAX_DELAY => {
                self.stats.trims += 1;
                self.packets.clear();
                self.start_at(ts)
            }
            Some(p) => p,
            None => self.start_at(ts),
        };
        if ts + payload.len() as u64 <= playout {
            self.stats.late += 1;
            return;
        }
        if self.packets.insert(ts, payload.to_vec()).is_some() {
            self.stats.duplicates += 1;
        }
        while self.packets.len() > MAX_PACKETS {
            self.packets.pop_first();
        }
    }

    /// The frame to play now, one per 20 ms tick.
    pub fn pull(&mut self) -> [u8; FRAME] {
        let Some(mut p) = self.playout else {
            return [self.law.silence(); FRAME];
        };
        self.trim(&mut p);
        // Drop what is wholly behind the play-out point.
        while let Some((&ts, payload)) = self.packets.first_key_value() {
            if ts + payload.len() as u64 > p {
                break;
            }
            self.packets.pop_first();
        }
        let mut frame = [self.law.silence(); FRAME];
        let mut found = false;
        for (&ts, payload) in self.packets.range(..p + FRAME as u64) {
            for (i, &octet) in payload.iter().enumerate() {
                let at = ts + i as u64;
                if (p..p + FRAME as u64).contains(&at) {
                    frame[(at - p) as usize] = octet;
                    found = true;
                }
            }
        }
        let out = if found || p + FRAME as u64 <= self.lead_in_end {
            p += FRAME as u64;
            self.concealer.good(&frame)
        } else if self.depth_from(p) >= self.target() {
            self.stats.lost += 1;
            p += FRAME as u64;
            self.concealer.lost()
        } else {
            self.stats.underruns += 1;
            self.concealer.lost()
        };
        self.playout = Some(p);
        out
    }

    /// What was counted so far.
    pub fn stats(&self) -> JitterStats {
        JitterStats {
            jitter_ms: self.jitter / 8.0,
            target_ms: self.target() as f64 / 8.0,
            ..self.stats
        }
    }

    /// The current depth: samples buffered from the play-out point to the end of the newest
    /// packet.
    pub fn depth(&self) -> u64 {
        self.playout.map_or(0, |p| self.depth_from(p))
    }

    fn depth_from(&self, p: u64) -> u64 {
        self.packets.last_key_value().map_or(0, |(&ts, payload)| {
            (ts + payload.len() as u64).saturating_sub(p)
        })
    }

    /// Sets the play-out point the target delay before `ts`; returns it.
    fn start_at(&mut self, ts: u64) -> u64 {
        let p = ts.saturating_sub(self.target());
        self.playout = Some(p);
        self.lead_in_end = ts;
        p
    }

    fn target(&self) -> u64 {
        ((3.0 * self.jitter) as u64 + FRAME as u64).clamp(MIN_DELAY, MAX_DELAY)
    }

    /// Drops [`TRIM`] samples when the buffer has been a frame deeper than the target for
    /// [`TRIM_WINDOW`] pulls in a row.
    fn trim(&mut self, p: &mut u64) {
        if self.depth() > self.target() + FRAME as u64 {
            self.deep += 1;
        } else {
            self.deep = 0;
        }
        if self.deep >= TRIM_WINDOW {
            *p += TRIM;
            self.deep = 0;
            self.stats.trims += 1;
        }
    }

    /// `ts` extended to 64 bits against the last timestamp seen (RFC 3550 §A.1's idea for
    /// sequence numbers, applied to timestamps): a step of less than 2^31 either way.
    fn extend(&mut self, ts: u32) -> u64 {
        let ext = match self.last {
            // Start high enough that reordered packets before the first stay positive.
            None => (1 << 32) + u64::from(ts),
            Some((last, last_ext)) => {
                let step = i64::from(ts.wrapping_sub(last) as i32);
                last_ext.saturating_add_signed(step)
            }
        };
        if !self.last.is_some_and(|(_, e)| ext <= e) {
            self.last = Some((ts, ext));
        }
        ext
    }

    /// RFC 3550 §6.4.1: D = (R_j - R_i) - (S_j - S_i) in samples, J += (|D| - J) / 16.
    fn update_jitter(&mut self, now: Instant, ts: u64) {
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = samples(now.saturating_duration_since(epoch));
        let transit = arrival as i64 - ts as i64;
        if let Some(prev) = self.transit {
            let d = (transit - prev).unsigned_abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }
}

/// A duration in samples at 8 kHz.
fn samples(d: Duration) -> u64 {
    (d.as_micros() / 125) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(k: u64) -> Vec<u8> {
        // Frame k carries its number in every octet, so the output shows which frame played.
        vec![(k % 200) as u8 + 1; FRAME]
    }

    /// Frames 0..n sent every 20 ms, each arriving `delay(k)` ms late; one pull every 20 ms
    /// (pulls start with the first arrival). Returns the frames played (their marks) and the
    /// buffer.
    fn run(n: u64, delay: impl Fn(u64) -> Option<u64>) -> (Vec<u8>, JitterBuffer) {
        let law = Law::Mulaw;
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(law);
        let mut arrivals: Vec<(u64, u64)> = (0..n)
            .filter_map(|k| delay(k).map(|d| (20 * k + d, k)))
            .collect();
        arrivals.sort();
        let mut played = Vec::new();
        let mut next = arrivals.iter().peekable();
        for tick in 0..n + 20 {
            let now_ms = 20 * tick;
            while let Some(&&(at, k)) = next.peek() {
                if at > now_ms {
                    break;
                }
                let ts = (k * FRAME as u64) as u32;
                jb.handle_packet(t0 + Duration::from_millis(at), ts, &payload(k));
                next.next();
            }
            let out = jb.pull();
            played.push(out[FRAME - 1]);
        }
        (played, jb)
    }

    #[test]
    fn steady_stream_plays_every_frame_in_order() {
        let (played, jb) = run(100, |_| Some(5));
        let marks: Vec<u8> = played.iter().copied().filter(|&m| m != 0xff).collect();
        let expected: Vec<u8> = (0..100).map(|k| payload(k)[0]).collect();
        // Each output is delayed by the concealer's 30 samples: the last octet of a frame out
        // is frame k's octet, in order, every frame.
        assert!(marks
            .windows(expected.len())
            .any(|w| w == expected.as_slice()));
        let s = jb.stats();
        assert_eq!((s.lost, s.late, s.duplicates), (0, 0, 0));
        assert!(s.jitter_ms < 0.5);
    }

    #[test]
    fn losses_are_concealed_and_counted() {
        let (_, jb) = run(200, |k| (k % 20 != 7).then_some(3));
        let s = jb.stats();
        assert_eq!(s.lost, 10);
        assert_eq!(s.received, 190);
    }

    #[test]
    fn jitter_raises_the_target_and_late_packets_are_counted_not_played() {
        // ±20 ms of jitter: the estimate rises and the delay follows.
        let (_, jb) = run(300, |k| Some(if k % 3 == 0 { 40 } else { 0 }));
        let s = jb.stats();
        assert!(s.jitter_ms > 5.0, "jitter {}", s.jitter_ms);
        assert!(s.target_ms > 20.0, "target {}", s.target_ms);
        assert!(s.late + s.lost < 30, "{s:?}");
    }

    #[test]
    fn timestamps_wrap_and_duplicates_are_dropped() {
        let law = Law::Alaw;
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(law);
        let start = u32::MAX - 2 * FRAME as u32;
        for k in 0..10u32 {
            let ts = start.wrapping_add(k * FRAME as u32);
            let now = t0 + Duration::from_millis(20 * u64::from(k));
            jb.handle_packet(now, ts, &payload(k.into()));
            jb.handle_packet(now, ts, &payload(k.into()));
            jb.pull();
        }
        let s = jb.stats();
        assert_eq!(s.duplicates, 10);
        assert_eq!(s.lost, 0);
        assert!(jb.depth() <= 2 * FRAME as u64);
    }

    #[test]
    fn a_jump_ahead_rebases_and_memory_stays_bounded() {
        let law = Law::Mulaw;
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(law);
        jb.handle_packet(t0, 0, &payload(0));
        jb.handle_packet(t0, 8000 * 60, &payload(1));
        assert_eq!(jb.stats().trims, 1);
        for k in 0..1000u32 {
            jb.handle_packet(t0, 8000 * 60 + k * 7, &[1, 2, 3, 4, 5, 6, 7]);
        }
        assert!(jb.packets.len() <= MAX_PACKETS);
    }
}
