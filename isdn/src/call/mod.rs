//! Q.931 basic call control (ITU-T Q.931 §5, SDL of Annex A; ECMA-143 for QSIG), sans-IO, on
//! the user or the network side of a PRI: one state machine per call reference, the B-channels
//! of the span, the timers T303, T305, T308, T310, T313 and T316.
//!
//! Input: received Q.931 messages ([`CallControl::handle_message`]), commands named after the
//! Q.931 primitives ([`CallControl::place`] = SETUP-req, [`CallControl::alerting`],
//! [`CallControl::connect`] = SETUP-rsp, [`CallControl::disconnect`] = DISCONNECT-req), link
//! loss ([`CallControl::link_down`]) and time. Output through [`Core`]: Q.931 messages to send
//! (`poll_transmit`, bytes for a DL-DATA request), [`CallEvent`]s and the next deadline.
//! The span ([`crate::span::Span`]) carries them on its Q.921 link ahead of MWI traffic.
//!
//! Calls and B-channels are bounded: a call holds its B-channel from the SETUP until its call
//! reference is released, so at most 23 (T1) or 30 (E1) calls exist; a SETUP beyond that is
//! refused with cause 34.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use sansio::{Core, Timers};

use crate::q921::Side;
use crate::q931::{call_state, Layer1, NumberingPlan, PartyNumberIe, Presentation, TypeOfNumber};
use crate::qsig::Name;

mod channels;
mod commands;
mod receive;

pub use channels::Interface;
use channels::{BChannels, CallReferences};

/// A call: its call reference value and which side allocated it (Q.931 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallRef {
    /// Call reference value, 15 bits, never 0.
    pub value: u16,
    /// `true` when this side allocated the value (we sent the SETUP).
    pub ours: bool,
}

/// A party number with its type, plan and (calling party only) presentation (Q.931 §4.5.8,
/// §4.5.10), owned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Number {
    /// Digits, IA5 (`0`-`9`, `*`, `#`).
    pub digits: String,
    /// Type of number.
    pub ton: TypeOfNumber,
    /// Numbering plan.
    pub plan: NumberingPlan,
    /// Octet 3a of a calling party number; `None` leaves it out.
    pub presentation: Option<Presentation>,
}

impl Number {
    /// Type and plan unknown, no presentation octet.
    pub fn unknown(digits: &str) -> Number {
        Number {
            digits: digits.to_owned(),
            ton: TypeOfNumber::Unknown,
            plan: NumberingPlan::Unknown,
            presentation: None,
        }
    }

    fn from_ie(p: &PartyNumberIe<'_>) -> Number {
        Number {
            digits: p.digits.to_owned(),
            ton: p.ton,
            plan: p.plan,
            presentation: p.presentation,
        }
    }

    fn ie(&self) -> PartyNumberIe<'_> {
        PartyNumberIe {
            ton: self.ton,
            plan: self.plan,
            presentation: self.presentation,
            digits: &self.digits,
        }
    }
}

/// What happened to a call, named after the Q.931 primitives (Q.931 §5, Annex A).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEvent {
    /// SETUP-ind: a call from the peer on B-channel `channel`. Answer with
    /// [`CallControl::alerting`] / [`CallControl::connect`] or refuse with
    /// [`CallControl::disconnect`].
    Incoming {
        /// The call.
        call: CallRef,
        /// Called party number (empty digits when the SETUP had none).
        called: Number,
        /// Calling party number, if sent.
        calling: Option<Number>,
        /// The calling party's name (QSIG callingName in a Facility IE of the SETUP,
        /// ECMA-164 SS-CNIP), if sent and decodable.
        name: Option<Name>,
        /// The B-channel (timeslot) the call uses.
        channel: u8,
    },
    /// PROCEEDING-ind: CALL PROCEEDING received for an outgoing call.
    Proceeding {
        /// The call.
        call: CallRef,
    },
    /// ALERTING-ind: the called party is being alerted.
    Alerting {
        /// The call.
        call: CallRef,
    },
    /// PROGRESS-ind (a PROGRESS message, or a progress indicator in another message).
    Progress {
        /// The call.
        call: CallRef,
        /// Progress description (Q.931 §4.5.23), e.g. 8 in-band information available.
        description: u8,
    },
    /// The peer chose or confirmed the B-channel of an outgoing call (Q.931 §5.1.2).
    ChannelAssigned {
        /// The call.
        call: CallRef,
        /// B-channel (timeslot).
        b: u8,
    },
    /// SETUP-conf (outgoing call answered) or SETUP-COMPLETE-ind (our answer acknowledged):
    /// the call is active.
    Connected {
        /// The call.
        call: CallRef,
        /// The answering party's name (QSIG connectedName in a Facility IE of the CONNECT,
        /// ECMA-164 SS-CONP), for an outgoing call when the peer sent one.
        name: Option<Name>,
    },
    /// DISCONNECT-ind: the peer clears the call; it is being released.
    Disconnected {
        /// The call.
        call: CallRef,
        /// Q.850 cause from the DISCONNECT.
        cause: u8,
    },
    /// RELEASE-ind / RELEASE-conf: the call reference and its B-channel are free. The last
    /// event of every call.
    Released {
        /// The call.
        call: CallRef,
        /// Q.850 cause: the peer's, or 102 after a timer, 41 or 27 after a link failure.
        cause: u8,
    },
}

/// Settings of the call control of one span. Timer defaults are the values of Q.931
/// Table 9-1 (network side) and Table 9-2 (user side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallConfig {
    /// Our side of the interface: sets the call states of STATUS and the channel selection.
    pub side: Side,
    /// T1 or E1: the B-channel numbers.
    pub interface: Interface,
    /// The B-channels this side may use, bit b = timeslot b (Cisco's `pri-group timeslots`);
    /// others are never picked, and a SETUP that asks for one is refused with cause 44
    /// (exclusive) or given a usable one (preferred, Q.931 §5.2.3.1). Default: all of
    /// [`Interface::all`].
    pub usable: u32,
    /// G.711 law of the bearer capability of our SETUPs (µ-law on T1, A-law on E1).
    pub law: Layer1,
    /// T303, SETUP answer (4 s, Q.931 Table 9-1/9-2); the SETUP is sent once more on expiry.
    pub t303: Duration,
    /// T305, DISCONNECT answer (30 s, Table 9-1/9-2).
    pub t305: Duration,
    /// T308, RELEASE answer (4 s, Table 9-1/9-2); the RELEASE is sent once more on expiry.
    pub t308: Duration,
    /// T310, after CALL PROCEEDING until ALERTING/CONNECT (30 s, Table 9-2: 30-120 s).
    pub t310: Duration,
    /// T313, CONNECT answer on the user side (4 s, Table 9-2).
    pub t313: Duration,
    /// T316, RESTART answer (120 s, Table 9-1/9-2).
    pub t316: Duration,
}

impl CallConfig {
    /// The standard timer values for `side` on `interface`, µ-law on a T1, A-law on an E1.
    pub fn new(side: Side, interface: Interface) -> Self {
        CallConfig {
            side,
            interface,
            usable: interface.all(),
            law: match interface {
                Interface::T1 => Layer1::MuLaw,
                Interface::E1 => Layer1::ALaw,
            },
            t303: Duration::from_secs(4),
            t305: Duration::from_secs(30),
            t308: Duration::from_secs(4),
            t310: Duration::from_secs(30),
            t313: Duration::from_secs(4),
            t316: Duration::from_secs(120),
        }
    }
}

/// Why a command was refused. [`CommandError::cause`] gives the Q.850 cause to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// No such call (already released), or the command does not fit its state.
    NoCall,
    /// The requested B-channel is busy or not a B-channel of the span (cause 44).
    ChannelUnavailable,
    /// Every B-channel is busy (cause 34).
    NoChannel,
    /// The Q.921 link is down (cause 41, temporary failure).
    LinkDown,
}

impl CommandError {
    /// The Q.850 cause for this refusal, e.g. to map to a SIP response (RFC 3398).
    pub fn cause(self) -> u8 {
        use crate::q931::cause;
        match self {
            CommandError::NoCall => cause::INVALID_CALL_REFERENCE,
            CommandError::ChannelUnavailable => cause::REQUESTED_CHANNEL_UNAVAILABLE,
            CommandError::NoChannel => cause::NO_CIRCUIT_AVAILABLE,
            CommandError::LinkDown => cause::TEMPORARY_FAILURE,
        }
    }
}

/// Where a call is, independent of the side (Q.931 §2.1 states: [`Phase::state`] gives
/// the U or N number of our side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// We sent SETUP (U1 / N6), T303.
    Initiated,
    /// CALL PROCEEDING received (U3 / N9), T310.
    OutgoingProceeding,
    /// ALERTING received (U4 / N7).
    Delivered,
    /// SETUP received, not yet answered (U6 / N1).
    Present,
    /// We sent CALL PROCEEDING (U9 / N3).
    IncomingProceeding,
    /// We sent ALERTING (U7 / N4).
    Received,
    /// We sent CONNECT and wait for CONNECT ACKNOWLEDGE (U8; user side only), T313.
    ConnectRequest,
    /// U10 / N10.
    Active,
    /// We sent DISCONNECT (U11 / N12), T305.
    DisconnectSent,
    /// We sent RELEASE (U19 / N19), T308.
    Releasing,
}

impl Phase {
    /// The call state value of Q.931 §4.5.7 for our `side`.
    fn state(self, side: Side) -> u8 {
        let user = side == Side::User;
        match self {
            Phase::Initiated if user => call_state::CALL_INITIATED,
            Phase::Initiated => call_state::CALL_PRESENT,
            Phase::OutgoingProceeding if user => call_state::OUTGOING_CALL_PROCEEDING,
            Phase::OutgoingProceeding => call_state::INCOMING_CALL_PROCEEDING,
            Phase::Delivered if user => call_state::CALL_DELIVERED,
            Phase::Delivered => call_state::CALL_RECEIVED,
            Phase::Present if user => call_state::CALL_PRESENT,
            Phase::Present => call_state::CALL_INITIATED,
            Phase::IncomingProceeding if user => call_state::INCOMING_CALL_PROCEEDING,
            Phase::IncomingProceeding => call_state::OUTGOING_CALL_PROCEEDING,
            Phase::Received if user => call_state::CALL_RECEIVED,
            Phase::Received => call_state::CALL_DELIVERED,
            Phase::ConnectRequest => call_state::CONNECT_REQUEST,
            Phase::Active => call_state::ACTIVE,
            Phase::DisconnectSent if user => call_state::DISCONNECT_REQUEST,
            Phase::DisconnectSent => call_state::DISCONNECT_INDICATION,
            Phase::Releasing => call_state::RELEASE_REQUEST,
        }
    }
}

#[derive(Clone, Debug)]
struct Call {
    phase: Phase,
    /// The B-channel held; `None` only for an outgoing call of the user side that gave its
    /// channel up to the network's call in a glare and is being cleared.
    channel: Option<u8>,
    /// The SETUP as sent, for its one retransmission on T303 expiry; emptied once answered.
    setup: Vec<u8>,
    /// Our SETUP asked for its B-channel as exclusive (Q.931 §4.5.13), so the peer cannot
    /// move the call to another one.
    exclusive: bool,
    /// The timer of the phase has expired once (T303 and T308 run twice).
    retried: bool,
    /// Cause of our DISCONNECT or RELEASE, repeated in the RELEASE that follows T305 / T308.
    cause: u8,
}

/// The timers: one per call (the timer of its phase) and T316 for RESTART.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Call(CallRef),
    T316,
}

/// Basic call control of one PRI span (Q.931 §5), sans-IO.
#[derive(Debug)]
pub struct CallControl {
    cfg: CallConfig,
    up: bool,
    calls: BTreeMap<CallRef, Call>,
    channels: BChannels,
    refs: CallReferences,
    timers: Timers<Timer>,
    /// RESTART sent, its T316 expired this many times.
    restart_tries: u8,
    /// invokeId of the next name invoke (ECMA-164), 1..=0x7fff round robin.
    next_invoke_id: i64,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<CallEvent>,
}

impl CallControl {
    /// No call, link down, every B-channel free.
    pub fn new(cfg: CallConfig) -> Self {
        CallControl {
            cfg,
            up: false,
            calls: BTreeMap::new(),
            channels: BChannels::new(cfg.interface, cfg.usable),
            refs: CallReferences::new(),
            timers: Timers::new(),
            restart_tries: 0,
            next_invoke_id: 1,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CallConfig {
        &self.cfg
    }

    /// Calls that exist (any state but Null).
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// B-channels in use.
    pub fn busy_channels(&self) -> usize {
        self.channels.busy_count()
    }

    /// Call reference values of ours in use, calls and [`CallControl::reserve_call_reference`]
    /// together.
    pub fn call_references_in_use(&self) -> usize {
        self.refs.in_use()
    }

    /// Whether `call` exists.
    pub fn has_call(&self, call: CallRef) -> bool {
        self.calls.contains_key(&call)
    }

    /// The B-channel of `call`, if it has one.
    pub fn channel(&self, call: CallRef) -> Option<u8> {
        self.calls.get(&call).and_then(|c| c.channel)
    }

    /// The Q.931 call state value (§4.5.7) of `call` on our side; 0 (Null) when it does not
    /// exist.
    pub fn state(&self, call: CallRef) -> u8 {
        self.calls
            .get(&call)
            .map_or(call_state::NULL, |c| c.phase.state(self.cfg.side))
    }

    /// A call reference value of ours for a signalling connection that is not a basic call
    /// (the span's MWI SETUPs), so both share one value space (Q.931 §4.3). `None` when all
    /// 32,767 are in use. Give it back with [`CallControl::free_call_reference`].
    pub fn reserve_call_reference(&mut self) -> Option<u16> {
        self.refs.take()
    }

    /// Gives back a value of [`CallControl::reserve_call_reference`].
    pub fn free_call_reference(&mut self, value: u16) {
        if !self.calls.contains_key(&CallRef { value, ours: true }) {
            self.refs.free(value);
        }
    }

    /// DL-ESTABLISH-ind: the Q.921 link is up; commands are accepted.
    pub fn link_up(&mut self) {
        self.up = true;
    }

    /// DL-RELEASE-ind (Q.931 §5.8.9): the link is down. Every call is cleared internally with
    /// [`CallEvent::Released`], cause 41 (temporary failure) for calls not yet active and 27
    /// (destination out of order) for active ones; every timer stops, nothing is sent.
    pub fn link_down(&mut self) {
        use crate::q931::cause;
        self.up = false;
        self.out.clear();
        self.timers.cancel(Timer::T316);
        let refs: Vec<CallRef> = self.calls.keys().copied().collect();
        for call in refs {
            let active = self
                .calls
                .get(&call)
                .is_some_and(|c| c.phase == Phase::Active);
            let c = if active {
                cause::DESTINATION_OUT_OF_ORDER
            } else {
                cause::TEMPORARY_FAILURE
            };
            self.release_call(call, c);
        }
    }

    // ---- internals shared by commands and receive ----

    fn send(&mut self, msg: &crate::q931::Message<'_>) {
        if self.up {
            self.out.push_back(msg.to_vec());
        }
    }

    fn set_timer(&mut self, call: CallRef, now: Instant, d: Duration) {
        self.timers.set(Timer::Call(call), now + d);
    }

    /// Frees the call reference and the B-channel of `call` and reports
    /// [`CallEvent::Released`].
    fn release_call(&mut self, call: CallRef, cause: u8) {
        self.timers.cancel(Timer::Call(call));
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        if let Some(b) = c.channel {
            self.channels.free(b);
        }
        if call.ours {
            self.refs.free(call.value);
        }
        self.events.push_back(CallEvent::Released { call, cause });
    }

    /// An invokeId for a name invoke: these get no reply (ECMA-164: no result is defined), so they
    /// only need to differ from one another.
    fn invoke_id(&mut self) -> i64 {
        let id = self.next_invoke_id;
        self.next_invoke_id = if id >= 0x7fff { 1 } else { id + 1 };
        id
    }

    fn phase(&self, call: CallRef) -> Option<Phase> {
        self.calls.get(&call).map(|c| c.phase)
    }

    fn enter(&mut self, call: CallRef, phase: Phase) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.phase = phase;
            c.retried = false;
        }
    }
}

/// Q.931 messages out (`poll_transmit`: bytes for one DL-DATA request), [`CallEvent`]s out,
/// the per-call timers and T316 in one [`Timers`] table.
impl Core for CallControl {
    type Transmit = Vec<u8>;
    type Event = CallEvent;

    /// Runs every timer due at `now` (Q.931 §5.1.1 T303, §5.1.7 T310, §5.2.8 T313, §5.3.3
    /// T305, §5.3.4 T308, §5.5.1 T316); an early, late or repeated call runs only what is due,
    /// once.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.timers.pop_due(now) {
            match t {
                Timer::Call(call) => self.call_timeout(now, call),
                Timer::T316 => self.restart_timeout(now),
            }
        }
    }

    /// The next Q.931 message to send.
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// The next event.
    fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// The earliest running timer.
    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}
