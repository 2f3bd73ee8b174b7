//! Received messages, per call state (Q.931 §5.1-5.5, §5.8; Annex A).

use std::time::Instant;

use crate::q921::Side;
use crate::q931::{
    call_state, cause, CallReference, Cause, ChannelId, Location, Message, MessageType,
    RestartClass, Verdict,
};

use super::commands::cr_of;
use super::{Call, CallControl, CallEvent, CallRef, Number, Phase, Timer};
use crate::qsig::{Name, CALLING_NAME, CONNECTED_NAME};

impl CallControl {
    /// One received Q.931 message (DL-DATA-ind), already parsed. Messages on the dummy call
    /// reference are not for call control and are ignored; the global call reference carries
    /// RESTART (§5.5). Never panics; every reply goes to [`sansio::Core::poll_transmit`].
    pub fn handle_message(&mut self, now: Instant, msg: &Message<'_>) {
        let CallReference::Call { value, flag } = msg.call_reference else {
            return;
        };
        if value == 0 {
            self.global(msg);
            return;
        }
        // Flag set: sent to the side that allocated the value, i.e. to us (§4.3).
        let call = CallRef { value, ours: flag };
        let verdict = msg.check();
        if !self.calls.contains_key(&call) {
            if msg.message_type == MessageType::Setup && !call.ours {
                self.incoming(now, call, msg, verdict);
            } else {
                self.unknown_call(call, msg);
            }
            return;
        }
        let Some(phase) = self.phase(call) else {
            return;
        };
        if verdict.is_fatal()
            && !matches!(
                msg.message_type,
                MessageType::ReleaseComplete | MessageType::Release | MessageType::Disconnect
            )
        {
            if let Some((c, d)) = verdict.cause() {
                self.status(call, c, d, phase);
            }
            return;
        }
        let their_cause = msg.cause.map_or(cause::NORMAL_UNSPECIFIED, |c| c.value);
        match (msg.message_type, phase) {
            (MessageType::StatusEnquiry, _) => {
                self.status(call, cause::RESPONSE_TO_STATUS_ENQUIRY, 0, phase);
            }
            (MessageType::Status, _) => {
                // §5.8.11: the peer is in Null: release the call reference.
                if msg.call_state == Some(call_state::NULL) {
                    self.release_call(call, their_cause);
                }
            }
            (MessageType::ReleaseComplete, _) => {
                let c = msg.cause.map_or(self.own_cause(call), |c| c.value);
                self.release_call(call, c);
            }
            (MessageType::Release, Phase::Releasing) => {
                // §5.3.5.2 clear collision: both sent RELEASE.
                let c = self.own_cause(call);
                self.release_call(call, c);
            }
            (MessageType::Release, _) => {
                self.send(&Message::release_complete(cr_of(call), None));
                let c = msg.cause.map_or(self.own_cause(call), |c| c.value);
                self.release_call(call, c);
            }
            (_, Phase::Releasing) => {}
            (MessageType::Disconnect, _) => {
                // §5.3.4 (and §5.3.5.1 for a DISCONNECT crossing ours): RELEASE, T308.
                // §5.8.6.1: a DISCONNECT without cause is taken as cause 31, answered with 96.
                let ours = if msg.cause.is_none() {
                    Some(Cause::new(Location::User, cause::MANDATORY_IE_MISSING))
                } else {
                    None
                };
                if phase != Phase::DisconnectSent {
                    self.events.push_back(CallEvent::Disconnected {
                        call,
                        cause: their_cause,
                    });
                }
                self.send(&Message::release(cr_of(call), ours));
                self.enter(call, Phase::Releasing);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.cause = their_cause;
                }
                self.set_timer(call, now, self.cfg.t308);
            }
            (_, Phase::DisconnectSent) | (MessageType::Facility, _) => {}
            (MessageType::CallProceeding, Phase::Initiated) => {
                if self.first_answer(now, call, msg) {
                    self.enter(call, Phase::OutgoingProceeding);
                    self.set_timer(call, now, self.cfg.t310);
                    self.events.push_back(CallEvent::Proceeding { call });
                }
            }
            (MessageType::Alerting, Phase::Initiated | Phase::OutgoingProceeding) => {
                if phase == Phase::OutgoingProceeding || self.first_answer(now, call, msg) {
                    self.timers.cancel(Timer::Call(call));
                    self.enter(call, Phase::Delivered);
                    self.events.push_back(CallEvent::Alerting { call });
                    self.progress(call, msg);
                }
            }
            (
                MessageType::Connect,
                Phase::Initiated | Phase::OutgoingProceeding | Phase::Delivered,
            ) => {
                if phase != Phase::Initiated || self.first_answer(now, call, msg) {
                    // §5.1.8 / §5.2.8: CONNECT ACKNOWLEDGE, the call is active.
                    self.timers.cancel(Timer::Call(call));
                    let ack = Message::new(cr_of(call), MessageType::ConnectAcknowledge);
                    self.send(&ack);
                    self.enter(call, Phase::Active);
                    let name = Name::find(&msg.facility, CONNECTED_NAME);
                    self.events.push_back(CallEvent::Connected { call, name });
                }
            }
            (MessageType::ConnectAcknowledge, Phase::ConnectRequest) => {
                self.timers.cancel(Timer::Call(call));
                self.enter(call, Phase::Active);
                self.events
                    .push_back(CallEvent::Connected { call, name: None });
            }
            // The user's optional CONNECT ACKNOWLEDGE after the network's CONNECT (§5.1.8).
            (MessageType::ConnectAcknowledge, Phase::Active) => {}
            (
                MessageType::Progress,
                Phase::Initiated | Phase::OutgoingProceeding | Phase::Delivered | Phase::Active,
            ) => self.progress(call, msg),
            (t, _) => {
                // §5.8.4: a message not compatible with the call state.
                let diag = t.value();
                self.status(call, cause::MESSAGE_NOT_COMPATIBLE_WITH_STATE, diag, phase);
            }
        }
    }

    /// The cause of our own DISCONNECT / RELEASE of `call`, for its [`CallEvent::Released`].
    fn own_cause(&self, call: CallRef) -> u8 {
        self.calls
            .get(&call)
            .map_or(cause::NORMAL_CLEARING, |c| c.cause)
    }

    fn progress(&mut self, call: CallRef, msg: &Message<'_>) {
        if let Some(p) = msg.progress {
            self.events.push_back(CallEvent::Progress {
                call,
                description: p.description,
            });
        }
    }

    fn status(&mut self, call: CallRef, value: u8, diag: u8, phase: Phase) {
        let diag = [diag];
        let c = Cause {
            diagnostics: &diag,
            ..Cause::new(Location::User, value)
        };
        let state = phase.state(self.cfg.side);
        self.send(&Message::status(cr_of(call), c, state));
    }

    /// The first answer to our SETUP (Q.931 §5.1.2): the B-channel the peer chose. Our
    /// exclusive channel must come back unchanged; for a preferred one the peer may pick any
    /// free B-channel. An unacceptable answer clears the call with cause 6. Returns whether
    /// the call goes on.
    fn first_answer(&mut self, now: Instant, call: CallRef, msg: &Message<'_>) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        let ours = c.channel;
        let exclusive_sent = self.cfg.side == Side::Network;
        let chosen = match msg.channel_id.and_then(|ch| ch.channel) {
            None => ours,
            Some(b) if Some(b) == ours => ours,
            Some(b) if !exclusive_sent && self.channels.is_free(b) => {
                if let Some(old) = ours {
                    self.channels.free(old);
                }
                self.channels.take(b);
                Some(b)
            }
            Some(_) => None,
        };
        if let Some(c) = self.calls.get_mut(&call) {
            c.setup.clear();
        }
        match chosen {
            Some(b) => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.channel = Some(b);
                }
                self.events
                    .push_back(CallEvent::ChannelAssigned { call, b });
                true
            }
            None => {
                let _ = self.disconnect(now, call, CHANNEL_UNACCEPTABLE);
                false
            }
        }
    }

    /// A SETUP from the peer (Q.931 §5.2.1-5.2.3 on the user side, §5.1.1-5.1.2 on the
    /// network side): a B-channel is chosen, or the SETUP refused with RELEASE COMPLETE.
    fn incoming(&mut self, now: Instant, call: CallRef, msg: &Message<'_>, verdict: Verdict) {
        let refuse = |cc: &mut CallControl, value: u8, diag: Option<u8>| {
            let d = diag.map(|d| [d]);
            let c = Cause {
                diagnostics: d.as_ref().map_or(&[][..], |d| &d[..]),
                ..Cause::new(Location::User, value)
            };
            cc.send(&Message::release_complete(cr_of(call), Some(c)));
        };
        if verdict.is_fatal() {
            if let Some((c, d)) = verdict.cause() {
                refuse(self, c, Some(d));
            }
            return;
        }
        if !msg.bearer_capability.is_some_and(|b| b.is_voice()) {
            refuse(self, cause::BEARER_CAPABILITY_NOT_IMPLEMENTED, None);
            return;
        }
        let lowest = self.cfg.side == Side::Network;
        let wanted = msg
            .channel_id
            .and_then(|ch| ch.channel.map(|b| (b, ch.exclusive)));
        if let Some((b, true)) = wanted {
            if self.cfg.side == Side::User && !self.channels.is_free(b) {
                self.glare(now, b);
            }
        }
        let b = match wanted {
            Some((b, _)) if !self.cfg.interface.is_b_channel(b) => {
                refuse(self, cause::CHANNEL_DOES_NOT_EXIST, None);
                return;
            }
            Some((b, _)) if self.channels.is_free(b) => b,
            Some((_, true)) => {
                refuse(self, cause::REQUESTED_CHANNEL_UNAVAILABLE, None);
                return;
            }
            Some((_, false)) | None => match self.channels.pick(lowest) {
                Some(b) => b,
                None => {
                    refuse(self, cause::NO_CIRCUIT_AVAILABLE, None);
                    return;
                }
            },
        };
        self.channels.take(b);
        self.calls.insert(
            call,
            Call {
                phase: Phase::Present,
                channel: Some(b),
                setup: Vec::new(),
                exclusive: false,
                retried: false,
                cause: cause::NORMAL_CLEARING,
            },
        );
        let called = msg
            .called_party_number
            .as_ref()
            .map_or_else(|| Number::unknown(""), Number::from_ie);
        let calling = msg.calling_party_number.as_ref().map(Number::from_ie);
        self.events.push_back(CallEvent::Incoming {
            call,
            called,
            calling,
            name: Name::find(&msg.facility, CALLING_NAME),
            channel: b,
        });
    }

    /// Glare on the user side (Q.931 §5.2.3.1, ECMA-143): the network's SETUP asks for
    /// B-channel `b` as exclusive while our own SETUP, not yet answered, holds it. The
    /// network's choice wins: `b` goes to its call. Ours moves to another free B-channel if
    /// our SETUP offered `b` as preferred (the network then assigns one, §5.1.2, and
    /// [`CallControl::first_answer`] takes it); with an exclusive SETUP, or no free channel
    /// left, ours is cleared with cause 34 (no circuit/channel available). A channel held by
    /// an answered call is left alone: the SETUP is then refused with cause 44.
    fn glare(&mut self, now: Instant, b: u8) {
        let Some((&call, c)) = self.calls.iter().find(|(_, c)| c.channel == Some(b)) else {
            return;
        };
        if !call.ours || c.phase != Phase::Initiated {
            return;
        }
        // Picked while `b` is still busy, so never `b` itself.
        let moved = if c.exclusive {
            None
        } else {
            self.channels.pick(false)
        };
        if let Some(m) = moved {
            self.channels.take(m);
        }
        self.channels.free(b);
        if let Some(c) = self.calls.get_mut(&call) {
            c.channel = moved;
        }
        if moved.is_none() {
            let _ = self.disconnect(now, call, cause::NO_CIRCUIT_AVAILABLE);
        }
    }

    /// Q.931 §5.8.3.2: a message on a call reference not in use.
    fn unknown_call(&mut self, call: CallRef, msg: &Message<'_>) {
        let cr = cr_of(call);
        let invalid = Cause::new(Location::User, cause::INVALID_CALL_REFERENCE);
        match msg.message_type {
            MessageType::ReleaseComplete | MessageType::Setup => {}
            MessageType::Status if msg.call_state == Some(call_state::NULL) => {}
            MessageType::StatusEnquiry => {
                let c = Cause::new(Location::User, cause::RESPONSE_TO_STATUS_ENQUIRY);
                self.send(&Message::status(cr, c, call_state::NULL));
            }
            _ => self.send(&Message::release_complete(cr, Some(invalid))),
        }
    }

    /// The global call reference: RESTART and RESTART ACKNOWLEDGE (Q.931 §5.5).
    fn global(&mut self, msg: &Message<'_>) {
        match msg.message_type {
            MessageType::Restart => {
                let Some(class) = msg.restart_indicator else {
                    return;
                };
                let channel = msg.channel_id.and_then(|c| c.channel);
                let calls: Vec<CallRef> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| class != RestartClass::Indicated || c.channel == channel)
                    .map(|(&k, _)| k)
                    .collect();
                for call in calls {
                    self.release_call(call, cause::TEMPORARY_FAILURE);
                }
                let ack = Message::restart(
                    MessageType::RestartAcknowledge,
                    true,
                    class,
                    channel.map(|b| ChannelId::b_channel(b, true)),
                );
                self.send(&ack);
            }
            MessageType::RestartAcknowledge => {
                self.timers.cancel(Timer::T316);
                self.restart_tries = 0;
            }
            _ => {}
        }
    }
}

/// Q.850 cause 6, channel unacceptable (Q.931 §5.1.2).
const CHANNEL_UNACCEPTABLE: u8 = 6;
