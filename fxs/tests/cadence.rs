//! The test phone goes off-hook and measures what it hears: frequencies (Goertzel), levels,
//! burst and gap lengths (±5 ms), number of bursts, then steady tone.
mod common;

use common::*;
use fxs::line::LEAD_MS;
use fxs::{Law, LineEvent, VmwiMode};

/// What a stutter plan of bursts-then-steady must sound like.
struct Bursts {
    plan: &'static str,
    law: Law,
    freqs: &'static [f64],
    level: f64,
    bursts: usize,
    on_ms: usize,
    off_ms: usize,
}

fn check_bursts(b: &Bursts) {
    let mut phone = Phone::new(b.plan, b.law, VmwiMode::None);
    phone.set_mwi(true, 2);
    phone.offhook();
    let cadence_ms = b.bursts * (b.on_ms + b.off_ms);
    phone.run_for(cadence_ms as u64 + 2000);
    let heard = &phone.heard;
    assert_eq!(
        heard.len(),
        8 * (cadence_ms + 2020 + LEAD_MS as usize),
        "{}: one block per 20 ms, written LEAD_MS ahead",
        b.plan
    );
    let segs = segments(b.law, heard);
    let what = |i: usize, s: &str| format!("{} {s} {}", b.plan, i + 1);
    // bursts × (on, off), then one steady segment to the end.
    assert_eq!(segs.len(), 2 * b.bursts + 1, "{}: {segs:?}", b.plan);
    for i in 0..b.bursts {
        let (on, start, len) = segs[2 * i];
        assert!(on, "{}", what(i, "burst"));
        assert_ms(&what(i, "burst"), len, b.on_ms);
        assert_freqs(
            b.law,
            &heard[start * SPM..(start + len) * SPM],
            b.freqs,
            b.level,
        );
        let (on, _, len) = segs[2 * i + 1];
        assert!(!on, "{}", what(i, "gap"));
        assert_ms(&what(i, "gap"), len, b.off_ms);
    }
    let (on, start, len) = segs[2 * b.bursts];
    assert!(on);
    assert_ms(&format!("{} steady start", b.plan), start, cadence_ms);
    assert!(len > 1000, "{}: steady tone too short: {len} ms", b.plan);
    let steady = &heard[heard.len() - 8000..];
    assert_freqs(b.law, steady, b.freqs, b.level);
    // RMS of the steady tone: the components' powers add (two at -13 dBm0 make -10 dBm0).
    let rms =
        (steady.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / steady.len() as f64).sqrt();
    let total = b.level + 10.0 * (b.freqs.len() as f64).log10();
    let measured = b.law.rms_to_dbm0(rms);
    assert!(
        (measured - total).abs() < 0.2,
        "{}: {measured:.2} dBm0, expected {total:.2}",
        b.plan
    );

    // After MWI off: plain dial tone from the first sample, no gap.
    let dial = phone.hearing_after_mwi_off(2000);
    let segs = segments(b.law, dial);
    assert_eq!(segs.len(), 1, "{}: dial tone has gaps: {segs:?}", b.plan);
    assert!(segs[0].0);
    assert_freqs(b.law, &dial[..8000], b.freqs, b.level);
}

#[test]
fn us_is_gr506_ten_bursts() {
    check_bursts(&Bursts {
        plan: "us",
        law: Law::Mulaw,
        freqs: &[350.0, 440.0],
        level: -13.0,
        bursts: 10,
        on_ms: 100,
        off_ms: 100,
    });
}

#[test]
fn us_dahdi_six_bursts() {
    check_bursts(&Bursts {
        plan: "us-dahdi",
        law: Law::Mulaw,
        freqs: &[350.0, 440.0],
        level: -10.0,
        bursts: 6,
        on_ms: 100,
        off_ms: 100,
    });
}

#[test]
fn fr_six_bursts_alaw() {
    check_bursts(&Bursts {
        plan: "fr",
        law: Law::Alaw,
        freqs: &[440.0],
        level: -10.0,
        bursts: 6,
        on_ms: 100,
        off_ms: 100,
    });
}

#[test]
fn jp_six_bursts() {
    check_bursts(&Bursts {
        plan: "jp",
        law: Law::Mulaw,
        freqs: &[400.0],
        level: -10.0,
        bursts: 6,
        on_ms: 100,
        off_ms: 100,
    });
}

#[test]
fn il_ten_long_bursts() {
    check_bursts(&Bursts {
        plan: "il",
        law: Law::Alaw,
        freqs: &[414.0],
        level: -10.0,
        bursts: 10,
        on_ms: 160,
        off_ms: 160,
    });
}

/// uk: 350+440 for 750 ms, 440 alone for 750 ms, forever; 440 never stops.
#[test]
fn uk_alternates_without_gaps() {
    let law = Law::Alaw;
    let phone = Phone::hearing_stutter("uk", law, 6000);
    let heard = &phone.heard;
    assert_eq!(segments(law, heard).len(), 1, "no silence in uk stutter");
    let peak = law.peak_for_dbm0(-10.0);
    let p440 = presence(heard, 440.0, peak);
    assert_eq!(p440.len(), 1, "440 Hz throughout: {p440:?}");
    let p350 = presence(heard, 350.0, peak);
    // present 750, absent 750, … (the first run starts at the first window centre, 10 ms).
    assert!(p350.len() >= 7, "{p350:?}");
    for (i, &(on, start, len)) in p350.iter().enumerate().take(p350.len() - 1) {
        assert_eq!(on, i % 2 == 0, "{p350:?}");
        assert_ms(
            &format!("uk 350 Hz run {i} start"),
            start,
            750 * i + if i == 0 { 10 } else { 0 },
        );
        if i > 0 {
            assert_ms(&format!("uk 350 Hz run {i}"), len, 750);
        }
    }
    assert_freqs(law, &heard[..6000], &[350.0, 440.0], -10.0);
    assert_freqs(law, &heard[6000..12000], &[440.0], -10.0);
}

/// de: the stutter is a continuous 425+400 Hz; dial tone is 425 Hz alone.
#[test]
fn de_stutter_is_continuous_two_tone() {
    let law = Law::Alaw;
    let mut phone = Phone::hearing_stutter("de", law, 3000);
    let heard = phone.heard.clone();
    assert_eq!(segments(law, &heard).len(), 1);
    for second in heard.chunks_exact(8000) {
        assert_freqs(law, second, &[400.0, 425.0], -10.0);
    }
    let dial = phone.hearing_after_mwi_off(2000);
    assert_eq!(segments(law, dial).len(), 1);
    assert_freqs(law, &dial[..8000], &[425.0], -10.0);
    assert_freqs(law, &dial[8000..16000], &[425.0], -10.0);
}

/// Flash (our choice): the plan's recall dial tone, us = 3 bursts of 100/100 then steady.
#[test]
fn flash_plays_dial_recall() {
    let law = Law::Mulaw;
    let mut phone = Phone::new("us", law, VmwiMode::None);
    phone.offhook();
    phone.run_for(1005);
    phone.event(LineEvent::Flash);
    phone.run_for(2000);
    let segs = segments(law, &phone.heard);
    // dial tone runs into the first recall burst (the flash takes effect at the next block not
    // yet written: 1020 ms + LEAD_MS)
    assert_eq!(segs.len(), 7, "{segs:?}");
    assert_ms(
        "dial + first recall burst",
        segs[0].2,
        1020 + LEAD_MS as usize + 100,
    );
    for (i, &(on, _, len)) in segs[1..6].iter().enumerate() {
        assert_eq!(on, i % 2 == 1);
        assert_ms("recall burst/gap", len, 100);
    }
    assert!(segs[6].0 && segs[6].2 > 1000);
    assert_freqs(
        law,
        &phone.heard[phone.heard.len() - 8000..],
        &[350.0, 440.0],
        -13.0,
    );
}
