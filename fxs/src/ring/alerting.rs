//! The alerting of an incoming call on one port: ringing by the zone's cadence and caller ID
//! in the first silent interval that holds it (module doc of `ring`).

use std::collections::VecDeque;

use sansio::{Core, Duration, Instant, Timers};

use super::{
    dtmf_clip, mdmf_call_setup, CallerId, RingCadence, CID_AFTER_RING_MS, CID_BEFORE_RING_MS,
};
use crate::fsk::{render_spill, spill_ms, FskStandard};
use crate::law::{Block, Law, BLOCK_MS};

/// What [`Alerting`] asks of the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertEvent {
    /// Ring voltage on (`true`: `DAHDI_HOOK` `DAHDI_RING`) or off (`false`: `DAHDI_RINGOFF`).
    Ring(bool),
    /// On-hook audio follows for this long, ms: `DAHDI_ONHOOKTRANSFER` (docs/calls.md).
    OnHookTransfer {
        /// Duration of the spill, ms.
        ms: u32,
    },
    /// Caller ID was not sent: no silent interval of the cadence holds the spill with its
    /// margins (the cadence is too short for `spill_ms`).
    CallerIdSkipped {
        /// Duration of the spill that did not fit, ms.
        spill_ms: u32,
    },
}

/// How a port signals caller ID to the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerIdSignal {
    /// MDMF in FSK between the first and the second ring (GR-30, EN 300 659-1 §6.1.1).
    Fsk(FskStandard),
    /// DTMF before the first ring (EN 300 659-1 Annex B, [`dtmf_clip`]).
    Dtmf,
}

impl From<FskStandard> for CallerIdSignal {
    fn from(standard: FskStandard) -> Self {
        CallerIdSignal::Fsk(standard)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum AlertTimer {
    /// The current cadence value ends.
    Cadence,
    /// The next caller-ID block is due.
    Audio,
}

/// The alerting of one incoming call on one port (sans-IO): ringing by the cadence, caller ID
/// in the first silent interval that holds it. Events are [`AlertEvent`]s; transmits are the
/// caller-ID blocks, each handed out when due (the event loop writes it to the channel).
pub struct Alerting {
    cadence: RingCadence,
    signal: CallerIdSignal,
    law: Law,
    /// Index of the running cadence value (even = ringing).
    step: usize,
    ringing: bool,
    /// The spill not yet due, its length in blocks, and the index of the cadence value it goes
    /// in until that value begins.
    spill: VecDeque<Block>,
    spill_blocks: usize,
    spill_step: Option<usize>,
    events: VecDeque<AlertEvent>,
    out: VecDeque<Block>,
    timers: Timers<AlertTimer>,
}

impl Alerting {
    /// An idle alerting for a port with `cadence`, caller ID as `signal` (an [`FskStandard`]
    /// or [`CallerIdSignal::Dtmf`]) and `law`.
    pub fn new(cadence: RingCadence, signal: impl Into<CallerIdSignal>, law: Law) -> Self {
        Self {
            cadence,
            signal: signal.into(),
            law,
            step: 0,
            ringing: false,
            spill: VecDeque::new(),
            spill_blocks: 0,
            spill_step: None,
            events: VecDeque::new(),
            out: VecDeque::new(),
            timers: Timers::new(),
        }
    }

    /// Starts ringing at `now`; with `caller`, its caller ID goes between the first ring and
    /// the next, or for [`CallerIdSignal::Dtmf`] from `now`, the first ring following
    /// [`dtmf_clip::RING_AFTER_MS`] after it (a call already alerting starts over).
    pub fn start(&mut self, now: Instant, caller: Option<&CallerId>) {
        self.reset();
        if let (CallerIdSignal::Dtmf, Some(cid)) = (self.signal, caller) {
            let blocks = dtmf_clip::render(&dtmf_clip::symbols(cid), self.law);
            let ring_at = now + ms(spill_ms(blocks.len()) + dtmf_clip::RING_AFTER_MS);
            self.spill_blocks = blocks.len();
            self.spill = blocks.into();
            self.timers.set(AlertTimer::Audio, now);
            // A cadence ends with a silent value: the end of that one starts the first ring.
            self.step = self.cadence.ms.len() - 1;
            self.timers.set(AlertTimer::Cadence, ring_at);
            return;
        }
        self.step = 0;
        self.set_ring(true);
        self.timers
            .set(AlertTimer::Cadence, now + ms(self.cadence.ms[0]));
        let (Some(cid), CallerIdSignal::Fsk(standard)) = (caller, self.signal) else {
            return;
        };
        let blocks = render_spill(standard, self.law, &mdmf_call_setup(cid));
        let need = spill_ms(blocks.len()) + CID_AFTER_RING_MS + CID_BEFORE_RING_MS;
        match (1..self.cadence.ms.len())
            .step_by(2)
            .find(|&i| self.cadence.ms[i] >= need)
        {
            Some(i) => {
                self.spill_blocks = blocks.len();
                self.spill = blocks.into();
                self.spill_step = Some(i);
            }
            None => self.events.push_back(AlertEvent::CallerIdSkipped {
                spill_ms: spill_ms(blocks.len()),
            }),
        }
    }

    /// Stops alerting at `now` (answered, CANCEL, or the caller gave up): ring off, caller ID
    /// not yet sent dropped.
    pub fn stop(&mut self, _now: Instant) {
        self.reset();
        if self.ringing {
            self.set_ring(false);
        }
    }

    /// Whether the port is alerting (between [`Alerting::start`] and [`Alerting::stop`]).
    pub fn is_active(&self) -> bool {
        self.timers.is_running(AlertTimer::Cadence)
    }

    fn reset(&mut self) {
        self.timers.cancel(AlertTimer::Cadence);
        self.timers.cancel(AlertTimer::Audio);
        self.spill.clear();
        self.spill_step = None;
        self.out.clear();
    }

    fn set_ring(&mut self, on: bool) {
        self.ringing = on;
        self.events.push_back(AlertEvent::Ring(on));
    }

    /// The running cadence value ended at `at`: the next one begins.
    fn next_step(&mut self, at: Instant) {
        self.step = (self.step + 1) % self.cadence.ms.len();
        self.set_ring(self.step % 2 == 0);
        self.timers
            .set(AlertTimer::Cadence, at + ms(self.cadence.ms[self.step]));
        if self.spill_step == Some(self.step) {
            self.spill_step = None;
            self.timers
                .set(AlertTimer::Audio, at + ms(CID_AFTER_RING_MS));
        }
    }

    /// The spill's block due at `at`; the first one comes after its ONHOOKTRANSFER.
    fn next_block(&mut self, at: Instant) {
        if self.spill.len() == self.spill_blocks {
            self.events.push_back(AlertEvent::OnHookTransfer {
                ms: spill_ms(self.spill_blocks),
            });
        }
        let Some(block) = self.spill.pop_front() else {
            return;
        };
        self.out.push_back(block);
        if !self.spill.is_empty() {
            self.timers
                .set(AlertTimer::Audio, at + Duration::from_millis(BLOCK_MS));
        }
    }
}

/// `v` ms as a [`Duration`].
fn ms(v: u32) -> Duration {
    Duration::from_millis(u64::from(v))
}

impl Core for Alerting {
    type Transmit = Block;
    type Event = AlertEvent;

    /// Cadence steps and caller-ID blocks due at `now`, each at its own deadline.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(at) = self.timers.next().filter(|&at| at <= now) {
            match self.timers.pop_due(now) {
                Some(AlertTimer::Cadence) => self.next_step(at),
                Some(AlertTimer::Audio) => self.next_block(at),
                None => break,
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Block> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<AlertEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::tests::alice;

    /// What happened at a time, ms after start.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Event(AlertEvent),
        Block,
    }

    /// Start `a` at t0 with `cid`, run it for `until` ms, optionally stop at `stop_at`; the
    /// timeline.
    fn run(
        a: &mut Alerting,
        cid: Option<&CallerId>,
        until: u64,
        stop_at: Option<u64>,
    ) -> Vec<(u64, Seen)> {
        let t0 = Instant::now();
        let mut seen = Vec::new();
        a.start(t0, cid);
        let drain = |a: &mut Alerting, at: u64, seen: &mut Vec<(u64, Seen)>| {
            while let Some(e) = a.poll_event() {
                seen.push((at, Seen::Event(e)));
            }
            while a.poll_transmit().is_some() {
                seen.push((at, Seen::Block));
            }
        };
        drain(a, 0, &mut seen);
        while let Some(next) = a.poll_timeout() {
            let at = (next - t0).as_millis() as u64;
            if let Some(s) = stop_at.filter(|&s| s <= at) {
                a.stop(t0 + Duration::from_millis(s));
                drain(a, s, &mut seen);
                break;
            }
            if at > until {
                break;
            }
            a.handle_timeout(next);
            drain(a, at, &mut seen);
        }
        seen
    }

    fn rings(seen: &[(u64, Seen)]) -> Vec<(u64, bool)> {
        seen.iter()
            .filter_map(|(t, s)| match s {
                Seen::Event(AlertEvent::Ring(on)) => Some((*t, *on)),
                _ => None,
            })
            .collect()
    }

    fn blocks(seen: &[(u64, Seen)]) -> Vec<u64> {
        seen.iter()
            .filter(|(_, s)| *s == Seen::Block)
            .map(|(t, _)| *t)
            .collect()
    }

    #[test]
    fn us_rings_and_sends_caller_id_between_first_and_second_ring() {
        let mut a = Alerting::new(
            RingCadence::for_zone(0).unwrap(),
            FskStandard::Bell202,
            Law::Mulaw,
        );
        let seen = run(&mut a, Some(&alice()), 12_000, None);
        assert_eq!(
            rings(&seen),
            [
                (0, true),
                (2000, false),
                (6000, true),
                (8000, false),
                (12_000, true)
            ]
        );
        let b = blocks(&seen);
        let n = render_spill(FskStandard::Bell202, Law::Mulaw, &mdmf_call_setup(&alice())).len();
        assert_eq!(b.len(), n);
        assert_eq!(b[0], 2000 + u64::from(CID_AFTER_RING_MS));
        assert!(b.windows(2).all(|w| w[1] - w[0] == BLOCK_MS));
        assert!(b[n - 1] + BLOCK_MS + u64::from(CID_BEFORE_RING_MS) <= 6000);
        let transfer = seen
            .iter()
            .position(|s| matches!(s.1, Seen::Event(AlertEvent::OnHookTransfer { .. })))
            .unwrap();
        assert_eq!(
            seen[transfer],
            (
                2500,
                Seen::Event(AlertEvent::OnHookTransfer { ms: spill_ms(n) })
            )
        );
        assert_eq!(seen[transfer + 1], (2500, Seen::Block));
    }

    #[test]
    fn uk_caller_id_goes_in_the_long_pause() {
        let mut a = Alerting::new(
            RingCadence::for_zone(4).unwrap(),
            FskStandard::V23,
            Law::Alaw,
        );
        let seen = run(&mut a, Some(&alice()), 3000, None);
        assert_eq!(
            rings(&seen),
            [
                (0, true),
                (400, false),
                (600, true),
                (1000, false),
                (3000, true)
            ]
        );
        let b = blocks(&seen);
        assert_eq!(b[0], 1500);
        assert!(*b.last().unwrap() + BLOCK_MS + 200 <= 3000);
    }

    #[test]
    fn caller_id_skipped_when_no_pause_holds_it() {
        let mut a = Alerting::new(
            RingCadence::new(&[2000, 1000]).unwrap(),
            FskStandard::Bell202,
            Law::Mulaw,
        );
        let seen = run(&mut a, Some(&alice()), 6000, None);
        assert!(matches!(
            seen[1],
            (0, Seen::Event(AlertEvent::CallerIdSkipped { .. }))
        ));
        assert!(blocks(&seen).is_empty());
        assert_eq!(rings(&seen).len(), 5);
    }

    #[test]
    fn stop_ends_ring_and_drops_caller_id() {
        let cadence = RingCadence::for_zone(0).unwrap();
        let mut a = Alerting::new(cadence.clone(), FskStandard::Bell202, Law::Mulaw);
        let seen = run(&mut a, Some(&alice()), 20_000, Some(1000));
        assert_eq!(rings(&seen), [(0, true), (1000, false)]);
        assert!(blocks(&seen).is_empty());
        assert!(!a.is_active());
        assert_eq!(a.poll_timeout(), None);
        // Stopped mid-spill, in the silent interval: no ring-off, no further block.
        let mut a = Alerting::new(cadence, FskStandard::Bell202, Law::Mulaw);
        let seen = run(&mut a, Some(&alice()), 20_000, Some(2600));
        assert_eq!(rings(&seen), [(0, true), (2000, false)]);
        assert!(blocks(&seen).iter().all(|&t| t < 2600));
        assert_eq!(a.poll_timeout(), None);
        // Without caller ID it only rings.
        let mut a = Alerting::new(
            RingCadence::for_zone(29).unwrap(),
            FskStandard::V23,
            Law::Alaw,
        );
        let seen = run(&mut a, None, 5000, None);
        assert_eq!(rings(&seen), [(0, true), (1000, false), (5000, true)]);
        assert!(blocks(&seen).is_empty());
    }

    #[test]
    fn dtmf_caller_id_comes_before_the_first_ring() {
        let cadence = RingCadence::for_zone(0).unwrap();
        let mut a = Alerting::new(cadence, CallerIdSignal::Dtmf, Law::Alaw);
        let seen = run(&mut a, Some(&alice()), 9000, None);
        // A5551234567C: 12 symbols of 140 ms = 84 blocks from 0 ms, then 300 ms to the ring.
        let b = blocks(&seen);
        assert_eq!((b.len(), b[0], b[83]), (84, 0, 83 * 20));
        assert_eq!(
            seen[0],
            (0, Seen::Event(AlertEvent::OnHookTransfer { ms: 1680 }))
        );
        assert_eq!(
            rings(&seen),
            [(1980, true), (3980, false), (7980, true)],
            "the zone's cadence from the first ring on"
        );
        // Without a caller it rings at once, like FSK.
        let mut a = Alerting::new(
            RingCadence::for_zone(0).unwrap(),
            CallerIdSignal::Dtmf,
            Law::Alaw,
        );
        assert_eq!(rings(&run(&mut a, None, 100, None)), [(0, true)]);
    }
}
