//! The DTMF receiver against the ITU-T Q.24 receiver limits (North American column): every
//! digit at the level, frequency, twist, duration and pause limits, through G.711 as a line
//! carries it; and the talk-off run over synthesized speech (espeak-ng), which must yield no
//! digit at all.

use std::process::Command;
use std::time::{Duration, Instant};

use fxs::dtmf::{DtmfDetector, DtmfEvent};
use fxs::Law;
use sansio::Core;

const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const DIGITS: [&str; 4] = ["123A", "456B", "789C", "*0#D"];

/// One tone burst of a test signal.
#[derive(Clone, Copy)]
struct Burst {
    row: usize,
    col: usize,
    /// Level of the row tone and of the column tone, dBm0.
    row_dbm0: f64,
    col_dbm0: f64,
    /// Relative frequency offset of each tone (0.015 = +1.5 %).
    row_off: f64,
    col_off: f64,
    ms: usize,
}

impl Burst {
    fn new(row: usize, col: usize) -> Self {
        Self {
            row,
            col,
            row_dbm0: -10.0,
            col_dbm0: -10.0,
            row_off: 0.0,
            col_off: 0.0,
            ms: 60,
        }
    }

    fn digit(&self) -> char {
        DIGITS[self.row].as_bytes()[self.col] as char
    }
}

/// Silence of `lead` samples, then each burst followed by `pause_ms` of silence, µ-law encoded
/// and decoded as the line would carry it.
fn signal(law: Law, lead: usize, bursts: &[Burst], pause_ms: usize) -> Vec<i16> {
    let mut x = vec![0i16; lead];
    for b in bursts {
        let fr = ROWS[b.row] * (1.0 + b.row_off);
        let fc = COLS[b.col] * (1.0 + b.col_off);
        let (ar, ac) = (law.peak_for_dbm0(b.row_dbm0), law.peak_for_dbm0(b.col_dbm0));
        for n in 0..b.ms * 8 {
            let t = n as f64 / 8000.0;
            let v = ar * (2.0 * std::f64::consts::PI * fr * t).sin()
                + ac * (2.0 * std::f64::consts::PI * fc * t + 1.0).sin();
            x.push(law.decode(law.encode(v.round().clamp(-32768.0, 32767.0) as i16)));
        }
        x.resize(x.len() + pause_ms * 8, law.decode(law.silence()));
    }
    x
}

/// The digits the receiver reports for `x`, fed in 20 ms blocks, with their durations in ms.
fn detect(law: Law, x: &[i16]) -> Vec<(char, u64)> {
    let mut d = DtmfDetector::new(law);
    let t0 = Instant::now();
    let mut begun = Vec::new();
    let mut out = Vec::new();
    for (i, block) in x.chunks(160).enumerate() {
        d.handle_audio(t0 + Duration::from_millis(20 * i as u64), block);
        while let Some(ev) = d.poll_event() {
            match ev {
                DtmfEvent::Begin { digit, .. } => begun.push(digit),
                DtmfEvent::End {
                    digit, duration, ..
                } => out.push((digit, duration.as_millis() as u64)),
            }
        }
    }
    assert_eq!(
        begun,
        out.iter().map(|d| d.0).collect::<Vec<_>>(),
        "every begin has its end"
    );
    out
}

fn digits(law: Law, bursts: &[Burst], pause_ms: usize) -> String {
    // Several alignments of the tone against the analysis windows.
    let mut seen = None;
    for lead in [0, 17, 52, 91] {
        let got: String = detect(law, &signal(law, lead, bursts, pause_ms))
            .iter()
            .map(|d| d.0)
            .collect();
        match &seen {
            None => seen = Some(got),
            Some(s) => assert_eq!(s, &got, "result depends on alignment (lead {lead})"),
        }
    }
    seen.unwrap_or_default()
}

fn every_digit(mut f: impl FnMut(Burst)) {
    for row in 0..4 {
        for col in 0..4 {
            f(Burst::new(row, col));
        }
    }
}

/// Asserts that burst `b` alone is detected as its digit (`accept`) or not at all.
fn check(law: Law, b: Burst, accept: bool, what: &str) {
    let want = if accept {
        b.digit().to_string()
    } else {
        String::new()
    };
    let verdict = if accept { "accepted" } else { "rejected" };
    assert_eq!(
        digits(law, &[b], 100),
        want,
        "{} {what} must be {verdict}",
        b.digit()
    );
}

#[test]
fn every_digit_at_every_level_in_both_laws() {
    for law in [Law::Mulaw, Law::Alaw] {
        every_digit(|b| {
            for level in [-25.0, -10.0, 0.0] {
                let b = Burst {
                    row_dbm0: level,
                    col_dbm0: level,
                    ..b
                };
                check(law, b, true, &format!("{law} at {level} dBm0"));
            }
        });
    }
}

#[test]
fn accepts_within_1_5_percent_and_rejects_beyond_3_5_percent() {
    every_digit(|b| {
        for (r, c) in [
            (0.015, 0.015),
            (-0.015, -0.015),
            (0.015, -0.015),
            (-0.015, 0.015),
        ] {
            let b = Burst {
                row_off: r,
                col_off: c,
                ..b
            };
            check(Law::Mulaw, b, true, &format!("with offsets {r}/{c}"));
        }
        for (r, c) in [(0.035, 0.0), (-0.035, 0.0), (0.0, 0.035), (0.0, -0.035)] {
            let b = Burst {
                row_off: r,
                col_off: c,
                ..b
            };
            check(Law::Mulaw, b, false, &format!("with offsets {r}/{c}"));
        }
    });
}

#[test]
fn accepts_8_db_normal_and_4_db_reverse_twist() {
    every_digit(|b| {
        for (row, col) in [(-18.0, -10.0), (-10.0, -14.0), (-25.0, -17.0)] {
            let b = Burst {
                row_dbm0: row,
                col_dbm0: col,
                ..b
            };
            check(Law::Mulaw, b, true, &format!("row {row} col {col} dBm0"));
        }
        for (row, col) in [(-22.0, -10.0), (-10.0, -18.0)] {
            let b = Burst {
                row_dbm0: row,
                col_dbm0: col,
                ..b
            };
            check(Law::Mulaw, b, false, &format!("row {row} col {col} dBm0"));
        }
    });
}

#[test]
fn accepts_40_ms_tones_and_rejects_23_ms_tones() {
    every_digit(|b| {
        let long = Burst { ms: 40, ..b };
        assert_eq!(digits(Law::Mulaw, &[long], 100), b.digit().to_string());
        for ms in [10, 20, 23] {
            let short = Burst { ms, ..b };
            check(Law::Mulaw, short, false, &format!("for {ms} ms"));
        }
    });
}

#[test]
fn a_40_ms_pause_separates_two_equal_digits_and_durations_are_measured() {
    every_digit(|b| {
        let b = Burst { ms: 40, ..b };
        let d = b.digit().to_string();
        assert_eq!(digits(Law::Mulaw, &[b, b], 40), format!("{d}{d}"));
    });
    let got = detect(Law::Mulaw, &signal(Law::Mulaw, 0, &[Burst::new(1, 1)], 100));
    let (digit, ms) = got[0];
    assert_eq!(digit, '5');
    assert!((50..=70).contains(&ms), "60 ms tone measured as {ms} ms");
}

#[test]
fn a_dialled_number_in_any_chunking() {
    let bursts: Vec<Burst> = "*98#0123456789ABCD"
        .chars()
        .map(|c| {
            let row = DIGITS.iter().position(|r| r.contains(c)).expect("digit");
            let col = DIGITS[row].find(c).expect("digit");
            Burst {
                ms: 50,
                ..Burst::new(row, col)
            }
        })
        .collect();
    let x = signal(Law::Alaw, 33, &bursts, 50);
    for chunk in [1, 7, 160, 4000] {
        let mut d = DtmfDetector::new(Law::Alaw);
        let t0 = Instant::now();
        let mut got = String::new();
        for (i, c) in x.chunks(chunk).enumerate() {
            d.handle_audio(t0 + Duration::from_micros((i * chunk) as u64 * 125), c);
            while let Some(ev) = d.poll_event() {
                if let DtmfEvent::Begin { digit, .. } = ev {
                    got.push(digit);
                }
            }
        }
        assert_eq!(got, "*98#0123456789ABCD", "chunks of {chunk} samples");
    }
}

/// Speech synthesized by espeak-ng (several voices and speeds), resampled to 8 kHz by sox and
/// carried through G.711: the receiver must report no digit (talk-off). Fails loudly when
/// espeak-ng or sox is missing (scripts/install-deps installs them).
#[test]
fn talk_off_synthesized_speech_yields_no_digit() {
    let text = "Hello, you have three new messages and two saved messages. \
        To listen to your messages press one. Main menu. Please enter your password \
        followed by the pound key. The number you have dialled is not in service. \
        Nine eight seven six five four three two one zero. Star, hash, oh, nought. \
        The quick brown fox jumps over the lazy dog while the music plays on the radio. \
        Peter Piper picked a peck of pickled peppers, she sells sea shells by the sea shore.";
    let dir = tempfile::tempdir().expect("tempdir");
    let mut total = 0usize;
    for (voice, speed, pitch) in [
        ("en-us", "160", "50"),
        ("en-gb", "140", "30"),
        ("en-us+f3", "175", "70"),
        ("en-gb-scotland", "150", "60"),
        ("de", "150", "40"),
        ("fr", "160", "55"),
        ("en-us+m3", "120", "20"),
        ("en-us+f5", "190", "90"),
    ] {
        let wav = dir.path().join(format!("{voice}.wav"));
        let raw = dir.path().join(format!("{voice}.raw"));
        let ok = Command::new("espeak-ng")
            .args(["-v", voice, "-s", speed, "-p", pitch, "-w"])
            .arg(&wav)
            .arg(text)
            .status()
            .expect("espeak-ng missing: install the Debian package espeak-ng")
            .success();
        assert!(ok, "espeak-ng -v {voice} failed");
        let ok = Command::new("sox")
            .arg(&wav)
            .args([
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                "-t",
                "raw",
            ])
            .arg(&raw)
            .args(["norm", "-3"])
            .status()
            .expect("sox missing: install the Debian package sox")
            .success();
        assert!(ok, "sox failed for {voice}");
        let bytes = std::fs::read(&raw).expect("raw speech");
        let x: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| {
                let v = i16::from_le_bytes([b[0], b[1]]);
                Law::Mulaw.decode(Law::Mulaw.encode(v))
            })
            .collect();
        total += x.len();
        let got = detect(Law::Mulaw, &x);
        assert!(got.is_empty(), "talk-off with voice {voice}: {got:?}");
    }
    let secs = total as f64 / 8000.0;
    assert!(secs > 60.0, "only {secs:.0} s of speech");
    println!("talk-off: {secs:.0} s of speech, 0 digits");
}
