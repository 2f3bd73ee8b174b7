//! The data-link state machine of one Q.921 entity (Q.921 §5, SDL of Annex B).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sansio::{Core, Timers};

mod procedures;

use super::{
    Config, Error, Event, Kind, MdlError, Packet, Repr, SendError, State, Stats, N201,
    SAPI_CALL_CONTROL, TEI_PRI,
};

/// One Q.921 data-link entity (SAPI 0, TEI 0) in multiple-frame operation, sans-IO.
///
/// Drive it with [`Lapd::start`], [`Lapd::handle_frame`], [`Lapd::send`] and
/// [`Lapd::handle_timeout`]; drain [`Lapd::poll_transmit`] and [`Lapd::poll_event`] after each
/// call and wake at [`Lapd::poll_timeout`]. Once started, the entity keeps (re-)establishing
/// the link after any loss, one SABME cycle per T200, until [`Lapd::stop`].
#[derive(Debug)]
pub struct Lapd {
    cfg: Config,
    state: State,
    vs: u8,
    va: u8,
    vr: u8,
    rc: u8,
    peer_busy: bool,
    reject_exception: bool,
    ack_pending: bool,
    layer3_initiated: bool,
    persistent: bool,
    reported_up: bool,
    /// T200 and T203 (Q.921 §5.9.1, §5.9.8).
    timers: Timers<Timer>,
    /// Payloads of I frames sent and not yet acknowledged; index 0 has N(S) = V(A).
    window: VecDeque<Vec<u8>>,
    /// Payloads not yet sent (the I queue).
    queue: VecDeque<Vec<u8>>,
    /// How many payloads at the front of `queue` came from [`Lapd::send_priority`].
    priority: usize,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    stats: Stats,
}

pub(super) fn seq_add(a: u8, b: u8) -> u8 {
    a.wrapping_add(b) & 0x7f
}

pub(super) fn seq_sub(a: u8, b: u8) -> u8 {
    a.wrapping_sub(b) & 0x7f
}

impl Lapd {
    /// A released entity (state 4) with the given parameters. `k` is clamped to 1..=127,
    /// `bulk_k` to 1..=k, `n200` to at least 1, T200 and T203 to 1 ms..=1 h.
    pub fn new(mut cfg: Config) -> Self {
        cfg.k = cfg.k.clamp(1, 127);
        cfg.bulk_k = cfg.bulk_k.clamp(1, cfg.k);
        cfg.n200 = cfg.n200.max(1);
        // Keeps `now + timer` far from Instant overflow whatever the configuration.
        // At least 1 ms, so that a timer restarted by its own expiry is never due again at the
        // same instant.
        cfg.t200 = cfg
            .t200
            .clamp(Duration::from_millis(1), Duration::from_secs(3600));
        cfg.t203 = cfg
            .t203
            .clamp(Duration::from_millis(1), Duration::from_secs(3600));
        Lapd {
            cfg,
            state: State::Released,
            vs: 0,
            va: 0,
            vr: 0,
            rc: 0,
            peer_busy: false,
            reject_exception: false,
            ack_pending: false,
            layer3_initiated: false,
            persistent: false,
            reported_up: false,
            timers: Timers::new(),
            window: VecDeque::new(),
            queue: VecDeque::new(),
            priority: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The parameters in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Current data-link state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether I frames can flow (states 7 and 8).
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established | State::TimerRecovery)
    }

    /// Whether the peer reported receiver busy (RNR) and has not cleared it.
    pub fn peer_busy(&self) -> bool {
        self.peer_busy
    }

    /// Payloads queued or sent and not yet acknowledged by the peer.
    pub fn outstanding(&self) -> usize {
        self.window.len() + self.queue.len()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// DL-ESTABLISH request (Q.921 §5.5.1): send SABME unless already established, and keep the
    /// link up from now on (re-establish after any loss).
    pub fn start(&mut self, now: Instant) {
        self.persistent = true;
        match self.state {
            State::Released | State::AwaitingRelease => {
                self.establish_data_link(now);
                self.layer3_initiated = true;
                self.state = State::AwaitingEstablishment;
            }
            State::AwaitingEstablishment | State::Established | State::TimerRecovery => {}
        }
    }

    /// DL-RELEASE request (Q.921 §5.5.3): discard the I queue, send DISC and stop keeping the
    /// link up.
    pub fn stop(&mut self, now: Instant) {
        self.persistent = false;
        match self.state {
            State::Established | State::TimerRecovery => {
                self.discard_queues();
                self.rc = 0;
                self.send_frame(Kind::Disc, true, true);
                self.timers.cancel(Timer::T203);
                self.start_t200(now);
                self.state = State::AwaitingRelease;
                self.report_down();
            }
            State::AwaitingEstablishment => {
                self.discard_queues();
                self.timers.cancel(Timer::T200);
                self.state = State::Released;
            }
            State::Released => self.timers.cancel(Timer::T200),
            State::AwaitingRelease => {}
        }
    }

    /// The physical layer went away (DAHDI alarm, sim peer disconnected; MPH-DEACTIVATE):
    /// drop to state 4 without sending anything, discard queues, report [`Event::LinkDown`].
    /// Call [`Lapd::start`] again when the physical layer is back.
    pub fn link_lost(&mut self) {
        self.discard_queues();
        self.timers.cancel(Timer::T200);
        self.timers.cancel(Timer::T203);
        self.state = State::Released;
        self.out.clear();
        self.report_down();
    }

    /// DL-DATA request: queue one layer-3 message for transmission in an I frame. Accepted while
    /// established or establishing; the frame leaves as soon as the window (k) and the peer's
    /// receiver allow. Errors: [`SendError`].
    pub fn send(&mut self, now: Instant, payload: Vec<u8>) -> Result<(), SendError> {
        self.queue_payload(now, payload, false)
    }

    /// DL-DATA request ahead of the queue: like [`Lapd::send`], but the payload goes before
    /// every payload queued by [`Lapd::send`] and after earlier priority payloads, so call
    /// control is not held up behind a lamp resync. It still waits for the window (k) like
    /// any I frame. Payload numbers ([`Stats::payloads_queued`]) then no longer follow the
    /// order of acknowledgement exactly.
    pub fn send_priority(&mut self, now: Instant, payload: Vec<u8>) -> Result<(), SendError> {
        self.queue_payload(now, payload, true)
    }

    fn queue_payload(
        &mut self,
        now: Instant,
        payload: Vec<u8>,
        priority: bool,
    ) -> Result<(), SendError> {
        if payload.len() > N201 {
            return Err(SendError::TooLong);
        }
        match self.state {
            State::Established | State::TimerRecovery | State::AwaitingEstablishment => {
                self.stats.payloads_queued += 1;
                if priority {
                    self.queue.insert(self.priority, payload);
                    self.priority += 1;
                } else {
                    self.queue.push_back(payload);
                }
                self.push_i_frames(now);
                Ok(())
            }
            State::Released | State::AwaitingRelease => Err(SendError::NotEstablished),
        }
    }

    /// DL-UNIT DATA request: send `payload` at once in a UI command frame (Q.921 §5.2).
    pub fn send_unit_data(&mut self, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > N201 {
            return Err(SendError::TooLong);
        }
        let repr = Repr {
            sapi: SAPI_CALL_CONTROL,
            cr: self.cfg.side.cr_bit(true),
            tei: TEI_PRI,
            kind: Kind::Ui,
            pf: false,
            info: payload,
        };
        self.push_out(repr.to_vec());
        Ok(())
    }

    /// Process one received frame (no FCS). Frames for another SAPI or TEI and frames with an
    /// invalid address are ignored; frame rejection conditions W, X, Y re-establish the link
    /// when it is established (Q.921 §5.8.5). Never panics.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        self.stats.frames_in += 1;
        let repr = match Repr::parse_bytes(frame) {
            Ok(r) => r,
            Err(Error::Truncated | Error::BadAddress) => return,
            Err(e) => {
                let addressed = Packet::new_checked(frame)
                    .is_ok_and(|p| p.sapi() == SAPI_CALL_CONTROL && p.tei() == TEI_PRI);
                if addressed && self.is_established() {
                    self.events.push_back(Event::Error(match e {
                        Error::UndefinedControl => MdlError::L,
                        Error::TooLong => MdlError::N,
                        _ => MdlError::M,
                    }));
                    self.reestablish(now);
                }
                return;
            }
        };
        if repr.sapi != SAPI_CALL_CONTROL || repr.tei != TEI_PRI {
            return;
        }
        let command = self.cfg.side.peer().is_command(repr.cr);
        match self.state {
            State::Released => self.released_frame(now, &repr, command),
            State::AwaitingEstablishment => self.awaiting_establishment_frame(now, &repr, command),
            State::AwaitingRelease => self.awaiting_release_frame(&repr, command),
            State::Established | State::TimerRecovery => {
                self.established_frame(now, &repr, command)
            }
        }
    }

    // ---- per-state frame handling (Q.921 Annex B) ----
}

/// The timers of one entity (Q.921 §5.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// T200: acknowledgement, retransmission, establishment and release (§5.9.1).
    T200,
    /// T203: maximum time without frames exchanged (§5.9.8).
    T203,
}

/// Frames out ([`Core::poll_transmit`]: address + control + information, no FCS), layer-3 and
/// management events out ([`Core::poll_event`]), T200 and T203 in one [`Timers`] table.
impl Core for Lapd {
    type Transmit = Vec<u8>;
    type Event = Event;

    /// Run the expiry of every timer due at `now` (Q.921 §5.5.1.3, §5.6.7, §5.7); an early,
    /// late or repeated call runs only what is due, once.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::T200 => self.t200_expiry(now),
                Timer::T203 => {
                    if self.state == State::Established {
                        self.transmit_enquiry(now);
                        self.rc = 0;
                        self.state = State::TimerRecovery;
                    }
                }
            }
        }
    }

    /// Next frame to transmit.
    ///
    /// An I frame received with P = 0 is acknowledged by the N(R) of the next I frame sent;
    /// only when nothing else is left to send does this return an RR for it, so layer 3 can
    /// answer (e.g. the next SETUP) between [`Lapd::handle_frame`] and draining the frames.
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() && self.ack_pending && self.is_established() {
            self.enquiry_response(false);
        }
        self.out.pop_front()
    }

    /// Next event for layer 3 or management.
    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest running timer (T200 or T203), if any.
    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}
