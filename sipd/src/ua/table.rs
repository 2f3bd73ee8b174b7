//! Room in the shared MWI table: a NOTIFY whose state the table cannot take (a new number
//! while every slot is in use) is answered 500 with Retry-After (RFC 3261 §21.5.1, §20.33)
//! instead of 200, so the notifier sends it again later and no state is lost silently.
//!
//! The daemon owns the table; it tells the user agent how many slots are free after each batch
//! ([`Ua::set_table_room`]) and the user agent counts the new numbers it accepts in between.

use super::Ua;
use crate::wire::Message;
use mwi_core::MwiState;
use std::collections::HashMap;

/// Retry-After of the 500 for a full table, s: the table gains room only when the
/// configuration or the table file changes, so the notifier should not come back at once.
pub const TABLE_FULL_RETRY_AFTER: u64 = 60;

/// One log line per number per this many ms.
const LOG_EVERY_MS: u64 = 60_000;

/// Numbers remembered for the log pacing; past this, older entries are forgotten first and, if
/// all are recent, a refusal is counted but not logged.
const LOGGED_MAX: usize = 4096;

/// The user agent's view of the table's room.
#[derive(Debug, Default)]
pub(super) struct TableRoom {
    /// Free slots; `None` until the daemon says (then nothing is refused).
    free: Option<usize>,
    /// NOTIFYs answered 500 for want of a slot.
    refused: u64,
    /// Number → when its refusal was last logged (ms on the UA's clock).
    logged: HashMap<String, u64>,
}

impl Ua {
    /// The table has `free` free slots now (capacity minus numbers held); every new number the
    /// user agent accepts from now on takes one, until the next call.
    pub fn set_table_room(&mut self, free: usize) {
        self.table.free = Some(free);
    }

    /// NOTIFYs answered 500 because the table had no slot for their number.
    pub fn table_refused(&self) -> u64 {
        self.table.refused
    }

    /// The last known state of every number as the table holds it (read back at start): shown
    /// by status, and known to take no new slot.
    /// Numbers the configuration no longer serves are left out (they never reach a NOTIFY).
    pub fn restore_states(&mut self, states: impl IntoIterator<Item = (String, MwiState)>) {
        let served: Vec<_> = states.into_iter().filter(|(n, _)| self.serves(n)).collect();
        self.states.extend(served);
    }

    /// Whether `number` routes to an FXS line or a PRI span (`mwi_core::route`): a NOTIFY for
    /// any other gets 481 (docs/sip.md), and its table slot is given back.
    pub fn serves(&self, number: &str) -> bool {
        self.cfg.router.route(number).is_ok()
    }

    /// `None` when the table can take a state for `number` (it holds one already, or a slot is
    /// free, which is then counted as taken); else the 500 with Retry-After to answer `req`.
    pub(super) fn table_refusal(
        &mut self,
        now: u64,
        req: &Message,
        number: &str,
        tag: &str,
    ) -> Option<(Message, bool)> {
        if self.states.contains_key(number) {
            return None;
        }
        match &mut self.table.free {
            None => return None,
            Some(0) => {}
            Some(free) => {
                *free -= 1;
                return None;
            }
        }
        self.table.refused += 1;
        let t = &mut self.table;
        if t.logged.len() >= LOGGED_MAX {
            t.logged
                .retain(|_, at| now.saturating_sub(*at) < LOG_EVERY_MS);
        }
        let due = t
            .logged
            .get(number)
            .map_or(true, |at| now.saturating_sub(*at) >= LOG_EVERY_MS);
        if due && (t.logged.len() < LOGGED_MAX || t.logged.contains_key(number)) {
            t.logged.insert(number.to_owned(), now);
            log::warn!(
                number:% = number, call_id = req.call_id().unwrap_or_default();
                "MWI {number}: the table is full ([table] capacity): NOTIFY answered 500, \
                 Retry-After {TABLE_FULL_RETRY_AFTER} s; logged once a minute per number"
            );
        }
        let mut rsp = req.response(500, "Server Internal Error (MWI table full)", tag);
        rsp.push("Retry-After", TABLE_FULL_RETRY_AFTER.to_string());
        Some((rsp, false))
    }
}
