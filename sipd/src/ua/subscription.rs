//! The RFC 6665 subscriber: sending SUBSCRIBE (initial and refresh), its results, and the end
//! of a subscription.

use super::usage::{raised_expires, retry_after, Usage, MAX_IMMEDIATE_RETRIES};
use super::{Owner, Purpose, Ua};
use crate::wire::{self, addr_uri, Message, ACCEPT, EVENT};
use mwi_config::Transport;

/// Where a subscription stands (RFC 6665 §4.1.2, §4.2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubState {
    /// Waiting to send the initial SUBSCRIBE.
    Idle,
    /// An initial SUBSCRIBE is in flight.
    Subscribing,
    /// Accepted, `Subscription-State: pending`.
    Pending,
    /// `Subscription-State: active`.
    Active,
    /// Ended (`terminated` with its reason, or a failure); a new subscription follows at the
    /// scheduled time.
    Terminated(String),
}

impl std::fmt::Display for SubState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Idle => f.write_str("idle"),
            Self::Subscribing => f.write_str("subscribing"),
            Self::Pending => f.write_str("pending"),
            Self::Active => f.write_str("active"),
            Self::Terminated(r) => write!(f, "terminated;reason={r}"),
        }
    }
}

pub(super) struct Subscription {
    pub(super) number: String,
    pub(super) state: SubState,
    pub(super) usage: Usage,
    /// Whether the usage's dialog is established (a refresh is in-dialog).
    pub(super) established: bool,
}

impl Subscription {
    /// A subscription of `number` not yet sent, on `usage`.
    pub(super) fn idle(number: String, usage: Usage) -> Self {
        Self {
            number,
            state: SubState::Idle,
            usage,
            established: false,
        }
    }
}

impl Ua {
    pub(super) fn send_subscribe(&mut self, now: u64, i: usize) {
        let Some(dest) = self.mwi_dest() else {
            return;
        };
        let transport = self.cfg.mwi_transport;
        let number = self.subs[i].number.clone();
        let (host, port) = self.mwi_uri_host();
        let aor = Self::host_uri(&host, port, Transport::Udp, Some(&number));
        let target = Self::host_uri(&host, port, transport, Some(&number));
        let via = self.via(transport);
        let contact = self.contact(&number, transport);
        let sub = &mut self.subs[i];
        if !sub.established {
            sub.state = SubState::Subscribing;
        }
        let u = &mut sub.usage;
        u.cseq += 1;
        u.record_send(now);
        let uri = match (sub.established, &u.remote_target) {
            (true, Some(t)) => t.clone(),
            _ => target,
        };
        let mut req = Message::request("SUBSCRIBE", &uri);
        req.push("Via", via);
        req.push("Max-Forwards", "70");
        req.push("From", format!("<{aor}>;tag={}", u.from_tag));
        match (&u.to_tag, sub.established) {
            (Some(t), true) => req.push("To", format!("<{aor}>;tag={t}")),
            _ => req.push("To", format!("<{aor}>")),
        }
        if sub.established {
            for r in &u.route_set {
                req.push("Route", r.clone());
            }
        }
        req.push("Call-ID", u.call_id.clone());
        req.push("CSeq", format!("{} SUBSCRIBE", u.cseq));
        req.push("Contact", contact);
        req.push("Event", EVENT);
        req.push("Accept", ACCEPT);
        req.push("Expires", u.expires.to_string());
        req.push("User-Agent", self.cfg.user_agent.clone());
        self.authorize(&mut req, Owner::Sub(i));
        self.dialogs.insert(self.subs[i].usage.call_id.clone(), i);
        self.send(now, &req, dest, Purpose::Subscribe(i));
    }

    pub(super) fn end_subscription(&mut self, i: usize, state: SubState) {
        let sub = &mut self.subs[i];
        self.dialogs.remove(&sub.usage.call_id);
        sub.state = state;
        sub.established = false;
        sub.usage.expires_at = None;
    }

    pub(super) fn subscribe_result(
        &mut self,
        now: u64,
        i: usize,
        code: u16,
        rsp: Option<&Message>,
    ) {
        let number = self.subs[i].number.clone();
        if (200..300).contains(&code) {
            let rsp = rsp.expect("2xx carries a response");
            if let Err(why) = self.authentic(Owner::Sub(i), rsp) {
                return self.not_authentic(now, Owner::Sub(i), &why);
            }
            let granted = rsp
                .header("Expires")
                .and_then(|e| e.parse::<u32>().ok())
                .unwrap_or(self.subs[i].usage.expires);
            let sub = &mut self.subs[i];
            sub.usage.auth.failed = false;
            sub.usage.failures = 0;
            sub.usage.retries = 0;
            if sub.usage.to_tag.is_none() {
                sub.usage.to_tag = rsp.to_tag().map(str::to_owned);
                // The UAC's route set is the Record-Route of the 2xx, reversed (§12.1.2).
                sub.usage.route_set = record_route(rsp).into_iter().rev().collect();
            }
            if let Some(c) = rsp.header("Contact") {
                sub.usage.remote_target = Some(addr_uri(c).to_owned());
            }
            if granted == 0 {
                self.end_subscription(i, SubState::Terminated("expires=0".into()));
                let d = self.backoff(1);
                self.reschedule(Owner::Sub(i), Some(now + d));
                return;
            }
            let sub = &mut self.subs[i];
            sub.established = true;
            if sub.state == SubState::Subscribing || matches!(sub.state, SubState::Terminated(_)) {
                sub.state = SubState::Pending;
            }
            sub.usage.expires_at = Some(now + u64::from(granted) * 1000);
            log::info!(
                number:% = number, call_id = self.subs[i].usage.call_id.as_str();
                "subscription {number}: {code}, expires {granted} s"
            );
            let at = now + self.refresh_in(granted);
            self.reschedule(Owner::Sub(i), Some(at));
            return;
        }
        let retry_now = match (code, rsp) {
            (401 | 407, Some(r)) => self.take_challenge(Owner::Sub(i), code, r),
            (423, Some(r)) => match raised_expires(r, self.subs[i].usage.expires) {
                Some(min) => {
                    self.subs[i].usage.expires = min;
                    true
                }
                None => false,
            },
            _ => false,
        };
        if retry_now && self.subs[i].usage.retries < MAX_IMMEDIATE_RETRIES {
            self.subs[i].usage.retries += 1;
            if !self.subs[i].established {
                self.subs[i].state = SubState::Idle;
            }
            let at = self.subs[i].usage.next_send(now);
            if at > now {
                self.reschedule(Owner::Sub(i), Some(at));
            } else {
                self.send_subscribe(now, i);
            }
            return;
        }
        self.subs[i].usage.retries = 0;
        // RFC 6665 §4.1.2.2: a failed refresh (481, 408, ...) ends the subscription.
        let reason = match code {
            408 => "timeout".to_owned(),
            481 => "481".to_owned(),
            _ => format!("{code}"),
        };
        let retry_after = rsp.and_then(retry_after);
        let delay = match (code, retry_after) {
            // The dialog of a refresh is gone: a new subscription at once.
            (481, None) if self.subs[i].established => self.rng.u64(0..=1000),
            // The server will not change its mind soon.
            (403 | 404 | 489, None) => self.backoff(u32::MAX),
            _ => {
                self.subs[i].usage.failures += 1;
                self.retry_delay(self.subs[i].usage.failures, retry_after)
            }
        };
        log::warn!(
            number:% = number, call_id = self.subs[i].usage.call_id.as_str();
            "subscription {number}: {code}; new subscription in {delay} ms"
        );
        self.end_subscription(i, SubState::Terminated(reason));
        self.reschedule(Owner::Sub(i), Some(now.saturating_add(delay)));
    }
}

/// Every Record-Route entry of `m`, in order.
pub(super) fn record_route(m: &Message) -> Vec<String> {
    m.headers("Record-Route")
        .flat_map(wire::split_list)
        .map(str::to_owned)
        .collect()
}
