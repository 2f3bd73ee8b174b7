//! `fxs-load`: chand's real-time audio under load on the sim back-end.
//!
//! Starts chand (the release build, `target/release/chand`) with `--ports` FXS ports (channels
//! `1..=ports`, numbers `10001..`, tone plan `us`), publishes messages waiting for every
//! even channel through the shared table (as sipd would), plugs a sim phone into every port
//! (one thread each), takes them all off-hook and listens for `--seconds`.
//!
//! Measured on the phone side, per port: audio blocks received against those due (chand writes
//! the block due at off-hook and [`fxs::line::LEAD_MS`] ahead at once, then one per 20 ms), and
//! the inter-arrival gaps after that first burst (their p50/p99/max over all ports, and the
//! distribution of each port's largest gap). On chand's side: `late_blocks` and `underruns`
//! summed over the ports from `chand status --json` at the end, and chand's CPU time
//! (`/proc/<pid>/stat` utime + stime) per block received over the listening window.
//!
//! A port has lost blocks when it received two or more fewer than due: one block of slack
//! covers the unknown phase of chand's 20 ms tick against the end of the window. Exit status 1
//! if any port lost blocks (or chand stopped), 2 on a usage error.
//!
//! Usage: `fxs-load [--ports 240] [--seconds 600] [--realtime PRIO] [--chand PATH]`. Build chand first with
//! `cargo build --release -p chand`; chand logs at `warn` into the run's temp dir.
//! `--realtime PRIO` sets `[dahdi] realtime_priority` (chand's event loop under `SCHED_FIFO`;
//! default 0, the config's default) and puts the phone threads under `SCHED_FIFO` one below it,
//! so that the phones' own scheduling delays on a busy machine do not pass for chand's.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chand::backend::sim::peer::{Phone, ToPhone};
use chand::status::ChandStatus;
use clap::Parser;
use dahdi_mwi_tests::daemon::profile_dir;
use dahdi_mwi_tests::env::{Chand, ConfigFile, Env, NO_SIP_SERVER};
use fxs::line::LEAD_MS;
use mwi_config::Config;
use mwi_core::MwiState;

/// One audio block, ms (160 samples at 8 kHz).
const BLOCK_MS: u64 = 20;
/// Blocks written at once when the line goes off-hook: the one due now and `LEAD_MS` ahead.
const FIRST_BURST: u64 = 1 + LEAD_MS / BLOCK_MS;
/// Resolution of the gap histogram, µs.
const BIN_US: u64 = 10;
/// Gaps up to this many µs are binned; longer ones land in the last bin (their maximum is
/// kept exactly).
const HIST_MAX_US: u64 = 500_000;
/// Clock ticks per second of `/proc/<pid>/stat` times: the kernel's USER_HZ, 100 on every
/// Linux architecture this runs on (`getconf CLK_TCK`).
const USER_HZ: f64 = 100.0;
/// How long chand and the phones get to come up, and a phone to be heard at all.
const WAIT: Duration = Duration::from_secs(20);

/// Many off-hook sim FXS ports on one chand for a long time, every block's timing checked.
#[derive(Parser, Debug)]
#[command(name = "fxs-load")]
struct Args {
    /// Off-hook ports.
    #[arg(long, default_value_t = 240, value_parser = clap::value_parser!(u32).range(1..))]
    ports: u32,
    /// How long, seconds.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// The chand binary (default: the release build beside this profile).
    #[arg(long)]
    chand: Option<PathBuf>,
    /// `[dahdi] realtime_priority` of chand (0: the normal scheduler).
    #[arg(long, default_value_t = 0)]
    realtime: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("fxs-load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What one phone measured.
struct PortResult {
    channel: u32,
    /// Audio blocks received up to the end of the window.
    received: u64,
    /// Blocks due by the end of the window, counted from the first block's arrival.
    due: u64,
    /// Largest inter-arrival gap after the first burst, µs.
    max_gap_us: u64,
    /// Inter-arrival gaps after the first burst, in `BIN_US` bins.
    hist: Vec<u64>,
    /// Largest lateness of a block after the first burst against its ideal arrival, `LEAD_MS`
    /// before its play-out time, µs.
    max_late_us: u64,
    /// Times the phone's play-out buffer ran dry: a block arrived after its play-out time.
    /// The buffer plays the first block on arrival and one every 20 ms after it; after running
    /// dry it plays the late block on arrival. (The sim back-end has no buffer of its own, so
    /// chand's `underruns` stay 0 on it: this stands in for DAHDI's write underruns.)
    dry: u64,
    /// Events received (lamp and ring state on connect).
    events: u64,
}

/// Listen on `phone` until `end`: the measurements of its audio.
fn listen(channel: u32, phone: &Phone, end: Instant) -> Result<PortResult, String> {
    let bins = (HIST_MAX_US / BIN_US + 1) as usize;
    let mut r = PortResult {
        channel,
        received: 0,
        due: 0,
        max_gap_us: 0,
        hist: vec![0; bins],
        max_late_us: 0,
        dry: 0,
        events: 0,
    };
    let mut first: Option<Instant> = None;
    let mut last = end;
    // Play-out time of the next block.
    let mut play_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let packet = match phone.recv((end - now).min(WAIT)) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                if first.is_none() && Instant::now() < end {
                    return Err(format!("channel {channel}: no audio in {WAIT:?}"));
                }
                continue;
            }
            Err(e) => return Err(format!("channel {channel}: {e}")),
        };
        let at = Instant::now();
        match packet {
            ToPhone::Event(_) => r.events += 1,
            ToPhone::Audio(_) if at > end => break,
            ToPhone::Audio(_) => {
                r.received += 1;
                first.get_or_insert(at);
                let mut play = *play_at.get_or_insert(at);
                if r.received > FIRST_BURST {
                    let ideal = play - Duration::from_millis(LEAD_MS);
                    let late = u64::try_from(at.saturating_duration_since(ideal).as_micros())
                        .unwrap_or(u64::MAX);
                    r.max_late_us = r.max_late_us.max(late);
                }
                if at > play {
                    r.dry += 1;
                    play = at;
                }
                play_at = Some(play + Duration::from_millis(BLOCK_MS));
                if r.received > FIRST_BURST {
                    let gap = u64::try_from((at - last).as_micros()).unwrap_or(u64::MAX);
                    r.max_gap_us = r.max_gap_us.max(gap);
                    r.hist[(gap.min(HIST_MAX_US) / BIN_US) as usize] += 1;
                }
                last = at;
            }
        }
    }
    let first = first.ok_or(format!("channel {channel}: no audio at all"))?;
    let window_ms = u64::try_from((end - first).as_millis()).unwrap_or(u64::MAX);
    r.due = FIRST_BURST + window_ms / BLOCK_MS;
    Ok(r)
}

/// chand's CPU time so far (utime + stime of `/proc/<pid>/stat`), seconds.
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the parenthesised command name (which may hold spaces): state is field 3,
    // utime 14 and stime 15 of proc(5).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("no ')' in /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or(format!("bad /proc/{pid}/stat: {stat}"))
    };
    Ok((tick(11)? + tick(12)?) as f64 / USER_HZ)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| e.to_string())
}

/// The `p`-quantile (0..=1) of a histogram of `BIN_US` bins, µs (upper edge of its bin).
fn hist_quantile(hist: &[u64], p: f64) -> u64 {
    let total: u64 = hist.iter().sum();
    let rank = ((total as f64 * p).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return (i as u64 + 1) * BIN_US;
        }
    }
    HIST_MAX_US
}

/// The `p`-quantile (0..=1) of sorted `v`.
fn quantile(v: &[u64], p: f64) -> u64 {
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// The run; whether no port lost blocks.
fn run(args: &Args) -> Result<bool, String> {
    let chand_bin = match &args.chand {
        Some(path) => path.clone(),
        None => profile_dir()
            .parent()
            .map(|t| t.join("release").join("chand"))
            .ok_or("no target dir above this executable")?,
    };
    if !chand_bin.is_file() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release -p chand` (or pass --chand PATH)",
            chand_bin.display()
        ));
    }
    let mut env = Env::new();
    env.log_level = "warn";
    let mut sections = String::from(NO_SIP_SERVER);
    for ch in 1..=args.ports {
        let _ = write!(
            sections,
            "[[fxs]]\nchannel = {ch}\nnumber = \"{}\"\ncptone = \"us\"\n",
            10_000 + ch
        );
    }
    let text = env.config_text(&sections).replacen(
        "[dahdi]\n",
        &format!("[dahdi]\nrealtime_priority = {}\n", args.realtime),
        1,
    );
    let path = env.path().join("dahdi-mwi.toml");
    std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    let cfg = ConfigFile {
        config: Config::from_str(&text, path.display().to_string()).map_err(|e| e.to_string())?,
        path,
    };
    let mut writer = cfg.try_writer().map_err(|e| format!("MWI table: {e}"))?;
    let number = |ch: u32| (10_000 + ch).to_string();
    let mwi_on = |ch: u32| ch % 2 == 0;
    for ch in (1..=args.ports).filter(|&ch| mwi_on(ch)) {
        writer
            .publish(&number(ch), MwiState::voice(true, 1, 0))
            .map_err(|e| format!("publish {}: {e}", number(ch)))?;
    }
    println!(
        "fxs-load: {} ports ({} with MWI on), {} s, realtime_priority {}, chand {}",
        args.ports,
        args.ports / 2,
        args.seconds,
        args.realtime,
        chand_bin.display()
    );
    println!("load before: {}", loadavg());
    let mut chand = Chand::start_with(&chand_bin, &env, &cfg);
    let pid = chand.daemon.pid();
    let ports = args.ports;
    chand.wait_status("MWI on every even port", WAIT, |st| {
        st.fxs.len() == ports as usize && st.fxs.iter().all(|p| p.mwi == mwi_on(p.channel))
    });

    // Every phone connects, then all go off-hook together and listen until the same end.
    let phones: Vec<Phone> = (1..=args.ports)
        .map(|ch| Phone::connect(&env.sim_dir, ch, WAIT).map_err(|e| format!("phone {ch}: {e}")))
        .collect::<Result<_, _>>()?;
    let start = Arc::new(Barrier::new(phones.len() + 1));
    let duration = Duration::from_secs(args.seconds);
    let phone_prio = i32::try_from(args.realtime.saturating_sub(1).max(1)).unwrap_or(1);
    let realtime = args.realtime > 0;
    let threads: Vec<_> = phones
        .into_iter()
        .zip(1..)
        .map(|(phone, ch)| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let rt = match realtime {
                    true => driver_ffi::sched::set_realtime(phone_prio)
                        .map_err(|e| format!("phone {ch}: SCHED_FIFO {phone_prio}: {e}")),
                    false => Ok(()),
                };
                // Every thread reaches the barrier, even one that failed, so none waits forever.
                start.wait();
                rt?;
                phone
                    .off_hook()
                    .map_err(|e| format!("channel {ch}: off-hook: {e}"))?;
                let r = listen(ch, &phone, Instant::now() + duration);
                // Keep the line off-hook until chand's status has been read.
                Ok::<_, String>((r, phone))
            })
        })
        .collect();
    start.wait();
    let cpu0 = cpu_seconds(pid)?;
    let own0 = cpu_seconds(std::process::id())?;
    let t0 = Instant::now();
    let mut results = Vec::with_capacity(threads.len());
    let mut phones = Vec::with_capacity(threads.len());
    let mut errors = Vec::new();
    for t in threads {
        match t.join().map_err(|_| "a phone thread panicked".to_owned())? {
            Ok((Ok(r), phone)) => {
                results.push(r);
                phones.push(phone);
            }
            Ok((Err(e), phone)) => {
                errors.push(e);
                phones.push(phone);
            }
            Err(e) => errors.push(e),
        }
    }
    let cpu = cpu_seconds(pid)? - cpu0;
    let own = cpu_seconds(std::process::id())? - own0;
    let wall = t0.elapsed().as_secs_f64();
    chand.daemon.assert_running();
    let out = std::process::Command::new(&chand_bin)
        .args(["status", "--json", "--config"])
        .arg(&cfg.path)
        .output()
        .map_err(|e| format!("chand status --json: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "chand status --json failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let st: ChandStatus =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("chand status --json: {e}"))?;
    let late = st.fxs.iter().map(|p| p.late_blocks).sum::<u64>();
    let underruns = st.fxs.iter().map(|p| p.underruns).sum::<u64>();
    let offhook = st.fxs.iter().filter(|p| p.hook == "off-hook").count();
    drop(phones);
    println!("load after: {}", loadavg());
    for e in &errors {
        println!("error: {e}");
    }

    let received: u64 = results.iter().map(|r| r.received).sum();
    let due: u64 = results.iter().map(|r| r.due).sum();
    let lost: Vec<&PortResult> = results.iter().filter(|r| r.due >= r.received + 2).collect();
    let mut deficits: Vec<i64> = results
        .iter()
        .map(|r| r.due as i64 - r.received as i64)
        .collect();
    deficits.sort_unstable();
    let mut hist = vec![0u64; (HIST_MAX_US / BIN_US + 1) as usize];
    for r in &results {
        for (h, n) in hist.iter_mut().zip(&r.hist) {
            *h += n;
        }
    }
    let gaps: u64 = hist.iter().sum();
    let mut max_gaps: Vec<u64> = results.iter().map(|r| r.max_gap_us).collect();
    max_gaps.sort_unstable();
    let worst = results.iter().max_by_key(|r| r.max_gap_us);

    println!(
        "ports: {} measured, {} off-hook in chand status at the end",
        results.len(),
        offhook
    );
    println!(
        "blocks: {received} received, {due} due ({:+} overall); per port due - received: min {} max {}",
        received as i64 - due as i64,
        deficits.first().copied().unwrap_or(0),
        deficits.last().copied().unwrap_or(0)
    );
    println!(
        "ports that lost blocks (2+ fewer than due): {}{}",
        lost.len(),
        lost.iter()
            .take(10)
            .map(|r| format!(" ch{}: {}/{}", r.channel, r.received, r.due))
            .collect::<String>()
    );
    if gaps > 0 {
        println!(
            "inter-arrival gaps ({gaps}): p50 {} p99 {} p99.9 {} p99.99 {} max {}",
            ms(hist_quantile(&hist, 0.50)),
            ms(hist_quantile(&hist, 0.99)),
            ms(hist_quantile(&hist, 0.999)),
            ms(hist_quantile(&hist, 0.9999)),
            ms(max_gaps.last().copied().unwrap_or(0)),
        );
        let over = |limit_us: u64| {
            hist.iter()
                .enumerate()
                .filter(|(i, _)| *i as u64 * BIN_US >= limit_us)
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        println!(
            "gaps over 25 ms: {}, over 40 ms: {}, over 60 ms (beyond the {LEAD_MS} ms lead): {}",
            over(25_000),
            over(40_000),
            over(60_000)
        );
        println!(
            "largest gap per port: p50 {} p99 {} max {}{}",
            ms(quantile(&max_gaps, 0.50)),
            ms(quantile(&max_gaps, 0.99)),
            ms(quantile(&max_gaps, 1.0)),
            worst.map_or(String::new(), |r| format!(" (channel {})", r.channel))
        );
    }
    let mut lates: Vec<u64> = results.iter().map(|r| r.max_late_us).collect();
    lates.sort_unstable();
    if !lates.is_empty() {
        println!(
            "lateness against the play-out schedule, largest per port: p50 {} p99 {} max {}; \
             play-out buffer ran dry: {} times, on {} ports",
            ms(quantile(&lates, 0.50)),
            ms(quantile(&lates, 0.99)),
            ms(quantile(&lates, 1.0)),
            results.iter().map(|r| r.dry).sum::<u64>(),
            results.iter().filter(|r| r.dry > 0).count()
        );
    }
    println!("chand status: late_blocks {late}, underruns {underruns} (sum over ports)");
    println!(
        "chand CPU: {cpu:.2} s in {wall:.1} s ({:.1}% of one core), {:.2} µs per block received",
        100.0 * cpu / wall,
        if received > 0 {
            cpu * 1e6 / received as f64
        } else {
            0.0
        }
    );
    println!(
        "phones (this process): {own:.2} s CPU ({:.1}% of one core)",
        100.0 * own / wall
    );
    Ok(errors.is_empty() && lost.is_empty() && results.len() == args.ports as usize)
}
