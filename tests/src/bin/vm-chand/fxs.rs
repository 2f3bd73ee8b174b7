//! `vm-chand fxs`: the phone on channel 26 hears the stutter tone (or plain dial tone) that
//! chand plays on the FXS port, checked against the tone plan.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dahdi_mwi_tests::tone::{describe_tones, range, Recording};
use dahdi_mwi_tests::vmcheck::{
    deep_buffers, drain_events, ms, Context, Outcome, Report, BLOCK, FXS_PORT, PHONE,
};
use driver_ffi::{Channel, Flush, Hook, IoMode, ReadOutcome, Readiness};
use fxs::Law;
use mwi_core::table::Writer;
use mwi_core::MwiState;
use serde_json::Value;

use crate::common::{fxs_port, launch, stop, Install, Source, FXS_NUMBER};

/// Burst and gap lengths must be within this of the plan (issue 6), ms.
const CADENCE_TOLERANCE_MS: usize = 5;
/// Level of each tone component must be within this of the plan's level, dB.
const LEVEL_TOLERANCE_DB: f64 = 2.0;
/// Off-hooks per tone check before it fails (see [`listen_checked`]).
const ATTEMPTS: usize = 5;
/// Off-hooks recorded, and those whose audio was cut (printed at the end).
static OFFHOOKS: AtomicUsize = AtomicUsize::new(0);
static DISTURBED: AtomicUsize = AtomicUsize::new(0);
/// DAHDI reports ONHOOK about 1250 ms after the far end hangs up (the hook-flash window).
const ONHOOK_WAIT: Duration = Duration::from_secs(4);

/// The phone on channel 26: hook switch and what it hears.
pub struct Phone {
    ch: Channel,
}

impl Phone {
    /// Opens channel 26 with [`deep_buffers`].
    pub fn open() -> Result<Self, String> {
        let ch = Channel::open(PHONE, IoMode::Blocking).ctx("open 26")?;
        deep_buffers(&ch).map_err(|e| format!("channel 26 buffers: {e}"))?;
        drain_events(&ch)?;
        Ok(Self { ch })
    }

    /// Goes off-hook and records `want_ms` of audio from then on. Returns the recording, the
    /// measured octet rate of the line (its clock), and any events seen on 26.
    fn off_hook_and_listen(&self, want_ms: usize) -> Result<(Recording, f64, Vec<String>), String> {
        self.ch.flush(Flush::READ).ctx("DAHDI_FLUSH on 26")?;
        self.ch
            .hook(Hook::OffHook)
            .ctx("DAHDI_HOOK(OFFHOOK) on 26")?;
        let start = Instant::now();
        let mut rec = Recording::new(Law::Mulaw);
        let mut events = Vec::new();
        let mut buf = [0u8; BLOCK];
        while rec.ms() < want_ms {
            let ready = self
                .ch
                .poll(
                    Readiness::READABLE | Readiness::EVENT,
                    Some(Duration::from_secs(1)),
                )
                .ctx("poll 26")?;
            if ready.is_empty() {
                return Err(format!(
                    "channel 26: no audio for 1 s after {} ms",
                    rec.ms()
                ));
            }
            match self.ch.read(&mut buf).ctx("read 26")? {
                ReadOutcome::Data(n) => rec.push_block(&buf[..n]),
                ReadOutcome::Event(ev) => events.push(format!("{ev:?}")),
                ReadOutcome::WouldBlock => {}
            }
        }
        let rate = rec.samples.len() as f64 / start.elapsed().as_secs_f64();
        Ok((rec, rate, events))
    }

    /// Hangs up and waits until chand reports the port on-hook.
    fn on_hook(&self, inst: &Install) -> Result<Duration, String> {
        self.ch.hook(Hook::OnHook).ctx("DAHDI_HOOK(ONHOOK) on 26")?;
        let start = Instant::now();
        inst.wait_status(ONHOOK_WAIT, |st| {
            fxs_port(st).is_some_and(|p| p["hook"] == "on-hook")
        })
        .map_err(|e| format!("chand did not see on-hook within {ONHOOK_WAIT:?}: {e}"))?;
        Ok(start.elapsed())
    }
}

/// What a plan's stutter tone should sound like: leading (on, off) bursts in ms, then a
/// steady tone of these frequencies.
struct Expected {
    bursts: Vec<(usize, usize)>,
    freqs: Vec<f64>,
    level_dbm0: f64,
}

/// Reads the expected stutter pattern from the plan itself (fxs::cptone): the `!` elements
/// before the loop, then the continuous element.
fn expected(plan: &str) -> Result<Expected, String> {
    let p = fxs::cptone(plan).ok_or_else(|| format!("no built-in plan {plan}"))?;
    let els = p.stutter.elements();
    let mut bursts = Vec::new();
    let mut i = 0;
    while let (Some(on), Some(off)) = (els.get(i), els.get(i + 1)) {
        match (
            on.once && !on.is_silence(),
            off.once && off.is_silence(),
            on.duration_ms,
            off.duration_ms,
        ) {
            (true, true, Some(a), Some(b)) => bursts.push((a as usize, b as usize)),
            _ => break,
        }
        i += 2;
    }
    let steady = els
        .get(i)
        .filter(|e| e.duration_ms.is_none() && !e.is_silence())
        .ok_or_else(|| {
            format!(
                "plan {plan}: stutter {:?} is not bursts then a steady tone",
                els
            )
        })?;
    let mut freqs = vec![f64::from(steady.f1)];
    freqs.extend(steady.second.map(|(_, f)| f64::from(f)));
    Ok(Expected {
        bursts,
        freqs,
        level_dbm0: p.level_dbm0,
    })
}

/// Levels (dBm0) of `freqs` between `from` and `to` ms.
fn levels(rec: &Recording, freqs: &[f64], from: usize, to: usize) -> Vec<f64> {
    freqs.iter().map(|&f| rec.level(f, from, to)).collect()
}

/// Checks a recording against the plan's stutter tone (or, with no bursts expected, plain
/// dial tone) and describes what was measured.
fn check_tone(rec: &Recording, exp: &Expected) -> Outcome {
    let cad = rec.cadence();
    let (steady_start, steady_len) = cad
        .steady
        .ok_or_else(|| format!("no steady tone at the end: {}", cad.summary()))?;
    if cad.bursts.len() != exp.bursts.len() {
        return Err(format!(
            "{} bursts, want {}: {} (bursts {:?})",
            cad.bursts.len(),
            exp.bursts.len(),
            cad.summary(),
            cad.bursts
        ));
    }
    for (k, (b, &(on, off))) in cad.bursts.iter().zip(&exp.bursts).enumerate() {
        if b.on_ms.abs_diff(on) > CADENCE_TOLERANCE_MS
            || b.off_ms.abs_diff(off) > CADENCE_TOLERANCE_MS
        {
            return Err(format!(
                "burst {} is {} ms on / {} ms off, want {on}/{off} ±{CADENCE_TOLERANCE_MS}: {:?}",
                k + 1,
                b.on_ms,
                b.off_ms,
                cad.bursts
            ));
        }
    }
    if steady_len < 400 {
        return Err(format!("steady tone heard for only {steady_len} ms"));
    }
    // Goertzel over the steady tone, leaving out its first and last 10 ms.
    let (from, to) = (steady_start + 10, steady_start + steady_len - 10);
    let tones = rec.tones(from, to);
    let heard: Vec<f64> = tones.iter().map(|t| t.0).collect();
    if heard != exp.freqs {
        return Err(format!(
            "steady tone is {}, want {:?} Hz",
            describe_tones(&tones),
            exp.freqs
        ));
    }
    let mut all_levels = levels(rec, &exp.freqs, from, to);
    for b in &cad.bursts {
        all_levels.extend(levels(
            rec,
            &exp.freqs,
            b.start_ms + 10,
            b.start_ms + b.on_ms - 10,
        ));
    }
    let (lo, hi) = all_levels
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &l| (lo.min(l), hi.max(l)));
    if lo < exp.level_dbm0 - LEVEL_TOLERANCE_DB || hi > exp.level_dbm0 + LEVEL_TOLERANCE_DB {
        return Err(format!(
            "component levels {lo:.1}..{hi:.1} dBm0, want {:.1} ±{LEVEL_TOLERANCE_DB} dB",
            exp.level_dbm0
        ));
    }
    let bursts = if cad.bursts.is_empty() {
        "no bursts".to_owned()
    } else {
        format!(
            "{} bursts, on {} ms / off {} ms",
            cad.bursts.len(),
            range(cad.bursts.iter().map(|b| b.on_ms)),
            range(cad.bursts.iter().map(|b| b.off_ms)),
        )
    };
    Ok(format!(
        "{bursts} (first at {} ms after off-hook), steady from {steady_start} ms for {steady_len} ms: \
         {}; every component {lo:.1}..{hi:.1} dBm0",
        cad.lead_silence_ms,
        describe_tones(&tones)
    ))
}

/// chand's own count of late 20 ms blocks and DAHDI underruns on the port.
fn port_glitches(inst: &Install) -> String {
    inst.status()
        .ok()
        .and_then(|st| fxs_port(&st).cloned())
        .map_or_else(
            || "unknown".into(),
            |p| {
                format!(
                    "late_blocks {} underruns {}",
                    p["late_blocks"], p["underruns"]
                )
            },
        )
}

/// Off-hook, listen, check against `exp`, on-hook; up to [`ATTEMPTS`] times, because under TCG
/// a stalled vCPU can cut chand's real-time audio (every disturbed attempt is printed with
/// what was heard and chand's late-block and underrun counters).
fn listen_checked(phone: &Phone, inst: &Install, exp: &Expected, what: &str) -> Outcome {
    let want_ms = exp.bursts.iter().map(|(a, b)| a + b).sum::<usize>() + 900;
    let mut disturbed = Vec::new();
    for attempt in 1..=ATTEMPTS {
        let before = port_glitches(inst);
        let (rec, rate, events) = phone.off_hook_and_listen(want_ms)?;
        let checked = check_tone(&rec, exp);
        let onhook = phone.on_hook(inst)?;
        let glitches = format!("chand {before} before, {} after", port_glitches(inst));
        OFFHOOKS.fetch_add(1, Ordering::Relaxed);
        match checked {
            Ok(detail) => {
                return Ok(format!(
                    "{detail}; line clock {rate:.0} samples/s; events on 26 {events:?}; chand saw \
                     on-hook {} after hang-up; {glitches}; attempt {attempt} of {ATTEMPTS}{}",
                    ms(onhook),
                    if disturbed.is_empty() {
                        String::new()
                    } else {
                        format!(" (disturbed before: {})", disturbed.join(" | "))
                    }
                ))
            }
            Err(e) => {
                DISTURBED.fetch_add(1, Ordering::Relaxed);
                println!("# {what} attempt {attempt} disturbed: {e}; {glitches}");
                disturbed.push(format!("attempt {attempt}: {e}; {glitches}"));
            }
        }
    }
    Err(disturbed.join(" | "))
}

/// MWI on (2 new) or off (2 old) for 8000 through `source`, and chand's port taking it.
pub fn set_port_mwi(inst: &Install, source: &mut dyn Source, on: bool) -> Result<(), String> {
    let state = if on {
        MwiState::voice(true, 2, 0)
    } else {
        MwiState::voice(false, 0, 2)
    };
    source.publish(FXS_NUMBER, state)?;
    inst.wait_status(Duration::from_secs(5), |st| {
        fxs_port(st).is_some_and(|p| p["mwi"] == on)
    })
    .map(drop)
    .map_err(|e| format!("chand did not take MWI {on} for {FXS_NUMBER}: {e}"))
}

/// MWI `on` (or off) for 8000 through `source`, off-hook, then from channel 26 the stutter
/// tone of `plan` (on) or its plain dial tone (off, no bursts) (the check `name`).
pub fn fxs_tone(
    phone: &Phone,
    inst: &Install,
    source: &mut dyn Source,
    plan: &str,
    on: bool,
    name: &str,
) -> Outcome {
    let mut exp = expected(plan)?;
    set_port_mwi(inst, source, on)?;
    if !on {
        exp.bursts.clear();
    }
    listen_checked(phone, inst, &exp, name)
}

/// [`fxs_tone`] on with the table as the source; with `plain`, then off (checked whatever the
/// stutter check gave).
fn fxs_checks(report: &mut Report, inst: &Install, writer: &mut Writer, plan: &str, plain: bool) {
    let stutter = format!("FXS stutter ({plan}) from the real DAHDI audio of 2 -> 26");
    let phone = match Phone::open() {
        Ok(p) => p,
        Err(e) => {
            report.record(&stutter, Err(e));
            return;
        }
    };
    report.record(
        &stutter,
        fxs_tone(&phone, inst, writer, plan, true, &stutter),
    );
    if plain {
        let name = format!("FXS MWI off -> plain dial tone ({plan})");
        report.record(&name, fxs_tone(&phone, inst, writer, plan, false, &name));
    }
}

/// `chand status --json` (the command line) shows the port with its state.
fn status_check(inst: &Install, bin: &Path) -> Outcome {
    let text = inst.cli(bin, &["status", "--json"])?;
    let st: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    let p = fxs_port(&st).ok_or_else(|| format!("no port {FXS_NUMBER} in {st}"))?;
    let want = [
        ("channel", Value::from(FXS_PORT)),
        ("hook", Value::from("on-hook")),
        ("mwi", Value::from(false)),
        ("tone_plan", Value::from("us")),
    ];
    for (k, v) in &want {
        if &p[*k] != v {
            return Err(format!("port {k} = {}, want {v}: {p}", p[*k]));
        }
    }
    if st["backend"] != "kernel" {
        return Err(format!("backend {}, want kernel", st["backend"]));
    }
    Ok(format!("backend kernel; port {p}"))
}

/// The FXS part: chand with a port on channel 2, once per tone plan.
pub fn fxs_part(report: &mut Report, chand_bin: &Path) {
    for (name, plan, first) in [("fxs-us", "us", true), ("fxs-usdahdi", "us-dahdi", false)] {
        let Some((inst, mut writer, chand)) = launch(report, chand_bin, name, Some(plan), "setup")
        else {
            continue;
        };
        fxs_checks(report, &inst, &mut writer, plan, first);
        if first {
            report.record(
                "chand status --json shows the port",
                status_check(&inst, chand_bin),
            );
        }
        stop(report, &inst, "chand", chand);
    }
    println!(
        "# FXS audio continuity: {} of {} off-hooks heard the tone cut or shifted (dropouts \
         of one or more DAHDI timer ticks while chand's next 20 ms block was not yet written)",
        DISTURBED.load(Ordering::Relaxed),
        OFFHOOKS.load(Ordering::Relaxed)
    );
}
