//! What a listener measures in G.711 audio written to a port: tone amplitude at a frequency
//! (Goertzel), level in dBm0, and the on/off runs of a cadence. Used by the test phones (this
//! crate's tests and the end-to-end sim phone) to check what a port plays; linear 16-bit
//! samples at 8 kHz in, measurements out.

use crate::law::Law;

/// Samples per ms at 8 kHz.
pub const SPM: usize = 8;

/// Amplitude (peak, 16-bit units) of the `hz` component of `x`, by the Goertzel algorithm
/// (exact for a whole number of cycles in `x`; 0 for an empty `x`).
pub fn goertzel(x: &[i16], hz: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / x.len() as f64
}

/// Level in dBm0 of a sine of peak amplitude `peak` in `law`.
pub fn dbm0(law: Law, peak: f64) -> f64 {
    20.0 * (peak / law.peak_for_dbm0(0.0)).log10()
}

/// On/off runs of `x` in 1 ms frames: (on, start_ms, len_ms). A frame is "on" if its RMS is
/// above -50 dBm0; an "off" run shorter than 3 ms between two "on" runs is the null of a beating
/// two-tone signal (e.g. 413+428 Hz beats at 15 Hz), not a gap (the shortest gap of any plan is 25 ms).
pub fn segments(law: Law, x: &[i16]) -> Vec<(bool, usize, usize)> {
    let threshold = law.peak_for_dbm0(-50.0) / std::f64::consts::SQRT_2;
    let mut out: Vec<(bool, usize, usize)> = Vec::new();
    for (i, frame) in x.chunks(SPM).enumerate() {
        let rms =
            (frame.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / frame.len() as f64).sqrt();
        let on = rms > threshold;
        match out.last_mut() {
            Some((state, _, len)) if *state == on => *len += 1,
            _ => out.push((on, i, 1)),
        }
    }
    let mut merged: Vec<(bool, usize, usize)> = Vec::with_capacity(out.len());
    let mut i = 0;
    while i < out.len() {
        let (on, start, len) = out[i];
        let null = !on && len < 3 && i > 0 && i + 1 < out.len();
        match merged.last_mut() {
            Some(last) if null => {
                // bridge the null and absorb the following "on" run
                last.2 += len + out[i + 1].2;
                i += 2;
                continue;
            }
            _ => merged.push((on, start, len)),
        }
        i += 1;
    }
    merged
}

/// Times (ms) where the `hz` component appears or disappears, from a 20 ms Goertzel window
/// sliding by 1 ms, with `peak` the amplitude expected when present: (present, start_ms, len_ms).
pub fn presence(x: &[i16], hz: f64, peak: f64) -> Vec<(bool, usize, usize)> {
    let win = 160;
    let mut out: Vec<(bool, usize, usize)> = Vec::new();
    let mut start = 0;
    while start + win <= x.len() {
        let on = goertzel(&x[start..start + win], hz) > peak / 2.0;
        // The window's centre is the time this decision stands for.
        let centre_ms = (start + win / 2) / SPM;
        match out.last_mut() {
            Some((state, _, len)) if *state == on => *len += 1,
            _ => out.push((on, centre_ms, 1)),
        }
        start += SPM;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, peak: f64, ms: usize) -> Vec<i16> {
        (0..ms * SPM)
            .map(|n| (peak * (2.0 * std::f64::consts::PI * hz * n as f64 / 8000.0).sin()) as i16)
            .collect()
    }

    #[test]
    fn goertzel_measures_amplitude() {
        let x = tone(440.0, 5000.0, 100);
        assert!((goertzel(&x, 440.0) - 5000.0).abs() < 5.0);
        assert!(goertzel(&x, 350.0) < 5.0);
        assert_eq!(goertzel(&[], 440.0), 0.0);
        assert!((dbm0(Law::Mulaw, Law::Mulaw.peak_for_dbm0(-13.0)) + 13.0).abs() < 1e-9);
    }

    #[test]
    fn segments_and_presence() {
        let mut x = tone(400.0, 5000.0, 100);
        x.extend(vec![0; 50 * SPM]);
        x.extend(tone(400.0, 5000.0, 100));
        assert_eq!(
            segments(Law::Mulaw, &x),
            [(true, 0, 100), (false, 100, 50), (true, 150, 100)]
        );
        let p = presence(&x, 400.0, 5000.0);
        assert_eq!(p.len(), 3);
        assert!(
            p[1].1.abs_diff(100) <= 1 && p[2].1.abs_diff(150) <= 1,
            "{p:?}"
        );
    }
}
