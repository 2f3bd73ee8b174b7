//! Answering SUBSCRIBE (RFC 6665 §4.2.1): the checks in order (event package, Accept, source,
//! digest, mailbox, Expires, bounds) and their refusals, a new subscription's dialog, and a
//! refresh, unsubscribe or fetch in an existing one. Apart from `mod.rs`, which holds the
//! subscriptions and sends their NOTIFYs.

use super::{Notifier, Sub, FULL_RETRY_AFTER, MAX_NUMBER};
use crate::challenge;
use crate::ua::Dest;
use crate::wire::{self, addr_uri, uri_user, without_tag, Message, ACCEPT, EVENT};
use mwi_config::Transport;
use sansio::{Duration, Instant};

impl Notifier {
    /// The answer to a new SUBSCRIBE transaction and what follows it.
    pub(super) fn answer(
        &mut self,
        now: Instant,
        req: &Message,
        src: Dest,
        tag: &str,
    ) -> (Message, After) {
        let event = req.header("Event").unwrap_or("").to_owned();
        let package = event.split(';').next().unwrap_or("").trim();
        if !package.eq_ignore_ascii_case(EVENT) {
            let mut rsp = req.response(489, "Bad Event", tag);
            rsp.push("Allow-Events", EVENT);
            return (rsp, After::Nothing);
        }
        if let Some(accept) = req.header("Accept") {
            let ok = wire::split_list(accept).iter().any(|a| {
                let media = a.split(';').next().unwrap_or("").trim();
                media.eq_ignore_ascii_case(ACCEPT)
                    || media == "*/*"
                    || media.eq_ignore_ascii_case("application/*")
            });
            if !ok {
                let mut rsp = req.response(406, "Not Acceptable", tag);
                rsp.push("Accept", ACCEPT);
                return (rsp, After::Nothing);
            }
        }
        if !self.allowed(src.addr.ip()) {
            log::warn!(
                call_id = req.call_id().unwrap_or_default();
                "SUBSCRIBE from {} refused: source not in [notifier] allow",
                src.addr
            );
            return (
                req.response(403, "Forbidden (source not allowed)", tag),
                After::Nothing,
            );
        }
        let number = req.uri().and_then(uri_user).unwrap_or_default().to_owned();
        let user = if self.cfg.accounts.is_empty() {
            None
        } else {
            let accounts = &self.cfg.accounts;
            let password_of = |u: &str| {
                accounts
                    .iter()
                    .find(|(a, _)| a == u)
                    .map(|(_, p)| p.clone())
            };
            let ms = self.ms(now);
            match challenge::check(&mut self.nonces, ms, req, &self.cfg.realm, password_of) {
                Ok(user) => Some(user),
                Err(r) => {
                    let challenges = (self.cfg.realm.as_str(), self.cfg.algorithms.as_slice());
                    let rsp = r.response(&mut self.nonces, ms, req, challenges, tag);
                    let then = if r.fault.is_some() {
                        After::Strike
                    } else {
                        After::Nothing
                    };
                    return (rsp, then);
                }
            }
        };
        if user.as_ref().is_some_and(|u| *u != number) {
            log::warn!(
                call_id = req.call_id().unwrap_or_default();
                "SUBSCRIBE from {} for {number} refused: account {:?} may subscribe only to its own mailbox",
                src.addr,
                user.unwrap_or_default()
            );
            return (
                req.response(403, "Forbidden (not your mailbox)", tag),
                After::Nothing,
            );
        }
        let expires = match req.header("Expires").map(|e| e.trim().parse::<u32>()) {
            None => self.cfg.expires_max,
            Some(Ok(e)) => e.min(self.cfg.expires_max),
            Some(Err(_)) => {
                return (
                    req.response(400, "Bad Request (Expires is no number)", tag),
                    After::Nothing,
                )
            }
        };
        if expires > 0 && expires < self.cfg.expires_min {
            let mut rsp = req.response(423, "Interval Too Brief", tag);
            rsp.push("Min-Expires", self.cfg.expires_min.to_string());
            return (rsp, After::Nothing);
        }
        if req.to_tag().is_some() {
            return self.in_dialog(now, req, src, expires, tag);
        }
        if number.is_empty()
            || number.len() > MAX_NUMBER
            || !number
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
        {
            return (
                req.response(404, "Not Found (no such mailbox)", tag),
                After::Nothing,
            );
        }
        let Some(contact) = req.header("Contact").map(|c| addr_uri(c).to_owned()) else {
            return (
                req.response(400, "Bad Request (missing Contact header)", tag),
                After::Nothing,
            );
        };
        let from_source = self
            .subs
            .values()
            .filter(|s| s.dest.addr.ip() == src.addr.ip())
            .count();
        if self.subs.len() >= self.cfg.max_subscriptions || from_source >= self.cfg.max_per_source {
            log::warn!(
                call_id = req.call_id().unwrap_or_default();
                "SUBSCRIBE from {} for {number} refused: {} subscriptions ({} from this source)",
                src.addr,
                self.subs.len(),
                from_source
            );
            let mut rsp = req.response(503, "Service Unavailable (too many subscriptions)", tag);
            rsp.push("Retry-After", FULL_RETRY_AFTER.to_string());
            return (rsp, After::Nothing);
        }
        let (Some(call_id), Some(remote_tag), Some(from), Some(to)) = (
            req.call_id(),
            req.from_tag(),
            req.header("From"),
            req.header("To"),
        ) else {
            return (
                req.response(400, "Bad Request (no From tag)", tag),
                After::Nothing,
            );
        };
        let sub = Sub {
            number: number.clone(),
            dest: src,
            call_id: call_id.to_owned(),
            local_tag: tag.to_owned(),
            remote_tag: remote_tag.to_owned(),
            local_uri: without_tag(to),
            remote_uri: without_tag(from),
            remote_target: contact,
            route: req
                .headers("Record-Route")
                .flat_map(wire::split_list)
                .map(str::to_owned)
                .collect(),
            event,
            remote_cseq: req.cseq().map_or(0, |(n, _)| n),
            local_cseq: 0,
            expires_at: now + Duration::from_secs(u64::from(expires)),
            in_flight: None,
            pending: false,
        };
        let rsp = self.accepted(req, &number, src.transport, expires, tag);
        if expires == 0 {
            // A fetch (RFC 6665 §4.4.3): one NOTIFY with the state, terminated.
            log::info!(number:% = number, call_id = call_id; "notifier: {number} fetched by {}", src.addr);
            return (rsp, After::Final(Box::new(sub), None));
        }
        log::info!(
            number:% = number, call_id = call_id;
            "notifier: {} subscribed to {number} for {expires} s",
            src.addr
        );
        let id = self.next_id;
        self.next_id += 1;
        self.by_dialog
            .insert((sub.call_id.clone(), sub.local_tag.clone()), id);
        self.timers.set(id, sub.expires_at);
        self.subs.insert(id, sub);
        self.status.subscriptions = self.subs.len();
        (rsp, After::Notify(id))
    }

    /// A refresh or an unsubscribe in an existing dialog (RFC 6665 §4.2.1.2, §4.2.1.3).
    fn in_dialog(
        &mut self,
        now: Instant,
        req: &Message,
        src: Dest,
        expires: u32,
        tag: &str,
    ) -> (Message, After) {
        let key = (
            req.call_id().unwrap_or_default().to_owned(),
            req.to_tag().unwrap_or_default().to_owned(),
        );
        let id = self.by_dialog.get(&key).copied().filter(|id| {
            self.subs
                .get(id)
                .is_some_and(|s| req.from_tag() == Some(s.remote_tag.as_str()))
        });
        let Some(id) = id else {
            return (
                req.response(481, "Subscription Does Not Exist", tag),
                After::Nothing,
            );
        };
        let cseq = req.cseq().map_or(0, |(n, _)| n);
        let Some(sub) = self.subs.get_mut(&id) else {
            return (
                req.response(481, "Subscription Does Not Exist", tag),
                After::Nothing,
            );
        };
        // RFC 3261 §12.2.2: a request older than the last one in the dialog is out of order.
        if cseq <= sub.remote_cseq {
            return (
                req.response(500, "Server Internal Error (CSeq out of order)", tag),
                After::Nothing,
            );
        }
        sub.remote_cseq = cseq;
        sub.dest = src;
        if let Some(c) = req.header("Contact") {
            sub.remote_target = addr_uri(c).to_owned();
        }
        sub.expires_at = now + Duration::from_secs(u64::from(expires));
        let number = sub.number.clone();
        let rsp = self.accepted(req, &number, src.transport, expires, "");
        if expires == 0 {
            log::info!(
                number:% = number, call_id = key.0.as_str();
                "notifier: {} unsubscribed from {number}",
                src.addr
            );
            return match self.remove(id) {
                Some(sub) => (rsp, After::Final(Box::new(sub), None)),
                None => (rsp, After::Nothing),
            };
        }
        self.timers.set(id, self.subs[&id].expires_at);
        (rsp, After::Notify(id))
    }

    /// The 200 to an accepted SUBSCRIBE of `sub` for `expires` seconds.
    fn accepted(
        &mut self,
        req: &Message,
        number: &str,
        t: Transport,
        expires: u32,
        tag: &str,
    ) -> Message {
        self.status.subscribes += 1;
        let mut rsp = req.response(200, "OK", tag);
        rsp.push("Expires", expires.to_string());
        rsp.push("Contact", self.contact(number, t));
        rsp
    }
}

/// What follows the answer to a SUBSCRIBE.
#[derive(Debug)]
pub(super) enum After {
    Nothing,
    /// A 401 for a wrong answer: a failure of the source.
    Strike,
    /// NOTIFY the subscription's state.
    Notify(u64),
    /// The last NOTIFY of a subscription ended by this request, `terminated` with a reason.
    Final(Box<Sub>, Option<&'static str>),
}
