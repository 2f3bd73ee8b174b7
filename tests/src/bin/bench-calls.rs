//! `bench-calls`: the media path of FXS calls in the real chand (sim back-end), its call-control
//! socket driven by the fake sipd (dahdi_mwi_tests::fakesipd), the far ends in this process.
//!
//! 1. Delay added by chand each way, one call: every 20 ms block the sim phone sends carries a
//!    marker (block number) in its µ-law codes, found again in the RTP payload at the far
//!    end's UDP socket (phone sample → RTP packet out); every RTP packet the far end sends
//!    carries one, found again in the blocks the phone receives (RTP in → phone sample). chand
//!    passes µ-law through untouched on a µ-law line (no transcoding), so the codes survive.
//! 2. Jitter buffer under loss and jitter: the far end drops 5 % of its marked packets and sends
//!    each of the others 20-60 ms (uniform) after its nominal time, so they reorder, as `tc
//!    netem delay 40ms 20ms loss 5%` would (the kernel this was written on has no
//!    CONFIG_NET_SCH_NETEM; the VM tier's `vm-netem` runs the same stream through real netem);
//!    the phone-side figures come from the markers heard (packet in →
//!    heard, packets never heard, 20 ms blocks made up), chand's from its status.
//! 3. CPU per simultaneous call: N ports each in a call with an RTP echo (one socket for all),
//!    every phone talking; chand's utime+stime (/proc/PID/stat) over a window. The peer in the
//!    same run: baresip (a SIP phone's own media path, `aufile` source and `sndfile` sink)
//!    with M calls to SIPp echoing RTP (`-rtp_echo`), same measurement.
//!
//! Usage: `bench-calls [--packets N] [--calls LIST] [--baresip-calls M] [--seconds S]`
//! (defaults 1500, 30,60,120,240, 30, 10).
//! Build in release with its daemons: `cargo build --release -p chand -p dahdi-mwi-tests --bin
//! chand --bin bench-calls && target/release/bench-calls`.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dahdi_mwi_tests::baresip::Baresip;
use dahdi_mwi_tests::daemon::{binary_path, RaiseOnDrop};
use dahdi_mwi_tests::fakesipd::echo;
use dahdi_mwi_tests::rtpmark::{
    connect_calls, echo_clocked, marked, pct, phone_clocked, phone_loop, quiet_env, rtp, serve,
    start_chand, Heard, Marks, FILL,
};
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::sipp::{scenario, spawn as sipp};

/// The jitter-buffer run's impairment, applied by the far end (this kernel has no netem):
/// packets dropped, and the range of the delay added to each (uniform, ms: 40 ± 20).
const LOSS: f64 = 0.05;
const DELAY_MS: (u64, u64) = (20, 60);

struct Args {
    packets: usize,
    calls: Vec<usize>,
    baresip_calls: usize,
    seconds: u64,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "bench-calls: {e}\nusage: bench-calls [--packets N] [--calls LIST] \
                 [--baresip-calls M] [--seconds S]"
            );
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-calls: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        packets: 1500,
        calls: vec![30, 60, 120, 240],
        baresip_calls: 30,
        seconds: 10,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let [flag, value] = pair else {
            return Err(format!("{} needs a value", pair[0]));
        };
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--packets" => a.packets = num(value)?,
            "--calls" => a.calls = value.split(',').map(num).collect::<Result<_, _>>()?,
            "--baresip-calls" => a.baresip_calls = num(value)?,
            "--seconds" => a.seconds = num(value)? as u64,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.packets < 100 || a.calls.iter().any(|&n| n == 0 || n > 240) || a.seconds == 0 {
        return Err("--packets ≥ 100, calls 1..=240, --seconds ≥ 1".into());
    }
    Ok(a)
}

fn run(a: &Args) -> Result<(), String> {
    println!(
        "bench-calls: {} online CPU(s), load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    delay(a.packets)?;
    jitter(a.packets)?;
    cpu(a)?;
    println!("load average at the end: {}", loadavg());
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Item 1: the delay chand adds each way, over `packets` blocks and packets.
fn delay(packets: usize) -> Result<(), String> {
    const WARMUP: usize = 50;
    let env = quiet_env();
    let (chand, phones, mut sipd) = start_chand(&env, &binary_path("chand"), &[], "22000-22099", 1);
    let far = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let far_addr = far.local_addr().map_err(|e| e.to_string())?;
    let local = connect_calls(&mut sipd, &phones, |_| far_addr)?;
    let chand_rtp = SocketAddr::from(([127, 0, 0, 1], local[0]));
    let total = packets + WARMUP;
    let (up, down) = (Marks::new(total), Marks::new(total));
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        s.spawn(|| serve(&mut sipd, &stop));
        let phone = &phones[0];
        s.spawn(|| {
            phone_loop(
                phone,
                &stop,
                |n| {
                    Marks::sent(&up, n);
                    marked(n)
                },
                |at, b| Marks::got(&down, at, b),
            )
        });
        far.set_read_timeout(Some(Duration::from_millis(1)))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 2048];
        let mut next = Instant::now();
        let mut n = 0;
        while n < total {
            if Instant::now() >= next {
                Marks::sent(&down, n);
                far.send_to(&rtp(0xbe4c, n), chand_rtp)
                    .map_err(|e| e.to_string())?;
                n += 1;
                next += Duration::from_millis(20);
            }
            if let Ok((len, _)) = far.recv_from(&mut buf) {
                if len > 12 && buf[1] & 0x7f == 0 {
                    Marks::got(&up, Instant::now(), &buf[12..len]);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        Ok::<(), String>(())
    })?;
    let st = chand.port_status("8001").call;
    println!("\n1. delay added by chand, one call, µ-law line, PCMU 20 ms ({packets} packets each way after {WARMUP} warm-up)");
    for (what, m) in [
        (
            "phone block -> RTP packet out (sim socket -> UDP socket)",
            &up,
        ),
        (
            "RTP packet in -> phone block (UDP socket -> sim socket)",
            &down,
        ),
    ] {
        let m = m.lock().expect("marks");
        let d = m.delays(WARMUP);
        println!(
            "   {what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} markers ({} not seen)",
            pct(&d, 0.5),
            pct(&d, 0.99),
            pct(&d, 1.0),
            d.len(),
            packets.saturating_sub(d.len())
        );
    }
    println!("   chand status: {st}");
    Ok(())
}

/// Item 2, the jitter buffer: `packets` marked packets, [`LOSS`] of them dropped, the others sent
/// at their nominal time plus a uniform delay in [`DELAY_MS`] (so they reorder).
fn jitter(packets: usize) -> Result<(), String> {
    const WARMUP: usize = 50;
    let env = quiet_env();
    let (chand, phones, mut sipd) = start_chand(&env, &binary_path("chand"), &[], "22100-22199", 1);
    let total = packets + WARMUP;
    let down = Marks::new(total);
    let stop = AtomicBool::new(false);
    let far = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let far_addr = far.local_addr().map_err(|e| e.to_string())?;
    let local = connect_calls(&mut sipd, &phones, |_| far_addr)?;
    let chand_rtp = SocketAddr::from(([127, 0, 0, 1], local[0]));
    let mut rng = fastrand::Rng::with_seed(4733);
    let start = Instant::now();
    let mut schedule: Vec<(Duration, usize)> = (0..total)
        .filter_map(|n| {
            let lost = rng.f64() < LOSS;
            let d = rng.u64(DELAY_MS.0..=DELAY_MS.1);
            let nominal = Duration::from_millis(20 * n as u64);
            (!lost).then(|| (nominal + Duration::from_millis(d), n))
        })
        .collect();
    schedule.sort();
    let delivered = schedule.iter().filter(|&&(_, n)| n >= WARMUP).count();
    std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        s.spawn(|| serve(&mut sipd, &stop));
        let phone = &phones[0];
        s.spawn(|| {
            phone_loop(
                phone,
                &stop,
                |_| vec![FILL; 160],
                |at, b| Marks::got(&down, at, b),
            )
        });
        for &(at, n) in &schedule {
            std::thread::sleep((start + at).saturating_duration_since(Instant::now()));
            Marks::sent(&down, n);
            far.send_to(&rtp(0x717e, n), chand_rtp)
                .map_err(|e| e.to_string())?;
        }
        std::thread::sleep(Duration::from_millis(500));
        Ok::<(), String>(())
    })?;
    let st = chand.port_status("8001").call;
    let heard = Heard::of(&down.lock().expect("marks"), WARMUP, delivered);
    println!(
        "\n2. jitter buffer: {packets} packets after {WARMUP} warm-up, {:.0} % dropped at the far \
         end ({} delivered), the others delayed uniformly {}-{} ms (reordered)",
        LOSS * 100.0,
        delivered,
        DELAY_MS.0,
        DELAY_MS.1
    );
    println!("   at the phone: {heard}");
    println!("   chand status: {st}");
    Ok(())
}

/// CPU time (utime + stime, clock ticks) of process `pid` so far.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = stat.rsplit_once(')').ok_or("bad /proc stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Ok(tick(11).ok_or("utime")? + tick(12).ok_or("stime")?)
}

/// `pid`'s share of one core (%) over `seconds`.
fn cpu_share(pid: u32, seconds: u64) -> Result<f64, String> {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let (t0, c0) = (Instant::now(), cpu_ticks(pid)?);
    std::thread::sleep(Duration::from_secs(seconds));
    let (t1, c1) = (Instant::now(), cpu_ticks(pid)?);
    Ok(100.0 * (c1 - c0) as f64 / hz / (t1 - t0).as_secs_f64())
}

/// Item 3, CPU per simultaneous call: chand for each count of `a.calls`, then baresip.
fn cpu(a: &Args) -> Result<(), String> {
    println!(
        "\n3. CPU per simultaneous call ({} s windows after 2 s of media)",
        a.seconds
    );
    let mut per_call = Vec::new();
    for (&n, clocked) in a.calls.iter().flat_map(|n| [(n, false), (n, true)]) {
        let env = quiet_env();
        let (chand, phones, mut sipd) =
            start_chand(&env, &binary_path("chand"), &[], "23000-23999", n as u32);
        let far = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let far_addr = far.local_addr().map_err(|e| e.to_string())?;
        let stop = AtomicBool::new(false);
        let events = Mutex::new(Vec::new());
        let share = std::thread::scope(|s| {
            let _raise = RaiseOnDrop(&stop);
            if clocked {
                s.spawn(|| echo_clocked(&far, &events, &stop));
            } else {
                s.spawn(|| echo(&far, &events, &stop));
            }
            for phone in &phones {
                let stop = &stop;
                if clocked {
                    s.spawn(move || phone_clocked(phone, stop, marked));
                } else {
                    s.spawn(move || phone_loop(phone, stop, marked, |_, _| {}));
                }
            }
            connect_calls(&mut sipd, &phones, |_| far_addr)?;
            s.spawn(|| serve(&mut sipd, &stop));
            std::thread::sleep(Duration::from_secs(2));
            cpu_share(chand.daemon.pid(), a.seconds)
        })?;
        let st = chand.status();
        let flowing = st
            .fxs
            .iter()
            .filter(|p| p.call.media.as_ref().is_some_and(|m| m.packets_in > 0))
            .count();
        let late: u64 = st.fxs.iter().map(|p| p.late_blocks).sum();
        println!(
            "   chand, {n} calls ({flowing} with RTP flowing both ways), far ends {}: {share:.1} % \
             of one core, {:.3} % per call; late blocks {late}",
            if clocked {
                "on their own clock (no wake-up)"
            } else {
                "waiting on their sockets"
            },
            share / n as f64
        );
        if !clocked {
            per_call.push((n, share / n as f64));
        }
    }
    let m = a.baresip_calls;
    if m > 0 {
        let share = baresip_cpu(m, a.seconds)?;
        println!(
            "   baresip (peer), {m} calls to SIPp -rtp_echo: {share:.1} % of one core, {:.3} % per call",
            share / m as f64
        );
        let same = per_call.iter().find(|&&(n, _)| n == m).or(per_call.last());
        if let Some(&(n, c)) = same {
            println!(
                "   per call, chand ({n} calls) / baresip ({m} calls): {:.2}",
                c / (share / m as f64)
            );
        }
    }
    Ok(())
}

/// baresip's share of a core with `calls` calls to SIPp echoing RTP.
fn baresip_cpu(calls: usize, seconds: u64) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let far = free_port();
    let media_port = free_port();
    let uas = scenario("call_uas.xml");
    let (far_s, media_s, m_s) = (far.to_string(), media_port.to_string(), calls.to_string());
    let args = [
        "-sf",
        uas.to_str().ok_or("path")?,
        "-i",
        "127.0.0.1",
        "-p",
        &far_s,
        "-mp",
        &media_s,
        "-rtp_echo",
        "-m",
        &m_s,
        "-l",
        &m_s,
    ];
    let _sipp = sipp(dir.path(), "uas", &args);
    std::thread::sleep(Duration::from_millis(300));
    let mut bob = Baresip::start("<sip:bench@{sip}>;regint=0", 1000);
    for _ in 0..calls {
        bob.command("dial", &format!("sip:echo@127.0.0.1:{far}"));
    }
    for _ in 0..calls {
        bob.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    }
    std::thread::sleep(Duration::from_secs(2));
    cpu_share(bob.pid(), seconds)
}
