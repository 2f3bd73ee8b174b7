//! The single writer (sipd).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::protocol::{
    repair_action, ring_push, wake_signal, JournalRecord, Notice, SlotCell, SlotRead,
};
use super::region::Region;
use super::{encode, entry_of, probe, Entry, Number, Probe, TableConfig, TableError};
use mwi_core::mwi::{MwiSink, MwiState};

/// The writer handle of the table: exactly one per region (an OFD lock on the file enforces
/// it), used from one thread (`publish` takes `&mut self`).
pub struct Writer {
    region: Region,
    generation: u64,
    cfg: TableConfig,
    /// Every number's entry as last published, kept off the region so that a region truncated
    /// or replaced by another process can be rebuilt ([`Writer::check`]), and so that a copy
    /// (the snapshot) never comes from a damaged region.
    last: HashMap<Number, Entry>,
    /// Since when the region has been found gone and not yet re-opened, and the failed
    /// re-opens since (each outage is logged once).
    outage: Option<(Instant, u32)>,
}

/// What [`Writer::publish`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// The number's slot.
    pub slot: u32,
    /// The slot's version after the call.
    pub version: u64,
    /// `false` if the state was already that (nothing written, nobody woken).
    pub changed: bool,
}

/// How the writer reads its own slots: its own stores, no seqlock retry needed. After repair
/// no slot is odd, so `Busy` here means a slot the writer cannot decode.
fn own_read(cell: &SlotCell) -> SlotRead {
    match cell.writer_seq() {
        0 => SlotRead::Empty,
        s if s & 1 == 1 => SlotRead::Busy,
        seq => SlotRead::Stable {
            seq,
            words: cell.writer_words(),
        },
    }
}

/// Store `state` for `number` in the region (journal first, then the slot). Only the single
/// writer calls this: the `Writer`, or the process that initialises a fresh region (which holds
/// the init lock, so no writer exists yet).
pub(crate) fn store(
    region: &Region,
    number: &Number,
    state: MwiState,
) -> Result<Published, TableError> {
    let slots = region.slots();
    let meta = &region.header().meta;
    let (slot, fresh) = match probe(slots, number, own_read) {
        Probe::Found(e) if e.state == state => {
            return Ok(Published {
                slot: e.slot,
                version: e.version,
                changed: false,
            });
        }
        Probe::Found(e) => (e.slot, false),
        Probe::Vacant(i) => {
            let capacity = region.geometry().capacity;
            if meta.used.load(Ordering::Relaxed) >= capacity {
                return Err(TableError::Full { capacity });
            }
            (i, true)
        }
        Probe::Busy => {
            return Err(TableError::Corrupt {
                path: region.path().to_path_buf(),
                why: format!("undecodable slot on the probe chain of {number}"),
            })
        }
    };
    let cell = &slots[slot as usize];
    let words = encode(number, &state);
    let target_seq = (cell.writer_seq() | 1) + 1;
    region.header().journal.record(&JournalRecord {
        slot: u64::from(slot),
        target_seq,
        words,
    });
    let seq = cell.write(&words);
    if fresh {
        meta.used.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Published {
        slot,
        version: seq / 2,
        changed: true,
    })
}

/// Complete a slot write a killed writer left odd, recount the numbers, and return how many
/// slots needed repair. Single writer only (called with the writer lock held, before writing).
fn repair(region: &Region) -> usize {
    let journal = &region.header().journal;
    let last = journal.last();
    journal.discard_torn();
    let mut repaired = 0;
    let mut used = 0;
    for (i, cell) in region.slots().iter().enumerate() {
        let seq = cell.writer_seq();
        if seq & 1 == 1 {
            repaired += 1;
            match repair_action(last.as_ref(), i as u64, seq) {
                Some(rec) => cell.complete(&rec.words, rec.target_seq),
                None => {
                    // The protocol never leaves an odd slot without its journal record; if
                    // memory was damaged anyway, close the slot and let readers judge the words.
                    log::warn!(
                        "MWI table slot {i} was odd without a journal record; closing it as is"
                    );
                    cell.complete(&cell.writer_words(), seq + 1);
                }
            }
        }
        if cell.writer_seq() != 0 {
            used += 1;
        }
    }
    region.header().meta.used.store(used, Ordering::Relaxed);
    repaired
}

/// Every number in `region`, in slot order, as the writer reads its own slots.
fn region_entries(region: &Region) -> impl Iterator<Item = Entry> + '_ {
    region
        .slots()
        .iter()
        .enumerate()
        .filter_map(|(i, cell)| entry_of(i as u32, own_read(cell)))
}

/// Load `cfg.snapshot` (if any) into a region this process just initialised.
pub(crate) fn load_into_fresh(region: &Region, cfg: &TableConfig) -> Result<(), TableError> {
    let Some(path) = &cfg.snapshot else {
        return Ok(());
    };
    let records = super::load_snapshot(path)?;
    let n = records.len();
    for (number, state) in records {
        if let Err(e) = store(region, &number, state) {
            log::warn!(
                "MWI snapshot {}: {number}: {e}; the rest is skipped",
                path.display()
            );
            break;
        }
    }
    log::info!(
        "MWI table {} created from snapshot {} ({n} numbers)",
        region.path().display(),
        path.display()
    );
    Ok(())
}

impl Writer {
    /// Open the region (creating it if needed, loading the snapshot into a new region) and become
    /// its writer. A half-done write of a killed predecessor is completed from the journal, and
    /// the writer epoch is bumped so every reader rescans.
    ///
    /// Errors: [`TableError::WriterBusy`] if another writer lives; the errors of opening.
    pub fn open(cfg: &TableConfig) -> Result<Self, TableError> {
        let (region, fresh) = Self::take(cfg)?;
        let last = region_entries(&region).map(|e| (e.number, e)).collect();
        let writer = Self {
            region,
            generation: u64::from(!fresh),
            cfg: cfg.clone(),
            last,
            outage: None,
        };
        writer.signal();
        Ok(writer)
    }

    /// Open the region, take the writer lock, finish a fresh region or repair a used one, and
    /// announce the new writer (epoch bump). Also returns whether the region was created.
    fn take(cfg: &TableConfig) -> Result<(Region, bool), TableError> {
        let opened = Region::open(cfg)?;
        let region = opened.region;
        region.lock_writer()?;
        if opened.fresh {
            load_into_fresh(&region, cfg)?;
            region.finish_init()?;
        }
        let repaired = repair(&region);
        if repaired > 0 {
            log::warn!(
                "MWI table {}: completed {repaired} slot write(s) of a killed writer",
                region.path().display()
            );
        }
        let meta = &region.header().meta;
        meta.writer_pid.store(std::process::id(), Ordering::Relaxed);
        meta.writer_epoch.fetch_add(1, Ordering::Release);
        Ok((region, opened.fresh))
    }

    /// Check that the region is still the file at its path, whole, undamaged and ours (call
    /// it on a timer, e.g. once a second, and whenever [`Writer::is_damaged`]). If another
    /// process truncated, removed, replaced or re-initialised it, open (or create) the region
    /// at the path again and publish every number's last state into it, so no lamp is lost;
    /// returns `true` then. Each outage is logged once with its reason (a warning), the first
    /// failed re-open as an error, and the recovery.
    ///
    /// Errors: those of [`Writer::open`] if the region cannot be re-opened (the old mapping
    /// stays; call again later); [`TableError::Full`] if the new region is too small.
    pub fn check(&mut self) -> Result<bool, TableError> {
        let (since, failures) = match self.outage {
            Some(outage) => outage,
            None => {
                let Err(e) = self.region.check() else {
                    return Ok(false);
                };
                log::warn!(
                    "{e}; re-opening it and publishing the last state of every number again"
                );
                (Instant::now(), 0)
            }
        };
        match self.reopen() {
            Ok(()) => {
                self.outage = None;
                log::info!(
                    "MWI table {} re-opened with {} numbers after {} ms",
                    self.region.path().display(),
                    self.last.len(),
                    since.elapsed().as_millis()
                );
                Ok(true)
            }
            Err(e) => {
                if failures == 0 {
                    log::error!("{e}; trying again at each check until it works");
                } else {
                    log::debug!("{e} (re-open attempt {})", failures + 1);
                }
                self.outage = Some((since, failures.saturating_add(1)));
                Err(e)
            }
        }
    }

    /// Whether the SIGBUS handler replaced pages of the region (the file was truncated under
    /// an access): what is written now is lost until [`Writer::check`] re-opens the region.
    /// One atomic load.
    pub fn is_damaged(&self) -> bool {
        self.region.damaged()
    }

    /// Drop every number `keep` refuses (numbers no longer served) and give their slots back
    /// (issue 11: slots of numbers no longer served are reclaimed). Slots are never freed in
    /// place, since readers probe without locks; so the region is made anew at its path,
    /// without the snapshot, holding the kept numbers' last states, and the readers take it as
    /// they take a replaced file, rescanning it ([`crate::Reader::check`]). Returns how many
    /// numbers were dropped; with none the region stays as it is.
    ///
    /// Errors: those of [`Writer::open`] and [`TableError::Full`]; the dropped numbers stay
    /// dropped, and [`Writer::check`] makes the region anew later.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) -> Result<usize, TableError> {
        let before = self.last.len();
        self.last.retain(|n, _| keep(n.as_str()));
        let dropped = before - self.last.len();
        if dropped == 0 {
            return Ok(0);
        }
        self.region.check()?;
        let path = self.region.path().to_path_buf();
        std::fs::remove_file(&path).map_err(|source| TableError::Io {
            path: path.clone(),
            what: "removing it to make it anew without the numbers no longer served".into(),
            source,
        })?;
        let fresh = TableConfig {
            snapshot: None,
            ..self.cfg.clone()
        };
        if let Err(e) = self.reopen_with(&fresh) {
            self.outage = Some((Instant::now(), 1));
            return Err(e);
        }
        log::info!(
            "MWI table {}: {dropped} number(s) no longer served dropped, {} kept",
            path.display(),
            self.last.len()
        );
        Ok(dropped)
    }

    /// Open the region at the path again, become its writer and publish every number's last
    /// state into it.
    fn reopen(&mut self) -> Result<(), TableError> {
        let cfg = self.cfg.clone();
        self.reopen_with(&cfg)
    }

    /// [`Writer::reopen`] with `cfg` (the writer's own, or one without the snapshot).
    fn reopen_with(&mut self, cfg: &TableConfig) -> Result<(), TableError> {
        // The OFD writer lock of the old file description would block a re-open of the same
        // (truncated) file: release it first. Until the re-open succeeds the old mapping stays.
        self.region.unlock_writer()?;
        self.region = Self::take(cfg)?.0;
        let last: Vec<Entry> = self.last.values().copied().collect();
        for e in last {
            let p = store(&self.region, &e.number, e.state)?;
            self.remember(e.number, e.state, p);
            if p.changed {
                self.announce(p);
            }
        }
        self.signal();
        Ok(())
    }

    fn remember(&mut self, number: Number, state: MwiState, p: Published) {
        self.last.insert(
            number,
            Entry {
                slot: p.slot,
                version: p.version,
                number,
                state,
            },
        );
    }

    fn signal(&self) {
        let wake = &self.region.header().wake.0;
        if wake_signal(&wake.seq, &wake.sleepers) {
            self.region.futex_wake();
            // A reader woken here is usually queued on this CPU (a wakee goes to its waker's
            // CPU): let it run now rather than after the rest of this process's work.
            std::thread::yield_now();
        }
    }

    /// Make `state` the state of `number`, announce it on the ring and wake sleeping readers.
    /// Writing the state a number already has changes nothing.
    ///
    /// Errors: [`TableError::BadNumber`], [`TableError::Full`], [`TableError::Corrupt`].
    pub fn publish(&mut self, number: &str, state: MwiState) -> Result<Published, TableError> {
        let number = Number::new(number)?;
        let p = store(&self.region, &number, state)?;
        if p.changed {
            self.remember(number, state, p);
            self.announce(p);
            self.signal();
        }
        Ok(p)
    }

    /// Push the notice of a changed slot on the ring.
    fn announce(&mut self, p: Published) {
        let h = self.region.header();
        ring_push(
            &h.head.0,
            self.region.ring(),
            Notice {
                slot: p.slot,
                version: p.version as u32,
            },
        );
        self.generation += 1;
    }

    /// The current state of `number`, if it has one (from the writer's memory, which a
    /// damaged region cannot change).
    pub fn get(&self, number: &str) -> Option<MwiState> {
        let number = Number::new(number).ok()?;
        self.last.get(&number).map(|e| e.state)
    }

    /// Slots of the region: the most numbers it holds.
    pub fn capacity(&self) -> usize {
        self.region.geometry().capacity as usize
    }

    /// Slots not yet taken by a number ([`Writer::capacity`] minus [`Writer::len`]).
    pub fn free(&self) -> usize {
        self.capacity().saturating_sub(self.len())
    }

    /// Every number in the table, in slot order, as this writer published it: from its
    /// memory, not the region, so a copy (the snapshot) taken while another process truncated
    /// the region is still whole.
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        let mut all: Vec<Entry> = self.last.values().copied().collect();
        all.sort_unstable_by_key(|e| e.slot);
        all.into_iter()
    }

    /// Changes made through this handle (plus one if the region existed before it, whose
    /// contents may be newer than the last snapshot); the [`super::Snapshotter`] compares it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The region's numbers in use.
    pub fn len(&self) -> usize {
        self.region.header().meta.used.load(Ordering::Relaxed) as usize
    }

    /// `true` if no number has a state yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl MwiSink for Writer {
    type Error = TableError;

    fn publish(&mut self, number: &str, state: MwiState) -> Result<(), TableError> {
        Writer::publish(self, number, state).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reader;

    fn cfg(dir: &tempfile::TempDir) -> TableConfig {
        TableConfig {
            path: dir.path().join("t.table"),
            capacity: 64,
            ring_capacity: 16,
            group: None,
            snapshot: None,
        }
    }

    /// A writer "killed" after journaling and half-writing a slot (simulated by doing the first
    /// half of `store` by hand and dropping the handle): readers report the slot busy without
    /// hanging and keep the old value; the next writer completes the write.
    #[test]
    fn restarted_writer_completes_a_torn_slot() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = cfg(&dir);
        let mut w = Writer::open(&cfg).unwrap();
        let old = MwiState::voice(true, 1, 0);
        let p = w.publish("8000", old).unwrap();
        let mut r = Reader::open(&cfg).unwrap();
        let mut out = Vec::new();
        r.poll(&mut out);
        assert_eq!(out.len(), 1);

        let new = MwiState::voice(true, 2, 5);
        let cell = &w.region.slots()[p.slot as usize];
        let words = encode(&Number::new("8000").unwrap(), &new);
        let target_seq = cell.writer_seq() + 2;
        w.region.header().journal.record(&JournalRecord {
            slot: u64::from(p.slot),
            target_seq,
            words,
        });
        // First half of `SlotCell::write`: odd sequence, some words stored.
        let mut torn = cell.writer_words();
        torn[4] = words[4];
        cell.complete(&torn, target_seq - 1);
        drop(w);

        assert_eq!(
            r.lookup("8000").unwrap_err().to_string(),
            TableError::Busy.to_string()
        );
        let s = r.poll(&mut out);
        assert_eq!(
            (out.len(), s.busy),
            (0, 0),
            "no notice was pushed for the torn write"
        );

        let w2 = Writer::open(&cfg).unwrap();
        assert_eq!(w2.get("8000"), Some(new));
        assert!(r.wait(
            std::time::Duration::ZERO,
            Some(std::time::Duration::from_secs(1))
        ));
        let s = r.poll(&mut out);
        assert!(s.rescanned);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].state, out[0].version), (new, p.version + 1));
    }

    #[test]
    fn a_stale_journal_record_leaves_stable_slots_alone() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = cfg(&dir);
        let mut w = Writer::open(&cfg).unwrap();
        let st = MwiState::voice(true, 3, 0);
        w.publish("8000", st).unwrap();
        // A record whose slot write finished (or never started) must not be replayed.
        let j = &w.region.header().journal;
        let rec = j.last().unwrap();
        j.record(&JournalRecord {
            slot: 99,
            target_seq: 1,
            words: rec.words,
        });
        drop(w);
        let w2 = Writer::open(&cfg).unwrap();
        assert_eq!(w2.get("8000"), Some(st));
        assert_eq!(w2.len(), 1);
    }

    #[test]
    fn capacity_and_numbers_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TableConfig {
            capacity: 3,
            ..cfg(&dir)
        };
        let mut w = Writer::open(&cfg).unwrap();
        assert_eq!((w.capacity(), w.free()), (3, 3));
        for n in ["1", "2", "3"] {
            assert!(w.publish(n, MwiState::voice(true, 1, 0)).unwrap().changed);
        }
        assert_eq!(w.free(), 0);
        let e = w.publish("4", MwiState::default()).unwrap_err();
        assert!(matches!(e, TableError::Full { capacity: 3 }), "{e}");
        // Known numbers still update; the same state again changes nothing.
        let p = w.publish("2", MwiState::voice(false, 0, 1)).unwrap();
        assert_eq!((p.changed, p.version), (true, 2));
        assert!(
            !w.publish("2", MwiState::voice(false, 0, 1))
                .unwrap()
                .changed
        );
        assert!(matches!(
            w.publish("80x", MwiState::default()),
            Err(TableError::BadNumber(_))
        ));
        assert_eq!((w.len(), w.entries().count()), (3, 3));
    }

    #[test]
    fn only_one_writer() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = cfg(&dir);
        let _w = Writer::open(&cfg).unwrap();
        let e = Writer::open(&cfg).err().unwrap();
        assert!(
            matches!(e, TableError::WriterBusy { pid, .. } if pid == std::process::id()),
            "{e}"
        );
    }
}
