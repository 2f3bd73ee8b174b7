//! Delivering one served user's state: the invoke, its SETUP or FACILITY, the call's timers
//! (Q.931 §5.1, §5.3), confirmation and the backoff after a failure.

use std::time::{Duration, Instant};

use crate::etsi;
use crate::q931::{cause, CallReference, Cause, Location, Message, PartyNumberIe, Presentation};
use crate::qsig::{BasicService, MsgCentreId, MwiActivateArg, MwiDeactivateArg, MwiInvoke};

use super::{
    Call, CallPhase, FacilitySent, Lamp, MwiProtocol, Purpose, Span, SpanEvent, Timer, Transport,
};

impl Span {
    /// The Facility IE content delivering `lamp` to local number `number` with `invoke_id`, in
    /// the span's protocol, with its servedUserNr manipulation, msgCentreId and originatingNr.
    fn facility_for(&self, number: &str, lamp: Lamp, invoke_id: i64) -> Vec<u8> {
        let served = self.cfg.party_number(&self.cfg.served_number(number));
        let messages = lamp.messages.filter(|_| self.cfg.message_count);
        let originating = self
            .cfg
            .originating_nr
            .as_deref()
            .map(|d| self.cfg.party_number(d));
        match self.cfg.protocol {
            MwiProtocol::Qsig => {
                let msg_centre_id = self.cfg.msg_centre_id.clone();
                let invoke = if lamp.on {
                    let mut arg = MwiActivateArg::new(served, BasicService::Speech);
                    arg.msg_centre_id = msg_centre_id;
                    arg.nb_of_messages = messages;
                    arg.originating_nr = originating;
                    MwiInvoke::Activate(arg)
                } else {
                    let mut arg = MwiDeactivateArg::new(served, BasicService::Speech);
                    arg.msg_centre_id = msg_centre_id;
                    MwiInvoke::Deactivate(arg)
                };
                invoke.facility(invoke_id)
            }
            MwiProtocol::Etsi => {
                // EN 300 745-1 names the message centre by number only (controllingUserNr);
                // an integer msgCentreId has no ETSI counterpart and is left out.
                let controlling = match &self.cfg.msg_centre_id {
                    Some(MsgCentreId::PartyNumber(p)) => Some(p.clone()),
                    Some(MsgCentreId::NumericString(d)) => Some(self.cfg.party_number(d)),
                    Some(MsgCentreId::Integer(_)) | None => None,
                };
                let invoke = if lamp.on {
                    let mut arg = etsi::MwiActivateArg::new(served, BasicService::Speech);
                    arg.controlling_user_nr = controlling;
                    arg.number_of_messages = messages;
                    arg.controlling_user_provided_nr = originating;
                    etsi::MwiInvoke::Activate(arg)
                } else {
                    let mut arg = etsi::MwiDeactivateArg::new(served, BasicService::Speech);
                    arg.controlling_user_nr = controlling;
                    etsi::MwiInvoke::Deactivate(arg)
                };
                invoke.facility(invoke_id)
            }
        }
    }

    pub(super) fn take_invoke_id(&mut self) -> i64 {
        let id = self.next_invoke_id;
        // QSIG invokeIds are 16-bit signed; stay positive and non-zero.
        self.next_invoke_id = if id >= 32767 { 1 } else { id + 1 };
        id
    }

    pub(super) fn deliver(&mut self, now: Instant, number: String, lamp: Lamp) {
        let invoke_id = self.take_invoke_id();
        let facility = self.facility_for(&number, lamp, invoke_id);
        match self.cfg.transport {
            Transport::Setup => {
                if !self.send_cisc(now, &number, &facility, Purpose::Deliver(lamp)) {
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

    /// Sends the call-independent SETUP (ECMA-165 §7.1) carrying `facility` for local number
    /// `number` and starts T303; false when no call reference is free or the link is down.
    pub(super) fn send_cisc(
        &mut self,
        now: Instant,
        number: &str,
        facility: &[u8],
        purpose: Purpose,
    ) -> bool {
        // MWI is paced to far fewer calls than the 32,767 values (MAX_OUTSTANDING).
        let Some(value) = self.cc.reserve_call_reference() else {
            return false;
        };
        let calling = self.cfg.calling_number.as_deref().map(|d| PartyNumberIe {
            ton: self.cfg.calling_ton,
            plan: self.cfg.calling_plan,
            presentation: Some(Presentation {
                indicator: 0,
                screening: 0,
            }),
            digits: d,
        });
        let served = self.cfg.served_number(number);
        let msg = Message::setup_cis(
            CallReference::Call { value, flag: false },
            facility,
            calling,
            Some(PartyNumberIe::unknown(&served)),
        )
        .to_vec();
        if self.lapd.send(now, msg).is_err() {
            self.cc.free_call_reference(value);
            return false;
        }
        self.calls.insert(
            value,
            Call {
                number: number.to_owned(),
                purpose,
                phase: CallPhase::Initiated { proceeding: false },
            },
        );
        self.timers.set(Timer::Call(value), now + self.cfg.t303);
        true
    }

    /// Forget call `value` and stop its timer, so that a later call on the same call reference
    /// never sees it expire.
    pub(super) fn end_call(&mut self, value: u16) -> Option<Call> {
        self.timers.cancel(Timer::Call(value));
        let call = self.calls.remove(&value);
        if call.is_some() {
            self.cc.free_call_reference(value);
        }
        call
    }

    /// A delivery could not be handed to the link: keep it dirty for the next link up.
    pub(super) fn requeue(&mut self, number: &str) {
        if let Some(e) = self.entries.get_mut(number) {
            e.in_flight = false;
            e.dirty = true;
        }
    }

    pub(super) fn confirm(&mut self, number: &str, lamp: Lamp) {
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

    pub(super) fn fail(&mut self, now: Instant, number: &str, cause: u8) {
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
        self.timers.set(Timer::Retry(e.id), now + e.backoff);
        self.events.push_back(SpanEvent::Failed {
            number: number.to_owned(),
            cause,
            retry_in: e.backoff,
        });
    }

    pub(super) fn send_message(&mut self, now: Instant, msg: &Message<'_>) {
        // Only fails while the link is down, when nothing may be sent anyway.
        let _ = self.lapd.send(now, msg.to_vec());
    }

    pub(super) fn call_timeout(&mut self, now: Instant, value: u16) {
        let Some(call) = self.calls.get_mut(&value) else {
            return;
        };
        let cr = CallReference::Call { value, flag: false };
        match call.phase {
            CallPhase::Initiated { .. } => {
                // T303 / T310 expiry: clear the call (Q.931 §5.1.1, §5.1.3) and retry later;
                // an unanswered ask means "send".
                let Some(call) = self.end_call(value) else {
                    return;
                };
                let cause = Cause::new(Location::User, cause::RECOVERY_ON_TIMER_EXPIRY);
                self.send_message(now, &Message::release_complete(cr, Some(cause)));
                let failed = Some(cause::RECOVERY_ON_TIMER_EXPIRY);
                self.call_done(now, &call.number, call.purpose, failed);
            }
            CallPhase::Releasing { retried: false } => {
                // First T308 expiry: RELEASE again (Q.931 §5.3.4).
                call.phase = CallPhase::Releasing { retried: true };
                self.timers.set(Timer::Call(value), now + self.cfg.t308);
                let cause = Cause::new(Location::User, cause::NORMAL_CLEARING);
                self.send_message(now, &Message::release(cr, Some(cause)));
            }
            CallPhase::Releasing { retried: true } => {
                // Second T308 expiry: release the call reference.
                self.end_call(value);
            }
        }
    }
}
