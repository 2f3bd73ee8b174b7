//! Behaviour of the FXS line state machine: MWI at off-hook, digits, on-hook, flash, visual MWI
//! (DAHDI VMWI and on-hook FSK with its timing rules), pacing, and waveform continuity.
mod common;

use std::f64::consts::PI;

use common::*;
use fxs::line::LEAD_MS;
use fxs::{Hook, Law, LineEvent, Notice, ToneKind, VmwiMode};
use sansio::Core;

#[test]
fn mwi_at_offhook_is_what_counts() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::None);
    phone.offhook();
    phone.run_for(100);
    phone.set_mwi(true, 1); // arrives while dial tone plays: no change
    phone.run_for(2900);
    assert_eq!(segments(Law::Mulaw, &phone.heard).len(), 1);
    assert_eq!(phone.line.status().playing, Some(ToneKind::Dial));
    phone.onhook();

    let from = phone.heard.len();
    phone.offhook();
    phone.run_for(100);
    phone.set_mwi(false, 0); // cleared while stutter plays: stutter goes on
    phone.run_for(2900);
    let segs = segments(Law::Mulaw, &phone.heard[from..]);
    assert_eq!(segs.len(), 21, "10 bursts then steady: {segs:?}");
    assert_eq!(phone.line.status().playing, Some(ToneKind::Stutter));
}

#[test]
fn first_digit_stops_the_tone_blocks_continue() {
    for ev in [LineEvent::Digit('5'), LineEvent::PulseStart] {
        let mut phone = Phone::hearing_stutter("us", Law::Mulaw, 510);
        phone.event(ev);
        let at = phone.heard.len();
        phone.run_for(1000);
        assert!(phone.heard[..at].iter().any(|&s| s != 0));
        assert!(
            phone.heard[at..].iter().all(|&s| s == 0),
            "silence after the digit"
        );
        assert_eq!(
            phone.heard.len(),
            8 * (1520 + LEAD_MS as usize),
            "still one block per 20 ms"
        );
        assert_eq!(phone.line.status().playing, None);
        // a second digit changes nothing, a flash brings back (recall) dial tone
        phone.event(LineEvent::Digit('1'));
        phone.event(LineEvent::Flash);
        assert_eq!(phone.line.status().playing, Some(ToneKind::DialRecall));
    }
}

#[test]
fn onhook_stops_audio() {
    let mut phone = Phone::new("de", Law::Alaw, VmwiMode::None);
    phone.offhook();
    phone.run_for(1000);
    let writes = phone.writes();
    assert_eq!(writes, 51 + (LEAD_MS / 20) as usize);
    phone.onhook();
    assert_eq!(phone.seen.last(), Some(&Seen::StopAudio { at_ms: 1000 }));
    assert_eq!(phone.timeout_ms(), None);
    phone.run_for(5000);
    assert_eq!(phone.writes(), writes);
    assert_eq!(phone.line.status().hook, Hook::OnHook);
    // a flash or digit on-hook does nothing
    phone.event(LineEvent::Flash);
    phone.event(LineEvent::Digit('1'));
    assert_eq!(phone.timeout_ms(), None);
}

#[test]
fn blocks_are_paced_and_late_ones_counted() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::None);
    phone.offhook();
    // Off-hook writes the block due now and LEAD_MS ahead: blocks for 0, 20 and 40 ms.
    assert_eq!(phone.writes(), 3);
    assert_eq!(phone.timeout_ms(), Some(20));
    // The loop oversleeps by 50 ms: the blocks for 60, 80 and 100 ms come at once; none is
    // more than one block period past its play-out time.
    phone.now = 70;
    phone.line.handle_timeout(phone.at(70));
    phone.drain();
    assert_eq!(phone.writes(), 6);
    assert_eq!(phone.line.status().late_blocks, 0);
    // 1 s stall: at most 5 blocks are written, the rest dropped and counted.
    phone.now = 1070;
    phone.line.handle_timeout(phone.at(1070));
    phone.drain();
    assert_eq!(phone.writes(), 11);
    // 50 due up to 1110 ms: 45 dropped, 5 written (1020..=1100 ms), those for 1020 and
    // 1040 ms more than 20 ms past their play-out time.
    assert_eq!(phone.line.status().late_blocks, 45 + 2);
    assert_eq!(phone.timeout_ms(), Some(1080));
    phone.event(LineEvent::WriteUnderrun);
    assert_eq!(phone.line.status().underruns, 1);
}

/// The audio equals the ideal waveform sample by sample (within G.711 quantisation): no phase
/// jump at 20 ms block boundaries, bursts start at a zero crossing, and in `uk` the 440 Hz
/// component runs on through the 350+440 → 440 edges.
#[test]
fn waveform_is_phase_continuous() {
    fn check(law: Law, heard: &[i16], expected: impl Fn(usize) -> f64, what: &str) {
        for (n, &y) in heard.iter().enumerate() {
            let x = expected(n);
            let tol = x.abs() / 16.0 + 16.0;
            assert!(
                (f64::from(y) - x).abs() <= tol,
                "{what} {law}: sample {n} (block {} + {}) is {y}, expected {x:.0}",
                n / 160,
                n % 160
            );
        }
    }
    let sine = |f: f64, n: usize| (2.0 * PI * f * n as f64 / 8000.0).sin();
    for law in [Law::Mulaw, Law::Alaw] {
        let phone = Phone::hearing_stutter("us", law, 3000);
        let a = law.peak_for_dbm0(-13.0);
        check(
            law,
            &phone.heard,
            |n| {
                let (origin, on) = if n < 16000 {
                    (n / 1600 * 1600, n % 1600 < 800)
                } else {
                    (16000, true)
                };
                if on {
                    a * (sine(350.0, n - origin) + sine(440.0, n - origin))
                } else {
                    0.0
                }
            },
            "us stutter",
        );

        let phone = Phone::hearing_stutter("uk", law, 5000);
        let a = law.peak_for_dbm0(-10.0);
        check(
            law,
            &phone.heard,
            |n| {
                a * (sine(440.0, n)
                    + if n % 12000 < 6000 {
                        sine(350.0, n)
                    } else {
                        0.0
                    })
            },
            "uk stutter",
        );
    }
}

#[test]
fn lrev_sets_vmwi_on_change_and_unsupported_is_reported_once() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::Lrev);
    phone.set_mwi(true, 3);
    phone.set_mwi(true, 3);
    phone.set_mwi(false, 0);
    let vmwi: Vec<_> = phone
        .seen
        .iter()
        .filter(|s| matches!(s, Seen::SetVmwi { .. }))
        .collect();
    assert_eq!(
        vmwi,
        [&Seen::SetVmwi { count: 3 }, &Seen::SetVmwi { count: 0 },]
    );
    phone.line.vmwi_result(true);
    assert_eq!(phone.line.status().vmwi_supported, Some(true));

    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::Neon);
    phone.set_mwi(true, 0);
    assert_eq!(phone.seen, [Seen::SetVmwi { count: 1 }]);
    // The driver answers ENOTTY: one notice, then no more VMWI actions, stutter tone still plays.
    phone.line.vmwi_result(false);
    phone.line.vmwi_result(false);
    phone.set_mwi(false, 0);
    phone.set_mwi(true, 2);
    assert_eq!(
        phone.seen[1..],
        [Seen::Notice(Notice::VmwiUnsupported(VmwiMode::Neon))]
    );
    assert_eq!(phone.line.status().vmwi_supported, Some(false));
    phone.offhook();
    phone.run_for(1000);
    assert_eq!(phone.line.status().playing, Some(ToneKind::Stutter));
    assert_eq!(
        segments(Law::Mulaw, &phone.heard).len(),
        11,
        "5 bursts and gaps, 6th burst"
    );
}

fn first(seen: &[Seen], f: impl Fn(&Seen) -> bool) -> Option<(usize, &Seen)> {
    seen.iter().enumerate().find(|(_, s)| f(s))
}

#[test]
fn fsk_spill_waits_three_seconds_after_hangup_and_rechecks_hook() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::Fsk);
    phone.offhook();
    phone.run_for(1000);
    phone.onhook(); // at 1000 ms
    phone.run_for(500);
    phone.set_mwi(true, 1); // at 1500 ms: the spill must wait until 4000 ms
    let before = phone.seen.len();
    phone.run_for(5000);
    let seen = &phone.seen[before..];
    let (check_i, check) =
        first(seen, |s| matches!(s, Seen::CheckHook { .. })).expect("hook check");
    assert_eq!(check, &Seen::CheckHook { at_ms: 4000 });
    let (oht_i, oht) =
        first(seen, |s| matches!(s, Seen::OnHookTransfer { .. })).expect("ONHOOKTRANSFER");
    assert!(check_i < oht_i, "hook re-checked before the spill");
    assert_eq!(
        oht,
        &Seen::OnHookTransfer {
            at_ms: 4000,
            ms: 460 + 100
        }
    );
    let writes: Vec<_> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Write { at_ms, offhook, .. } => Some((*at_ms, *offhook)),
            _ => None,
        })
        .collect();
    assert_eq!(writes.len(), 23);
    assert!(
        writes.iter().all(|&(_, off)| !off),
        "spill written on-hook only"
    );
    assert_eq!(writes[0].0, 4000);
    // written LEAD_MS ahead of play-out, like tone blocks
    assert_eq!(writes[22].0, 4000 + 22 * 20 - LEAD_MS);
    assert!(seen.contains(&Seen::Notice(Notice::SpillSent { on: true })));
    assert_eq!(phone.line.status().spills_sent, 1);
    // nothing more to send: the line idles
    assert_eq!(phone.timeout_ms(), None);
}

/// asterisk issue #928: the phone was lifted but the event not yet seen when the spill is due.
/// The re-check finds it off-hook: no spill, dial tone (stutter) instead; the spill goes out 3 s
/// after the next hang-up.
#[test]
fn spill_is_not_sent_to_an_offhook_phone() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::Fsk);
    phone.set_mwi(true, 1);
    phone.run_for(2999);
    phone.silently_set_hook(true);
    phone.run_for(1000);
    assert!(!phone
        .seen
        .iter()
        .any(|s| matches!(s, Seen::OnHookTransfer { .. })));
    assert_eq!(phone.line.status().hook, Hook::OffHook);
    assert_eq!(phone.line.status().playing, Some(ToneKind::Stutter));
    assert!(phone
        .seen
        .iter()
        .all(|s| !matches!(s, Seen::Write { offhook: false, .. })));
    phone.onhook(); // at 3999
    phone.run_for(5000);
    let (_, oht) = first(&phone.seen, |s| matches!(s, Seen::OnHookTransfer { .. })).expect("spill");
    assert_eq!(
        oht,
        &Seen::OnHookTransfer {
            at_ms: 6999,
            ms: 560
        }
    );
}

#[test]
fn offhook_during_spill_aborts_it_and_it_is_resent_later() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::Fsk);
    phone.set_mwi(true, 1);
    phone.run_for(3100); // spill started at 3000
    phone.offhook();
    assert!(phone.seen.contains(&Seen::Notice(Notice::SpillAborted)));
    let stop = phone
        .seen
        .iter()
        .position(|s| matches!(s, Seen::StopAudio { .. }))
        .expect("stop");
    assert!(matches!(
        phone.seen[stop + 2],
        Seen::Write { offhook: true, .. }
    ));
    assert_eq!(phone.line.status().spills_aborted, 1);
    assert_eq!(phone.line.status().playing, Some(ToneKind::Stutter));
    phone.run_for(1000);
    phone.onhook(); // at 4100
    phone.run_for(4000);
    assert_eq!(phone.line.status().spills_sent, 1);
    let (_, oht) = first(&phone.seen[stop..], |s| {
        matches!(s, Seen::OnHookTransfer { .. })
    })
    .unwrap();
    assert_eq!(
        oht,
        &Seen::OnHookTransfer {
            at_ms: 7100,
            ms: 560
        }
    );
}

#[test]
fn rpas_rings_a_pulse_then_sends_the_spill() {
    let mut phone = Phone::new("de", Law::Alaw, VmwiMode::Rpas);
    phone.set_mwi(true, 1);
    phone.run_for(5000);
    let order: Vec<_> = phone
        .seen
        .iter()
        .filter(|s| !matches!(s, Seen::Write { .. }))
        .cloned()
        .collect();
    assert_eq!(
        order,
        [
            Seen::CheckHook { at_ms: 3000 },
            Seen::SetRpasCadence { at_ms: 3000 },
            Seen::Ring { at_ms: 3000 },
            Seen::RingOff { at_ms: 3250 },
            Seen::RestoreCadence { at_ms: 3250 },
            Seen::CheckHook { at_ms: 3750 },
            Seen::OnHookTransfer {
                at_ms: 3750,
                ms: 560
            },
            Seen::Notice(Notice::SpillSent { on: true }),
        ]
    );
    assert_eq!(phone.writes(), 23);
}

#[test]
fn fsk_unsupported_is_reported_once_and_mwi_goes_on_with_tone() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::Fsk);
    phone.set_mwi(true, 1);
    phone.run_for(3000);
    // DAHDI_ONHOOKTRANSFER answered ENOTTY
    phone.line.vmwi_result(false);
    phone.drain();
    assert_eq!(
        phone.notices(),
        [&Seen::Notice(Notice::VmwiUnsupported(VmwiMode::Fsk))]
    );
    assert!(phone.seen.contains(&Seen::StopAudio { at_ms: 3000 }));
    let writes = phone.writes();
    phone.set_mwi(false, 0);
    phone.set_mwi(true, 1);
    phone.run_for(10_000);
    assert_eq!(phone.writes(), writes, "no more spills");
    assert_eq!(phone.timeout_ms(), None);
    phone.offhook();
    phone.run_for(100);
    assert_eq!(phone.line.status().playing, Some(ToneKind::Stutter));
}

#[test]
fn status_shows_the_port() {
    let mut phone = Phone::new("fr", Law::Alaw, VmwiMode::Hvdc);
    phone.set_mwi(true, 4);
    let st = phone.line.status();
    assert_eq!(st.plan, "fr");
    assert_eq!(st.law, Law::Alaw);
    assert!(st.mwi);
    assert_eq!(st.count, 4);
    assert_eq!(st.vmwi, VmwiMode::Hvdc);
    assert_eq!(st.vmwi_supported, None);
    assert_eq!("hvdc".parse::<VmwiMode>(), Ok(VmwiMode::Hvdc));
    assert!("lamp".parse::<VmwiMode>().is_err());
}

#[test]
fn mwi_change_during_a_spill_is_sent_after_it() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::Fsk);
    phone.set_mwi(true, 1);
    phone.run_for(3100); // first spill (on) under way since 3000 ms
    phone.set_mwi(false, 0);
    phone.run_for(2000);
    assert_eq!(
        phone.notices(),
        [
            &Seen::Notice(Notice::SpillSent { on: true }),
            &Seen::Notice(Notice::SpillSent { on: false }),
        ]
    );
    assert_eq!(phone.writes(), 46);
    // Back to the state already sent before the next spill is due: nothing is sent.
    phone.set_mwi(true, 1);
    phone.set_mwi(false, 0);
    phone.run_for(5000);
    assert_eq!(phone.writes(), 46);
}

#[test]
fn rpas_cadence_refused_rings_nothing() {
    let mut phone = Phone::new("de", Law::Alaw, VmwiMode::Rpas);
    phone.set_mwi(true, 1);
    phone.run_for(2999);
    phone.line.handle_timeout(phone.at(3000));
    // The back-end performs CheckHook (answered on-hook), then SetRpasCadence fails with ENOTTY.
    assert_eq!(phone.line.poll_action(), Some(fxs::Action::CheckHook));
    phone.line.hook_state(phone.at(3000), false);
    assert_eq!(phone.line.poll_action(), Some(fxs::Action::SetRpasCadence));
    phone.line.vmwi_result(false);
    phone.now = 3000;
    phone.drain();
    assert!(
        !phone.seen.contains(&Seen::Ring { at_ms: 3000 }),
        "{:?}",
        phone.seen
    );
    assert!(phone
        .seen
        .contains(&Seen::Notice(Notice::VmwiUnsupported(VmwiMode::Rpas))));
    phone.run_for(10_000);
    assert_eq!(phone.writes(), 0);
}

/// Tone, hang-up, RP-AS and FSK spill, an off-hook cutting a spill short: what the phone sees
/// and hears, with or without spurious timeouts.
fn rpas_trace(spurious: bool) -> (Vec<Seen>, Vec<u8>) {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::Rpas);
    phone.spurious = spurious;
    phone.set_mwi(true, 2);
    phone.offhook();
    phone.run_for(1000);
    phone.event(LineEvent::Digit('5'));
    phone.run_for(100);
    phone.onhook();
    phone.run_for(4300);
    phone.offhook(); // during the spill
    phone.run_for(200);
    phone.onhook();
    phone.set_mwi(false, 0);
    phone.run_for(8000);
    (phone.seen, phone.codes)
}

/// A spurious timeout (before anything is due, or twice at the same instant) changes nothing.
#[test]
fn spurious_timeouts_change_nothing() {
    let reference = rpas_trace(false);
    assert!(reference.0.iter().any(|s| matches!(s, Seen::Ring { .. })));
    assert_eq!(rpas_trace(true), reference);
}
