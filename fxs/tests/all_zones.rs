//! Every built-in zone, every tone: the on/off cadence heard by the test phone matches the
//! plan's elements (±5 ms per edge) over 6 s, in both laws.
mod common;

use std::sync::Arc;

use common::*;
use fxs::line::LEAD_MS;
use fxs::plans::builtin_names;
use fxs::{cptone, CompiledPlan, Law, LineEvent, ToneSeq, VmwiMode};

/// The on/off runs (ms) a sequence should produce during `total_ms`, adjacent equal states merged.
fn expected_runs(seq: &ToneSeq, total_ms: usize) -> Vec<(bool, usize)> {
    let els = seq.elements();
    let mut runs: Vec<(bool, usize)> = Vec::new();
    let mut t = 0;
    let mut i = 0;
    while t < total_ms {
        let Some(e) = els.get(i) else {
            // no loop: silence for ever
            push(&mut runs, false, total_ms - t);
            break;
        };
        let len = e
            .duration_ms
            .map_or(total_ms - t, |d| (d as usize).min(total_ms - t));
        push(&mut runs, !e.is_silence(), len);
        t += len;
        i += 1;
        if i == els.len() {
            i = seq.loop_start().unwrap_or(els.len());
        }
    }
    runs
}

fn push(runs: &mut Vec<(bool, usize)>, on: bool, len: usize) {
    match runs.last_mut() {
        Some((state, l)) if *state == on => *l += len,
        _ => runs.push((on, len)),
    }
}

#[test]
fn every_zone_sounds_as_its_plan_says() {
    let total_ms = 6000;
    let mut checked = 0;
    for name in builtin_names() {
        let plan = cptone(name).expect("built-in");
        for law in [Law::Mulaw, Law::Alaw] {
            let compiled = Arc::new(CompiledPlan::new(&plan, law));
            for (mwi, flash, seq) in [
                (false, false, &plan.dial),
                (true, false, &plan.stutter),
                (false, true, plan.dialrecall.as_ref().unwrap_or(&plan.dial)),
            ] {
                let mut phone = Phone::with_plan(compiled.clone(), VmwiMode::None);
                phone.set_mwi(mwi, 1);
                phone.offhook();
                if flash {
                    // after the dial tone written ahead at off-hook (one block plus LEAD_MS):
                    // the recall tone starts right after them
                    phone.event(LineEvent::Flash);
                }
                phone.run_for(total_ms as u64 - 20);
                let lead = LEAD_MS as usize;
                assert_eq!(phone.heard.len(), (total_ms + lead) * SPM);
                let skip = if flash { 20 + lead } else { 0 };
                let got = segments(law, &phone.heard[skip * SPM..]);
                let want = expected_runs(seq, total_ms + lead - skip);
                assert_eq!(
                    got.len(),
                    want.len(),
                    "{name} {law} {seq}: heard {got:?}, expected {want:?}"
                );
                for (g, w) in got.iter().zip(&want).take(want.len() - 1) {
                    assert_eq!(g.0, w.0, "{name} {law} {seq}");
                    assert_ms(&format!("{name} {law} {seq}"), g.2, w.1);
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 47 * 2 * 3);
}
