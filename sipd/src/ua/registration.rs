//! REGISTER (RFC 3261 §10): sending the binding and its refreshes, and their results.

use super::usage::{raised_expires, retry_after, MAX_IMMEDIATE_RETRIES};
use super::{Dest, Owner, Purpose, Ua};
use crate::wire::{self, param, Message};
use mwi_config::Transport;

impl Ua {
    pub(super) fn send_register(&mut self, now: u64) {
        let (Some((host, port, transport, _)), Some(&addr), Some((user, _, _))) = (
            self.cfg.registrar.clone(),
            self.registrar_addrs.first(),
            self.cfg.auth.clone(),
        ) else {
            return;
        };
        let via = self.via(transport);
        let contact = self.contact(&user, transport);
        let Some((u, state)) = &mut self.register else {
            return;
        };
        u.cseq += 1;
        u.record_send(now);
        *state = "registering".into();
        let aor = Self::host_uri(&host, port, Transport::Udp, Some(&user));
        let mut req = Message::request("REGISTER", &Self::host_uri(&host, port, transport, None));
        req.push("Via", via);
        req.push("Max-Forwards", "70");
        req.push("From", format!("<{aor}>;tag={}", u.from_tag));
        req.push("To", format!("<{aor}>"));
        req.push("Call-ID", u.call_id.clone());
        req.push("CSeq", format!("{} REGISTER", u.cseq));
        req.push("Contact", contact);
        req.push("Expires", u.expires.to_string());
        req.push("User-Agent", self.cfg.user_agent.clone());
        self.authorize(&mut req, Owner::Register);
        self.send(now, &req, Dest { addr, transport }, Purpose::Register);
    }

    pub(super) fn register_result(&mut self, now: u64, code: u16, rsp: Option<&Message>) {
        if (200..300).contains(&code) {
            let rsp = rsp.expect("2xx carries a response");
            if let Err(why) = self.authentic(Owner::Register, rsp) {
                return self.not_authentic(now, Owner::Register, &why);
            }
            let Some((u, state)) = &mut self.register else {
                return;
            };
            // RFC 3261 §10.2.4: the Contact's expires parameter, else Expires.
            let granted = rsp
                .headers("Contact")
                .flat_map(wire::split_list)
                .find_map(|c| param(c, "expires").and_then(|v| v.parse::<u32>().ok()))
                .or_else(|| rsp.header("Expires").and_then(|v| v.parse().ok()))
                .unwrap_or(u.expires);
            u.auth.failed = false;
            u.failures = 0;
            u.retries = 0;
            *state = "registered".into();
            log::info!("registered, expires {granted} s");
            let at = now + self.refresh_in(granted.max(1));
            self.reschedule(Owner::Register, Some(at));
            return;
        }
        let retry_now = match (code, rsp) {
            (401 | 407, Some(r)) => self.take_challenge(Owner::Register, code, r),
            (423, Some(r)) => match (&mut self.register, r) {
                (Some((u, _)), r) => match raised_expires(r, u.expires) {
                    Some(min) => {
                        u.expires = min;
                        true
                    }
                    None => false,
                },
                (None, _) => false,
            },
            _ => false,
        };
        let Some((u, state)) = &mut self.register else {
            return;
        };
        if retry_now && u.retries < MAX_IMMEDIATE_RETRIES {
            u.retries += 1;
            let at = u.next_send(now);
            if at > now {
                self.reschedule(Owner::Register, Some(at));
            } else {
                self.send_register(now);
            }
            return;
        }
        u.retries = 0;
        u.failures += 1;
        *state = format!("failed ({code})");
        let failures = u.failures;
        let delay = self.retry_delay(failures, rsp.and_then(retry_after));
        log::warn!("REGISTER failed with {code}; retry in {delay} ms");
        self.reschedule(Owner::Register, Some(now.saturating_add(delay)));
    }
}
