//! A reloaded configuration applied to a running user agent (SIGHUP): subscriptions of numbers
//! that stay are kept as they are, new numbers are subscribed, dropped numbers end their
//! subscription locally; every learned MWI state is kept.

use super::{Owner, Purpose, Subscription, Ua, UaConfig};
use sansio::Instant;

impl Ua {
    /// Live server transactions, each holding its response for retransmissions (RFC 3261
    /// §17.2): what `[sip.limits] transactions` bounds.
    pub fn server_transactions(&self) -> usize {
        self.tx.counts().1
    }

    /// Ends the oldest answered server transaction (`Transactions::evict_completed_server`)
    /// to make room; whether there was one.
    pub fn evict_completed_transaction(&mut self) -> bool {
        self.tx.evict_completed_server()
    }

    /// Apply `cfg` at `now`. A change of the MWI server (host, port, transport, backup),
    /// `expires`, `unsolicited` or the credentials starts every subscription anew; otherwise
    /// only added and removed numbers change (a subscription and the lamp of a number that
    /// stays are kept, issue 14 item 4). A change of the registrar (or its backup, the
    /// registering ports, the credentials) renews the registrations only. Returns whether
    /// server addresses were forgotten, so the daemon must locate the servers again
    /// (RFC 3263).
    pub fn reconfigure(&mut self, now: Instant, cfg: UaConfig) -> bool {
        let now = self.ms(now);
        let old = &self.cfg;
        let server_moved = (old.mwi_host.as_str(), old.mwi_port, old.mwi_transport)
            != (cfg.mwi_host.as_str(), cfg.mwi_port, cfg.mwi_transport)
            || old.mwi_backup != cfg.mwi_backup;
        let registrar_moved =
            old.registrar != cfg.registrar || old.registrar_backup != cfg.registrar_backup;
        let renew = server_moved
            || old.expires != cfg.expires
            || old.unsolicited != cfg.unsolicited
            || old.auth != cfg.auth;
        let options_changed = old.options_interval != cfg.options_interval;
        let registrar_changed = registrar_moved || old.lines != cfg.lines || old.auth != cfg.auth;
        self.blocks.set_config(cfg.block);
        self.cfg = cfg;

        // Old index → new index of every subscription kept.
        let wanted: Vec<String> = if self.cfg.unsolicited {
            Vec::new()
        } else {
            self.cfg.mwi_numbers.clone()
        };
        let mut old_subs: Vec<Option<Subscription>> = std::mem::take(&mut self.subs)
            .into_iter()
            .map(Some)
            .collect();
        let mut moved = vec![None; old_subs.len()];
        let mut fresh = Vec::new();
        for number in wanted {
            let j = self.subs.len();
            let kept = old_subs
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| s.number == number))
                .filter(|_| !renew);
            match kept.and_then(|i| old_subs[i].take().map(|s| (i, s))) {
                Some((i, s)) => {
                    moved[i] = Some(j);
                    self.subs.push(s);
                }
                None => {
                    let usage = self.new_usage(self.cfg.expires);
                    self.subs.push(Subscription::idle(number, usage));
                    fresh.push(j);
                }
            }
        }
        for s in old_subs.into_iter().flatten() {
            log::info!("{}: no longer served; subscription ended", s.number);
        }
        let old = std::mem::take(&mut self.timers);
        let kept = moved
            .iter()
            .enumerate()
            .filter_map(|(i, j)| j.map(|j| (Owner::Sub(i), Owner::Sub(j))));
        let bindings = (0..self.register.len()).map(Owner::Register);
        for (from, to) in bindings.chain([Owner::Options]).map(|o| (o, o)).chain(kept) {
            if let Some(at) = old.get(from) {
                self.timers.set(to, at);
            }
        }
        self.dialogs = std::mem::take(&mut self.dialogs)
            .into_iter()
            .filter_map(|(call_id, i)| moved.get(i).copied().flatten().map(|j| (call_id, j)))
            .collect();
        self.purposes = std::mem::take(&mut self.purposes)
            .into_iter()
            .filter_map(|(k, p)| match p {
                Purpose::Subscribe(i) => moved
                    .get(i)
                    .copied()
                    .flatten()
                    .map(|j| (k, Purpose::Subscribe(j))),
                other => Some((k, other)),
            })
            .collect();

        if registrar_moved {
            // REGISTER waits for the new addresses; set_registrar_targets then sends it.
            self.registrar_addrs.clear();
        }
        if registrar_changed {
            for i in 0..self.register.len() {
                self.reschedule(Owner::Register(i), None);
            }
            self.register = self.bindings();
            if !self.registrar_addrs.is_empty() {
                for i in 0..self.register.len() {
                    self.reschedule(Owner::Register(i), Some(now));
                }
            }
        }
        if server_moved {
            // Requests go nowhere until the new addresses are known; set_mwi_targets then
            // schedules every idle subscription.
            self.mwi_addrs.clear();
            self.server_up = None;
            self.options_failed = 0;
            self.reschedule(Owner::Options, None);
            return true;
        }
        if !self.mwi_addrs.is_empty() {
            for j in fresh {
                self.reschedule(Owner::Sub(j), Some(now));
            }
            if options_changed {
                let at = (self.cfg.options_interval > 0).then_some(now);
                self.reschedule(Owner::Options, at);
            }
        }
        registrar_moved
    }
}
