//! The procedures of the data-link entity: frames received per state (Q.921 §5.5-§5.8),
//! T200 expiry, acknowledgement and I-frame transmission (§5.6).

use std::time::Instant;

use super::super::{Event, Kind, MdlError, Repr, State, SAPI_CALL_CONTROL, TEI_PRI};
use super::{seq_add, seq_sub, Lapd, Timer};

impl Lapd {
    pub(super) fn start_t200(&mut self, now: Instant) {
        self.timers.set(Timer::T200, now + self.cfg.t200);
    }

    pub(super) fn start_t203(&mut self, now: Instant) {
        self.timers.set(Timer::T203, now + self.cfg.t203);
    }

    /// Keep trying after one T200 while the link is meant to be up ([`Lapd::start`]).
    pub(super) fn restart_t200_if_persistent(&mut self, now: Instant) {
        if self.persistent {
            self.start_t200(now);
        } else {
            self.timers.cancel(Timer::T200);
        }
    }

    pub(super) fn released_frame(&mut self, now: Instant, r: &Repr<'_>, command: bool) {
        match (r.kind, command) {
            (Kind::Sabme, true) => {
                self.send_frame(Kind::Ua, false, r.pf);
                self.clear_exception_conditions();
                self.reset_variables();
                self.timers.cancel(Timer::T200);
                self.start_t203(now);
                self.state = State::Established;
                self.report_up();
            }
            (Kind::Disc, true) => self.send_frame(Kind::Dm, false, r.pf),
            (Kind::Ui, true) => self.events.push_back(Event::UnitData(r.info.to_vec())),
            (Kind::Ua, false) => {
                self.events
                    .push_back(Event::Error(if r.pf { MdlError::C } else { MdlError::D }))
            }
            (Kind::Dm, false) if !r.pf && self.persistent => {
                self.establish_data_link(now);
                self.layer3_initiated = true;
                self.state = State::AwaitingEstablishment;
            }
            // Any other command with P = 1 is answered DM F = 1 (Q.921 §5.5.2 disconnected mode).
            (_, true) if r.pf => self.send_frame(Kind::Dm, false, true),
            _ => {}
        }
    }

    pub(super) fn awaiting_establishment_frame(
        &mut self,
        now: Instant,
        r: &Repr<'_>,
        command: bool,
    ) {
        match (r.kind, command) {
            (Kind::Sabme, true) => self.send_frame(Kind::Ua, false, r.pf),
            (Kind::Disc, true) => self.send_frame(Kind::Dm, false, r.pf),
            (Kind::Ui, true) => self.events.push_back(Event::UnitData(r.info.to_vec())),
            (Kind::Ua, false) if r.pf => {
                if !self.layer3_initiated && self.vs != self.va {
                    self.discard_queues();
                }
                self.timers.cancel(Timer::T200);
                self.start_t203(now);
                self.reset_variables();
                self.state = State::Established;
                self.report_up();
                self.push_i_frames(now);
            }
            (Kind::Ua, false) => self.events.push_back(Event::Error(MdlError::D)),
            (Kind::Dm, false) if r.pf => {
                self.discard_queues();
                self.state = State::Released;
                // Keep trying after one T200 if the link is meant to be up.
                self.restart_t200_if_persistent(now);
                self.report_down();
            }
            _ => {}
        }
    }

    pub(super) fn awaiting_release_frame(&mut self, r: &Repr<'_>, command: bool) {
        match (r.kind, command) {
            (Kind::Sabme, true) => self.send_frame(Kind::Dm, false, r.pf),
            (Kind::Disc, true) => self.send_frame(Kind::Ua, false, r.pf),
            (Kind::Ua | Kind::Dm, false) if r.pf => {
                self.timers.cancel(Timer::T200);
                self.state = State::Released;
            }
            (Kind::Ua, false) => self.events.push_back(Event::Error(MdlError::D)),
            _ => {}
        }
    }

    pub(super) fn established_frame(&mut self, now: Instant, r: &Repr<'_>, command: bool) {
        let recovery = self.state == State::TimerRecovery;
        match (r.kind, command) {
            (Kind::Sabme, true) => {
                self.send_frame(Kind::Ua, false, r.pf);
                self.clear_exception_conditions();
                self.events.push_back(Event::Error(MdlError::F));
                if self.vs != self.va {
                    self.discard_queues();
                    self.report_down();
                }
                self.timers.cancel(Timer::T200);
                self.start_t203(now);
                self.reset_variables();
                self.state = State::Established;
                self.report_up();
            }
            (Kind::Disc, true) => {
                self.discard_queues();
                self.send_frame(Kind::Ua, false, r.pf);
                self.timers.cancel(Timer::T200);
                self.timers.cancel(Timer::T203);
                self.state = State::Released;
                self.report_down();
                if self.persistent {
                    self.start_t200(now);
                }
            }
            (Kind::Ui, true) => self.events.push_back(Event::UnitData(r.info.to_vec())),
            (Kind::Ua, false) => {
                self.events
                    .push_back(Event::Error(if r.pf { MdlError::C } else { MdlError::D }))
            }
            (Kind::Dm, false) => {
                if r.pf && !recovery {
                    self.events.push_back(Event::Error(MdlError::B));
                } else {
                    self.events.push_back(Event::Error(if r.pf {
                        MdlError::B
                    } else {
                        MdlError::E
                    }));
                    self.reestablish(now);
                }
            }
            (Kind::Frmr, false) => {
                self.events.push_back(Event::Error(MdlError::K));
                self.reestablish(now);
            }
            (Kind::Rr { nr } | Kind::Rnr { nr } | Kind::Rej { nr }, _) => {
                self.peer_busy = matches!(r.kind, Kind::Rnr { .. });
                let rej = matches!(r.kind, Kind::Rej { .. });
                if command && r.pf {
                    self.enquiry_response(true);
                }
                let final_response = !command && r.pf;
                if final_response && !recovery {
                    self.events.push_back(Event::Error(MdlError::A));
                }
                if !self.nr_valid(nr) {
                    self.nr_error_recovery(now);
                    return;
                }
                if recovery {
                    self.ack_to(nr);
                    if final_response {
                        self.timers.cancel(Timer::T200);
                        self.invoke_retransmission(nr);
                        self.state = State::Established;
                        if self.peer_busy {
                            self.start_t200(now);
                        } else {
                            self.start_t203(now);
                        }
                    } else if rej {
                        self.invoke_retransmission(nr);
                    }
                } else if self.peer_busy {
                    self.ack_to(nr);
                    self.timers.cancel(Timer::T203);
                    self.start_t200(now);
                } else if rej {
                    self.ack_to(nr);
                    self.timers.cancel(Timer::T200);
                    self.start_t203(now);
                    self.invoke_retransmission(nr);
                } else {
                    self.update_acknowledged(now, nr);
                }
                self.push_i_frames(now);
            }
            (Kind::I { ns, nr }, true) => {
                if ns == self.vr {
                    self.vr = seq_add(self.vr, 1);
                    self.reject_exception = false;
                    self.events.push_back(Event::Data(r.info.to_vec()));
                    if r.pf {
                        self.enquiry_response(true);
                    } else {
                        self.ack_pending = true;
                    }
                } else if self.reject_exception {
                    if r.pf {
                        self.enquiry_response(true);
                    }
                } else {
                    self.reject_exception = true;
                    self.send_frame(Kind::Rej { nr: self.vr }, false, r.pf);
                    self.ack_pending = false;
                }
                if !self.nr_valid(nr) {
                    self.nr_error_recovery(now);
                    return;
                }
                if recovery || self.peer_busy {
                    self.ack_to(nr);
                } else {
                    self.update_acknowledged(now, nr);
                }
                self.push_i_frames(now);
            }
            _ => {}
        }
    }

    pub(super) fn t200_expiry(&mut self, now: Instant) {
        match self.state {
            State::Released => {
                if self.persistent {
                    self.establish_data_link(now);
                    self.layer3_initiated = true;
                    self.state = State::AwaitingEstablishment;
                }
            }
            State::AwaitingEstablishment => {
                if self.rc >= self.cfg.n200 {
                    self.discard_queues();
                    self.events.push_back(Event::Error(MdlError::G));
                    self.state = State::Released;
                    self.restart_t200_if_persistent(now);
                    self.report_down();
                } else {
                    self.rc += 1;
                    self.send_frame(Kind::Sabme, true, true);
                    self.start_t200(now);
                }
            }
            State::AwaitingRelease => {
                if self.rc >= self.cfg.n200 {
                    self.events.push_back(Event::Error(MdlError::H));
                    self.state = State::Released;
                } else {
                    self.rc += 1;
                    self.send_frame(Kind::Disc, true, true);
                    self.start_t200(now);
                }
            }
            State::Established => {
                self.rc = 0;
                self.transmit_enquiry(now);
                self.rc = 1;
                self.state = State::TimerRecovery;
            }
            State::TimerRecovery => {
                if self.rc >= self.cfg.n200 {
                    self.events.push_back(Event::Error(MdlError::I));
                    self.reestablish(now);
                } else {
                    self.transmit_enquiry(now);
                    self.rc += 1;
                }
            }
        }
    }

    // ---- procedures named in the Annex B SDL ----

    pub(super) fn establish_data_link(&mut self, now: Instant) {
        self.clear_exception_conditions();
        self.rc = 0;
        self.send_frame(Kind::Sabme, true, true);
        self.timers.cancel(Timer::T203);
        self.start_t200(now);
    }

    /// Re-establishment initiated by this entity after an error (layer 3 not initiator).
    pub(super) fn reestablish(&mut self, now: Instant) {
        self.discard_queues();
        self.report_down();
        self.establish_data_link(now);
        self.layer3_initiated = false;
        self.state = State::AwaitingEstablishment;
    }

    pub(super) fn nr_error_recovery(&mut self, now: Instant) {
        self.events.push_back(Event::Error(MdlError::J));
        self.reestablish(now);
    }

    pub(super) fn clear_exception_conditions(&mut self) {
        self.peer_busy = false;
        self.reject_exception = false;
        self.ack_pending = false;
    }

    pub(super) fn reset_variables(&mut self) {
        self.vs = 0;
        self.va = 0;
        self.vr = 0;
    }

    pub(super) fn discard_queues(&mut self) {
        self.stats.payloads_discarded += (self.window.len() + self.queue.len()) as u64;
        self.window.clear();
        self.queue.clear();
        self.priority = 0;
    }

    pub(super) fn transmit_enquiry(&mut self, now: Instant) {
        self.send_frame(Kind::Rr { nr: self.vr }, true, true);
        self.ack_pending = false;
        self.start_t200(now);
        self.timers.cancel(Timer::T203);
    }

    pub(super) fn enquiry_response(&mut self, f: bool) {
        self.send_frame(Kind::Rr { nr: self.vr }, false, f);
        self.ack_pending = false;
    }

    /// V(A) ≤ N(R) ≤ V(S), modulo 128.
    pub(super) fn nr_valid(&self, nr: u8) -> bool {
        nr < 128 && seq_sub(nr, self.va) <= seq_sub(self.vs, self.va)
    }

    /// V(A) := N(R), dropping acknowledged payloads from the retransmission window.
    pub(super) fn ack_to(&mut self, nr: u8) {
        let n = usize::from(seq_sub(nr, self.va));
        let n = n.min(self.window.len());
        self.stats.payloads_acked += n as u64;
        self.window.drain(..n);
        self.va = nr;
    }

    /// Acknowledgement handling in state 7 (Q.921 §5.6.3.2): stop T200 when all is
    /// acknowledged, restart it when some progress was made.
    pub(super) fn update_acknowledged(&mut self, now: Instant, nr: u8) {
        if nr == self.vs {
            self.ack_to(nr);
            self.timers.cancel(Timer::T200);
            self.start_t203(now);
        } else if nr != self.va {
            self.ack_to(nr);
            self.start_t200(now);
        }
    }

    /// V(S) := N(R): the I frames from N(R) on are sent again (Q.921 §5.6.4).
    pub(super) fn invoke_retransmission(&mut self, nr: u8) {
        self.vs = nr;
    }

    /// Transmit I frames while the window is open and the peer is not busy; frames between
    /// V(S) and the end of the window are retransmissions.
    pub(super) fn push_i_frames(&mut self, now: Instant) {
        if self.state != State::Established && self.state != State::TimerRecovery {
            return;
        }
        while !self.peer_busy && seq_sub(self.vs, self.va) < self.cfg.k {
            let idx = usize::from(seq_sub(self.vs, self.va));
            if idx >= self.window.len() {
                if self.priority == 0 && seq_sub(self.vs, self.va) >= self.cfg.bulk_k {
                    break;
                }
                match self.queue.pop_front() {
                    Some(p) => {
                        self.priority = self.priority.saturating_sub(1);
                        self.window.push_back(p);
                    }
                    None => break,
                }
            } else {
                self.stats.retransmissions += 1;
            }
            let Some(payload) = self.window.get(idx) else {
                break;
            };
            let frame = Repr {
                sapi: SAPI_CALL_CONTROL,
                cr: self.cfg.side.cr_bit(true),
                tei: TEI_PRI,
                kind: Kind::I {
                    ns: self.vs,
                    nr: self.vr,
                },
                pf: false,
                info: payload,
            }
            .to_vec();
            self.push_out(frame);
            self.vs = seq_add(self.vs, 1);
            self.ack_pending = false;
            if !self.timers.is_running(Timer::T200) {
                self.timers.cancel(Timer::T203);
                self.start_t200(now);
            }
        }
    }

    pub(super) fn send_frame(&mut self, kind: Kind, command: bool, pf: bool) {
        let repr = Repr {
            sapi: SAPI_CALL_CONTROL,
            cr: self.cfg.side.cr_bit(command),
            tei: TEI_PRI,
            kind,
            pf,
            info: &[],
        };
        self.push_out(repr.to_vec());
    }

    pub(super) fn push_out(&mut self, frame: Vec<u8>) {
        self.stats.frames_out += 1;
        self.stats.octets_out += frame.len() as u64;
        self.out.push_back(frame);
    }

    pub(super) fn report_up(&mut self) {
        if !self.reported_up {
            self.reported_up = true;
            self.events.push_back(Event::LinkUp);
        }
    }

    pub(super) fn report_down(&mut self) {
        if self.reported_up {
            self.reported_up = false;
            self.events.push_back(Event::LinkDown);
        }
    }
}
