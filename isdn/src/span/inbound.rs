//! What the PBX sends on a span: answers to our deliveries, its own calls and connectionless
//! FACILITY messages (Q.931 §5.8, ECMA-165 §7, ECMA-242 §6.3).

use std::time::Instant;

use crate::etsi;
use crate::q931::{
    call_state, cause, CallReference, Cause, Location, Message, MessageType, Verdict,
};
use crate::qsig::{
    self, BasicService, MwiDeactivateArg, MwiInterrogateRes, MwiInterrogateResElt, MwiInvoke,
};
use crate::rose::{self, Component, Facility, InvokeProblem, Problem, RoseFacility};

use super::interrogate::{ask_answers, is_speech};
use super::{
    CallPhase, Lamp, MwiProtocol, Purpose, Span, SpanEvent, Timer, MAX_SERVED_USER_DIGITS,
};

impl Span {
    pub(super) fn on_message(&mut self, now: Instant, bytes: &[u8]) {
        // Q.931 §5.8.1-5.8.3: messages with a bad header are ignored.
        let Ok(msg) = Message::parse(bytes) else {
            return;
        };
        let verdict = msg.check();
        if self.for_call_control(&msg) {
            self.cc.handle_message(now, &msg);
            return;
        }
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

    /// Whether `msg` belongs to basic call control (with [`super::SpanConfig::calls`] on): the
    /// global call reference (RESTART), a call it knows, or a SETUP for a voice bearer (not
    /// the call-independent SETUP of ECMA-165, whose bearer is unrestricted digital).
    fn for_call_control(&self, msg: &Message<'_>) -> bool {
        if self.cfg.calls.is_none() {
            return false;
        }
        match msg.call_reference {
            CallReference::Dummy => false,
            CallReference::Call { value: 0, .. } => true,
            CallReference::Call { value, flag } => {
                let call = crate::call::CallRef { value, ours: flag };
                if flag && self.calls.contains_key(&value) {
                    return false;
                }
                self.cc.has_call(call)
                    || (!flag
                        && msg.message_type == MessageType::Setup
                        && msg.bearer_capability.is_some_and(|b| b.is_voice()))
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
        if let (Purpose::Ask(invoke_id), true) = (call.purpose, initiated) {
            // The answer rides on CONNECT, FACILITY or a clearing message (ECMA-165 §7.1);
            // once we clear (the ask then counts as unanswered) a late answer changes nothing.
            let answer = ask_answers(msg)
                .into_iter()
                .find(|(id, _)| *id == invoke_id);
            if let Some((_, shown)) = answer {
                let number = call.number.clone();
                if let Some(c) = self.calls.get_mut(&value) {
                    c.purpose = Purpose::Answered;
                }
                self.resolve_ask(&number, shown);
            }
        }
        match msg.message_type {
            MessageType::CallProceeding | MessageType::Alerting if initiated => {
                if let Some(c) = self.calls.get_mut(&value) {
                    c.phase = CallPhase::Initiated { proceeding: true };
                    self.timers.set(Timer::Call(value), now + self.cfg.t310);
                }
            }
            MessageType::Connect if initiated => {
                // Delivered; clear the signalling connection (ECMA-165 §7.1.4, Q.931 §5.3).
                if let Some(c) = self.calls.get_mut(&value) {
                    c.phase = CallPhase::Releasing { retried: false };
                    self.timers.set(Timer::Call(value), now + self.cfg.t308);
                    let (n, p) = (c.number.clone(), c.purpose);
                    let cause = Cause::new(Location::User, cause::NORMAL_CLEARING);
                    self.send_message(now, &Message::release(cr, Some(cause)));
                    self.call_done(now, &n, p, None);
                }
            }
            MessageType::ReleaseComplete => {
                if let Some(c) = self.end_call(value) {
                    if initiated {
                        self.call_done(now, &c.number, c.purpose, None);
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
                let (number, purpose) = if msg.message_type == MessageType::Disconnect {
                    // Wait for RELEASE COMPLETE under T308 like any release we start.
                    let Some(c) = self.calls.get_mut(&value) else {
                        return;
                    };
                    c.phase = CallPhase::Releasing { retried: false };
                    self.timers.set(Timer::Call(value), now + self.cfg.t308);
                    (c.number.clone(), c.purpose)
                } else {
                    let Some(c) = self.end_call(value) else {
                        return;
                    };
                    (c.number, c.purpose)
                };
                if initiated {
                    let failed = cause_value.filter(|v| is_temporary(*v));
                    self.call_done(now, &number, purpose, failed);
                }
            }
            MessageType::Status => {
                if msg.call_state == Some(call_state::NULL) {
                    // The PBX has no such call (Q.931 §5.8.11): clear it and retry.
                    if let Some(c) = self.end_call(value) {
                        if initiated {
                            let failed = Some(cause_value.unwrap_or(0));
                            self.call_done(now, &c.number, c.purpose, failed);
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
        self.connectionless_answers(msg);
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

    /// Answers to the invokes of every Facility IE of `msg` in the span's protocol
    /// ([`super::SpanConfig::protocol`]), as Facility IE contents. Results and errors
    /// addressed to us, Facility IEs that do not parse and those of the other protocol are
    /// not answered.
    fn answer_facilities(&mut self, msg: &Message<'_>) -> Vec<Vec<u8>> {
        match self.cfg.protocol {
            MwiProtocol::Qsig => self.answer_qsig(msg),
            MwiProtocol::Etsi => self.answer_etsi(msg),
        }
    }

    /// QSIG: a ReturnResult or ReturnError for MWIInterrogate, MWIActivate and MWIDeactivate
    /// (the latter two also reported as [`SpanEvent::PbxLamp`]), a Reject for every other
    /// invoke (ECMA-242 §6.3).
    fn answer_qsig(&mut self, msg: &Message<'_>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let facilities = msg.facility.iter().filter_map(|f| Facility::parse(f).ok());
        for component in facilities.flat_map(|f| f.components) {
            let Component::Invoke(invoke) = component else {
                continue;
            };
            let id = invoke.invoke_id;
            let (operation, number, lamp) = match MwiInvoke::from_invoke(&invoke) {
                Ok(MwiInvoke::Interrogate(arg)) => {
                    out.push(self.interrogate(id, &arg));
                    continue;
                }
                Ok(MwiInvoke::Activate(arg)) => (
                    qsig::MWI_ACTIVATE,
                    arg.served_user_nr.digits().to_owned(),
                    Lamp::on(arg.nb_of_messages),
                ),
                Ok(MwiInvoke::Deactivate(arg)) => (
                    qsig::MWI_DEACTIVATE,
                    arg.served_user_nr.digits().to_owned(),
                    Lamp::off(),
                ),
                Err(e) => {
                    out.push(qsig::reject_facility(Some(id), e.reject_problem()));
                    continue;
                }
            };
            out.push(if self.pbx_lamp(&number, lamp) {
                qsig::return_result_facility(id, operation, qsig::DUMMY_RES)
            } else {
                qsig::return_error_facility(id, rose::error::INVALID_SERVED_USER_NR)
            });
        }
        out
    }

    /// ETSI (EN 300 745-1): mwiActivate and mwiDeactivate answered with a ReturnResult and
    /// reported as [`SpanEvent::PbxLamp`], or ReturnError invalidReceivingUserNr; every other
    /// invoke, mwiIndicate included (we are no receiving user's terminal), gets a Reject
    /// unrecognizedOperation (or mistypedArgument for a bad argument).
    fn answer_etsi(&mut self, msg: &Message<'_>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let facilities = msg
            .facility
            .iter()
            .filter_map(|f| RoseFacility::parse(f).ok());
        for component in facilities.flat_map(|f| f.components) {
            let Component::Invoke(invoke) = component else {
                continue;
            };
            let id = invoke.invoke_id;
            let (number, lamp) = match etsi::MwiInvoke::from_invoke(&invoke) {
                Ok(etsi::MwiInvoke::Activate(arg)) => (
                    arg.receiving_user_nr.digits().to_owned(),
                    Lamp::on(arg.number_of_messages),
                ),
                Ok(etsi::MwiInvoke::Deactivate(arg)) => {
                    (arg.receiving_user_nr.digits().to_owned(), Lamp::off())
                }
                Ok(etsi::MwiInvoke::Indicate(_)) => {
                    let problem = Problem::Invoke(InvokeProblem::UnrecognizedOperation);
                    out.push(etsi::reject_facility(Some(id), problem));
                    continue;
                }
                Err(e) => {
                    out.push(etsi::reject_facility(Some(id), e.reject_problem()));
                    continue;
                }
            };
            out.push(if self.pbx_lamp(&number, lamp) {
                etsi::return_result_facility(id)
            } else {
                etsi::return_error_facility(id, &etsi::error::INVALID_RECEIVING_USER_NR)
            });
        }
        out
    }

    /// MWIActivate / MWIDeactivate from the PBX (ECMA-242 §6.3, EN 300 745-1: the PBX's
    /// message centre lighting a lamp we serve): reports [`SpanEvent::PbxLamp`] and returns
    /// true, or returns false (the caller answers with its protocol's error for a bad served
    /// or receiving user number) when `number` is empty, longer than
    /// [`MAX_SERVED_USER_DIGITS`] or holds other than `0-9 * #`.
    fn pbx_lamp(&mut self, number: &str, lamp: Lamp) -> bool {
        let valid = !number.is_empty()
            && number.len() <= MAX_SERVED_USER_DIGITS
            && number
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
        if valid {
            self.events.push_back(SpanEvent::PbxLamp {
                number: number.to_owned(),
                lamp,
            });
        }
        valid
    }

    /// MWIInterrogate (ECMA-242 §6.3) from the engine's state, checked in this order:
    /// a servedUserNr that is none of our numbers (after [`super::SpanConfig::served_number`])
    /// gets ReturnError invalidServedUserNr; a msgCentreId other than the configured one
    /// (any, when none is configured, is accepted) invalidMsgCentreId; a basicService other
    /// than allServices, speech or telephony basicServiceNotProvided; a lamp that is off
    /// notAvailable; a lamp that is on a ReturnResult with one speech element carrying the
    /// span's msgCentreId, nbOfMessages and originatingNr.
    fn interrogate(&self, invoke_id: i64, arg: &MwiDeactivateArg) -> Vec<u8> {
        let asked = arg.served_user_nr.digits();
        let entry = self
            .entries
            .iter()
            .find(|(n, _)| self.cfg.is_served_as(n, asked))
            .map(|(_, e)| e);
        let Some(e) = entry else {
            return qsig::return_error_facility(invoke_id, rose::error::INVALID_SERVED_USER_NR);
        };
        let centre = self.cfg.msg_centre_id.as_ref();
        if arg
            .msg_centre_id
            .as_ref()
            .is_some_and(|m| centre.is_some_and(|c| c != m))
        {
            return qsig::return_error_facility(invoke_id, rose::error::INVALID_MSG_CENTRE_ID);
        }
        if !is_speech(arg.basic_service) {
            return qsig::return_error_facility(invoke_id, rose::error::BASIC_SERVICE_NOT_PROVIDED);
        }
        if !e.wanted.on {
            return qsig::return_error_facility(invoke_id, rose::error::NOT_AVAILABLE);
        }
        let res = MwiInterrogateRes(vec![MwiInterrogateResElt {
            basic_service: BasicService::Speech,
            msg_centre_id: centre.cloned(),
            nb_of_messages: if self.cfg.message_count {
                e.wanted.messages
            } else {
                None
            },
            originating_nr: self
                .cfg
                .originating_nr
                .as_deref()
                .map(|d| self.cfg.party_number(d)),
            timestamp: None,
            priority: None,
        }]);
        qsig::return_result_facility(invoke_id, qsig::MWI_INTERROGATE, &res.to_vec())
    }
}

/// Q.850 class "resource unavailable" (causes 32..=47): the PBX may accept later.
fn is_temporary(cause: u8) -> bool {
    (32..=47).contains(&cause)
}
