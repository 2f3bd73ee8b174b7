//! Moving between server addresses (RFC 3263 §4.3): the primary's resolved addresses come
//! first, then the backup's (`[mwi_server] backup`). An OPTIONS "down" verdict
//! (`options_failures` pings without answer) moves the subscriptions to the next address at
//! once instead of leaving them with a dead server until their refresh. A request that times
//! out moves to the next address too, but only when it went to the address in use (a late
//! timeout from the old one does not move back). The next lookup keeps the address in use
//! first while it is still among the answers.
//!
//! Fallback: while the subscriptions are on a backup address, every OPTIONS ping also goes to
//! the primary; after `fallback_answers` answers in a row they move back. The registration
//! moves with the MWI server when it uses the same address, and back with it.

use super::{Owner, Purpose, SubState, Ua};
use crate::transaction::TxKey;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Where each client transaction went, the primary and backup addresses, and how often the
/// target moved.
#[derive(Debug, Default)]
pub(super) struct Failover {
    /// Client transaction → the address it was sent to.
    sent_to: HashMap<TxKey, SocketAddr>,
    /// Moves after an OPTIONS "down" verdict.
    moves: u64,
    /// Moves back to the primary after its answers.
    fallbacks: u64,
    /// The MWI server's addresses: the primary's, then the backup's.
    mwi: Targets,
    /// The registrar's addresses: the primary's, then the backup's.
    registrar: Targets,
    /// Consecutive answers of the primary to the pings sent while on the backup.
    primary_answers: u32,
}

/// The resolved addresses of a server and of its backup.
#[derive(Debug, Default)]
struct Targets {
    primary: Vec<SocketAddr>,
    backup: Vec<SocketAddr>,
}

impl Targets {
    /// The primary's addresses, then the backup's ones that are not the primary's.
    fn ordered(&self) -> Vec<SocketAddr> {
        let mut all = self.primary.clone();
        all.extend(self.backup.iter().filter(|a| !self.primary.contains(a)));
        all
    }

    /// Whether `addr` is a backup address (and not the primary's too).
    fn is_backup(&self, addr: Option<&SocketAddr>) -> bool {
        addr.is_some_and(|a| !self.primary.contains(a) && self.backup.contains(a))
    }
}

/// `addrs` rotated so that `current` (when among them) comes first.
fn keep_first(current: Option<&SocketAddr>, mut addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    if let Some(k) = current.and_then(|cur| addrs.iter().position(|a| a == cur)) {
        addrs.rotate_left(k);
    }
    addrs
}

impl Ua {
    /// Client transaction `key` went to `addr`.
    pub(super) fn sent_to(&mut self, key: TxKey, addr: SocketAddr) {
        self.failover.sent_to.insert(key, addr);
    }

    /// Client transaction `key` of `purpose` ended (`timed_out`: without an answer, RFC 3261
    /// §8.1.3.1, or a transport error). A SUBSCRIBE (REGISTER) that timed out at the MWI
    /// (registrar) address in use moves the requests to the next one; OPTIONS timeouts count
    /// towards the "down" verdict instead.
    pub(super) fn transaction_ended(&mut self, key: &TxKey, timed_out: bool, purpose: Purpose) {
        let to = self.failover.sent_to.remove(key);
        if !timed_out || to.is_none() {
            return;
        }
        match purpose {
            Purpose::Subscribe(_) if to == self.mwi_addrs.first().copied() => {
                self.mwi_addrs.rotate_left(1);
            }
            Purpose::Register(_) if to == self.registrar_addrs.first().copied() => {
                self.registrar_addrs.rotate_left(1);
            }
            _ => {}
        }
    }

    /// New addresses of the MWI server, `primary`'s then `backup`'s, with the one in use kept
    /// first if still there.
    pub(super) fn mwi_targets(
        &mut self,
        primary: Vec<SocketAddr>,
        backup: Vec<SocketAddr>,
    ) -> Vec<SocketAddr> {
        self.failover.mwi = Targets { primary, backup };
        keep_first(self.mwi_addrs.first(), self.failover.mwi.ordered())
    }

    /// New addresses of the registrar, like [`Self::mwi_targets`].
    pub(super) fn registrar_targets(
        &mut self,
        primary: Vec<SocketAddr>,
        backup: Vec<SocketAddr>,
    ) -> Vec<SocketAddr> {
        self.failover.registrar = Targets { primary, backup };
        keep_first(
            self.registrar_addrs.first(),
            self.failover.registrar.ordered(),
        )
    }

    /// The address of the primary MWI server to ping while the subscriptions are on the
    /// backup; `None` when they are not.
    pub(super) fn primary_to_probe(&self) -> Option<SocketAddr> {
        let m = &self.failover.mwi;
        m.is_backup(self.mwi_addrs.first())
            .then(|| m.primary.first().copied())
            .flatten()
    }

    /// The host and port of Request-URIs and To of requests to the MWI server: the backup's
    /// while a backup address is in use.
    pub(super) fn mwi_uri_host(&self) -> (String, u16) {
        match &self.cfg.mwi_backup {
            Some(b) if self.failover.mwi.is_backup(self.mwi_addrs.first()) => b.clone(),
            _ => (self.cfg.mwi_host.clone(), self.cfg.mwi_port),
        }
    }

    /// The host and port of the registrar's Request-URI, like [`Self::mwi_uri_host`].
    pub(super) fn registrar_uri_host(&self, host: String, port: u16) -> (String, u16) {
        match &self.cfg.registrar_backup {
            Some(b)
                if self
                    .failover
                    .registrar
                    .is_backup(self.registrar_addrs.first()) =>
            {
                b.clone()
            }
            _ => (host, port),
        }
    }

    /// The OPTIONS "down" verdict with another address to go to: move there, end every
    /// subscription with the dead one and subscribe again at once (paced), logged once per
    /// move; a registration at the dead address moves on too. Returns false (nothing done)
    /// with a single address.
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
        if self.registrar_addrs.len() > 1 && self.registrar_addrs.first() == Some(&from) {
            self.registrar_addrs.rotate_left(1);
            self.reregister(now);
        }
        self.resubscribe(now);
        true
    }

    /// The primary answered a ping sent while on the backup (`code`, 408: no answer): after
    /// `fallback_answers` answers in a row, move the subscriptions (and a registration on
    /// its backup) back to it, logged once.
    pub(super) fn primary_result(&mut self, now: u64, code: u16) {
        if code == 408 {
            self.failover.primary_answers = 0;
            return;
        }
        self.failover.primary_answers += 1;
        if self.failover.primary_answers < self.cfg.fallback_answers
            || self.primary_to_probe().is_none()
        {
            return;
        }
        let from = self.mwi_addrs.first().copied();
        self.mwi_addrs = self.failover.mwi.ordered();
        self.failover.fallbacks += 1;
        log::warn!(
            "MWI server {} at {} answers again ({} OPTIONS in a row): subscriptions move back \
             from the backup at {}",
            self.cfg.mwi_host,
            self.mwi_addrs[0],
            self.failover.primary_answers,
            from.map(|a| a.to_string()).unwrap_or_default()
        );
        let r = &self.failover.registrar;
        if r.is_backup(self.registrar_addrs.first()) {
            self.registrar_addrs = r.ordered();
            self.reregister(now);
        }
        self.resubscribe(now);
    }

    /// After a move: the new target's verdict starts afresh; every subscription ends with
    /// the old target and starts anew at once (paced).
    fn resubscribe(&mut self, now: u64) {
        self.options_failed = 0;
        self.failover.primary_answers = 0;
        self.server_up = None;
        self.reresolve = true;
        for i in 0..self.subs.len() {
            if self.subs[i].state != SubState::Idle {
                self.end_subscription(i, SubState::Terminated("server moved".into()));
            }
            self.reschedule(Owner::Sub(i), Some(now));
        }
    }

    /// Every binding registers at once at the registrar address now in use.
    fn reregister(&mut self, now: u64) {
        log::warn!(
            "registration moves to {}",
            self.registrar_addrs
                .first()
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        for i in 0..self.register.len() {
            self.reschedule(Owner::Register(i), Some(now));
        }
    }

    /// Moves after an OPTIONS "down" verdict since start.
    pub fn failovers(&self) -> u64 {
        self.failover.moves
    }

    /// Moves back to the primary after its answers since start.
    pub fn fallbacks(&self) -> u64 {
        self.failover.fallbacks
    }
}
