//! The calls of one PRI span used as a trunk between the PBX and SIP (issue 13), sans-IO:
//! Q.931 call events of the span ([`CallEvent`]) and call-control messages from sipd in,
//! commands on the span's [`CallControl`] and [`Out`]s (messages to sipd, media of a
//! B-channel) out. docs/calls.md gives the mapping; in short:
//!
//! - PBX → SIP: a SETUP becomes `TrunkDial` (called number through `to_sip_strip/prefix`),
//!   CALL PROCEEDING and the B-channel's media leg; `Ringback` / `EarlyMedia` send ALERTING,
//!   `Connected` sends CONNECT (with `Identity`'s name as QSIG connectedName), `Hangup` sends
//!   DISCONNECT with its cause.
//! - SIP → PBX: `TrunkIncoming` places a SETUP (called number through `to_pbx_strip/prefix`,
//!   `[pri.calls]` type of number and plan, QSIG callingName when shown); ALERTING gives
//!   `Alerting`, CONNECT `Answered` (after `Identity` when it named its party); a SETUP that cannot be placed gives `Hangup` (34 no
//!   B-channel free, 38 link down).
//! - Every call ends once on each side: DISCONNECT or RELEASE from the PBX (or the link's loss,
//!   Q.931 §5.8.9) send `Hangup`; `Hangup` from sipd or the link to sipd lost clear towards the
//!   PBX. MWI is never touched here.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use callctl::wire::Message;
use callctl::{CallId, Cause, Digits, Media, Privacy, Text};
use isdn::call::{CallControl, CallEvent, CallRef, CommandError, Number};
use isdn::q931::{NumberingPlan, Presentation, TypeOfNumber};
use isdn::qsig::Name;
use mwi_config::{NumberPlan, NumberType, PriCalls};

/// What the owner must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    /// Send this message to sipd; a call-creating one that cannot be sent is answered with
    /// [`Trunk::sip_gone`].
    Send(Message),
    /// Open B-channel `b`'s media leg for `call` (RTP pair) and send `MediaReady`; a failure
    /// is answered with [`Trunk::refused`].
    OpenMedia {
        /// The call.
        call: CallId,
        /// The B-channel (timeslot).
        b: u8,
    },
    /// The network moved the call from B-channel `from` to `to` (Q.931 §5.1.2): its leg follows.
    MoveMedia {
        /// The B-channel asked for.
        from: u8,
        /// The B-channel assigned.
        to: u8,
    },
    /// Run B-channel `b`'s media with the far end's `media`.
    StartMedia {
        /// The B-channel.
        b: u8,
        /// The far end's RTP, codec and direction.
        media: Media,
    },
    /// Close B-channel `b`'s media leg.
    StopMedia {
        /// The B-channel.
        b: u8,
    },
}

/// Where a trunk call is (status names in [`Phase::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// SETUP from the PBX (`TrunkDial` sent) or to it (SETUP sent), not yet alerting.
    Calling,
    /// The called side is alerted.
    Ringing,
    /// Answered.
    Connected,
    /// Being cleared towards the PBX; the SIP side has ended.
    Clearing,
}

impl Phase {
    /// `calling`, `ringing`, `connected` or `clearing`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Calling => "calling",
            Phase::Ringing => "ringing",
            Phase::Connected => "connected",
            Phase::Clearing => "clearing",
        }
    }
}

/// One call on a B-channel.
#[derive(Clone, Debug)]
pub struct TrunkCall {
    /// The callctl call; `None` once the SIP side has ended.
    pub call: Option<CallId>,
    /// The B-channel (timeslot).
    pub b: u8,
    /// Where it is.
    pub phase: Phase,
    /// `true` for a call from the PBX (SETUP received).
    pub from_pbx: bool,
    /// The called number as sent on (to sipd or to the PBX).
    pub called: String,
    /// The calling number (empty when withheld).
    pub calling: String,
    /// When it was answered.
    pub answered: Option<Instant>,
    /// A call from the PBX: who answered on the SIP side (sipd's `Identity`), sent to the PBX
    /// as the CONNECT's connectedName (ECMA-164 SS-CONP).
    pub connected_name: Option<Name>,
}

impl TrunkCall {
    /// How long the call has been answered at `now`.
    pub fn duration(&self, now: Instant) -> Option<Duration> {
        self.answered.map(|t| now.saturating_duration_since(t))
    }
}

/// The trunk calls of one span.
pub struct Trunk {
    span: u16,
    cfg: PriCalls,
    calls: BTreeMap<CallRef, TrunkCall>,
    out: VecDeque<Out>,
}

impl Trunk {
    /// The trunk of DAHDI span `span` with its `[pri.calls]`.
    pub fn new(span: u16, cfg: PriCalls) -> Self {
        Self {
            span,
            cfg,
            calls: BTreeMap::new(),
            out: VecDeque::new(),
        }
    }

    /// The calls, by call reference.
    pub fn calls(&self) -> impl Iterator<Item = &TrunkCall> {
        self.calls.values()
    }

    /// The call of call reference `cref`.
    pub fn get(&self, cref: CallRef) -> Option<&TrunkCall> {
        self.calls.get(&cref)
    }

    /// The call reference of callctl call `call`.
    pub fn by_call(&self, call: CallId) -> Option<CallRef> {
        self.calls
            .iter()
            .find(|(_, c)| c.call == Some(call))
            .map(|(r, _)| *r)
    }

    /// An event of the span's call control at `now`. `new_call` is a fresh callctl id for a
    /// SETUP from the PBX, `None` when sipd is not connected (the SETUP is then refused with
    /// cause 38, network out of order).
    pub fn span_event(
        &mut self,
        now: Instant,
        cc: &mut CallControl,
        ev: CallEvent,
        new_call: Option<CallId>,
    ) {
        match ev {
            CallEvent::Incoming {
                call: cref,
                called,
                calling,
                name,
                channel,
            } => self.setup_from_pbx(
                now,
                cc,
                cref,
                &called,
                calling.as_ref(),
                name,
                channel,
                new_call,
            ),
            CallEvent::Alerting { call: cref } => {
                if let Some(c) = self
                    .calls
                    .get_mut(&cref)
                    .filter(|c| c.phase == Phase::Calling)
                {
                    c.phase = Phase::Ringing;
                    if let Some(call) = c.call {
                        self.out.push_back(Out::Send(Message::Alerting { call }));
                    }
                }
            }
            CallEvent::ChannelAssigned { call: cref, b } => {
                if let Some(c) = self.calls.get_mut(&cref).filter(|c| c.b != b) {
                    self.out.push_back(Out::MoveMedia { from: c.b, to: b });
                    c.b = b;
                }
            }
            CallEvent::Connected { call: cref, name } => {
                if let Some(c) = self.calls.get_mut(&cref) {
                    if c.phase != Phase::Clearing && c.answered.is_none() {
                        c.phase = Phase::Connected;
                        c.answered = Some(now);
                        if let (false, Some(call)) = (c.from_pbx, c.call) {
                            if let Some(name) = name.and_then(|n| n.display()) {
                                self.out.push_back(Out::Send(Message::Identity {
                                    call,
                                    number: text(""),
                                    name: text(&name),
                                }));
                            }
                            self.out.push_back(Out::Send(Message::Answered { call }));
                        }
                    }
                }
            }
            CallEvent::Disconnected { call: cref, cause } => self.sip_ends(cref, cause),
            CallEvent::Released { call: cref, cause } => {
                self.sip_ends(cref, cause);
                if let Some(c) = self.calls.remove(&cref) {
                    self.out.push_back(Out::StopMedia { b: c.b });
                }
            }
            CallEvent::Proceeding { .. } | CallEvent::Progress { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn setup_from_pbx(
        &mut self,
        now: Instant,
        cc: &mut CallControl,
        cref: CallRef,
        called: &Number,
        calling: Option<&Number>,
        name: Option<Name>,
        b: u8,
        new_call: Option<CallId>,
    ) {
        let Some(call) = new_call else {
            let _ = cc.disconnect(now, cref, Cause::NETWORK_OUT_OF_ORDER.0);
            return;
        };
        let number = self
            .cfg
            .to_sip_prefix
            .apply(self.cfg.to_sip_strip, &called.digits);
        let Ok(digits) = Digits::try_from(number.as_str()) else {
            let _ = cc.disconnect(now, cref, Cause::INVALID_NUMBER_FORMAT.0);
            return;
        };
        let privacy = match calling.and_then(|n| n.presentation).map(|p| p.indicator) {
            None | Some(0) => Privacy::Allowed,
            Some(1) => Privacy::Restricted,
            Some(_) => Privacy::Unavailable,
        };
        let calling = calling.map(|n| n.digits.as_str()).unwrap_or("");
        let name = name.and_then(|n| n.display()).unwrap_or_default();
        let _ = cc.proceeding(cref);
        self.calls.insert(
            cref,
            TrunkCall {
                call: Some(call),
                b,
                phase: Phase::Calling,
                from_pbx: true,
                called: number.clone(),
                calling: calling.to_owned(),
                answered: None,
                connected_name: None,
            },
        );
        self.out.push_back(Out::Send(Message::TrunkDial {
            call,
            span: self.span,
            called: digits,
            number: text(calling),
            name: text(&name),
            privacy,
        }));
        self.out.push_back(Out::OpenMedia { call, b });
    }

    /// A call message from sipd at `now` (its span already checked by the owner).
    pub fn message(&mut self, now: Instant, cc: &mut CallControl, msg: Message) {
        if let Message::TrunkIncoming {
            call,
            called,
            number,
            name,
            privacy,
            ..
        } = msg
        {
            self.setup_to_pbx(now, cc, call, &called, &number, &name, privacy);
            return;
        }
        let Some(cref) = msg.call().and_then(|c| self.by_call(c)) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&cref) else {
            return;
        };
        let b = c.b;
        match msg {
            Message::Ringback { .. } if c.from_pbx && cc.alerting(cref).is_ok() => {
                c.phase = Phase::Ringing;
            }
            Message::EarlyMedia { media, .. } if c.from_pbx => {
                if cc.alerting_in_band(cref).is_ok() {
                    c.phase = Phase::Ringing;
                }
                self.out.push_back(Out::StartMedia { b, media });
            }
            Message::Identity { name, .. } if c.from_pbx => {
                c.connected_name = Name::allowed(name.as_str());
            }
            Message::Connected { media, .. } if c.from_pbx => {
                if c.answered.is_none() && cc.connect(now, cref, c.connected_name.as_ref()).is_ok()
                {
                    c.phase = Phase::Connected;
                    c.answered = Some(now);
                }
                self.out.push_back(Out::StartMedia { b, media });
            }
            Message::Connected { media, .. } | Message::Modify { media, .. } => {
                self.out.push_back(Out::StartMedia { b, media });
            }
            Message::Hangup { cause, .. } => self.clear(now, cc, cref, cause.0),
            Message::Error { .. } => self.clear(now, cc, cref, Cause::TEMPORARY_FAILURE.0),
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn setup_to_pbx(
        &mut self,
        now: Instant,
        cc: &mut CallControl,
        call: CallId,
        called: &Digits,
        number: &Text,
        name: &Text,
        privacy: Privacy,
    ) {
        let digits = self
            .cfg
            .to_pbx_prefix
            .apply(self.cfg.to_pbx_strip, called.as_str());
        let called = Number {
            digits: digits.clone(),
            ton: ton(self.cfg.called_type),
            plan: plan(self.cfg.plan),
            presentation: None,
        };
        let shown = privacy == Privacy::Allowed;
        let calling = Number {
            digits: if shown {
                number.as_str().to_owned()
            } else {
                String::new()
            },
            ton: ton(self.cfg.calling_type),
            plan: plan(self.cfg.plan),
            presentation: Some(Presentation {
                indicator: match privacy {
                    Privacy::Allowed => 0,
                    Privacy::Restricted => 1,
                    Privacy::Unavailable => 2,
                },
                screening: 0,
            }),
        };
        let name = shown.then(|| Name::allowed(name.as_str())).flatten();
        match cc.place(now, &called, Some(&calling), name.as_ref(), None) {
            Ok(cref) => {
                let b = cc.channel(cref).unwrap_or(0);
                self.calls.insert(
                    cref,
                    TrunkCall {
                        call: Some(call),
                        b,
                        phase: Phase::Calling,
                        from_pbx: false,
                        called: digits,
                        calling: calling.digits,
                        answered: None,
                        connected_name: None,
                    },
                );
                self.out.push_back(Out::OpenMedia { call, b });
            }
            Err(e) => {
                let cause = match e {
                    CommandError::LinkDown => Cause::NETWORK_OUT_OF_ORDER,
                    other => Cause(other.cause()),
                };
                self.out
                    .push_back(Out::Send(Message::Hangup { call, cause }));
            }
        }
    }

    /// The owner could not open `call`'s media at `now`: the call is cleared on both sides
    /// with `cause`.
    pub fn refused(&mut self, now: Instant, cc: &mut CallControl, call: CallId, cause: Cause) {
        let Some(cref) = self.by_call(call) else {
            return;
        };
        self.sip_ends(cref, cause.0);
        self.clear(now, cc, cref, cause.0);
    }

    /// The SIP side of `call` is gone without a `Hangup` to answer: the link to sipd lost it
    /// (cause 41) or its `TrunkDial` could not be sent. DISCONNECT towards the PBX with
    /// `cause`; nothing goes to sipd.
    pub fn sip_gone(&mut self, now: Instant, cc: &mut CallControl, call: CallId, cause: Cause) {
        if let Some(cref) = self.by_call(call) {
            self.clear(now, cc, cref, cause.0);
        }
    }

    /// Clear `cref` towards the PBX with `cause`; the SIP side is done.
    fn clear(&mut self, now: Instant, cc: &mut CallControl, cref: CallRef, cause: u8) {
        if let Some(c) = self.calls.get_mut(&cref) {
            c.call = None;
            c.phase = Phase::Clearing;
            self.out.push_back(Out::StopMedia { b: c.b });
        }
        if cc.disconnect(now, cref, cause).is_err() {
            // Already released by the call control: nothing is left to clear.
            self.calls.remove(&cref);
        }
    }

    /// The PBX side ended `cref` with `cause`: `Hangup` to sipd, once.
    fn sip_ends(&mut self, cref: CallRef, cause: u8) {
        if let Some(c) = self.calls.get_mut(&cref) {
            if let Some(call) = c.call.take() {
                self.out.push_back(Out::Send(Message::Hangup {
                    call,
                    cause: Cause(cause),
                }));
                self.out.push_back(Out::StopMedia { b: c.b });
            }
            c.phase = Phase::Clearing;
        }
    }

    /// The next thing to do, in order.
    pub fn poll(&mut self) -> Option<Out> {
        self.out.pop_front()
    }
}

fn text(s: &str) -> Text {
    // callctl Text holds 64 octets; longer numbers or names are cut at a character boundary.
    let mut end = s.len().min(Text::MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let cut: String = s[..end].chars().filter(|c| !c.is_control()).collect();
    Text::try_from(cut.as_str()).unwrap_or_default()
}

/// The Q.931 type of number of a config keyword (also the MWI SETUP's calling number).
pub(in crate::daemon) fn ton(t: NumberType) -> TypeOfNumber {
    match t {
        NumberType::Unknown => TypeOfNumber::Unknown,
        NumberType::International => TypeOfNumber::International,
        NumberType::National => TypeOfNumber::National,
        NumberType::Network => TypeOfNumber::NetworkSpecific,
        NumberType::Subscriber => TypeOfNumber::Subscriber,
        NumberType::Abbreviated => TypeOfNumber::Abbreviated,
    }
}

/// The Q.931 numbering plan of a config keyword (also the MWI SETUP's calling number).
pub(in crate::daemon) fn plan(p: NumberPlan) -> NumberingPlan {
    match p {
        NumberPlan::Unknown => NumberingPlan::Unknown,
        NumberPlan::Isdn => NumberingPlan::Isdn,
        NumberPlan::Private => NumberingPlan::Private,
    }
}

#[cfg(test)]
#[path = "trunk_tests.rs"]
mod tests;
