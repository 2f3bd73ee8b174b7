//! One side's core of the call-control channel, sans-IO: packets and time in; packets, timers
//! and events out.
//!
//! - On [`Link::new`] and [`Link::handle_connect`] it sends `Hello` with its epoch; the
//!   peer's `Hello` brings the peer up ([`Event::PeerUp`]) and is answered while the peer
//!   does not know our epoch. A `Hello` with another epoch than
//!   the one known means the peer restarted: every call of the old epoch is lost.
//! - Every [`Config::keepalive`] it sends `Ping` (or `Hello` while the peer is down); any
//!   packet from the peer proves it alive. After [`Config::missed`] intervals of silence, or
//!   on [`Link::handle_disconnect`], the peer is gone ([`Event::PeerDown`]).
//! - It keeps the ids of the calls on the channel, at most [`Config::max_calls`]. When the
//!   peer restarts or goes, [`Event::CallsLost`] lists them for the owner to end (BYE, reorder
//!   tone); MWI is not on this channel and never changes here.
//! - A message about a call the link does not know is answered with `Error` (never a panic),
//!   except `Hangup` and `Error` themselves, which are dropped so two ends cannot loop.

use std::collections::{BTreeSet, VecDeque};

use sansio::{Core, Duration, Instant, Timers};

use crate::wire::{Message, Ports, WireError};
use crate::{CallId, Cause, ErrorCode, PbxMwi, Side};

/// The link's limits and intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Interval between keep-alive pings.
    pub keepalive: Duration,
    /// Silent intervals after which the peer is declared gone.
    pub missed: u32,
    /// Most calls on the channel at once; a call beyond is refused with cause 42.
    pub max_calls: usize,
}

impl Default for Config {
    /// 2 s pings, gone after 3 silent intervals (a dead peer is noticed within 6-8 s, well
    /// inside the 32 s a SIP INVITE transaction lasts, RFC 3261 Timer B), 1024 calls.
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(2),
            missed: 3,
            max_calls: 1024,
        }
    }
}

/// Why calls were lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostReason {
    /// The peer sent `Hello` with a new epoch: it restarted.
    PeerRestarted,
    /// The peer fell silent or the connection closed.
    PeerGone,
}

/// What the owner must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer said `Hello` with this epoch (first contact or after a restart).
    PeerUp {
        /// The peer's epoch.
        epoch: u64,
        /// The ports it serves (from chand).
        ports: Ports,
    },
    /// The peer is gone.
    PeerDown,
    /// These calls ended with the peer: end each locally (BYE or CANCEL, reorder tone).
    CallsLost {
        /// The calls, in id order.
        calls: Vec<CallId>,
        /// Why.
        reason: LostReason,
    },
    /// A call message from the peer to apply (a `Hangup` or `Error` here has ended the call
    /// in the link already).
    Call(Message),
    /// A lamp state from chand's PBX (sipd's side only).
    PbxMwi(PbxMwi),
    /// A packet that was not taken, with the reason, for the log.
    Rejected(WireError),
}

/// Why the owner's message was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// No peer: a new call cannot start (chand plays reorder; sipd answers 503).
    PeerDown,
    /// [`Config::max_calls`] calls run already (Q.850 cause 42 to the caller).
    TooManyCalls,
    /// The link does not know the call (it ended, or was lost with the peer).
    UnknownCall(CallId),
    /// This side may not send this message, or a new call does not carry one of its ids.
    NotOurs,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PeerDown => f.write_str("peer down"),
            Self::TooManyCalls => f.write_str("too many calls"),
            Self::UnknownCall(c) => write!(f, "unknown call {c}"),
            Self::NotOurs => f.write_str("message or call id not this side's"),
        }
    }
}

impl std::error::Error for SendError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Keepalive,
}

/// One side of the channel.
pub struct Link {
    side: Side,
    epoch: u64,
    ports: Ports,
    config: Config,
    peer_epoch: Option<u64>,
    silent: u32,
    seq: u32,
    next_id: u32,
    calls: BTreeSet<CallId>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    timers: Timers<Timer>,
}

impl Link {
    /// A link for `side` with its `epoch` (pick it anew at each start, e.g. from the clock and
    /// a random number; 0, which `Hello` uses for "none known", is taken as 1) and the ports its `Hello` names (chand's; none for sipd); sends
    /// `Hello` at once.
    pub fn new(now: Instant, side: Side, epoch: u64, ports: Ports, config: Config) -> Self {
        let mut link = Self {
            side,
            epoch: epoch.max(1),
            ports,
            config,
            peer_epoch: None,
            silent: 0,
            seq: 0,
            next_id: 0,
            calls: BTreeSet::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            timers: Timers::new(),
        };
        link.handle_connect(now);
        link
    }

    /// Whether the peer is up (its `Hello` came and it has not gone silent since).
    pub fn peer_up(&self) -> bool {
        self.peer_epoch.is_some()
    }

    /// The calls on the channel, in id order.
    pub fn calls(&self) -> impl Iterator<Item = CallId> + '_ {
        self.calls.iter().copied()
    }

    /// A fresh id for a call this side creates: never one in use, bit 31 set for sipd.
    /// `None` when [`Config::max_calls`] calls run already.
    pub fn new_call_id(&mut self) -> Option<CallId> {
        if self.calls.len() >= self.config.max_calls {
            return None;
        }
        let bit = match self.side {
            Side::Sipd => CallId::SIPD_BIT,
            Side::Chand => 0,
        };
        // Fewer calls run than ids exist, so this finds one.
        loop {
            let id = CallId(bit | (self.next_id & !CallId::SIPD_BIT));
            self.next_id = self.next_id.wrapping_add(1);
            if !self.calls.contains(&id) {
                return Some(id);
            }
        }
    }

    /// A new connection to the peer (the owner connected or accepted the socket): sends
    /// `Hello` and restarts the keep-alive.
    pub fn handle_connect(&mut self, now: Instant) {
        self.send_hello();
        self.silent = 0;
        self.timers
            .set(Timer::Keepalive, now + self.config.keepalive);
    }

    /// The connection closed (EOF, `ECONNRESET`): the peer is gone with its calls.
    pub fn handle_disconnect(&mut self, _now: Instant) {
        self.peer_gone();
    }

    /// Sends a call message of the owner's, tracking the calls it starts and ends.
    ///
    /// # Errors
    /// [`SendError`]: nothing was sent; the owner ends the call locally.
    pub fn send(&mut self, _now: Instant, msg: Message) -> Result<(), SendError> {
        if msg.sender().is_some_and(|s| s != self.side) {
            return Err(SendError::NotOurs);
        }
        if let Message::PbxMwi(_) = msg {
            if !self.peer_up() {
                return Err(SendError::PeerDown);
            }
            self.transmit(&msg);
            return Ok(());
        }
        let call = msg.call().ok_or(SendError::NotOurs)?;
        if msg.creates_call() {
            if !self.peer_up() {
                return Err(SendError::PeerDown);
            }
            if call.creator() != self.side || self.calls.contains(&call) {
                return Err(SendError::NotOurs);
            }
            if self.calls.len() >= self.config.max_calls {
                return Err(SendError::TooManyCalls);
            }
            self.calls.insert(call);
        } else if !self.calls.contains(&call) {
            return Err(SendError::UnknownCall(call));
        } else if matches!(msg, Message::Hangup { .. } | Message::Error { .. }) {
            self.calls.remove(&call);
        }
        self.transmit(&msg);
        Ok(())
    }

    /// One packet from the peer.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let msg = match Message::parse(packet) {
            Ok(m) => m,
            Err(e) => {
                self.events.push_back(Event::Rejected(e));
                return;
            }
        };
        self.silent = 0;
        match msg {
            Message::Hello {
                epoch,
                peer_epoch,
                ports,
            } => self.handle_hello(now, epoch, peer_epoch, ports),
            Message::Ping { seq } => self.transmit(&Message::Pong { seq }),
            Message::Pong { .. } => {}
            // State from the peer before its Hello, or from the wrong side, has no call to
            // answer an Error about; it is dropped (the sender sends it again after Hello).
            Message::PbxMwi(m) => {
                if self.peer_epoch.is_some() && self.side == Side::Sipd {
                    self.events.push_back(Event::PbxMwi(m));
                }
            }
            m => self.handle_call_message(m),
        }
    }

    fn handle_hello(&mut self, now: Instant, epoch: u64, known: u64, ports: Ports) {
        if self.peer_epoch != Some(epoch) {
            if self.peer_epoch.is_some() {
                self.lose_calls(LostReason::PeerRestarted);
            }
            self.peer_epoch = Some(epoch);
            self.events.push_back(Event::PeerUp { epoch, ports });
            self.timers
                .set(Timer::Keepalive, now + self.config.keepalive);
        }
        if known != self.epoch {
            self.send_hello();
        }
    }

    fn handle_call_message(&mut self, msg: Message) {
        // Every message that reaches here names a call.
        let Some(call) = msg.call() else { return };
        let quiet = matches!(msg, Message::Hangup { .. } | Message::Error { .. });
        let refuse = if self.peer_epoch.is_none() {
            Some(ErrorCode::NoHello)
        } else if msg.sender().is_some_and(|s| s != self.side.peer()) {
            Some(ErrorCode::WrongDirection)
        } else if msg.creates_call() {
            if call.creator() != self.side.peer() || self.calls.contains(&call) {
                Some(ErrorCode::BadCallId)
            } else if self.calls.len() >= self.config.max_calls {
                self.transmit(&Message::Hangup {
                    call,
                    cause: Cause::CONGESTION,
                });
                return;
            } else {
                self.calls.insert(call);
                None
            }
        } else if !self.calls.contains(&call) {
            Some(ErrorCode::UnknownCall)
        } else {
            if quiet {
                self.calls.remove(&call);
            }
            None
        };
        match refuse {
            Some(_) if quiet => {}
            Some(code) => self.transmit(&Message::Error { call, code }),
            None => self.events.push_back(Event::Call(msg)),
        }
    }

    fn lose_calls(&mut self, reason: LostReason) {
        if !self.calls.is_empty() {
            let calls = std::mem::take(&mut self.calls).into_iter().collect();
            self.events.push_back(Event::CallsLost { calls, reason });
        }
    }

    fn peer_gone(&mut self) {
        self.lose_calls(LostReason::PeerGone);
        if self.peer_epoch.take().is_some() {
            self.events.push_back(Event::PeerDown);
        }
    }

    fn send_hello(&mut self) {
        self.transmit(&Message::Hello {
            epoch: self.epoch,
            peer_epoch: self.peer_epoch.unwrap_or(0),
            ports: self.ports.clone(),
        });
    }

    fn transmit(&mut self, msg: &Message) {
        self.out.push_back(msg.emit());
    }
}

impl Core for Link {
    type Transmit = Vec<u8>;
    type Event = Event;

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(Timer::Keepalive) = self.timers.pop_due(now) {
            self.timers
                .set(Timer::Keepalive, now + self.config.keepalive);
            if self.peer_up() {
                self.silent += 1;
                if self.silent > self.config.missed {
                    self.peer_gone();
                } else {
                    self.seq = self.seq.wrapping_add(1);
                    self.transmit(&Message::Ping { seq: self.seq });
                }
            }
            if !self.peer_up() {
                self.send_hello();
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Codec, Digits, Direction, Media};

    fn ports() -> Ports {
        Ports::try_from(vec![1, 2]).unwrap()
    }

    fn pair(t0: Instant, config: Config) -> (Link, Link) {
        let chand = Link::new(t0, Side::Chand, 0xc, ports(), config);
        let sipd = Link::new(t0, Side::Sipd, 0x5, Ports::default(), config);
        (chand, sipd)
    }

    /// Moves every queued packet both ways until both are quiet; returns how many moved.
    fn pump(now: Instant, a: &mut Link, b: &mut Link) -> usize {
        let mut moved = 0;
        loop {
            let mut any = false;
            while let Some(p) = a.poll_transmit() {
                b.handle_packet(now, &p);
                moved += 1;
                any = true;
            }
            while let Some(p) = b.poll_transmit() {
                a.handle_packet(now, &p);
                moved += 1;
                any = true;
            }
            if !any {
                return moved;
            }
        }
    }

    fn events(l: &mut Link) -> Vec<Event> {
        std::iter::from_fn(|| l.poll_event()).collect()
    }

    fn media() -> Media {
        Media {
            remote_rtp: "192.0.2.9:4000".parse().unwrap(),
            codec: Codec::Pcmu,
            ptime_ms: 20,
            telephone_event_pt: Some(101),
            direction: Direction::SendRecv,
        }
    }

    fn dial(call: CallId) -> Message {
        Message::Dial {
            call,
            port: 1,
            digits: Digits::try_from("*98").unwrap(),
        }
    }

    #[test]
    fn hello_exchange_brings_both_up_and_ends() {
        let t0 = Instant::now();
        let (mut c, mut s) = pair(t0, Config::default());
        assert_eq!(pump(t0, &mut c, &mut s), 4);
        assert_eq!(
            events(&mut s),
            [Event::PeerUp {
                epoch: 0xc,
                ports: ports()
            }]
        );
        assert_eq!(
            events(&mut c),
            [Event::PeerUp {
                epoch: 0x5,
                ports: Ports::default()
            }]
        );
        assert!(c.peer_up() && s.peer_up());
    }

    #[test]
    fn pbx_mwi_goes_from_chand_to_sipd_once_up() {
        let t0 = Instant::now();
        let (mut c, mut s) = pair(t0, Config::default());
        let lamp = PbxMwi {
            span: 1,
            number: Digits::try_from("8000").unwrap(),
            on: true,
            messages: Some(2),
        };
        assert_eq!(
            c.send(t0, Message::PbxMwi(lamp.clone())),
            Err(SendError::PeerDown)
        );
        pump(t0, &mut c, &mut s);
        events(&mut c);
        events(&mut s);
        assert_eq!(
            s.send(t0, Message::PbxMwi(lamp.clone())),
            Err(SendError::NotOurs)
        );
        c.send(t0, Message::PbxMwi(lamp.clone())).unwrap();
        pump(t0, &mut c, &mut s);
        assert_eq!(events(&mut s), [Event::PbxMwi(lamp)]);
    }

    #[test]
    fn outgoing_call_flows_and_ends_on_both_sides() {
        let t0 = Instant::now();
        let (mut c, mut s) = pair(t0, Config::default());
        pump(t0, &mut c, &mut s);
        events(&mut c);
        events(&mut s);
        let call = c.new_call_id().unwrap();
        assert_eq!(call.creator(), Side::Chand);
        c.send(t0, dial(call)).unwrap();
        let ready = Message::MediaReady {
            call,
            local_rtp: "192.0.2.1:10000".parse().unwrap(),
        };
        c.send(t0, ready.clone()).unwrap();
        pump(t0, &mut c, &mut s);
        assert_eq!(
            events(&mut s),
            [Event::Call(dial(call)), Event::Call(ready)]
        );
        s.send(t0, Message::Ringback { call }).unwrap();
        let connected = Message::Connected {
            call,
            media: media(),
        };
        s.send(t0, connected.clone()).unwrap();
        pump(t0, &mut c, &mut s);
        assert_eq!(
            events(&mut c),
            [
                Event::Call(Message::Ringback { call }),
                Event::Call(connected)
            ]
        );
        let hangup = Message::Hangup {
            call,
            cause: Cause::NORMAL_CLEARING,
        };
        c.send(t0, hangup.clone()).unwrap();
        pump(t0, &mut c, &mut s);
        assert_eq!(events(&mut s), [Event::Call(hangup)]);
        assert_eq!(c.calls().count() + s.calls().count(), 0);
        assert_eq!(
            s.send(t0, Message::Ringback { call }),
            Err(SendError::UnknownCall(call))
        );
    }

    #[test]
    fn unknown_calls_get_an_error_but_hangups_and_errors_get_none() {
        let t0 = Instant::now();
        let (mut c, mut s) = pair(t0, Config::default());
        pump(t0, &mut c, &mut s);
        events(&mut c);
        let stray = CallId(CallId::SIPD_BIT | 77);
        s.handle_packet(t0, &Message::Answered { call: stray }.emit());
        assert_eq!(
            s.poll_transmit().map(|p| Message::parse(&p)),
            Some(Ok(Message::Error {
                call: stray,
                code: ErrorCode::UnknownCall
            }))
        );
        let quiet = [
            Message::Hangup {
                call: stray,
                cause: Cause::NORMAL_CLEARING,
            },
            Message::Error {
                call: stray,
                code: ErrorCode::UnknownCall,
            },
        ];
        for m in quiet {
            s.handle_packet(t0, &m.emit());
            assert_eq!(s.poll_transmit(), None);
        }
        assert_eq!(events(&mut s).len(), 1); // only the first PeerUp
    }

    #[test]
    fn wrong_direction_bad_ids_and_garbage_are_refused() {
        let t0 = Instant::now();
        let (mut c, mut s) = pair(t0, Config::default());
        pump(t0, &mut c, &mut s);
        events(&mut c);
        events(&mut s);
        // sipd ids in a Dial, and a Dial sent to chand.
        let bad = CallId(CallId::SIPD_BIT | 1);
        s.handle_packet(t0, &dial(bad).emit());
        c.handle_packet(t0, &dial(CallId(1)).emit());
        let reply = |l: &mut Link| Message::parse(&l.poll_transmit().unwrap()).unwrap();
        assert_eq!(
            reply(&mut s),
            Message::Error {
                call: bad,
                code: ErrorCode::BadCallId
            }
        );
        assert_eq!(
            reply(&mut c),
            Message::Error {
                call: CallId(1),
                code: ErrorCode::WrongDirection
            }
        );
        assert_eq!(s.send(t0, dial(CallId(1))), Err(SendError::NotOurs));
        s.handle_packet(t0, &[1, 0x7f]);
        assert_eq!(
            events(&mut s),
            [Event::Rejected(WireError::UnknownType(0x7f))]
        );
        assert_eq!(s.calls().count() + c.calls().count(), 0);
    }

    #[test]
    fn call_messages_before_hello_are_refused() {
        let t0 = Instant::now();
        let mut s = Link::new(t0, Side::Sipd, 1, Ports::default(), Config::default());
        s.poll_transmit();
        s.handle_packet(t0, &dial(CallId(3)).emit());
        assert_eq!(
            Message::parse(&s.poll_transmit().unwrap()),
            Ok(Message::Error {
                call: CallId(3),
                code: ErrorCode::NoHello
            })
        );
        assert_eq!(
            s.send(
                t0,
                Message::Incoming {
                    call: CallId(CallId::SIPD_BIT),
                    port: 1,
                    number: Default::default(),
                    name: Default::default(),
                    privacy: crate::Privacy::Allowed,
                }
            ),
            Err(SendError::PeerDown)
        );
    }

    #[test]
    fn calls_are_bounded_both_ways() {
        let t0 = Instant::now();
        let config = Config {
            max_calls: 2,
            ..Config::default()
        };
        let (mut c, mut s) = pair(t0, config);
        pump(t0, &mut c, &mut s);
        for _ in 0..2 {
            let id = c.new_call_id().unwrap();
            c.send(t0, dial(id)).unwrap();
        }
        assert_eq!(c.new_call_id(), None);
        assert_eq!(c.send(t0, dial(CallId(99))), Err(SendError::TooManyCalls));
        pump(t0, &mut c, &mut s);
        // A third Dial the peer sends anyway (its table differs) is hung up with cause 42.
        s.handle_packet(t0, &dial(CallId(50)).emit());
        assert_eq!(
            Message::parse(&s.poll_transmit().unwrap()),
            Ok(Message::Hangup {
                call: CallId(50),
                cause: Cause::CONGESTION
            })
        );
        assert_eq!(s.calls().count(), 2);
    }

    #[test]
    fn new_call_ids_skip_those_in_use_and_wrap_within_the_side() {
        let t0 = Instant::now();
        let (mut c, mut s) = pair(t0, Config::default());
        pump(t0, &mut c, &mut s);
        let first = c.new_call_id().unwrap();
        c.send(t0, dial(first)).unwrap();
        c.next_id = first.0;
        assert_ne!(c.new_call_id(), Some(first));
        s.next_id = u32::MAX;
        assert_eq!(s.new_call_id(), Some(CallId(u32::MAX)));
        assert_eq!(s.new_call_id(), Some(CallId(CallId::SIPD_BIT)));
    }

    #[test]
    fn a_peer_restart_loses_the_old_epochs_calls_only() {
        let t0 = Instant::now();
        let (mut c, mut s) = pair(t0, Config::default());
        pump(t0, &mut c, &mut s);
        let a = c.new_call_id().unwrap();
        c.send(t0, dial(a)).unwrap();
        let b = c.new_call_id().unwrap();
        c.send(t0, dial(b)).unwrap();
        pump(t0, &mut c, &mut s);
        events(&mut c);
        // sipd restarts: a new instance with a new epoch.
        let mut s2 = Link::new(t0, Side::Sipd, 0x6, Ports::default(), Config::default());
        pump(t0, &mut c, &mut s2);
        assert_eq!(
            events(&mut c),
            [
                Event::CallsLost {
                    calls: vec![a, b],
                    reason: LostReason::PeerRestarted
                },
                Event::PeerUp {
                    epoch: 0x6,
                    ports: Ports::default()
                }
            ]
        );
        assert_eq!(c.calls().count(), 0);
        // The same epoch again (a repeated Hello) loses nothing.
        let id = c.new_call_id().unwrap();
        c.send(t0, dial(id)).unwrap();
        c.handle_packet(
            t0,
            &Message::Hello {
                epoch: 0x6,
                peer_epoch: 0xc,
                ports: Ports::default(),
            }
            .emit(),
        );
        assert_eq!(events(&mut c), []);
        assert_eq!(c.calls().count(), 1);
    }

    #[test]
    fn a_silent_peer_is_gone_after_the_missed_pings() {
        let t0 = Instant::now();
        let config = Config::default();
        let (mut c, mut s) = pair(t0, config);
        pump(t0, &mut c, &mut s);
        let id = c.new_call_id().unwrap();
        c.send(t0, dial(id)).unwrap();
        pump(t0, &mut c, &mut s);
        events(&mut c);
        // Answered pings keep the peer up.
        let mut now = t0;
        for _ in 0..10 {
            now = c.poll_timeout().unwrap();
            c.handle_timeout(now);
            s.handle_timeout(now);
            pump(now, &mut c, &mut s);
        }
        assert_eq!(events(&mut c), []);
        // sipd falls silent: three pings unanswered, gone at the fourth interval.
        let silent_from = now;
        let mut pings = 0;
        while c.peer_up() {
            now = c.poll_timeout().unwrap();
            c.handle_timeout(now);
            while let Some(p) = c.poll_transmit() {
                if let Ok(Message::Ping { .. }) = Message::parse(&p) {
                    pings += 1;
                }
            }
        }
        assert_eq!(pings, 3);
        assert_eq!(now - silent_from, config.keepalive * 4);
        assert_eq!(
            events(&mut c),
            [
                Event::CallsLost {
                    calls: vec![id],
                    reason: LostReason::PeerGone
                },
                Event::PeerDown
            ]
        );
        // While down it keeps offering Hello; an early or repeated timeout changes nothing.
        c.handle_timeout(now);
        assert_eq!(c.poll_transmit(), None);
        now = c.poll_timeout().unwrap();
        c.handle_timeout(now);
        assert!(matches!(
            Message::parse(&c.poll_transmit().unwrap()),
            Ok(Message::Hello { epoch: 0xc, .. })
        ));
    }

    #[test]
    fn a_closed_connection_loses_the_calls_and_a_reconnect_says_hello() {
        let t0 = Instant::now();
        let (mut c, mut s) = pair(t0, Config::default());
        pump(t0, &mut c, &mut s);
        let id = c.new_call_id().unwrap();
        c.send(t0, dial(id)).unwrap();
        pump(t0, &mut c, &mut s);
        events(&mut c);
        events(&mut s);
        s.handle_disconnect(t0);
        assert_eq!(
            events(&mut s),
            [
                Event::CallsLost {
                    calls: vec![id],
                    reason: LostReason::PeerGone
                },
                Event::PeerDown
            ]
        );
        s.handle_connect(t0);
        pump(t0, &mut c, &mut s);
        // chand knew sipd's epoch already: nothing lost on its side, sipd sees chand again.
        assert_eq!(events(&mut c), []);
        assert!(matches!(
            events(&mut s)[..],
            [Event::PeerUp { epoch: 0xc, .. }]
        ));
    }
}
