//! `demo` (run it with `scripts/demo`): the whole dahdi-mwi path on an embedded default config
//! that needs no telephony card and no voice-mail server.
//!
//! sipd and chand run on the sim back-end; a simulated phone is plugged into FXS port 1
//! (number 8000, cptone us) and a simulated QSIG PBX (the isdn crate's Q.921 network side) into
//! the D-channel of PRI span 1 (served users 2...). A scripted voice-mail server sends
//! unsolicited NOTIFYs for 8000 and 2001 over loopback UDP to the real sipd. The demo prints, as it happens, each
//! NOTIFY and sipd's answer, the MWIActivate the PBX decoded with its arguments, the tone the
//! phone heard (burst pattern and frequencies), then the same for the deactivation, and writes
//! a PNG of the stutter tone over its first 3 s (level in dBm0 against time in ms, each burst
//! marked at its on and off times, titled with the tone plan and the cadence found). Then a
//! call: a new message turns the stutter tone on again, the phone goes off-hook, hears it, dials
//! the voice-mail pilot `*98` in DTMF; the voice-mail server (SIPp, tests/scenarios/vm_call.xml,
//! for SIP; the demo's own RTP socket for media) answers and plays a greeting tone that the
//! phone hears (measured), the phone presses 1, which the server receives as RFC 4733 events,
//! and hangs up (BYE). Both daemons trace every message (switched on by command) and capture
//! it (`[trace] capture_dir`, next to the PNG): at the end the demo shows a few trace lines and
//! reads both pcapng files with tshark (the NOTIFYs, the INVITE and the BYE; the QSIG
//! MWIActivate and MWIDeactivate in the D-channel frames; nothing flagged). It ends by itself
//! within [`DEADLINE`].
//!
//! Usage: `demo [--png PATH]`.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chand::backend::sim::peer::Phone;
use dahdi_mwi_tests::daemon::{binary_path, profile_dir, wait_for, RaiseOnDrop};
use dahdi_mwi_tests::env::{Chand, Env, Sipd};
use dahdi_mwi_tests::fakesipd::{press, rtp_tone, talk, Voice};
use dahdi_mwi_tests::pbx::{QsigPbx, Received};
use dahdi_mwi_tests::plot;
use dahdi_mwi_tests::sip::{free_port, Summary, VoiceMail};
use dahdi_mwi_tests::sipp::{passed, scenario, spawn as sipp};
use dahdi_mwi_tests::tone::{describe_tones, record, Recording};
use dahdi_mwi_tests::tshark;
use fxs::Law;
use isdn::q921::Side;

/// The whole demo ends (with an error) if it is not done by then.
const DEADLINE: Duration = Duration::from_secs(50);
/// Each step's wait.
const STEP: Duration = Duration::from_secs(10);
/// The phone's number and FXS channel.
const PHONE: &str = "8000";
const PHONE_CHANNEL: u32 = 1;
/// The phone's tone plan (`cptone`).
const PLAN: &str = "us";
/// A served user behind the PBX, and the PRI D-channel.
const PBX_USER: &str = "2001";
const DCHANNEL: u32 = 24;
/// How much of the stutter tone is recorded and plotted.
const RECORD_MS: usize = 3000;

/// The voice-mail pilot, the greeting's tone (Hz) and the digit the phone presses in the call.
const PILOT: &str = "*98";
const GREETING_HZ: f64 = 1004.0;
const DIGIT: char = '1';

/// The embedded default config, before the installation's own sections are appended
/// ([`Env::config_text`]): `{port}` is sipd's UDP port, `{vmport}` the voice-mail server's
/// NOTIFY port, `{vmsip}` its SIP port for calls, `{capture}` the capture directory.
const CONFIG: &str = r#"# dahdi-mwi demo: no card, no server.
[sip]
listen = ["udp:127.0.0.1:{port}"]

[mwi_server]
server = "ipv4:127.0.0.1"
port = {vmport}
unsolicited = true
allow = ["127.0.0.1/32"]
options_interval = 0

[sip.proxy]
server = "ipv4:127.0.0.1"
port = {vmsip}

[media]
address = "127.0.0.1"

[trace]
capture_dir = "{capture}"

[[fxs]]
channel = 1
number = "8000"
cptone = "{plan}"
dial_plan = "(*xx|[2-9]xxx|x.T)"
voicemail = "*98"

[[pri]]
span = 1
dchannel = 24
side = "user"
mwi_transport = "setup"
numbers = ["2..."]
"#;

fn main() -> ExitCode {
    std::thread::spawn(|| {
        std::thread::sleep(DEADLINE);
        eprintln!("demo: not done after {DEADLINE:?}: giving up");
        std::process::exit(1);
    });
    let png = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => profile_dir()
            .parent()
            .map_or_else(|| PathBuf::from("."), PathBuf::from)
            .join("demo")
            .join("stutter-envelope.png"),
        [flag, path] if flag == "--png" => PathBuf::from(path),
        _ => {
            eprintln!("usage: demo [--png PATH]");
            return ExitCode::from(2);
        }
    };
    match run(&png) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Timestamped output.
struct Out {
    start: Instant,
}

impl Out {
    fn say(&self, who: &str, text: &str) {
        let t = self.start.elapsed().as_secs_f64();
        let mut lines = text.lines();
        println!("[{t:6.3} s] {who:<9} {}", lines.next().unwrap_or(""));
        for l in lines {
            println!("{:22}{l}", "");
        }
    }
}

/// The PBX in its own thread, printing every invoke as it is decoded.
struct PbxThread {
    stop: Arc<AtomicBool>,
    invokes: Receiver<Received>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl PbxThread {
    fn start(env: &Env, out_start: Instant) -> Result<Self, String> {
        let mut pbx = QsigPbx::connect(&env.sim_dir, DCHANNEL, Side::Network, STEP)
            .map_err(|e| format!("PBX: {e}"))?;
        if !pbx.run_until(STEP, QsigPbx::is_up) {
            return Err("PBX: Q.921 link did not come up".into());
        }
        let out = Out { start: out_start };
        out.say(
            "PBX",
            &format!("Q.921 link up on D-channel {DCHANNEL} (PBX = network side)"),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, invokes) = channel();
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut seen = 0;
            while !flag.load(Ordering::Relaxed) {
                pbx.step(Duration::from_millis(20));
                for r in &pbx.received[seen..] {
                    out.say("PBX", &format!("received {}", r.describe()));
                    let _ = tx.send(r.clone());
                }
                seen = pbx.received.len();
            }
        });
        Ok(Self {
            stop,
            invokes,
            handle: Some(handle),
        })
    }

    fn expect(&self, served: &str, activate: bool) -> Result<Received, String> {
        let r = self
            .invokes
            .recv_timeout(STEP)
            .map_err(|_| format!("the PBX received nothing for {served} within {STEP:?}"))?;
        if r.served() != served || r.is_activate() != activate {
            return Err(format!("unexpected invoke at the PBX: {}", r.describe()));
        }
        Ok(r)
    }
}

impl Drop for PbxThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Off-hook, listen for `ms`, on-hook.
fn listen_off_hook(phone: &Phone, ms: usize) -> Result<Recording, String> {
    phone.off_hook().map_err(|e| format!("phone: {e}"))?;
    let rec = record(phone, Law::Mulaw, ms).map_err(|e| format!("phone: {e}"))?;
    phone.on_hook().map_err(|e| format!("phone: {e}"))?;
    // Blocks still in flight belong to this call, not the next one.
    let _ = dahdi_mwi_tests::tone::listen(phone, Law::Mulaw, Duration::from_millis(100));
    Ok(rec)
}

/// What the phone heard, in words.
fn describe_heard(rec: &Recording) -> String {
    let c = rec.cadence();
    let mut s = c.summary();
    if let Some(b) = c.bursts.first() {
        let f: Vec<String> = [350.0, 440.0]
            .iter()
            .map(|&f| {
                format!(
                    "{f:.0} Hz {:.1} dBm0",
                    rec.level(f, b.start_ms + 10, b.start_ms + b.on_ms - 10)
                )
            })
            .collect();
        s += &format!("\nfirst burst: {}", f.join(", "));
    }
    if let Some((start, _)) = c.steady {
        s += &format!(
            "\nsteady part: {}",
            describe_tones(&rec.tones(start + 50, rec.ms()))
        );
    }
    s
}

fn run(png: &std::path::Path) -> Result<(), String> {
    let out = Out {
        start: Instant::now(),
    };
    let env = Env::new();
    let vm = VoiceMail::bind().map_err(|e| format!("voice-mail socket: {e}"))?;
    let port = free_port();
    let sipd_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let vm_sip = free_port();
    let capture = png
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .join("capture");
    std::fs::create_dir_all(&capture).map_err(|e| format!("{}: {e}", capture.display()))?;
    let sections = CONFIG
        .replace("{capture}", &capture.display().to_string())
        .replace("{port}", &port.to_string())
        .replace("{plan}", PLAN)
        .replace("{vmport}", &vm.local_addr().port().to_string())
        .replace("{vmsip}", &vm_sip.to_string());
    let cfg = env.write_config(&sections);
    out.say(
        "demo",
        &format!(
            "installation in {} (config {})",
            env.path().display(),
            cfg.path.display()
        ),
    );

    let sipd = Sipd::start_in_with(&binary_path("sipd"), &env, &cfg);
    out.say("sipd", &format!("running (pid {})", sipd.daemon.pid()));
    let mut chand = Chand::start_with(&binary_path("chand"), &env, &cfg);
    out.say(
        "chand",
        &format!(
            "running (pid {}): FXS channel {PHONE_CHANNEL} = {PHONE} (cptone {PLAN}), PRI span 1 \
             D-channel {DCHANNEL} (user side, numbers 2...)",
            chand.daemon.pid()
        ),
    );
    for (daemon, run) in [
        ("sipd", sipd.cli(&["trace", "on"])),
        ("chand", chand.cli(&["trace", "on"])),
    ] {
        out.say(daemon, answered(daemon, run)?.trim_end());
    }
    let pbx = PbxThread::start(&env, out.start)?;
    let phone =
        Phone::connect(&env.sim_dir, PHONE_CHANNEL, STEP).map_err(|e| format!("phone: {e}"))?;
    out.say(
        "phone",
        &format!("plugged into FXS channel {PHONE_CHANNEL}"),
    );

    let mut vm = vm;
    for (waiting, new, old) in [(true, 2, 1), (false, 0, 3)] {
        for number in [PHONE, PBX_USER] {
            let summary = Summary {
                number: number.into(),
                waiting,
                new: if number == PBX_USER && waiting {
                    3
                } else {
                    new
                },
                old,
            };
            let text = vm.notify_text(&summary, sipd_addr);
            out.say(
                "voicemail",
                &format!("sends to sipd {sipd_addr}:\n{}", text.trim_end()),
            );
            let answer = vm
                .send(&text, sipd_addr, STEP)
                .map_err(|e| format!("NOTIFY for {number}: {e}"))?;
            out.say("sipd", &format!("answers: {answer}"));
        }
        pbx.expect(PBX_USER, waiting)?;
        let reached = wait_for(STEP, || chand.port_status(PHONE).mwi == waiting);
        if !reached {
            return Err(format!("chand's port {PHONE} never showed mwi {waiting}"));
        }
        chand.daemon.assert_running();
        if waiting {
            let rec = listen_off_hook(&phone, RECORD_MS)?;
            out.say(
                "phone",
                &format!(
                    "off-hook for {} ms, heard the stutter dial tone:\n{}",
                    RECORD_MS,
                    describe_heard(&rec)
                ),
            );
            if let Some(dir) = png.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            let heading = format!(
                "Stutter dial tone of {PHONE}, tone plan {PLAN}\n{}",
                fxs::plans::builtin_description(PLAN).unwrap_or("custom")
            );
            let cadence = plot::envelope_png(png, &rec, RECORD_MS, &heading)
                .map_err(|e| format!("{}: {e}", png.display()))?;
            out.say(
                "plot",
                &format!(
                    "level (dBm0) over the first {} ms, bursts marked ({}), written to {}",
                    RECORD_MS,
                    cadence.summary(),
                    png.display()
                ),
            );
        } else {
            let rec = listen_off_hook(&phone, 1500)?;
            out.say(
                "phone",
                &format!(
                    "off-hook for 1500 ms, heard plain dial tone: {}",
                    describe_heard(&rec)
                ),
            );
        }
    }
    call_voicemail(&env, &mut vm, sipd_addr, vm_sip, &mut chand, &phone, &out)?;
    let status = chand
        .request("status")
        .map_err(|e| format!("chand status: {e}"))?;
    out.say("chand", &format!("status:\n{}", status.trim_end()));
    drop(pbx);
    let sipd_status = answered("sipd", sipd.cli(&["status"]))?;
    out.say("sipd", &format!("status:\n{}", sipd_status.trim_end()));
    answered("sipd", sipd.cli(&["capture", "off"]))?;
    answered("chand", chand.cli(&["capture", "off"]))?;
    show_traces(&sipd.log(), &chand.daemon.log(), &out)?;
    check_captures(&capture, &out)?;
    drop(sipd);
    chand.daemon.stop();
    out.say("demo", "done");
    Ok(())
}

/// The standard output of `daemon`'s command line `run` (from [`Sipd::cli`], [`Chand::cli`]).
///
/// Errors: it failed (with its standard error).
fn answered(daemon: &str, run: (bool, String, String)) -> Result<String, String> {
    match run {
        (true, stdout, _) => Ok(stdout),
        (false, _, stderr) => Err(format!("{daemon}: {}", stderr.trim_end())),
    }
}

/// Say how many one-line traces each daemon logged, with the first of the kinds a reader
/// looks for: a NOTIFY received by sipd, a QSIG MWIActivate sent by chand.
///
/// Errors: a daemon logged no such line.
fn show_traces(sipd_log: &str, chand_log: &str, out: &Out) -> Result<(), String> {
    for (who, log, example) in [
        ("sipd", sipd_log, "SIP recv udp from "),
        ("chand", chand_log, "mwiActivate"),
    ] {
        let target = format!("{who}::trace: ");
        let lines: Vec<&str> = log
            .lines()
            .filter_map(|l| l.split_once(&target).map(|(_, line)| line))
            .collect();
        let first = lines
            .iter()
            .find(|l| l.contains(example))
            .ok_or_else(|| format!("{who}'s trace has no line with {example:?}"))?;
        out.say(
            "trace",
            &format!("{who}: {} lines, e.g.\n{first}", lines.len()),
        );
    }
    Ok(())
}

/// Read both captures with tshark and say what they hold: in sipd's the NOTIFYs, their
/// 200s, the call's INVITE and BYE; in chand's the D-channel frames with the MWIActivate and
/// MWIDeactivate (QSIG operations 80 and 81, ECMA-242 §6.2); none malformed or flagged.
/// Without tshark the files are only named.
///
/// Errors: an expected packet is missing, or tshark flags one.
fn check_captures(dir: &std::path::Path, out: &Out) -> Result<(), String> {
    let sipd = dir.join("sipd-0.pcapng");
    let chand = dir.join("chand-0.pcapng");
    if Command::new("tshark").arg("--version").output().is_err() {
        out.say(
            "capture",
            &format!(
                "{} and {} written; tshark is not installed, so not read",
                sipd.display(),
                chand.display()
            ),
        );
        return Ok(());
    }
    for (file, wanted) in [
        (
            &sipd,
            &[
                ("NOTIFY", "sip.Method == \"NOTIFY\""),
                ("200 OK", "sip.Status-Code == 200"),
                ("INVITE", "sip.Method == \"INVITE\""),
                ("BYE", "sip.Method == \"BYE\""),
            ][..],
        ),
        (
            &chand,
            &[
                ("LAPD frames", "lapd"),
                ("MWIActivate", "qsig.operation == 80"),
                ("MWIDeactivate", "qsig.operation == 81"),
            ][..],
        ),
    ] {
        let mut found = Vec::new();
        for (what, filter) in wanted {
            let n = tshark::filter(file, filter).len();
            if n == 0 {
                return Err(format!("{}: tshark finds no {what}", file.display()));
            }
            found.push(format!("{n} {what}"));
        }
        let flagged = tshark::filter(file, tshark::FLAGGED);
        if !flagged.is_empty() {
            return Err(format!(
                "{}: tshark flags {}",
                file.display(),
                flagged.join("\n")
            ));
        }
        out.say(
            "capture",
            &format!(
                "{} read by tshark: {}, none flagged",
                file.display(),
                found.join(", ")
            ),
        );
    }
    Ok(())
}

/// Send `summary` for [`PHONE`] to sipd, say it, and wait until chand's port shows it.
fn notify_phone(
    vm: &mut VoiceMail,
    sipd_addr: SocketAddr,
    chand: &mut Chand,
    summary: &Summary,
    why: &str,
    out: &Out,
) -> Result<(), String> {
    let text = vm.notify_text(summary, sipd_addr);
    out.say(
        "voicemail",
        &format!("{why}: sends to sipd {sipd_addr}:\n{}", text.trim_end()),
    );
    let answer = vm
        .send(&text, sipd_addr, STEP)
        .map_err(|e| format!("NOTIFY for {PHONE}: {e}"))?;
    out.say("sipd", &format!("answers: {answer}"));
    if !wait_for(STEP, || chand.port_status(PHONE).mwi == summary.waiting) {
        return Err(format!(
            "chand's port {PHONE} never showed mwi {}",
            summary.waiting
        ));
    }
    Ok(())
}

/// The call to the voice mail: a new message (stutter tone on), off-hook, the pilot in DTMF,
/// the greeting heard, a digit received by the server as RFC 4733, on-hook; the message is
/// then heard (MWI off).
fn call_voicemail(
    env: &Env,
    vm: &mut VoiceMail,
    sipd_addr: SocketAddr,
    vm_sip: u16,
    chand: &mut Chand,
    phone: &Phone,
    out: &Out,
) -> Result<(), String> {
    let summary = Summary {
        number: PHONE.into(),
        waiting: true,
        new: 1,
        old: 3,
    };
    notify_phone(vm, sipd_addr, chand, &summary, "a new message", out)?;
    let rtp = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("voice-mail RTP: {e}"))?;
    let rtp_port = rtp.local_addr().map_err(|e| e.to_string())?.port();
    let sf = scenario("vm_call.xml");
    let args = [
        "-sf",
        sf.to_str().ok_or("scenario path")?,
        "-i",
        "127.0.0.1",
        "-p",
        &vm_sip.to_string(),
        "-key",
        "rtp_port",
        &rtp_port.to_string(),
        "-m",
        "1",
    ];
    let mut server = sipp(env.path(), "voicemail", &args);
    out.say(
        "voicemail",
        &format!(
            "answers calls to {PILOT} on SIP 127.0.0.1:{vm_sip} (SIPp), RTP 127.0.0.1:{rtp_port}"
        ),
    );
    let voice = Mutex::new(Voice::Silence);
    let stop = AtomicBool::new(false);
    let events = Mutex::new(Vec::new());
    let result = std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        s.spawn(|| greet(&rtp, &events, &stop));
        phone.off_hook().map_err(|e| format!("phone: {e}"))?;
        let rec = record(phone, Law::Mulaw, 1000).map_err(|e| format!("phone: {e}"))?;
        let bursts = rec.cadence().bursts.len();
        out.say(
            "phone",
            &format!("off-hook, hears the stutter dial tone: {bursts} burst(s) in 1000 ms"),
        );
        if bursts < 3 {
            return Err(format!(
                "no stutter tone before the call: {bursts} burst(s)"
            ));
        }
        s.spawn(|| talk(phone, Law::Mulaw, &voice, &stop));
        out.say(
            "phone",
            &format!("dials the voice-mail pilot {PILOT} in DTMF"),
        );
        press(&voice, PILOT);
        if !wait_for(STEP, || chand.port_status(PHONE).call.state == "connected") {
            return Err(format!(
                "the call to {PILOT} was not answered; {}",
                log_tails(env)
            ));
        }
        let call = chand.port_status(PHONE).call;
        out.say(
            "chand",
            &format!(
                "call {} to {} connected",
                call.call_id.unwrap_or_default(),
                call.number
            ),
        );
        let _ = dahdi_mwi_tests::tone::listen(phone, Law::Mulaw, Duration::from_millis(200));
        let rec = record(phone, Law::Mulaw, 1000).map_err(|e| format!("phone: {e}"))?;
        let level = rec.level(GREETING_HZ, 100, 1000);
        out.say(
            "phone",
            &format!("hears the greeting: {GREETING_HZ:.0} Hz at {level:.1} dBm0"),
        );
        if level < -25.0 {
            return Err(format!(
                "the greeting is too weak at the phone: {level:.1} dBm0"
            ));
        }
        out.say("phone", &format!("presses {DIGIT} in DTMF"));
        press(&voice, &DIGIT.to_string());
        std::thread::sleep(Duration::from_millis(300));
        let got = events.lock().map_err(|e| e.to_string())?.clone();
        let digit = DIGIT.to_digit(10).and_then(|d| u8::try_from(d).ok());
        let ended = got
            .iter()
            .find(|e: &&[u8; 4]| Some(e[0]) == digit && e[1] & 0x80 != 0);
        let Some(end) = ended else {
            return Err(format!(
                "no RFC 4733 end of {DIGIT} at the voice mail: {got:?}"
            ));
        };
        out.say(
            "voicemail",
            &format!(
                "received RFC 4733 event {DIGIT} in {} packets, end bit set, duration {} ms",
                got.len(),
                u16::from_be_bytes([end[2], end[3]]) / 8
            ),
        );
        phone.on_hook().map_err(|e| format!("phone: {e}"))?;
        out.say("phone", "on-hook");
        Ok(())
    });
    result?;
    if !passed(env.path(), "voicemail", &mut server) {
        return Err("the voice-mail server's call failed (no BYE?)".into());
    }
    out.say("voicemail", "received BYE, answered 200: call ended");
    let _ = dahdi_mwi_tests::tone::listen(phone, Law::Mulaw, Duration::from_millis(100));
    let summary = Summary {
        number: PHONE.into(),
        waiting: false,
        new: 0,
        old: 4,
    };
    notify_phone(vm, sipd_addr, chand, &summary, "the message was heard", out)
}

/// The voice-mail server's media: from chand's first RTP packet on, a greeting tone every
/// 20 ms back to its source (symmetric RTP, RFC 4961), and the RFC 4733 payloads (payload
/// type 101) kept in `events`, until `stop`.
fn greet(rtp: &UdpSocket, events: &Mutex<Vec<[u8; 4]>>, stop: &AtomicBool) {
    let _ = rtp.set_read_timeout(Some(Duration::from_millis(5)));
    let mut buf = [0u8; 2048];
    let mut to = None;
    let mut seq = 0u16;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Ok((n, src)) = rtp.recv_from(&mut buf) {
            to.get_or_insert(src);
            if n >= 16 && buf[1] & 0x7f == 101 {
                if let Ok(mut e) = events.lock() {
                    e.push([buf[12], buf[13], buf[14], buf[15]]);
                }
            }
        }
        if let Some(to) = to {
            if Instant::now() >= next {
                let _ = rtp.send_to(&rtp_tone(0x766d, seq, GREETING_HZ), to);
                seq = seq.wrapping_add(1);
                next += Duration::from_millis(20);
            }
        } else {
            next = Instant::now();
        }
    }
}

/// The last lines of both daemons' logs and the voice-mail server's, for an error.
fn log_tails(env: &Env) -> String {
    ["chand.log", "sipd.log", "sipp-voicemail.log"]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(env.path().join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            format!("{name}:\n{tail}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}
