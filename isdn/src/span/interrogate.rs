//! MWIInterrogate sent at link up ([`super::Resync::Interrogate`], ECMA-242 §6.3): ask the PBX what
//! its lamp shows for each served user and send MWIActivate / MWIDeactivate only where that
//! differs from the wanted state.

use std::time::Instant;

use crate::q931::{CallReference, Message};
use crate::qsig::{BasicService, MwiDeactivateArg, MwiInterrogateRes, MwiInvoke};
use crate::rose::{self, Component, Facility};

use super::{Lamp, Purpose, Span, SpanEvent, Timer, Transport};

/// Whether a basicService of an interrogate result stands for the speech lamp we drive.
pub(super) fn is_speech(service: BasicService) -> bool {
    matches!(
        service,
        BasicService::AllServices | BasicService::Speech | BasicService::Telephony
    )
}

impl Span {
    /// Sends the MWIInterrogate for local number `number` (already marked in flight).
    pub(super) fn ask(&mut self, now: Instant, number: String) {
        let invoke_id = self.take_invoke_id();
        let served = self.cfg.party_number(&self.cfg.served_number(&number));
        let mut arg = MwiDeactivateArg::new(served, BasicService::Speech);
        arg.msg_centre_id = self.cfg.msg_centre_id.clone();
        let facility = MwiInvoke::Interrogate(arg).facility(invoke_id);
        let sent = match self.cfg.transport {
            Transport::Setup => self.send_cisc(now, &number, &facility, Purpose::Ask(invoke_id)),
            Transport::Facility => {
                let msg = Message::new_facility(CallReference::Dummy, &facility).to_vec();
                let ok = self.lapd.send(now, msg).is_ok();
                if ok {
                    self.timers.set(Timer::Ask(invoke_id), now + self.cfg.t303);
                    self.asks.insert(invoke_id, number.clone());
                }
                ok
            }
        };
        if sent {
            self.interrogate_stats.sent += 1;
        } else {
            self.requeue(&number);
        }
    }

    /// Answers to connectionless MWIInterrogates on the dummy call reference.
    pub(super) fn connectionless_answers(&mut self, msg: &Message<'_>) {
        for (invoke_id, shown) in ask_answers(msg) {
            if let Some(number) = self.asks.remove(&invoke_id) {
                self.timers.cancel(Timer::Ask(invoke_id));
                self.resolve_ask(&number, shown);
            }
        }
    }

    /// A call-independent connection for `number` ended: confirmed (`failed` is `None`) or
    /// failed with that cause. An ask without an answer means "send".
    pub(super) fn call_done(
        &mut self,
        now: Instant,
        number: &str,
        purpose: Purpose,
        failed: Option<u8>,
    ) {
        match (purpose, failed) {
            (Purpose::Deliver(lamp), None) => self.confirm(number, lamp),
            (Purpose::Deliver(_), Some(cause)) => self.fail(now, number, cause),
            (Purpose::Ask(_), _) => self.resolve_ask(number, None),
            (Purpose::Answered, _) => {}
        }
    }

    /// The PBX shows `shown` for `number` (`None`: unknown). The wanted state is sent unless
    /// the PBX already shows it.
    pub(super) fn resolve_ask(&mut self, number: &str, shown: Option<Lamp>) {
        let message_count = self.cfg.message_count;
        let Some(e) = self.entries.get_mut(number) else {
            return;
        };
        e.in_flight = false;
        match shown {
            Some(shown) if shows(shown, e.wanted, message_count) => {
                self.interrogate_stats.agreed += 1;
                e.confirmed = Some(e.wanted);
                e.dirty = false;
                let lamp = e.wanted;
                self.events.push_back(SpanEvent::Confirmed {
                    number: number.to_owned(),
                    lamp,
                });
            }
            Some(shown) => {
                self.interrogate_stats.differed += 1;
                e.confirmed = Some(shown);
                e.dirty = true;
            }
            None => {
                self.interrogate_stats.failed += 1;
                e.dirty = true;
            }
        }
        self.enqueue(number);
    }
}

/// The answers (ReturnResult, ReturnError, Reject) among the components of `msg`, by invokeId,
/// read as answers to MWIInterrogate: `Some(lamp)` what the PBX shows (a result listing a
/// speech element: on with its nbOfMessages; any other result or ReturnError notAvailable:
/// off); `None` for a Reject, another error or a result that does not decode.
pub(super) fn ask_answers(msg: &Message<'_>) -> Vec<(i64, Option<Lamp>)> {
    let facilities = msg.facility.iter().filter_map(|f| Facility::parse(f).ok());
    facilities
        .flat_map(|f| f.components)
        .filter_map(|c| {
            let shown = match &c {
                Component::Invoke(_) => return None,
                Component::ReturnResult(rr) => rr
                    .result
                    .and_then(|r| MwiInterrogateRes::decode(r.result).ok())
                    .map(|res| {
                        res.0
                            .iter()
                            .find(|e| is_speech(e.basic_service))
                            .map_or(Lamp::off(), |e| Lamp::on(e.nb_of_messages))
                    }),
                Component::ReturnError(re) => {
                    (re.error.local() == Some(rose::error::NOT_AVAILABLE)).then(Lamp::off)
                }
                Component::Reject(_) => None,
            };
            Some((c.invoke_id()?, shown))
        })
        .collect()
}

/// Whether a PBX showing `shown` needs nothing sent to show `wanted`: the same lamp, and when
/// counts are sent and we know one, the same count.
fn shows(shown: Lamp, wanted: Lamp, message_count: bool) -> bool {
    shown.on == wanted.on
        && (!wanted.on
            || !message_count
            || wanted.messages.is_none()
            || shown.messages == wanted.messages)
}
