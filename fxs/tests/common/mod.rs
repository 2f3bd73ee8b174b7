//! The test "phone": drives an [`FxsLine`] like chand's event loop would, answers its hook
//! checks, records every action, and measures what it hears (Goertzel, burst/gap lengths).
#![allow(dead_code)] // each test binary uses a different part of the helper

use std::sync::Arc;

use std::time::{Duration, Instant};

use fxs::{cptone, Action, CompiledPlan, FxsLine, Law, LineConfig, LineEvent, VmwiMode};
use sansio::Core;

/// An action as recorded by the phone (writes keep the index of their first sample in `heard`).
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    PullMedia {
        at_ms: u64,
    },
    Write {
        at_ms: u64,
        sample: usize,
        offhook: bool,
    },
    StopAudio {
        at_ms: u64,
    },
    SetVmwi {
        count: u32,
    },
    CheckHook {
        at_ms: u64,
    },
    SetRpasCadence {
        at_ms: u64,
    },
    RestoreCadence {
        at_ms: u64,
    },
    Ring {
        at_ms: u64,
    },
    RingOff {
        at_ms: u64,
    },
    OnHookTransfer {
        at_ms: u64,
        ms: u32,
    },
    Notice(fxs::Notice),
}

pub struct Phone {
    pub line: FxsLine,
    pub law: Law,
    /// The instant of ms 0.
    pub t0: Instant,
    /// Time since `t0`, ms.
    pub now: u64,
    pub offhook: bool,
    /// Everything written to the line, decoded to linear, in order.
    pub heard: Vec<i16>,
    /// The raw G.711 codes written.
    pub codes: Vec<u8>,
    pub seen: Vec<Seen>,
    /// Add spurious timeouts: one before each due timer (nothing may come out of it) and a
    /// second one at the instant of each due timer.
    pub spurious: bool,
}

impl Phone {
    pub fn new(plan: &str, law: Law, vmwi: VmwiMode) -> Self {
        let plan = Arc::new(CompiledPlan::new(
            &cptone(plan).expect("built-in plan"),
            law,
        ));
        Self::with_plan(plan, vmwi)
    }

    /// A phone on `plan` with MWI on that goes off-hook and listens for `ms` ms: the stutter
    /// tone is in `heard` from its first sample.
    pub fn hearing_stutter(plan: &str, law: Law, ms: u64) -> Self {
        let mut phone = Self::new(plan, law, VmwiMode::None);
        phone.set_mwi(true, 1);
        phone.offhook();
        phone.run_for(ms);
        phone
    }

    pub fn with_plan(plan: Arc<CompiledPlan>, vmwi: VmwiMode) -> Self {
        let law = plan.law();
        let t0 = Instant::now();
        Self {
            line: FxsLine::new(LineConfig { plan, vmwi }, t0),
            law,
            t0,
            now: 0,
            offhook: false,
            heard: Vec::new(),
            codes: Vec::new(),
            seen: Vec::new(),
            spurious: false,
        }
    }

    pub fn event(&mut self, ev: LineEvent) {
        match ev {
            LineEvent::OffHook => self.offhook = true,
            LineEvent::OnHook => self.offhook = false,
            _ => {}
        }
        self.line.handle_event(self.at(self.now), ev);
        self.drain();
    }

    pub fn offhook(&mut self) {
        self.event(LineEvent::OffHook);
    }

    pub fn onhook(&mut self) {
        self.event(LineEvent::OnHook);
    }

    pub fn set_mwi(&mut self, waiting: bool, count: u32) {
        self.line.set_mwi(self.at(self.now), waiting, count);
        self.drain();
    }

    /// The instant `ms` ms after `t0`.
    pub fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// The line's next timeout, ms after `t0`.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.line
            .poll_timeout()
            .map(|t| u64::try_from((t - self.t0).as_millis()).expect("test times fit"))
    }

    /// Hang up, clear MWI, lift again and listen for `ms` ms: what was heard since lifting.
    pub fn hearing_after_mwi_off(&mut self, ms: u64) -> &[i16] {
        self.onhook();
        self.set_mwi(false, 0);
        let from = self.heard.len();
        self.offhook();
        self.run_for(ms);
        &self.heard[from..]
    }

    /// Lift or replace the handset without the line being told (a missed event).
    pub fn silently_set_hook(&mut self, offhook: bool) {
        self.offhook = offhook;
    }

    /// Let `ms` ms pass, serving the line's timers like an event loop.
    pub fn run_for(&mut self, ms: u64) {
        let end = self.now + ms;
        while let Some(t) = self.timeout_ms() {
            if t > end {
                break;
            }
            if self.spurious && t > self.now {
                self.line.handle_timeout(self.at(self.now));
                assert_eq!(
                    self.line.poll_action(),
                    None,
                    "action from an early timeout"
                );
            }
            self.now = self.now.max(t);
            self.line.handle_timeout(self.at(self.now));
            if self.spurious {
                self.line.handle_timeout(self.at(self.now));
            }
            self.drain();
        }
        self.now = end;
    }

    /// Perform every pending action of the line (answering hook checks).
    pub fn drain(&mut self) {
        loop {
            let mut check = false;
            while let Some(a) = self.line.poll_action() {
                let at_ms = self.now;
                let s = match a {
                    Action::Write(b) => {
                        let sample = self.heard.len();
                        self.codes.extend_from_slice(b);
                        self.heard.extend(b.iter().map(|&c| self.law.decode(c)));
                        Seen::Write {
                            at_ms,
                            sample,
                            offhook: self.offhook,
                        }
                    }
                    Action::StopAudio => Seen::StopAudio { at_ms },
                    Action::SetVmwi { count } => Seen::SetVmwi { count },
                    Action::CheckHook => {
                        check = true;
                        Seen::CheckHook { at_ms }
                    }
                    Action::SetRpasCadence => Seen::SetRpasCadence { at_ms },
                    Action::RestoreCadence => Seen::RestoreCadence { at_ms },
                    Action::Ring => Seen::Ring { at_ms },
                    Action::RingOff => Seen::RingOff { at_ms },
                    Action::OnHookTransfer { ms } => Seen::OnHookTransfer { at_ms, ms },
                    Action::Notice(n) => Seen::Notice(n),
                    Action::PullMedia => Seen::PullMedia { at_ms },
                };
                self.seen.push(s);
            }
            if !check {
                return;
            }
            self.line.hook_state(self.at(self.now), self.offhook);
        }
    }

    /// The notices the line gave, in order.
    pub fn notices(&self) -> Vec<&Seen> {
        self.seen
            .iter()
            .filter(|s| matches!(s, Seen::Notice(_)))
            .collect()
    }

    pub fn writes(&self) -> usize {
        self.seen
            .iter()
            .filter(|s| matches!(s, Seen::Write { .. }))
            .count()
    }
}

#[allow(unused_imports)] // each test binary uses a different part of the helper
pub use fxs::measure::{dbm0, goertzel, presence, segments, SPM};

/// Assert `got` is within ±5 ms of `want`.
#[track_caller]
pub fn assert_ms(what: &str, got: usize, want: usize) {
    assert!(
        got.abs_diff(want) <= 5,
        "{what}: measured {got} ms, expected {want} ± 5 ms"
    );
}

/// Assert the tone in `x` has exactly the components `freqs` (each at `level` dBm0 ± 0.5 dB)
/// and none of the other common call-progress frequencies.
#[track_caller]
pub fn assert_freqs(law: Law, x: &[i16], freqs: &[f64], level: f64) {
    const PROBES: [f64; 12] = [
        340.0, 350.0, 380.0, 400.0, 413.0, 420.0, 425.0, 440.0, 450.0, 470.0, 480.0, 620.0,
    ];
    for &f in freqs {
        let l = dbm0(law, goertzel(x, f));
        assert!(
            (l - level).abs() < 0.5,
            "{f} Hz at {l:.2} dBm0, expected {level}"
        );
    }
    // Rectangular-window leakage: only probe at least 5 Goertzel bins away from every component.
    let min_gap = 5.0 * 8000.0 / x.len() as f64;
    let far = |p: &&f64| freqs.iter().all(|f| (*f - **p).abs() >= min_gap);
    for f in PROBES.iter().filter(far) {
        let l = dbm0(law, goertzel(x, *f));
        assert!(
            l < level - 20.0,
            "unexpected {f} Hz at {l:.2} dBm0 (tone {freqs:?})"
        );
    }
}
