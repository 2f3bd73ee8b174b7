//! Benchmarks of the shared MWI table: cross-process one-way latency (p50, p99) and updates
//! per second, next to a Unix datagram socket (cross-process) and crossbeam-channel (two
//! threads of one process), all measured in the same run and printed with ratios; then
//! criterion micro-benchmarks of the in-process costs.
//!
//! `cargo bench -p mwi-core --bench table` (add `-- --quick` to shorten the criterion part).
//!
//! One-way latency: the sender stamps each message with CLOCK_MONOTONIC (ns; the same clock in
//! both processes) and the receiver subtracts it from its own clock once it has the message in
//! hand. Senders space messages with a spin gap so that latency is not queueing. The two
//! processes are pinned to CPUs 0 and 1 when the machine has two, and the bench raises its
//! priority (`renice -n -20`, inherited by its helpers and threads) when allowed, so that other
//! load on a shared machine does not decide the figures; every transport gets the same.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clock::{now_ns, spin_for};
use criterion::{black_box, Criterion};
use mwi_core::MwiState;
use mwi_table::{Reader, TableConfig, Writer};

#[path = "../src/bin/mwi-table/clock.rs"]
mod clock;

const LATENCY_COUNT: u32 = 20_000;
const HOT_GAP_US: u32 = 20;
const COLD_COUNT: u32 = 1_000;
const COLD_GAP_US: u32 = 2_000;
const THROUGHPUT_COUNT: u32 = 2_000_000;
const DGRAM_THROUGHPUT_COUNT: u32 = 200_000;

fn pin(pid: u32, cpu: usize) {
    // Not `available_parallelism`: that reflects this thread's affinity, already narrowed.
    let online = nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN);
    if !matches!(online, Ok(Some(n)) if n >= 2) {
        return;
    }
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        // Pinning is best effort: figures stay valid without it, only noisier.
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(pid as i32), &set);
    }
}

fn helper(args: &[String]) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_mwi-table"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mwi-table");
    pin(child.id(), 1);
    child
}

#[derive(Clone, Copy, Default)]
struct Figures {
    p50_us: f64,
    p99_us: f64,
    per_sec: f64,
}

fn percentiles(mut ns: Vec<u64>) -> (f64, f64) {
    // The first samples include page faults and cold caches.
    let skip = ns.len() / 20;
    ns.drain(..skip);
    ns.sort_unstable();
    assert!(!ns.is_empty(), "no samples");
    let at = |q: usize| ns[(ns.len() * q / 100).min(ns.len() - 1)] as f64 / 1000.0;
    (at(50), at(99))
}

fn table_config(dir: &Path) -> TableConfig {
    TableConfig {
        path: dir.join("bench.table"),
        capacity: 8192,
        ring_capacity: 4096,
        group: None,
        snapshot: None,
    }
}

fn table_args(cfg: &TableConfig, count: u32, numbers: u32, gap_us: u32) -> Vec<String> {
    [
        "bench-write",
        "--path",
        cfg.path.to_str().unwrap(),
        "--capacity",
        &cfg.capacity.to_string(),
        "--ring",
        &cfg.ring_capacity.to_string(),
        "--count",
        &count.to_string(),
        "--numbers",
        &numbers.to_string(),
        "--gap-us",
        &gap_us.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// How the table reader waits for changes.
#[derive(Clone, Copy)]
enum Wait {
    /// `Reader::wait` spinning up to this long before the futex.
    Spin(Duration),
    /// The notifier thread waking a mio loop (chand's wiring).
    Mio,
}

/// Cross-process table: a `bench-write` child publishes `count` stamped updates; this process
/// reads them. Returns latencies (ns) of every update seen and the rate of updates seen
/// (the last update's index over the time from the first to the last).
fn table_run(count: u32, numbers: u32, gap_us: u32, wait: Wait) -> Figures {
    let dir = tempfile::Builder::new()
        .prefix("mwi-bench")
        .tempdir_in("/dev/shm")
        .expect("/dev/shm");
    let cfg = table_config(dir.path());
    let mut reader = Reader::open(&cfg).expect("open table");
    let mut mio_parts = match wait {
        Wait::Mio => {
            let poll = mio::Poll::new().unwrap();
            let waker =
                std::sync::Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
            let notifier = reader
                .spawn_notifier(Duration::ZERO, move || drop(waker.wake()))
                .unwrap();
            Some((poll, mio::Events::with_capacity(4), notifier))
        }
        Wait::Spin(_) => None,
    };
    let mut out = Vec::new();
    reader.poll(&mut out);
    let mut child = helper(&table_args(&cfg, count, numbers, gap_us));
    let mut lat = Vec::with_capacity(count as usize);
    let (mut first, mut last_ns) = (None, 0u64);
    let mut last_index = 0;
    let give_up = Instant::now() + Duration::from_secs(60);
    'outer: while Instant::now() < give_up {
        match (&mut mio_parts, wait) {
            (Some((poll, events, _)), _) => {
                poll.poll(events, Some(Duration::from_millis(100))).unwrap();
            }
            (None, Wait::Spin(spin)) => {
                reader.wait(spin, Some(Duration::from_millis(100)));
            }
            (None, Wait::Mio) => unreachable!("mio parts exist for Wait::Mio"),
        }
        reader.poll(&mut out);
        let now = now_ns();
        for e in &out {
            let sent = u64::from(e.state.new) | (u64::from(e.state.old) << 32);
            if sent == 0 {
                continue;
            }
            lat.push(now.saturating_sub(sent));
            first.get_or_insert(now);
            last_ns = now;
            last_index = last_index.max(e.state.urgent_new);
            if e.state.urgent_new == count - 1 {
                break 'outer;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "bench-write failed");
    assert_eq!(last_index, count - 1, "did not see the last update");
    let (p50_us, p99_us) = percentiles(lat);
    let secs = (last_ns - first.unwrap_or(last_ns)) as f64 / 1e9;
    Figures {
        p50_us,
        p99_us,
        per_sec: f64::from(count - 1) / secs.max(1e-9),
    }
}

/// Cross-process Unix datagram socket, receiver blocking in recv.
fn dgram_run(count: u32, gap_us: u32) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let args: Vec<String> = [
        "bench-dgram",
        "--socket",
        path.to_str().unwrap(),
        "--count",
        &count.to_string(),
        "--gap-us",
        &gap_us.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut child = helper(&args);
    let mut lat = Vec::with_capacity(count as usize);
    let mut buf = [0u8; 16];
    let (mut first, mut last) = (0u64, 0u64);
    for i in 0..count {
        let n = sock.recv(&mut buf).expect("recv");
        let now = now_ns();
        assert_eq!(n, 16);
        let mut t = [0u8; 8];
        t.copy_from_slice(&buf[..8]);
        lat.push(now.saturating_sub(u64::from_le_bytes(t)));
        if i == 0 {
            first = now;
        }
        last = now;
    }
    assert!(child.wait().unwrap().success(), "bench-dgram failed");
    let (p50_us, p99_us) = percentiles(lat);
    Figures {
        p50_us,
        p99_us,
        per_sec: f64::from(count - 1) / ((last - first) as f64 / 1e9),
    }
}

/// crossbeam-channel between two threads of this process, receiver blocking in recv.
fn crossbeam_run(count: u32, gap_us: u32) -> Figures {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(4096);
    let gap = Duration::from_micros(u64::from(gap_us));
    let sender = std::thread::spawn(move || {
        pin(0, 1);
        for _ in 0..count {
            tx.send(now_ns()).unwrap();
            if !gap.is_zero() {
                spin_for(gap);
            }
        }
    });
    let mut lat = Vec::with_capacity(count as usize);
    let (mut first, mut last) = (0u64, 0u64);
    for i in 0..count {
        let sent = rx.recv().unwrap();
        let now = now_ns();
        lat.push(now.saturating_sub(sent));
        if i == 0 {
            first = now;
        }
        last = now;
    }
    sender.join().unwrap();
    let (p50_us, p99_us) = percentiles(lat);
    Figures {
        p50_us,
        p99_us,
        per_sec: f64::from(count - 1) / ((last - first) as f64 / 1e9),
    }
}

/// Best effort: `renice -n -20` this process (helpers and threads inherit it).
fn raise_priority() {
    let ok = Command::new("renice")
        .args(["-n", "-20", "-p", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!(
            "note: could not renice to -20; other load on the machine will show in the figures"
        );
    }
}

fn cross_process_report() {
    raise_priority();
    pin(0, 0);
    let spin_hot = Wait::Spin(Duration::from_millis(1));
    let hot = table_run(LATENCY_COUNT, 1, HOT_GAP_US, spin_hot);
    let cold = table_run(
        COLD_COUNT,
        1,
        COLD_GAP_US,
        Wait::Spin(Duration::from_micros(20)),
    );
    let mio = table_run(COLD_COUNT, 1, COLD_GAP_US, Wait::Mio);
    let table_tp = table_run(THROUGHPUT_COUNT, 4096, 0, spin_hot);
    let dgram = dgram_run(LATENCY_COUNT, HOT_GAP_US);
    let dgram_tp = dgram_run(DGRAM_THROUGHPUT_COUNT, 0);
    let cb = crossbeam_run(LATENCY_COUNT, HOT_GAP_US);
    let cb_tp = crossbeam_run(THROUGHPUT_COUNT, 0);

    println!("\nshared MWI table, cross-process (one run; compare within it)");
    println!(
        "{:<58} {:>9} {:>9} {:>13}",
        "transport", "p50 µs", "p99 µs", "updates/s"
    );
    let row = |name: &str, lat: Figures, tp: Option<Figures>| {
        let rate = tp.map_or("—".to_string(), |t| format!("{:.0}", t.per_sec));
        println!(
            "{name:<58} {:>9.2} {:>9.2} {rate:>13}",
            lat.p50_us, lat.p99_us
        );
    };
    row(
        &format!("table, reader spins ≤1 ms then futex ({HOT_GAP_US} µs gaps)"),
        hot,
        Some(table_tp),
    );
    row(
        &format!("table, reader asleep on the futex ({COLD_GAP_US} µs gaps)"),
        cold,
        None,
    );
    row(
        &format!("table, notifier thread + mio::Waker ({COLD_GAP_US} µs gaps)"),
        mio,
        None,
    );
    row(
        &format!("Unix datagram socket, blocking recv ({HOT_GAP_US} µs gaps)"),
        dgram,
        Some(dgram_tp),
    );
    row(
        &format!("crossbeam-channel, 2 threads, 1 process ({HOT_GAP_US} µs gaps)"),
        cb,
        Some(cb_tp),
    );
    println!(
        "ratios: p50 Unix socket / table = {:.1}x, p50 crossbeam / table = {:.1}x; \
         updates/s table / Unix socket = {:.1}x, table / crossbeam = {:.2}x",
        dgram.p50_us / hot.p50_us,
        cb.p50_us / hot.p50_us,
        table_tp.per_sec / dgram_tp.per_sec,
        table_tp.per_sec / cb_tp.per_sec
    );
    println!(
        "goals: table p50 <= 1 µs: {}; >= 10x the Unix socket (p50): {}\n",
        if hot.p50_us <= 1.0 { "met" } else { "NOT met" },
        if dgram.p50_us / hot.p50_us >= 10.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn micro(c: &mut Criterion) {
    let dir = tempfile::Builder::new()
        .prefix("mwi-bench")
        .tempdir_in("/dev/shm")
        .expect("/dev/shm");
    let cfg = table_config(dir.path());
    let mut w = Writer::open(&cfg).unwrap();
    let mut r = Reader::open(&cfg).unwrap();
    let mut out = Vec::new();
    let mut k = 0u32;
    c.bench_function("table/publish (journal + slot + notice)", |b| {
        b.iter(|| {
            k = k.wrapping_add(1);
            w.publish("8000", MwiState::voice(true, black_box(k), 0))
                .unwrap();
        });
        r.poll(&mut out);
    });
    c.bench_function("table/publish + poll one change", |b| {
        b.iter(|| {
            k = k.wrapping_add(1);
            w.publish("8000", MwiState::voice(true, black_box(k), 0))
                .unwrap();
            r.poll(&mut out);
            black_box(out.len())
        })
    });
    let (tx, rx) = crossbeam_channel::bounded::<u64>(16);
    c.bench_function("crossbeam-channel/send + recv, one thread", |b| {
        b.iter(|| {
            tx.send(black_box(1)).unwrap();
            rx.recv().unwrap()
        })
    });
}

fn main() {
    cross_process_report();
    let mut c = Criterion::default().configure_from_args();
    micro(&mut c);
    c.final_summary();
}
