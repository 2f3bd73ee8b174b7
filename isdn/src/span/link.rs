//! What the span does when its Q.921 link comes up or goes down: the resync policy at link up
//! ([`super::Resync`]) and, at link down, clearing the calls and asks in flight without losing
//! the state they carried (Q.931 §5.8.9). Apart from `mod.rs` because it is the one place where
//! the whole table of numbers changes at once.

use std::time::Duration;

use super::{Call, FacilitySent, MwiProtocol, Resync, Span, SpanEvent, Timer};

impl Span {
    /// Q.921 came up: calls may start again and every number is resynchronised by the span's
    /// [`super::Resync`] policy (sent again, or asked first with MWIInterrogate).
    pub(super) fn on_link_up(&mut self) {
        self.up = true;
        self.cc.link_up();
        self.events.push_back(SpanEvent::LinkUp);
        let policy = match (self.cfg.resync, self.cfg.protocol) {
            // ETSI MWI has no interrogation (EN 300 745-1): send every number instead.
            (Resync::Interrogate, MwiProtocol::Etsi) => Resync::All,
            (policy, _) => policy,
        };
        // A fresh link: pending backoffs start over.
        let timers = &mut self.timers;
        let ask_queue = &mut self.ask_queue;
        let numbers: Vec<String> = self
            .entries
            .iter_mut()
            .filter_map(|(n, e)| {
                timers.cancel(Timer::Retry(e.id));
                e.backoff = Duration::ZERO;
                match policy {
                    Resync::Interrogate => {
                        // The PBX's answer decides whether it is sent.
                        e.dirty = false;
                        if !e.ask {
                            e.ask = true;
                            ask_queue.push_back(n.clone());
                        }
                    }
                    Resync::All => e.dirty = true,
                    Resync::On => {
                        if e.wanted.on || e.confirmed != Some(e.wanted) {
                            e.dirty = true;
                        }
                    }
                }
                e.dirty.then(|| n.clone())
            })
            .collect();
        for n in numbers {
            self.enqueue(&n);
        }
    }

    /// Q.921 went down: what was in flight is forgotten as sent and marked to go again.
    pub(super) fn on_link_down(&mut self) {
        self.up = false;
        self.events.push_back(SpanEvent::LinkDown);
        // Q.931 §5.8.9: calls not yet active are cleared internally; what they carried is sent
        // again after the link is back.
        let calls: Vec<(u16, Call)> = self.calls.drain().collect();
        for (value, _) in &calls {
            self.timers.cancel(Timer::Call(*value));
            self.cc.free_call_reference(*value);
        }
        // Basic calls are released too (Q.931 §5.8.9), each with CallEvent::Released.
        self.cc.link_down();
        let facilities: Vec<FacilitySent> = self.facilities.drain(..).collect();
        let asks: Vec<(i64, String)> = std::mem::take(&mut self.asks).into_iter().collect();
        for (invoke_id, _) in &asks {
            self.timers.cancel(Timer::Ask(*invoke_id));
        }
        // Numbers not yet asked are asked again at the next link up.
        for number in std::mem::take(&mut self.ask_queue) {
            if let Some(e) = self.entries.get_mut(&number) {
                e.ask = false;
                if e.confirmed != Some(e.wanted) {
                    e.dirty = true;
                }
            }
        }
        for number in calls
            .into_iter()
            .map(|(_, c)| c.number)
            .chain(facilities.into_iter().map(|f| f.number))
            .chain(asks.into_iter().map(|(_, n)| n))
        {
            if let Some(e) = self.entries.get_mut(&number) {
                e.in_flight = false;
                if e.confirmed != Some(e.wanted) {
                    e.dirty = true;
                }
            }
        }
    }
}
