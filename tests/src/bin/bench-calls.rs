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
//!    CONFIG_NET_SCH_NETEM); the phone-side figures come from the markers heard (packet in →
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use callctl::link::Event;
use callctl::wire::Message;
use callctl::{CallId, Privacy, Text};
use chand::backend::sim::peer::Phone;
use dahdi_mwi_tests::baresip::Baresip;
use dahdi_mwi_tests::daemon::{binary_path, RaiseOnDrop};
use dahdi_mwi_tests::env::{Chand, Env};
use dahdi_mwi_tests::fakesipd::{calls_config, echo, media, FakeSipd, WAIT};

use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::sipp::{scenario, spawn as sipp};
use sansio::Core;

/// The two codes opening a marker, then the block number in three codes of 6 bits each.
/// µ-law codes 0x20..=0x5f decode and encode back to themselves (no ±0 ambiguity).
const MARK: [u8; 2] = [0x3a, 0x5c];
/// The code around the markers (a quiet µ-law sample).
const FILL: u8 = 0x7e;
/// Offsets of the markers in a block or payload: two, so that one of them never straddles the
/// boundary of chand's 20 ms frames, whatever their alignment to the phone's blocks.
const MARK_AT: [usize; 2] = [0, 80];
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

/// A block of 160 µ-law codes marked with `n` at [`MARK_AT`].
fn marked(n: usize) -> Vec<u8> {
    let mut b = vec![FILL; 160];
    for at in MARK_AT {
        b[at..at + 2].copy_from_slice(&MARK);
        for (i, shift) in [12, 6, 0].into_iter().enumerate() {
            b[at + 2 + i] = 0x20 + ((n >> shift) & 0x3f) as u8;
        }
    }
    b
}

/// The block numbers marked in `codes`.
fn marks(codes: &[u8]) -> Vec<usize> {
    codes
        .windows(5)
        .filter(|w| w[..2] == MARK && w[2..].iter().all(|c| (0x20..0x60).contains(c)))
        .map(|w| w[2..].iter().fold(0, |n, c| n << 6 | usize::from(c - 0x20)))
        .collect()
}

/// One RTP packet: PCMU, `ssrc`, sequence `n`, payload [`marked`]`(n)`.
fn rtp(ssrc: u32, n: usize) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&(n as u16).to_be_bytes());
    p.extend_from_slice(&((n as u32).wrapping_mul(160)).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(marked(n));
    p
}

/// When each marker was sent and first received; 20 ms per marker.
struct Marks {
    sent: Vec<Option<Instant>>,
    got: Vec<Option<Instant>>,
    /// Blocks, between the first and the last that brought a new marker, that brought none:
    /// 20 ms the receiver made up (loss concealment, or a deeper play-out buffer).
    made_up: usize,
    /// Blocks without a new marker since the last that had one.
    pending: usize,
}

impl Marks {
    fn new(n: usize) -> Mutex<Self> {
        Mutex::new(Self {
            sent: vec![None; n],
            got: vec![None; n],
            made_up: 0,
            pending: 0,
        })
    }

    fn sent(m: &Mutex<Self>, n: usize) {
        if let Some(s) = m.lock().expect("marks").sent.get_mut(n) {
            *s = Some(Instant::now());
        }
    }

    /// A block or payload arrived at `at` carrying `codes`.
    fn got(m: &Mutex<Self>, at: Instant, codes: &[u8]) {
        let mut m = m.lock().expect("marks");
        let mut new = false;
        for n in marks(codes) {
            if let Some(g @ None) = m.got.get_mut(n) {
                *g = Some(at);
                new = true;
            }
        }
        let started = m.got.iter().any(Option::is_some);
        if new {
            m.made_up += m.pending;
            m.pending = 0;
        } else if started {
            m.pending += 1;
        }
    }

    /// Delays (ms) of the markers sent and received, skipping the first `warmup`.
    fn delays(&self, warmup: usize) -> Vec<f64> {
        let mut d: Vec<f64> = self
            .sent
            .iter()
            .zip(&self.got)
            .skip(warmup)
            .filter_map(|(s, g)| Some(g.as_ref()?.duration_since(*s.as_ref()?).as_secs_f64() * 1e3))
            .collect();
        d.sort_by(f64::total_cmp);
        d
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The incoming calls `1..=phones.len()` (call ids SIPD_BIT | port) answered: each port
/// rings, its phone goes off-hook, and chand's RTP goes to `far(port)`. Returns each call's
/// local RTP port, in port order.
fn connect_calls(
    sipd: &mut FakeSipd,
    phones: &[Phone],
    far: impl Fn(u16) -> SocketAddr,
) -> Result<Vec<u16>, String> {
    let n = phones.len();
    let id = |port: u16| CallId(CallId::SIPD_BIT | u32::from(port));
    for port in 1..=n as u16 {
        sipd.send(Message::Incoming {
            call: id(port),
            port,
            number: Text::try_from("5551234").map_err(|e| format!("{e:?}"))?,
            name: Text::try_from("BENCH").map_err(|e| format!("{e:?}"))?,
            privacy: Privacy::Allowed,
        });
    }
    let mut local = vec![0u16; n];
    let (mut alerting, mut answered) = (0, 0);
    let deadline = Instant::now() + WAIT * 4;
    while answered < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("{alerting} of {n} calls rang, {answered} answered"));
        }
        let Some(Event::Call(m)) = sipd.next(left) else {
            continue;
        };
        match m {
            Message::MediaReady { call, local_rtp } => {
                local[(call.0 & !CallId::SIPD_BIT) as usize - 1] = local_rtp.port();
            }
            Message::Alerting { call } => {
                alerting += 1;
                let port = (call.0 & !CallId::SIPD_BIT) as usize;
                phones[port - 1]
                    .off_hook()
                    .map_err(|e| format!("phone {port}: {e}"))?;
            }
            Message::Answered { call } => {
                answered += 1;
                let port = (call.0 & !CallId::SIPD_BIT) as u16;
                sipd.send(Message::Connected {
                    call,
                    media: media(far(port)),
                });
            }
            Message::Hangup { call, cause } => {
                return Err(format!("chand hung up {call}: {cause:?}"));
            }
            _ => {}
        }
    }
    Ok(local)
}

/// The phone's side of a call until `stop`: a block every 20 ms (`block(n)`), and every block
/// received handed to `heard` with its arrival time.
fn phone_loop(
    phone: &Phone,
    stop: &AtomicBool,
    block: impl Fn(usize) -> Vec<u8>,
    mut heard: impl FnMut(Instant, &[u8]),
) {
    let mut n = 0;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= next {
            let _ = phone.send_audio(&block(n));
            n += 1;
            next += Duration::from_millis(20);
            continue;
        }
        if let Ok(b) = phone.recv_audio(next - now) {
            heard(Instant::now(), &b);
        }
    }
}

/// Keep the fake sipd's link alive (its pings, chand's answers) until `stop`: chand ends
/// every call when sipd stays silent for 3 keep-alive intervals.
fn serve(sipd: &mut FakeSipd, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let _ = sipd.next(Duration::from_millis(200));
        sipd.link.handle_timeout(Instant::now());
        sipd.flush();
    }
}

/// chand with `channels` FXS ports and a fake sipd linked to it.
fn start_chand(env: &Env, rtp_ports: &str, channels: u32) -> (Chand, Vec<Phone>, FakeSipd) {
    let chans: Vec<u32> = (1..=channels).collect();
    let cfg = env.write_config(&calls_config(rtp_ports, &chans));
    let chand = Chand::start_with(&binary_path("chand"), env, &cfg);
    let phones = chans
        .iter()
        .map(|&c| Phone::connect(&env.sim_dir, c, WAIT).expect("sim phone"))
        .collect();
    let mut sipd = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
    sipd.wait_up();
    (chand, phones, sipd)
}

fn quiet_env() -> Env {
    let mut env = Env::new();
    env.log_level = "warn";
    env
}

/// Item 1: the delay chand adds each way, over `packets` blocks and packets.
fn delay(packets: usize) -> Result<(), String> {
    const WARMUP: usize = 50;
    let env = quiet_env();
    let (chand, phones, mut sipd) = start_chand(&env, "22000-22099", 1);
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
    let (chand, phones, mut sipd) = start_chand(&env, "22100-22199", 1);
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
    let m = down.lock().expect("marks");
    let d = m.delays(WARMUP);
    println!(
        "\n2. jitter buffer: {packets} packets after {WARMUP} warm-up, {:.0} % dropped at the far \
         end ({} delivered), the others delayed uniformly {}-{} ms (reordered)",
        LOSS * 100.0,
        delivered,
        DELAY_MS.0,
        DELAY_MS.1
    );
    println!(
        "   at the phone: packet in -> heard p50 {:.1} ms, p99 {:.1} ms; delivered but never \
         heard (late, dropped by chand) {}; 20 ms blocks made up (concealed, or buffer grown) {}",
        pct(&d, 0.5),
        pct(&d, 0.99),
        delivered.saturating_sub(d.len()),
        m.made_up
    );
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
    for &n in &a.calls {
        let env = quiet_env();
        let (chand, phones, mut sipd) = start_chand(&env, "23000-23999", n as u32);
        let far = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let far_addr = far.local_addr().map_err(|e| e.to_string())?;
        let stop = AtomicBool::new(false);
        let events = Mutex::new(Vec::new());
        let share = std::thread::scope(|s| {
            let _raise = RaiseOnDrop(&stop);
            s.spawn(|| echo(&far, &events, &stop));
            for phone in &phones {
                let stop = &stop;
                s.spawn(move || phone_loop(phone, stop, marked, |_, _| {}));
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
            "   chand, {n} calls ({flowing} with RTP flowing both ways): {share:.1} % of one core, \
             {:.3} % per call; late blocks {late}",
            share / n as f64
        );
        per_call.push((n, share / n as f64));
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
