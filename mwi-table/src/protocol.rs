//! The lock-free protocols of the shared table, independent of where their cells live (the
//! shared mapping in production, the heap under loom): the per-slot seqlock, the write-ahead
//! journal that lets a restarted writer complete a slot its predecessor was killed writing, the
//! broadcast ring of change notices, and the sleeper/wake-sequence handshake of the futex wake-up.
//!
//! Every protocol has exactly one writer (sipd, single-threaded by design) and any number of
//! readers. Payload words are atomics accessed `Relaxed` between fences, the seqlock shape that is
//! defined behaviour in the C++/Rust memory model (Boehm, "Can seqlocks get along with programming
//! language memory models?", MSPC 2012).

use super::sync::{fence, AtomicU32, AtomicU64, Ordering};

/// Payload words of one slot: 4 words of number digits, 3 words of MWI state.
pub const SLOT_WORDS: usize = 7;

/// One slot of the table: a sequence word and [`SLOT_WORDS`] payload words, 64 octets.
///
/// `seq` is 0 while the slot is empty, odd while the writer is changing it and even (≥ 2) when
/// stable; `seq / 2` is the slot's version (number of completed writes).
#[repr(C, align(64))]
#[derive(Debug)]
pub struct SlotCell {
    seq: AtomicU64,
    words: [AtomicU64; SLOT_WORDS],
}

/// What a reader saw in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotRead {
    /// Never written (`seq == 0`): the end of a probe chain.
    Empty,
    /// The writer is inside a write (odd `seq`) or a write overlapped the read; try again later.
    Busy,
    /// A consistent copy of the payload and the even `seq` it was read at.
    Stable {
        /// The even sequence word; the version is `seq / 2`.
        seq: u64,
        /// The payload as written by one complete write.
        words: [u64; SLOT_WORDS],
    },
}

impl Default for SlotCell {
    fn default() -> Self {
        Self {
            seq: AtomicU64::new(0),
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl SlotCell {
    /// One read attempt (never blocks): `Busy` if a write is in progress or overlapped.
    pub fn try_read(&self) -> SlotRead {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 == 0 {
            return SlotRead::Empty;
        }
        if s1 & 1 == 1 {
            return SlotRead::Busy;
        }
        let words = std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed));
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) == s1 {
            SlotRead::Stable { seq: s1, words }
        } else {
            SlotRead::Busy
        }
    }

    /// Read, retrying up to `attempts` times while a write is in progress. A slot left odd by a
    /// killed writer stays `Busy` (bounded; never hangs) until a new writer repairs it.
    pub fn read(&self, attempts: u32) -> SlotRead {
        let mut last = SlotRead::Busy;
        for _ in 0..attempts.max(1) {
            last = self.try_read();
            if last != SlotRead::Busy {
                break;
            }
            std::hint::spin_loop();
        }
        last
    }

    /// The sequence word as the single writer sees it (its own last store).
    pub fn writer_seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// The payload as the single writer sees it (its own last stores; no seqlock needed).
    pub fn writer_words(&self) -> [u64; SLOT_WORDS] {
        std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed))
    }

    /// Seqlock write by the single writer; returns the new (even) sequence word.
    ///
    /// The leading release fence keeps every earlier store (the journal record) ordered before
    /// the slot turns odd, which is what crash repair relies on.
    pub fn write(&self, words: &[u64; SLOT_WORDS]) -> u64 {
        let s = self.seq.load(Ordering::Relaxed);
        let odd = s | 1;
        fence(Ordering::Release);
        self.seq.store(odd, Ordering::Relaxed);
        fence(Ordering::Release);
        for (cell, w) in self.words.iter().zip(words) {
            cell.store(*w, Ordering::Relaxed);
        }
        self.seq.store(odd + 1, Ordering::Release);
        odd + 1
    }

    /// Complete a write a killed writer left half done: store `words` and close the slot at
    /// `seq` (even). Only the single (new) writer calls this, before it writes anything else.
    pub fn complete(&self, words: &[u64; SLOT_WORDS], seq: u64) {
        fence(Ordering::Release);
        for (cell, w) in self.words.iter().zip(words) {
            cell.store(*w, Ordering::Relaxed);
        }
        self.seq.store(seq, Ordering::Release);
    }
}

/// The write-ahead record of the slot write in progress: target slot, the even sequence the
/// slot will have when done, and the payload. Written (itself seqlock-style) before the slot
/// turns odd, so a writer killed inside a slot write leaves enough to finish it.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct JournalCell {
    seq: AtomicU64,
    slot: AtomicU64,
    target_seq: AtomicU64,
    words: [AtomicU64; SLOT_WORDS],
}

impl Default for JournalCell {
    fn default() -> Self {
        Self {
            seq: AtomicU64::new(0),
            slot: AtomicU64::new(0),
            target_seq: AtomicU64::new(0),
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A complete journal record: slot `slot` is to become `words` at sequence `target_seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalRecord {
    /// Slot index.
    pub slot: u64,
    /// The even sequence word the slot has once the write is complete.
    pub target_seq: u64,
    /// The payload being written.
    pub words: [u64; SLOT_WORDS],
}

impl JournalCell {
    /// Record the intent to write `rec` (single writer).
    pub fn record(&self, rec: &JournalRecord) {
        let s = self.seq.load(Ordering::Relaxed) | 1;
        self.seq.store(s, Ordering::Relaxed);
        fence(Ordering::Release);
        self.slot.store(rec.slot, Ordering::Relaxed);
        self.target_seq.store(rec.target_seq, Ordering::Relaxed);
        for (cell, w) in self.words.iter().zip(&rec.words) {
            cell.store(*w, Ordering::Relaxed);
        }
        self.seq.store(s + 1, Ordering::Release);
    }

    /// The last complete record, `None` if the writer was killed while recording it (then the
    /// slot it was about to write is untouched). Only the writer reads the journal.
    pub fn last(&self) -> Option<JournalRecord> {
        let s = self.seq.load(Ordering::Acquire);
        if s == 0 || s & 1 == 1 {
            return None;
        }
        Some(JournalRecord {
            slot: self.slot.load(Ordering::Relaxed),
            target_seq: self.target_seq.load(Ordering::Relaxed),
            words: std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed)),
        })
    }

    /// Close a record a killed writer left half written (its slot write never started).
    pub fn discard_torn(&self) {
        let s = self.seq.load(Ordering::Relaxed);
        if s & 1 == 1 {
            self.seq.store(s + 1, Ordering::Release);
        }
    }
}

/// What a restarted writer must do about slot `slot` whose sequence word is `slot_seq`, given
/// the journal's last complete record: `Some(record)` to complete the write with it.
pub fn repair_action(
    journal: Option<&JournalRecord>,
    slot: u64,
    slot_seq: u64,
) -> Option<JournalRecord> {
    let rec = journal?;
    (slot_seq & 1 == 1 && rec.slot == slot && rec.target_seq == slot_seq + 1).then_some(*rec)
}

/// A change notice: slot index (low 32 bits) and the low 32 bits of the slot's version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Slot index.
    pub slot: u32,
    /// Low 32 bits of the slot version (`seq / 2`) the notice announces.
    pub version: u32,
}

impl Notice {
    /// Packed form stored in a ring entry.
    pub fn pack(self) -> u64 {
        u64::from(self.slot) | (u64::from(self.version) << 32)
    }

    /// Inverse of [`Notice::pack`].
    pub fn unpack(v: u64) -> Self {
        Self {
            slot: v as u32,
            version: (v >> 32) as u32,
        }
    }
}

/// The writer side of the broadcast notice ring: `head` counts notices ever pushed and
/// `entries.len()` (a power of two) is the capacity. The writer never waits for readers; a reader
/// that falls more than a capacity behind detects it and rescans the table.
pub fn ring_push(head: &AtomicU64, entries: &[AtomicU64], notice: Notice) {
    let h = head.load(Ordering::Relaxed);
    let mask = entries.len() as u64 - 1;
    // Orders the previous head store before this entry store: a reader that sees this entry
    // then sees a head of at least `h`, which its overwrite check relies on.
    fence(Ordering::Release);
    entries[(h & mask) as usize].store(notice.pack(), Ordering::Relaxed);
    head.store(h + 1, Ordering::Release);
}

/// What a reader got from the ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingRead {
    /// Notices from the reader's position up to `next` (exclusive), in order.
    Notices {
        /// The reader's new position.
        next: u64,
    },
    /// The writer lapped the reader: notices were lost. Continue from `next` after rescanning
    /// the whole table.
    Overflow {
        /// The reader's new position.
        next: u64,
    },
}

/// Read the notices after position `tail` into `out` (cleared first).
pub fn ring_read(
    head: &AtomicU64,
    entries: &[AtomicU64],
    tail: u64,
    out: &mut Vec<Notice>,
) -> RingRead {
    out.clear();
    let cap = entries.len() as u64;
    let mask = cap - 1;
    let h = head.load(Ordering::Acquire);
    if h.wrapping_sub(tail) > cap {
        return RingRead::Overflow { next: h };
    }
    for p in tail..h {
        out.push(Notice::unpack(
            entries[(p & mask) as usize].load(Ordering::Relaxed),
        ));
    }
    fence(Ordering::Acquire);
    // The writer may be storing position `h2` right now (not yet published), which overwrites
    // `h2 - cap`; every position we read must be newer than that.
    let h2 = head.load(Ordering::Relaxed);
    if tail + cap <= h2 {
        out.clear();
        return RingRead::Overflow { next: h2 };
    }
    RingRead::Notices { next: h }
}

/// Writer half of the wake-up handshake, after publishing: bump the wake sequence (the futex
/// word) and return whether a reader may be asleep on it (then the caller issues FUTEX_WAKE).
pub fn wake_signal(wake_seq: &AtomicU32, sleepers: &AtomicU32) -> bool {
    wake_seq.fetch_add(1, Ordering::SeqCst);
    // The fence pairs with the one in `wake_register` (store-buffering / Dekker shape).
    fence(Ordering::SeqCst);
    sleepers.load(Ordering::Relaxed) != 0
}

/// Reader half, before sleeping: announce the sleeper and return the wake-sequence value to
/// pass to FUTEX_WAIT. The caller must re-check for news after this and before sleeping, and
/// call [`wake_unregister`] after waking. Either the writer sees the sleeper and wakes it, or
/// this load sees the writer's bump (and through it the news): no lost wake-up.
pub fn wake_register(wake_seq: &AtomicU32, sleepers: &AtomicU32) -> u32 {
    sleepers.fetch_add(1, Ordering::SeqCst);
    fence(Ordering::SeqCst);
    wake_seq.load(Ordering::Acquire)
}

/// Reader half, after sleeping (or deciding not to).
pub fn wake_unregister(sleepers: &AtomicU32) {
    sleepers.fetch_sub(1, Ordering::SeqCst);
}
