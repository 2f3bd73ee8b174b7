//! The nonces sipd issues when it challenges an inbound request (RFC 3261 §22.4, RFC 7616
//! §3.3), sans-IO: each is fresh for a lifetime, its nonce count must grow (a replayed answer
//! fails), and the book holds a bounded number of them (the oldest is forgotten first).

use std::collections::{HashMap, VecDeque};

/// How long an issued nonce is accepted, ms.
pub const LIFETIME: u64 = 300_000;
/// Most nonces remembered at once.
pub const CAPACITY: usize = 1024;

/// What an answered nonce is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Issued, fresh, and the nonce count is new: accept.
    Fresh,
    /// Not issued by this book, forgotten or expired: challenge again with `stale=true`.
    Stale,
    /// The nonce count was already used with this nonce: a replay.
    Replay,
}

/// The book of issued nonces.
#[derive(Debug, Default)]
pub struct Nonces {
    /// Nonce → (issued at, highest nonce count used).
    issued: HashMap<String, (u64, u32)>,
    /// Issue order, oldest first.
    order: VecDeque<String>,
}

impl Nonces {
    /// Remember `nonce`, issued at `now` (ms); the oldest goes past [`CAPACITY`].
    pub fn issue(&mut self, now: u64, nonce: String) {
        while self.order.len() >= CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.issued.remove(&old);
            }
        }
        self.issued.insert(nonce.clone(), (now, 0));
        self.order.push_back(nonce);
    }

    /// Use `nonce` with nonce count `nc` (from a verified answer) at `now`.
    pub fn take(&mut self, now: u64, nonce: &str, nc: u32) -> Use {
        match self.issued.get_mut(nonce) {
            Some((at, _)) if now >= at.saturating_add(LIFETIME) => Use::Stale,
            Some((_, used)) if nc > *used => {
                *used = nc;
                Use::Fresh
            }
            Some(_) => Use::Replay,
            None => Use::Stale,
        }
    }

    /// Nonces remembered (never more than [`CAPACITY`]).
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_once_per_count_then_stale_and_bounded() {
        let mut n = Nonces::default();
        n.issue(0, "a".into());
        assert_eq!(n.take(1, "a", 1), Use::Fresh);
        assert_eq!(n.take(2, "a", 1), Use::Replay);
        assert_eq!(n.take(3, "a", 2), Use::Fresh);
        assert_eq!(n.take(LIFETIME, "a", 3), Use::Stale);
        assert_eq!(n.take(4, "never", 1), Use::Stale);
        for i in 0..CAPACITY + 10 {
            n.issue(10, format!("x{i}"));
        }
        assert_eq!(n.len(), CAPACITY);
        assert_eq!(n.take(11, "x0", 1), Use::Stale, "the oldest was forgotten");
        assert_eq!(n.take(11, &format!("x{}", CAPACITY + 9), 1), Use::Fresh);
    }
}
