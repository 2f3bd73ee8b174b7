//! What comes in from the network: a message parsed (or refused before it is, RFC 3261
//! §8.2) and passed on by kind (calls and the notifier's messages as events, responses to the
//! transactions, other requests answered here: OPTIONS, NOTIFY, 405, 420), and the failures of
//! its source counted towards blocking it ([`crate::guard`]). Apart from `mod.rs`, which holds
//! the agent's state, its timers and the requests it sends.

use super::{options, Dest, Ua, UaEvent};
use crate::transaction::Transmit;
use crate::wire::{self, Defect, Message, ALLOW};
use mwi_config::Transport;
use sansio::Instant;

impl Ua {
    /// One received datagram or framed TCP message from `src`. A message from a blocked source
    /// ([`crate::guard`]) is dropped before it is parsed; one longer than `max_message_size`
    /// is refused before it is parsed (413 or a drop).
    pub fn handle_message(&mut self, instant: Instant, bytes: &[u8], src: Dest) {
        if self.blocked(instant, src.addr.ip()) {
            return;
        }
        let now = self.ms(instant);
        let parsed = if bytes.len() > self.cfg.max_message_size {
            Err(Message::oversize(bytes, self.cfg.max_message_size))
        } else {
            Message::parse(bytes)
        };
        let msg = match parsed {
            Ok(m) => m,
            Err(defect) => {
                self.refuse(&defect, bytes.len(), src);
                self.strike(now, src, &defect.to_string());
                return;
            }
        };
        log::debug!(
            call_id = msg.call_id().unwrap_or_default();
            "SIP recv from {} ({:?}):\n{}",
            src.addr,
            src.transport,
            show(&msg)
        );
        if matches!(msg.method(), "INVITE" | "ACK" | "BYE" | "CANCEL") {
            self.events.push_back(UaEvent::Call {
                msg: Box::new(msg),
                src,
            });
        } else if self.notifier
            && matches!(
                (msg.is_request(), msg.method()),
                (true, "SUBSCRIBE") | (false, "NOTIFY")
            )
        {
            self.events.push_back(UaEvent::Notifier {
                msg: Box::new(msg),
                len: bytes.len(),
                src,
            });
        } else if msg.is_request() {
            self.handle_request(now, msg, bytes.len(), src);
        } else {
            if !self.tx.on_response(instant, msg) {
                log::debug!(
                    "SIP from {}: response matches no transaction; dropped",
                    src.addr
                );
            }
            self.drain_tx_events(now);
        }
    }

    /// Answer (outside any transaction, RFC 3261 §8.2) or drop a request of `len` octets that
    /// failed the checks of [`Message::parse`]. An answer longer than the maximum message size
    /// (an oversize request's headers copied back) is dropped too.
    fn refuse(&mut self, defect: &Defect, len: usize, src: Dest) {
        let rsp = defect
            .response(&wire::secret_token(10))
            .map(|rsp| self.finish(rsp, len));
        match rsp.map(|r| (r.summary(), r.to_bytes())) {
            Some((what, bytes)) if bytes.len() <= self.cfg.max_message_size => {
                log::info!("SIP from {}: {defect}; answering {what}", src.addr);
                self.tx.push_direct(Transmit { dest: src, bytes });
            }
            _ => log::info!("SIP from {}: {defect}; dropped", src.addr),
        }
    }

    /// A response as sent: `Server` added, then trimmed to [`wire::AMPLIFICATION`] times the
    /// `len` octets of the request it answers.
    fn finish(&self, mut rsp: Message, len: usize) -> Message {
        rsp.push("Server", self.cfg.user_agent.clone());
        rsp.trim_to(len.saturating_mul(wire::AMPLIFICATION));
        rsp
    }

    fn handle_request(&mut self, now: u64, msg: Message, len: usize, src: Dest) {
        if msg.method() == "ACK" {
            return;
        }
        let reliable = src.transport == Transport::Tcp;
        let Some((key, req)) = self.tx.on_request(msg, src, reliable) else {
            return;
        };
        let tag = wire::secret_token(10);
        let (rsp, strike) = self.answer(now, &req, src, &tag);
        if strike {
            self.strike(now, src, &rsp.summary());
        }
        let rsp = self.finish(rsp, len);
        self.tx.respond(self.instant(now), &key, &rsp);
    }

    /// A failed or forbidden request from `src` (`why`: the answer or the defect) counts
    /// towards blocking it, unless it is the MWI server or an `allow` source: a forged UDP
    /// source must not lock out the peers sipd trusts.
    /// A request of the call core refused as a failure of its source (an INVITE from a
    /// source that is not the proxy): counts towards blocking it like [`Self::strike`].
    pub fn strike_source(&mut self, now: Instant, src: Dest, why: &str) {
        self.strike(self.ms(now), src, why);
    }

    fn strike(&mut self, now: u64, src: Dest, why: &str) {
        if !self.allowed(src) {
            self.blocks.failure(now, src.addr.ip(), why);
        }
    }

    /// The response to a new request, and whether it counts as a failure of its source
    /// (400, 401 with wrong credentials, 403, 481 out of any dialog).
    fn answer(&mut self, now: u64, req: &Message, src: Dest, tag: &str) -> (Message, bool) {
        if let Some(required) = req.header("Require") {
            let mut rsp = req.response(420, "Bad Extension", tag);
            rsp.push("Unsupported", required);
            return (rsp, false);
        }
        match req.method() {
            "OPTIONS" => (options::answer(req, tag), false),
            "NOTIFY" => self.answer_notify(now, req, src, tag),
            _ => {
                let mut rsp = req.response(405, "Method Not Allowed", tag);
                rsp.push("Allow", ALLOW);
                (rsp, false)
            }
        }
    }
}

/// The message as text for debug logs (body included, like `debug ccsip messages`).
fn show(m: &Message) -> String {
    String::from_utf8_lossy(&m.to_bytes()).into_owned()
}
