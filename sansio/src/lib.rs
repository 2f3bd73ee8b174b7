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
//! - Timers live in one [`Timers`] table per core. A timeout that comes early, late or twice
//!   is harmless: [`Timers::pop_due`] hands out only what is due, once.
//!
//! This is the shape of quinn-proto's `Connection` and str0m's `Rtc`; ARCHITECTURE.md says why.
#![forbid(unsafe_code)]

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
/// id). Few timers per core, so a small vector beats a heap.
#[derive(Clone, Debug)]
pub struct Timers<K> {
    entries: Vec<(K, Instant)>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<K: Copy + Eq> Timers<K> {
    /// No timer running.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts (or restarts) timer `key` to expire at `at`.
    pub fn set(&mut self, key: K, at: Instant) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = at,
            None => self.entries.push((key, at)),
        }
    }

    /// Stops timer `key`; stopping a timer that does not run is a no-op.
    pub fn cancel(&mut self, key: K) {
        self.entries.retain(|(k, _)| *k != key);
    }

    /// When timer `key` expires, if it runs.
    pub fn get(&self, key: K) -> Option<Instant> {
        self.entries.iter().find(|(k, _)| *k == key).map(|e| e.1)
    }

    /// Whether timer `key` runs.
    pub fn is_running(&self, key: K) -> bool {
        self.get(key).is_some()
    }

    /// The earliest deadline of all running timers.
    pub fn next(&self) -> Option<Instant> {
        self.entries.iter().map(|e| e.1).min()
    }

    /// Removes and returns the timer whose deadline is earliest among those due at `now`;
    /// `None` when none is due. Call it in a loop from `handle_timeout`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let (i, _) = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.1 <= now)
            .min_by_key(|(_, e)| e.1)?;
        Some(self.entries.swap_remove(i).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
