//! The MWI delivery engine of one PRI span, sans-IO: QSIG MWIActivate / MWIDeactivate
//! (ECMA-242), or ETSI mwiActivate / mwiDeactivate (EN 300 745-1, [`MwiProtocol`]), to a PBX
//! over Q.931 call-independent signalling (ECMA-165 §7, EN 300 196-1 §8.3) on a Q.921 link.
//!
//! Delivery loses nothing: per served user the last state wins (a newer state replaces one
//! still queued); while the link is down nothing is sent and nothing is forgotten; when the
//! link comes up every number is sent again, or first asked for with MWIInterrogate and sent
//! only where the PBX's lamp differs ([`Resync`]). Deliveries are paced: at most
//! [`SpanConfig::max_outstanding`] unanswered at a time (default 7 = Q.921 k), so on a healthy
//! 64 kbit/s D-channel an answer comes back long before T303.
//!
//! Transports ([`Transport`]): a call-independent SETUP carrying the invoke, answered by
//! CONNECT (we then clear with RELEASE, T308) or RELEASE COMPLETE with any cause (both count as
//! delivered; Q.931 §5.1, ECMA-165 §7.1), or a connectionless FACILITY on the dummy call
//! reference, delivered once Q.921 has acknowledged its I frame. A failure (DISCONNECT or
//! RELEASE with a resource-unavailable cause, STATUS with call state Null, T303 expiry) retries
//! with exponential backoff.
//!
//! Inbound: STATUS ENQUIRY is answered with STATUS (cause 30), unknown messages with STATUS
//! (Q.931 §5.8), an MWIInterrogate invoke (in a SETUP or a connectionless FACILITY) from the
//! engine's state (per basicService and msgCentreId, with ECMA-242's errors), MWIActivate /
//! MWIDeactivate from the PBX with a ReturnResult and a [`SpanEvent::PbxLamp`], any other
//! invoke with a ROSE Reject.

//!
//! Modules: `config` (the span's settings), `deliver` (sending one state: SETUP or FACILITY,
//! the call timers, confirmation and backoff), `inbound` (what the PBX sends), `interrogate`
//! (MWIInterrogate sent at link up and its answers), `link` (link up resync and link down).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use sansio::{Core, Timers};

use crate::call::{CallConfig, CallControl, CallEvent, Interface};
use crate::q921::{self, Lapd};

mod config;
mod deliver;
mod inbound;
mod interrogate;
mod link;

pub use config::{
    MwiProtocol, PartyNumberType, Resync, SpanConfig, Transport, MAX_OUTSTANDING, MAX_TIMER,
};

/// The message-waiting state of one served user as signalled to the PBX.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lamp {
    /// Lamp on (MWIActivate) or off (MWIDeactivate).
    pub on: bool,
    /// nbOfMessages of MWIActivate (sent only with [`SpanConfig::message_count`]).
    pub messages: Option<u16>,
}

impl Lamp {
    /// Lamp on with `messages` new messages.
    pub fn on(messages: Option<u16>) -> Self {
        Lamp { on: true, messages }
    }

    /// Lamp off.
    pub fn off() -> Self {
        Lamp {
            on: false,
            messages: None,
        }
    }
}

/// What the engine reports (for logs and tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpanEvent {
    /// The Q.921 link is up (resync started).
    LinkUp,
    /// The Q.921 link is down.
    LinkDown,
    /// The PBX accepted `lamp` for `number`.
    Confirmed {
        /// Served user.
        number: String,
        /// The state the PBX now shows.
        lamp: Lamp,
    },
    /// A delivery failed; it is retried after `retry_in`.
    Failed {
        /// Served user.
        number: String,
        /// Q.850 cause received, or 102 (recovery on timer expiry) for a timeout.
        cause: u8,
        /// Backoff before the retry.
        retry_in: Duration,
    },
    /// A Q.921 protocol error (MDL-ERROR), for the log.
    LinkError(q921::MdlError),
    /// The PBX sent MWIActivate (`lamp.on`, with its nbOfMessages) or MWIDeactivate for
    /// `number` (ECMA-242 §6.3): its own message centre lights a lamp we serve. Already
    /// answered with a ReturnResult.
    PbxLamp {
        /// servedUserNr digits: 1..=[`MAX_SERVED_USER_DIGITS`] of `0-9 * #`.
        number: String,
        /// The state the PBX asks for.
        lamp: Lamp,
    },
}

/// Most digits of a servedUserNr the span accepts from the PBX (callctl's `Digits::MAX`, room
/// for any E.164 number and prefixes); a longer one gets ReturnError invalidServedUserNr.
pub const MAX_SERVED_USER_DIGITS: usize = 32;

/// Status of one served user (for `chand status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LampStatus {
    /// The state to deliver (the latest given to [`Span::set_lamp`]).
    pub wanted: Lamp,
    /// The state last confirmed by the PBX, `None` before the first confirmation.
    pub confirmed: Option<Lamp>,
    /// Waiting to be asked about or sent, in flight, or waiting for a retry.
    pub pending: bool,
}

/// Status of the span (for `chand status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanStatus {
    /// Q.921 multiple-frame operation established.
    pub link_up: bool,
    /// Numbers whose wanted state is not yet confirmed (to be asked about, queued, in flight
    /// or backing off).
    pub queue_depth: usize,
    /// Deliveries sent and not yet answered.
    pub in_flight: usize,
    /// Q.921 counters.
    pub lapd: q921::Stats,
    /// MWIInterrogate counters of [`Resync::Interrogate`].
    pub interrogate: InterrogateStats,
}

/// What the MWIInterrogates of [`Resync::Interrogate`] found, since the engine started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterrogateStats {
    /// MWIInterrogate invokes sent.
    pub sent: u64,
    /// Answers showing the wanted state: nothing sent.
    pub agreed: u64,
    /// Answers showing another state: the wanted state sent.
    pub differed: u64,
    /// Rejects, ReturnErrors other than notAvailable, undecodable results and no answer at
    /// all: the wanted state sent.
    pub failed: u64,
}

#[derive(Debug)]
struct Entry {
    wanted: Lamp,
    confirmed: Option<Lamp>,
    /// `wanted` has to be (re)sent.
    dirty: bool,
    /// In the ready queue.
    queued: bool,
    /// In the queue of numbers to ask the PBX about ([`Resync::Interrogate`]).
    ask: bool,
    /// A delivery of this number is in flight.
    in_flight: bool,
    backoff: Duration,
    /// Index in [`Span::numbers`], the key of its backoff timer.
    id: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallPhase {
    /// SETUP sent, T303 (or T310 after CALL PROCEEDING) running.
    Initiated { proceeding: bool },
    /// RELEASE sent after CONNECT, T308 running; `retried` after one T308 expiry.
    Releasing { retried: bool },
}

/// Why a call-independent signalling connection was set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// Delivering this state (MWIActivate / MWIDeactivate).
    Deliver(Lamp),
    /// Asking for the PBX's state (MWIInterrogate with this invokeId).
    Ask(i64),
    /// An ask whose answer has arrived: the connection only has to be cleared.
    Answered,
}

#[derive(Debug)]
struct Call {
    number: String,
    purpose: Purpose,
    phase: CallPhase,
}

#[derive(Debug)]
struct FacilitySent {
    /// Q.921 payload number (see [`q921::Stats::payloads_discarded`]).
    payload: u64,
    number: String,
    lamp: Lamp,
}

/// The MWI engine of one span: Q.921 link, Q.931 calls, per-number state and pacing.
///
/// Drive it like [`Lapd`]: [`Span::start`] when the D-channel is there, [`Span::handle_frame`]
/// for each received frame, [`Span::set_lamp`] for each state change, [`Span::handle_timeout`]
/// at [`Span::poll_timeout`]; after each call drain [`Span::poll_transmit`] and
/// [`Span::poll_event`].
#[derive(Debug)]
pub struct Span {
    cfg: SpanConfig,
    lapd: Lapd,
    up: bool,
    entries: BTreeMap<String, Entry>,
    ready: VecDeque<String>,
    calls: HashMap<u16, Call>,
    facilities: VecDeque<FacilitySent>,
    /// Numbers to ask the PBX about, in order ([`Resync::Interrogate`]).
    ask_queue: VecDeque<String>,
    /// Connectionless MWIInterrogates awaiting their answer, by invokeId (T303 each).
    asks: BTreeMap<i64, String>,
    interrogate_stats: InterrogateStats,
    /// Every number ever given to [`Span::set_lamp`], by [`Entry::id`].
    numbers: Vec<String>,
    /// T303, T308, T310 per call and the backoff per number.
    timers: Timers<Timer>,
    /// Basic calls ([`SpanConfig::calls`]); it also allocates the call references of the MWI
    /// SETUPs, so both share one value space (Q.931 §4.3).
    cc: CallControl,
    next_invoke_id: i64,
    events: VecDeque<SpanEvent>,
}

impl Span {
    /// A span with its link released; nothing is sent before [`Span::start`].
    /// `max_outstanding` is clamped to 1..=[`MAX_OUTSTANDING`] (so a free call reference always
    /// exists) and every timer to at most [`MAX_TIMER`].
    pub fn new(mut cfg: SpanConfig) -> Self {
        cfg.max_outstanding = cfg.max_outstanding.clamp(1, MAX_OUTSTANDING);
        for t in [
            &mut cfg.t303,
            &mut cfg.t308,
            &mut cfg.t310,
            &mut cfg.retry_initial,
            &mut cfg.retry_max,
        ] {
            *t = (*t).min(MAX_TIMER);
        }
        let mut link = q921::Config::new(cfg.side);
        if cfg.calls.is_some() {
            // Issue 13: a lamp resync may hold a call's SETUP up by one frame's line time at
            // most, so lamps go one I frame at a time when the span carries calls.
            link.bulk_k = 1;
        }
        let lapd = Lapd::new(link);
        let cc = CallControl::new(
            cfg.calls
                .unwrap_or_else(|| CallConfig::new(cfg.side, Interface::T1)),
        );
        Span {
            cfg,
            lapd,
            up: false,
            entries: BTreeMap::new(),
            ready: VecDeque::new(),
            calls: HashMap::new(),
            facilities: VecDeque::new(),
            ask_queue: VecDeque::new(),
            asks: BTreeMap::new(),
            interrogate_stats: InterrogateStats::default(),
            numbers: Vec::new(),
            timers: Timers::new(),
            cc,
            next_invoke_id: 1,
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SpanConfig {
        &self.cfg
    }

    /// The D-channel is there (socket connected, DAHDI alarm cleared): establish the link and
    /// keep it up.
    pub fn start(&mut self, now: Instant) {
        self.lapd.start(now);
        self.pump(now);
    }

    /// The D-channel went away: the link is down, in-flight deliveries are forgotten and will
    /// be sent again after the next [`Span::start`].
    pub fn link_lost(&mut self, now: Instant) {
        self.lapd.link_lost();
        self.pump(now);
    }

    /// Set the state of served user `number` (digits). The last state wins: a state still
    /// queued is replaced; one in flight is followed by the new one if they differ.
    pub fn set_lamp(&mut self, now: Instant, number: &str, lamp: Lamp) {
        let numbers = &mut self.numbers;
        let e = self.entries.entry(number.to_owned()).or_insert_with(|| {
            let id = numbers.len();
            numbers.push(number.to_owned());
            Entry {
                wanted: lamp,
                confirmed: None,
                dirty: true,
                queued: false,
                ask: false,
                in_flight: false,
                backoff: Duration::ZERO,
                id,
            }
        });
        if e.wanted != lamp || e.confirmed != Some(lamp) {
            e.dirty = true;
        }
        e.wanted = lamp;
        self.enqueue(number);
        self.pump(now);
    }

    /// Process one received frame (address + control + information, no FCS). Never panics.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        self.lapd.handle_frame(now, frame);
        self.pump(now);
    }

    /// Runs `f` on the span's basic call control (commands such as
    /// [`CallControl::place`], [`CallControl::connect`]), then sends what it produced ahead of
    /// any MWI message. `None` when [`SpanConfig::calls`] is off.
    pub fn with_calls<R>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut CallControl) -> R,
    ) -> Option<R> {
        self.cfg.calls?;
        let r = f(&mut self.cc);
        self.pump(now);
        Some(r)
    }

    /// The next event of the span's basic calls (Q.931 primitives, [`CallEvent`]).
    pub fn poll_call_event(&mut self) -> Option<CallEvent> {
        self.cc.poll_event()
    }

    /// Link state, queue depth, in-flight count and Q.921 counters.
    pub fn status(&self) -> SpanStatus {
        SpanStatus {
            link_up: self.up,
            queue_depth: self
                .entries
                .values()
                .filter(|e| e.dirty || e.in_flight || e.ask)
                .count(),
            in_flight: self.in_flight(),
            lapd: self.lapd.stats(),
            interrogate: self.interrogate_stats,
        }
    }

    /// Status of one served user, `None` if the engine never heard of it.
    pub fn lamp(&self, number: &str) -> Option<LampStatus> {
        self.entries.get(number).map(|e| LampStatus {
            wanted: e.wanted,
            confirmed: e.confirmed,
            pending: e.dirty || e.in_flight || e.ask,
        })
    }

    /// Every served user with its status, in number order.
    pub fn lamps(&self) -> impl Iterator<Item = (&str, LampStatus)> {
        self.entries.iter().map(|(n, e)| {
            (
                n.as_str(),
                LampStatus {
                    wanted: e.wanted,
                    confirmed: e.confirmed,
                    pending: e.dirty || e.in_flight || e.ask,
                },
            )
        })
    }

    // ---- internals ----

    fn in_flight(&self) -> usize {
        self.calls.len() + self.facilities.len() + self.asks.len()
    }

    fn enqueue(&mut self, number: &str) {
        if let Some(e) = self.entries.get_mut(number) {
            if e.dirty && !e.queued && !e.in_flight && !self.timers.is_running(Timer::Retry(e.id)) {
                e.queued = true;
                self.ready.push_back(number.to_owned());
            }
        }
    }

    /// Handle link events, settle acknowledged FACILITY deliveries, then send what the pacing
    /// allows.
    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.lapd.poll_event() {
            match ev {
                q921::Event::LinkUp => self.on_link_up(),
                q921::Event::LinkDown => self.on_link_down(),
                q921::Event::Data(m) | q921::Event::UnitData(m) => self.on_message(now, &m),
                q921::Event::Error(e) => self.events.push_back(SpanEvent::LinkError(e)),
            }
        }
        self.settle_facilities();
        // Call control first: its messages go ahead of every queued MWI message.
        while let Some(m) = self.cc.poll_transmit() {
            // Only fails while the link is down, when call control sends nothing.
            let _ = self.lapd.send_priority(now, m);
        }
        self.dispatch(now);
    }

    fn settle_facilities(&mut self) {
        let st = self.lapd.stats();
        let resolved = st.payloads_acked + st.payloads_discarded;
        while self
            .facilities
            .front()
            .is_some_and(|f| f.payload <= resolved)
        {
            if let Some(f) = self.facilities.pop_front() {
                self.confirm(&f.number, f.lamp);
            }
        }
    }

    fn dispatch(&mut self, now: Instant) {
        while self.up && self.in_flight() < self.cfg.max_outstanding {
            // Asks first: at link up they decide what the ready queue has to send.
            if let Some(number) = self.ask_queue.pop_front() {
                if let Some(e) = self.entries.get_mut(&number) {
                    if e.ask && !e.in_flight {
                        e.ask = false;
                        e.in_flight = true;
                        self.ask(now, number);
                    } else {
                        e.ask = false;
                    }
                }
                continue;
            }
            let Some(number) = self.ready.pop_front() else {
                return;
            };
            let Some(e) = self.entries.get_mut(&number) else {
                continue;
            };
            e.queued = false;
            // A number waiting for its ask is sent (or not) once the PBX has answered.
            if !e.dirty || e.in_flight || e.ask || self.timers.is_running(Timer::Retry(e.id)) {
                continue;
            }
            e.dirty = false;
            e.in_flight = true;
            let lamp = e.wanted;
            self.deliver(now, number, lamp);
        }
    }
}

/// The Q.931 timers of the span's calls and the backoff of its numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// T303, T310 or T308 of the call with this call reference value, by its phase.
    Call(u16),
    /// The end of the backoff of the number with this [`Entry::id`].
    Retry(usize),
    /// T303 of the connectionless MWIInterrogate with this invokeId.
    Ask(i64),
}

/// Frames out ([`Core::poll_transmit`]: address + control + information, no FCS, for the
/// D-channel), [`SpanEvent`]s out; the timers of the Q.921 link (its own table) and of the
/// span (calls, backoff) in.
impl Core for Span {
    type Transmit = Vec<u8>;
    type Event = SpanEvent;

    /// Run every timer due at `now`: Q.921 T200/T203, Q.931 T303/T308/T310, retries. An
    /// early, late or repeated call runs only what is due, once.
    fn handle_timeout(&mut self, now: Instant) {
        self.lapd.handle_timeout(now);
        self.cc.handle_timeout(now);
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::Call(value) => self.call_timeout(now, value),
                Timer::Retry(id) => {
                    if let Some(n) = self.numbers.get(id).cloned() {
                        self.enqueue(&n);
                    }
                }
                Timer::Ask(invoke_id) => {
                    if let Some(n) = self.asks.remove(&invoke_id) {
                        self.resolve_ask(&n, None);
                    }
                }
            }
        }
        self.pump(now);
    }

    /// Next frame to write to the D-channel.
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.lapd.poll_transmit()
    }

    /// Next event.
    fn poll_event(&mut self) -> Option<SpanEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline of the link, the calls and the retries.
    fn poll_timeout(&self) -> Option<Instant> {
        self.lapd
            .poll_timeout()
            .into_iter()
            .chain(self.timers.next())
            .chain(self.cc.poll_timeout())
            .min()
    }
}
