//! `soak`: both daemons (release builds, sim back-end) under a steady stream of unsolicited
//! NOTIFYs for a long time, with faults, then a check that nothing was lost (issue 11's soak;
//! run by hand, not in CI).
//!
//! - A voice-mail server in this process sends RATE NOTIFYs per second, each for a random one
//!   of NUMBERS served users (20000, 20001, ...) with a random state, as a UDP client
//!   transaction (retransmitted at 0.5, 1, 2, 4 s... until answered; a newer NOTIFY for the
//!   same number supersedes an unanswered older one, as a notifier with fresh state would).
//! - Every KILL_EVERY seconds sipd or chand (in turn) is SIGKILLed and started again 2 s later
//!   (systemd's RestartSec=2).
//! - Every FLAP_EVERY seconds the PBX on the D-channel goes away for 3 s (layer 1 down, as on a
//!   DAHDI alarm) and comes back.
//! - Every 10 s the RSS of both daemons is printed.
//!
//! At the end (sending stops, every NOTIFY answered, the PBX given time to resync): every
//! number's state in the shared table and the PBX's last MWIActivate/MWIDeactivate for it must
//! equal the last NOTIFY sent for it. Exit status 0 when they all do.
//!
//! Usage: `soak [--seconds N] [--rate R] [--numbers K] [--kill-every S] [--flap-every S]`
//! (defaults 3600, 1000, 10000, 240, 180). Build first:
//! `cargo build --release -p chand -p sipd -p dahdi-mwi-tests --bin chand --bin sipd --bin soak`.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use dahdi_mwi_tests::daemon::binary_path;
use dahdi_mwi_tests::env::{Chand, ConfigFile, Env, Sipd};
use dahdi_mwi_tests::pbx::QsigPbx;
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::vmload::{self, VoiceMailLoad, SERVED_PATTERN};
use isdn::q921::Side;
use mwi_table::Reader;

/// Both daemons under a steady NOTIFY stream with kills and link flaps, then every lamp checked.
#[derive(Parser, Debug)]
#[command(name = "soak")]
struct Args {
    /// How long NOTIFYs are sent, seconds.
    #[arg(long, default_value_t = 3600)]
    seconds: u64,
    /// NOTIFYs per second.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    rate: u64,
    /// Served users (20000, 20001, ...).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    numbers: u32,
    /// Seconds between kills of sipd or chand (in turn).
    #[arg(long, default_value_t = 240, value_parser = clap::value_parser!(u64).range(10..))]
    kill_every: u64,
    /// Seconds between D-channel link flaps.
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(10..))]
    flap_every: u64,
}

fn main() -> ExitCode {
    let a = Args::parse();
    match run(&a) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The PBX on its own thread: the last lamp state per served user, link flaps on request.
struct PbxSide {
    lamps: Arc<Mutex<HashMap<String, bool>>>,
    down: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn start_pbx(sim_dir: std::path::PathBuf) -> PbxSide {
    let lamps = Arc::new(Mutex::new(HashMap::new()));
    let down = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (l, d, s) = (lamps.clone(), down.clone(), stop.clone());
    let thread = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let Ok(mut pbx) =
                QsigPbx::connect(&sim_dir, 24, Side::Network, Duration::from_secs(30))
            else {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            };
            while !s.load(Ordering::Relaxed) && !d.load(Ordering::Relaxed) {
                pbx.step(Duration::from_millis(20));
                if !pbx.received.is_empty() {
                    let mut lamps = l.lock().unwrap_or_else(|e| e.into_inner());
                    for r in pbx.received.drain(..) {
                        lamps.insert(r.served().to_owned(), r.is_activate());
                    }
                    pbx.frames_in.clear();
                }
            }
            drop(pbx);
            while d.load(Ordering::Relaxed) && !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    PbxSide {
        lamps,
        down,
        stop,
        thread,
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn run(a: &Args) -> Result<bool, String> {
    let mut env = Env::new();
    env.log_level = "info";
    env.table_capacity = vmload::table_capacity(a.numbers);
    let port = free_port();
    let sip: SocketAddr = ([127, 0, 0, 1], port).into();
    let cfg: ConfigFile = env.write_config(&format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\n\
         [sip.limits]\nrate = 1000000\nburst = 1000000\n\
         [sip.block]\nfailures = 0\n\
         [mwi_server]\nserver = \"ipv4:127.0.0.1\"\nunsolicited = true\n\
         allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n\
         [[pri]]\nspan = 1\ndchannel = 24\nside = \"user\"\nnumbers = [\"{SERVED_PATTERN}\"]\n"
    ));
    let (sipd_bin, chand_bin) = (binary_path("sipd"), binary_path("chand"));
    let mut sipd = Sipd::start_in_with(&sipd_bin, &env, &cfg);
    let mut chand = Chand::start_with(&chand_bin, &env, &cfg);
    let pbx = start_pbx(env.sim_dir.clone());

    let mut vm = VoiceMailLoad::bind(sip)?;
    let start = Instant::now();
    let end = start + Duration::from_secs(a.seconds);
    let mut next_kill = start + Duration::from_secs(a.kill_every);
    let mut next_flap = start + Duration::from_secs(a.flap_every);
    let mut flap_end: Option<Instant> = None;
    let mut next_rss = start;
    let (mut kills, mut flaps) = (0u32, 0u32);
    let mut rng = fastrand::Rng::new();
    let tick = Duration::from_millis(10);
    let per_tick = (a.rate as f64 / 100.0).max(1.0);
    let mut owed = 0.0f64;
    let mut rss: Vec<(u64, u64, u64)> = Vec::new();
    while Instant::now() < end {
        let now = Instant::now();
        owed += per_tick;
        while owed >= 1.0 {
            let number = 20_000 + rng.u32(..a.numbers);
            vm.send(now, number, rng.bool())?;
            owed -= 1.0;
        }
        vm.service(now);
        if now >= next_kill {
            kills += 1;
            if kills % 2 == 1 {
                sipd.daemon.crash();
                std::thread::sleep(Duration::from_secs(2));
                sipd = Sipd::start_in_with(&sipd_bin, &env, &cfg);
                println!(
                    "{:>5} s: sipd killed and restarted",
                    start.elapsed().as_secs()
                );
            } else {
                chand.daemon.crash();
                std::thread::sleep(Duration::from_secs(2));
                chand = Chand::start_with(&chand_bin, &env, &cfg);
                println!(
                    "{:>5} s: chand killed and restarted",
                    start.elapsed().as_secs()
                );
            }
            next_kill = Instant::now() + Duration::from_secs(a.kill_every);
        }
        if now >= next_flap && flap_end.is_none() {
            pbx.down.store(true, Ordering::Relaxed);
            flap_end = Some(now + Duration::from_secs(3));
            flaps += 1;
        }
        if flap_end.is_some_and(|t| now >= t) {
            pbx.down.store(false, Ordering::Relaxed);
            flap_end = None;
            next_flap = now + Duration::from_secs(a.flap_every);
        }
        if now >= next_rss {
            let r = (
                start.elapsed().as_secs(),
                rss_kb(sipd.daemon.pid()),
                rss_kb(chand.daemon.pid()),
            );
            println!(
                "{:>5} s: sent {} answered {} retransmitted {} | RSS sipd {} kB chand {} kB",
                r.0, vm.sent, vm.answered, vm.retransmitted, r.1, r.2
            );
            rss.push(r);
            next_rss = now + Duration::from_secs(10);
        }
        std::thread::sleep(tick.saturating_sub(now.elapsed()));
    }
    pbx.down.store(false, Ordering::Relaxed);
    // Drain: every NOTIFY answered, then give chand and the PBX time to settle.
    let drain_end = Instant::now() + Duration::from_secs(60);
    while (vm.pending() > 0 || vm.retrying() > 0) && Instant::now() < drain_end {
        vm.service(Instant::now());
        std::thread::sleep(tick);
    }
    std::thread::sleep(Duration::from_secs(20));
    pbx.stop.store(true, Ordering::Relaxed);
    let _ = pbx.thread.join();

    let lamps = pbx.lamps.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let reader = Reader::open(&cfg.table_config()).map_err(|e| format!("table: {e}"))?;
    let (mut table_wrong, mut pbx_wrong) = (0u32, 0u32);
    for (&number, &waiting) in &vm.last {
        let key = number.to_string();
        let in_table = reader
            .lookup(&key)
            .map_err(|e| format!("table: {e}"))?
            .map(|e| e.state.waiting);
        if in_table != Some(waiting) {
            table_wrong += 1;
            if table_wrong <= 5 {
                println!("table: {key} is {in_table:?}, last NOTIFY said {waiting}");
            }
        }
        // A lamp never lit needs no MWIDeactivate: no invoke at all means off.
        if lamps.get(&key).copied().unwrap_or(false) != waiting {
            pbx_wrong += 1;
            if pbx_wrong <= 5 {
                println!(
                    "PBX: {key} lamp {:?}, last NOTIFY said {waiting}",
                    lamps.get(&key)
                );
            }
        }
    }
    let warm = rss.iter().find(|r| r.0 >= 60).or(rss.first()).copied();
    let last = rss.last().copied();
    println!(
        "soak: {} s, {} NOTIFYs sent ({:.0}/s), {} answered, refused {:?}, {} retransmissions, \
         {} unanswered; {kills} kills, {flaps} link flaps; {} numbers checked: {table_wrong} \
         wrong in the table, {pbx_wrong} wrong at the PBX; RSS after warm-up {:?} kB, at the \
         end {:?} kB (sipd, chand; both daemons restarted by the kills)",
        a.seconds,
        vm.sent,
        vm.sent as f64 / a.seconds as f64,
        vm.answered,
        vm.refused,
        vm.retransmitted,
        vm.pending(),
        vm.last.len(),
        warm.map(|r| (r.1, r.2)),
        last.map(|r| (r.1, r.2)),
    );
    let ok = table_wrong == 0 && pbx_wrong == 0 && vm.pending() == 0;
    if !ok {
        // Keep the installation (config, logs, table, snapshot) for a post-mortem.
        println!(
            "soak: failed; installation kept in {}",
            env.path().display()
        );
        drop(sipd);
        drop(chand);
        std::mem::forget(env);
    }
    Ok(ok)
}
