//! OPTIONS (RFC 3261 §11): the answer to an inbound OPTIONS and the keep-alive ping to the
//! MWI server, whose answers mark it up or down.

use super::{Purpose, Ua};
use crate::wire::{self, Message, ACCEPT, ALLOW, EVENT};

impl Ua {
    pub(super) fn send_options(&mut self, now: u64) {
        let Some(dest) = self.mwi_dest() else {
            return;
        };
        let transport = dest.transport;
        let via = self.via(transport);
        let tag = wire::secret_token(10);
        let call_id = wire::secret_token(20);
        let uri = Self::host_uri(&self.cfg.mwi_host, self.cfg.mwi_port, transport, None);
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
        self.send(now, &req, dest, Purpose::Options);
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
