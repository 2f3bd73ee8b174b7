//! The MWI delivery engine of one PRI span, sans-IO: QSIG MWIActivate / MWIDeactivate
//! (ECMA-242) to a PBX over Q.931 call-independent signalling (ECMA-165 §7) on a Q.921 link.
//!
//! Delivery loses nothing: per served user the last state wins (a newer state replaces one
//! still queued); while the link is down nothing is sent and nothing is forgotten; when the
//! link comes up every number is sent again ([`Resync`]). Deliveries are paced: at most
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
//! engine's state, any other invoke with a ROSE Reject.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::q921::{self, Lapd, Side};
use crate::q931::{
    call_state, cause, CallReference, Cause, Location, Message, MessageType, PartyNumberIe,
    Presentation, Verdict,
};
use crate::qsig::{
    self, BasicService, MwiActivateArg, MwiDeactivateArg, MwiInterrogateRes, MwiInterrogateResElt,
    MwiInvoke, PartyNumber, PrivateTypeOfNumber, PublicTypeOfNumber,
};
use crate::rose::{self, Component, Facility};

/// Upper bound of [`SpanConfig::max_outstanding`].
pub const MAX_OUTSTANDING: usize = 1024;
/// Upper bound of every timer and backoff of [`SpanConfig`].
pub const MAX_TIMER: Duration = Duration::from_secs(86_400);

/// How MWI invokes travel to the PBX (config `mwi_transport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `setup`: call-independent signalling connection, SETUP with the invoke (ECMA-165 §7.1).
    Setup,
    /// `facility`: connectionless FACILITY on the dummy call reference (ECMA-165 §7.3).
    Facility,
}

/// Encoding of servedUserNr (config `party_number`, ECMA-155 PartyNumber).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartyNumberType {
    /// `unknownPartyNumber [0]` (what libpri sends).
    Unknown,
    /// `privatePartyNumber [5]`, type of number localNumber.
    Private,
    /// `publicPartyNumber [1]`, type of number unknown.
    Public,
}

/// Which numbers are sent again when the link comes up or the engine starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resync {
    /// Every number the engine knows.
    All,
    /// Lamps that are on, plus any number whose confirmed state differs from its state.
    On,
}

/// Configuration of one span (from the `[[pri]]` table of the config file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanConfig {
    /// `side`: user (CPE) or network; sets Q.921 C/R.
    pub side: Side,
    /// `mwi_transport`.
    pub transport: Transport,
    /// `party_number`: servedUserNr encoding.
    pub party_number: PartyNumberType,
    /// `message_count`: send nbOfMessages in MWIActivate when known.
    pub message_count: bool,
    /// Calling party number IE of the SETUP (e.g. the voice-mail pilot); none when `None`.
    pub calling_number: Option<String>,
    /// Resync policy on link up and start.
    pub resync: Resync,
    /// At most this many deliveries unanswered at once (1..=1024; default 7).
    pub max_outstanding: usize,
    /// T303: SETUP answer timer (Q.931 Table 9-1, 4 s).
    pub t303: Duration,
    /// T308: RELEASE answer timer (Q.931 Table 9-1, 4 s).
    pub t308: Duration,
    /// T310: after CALL PROCEEDING, waiting for the final answer (Q.931 Table 9-1, 30 s).
    pub t310: Duration,
    /// First retry delay after a failure; doubles up to `retry_max`.
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

impl SpanConfig {
    /// Defaults for `side`: SETUP transport, unknown party numbers, message counts on, resync
    /// all, 7 outstanding, T303 4 s, T308 4 s, T310 30 s, retries from 1 s up to 60 s.
    pub fn new(side: Side) -> Self {
        SpanConfig {
            side,
            transport: Transport::Setup,
            party_number: PartyNumberType::Unknown,
            message_count: true,
            calling_number: None,
            resync: Resync::All,
            max_outstanding: 7,
            t303: Duration::from_secs(4),
            t308: Duration::from_secs(4),
            t310: Duration::from_secs(30),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
        }
    }
}

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
}

/// Status of one served user (for `chand status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LampStatus {
    /// The state to deliver (the latest given to [`Span::set_lamp`]).
    pub wanted: Lamp,
    /// The state last confirmed by the PBX, `None` before the first confirmation.
    pub confirmed: Option<Lamp>,
    /// Waiting to be sent, in flight, or waiting for a retry.
    pub pending: bool,
}

/// Status of the span (for `chand status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanStatus {
    /// Q.921 multiple-frame operation established.
    pub link_up: bool,
    /// Numbers whose wanted state is not yet confirmed (queued, in flight or backing off).
    pub queue_depth: usize,
    /// Deliveries sent and not yet answered.
    pub in_flight: usize,
    /// Q.921 counters.
    pub lapd: q921::Stats,
}

#[derive(Debug)]
struct Entry {
    wanted: Lamp,
    confirmed: Option<Lamp>,
    /// `wanted` has to be (re)sent.
    dirty: bool,
    /// In the ready queue.
    queued: bool,
    /// A delivery of this number is in flight.
    in_flight: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallPhase {
    /// SETUP sent, T303 (or T310 after CALL PROCEEDING) running.
    Initiated { proceeding: bool },
    /// RELEASE sent after CONNECT, T308 running; `retried` after one T308 expiry.
    Releasing { retried: bool },
}

#[derive(Debug)]
struct Call {
    number: String,
    lamp: Lamp,
    phase: CallPhase,
    deadline: Instant,
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
    /// Backoff deadlines, mirrored in `Entry::retry_at`, earliest first.
    retries: BTreeSet<(Instant, String)>,
    next_cr: u16,
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
        let lapd = Lapd::new(q921::Config::new(cfg.side));
        Span {
            cfg,
            lapd,
            up: false,
            entries: BTreeMap::new(),
            ready: VecDeque::new(),
            calls: HashMap::new(),
            facilities: VecDeque::new(),
            retries: BTreeSet::new(),
            next_cr: 1,
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
        let e = self.entries.entry(number.to_owned()).or_insert(Entry {
            wanted: lamp,
            confirmed: None,
            dirty: true,
            queued: false,
            in_flight: false,
            retry_at: None,
            backoff: Duration::ZERO,
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

    /// Run every timer due at `now`: Q.921 T200/T203, Q.931 T303/T308/T310, retries.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.lapd.handle_timeout(now);
        let due: Vec<u16> = self
            .calls
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(&cr, _)| cr)
            .collect();
        for cr in due {
            self.call_timeout(now, cr);
        }
        while let Some((at, n)) = self.retries.first().cloned() {
            if at > now {
                break;
            }
            self.retries.remove(&(at, n.clone()));
            if let Some(e) = self.entries.get_mut(&n) {
                e.retry_at = None;
            }
            self.enqueue(&n);
        }
        self.pump(now);
    }

    /// The earliest deadline of the link, the calls and the retries.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self.calls.values().map(|c| c.deadline);
        let retries = self.retries.first().map(|(t, _)| *t);
        self.lapd
            .poll_timeout()
            .into_iter()
            .chain(calls)
            .chain(retries)
            .min()
    }

    /// Next frame to write to the D-channel.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.lapd.poll_transmit()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<SpanEvent> {
        self.events.pop_front()
    }

    /// Link state, queue depth, in-flight count and Q.921 counters.
    pub fn status(&self) -> SpanStatus {
        SpanStatus {
            link_up: self.up,
            queue_depth: self
                .entries
                .values()
                .filter(|e| e.dirty || e.in_flight)
                .count(),
            in_flight: self.in_flight(),
            lapd: self.lapd.stats(),
        }
    }

    /// Status of one served user, `None` if the engine never heard of it.
    pub fn lamp(&self, number: &str) -> Option<LampStatus> {
        self.entries.get(number).map(|e| LampStatus {
            wanted: e.wanted,
            confirmed: e.confirmed,
            pending: e.dirty || e.in_flight,
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
                    pending: e.dirty || e.in_flight,
                },
            )
        })
    }

    // ---- internals ----

    fn in_flight(&self) -> usize {
        self.calls.len() + self.facilities.len()
    }

    fn enqueue(&mut self, number: &str) {
        if let Some(e) = self.entries.get_mut(number) {
            if e.dirty && !e.queued && !e.in_flight && e.retry_at.is_none() {
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
        self.dispatch(now);
    }

    fn on_link_up(&mut self) {
        self.up = true;
        self.events.push_back(SpanEvent::LinkUp);
        let all = self.cfg.resync == Resync::All;
        // A fresh link: pending backoffs start over.
        self.retries.clear();
        let numbers: Vec<String> = self
            .entries
            .iter_mut()
            .filter_map(|(n, e)| {
                e.retry_at = None;
                e.backoff = Duration::ZERO;
                if all || e.wanted.on || e.confirmed != Some(e.wanted) {
                    e.dirty = true;
                }
                e.dirty.then(|| n.clone())
            })
            .collect();
        for n in numbers {
            self.enqueue(&n);
        }
    }

    fn on_link_down(&mut self) {
        self.up = false;
        self.events.push_back(SpanEvent::LinkDown);
        // Q.931 §5.8.9: calls not yet active are cleared internally; what they carried is sent
        // again after the link is back.
        let calls: Vec<Call> = self.calls.drain().map(|(_, c)| c).collect();
        let facilities: Vec<FacilitySent> = self.facilities.drain(..).collect();
        for number in calls
            .into_iter()
            .map(|c| c.number)
            .chain(facilities.into_iter().map(|f| f.number))
        {
            if let Some(e) = self.entries.get_mut(&number) {
                e.in_flight = false;
                if e.confirmed != Some(e.wanted) {
                    e.dirty = true;
                }
            }
        }
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
            let Some(number) = self.ready.pop_front() else {
                return;
            };
            let Some(e) = self.entries.get_mut(&number) else {
                continue;
            };
            e.queued = false;
            if !e.dirty || e.in_flight || e.retry_at.is_some() {
                continue;
            }
            e.dirty = false;
            e.in_flight = true;
            let lamp = e.wanted;
            self.deliver(now, number, lamp);
        }
    }

    fn party_number(&self, digits: &str) -> PartyNumber {
        let digits = digits.to_owned();
        match self.cfg.party_number {
            PartyNumberType::Unknown => PartyNumber::Unknown(digits),
            PartyNumberType::Private => PartyNumber::Private {
                ton: PrivateTypeOfNumber::Local,
                digits,
            },
            PartyNumberType::Public => PartyNumber::Public {
                ton: PublicTypeOfNumber::Unknown,
                digits,
            },
        }
    }

    fn invoke_for(&self, number: &str, lamp: Lamp) -> MwiInvoke {
        let served = self.party_number(number);
        if lamp.on {
            let mut arg = MwiActivateArg::new(served, BasicService::Speech);
            if self.cfg.message_count {
                arg.nb_of_messages = lamp.messages;
            }
            MwiInvoke::Activate(arg)
        } else {
            MwiInvoke::Deactivate(MwiDeactivateArg::new(served, BasicService::Speech))
        }
    }

    fn take_invoke_id(&mut self) -> i64 {
        let id = self.next_invoke_id;
        // QSIG invokeIds are 16-bit signed; stay positive and non-zero.
        self.next_invoke_id = if id >= 32767 { 1 } else { id + 1 };
        id
    }

    /// A free 15-bit call reference value (Q.931 §4.3), never 0 (the global call reference).
    fn take_call_reference(&mut self) -> u16 {
        loop {
            let cr = self.next_cr;
            self.next_cr = if cr >= 0x7fff { 1 } else { cr + 1 };
            if !self.calls.contains_key(&cr) {
                return cr;
            }
        }
    }

    fn deliver(&mut self, now: Instant, number: String, lamp: Lamp) {
        let invoke_id = self.take_invoke_id();
        let facility = self.invoke_for(&number, lamp).facility(invoke_id);
        match self.cfg.transport {
            Transport::Setup => {
                let value = self.take_call_reference();
                let calling = self.cfg.calling_number.as_deref().map(|d| PartyNumberIe {
                    presentation: Some(Presentation {
                        indicator: 0,
                        screening: 0,
                    }),
                    ..PartyNumberIe::unknown(d)
                });
                let msg = Message::setup_cis(
                    CallReference::Call { value, flag: false },
                    &facility,
                    calling,
                    Some(PartyNumberIe::unknown(&number)),
                )
                .to_vec();
                if self.lapd.send(now, msg).is_ok() {
                    self.calls.insert(
                        value,
                        Call {
                            number,
                            lamp,
                            phase: CallPhase::Initiated { proceeding: false },
                            deadline: now + self.cfg.t303,
                        },
                    );
                } else {
                    self.requeue(&number);
                }
            }
            Transport::Facility => {
                let msg = Message::new_facility(CallReference::Dummy, &facility).to_vec();
                if self.lapd.send(now, msg).is_ok() {
                    let payload = self.lapd.stats().payloads_queued;
                    self.facilities.push_back(FacilitySent {
                        payload,
                        number,
                        lamp,
                    });
                } else {
                    self.requeue(&number);
                }
            }
        }
    }

    /// A delivery could not be handed to the link: keep it dirty for the next link up.
    fn requeue(&mut self, number: &str) {
        if let Some(e) = self.entries.get_mut(number) {
            e.in_flight = false;
            e.dirty = true;
        }
    }

    fn confirm(&mut self, number: &str, lamp: Lamp) {
        let Some(e) = self.entries.get_mut(number) else {
            return;
        };
        e.in_flight = false;
        e.confirmed = Some(lamp);
        e.backoff = Duration::ZERO;
        if e.wanted != lamp {
            e.dirty = true;
        }
        self.events.push_back(SpanEvent::Confirmed {
            number: number.to_owned(),
            lamp,
        });
        self.enqueue(number);
    }

    fn fail(&mut self, now: Instant, number: &str, cause: u8) {
        let Some(e) = self.entries.get_mut(number) else {
            return;
        };
        e.in_flight = false;
        e.dirty = true;
        e.backoff = if e.backoff.is_zero() {
            self.cfg.retry_initial
        } else {
            e.backoff.saturating_mul(2).min(self.cfg.retry_max)
        };
        e.retry_at = Some(now + e.backoff);
        self.retries.insert((now + e.backoff, number.to_owned()));
        self.events.push_back(SpanEvent::Failed {
            number: number.to_owned(),
            cause,
            retry_in: e.backoff,
        });
    }

    fn send_message(&mut self, now: Instant, msg: &Message<'_>) {
        // Only fails while the link is down, when nothing may be sent anyway.
        let _ = self.lapd.send(now, msg.to_vec());
    }

    fn call_timeout(&mut self, now: Instant, value: u16) {
        let Some(call) = self.calls.get_mut(&value) else {
            return;
        };
        let cr = CallReference::Call { value, flag: false };
        match call.phase {
            CallPhase::Initiated { .. } => {
                // T303 / T310 expiry: clear the call (Q.931 §5.1.1, §5.1.3) and retry later.
                let Some(call) = self.calls.remove(&value) else {
                    return;
                };
                let cause = Cause::new(Location::User, cause::RECOVERY_ON_TIMER_EXPIRY);
                self.send_message(now, &Message::release_complete(cr, Some(cause)));
                self.fail(now, &call.number, cause::RECOVERY_ON_TIMER_EXPIRY);
            }
            CallPhase::Releasing { retried: false } => {
                // First T308 expiry: RELEASE again (Q.931 §5.3.4).
                call.phase = CallPhase::Releasing { retried: true };
                call.deadline = now + self.cfg.t308;
                let cause = Cause::new(Location::User, cause::NORMAL_CLEARING);
                self.send_message(now, &Message::release(cr, Some(cause)));
            }
            CallPhase::Releasing { retried: true } => {
                // Second T308 expiry: release the call reference.
                self.calls.remove(&value);
            }
        }
    }

    fn on_message(&mut self, now: Instant, bytes: &[u8]) {
        // Q.931 §5.8.1-5.8.3: messages with a bad header are ignored.
        let Ok(msg) = Message::parse(bytes) else {
            return;
        };
        let verdict = msg.check();
        match msg.call_reference {
            CallReference::Dummy => self.on_dummy(now, &msg, verdict),
            CallReference::Call { value: 0, .. } => {}
            CallReference::Call { value, flag: true } => {
                self.on_our_call(now, value, &msg, verdict)
            }
            CallReference::Call { value, flag: false } => {
                self.on_their_call(now, value, &msg, verdict)
            }
        }
    }

    fn status_reply(&mut self, now: Instant, cr: CallReference, value: u8, diag: u8, state: u8) {
        let diag = [diag];
        let cause = Cause {
            diagnostics: &diag,
            ..Cause::new(Location::User, value)
        };
        self.send_message(now, &Message::status(cr, cause, state));
    }

    /// Messages on a call reference we allocated (flag set: sent to the originator).
    fn on_our_call(&mut self, now: Instant, value: u16, msg: &Message<'_>, verdict: Verdict) {
        let cr = CallReference::Call { value, flag: false };
        let Some(call) = self.calls.get(&value) else {
            self.unknown_call_reference(now, cr, msg);
            return;
        };
        let state = match call.phase {
            CallPhase::Initiated { proceeding: false } => call_state::CALL_INITIATED,
            CallPhase::Initiated { proceeding: true } => call_state::OUTGOING_CALL_PROCEEDING,
            CallPhase::Releasing { .. } => call_state::RELEASE_REQUEST,
        };
        if verdict.is_fatal() && msg.message_type != MessageType::ReleaseComplete {
            if let Some((c, d)) = verdict.cause() {
                self.status_reply(now, cr, c, d, state);
            }
            return;
        }
        let initiated = matches!(call.phase, CallPhase::Initiated { .. });
        let cause_value = msg.cause.map(|c| c.value);
        match msg.message_type {
            MessageType::CallProceeding | MessageType::Alerting if initiated => {
                if let Some(c) = self.calls.get_mut(&value) {
                    c.phase = CallPhase::Initiated { proceeding: true };
                    c.deadline = now + self.cfg.t310;
                }
            }
            MessageType::Connect if initiated => {
                // Delivered; clear the signalling connection (ECMA-165 §7.1.4, Q.931 §5.3).
                if let Some(c) = self.calls.get_mut(&value) {
                    c.phase = CallPhase::Releasing { retried: false };
                    c.deadline = now + self.cfg.t308;
                    let (n, l) = (c.number.clone(), c.lamp);
                    let cause = Cause::new(Location::User, cause::NORMAL_CLEARING);
                    self.send_message(now, &Message::release(cr, Some(cause)));
                    self.confirm(&n, l);
                }
            }
            MessageType::ReleaseComplete => {
                if let Some(c) = self.calls.remove(&value) {
                    if initiated {
                        self.confirm(&c.number, c.lamp);
                    }
                }
            }
            MessageType::Release | MessageType::Disconnect => {
                let answer = if msg.message_type == MessageType::Release {
                    Message::release_complete(cr, None)
                } else {
                    Message::release(cr, Some(Cause::new(Location::User, cause::NORMAL_CLEARING)))
                };
                self.send_message(now, &answer);
                let Some(c) = self.calls.remove(&value) else {
                    return;
                };
                if msg.message_type == MessageType::Disconnect {
                    // Wait for RELEASE COMPLETE under T308 like any release we start.
                    self.calls.insert(
                        value,
                        Call {
                            number: c.number.clone(),
                            lamp: c.lamp,
                            phase: CallPhase::Releasing { retried: false },
                            deadline: now + self.cfg.t308,
                        },
                    );
                }
                if initiated {
                    match cause_value {
                        Some(v) if is_temporary(v) => self.fail(now, &c.number, v),
                        _ => self.confirm(&c.number, c.lamp),
                    }
                }
            }
            MessageType::Status => {
                if msg.call_state == Some(call_state::NULL) {
                    // The PBX has no such call (Q.931 §5.8.11): clear it and retry.
                    if let Some(c) = self.calls.remove(&value) {
                        if initiated {
                            self.fail(now, &c.number, cause_value.unwrap_or(0));
                        }
                    }
                }
            }
            MessageType::StatusEnquiry => {
                self.status_reply(now, cr, cause::RESPONSE_TO_STATUS_ENQUIRY, 0, state);
            }
            MessageType::Facility => {}
            other => {
                let v = other.value();
                self.status_reply(now, cr, cause::MESSAGE_NOT_COMPATIBLE_WITH_STATE, v, state);
            }
        }
    }

    /// Messages on a call reference the PBX allocated: we keep no call state for those, an
    /// inbound SETUP is answered at once with RELEASE COMPLETE.
    fn on_their_call(&mut self, now: Instant, value: u16, msg: &Message<'_>, verdict: Verdict) {
        let cr = CallReference::Call { value, flag: true };
        if msg.message_type != MessageType::Setup {
            self.unknown_call_reference(now, cr, msg);
            return;
        }
        if verdict.is_fatal() {
            if let Some((c, d)) = verdict.cause() {
                let diag = [d];
                let cause = Cause {
                    diagnostics: &diag,
                    ..Cause::new(Location::User, c)
                };
                self.send_message(now, &Message::release_complete(cr, Some(cause)));
            }
            return;
        }
        let answers = self.answer_facilities(msg);
        let mut rc = Message::release_complete(
            cr,
            Some(Cause::new(
                Location::User,
                if answers.is_empty() {
                    cause::FACILITY_NOT_IMPLEMENTED
                } else {
                    cause::NORMAL_CLEARING
                },
            )),
        );
        rc.facility = answers.iter().map(Vec::as_slice).collect();
        self.send_message(now, &rc);
    }

    /// Connectionless messages (dummy call reference, ECMA-165 §7.3).
    fn on_dummy(&mut self, now: Instant, msg: &Message<'_>, verdict: Verdict) {
        if msg.message_type != MessageType::Facility || verdict.is_fatal() {
            if let MessageType::Other(t) = msg.message_type {
                self.status_reply(
                    now,
                    CallReference::Dummy,
                    cause::MESSAGE_TYPE_NONEXISTENT,
                    t,
                    call_state::NULL,
                );
            }
            return;
        }
        let answers = self.answer_facilities(msg);
        for a in answers {
            self.send_message(now, &Message::new_facility(CallReference::Dummy, &a));
        }
    }

    /// Q.931 §5.8.3.2: a message on a call reference we do not know.
    fn unknown_call_reference(&mut self, now: Instant, cr: CallReference, msg: &Message<'_>) {
        match msg.message_type {
            MessageType::ReleaseComplete => {}
            MessageType::Status => {
                if msg.call_state.is_some_and(|s| s != call_state::NULL) {
                    let cause = Cause::new(Location::User, cause::INVALID_CALL_REFERENCE);
                    self.send_message(now, &Message::release_complete(cr, Some(cause)));
                }
            }
            MessageType::StatusEnquiry => self.status_reply(
                now,
                cr,
                cause::RESPONSE_TO_STATUS_ENQUIRY,
                0,
                call_state::NULL,
            ),
            MessageType::Other(t) => self.status_reply(
                now,
                cr,
                cause::MESSAGE_TYPE_NONEXISTENT,
                t,
                call_state::NULL,
            ),
            _ => {
                let cause = Cause::new(Location::User, cause::INVALID_CALL_REFERENCE);
                self.send_message(now, &Message::release_complete(cr, Some(cause)));
            }
        }
    }

    /// Answers to the invokes of every Facility IE of `msg`, as Facility IE contents: a
    /// ReturnResult or ReturnError for MWIInterrogate, a Reject for every other invoke. Results
    /// and errors addressed to us, and Facility IEs that do not parse, are not answered.
    fn answer_facilities(&self, msg: &Message<'_>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let facilities = msg.facility.iter().filter_map(|f| Facility::parse(f).ok());
        for component in facilities.flat_map(|f| f.components) {
            let Component::Invoke(invoke) = component else {
                continue;
            };
            match MwiInvoke::from_invoke(&invoke) {
                Ok(MwiInvoke::Interrogate(arg)) => {
                    out.push(self.interrogate(invoke.invoke_id, &arg));
                }
                Ok(_) => out.push(qsig::reject_facility(
                    Some(invoke.invoke_id),
                    rose::Problem::Invoke(rose::InvokeProblem::UnrecognizedOperation),
                )),
                Err(e) => out.push(qsig::reject_facility(
                    Some(invoke.invoke_id),
                    e.reject_problem(),
                )),
            }
        }
        out
    }

    /// MWIInterrogate (ECMA-242 §6.3) from the engine's state: a result element when the lamp
    /// is on, ReturnError notAvailable when it is off, invalidServedUserNr for unknown users.
    fn interrogate(&self, invoke_id: i64, arg: &MwiDeactivateArg) -> Vec<u8> {
        match self.entries.get(arg.served_user_nr.digits()) {
            Some(e) if e.wanted.on => {
                let res = MwiInterrogateRes(vec![MwiInterrogateResElt {
                    basic_service: BasicService::Speech,
                    msg_centre_id: None,
                    nb_of_messages: if self.cfg.message_count {
                        e.wanted.messages
                    } else {
                        None
                    },
                    originating_nr: None,
                    timestamp: None,
                    priority: None,
                }]);
                qsig::return_result_facility(invoke_id, qsig::MWI_INTERROGATE, &res.to_vec())
            }
            Some(_) => qsig::return_error_facility(invoke_id, rose::error::NOT_AVAILABLE),
            None => qsig::return_error_facility(invoke_id, rose::error::INVALID_SERVED_USER_NR),
        }
    }
}

/// Q.850 class "resource unavailable" (causes 32..=47): the PBX may accept later.
fn is_temporary(cause: u8) -> bool {
    (32..=47).contains(&cause)
}
