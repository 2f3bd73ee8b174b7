//! `vm-netem`: chand's jitter buffer under real `tc netem` (issue 12, BENCHMARKS.md), in the VM
//! tier (tests/vm/run.sh, scripts/test.d/50-vm.sh), whose kernel has sch_netem and veth (the
//! host's may not). Two network namespaces joined by a veth pair:
//!
//! | namespace | address | runs |
//! | --- | --- | --- |
//! | `vmnetem-near` | 10.47.33.1/24 on `vn-near` | chand (sim back-end, FXS port 8001 on channel 1), by `ip netns exec` |
//! | `vmnetem-far` | 10.47.33.2/24 on `vn-far` | the far end's RTP socket; in the second run `vn-far`'s root qdisc is [`NETEM`] |
//!
//! Two runs, each with a fresh chand: first over the clean veth (the floor of this machine:
//! TCG, the build profile), then with [`NETEM`], so every packet towards chand (and only
//! those) is delayed 40 ms ± 20 ms (normal distribution: the packets reorder) and 5 % are
//! lost. This program stays in the guest's root namespace and talks to chand over its Unix
//! sockets (sim phone, callctl, control), which a network namespace does not separate. A fake
//! sipd (dahdi_mwi_tests::fakesipd) rings the port, the sim phone answers, `Connected` points
//! chand at the far end; the far end then sends 50 warm-up + N (default 1500) PCMU packets of
//! 20 ms at their nominal times, each marked with its number (dahdi_mwi_tests::rtpmark), and:
//! - an `AF_PACKET` socket in `vmnetem-near` timestamps each packet as it comes in on
//!   `vn-near`, after netem (far end's send → in: netem's delay as applied; delivered; reordered);
//! - the sim phone timestamps the blocks carrying each marker (in → heard p50/p99, delivered
//!   but never heard, 20 ms blocks made up);
//! - chand's status gives RTP in, lost and interarrival jitter; `tc -s` netem's drops.
//!
//! It prints the figures and checks only that the calls ran and the audio arrived (no timed
//! assertions: TCG timing varies). Usage: `vm-netem [CHAND_BINARY] [PACKETS]` (default: `chand`
//! next to this program, 1500; at least 100).
#![forbid(unsafe_code)]

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dahdi_mwi_tests::daemon::{profile_dir, RaiseOnDrop};
use dahdi_mwi_tests::rtpmark::{
    connect_calls, marks, pct, phone_loop, quiet_env, rtp, serve, start_chand, Heard, Marks, FILL,
};
use dahdi_mwi_tests::vmcheck::{ms, Outcome, Report};
use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{
    recv, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

/// chand's namespace, its end of the pair and address.
const NEAR: (&str, &str, Ipv4Addr) = ("vmnetem-near", "vn-near", Ipv4Addr::new(10, 47, 33, 1));
/// The far end's namespace, its end of the pair and address.
const FAR: (&str, &str, Ipv4Addr) = ("vmnetem-far", "vn-far", Ipv4Addr::new(10, 47, 33, 2));
/// The impairment on `vn-far` (towards chand), as `tc qdisc add dev vn-far root` takes it.
const NETEM: &str = "netem delay 40ms 20ms distribution normal loss 5%";
/// Packets before the measured ones: the jitter buffer settles.
const WARMUP: usize = 50;
/// The far end's UDP port.
const FAR_PORT: u16 = 40000;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let chand_bin = args
        .next()
        .map_or_else(|| profile_dir().join("chand"), PathBuf::from);
    let packets = match args.next().map(|a| a.parse::<usize>()) {
        None => 1500,
        Some(Ok(n)) if n >= 100 => n,
        Some(_) => {
            eprintln!("usage: vm-netem [CHAND_BINARY] [PACKETS ≥ 100]");
            return ExitCode::from(2);
        }
    };
    let mut report = Report::default();
    let started = Instant::now();
    let net = Namespaces::create();
    let mut ok = report.record(
        &format!("namespaces {} and {} joined by veth", NEAR.0, FAR.0),
        net.as_ref()
            .map(|_| {
                format!(
                    "{} {} on {}, {} {} on {}",
                    NEAR.0, NEAR.2, NEAR.1, FAR.0, FAR.2, FAR.1
                )
            })
            .map_err(Clone::clone),
    );
    ok = ok
        && report.record(
            &format!("call over the clean veth: {packets} marked packets after {WARMUP} warm-up"),
            jitter(&chand_bin, packets, false),
        );
    ok = ok
        && report.record(
            &format!("`{NETEM}` on {}", FAR.1),
            add_netem().and_then(|()| run(&["tc", "-n", FAR.0, "qdisc", "show", "dev", FAR.1])),
        );
    if ok {
        report.record(
            &format!("call through netem: {packets} marked packets after {WARMUP} warm-up"),
            jitter(&chand_bin, packets, true),
        );
    }
    drop(net);
    println!("# vm-netem took {}", ms(started.elapsed()));
    report.finish("vm-netem")
}

/// Run `argv` (`ip ...`, `tc ...`); its stdout, or why it failed.
fn run(argv: &[&str]) -> Result<String, String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| format!("{}: {e}", argv.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "`{}`: {}: {}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The two namespaces and the veth pair, deleted when dropped.
struct Namespaces;

impl Namespaces {
    fn create() -> Result<Self, String> {
        // Dropped on any error below: whatever was made is deleted.
        let net = Self;
        for (ns, _, _) in [NEAR, FAR] {
            // A namespace left by an earlier run in this boot goes first.
            let _ = run(&["ip", "netns", "del", ns]);
            run(&["ip", "netns", "add", ns])?;
        }
        run(&[
            "ip", "link", "add", NEAR.1, "netns", NEAR.0, "type", "veth", "peer", "name", FAR.1,
            "netns", FAR.0,
        ])?;
        for (ns, dev, addr) in [NEAR, FAR] {
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                dev,
            ])?;
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// netem's drop count so far (`tc -s qdisc show`: "Sent B bytes P pkt (dropped D, ...").
    fn dropped() -> Result<u64, String> {
        let s = run(&["tc", "-s", "-n", FAR.0, "qdisc", "show", "dev", FAR.1])?;
        s.split("(dropped ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|d| d.trim().parse().ok())
            .ok_or_else(|| format!("no drop count in `tc -s qdisc show`: {s}"))
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for (ns, _, _) in [NEAR, FAR] {
            if let Err(e) = run(&["ip", "netns", "del", ns]) {
                println!("# {e}");
            }
        }
    }
}

/// `tc qdisc add dev vn-far root` [`NETEM`] in [`FAR`]'s namespace.
fn add_netem() -> Result<(), String> {
    let mut tc = vec!["tc", "-n", FAR.0, "qdisc", "add", "dev", FAR.1, "root"];
    tc.extend(NETEM.split(' '));
    run(&tc).map(drop)
}

/// Enter the network namespace `ns` (this thread only, setns(2)).
fn enter(ns: &str) -> Result<(), String> {
    let f = File::open(format!("/run/netns/{ns}")).map_err(|e| format!("netns {ns}: {e}"))?;
    setns(f.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {ns}: {e}"))
}

/// The far end's UDP socket, bound in [`FAR`]'s namespace (a socket stays in the namespace it
/// was made in; the thread that made it ends).
fn far_socket() -> Result<UdpSocket, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(FAR.0)?;
            UdpSocket::bind((FAR.2, FAR_PORT)).map_err(|e| format!("bind far end: {e}"))
        })
        .join()
        .map_err(|_| "far end's socket thread panicked".to_owned())?
    })
}

/// A packet socket (`AF_PACKET`, cooked: from the IP header on) on every interface of
/// [`NEAR`]'s namespace, reads timing out after 100 ms.
fn sniffer() -> Result<OwnedFd, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(NEAR.0)?;
            let fd = socket(
                AddressFamily::Packet,
                SockType::Datagram,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::EthAll,
            )
            .map_err(|e| format!("AF_PACKET socket: {e}"))?;
            setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 100_000))
                .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
            Ok(fd)
        })
        .join()
        .map_err(|_| "sniffer thread panicked".to_owned())?
    })
}

/// The RTP payload of an IPv4/UDP datagram from the far end to `port`, if `pkt` is one.
fn rtp_payload(pkt: &[u8], port: u16) -> Option<&[u8]> {
    let ihl = usize::from(*pkt.first()? & 0x0f) * 4;
    let from_far = pkt.get(12..16)? == FAR.2.octets();
    let udp = pkt.get(ihl..ihl + 8)?;
    let to_port = u16::from_be_bytes([udp[2], udp[3]]) == port;
    (pkt[0] >> 4 == 4 && pkt.get(9) == Some(&17) && from_far && to_port)
        .then(|| pkt.get(ihl + 8 + 12..))
        .flatten()
}

/// Until `stop`: every RTP packet from the far end to chand's `port`, as it comes in on
/// `vn-near`, recorded in `wire` (arrival) and `chand_in` (the marks' sending side), and the
/// count of packets that came in after one with a higher number (reordered) in `reordered`.
fn sniff(
    fd: &OwnedFd,
    port: u16,
    stop: &AtomicBool,
    wire: &Mutex<Marks>,
    chand_in: &Mutex<Marks>,
    reordered: &Mutex<usize>,
) {
    let mut buf = [0u8; 2048];
    let mut highest = None;
    while !stop.load(Ordering::Relaxed) {
        let Ok(n) = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) else {
            continue;
        };
        let at = Instant::now();
        let Some(payload) = rtp_payload(&buf[..n], port) else {
            continue;
        };
        Marks::got(wire, at, payload);
        for m in marks(payload) {
            Marks::sent(chand_in, m);
            if highest.is_some_and(|h| m < h) {
                *reordered.lock().expect("reordered") += 1;
            }
            highest = highest.max(Some(m));
        }
    }
}

/// The measurement (see the module's doc), with [`NETEM`] on `vn-far` when `netem`.
fn jitter(chand_bin: &Path, packets: usize, netem: bool) -> Outcome {
    let env = quiet_env();
    let launcher = ["ip", "netns", "exec", NEAR.0];
    let (chand, phones, mut sipd) = start_chand(&env, chand_bin, &launcher, "22100-22199", 1);
    let far = far_socket()?;
    let sniffer = sniffer()?;
    let far_addr = SocketAddr::from((FAR.2, FAR_PORT));
    let local = connect_calls(&mut sipd, &phones, |_| far_addr)?;
    let to_chand = SocketAddr::from((NEAR.2, local[0]));
    let total = packets + WARMUP;
    // far end's send → in on vn-near, and in on vn-near → heard at the phone.
    let (wire, down) = (Marks::new(total), Marks::new(total));
    let reordered = Mutex::new(0);
    let stop = AtomicBool::new(false);
    let mut dropped_after_warmup = 0;
    let start = Instant::now();
    std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        s.spawn(|| serve(&mut sipd, &stop));
        s.spawn(|| sniff(&sniffer, local[0], &stop, &wire, &down, &reordered));
        let phone = &phones[0];
        s.spawn(|| {
            phone_loop(
                phone,
                &stop,
                |_| vec![FILL; 160],
                |at, b| Marks::got(&down, at, b),
            )
        });
        for n in 0..total {
            let nominal = start + Duration::from_millis(20 * n as u64);
            std::thread::sleep(nominal.saturating_duration_since(Instant::now()));
            Marks::sent(&wire, n);
            far.send_to(&rtp(0x4e7e, n), to_chand)
                .map_err(|e| format!("far end's send: {e}"))?;
            if netem && n + 1 == WARMUP {
                dropped_after_warmup = Namespaces::dropped()?;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        Ok::<(), String>(())
    })?;
    let dropped = if netem {
        format!(
            " (netem dropped {})",
            Namespaces::dropped()? - dropped_after_warmup
        )
    } else {
        String::new()
    };
    let st = chand.port_status("8001").call;
    let wire = wire.lock().expect("marks");
    let d = wire.delays(WARMUP);
    let delivered = d.len();
    let heard = Heard::of(&down.lock().expect("marks"), WARMUP, delivered);
    let reordered = *reordered.lock().expect("reordered");
    if netem {
        println!("# netem: `tc qdisc add dev {} root {NETEM}`", FAR.1);
    }
    println!(
        "# far end's send -> in on {}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {delivered} of \
         {packets} delivered{dropped}; {reordered} came in after a later one",
        NEAR.1,
        pct(&d, 0.5),
        pct(&d, 0.99),
        pct(&d, 1.0)
    );
    println!("# at the phone: {heard}");
    println!("# chand status: {st}");
    let rtp_in = st.media.as_ref().map_or(0, |m| m.packets_in);
    if delivered == 0 || heard.heard == 0 || rtp_in == 0 {
        return Err(format!(
            "no audio through: {delivered} packets came in on {}, {} heard, chand's RTP in \
             {rtp_in}; chand's log:\n{}",
            NEAR.1,
            heard.heard,
            chand.daemon.log()
        ));
    }
    Ok(format!(
        "{delivered} of {packets} delivered, {} heard, chand RTP in {rtp_in}",
        heard.heard
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/UDP datagram from `src` to `port` carrying `rtp` (checksums left zero: the
    /// parser does not check them, the kernel did).
    fn datagram(src: Ipv4Addr, port: u16, rtp: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&NEAR.2.octets());
        p.extend_from_slice(&FAR_PORT.to_be_bytes());
        p.extend_from_slice(&port.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
        p.extend_from_slice(rtp);
        p
    }

    #[test]
    fn only_the_far_ends_rtp_to_chands_port_is_taken() {
        let pkt = rtp(1, 7);
        let p = datagram(FAR.2, 22100, &pkt);
        assert_eq!(rtp_payload(&p, 22100), Some(&pkt[12..]));
        assert_eq!(rtp_payload(&p, 22102), None);
        assert_eq!(rtp_payload(&datagram(NEAR.2, 22100, &pkt), 22100), None);
        let mut udp6 = p.clone();
        udp6[0] = 0x65;
        assert_eq!(rtp_payload(&udp6, 22100), None);
        for cut in [0, 1, 10, 19, 27] {
            assert_eq!(rtp_payload(&p[..cut], 22100), None, "cut at {cut}");
        }
    }
}
