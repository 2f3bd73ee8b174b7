//! Answering NOTIFY: the dialog match (RFC 3261 §12.2.2, RFC 6665 §4.1.3), CSeq order,
//! the rules for unsolicited NOTIFY, the optional digest check, and blocking of sources that fail.

use super::subscription::{record_route, SubState};
use super::{Dest, Owner, Ua, UaEvent};
use crate::challenge;
use crate::summary::Summary;
use crate::wire::{addr_uri, param, uri_user, Message, ACCEPT, EVENT};
use mwi_config::{Transport, UnsolicitedTransport};
use mwi_core::MwiState;

/// The realm of sipd's own challenges when `[sip.auth]` names none.
const DEFAULT_REALM: &str = "dahdi-mwi";

impl Ua {
    /// The subscription whose dialog `req` is in (RFC 3261 §12.2.2, RFC 6665 §4.1.3): same
    /// Call-ID, To tag = the subscription's From tag, and From tag = the notifier's tag once
    /// known (the first NOTIFY may come before the SUBSCRIBE's 2xx and then creates the dialog,
    /// RFC 6665 §4.1.2.4).
    fn dialog_of(&self, req: &Message) -> Option<usize> {
        let i = *self.dialogs.get(req.call_id()?)?;
        let u = &self.subs[i].usage;
        let local = req.to_tag() == Some(u.from_tag.as_str());
        let remote = u.to_tag.is_none() || req.from_tag() == u.to_tag.as_deref();
        (local && remote).then_some(i)
    }

    pub(super) fn answer_notify(
        &mut self,
        now: u64,
        req: &Message,
        src: Dest,
        tag: &str,
    ) -> (Message, bool) {
        let event = req.header("Event").unwrap_or("");
        let package = event.split(';').next().unwrap_or("").trim();
        if !package.eq_ignore_ascii_case(EVENT) {
            let mut rsp = req.response(489, "Bad Event", tag);
            rsp.push("Allow-Events", EVENT);
            return (rsp, false);
        }
        let dialog = self.dialog_of(req);
        if dialog.is_none() {
            // With subscriptions, state comes only inside a subscription's dialog (RFC 6665
            // §4.1.3): no source, however trusted, changes it from outside.
            if !self.cfg.unsolicited {
                return (req.response(481, "Subscription Does Not Exist", tag), true);
            }
            if self.cfg.unsolicited_transport == UnsolicitedTransport::Tcp
                && src.transport != Transport::Tcp
            {
                log::warn!(
                    call_id = req.call_id().unwrap_or_default();
                    "unsolicited NOTIFY from {} refused: not over TCP \
                     ([mwi_server] unsolicited_transport)",
                    src.addr
                );
                return (
                    req.response(403, "Forbidden (unsolicited NOTIFY only over TCP)", tag),
                    true,
                );
            }
            if !self.allowed(src) {
                log::warn!(
                    call_id = req.call_id().unwrap_or_default();
                    "unsolicited NOTIFY from {} refused: source not in [mwi_server] allow",
                    src.addr
                );
                return (
                    req.response(403, "Forbidden (source not allowed)", tag),
                    true,
                );
            }
        }
        if let Err(refusal) = self.authenticate(now, req, tag) {
            return refusal;
        }
        if !req.body.is_empty() {
            let ctype = req.header("Content-Type").unwrap_or("");
            let media = ctype.split(';').next().unwrap_or("").trim();
            if !media.eq_ignore_ascii_case(ACCEPT) {
                let mut rsp = req.response(415, "Unsupported Media Type", tag);
                rsp.push("Accept", ACCEPT);
                return (rsp, false);
            }
        }
        let summary = if req.body.is_empty() {
            None
        } else {
            match Summary::parse(&req.body) {
                Ok(s) => Some(s),
                Err(e) => return (req.response(400, &format!("Bad Request ({e})"), tag), true),
            }
        };
        if let Some(i) = dialog {
            return self.notify_in_dialog(now, req, i, summary, tag);
        }
        let number = req.uri().and_then(uri_user).map(str::to_owned).or_else(|| {
            summary
                .as_ref()
                .and_then(|s| s.account.as_deref())
                .and_then(|a| uri_user(addr_uri(a)))
                .map(str::to_owned)
        });
        let Some(number) = number.filter(|n| self.serves(n)) else {
            return (
                req.response(481, "Call Leg/Transaction Does Not Exist", tag),
                false,
            );
        };
        if let Some(s) = summary {
            if let Some(refusal) = self.table_refusal(now, req, &number, tag) {
                return refusal;
            }
            self.publish(&number, s.state(), req.call_id().unwrap_or_default());
        }
        (req.response(200, "OK", tag), false)
    }

    /// With `notify_auth`, the digest check of an inbound request (RFC 3261 §22.2, §22.4):
    /// `Ok` when its Authorization answers a fresh nonce of ours with `[sip.auth]`'s
    /// credentials; else the 401 to send (with `stale=true` for a right answer to an old
    /// nonce), and whether it counts as a failure (wrong credentials, a replay, garbage).
    fn authenticate(&mut self, now: u64, req: &Message, tag: &str) -> Result<(), (Message, bool)> {
        if !self.cfg.notify_auth {
            return Ok(());
        }
        let Some((user, pass, realm)) = self.cfg.auth.clone() else {
            return Ok(());
        };
        let realm = realm.unwrap_or_else(|| DEFAULT_REALM.to_owned());
        let password_of = |u: &str| (u == user).then(|| pass.clone());
        match challenge::check(&mut self.nonces, now, req, &realm, password_of) {
            Ok(_) => Ok(()),
            Err(refusal) => {
                let challenges = (realm.as_str(), challenge::ALGORITHMS);
                let rsp = refusal.response(&mut self.nonces, now, req, challenges, tag);
                Err((rsp, refusal.fault.is_some()))
            }
        }
    }

    /// Whether `src` is the MWI server or in `allow`; an IPv4-mapped IPv6 source (a NOTIFY
    /// over IPv4 on a `[::]` socket) also matches as the IPv4 address it carries.
    pub(super) fn allowed(&self, src: Dest) -> bool {
        let ip = src.addr.ip();
        let v4 = ip.to_canonical();
        self.mwi_addrs.iter().any(|a| a.ip().to_canonical() == v4)
            || self
                .cfg
                .allow
                .iter()
                .any(|c| c.contains(ip) || c.contains(v4))
    }

    /// Records `state` for `number`, news of the NOTIFY `call_id` (named in the log only).
    fn publish(&mut self, number: &str, state: MwiState, call_id: &str) {
        log::info!(
            number:% = number, call_id = call_id;
            "MWI {number}: {} {}/{} ({}/{})",
            if state.waiting { "ON" } else { "OFF" },
            state.new,
            state.old,
            state.urgent_new,
            state.urgent_old
        );
        self.states.insert(number.to_owned(), state);
        self.events.push_back(UaEvent::Mwi {
            number: number.to_owned(),
            state,
            call_id: call_id.to_owned(),
        });
    }

    /// NOTIFY within subscription `i` (RFC 6665 §4.1.3).
    fn notify_in_dialog(
        &mut self,
        now: u64,
        req: &Message,
        i: usize,
        summary: Option<Summary>,
        tag: &str,
    ) -> (Message, bool) {
        let Some(ss) = req.header("Subscription-State") else {
            return (
                req.response(400, "Bad Request (missing Subscription-State header)", tag),
                true,
            );
        };
        let value = ss
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !matches!(value.as_str(), "active" | "pending" | "terminated") {
            return (
                req.response(400, "Bad Request (unknown Subscription-State)", tag),
                true,
            );
        }
        // RFC 3261 §12.2.2: a request older than the last one accepted in the dialog is out of
        // order (an equal CSeq with a new branch is no retransmission either).
        let cseq = req.cseq().map_or(0, |(n, _)| n);
        if self.subs[i]
            .usage
            .remote_cseq
            .is_some_and(|last| cseq <= last)
        {
            log::warn!(
                call_id = req.call_id().unwrap_or_default();
                "NOTIFY with CSeq {cseq} after CSeq {} in the dialog: out of order, refused",
                self.subs[i].usage.remote_cseq.unwrap_or_default()
            );
            return (
                req.response(500, "Server Internal Error (CSeq out of order)", tag),
                false,
            );
        }
        if summary.is_some() {
            let number = self.subs[i].number.clone();
            // Refused before anything changes: the notifier's next try gets a higher CSeq.
            if let Some(refusal) = self.table_refusal(now, req, &number, tag) {
                return refusal;
            }
        }
        self.subs[i].usage.remote_cseq = Some(cseq);
        let sub_expires = param(ss, "expires").and_then(|v| v.parse::<u32>().ok());
        let reason = param(ss, "reason").map(str::to_ascii_lowercase);
        let retry_after = param(ss, "retry-after").and_then(|v| v.parse::<u64>().ok());
        let number = self.subs[i].number.clone();
        {
            let sub = &mut self.subs[i];
            if sub.usage.to_tag.is_none() {
                // A NOTIFY ahead of the 2xx creates the dialog (RFC 6665 §4.1.2.4): its
                // Record-Route, in order, is the route set.
                sub.usage.to_tag = req.from_tag().map(str::to_owned);
                sub.usage.route_set = record_route(req);
            }
            if let Some(c) = req.header("Contact") {
                sub.usage.remote_target = Some(addr_uri(c).to_owned());
            }
        }
        if let Some(s) = summary {
            self.publish(&number, s.state(), req.call_id().unwrap_or_default());
        }
        match value.as_str() {
            "active" | "pending" => {
                let sub = &mut self.subs[i];
                sub.state = if value == "active" {
                    SubState::Active
                } else {
                    SubState::Pending
                };
                sub.established = true;
                // The notifier may shorten the subscription (RFC 6665 §4.2.2.1): refresh
                // relative to what it says is left.
                if let Some(e) = sub_expires.filter(|&e| e > 0) {
                    sub.usage.expires_at = Some(now + u64::from(e) * 1000);
                    let at = now + self.refresh_in(e);
                    self.reschedule(Owner::Sub(i), Some(at));
                }
            }
            "terminated" => {
                let reason = reason.unwrap_or_else(|| "unknown".into());
                let delay = match reason.as_str() {
                    // RFC 6665 §4.1.3: retry at once after deactivated/timeout.
                    "deactivated" | "timeout" => self.rng.u64(0..=1000),
                    "probation" | "giveup" => {
                        self.subs[i].usage.failures += 1;
                        self.retry_delay(self.subs[i].usage.failures, retry_after)
                    }
                    _ => self.backoff(u32::MAX),
                };
                log::info!(
                    number:% = number, call_id = self.subs[i].usage.call_id.as_str();
                    "subscription {number}: terminated ({reason}); new one in {delay} ms"
                );
                self.end_subscription(i, SubState::Terminated(reason));
                self.reschedule(Owner::Sub(i), Some(now.saturating_add(delay)));
            }
            _ => {}
        }
        (req.response(200, "OK", tag), false)
    }
}
