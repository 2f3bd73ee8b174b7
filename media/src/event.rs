//! RFC 4733 telephone-events (DTMF digits and flash as RTP payloads).
//!
//! Payload (RFC 4733 §2.3): `event` (8 bits), `E` end bit, `R` reserved, `volume` (6 bits, the
//! tone's power as -dBm0, 0..=63), `duration` (16 bits, in timestamp units: 1/8000 s).
//! One event keeps one RTP timestamp (its start); its packets grow the duration; the end packet
//! is sent three times (§2.5.1.4). The first packet carries the RTP marker bit (§2.5.1.3).

use std::time::{Duration, Instant};

use sansio::Timers;

/// Octets of the payload.
pub const LEN: usize = 4;

/// How often the sender reports a running event (RFC 4733 §2.5.1.2 suggests 50 ms; one per
/// 20 ms packet interval keeps it aligned with the audio packets it replaces).
pub const UPDATE: Duration = Duration::from_millis(20);

/// Times the end packet is sent (RFC 4733 §2.5.1.4: the final packet three times).
pub const END_REPEATS: u8 = 3;

/// Longest event, in timestamp units: the 16-bit duration field (8.19 s at 8 kHz). Longer key
/// presses are ended there (RFC 4733 §2.5.1.3 would split them into segments).
pub const MAX_DURATION: u16 = u16::MAX;

/// How long the receiver waits for the next packet of a running event before it ends it
/// itself (its end packets were lost).
pub const RECEIVE_TIMEOUT: Duration = Duration::from_millis(250);

/// The payload of one telephone-event packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payload {
    /// Event code: 0-9 digits, 10 `*`, 11 `#`, 12-15 `A`-`D`, 16 flash (RFC 4733 §3.2 Table 3).
    pub event: u8,
    /// The E bit: this is the event's end.
    pub end: bool,
    /// Power of the tone, -dBm0 (0..=63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

/// Why a payload was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not [`LEN`] octets or more (RFC 4733 §2.3; more may follow in redundant payloads, which
    /// are read from their first 4 octets only).
    Short(usize),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Short(n) => write!(f, "telephone-event payload of {n} octets (4 needed)"),
        }
    }
}

impl std::error::Error for Error {}

impl Payload {
    /// Reads the first four octets of an RTP payload.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let b: [u8; LEN] = bytes
            .get(..LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(Error::Short(bytes.len()))?;
        Ok(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The four octets (R is sent as 0).
    pub fn emit(&self) -> [u8; LEN] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }
}

/// The RFC 4733 event code of a DTMF key or flash (`!`), `None` for anything else.
pub fn code(key: char) -> Option<u8> {
    Some(match key {
        '0'..='9' => key as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => key as u8 - b'A' + 12,
        '!' => 16,
        _ => return None,
    })
}

/// The key of an RFC 4733 event code (`!` for flash), `None` for codes that are not keys.
pub fn key(code: u8) -> Option<char> {
    Some(match code {
        0..=9 => (b'0' + code) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + code - 12) as char,
        16 => '!',
        _ => return None,
    })
}

/// One packet the sender asks to send: its payload, its RTP timestamp offset from the event's
/// start timestamp (always 0: the timestamp is the start) and whether it carries the marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The payload.
    pub payload: Payload,
    /// RTP marker bit: set on the first packet of an event.
    pub marker: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Update,
}

/// The sending side of one stream: a key pressed becomes a start packet, updates every
/// [`UPDATE`], and [`END_REPEATS`] end packets once the key is released.
pub struct Sender {
    volume: u8,
    running: Option<Running>,
    out: std::collections::VecDeque<Packet>,
    timers: Timers<Timer>,
}

struct Running {
    event: u8,
    began: Instant,
}

impl Sender {
    /// A sender whose events report `volume` (-dBm0).
    pub fn new(volume: u8) -> Self {
        Self {
            volume: volume.min(63),
            running: None,
            out: Default::default(),
            timers: Timers::new(),
        }
    }

    /// Whether an event is being sent (the stream sends no audio meanwhile: RFC 4733 §2.6).
    pub fn is_active(&self) -> bool {
        self.running.is_some() || !self.out.is_empty()
    }

    /// Key `event` went down at `now`. A key already down is ended first.
    pub fn begin(&mut self, now: Instant, event: u8) {
        if self.running.is_some() {
            self.end(now);
        }
        self.running = Some(Running { event, began: now });
        self.out.push_back(Packet {
            payload: Payload {
                event,
                end: false,
                volume: self.volume,
                duration: 0,
            },
            marker: true,
        });
        self.timers.set(Timer::Update, now + UPDATE);
    }

    /// The key went up at `now`: the end packet, three times.
    pub fn end(&mut self, now: Instant) {
        let Some(r) = self.running.take() else {
            return;
        };
        self.timers.cancel(Timer::Update);
        let payload = Payload {
            event: r.event,
            end: true,
            volume: self.volume,
            duration: duration(now - r.began),
        };
        for _ in 0..END_REPEATS {
            self.out.push_back(Packet {
                payload,
                marker: false,
            });
        }
    }

    /// The running event's duration so far, in timestamp units.
    fn update(&mut self, now: Instant) {
        let Some(r) = &self.running else {
            return;
        };
        let d = duration(now - r.began);
        if d == MAX_DURATION {
            self.end(now);
            return;
        }
        self.out.push_back(Packet {
            payload: Payload {
                event: r.event,
                end: false,
                volume: self.volume,
                duration: d,
            },
            marker: false,
        });
        self.timers.set(Timer::Update, now + UPDATE);
    }
}

impl sansio::Core for Sender {
    type Transmit = Packet;
    type Event = std::convert::Infallible;

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(Timer::Update) = self.timers.pop_due(now) {
            self.update(now);
        }
    }

    fn poll_transmit(&mut self) -> Option<Packet> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}

/// A duration in timestamp units, saturated to the 16-bit field.
fn duration(d: Duration) -> u16 {
    let units = d.as_micros() / 125;
    u16::try_from(units).unwrap_or(MAX_DURATION)
}

/// What the receiver reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A new event began (its first packet that arrived).
    Begin {
        /// The event code.
        event: u8,
    },
    /// The event ended: its end packet arrived, or it timed out, or the next event began.
    End {
        /// The event code.
        event: u8,
        /// Its duration in timestamp units (the last one reported).
        duration: u16,
    },
}

/// The receiving side of one stream: packets in (with their RTP timestamp), one begin and one
/// end per event out, whatever the duplicates, reordering of updates or losses.
pub struct Receiver {
    current: Option<Current>,
    /// Timestamp of the last event that ended, so its repeated end packets are ignored.
    ended: Option<u32>,
    events: std::collections::VecDeque<Received>,
    timers: Timers<Timer>,
}

struct Current {
    timestamp: u32,
    event: u8,
    duration: u16,
}

impl Default for Receiver {
    fn default() -> Self {
        Self::new()
    }
}

impl Receiver {
    /// No event running.
    pub fn new() -> Self {
        Self {
            current: None,
            ended: None,
            events: Default::default(),
            timers: Timers::new(),
        }
    }

    /// One telephone-event packet with RTP timestamp `timestamp`, received at `now`.
    pub fn handle_packet(&mut self, now: Instant, timestamp: u32, p: Payload) {
        if self.ended == Some(timestamp) {
            return;
        }
        match &mut self.current {
            Some(c) if c.timestamp == timestamp => c.duration = c.duration.max(p.duration),
            _ => {
                self.finish();
                self.events.push_back(Received::Begin { event: p.event });
                self.current = Some(Current {
                    timestamp,
                    event: p.event,
                    duration: p.duration,
                });
            }
        }
        if p.end {
            self.finish();
        } else {
            self.timers.set(Timer::Update, now + RECEIVE_TIMEOUT);
        }
    }

    fn finish(&mut self) {
        if let Some(c) = self.current.take() {
            self.timers.cancel(Timer::Update);
            self.ended = Some(c.timestamp);
            self.events.push_back(Received::End {
                event: c.event,
                duration: c.duration,
            });
        }
    }
}

impl sansio::Core for Receiver {
    type Transmit = std::convert::Infallible;
    type Event = Received;

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(Timer::Update) = self.timers.pop_due(now) {
            self.finish();
        }
    }

    fn poll_transmit(&mut self) -> Option<Self::Transmit> {
        None
    }

    fn poll_event(&mut self) -> Option<Received> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansio::Core;

    #[test]
    fn payload_round_trip_and_rfc_example() {
        // Event 5 ("5"), end, volume 10 (-10 dBm0), duration 1600 (200 ms): layout of RFC 4733 §2.3.
        let p = Payload::parse(&[0x05, 0x8a, 0x06, 0x40]).expect("payload");
        assert_eq!(
            p,
            Payload {
                event: 5,
                end: true,
                volume: 10,
                duration: 1600
            }
        );
        assert_eq!(p.emit(), [0x05, 0x8a, 0x06, 0x40]);
        assert_eq!(Payload::parse(&[1, 2, 3]), Err(Error::Short(3)));
    }

    #[test]
    fn keys_and_codes() {
        for k in "0123456789*#ABCD!".chars() {
            assert_eq!(key(code(k).expect("code")), Some(k));
        }
        assert_eq!(code('x'), None);
        assert_eq!(key(17), None);
    }

    #[test]
    fn sender_start_updates_and_three_ends() {
        let t0 = Instant::now();
        let mut s = Sender::new(10);
        s.begin(t0, 1);
        let mut now = t0;
        let mut packets = vec![];
        while now < t0 + Duration::from_millis(100) {
            now = s.poll_timeout().expect("update timer");
            s.handle_timeout(now);
            s.handle_timeout(now); // spurious: nothing more
            while let Some(p) = s.poll_transmit() {
                packets.push(p);
            }
        }
        s.end(t0 + Duration::from_millis(110));
        while let Some(p) = s.poll_transmit() {
            packets.push(p);
        }
        assert!(packets[0].marker && packets[0].payload.duration == 0);
        assert!(packets[1..].iter().all(|p| !p.marker));
        let ends: Vec<_> = packets.iter().filter(|p| p.payload.end).collect();
        assert_eq!(ends.len(), 3);
        assert!(ends.iter().all(|p| p.payload.duration == 880));
        let updates: Vec<u16> = packets
            .iter()
            .filter(|p| !p.payload.end)
            .map(|p| p.payload.duration)
            .collect();
        assert_eq!(updates, [0, 160, 320, 480, 640, 800]);
        assert!(!s.is_active());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn receiver_one_begin_one_end_despite_repeats_and_losses() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut r = Receiver::new();
        let p = |event, end, duration| Payload {
            event,
            end,
            volume: 10,
            duration,
        };
        r.handle_packet(ms(0), 1000, p(1, false, 160));
        r.handle_packet(ms(20), 1000, p(1, false, 320));
        r.handle_packet(ms(40), 1000, p(1, true, 480));
        r.handle_packet(ms(41), 1000, p(1, true, 480));
        r.handle_packet(ms(42), 1000, p(1, true, 480));
        // The next event's start packet was lost: its first update starts it.
        r.handle_packet(ms(200), 5000, p(11, false, 320));
        // Its end packets are all lost: the timeout ends it.
        let at = r.poll_timeout().expect("timeout");
        assert_eq!(at, ms(200) + RECEIVE_TIMEOUT);
        r.handle_timeout(ms(300)); // early: nothing
        r.handle_timeout(at);
        let got: Vec<_> = std::iter::from_fn(|| r.poll_event()).collect();
        assert_eq!(
            got,
            [
                Received::Begin { event: 1 },
                Received::End {
                    event: 1,
                    duration: 480
                },
                Received::Begin { event: 11 },
                Received::End {
                    event: 11,
                    duration: 320
                },
            ]
        );
    }
}
