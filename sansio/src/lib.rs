//! The one contract every protocol core of dahdi-mwi follows (Q.921 LAPD, the Q.931 span, SIP
//! transactions, subscriptions and registration, the FXS line, the DTMF receiver, the media
//! streams): no I/O inside, time passed in first, everything that leaves a core polled out.
//!
//! - Time is [`Instant`], passed as the first argument of every `handle_*` call and of
//!   [`Core::handle_timeout`]; a core never reads a clock.
//! - Input: `handle_*(now, input)` methods of the core's own (a frame, a message, audio).
//! - Output: [`Core::poll_transmit`] (bytes or frames to send), [`Core::poll_event`] (what the
//!   daemon must apply: an MWI change, a digit, a call state), [`Core::poll_timeout`] (when to
//!   call [`Core::handle_timeout`] next). The event loop drains the polls after every input.
//! - Timers live in one [`Timers`] table per core (keys: an enum of the core's timers, or ids).
//!   A timeout that comes early, late or twice is harmless: [`Timers::pop_due`] hands out only
//!   what is due, once.
//!
//! This is the shape of quinn-proto's `Connection` and str0m's `Rtc`; ARCHITECTURE.md says why.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};

pub use std::time::{Duration, Instant};

/// The polling half of the contract, shared by every core so the daemons drive them alike.
/// Each core adds its own `handle_*(now, input)` methods.
pub trait Core {
    /// What the core asks to send (a frame, a datagram with its destination).
    type Transmit;
    /// What the core reports to its owner.
    type Event;

    /// Runs every timer due at `now`; a call with nothing due changes nothing.
    fn handle_timeout(&mut self, now: Instant);
    /// The next thing to send, oldest first.
    fn poll_transmit(&mut self) -> Option<Self::Transmit>;
    /// The next event, oldest first.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// When [`Core::handle_timeout`] must run next; `None` while no timer runs.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// A core's timers: at most one deadline per key (e.g. an enum `T200`, `T203`, or a transaction
/// or subscription id). Cores may run thousands (one backoff per number, one per transaction),
/// so deadlines are kept ordered: every operation is O(log n).
#[derive(Clone, Debug)]
pub struct Timers<K> {
    by_key: BTreeMap<K, Instant>,
    by_deadline: BTreeSet<(Instant, K)>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Self {
            by_key: BTreeMap::new(),
            by_deadline: BTreeSet::new(),
        }
    }
}

impl<K: Copy + Ord> Timers<K> {
    /// No timer running.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts (or restarts) timer `key` to expire at `at`.
    pub fn set(&mut self, key: K, at: Instant) {
        if let Some(old) = self.by_key.insert(key, at) {
            self.by_deadline.remove(&(old, key));
        }
        self.by_deadline.insert((at, key));
    }

    /// Stops timer `key`; stopping a timer that does not run is a no-op.
    pub fn cancel(&mut self, key: K) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_deadline.remove(&(old, key));
        }
    }

    /// When timer `key` expires, if it runs.
    pub fn get(&self, key: K) -> Option<Instant> {
        self.by_key.get(&key).copied()
    }

    /// Whether timer `key` runs.
    pub fn is_running(&self, key: K) -> bool {
        self.by_key.contains_key(&key)
    }

    /// The earliest deadline of all running timers.
    pub fn next(&self) -> Option<Instant> {
        self.by_deadline.first().map(|e| e.0)
    }

    /// Removes and returns the timer whose deadline is earliest among those due at `now`
    /// (ties in key order); `None` when none is due. Call it in a loop from `handle_timeout`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &(at, key) = self.by_deadline.first()?;
        if at > now {
            return None;
        }
        self.by_deadline.remove(&(at, key));
        self.by_key.remove(&key);
        Some(key)
    }

    /// How many timers run.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no timer runs.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum T {
        A,
        B,
        C,
    }

    #[test]
    fn due_timers_come_out_once_in_deadline_order() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = Timers::new();
        t.set(T::A, ms(30));
        t.set(T::B, ms(10));
        t.set(T::C, ms(20));
        t.set(T::A, ms(5)); // restart replaces
        assert_eq!(t.next(), Some(ms(5)));
        assert_eq!(t.pop_due(ms(4)), None); // early: nothing
        assert_eq!(t.pop_due(ms(25)), Some(T::A));
        assert_eq!(t.pop_due(ms(25)), Some(T::B));
        assert_eq!(t.pop_due(ms(25)), Some(T::C));
        assert_eq!(t.pop_due(ms(25)), None); // twice: nothing
        assert_eq!(t.next(), None);
    }

    #[test]
    fn many_timers_stay_ordered() {
        let t0 = Instant::now();
        let at = |k: u32| t0 + Duration::from_millis(u64::from((k * 7919) % 10_000));
        let mut t = Timers::new();
        for k in 0..10_000u32 {
            t.set(k, at(k));
        }
        for k in (0..10_000u32).step_by(2) {
            t.cancel(k);
        }
        assert_eq!(t.len(), 5_000);
        let mut last = t0;
        let mut n = 0;
        while let Some(k) = t.pop_due(t0 + Duration::from_secs(10)) {
            assert_eq!(k % 2, 1);
            assert!(at(k) >= last, "deadline order");
            last = at(k);
            n += 1;
        }
        assert_eq!(n, 5_000);
        assert!(t.is_empty());
    }

    #[test]
    fn cancel_and_query() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        t.set(T::A, t0);
        assert!(t.is_running(T::A));
        t.cancel(T::A);
        t.cancel(T::B);
        assert!(!t.is_running(T::A));
        assert_eq!(t.pop_due(t0 + Duration::from_secs(1)), None);
    }
}
