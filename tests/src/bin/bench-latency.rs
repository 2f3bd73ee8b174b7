//! `bench-latency`: end-to-end latency of dahdi-mwi on the sim back-end, with both real daemons.
//!
//! 1. NOTIFY → QSIG SETUP: from just before our `sendto` of an unsolicited NOTIFY to sipd's UDP
//!    socket to the arrival of the Q.921 I frame carrying the MWIActivate/MWIDeactivate SETUP
//!    on chand's D-channel socket, read by a PBX (the isdn crate's Q.921, network side) in this
//!    process. One NOTIFY at a time; every NOTIFY changes its number's state, so each one
//!    yields a SETUP.
//! 2. NOTIFY → FXS line state change: to the arrival of `Evmwi N` at a sim phone on a port with
//!    `vmwi = "neon"` (chand's DAHDI_VMWI on the sim back-end), alternating the port's number
//!    between messages waiting and none.
//!
//! 3. The peer in the same run: a trivial relay thread (UDP recv → one SOCK_SEQPACKET packet to
//!    the reader), the floor any two-hop design pays on this machine
//!    under its current load; the daemons' figures are also printed as ratios to it (p50, p99).
//!
//! Every path's clock starts before the `sendto`, never after it: on loopback the datagram is
//! delivered inside `sendto`, so a peer on the other core can have answered before `sendto`
//! returns, and a clock started then reads the tail only (the relay floor read 0 µs at p50 in
//! about half the runs that way, which made the ratios meaningless).
//!
//! Usage: `bench-latency [COUNT]` (default 10000 NOTIFYs per measurement, after 200 warm-up).
//! Daemons log at `warn`. The daemons are taken from this binary's directory; build them in
//! the same profile first: `cargo build --release -p chand -p sipd -p dahdi-mwi-tests --bin
//! chand --bin sipd --bin bench-latency && target/release/bench-latency`.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chand::backend::sim::peer::{Phone, ToPhone};
use dahdi_mwi_tests::daemon::binary_path;
use dahdi_mwi_tests::env::{Chand, Env, Sipd};
use dahdi_mwi_tests::pbx::QsigPbx;
use dahdi_mwi_tests::sip::{free_port, Summary, VoiceMail};
use isdn::q921::Side;

const WARMUP: usize = 200;
const WAIT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let count = match std::env::args().nth(1).map(|a| a.parse::<usize>()) {
        None => 10_000,
        Some(Ok(n)) if n > 0 => n,
        _ => {
            eprintln!("usage: bench-latency [COUNT]");
            return ExitCode::from(2);
        }
    };
    match run(count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-latency: {e}");
            ExitCode::FAILURE
        }
    }
}

/// p50 and p99 of a measurement, µs.
#[derive(Clone, Copy)]
struct Figures {
    p50: f64,
    p99: f64,
}

/// Print percentiles of `samples` (µs, sorted in place), with ratios to `floor` if given.
fn report(what: &str, samples: &mut [f64], floor: Option<Figures>) -> Figures {
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    let f = Figures {
        p50: pct(0.50),
        p99: pct(0.99),
    };
    let ratio = floor.map_or_else(String::new, |b| {
        format!(
            " (x{:.1} p50, x{:.1} p99 of the relay)",
            f.p50 / b.p50,
            f.p99 / b.p99
        )
    });
    println!(
        "{what}: n={} p50={:.0} µs p90={:.0} µs p99={:.0} µs max={:.0} µs mean={:.0} µs{ratio}",
        samples.len(),
        f.p50,
        pct(0.90),
        f.p99,
        samples[samples.len() - 1],
        mean
    );
    f
}

/// The relay floor: UDP datagram → relay thread → SOCK_SEQPACKET packet, one at a time.
fn relay_floor(count: usize) -> Result<Figures, String> {
    use std::os::unix::net::UnixDatagram;
    let err = |e: std::io::Error| e.to_string();
    let relay = UdpSocket::bind("127.0.0.1:0").map_err(err)?;
    let to = relay.local_addr().map_err(err)?;
    // UnixDatagram keeps message boundaries like SOCK_SEQPACKET, from std alone.
    let (tx, rx) = UnixDatagram::pair().map_err(err)?;
    rx.set_read_timeout(Some(WAIT)).map_err(err)?;
    let n = WARMUP + count;
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        for _ in 0..n {
            let Ok((len, _)) = relay.recv_from(&mut buf) else {
                return;
            };
            let _ = tx.send(&buf[..len.min(260)]);
        }
    });
    let sender = UdpSocket::bind("127.0.0.1:0").map_err(err)?;
    let payload = [0x41u8; 600];
    let mut us = Vec::with_capacity(count);
    let mut buf = [0u8; 2048];
    for i in 0..n {
        let t0 = Instant::now();
        sender.send_to(&payload, to).map_err(err)?;
        rx.recv(&mut buf).map_err(err)?;
        if i >= WARMUP {
            us.push(t0.elapsed().as_secs_f64() * 1e6);
        }
    }
    let _ = thread.join();
    Ok(report(
        "relay floor (UDP sendto -> thread -> unix datagram), same run",
        &mut us,
        None,
    ))
}

/// Drain sipd's answers without waiting (they are not part of the measurement).
fn drain(socket: &UdpSocket) {
    let mut buf = [0u8; 4096];
    while socket.recv_from(&mut buf).is_ok() {}
}

fn run(count: usize) -> Result<(), String> {
    let mut env = Env::new();
    env.log_level = "warn";
    let port = free_port();
    let sip: SocketAddr = ([127, 0, 0, 1], port).into();
    let cfg = env.write_config(&format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\n\
         [mwi_server]\nserver = \"ipv4:127.0.0.1\"\nunsolicited = true\n\
         allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n\
         [[fxs]]\nchannel = 1\nnumber = \"8000\"\nvmwi = \"neon\"\n\
         [[pri]]\nspan = 1\ndchannel = 24\nside = \"user\"\nnumbers = [\"2...\"]\n"
    ));
    let _sipd = Sipd::start_in_with(&binary_path("sipd"), &env, &cfg);
    let _chand = Chand::start_with(&binary_path("chand"), &env, &cfg);
    let mut pbx =
        QsigPbx::connect(&env.sim_dir, 24, Side::Network, WAIT).map_err(|e| format!("PBX: {e}"))?;
    if !pbx.run_until(WAIT, QsigPbx::is_up) {
        return Err("Q.921 link did not come up".into());
    }
    let phone = Phone::connect(&env.sim_dir, 1, WAIT).map_err(|e| format!("phone: {e}"))?;
    let mut vm = VoiceMail::bind().map_err(|e| e.to_string())?;
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;

    // NOTIFY → SETUP at the PBX.
    let mut setup_us = Vec::with_capacity(count);
    for i in 0..WARMUP + count {
        let summary = Summary {
            number: format!("{}", 2000 + i % 1000),
            waiting: (i / 1000) % 2 == 0,
            new: 1 + (i % 7) as u32,
            old: 0,
        };
        let text = vm.notify_text(&summary, sip);
        let before = pbx.received.len();
        let t0 = Instant::now();
        socket
            .send_to(text.as_bytes(), sip)
            .map_err(|e| e.to_string())?;
        if !pbx.run_until(WAIT, |p| p.received.len() > before) {
            return Err(format!("no SETUP for NOTIFY {i} ({})", summary.number));
        }
        let at = pbx.received[before].at;
        if i >= WARMUP {
            setup_us.push(at.duration_since(t0).as_secs_f64() * 1e6);
        }
        drain(&socket);
        // Keep the PBX's record small: only the newest invoke matters.
        pbx.received.clear();
        pbx.frames_in.clear();
    }
    let floor = relay_floor(count)?;
    report(
        "NOTIFY sendto -> QSIG SETUP on chand's D-channel",
        &mut setup_us,
        Some(floor),
    );

    // NOTIFY → `Evmwi` at the phone.
    let mut vmwi_us = Vec::with_capacity(count);
    for i in 0..WARMUP + count {
        let waiting = i % 2 == 0;
        let summary = Summary {
            number: "8000".into(),
            waiting,
            new: u32::from(waiting) * 2,
            old: 1,
        };
        let text = vm.notify_text(&summary, sip);
        let t0 = Instant::now();
        socket
            .send_to(text.as_bytes(), sip)
            .map_err(|e| e.to_string())?;
        let want = if waiting { "vmwi 2" } else { "vmwi 0" };
        loop {
            match phone
                .recv(WAIT)
                .map_err(|e| format!("phone, NOTIFY {i}: {e}"))?
            {
                ToPhone::Event(e) if e == want => break,
                _ => {}
            }
        }
        if i >= WARMUP {
            vmwi_us.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        drain(&socket);
        // The PBX must keep its link up meanwhile (T203 polls).
        pbx.step(Duration::from_millis(0));
    }
    report(
        "NOTIFY sendto -> FXS line VMWI change at the phone",
        &mut vmwi_us,
        Some(floor),
    );
    Ok(())
}
