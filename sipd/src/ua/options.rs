//! OPTIONS (RFC 3261 §11): the answer to an inbound OPTIONS and the keep-alive ping to the
//! MWI server, whose answers mark it up or down.

use super::{Dest, Owner, Purpose, SubState, Ua};
use crate::wire::{self, Message, ACCEPT, ALLOW, EVENT};

impl Ua {
    /// The keep-alive ping to the MWI address in use.
    pub(super) fn send_options(&mut self, now: u64) {
        if let Some(dest) = self.mwi_dest() {
            self.send_options_to(now, dest, Purpose::Options);
        }
    }

    /// An OPTIONS ping to `dest` (the address in use, or the primary while on the backup),
    /// each in a new Call-ID.
    pub(super) fn send_options_to(&mut self, now: u64, dest: Dest, purpose: Purpose) {
        let transport = dest.transport;
        let via = self.via(transport);
        let tag = wire::secret_token(10);
        let call_id = wire::secret_token(20);
        let (host, port) = match purpose {
            Purpose::Primary => (self.cfg.mwi_host.clone(), self.cfg.mwi_port),
            _ => self.mwi_uri_host(),
        };
        let uri = Self::host_uri(&host, port, transport, None);
        let local = self
            .local
            .get(&transport)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut req = Message::request("OPTIONS", &uri);
        req.push("Via", via);
        req.push("Max-Forwards", "70");
        req.push("From", format!("<sip:sipd@{local}>;tag={tag}"));
        req.push("To", format!("<{uri}>"));
        req.push("Call-ID", call_id);
        req.push("CSeq", "1 OPTIONS");
        req.push("Accept", ACCEPT);
        req.push("User-Agent", self.cfg.user_agent.clone());
        self.send(now, &req, dest, purpose);
    }

    pub(super) fn options_result(&mut self, now: u64, code: u16) {
        if code == 408 {
            self.options_failed += 1;
            if self.options_failed >= self.cfg.options_failures && self.server_up != Some(false) {
                if self.fail_over(now) {
                    return;
                }
                log::warn!(
                    "MWI server {} down: {} OPTIONS without answer",
                    self.cfg.mwi_host,
                    self.options_failed
                );
                self.server_up = Some(false);
                self.reresolve = true;
            }
        } else {
            if self.options_failed > 0 || self.server_up == Some(false) {
                self.refresh_all(now, code);
            }
            if self.server_up != Some(true) {
                log::info!(
                    "MWI server {} up (OPTIONS answered {code})",
                    self.cfg.mwi_host
                );
            }
            self.options_failed = 0;
            self.server_up = Some(true);
        }
    }

    /// The server answers again after unanswered pings: it may have restarted and lost every
    /// subscription, so each established one (and each ended by a timeout) is refreshed now
    /// (paced) instead of at its refresh or retry time; a server that kept them answers the
    /// in-dialog SUBSCRIBE with 200, one that lost them with 481 and the subscription starts
    /// anew (RFC 6665 §4.1.2.2). Logged once.
    fn refresh_all(&mut self, now: u64, code: u16) {
        log::warn!(
            "MWI server {} answers OPTIONS again ({code}) after {} without answer: \
             subscriptions refreshed now",
            self.cfg.mwi_host,
            self.options_failed
        );
        let timed_out = SubState::Terminated("timeout".into());
        for i in 0..self.subs.len() {
            // A refusal (403, 489, ...) keeps its backoff: the silence did not cause it.
            if self.subs[i].established || self.subs[i].state == timed_out {
                self.reschedule(Owner::Sub(i), Some(now));
            }
        }
    }
}

/// The 200 to an OPTIONS (RFC 3261 §11.2): what sipd allows, accepts and supports.
pub(super) fn answer(req: &Message, tag: &str) -> Message {
    let mut rsp = req.response(200, "OK", tag);
    rsp.push("Allow", ALLOW);
    rsp.push("Accept", ACCEPT);
    rsp.push("Allow-Events", EVENT);
    rsp.push("Supported", "");
    rsp
}
