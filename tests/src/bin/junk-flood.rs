//! `junk-flood`: sipd's clean NOTIFY rate, then its rate while a junk flood runs from other
//! loopback sources, and the ratio (issue 11, "Done when": the rate under a concurrent junk
//! flood as a ratio of the clean rate; run by hand, not in CI).
//!
//! - sipd (release build) serves unsolicited NOTIFYs from 127.0.0.1 (its `[mwi_server]`), with
//!   the default `[sip.limits]` and `[sip.block]` unless `--no-block` (failures = 0).
//! - The voice-mail server of `soak` ([`VoiceMailLoad`]) keeps WINDOW NOTIFY transactions
//!   outstanding (a new one as soon as one is answered), for SECONDS: the clean phase, then the
//!   same with the flood running, ROUNDS times in turn (a busy machine disturbs single runs).
//!   Each phase prints NOTIFYs answered per second, the retransmissions (a NOTIFY unanswered
//!   after 500 ms) and the refusals; the end, the medians and their ratio.
//! - The flood, JUNK_RATE per second of each kind, each kind from its own source address:
//!   garbage UDP datagrams (127.0.0.2), truncated NOTIFYs (127.0.0.3), requests with a bad Via
//!   (127.0.0.4), OPTIONS from a source outside `allow` (127.0.0.5), oversize messages over
//!   TCP (127.0.0.6), and TCP connections that never send, up to 2,000 held (127.0.0.7-9).
//!
//! Usage: `junk-flood [--seconds N] [--window W] [--numbers K] [--junk-rate R] [--rounds N]
//! [--no-block]` (defaults 10, 200, 1000, 5000, 3). Build first:
//! `cargo build --release -p sipd -p dahdi-mwi-tests --bin sipd --bin junk-flood`.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use dahdi_mwi_tests::daemon::binary_path;
use dahdi_mwi_tests::env::{Env, Sipd};
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::vmload::{self, VoiceMailLoad, SERVED_PATTERN};

/// The clean NOTIFY rate of sipd, then the rate under a concurrent junk flood, in rounds.
#[derive(Parser, Debug)]
#[command(name = "junk-flood")]
struct Args {
    /// Seconds of each clean and each flooded phase.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// NOTIFYs kept outstanding.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    window: u64,
    /// Served users the NOTIFYs are spread over.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    numbers: u32,
    /// Datagrams per second of each junk kind.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    junk_rate: u64,
    /// Clean/flooded round pairs.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
    /// Run with `[sip.block] failures = 0` (no source is blocked).
    #[arg(long = "no-block", action = clap::ArgAction::SetFalse)]
    block: bool,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("junk-flood: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What one phase measured.
struct Phase {
    rate: f64,
    retransmitted: u64,
    refused: u64,
}

/// Keep `window` NOTIFYs outstanding for `seconds`; then wait for the last answers.
fn phase(vm: &mut VoiceMailLoad, a: &Args) -> Phase {
    let (answered0, retrans0) = (vm.answered, vm.retransmitted);
    let refused0: u64 = vm.refused.values().sum();
    let mut rng = fastrand::Rng::new();
    let start = Instant::now();
    let end = start + Duration::from_secs(a.seconds);
    while Instant::now() < end {
        let now = Instant::now();
        while (vm.pending() as u64) < a.window {
            if vm
                .send(now, 20_000 + rng.u32(..a.numbers), rng.bool())
                .is_err()
            {
                break;
            }
        }
        vm.service(now);
    }
    let answered = vm.answered - answered0;
    let rate = answered as f64 / start.elapsed().as_secs_f64();
    let drain = Instant::now() + Duration::from_secs(10);
    while vm.pending() > 0 && Instant::now() < drain {
        vm.service(Instant::now());
        std::thread::sleep(Duration::from_millis(1));
    }
    Phase {
        rate,
        retransmitted: vm.retransmitted - retrans0,
        refused: vm.refused.values().sum::<u64>() - refused0,
    }
}

fn source(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// The message-summary body of the junk NOTIFYs (RFC 3842).
const BODY: &str = "Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n";

/// A NOTIFY as a voice-mail server would send it, from `me`, with this Via value.
fn notify(to: SocketAddr, me: SocketAddr, via: &str, seq: u64) -> String {
    format!(
        "NOTIFY sip:20001@{to} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
         From: <sip:junk@{ip}>;tag=junk\r\nTo: <sip:20001@{ip}>\r\nCall-ID: junk-{seq}@{ip}\r\n\
         CSeq: 1 NOTIFY\r\nEvent: message-summary\r\nSubscription-State: active\r\n\
         Content-Type: application/simple-message-summary\r\nContent-Length: {len}\r\n\r\n{BODY}",
        ip = me.ip(),
        len = BODY.len(),
    )
}

/// One UDP junk kind: `make(seq, rng, me)` datagrams from `from`, `rate` per second.
fn udp_junk(
    to: SocketAddr,
    from: u8,
    rate: u64,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    make: impl Fn(u64, &mut fastrand::Rng, SocketAddr) -> Vec<u8> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let socket = UdpSocket::bind((source(from), 0)).expect("bind a loopback source");
        socket.set_nonblocking(true).expect("non-blocking");
        let me = socket.local_addr().expect("local address");
        let mut rng = fastrand::Rng::new();
        let start = Instant::now();
        let mut sent = 0u64;
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            if sent >= due {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let _ = socket.send_to(&make(sent, &mut rng, me), to);
            sent += 1;
            count.fetch_add(1, Ordering::Relaxed);
            while socket.recv_from(&mut buf).is_ok() {}
        }
    })
}

/// Oversize messages over TCP: a header announcing 200,000 octets, then 70,000 of them, on a
/// new connection each time (sipd closes it).
fn tcp_oversize(
    to: SocketAddr,
    rate: u64,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let body = vec![b'x'; 70_000];
        let start = Instant::now();
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            if sent >= due {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            sent += 1;
            let Ok(socket) = connect_from(to, 6) else {
                continue;
            };
            let mut s = socket;
            let me = s.local_addr().expect("local address");
            let head = notify(
                to,
                me,
                &format!("SIP/2.0/TCP {me};branch=z9hG4bK-big{sent}"),
                sent,
            )
            .replace(
                &format!("Content-Length: {}", BODY.len()),
                "Content-Length: 200000",
            );
            let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
            count.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// A TCP connection to `to` from 127.0.0.`from` (std's TcpStream cannot bind before
/// connecting, so the socket is made, bound and connected with `nix`).
fn connect_from(to: SocketAddr, from: u8) -> std::io::Result<TcpStream> {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::new(127, 0, 0, from, 0),
    )?;
    let SocketAddr::V4(v4) = to else {
        return Err(std::io::Error::other("IPv4 only"));
    };
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(v4))?;
    Ok(TcpStream::from(fd))
}

/// Idle TCP connections from 127.0.0.7-9: open them, up to `max`, and hold them; reopen what
/// sipd closes.
fn tcp_idle(
    to: SocketAddr,
    max: usize,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let mut probe = [0u8; 1];
            held.retain(|s| {
                s.set_nonblocking(true).is_ok()
                    && matches!((&*s).read(&mut probe),
                        Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
            });
            while held.len() < max && !stop.load(Ordering::Relaxed) {
                i += 1;
                match connect_from(to, 7 + (i % 3) as u8) {
                    Ok(s) => {
                        held.push(s);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

fn run(a: &Args) -> Result<(), String> {
    let mut env = Env::new();
    env.log_level = "warn";
    env.table_capacity = vmload::table_capacity(a.numbers);
    let port = free_port();
    let sip: SocketAddr = ([127, 0, 0, 1], port).into();
    let block = if a.block {
        ""
    } else {
        "[sip.block]\nfailures = 0\n"
    };
    let cfg = env.write_config(&format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\n{block}\
         [mwi_server]\nserver = \"ipv4:127.0.0.1\"\nunsolicited = true\n\
         allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n\
         [[pri]]\nspan = 1\ndchannel = 24\nside = \"user\"\nnumbers = [\"{SERVED_PATTERN}\"]\n"
    ));
    let mut sipd = Sipd::start_in_with(&binary_path("sipd"), &env, &cfg);
    let mut vm = VoiceMailLoad::bind(sip)?;
    println!(
        "{} rounds of {} s clean then {} s flooded; {} NOTIFYs outstanding over {} numbers; \
         flood: {}/s of each UDP kind, {}/s oversize over TCP, up to 2,000 idle TCP \
         connections{}",
        a.rounds,
        a.seconds,
        a.seconds,
        a.window,
        a.numbers,
        a.junk_rate,
        (a.junk_rate / 50).max(1),
        if a.block { "" } else { "; [sip.block] off" }
    );
    let (mut clean, mut flooded) = (Vec::new(), Vec::new());
    for round in 1..=a.rounds {
        let c = phase(&mut vm, a);
        report(&format!("round {round} clean"), &c);
        let flood = Flood::start(sip, a.junk_rate);
        std::thread::sleep(Duration::from_millis(500));
        let f = phase(&mut vm, a);
        report(&format!("round {round} flooded"), &f);
        flood.stop();
        sipd.daemon.assert_running();
        clean.push(c);
        flooded.push(f);
    }
    let st = sipd.status().ok_or("sipd status does not answer")?;
    let (c, f) = (median(&clean), median(&flooded));
    let retrans: u64 = clean.iter().chain(&flooded).map(|p| p.retransmitted).sum();
    println!(
        "median clean {c:.0} NOTIFY/s, median flooded {f:.0} NOTIFY/s, ratio {:.2}; \
         {retrans} retransmissions in all; sipd alive, status answers (blocked sources: {})",
        f / c,
        st.blocked.len()
    );
    sipd.daemon.stop();
    Ok(())
}

fn median(phases: &[Phase]) -> f64 {
    let mut r: Vec<f64> = phases.iter().map(|p| p.rate).collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}

/// The junk senders, one thread per kind, and what each has sent.
struct Flood {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    counts: Vec<Arc<AtomicU64>>,
    start: Instant,
}

const KINDS: [&str; 6] = [
    "garbage UDP",
    "truncated NOTIFY",
    "bad Via",
    "OPTIONS, not allowed",
    "oversize over TCP",
    "idle TCP connections opened",
];

impl Flood {
    fn start(sip: SocketAddr, r: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counts: Vec<Arc<AtomicU64>> = KINDS.iter().map(|_| Arc::default()).collect();
        let threads = vec![
            udp_junk(sip, 2, r, stop.clone(), counts[0].clone(), |_, rng, _| {
                (0..rng.usize(1..1400)).map(|_| rng.u8(..)).collect()
            }),
            udp_junk(
                sip,
                3,
                r,
                stop.clone(),
                counts[1].clone(),
                move |n, rng, me| {
                    let via = format!("SIP/2.0/UDP {me};branch=z9hG4bK-cut{n}");
                    let text = notify(sip, me, &via, n);
                    let cut = rng.usize(1..text.len() - 1);
                    text.as_bytes()[..cut].to_vec()
                },
            ),
            udp_junk(
                sip,
                4,
                r,
                stop.clone(),
                counts[2].clone(),
                move |n, _, me| notify(sip, me, "SIP/2.0/UDP ;;branch==@@", n).into_bytes(),
            ),
            udp_junk(
                sip,
                5,
                r,
                stop.clone(),
                counts[3].clone(),
                move |n, _, me| {
                    format!(
                    "OPTIONS sip:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-opt{n}\r\n\
                     Max-Forwards: 70\r\nFrom: <sip:probe@{ip}>;tag=probe\r\nTo: <sip:{sip}>\r\n\
                     Call-ID: opt-{n}@{ip}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                    ip = me.ip()
                )
                    .into_bytes()
                },
            ),
            tcp_oversize(sip, (r / 50).max(1), stop.clone(), counts[4].clone()),
            tcp_idle(sip, 2000, stop.clone(), counts[5].clone()),
        ];
        Self {
            stop,
            threads,
            counts,
            start: Instant::now(),
        }
    }

    /// Stop every sender and print what each sent.
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let secs = self.start.elapsed().as_secs_f64();
        for t in self.threads {
            let _ = t.join();
        }
        let sent: Vec<String> = KINDS
            .iter()
            .zip(&self.counts)
            .map(|(kind, c)| {
                let n = c.load(Ordering::Relaxed);
                format!("{kind} {n} ({:.0}/s)", n as f64 / secs)
            })
            .collect();
        println!("  junk sent: {}", sent.join(", "));
    }
}

fn report(name: &str, p: &Phase) {
    println!(
        "{name}: {:.0} NOTIFY/s answered 200, {} retransmissions, {} refused",
        p.rate, p.retransmitted, p.refused
    );
}
