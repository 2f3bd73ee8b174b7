//! [`Stream`]: the sans-IO media core of one call leg, between a DAHDI channel's 20 ms G.711
//! blocks and the RTP and RTCP sockets (RFC 3550), with RFC 4733 telephone-events both ways.
//!
//! Per 20 ms tick chand calls [`Stream::handle_audio`] with the block read from the channel
//! (one RTP packet out) and [`Stream::pull_audio`] for the block to write (from the play-out
//! buffer); datagrams from the sockets go to [`Stream::handle_rtp`] and
//! [`Stream::handle_rtcp`]; then it drains the polls of [`sansio::Core`].
//!
//! Who may send to us (RFC 4961 symmetric RTP, guarded): packets from the remote address of the
//! SDP are taken; the first packet there fixes the remote SSRC. With `latch`, packets from
//! another address move the stream there (a NAT between us): while no remote SSRC is known,
//! only after [`LATCH_PACKETS`] consecutive packets from that one address with one SSRC and
//! consecutive sequence numbers (the learning rule of common practice, e.g. Asterisk's
//! `strictrtp`; the packets before the last one are counted as `wrong_source`); once an SSRC
//! is known, when a packet carries it and continues its sequence: someone who has not seen the
//! stream cannot hijack it. A new SSRC from the current address replaces the old one
//! only after the old one has been silent for [`SSRC_SWITCH`] (a B2BUA re-bridging); two
//! interleaved sources are never mixed. Everything else is dropped and counted in [`Stats`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use fxs::Law;
use rtp_types::{RtpPacket, RtpPacketBuilder};
use sansio::{Core, Timers};

use crate::event::{self, Payload, Received};
use crate::jitter::{JitterBuffer, JitterStats};
use crate::rtcp::{self, Block, SenderInfo};
use crate::rtp::{law_of, Codec, Identity, Seq, Sequence, Transcoder};
use crate::FRAME;

mod receive;

/// Longest audio payload taken, in octets (200 ms, the play-out buffer's largest delay).
pub const MAX_PAYLOAD: usize = 1600;
/// Datagrams or events queued at most; beyond, the oldest is dropped and counted (the owner
/// drains the polls after every input, so this is never reached in a healthy loop).
pub const MAX_QUEUE: usize = 64;
/// How long the remote source must have been silent before a new SSRC from its address
/// replaces it.
pub const SSRC_SWITCH: Duration = Duration::from_millis(100);
/// Consecutive packets (one address, one SSRC, consecutive sequence numbers) that latch the
/// stream to an address other than the SDP's before any remote SSRC is known (module doc).
pub const LATCH_PACKETS: u32 = 4;
/// Power of the telephone-events we send, -dBm0 (the level of a DTMF tone per ITU-T Q.23).
pub const EVENT_VOLUME: u8 = 10;

/// The negotiated media of one call leg (from the SDP offer/answer, RFC 3264).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The audio codec, sent and expected.
    pub codec: Codec,
    /// The law of the DAHDI channel; G.711 passes untouched when it is the codec's, and is
    /// transcoded through linear otherwise.
    pub line: Law,
    /// The telephone-event payload type (RFC 4733 §7.1.1, dynamic 96-127), `None` when not
    /// negotiated (digits then stay in-band in the audio).
    pub telephone_event: Option<u8>,
    /// Where RTP goes (the SDP's connection address and media port).
    pub remote_rtp: SocketAddr,
    /// Where RTCP goes (the RTP port + 1, or the SDP's `a=rtcp`, RFC 3605).
    pub remote_rtcp: SocketAddr,
    /// Whether packets from another address may move the stream there (RFC 4961; see the
    /// module documentation for the guard).
    pub latch: bool,
    /// Silence after which [`Event::RemoteGone`] is reported (e.g. 30 s).
    pub remote_timeout: Duration,
    /// The wall-clock time at the `now` given to [`Stream::new`], for the NTP timestamps of
    /// sender reports (RFC 3550 §6.4.1); the core reads no clock itself.
    pub wallclock: SystemTime,
}

/// Why a stream could not be made.
#[derive(Debug)]
pub enum Error {
    /// The CSPRNG failed (RFC 3550 §5.1 wants random SSRC, sequence and timestamp).
    Random(getrandom::Error),
    /// The telephone-event payload type is not 96..=127 (RFC 3551 §3: dynamic) or is the
    /// codec's.
    PayloadType(u8),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Random(e) => write!(f, "no random SSRC: {e}"),
            Self::PayloadType(pt) => {
                write!(
                    f,
                    "telephone-event payload type {pt} is not dynamic (96-127)"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

/// Which of the stream's two sockets a datagram belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Socket {
    /// The RTP socket.
    Rtp,
    /// The RTCP socket.
    Rtcp,
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The socket to send it from.
    pub socket: Socket,
    /// Where to.
    pub dest: SocketAddr,
    /// The RTP packet or RTCP compound.
    pub bytes: Vec<u8>,
}

/// Why the remote is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    /// No RTP for [`Config::remote_timeout`].
    Silence,
    /// It sent an RTCP BYE for its source (RFC 3550 §6.6).
    Bye,
}

/// What the stream reports to chand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A digit received as an RFC 4733 event, once per press at its end (the phone heard
    /// silence meanwhile; chand plays it or tells sipd).
    Digit {
        /// `0`-`9`, `*`, `#`, `A`-`D`, `!` for flash.
        key: char,
        /// How long it was held.
        duration: Duration,
    },
    /// The remote stopped sending (a timeout or a BYE); reported once per silence.
    RemoteGone(Gone),
    /// A packet from a new address moved the stream there (RFC 4961).
    Latched {
        /// RTP or RTCP.
        socket: Socket,
        /// The new remote address.
        addr: SocketAddr,
    },
}

/// What a stream counted, for status and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// RTP packets sent (audio and events).
    pub packets_sent: u64,
    /// Payload octets sent.
    pub octets_sent: u64,
    /// RTP packets taken.
    pub packets_received: u64,
    /// Payload octets taken.
    pub octets_received: u64,
    /// Cumulative packets lost from the current remote source (RFC 3550 §A.3; duplicates can
    /// make it negative).
    pub lost: i64,
    /// The play-out buffer's counts and its jitter estimate.
    pub playout: JitterStats,
    /// Round-trip time from the peer's last report about us (RFC 3550 §6.4.1).
    pub rtt: Option<Duration>,
    /// The fraction of our packets the peer last reported lost, in 1/256.
    pub remote_fraction_lost: Option<u8>,
    /// The interarrival jitter of our packets the peer last reported.
    pub remote_jitter: Option<Duration>,
    /// Packets dropped: not RTP version 2, truncated, bad padding, empty or oversized payload.
    pub malformed: u64,
    /// Packets dropped: from an address that may not send to us.
    pub wrong_source: u64,
    /// Packets dropped: another SSRC than the remote source's, or a sequence jump.
    pub wrong_ssrc: u64,
    /// Packets dropped: a payload type not negotiated.
    pub wrong_pt: u64,
    /// RTCP compounds sent.
    pub rtcp_sent: u64,
    /// RTCP compounds taken.
    pub rtcp_received: u64,
    /// Datagrams or events dropped because the owner did not drain the queues.
    pub queue_overflow: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Report,
    Silence,
}

/// The remote source we take packets from.
struct Remote {
    ssrc: u32,
    seq: Sequence,
    last: Instant,
}

/// The media core of one call leg.
pub struct Stream {
    config: Config,
    id: Identity,
    cname: String,
    rng: u64,
    start: Instant,
    ntp_start: u64,
    // Sending.
    seq: u16,
    /// RTP timestamp of the next block from the channel.
    next_ts: u32,
    /// When the last block came and its timestamp (the RTP clock of sender reports).
    last_block: Option<(Instant, u32)>,
    marker: bool,
    /// Line law → codec law, when they differ.
    to_wire: Option<Transcoder>,
    /// Codec law → line law, when they differ.
    from_wire: Option<Transcoder>,
    sender: event::Sender,
    event_ts: u32,
    /// Timestamp just past the last event sent, so a new one never reuses its timestamp.
    event_end: Option<u32>,
    sent_since_report: bool,
    // Receiving.
    remote_rtp: SocketAddr,
    remote_rtcp: SocketAddr,
    remote: Option<Remote>,
    /// Another address heard before any remote SSRC: (address, SSRC, last sequence number,
    /// consecutive packets so far), until [`LATCH_PACKETS`].
    candidate: Option<(SocketAddr, u32, u16, u32)>,
    jitter: JitterBuffer,
    receiver: event::Receiver,
    hearing_event: bool,
    /// Middle 32 bits of the remote's last SR and when it came.
    lsr: Option<(u32, Instant)>,
    scratch: Vec<u8>,
    timers: Timers<Timer>,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    closed: bool,
}

impl Stream {
    /// A stream starting at `now`, its identity drawn from the CSPRNG.
    ///
    /// # Errors
    /// [`Error::Random`] when the CSPRNG fails, [`Error::PayloadType`] for a telephone-event
    /// payload type that is not dynamic.
    pub fn new(now: Instant, config: Config) -> Result<Self, Error> {
        Self::with_identity(now, config, Identity::random().map_err(Error::Random)?)
    }

    /// A stream with a given identity (tests and fuzzing).
    ///
    /// # Errors
    /// [`Error::PayloadType`] as for [`Stream::new`].
    pub fn with_identity(now: Instant, config: Config, id: Identity) -> Result<Self, Error> {
        if let Some(pt) = config.telephone_event {
            if !(96..=127).contains(&pt) {
                return Err(Error::PayloadType(pt));
            }
        }
        let mut rng = id.seed;
        let mut timers = Timers::new();
        // RFC 3550 §6.2: the first report after half an interval.
        timers.set(Timer::Report, now + rtcp::next_interval(&mut rng) / 2);
        timers.set(Timer::Silence, now + config.remote_timeout);
        Ok(Self {
            cname: id.cname.iter().map(|b| format!("{b:02x}")).collect(),
            rng,
            start: now,
            ntp_start: rtcp::ntp(config.wallclock),
            seq: id.sequence,
            next_ts: id.timestamp,
            last_block: None,
            marker: true,
            to_wire: Transcoder::new(config.line, law_of(config.codec)),
            from_wire: Transcoder::new(law_of(config.codec), config.line),
            sender: event::Sender::new(EVENT_VOLUME),
            event_ts: id.timestamp,
            event_end: None,
            sent_since_report: false,
            remote_rtp: config.remote_rtp,
            remote_rtcp: config.remote_rtcp,
            remote: None,
            jitter: JitterBuffer::new(config.line),
            receiver: event::Receiver::new(),
            hearing_event: false,
            lsr: None,
            candidate: None,
            scratch: Vec::with_capacity(MAX_PAYLOAD),
            timers,
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            closed: false,
            config,
            id,
        })
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.id.ssrc
    }

    /// The remote RTP address now (the SDP's, or where the stream latched).
    pub fn remote_rtp(&self) -> SocketAddr {
        self.remote_rtp
    }

    /// What was counted so far.
    pub fn stats(&self) -> Stats {
        Stats {
            lost: self
                .remote
                .as_ref()
                .map_or(0, |r| r.seq.cumulative_lost().into()),
            playout: self.jitter.stats(),
            ..self.stats
        }
    }

    /// A 20 ms block read from the channel at `now` (phone → network): one RTP packet, unless
    /// a telephone-event is being sent (RFC 4733 §2.6: the tone is not sent as audio too).
    pub fn handle_audio(&mut self, now: Instant, block: &[u8; FRAME]) {
        if self.closed {
            return;
        }
        let ts = self.next_ts;
        self.next_ts = ts.wrapping_add(FRAME as u32);
        self.last_block = Some((now, ts));
        if self.sender.is_active() {
            return;
        }
        let mut payload = *block;
        if let Some(t) = &self.to_wire {
            t.apply(&mut payload);
        }
        let marker = std::mem::take(&mut self.marker);
        self.send_rtp(self.config.codec.payload_type(), marker, ts, &payload);
    }

    /// Key `key` (`0`-`9`, `*`, `#`, `A`-`D`, `!` flash) went down at `now`, detected in the
    /// line's audio: RFC 4733 packets replace the audio until [`Stream::send_digit_end`].
    /// Returns false, sending nothing, when no telephone-event was negotiated (the tone goes
    /// in-band), for another key, or once closed.
    pub fn send_digit_begin(&mut self, now: Instant, key: char) -> bool {
        let (Some(_), Some(code)) = (self.config.telephone_event, event::code(key)) else {
            return false;
        };
        if self.closed {
            return false;
        }
        self.sender.end(now);
        self.drain_sender();
        // RFC 4733 §2.5.1.2: each event has its own timestamp; one that follows at once
        // starts where the last ended.
        self.event_ts = match self.event_end {
            Some(end) if (end.wrapping_sub(self.next_ts) as i32) > 0 => end,
            _ => self.next_ts,
        };
        self.sender.begin(now, code);
        self.drain_sender();
        true
    }

    /// The key went up at `now`: the event's end packets; audio resumes with the next block.
    pub fn send_digit_end(&mut self, now: Instant) {
        self.sender.end(now);
        self.drain_sender();
    }

    /// The 20 ms block to write to the channel at `now` (network → phone): from the play-out
    /// buffer, losses concealed; silence while a received telephone-event lasts.
    pub fn pull_audio(&mut self, now: Instant) -> [u8; FRAME] {
        self.receiver.handle_timeout(now);
        self.drain_receiver();
        let frame = self.jitter.pull();
        if self.hearing_event {
            [self.config.line.silence(); FRAME]
        } else {
            frame
        }
    }

    /// Ends the stream at `now`: a key still down is released, then a last report with an RTCP
    /// BYE (RFC 3550 §6.6). Inputs are ignored afterwards.
    pub fn close(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.send_digit_end(now);
        self.report(now, true);
        self.closed = true;
        self.timers = Timers::new();
    }

    fn send_rtp(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        // The payload types were checked at construction (7 bits), so nothing can fail.
        let bytes = RtpPacketBuilder::<&[u8], &[u8]>::new()
            .payload_type(pt)
            .marker_bit(marker)
            .sequence_number(self.seq)
            .timestamp(ts)
            .ssrc(self.id.ssrc)
            .payload(payload)
            .write_vec_unchecked();
        self.seq = self.seq.wrapping_add(1);
        self.stats.packets_sent += 1;
        self.stats.octets_sent += payload.len() as u64;
        self.sent_since_report = true;
        self.push_transmit(Socket::Rtp, self.remote_rtp, bytes);
    }

    fn drain_sender(&mut self) {
        let Some(pt) = self.config.telephone_event else {
            return;
        };
        while let Some(p) = self.sender.poll_transmit() {
            if p.payload.end {
                self.event_end = Some(self.event_ts.wrapping_add(p.payload.duration.into()));
            }
            self.send_rtp(pt, p.marker, self.event_ts, &p.payload.emit());
        }
    }

    fn drain_receiver(&mut self) {
        while let Some(r) = self.receiver.poll_event() {
            match r {
                Received::Begin { .. } => self.hearing_event = true,
                Received::End { event, duration } => {
                    self.hearing_event = false;
                    if let Some(key) = event::key(event) {
                        self.push_event(Event::Digit {
                            key,
                            duration: Duration::from_micros(u64::from(duration) * 125),
                        });
                    }
                }
            }
        }
    }

    /// One RTCP compound: SR when we sent since the last report, else RR; a report block when
    /// we heard the remote; a BYE when closing.
    fn report(&mut self, now: Instant, bye: bool) {
        let sender = self.sent_since_report.then(|| SenderInfo {
            ntp: self.ntp(now),
            rtp_timestamp: self.rtp_timestamp(now),
            packets: self.stats.packets_sent as u32,
            octets: self.stats.octets_sent as u32,
        });
        let jitter = (self.jitter.stats().jitter_ms * 8.0) as u32;
        let lsr = self.lsr;
        let block = self.remote.as_mut().map(|r| Block {
            ssrc: r.ssrc,
            fraction_lost: r.seq.fraction_lost(),
            cumulative_lost: r.seq.cumulative_lost(),
            extended_max: r.seq.extended_max(),
            jitter,
            lsr: lsr.map_or(0, |(lsr, _)| lsr),
            dlsr: lsr.map_or(0, |(_, at)| {
                rtcp::short_units(now.saturating_duration_since(at))
            }),
        });
        // The one error, a CNAME over 255 octets, cannot happen with our 24 hex digits.
        if let Ok(bytes) = rtcp::build(self.id.ssrc, &self.cname, sender, block, bye) {
            self.sent_since_report = false;
            self.stats.rtcp_sent += 1;
            self.push_transmit(Socket::Rtcp, self.remote_rtcp, bytes);
        }
    }

    /// `now` as an NTP timestamp, from the wall-clock time given at the start.
    fn ntp(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.start);
        let units = (d.as_nanos() << 32) / 1_000_000_000;
        self.ntp_start.wrapping_add(units as u64)
    }

    /// `now` on our RTP clock: the last block's timestamp plus the time since.
    fn rtp_timestamp(&self, now: Instant) -> u32 {
        let (at, ts) = self.last_block.unwrap_or((self.start, self.id.timestamp));
        let samples = now.saturating_duration_since(at).as_micros() / 125;
        ts.wrapping_add(samples as u32)
    }

    fn push_transmit(&mut self, socket: Socket, dest: SocketAddr, bytes: Vec<u8>) {
        if self.out.len() >= MAX_QUEUE {
            self.out.pop_front();
            self.stats.queue_overflow += 1;
        }
        self.out.push_back(Transmit {
            socket,
            dest,
            bytes,
        });
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= MAX_QUEUE {
            self.events.pop_front();
            self.stats.queue_overflow += 1;
        }
        self.events.push_back(e);
    }
}

impl sansio::Core for Stream {
    type Transmit = Transmit;
    type Event = Event;

    fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.sender.handle_timeout(now);
        self.drain_sender();
        self.receiver.handle_timeout(now);
        self.drain_receiver();
        while let Some(t) = self.timers.pop_due(now) {
            match t {
                Timer::Report => {
                    self.report(now, false);
                    let next = rtcp::next_interval(&mut self.rng);
                    self.timers.set(Timer::Report, now + next);
                }
                // Not re-armed: the next packet re-arms it, so one silence is one event.
                Timer::Silence => self.push_event(Event::RemoteGone(Gone::Silence)),
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.next(),
            self.sender.poll_timeout(),
            self.receiver.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A_RTP: &str = "192.0.2.1:4000";
    const A_RTCP: &str = "192.0.2.1:4001";
    const B_RTP: &str = "198.51.100.2:5000";
    const B_RTCP: &str = "198.51.100.2:5001";

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    fn config(codec: Codec, line: Law, rtp: &str, rtcp: &str) -> Config {
        Config {
            codec,
            line,
            telephone_event: Some(101),
            remote_rtp: addr(rtp),
            remote_rtcp: addr(rtcp),
            latch: true,
            remote_timeout: Duration::from_secs(30),
            wallclock: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    /// A datagram in flight: when it arrives, where it appears to come from, what it is.
    type Flight = (Instant, SocketAddr, Transmit);

    /// Two streams back to back over a simulated network, stepped 1 ms at a time on a fake
    /// clock; each side's channel gives a block and takes one every 20 ms.
    struct Call {
        t0: Instant,
        ms: u64,
        a: Stream,
        b: Stream,
        to_a: Vec<Flight>,
        to_b: Vec<Flight>,
        /// Datagrams A sent so far (the index the network sees).
        from_a: u64,
        /// Where A's RTP appears to come from at B (a NAT may change it).
        a_rtp_seen: SocketAddr,
        heard_b: Vec<u8>,
        sent_a: Vec<u8>,
        events_a: Vec<Event>,
        events_b: Vec<Event>,
    }

    impl Call {
        fn new(a: Config, b: Config) -> Self {
            let t0 = Instant::now();
            let id = |n: u8| Identity::from_bytes([n; 30]);
            Self {
                t0,
                ms: 0,
                a: Stream::with_identity(t0, a, id(1)).expect("stream a"),
                b: Stream::with_identity(t0, b, id(2)).expect("stream b"),
                to_a: vec![],
                to_b: vec![],
                from_a: 0,
                a_rtp_seen: addr(A_RTP),
                heard_b: vec![],
                sent_a: vec![],
                events_a: vec![],
                events_b: vec![],
            }
        }

        /// Runs `ms` milliseconds. A's phone says `voice(tick)`; `net(k, transmit)` gives the
        /// one-way delay of A's k-th datagram, or `None` to lose it (B → A: 30 ms, no loss);
        /// `at_tick` may act on A each 20 ms tick.
        fn run(
            &mut self,
            ms: u64,
            voice: impl Fn(u64) -> [u8; FRAME],
            net: impl Fn(u64, &Transmit) -> Option<Duration>,
            mut at_tick: impl FnMut(u64, Instant, &mut Stream),
        ) {
            for _ in 0..ms {
                self.ms += 1;
                let now = self.t0 + Duration::from_millis(self.ms);
                deliver(now, &mut self.to_b, &mut self.b);
                deliver(now, &mut self.to_a, &mut self.a);
                if self.ms % 20 == 0 {
                    let tick = self.ms / 20;
                    at_tick(tick, now, &mut self.a);
                    let block = voice(tick);
                    self.sent_a.extend(block);
                    self.a.handle_audio(now, &block);
                    self.b
                        .handle_audio(now, &[self.b.config.line.silence(); FRAME]);
                    self.heard_b.extend(self.b.pull_audio(now));
                    self.a.pull_audio(now);
                }
                self.a.handle_timeout(now);
                self.b.handle_timeout(now);
                while let Some(t) = self.a.poll_transmit() {
                    self.from_a += 1;
                    let src = match t.socket {
                        Socket::Rtp => self.a_rtp_seen,
                        Socket::Rtcp => addr(A_RTCP),
                    };
                    if let Some(d) = net(self.from_a, &t) {
                        self.to_b.push((now + d, src, t));
                    }
                }
                while let Some(t) = self.b.poll_transmit() {
                    let src = match t.socket {
                        Socket::Rtp => addr(B_RTP),
                        Socket::Rtcp => addr(B_RTCP),
                    };
                    self.to_a.push((now + Duration::from_millis(30), src, t));
                }
                self.events_a
                    .extend(std::iter::from_fn(|| self.a.poll_event()));
                self.events_b
                    .extend(std::iter::from_fn(|| self.b.poll_event()));
            }
        }
    }

    fn deliver(now: Instant, flights: &mut Vec<Flight>, to: &mut Stream) {
        flights.sort_by_key(|f| f.0);
        let due = flights.iter().take_while(|f| f.0 <= now).count();
        for (_, src, t) in flights.drain(..due) {
            match t.socket {
                Socket::Rtp => to.handle_rtp(now, src, &t.bytes),
                Socket::Rtcp => to.handle_rtcp(now, src, &t.bytes),
            }
        }
    }

    /// 1 kHz at -10 dBm0 in `law`, block `tick` (continuous across blocks).
    fn tone(law: Law) -> impl Fn(u64) -> [u8; FRAME] {
        move |tick| {
            std::array::from_fn(|i| {
                let n = tick as f64 * FRAME as f64 + i as f64;
                let x = law.peak_for_dbm0(-10.0) * (2.0 * std::f64::consts::PI * n / 8.0).sin();
                law.encode(x as i16)
            })
        }
    }

    /// Octets that vary with every sample, so a shifted or repeated frame shows.
    fn pattern(tick: u64) -> [u8; FRAME] {
        std::array::from_fn(|i| (tick as usize * 7 + i * 13) as u8)
    }

    fn instant(_: u64, _: &Transmit) -> Option<Duration> {
        Some(Duration::from_millis(30))
    }

    fn no_action(_: u64, _: Instant, _: &mut Stream) {}

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn same_law_audio_arrives_byte_exact() {
        let mut call = Call::new(
            config(Codec::Pcmu, Law::Mulaw, B_RTP, B_RTCP),
            config(Codec::Pcmu, Law::Mulaw, A_RTP, A_RTCP),
        );
        call.run(2_000, pattern, instant, no_action);
        // Everything but the last blocks still in flight or buffered came out unchanged.
        let sent = &call.sent_a[..FRAME * 90];
        assert!(contains(&call.heard_b, sent));
        // 100 sent; the last two are still on the 30 ms way.
        let s = call.b.stats();
        assert_eq!(s.packets_received, 98);
        assert_eq!(s.octets_received, 98 * 160);
        assert_eq!(
            (s.lost, s.playout.lost, s.malformed, s.wrong_source),
            (0, 0, 0, 0)
        );
        assert_eq!(call.a.stats().packets_sent, 100);
    }

    #[test]
    fn different_laws_are_transcoded_both_ways() {
        // A's line is µ-law, the call PCMA: A encodes A-law on the wire. B's line is µ-law:
        // B decodes back.
        let mut call = Call::new(
            config(Codec::Pcma, Law::Mulaw, B_RTP, B_RTCP),
            config(Codec::Pcma, Law::Mulaw, A_RTP, A_RTCP),
        );
        let wire = std::cell::RefCell::new(Vec::new());
        call.run(
            1_000,
            tone(Law::Mulaw),
            |_, t| {
                if t.socket == Socket::Rtp {
                    wire.borrow_mut().push(t.bytes.clone());
                }
                instant(0, t)
            },
            no_action,
        );
        let first =
            RtpPacket::parse(&wire.borrow()[0]).map(|p| (p.payload_type(), p.payload().to_vec()));
        let mut expected = tone(Law::Mulaw)(1);
        let table = |from, to| Transcoder::new(from, to).expect("laws differ");
        table(Law::Mulaw, Law::Alaw).apply(&mut expected);
        assert_eq!(first.expect("rtp"), (8, expected.to_vec()));
        let mut through = call.sent_a[..FRAME * 40].to_vec();
        table(Law::Mulaw, Law::Alaw).apply(&mut through);
        table(Law::Alaw, Law::Mulaw).apply(&mut through);
        assert!(contains(&call.heard_b, &through));
    }

    #[test]
    fn digits_cross_as_rfc4733_one_event_per_press() {
        let mut call = Call::new(
            config(Codec::Pcmu, Law::Mulaw, B_RTP, B_RTCP),
            config(Codec::Pcmu, Law::Mulaw, A_RTP, A_RTCP),
        );
        let audio_during_event = std::cell::Cell::new(0);
        let pressed = std::cell::Cell::new(false);
        call.run(
            2_000,
            tone(Law::Mulaw),
            |_, t| {
                let pt = RtpPacket::parse(&t.bytes).map(|p| p.payload_type());
                if pressed.get() && t.socket == Socket::Rtp && pt.ok() == Some(0) {
                    audio_during_event.set(audio_during_event.get() + 1);
                }
                instant(0, t)
            },
            |tick, now, a| match tick {
                10 | 40 => {
                    assert!(a.send_digit_begin(now, if tick == 10 { '5' } else { '#' }));
                    pressed.set(true);
                }
                15 | 44 => {
                    a.send_digit_end(now);
                    pressed.set(false);
                }
                _ => {}
            },
        );
        assert_eq!(audio_during_event.get(), 0);
        let digits: Vec<_> = call
            .events_b
            .iter()
            .filter(|e| matches!(e, Event::Digit { .. }))
            .collect();
        assert_eq!(
            digits,
            [
                &Event::Digit {
                    key: '5',
                    duration: Duration::from_millis(100)
                },
                &Event::Digit {
                    key: '#',
                    duration: Duration::from_millis(80)
                }
            ]
        );
        // B's phone heard silence while the digit lasted, not the tone nor its concealment.
        let silent_frames = call
            .heard_b
            .chunks(FRAME)
            .filter(|f| f.iter().all(|&o| o == Law::Mulaw.silence()))
            .count();
        assert!(silent_frames >= 8, "{silent_frames}");
        // Without a negotiated telephone-event the digit stays in-band.
        let mut plain = config(Codec::Pcmu, Law::Mulaw, B_RTP, B_RTCP);
        plain.telephone_event = None;
        let mut s =
            Stream::with_identity(call.t0, plain, Identity::from_bytes([3; 30])).expect("stream");
        assert!(!s.send_digit_begin(call.t0, '1'));
        assert!(!call.a.send_digit_begin(call.t0, 'x'));
    }

    #[test]
    fn every_tenth_packet_lost_is_counted_and_concealed() {
        let mut call = Call::new(
            config(Codec::Pcmu, Law::Mulaw, B_RTP, B_RTCP),
            config(Codec::Pcmu, Law::Mulaw, A_RTP, A_RTCP),
        );
        let rtp_index = std::cell::Cell::new(0u64);
        call.run(
            10_000,
            tone(Law::Mulaw),
            |_, t| {
                if t.socket == Socket::Rtp {
                    rtp_index.set(rtp_index.get() + 1);
                    if rtp_index.get() % 10 == 0 {
                        return None;
                    }
                }
                instant(0, t)
            },
            no_action,
        );
        let s = call.b.stats();
        // 500 sent, 50 lost (the last one may still count as not yet expected).
        assert!((49..=50).contains(&s.lost), "{s:?}");
        assert!((48..=50).contains(&s.playout.lost), "{s:?}");
        assert_eq!(call.heard_b.len(), 500 * FRAME);
        // The tone never drops out: every frame after the start carries signal.
        let quiet = call.heard_b[FRAME * 5..]
            .chunks(FRAME)
            .filter(|f| f.iter().all(|&o| Law::Mulaw.decode(o).abs() < 100))
            .count();
        assert_eq!(quiet, 0);
    }

    /// A forged packet of `ssrc` numbered `seq`, PCMU.
    fn forged(ssrc: u32, seq: u16) -> Vec<u8> {
        RtpPacketBuilder::<&[u8], &[u8]>::new()
            .payload_type(0)
            .sequence_number(seq)
            .timestamp(0)
            .ssrc(ssrc)
            .payload(&[0u8; FRAME][..])
            .write_vec_unchecked()
    }

    #[test]
    fn strangers_cannot_hijack_but_the_peer_may_move() {
        let mut call = Call::new(
            config(Codec::Pcmu, Law::Mulaw, B_RTP, B_RTCP),
            config(Codec::Pcmu, Law::Mulaw, A_RTP, A_RTCP),
        );
        call.run(200, pattern, instant, no_action);
        let now = call.t0 + Duration::from_millis(call.ms);
        let stranger = addr("203.0.113.9:6666");
        let a_ssrc = call.a.ssrc();
        // Another SSRC, our SSRC out of sequence, garbage, an unknown payload type.
        call.b.handle_rtp(now, stranger, &forged(0x5eed, 1));
        call.b.handle_rtp(now, stranger, &forged(a_ssrc, 40_000));
        call.b.handle_rtp(now, stranger, &[0x80, 0]);
        let mut pt = forged(a_ssrc, 1);
        pt[1] = 96;
        call.b.handle_rtp(now, addr(A_RTP), &pt);
        // RTCP with a stranger's SSRC, from the stranger and from A's address.
        let rr = rtcp::build(0x5eed, "x", None, None, false).expect("rr");
        call.b.handle_rtcp(now, stranger, &rr);
        call.b.handle_rtcp(now, addr(A_RTCP), &rr);
        let s = call.b.stats();
        assert_eq!(
            (s.wrong_source, s.malformed, s.wrong_pt, s.wrong_ssrc),
            (2, 1, 1, 2)
        );
        assert_eq!(call.b.remote_rtp(), addr(A_RTP));
        // A different SSRC from A's own address while A is talking: not mixed in.
        call.b.handle_rtp(now, addr(A_RTP), &forged(0x5eed, 1));
        assert_eq!(call.b.stats().wrong_ssrc, 3);
        // A's NAT rebinds: the same source continues from a new port, and B follows.
        call.a_rtp_seen = addr("192.0.2.1:4100");
        call.run(200, pattern, instant, no_action);
        assert_eq!(call.b.remote_rtp(), addr("192.0.2.1:4100"));
        assert!(call.events_b.contains(&Event::Latched {
            socket: Socket::Rtp,
            addr: addr("192.0.2.1:4100")
        }));
        let t = std::iter::from_fn(|| call.b.poll_transmit()).last();
        call.b
            .handle_audio(now + Duration::from_millis(400), &[0xff; FRAME]);
        let t = call.b.poll_transmit().or(t).expect("transmit");
        assert_eq!(t.dest, addr("192.0.2.1:4100"));
        // Without latching the move is refused.
        let mut fixed = config(Codec::Pcmu, Law::Mulaw, A_RTP, A_RTCP);
        fixed.latch = false;
        let mut s = Stream::with_identity(now, fixed, Identity::from_bytes([4; 30])).expect("s");
        s.handle_rtp(now, stranger, &forged(a_ssrc, 1));
        assert_eq!((s.stats().wrong_source, s.stats().packets_received), (1, 0));
    }

    #[test]
    fn before_the_first_packet_only_the_sdp_address_or_a_steady_new_source_latches() {
        let now = Instant::now();
        let new = |n: u8| {
            let c = config(Codec::Pcmu, Law::Mulaw, A_RTP, A_RTCP);
            Stream::with_identity(now, c, Identity::from_bytes([n; 30])).expect("stream")
        };
        let nat = addr("203.0.113.9:6666");
        let other = addr("203.0.113.10:7777");
        // The SDP's address is taken at once.
        let mut s = new(1);
        s.handle_rtp(now, addr(A_RTP), &forged(0xa, 1));
        assert_eq!((s.stats().packets_received, s.stats().wrong_source), (1, 0));
        // Another address latches on the LATCH_PACKETS-th consecutive packet of one SSRC;
        // the ones before are dropped as wrong_source.
        let mut s = new(2);
        for seq in 1..=u16::try_from(LATCH_PACKETS).unwrap() {
            assert_eq!(
                s.remote_rtp(),
                addr(A_RTP),
                "not latched before packet {seq}"
            );
            s.handle_rtp(now, nat, &forged(0xb, seq));
        }
        assert_eq!(s.remote_rtp(), nat);
        let n = u64::from(LATCH_PACKETS);
        assert_eq!(
            (s.stats().packets_received, s.stats().wrong_source),
            (1, n - 1)
        );
        // A gap in the sequence, another SSRC or another address interleaved restarts the
        // count: two sources racing never latch.
        let mut s = new(3);
        for seq in 1..=20u16 {
            s.handle_rtp(now, nat, &forged(0xb, seq));
            s.handle_rtp(now, other, &forged(0xc, seq));
        }
        for (ssrc, seq) in [(0xd, 1), (0xd, 3), (0xe, 4), (0xd, 5), (0xd, 6), (0xd, 8)] {
            s.handle_rtp(now, nat, &forged(ssrc, seq));
        }
        assert_eq!(s.remote_rtp(), addr(A_RTP));
        assert_eq!(
            (s.stats().packets_received, s.stats().wrong_source),
            (0, 46)
        );
        // The SDP's address still wins at any time before a latch.
        s.handle_rtp(now, addr(A_RTP), &forged(0xa, 100));
        assert_eq!(s.stats().packets_received, 1);
    }

    #[test]
    fn reports_carry_sane_loss_jitter_and_round_trip() {
        let mut call = Call::new(
            config(Codec::Pcmu, Law::Mulaw, B_RTP, B_RTCP),
            config(Codec::Pcmu, Law::Mulaw, A_RTP, A_RTCP),
        );
        let rtp_index = std::cell::Cell::new(0u64);
        // A → B: 5 % of RTP lost, RTP delayed 30 or 50 ms alternately, RTCP 30 ms; B → A 30 ms.
        call.run(
            30_000,
            tone(Law::Mulaw),
            |_, t| {
                if t.socket == Socket::Rtcp {
                    return Some(Duration::from_millis(30));
                }
                rtp_index.set(rtp_index.get() + 1);
                let k = rtp_index.get();
                (k % 20 != 0).then(|| Duration::from_millis(if k % 2 == 0 { 50 } else { 30 }))
            },
            no_action,
        );
        let (a, b) = (call.a.stats(), call.b.stats());
        // 30 s at 5 s ± 50 %: 4 to 9 reports each.
        assert!((4..=9).contains(&a.rtcp_sent), "{a:?}");
        assert!((4..=9).contains(&b.rtcp_received), "{b:?}");
        // B reports ~5 % lost (13/256) of A's packets.
        let lost = a.remote_fraction_lost.expect("fraction lost");
        assert!((9..=17).contains(&lost), "{lost}");
        assert!((70..=76).contains(&b.lost), "{b:?}");
        // Alternating 30/50 ms: |D| is 20 ms between most packet pairs, the estimate near it.
        let jitter = a.remote_jitter.expect("jitter");
        assert!(jitter > Duration::from_millis(10) && jitter < Duration::from_millis(25));
        // Round trip: 30 ms each way for RTCP, within the 1/65536 s resolution.
        for rtt in [a.rtt, b.rtt] {
            let rtt = rtt.expect("rtt").as_secs_f64() * 1000.0;
            assert!((59.0..=61.0).contains(&rtt), "{rtt}");
        }
        // B heard A's reports; both sent SRs (both sent audio).
        assert!(b.remote_jitter.is_some() && a.remote_fraction_lost.is_some());
    }

    #[test]
    fn silence_and_bye_end_the_remote_once_each() {
        let mut call = Call::new(
            config(Codec::Pcmu, Law::Mulaw, B_RTP, B_RTCP),
            config(Codec::Pcmu, Law::Mulaw, A_RTP, A_RTCP),
        );
        call.run(100, pattern, instant, no_action);
        // A's packets stop reaching B for 40 s: one RemoteGone.
        call.run(
            40_000,
            pattern,
            |_, t| (t.socket == Socket::Rtcp).then_some(Duration::ZERO),
            no_action,
        );
        let gone = |events: &[Event], g| {
            events
                .iter()
                .filter(|e| **e == Event::RemoteGone(g))
                .count()
        };
        assert_eq!(gone(&call.events_b, Gone::Silence), 1);
        // They come back, then A closes (a key still down is released first): BYE.
        call.run(100, pattern, instant, |tick, now, a| {
            if tick == 2_006 {
                assert!(a.send_digit_begin(now, '9'));
            }
        });
        let now = call.t0 + Duration::from_millis(call.ms);
        call.a.close(now);
        call.a.close(now);
        call.a.handle_audio(now, &[0; FRAME]);
        call.run(100, pattern, instant, no_action);
        assert_eq!(gone(&call.events_b, Gone::Bye), 1);
        assert_eq!(gone(&call.events_b, Gone::Silence), 1);
        assert!(call
            .events_b
            .iter()
            .any(|e| matches!(e, Event::Digit { key: '9', .. })));
        assert_eq!(call.a.poll_timeout(), None);
        // A telephone-event payload type that is not dynamic is refused.
        let mut bad = config(Codec::Pcmu, Law::Mulaw, B_RTP, B_RTCP);
        bad.telephone_event = Some(8);
        assert!(matches!(Stream::new(now, bad), Err(Error::PayloadType(8))));
    }
}
