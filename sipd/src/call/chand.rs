//! The chand side of the calls: what comes in on the call-control link (`callctl`: peer up and
//! down, calls lost with it, chand's `Dial`/`TrunkDial`/`MediaReady`/`Alerting`/`Answered`/
//! `Hangup`, the PBX's MWI) and telling chand about the SIP side. Apart from `mod.rs`, which
//! holds the calls and their SIP transactions and timers, so that one file reads as the link's
//! dispatch.

use super::{CallEvent, Calls, Direction, State};
use callctl::link::Event;
use callctl::wire::Message as Ctl;
use callctl::{CallId, Cause, PbxMwi};
use mwi_core::route::Route;
use sansio::{Core, Instant};

impl Calls {
    /// Handle what the call-control link produced: peer up/down, lost calls, chand's call
    /// messages and the PBX's MWI.
    pub(super) fn drain_link(&mut self, now: Instant) {
        while let Some(ev) = self.link.poll_event() {
            match ev {
                Event::PeerUp { epoch, ports } => {
                    log::info!("callctl: chand up (epoch {epoch:x}, ports {ports:?})");
                }
                Event::PeerDown => log::warn!("callctl: chand gone"),
                Event::CallsLost { calls, reason } => {
                    log::warn!("callctl: {} call(s) lost ({reason:?})", calls.len());
                    for id in calls {
                        self.chand_hangup(now, id, Cause::NORMAL_CLEARING);
                    }
                }
                Event::Rejected(e) => log::warn!("callctl: packet refused: {e}"),
                Event::Call(msg) => self.on_chand(now, msg),
                Event::PbxMwi(m) => self.pbx_mwi(m),
            }
        }
    }

    /// A lamp the PBX set (QSIG MWI from a span): for an FXS number or another span's.
    fn pbx_mwi(&mut self, m: PbxMwi) {
        let number = m.number.as_str();
        match self.cfg.router.route(number) {
            Ok(Route::Fxs { .. }) => self.events.push_back(CallEvent::PbxMwi(m)),
            Ok(Route::Pri { span, .. }) if span == u32::from(m.span) => log::warn!(
                span = m.span, number = number;
                "span {}: PBX sent the lamp of {number}, which it serves itself; dropped",
                m.span
            ),
            _ => self.events.push_back(CallEvent::PbxLamp(m)),
        }
    }

    /// One call message from chand.
    fn on_chand(&mut self, now: Instant, msg: Ctl) {
        match msg {
            Ctl::Dial { call, port, digits } => self.dial(now, call, port, digits.as_str()),
            Ctl::TrunkDial {
                call,
                span,
                called,
                number,
                name,
                privacy,
            } => self.trunk_dial(now, call, span, &called, (number, name, privacy)),
            Ctl::MediaReady { call, local_rtp } => self.media_ready(now, call, local_rtp),
            Ctl::Alerting { call } => self.alerting(now, call),
            Ctl::Identity { call, number, name } => {
                if let Some(c) = self
                    .calls
                    .get_mut(&call)
                    .filter(|c| c.direction == Direction::Incoming)
                {
                    c.answered_by = Some((number, name));
                }
            }
            Ctl::Answered { call } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.answered = true;
                }
                self.answer(now, call);
            }
            Ctl::Hangup { call, cause } => self.chand_hangup(now, call, cause),
            Ctl::Error { call, code } => {
                log::warn!("callctl: chand refused a message of call {call}: {code}");
                self.chand_hangup(now, call, Cause::TEMPORARY_FAILURE);
            }
            other => log::warn!("callctl: unexpected {other:?}"),
        }
    }

    /// chand ended call `id` (Hangup, Error, or lost with the link): end its SIP side.
    pub(super) fn chand_hangup(&mut self, now: Instant, id: CallId, cause: Cause) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        c.note(format_args!("chand hangs up (cause {cause})"));
        match (c.direction, c.state) {
            (Direction::Outgoing, State::Waiting) => self.remove(id),
            (Direction::Outgoing, _) => self.uac_hangup(now, id),
            (Direction::Incoming, State::Ringing) => {
                self.reject(now, id, cause.to_sip_status());
            }
            (Direction::Incoming, State::Answering | State::Confirmed) => self.send_bye(now, id),
            (Direction::Incoming, _) => {}
        }
    }

    /// Tell chand `msg`; a call it does not know any more is ended on the SIP side.
    pub(super) fn tell(&mut self, now: Instant, msg: Ctl) {
        let Some(id) = msg.call() else {
            return;
        };
        if let Err(e) = self.link.send(now, msg) {
            if let Some(c) = self.calls.get(&id) {
                c.log(log::Level::Warn, format_args!("chand not told: {e}"));
            }
            if !matches!(e, callctl::link::SendError::UnknownCall(_)) {
                self.chand_hangup(now, id, Cause::TEMPORARY_FAILURE);
            }
        }
    }

    /// The SIP side ended call `id`: tell chand.
    pub(super) fn hangup_chand(&mut self, now: Instant, id: CallId, cause: Cause) {
        if self.link.calls().any(|c| c == id) {
            let _ = self.link.send(now, Ctl::Hangup { call: id, cause });
        }
    }
}
