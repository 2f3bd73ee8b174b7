//! chand on the real DAHDI kernel modules: runs inside the VM tier (tests/vm/run.sh,
//! scripts/test.d/50-vm.sh) as root, on the back-to-back `dahdi_dynamic_loc` spans of
//! tests/vm/system.conf. chand (kernel back-end) owns the gateway's side; this program plays
//! the far side:
//!
//! | chand (span 1) | far side (span 2) | played by |
//! | --- | --- | --- |
//! | FXS port, channel 2 (`fxoks`) | channel 26 (`fxsks`) | the phone: hook and audio through driver-ffi |
//! | D-channel 24 (`dchan`, user side) | D-channel 48 (`dchan`) | libpri 1.6 as the PBX, network side (tests/peers/libpri-pbx.c `dahdi:48`) |
//!
//! Each chand run has its own table, state and runtime dirs under /tmp; in `fxs` and `pri` this
//! program writes the table itself (standing in for sipd). `vm-chand fxs`:
//! 1. `cptone = "us"`: MWI on in the table, the phone goes off-hook and measures the GR-506
//!    stutter tone in the real DAHDI audio (Goertzel levels of 350 and 440 Hz, burst and gap
//!    lengths in 1 ms frames); MWI off gives plain dial tone; `chand status --json` shows the port.
//! 2. `cptone = "us-dahdi"`: the 6-burst stutter.
//!
//! `vm-chand pri`:
//! 1. libpri decodes MWIActivate and MWIDeactivate for 2001, once with `mwi_transport = "setup"`
//!    (call-independent SETUP) and once with `"facility"` (connectionless FACILITY).
//! 2. Lamp resync, once per transport: N numbers (default 1000) on in the table before chand
//!    starts and with no PBX; then libpri connects and every lamp crosses the 64 kbit/s
//!    D-channel. Prints the time from the first I-frame libpri received to the frame of the last
//!    MWI it decoded, MWI/s, and the fraction of the line-rate bound: the bits of the frames
//!    chand sent in that window (each frame + 2 FCS octets + 1 flag, plus the zero bits HDLC
//!    stuffing inserts, computed from the frame and its FCS) over 64000 bit/s, divided by the
//!    measured time. Every line libpri prints is stamped when it arrives here.
//!
//! Under TCG a vCPU can stall for several ms; a tone check whose audio was cut is repeated up to
//! 5 times, and every disturbed attempt is printed (`# ... disturbed`), with a closing count.
//!
//! `vm-chand e2e`: the whole path. sipd (unsolicited mode, UDP 127.0.0.1:5060, NOTIFYs allowed
//! from 127.0.0.1) and chand (FXS port 8000 on 2, PRI span 1 with `numbers = ["2..."]`) share
//! one table; this program is the voice mail and sends NOTIFYs over loopback UDP. `yes` for
//! 2001 → libpri decodes MWIActivate with nbOfMessages; `yes` for 8000 → the phone measures the
//! stutter tone as above; `no` for both → MWIDeactivate and plain dial tone.
//!
//! `vm-chand journal`: sipd and chand as in `e2e`, but logging to the guest's own
//! systemd-journald as under systemd (stdout and stderr on its stream socket, JOURNAL_STREAM
//! set); after NOTIFYs for 8000 and 2001, `journalctl -o json` must show their MWI lines sent
//! natively with the fields NUMBER, CHANNEL, SPAN and CALL_ID.
//!
//! Usage: `vm-chand fxs|pri|all [CHAND_BINARY] [RESYNC_NUMBERS]` (default: `chand` next to this
//! program, 1000 numbers, at most 1000: the resync numbers are 2000..=2999, pattern `2...`);
//! `vm-chand e2e|journal [CHAND_BINARY] [SIPD_BINARY]` (default: both next to this program).
//! The libpri peer is compiled with gcc inside the guest (host / is read-only there) into /tmp.
//!
//! Channel layout and PASS/FAIL report: [`dahdi_mwi_tests::vmcheck`].
//! Configs, chand's and libpri's logs are left in the job folder (`$VM_JOB`).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use chand::status::{ChandStatus, LampStatus, PortStatus, SpanStatus};
use dahdi_mwi_tests::daemon::{profile_dir, wait_for, Daemon};
use dahdi_mwi_tests::libpri::{build_peer, rx_frame, Decoded};
use dahdi_mwi_tests::sip::{Summary, VoiceMail};
use dahdi_mwi_tests::tone::{describe_tones, range, Recording};
use dahdi_mwi_tests::vmcheck::{
    deep_buffers, drain_events, ms, Context, Outcome, Report, BLOCK, DCHAN_GW, FXS_PORT, PHONE,
};
use driver_ffi::{Channel, Flush, Hook, IoMode, ReadOutcome, Readiness};
use fxs::Law;
use mwi_core::config::Config;
use mwi_core::table::{TableConfig, Writer};
use mwi_core::MwiState;
use serde_json::Value;

/// libpri's D-channel ([`dahdi_mwi_tests::vmcheck::DCHAN_PBX`]) as libpri-pbx names it.
const PBX_CHANNEL: &str = "dahdi:48";
/// The FXS port's number and a served user behind the PBX (pattern `2...`).
const FXS_NUMBER: &str = "8000";
const PRI_NUMBER: &str = "2001";
/// sipd's UDP port in `vm-chand e2e` (loopback of the guest, where nothing else listens).
const SIP_PORT: u16 = 5060;
/// Resync numbers are `2000 + i`; the pattern `2...` allows 1000 of them.
const RESYNC_MAX: usize = 1000;
/// The D-channel's bit rate: one 64 kbit/s timeslot.
const LINE_BIT_RATE: f64 = 64_000.0;
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

/// The job folder (results stay there), or the current directory outside the VM tier.
fn job_dir() -> PathBuf {
    std::env::var_os("VM_JOB").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// One chand installation: table, state and runtime dirs under /tmp (guest tmpfs), the config
/// and chand's log in the job folder.
struct Install {
    name: String,
    dir: PathBuf,
    config_path: PathBuf,
    config: Config,
    /// Start the daemons with stdout and stderr on journald (see [`Install::start_daemon`])
    /// instead of a log file.
    journal: bool,
}

impl Install {
    /// A fresh installation `name` with an FXS port on channel 2 playing `plan` (none: no FXS
    /// port) and PRI span 1 (D-channel 24, user side, `numbers = ["2..."]`) using `transport`;
    /// with `sip_port`, sipd's part too: unsolicited NOTIFYs from 127.0.0.1 over UDP to
    /// 127.0.0.1:`sip_port`.
    fn new(
        name: &str,
        plan: Option<&str>,
        transport: &str,
        sip_port: Option<u16>,
    ) -> Result<Self, String> {
        let dir = PathBuf::from(format!("/tmp/vm-chand/{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let fxs = plan.map_or_else(String::new, |plan| {
            format!(
                "[[fxs]]\nchannel = {FXS_PORT}\nnumber = \"{FXS_NUMBER}\"\ncptone = \"{plan}\"\n"
            )
        });
        let (sip, unsolicited) = sip_port.map_or_else(Default::default, |port| {
            (
                format!("[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\n"),
                "unsolicited = true\nallow = [\"127.0.0.1/32\"]\noptions_interval = 0\n".to_owned(),
            )
        });
        let text = format!(
            "{sip}[mwi_server]\nserver = \"ipv4:127.0.0.1\"\n{unsolicited}\
             [dahdi]\nbackend = \"kernel\"\n\
             {fxs}\
             [[pri]]\nspan = 1\ndchannel = {DCHAN_GW}\nside = \"user\"\nnumbers = [\"2...\"]\n\
             mwi_transport = \"{transport}\"\n\
             [state]\ndir = \"{d}/state\"\nruntime_dir = \"{d}/run\"\n\
             [table]\npath = \"{d}/mwi-table\"\ncapacity = 4096\n\
             [log]\nlevel = \"info\"\n",
            d = dir.display()
        );
        let config_path = job_dir().join(format!("vm-chand-{name}.toml"));
        let config = Config::from_str(&text, config_path.display().to_string())
            .map_err(|e| format!("config does not parse: {e}\n{text}"))?;
        std::fs::write(&config_path, &text)
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        Ok(Self {
            name: name.to_owned(),
            dir,
            config_path,
            config,
            journal: false,
        })
    }

    /// Copies the logs (kept on tmpfs while running: a write to the 9p job folder costs a
    /// round trip to the host, which would slow chand's event loop) to the job folder as
    /// `vm-chand-NAME.*.log`.
    fn keep_logs(&self) {
        for log in ["chand.log", "sipd.log", "libpri.log", "libpri.stderr"] {
            let from = self.dir.join(log);
            if from.exists() {
                let to = job_dir().join(format!("vm-chand-{}.{log}", self.name));
                if let Err(e) = std::fs::copy(&from, &to) {
                    println!("# cannot keep {}: {e}", from.display());
                }
            }
        }
    }

    /// The shared table as a writer (standing in for sipd).
    fn writer(&self) -> Result<Writer, String> {
        Writer::open(&TableConfig::for_config(&self.config))
            .map_err(|e| format!("open the MWI table as its writer: {e}"))
    }

    /// `chand run --config FILE --allow-root`, once its control socket answers.
    fn start(&self, bin: &Path) -> Result<Daemon, String> {
        self.start_daemon(bin, "chand", || self.status().is_ok())
    }

    /// `sipd run --config FILE --allow-root`, once its status socket answers.
    fn start_sipd(&self, bin: &Path) -> Result<Daemon, String> {
        self.start_daemon(bin, "sipd", || {
            sipd::daemon::query_status(&self.config).is_ok()
        })
    }

    /// `NAME run --config FILE --allow-root` logging to `NAME.log` (with `journal`: to
    /// journald, as systemd starts a unit), once `up` holds.
    fn start_daemon(
        &self,
        bin: &Path,
        name: &str,
        up: impl Fn() -> bool,
    ) -> Result<Daemon, String> {
        let config = self.config_path.display().to_string();
        let run = ["run", "--config", &config, "--allow-root"];
        let log = self.dir.join(format!("{name}.log"));
        let mut daemon = if self.journal {
            // systemd-cat connects stdout and stderr to journald but, unlike systemd, does not
            // set JOURNAL_STREAM (systemd.exec(5)), by which the daemon knows it: the shell
            // sets it to stderr's device:inode, then becomes the daemon.
            let bin = bin.display().to_string();
            let mut args = vec![
                "-t",
                name,
                "sh",
                "-c",
                r#"export JOURNAL_STREAM="$(stat -L -c %d:%i /proc/self/fd/2)"; exec "$0" "$@""#,
                &bin,
            ];
            args.extend(run);
            Daemon::spawn(Path::new("systemd-cat"), &args, &log)
        } else {
            Daemon::spawn(bin, &run, &log)
        };
        let start = Instant::now();
        let answered = wait_for(Duration::from_secs(20), || {
            daemon.exited().is_some() || up()
        });
        if let Some(st) = daemon.exited() {
            return Err(format!("{name} exited ({st}); log:\n{}", daemon.log()));
        }
        if !answered {
            return Err(format!(
                "{name}'s socket did not answer within 20 s; log:\n{}",
                daemon.log()
            ));
        }
        println!(
            "# {name} ({}) answering after {}",
            self.name,
            ms(start.elapsed())
        );
        Ok(daemon)
    }

    /// `status json` over the control socket.
    fn status(&self) -> Result<ChandStatus, String> {
        chand::control::query_status(&chand::daemon::control_path(&self.config))
            .map_err(|e| format!("chand status: {e}"))
    }

    /// Waits up to `timeout` for `cond` on `status json`; the last status either way.
    fn wait_status(
        &self,
        timeout: Duration,
        cond: impl Fn(&ChandStatus) -> bool,
    ) -> Result<ChandStatus, String> {
        let mut last = Err(String::new());
        if wait_for(timeout, || {
            last = self.status();
            last.as_ref().is_ok_and(&cond)
        }) {
            last
        } else {
            Err(format!("last status {last:?}"))
        }
    }

    /// The `chand` command line against this installation: (success, stdout + stderr).
    fn cli(&self, bin: &Path, args: &[&str]) -> Result<String, String> {
        let out = Command::new(bin)
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .output()
            .map_err(|e| format!("run chand {args:?}: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "chand {args:?}: {}: {text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

fn fxs_port(st: &ChandStatus) -> Option<&PortStatus> {
    st.port(FXS_NUMBER)
}

fn pri_span(st: &ChandStatus) -> Option<&SpanStatus> {
    st.span(1)
}

fn lamp<'a>(st: &'a ChandStatus, number: &str) -> Option<&'a LampStatus> {
    pri_span(st)?.lamp(number)
}

/// Where the MWI news comes from: the shared table written by this program (standing in for
/// sipd), or sipd itself fed unsolicited NOTIFYs.
trait Source {
    /// Makes `state` the news for `number`.
    fn publish(&mut self, number: &str, state: MwiState) -> Result<(), String>;
    /// What a latency is counted from, e.g. `the table write`.
    fn origin(&self) -> &'static str;
}

impl Source for Writer {
    fn publish(&mut self, number: &str, state: MwiState) -> Result<(), String> {
        Writer::publish(self, number, state)
            .map(drop)
            .map_err(|e| format!("publish: {e}"))
    }

    fn origin(&self) -> &'static str {
        "the table write"
    }
}

/// A scripted voice-mail server sending unsolicited NOTIFYs (RFC 3842) over loopback UDP to
/// sipd at `sipd`; each must be answered 200 OK.
struct Notifier {
    vm: VoiceMail,
    sipd: SocketAddr,
}

impl Source for Notifier {
    fn publish(&mut self, number: &str, state: MwiState) -> Result<(), String> {
        let summary = Summary {
            number: number.to_owned(),
            waiting: state.waiting,
            new: state.new,
            old: state.old,
        };
        let text = self.vm.notify_text(&summary, self.sipd);
        let answer = self
            .vm
            .send(&text, self.sipd, Duration::from_secs(5))
            .map_err(|e| format!("NOTIFY for {number} to sipd: {e}"))?;
        if answer == "SIP/2.0 200 OK" {
            Ok(())
        } else {
            Err(format!(
                "sipd answered the NOTIFY for {number} with {answer}"
            ))
        }
    }

    fn origin(&self) -> &'static str {
        "sending the NOTIFY"
    }
}

/// The phone on channel 26: hook switch and what it hears.
struct Phone {
    ch: Channel,
}

impl Phone {
    /// Opens channel 26 with [`deep_buffers`].
    fn open() -> Result<Self, String> {
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
            fxs_port(st).is_some_and(|p| p.hook == "on-hook")
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
            |p| format!("late_blocks {} underruns {}", p.late_blocks, p.underruns),
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
fn set_port_mwi(inst: &Install, source: &mut dyn Source, on: bool) -> Result<(), String> {
    let state = if on {
        MwiState::voice(true, 2, 0)
    } else {
        MwiState::voice(false, 0, 2)
    };
    source.publish(FXS_NUMBER, state)?;
    inst.wait_status(Duration::from_secs(5), |st| {
        fxs_port(st).is_some_and(|p| p.mwi == on)
    })
    .map(drop)
    .map_err(|e| format!("chand did not take MWI {on} for {FXS_NUMBER}: {e}"))
}

/// MWI `on` (or off) for 8000 through `source`, off-hook, then from channel 26 the stutter
/// tone of `plan` (on) or its plain dial tone (off, no bursts) (the check `name`).
fn fxs_tone(
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
    let st: ChandStatus = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    let p = fxs_port(&st).ok_or_else(|| format!("no port {FXS_NUMBER} in {st:?}"))?;
    let got = (p.channel, p.hook.as_str(), p.mwi, p.tone_plan.as_str());
    let want = (FXS_PORT as u32, "on-hook", false, "us");
    if got != want {
        return Err(format!(
            "port (channel, hook, mwi, tone_plan) = {got:?}, want {want:?}: {p:?}"
        ));
    }
    if st.backend != "kernel" {
        return Err(format!("backend {}, want kernel", st.backend));
    }
    Ok(format!("backend kernel; port {p:?}"))
}

/// One line libpri-pbx printed, stamped when it arrived.
type Line = (Instant, String);

/// libpri 1.6 as the PBX on DAHDI channel 48 (network side); killed when dropped.
struct Pbx {
    child: Child,
    lines: Receiver<Line>,
    /// Every line except the APDU debug text, in order.
    log: Vec<Line>,
    dchan_up: Option<Instant>,
    decoded: Vec<Decoded>,
    log_file: BufWriter<File>,
    started: Instant,
}

impl Pbx {
    /// Starts libpri-pbx on channel 48, network side; `lean`: APDU decode only (less CPU per
    /// frame, for the throughput run).
    fn spawn(inst: &Install, bin: &Path, lean: bool) -> Result<Self, String> {
        let create = |name: &str| {
            let path = inst.dir.join(name);
            File::create(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let log_file = BufWriter::new(create("libpri.log")?);
        let stderr = create("libpri.stderr")?;
        let mut child = Command::new(bin)
            .args([PBX_CHANNEL, "network"])
            .args(lean.then_some("lean"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            lines,
            log: Vec::new(),
            dchan_up: None,
            decoded: Vec::new(),
            log_file,
            started: Instant::now(),
        })
    }

    fn take(&mut self, (at, line): Line) {
        if line.starts_with("APDU ") {
            return;
        }
        let t = at.saturating_duration_since(self.started).as_secs_f64() * 1000.0;
        let _ = writeln!(self.log_file, "{t:9.1} {line}");
        if line == "DCHAN_UP" {
            self.dchan_up.get_or_insert(at);
        } else if line == "DCHAN_DOWN" {
            self.dchan_up = None;
        } else if let Some(d) = Decoded::from_line(&line) {
            self.decoded.push(d);
        }
        self.log.push((at, line));
    }

    /// Takes lines until `cond` holds, `timeout` passes, or (with `stall`) no line came for
    /// that long; whether `cond` held.
    fn wait(
        &mut self,
        timeout: Duration,
        stall: Option<Duration>,
        cond: impl Fn(&Self) -> bool,
    ) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            let mut left = end.saturating_duration_since(Instant::now());
            if let Some(s) = stall {
                left = left.min(s);
            }
            match self.lines.recv_timeout(left) {
                Ok(line) => self.take(line),
                Err(RecvTimeoutError::Timeout) if Instant::now() < end && stall.is_none() => {}
                Err(_) => return cond(self),
            }
        }
    }

    fn tail(&self, n: usize) -> String {
        self.log[self.log.len().saturating_sub(n)..]
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Pbx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check_activate(d: &Decoded, number: &str, messages: u16) -> Result<(), String> {
    if d.op() == "activate"
        && d.get("servedUserNr.unknownPartyNumber") == Some(number)
        && d.get("basicService") == Some("1")
        && d.nb_of_messages() == Some(messages)
    {
        Ok(())
    } else {
        Err(format!(
            "want MWIActivate servedUserNr {number} nbOfMessages {messages}: {:?}",
            d.fields
        ))
    }
}

fn fields(d: &Decoded) -> String {
    let m: BTreeMap<_, _> = d.fields.iter().collect();
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// libpri on 48 brings the link up with chand on 24 (the check `PRI link up (TRANSPORT)`);
/// the PBX once it is up.
fn pbx_up(report: &mut Report, inst: &Install, peer: &Path, transport: &str) -> Option<Pbx> {
    let name = format!("PRI link up ({transport})");
    let mut pbx = match Pbx::spawn(inst, peer, false) {
        Ok(p) => p,
        Err(e) => {
            report.record(&name, Err(e));
            return None;
        }
    };
    let start = Instant::now();
    let up = (|| {
        if !pbx.wait(Duration::from_secs(20), None, |p| p.dchan_up.is_some()) {
            return Err(format!(
                "no DCHAN_UP from libpri within 20 s:\n{}",
                pbx.tail(20)
            ));
        }
        let t_up = start.elapsed();
        inst.wait_status(Duration::from_secs(5), |st| {
            pri_span(st).is_some_and(|s| s.link_up)
        })
        .map_err(|e| format!("libpri up but chand's link is not: {e}"))?;
        Ok(format!(
            "libpri (network side, channel 48) DCHAN_UP {} after it started; chand (user side, \
             channel 24) link up",
            ms(t_up)
        ))
    })();
    report.record(&name, up).then_some(pbx)
}

/// 2001 on (3 new, 1 old) through `source`: libpri decodes MWIActivate with nbOfMessages 3 as
/// its first invoke.
fn pri_activate(pbx: &mut Pbx, source: &mut dyn Source) -> Outcome {
    let t = Instant::now();
    source.publish(PRI_NUMBER, MwiState::voice(true, 3, 1))?;
    if !pbx.wait(Duration::from_secs(10), None, |p| !p.decoded.is_empty()) {
        return Err(format!(
            "libpri decoded nothing within 10 s:\n{}",
            pbx.tail(30)
        ));
    }
    let d = &pbx.decoded[0];
    check_activate(d, PRI_NUMBER, 3)?;
    Ok(format!(
        "libpri decoded {} ({} after {})",
        fields(d),
        ms(t.elapsed()),
        source.origin()
    ))
}

/// 2001 off through `source`: libpri decodes MWIDeactivate as its second and last invoke, and
/// chand's lamp is no longer pending.
fn pri_deactivate(pbx: &mut Pbx, inst: &Install, source: &mut dyn Source) -> Outcome {
    let t = Instant::now();
    source.publish(PRI_NUMBER, MwiState::voice(false, 0, 4))?;
    if !pbx.wait(Duration::from_secs(10), None, |p| p.decoded.len() >= 2) {
        return Err(format!("no second invoke within 10 s:\n{}", pbx.tail(30)));
    }
    let latency = t.elapsed();
    let d = pbx.decoded[1].clone();
    if d.op() != "deactivate"
        || d.get("servedUserNr.unknownPartyNumber") != Some(PRI_NUMBER)
        || d.get("basicService") != Some("1")
        || d.nb_of_messages().is_some()
    {
        return Err(format!(
            "want MWIDeactivate servedUserNr {PRI_NUMBER}: {:?}",
            d.fields
        ));
    }
    let st = inst
        .wait_status(Duration::from_secs(5), |st| {
            lamp(st, PRI_NUMBER).is_some_and(|l| !l.pending)
        })
        .map_err(|e| format!("lamp still pending: {e}"))?;
    // Anything sent twice would show up now.
    pbx.wait(Duration::from_millis(300), None, |_| false);
    if pbx.decoded.len() != 2 {
        return Err(format!(
            "{} invokes decoded, want 2: {:?}",
            pbx.decoded.len(),
            pbx.decoded
        ));
    }
    let l = lamp(&st, PRI_NUMBER);
    let frames = pri_span(&st).map(|s| s.frames_out);
    Ok(format!(
        "libpri decoded {} ({} after {}); chand lamp {l:?}, frames out {frames:?}",
        fields(&d),
        ms(latency),
        source.origin()
    ))
}

/// [`pbx_up`], then [`pri_activate`] and [`pri_deactivate`] with the table as the source.
fn pri_checks(
    report: &mut Report,
    inst: &Install,
    writer: &mut Writer,
    peer: &Path,
    transport: &str,
) {
    let Some(mut pbx) = pbx_up(report, inst, peer, transport) else {
        return;
    };
    report.record(
        &format!("PRI MWIActivate {PRI_NUMBER} ({transport})"),
        pri_activate(&mut pbx, writer),
    );
    report.record(
        &format!("PRI MWIDeactivate {PRI_NUMBER} ({transport})"),
        pri_deactivate(&mut pbx, inst, writer),
    );
}

/// CPU time (user + system) a process has used so far, from /proc/PID/stat (proc(5): fields
/// 14 and 15, in clock ticks of USER_HZ = 100 per second, the value of Linux's user ABI on x86).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces, start with field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CRC-16/X.25, the HDLC FCS (ISO/IEC 13239), as sent: low octet first.
fn fcs(frame: &[u8]) -> [u8; 2] {
    let mut crc: u16 = 0xffff;
    for &b in frame {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    (!crc).to_le_bytes()
}

/// Bits HDLC puts on the line for `frame`: the frame and its FCS (sent least significant bit
/// first, a 0 stuffed after every five 1s) and one flag.
fn line_bits(frame: &[u8]) -> usize {
    let mut ones = 0;
    let mut stuffed = 0;
    for &b in frame.iter().chain(&fcs(frame)) {
        for i in 0..8 {
            if b >> i & 1 == 1 {
                ones += 1;
                if ones == 5 {
                    stuffed += 1;
                    ones = 0;
                }
            } else {
                ones = 0;
            }
        }
    }
    (frame.len() + 2 + 1) * 8 + stuffed
}

/// An I-frame: control field bit 0 is 0 (Q.921 §3.4.2), control after the 2-octet address.
fn is_i_frame(frame: &[u8]) -> bool {
    frame.get(2).is_some_and(|c| c & 1 == 0)
}

/// What the PBX saw of a resync, measured from its stamped lines.
struct Throughput {
    /// Frames chand sent from the first I-frame after DCHAN_UP (exclusive: its bits were on the
    /// line before the window opened) to the frame of the last decoded MWI (inclusive).
    frames: usize,
    i_frames: usize,
    octets: usize,
    bits: usize,
    window: Duration,
    /// DCHAN_UP to the last MWI line.
    up_to_last: Duration,
}

impl Throughput {
    fn measure(pbx: &Pbx) -> Result<Self, String> {
        let rx: Vec<(usize, Instant, Vec<u8>)> = pbx
            .log
            .iter()
            .enumerate()
            .filter_map(|(i, (at, l))| Some((i, *at, rx_frame(l)?)))
            .collect();
        let last_mwi = pbx
            .log
            .iter()
            .rposition(|(_, l)| l.starts_with("MWI "))
            .ok_or("no MWI line")?;
        // I-frames that arrive before libpri's link is up are not taken (a lost first SABME
        // leaves chand up and libpri not, until libpri's T200): start after DCHAN_UP.
        let up_line = pbx.log[..last_mwi]
            .iter()
            .rposition(|(_, l)| l == "DCHAN_UP")
            .ok_or("no DCHAN_UP before the last MWI")?;
        let first = rx
            .iter()
            .position(|(i, _, f)| *i > up_line && is_i_frame(f))
            .ok_or("no I-frame received")?;
        let end = rx
            .iter()
            .rposition(|(i, _, _)| *i < last_mwi)
            .ok_or("no frame before the last MWI")?;
        let up = pbx.dchan_up.ok_or("no DCHAN_UP")?;
        let window = &rx[first + 1..=end.max(first)];
        Ok(Self {
            frames: window.len(),
            i_frames: window.iter().filter(|(_, _, f)| is_i_frame(f)).count(),
            octets: window.iter().map(|(_, _, f)| f.len()).sum(),
            bits: window.iter().map(|(_, _, f)| line_bits(f)).sum(),
            window: rx[end].1.saturating_duration_since(rx[first].1),
            up_to_last: pbx.log[last_mwi].0.saturating_duration_since(up),
        })
    }

    /// Seconds the frames need at 64 kbit/s over the seconds they took.
    fn fraction(&self) -> f64 {
        self.bits as f64 / LINE_BIT_RATE / self.window.as_secs_f64()
    }
}

/// Lamp resync of `count` numbers over the real D-channel: every lamp must arrive with its
/// nbOfMessages; the throughput is reported (a benchmark figure, not a pass criterion).
fn resync_checks(
    report: &mut Report,
    chand_bin: &Path,
    peer: &Path,
    count: usize,
    transport: &str,
) {
    let name = format!("PRI resync of {count} lamps ({transport})");
    let inst = match Install::new(&format!("resync-{transport}"), None, transport, None) {
        Ok(i) => i,
        Err(e) => {
            report.record(&name, Err(e));
            return;
        }
    };
    let result = (|| -> Result<(Pbx, SpanStatus, String), String> {
        let mut writer = inst.writer()?;
        for i in 0..count {
            writer
                .publish(
                    &format!("{}", 2000 + i),
                    MwiState::voice(true, (i % 9 + 1) as u32, 0),
                )
                .map_err(|e| format!("publish: {e}"))?;
        }
        let mut chand = inst.start(chand_bin)?;
        inst.wait_status(Duration::from_secs(10), |st| {
            pri_span(st).is_some_and(|s| s.lamps.len() == count)
        })
        .map_err(|e| format!("chand does not hold {count} lamps: {e}"))?;
        let cpu = |pid: u32| cpu_time(pid).unwrap_or_default();
        let (chand0, self0) = (cpu(chand.pid()), cpu(std::process::id()));
        let mut pbx = Pbx::spawn(&inst, peer, true)?;
        let started = Instant::now();
        let done = pbx.wait(
            Duration::from_secs(90),
            Some(Duration::from_secs(15)),
            |p| p.decoded.len() >= count,
        );
        let elapsed = started.elapsed();
        let load = |d: Duration| 100.0 * d.as_secs_f64() / elapsed.as_secs_f64();
        let (chand_cpu, pbx_cpu, self_cpu) = (
            cpu(chand.pid()).saturating_sub(chand0),
            cpu(pbx.child.id()),
            cpu(std::process::id()).saturating_sub(self0),
        );
        let cpu_note = format!(
            "CPU in those {:.1} s (2 vCPUs): chand {:.0}%, libpri {:.0}%, this program {:.0}%",
            elapsed.as_secs_f64(),
            load(chand_cpu),
            load(pbx_cpu),
            load(self_cpu)
        );
        // Late duplicates, if any, arrive now.
        pbx.wait(Duration::from_millis(500), None, |_| false);
        let st = inst.status()?;
        let span = pri_span(&st).cloned();
        chand.stop();
        let span = span.ok_or_else(|| format!("no span 1 in chand status {st:?}"))?;
        if !done {
            return Err(format!(
                "libpri decoded {} of {count} invokes in {}; chand's span: frames_out {}, \
                 retransmissions {}, queue {}; libpri's last lines:\n{}",
                pbx.decoded.len(),
                ms(elapsed),
                span.frames_out,
                span.retransmissions,
                span.queue_depth,
                pbx.tail(20)
            ));
        }
        Ok((pbx, span, cpu_note))
    })();
    let (pbx, span, cpu_note) = match result {
        Ok(r) => r,
        Err(e) => {
            report.record(&name, Err(e));
            inst.keep_logs();
            return;
        }
    };
    report.record(
        &name,
        (|| {
            let mut got: HashMap<&str, Option<u16>> = HashMap::new();
            for d in &pbx.decoded {
                if d.op() != "activate" {
                    return Err(format!("unexpected invoke {:?}", d.fields));
                }
                got.insert(d.served(), d.nb_of_messages());
            }
            for i in 0..count {
                let n = format!("{}", 2000 + i);
                let want = Some((i % 9 + 1) as u16);
                if got.get(n.as_str()) != Some(&want) {
                    return Err(format!(
                        "{n}: libpri saw {:?}, want nbOfMessages {want:?}",
                        got.get(n.as_str())
                    ));
                }
            }
            Ok(format!(
                "every number 2000..{} activated with its nbOfMessages; {} invokes decoded ({} \
             duplicates); chand frames_out {} retransmissions {}",
                2000 + count - 1,
                pbx.decoded.len(),
                pbx.decoded.len() - got.len(),
                span.frames_out,
                span.retransmissions
            ))
        })(),
    );
    report.record(&format!("PRI resync throughput ({transport})"), (|| {
        let t = Throughput::measure(&pbx)?;
        let secs = t.window.as_secs_f64();
        Ok(format!(
            "{count} MWI in {:.3} s from DCHAN_UP to the last decoded = {:.1} MWI/s (libpri as sender: \
             77.2 MWI/s, facts/perf.md); window first I-frame after DCHAN_UP -> frame of the last MWI {:.3} s: {} \
             frames ({} I) {} octets from chand = {} bits on the line with FCS, flags and bit \
             stuffing = {:.3} s at 64 kbit/s; line-rate fraction {:.1}% (goal >= 80%: {}); {:.1} \
             octets/frame, {:.1} MWI/s in the window; {cpu_note}",
            t.up_to_last.as_secs_f64(),
            count as f64 / t.up_to_last.as_secs_f64(),
            secs,
            t.frames,
            t.i_frames,
            t.octets,
            t.bits,
            t.bits as f64 / LINE_BIT_RATE,
            t.fraction() * 100.0,
            if t.fraction() >= 0.8 { "met" } else { "NOT met" },
            t.octets as f64 / t.frames.max(1) as f64,
            (count - 1) as f64 / secs,
        ))
    })());
    drop(pbx);
    inst.keep_logs();
}

/// A fresh installation (see [`Install::new`]), its table writer and chand started; `None`
/// when one of them fails, recorded as the failed check `chand run (NAME)`.
fn launch(
    report: &mut Report,
    chand_bin: &Path,
    name: &str,
    plan: Option<&str>,
    transport: &str,
) -> Option<(Install, Writer, Daemon)> {
    let run = Install::new(name, plan, transport, None).and_then(|inst| {
        let writer = inst.writer()?;
        let chand = inst.start(chand_bin)?;
        Ok((inst, writer, chand))
    });
    match run {
        Ok(r) => Some(r),
        Err(e) => {
            report.record(&format!("chand run ({name})"), Err(e));
            None
        }
    }
}

/// The FXS part: chand with a port on channel 2, once per tone plan.
fn fxs_part(report: &mut Report, chand_bin: &Path) {
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

/// The PRI part: the exchange with libpri in both transports, then the resyncs.
/// [`build_peer`] into /tmp (the host's target dir is read-only in the guest) as the check
/// `build libpri-pbx (gcc in the guest)`.
fn peer(report: &mut Report) -> Option<PathBuf> {
    let t = Instant::now();
    let out = PathBuf::from("/tmp/libpri-pbx");
    let built = build_peer(&out).map(|()| out);
    let outcome = built
        .as_ref()
        .map(|p| format!("{} in {}", p.display(), ms(t.elapsed())))
        .map_err(Clone::clone);
    report.record("build libpri-pbx (gcc in the guest)", outcome);
    built.ok()
}

fn pri_part(report: &mut Report, chand_bin: &Path, count: usize) {
    let Some(peer) = peer(report) else {
        return;
    };
    for transport in ["setup", "facility"] {
        let name = format!("pri-{transport}");
        let Some((inst, mut writer, chand)) = launch(report, chand_bin, &name, None, transport)
        else {
            continue;
        };
        pri_checks(report, &inst, &mut writer, &peer, transport);
        stop(report, &inst, "chand", chand);
    }
    for transport in ["setup", "facility"] {
        resync_checks(report, chand_bin, &peer, count, transport);
    }
}

/// SIGTERM to the daemon `name`, which must exit 0; the logs go to the job folder.
fn stop(report: &mut Report, inst: &Install, name: &str, mut daemon: Daemon) {
    let st = daemon.stop();
    inst.keep_logs();
    report.record(
        &format!("{name} stops on SIGTERM ({})", inst.name),
        if st.success() {
            Ok(format!("{st}"))
        } else {
            Err(format!("{st}; log:\n{}", daemon.log()))
        },
    );
}

/// The whole path on the real DAHDI modules: a scripted voice mail sends unsolicited NOTIFYs
/// over loopback UDP to sipd, which writes the shared table; chand (kernel back-end) reads it
/// and drives the FXS port on channel 2 (the phone on 26 hears the stutter tone) and the PRI
/// D-channel 24 (libpri on 48 decodes MWIActivate for 2001); then `Messages-Waiting: no`
/// gives MWIDeactivate and plain dial tone.
fn e2e_part(report: &mut Report, chand_bin: &Path, sipd_bin: &Path) {
    let Some(peer) = peer(report) else {
        return;
    };
    let name = "e2e";
    let started = Install::new(name, Some("us"), "setup", Some(SIP_PORT)).and_then(|inst| {
        let sipd = inst.start_sipd(sipd_bin)?;
        let chand = inst.start(chand_bin)?;
        let phone = Phone::open()?;
        let vm = VoiceMail::bind().map_err(|e| format!("voice mail's UDP socket: {e}"))?;
        let notifier = Notifier {
            vm,
            sipd: SocketAddr::from(([127, 0, 0, 1], SIP_PORT)),
        };
        Ok((inst, sipd, chand, phone, notifier))
    });
    let (inst, sipd, chand, phone, mut notifier) = match started {
        Ok(r) => r,
        Err(e) => {
            report.record("sipd and chand run (e2e)", Err(e));
            return;
        }
    };
    if let Some(mut pbx) = pbx_up(report, &inst, &peer, name) {
        report.record(
            &format!("NOTIFY {PRI_NUMBER} yes -> sipd -> chand -> libpri MWIActivate"),
            pri_activate(&mut pbx, &mut notifier),
        );
        let stutter = format!("NOTIFY {FXS_NUMBER} yes -> sipd -> chand -> stutter (us) on 26");
        report.record(
            &stutter,
            fxs_tone(&phone, &inst, &mut notifier, "us", true, &stutter),
        );
        report.record(
            &format!("NOTIFY {PRI_NUMBER} no -> sipd -> chand -> libpri MWIDeactivate"),
            pri_deactivate(&mut pbx, &inst, &mut notifier),
        );
        let plain = format!("NOTIFY {FXS_NUMBER} no -> sipd -> chand -> plain dial tone on 26");
        report.record(
            &plain,
            fxs_tone(&phone, &inst, &mut notifier, "us", false, &plain),
        );
    }
    stop(report, &inst, "chand", chand);
    stop(report, &inst, "sipd", sipd);
}

/// systemd-journald of the guest (its /run is the guest's own tmpfs); killed when dropped.
struct Journald(Child);

impl Journald {
    /// Starts /lib/systemd/systemd-journald once its stream socket exists. journald asks for
    /// its cgroup at start-up, so the cgroup2 file system is mounted first if it is not.
    fn start() -> Result<Self, String> {
        if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            let st = Command::new("mount")
                .args(["-t", "cgroup2", "cgroup2", "/sys/fs/cgroup"])
                .status()
                .map_err(|e| format!("mount cgroup2: {e}"))?;
            if !st.success() {
                return Err(format!("mount -t cgroup2 /sys/fs/cgroup: {st}"));
            }
        }
        let stderr = File::create(job_dir().join("vm-chand-journald.log"))
            .map_err(|e| format!("journald's log: {e}"))?;
        let child = Command::new("/lib/systemd/systemd-journald")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("start systemd-journald (package systemd): {e}"))?;
        let mut journald = Self(child);
        let up = wait_for(Duration::from_secs(10), || {
            Path::new("/run/systemd/journal/stdout").exists()
        });
        if let Ok(Some(st)) = journald.0.try_wait() {
            return Err(format!("systemd-journald exited: {st}"));
        }
        if !up {
            return Err("systemd-journald: no /run/systemd/journal/stdout after 10 s".into());
        }
        Ok(journald)
    }

    /// Every entry so far, as `journalctl -o json` gives them (field name → string).
    fn entries() -> Result<Vec<Value>, String> {
        let out = Command::new("journalctl")
            .args(["-o", "json", "--no-pager"])
            .output()
            .map_err(|e| format!("journalctl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "journalctl: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).map_err(|e| format!("journal entry {l}: {e}")))
            .collect()
    }
}

impl Drop for Journald {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to 5 s for a journal entry of `ident` that the daemon sent itself (native
/// protocol, `_TRANSPORT=journal`) whose MESSAGE holds `message` and which has every field of
/// `fields` (a value of `None`: any non-empty value).
fn journal_entry(ident: &str, message: &str, fields: &[(&str, Option<&str>)]) -> Outcome {
    let matches = |e: &Value| {
        e["SYSLOG_IDENTIFIER"] == ident
            && e["_TRANSPORT"] == "journal"
            && e["MESSAGE"].as_str().is_some_and(|m| m.contains(message))
    };
    let mut last = Vec::new();
    let mut found = None;
    wait_for(Duration::from_secs(5), || {
        last = Journald::entries().unwrap_or_default();
        found = last.iter().find(|e| matches(e)).cloned();
        found.is_some()
    });
    let e = found.ok_or_else(|| {
        let theirs: Vec<String> = last
            .iter()
            .filter(|e| e["SYSLOG_IDENTIFIER"] == ident)
            .map(|e| format!("[{}] {}", e["_TRANSPORT"], e["MESSAGE"]))
            .collect();
        format!(
            "no native journal entry of {ident} with {message:?}; its entries:\n{}",
            theirs.join("\n")
        )
    })?;
    let mut shown = Vec::new();
    for (k, want) in fields {
        let got = e[*k].as_str().unwrap_or("");
        let ok = match want {
            Some(w) => got == *w,
            None => !got.is_empty(),
        };
        if !ok {
            return Err(format!("{k} = {:?}, want {want:?}: entry {e}", e[*k]));
        }
        shown.push(format!("{k}={got}"));
    }
    Ok(format!(
        "MESSAGE={} {} PRIORITY={}",
        e["MESSAGE"],
        shown.join(" "),
        e["PRIORITY"]
    ))
}

/// sipd and chand started as systemd would start them, logging to journald: their MWI lines
/// carry the structured fields NUMBER, CHANNEL, SPAN and CALL_ID (issue 7 item 6).
fn journal_part(report: &mut Report, chand_bin: &Path, sipd_bin: &Path) {
    let name = "journal";
    let started = Journald::start().and_then(|journald| {
        let mut inst = Install::new(name, Some("us"), "setup", Some(SIP_PORT))?;
        inst.journal = true;
        let sipd = inst.start_sipd(sipd_bin)?;
        let chand = inst.start(chand_bin)?;
        Ok((journald, inst, sipd, chand))
    });
    let (_journald, inst, sipd, chand) = match started {
        Ok(r) => r,
        Err(e) => {
            report.record("journald, sipd and chand run (journal)", Err(e));
            return;
        }
    };
    let sent = VoiceMail::bind()
        .map_err(|e| format!("voice mail's UDP socket: {e}"))
        .and_then(|vm| {
            let mut notifier = Notifier {
                vm,
                sipd: SocketAddr::from(([127, 0, 0, 1], SIP_PORT)),
            };
            notifier.publish(PRI_NUMBER, MwiState::voice(true, 3, 1))?;
            set_port_mwi(&inst, &mut notifier, true)
        });
    if report.record(
        "NOTIFYs for 8000 and 2001 reach chand (journal)",
        sent.map(|()| "chand's port 8000 shows MWI on".into()),
    ) {
        let channel = FXS_PORT.to_string();
        report.record(
            "journal: sipd's MWI line has NUMBER and CALL_ID",
            journal_entry(
                "sipd",
                "MWI 8000: ON",
                &[("NUMBER", Some(FXS_NUMBER)), ("CALL_ID", None)],
            ),
        );
        report.record(
            "journal: chand's FXS MWI line has CHANNEL and NUMBER",
            journal_entry(
                "chand",
                "(8000): MWI ON",
                &[("CHANNEL", Some(&channel)), ("NUMBER", Some(FXS_NUMBER))],
            ),
        );
        report.record(
            "journal: chand's span MWI line has SPAN and NUMBER",
            journal_entry(
                "chand",
                "(2001): MWI ON",
                &[("SPAN", Some("1")), ("NUMBER", Some(PRI_NUMBER))],
            ),
        );
    }
    stop(report, &inst, "chand", chand);
    stop(report, &inst, "sipd", sipd);
}

fn main() -> ExitCode {
    let usage = || {
        eprintln!(
            "usage: vm-chand fxs|pri|all [CHAND_BINARY] [RESYNC_NUMBERS 1..={RESYNC_MAX}]\n       \
             vm-chand e2e|journal [CHAND_BINARY] [SIPD_BINARY]"
        );
        ExitCode::from(2)
    };
    let mut args = std::env::args().skip(1);
    let mode = args.next();
    let (fxs, pri) = match mode.as_deref() {
        Some("fxs") => (true, false),
        Some("pri") => (false, true),
        Some("all") => (true, true),
        Some("e2e" | "journal") => (false, false),
        _ => return usage(),
    };
    let chand_bin = args
        .next()
        .map_or_else(|| profile_dir().join("chand"), PathBuf::from);
    let mut report = Report::default();
    let started = Instant::now();
    if !(fxs || pri) {
        let sipd_bin = args
            .next()
            .map_or_else(|| profile_dir().join("sipd"), PathBuf::from);
        if mode.as_deref() == Some("e2e") {
            e2e_part(&mut report, &chand_bin, &sipd_bin);
        } else {
            journal_part(&mut report, &chand_bin, &sipd_bin);
        }
    } else {
        let count: usize = match args.next().map(|a| a.parse()) {
            None => RESYNC_MAX,
            Some(Ok(n)) if (1..=RESYNC_MAX).contains(&n) => n,
            Some(_) => return usage(),
        };
        if fxs {
            fxs_part(&mut report, &chand_bin);
        }
        if pri {
            pri_part(&mut report, &chand_bin, count);
        }
    }
    println!("# vm-chand took {}", ms(started.elapsed()));
    report.finish("vm-chand")
}
