//! The shared-memory MWI table between sipd (the single writer) and chand (the reader).
//!
//! MWI is state, not a stream of events: what must never be lost is the latest state of every
//! number. The region (a file on tmpfs, [`DEFAULT_PATH`]) holds:
//!
//! - a header: magic, layout version, capacity, the creating build, a layout hash;
//! - one 64-octet slot per number, found by linear probing on an FNV-1a hash of the number.
//!   Numbers are only ever inserted (a slot is never freed), so probe chains never break;
//! - a bounded broadcast ring of change notices (slot index + version);
//! - a futex word that the writer bumps after each change, and a sleeper count;
//! - a one-entry write-ahead journal of the slot write in progress.
//!
//! # Concurrency model
//!
//! There is exactly one writer ([`Writer`], held by sipd), enforced by an OFD lock on the file,
//! and it is single-threaded by design: `Writer::publish` takes `&mut self`. Readers ([`Reader`],
//! chand; also `mwi-table dump`) never write table data; they only register as sleepers.
//!
//! - **Slots** are seqlocks (odd sequence = write in progress). A reader never sees a torn slot:
//!   it retries a bounded number of times and otherwise reports the slot busy and retries later.
//! - **Writer killed mid-write** (SIGKILL): before a slot turns odd, the writer records the
//!   complete write in the journal. A restarted writer completes the slot from the journal, then
//!   bumps the writer epoch, which makes every reader rescan. A slot therefore stays odd only
//!   while no writer runs, and readers keep their last good copy meanwhile.
//! - **Ring**: the writer never waits; a reader that falls more than the ring capacity behind
//!   sees the overflow and rescans every slot. A per-slot version cache in the reader makes a
//!   rescan deliver only the slots that actually changed.
//! - **Wake-up**: `Reader::wait` spins for a bounded time (sub-microsecond hand-off while
//!   updates are flowing), then sleeps on the futex. For a mio loop, [`Reader::spawn_notifier`]
//!   runs a thread that futex-waits and calls a closure (e.g. `mio::Waker::wake`). The writer
//!   issues FUTEX_WAKE only while the sleeper count is non-zero. A reader killed while asleep
//!   leaves the count raised, which costs the writer a needless (harmless) system call per
//!   change until the region is recreated.
//!
//! # Restart
//!
//! A restarted reader rebuilds everything with [`Reader::entries`] (or its first
//! [`Reader::poll`], which rescans). A restarted writer finds the table as it was. The writer
//! keeps a copy on disk with a [`Snapshotter`] (write to temp, fsync, rename, at most one write
//! per interval); whichever daemon creates the region (e.g. after a reboot) loads that copy.
//!
//! All `unsafe` code of the table is in the `region` module, including the SIGBUS handler that
//! lets both daemons survive a region truncated by another process (`Writer::check`).

#![allow(unexpected_cfgs)]

pub mod protocol;
mod sync;

#[cfg(not(loom))]
mod reader;
#[cfg(not(loom))]
mod region;
#[cfg(not(loom))]
mod snapshot;
#[cfg(not(loom))]
mod writer;

#[cfg(not(loom))]
pub use reader::{Notifier, PollSummary, Reader, NOTIFIER_SLEEP, SCAN_BUDGET, SPIN_BUDGET};
#[cfg(not(loom))]
pub use snapshot::{
    load_snapshot, save_snapshot, SnapshotHealth, Snapshotter, RETRY_MAX, RETRY_MIN,
};
#[cfg(not(loom))]
pub use writer::{Published, Writer};

use std::fmt;
use std::path::PathBuf;

use mwi_core::mwi::{MessageClass, MwiState};
use protocol::{SlotCell, SlotRead, SLOT_WORDS};

/// Group shared by sipd's and chand's users (systemd/dahdi-mwi.sysusers), given to the region.
pub const GROUP: &str = "dahdi-mwi";
/// Default location of the region (tmpfs).
pub const DEFAULT_PATH: &str = "/dev/shm/dahdi-mwi.table";
/// Default capacity in numbers (`[table] capacity`).
pub const DEFAULT_CAPACITY: u32 = 65_536;
/// Largest capacity in numbers.
pub const MAX_CAPACITY: u32 = 1 << 24;
/// Default number of change notices the ring holds before a slow reader must rescan.
pub const DEFAULT_RING_CAPACITY: u32 = 4096;
/// File name of the snapshot inside `[state] dir`.
pub const SNAPSHOT_FILE: &str = "mwi-table.snapshot";
/// Mode of the region file: owner and the group shared by both daemons' users.
pub const MODE: u32 = 0o660;
/// Version of the region layout; a region of another version is refused with
/// [`TableError::LayoutMismatch`].
pub const LAYOUT_VERSION: u32 = 1;
/// Longest number, in octets (digits, `*`, `#`, `+`).
pub const MAX_NUMBER_LEN: usize = 32;
/// Read attempts on a slot whose sequence is odd before a reader reports it busy (a few µs).
pub const READ_ATTEMPTS: u32 = 256;

/// Where and how large the region is; build it from `[table]` and `[state]` of the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableConfig {
    /// The region file, [`DEFAULT_PATH`] by default.
    pub path: PathBuf,
    /// Most numbers the table holds (1..=[`MAX_CAPACITY`]); must match an existing region.
    pub capacity: u32,
    /// Ring entries, a power of two (2..=2^24); must match an existing region.
    pub ring_capacity: u32,
    /// Group (gid) given to a region this process creates, so both daemons' users share it.
    pub group: Option<u32>,
    /// Snapshot loaded into a region this process creates (`<[state] dir>/`[`SNAPSHOT_FILE`]).
    pub snapshot: Option<PathBuf>,
}

impl Default for TableConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from(DEFAULT_PATH),
            capacity: DEFAULT_CAPACITY,
            ring_capacity: DEFAULT_RING_CAPACITY,
            group: None,
            snapshot: None,
        }
    }
}

impl TableConfig {
    /// The table as both daemons open it for `cfg`: `[table] path` and `capacity`, the
    /// snapshot in `[state] dir`, and the group [`GROUP`] when it exists, so sipd's and
    /// chand's users share the region.
    pub fn for_config(cfg: &mwi_config::Config) -> Self {
        Self {
            path: cfg.table.path.clone(),
            capacity: cfg.table.capacity,
            group: Self::gid_of(GROUP).ok(),
            snapshot: Some(cfg.state.dir.join(SNAPSHOT_FILE)),
            ..Self::default()
        }
    }

    /// The gid of group `name` (for [`TableConfig::group`]).
    ///
    /// Errors: [`TableError::Config`] if no such group exists or the lookup fails.
    pub fn gid_of(name: &str) -> Result<u32, TableError> {
        match nix::unistd::Group::from_name(name) {
            Ok(Some(g)) => Ok(g.gid.as_raw()),
            Ok(None) => Err(TableError::Config(format!("no group named {name:?}"))),
            Err(e) => Err(TableError::Config(format!(
                "looking up group {name:?}: {e}"
            ))),
        }
    }
}

/// Errors of the shared table.
#[derive(Debug)]
pub enum TableError {
    /// A system call on the region or snapshot failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The region was made by a build with another layout.
    LayoutMismatch {
        /// The region file.
        path: PathBuf,
        /// Layout version in the region's header.
        found_version: u32,
        /// Build string in the region's header.
        found_build: String,
        /// Layout version of this build.
        expected_version: u32,
        /// Build string of this build.
        expected_build: String,
    },
    /// The region's capacity or ring capacity differ from the configuration.
    GeometryMismatch {
        /// The region file.
        path: PathBuf,
        /// (capacity, ring capacity) in the region.
        found: (u32, u32),
        /// (capacity, ring capacity) configured.
        expected: (u32, u32),
    },
    /// The file exists but is not an MWI table.
    NotATable {
        /// The file.
        path: PathBuf,
    },
    /// The region's header is inconsistent.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// An existing region file is not trusted: a symbolic link, not a regular file, owned by
    /// another user outside the table's group, or writable beyond [`MODE`].
    Refused {
        /// The region file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The region file was truncated, removed or replaced by another process while open
    /// (`Reader::check`, `Writer::check`): re-open it.
    Replaced {
        /// The region file.
        path: PathBuf,
        /// What happened to it.
        why: String,
    },
    /// Another process holds the writer lock.
    WriterBusy {
        /// The region file.
        path: PathBuf,
        /// The pid recorded by the last writer.
        pid: u32,
    },
    /// Bad parameters.
    Config(String),
    /// The number is empty, too long, or has a character other than `0-9*#+`.
    BadNumber(String),
    /// The slot is mid-write and no writer is running to finish it; the previous value still
    /// holds. Try again after the writer (re)starts.
    Busy,
    /// Every one of the `capacity` numbers is taken.
    Full {
        /// The configured capacity.
        capacity: u32,
    },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, what, source } => write!(f, "MWI table {}: {what}: {source}", path.display()),
            Self::LayoutMismatch { path, found_version, found_build, expected_version, expected_build } => write!(
                f,
                "MWI table {} has layout version {found_version} (made by {found_build}) but this build \
                 uses layout version {expected_version} ({expected_build}); stop sipd and chand, remove \
                 the file and start them again",
                path.display()
            ),
            Self::GeometryMismatch { path, found, expected } => write!(
                f,
                "MWI table {} has capacity {} and ring capacity {} but the configuration says {} and {}; \
                 stop sipd and chand, remove the file and start them again",
                path.display(),
                found.0,
                found.1,
                expected.0,
                expected.1
            ),
            Self::NotATable { path } => write!(f, "{} exists and is not an MWI table", path.display()),
            Self::Refused { path, why } => write!(
                f,
                "MWI table {} refused: {why}; remove it (sipd or chand creates it again)",
                path.display()
            ),
            Self::Replaced { path, why } => write!(f, "MWI table {}: {why}", path.display()),
            Self::Corrupt { path, why } => write!(f, "MWI table {} is corrupt: {why}", path.display()),
            Self::WriterBusy { path, pid } => {
                write!(f, "MWI table {} already has a writer (pid {pid}); only one sipd may run", path.display())
            }
            Self::Config(s) => write!(f, "MWI table: {s}"),
            Self::BadNumber(n) => {
                write!(f, "number {n:?} is not 1..={MAX_NUMBER_LEN} characters of 0-9 * # +")
            }
            Self::Busy => write!(f, "MWI table slot is being written; try again"),
            Self::Full { capacity } => write!(f, "MWI table is full ({capacity} numbers)"),
        }
    }
}

impl std::error::Error for TableError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A number as stored in a slot: 1..=[`MAX_NUMBER_LEN`] octets of `0-9*#+`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Number {
    len: u8,
    bytes: [u8; MAX_NUMBER_LEN],
}

impl Number {
    /// Parse `s`. Errors: [`TableError::BadNumber`].
    pub fn new(s: &str) -> Result<Self, TableError> {
        let b = s.as_bytes();
        if b.is_empty()
            || b.len() > MAX_NUMBER_LEN
            || !b.iter().all(|c| c.is_ascii_digit() || b"*#+".contains(c))
        {
            return Err(TableError::BadNumber(s.to_string()));
        }
        let mut bytes = [0u8; MAX_NUMBER_LEN];
        bytes[..b.len()].copy_from_slice(b);
        Ok(Self {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked in `new` and `decode`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    fn hash(&self) -> u64 {
        fnv1a(&self.bytes[..usize::from(self.len)])
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One occupied slot as read from the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Slot index (stable for the life of the region).
    pub slot: u32,
    /// Completed writes to this slot (the seqlock sequence / 2).
    pub version: u64,
    /// The number.
    pub number: Number,
    /// Its MWI state.
    pub state: MwiState,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_continue(0xcbf2_9ce4_8422_2325, bytes)
}

fn fnv1a_continue(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Slot payload for `number` in `state` (layout: 4 words of digits, then
/// `new | old << 32`, `urgent_new | urgent_old << 32`, `waiting | class << 8 | len << 16`).
fn encode(number: &Number, state: &MwiState) -> [u64; SLOT_WORDS] {
    let mut w = [0u64; SLOT_WORDS];
    for (i, chunk) in number.bytes.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        w[i] = u64::from_le_bytes(b);
    }
    w[4] = u64::from(state.new) | (u64::from(state.old) << 32);
    w[5] = u64::from(state.urgent_new) | (u64::from(state.urgent_old) << 32);
    w[6] = u64::from(state.waiting)
        | (u64::from(state.class as u8) << 8)
        | (u64::from(number.len) << 16);
    w
}

/// Inverse of [`encode`]; `None` for words no writer of this layout produces.
fn decode(w: &[u64; SLOT_WORDS]) -> Option<(Number, MwiState)> {
    let mut bytes = [0u8; MAX_NUMBER_LEN];
    for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&w[i].to_le_bytes());
    }
    let len = ((w[6] >> 16) & 0xff) as usize;
    let digits = bytes.get(..len)?;
    if len == 0
        || !digits
            .iter()
            .all(|c| c.is_ascii_digit() || b"*#+".contains(c))
    {
        return None;
    }
    if bytes[len..].iter().any(|&c| c != 0) || w[6] >> 24 != 0 || w[6] & 0xfe != 0 {
        return None;
    }
    let state = MwiState {
        waiting: w[6] & 1 == 1,
        class: MessageClass::from_u8((w[6] >> 8) as u8)?,
        new: w[4] as u32,
        old: (w[4] >> 32) as u32,
        urgent_new: w[5] as u32,
        urgent_old: (w[5] >> 32) as u32,
    };
    Some((
        Number {
            len: len as u8,
            bytes,
        },
        state,
    ))
}

/// Result of looking a number up.
#[derive(Debug)]
enum Probe {
    /// At this slot, with this entry.
    Found(Entry),
    /// Not present; this empty slot is where it would go.
    Vacant(u32),
    /// A slot on the chain is mid-write (or corrupt); try later.
    Busy,
}

/// Linear probe for `number`, reading slots with `read`.
fn probe(slots: &[SlotCell], number: &Number, read: impl Fn(&SlotCell) -> SlotRead) -> Probe {
    let mask = slots.len() - 1;
    let mut i = number.hash() as usize & mask;
    for _ in 0..slots.len() {
        match read(&slots[i]) {
            SlotRead::Empty => return Probe::Vacant(i as u32),
            SlotRead::Busy => return Probe::Busy,
            SlotRead::Stable { seq, words } => match decode(&words) {
                Some((n, state)) if n == *number => {
                    return Probe::Found(Entry {
                        slot: i as u32,
                        version: seq / 2,
                        number: n,
                        state,
                    })
                }
                Some(_) => {}
                None => return Probe::Busy,
            },
        }
        i = (i + 1) & mask;
    }
    Probe::Busy
}

/// The entry in a stable slot read, `None` if empty, busy or undecodable.
fn entry_of(slot: u32, read: SlotRead) -> Option<Entry> {
    match read {
        SlotRead::Stable { seq, words } => decode(&words).map(|(number, state)| Entry {
            slot,
            version: seq / 2,
            number,
            state,
        }),
        SlotRead::Empty | SlotRead::Busy => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let n = Number::new("+49*8000#").unwrap();
        let s = MwiState {
            waiting: true,
            class: MessageClass::Fax,
            new: 7,
            old: u32::MAX,
            urgent_new: 1,
            urgent_old: 2,
        };
        assert_eq!(decode(&encode(&n, &s)), Some((n, s)));
    }

    #[test]
    fn numbers_are_checked() {
        assert!(Number::new("").is_err());
        assert!(Number::new("80a0").is_err());
        assert!(Number::new(&"1".repeat(33)).is_err());
        assert_eq!(Number::new(&"1".repeat(32)).unwrap().as_str().len(), 32);
    }

    #[test]
    fn decode_rejects_garbage() {
        let mut w = encode(&Number::new("8000").unwrap(), &MwiState::default());
        w[6] |= 9 << 8;
        assert_eq!(decode(&w), None);
        assert_eq!(decode(&[u64::MAX; SLOT_WORDS]), None);
        assert_eq!(decode(&[0; SLOT_WORDS]), None);
    }
}
