//! What a sim phone hears: G.711 audio blocks from chand recorded as linear samples, then
//! measured with the fxs crate's listener ([`fxs::measure`]): levels of frequencies by
//! Goertzel, on/off runs in 1 ms frames, and from them the burst pattern (bursts, gaps, steady
//! tone) of a dial tone.

use std::io;
use std::time::{Duration, Instant};

use chand::backend::sim::peer::{Phone, ToPhone};
use fxs::measure::{self, SPM};
use fxs::Law;

/// Call-progress frequencies probed when asking which tones are present (Hz).
pub const PROBES: [f64; 12] = [
    340.0, 350.0, 380.0, 400.0, 413.0, 420.0, 425.0, 440.0, 450.0, 470.0, 480.0, 620.0,
];

/// A component is "present" above this level (dBm0); every plan plays at -13 or -10 dBm0.
pub const PRESENT_DBM0: f64 = -30.0;

/// Linear audio as a phone heard it, 8000 samples/s.
#[derive(Clone, Debug)]
pub struct Recording {
    /// The line's law (for levels in dBm0).
    pub law: Law,
    /// Decoded samples in arrival order.
    pub samples: Vec<i16>,
}

impl Recording {
    /// An empty recording of a line in `law`.
    pub fn new(law: Law) -> Self {
        Self {
            law,
            samples: Vec::new(),
        }
    }

    /// Append one block of G.711 codes.
    pub fn push_block(&mut self, codes: &[u8]) {
        self.samples
            .extend(codes.iter().map(|&c| self.law.decode(c)));
    }

    /// Length in ms.
    pub fn ms(&self) -> usize {
        self.samples.len() / SPM
    }

    /// Samples from `from_ms` to `to_ms` (clamped to the recording).
    pub fn slice_ms(&self, from_ms: usize, to_ms: usize) -> &[i16] {
        let end = (to_ms * SPM).min(self.samples.len());
        &self.samples[(from_ms * SPM).min(end)..end]
    }

    /// Level (dBm0) of `hz` between `from_ms` and `to_ms`, by Goertzel.
    pub fn level(&self, hz: f64, from_ms: usize, to_ms: usize) -> f64 {
        let x = self.slice_ms(from_ms, to_ms);
        measure::dbm0(self.law, measure::goertzel(x, hz))
    }

    /// The [`PROBES`] present (above [`PRESENT_DBM0`]) between `from_ms` and `to_ms` with their
    /// levels (dBm0), by frequency; a probe within 5 Goertzel bins of a stronger present one is
    /// its leakage and left out. Use windows of 500 ms or more.
    pub fn tones(&self, from_ms: usize, to_ms: usize) -> Vec<(f64, f64)> {
        let x = self.slice_ms(from_ms, to_ms);
        if x.is_empty() {
            return Vec::new();
        }
        let bins = 5.0 * 8000.0 / x.len() as f64;
        let mut found: Vec<(f64, f64)> = PROBES
            .iter()
            .map(|&f| (f, measure::dbm0(self.law, measure::goertzel(x, f))))
            .filter(|&(_, l)| l > PRESENT_DBM0)
            .collect();
        found.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut kept: Vec<(f64, f64)> = Vec::new();
        for (f, l) in found {
            if kept.iter().all(|&(k, _)| (k - f).abs() >= bins) {
                kept.push((f, l));
            }
        }
        kept.sort_by(|a, b| a.0.total_cmp(&b.0));
        kept
    }

    /// On/off runs in 1 ms frames ([`fxs::measure::segments`]).
    pub fn segments(&self) -> Vec<Segment> {
        measure::segments(self.law, &self.samples)
            .into_iter()
            .map(|(on, start_ms, len_ms)| Segment {
                on,
                start_ms,
                len_ms,
            })
            .collect()
    }

    /// The burst pattern.
    pub fn cadence(&self) -> Cadence {
        Cadence::from_segments(&self.segments())
    }
}

/// A run of tone (`on`) or silence, in ms from the start of the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Tone present.
    pub on: bool,
    /// Start, ms.
    pub start_ms: usize,
    /// Length, ms.
    pub len_ms: usize,
}

/// One burst of tone and the gap after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Burst {
    /// Start of the burst, ms.
    pub start_ms: usize,
    /// Tone, ms.
    pub on_ms: usize,
    /// Silence after it, ms.
    pub off_ms: usize,
}

/// Bursts followed by a steady tone (or not), as a stutter or recall dial tone sounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cadence {
    /// Silence before the first tone, ms (0 when the tone starts at once).
    pub lead_silence_ms: usize,
    /// Every tone run followed by a gap.
    pub bursts: Vec<Burst>,
    /// The tone run that lasts to the end of the recording: (start ms, length ms).
    pub steady: Option<(usize, usize)>,
}

impl Cadence {
    /// The pattern of `segments` (alternating runs, as [`Recording::segments`] gives them).
    pub fn from_segments(segments: &[Segment]) -> Self {
        let mut lead_silence_ms = 0;
        let mut bursts = Vec::new();
        let mut steady = None;
        let mut i = 0;
        if let Some(s) = segments.first().filter(|s| !s.on) {
            lead_silence_ms = s.len_ms;
            i = 1;
        }
        while i < segments.len() {
            let s = segments[i];
            match segments.get(i + 1) {
                Some(gap) => bursts.push(Burst {
                    start_ms: s.start_ms,
                    on_ms: s.len_ms,
                    off_ms: gap.len_ms,
                }),
                None => steady = Some((s.start_ms, s.len_ms)),
            }
            i += 2;
        }
        Self {
            lead_silence_ms,
            bursts,
            steady,
        }
    }

    /// e.g. `10 bursts of 100 ms on / 100 ms off (on 99..101, off 99..101), then steady tone
    /// from 2000 ms`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        if !self.bursts.is_empty() {
            out += &format!(
                "{} burst(s), on {} ms / off {} ms",
                self.bursts.len(),
                range(self.bursts.iter().map(|b| b.on_ms)),
                range(self.bursts.iter().map(|b| b.off_ms)),
            );
        }
        match self.steady {
            Some((start, len)) if self.bursts.is_empty() => {
                out += &format!("steady tone from {start} ms ({len} ms heard), no gaps")
            }
            Some((start, _)) => out += &format!(", then steady tone from {start} ms"),
            None => out += ", then silence",
        }
        out
    }
}

/// Format `tones` as `350 Hz (-13.0 dBm0) + 440 Hz (-13.0 dBm0)`.
pub fn describe_tones(tones: &[(f64, f64)]) -> String {
    if tones.is_empty() {
        return "no tone".into();
    }
    tones
        .iter()
        .map(|(f, l)| format!("{f:.0} Hz ({l:.1} dBm0)"))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Record `ms` of audio from `phone` (events in between are skipped), waiting at most
/// `ms` + 2 s. Errors: the phone's receive errors (a timeout when chand stops sending).
pub fn record(phone: &Phone, law: Law, ms: usize) -> io::Result<Recording> {
    let mut rec = Recording::new(law);
    let deadline = Instant::now() + Duration::from_millis(ms as u64 + 2000);
    while rec.ms() < ms {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("only {} of {ms} ms of audio arrived", rec.ms()),
            ));
        }
        rec.push_block(&phone.recv_audio(left)?);
    }
    Ok(rec)
}

/// Everything that arrives from `phone` within `wall` of real time: (audio, events).
pub fn listen(phone: &Phone, law: Law, wall: Duration) -> (Recording, Vec<String>) {
    let mut rec = Recording::new(law);
    let mut events = Vec::new();
    let deadline = Instant::now() + wall;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (rec, events);
        }
        match phone.recv(left) {
            Ok(ToPhone::Audio(codes)) => rec.push_block(&codes),
            Ok(ToPhone::Event(e)) => events.push(e),
            Err(_) => return (rec, events),
        }
    }
}

/// The spread of `v` (e.g. burst lengths in ms) as `lo..hi`, or `lo` when all are equal; `0`
/// when empty.
pub fn range(v: impl IntoIterator<Item = usize>) -> String {
    let (lo, hi) = v
        .into_iter()
        .fold(None, |acc: Option<(usize, usize)>, x| {
            Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
        })
        .unwrap_or((0, 0));
    if lo == hi {
        format!("{lo}")
    } else {
        format!("{lo}..{hi}")
    }
}
