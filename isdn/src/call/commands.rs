//! The requests of the call control user (SETUP-req, ALERTING-req, SETUP-rsp, DISCONNECT-req,
//! RESTART) and the timer expiries (Q.931 §5.1-5.5, Annex A).

use std::time::Instant;

use crate::q921::Side;
use crate::q931::{
    cause, progress, BearerCapability, CallReference, Cause, ChannelId, Location, Message,
    MessageType, ProgressIndicator, RestartClass,
};

use super::{Call, CallControl, CallEvent, CallRef, CommandError, Number, Phase, Timer};
use crate::qsig::{Name, CALLING_NAME, CONNECTED_NAME};

/// RESTART is sent this many times in all before giving up (Q.931 §5.5.1 leaves the number of
/// retransmissions to the implementation).
const RESTART_TRIES: u8 = 2;

impl CallControl {
    /// SETUP-req (Q.931 §5.1.1 user side, §5.2.1 network side): a call to `called` from
    /// `calling` with the calling party's `name` (a QSIG callingName invoke in a Facility IE,
    /// ECMA-164 SS-CNIP), on B-channel `channel` (exclusive) or, with `None`, on a free one chosen here
    /// (exclusive from the network side, preferred from the user side: the network may
    /// assign another, reported as [`CallEvent::ChannelAssigned`]). Starts T303.
    ///
    /// Errors: [`CommandError::LinkDown`], [`CommandError::ChannelUnavailable`] (busy or not a
    /// B-channel of the span, cause 44), [`CommandError::NoChannel`] (all busy, cause 34).
    pub fn place(
        &mut self,
        now: Instant,
        called: &Number,
        calling: Option<&Number>,
        name: Option<&Name>,
        channel: Option<u8>,
    ) -> Result<CallRef, CommandError> {
        if !self.up {
            return Err(CommandError::LinkDown);
        }
        let network = self.cfg.side == Side::Network;
        let (b, exclusive) = match channel {
            Some(b) if self.channels.is_free(b) => (b, true),
            Some(_) => return Err(CommandError::ChannelUnavailable),
            None => (
                self.channels.pick(network).ok_or(CommandError::NoChannel)?,
                network,
            ),
        };
        let value = self.refs.take().ok_or(CommandError::NoChannel)?;
        self.channels.take(b);
        let call = CallRef { value, ours: true };
        let facility = name.map(|n| n.facility(CALLING_NAME, self.invoke_id()));
        let setup = Message {
            facility: facility.iter().map(Vec::as_slice).collect(),
            ..Message::setup(
                CallReference::Call { value, flag: false },
                BearerCapability::speech(self.cfg.law),
                Some(ChannelId::b_channel(b, exclusive)),
                calling.map(Number::ie),
                called.ie(),
            )
        }
        .to_vec();
        self.out.push_back(setup.clone());
        self.calls.insert(
            call,
            Call {
                phase: Phase::Initiated,
                channel: Some(b),
                setup,
                exclusive,
                retried: false,
                cause: cause::NORMAL_CLEARING,
            },
        );
        self.set_timer(call, now, self.cfg.t303);
        Ok(call)
    }

    /// CALL PROCEEDING for an incoming call not yet answered (Q.931 §5.2.5.2 / §5.1.5.2),
    /// confirming its B-channel. Errors: [`CommandError::NoCall`].
    pub fn proceeding(&mut self, call: CallRef) -> Result<(), CommandError> {
        self.answer(
            call,
            MessageType::CallProceeding,
            &[Phase::Present],
            None,
            None,
        )?;
        self.enter(call, Phase::IncomingProceeding);
        Ok(())
    }

    /// ALERTING-req (Q.931 §5.2.5.1): the called party is alerted. Errors:
    /// [`CommandError::NoCall`].
    pub fn alerting(&mut self, call: CallRef) -> Result<(), CommandError> {
        self.alert(call, None)
    }

    /// ALERTING-req with a progress indicator #8, in-band information now available (Q.931
    /// §5.1.5.2, §4.5.23): the called side's tones or announcements are on the B-channel, as
    /// an interworking point sends for early media (location BeyondInterworking, Q.931
    /// Annex G). Errors: [`CommandError::NoCall`].
    pub fn alerting_in_band(&mut self, call: CallRef) -> Result<(), CommandError> {
        self.alert(
            call,
            Some(ProgressIndicator::new(
                Location::BeyondInterworking,
                progress::IN_BAND_AVAILABLE,
            )),
        )
    }

    fn alert(
        &mut self,
        call: CallRef,
        progress: Option<ProgressIndicator>,
    ) -> Result<(), CommandError> {
        let from = [Phase::Present, Phase::IncomingProceeding];
        self.answer(call, MessageType::Alerting, &from, None, progress)?;
        self.enter(call, Phase::Received);
        Ok(())
    }

    /// SETUP-rsp (Q.931 §5.2.8): answer the call with CONNECT, carrying the answering
    /// party's `name` as a QSIG connectedName invoke (ECMA-164 SS-CONP). On the user side the call
    /// waits for CONNECT ACKNOWLEDGE under T313 and then reports [`CallEvent::Connected`]; on
    /// the network side it is active at once (§5.1.8) and reports it now. Errors:
    /// [`CommandError::NoCall`].
    pub fn connect(
        &mut self,
        now: Instant,
        call: CallRef,
        name: Option<&Name>,
    ) -> Result<(), CommandError> {
        let from = [Phase::Present, Phase::IncomingProceeding, Phase::Received];
        let facility = name.map(|n| n.facility(CONNECTED_NAME, self.invoke_id()));
        self.answer(call, MessageType::Connect, &from, facility.as_deref(), None)?;
        if self.cfg.side == Side::User {
            self.enter(call, Phase::ConnectRequest);
            self.set_timer(call, now, self.cfg.t313);
        } else {
            self.enter(call, Phase::Active);
            self.events
                .push_back(CallEvent::Connected { call, name: None });
        }
        Ok(())
    }

    /// DISCONNECT-req (Q.931 §5.3.2, §5.3.3): clear `call` with Q.850 `cause`. An incoming
    /// call not yet answered is refused with RELEASE COMPLETE (§5.2.5.3) and released at
    /// once; any other sends DISCONNECT and starts T305. A call already being cleared is left
    /// alone. Errors: [`CommandError::NoCall`].
    pub fn disconnect(
        &mut self,
        now: Instant,
        call: CallRef,
        cause: u8,
    ) -> Result<(), CommandError> {
        let phase = self.phase(call).ok_or(CommandError::NoCall)?;
        let cr = cr_of(call);
        match phase {
            Phase::Present => {
                let c = Cause::new(Location::User, cause);
                self.send(&Message::release_complete(cr, Some(c)));
                self.release_call(call, cause);
            }
            Phase::DisconnectSent | Phase::Releasing => {}
            _ => {
                self.send(&Message::disconnect(cr, Cause::new(Location::User, cause)));
                self.enter(call, Phase::DisconnectSent);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.cause = cause;
                    c.setup.clear();
                }
                self.set_timer(call, now, self.cfg.t305);
            }
        }
        Ok(())
    }

    /// RESTART of the whole interface (Q.931 §5.5.1, class "all interfaces" on the global
    /// call reference): every call is released (cause 41) and every B-channel freed; T316
    /// runs until RESTART ACKNOWLEDGE. Errors: [`CommandError::LinkDown`].
    pub fn restart(&mut self, now: Instant) -> Result<(), CommandError> {
        if !self.up {
            return Err(CommandError::LinkDown);
        }
        self.clear_all(cause::TEMPORARY_FAILURE);
        self.restart_tries = 1;
        self.send_restart(now);
        Ok(())
    }

    fn send_restart(&mut self, now: Instant) {
        let msg = Message::restart(
            MessageType::Restart,
            false,
            RestartClass::AllInterfaces,
            None,
        );
        self.send(&msg);
        self.timers.set(Timer::T316, now + self.cfg.t316);
    }

    pub(super) fn clear_all(&mut self, cause: u8) {
        let calls: Vec<CallRef> = self.calls.keys().copied().collect();
        for call in calls {
            self.release_call(call, cause);
        }
    }

    /// The first answer (or a later one) to an incoming SETUP: `t` with the B-channel of the
    /// call and the Facility IE content `facility`, when the call is in one of `from`.
    fn answer(
        &mut self,
        call: CallRef,
        t: MessageType,
        from: &[Phase],
        facility: Option<&[u8]>,
        progress: Option<ProgressIndicator>,
    ) -> Result<(), CommandError> {
        let c = self.calls.get(&call).ok_or(CommandError::NoCall)?;
        if !from.contains(&c.phase) {
            return Err(CommandError::NoCall);
        }
        let channel = c.channel.map(|b| ChannelId::b_channel(b, true));
        // Q.931 §5.2.3.2: the channel goes in the first message answering the SETUP.
        let first = c.phase == Phase::Present;
        let msg = Message {
            channel_id: if first { channel } else { None },
            facility: facility.into_iter().collect(),
            progress,
            ..Message::new(cr_of(call), t)
        };
        self.send(&msg);
        Ok(())
    }

    pub(super) fn call_timeout(&mut self, now: Instant, call: CallRef) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let cr = cr_of(call);
        match c.phase {
            Phase::Initiated if !c.retried => {
                // Q.931 §5.1.1: first T303 expiry, SETUP once more.
                c.retried = true;
                let setup = c.setup.clone();
                if self.up {
                    self.out.push_back(setup);
                }
                self.set_timer(call, now, self.cfg.t303);
            }
            Phase::Initiated => {
                // Second T303 expiry: clear internally, RELEASE COMPLETE cause 102.
                let c = Cause::new(Location::User, cause::RECOVERY_ON_TIMER_EXPIRY);
                self.send(&Message::release_complete(cr, Some(c)));
                self.release_call(call, cause::RECOVERY_ON_TIMER_EXPIRY);
            }
            Phase::OutgoingProceeding | Phase::ConnectRequest => {
                // T310 (§5.1.7) or T313 (§5.2.8): clear with cause 102.
                let _ = self.disconnect(now, call, cause::RECOVERY_ON_TIMER_EXPIRY);
            }
            Phase::DisconnectSent => {
                // T305 (§5.3.3): RELEASE with the cause of the DISCONNECT, T308.
                let c = Cause::new(Location::User, c.cause);
                self.send(&Message::release(cr, Some(c)));
                self.enter(call, Phase::Releasing);
                self.set_timer(call, now, self.cfg.t308);
            }
            Phase::Releasing if !c.retried => {
                // First T308 expiry (§5.3.4): RELEASE once more.
                c.retried = true;
                let c = Cause::new(Location::User, c.cause);
                self.send(&Message::release(cr, Some(c)));
                self.set_timer(call, now, self.cfg.t308);
            }
            Phase::Releasing => {
                // Second T308 expiry: release the call reference and the B-channel.
                let c = c.cause;
                self.release_call(call, c);
            }
            Phase::Delivered
            | Phase::Present
            | Phase::IncomingProceeding
            | Phase::Received
            | Phase::Active => {}
        }
    }

    pub(super) fn restart_timeout(&mut self, now: Instant) {
        if self.restart_tries < RESTART_TRIES {
            self.restart_tries += 1;
            self.send_restart(now);
        } else {
            self.restart_tries = 0;
        }
    }
}

/// The call reference of `call` as we put it in a message (Q.931 §4.3: flag 0 from the side
/// that allocated the value).
pub(super) fn cr_of(call: CallRef) -> CallReference {
    CallReference::Call {
        value: call.value,
        flag: !call.ours,
    }
}
