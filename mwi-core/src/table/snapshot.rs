//! The on-disk copy of the table in `[state] dir`, for reboots (tmpfs is lost then).
//!
//! Format: UTF-8 text, a header line, then one line per number:
//! `NUMBER yes|no CLASS NEW OLD URGENT_NEW URGENT_OLD` with CLASS the [`MessageClass`] code.

use std::fs::File;
use std::io::{self, Write};
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

/// Write `entries` to `path` atomically: write `path.tmp`, fsync it, rename it over `path`,
/// fsync the directory. A crash at any point leaves the old or the new snapshot, never a mix.
///
/// Errors: [`TableError::Io`].
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
    let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, "create", e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| io_err(&tmp, "write", e))?;
    f.sync_all().map_err(|e| io_err(&tmp, "fsync", e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, "rename", e))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, "fsync directory", e))
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

/// Keeps the snapshot of a [`Writer`]'s table current, at most one write per `min_interval`:
/// a burst of changes costs one write. Sans-IO timing: the owner's event loop asks
/// [`Snapshotter::deadline`] when to call [`Snapshotter::poll`].
#[derive(Debug)]
pub struct Snapshotter {
    path: PathBuf,
    min_interval: Duration,
    saved_generation: u64,
    last_save: Option<Instant>,
    saves: u64,
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
            saves: 0,
        }
    }

    /// When the next save is due (`now` or later), `None` if the snapshot is current.
    pub fn deadline(&self, now: Instant, writer: &Writer) -> Option<Instant> {
        if writer.generation() == self.saved_generation {
            return None;
        }
        Some(
            self.last_save
                .map_or(now, |t| (t + self.min_interval).max(now)),
        )
    }

    /// Save if a save is due at `now`; returns whether it saved.
    ///
    /// Errors: [`TableError::Io`] (the snapshot stays due).
    pub fn poll(&mut self, now: Instant, writer: &Writer) -> Result<bool, TableError> {
        match self.deadline(now, writer) {
            Some(due) if due <= now => self.save(now, writer).map(|()| true),
            _ => Ok(false),
        }
    }

    /// Save now if anything changed since the last save (at shutdown); returns whether it saved.
    ///
    /// Errors: [`TableError::Io`].
    pub fn flush(&mut self, writer: &Writer) -> Result<bool, TableError> {
        if writer.generation() == self.saved_generation {
            return Ok(false);
        }
        self.save(Instant::now(), writer).map(|()| true)
    }

    fn save(&mut self, now: Instant, writer: &Writer) -> Result<(), TableError> {
        let generation = writer.generation();
        save_snapshot(&self.path, writer.entries())?;
        self.saved_generation = generation;
        self.last_save = Some(now);
        self.saves += 1;
        Ok(())
    }

    /// Snapshots written so far.
    pub fn saves(&self) -> u64 {
        self.saves
    }
}
