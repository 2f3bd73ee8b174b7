//! Cross-process tests of the shared MWI table: writer and reader are separate processes
//! (`mwi-table write` / `mwi-table follow`); the writer is SIGKILLed mid-stream, the reader is
//! killed and restarted, the ring is forced to overflow. Afterwards the reader's view must equal
//! the writer's last state for every number.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mwi_core::MwiState;
use mwi_table::{Reader, TableConfig, Writer};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use text::format_state;

#[path = "../src/bin/mwi-table/text.rs"]
mod text;

const NUMBERS: u32 = 500;

struct Region {
    _dir: tempfile::TempDir,
    path: PathBuf,
    ring: u32,
}

impl Region {
    /// A region path on tmpfs, as in production.
    fn new(ring: u32) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("mwi-xproc")
            .tempdir_in("/dev/shm")
            .expect("/dev/shm");
        let path = dir.path().join("t.table");
        Self {
            _dir: dir,
            path,
            ring,
        }
    }

    fn args(&self) -> Vec<String> {
        let path = self.path.to_str().unwrap().to_string();
        [
            "--path",
            &path,
            "--capacity",
            "1024",
            "--ring",
            &self.ring.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn config(&self) -> TableConfig {
        TableConfig {
            path: self.path.clone(),
            capacity: 1024,
            ring_capacity: self.ring,
            group: None,
            snapshot: None,
        }
    }

    fn spawn(&self, cmd: &str, extra: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_mwi-table"))
            .arg(cmd)
            .args(self.args())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mwi-table")
    }

    /// Run a writer to completion.
    fn write(&self, from: u32, rounds: u32, sentinel: bool) {
        let (n, f, r) = (NUMBERS.to_string(), from.to_string(), rounds.to_string());
        let mut extra = vec!["--numbers", &n, "--from", &f, "--rounds", &r];
        if sentinel {
            extra.push("--sentinel");
        }
        let out = self.spawn("write", &extra).wait_with_output().unwrap();
        assert!(out.status.success(), "writer failed: {:?}", out.status);
    }

    /// Start a follower and wait until it has opened the table.
    fn follower(&self) -> (Child, BufReader<std::process::ChildStdout>) {
        let mut child = self.spawn("follow", &["--timeout-ms", "20000"]);
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "following\n");
        (child, out)
    }
}

/// A follower's final view (NUMBER -> state text) and its stats line.
fn finish(
    mut child: Child,
    mut out: BufReader<std::process::ChildStdout>,
) -> (BTreeMap<String, String>, String) {
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "follower failed: {status:?}\n{text}");
    let mut view = BTreeMap::new();
    let mut stats = String::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("# stats ") {
            stats = s.to_string();
        } else if let Some((n, s)) = line.split_once(' ') {
            view.insert(n.to_string(), s.to_string());
        }
    }
    (view, stats)
}

/// The table as a fresh reader sees it now.
fn table_view(path: &Path, ring: u32) -> BTreeMap<String, String> {
    let cfg = TableConfig {
        path: path.to_path_buf(),
        capacity: 1024,
        ring_capacity: ring,
        group: None,
        snapshot: None,
    };
    let r = Reader::open(&cfg).unwrap();
    r.entries()
        .map(|e| (e.number.to_string(), format_state(&e.state)))
        .collect()
}

/// The state `mwi-table write` gives number index `i` in round `r` (its `stream_state`).
fn expected(last_round: u32) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = (0..NUMBERS)
        .map(|i| {
            let s = MwiState {
                waiting: (i + last_round) % 2 == 0,
                new: last_round,
                old: i,
                urgent_new: last_round % 3,
                ..MwiState::default()
            };
            ((1000 + i).to_string(), format_state(&s))
        })
        .collect();
    m.insert(
        "999999".into(),
        format_state(&MwiState::voice(true, last_round, 0)),
    );
    m
}

fn stat(stats: &str, key: &str) -> u64 {
    stats
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {stats:?}"))
}

#[test]
fn writer_killed_mid_stream_then_restarted() {
    let region = Region::new(256);
    let (follower, out) = region.follower();
    // An endless stream, killed while it runs (most of its time is spent inside writes).
    let mut writer = region.spawn(
        "write",
        &["--numbers", &NUMBERS.to_string(), "--rounds", "4000000000"],
    );
    let mut line = String::new();
    BufReader::new(writer.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    writer.kill().unwrap();
    writer.wait().unwrap();

    region.write(1_000_000, 2, true);
    let (view, stats) = finish(follower, out);
    let want = expected(1_000_001);
    assert_eq!(view, want, "follower view ({stats})");
    assert_eq!(table_view(&region.path, region.ring), want);
    assert!(
        stat(&stats, "rescans") >= 2,
        "the writer restart must make the reader rescan: {stats}"
    );
}

#[test]
fn reader_killed_and_restarted() {
    let region = Region::new(256);
    let (mut follower, _out) = region.follower();
    region.write(0, 3, false);
    follower.kill().unwrap();
    follower.wait().unwrap();
    region.write(3, 2, true);
    // The new reader rebuilds everything from the table.
    let (follower, out) = region.follower();
    let (view, stats) = finish(follower, out);
    assert_eq!(view, expected(4), "{stats}");
    assert_eq!(stat(&stats, "rescans"), 1, "{stats}");
}

#[test]
fn ring_overflow_forces_a_rescan() {
    let region = Region::new(16);
    let (follower, out) = region.follower();
    let pid = Pid::from_raw(follower.id() as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    region.write(0, 5, true);
    kill(pid, Signal::SIGCONT).unwrap();
    let (view, stats) = finish(follower, out);
    assert_eq!(view, expected(4), "{stats}");
    assert!(stat(&stats, "overflows") >= 1, "{stats}");
}

/// Both daemons starting at once: one creates the region, the other opens it, and neither
/// sees it half-initialised.
#[test]
fn creation_race_between_processes() {
    for _ in 0..20 {
        let region = Region::new(64);
        let mut follower = region.spawn("follow", &["--timeout-ms", "20000"]);
        let out = BufReader::new(follower.stdout.take().unwrap());
        region.write(0, 1, true);
        let (view, stats) = finish(follower, out);
        assert_eq!(view, expected(0), "{stats}");
    }
}

/// A region of another layout version is refused with both versions named.
#[test]
fn layout_mismatch_is_a_clear_error() {
    let region = Region::new(64);
    drop(Writer::open(&region.config()).unwrap());
    // Layout version lives at offset 8 (after the 8-octet magic).
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&region.path)
        .unwrap();
    std::os::unix::fs::FileExt::write_at(&f, &99u32.to_le_bytes(), 8).unwrap();
    let e = Reader::open(&region.config()).err().expect("must refuse");
    let msg = e.to_string();
    assert!(
        msg.contains("layout version 99") && msg.contains("layout version 1"),
        "{msg}"
    );
}

/// Geometry changes, foreign files and a bad group are errors, not crashes.
#[test]
fn bad_regions_are_errors() {
    let region = Region::new(64);
    drop(Writer::open(&region.config()).unwrap());
    let mut cfg = region.config();
    cfg.capacity = 2048;
    assert!(Reader::open(&cfg)
        .err()
        .unwrap()
        .to_string()
        .contains("capacity 1024"));
    std::fs::write(&region.path, b"not a table at all, just some text that is long enough to hold a header.....................................................................").unwrap();
    assert!(Reader::open(&region.config())
        .err()
        .unwrap()
        .to_string()
        .contains("not an MWI table"));
    assert!(TableConfig::gid_of("no-such-group-dahdi-mwi").is_err());
}

/// The file is created 0660 (whatever the umask) with the requested group.
#[test]
fn region_mode_and_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let region = Region::new(64);
    let mut cfg = region.config();
    cfg.group = Some(nix::unistd::getegid().as_raw());
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let w = Writer::open(&cfg);
    nix::sys::stat::umask(old);
    drop(w.unwrap());
    let md = std::fs::metadata(&region.path).unwrap();
    assert_eq!(md.permissions().mode() & 0o777, 0o660);
    assert_eq!(md.gid(), cfg.group.unwrap());
}

/// A snapshot is loaded when the region is new (after a reboot), and a burst of changes
/// costs one snapshot write per interval.
#[test]
fn snapshot_survives_a_reboot_and_is_coalesced() {
    use mwi_table::Snapshotter;
    let region = Region::new(64);
    let state = tempfile::tempdir().unwrap();
    let snap = state.path().join(mwi_table::SNAPSHOT_FILE);
    let mut cfg = region.config();
    cfg.snapshot = Some(snap.clone());
    let mut w = Writer::open(&cfg).unwrap();
    let mut s = Snapshotter::new(snap.clone(), Duration::from_secs(3600));
    let t0 = Instant::now();
    assert_eq!(s.deadline(t0, &w), None);
    for i in 0..100u32 {
        w.publish(&(5000 + i).to_string(), MwiState::voice(true, i, 0))
            .unwrap();
        s.poll(t0, &w).unwrap();
    }
    assert_eq!(
        s.saves(),
        1,
        "the first change saves at once, the rest wait for the interval"
    );
    assert_eq!(s.deadline(t0, &w), Some(t0 + Duration::from_secs(3600)));
    assert!(s.poll(t0 + Duration::from_secs(3600), &w).unwrap());
    assert_eq!(s.saves(), 2);
    assert_eq!(s.deadline(t0, &w), None);
    w.publish("5000", MwiState::voice(false, 0, 1)).unwrap();
    assert!(s.flush(&w).unwrap());
    drop(w);

    // Reboot: tmpfs is empty again.
    std::fs::remove_file(&region.path).unwrap();
    let r = Reader::open(&cfg).unwrap();
    assert_eq!(r.entries().count(), 100);
    assert_eq!(
        r.lookup("5000").unwrap().unwrap().state,
        MwiState::voice(false, 0, 1)
    );
    assert_eq!(
        r.lookup("5099").unwrap().unwrap().state,
        MwiState::voice(true, 99, 0)
    );
    assert_eq!(r.lookup("7777").unwrap(), None);
}

/// chand's wiring: a mio loop woken by the notifier thread within 1 ms of a change made by
/// another process.
#[test]
fn notifier_wakes_a_mio_loop() {
    let region = Region::new(64);
    let mut reader = Reader::open(&region.config()).unwrap();
    let mut poll = mio::Poll::new().unwrap();
    let waker = std::sync::Arc::new(mio::Waker::new(poll.registry(), mio::Token(7)).unwrap());
    let w2 = std::sync::Arc::clone(&waker);
    let _notifier = reader
        .spawn_notifier(Duration::ZERO, move || drop(w2.wake()))
        .unwrap();
    let mut events = mio::Events::with_capacity(8);
    let mut out = Vec::new();
    reader.poll(&mut out);
    region.write(0, 1, true);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = BTreeMap::new();
    // Done once the sentinel is in and the ring is drained (a rescan can see the sentinel
    // before earlier slots' last writes, which the ring then delivers).
    while !seen.contains_key("999999") || reader.has_news() {
        assert!(Instant::now() < deadline, "not woken");
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        reader.poll(&mut out);
        for e in &out {
            seen.insert(e.number.to_string(), e.state);
        }
    }
    assert_eq!(seen.len() as u32, NUMBERS + 1);
}

/// No lost wake-ups: ping-pong through two tables between two threads that never spin, so
/// each side sleeps on the futex before every message; a lost wake-up would stall a round until
/// the 5 s timeout.
#[test]
fn futex_wake_ups_are_never_lost() {
    let (ping, pong) = (Region::new(64), Region::new(64));
    let (ping_cfg, pong_cfg) = (ping.config(), pong.config());
    const ROUNDS: u32 = 2000;
    let echo = std::thread::spawn(move || {
        let mut r = Reader::open(&ping_cfg).unwrap();
        let mut w = Writer::open(&pong_cfg).unwrap();
        let mut out = Vec::new();
        let mut stalls = 0;
        let mut last = 0;
        while last < ROUNDS {
            if !r.wait(Duration::ZERO, Some(Duration::from_secs(5))) {
                stalls += 1;
            }
            r.poll(&mut out);
            for e in &out {
                last = e.state.new;
                w.publish("2", MwiState::voice(true, last, 0)).unwrap();
            }
        }
        stalls
    });
    let mut w = Writer::open(&ping.config()).unwrap();
    let mut r = Reader::open(&pong.config()).unwrap();
    let mut out = Vec::new();
    let mut stalls = 0;
    for k in 1..=ROUNDS {
        w.publish("1", MwiState::voice(true, k, 0)).unwrap();
        loop {
            if !r.wait(Duration::ZERO, Some(Duration::from_secs(5))) {
                stalls += 1;
            }
            r.poll(&mut out);
            if out.iter().any(|e| e.state.new == k) {
                break;
            }
        }
    }
    assert_eq!((stalls, echo.join().unwrap()), (0, 0), "wake-ups were lost");
}
