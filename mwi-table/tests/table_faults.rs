//! Faults of the shared table and its snapshot: a squatted or symlinked region file, a full
//! tmpfs, a region truncated or replaced while in use (a touched page past a truncation reads
//! as zeroes instead of killing the process with SIGBUS, and the region is flagged damaged;
//! any other SIGBUS still kills, checked in a child process), a hostile writer keeping every
//! slot mid-write, and snapshot saves on a full or read-only disk. Mounting tmpfs needs root, which
//! the CI containers have; a test that cannot mount fails rather than skip.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mwi_core::MwiState;
use mwi_table::{
    save_snapshot, Reader, Snapshotter, TableConfig, TableError, Writer, RETRY_MAX, RETRY_MIN,
};

fn cfg(path: PathBuf) -> TableConfig {
    TableConfig {
        path,
        capacity: 1024,
        ring_capacity: 64,
        group: None,
        snapshot: None,
    }
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn new(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            st.success(),
            "mount -t tmpfs failed (these tests need root)"
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, opts: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(st.success(), "remount {opts}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn refused(e: TableError, what: &str) {
    let text = e.to_string();
    assert!(
        matches!(e, TableError::Refused { .. }) && text.contains(what),
        "{text}"
    );
}

#[test]
fn a_symlink_at_the_region_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("victim");
    std::fs::write(&target, b"keep me").unwrap();
    let path = dir.path().join("t.table");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    refused(
        Writer::open(&cfg(path.clone())).err().unwrap(),
        "symbolic link",
    );
    refused(Reader::open(&cfg(path)).err().unwrap(), "symbolic link");
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
}

#[test]
fn a_file_squatted_by_another_user_or_too_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.table");
    drop(Writer::open(&cfg(path.clone())).unwrap());
    // Another uid, outside the table's group.
    std::os::unix::fs::chown(&path, Some(4242), Some(4242)).unwrap();
    let e = Reader::open(&cfg(path.clone())).err().unwrap();
    refused(e, "owned by uid 4242");
    // ... is fine when it is the table's group (sipd created it, chand opens it).
    let shared = TableConfig {
        group: Some(4242),
        ..cfg(path.clone())
    };
    Reader::open(&shared).unwrap();
    // World-writable.
    std::os::unix::fs::chown(&path, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = Writer::open(&cfg(path.clone())).err().unwrap();
    refused(e, "mode 0666 grants 0006");
    // A wrong size is named too.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let e = Reader::open(&cfg(path.clone())).err().unwrap();
    assert!(e.to_string().contains("size 1048576 octets"), "{e}");
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
}

#[test]
fn a_full_tmpfs_is_an_error_at_open_not_a_sigbus() {
    let fs = Tmpfs::new("64k");
    let big = TableConfig {
        capacity: 4096,
        ..cfg(fs.path().join("t.table"))
    };
    let e = Writer::open(&big).err().unwrap();
    let text = e.to_string();
    assert!(
        text.contains("allocate") && text.contains("No space left"),
        "{text}"
    );
    // A region that fits is fine on the same file system.
    let small = TableConfig {
        capacity: 64,
        ring_capacity: 16,
        ..cfg(fs.path().join("small.table"))
    };
    Writer::open(&small)
        .unwrap()
        .publish("8000", MwiState::voice(true, 1, 0))
        .unwrap();
}

fn states(r: &mut Reader) -> Vec<(String, bool)> {
    let mut all = Vec::new();
    let mut out = Vec::new();
    for _ in 0..64 {
        r.poll(&mut out);
        all.extend(out.iter().map(|e| (e.number.to_string(), e.state.waiting)));
        if !r.has_news() {
            break;
        }
    }
    all.sort();
    all
}

#[test]
fn a_truncated_region_is_detected_and_rebuilt_from_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path().join("t.table"));
    let mut w = Writer::open(&c).unwrap();
    w.publish("8000", MwiState::voice(true, 2, 0)).unwrap();
    w.publish("8001", MwiState::voice(false, 0, 1)).unwrap();
    assert!(!w.check().unwrap(), "an intact region needs nothing");
    let r = Reader::open(&c).unwrap();
    r.check().unwrap();

    // Another process truncates the file (same inode).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&c.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let e = r.check().unwrap_err();
    assert!(e.to_string().contains("truncated to 0 octets"), "{e}");
    let e = r.check_mapped().unwrap_err();
    assert!(e.to_string().contains("truncated to 0 octets"), "{e}");
    assert!(w.check().unwrap(), "the writer re-opens and re-publishes");
    let mut r = Reader::open(&c).unwrap();
    assert_eq!(
        states(&mut r),
        [("8000".into(), true), ("8001".into(), false)]
    );
    w.publish("8002", MwiState::voice(true, 1, 0)).unwrap();
    assert_eq!(states(&mut r), [("8002".into(), true)]);
}

#[test]
fn a_replaced_region_is_detected_and_rebuilt_from_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path().join("t.table"));
    let mut w = Writer::open(&c).unwrap();
    w.publish("8000", MwiState::voice(true, 2, 0)).unwrap();
    let r = Reader::open(&c).unwrap();
    // Replaced by an empty file, then removed altogether.
    std::fs::rename(&c.path, dir.path().join("old")).unwrap();
    std::fs::write(&c.path, b"").unwrap();
    std::fs::set_permissions(&c.path, std::fs::Permissions::from_mode(0o660)).unwrap();
    let e = r.check().unwrap_err();
    assert!(e.to_string().contains("another file took its place"), "{e}");
    // The mapping itself is whole: a poll's cheap check passes, only the full one finds this.
    r.check_mapped().unwrap();
    assert!(w.check().unwrap());
    let mut r = Reader::open(&c).unwrap();
    assert_eq!(states(&mut r), [("8000".into(), true)]);
    std::fs::remove_file(&c.path).unwrap();
    assert!(r.check().is_err());
    assert!(w.check().unwrap());
    let mut r = Reader::open(&c).unwrap();
    assert_eq!(states(&mut r), [("8000".into(), true)]);
}

/// Writes to the region file directly, as a hostile process with write access could.
fn mark_every_slot_odd(path: &Path) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let len = f.metadata().unwrap().size();
    // Slots are the 64-octet cells after the header and ring: set the low bit of each cell's
    // first word, which (for slots) is the seqlock sequence.
    let slots_from = 384 + 8 * 64u64;
    let mut off = slots_from.next_multiple_of(64);
    while off < len {
        f.write_at(&[1], off).unwrap();
        off += 64;
    }
}

#[test]
fn a_writer_keeping_every_slot_busy_cannot_stall_a_poll() {
    let dir = tempfile::tempdir().unwrap();
    let c = TableConfig {
        capacity: 65_536,
        ring_capacity: 64,
        ..cfg(dir.path().join("t.table"))
    };
    let mut w = Writer::open(&c).unwrap();
    w.publish("8000", MwiState::voice(true, 1, 0)).unwrap();
    let mut r = Reader::open(&c).unwrap();
    mark_every_slot_odd(&c.path);
    let mut out = Vec::new();
    let mut worst = Duration::ZERO;
    let mut polls = 0;
    while polls < 80 {
        let t = Instant::now();
        let s = r.poll(&mut out);
        worst = worst.max(t.elapsed());
        polls += 1;
        assert_eq!(s.delivered, 0);
        if s.rescanned {
            assert_eq!(s.busy, 87_382usize.next_power_of_two(), "every slot queued");
        }
    }
    // One 20 ms audio block must never wait for the table: well under a millisecond in a
    // release build; unoptimised builds run this code tens of times slower.
    let limit = Duration::from_millis(if cfg!(debug_assertions) { 40 } else { 2 });
    assert!(worst < limit, "worst poll took {worst:?}");
    println!("worst poll with every slot busy: {worst:?}");
}

#[test]
fn snapshot_temp_files_are_exclusive_and_never_follow_links() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("s");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"keep me").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("s.tmp")).unwrap();
    let w = Writer::open(&cfg(dir.path().join("t.table"))).unwrap();
    save_snapshot(&snap, w.entries()).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    let mode = std::fs::metadata(&snap).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    // An existing snapshot's mode is kept.
    std::fs::set_permissions(&snap, std::fs::Permissions::from_mode(0o600)).unwrap();
    save_snapshot(&snap, w.entries()).unwrap();
    assert_eq!(
        std::fs::metadata(&snap).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// A Snapshotter on `dir` against a writer with one change pending.
fn pending_save(dir: &Path, table: &Path) -> (Writer, Snapshotter) {
    let mut w = Writer::open(&cfg(table.join("t.table"))).unwrap();
    for i in 0..200 {
        w.publish(&format!("8{i:03}"), MwiState::voice(true, i, 0))
            .unwrap();
    }
    (
        w,
        Snapshotter::new(dir.join("mwi-table.snapshot"), Duration::from_secs(5)),
    )
}

/// Drive `s` like sipd's loop for `span` of simulated time; the number of save attempts.
fn drive(s: &mut Snapshotter, w: &Writer, start: Instant, span: Duration) -> u64 {
    let before = s.health().failures + s.health().saves;
    let mut now = start;
    let mut turns = 0;
    while now < start + span {
        s.poll(now, w).unwrap();
        let next = s.deadline(now, w).expect("still due");
        assert!(next > now, "a failing save must not be due again at once");
        now = next;
        turns += 1;
        assert!(turns < 1000, "spinning");
    }
    s.health().failures + s.health().saves - before
}

#[test]
fn a_full_disk_backs_off_then_recovers() {
    let fs = Tmpfs::new("8k");
    let table = tempfile::tempdir().unwrap();
    std::fs::write(fs.path().join("filler"), vec![0u8; 8192]).unwrap_or(());
    let (w, mut s) = pending_save(fs.path(), table.path());
    let start = Instant::now();
    let tries = drive(&mut s, &w, start, Duration::from_secs(600));
    // 1+2+4+...+32, then every 60 s: about 15 tries in ten minutes, not thousands.
    assert!((8..=20).contains(&tries), "{tries} tries");
    let h = s.health().clone();
    assert!(
        h.failing.as_deref().unwrap().contains("No space left"),
        "{h:?}"
    );
    assert_eq!(h.failing_since, Some(start));
    let wait = h.retry_at.unwrap() - h.failing_since.unwrap();
    assert!(wait > RETRY_MAX, "back-off reached the cap: {wait:?}");
    // Space comes back: the next due try saves and the episode ends.
    std::fs::remove_file(fs.path().join("filler")).unwrap();
    let due = s.deadline(start, &w).unwrap();
    assert!(s.poll(due, &w).unwrap());
    let h = s.health();
    assert_eq!((h.saves, h.failing.is_none(), h.retry_at), (1, true, None));
    assert_eq!(s.deadline(due, &w), None);
    assert!(std::fs::read_dir(fs.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".tmp")));
}

#[test]
fn a_read_only_state_dir_backs_off() {
    let fs = Tmpfs::new("1m");
    let table = tempfile::tempdir().unwrap();
    let (w, mut s) = pending_save(fs.path(), table.path());
    fs.remount("ro");
    let start = Instant::now();
    let t = Instant::now();
    let tries = drive(&mut s, &w, start, Duration::from_secs(60));
    assert!((3..=8).contains(&tries), "{tries} tries in a minute");
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(s.health().failing.as_deref().unwrap().contains("Read-only"));
    let first = s.health().retry_at.unwrap();
    assert!(first >= start + RETRY_MIN);
    fs.remount("rw");
    let due = s.deadline(start, &w).unwrap();
    assert!(s.poll(due, &w).unwrap());
    assert_eq!(s.health().failures, tries);
}

/// `truncate -s 0` as another process would do it (same inode, every page gone).
fn truncate(path: &std::path::Path) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

#[test]
fn a_truncated_mapping_reads_zeroes_and_is_flagged_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path().join("t.table"));
    let mut w = Writer::open(&c).unwrap();
    let on = MwiState::voice(true, 2, 0);
    w.publish("8000", on).unwrap();
    let r = Reader::open(&c).unwrap();
    assert_eq!(r.lookup("8000").unwrap().unwrap().state, on);
    assert!(!r.is_damaged());

    truncate(&c.path);
    // The read faults (SIGBUS), the handler maps zero pages, and the read completes: an
    // empty slot.
    assert_eq!(r.lookup("8000").unwrap(), None);
    assert!(r.is_damaged());
    let e = r.check().unwrap_err().to_string();
    assert!(e.contains("truncated to 0 octets"), "{e}");

    // The writer faults too, on its next write, and keeps the state in memory.
    let off = MwiState::voice(false, 0, 2);
    w.publish("8001", off).unwrap();
    assert!(w.is_damaged());
    assert_eq!(w.get("8000"), Some(on), "the writer's memory is intact");
    assert_eq!(
        w.entries().count(),
        2,
        "a copy is never taken from the zero pages"
    );
    assert!(w.check().unwrap(), "re-opened and re-published");
    assert!(!w.is_damaged());
    let mut r = Reader::open(&c).unwrap();
    assert_eq!(
        states(&mut r),
        [("8000".into(), true), ("8001".into(), false)]
    );
}

#[test]
fn a_region_a_reader_re_initialised_is_taken_back_by_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path().join("t.table"));
    let mut w = Writer::open(&c).unwrap();
    let on = MwiState::voice(true, 1, 0);
    w.publish("8000", on).unwrap();
    truncate(&c.path);
    // chand notices first and re-creates the region (empty: no snapshot) on the same inode,
    // before the writer touched a vanished page: no fault, the size is right again.
    let mut r = Reader::open(&c).unwrap();
    assert_eq!(states(&mut r), []);
    assert!(!w.is_damaged());
    assert!(
        w.check().unwrap(),
        "the writer sees another initialisation stamp"
    );
    assert_eq!(states(&mut r), [("8000".into(), true)]);
    assert!(!w.check().unwrap());
}

#[test]
fn dropping_the_notifier_of_a_truncated_region_does_not_wait() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path().join("t.table"));
    let _w = Writer::open(&c).unwrap();
    let r = Reader::open(&c).unwrap();
    let n = r.spawn_notifier(Duration::ZERO, || {}).unwrap();
    // Let the thread fall asleep on the futex (keyed by the file's page).
    std::thread::sleep(Duration::from_millis(100));
    truncate(&c.path);
    let t = Instant::now();
    drop(n);
    assert!(r.is_damaged());
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
}

/// The child's part of `another_sigbus_gets_the_default_action`, selected by this variable.
const CHILD: &str = "MWI_TABLE_SIGBUS_CHILD";

/// In the child: map a table (installing the handler), then take a SIGBUS that is not the
/// table's: a raised one, or a fault on a truncated mapping the table does not know.
#[test]
fn sigbus_child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let _w = Writer::open(&cfg(dir.path().join("t.table"))).unwrap();
    match mode.as_str() {
        "raise" => nix::sys::signal::raise(nix::sys::signal::Signal::SIGBUS).unwrap(),
        _ => {
            let path = dir.path().join("other");
            let f = std::fs::File::create_new(&path).unwrap();
            f.set_len(4096).unwrap();
            let len = std::num::NonZeroUsize::new(4096).unwrap();
            // SAFETY: a fresh shared mapping of a file this test owns, read only once below.
            let p = unsafe {
                nix::sys::mman::mmap(
                    None,
                    len,
                    nix::sys::mman::ProtFlags::PROT_READ,
                    nix::sys::mman::MapFlags::MAP_SHARED,
                    &f,
                    0,
                )
            }
            .unwrap();
            f.set_len(0).unwrap();
            // SAFETY: the page is mapped; reading it faults (the file is empty), which is the
            // point: the process must die of that SIGBUS.
            let v = unsafe { std::ptr::read_volatile(p.as_ptr().cast::<u8>()) };
            eprintln!("read {v} from a truncated page");
        }
    }
    eprintln!("survived a SIGBUS that was not the table's");
    std::process::exit(0);
}

#[test]
fn another_sigbus_gets_the_default_action() {
    for mode in ["raise", "fault"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "sigbus_child", "--nocapture", "--test-threads=1"])
            .env(CHILD, mode)
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGBUS),
            "{mode}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn numbers_no_longer_served_give_their_slots_back() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("t.snapshot");
    let c = TableConfig {
        capacity: 2,
        snapshot: Some(snapshot.clone()),
        ..cfg(dir.path().join("t.table"))
    };
    let mut w = Writer::open(&c).unwrap();
    let on = MwiState::voice(true, 1, 0);
    w.publish("8000", on).unwrap();
    w.publish("8001", on).unwrap();
    save_snapshot(&snapshot, w.entries()).unwrap();
    assert!(matches!(
        w.publish("8002", on),
        Err(TableError::Full { .. })
    ));
    let r = Reader::open(&c).unwrap();
    assert_eq!(w.retain(|n| n != "8001").unwrap(), 1);
    // The region was made anew without the snapshot: 8001's slot is free for 8002.
    assert_eq!((w.len(), w.free(), w.get("8000")), (1, 1, Some(on)));
    w.publish("8002", on).unwrap();
    assert!(r.check().is_err(), "a reader sees another file at the path");
    let mut r = Reader::open(&c).unwrap();
    assert_eq!(
        states(&mut r),
        [("8000".into(), true), ("8002".into(), true)]
    );
    assert_eq!(w.retain(|_| true).unwrap(), 0);
    assert!(!w.check().unwrap(), "the new region is the writer's own");
}
