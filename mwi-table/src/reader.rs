//! The reader (chand; any number of them).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::protocol::{ring_read, wake_register, wake_unregister, Notice, RingRead, SlotRead};
use super::region::Region;
use super::writer::load_into_fresh;
use super::{entry_of, probe, Entry, Number, Probe, TableConfig, TableError, READ_ATTEMPTS};

/// A reader of the table. It keeps the version of every slot it has delivered, so that
/// [`Reader::poll`] hands out each change once, whether it learnt of it from the ring or from a
/// rescan.
pub struct Reader {
    region: Arc<Region>,
    tail: u64,
    epoch: u32,
    /// Next slot of a rescan in progress.
    rescan: Option<usize>,
    delivered: Vec<u64>,
    busy: VecDeque<u32>,
    /// `queued[slot]`: the slot is in `busy`.
    queued: Vec<bool>,
    notices: Vec<Notice>,
}

/// Slot reads one [`Reader::poll`] spends on rescanning and on retrying busy slots; the rest
/// waits for the next poll. Together with [`SPIN_BUDGET`] it bounds a poll's cost (about
/// 0.1 ms in a release build) even when a hostile writer keeps every slot mid-write.
pub const SCAN_BUDGET: usize = 4096;

/// Extra read attempts one [`Reader::poll`] spends, over all slots, waiting out writes in
/// progress; once spent, a slot found mid-write is queued as busy after a single attempt.
pub const SPIN_BUDGET: u32 = 1024;

/// Longest futex sleep of the [`Notifier`] thread between looks at its stop flag: a wake-up
/// cannot reach it once the region's file was truncated (the futex is keyed by the file's
/// page, which is gone), so it must notice a stop by itself.
pub const NOTIFIER_SLEEP: Duration = Duration::from_secs(1);

/// What one [`Reader::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollSummary {
    /// Entries appended to the output.
    pub delivered: usize,
    /// A read of the whole table (first poll, ring overflow, or a writer restart) finished
    /// in this poll; a rescan larger than [`SCAN_BUDGET`] slots spans several polls, with
    /// [`Reader::has_news`] `true` in between.
    pub rescanned: bool,
    /// The ring had overflowed (a cause of `rescanned`).
    pub overflowed: bool,
    /// Slots that stayed mid-write (their writer died); poll again later, e.g. in 10 ms.
    pub busy: usize,
}

impl Reader {
    /// Open the region (creating it if needed, loading the snapshot into a new region).
    /// The first [`Reader::poll`] delivers every number (the restart rebuild).
    ///
    /// Errors: those of opening the region ([`TableError::LayoutMismatch`], I/O, ...).
    pub fn open(cfg: &TableConfig) -> Result<Self, TableError> {
        let opened = Region::open(cfg)?;
        let region = opened.region;
        if opened.fresh {
            load_into_fresh(&region, cfg)?;
            region.finish_init()?;
        }
        let h = region.header();
        let tail = h.head.0.load(Ordering::Acquire);
        let epoch = h.meta.writer_epoch.load(Ordering::Acquire);
        let slots = region.geometry().slot_count as usize;
        Ok(Self {
            region: Arc::new(region),
            tail,
            epoch,
            rescan: Some(0),
            delivered: vec![0; slots],
            busy: VecDeque::new(),
            queued: vec![false; slots],
            notices: Vec::new(),
        })
    }

    /// Every number in the table now, in slot order (slots mid-write are left out; see
    /// [`Reader::poll`] for the complete, change-tracking view).
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.region
            .slots()
            .iter()
            .enumerate()
            .filter_map(|(i, cell)| entry_of(i as u32, cell.read(READ_ATTEMPTS)))
    }

    /// The entry of `number`, `None` if it has none.
    ///
    /// Errors: [`TableError::BadNumber`]; [`TableError::Busy`] if a slot on its probe chain is
    /// mid-write and stays so (its writer died).
    pub fn lookup(&self, number: &str) -> Result<Option<Entry>, TableError> {
        let number = Number::new(number)?;
        match probe(self.region.slots(), &number, |c| c.read(READ_ATTEMPTS)) {
            Probe::Found(e) => Ok(Some(e)),
            Probe::Vacant(_) => Ok(None),
            Probe::Busy => Err(TableError::Busy),
        }
    }

    /// `true` if [`Reader::poll`] has something to look at (cheap: two loads).
    pub fn has_news(&self) -> bool {
        let h = self.region.header();
        self.rescan.is_some()
            || h.head.0.load(Ordering::Acquire) != self.tail
            || h.meta.writer_epoch.load(Ordering::Acquire) != self.epoch
    }

    /// Whether the region is still the file at its path, whole; see [`Writer::check`]. Call
    /// it before polling after a pause (e.g. each loop turn): pages of a truncated file fault
    /// when touched.
    ///
    /// Errors: [`TableError::Replaced`]: open a new [`Reader`] (its first poll rescans).
    ///
    /// [`Writer::check`]: super::Writer::check
    pub fn check(&self) -> Result<(), TableError> {
        self.region.check()
    }

    /// [`Reader::check`] without the look-up of the path (one fstat, no stat): what guards
    /// a poll, cheap enough for every read. A removed or replaced file leaves the mapping
    /// readable, so [`Reader::check`] may find that at its own pace (e.g. once a second).
    ///
    /// Errors: [`TableError::Replaced`]: open a new [`Reader`] (its first poll rescans).
    pub fn check_mapped(&self) -> Result<(), TableError> {
        self.region.check_mapped().map(drop)
    }

    /// Whether the SIGBUS handler replaced pages of the region (the file was truncated under
    /// an access): it reads as empty now, so [`Reader::check`] fails; open a new [`Reader`].
    /// One atomic load.
    pub fn is_damaged(&self) -> bool {
        self.region.damaged()
    }

    /// Append the entries that changed since the last poll to `out` (cleared first), at most
    /// one per slot, each with its latest state. Never blocks, and costs at most
    /// [`SCAN_BUDGET`] slot reads beyond the ring's notices and [`SPIN_BUDGET`] retries: a
    /// rescan or a long busy list carries on at the next poll.
    ///
    /// A rescan reads slots one after another, so it can see a later write to one slot and miss
    /// an earlier write to another; the ring announces that write, so a consumer that needs
    /// everything up to some change polls until [`Reader::has_news`] is `false`.
    pub fn poll(&mut self, out: &mut Vec<Entry>) -> PollSummary {
        out.clear();
        let mut summary = PollSummary::default();
        let h = self.region.header();
        let epoch = h.meta.writer_epoch.load(Ordering::Acquire);
        if epoch != self.epoch {
            // A (re)started writer may have completed slots without notices.
            self.epoch = epoch;
            self.rescan = Some(0);
        }
        match ring_read(&h.head.0, self.region.ring(), self.tail, &mut self.notices) {
            RingRead::Notices { next } => self.tail = next,
            RingRead::Overflow { next } => {
                self.tail = next;
                self.rescan = Some(0);
                summary.overflowed = true;
            }
        }
        let mut spin = SPIN_BUDGET;
        let mut budget = SCAN_BUDGET;
        if self.rescan == Some(0) {
            // The rescan reads every slot, busy ones included.
            self.busy.clear();
            self.queued.fill(false);
        }
        // `deliver` skips versions already delivered, so repeats cost one slot read.
        for i in 0..self.notices.len() {
            let n = self.notices[i];
            if (n.slot as usize) < self.delivered.len()
                && n.version != self.delivered[n.slot as usize] as u32
            {
                self.deliver(n.slot, out, &mut spin);
            }
        }
        let retries = self.busy.len().min(budget);
        for _ in 0..retries {
            if let Some(slot) = self.busy.pop_front() {
                self.queued[slot as usize] = false;
                self.deliver(slot, out, &mut spin);
            }
        }
        budget -= retries;
        if let Some(start) = self.rescan {
            let end = (start + budget).min(self.delivered.len());
            for i in start..end {
                self.deliver(i as u32, out, &mut spin);
            }
            if end == self.delivered.len() {
                self.rescan = None;
                summary.rescanned = true;
            } else {
                self.rescan = Some(end);
            }
        }
        summary.delivered = out.len();
        summary.busy = self.busy.len();
        summary
    }

    /// Read `slot` and deliver it if its version is new; a slot mid-write is retried while
    /// `spin` lasts, then queued as busy (once).
    fn deliver(&mut self, slot: u32, out: &mut Vec<Entry>, spin: &mut u32) {
        let cell = &self.region.slots()[slot as usize];
        let mut read = cell.try_read();
        if read == SlotRead::Busy && *spin > 0 {
            let attempts = READ_ATTEMPTS.min(*spin);
            *spin -= attempts;
            read = cell.read(attempts);
        }
        match read {
            SlotRead::Busy => {
                if !self.queued[slot as usize] {
                    self.queued[slot as usize] = true;
                    self.busy.push_back(slot);
                }
            }
            SlotRead::Empty => {}
            SlotRead::Stable { seq, .. } => {
                let version = seq / 2;
                if version > self.delivered[slot as usize] {
                    if let Some(e) = entry_of(slot, read) {
                        self.delivered[slot as usize] = version;
                        out.push(e);
                    }
                }
            }
        }
    }

    /// Wait until [`Reader::has_news`], spinning at most `spin` first (hand-off in well under a
    /// microsecond while changes keep coming), then sleeping on the futex until `timeout`
    /// (`None`: no limit). Returns `has_news()`.
    pub fn wait(&self, spin: Duration, timeout: Option<Duration>) -> bool {
        let start = Instant::now();
        let mut spins = 0u32;
        while !self.has_news() {
            spins = spins.wrapping_add(1);
            // Reading the clock costs more than a poll of the ring; do it now and then.
            if spins % 64 == 0 && start.elapsed() >= spin {
                return self.sleep(start, timeout);
            }
            std::hint::spin_loop();
        }
        true
    }

    fn sleep(&self, start: Instant, timeout: Option<Duration>) -> bool {
        let wake = &self.region.header().wake.0;
        let deadline = timeout.map(|t| start + t);
        loop {
            let v = wake_register(&wake.seq, &wake.sleepers);
            if self.has_news() {
                wake_unregister(&wake.sleepers);
                return true;
            }
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining == Some(Duration::ZERO) {
                wake_unregister(&wake.sleepers);
                return false;
            }
            self.region.futex_wait(v, remaining);
            wake_unregister(&wake.sleepers);
            if self.has_news() {
                return true;
            }
        }
    }

    /// Start a thread that calls `wake` once after each change of the table (several changes
    /// may share one call), for an event loop that cannot sleep on the futex itself: pass
    /// `move || waker.wake()` with a `mio::Waker`, and [`Reader::poll`] on its token. The
    /// thread spins at most `spin` after each call before sleeping on the futex. Stopped and
    /// joined when the [`Notifier`] is dropped (left to end by itself within
    /// [`NOTIFIER_SLEEP`] if the region is damaged). Changes made before the thread started
    /// are not announced: poll once after spawning it.
    ///
    /// Errors: the thread could not be spawned.
    pub fn spawn_notifier<F>(&self, spin: Duration, wake: F) -> std::io::Result<Notifier>
    where
        F: Fn() + Send + 'static,
    {
        let region = Arc::clone(&self.region);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("mwi-table-notifier".into())
            .spawn(move || notifier_loop(&region, &thread_stop, spin, wake))?;
        Ok(Notifier {
            region: Arc::clone(&self.region),
            stop,
            thread: Some(thread),
        })
    }
}

fn notifier_loop(region: &Region, stop: &AtomicBool, spin: Duration, wake: impl Fn()) {
    let w = &region.header().wake.0;
    let mut seen = w.seq.load(Ordering::SeqCst);
    let mut last_wake = Instant::now();
    while !stop.load(Ordering::Acquire) {
        let v = if last_wake.elapsed() < spin {
            std::hint::spin_loop();
            w.seq.load(Ordering::SeqCst)
        } else {
            let v = wake_register(&w.seq, &w.sleepers);
            if v == seen && !stop.load(Ordering::Acquire) {
                region.futex_wait(v, Some(NOTIFIER_SLEEP));
            }
            wake_unregister(&w.sleepers);
            w.seq.load(Ordering::SeqCst)
        };
        if v != seen {
            seen = v;
            wake();
            // The loop just woken is queued on this CPU more often than not (a wakee goes to
            // its waker's CPU): let it run before the spin, which would hold it off throughout.
            std::thread::yield_now();
            last_wake = Instant::now();
        }
    }
}

/// The thread started by [`Reader::spawn_notifier`]; dropping it stops and joins the thread.
pub struct Notifier {
    region: Arc<Region>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let w = &self.region.header().wake.0;
        // Bump the word so a notifier about to sleep sees a change, and wake it if asleep.
        w.seq.fetch_add(1, Ordering::SeqCst);
        self.region.futex_wake();
        if self.region.damaged() {
            // The wake-up cannot reach a thread asleep on the vanished page; joining would
            // hold the caller's loop for up to NOTIFIER_SLEEP. The thread sees `stop` then.
            return;
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::warn!("MWI table notifier thread panicked");
            }
        }
    }
}
