//! One client dialog usage (a subscription or the registration binding, RFC 6665 §4.1) and its
//! pacing: backoff after failures, refresh times, Retry-After, Min-Expires, and the cap on
//! requests per window.

use super::Ua;
use crate::digest::Challenge;
use crate::wire::{self, Message};
use mwi_config::EXPIRES_RANGE;
use std::collections::VecDeque;

/// What the last request of a usage answered: the input of the `rspauth` its 2xx may carry.
#[derive(Clone, Debug)]
pub(super) struct Sent {
    pub(super) nc: u32,
    pub(super) cnonce: String,
    pub(super) uri: String,
}

/// Authentication progress of one client request sequence (a subscription or the registration).
#[derive(Clone, Debug, Default)]
pub(super) struct AuthState {
    /// The last challenge and whether it came in Proxy-Authenticate.
    pub(super) challenge: Option<(Challenge, bool)>,
    /// Nonce count already used with the challenge's nonce.
    pub(super) nc: u32,
    /// The last request carried an answer to `challenge` and was challenged again.
    pub(super) failed: bool,
    /// The answer the last request carried, if any.
    pub(super) sent: Option<Sent>,
}

/// Requests of one usage sent at once after a 401/407/423, in a row, before the next one
/// waits for the backoff: a server that challenges forever (`stale=true` with a new nonce each
/// time) or raises Min-Expires forever cannot make a tight loop.
pub(super) const MAX_IMMEDIATE_RETRIES: u32 = 3;

/// Most requests of one usage (new transactions, not retransmissions) in [`SEND_WINDOW`].
const MAX_SENDS: usize = 6;

/// The window of [`MAX_SENDS`], ms.
const SEND_WINDOW: u64 = 60_000;

/// Retry-After values are honoured within this range, s (RFC 3261 §20.33 sets no bound).
const RETRY_AFTER: std::ops::RangeInclusive<u64> = 1..=3600;

/// One client dialog usage: a subscription or the registration binding.
#[derive(Clone, Debug)]
pub(super) struct Usage {
    pub(super) call_id: String,
    pub(super) from_tag: String,
    pub(super) to_tag: Option<String>,
    pub(super) cseq: u32,
    pub(super) remote_target: Option<String>,
    /// Route set of the dialog (RFC 3261 §12.1.2), loose routes in sending order.
    pub(super) route_set: Vec<String>,
    pub(super) auth: AuthState,
    pub(super) failures: u32,
    /// Requested expiry for the next request, s (raised by 423 Min-Expires).
    pub(super) expires: u32,
    /// When the current subscription/binding ends.
    pub(super) expires_at: Option<u64>,
    /// The CSeq of the last request accepted from the remote side (RFC 3261 §12.2.2).
    pub(super) remote_cseq: Option<u32>,
    /// Requests sent at once after a 401/407/423 since the last final answer.
    pub(super) retries: u32,
    /// Times of the last [`MAX_SENDS`] requests, oldest first (kept across new dialogs).
    pub(super) sends: VecDeque<u64>,
}

impl Usage {
    /// The earliest time the next request may go out: at most [`MAX_SENDS`] per
    /// [`SEND_WINDOW`], whatever the server answers.
    pub(super) fn next_send(&self, now: u64) -> u64 {
        match self.sends.front() {
            Some(&first) if self.sends.len() >= MAX_SENDS => now.max(first + SEND_WINDOW),
            _ => now,
        }
    }

    pub(super) fn record_send(&mut self, now: u64) {
        if self.sends.len() >= MAX_SENDS {
            self.sends.pop_front();
        }
        self.sends.push_back(now);
    }
}

impl Ua {
    pub(super) fn new_usage(&mut self, expires: u32) -> Usage {
        Usage {
            call_id: wire::secret_token(20),
            from_tag: wire::secret_token(10),
            to_tag: None,
            cseq: 0,
            remote_target: None,
            route_set: Vec::new(),
            auth: AuthState::default(),
            failures: 0,
            expires,
            expires_at: None,
            remote_cseq: None,
            retries: 0,
            sends: VecDeque::new(),
        }
    }

    pub(super) fn backoff(&mut self, failures: u32) -> u64 {
        let shift = failures.saturating_sub(1).min(20);
        let d = self
            .cfg
            .backoff
            .base
            .saturating_mul(1 << shift)
            .min(self.cfg.backoff.max);
        d / 2 + self.rng.u64(0..=d / 2)
    }

    /// The delay before a new attempt after the `failures`-th failure in a row: the backoff,
    /// or the server's Retry-After (s) when that is longer, capped to [`RETRY_AFTER`] (a
    /// `Retry-After: 0` makes no tight loop, a huge one no endless wait).
    pub(super) fn retry_delay(&mut self, failures: u32, retry_after: Option<u64>) -> u64 {
        let backoff = self.backoff(failures);
        retry_after.map_or(backoff, |s| {
            (s.clamp(*RETRY_AFTER.start(), *RETRY_AFTER.end()) * 1000).max(backoff)
        })
    }

    /// When to refresh a usage that lasts `secs`: at 55..85 % of it (random), so refreshes of
    /// many numbers spread out, never later than 5 s (or half the time) before expiry.
    pub(super) fn refresh_in(&mut self, secs: u32) -> u64 {
        let ms = u64::from(secs) * 1000;
        let at = self.rng.u64(ms * 55 / 100..=ms * 85 / 100);
        at.min(ms.saturating_sub(5000).max(ms / 2)).max(200)
    }
}

/// The Retry-After of a response, s (RFC 3261 §20.33: a number, then optional comment and
/// parameters).
pub(super) fn retry_after(rsp: &Message) -> Option<u64> {
    rsp.header("Retry-After")
        .and_then(|v| v.split([';', '(']).next())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The Min-Expires of a 423 (RFC 3261 §10.2.8, RFC 6665 §4.1.2.1) when it is above `current`
/// and within the configurable range; else `None` (the request failed, retry after backoff).
pub(super) fn raised_expires(rsp: &Message, current: u32) -> Option<u32> {
    let min = rsp.header("Min-Expires")?.trim();
    match min.parse::<u32>() {
        Ok(m) if m > current && EXPIRES_RANGE.contains(&m) => Some(m),
        Ok(m) if m <= current => None,
        _ => {
            log::warn!(
                "423 with Min-Expires {min} out of range {}..={}: not followed",
                EXPIRES_RANGE.start(),
                EXPIRES_RANGE.end()
            );
            None
        }
    }
}
