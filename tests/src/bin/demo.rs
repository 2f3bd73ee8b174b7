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
//! marked at its on and off times, titled with the tone plan and the cadence found). It ends by itself within
//! [`DEADLINE`].
//!
//! Usage: `demo [--png PATH]`.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chand::backend::sim::peer::Phone;
use dahdi_mwi_tests::daemon::{binary_path, profile_dir, wait_for, Daemon};
use dahdi_mwi_tests::env::{Chand, ConfigFile, Env};
use dahdi_mwi_tests::pbx::{QsigPbx, Received};
use dahdi_mwi_tests::plot;
use dahdi_mwi_tests::sip::{free_port, Summary, VoiceMail};
use dahdi_mwi_tests::tone::{describe_tones, record, Recording};
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

/// The embedded default config, before the installation's own sections are appended
/// ([`Env::config_text`]): `{port}` is sipd's UDP port, `{vm}` the voice-mail server's address.
const CONFIG: &str = r#"# dahdi-mwi demo: no card, no server.
[sip]
listen = ["udp:127.0.0.1:{port}"]

[mwi_server]
server = "ipv4:127.0.0.1"
port = {vmport}
unsolicited = true
allow = ["127.0.0.1/32"]
options_interval = 0

[[fxs]]
channel = 1
number = "8000"
cptone = "{plan}"

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

/// Start `sipd run` on `cfg`; it must stay up.
fn start_sipd(env: &Env, cfg: &ConfigFile, out: &Out) -> Result<Daemon, String> {
    let config = cfg.path.display().to_string();
    let mut sipd = Daemon::spawn(
        &binary_path("sipd"),
        &["run", "--config", &config, "--allow-root"],
        &env.log_path("sipd"),
    );
    std::thread::sleep(Duration::from_millis(300));
    if let Some(st) = sipd.exited() {
        return Err(format!("sipd exited ({st}):\n{}", sipd.log()));
    }
    out.say("sipd", &format!("running (pid {})", sipd.pid()));
    Ok(sipd)
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
    let sections = CONFIG
        .replace("{port}", &port.to_string())
        .replace("{plan}", PLAN)
        .replace("{vmport}", &vm.local_addr().port().to_string());
    let cfg = env.write_config(&sections);
    out.say(
        "demo",
        &format!(
            "installation in {} (config {})",
            env.path().display(),
            cfg.path.display()
        ),
    );

    let mut sipd = start_sipd(&env, &cfg, &out)?;
    let mut chand = Chand::start_with(&binary_path("chand"), &env, &cfg);
    out.say(
        "chand",
        &format!(
            "running (pid {}): FXS channel {PHONE_CHANNEL} = {PHONE} (cptone {PLAN}), PRI span 1 \
             D-channel {DCHANNEL} (user side, numbers 2...)",
            chand.daemon.pid()
        ),
    );
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
    let status = chand
        .request("status")
        .map_err(|e| format!("chand status: {e}"))?;
    out.say("chand", &format!("status:\n{}", status.trim_end()));
    drop(pbx);
    let sipd_status = Command::new(binary_path("sipd"))
        .args(["status", "--config"])
        .arg(&cfg.path)
        .output()
        .map_err(|e| format!("sipd status: {e}"))?;
    out.say(
        "sipd",
        &format!(
            "status:\n{}",
            String::from_utf8_lossy(&sipd_status.stdout).trim_end()
        ),
    );
    sipd.stop();
    chand.daemon.stop();
    out.say("demo", "done");
    Ok(())
}
