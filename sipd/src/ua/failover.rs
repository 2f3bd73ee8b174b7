//! Moving to the next resolved MWI server target (RFC 3263 §4.3): when `[mwi_server] server`
//! resolves to several addresses (SRV records, several A/AAAA records), an OPTIONS "down"
//! verdict (`options_failures` pings without answer) moves the subscriptions to the next
//! address at once instead of leaving them with a dead server until their refresh. A request
//! that times out moves to the next address too, but only when it went to the address in use
//! (a late timeout from the old one does not move back). The next lookup keeps the address in
//! use first while it is still among the answers.

use super::{Owner, SubState, Ua};
use crate::transaction::TxKey;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Where each client transaction went and how often the target moved.
#[derive(Debug, Default)]
pub(super) struct Failover {
    /// Client transaction → the address it was sent to.
    sent_to: HashMap<TxKey, SocketAddr>,
    /// Moves after an OPTIONS "down" verdict.
    moves: u64,
}

impl Ua {
    /// Client transaction `key` went to `addr`.
    pub(super) fn sent_to(&mut self, key: TxKey, addr: SocketAddr) {
        self.failover.sent_to.insert(key, addr);
    }

    /// Client transaction `key` ended (`timed_out`: without an answer, RFC 3261 §8.1.3.1, or a
    /// transport error). A SUBSCRIBE that timed out at the MWI address in use moves the
    /// requests to the next one; OPTIONS timeouts count towards the "down" verdict instead.
    pub(super) fn transaction_ended(&mut self, key: &TxKey, timed_out: bool, options: bool) {
        let to = self.failover.sent_to.remove(key);
        if timed_out && !options && to.is_some() && to == self.mwi_addrs.first().copied() {
            self.mwi_addrs.rotate_left(1);
        }
    }

    /// New addresses of the MWI server, with the one in use kept first if still there.
    pub(super) fn keep_current(&self, mut addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
        if let Some(k) = self
            .mwi_addrs
            .first()
            .and_then(|cur| addrs.iter().position(|a| a == cur))
        {
            addrs.rotate_left(k);
        }
        addrs
    }

    /// The OPTIONS "down" verdict with another address to go to: move there, end every
    /// subscription with the dead one and subscribe again at once (paced), logged once per
    /// move. Returns false (nothing done) with a single address.
    pub(super) fn fail_over(&mut self, now: u64) -> bool {
        if self.mwi_addrs.len() < 2 {
            return false;
        }
        let from = self.mwi_addrs[0];
        self.mwi_addrs.rotate_left(1);
        let to = self.mwi_addrs[0];
        self.failover.moves += 1;
        log::warn!(
            "MWI server {} at {from} down: {} OPTIONS without answer; subscriptions move to \
             {to} (next of {} resolved addresses)",
            self.cfg.mwi_host,
            self.options_failed,
            self.mwi_addrs.len()
        );
        self.options_failed = 0;
        self.server_up = None;
        self.reresolve = true;
        for i in 0..self.subs.len() {
            if self.subs[i].state != SubState::Idle {
                self.end_subscription(i, SubState::Terminated("server down".into()));
            }
            self.reschedule(Owner::Sub(i), Some(now));
        }
        true
    }

    /// Moves after an OPTIONS "down" verdict since start.
    pub fn failovers(&self) -> u64 {
        self.failover.moves
    }
}
