//! The region's layout (little-endian, offsets in octets), its shape hash, the sizes derived
//! from the capacity, and the header as read from the file before mapping it:
//!
//! | offset | size | contents |
//! | --- | --- | --- |
//! | 0 | 128 | [`Meta`]: magic, layout version, state, capacity, slot count, ring capacity, numbers used, layout hash, writer epoch and pid, creating build, initialisation stamp |
//! | 128 | 64 | ring head (notices ever pushed) |
//! | 192 | 64 | wake sequence (the futex word) and sleeper count |
//! | 256 | 128 | [`JournalCell`]: the slot write in progress |
//! | 384 | 8 × ring capacity | ring entries ([`crate::protocol::Notice`] packed) |
//! | … | 64 × slot count | slots ([`SlotCell`]), 64-aligned |

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::protocol::{JournalCell, SlotCell};
use crate::{TableError, LAYOUT_VERSION};
/// `b"DAHDIMWI"` as a little-endian word.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"DAHDIMWI");
pub(super) const STATE_READY: u32 = 1;
pub(super) const BUILD_LEN: usize = 64;

#[repr(C, align(64))]
pub(crate) struct Meta {
    pub(super) magic: AtomicU64,
    pub(super) layout_version: AtomicU32,
    pub(super) state: AtomicU32,
    pub(super) capacity: AtomicU32,
    pub(super) slot_count: AtomicU32,
    pub(super) ring_capacity: AtomicU32,
    pub(crate) used: AtomicU32,
    pub(super) layout_hash: AtomicU64,
    pub(crate) writer_epoch: AtomicU32,
    pub(crate) writer_pid: AtomicU32,
    pub(super) build: [AtomicU64; BUILD_LEN / 8],
    /// Stamp of the initialisation (wall-clock nanoseconds, never 0 once set): a process whose
    /// mapping still works after another one re-initialised the same file sees another
    /// stamp. In the header's padding, so regions of earlier builds (stamp 0) stay valid.
    pub(super) created: AtomicU64,
}

#[repr(C, align(64))]
pub(crate) struct Line<T>(pub(crate) T);

#[repr(C)]
pub(crate) struct Wake {
    pub(crate) seq: AtomicU32,
    pub(crate) sleepers: AtomicU32,
}

#[repr(C)]
pub(crate) struct Header {
    pub(crate) meta: Meta,
    pub(crate) head: Line<AtomicU64>,
    pub(crate) wake: Line<Wake>,
    pub(crate) journal: JournalCell,
}

const HEADER_SIZE: usize = std::mem::size_of::<Header>();
const SLOT_SIZE: usize = std::mem::size_of::<SlotCell>();
// The layout table above is a promise to other builds: keep it true.
const _: () = assert!(HEADER_SIZE == 384 && SLOT_SIZE == 64 && std::mem::size_of::<Meta>() == 128);

/// Hash of the layout's shape: field offsets and sizes, so any change to them that forgot to
/// bump [`LAYOUT_VERSION`] still shows up as a mismatch.
pub(crate) fn layout_hash() -> u64 {
    let shape: [usize; 12] = [
        HEADER_SIZE,
        SLOT_SIZE,
        std::mem::size_of::<JournalCell>(),
        std::mem::offset_of!(Meta, layout_version),
        std::mem::offset_of!(Meta, state),
        std::mem::offset_of!(Meta, capacity),
        std::mem::offset_of!(Meta, layout_hash),
        std::mem::offset_of!(Meta, build),
        std::mem::offset_of!(Header, head),
        std::mem::offset_of!(Header, wake),
        std::mem::offset_of!(Header, journal),
        LAYOUT_VERSION as usize,
    ];
    let mut h =
        crate::fnv1a(b"dahdi-mwi table: seqlock slots, u64 notice ring, futex wake, fnv1a probe");
    for v in shape {
        h = crate::fnv1a_continue(h, &(v as u64).to_le_bytes());
    }
    h
}

/// The build string stored in the header by the creator, e.g. `mwi-core 0.1.0 layout 1/…`.
pub(crate) fn build_id() -> String {
    format!(
        "mwi-core {} layout {}/{:016x}",
        env!("CARGO_PKG_VERSION"),
        LAYOUT_VERSION,
        layout_hash()
    )
}

/// Sizes derived from the configured capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) capacity: u32,
    pub(crate) slot_count: u32,
    pub(crate) ring_capacity: u32,
}

impl Geometry {
    pub(crate) fn new(capacity: u32, ring_capacity: u32) -> Result<Self, TableError> {
        if !(1..=crate::MAX_CAPACITY).contains(&capacity) {
            return Err(TableError::Config(format!(
                "capacity {capacity} outside 1..={}",
                crate::MAX_CAPACITY
            )));
        }
        if !(2..=1 << 24).contains(&ring_capacity) || !ring_capacity.is_power_of_two() {
            return Err(TableError::Config(format!(
                "ring capacity {ring_capacity} is not a power of two in 2..=16777216"
            )));
        }
        // Load factor at most 3/4 keeps linear-probe chains short.
        let slot_count = (u64::from(capacity) * 4 / 3 + 1).next_power_of_two() as u32;
        Ok(Self {
            capacity,
            slot_count,
            ring_capacity,
        })
    }

    pub(super) fn ring_offset(&self) -> usize {
        HEADER_SIZE
    }

    pub(super) fn slots_offset(&self) -> usize {
        let end = self.ring_offset() + 8 * self.ring_capacity as usize;
        end.next_multiple_of(SLOT_SIZE)
    }

    pub(crate) fn len(&self) -> usize {
        self.slots_offset() + SLOT_SIZE * self.slot_count as usize
    }
}

/// Header fields as read from the file before mapping it.
pub(super) struct RawHeader {
    pub(super) magic: u64,
    pub(super) version: u32,
    pub(super) state: u32,
    pub(super) capacity: u32,
    pub(super) slot_count: u32,
    pub(super) ring_capacity: u32,
    pub(super) hash: u64,
    pub(super) build: String,
}

impl RawHeader {
    pub(super) fn read(file: &File) -> io::Result<Option<Self>> {
        let mut buf = [0u8; std::mem::size_of::<Meta>()];
        let n = file.read_at(&mut buf, 0)?;
        if n < buf.len() {
            return Ok(None);
        }
        let u32_at =
            |off: usize| u32::from_le_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
        let u64_at = |off: usize| u64::from(u32_at(off)) | (u64::from(u32_at(off + 4)) << 32);
        let b = std::mem::offset_of!(Meta, build);
        let build = &buf[b..b + BUILD_LEN];
        let build_end = build.iter().position(|&c| c == 0).unwrap_or(BUILD_LEN);
        Ok(Some(Self {
            magic: u64_at(std::mem::offset_of!(Meta, magic)),
            version: u32_at(std::mem::offset_of!(Meta, layout_version)),
            state: u32_at(std::mem::offset_of!(Meta, state)),
            capacity: u32_at(std::mem::offset_of!(Meta, capacity)),
            slot_count: u32_at(std::mem::offset_of!(Meta, slot_count)),
            ring_capacity: u32_at(std::mem::offset_of!(Meta, ring_capacity)),
            hash: u64_at(std::mem::offset_of!(Meta, layout_hash)),
            build: String::from_utf8_lossy(&build[..build_end]).into_owned(),
        }))
    }
}
