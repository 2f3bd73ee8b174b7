//! The shared MWI table's news: read after each notifier wake-up (or retry), routed, and
//! delivered to the line or span the number routes to.

use std::time::Instant;

use log::{debug, error, info, warn};
use mwi_core::route::Route;
use mwi_core::MwiState;
use mwi_table::{Reader, TableError};

use super::port::drive_port;
use super::span::{drive_span, lamp_of};
use super::{spawn_notifier, Daemon, TABLE_POLLS, TABLE_REOPEN, TABLE_RETRY};
use crate::status::on_off;

impl Daemon {
    /// The region was truncated, removed or replaced (or flagged damaged by the SIGBUS
    /// handler): open it again (a new one is created from the snapshot if sipd has not yet).
    /// The numbers' last states stay as they are until the new region's first rescan delivers
    /// newer ones, so no lamp is lost meanwhile. Returns whether the new region is open; if
    /// not, [`TABLE_REOPEN`] later it is tried again. Each outage is logged once with its
    /// reason, its first failed re-open as an error, and its end.
    pub(super) fn reopen_table(&mut self, why: &TableError) -> bool {
        let first = self.table_outage.is_none();
        let since = *self.table_outage.get_or_insert_with(Instant::now);
        if first {
            warn!("{why}; opening the shared MWI table again");
        }
        let reopened = Reader::open(&self.table_cfg).and_then(|r| {
            let n = spawn_notifier(&r, &self.waker)
                .map_err(|e| TableError::Config(format!("notifier thread: {e}")))?;
            Ok((r, n))
        });
        match reopened {
            Ok((reader, notifier)) => {
                self.reader = reader;
                self.notifier = notifier;
                self.table_outage = None;
                info!(
                    "MWI table {} opened again after {} ms",
                    self.table_cfg.path.display(),
                    since.elapsed().as_millis()
                );
                true
            }
            Err(e) => {
                if first {
                    error!("{e}; trying again every {} s", TABLE_REOPEN.as_secs());
                } else {
                    debug!("{e}; trying again in {} s", TABLE_REOPEN.as_secs());
                }
                self.table_retry = Some(Instant::now() + TABLE_REOPEN);
                false
            }
        }
    }

    /// Take every change from the table (all slots after a ring overflow or a writer restart).
    ///
    /// One poll may deliver a rescan that predates a later change (mwi-core `Reader::poll`), so
    /// poll until the table has no news, a bounded number of times; a slot caught mid-write
    /// (`busy`) or news left over is taken up again after [`TABLE_RETRY`].
    pub(super) fn read_table(&mut self) {
        self.table_retry = None;
        // Pages of a truncated region fault when touched: check the mapping before reading (a
        // removed or replaced path is found by the full check once a second).
        if let Err(e) = self.reader.check_mapped() {
            if !self.reopen_table(&e) {
                return;
            }
        }
        let mut changed = Vec::new();
        for _ in 0..TABLE_POLLS {
            let summary = self.reader.poll(&mut changed);
            if summary.overflowed {
                warn!("MWI change ring overflowed: rescanned the whole table");
            }
            for entry in changed.drain(..) {
                let number = entry.number.as_str().to_owned();
                debug!(
                    number:% = number;
                    "table: {number} {:?} (version {})",
                    entry.state, entry.version
                );
                self.route(&number, entry.state);
            }
            if summary.busy > 0 {
                self.table_retry = Some(Instant::now() + TABLE_RETRY);
            }
            if !self.reader.has_news() {
                return;
            }
        }
        self.table_retry = Some(Instant::now());
    }

    /// The table has `state` for `number`: deliver it where the number routes, unless an
    /// override holds it.
    fn route(&mut self, number: &str, state: MwiState) {
        match self.routing.table_update(number, state) {
            Some(route) => self.deliver(route, number, state),
            None => debug!(
                number:% = number;
                "{number}: not delivered ({})",
                match self.routing.router().route(number) {
                    Ok(_) => "a manual override holds it".to_owned(),
                    Err(why) => why.explain(number),
                }
            ),
        }
    }

    /// Give `state` to the line or span `route` names.
    pub(super) fn deliver(&mut self, route: Route, number: &str, state: MwiState) {
        match route {
            Route::Fxs { index, .. } => {
                let now = Instant::now();
                let Some(p) = self.ports.get_mut(index) else {
                    return;
                };
                info!(
                    channel = p.cfg.channel, number:% = number;
                    "FXS channel {} ({number}): MWI {}",
                    p.cfg.channel,
                    on_off(state.waiting)
                );
                p.line.set_mwi(now, state.waiting, state.new);
                drive_port(p, now);
            }
            Route::Pri { index, .. } => {
                let Some(s) = self.spans.get_mut(index) else {
                    return;
                };
                info!(
                    span = s.cfg.span, number:% = number;
                    "span {} ({number}): MWI {}",
                    s.cfg.span,
                    on_off(state.waiting)
                );
                s.span.set_lamp(Instant::now(), number, lamp_of(&state));
                drive_span(s, &mut self.trace);
            }
        }
    }
}
