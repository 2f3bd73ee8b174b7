//! REGISTER (RFC 3261 §10): sending the bindings and their refreshes, and their results.
//!
//! One binding per address of record: `[sip.auth] username` (the account of the MWI user
//! agent, as before issue 12) and the number of every `[[fxs]]` port with `register = true`
//! with the port's `[fxs.auth]` or `[sip.auth]`, so that calls for the ports' numbers reach
//! sipd. Each binding has its own Call-ID, CSeq, challenge and backoff.

use super::usage::{raised_expires, retry_after, Usage, MAX_IMMEDIATE_RETRIES};
use super::{Credentials, Dest, Owner, Purpose, Ua};
use crate::wire::{self, param, Message};
use mwi_config::Transport;

/// One REGISTER binding.
#[derive(Clone, Debug)]
pub(super) struct Binding {
    /// The user part of the address of record.
    pub(super) user: String,
    /// Its digest credentials.
    pub(super) auth: Option<Credentials>,
    pub(super) usage: Usage,
    /// `registering`, `registered` or `failed (CODE)`, for status.
    pub(super) state: String,
}

impl Ua {
    /// The bindings of the configuration: none without `[registrar]`.
    pub(super) fn bindings(&mut self) -> Vec<Binding> {
        let Some((_, _, _, expires)) = self.cfg.registrar else {
            return Vec::new();
        };
        let account = self.cfg.auth.clone().map(|a| (a.0.clone(), Some(a)));
        let mut users: Vec<(String, Option<Credentials>)> = account.into_iter().collect();
        for line in self.cfg.lines.clone() {
            if !users.iter().any(|(u, _)| *u == line.0) {
                users.push(line);
            }
        }
        users
            .into_iter()
            .map(|(user, auth)| Binding {
                user,
                auth,
                usage: self.new_usage(expires),
                state: "registering".into(),
            })
            .collect()
    }

    pub(super) fn send_register(&mut self, now: u64, i: usize) {
        let (Some((host, port, transport, _)), Some(&addr), Some(user)) = (
            self.cfg.registrar.clone(),
            self.registrar_addrs.first(),
            self.register.get(i).map(|b| b.user.clone()),
        ) else {
            return;
        };
        let via = self.via(transport);
        let contact = self.contact(&user, transport);
        let (host, port) = self.registrar_uri_host(host, port);
        let Some(b) = self.register.get_mut(i) else {
            return;
        };
        let u = &mut b.usage;
        u.cseq += 1;
        u.record_send(now);
        b.state = "registering".into();
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
        self.authorize(&mut req, Owner::Register(i));
        self.send(now, &req, Dest { addr, transport }, Purpose::Register(i));
    }

    pub(super) fn register_result(&mut self, now: u64, i: usize, code: u16, rsp: Option<&Message>) {
        if (200..300).contains(&code) {
            let rsp = rsp.expect("2xx carries a response");
            if let Err(why) = self.authentic(Owner::Register(i), rsp) {
                return self.not_authentic(now, Owner::Register(i), &why);
            }
            let Some(b) = self.register.get_mut(i) else {
                return;
            };
            let u = &mut b.usage;
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
            b.state = "registered".into();
            log::info!("{} registered, expires {granted} s", b.user);
            let at = now + self.refresh_in(granted.max(1));
            self.reschedule(Owner::Register(i), Some(at));
            return;
        }
        let retry_now = match (code, rsp) {
            (401 | 407, Some(r)) => self.take_challenge(Owner::Register(i), code, r),
            (423, Some(r)) => match self.register.get_mut(i) {
                Some(b) => match raised_expires(r, b.usage.expires) {
                    Some(min) => {
                        b.usage.expires = min;
                        true
                    }
                    None => false,
                },
                None => false,
            },
            _ => false,
        };
        let Some(b) = self.register.get_mut(i) else {
            return;
        };
        let u = &mut b.usage;
        if retry_now && u.retries < MAX_IMMEDIATE_RETRIES {
            u.retries += 1;
            let at = u.next_send(now);
            if at > now {
                self.reschedule(Owner::Register(i), Some(at));
            } else {
                self.send_register(now, i);
            }
            return;
        }
        u.retries = 0;
        u.failures += 1;
        b.state = format!("failed ({code})");
        let failures = u.failures;
        let user = b.user.clone();
        let delay = self.retry_delay(failures, rsp.and_then(retry_after));
        log::warn!("REGISTER of {user} failed with {code}; retry in {delay} ms");
        self.reschedule(Owner::Register(i), Some(now.saturating_add(delay)));
    }
}
