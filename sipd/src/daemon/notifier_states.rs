//! The notifier's states of numbers the table does not hold (lamps a PBX set for SIP phones,
//! issue 14 item 6), kept in `<[state] dir>/notifier-states` in the table snapshot's format
//! ([`mwi_table::save_snapshot`]) so that a restart loses none. Saved at most once per
//! [`crate::snapshot::EVERY`] after a change, and when sipd stops.

use super::Daemon;
use crate::notifier::{Notifier, NotifierConfig, NotifierEvent};
use crate::snapshot::EVERY;
use callctl::PbxMwi;
use mwi_core::MwiState;
use mwi_table::{Entry, Number};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The file name under `[state] dir`.
pub const NOTIFIER_STATES_FILE: &str = "notifier-states";

/// The file and when it is due.
pub(super) struct StateFile {
    path: PathBuf,
    /// A change not yet saved since this instant.
    dirty_since: Option<Instant>,
    saved_at: Option<Instant>,
}

impl StateFile {
    /// The file under `dir`.
    pub(super) fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(NOTIFIER_STATES_FILE),
            dirty_since: None,
            saved_at: None,
        }
    }

    /// The states saved by the last run; none (logged) when the file is missing or bad.
    pub(super) fn load(&self) -> Vec<(String, MwiState)> {
        match mwi_table::load_snapshot(&self.path) {
            Ok(v) => v
                .into_iter()
                .map(|(n, s)| (n.as_str().to_owned(), s))
                .collect(),
            Err(e) => {
                if self.path.exists() {
                    log::error!("notifier states {}: {e}", self.path.display());
                }
                Vec::new()
            }
        }
    }

    /// When the pending change is to be saved.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.dirty_since?;
        Some(self.saved_at.map_or_else(Instant::now, |t| t + EVERY))
    }
}

impl Daemon {
    /// A lamp the PBX set for a number neither an FXS port nor the sending span serves:
    /// SIP phones subscribed to it hear of it; the state is kept on disk.
    pub(super) fn pbx_lamp_for_sip(&mut self, now: u64, m: &PbxMwi) {
        let number = m.number.as_str();
        let Some(n) = &mut self.notifier else {
            log::info!(
                span = m.span, number = number;
                "span {}: PBX sent the lamp of {number}: no FXS port serves it and [notifier] \
                 is off; dropped",
                m.span
            );
            return;
        };
        log::info!(
            span = m.span, number = number;
            "MWI {number}: {} from the PBX on span {}, for SIP subscribers",
            if m.on { "ON" } else { "OFF" },
            m.span
        );
        let state = MwiState::voice(m.on, m.messages.map_or(0, u32::from), 0);
        n.set_state(
            self.start + std::time::Duration::from_millis(now),
            number,
            state,
        );
        self.notifier_states
            .dirty_since
            .get_or_insert_with(Instant::now);
    }

    /// Sends what the notifier queued and hands its refusals to the block list; saves its
    /// states when due.
    pub(super) fn flush_notifier(&mut self, now: u64) {
        let Some(n) = &mut self.notifier else {
            return;
        };
        let mut out = Vec::new();
        while let Some(t) = sansio::Core::poll_transmit(n) {
            out.push(t);
        }
        let mut refused = Vec::new();
        while let Some(NotifierEvent::Refused { src, why }) = sansio::Core::poll_event(n) {
            refused.push((src, why));
        }
        for t in out {
            self.send(now, t);
        }
        for (src, why) in refused {
            self.ua.strike_source(self.instant(now), src, &why);
        }
        self.save_notifier_states(false);
    }

    /// `[notifier]` read again: bounds, accounts and sources change in place (subscriptions go
    /// on); `enabled` turned on starts a notifier with the table's states and the file's,
    /// turned off ends it (its subscribers are not told: their refreshes get 405 and they
    /// give up, RFC 6665 §4.1.2.2).
    pub(super) fn reconfigure_notifier(&mut self, cfg: &mwi_config::Config) {
        match (NotifierConfig::from_config(cfg), &mut self.notifier) {
            (Some(c), Some(n)) => n.reconfigure(c),
            (Some(c), None) => {
                // The local addresses come with the next resolution (`fix_locals`).
                self.locals_fixed = false;
                let mut n = Notifier::new(Instant::now(), c, std::collections::HashMap::new());
                n.restore(
                    self.writer
                        .entries()
                        .map(|e| (e.number.as_str().to_owned(), e.state))
                        .chain(self.notifier_states.load()),
                );
                self.notifier = Some(n);
            }
            (None, Some(_)) => {
                self.save_notifier_states(true);
                self.notifier = None;
            }
            (None, None) => {}
        }
        self.ua.set_notifier(self.notifier.is_some());
    }

    /// Saves the notifier's states of the numbers the table does not hold, when a change is
    /// due (or pending at all, with `force`). A failure is logged and retried at the next due
    /// time.
    pub(super) fn save_notifier_states(&mut self, force: bool) {
        let Some(n) = &self.notifier else {
            return;
        };
        let file = &mut self.notifier_states;
        let due = file
            .deadline()
            .is_some_and(|d| force || d <= Instant::now());
        if !due {
            return;
        }
        let entries = n
            .states()
            .filter(|(number, _)| !self.ua.serves(number))
            .filter_map(|(number, state)| {
                Some(Entry {
                    slot: 0,
                    version: 0,
                    number: Number::new(number).ok()?,
                    state,
                })
            });
        file.saved_at = Some(Instant::now());
        match mwi_table::save_snapshot(&file.path, entries) {
            Ok(()) => file.dirty_since = None,
            Err(e) => log::error!("notifier states {}: {e}", file.path.display()),
        }
    }
}
