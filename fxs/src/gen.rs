//! Tone generation: a tone plan compiled into precomputed G.711 sample tables, and a generator
//! that fills 160-sample (20 ms) blocks from them without allocating.
//!
//! Every distinct tone of a plan gets one table holding an exact whole number of periods of all
//! its components (`8000 / gcd(8000, f1, f2)` samples, at most 8000), encoded in the port's law.
//! Reading the table at `(t - t0) mod len` is therefore seamless across blocks. The phase origin
//! `t0` is reset only when a tone starts after silence (it then starts at a zero crossing, as a
//! DAHDI kernel tone segment does); from tone to tone (e.g. the `uk` stutter `350+440/750,440/750`)
//! the phase runs on, so a shared component continues without a click.

use std::f64::consts::PI;
use std::sync::Arc;

use crate::law::{Block, Law, SAMPLE_RATE};
use crate::plans::{CustomPlan, PlanError, TonePlan};
use crate::toneplan::{Mix, ToneElement, ToneSeq};

/// Modulation depth of `f1*f2` elements (Asterisk's fixed 90 %).
const AM_DEPTH: f64 = 0.9;

/// Which tone of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ToneKind {
    /// Dial tone.
    Dial,
    /// Message-waiting (stutter) dial tone.
    Stutter,
    /// Recall dial tone (after a hook flash); falls back to dial tone if the plan has none.
    DialRecall,
    /// Ringback: the called party is alerted.
    Ringback,
    /// Busy: the called party is busy (Q.850 cause 17).
    Busy,
    /// Reorder (congestion): the call failed for another reason.
    Reorder,
    /// Receiver off-hook (howler): the handset was left off-hook after a call.
    Howler,
}

/// One element, compiled: a table (or silence) and a length in samples (`None` = continuous).
#[derive(Clone, Copy, Debug)]
struct Segment {
    table: Option<usize>,
    samples: Option<u32>,
}

#[derive(Clone, Debug)]
struct CompiledSeq {
    segments: Vec<Segment>,
    loop_start: Option<usize>,
}

/// A tone plan compiled for one law: the sample tables of all its tones. Immutable; share it
/// between the ports that use the same plan and law (e.g. in an `Arc`).
#[derive(Clone, Debug)]
pub struct CompiledPlan {
    name: String,
    law: Law,
    fsk: crate::fsk::FskStandard,
    tables: Vec<Box<[u8]>>,
    dial: CompiledSeq,
    stutter: CompiledSeq,
    dialrecall: Option<CompiledSeq>,
    /// Ringback, busy, reorder, howler.
    call: [CompiledSeq; 4],
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Key identifying a distinct tone (silence has no table).
fn tone_key(e: &ToneElement) -> Option<(u16, Option<(Mix, u16)>)> {
    (!e.is_silence()).then_some((e.f1, e.second))
}

/// One exact-period table of the tone `f1[+|*f2]` at `level_dbm0` per component; a summed
/// `f2` is `twist_db` louder (DTMF's high group, docs/calls.md), a tone plan's is not (0).
pub(crate) fn render_table(
    law: Law,
    f1: u16,
    second: Option<(Mix, u16)>,
    level_dbm0: f64,
    twist_db: f64,
) -> Box<[u8]> {
    let f2 = second.map_or(0, |(_, f)| u32::from(f));
    let len = SAMPLE_RATE / gcd(gcd(SAMPLE_RATE, u32::from(f1)), f2);
    let peak = law.peak_for_dbm0(level_dbm0);
    let peak2 = law.peak_for_dbm0(level_dbm0 + twist_db);
    let w1 = 2.0 * PI * f64::from(f1) / f64::from(SAMPLE_RATE);
    let w2 = 2.0 * PI * f64::from(f2) / f64::from(SAMPLE_RATE);
    (0..len)
        .map(|n| {
            let n = f64::from(n);
            let x = match second {
                None => peak * (w1 * n).sin(),
                Some((Mix::Sum, _)) => peak * (w1 * n).sin() + peak2 * (w2 * n).sin(),
                Some((Mix::Am, _)) => peak * (w1 * n).sin() * (1.0 + AM_DEPTH * (w2 * n).sin()),
            };
            law.encode(x.round().clamp(-32768.0, 32767.0) as i16)
        })
        .collect()
}

impl CompiledPlan {
    /// Precompute the tables of every tone of `plan` in `law`.
    pub fn new(plan: &TonePlan, law: Law) -> Self {
        let mut keys = Vec::new();
        let mut tables = Vec::new();
        let mut compile = |seq: &ToneSeq| CompiledSeq {
            segments: seq
                .elements()
                .iter()
                .map(|e| {
                    let table = tone_key(e).map(|key| {
                        keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                            keys.push(key);
                            tables.push(render_table(law, key.0, key.1, plan.level_dbm0, 0.0));
                            keys.len() - 1
                        })
                    });
                    Segment {
                        table,
                        samples: e.duration_ms.map(|ms| ms * (SAMPLE_RATE / 1000)),
                    }
                })
                .collect(),
            loop_start: seq.loop_start(),
        };
        let dial = compile(&plan.dial);
        let stutter = compile(&plan.stutter);
        let dialrecall = plan.dialrecall.as_ref().map(&mut compile);
        let c = &plan.call;
        let call = [&c.ringback, &c.busy, &c.reorder, &c.howler].map(&mut compile);
        Self {
            name: plan.name.clone(),
            law,
            fsk: plan.fsk,
            tables,
            dial,
            stutter,
            dialrecall,
            call,
        }
    }

    /// Plan name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The law the tables are encoded in.
    pub fn law(&self) -> Law {
        self.law
    }

    /// FSK standard of the plan's locale.
    pub fn fsk(&self) -> crate::fsk::FskStandard {
        self.fsk
    }

    /// Whether the plan has a recall dial tone of its own.
    pub fn has_dialrecall(&self) -> bool {
        self.dialrecall.is_some()
    }

    /// Bytes held by the sample tables.
    pub fn table_bytes(&self) -> usize {
        self.tables.iter().map(|t| t.len()).sum()
    }

    fn seq(&self, kind: ToneKind) -> &CompiledSeq {
        match kind {
            ToneKind::Dial => &self.dial,
            ToneKind::Stutter => &self.stutter,
            ToneKind::DialRecall => self.dialrecall.as_ref().unwrap_or(&self.dial),
            ToneKind::Ringback => &self.call[0],
            ToneKind::Busy => &self.call[1],
            ToneKind::Reorder => &self.call[2],
            ToneKind::Howler => &self.call[3],
        }
    }
}

/// Playback position in one tone of a [`CompiledPlan`]; advances by whole blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToneGen {
    kind: ToneKind,
    /// Current segment, `None` once a sequence without loop has ended (silence).
    seg: Option<usize>,
    /// Samples played of the current segment.
    pos: u32,
    /// Samples generated since the start.
    t: u64,
    /// Phase origin of the current tone (sample index).
    t0: u64,
}

impl ToneGen {
    /// A generator at the start of tone `kind`.
    pub fn new(kind: ToneKind) -> Self {
        Self {
            kind,
            seg: Some(0),
            pos: 0,
            t: 0,
            t0: 0,
        }
    }

    /// The tone being played.
    pub fn kind(&self) -> ToneKind {
        self.kind
    }

    /// Samples generated so far.
    pub fn samples(&self) -> u64 {
        self.t
    }

    /// Fill `out` with the next 160 samples of the tone from `plan`'s tables. Never allocates.
    pub fn fill(&mut self, plan: &CompiledPlan, out: &mut Block) {
        let seq = plan.seq(self.kind);
        let silence = plan.law.silence();
        let mut done = 0;
        while done < out.len() {
            let Some(seg) = self.seg.and_then(|i| seq.segments.get(i)) else {
                out[done..].fill(silence);
                self.t += (out.len() - done) as u64;
                return;
            };
            let want = out.len() - done;
            let n = match seg.samples {
                Some(len) => want.min((len - self.pos) as usize),
                None => want,
            };
            let dst = &mut out[done..done + n];
            match seg.table.and_then(|i| plan.tables.get(i)) {
                Some(table) => copy_wrapped(
                    table,
                    ((self.t - self.t0) % table.len() as u64) as usize,
                    dst,
                ),
                None => dst.fill(silence),
            }
            done += n;
            self.t += n as u64;
            self.pos += n as u32;
            if seg.samples == Some(self.pos) {
                self.advance(seq, seg.table.is_none());
            }
        }
    }

    /// Move to the next segment (looping as the sequence says).
    fn advance(&mut self, seq: &CompiledSeq, from_silence: bool) {
        let next = self.seg.map(|i| i + 1).filter(|&i| i < seq.segments.len());
        self.seg = next.or(seq.loop_start);
        self.pos = 0;
        if from_silence {
            self.t0 = self.t;
        }
    }
}

/// Copy `dst.len()` samples of the periodic `table` starting at `start`, wrapping around.
fn copy_wrapped(table: &[u8], mut start: usize, dst: &mut [u8]) {
    let mut off = 0;
    while off < dst.len() {
        let n = (dst.len() - off).min(table.len() - start);
        dst[off..off + n].copy_from_slice(&table[start..start + n]);
        off += n;
        start = 0;
    }
}

/// The plans a daemon knows: the built-ins plus the custom plans of its configuration, and the
/// plans compiled so far (one per plan name and law, shared by all ports that use it).
#[derive(Clone, Debug, Default)]
pub struct TonePlans {
    custom: Vec<TonePlan>,
    compiled: Vec<Arc<CompiledPlan>>,
}

impl TonePlans {
    /// Validate the custom plans of a configuration.
    ///
    /// Errors: the first [`PlanError`] found (malformed string, bad level, duplicate name).
    pub fn new(custom: &[CustomPlan]) -> Result<Self, PlanError> {
        let mut plans: Vec<TonePlan> = Vec::with_capacity(custom.len());
        for c in custom {
            if TonePlan::builtin(&c.name).is_some() || plans.iter().any(|p| p.name == c.name) {
                return Err(PlanError::DuplicateName(c.name.clone()));
            }
            plans.push(TonePlan::custom(c)?);
        }
        Ok(Self {
            custom: plans,
            compiled: Vec::new(),
        })
    }

    /// The plan `name` compiled in `law`, compiled on first use and shared afterwards
    /// (a port's `LineConfig::plan`); `None` if the name is unknown.
    pub fn compiled(&mut self, name: &str, law: Law) -> Option<Arc<CompiledPlan>> {
        if let Some(p) = self
            .compiled
            .iter()
            .find(|p| p.name() == name && p.law() == law)
        {
            return Some(Arc::clone(p));
        }
        let plan = Arc::new(CompiledPlan::new(&self.cptone(name)?, law));
        self.compiled.push(Arc::clone(&plan));
        Some(plan)
    }

    /// The plan a port's `cptone` names: a custom plan or a built-in one; `None` if unknown.
    pub fn cptone(&self, name: &str) -> Option<TonePlan> {
        self.custom
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .or_else(|| TonePlan::builtin(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::law::BLOCK_SAMPLES;
    use crate::plans::cptone;

    #[test]
    fn table_lengths_are_exact_periods() {
        assert_eq!(
            render_table(Law::Mulaw, 350, Some((Mix::Sum, 440)), -13.0, 0.0).len(),
            800
        );
        assert_eq!(render_table(Law::Mulaw, 425, None, -13.0, 0.0).len(), 320);
        assert_eq!(
            render_table(Law::Alaw, 413, Some((Mix::Sum, 438)), -13.0, 0.0).len(),
            8000
        );
        assert_eq!(
            render_table(Law::Alaw, 400, Some((Mix::Am, 25)), -13.0, 0.0).len(),
            320
        );
    }

    #[test]
    fn tables_are_shared_between_tones() {
        let plan = CompiledPlan::new(&cptone("us").unwrap(), Law::Mulaw);
        // dial, stutter and dialrecall share 350+440; busy and reorder share 480+620; ringback
        // 440+480 and howler 1400+2060 have one each.
        assert_eq!(plan.tables.len(), 4);
    }

    #[test]
    fn continuous_tone_equals_one_long_rendering() {
        let plan = CompiledPlan::new(&cptone("de").unwrap(), Law::Alaw);
        let mut g = ToneGen::new(ToneKind::Dial);
        let mut all = Vec::new();
        let mut b = [0u8; BLOCK_SAMPLES];
        for _ in 0..100 {
            g.fill(&plan, &mut b);
            all.extend_from_slice(&b);
        }
        let table = render_table(Law::Alaw, 425, None, DAHDI_LEVEL, 0.0);
        for (i, &c) in all.iter().enumerate() {
            assert_eq!(c, table[i % table.len()], "sample {i}");
        }
    }

    const DAHDI_LEVEL: f64 = crate::plans::DAHDI_LEVEL_DBM0;

    #[test]
    fn sequence_without_loop_ends_in_silence() {
        let mut tp = cptone("de").unwrap();
        tp.dial = ToneSeq::parse("!425/30").unwrap();
        let plan = CompiledPlan::new(&tp, Law::Mulaw);
        let mut g = ToneGen::new(ToneKind::Dial);
        let mut b = [0u8; BLOCK_SAMPLES];
        g.fill(&plan, &mut b);
        assert!(b[..160].iter().any(|&c| c != 0xFF));
        g.fill(&plan, &mut b);
        assert!(b[80..].iter().all(|&c| c == 0xFF));
        g.fill(&plan, &mut b);
        assert!(b.iter().all(|&c| c == 0xFF));
        assert_eq!(g.samples(), 480);
    }

    #[test]
    fn custom_plans() {
        let c = CustomPlan {
            name: "lab".into(),
            dial: "425".into(),
            stutter: "425/320,0/20".into(),
            dialrecall: None,
            level_dbm0: Some(-12.0),
            fsk: None,
        };
        let mut plans = TonePlans::new(std::slice::from_ref(&c)).unwrap();
        assert_eq!(plans.cptone("lab").unwrap().level_dbm0, -12.0);
        let a = plans.compiled("lab", Law::Alaw).unwrap();
        let b = plans.compiled("lab", Law::Alaw).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let u = plans.compiled("lab", Law::Mulaw).unwrap();
        assert!(!Arc::ptr_eq(&a, &u));
        assert!(plans.compiled("xx", Law::Alaw).is_none());
        assert_eq!(plans.cptone("de").unwrap().name, "de");
        assert!(plans.cptone("xx").is_none());
        let dup = CustomPlan {
            name: "us".into(),
            ..c.clone()
        };
        assert_eq!(
            TonePlans::new(&[dup]).unwrap_err(),
            PlanError::DuplicateName("us".into())
        );
        let bad = CustomPlan {
            stutter: "425/320 0/20".into(),
            ..c
        };
        let e = TonePlans::new(&[bad]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tone plan \"lab\", stutter: tone string, column 9: expected ',' or end of string after an element, found '0' (missing comma?)"
        );
    }
}
