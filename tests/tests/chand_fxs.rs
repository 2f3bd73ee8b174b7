//! The real chand daemon on the sim back-end, FXS side: the test writes MWI state into the shared
//! table (standing in for sipd), sim phones go off-hook on chand's FXS sockets and measure what
//! they hear: frequencies by Goertzel, burst and gap lengths within ±5 ms, number of bursts,
//! then steady tone, for us, us-dahdi, uk, de, fr and jp; plain dial tone after MWI off; the
//! first digit, on-hook and flash.

use std::time::Duration;

use chand::backend::sim::peer::Phone;
use dahdi_mwi_tests::env::{Chand, Env, NO_SIP_SERVER};
use dahdi_mwi_tests::tone::{listen, record, Recording, Segment};
use fxs::Law;
use mwi_core::MwiState;

const WAIT: Duration = Duration::from_secs(5);

/// One FXS port of the test config and what its plan must sound like.
struct Port {
    channel: u32,
    number: &'static str,
    cptone: &'static str,
    law: Law,
    /// Stutter dial tone: frequencies of the bursts and of the steady part.
    stutter: &'static [f64],
    /// Burst count and on/off ms (0 bursts: no gaps at all).
    bursts: usize,
    on_ms: usize,
    off_ms: usize,
    /// Dial tone frequencies.
    dial: &'static [f64],
    /// Level of each component, dBm0.
    level: f64,
}

const PORTS: [Port; 6] = [
    Port {
        channel: 1,
        number: "8001",
        cptone: "us",
        law: Law::Mulaw,
        stutter: &[350.0, 440.0],
        bursts: 10,
        on_ms: 100,
        off_ms: 100,
        dial: &[350.0, 440.0],
        level: -13.0,
    },
    Port {
        channel: 2,
        number: "8002",
        cptone: "us-dahdi",
        law: Law::Mulaw,
        stutter: &[350.0, 440.0],
        bursts: 6,
        on_ms: 100,
        off_ms: 100,
        dial: &[350.0, 440.0],
        level: -10.0,
    },
    Port {
        channel: 3,
        number: "8003",
        cptone: "uk",
        law: Law::Alaw,
        stutter: &[350.0, 440.0],
        bursts: 0,
        on_ms: 0,
        off_ms: 0,
        dial: &[350.0, 440.0],
        level: -10.0,
    },
    Port {
        channel: 4,
        number: "8004",
        cptone: "de",
        law: Law::Alaw,
        stutter: &[400.0, 425.0],
        bursts: 0,
        on_ms: 0,
        off_ms: 0,
        dial: &[425.0],
        level: -10.0,
    },
    Port {
        channel: 5,
        number: "8005",
        cptone: "fr",
        law: Law::Alaw,
        stutter: &[440.0],
        bursts: 6,
        on_ms: 100,
        off_ms: 100,
        dial: &[440.0],
        level: -10.0,
    },
    Port {
        channel: 6,
        number: "8006",
        cptone: "jp",
        law: Law::Mulaw,
        stutter: &[400.0],
        bursts: 6,
        on_ms: 100,
        off_ms: 100,
        dial: &[400.0],
        level: -10.0,
    },
];

fn config_sections() -> String {
    let mut s = NO_SIP_SERVER.to_owned();
    for p in &PORTS {
        s += &format!(
            "[[fxs]]\nchannel = {}\nnumber = \"{}\"\ncptone = \"{}\"\nlaw = \"{}\"\n",
            p.channel,
            p.number,
            p.cptone,
            match p.law {
                Law::Mulaw => "mulaw",
                Law::Alaw => "alaw",
            }
        );
    }
    s
}

#[track_caller]
fn assert_ms(what: &str, got: usize, want: usize) {
    assert!(
        got.abs_diff(want) <= 5,
        "{what}: measured {got} ms, expected {want} ± 5 ms"
    );
}

/// `rec` between `from_ms` and `to_ms` holds exactly `freqs`, each at `level` ± 1 dB.
#[track_caller]
fn assert_tones(
    what: &str,
    rec: &Recording,
    from_ms: usize,
    to_ms: usize,
    freqs: &[f64],
    level: f64,
) {
    let tones = rec.tones(from_ms, to_ms);
    let heard: Vec<f64> = tones.iter().map(|t| t.0).collect();
    assert_eq!(heard, freqs, "{what}: tones {tones:?}");
    for (f, l) in tones {
        assert!(
            (l - level).abs() < 1.0,
            "{what}: {f} Hz at {l:.2} dBm0, expected {level}"
        );
    }
}

/// Bursts of `on_ms`/`off_ms`, then steady tone, each burst at the plan's frequencies.
fn check_bursts(p: &Port, rec: &Recording) {
    let segs = rec.segments();
    let what = |s: &str| format!("{} {s}", p.cptone);
    assert_eq!(segs.len(), 2 * p.bursts + 1, "{}: {segs:?}", p.cptone);
    let c = rec.cadence();
    assert_eq!(
        c.lead_silence_ms, 0,
        "{}: tone from the first sample",
        p.cptone
    );
    assert_eq!(c.bursts.len(), p.bursts);
    for (i, b) in c.bursts.iter().enumerate() {
        assert_ms(&what(&format!("burst {}", i + 1)), b.on_ms, p.on_ms);
        assert_ms(&what(&format!("gap {}", i + 1)), b.off_ms, p.off_ms);
        for &f in p.stutter {
            let l = rec.level(f, b.start_ms + 10, b.start_ms + b.on_ms - 10);
            assert!(
                (l - p.level).abs() < 1.0,
                "{}: {f} Hz at {l:.2} dBm0 in burst {}",
                p.cptone,
                i + 1
            );
        }
    }
    let (start, len) = c.steady.expect("steady tone after the bursts");
    assert_ms(
        &what("steady start"),
        start,
        p.bursts * (p.on_ms + p.off_ms),
    );
    assert!(len >= 900, "{}: steady tone only {len} ms", p.cptone);
    assert_tones(
        &what("steady"),
        rec,
        start + 50,
        rec.ms(),
        p.stutter,
        p.level,
    );
}

/// uk: 350+440 for 750 ms, then 440 alone for 750 ms, repeated; never silent.
fn check_uk(p: &Port, rec: &Recording) {
    assert_eq!(rec.segments().len(), 1, "uk stutter has no silence");
    let peak = p.law.peak_for_dbm0(p.level);
    let p350 = fxs::measure::presence(&rec.samples, 350.0, peak);
    let p440 = fxs::measure::presence(&rec.samples, 440.0, peak);
    assert_eq!(p440.len(), 1, "440 Hz throughout: {p440:?}");
    assert!(p350.len() >= 4, "{p350:?}");
    for (i, &(on, start, len)) in p350.iter().enumerate().take(p350.len() - 1) {
        assert_eq!(on, i % 2 == 0, "{p350:?}");
        if i > 0 {
            assert_ms(&format!("uk 350 Hz run {i} start"), start, 750 * i);
            assert_ms(&format!("uk 350 Hz run {i}"), len, 750);
        }
    }
    assert_tones("uk 350+440 part", rec, 50, 700, &[350.0, 440.0], p.level);
    assert_tones("uk 440 part", rec, 800, 1450, &[440.0], p.level);
}

/// de: a continuous 425+400 Hz.
fn check_continuous(p: &Port, rec: &Recording) {
    assert_eq!(rec.segments().len(), 1, "{}: no silence", p.cptone);
    assert_tones(p.cptone, rec, 0, 1000, p.stutter, p.level);
    assert_tones(p.cptone, rec, 1000, rec.ms(), p.stutter, p.level);
}

/// Plain dial tone: one segment from the first sample, the plan's dial frequencies.
fn check_dial(p: &Port, rec: &Recording) {
    assert_eq!(
        rec.segments(),
        [Segment {
            on: true,
            start_ms: 0,
            len_ms: rec.ms()
        }],
        "{}: dial tone without gaps",
        p.cptone
    );
    assert_tones(
        &format!("{} dial", p.cptone),
        rec,
        0,
        rec.ms(),
        p.dial,
        p.level,
    );
}

fn stutter_ms(p: &Port) -> usize {
    match p.bursts {
        0 => 3000,
        n => n * (p.on_ms + p.off_ms) + 1000,
    }
}

#[test]
fn stutter_then_dial_tone_for_six_plans() {
    let env = Env::new();
    let cfg = env.write_config(&config_sections());
    let mut writer = cfg.writer();
    let mut chand = Chand::start(&env, &cfg);
    for p in &PORTS {
        writer
            .publish(p.number, MwiState::voice(true, 2, 1))
            .unwrap();
    }
    for p in &PORTS {
        chand.wait_port_mwi(p.number, true);
    }
    let phones: Vec<Phone> = PORTS
        .iter()
        .map(|p| Phone::connect(&env.sim_dir, p.channel, WAIT).unwrap())
        .collect();

    // All six phones off-hook at once, each recorded in its own thread.
    let heard: Vec<Recording> = std::thread::scope(|s| {
        let handles: Vec<_> = PORTS
            .iter()
            .zip(&phones)
            .map(|(p, phone)| {
                s.spawn(move || {
                    phone.off_hook().unwrap();
                    record(phone, p.law, stutter_ms(p)).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (p, rec) in PORTS.iter().zip(&heard) {
        // Late blocks (fxs: more than 100 ms late are dropped) explain a broken cadence.
        let late = chand.port_status(p.number).late_blocks;
        eprintln!(
            "figure: {} stutter: {}; steady {}; late blocks {late}",
            p.cptone,
            rec.cadence().summary(),
            dahdi_mwi_tests::tone::describe_tones(&rec.tones(rec.ms() - 800, rec.ms()))
        );
        match p.cptone {
            "uk" => check_uk(p, rec),
            "de" => check_continuous(p, rec),
            _ => check_bursts(p, rec),
        }
    }
    let st = chand.port_status("8001");
    assert_eq!(st.hook, "off-hook", "{st:?}");

    // MWI off: hang up, off-hook again, plain dial tone.
    for (p, phone) in PORTS.iter().zip(&phones) {
        phone.on_hook().unwrap();
        writer
            .publish(p.number, MwiState::voice(false, 0, 1))
            .unwrap();
    }
    for p in &PORTS {
        chand.wait_port_mwi(p.number, false);
    }
    let heard: Vec<Recording> = std::thread::scope(|s| {
        let handles: Vec<_> = PORTS
            .iter()
            .zip(&phones)
            .map(|(p, phone)| {
                s.spawn(move || {
                    // Blocks still in flight from before the hang-up are not the new call's.
                    let _ = listen(phone, p.law, Duration::from_millis(100));
                    phone.off_hook().unwrap();
                    record(phone, p.law, 1500).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (p, rec) in PORTS.iter().zip(&heard) {
        check_dial(p, rec);
    }
}

/// After an event that must stop the tone, only the blocks chand wrote before it read the event
/// still carry tone (at most 200 ms: a loaded CI machine delays chand's wake-up); from then on the line is silent (`audio_flows`: silence blocks
/// keep coming while off-hook, as on a DAHDI channel) or sends nothing at all (on-hook).
fn assert_tone_stops(phone: &Phone, law: Law, what: &str, audio_flows: bool) {
    let (rec, _) = listen(phone, law, Duration::from_millis(600));
    let last_tone = rec
        .segments()
        .iter()
        .filter(|s| s.on)
        .map(|s| s.start_ms + s.len_ms)
        .max()
        .unwrap_or(0);
    assert!(last_tone <= 200, "{what}: tone for {last_tone} ms after it");
    if audio_flows {
        assert!(rec.ms() >= 400, "{what}: only {} ms of silence", rec.ms());
    } else {
        assert!(rec.ms() <= 200, "{what}: {} ms of audio after it", rec.ms());
    }
}

#[test]
fn first_digit_on_hook_and_flash() {
    let env = Env::new();
    let cfg = env.write_config(&config_sections());
    let mut writer = cfg.writer();
    let mut chand = Chand::start(&env, &cfg);
    let us = &PORTS[0];
    writer
        .publish(us.number, MwiState::voice(true, 1, 0))
        .unwrap();
    chand.wait_port_mwi(us.number, true);
    let phone = Phone::connect(&env.sim_dir, us.channel, WAIT).unwrap();

    // The first digit stops the stutter tone in the middle of the bursts.
    phone.off_hook().unwrap();
    let rec = record(&phone, us.law, 300).unwrap();
    assert_eq!(rec.cadence().bursts.len(), 1, "{:?}", rec.segments());
    phone.digit('5').unwrap();
    assert_tone_stops(&phone, us.law, "first digit", true);
    let st = chand.port_status(us.number);
    assert_eq!(st.hook, "off-hook", "{st:?}");
    assert!(st.playing.is_none(), "{st:?}");
    // More digits change nothing.
    phone.digit('1').unwrap();
    assert_tone_stops(&phone, us.law, "second digit", true);

    // On-hook stops audio as well.
    phone.on_hook().unwrap();
    phone.off_hook().unwrap();
    let rec = record(&phone, us.law, 500).unwrap();
    assert_eq!(
        rec.cadence().bursts.len(),
        2,
        "stutter again: {:?}",
        rec.segments()
    );
    phone.on_hook().unwrap();
    assert_tone_stops(&phone, us.law, "on-hook", false);
    chand.wait_status("on-hook", WAIT, |st| st.fxs[0].hook == "on-hook");

    // Flash during dial tone: recall dial tone (us: 3 bursts of 100/100, then steady).
    writer
        .publish(us.number, MwiState::voice(false, 0, 0))
        .unwrap();
    chand.wait_port_mwi(us.number, false);
    phone.off_hook().unwrap();
    let before = record(&phone, us.law, 500).unwrap();
    assert_eq!(
        before.segments().len(),
        1,
        "dial tone: {:?}",
        before.segments()
    );
    phone.flash().unwrap();
    let after = record(&phone, us.law, 1600).unwrap();
    let c = after.cadence();
    // The flash takes effect at a block boundary: dial tone runs into the first recall burst.
    assert_eq!(
        c.bursts.len(),
        3,
        "recall dial tone: {:?}",
        after.segments()
    );
    for b in &c.bursts[1..] {
        assert_ms("recall burst", b.on_ms, 100);
    }
    for b in &c.bursts {
        assert_ms("recall gap", b.off_ms, 100);
    }
    let (start, _) = c.steady.expect("steady after recall bursts");
    assert_tones(
        "recall steady",
        &after,
        start + 50,
        after.ms(),
        &[350.0, 440.0],
        -13.0,
    );
    eprintln!("figure: us flash: recall {}", c.summary());
    phone.on_hook().unwrap();
    assert_tone_stops(&phone, us.law, "on-hook after flash", false);
}

/// Regression: a driver's write underrun reaches the line's counter (it was dropped on the way
/// and read 0 on hardware); the sim phone reports one with `Eunderrun`. Shown in both status forms.
#[test]
fn underruns_are_counted_and_shown() {
    let env = Env::new();
    let cfg = env.write_config(&config_sections());
    let mut chand = Chand::start(&env, &cfg);
    let us = &PORTS[0];
    let phone = Phone::connect(&env.sim_dir, us.channel, WAIT).unwrap();
    assert_eq!(chand.port_status(us.number).underruns, 0);
    phone.off_hook().unwrap();
    phone.underrun().unwrap();
    phone.underrun().unwrap();
    chand.wait_status("2 underruns", WAIT, |st| st.fxs[0].underruns == 2);
    let (ok, text, err) = chand.cli(&["status"]);
    assert!(ok, "{err}");
    let line = text
        .lines()
        .find(|l| l.contains(&format!("number {}:", us.number)))
        .unwrap_or_else(|| panic!("no port {} in {text}", us.number));
    assert!(line.contains("underruns 2,"), "{line}");
}
