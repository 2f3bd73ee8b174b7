//! Packet-loss concealment for G.711 after ITU-T G.711 Appendix I: a lost 20 ms frame is
//! filled by repeating the last pitch period of what was heard, so speech keeps its voice
//! instead of clicking into silence.
//!
//! The Appendix I figures used here:
//! - output delayed by [`DELAY`] = 30 samples (3.75 ms), so the last quarter pitch period
//!   before a loss can still be blended into the repeated period (an overlap-add with
//!   triangular windows);
//! - history [`HISTORY`] = 390 samples (48.75 ms, 3.25 × the longest pitch period);
//! - pitch period searched from 40 to 120 samples (5 to 15 ms, 66.7 to 200 Hz) by the peak of
//!   the normalised cross-correlation of the last 20 ms with the history;
//! - one period repeated for the first 10 ms of a loss, two from 10 ms, three from 20 ms
//!   (longer losses would otherwise buzz), each change blended over a quarter period;
//! - from 10 ms on the signal fades by 20 % per 10 ms: silent after 60 ms;
//! - the first good frame after a loss is blended with the continued synthetic signal over
//!   4 ms, plus 4 ms per further 10 ms of loss, at most 10 ms.
//!
//! G.711 passes through untouched: frames are kept in their law and only decoded to build the
//! concealment; a received frame's octets come out unchanged, [`DELAY`] samples later.

use fxs::Law;

use crate::FRAME;

/// Output delay, in samples.
pub const DELAY: usize = 30;
/// Samples of history kept.
pub const HISTORY: usize = 390;
/// Shortest and longest pitch period searched, in samples.
pub const PITCH_MIN: usize = 40;
/// See [`PITCH_MIN`].
pub const PITCH_MAX: usize = 120;
/// Length of the correlation window of the pitch search, in samples (20 ms).
const CORRELATION: usize = 160;
/// Samples per 10 ms.
const TEN_MS: usize = 80;
/// Concealment fades to silence after this many samples (60 ms).
const FADE_END: usize = 6 * TEN_MS;

/// The concealer of one receive direction.
pub struct Concealer {
    law: Law,
    /// The last [`HISTORY`] octets received or synthesized, oldest first; the last [`DELAY`]
    /// of them are not yet played.
    history: Vec<u8>,
    /// The loss in progress, if any.
    loss: Option<Loss>,
}

/// State of one loss: the pitch buffer it repeats from and how far it has got.
struct Loss {
    /// Decoded history at the start of the loss, its last quarter period blended.
    buffer: Vec<f32>,
    pitch: usize,
    /// Periods repeated now (1, 2 or 3).
    periods: usize,
    /// Position within the repeated periods.
    pos: usize,
    /// Samples concealed so far.
    erased: usize,
}

impl Concealer {
    /// A concealer for frames in `law`, starting from silence.
    pub fn new(law: Law) -> Self {
        Self {
            law,
            history: vec![law.silence(); HISTORY],
            loss: None,
        }
    }

    /// A received frame: returns the frame to play now ([`DELAY`] samples late). After a
    /// loss, its start is blended with the synthetic signal.
    pub fn good(&mut self, frame: &[u8; FRAME]) -> [u8; FRAME] {
        let mut frame = *frame;
        if let Some(mut loss) = self.loss.take() {
            let extra = loss.erased.saturating_sub(TEN_MS) / TEN_MS;
            let len = (32 + 32 * extra).min(TEN_MS);
            for (i, octet) in frame.iter_mut().take(len).enumerate() {
                let w = (i + 1) as f32 / (len + 1) as f32;
                let good = f32::from(self.law.decode(*octet));
                let synth = loss.next();
                *octet = self.encode(synth * (1.0 - w) + good * w);
            }
        }
        self.push(&frame)
    }

    /// A lost frame: returns the frame to play now, made from the repeated pitch period.
    pub fn lost(&mut self) -> [u8; FRAME] {
        let law = self.law;
        let loss = match &mut self.loss {
            Some(l) => l,
            None => {
                let (loss, blended) = Loss::start(law, &self.history);
                // The blended last quarter period is still in the delay line: play it.
                let start = HISTORY - blended.len();
                for (h, v) in self.history[start..].iter_mut().zip(&blended) {
                    *h = law.encode(clamp(*v));
                }
                self.loss.insert(loss)
            }
        };
        let mut frame = [0u8; FRAME];
        for octet in &mut frame {
            let v = loss.next();
            *octet = law.encode(clamp(v));
        }
        self.push(&frame)
    }

    /// Appends `frame` to the history and returns the [`FRAME`] samples now due to play.
    fn push(&mut self, frame: &[u8; FRAME]) -> [u8; FRAME] {
        let mut out = [0u8; FRAME];
        let start = HISTORY - DELAY;
        out[..DELAY].copy_from_slice(&self.history[start..]);
        out[DELAY..].copy_from_slice(&frame[..FRAME - DELAY]);
        self.history.copy_within(FRAME.., 0);
        self.history[HISTORY - FRAME..].copy_from_slice(frame);
        out
    }

    fn encode(&self, v: f32) -> u8 {
        self.law.encode(clamp(v))
    }
}

impl Loss {
    /// Starts a loss from the history: finds the pitch and blends the last quarter period of
    /// the history into the period before it. Returns the loss and the blended samples that
    /// replace the end of the history.
    fn start(law: Law, history: &[u8]) -> (Self, Vec<f32>) {
        let mut buffer: Vec<f32> = history.iter().map(|&c| f32::from(law.decode(c))).collect();
        let pitch = pitch(&buffer);
        let quarter = pitch / 4;
        let n = buffer.len();
        for i in 0..quarter {
            let w = (i + 1) as f32 / (quarter + 1) as f32;
            let earlier = buffer[n - pitch - quarter + i];
            buffer[n - quarter + i] = buffer[n - quarter + i] * (1.0 - w) + earlier * w;
        }
        let blended = buffer[n - quarter..].to_vec();
        let loss = Self {
            buffer,
            pitch,
            periods: 1,
            pos: 0,
            erased: 0,
        };
        (loss, blended)
    }

    /// The next synthetic sample, faded and with the period count raised at 10 and 20 ms.
    fn next(&mut self) -> f32 {
        if self.erased == TEN_MS || self.erased == 2 * TEN_MS {
            self.periods += 1;
        }
        let v = self.sample();
        let gain = if self.erased < TEN_MS {
            1.0
        } else {
            (1.0 - 0.2 * (self.erased - TEN_MS) as f32 / TEN_MS as f32).max(0.0)
        };
        self.erased += 1;
        if self.erased >= FADE_END {
            return 0.0;
        }
        v * gain
    }

    /// The repeated signal at the current position; right after the period count changed, a
    /// quarter period blends the old cycle into the new one.
    fn sample(&mut self) -> f32 {
        let n = self.buffer.len();
        let at = |periods: usize, pos: usize| {
            let span = periods * self.pitch;
            self.buffer[n - span + pos % span]
        };
        let v = at(self.periods, self.pos);
        let since = self.erased.checked_sub(TEN_MS * (self.periods - 1));
        let quarter = self.pitch / 4;
        let v = match since {
            Some(k) if self.periods > 1 && k < quarter => {
                let w = (k + 1) as f32 / (quarter + 1) as f32;
                at(self.periods - 1, self.pos) * (1.0 - w) + v * w
            }
            _ => v,
        };
        self.pos += 1;
        v
    }
}

/// The pitch period of the end of `x`: the lag from [`PITCH_MIN`] to [`PITCH_MAX`] whose
/// normalised cross-correlation of the last [`CORRELATION`] samples with the samples that
/// lag earlier is highest.
fn pitch(x: &[f32]) -> usize {
    let n = x.len();
    let recent = &x[n - CORRELATION..];
    let mut best = (PITCH_MAX, f32::MIN);
    for lag in PITCH_MIN..=PITCH_MAX {
        let earlier = &x[n - CORRELATION - lag..n - lag];
        let (mut c, mut e) = (0.0f32, 0.0f32);
        for (a, b) in recent.iter().zip(earlier) {
            c += a * b;
            e += b * b;
        }
        let score = if e > 0.0 { c / e.sqrt() } else { 0.0 };
        if score > best.1 {
            best = (lag, score);
        }
    }
    best.0
}

fn clamp(v: f32) -> i16 {
    v.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(law: Law, hz: f32, from: usize) -> [u8; FRAME] {
        std::array::from_fn(|i| {
            let t = (from + i) as f32 / 8000.0;
            law.encode((8000.0 * (2.0 * std::f32::consts::PI * hz * t).sin()) as i16)
        })
    }

    #[test]
    fn received_frames_pass_unchanged_delay_samples_late() {
        let law = Law::Alaw;
        let mut c = Concealer::new(law);
        let a = sine(law, 300.0, 0);
        let b = sine(law, 300.0, FRAME);
        let out_a = c.good(&a);
        let out_b = c.good(&b);
        assert!(out_a[..DELAY].iter().all(|&o| o == law.silence()));
        assert_eq!(out_a[DELAY..], a[..FRAME - DELAY]);
        assert_eq!(out_b[..DELAY], a[FRAME - DELAY..]);
        assert_eq!(out_b[DELAY..], b[..FRAME - DELAY]);
    }

    #[test]
    fn finds_the_pitch_of_a_voiced_signal() {
        // 100 Hz: 80 samples per period.
        let x: Vec<f32> = (0..HISTORY)
            .map(|i| {
                let t = i as f32 / 8000.0;
                (2.0 * std::f32::consts::PI * 100.0 * t).sin()
                    + 0.5 * (2.0 * std::f32::consts::PI * 300.0 * t).sin()
            })
            .collect();
        assert_eq!(pitch(&x), 80);
    }

    #[test]
    fn a_lost_frame_continues_the_tone_then_fades_to_silence() {
        let law = Law::Mulaw;
        let mut c = Concealer::new(law);
        for k in 0..4 {
            c.good(&sine(law, 200.0, k * FRAME));
        }
        // The first concealed frame carries on at the tone's level.
        let f = c.lost();
        let rms = |f: &[u8]| {
            (f.iter()
                .map(|&o| f32::from(law.decode(o)).powi(2))
                .sum::<f32>()
                / f.len() as f32)
                .sqrt()
        };
        let level = rms(&f[DELAY..]);
        assert!(level > 4500.0 && level < 6500.0, "rms {level}");
        // And its waveform continues the sine (a 40-sample period fits the search).
        let expected = sine(law, 200.0, 4 * FRAME);
        let err: f32 = f[DELAY..]
            .iter()
            .zip(&expected[..FRAME - DELAY])
            .map(|(&a, &b)| (f32::from(law.decode(a)) - f32::from(law.decode(b))).abs())
            .sum::<f32>()
            / (FRAME - DELAY) as f32;
        assert!(err < 400.0, "mean error {err}");
        // Silent after 60 ms of loss.
        for _ in 0..3 {
            c.lost();
        }
        let f = c.lost();
        assert!(rms(&f[DELAY..]) < 1.0);
    }

    #[test]
    fn recovery_blends_into_the_good_frame() {
        let law = Law::Mulaw;
        let mut c = Concealer::new(law);
        for k in 0..4 {
            c.good(&sine(law, 250.0, k * FRAME));
        }
        c.lost();
        let good = sine(law, 250.0, 5 * FRAME);
        let out = c.good(&good);
        // 20 ms lost: an 8 ms blend (4 ms + 4 ms for the second 10 ms); past it, the good
        // frame's octets are unchanged.
        assert_ne!(out[DELAY..DELAY + 64], good[..64]);
        assert_eq!(out[DELAY + 64..], good[64..FRAME - DELAY]);
    }
}
