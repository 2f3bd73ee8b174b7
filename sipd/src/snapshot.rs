//! Snapshots of the shared MWI table written on a helper thread, so a save (write, fsync,
//! rename, fsync of the directory) never blocks the SIP receive path.
//!
//! The loop hands over a copy of the entries at most once per [`EVERY`]; the channel holds one
//! copy, so a slow disk coalesces changes instead of queueing them. The thread owns a
//! [`Snapshotter`], which retries a failed save with back-off and logs once per failure
//! episode; its [`SnapshotHealth`] is shared back for `sipd status`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use mwi_core::table::{Entry, SnapshotHealth, Snapshotter, Writer};
use serde::{Deserialize, Serialize};

/// Least time between two hand-overs of the table to the writer thread.
pub const EVERY: Duration = Duration::from_secs(5);

/// One copy of the table: its generation ([`Writer::generation`]) and entries.
type Job = (u64, Vec<Entry>);

/// The snapshot as `sipd status` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotStatus {
    /// Snapshots written since sipd started.
    pub saves: u64,
    /// Failed saves since sipd started.
    pub failures: u64,
    /// Why saves fail now (e.g. "No space left on device"), `None` while they succeed.
    pub failing: Option<String>,
    /// Seconds since saves started failing.
    pub failing_for_s: Option<u64>,
}

/// The writer thread and the loop's side of the hand-over.
pub struct SnapshotWorker {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    health: Arc<Mutex<SnapshotHealth>>,
    handed_generation: u64,
    last_handed: Option<Instant>,
}

impl SnapshotWorker {
    /// Starts the thread that saves to `path`.
    ///
    /// Errors: the thread could not be started.
    pub fn start(path: PathBuf) -> Result<Self, String> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let health = Arc::new(Mutex::new(SnapshotHealth::default()));
        let shared = Arc::clone(&health);
        // The loop already spaces hand-overs by EVERY: the thread saves what it gets at once.
        let snapshotter = Snapshotter::new(path, Duration::ZERO);
        let thread = std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || work(snapshotter, &rx, &shared))
            .map_err(|e| format!("snapshot thread: {e}"))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            health,
            handed_generation: 0,
            last_handed: None,
        })
    }

    /// When the next hand-over is due, `None` while the snapshot is current.
    pub fn deadline(&self, now: Instant, writer: &Writer) -> Option<Instant> {
        (writer.generation() != self.handed_generation)
            .then(|| self.last_handed.map_or(now, |t| (t + EVERY).max(now)))
    }

    /// Hands a copy of the table to the writer thread if due. A busy writer keeps the copy it
    /// has; this one is tried again after [`EVERY`].
    pub fn poll(&mut self, now: Instant, writer: &Writer) {
        if !self.deadline(now, writer).is_some_and(|d| d <= now) {
            return;
        }
        let Some(tx) = &self.tx else { return };
        let generation = writer.generation();
        self.last_handed = Some(now);
        match tx.try_send((generation, writer.entries().collect())) {
            Ok(()) => self.handed_generation = generation,
            Err(TrySendError::Full(_)) => log::debug!("MWI snapshot writer busy; later"),
            Err(TrySendError::Disconnected(_)) => log::warn!("MWI snapshot writer is gone"),
        }
    }

    /// How the saves are doing.
    pub fn status(&self, now: Instant) -> SnapshotStatus {
        let h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        SnapshotStatus {
            saves: h.saves,
            failures: h.failures,
            failing: h.failing.clone(),
            failing_for_s: h
                .failing_since
                .map(|t| now.saturating_duration_since(t).as_secs()),
        }
    }

    /// At shutdown: hands over the last changes and waits for the writer to finish.
    pub fn finish(&mut self, writer: &Writer) {
        if let Some(tx) = self.tx.take() {
            if writer.generation() != self.handed_generation {
                let job = (writer.generation(), writer.entries().collect());
                let _ = tx.send_timeout(job, Duration::from_secs(5));
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The writer thread: saves the newest copy it was given; while saves fail, waits for the
/// [`Snapshotter`]'s back-off (or a newer copy) before trying again.
fn work(mut snap: Snapshotter, rx: &Receiver<Job>, health: &Mutex<SnapshotHealth>) {
    let mut job: Option<Job> = None;
    loop {
        let now = Instant::now();
        let due = job.as_ref().and_then(|(g, _)| snap.deadline_for(now, *g));
        let next = match due {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => rx.recv_timeout(d.saturating_duration_since(now)),
        };
        match next {
            Ok(j) => job = Some(j),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // The daemon stopped: one last try of what is pending, back-off or not.
                if let Some((g, entries)) = job.take() {
                    let _ = snap.save_entries(Instant::now(), g, entries.into_iter());
                }
                return;
            }
        }
        while let Ok(j) = rx.try_recv() {
            job = Some(j);
        }
        let now = Instant::now();
        if let Some((g, entries)) = &job {
            if snap.deadline_for(now, *g).is_some_and(|d| d <= now)
                && snap.save_entries(now, *g, entries.iter().copied()).is_ok()
            {
                job = None;
            }
        }
        *health.lock().unwrap_or_else(|e| e.into_inner()) = snap.health().clone();
    }
}
