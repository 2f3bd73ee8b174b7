//! CPU time of tone generation per 20 ms block and of the line state machine per tick.
#![allow(missing_docs)] // criterion_group! generates an undocumented public function
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use fxs::{
    cptone, Action, CompiledPlan, FxsLine, Law, LineConfig, LineEvent, ToneGen, ToneKind, VmwiMode,
};
use sansio::Core;

fn generation(c: &mut Criterion) {
    let mut g = c.benchmark_group("tone_block_160");
    for (plan, law, kind) in [
        ("us", Law::Mulaw, ToneKind::Stutter),
        ("uk", Law::Alaw, ToneKind::Stutter),
        ("au", Law::Alaw, ToneKind::Stutter),
        ("za", Law::Alaw, ToneKind::Dial),
    ] {
        let compiled = CompiledPlan::new(&cptone(plan).expect("plan"), law);
        let mut gen = ToneGen::new(kind);
        let mut block = [0u8; 160];
        g.bench_function(format!("{plan}_{kind:?}_{law}"), |b| {
            b.iter(|| {
                gen.fill(&compiled, &mut block);
                black_box(&block);
            })
        });
    }
    // Peer measured in the same run: the same 350+440 Hz block computed with two sin() calls and
    // an encode per sample (generation without precomputed tables).
    let law = Law::Mulaw;
    let peak = law.peak_for_dbm0(-13.0);
    let mut n = 0u64;
    let mut block = [0u8; 160];
    g.bench_function("peer_per_sample_sin_us_ulaw", |b| {
        b.iter(|| {
            for s in block.iter_mut() {
                let t = n as f64 / 8000.0;
                let x = peak
                    * ((2.0 * std::f64::consts::PI * 350.0 * t).sin()
                        + (2.0 * std::f64::consts::PI * 440.0 * t).sin());
                *s = law.encode(x as i16);
                n += 1;
            }
            black_box(&block);
        })
    });
    g.finish();
}

fn line_tick(c: &mut Criterion) {
    const BLOCK: Duration = Duration::from_millis(fxs::BLOCK_MS);
    let t0 = Instant::now();
    let plan = Arc::new(CompiledPlan::new(&cptone("us").expect("plan"), Law::Mulaw));
    let mut line = FxsLine::new(
        LineConfig {
            plan: plan.clone(),
            vmwi: VmwiMode::Fsk,
        },
        t0,
    );
    line.set_mwi(t0, true, 1);
    line.handle_event(t0, LineEvent::OffHook);
    let mut now = t0;
    c.bench_function("line_tick_offhook", |b| {
        b.iter(|| {
            now = line.poll_timeout().unwrap_or(now + BLOCK);
            line.handle_timeout(now);
            while let Some(a) = line.poll_action() {
                if let Action::Write(block) = a {
                    black_box(block);
                }
            }
        })
    });
    let mut lines: Vec<FxsLine> = (0..240)
        .map(|_| {
            let mut l = FxsLine::new(
                LineConfig {
                    plan: plan.clone(),
                    vmwi: VmwiMode::None,
                },
                t0,
            );
            l.set_mwi(t0, true, 1);
            l.handle_event(t0, LineEvent::OffHook);
            l
        })
        .collect();
    let mut now = t0;
    c.bench_function("tick_240_offhook_lines", |b| {
        b.iter(|| {
            now += BLOCK;
            for l in &mut lines {
                l.handle_timeout(now);
                while let Some(a) = l.poll_action() {
                    if let Action::Write(block) = a {
                        black_box(block);
                    }
                }
            }
        })
    });
}

/// The DTMF receiver per 20 ms block (160 samples) of a line carrying a digit, next to the
/// plain approach measured in the same run: eight f64 Goertzel filters over each block.
fn dtmf(c: &mut Criterion) {
    let law = Law::Mulaw;
    let peak = law.peak_for_dbm0(-10.0);
    let x: Vec<i16> = (0..8000)
        .map(|n| {
            let t = f64::from(n) / 8000.0;
            let v = peak
                * ((2.0 * std::f64::consts::PI * 770.0 * t).sin()
                    + (2.0 * std::f64::consts::PI * 1336.0 * t).sin());
            law.decode(law.encode(v as i16))
        })
        .collect();
    let mut g = c.benchmark_group("dtmf_block_160");
    let mut det = fxs::dtmf::DtmfDetector::new(law);
    let t0 = std::time::Instant::now();
    let mut i = 0usize;
    g.bench_function("detector", |b| {
        b.iter(|| {
            let block = &x[(i % 50) * 160..][..160];
            det.handle_audio(t0, black_box(block));
            while det.poll_event().is_some() {}
            i += 1;
        })
    });
    g.bench_function("peer_eight_goertzel", |b| {
        b.iter(|| {
            let block = &x[(i % 50) * 160..][..160];
            for f in [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0] {
                black_box(fxs::measure::goertzel(black_box(block), f));
            }
            i += 1;
        })
    });
    g.finish();
}

criterion_group!(benches, generation, line_tick, dtmf);
criterion_main!(benches);
