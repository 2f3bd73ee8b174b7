//! In-band DTMF receiver (ITU-T Q.23 frequencies, ITU-T Q.24 receiver limits) for the audio a
//! phone sends on an FXS line: linear 16-bit samples at 8 kHz in, digit begin/end events out.
//! Sans-IO: [`DtmfDetector::handle_audio`] takes the time of the first sample and the samples;
//! [`DtmfDetector::poll_event`] returns what was detected. It keeps no timers.
//!
//! How it decides (figures for 8 kHz):
//! - Two rectangular analysis windows of [`WINDOW`] = 104 samples (13 ms) run staggered by
//!   [`HOP`] = 52 samples, so a window ends every 6.5 ms. 104 samples put the neighbouring row
//!   frequencies (73-89 Hz apart) near the first null of each other's bin, so one tone hardly
//!   leaks into the next row's bin.
//! - Each window's eight Q.23 components come from the Goertzel recursion, as complex values.
//!   The phase turn of a component between two windows one hop apart is the tone's true
//!   frequency × hop: that measures each tone's frequency offset to about 1 Hz, which is what
//!   lets the receiver accept ±1.5 % and reject ±3.5 % (Q.24 Table 1, North American column),
//!   where a power threshold alone cannot (a 3.5 % offset at 697 Hz costs only 1.5 dB).
//! - A window is a candidate digit when: one row and one column stand out by [`PEAK_DB`] over
//!   the others of their group, each is at least [`MIN_DBM0`], the twist is within
//!   [`NORMAL_TWIST_DB`] (column louder) and [`REVERSE_TWIST_DB`] (row louder), both tones
//!   are within [`MAX_OFFSET`] of nominal, and the two tones hold at least [`MIN_TONE_SHARE`]
//!   of the window's energy (speech spreads its energy; this rejects most talk-off).
//! - A digit begins after [`BEGIN_WINDOWS`] consecutive candidate windows of the same digit
//!   (they span 32.5 ms: a 40 ms tone always yields them, a 23 ms one never can) and ends after
//!   [`END_WINDOWS`] windows without it (a 40 ms pause always yields them).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::f32::consts::PI;
use std::time::{Duration, Instant};

use sansio::Core;

use crate::law::Law;

/// Analysis window, in samples (13 ms at 8 kHz).
pub const WINDOW: usize = 104;
/// Stagger of the two windows and the spacing of window ends, in samples (6.5 ms).
pub const HOP: usize = WINDOW / 2;
/// Consecutive candidate windows that begin a digit.
pub const BEGIN_WINDOWS: u32 = 4;
/// Consecutive windows without the digit that end it.
pub const END_WINDOWS: u32 = 4;
/// Lowest level of each tone, in dBm0 (Q.24 must-accept level is -25 dBm0 per tone).
pub const MIN_DBM0: f32 = -30.0;
/// Largest column-over-row level difference, in dB (Q.24: 8 dB must be accepted).
pub const NORMAL_TWIST_DB: f32 = 8.5;
/// Largest row-over-column level difference, in dB (Q.24: 4 dB must be accepted).
pub const REVERSE_TWIST_DB: f32 = 4.5;
/// How far each tone's frequency may be off nominal, as a fraction: halfway between Q.24's
/// must-accept 1.5 % and must-reject 3.5 %.
pub const MAX_OFFSET: f32 = 0.025;
/// By how much the strongest tone of a group must exceed the others of its group, in dB.
pub const PEAK_DB: f32 = 6.0;
/// Share of the window's energy the two tones must hold.
pub const MIN_TONE_SHARE: f32 = 0.7;

/// Sampling rate, in Hz.
const RATE: f32 = 8000.0;

/// Q.23 row (low group) and column (high group) frequencies, in Hz.
const FREQS: [f32; 8] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];

/// The digit of row `r` and column `c` (Q.23 Figure 1).
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The Q.23 frequencies of `digit` (`0-9 * # A-D`), in Hz: (row, column); `None` for any
/// other character.
pub fn frequencies(digit: char) -> Option<(u16, u16)> {
    KEYPAD.iter().enumerate().find_map(|(r, row)| {
        let c = row.iter().position(|&d| d == digit)?;
        // The Q.23 frequencies are whole numbers of Hz.
        Some((FREQS[r] as u16, FREQS[4 + c] as u16))
    })
}

/// What the receiver reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtmfEvent {
    /// A digit (`0`-`9`, `*`, `#`, `A`-`D`) began at `at` (the start of its first candidate
    /// window); reported 32.5 ms after that.
    Begin {
        /// The digit.
        digit: char,
        /// When its tone began, within one hop (6.5 ms).
        at: Instant,
    },
    /// The digit ended at `at` (the end of its last candidate window).
    End {
        /// The digit.
        digit: char,
        /// When its tone ended, within one hop.
        at: Instant,
        /// From its begin to its end.
        duration: Duration,
    },
}

/// One window's Goertzel state for the eight frequencies, plus its energy.
#[derive(Clone, Copy, Default)]
struct Accumulator {
    s1: [f32; 8],
    s2: [f32; 8],
    energy: f32,
    len: usize,
    /// Samples still to pass by before this window starts (the stagger of the second one).
    skip: usize,
}

/// A finished window: the complex component of each frequency (referred to the window's first
/// sample) and the window's energy.
#[derive(Clone, Copy, Default)]
struct Spectrum {
    re: [f32; 8],
    im: [f32; 8],
    energy: f32,
}

/// The constants of one Q.23 frequency ω (radians per sample).
#[derive(Clone, Copy, Default)]
struct Bin {
    /// Goertzel's 2·cos ω.
    coeff: f32,
    /// e^{-jω}, conjugated: (cos ω, sin ω).
    cos: f32,
    sin: f32,
    /// e^{-jω(N-1)}: turns Goertzel's last output into the window's DFT value.
    back: (f32, f32),
    /// ω × [`HOP`], wrapped: the phase turn of a nominal tone over one hop.
    hop_turn: f32,
}

/// The receiver's digit state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No digit; `run` consecutive candidate windows of `candidate` so far.
    Idle {
        candidate: Option<char>,
        run: u32,
        first: u64,
    },
    /// `digit` is on since sample `begin`; `misses` windows without it so far.
    On {
        digit: char,
        begin: u64,
        last: u64,
        misses: u32,
    },
}

/// The DTMF receiver of one line. 16 + 16 floats of state per window; cost per sample: two
/// Goertzel steps for each of the eight frequencies.
pub struct DtmfDetector {
    bins: [Bin; 8],
    /// Power of a tone at `MIN_DBM0` as this law's linear samples carry it, windowed.
    min_power: f32,
    windows: [Accumulator; 2],
    previous: Option<Spectrum>,
    /// Samples seen, to place events in time.
    samples: u64,
    /// The instant of sample 0.
    origin: Option<Instant>,
    state: State,
    events: VecDeque<DtmfEvent>,
}

impl DtmfDetector {
    /// A receiver for linear samples decoded from `law` (the law sets the dBm0 scale: G.711 §4).
    pub fn new(law: Law) -> Self {
        let bins = FREQS.map(|f| {
            let w = 2.0 * PI * f / RATE;
            let (sin, cos) = w.sin_cos();
            let (bs, bc) = (-w * (WINDOW - 1) as f32).sin_cos();
            Bin {
                coeff: 2.0 * cos,
                cos,
                sin,
                back: (bc, bs),
                hop_turn: wrap(w * HOP as f32),
            }
        });
        let amplitude = law.peak_for_dbm0(f64::from(MIN_DBM0)) as f32;
        let half = amplitude * WINDOW as f32 / 2.0;
        Self {
            bins,
            min_power: half * half,
            windows: [
                Accumulator::default(),
                Accumulator {
                    skip: HOP,
                    ..Accumulator::default()
                },
            ],
            previous: None,
            samples: 0,
            origin: None,
            state: State::Idle {
                candidate: None,
                run: 0,
                first: 0,
            },
            events: VecDeque::new(),
        }
    }

    /// Feeds `samples` (8 kHz, linear 16-bit) whose first sample was taken at `now`. Samples are
    /// taken as contiguous with the previous call's; `now` of the first call anchors event times.
    pub fn handle_audio(&mut self, now: Instant, samples: &[i16]) {
        let origin = *self.origin.get_or_insert(now);
        for &x in samples {
            let x = f32::from(x);
            for w in &mut self.windows {
                if w.skip > 0 {
                    w.skip -= 1;
                    continue;
                }
                w.energy += x * x;
                for (i, b) in self.bins.iter().enumerate() {
                    let s0 = x + b.coeff * w.s1[i] - w.s2[i];
                    w.s2[i] = w.s1[i];
                    w.s1[i] = s0;
                }
                w.len += 1;
            }
            self.samples += 1;
            for k in 0..2 {
                if self.windows[k].len == WINDOW {
                    let spectrum = self.finish(k);
                    self.window(spectrum, origin);
                }
            }
        }
    }

    /// Turns window `k`'s accumulator into its spectrum and restarts it.
    fn finish(&mut self, k: usize) -> Spectrum {
        let w = self.windows[k];
        let mut out = Spectrum {
            energy: w.energy,
            ..Spectrum::default()
        };
        // Goertzel's last output y = s1 - e^{-jω} s2 equals e^{jω(N-1)} X(ω); rotate it back so
        // X refers to the window's first sample.
        for (i, b) in self.bins.iter().enumerate() {
            let y = (w.s1[i] - b.cos * w.s2[i], b.sin * w.s2[i]);
            (out.re[i], out.im[i]) = mul(y, b.back);
        }
        self.windows[k] = Accumulator::default();
        out
    }

    /// Runs the decision and the digit state machine on the window that just ended.
    fn window(&mut self, now: Spectrum, origin: Instant) {
        let candidate = self.previous.and_then(|prev| self.candidate(&prev, &now));
        self.previous = Some(now);
        let end = self.samples;
        let start = end.saturating_sub(WINDOW as u64);
        let at = |sample: u64| origin + Duration::from_micros(sample * 125);
        self.state = match self.state {
            State::Idle {
                candidate: c,
                run,
                first,
            } => match candidate {
                Some(d) if c == Some(d) && run + 1 >= BEGIN_WINDOWS => {
                    self.events.push_back(DtmfEvent::Begin {
                        digit: d,
                        at: at(first),
                    });
                    State::On {
                        digit: d,
                        begin: first,
                        last: end,
                        misses: 0,
                    }
                }
                Some(d) if c == Some(d) => State::Idle {
                    candidate: c,
                    run: run + 1,
                    first,
                },
                other => State::Idle {
                    candidate: other,
                    run: u32::from(other.is_some()),
                    first: start,
                },
            },
            State::On {
                digit,
                begin,
                last,
                misses,
            } => {
                if candidate == Some(digit) {
                    State::On {
                        digit,
                        begin,
                        last: end,
                        misses: 0,
                    }
                } else if misses + 1 >= END_WINDOWS {
                    self.events.push_back(DtmfEvent::End {
                        digit,
                        at: at(last),
                        duration: Duration::from_micros((last - begin) * 125),
                    });
                    State::Idle {
                        candidate: None,
                        run: 0,
                        first: 0,
                    }
                } else {
                    State::On {
                        digit,
                        begin,
                        last,
                        misses: misses + 1,
                    }
                }
            }
        };
    }

    /// The digit window `now` shows, given the window one hop before it (`prev`), if every
    /// check of the module doc passes.
    fn candidate(&self, prev: &Spectrum, now: &Spectrum) -> Option<char> {
        let power: [f32; 8] = std::array::from_fn(|i| now.re[i].powi(2) + now.im[i].powi(2));
        let row = strongest(&power[..4])?;
        let col = strongest(&power[4..])? + 4;
        // Each tone leaks into the other's bin through the window's sidelobes (941 and 1209 Hz
        // are 3.5 bins apart: -21 dB, enough to move a tone 8 dB weaker by ±2 dB). Measure the
        // frequencies, take each tone's leakage out of the other's bin, then measure again.
        let raw = (self.offset(row, prev, now), self.offset(col, prev, now));
        let (prev, now) = (unmix(prev, row, col, raw), unmix(now, row, col, raw));
        let (row_off, col_off) = (self.offset(row, &prev, &now), self.offset(col, &prev, &now));
        if row_off.abs() > MAX_OFFSET * FREQS[row] || col_off.abs() > MAX_OFFSET * FREQS[col] {
            return None;
        }
        // A tone off its bin by Δf loses sinc²(Δf·N/fs) of its power; undo that so levels,
        // twist and energy share do not depend on the offset.
        let row_p = now.power(row) / leakage(row_off);
        let col_p = now.power(col) / leakage(col_off);
        if row_p < self.min_power || col_p < self.min_power {
            return None;
        }
        let twist = 10.0 * (col_p / row_p).log10();
        if twist > NORMAL_TWIST_DB || -twist > REVERSE_TWIST_DB {
            return None;
        }
        // A sine of amplitude A gives |X|² = (A·N/2)² and energy A²·N/2: |X|²·2/N is its energy.
        let share = (row_p + col_p) * 2.0 / WINDOW as f32 / now.energy.max(f32::MIN_POSITIVE);
        if share < MIN_TONE_SHARE {
            return None;
        }
        Some(KEYPAD[row][col - 4])
    }

    /// Offset in Hz of the tone in bin `i` from its nominal frequency: its phase turn from
    /// `prev` to `now` (one hop) less the nominal turn.
    fn offset(&self, i: usize, prev: &Spectrum, now: &Spectrum) -> f32 {
        let turn = (now.im[i] * prev.re[i] - now.re[i] * prev.im[i])
            .atan2(now.re[i] * prev.re[i] + now.im[i] * prev.im[i]);
        wrap(turn - self.bins[i].hop_turn) * RATE / (2.0 * PI * HOP as f32)
    }
}

/// Audio in ([`DtmfDetector::handle_audio`]), digits out ([`Core::poll_event`]). The receiver
/// keeps no timer (event times come from the sample count) and sends nothing.
impl Core for DtmfDetector {
    type Transmit = Infallible;
    type Event = DtmfEvent;

    /// No timer runs: nothing to do.
    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self) -> Option<Infallible> {
        None
    }

    /// The next event, oldest first.
    fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

impl Spectrum {
    fn power(&self, i: usize) -> f32 {
        self.re[i].powi(2) + self.im[i].powi(2)
    }
}

/// `s` with the leakage of the tone of bin `a` (offset `offsets.0` Hz) taken out of bin `b`
/// and that of bin `b`'s tone (offset `offsets.1`) out of bin `a`. A tone e^{jωn} gives bin k
/// the window sum L(ω, ω_k) = e^{jd(N-1)/2}·sin(Nd/2)/sin(d/2), d = ω - ω_k; so what it puts in
/// bin k is its own bin's value × L(ω, ω_k) / L(ω, ω_own).
fn unmix(s: &Spectrum, a: usize, b: usize, offsets: (f32, f32)) -> Spectrum {
    let mut out = *s;
    for (from, to, off) in [(a, b, offsets.0), (b, a, offsets.1)] {
        let w = 2.0 * PI * (FREQS[from] + off) / RATE;
        let own = window_sum(w - 2.0 * PI * FREQS[from] / RATE);
        let other = window_sum(w - 2.0 * PI * FREQS[to] / RATE);
        let ratio = div(other, own);
        let leak = mul((s.re[from], s.im[from]), ratio);
        out.re[to] -= leak.0;
        out.im[to] -= leak.1;
    }
    out
}

/// L(d) = Σ_{n<N} e^{jdn} for the rectangular window of [`WINDOW`] samples.
fn window_sum(d: f32) -> (f32, f32) {
    let n = WINDOW as f32;
    let half = (d / 2.0).sin();
    let magnitude = if half.abs() < 1e-6 {
        n
    } else {
        (n * d / 2.0).sin() / half
    };
    let (s, c) = (d * (n - 1.0) / 2.0).sin_cos();
    (magnitude * c, magnitude * s)
}

fn mul(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

fn div(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    let m = (b.0 * b.0 + b.1 * b.1).max(f32::MIN_POSITIVE);
    ((a.0 * b.0 + a.1 * b.1) / m, (a.1 * b.0 - a.0 * b.1) / m)
}

/// The strongest entry of `group`, if it exceeds every other by [`PEAK_DB`].
fn strongest(group: &[f32]) -> Option<usize> {
    let (best, &p) = group.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let limit = p / 10f32.powf(PEAK_DB / 10.0);
    group
        .iter()
        .enumerate()
        .all(|(i, &q)| i == best || q <= limit)
        .then_some(best)
}

/// Power kept by a rectangular window of [`WINDOW`] samples for a tone `hz` off its bin.
fn leakage(hz: f32) -> f32 {
    let x = PI * hz * WINDOW as f32 / RATE;
    if x.abs() < 1e-4 {
        1.0
    } else {
        (x.sin() / x).powi(2)
    }
}

/// `a` wrapped into (-π, π].
fn wrap(a: f32) -> f32 {
    let t = a.rem_euclid(2.0 * PI);
    if t > PI {
        t - 2.0 * PI
    } else {
        t
    }
}
