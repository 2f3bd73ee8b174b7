//! The on-disk copy of the table in `[state] dir`, for reboots (tmpfs is lost then).
//!
//! Format: UTF-8 text, a header line, then one line per number:
//! `NUMBER yes|no CLASS NEW OLD URGENT_NEW URGENT_OLD` with CLASS the [`MessageClass`] code.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Entry, Number, TableError, Writer};
use crate::mwi::{MessageClass, MwiState};

const HEADER: &str = "# dahdi-mwi MWI table snapshot 1";

fn io_err(path: &Path, what: &str, e: io::Error) -> TableError {
    TableError::Io {
        path: path.to_path_buf(),
        what: what.to_string(),
        source: e,
    }
}

/// Mode of a new snapshot: sipd reads and writes it, its group (chand) may read it to create
/// the region after a reboot. An existing snapshot keeps its mode.
const MODE: u32 = 0o640;

/// First wait before a failed save is tried again; doubled after each further failure.
pub const RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest wait between tries of a failing save.
pub const RETRY_MAX: Duration = Duration::from_secs(60);

/// Write `entries` to `path` atomically: write `path.tmp`, fsync it, rename it over `path`,
/// fsync the directory. A crash at any point leaves the old or the new snapshot, never a mix.
///
/// The temporary file is created with `O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0640 or that of the
/// existing snapshot, so a symbolic link planted at `path.tmp` is never followed; a stale
/// temporary file (a crash mid-save) is removed first.
///
/// Errors: [`TableError::Io`] naming the file and the step (e.g. `write` with ENOSPC).
pub fn save_snapshot(path: &Path, entries: impl Iterator<Item = Entry>) -> Result<(), TableError> {
    let mut text = String::from(HEADER);
    text.push('\n');
    for e in entries {
        let s = e.state;
        text.push_str(&format!(
            "{} {} {} {} {} {} {}\n",
            e.number,
            if s.waiting { "yes" } else { "no" },
            s.class as u8,
            s.new,
            s.old,
            s.urgent_new,
            s.urgent_old
        ));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mode = std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.file_type().is_file())
        .map_or(MODE, |m| m.permissions().mode() & 0o777);
    let mut f = create_exclusive(&tmp, mode)?;
    let written = f
        .write_all(text.as_bytes())
        .map_err(|e| io_err(&tmp, "write", e))
        .and_then(|()| f.sync_all().map_err(|e| io_err(&tmp, "fsync", e)));
    drop(f);
    if let Err(e) =
        written.and_then(|()| std::fs::rename(&tmp, path).map_err(|e| io_err(path, "rename", e)))
    {
        // A partial temporary file only takes space the next try needs.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, "fsync directory", e))
}

/// `O_CREAT|O_EXCL|O_NOFOLLOW` create of `tmp` with `mode` (chmod'ed past the umask); a file
/// or link already there (left by a crash) is unlinked once and the create tried again.
fn create_exclusive(tmp: &Path, mode: u32) -> Result<File, TableError> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(tmp)
    };
    let f = match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(tmp).map_err(|e| io_err(tmp, "remove stale temporary file", e))?;
            open()
        }
        r => r,
    }
    .map_err(|e| io_err(tmp, "create", e))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_err(tmp, &format!("chmod {mode:o}"), e))?;
    Ok(f)
}

fn parse_line(line: &str) -> Option<(Number, MwiState)> {
    let f: Vec<&str> = line.split_ascii_whitespace().collect();
    let [number, waiting, class, new, old, urgent_new, urgent_old] = f.as_slice() else {
        return None;
    };
    let state = MwiState {
        waiting: match *waiting {
            "yes" => true,
            "no" => false,
            _ => return None,
        },
        class: MessageClass::from_u8(class.parse().ok()?)?,
        new: new.parse().ok()?,
        old: old.parse().ok()?,
        urgent_new: urgent_new.parse().ok()?,
        urgent_old: urgent_old.parse().ok()?,
    };
    Some((Number::new(number).ok()?, state))
}

/// Read a snapshot written by [`save_snapshot`]. A missing file is an empty table; malformed
/// lines are skipped with a warning (the rest is still worth having).
///
/// Errors: [`TableError::Io`] if the file exists but cannot be read.
pub fn load_snapshot(path: &Path) -> Result<Vec<(Number, MwiState)>, TableError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path, "read snapshot", e)),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(r) => out.push(r),
            None => log::warn!(
                "MWI snapshot {}:{}: malformed line skipped",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(out)
}

/// How the snapshot is doing, for the daemons' status (`Snapshotter::health`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotHealth {
    /// Snapshots written so far.
    pub saves: u64,
    /// Failed saves so far (all episodes).
    pub failures: u64,
    /// The error of the last failed save while saves are failing, `None` once one succeeds.
    pub failing: Option<String>,
    /// When the current failure episode began (its first failed save).
    pub failing_since: Option<Instant>,
    /// When the next try of a failing save is due.
    pub retry_at: Option<Instant>,
}

/// Keeps the snapshot of a [`Writer`]'s table current, at most one write per `min_interval`:
/// a burst of changes costs one write. Sans-IO timing: the owner's event loop asks
/// [`Snapshotter::deadline`] when to call [`Snapshotter::poll`].
///
/// A failed save (ENOSPC, EROFS, EMFILE, ...) is tried again after [`RETRY_MIN`], doubling up
/// to [`RETRY_MAX`] while it keeps failing, and never sooner: a full disk costs one try per
/// back-off, not a busy loop. The first failure of an episode is logged as a warning, the
/// recovery as info; [`Snapshotter::health`] shows the state in between.
///
/// The writer-free methods ([`Snapshotter::deadline_for`], [`Snapshotter::save_entries`]) let
/// a worker thread own the `Snapshotter` and save copies of the entries it is sent.
#[derive(Debug)]
pub struct Snapshotter {
    path: PathBuf,
    min_interval: Duration,
    saved_generation: u64,
    last_save: Option<Instant>,
    backoff: Duration,
    health: SnapshotHealth,
}

impl Snapshotter {
    /// Snapshot to `path` (`<[state] dir>/`[`super::SNAPSHOT_FILE`]) at most once per
    /// `min_interval`.
    pub fn new(path: PathBuf, min_interval: Duration) -> Self {
        Self {
            path,
            min_interval,
            saved_generation: 0,
            last_save: None,
            backoff: RETRY_MIN,
            health: SnapshotHealth::default(),
        }
    }

    /// When the next save is due (`now` or later), `None` if the snapshot is current.
    pub fn deadline(&self, now: Instant, writer: &Writer) -> Option<Instant> {
        self.deadline_for(now, writer.generation())
    }

    /// [`Snapshotter::deadline`] for a table at `generation` ([`Writer::generation`]).
    pub fn deadline_for(&self, now: Instant, generation: u64) -> Option<Instant> {
        if generation == self.saved_generation {
            return None;
        }
        let due = self
            .last_save
            .map_or(now, |t| (t + self.min_interval).max(now));
        Some(self.health.retry_at.map_or(due, |r| r.max(due)))
    }

    /// Save if a save is due at `now`; returns whether it saved. A failed save is logged (once
    /// per episode), shown by [`Snapshotter::health`] and tried again after the back-off, so
    /// it is not an error here.
    ///
    /// Errors: none today; the `Result` is kept for callers that log errors.
    pub fn poll(&mut self, now: Instant, writer: &Writer) -> Result<bool, TableError> {
        match self.deadline(now, writer) {
            Some(due) if due <= now => Ok(self
                .save_entries(now, writer.generation(), writer.entries())
                .is_ok()),
            _ => Ok(false),
        }
    }

    /// Save now if anything changed since the last save (at shutdown), back-off or not;
    /// returns whether it saved.
    ///
    /// Errors: [`TableError::Io`].
    pub fn flush(&mut self, writer: &Writer) -> Result<bool, TableError> {
        if writer.generation() == self.saved_generation {
            return Ok(false);
        }
        self.save_entries(Instant::now(), writer.generation(), writer.entries())
            .map(|()| true)
    }

    /// Save `entries`, the table at `generation`, now; on failure schedule the next try
    /// (back-off) and log the start of a failure episode, on success its end.
    ///
    /// Errors: [`TableError::Io`] of this try.
    pub fn save_entries(
        &mut self,
        now: Instant,
        generation: u64,
        entries: impl Iterator<Item = Entry>,
    ) -> Result<(), TableError> {
        match save_snapshot(&self.path, entries) {
            Ok(()) => {
                if let Some(since) = self.health.failing_since {
                    log::info!(
                        "MWI snapshot {}: saved again after failing for {} s",
                        self.path.display(),
                        now.saturating_duration_since(since).as_secs()
                    );
                }
                self.saved_generation = generation;
                self.last_save = Some(now);
                self.backoff = RETRY_MIN;
                self.health.saves += 1;
                self.health.failing = None;
                self.health.failing_since = None;
                self.health.retry_at = None;
                Ok(())
            }
            Err(e) => {
                if self.health.failing_since.is_none() {
                    log::warn!(
                        "MWI snapshot: {e}; the table itself is intact, trying again every {} \
                         to {} s",
                        RETRY_MIN.as_secs(),
                        RETRY_MAX.as_secs()
                    );
                    self.health.failing_since = Some(now);
                }
                self.health.failures += 1;
                self.health.failing = Some(e.to_string());
                self.health.retry_at = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(RETRY_MAX);
                Err(e)
            }
        }
    }

    /// Snapshots written so far.
    pub fn saves(&self) -> u64 {
        self.health.saves
    }

    /// Saves, failures and the current failure, for status output.
    pub fn health(&self) -> &SnapshotHealth {
        &self.health
    }
}
