//! sipd as a notifier of the message-summary event package (RFC 6665, RFC 3842) for SIP phones,
//! sans-IO on the [`sansio::Core`] contract (issue 14 item 6).
//!
//! A phone SUBSCRIBEs to `sip:NUMBER@sipd` (the mailbox in the Request-URI user part); sipd
//! answers 200 (RFC 6665 §4.2.1.1) and at once NOTIFYs the number's current state with
//! `Subscription-State: active;expires=N`, then again on every change of that state, whatever
//! its source (the voice-mail server's NOTIFYs, a lamp the PBX sets, [`Notifier::set_state`]),
//! and on every refresh. `Expires: 0` ends the subscription with a NOTIFY `terminated`;
//! expiry with `terminated;reason=timeout`. Refused: another event package (489), an unknown
//! dialog (481), a source outside `[notifier] allow` or a mailbox not the account's own (403),
//! a digest answer missing or wrong (401, [`crate::challenge`]), an Expires below
//! `expires_min` (423), and beyond the bounds (503 with Retry-After).
//!
//! NOTIFYs go to the address the SUBSCRIBE came from (a phone behind NAT is reached there,
//! RFC 3581's symmetric response routing applied to the dialog), through the dialog's route
//! set. One NOTIFY per dialog is in flight at a time; a change meanwhile is sent after its
//! answer (the last state wins), so CSeq order is arrival order over UDP too. A NOTIFY
//! answered 481, 408 or another failure without Retry-After ends the subscription
//! (RFC 6665 §4.2.2).
//!
//! The notifier keeps the state of every number it heard of (at most `max_states`):
//! [`Notifier::restore`] loads them at start, [`Notifier::states`] gives them back for the
//! daemon to persist.

use crate::challenge;
use crate::digest::Algorithm;
use crate::nonces::Nonces;
use crate::summary::Summary;
use crate::transaction::{TimerValues, Transactions, Transmit, TxEvent, TxKey, MAGIC_COOKIE};
use crate::ua::Dest;
use crate::wire::{self, addr_uri, param, uri_user, Message, ACCEPT, EVENT};
use mwi_config::{Cidr, Config, Transport};
use mwi_core::MwiState;
use sansio::{Core, Duration, Instant, Timers};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

#[cfg(test)]
mod tests;

/// Retry-After of the 503 for a SUBSCRIBE beyond the bounds, seconds.
pub const FULL_RETRY_AFTER: u32 = 60;
/// The longest mailbox number accepted in a Request-URI (callctl's `Digits::MAX`).
pub const MAX_NUMBER: usize = 32;

/// What the notifier takes from the configuration (`[notifier]`).
#[derive(Clone, Debug)]
pub struct NotifierConfig {
    /// Sources that may subscribe; empty = any.
    pub allow: Vec<Cidr>,
    /// Realm of the challenges.
    pub realm: String,
    /// Algorithms of the challenges, in order.
    pub algorithms: Vec<Algorithm>,
    /// `(username, password)` of the subscribers; empty = no digest check.
    pub accounts: Vec<(String, String)>,
    /// Most subscriptions at once.
    pub max_subscriptions: usize,
    /// Most subscriptions at once from one IP address.
    pub max_per_source: usize,
    /// Shortest and longest subscription granted, seconds.
    pub expires_min: u32,
    /// See `expires_min`.
    pub expires_max: u32,
    /// Most numbers whose state is kept (`[table] capacity`).
    pub max_states: usize,
    /// `[sip] user_agent`: `Server` and `User-Agent`.
    pub user_agent: String,
    /// RFC 3261 timers of the NOTIFY transactions.
    pub timers: TimerValues,
}

impl NotifierConfig {
    /// The notifier settings of a validated configuration, `None` when `[notifier] enabled`
    /// is false. Passwords from `password_file` must have been read already
    /// ([`crate::secret::read_passwords`]).
    pub fn from_config(c: &Config) -> Option<Self> {
        let n = &c.notifier;
        n.enabled.then(|| Self {
            allow: n.allow.clone(),
            realm: n.realm.clone(),
            algorithms: n
                .algorithms
                .iter()
                .filter_map(|a| Algorithm::parse(a))
                .collect(),
            accounts: n
                .account
                .iter()
                .map(|a| (a.username.clone(), a.password.clone()))
                .collect(),
            max_subscriptions: n.max_subscriptions as usize,
            max_per_source: n.max_per_source as usize,
            expires_min: n.expires_min,
            expires_max: n.expires_max,
            max_states: c.table.capacity as usize,
            user_agent: c.sip.user_agent.clone(),
            timers: TimerValues::default(),
        })
    }
}

/// What the notifier reports to the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifierEvent {
    /// A SUBSCRIBE refused as a failure of its source (403, 401 with wrong credentials, 481),
    /// for `[sip.block]` ([`crate::ua::Ua::strike_source`]).
    Refused {
        /// Where it came from.
        src: Dest,
        /// The answer, for the log.
        why: String,
    },
}

/// Counters for `sipd status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NotifierStatus {
    /// Subscriptions now.
    pub subscriptions: usize,
    /// The bound on them (`max_subscriptions`).
    pub max_subscriptions: usize,
    /// SUBSCRIBE requests accepted (new and refreshes) since start.
    pub subscribes: u64,
    /// SUBSCRIBE requests refused (4xx, 5xx; challenges not counted) since start.
    pub refused: u64,
    /// NOTIFY requests sent since start.
    pub notifies_sent: u64,
    /// NOTIFY requests that failed (error response or timeout) since start.
    pub notify_failures: u64,
    /// Numbers whose state the notifier keeps.
    pub states: usize,
}

/// `sipd status` lines of the notifier.
pub fn render(st: &NotifierStatus) -> String {
    format!(
        "Notifier (message-summary subscriptions of SIP phones):\n  subscriptions {} of {}, \
         SUBSCRIBE accepted {}, refused {}\n  NOTIFY sent {}, failed {}\n  numbers known {}\n",
        st.subscriptions,
        st.max_subscriptions,
        st.subscribes,
        st.refused,
        st.notifies_sent,
        st.notify_failures,
        st.states
    )
}

/// One subscription: the notifier's side of its dialog (RFC 3261 §12.1.1).
#[derive(Debug)]
struct Sub {
    number: String,
    /// Where NOTIFYs go: the source of the last SUBSCRIBE.
    dest: Dest,
    call_id: String,
    /// Our tag (the To tag of our 200) and the subscriber's (its From tag).
    local_tag: String,
    remote_tag: String,
    /// The SUBSCRIBE's To and From, tags removed: From and To of our NOTIFYs.
    local_uri: String,
    remote_uri: String,
    /// The subscriber's Contact: the Request-URI of our NOTIFYs.
    remote_target: String,
    /// Record-Route of the SUBSCRIBE, in order: our Route headers.
    route: Vec<String>,
    /// The Event header of the SUBSCRIBE (with its `id`, RFC 6665 §8.2.1), echoed.
    event: String,
    remote_cseq: u32,
    local_cseq: u32,
    expires_at: Instant,
    /// The NOTIFY transaction in flight.
    in_flight: Option<TxKey>,
    /// A newer state waits for the answer to the NOTIFY in flight.
    pending: bool,
}

/// The notifier: subscriptions, their NOTIFY transactions and the state of every number.
pub struct Notifier {
    cfg: NotifierConfig,
    origin: Instant,
    tx: Transactions<Dest>,
    subs: HashMap<u64, Sub>,
    /// (Call-ID, our tag) → subscription.
    by_dialog: HashMap<(String, String), u64>,
    /// NOTIFY transaction → subscription.
    by_tx: HashMap<TxKey, u64>,
    /// Subscription expiry.
    timers: Timers<u64>,
    states: BTreeMap<String, MwiState>,
    next_id: u64,
    nonces: Nonces,
    local: HashMap<Transport, SocketAddr>,
    events: VecDeque<NotifierEvent>,
    status: NotifierStatus,
}

impl Notifier {
    /// A notifier started at `now`; `local` is the address SIP is sent from per transport
    /// (Via, Contact, Message-Account).
    pub fn new(now: Instant, cfg: NotifierConfig, local: HashMap<Transport, SocketAddr>) -> Self {
        Self {
            tx: Transactions::new(cfg.timers),
            status: NotifierStatus {
                max_subscriptions: cfg.max_subscriptions,
                ..NotifierStatus::default()
            },
            cfg,
            origin: now,
            subs: HashMap::new(),
            by_dialog: HashMap::new(),
            by_tx: HashMap::new(),
            timers: Timers::new(),
            states: BTreeMap::new(),
            next_id: 0,
            nonces: Nonces::default(),
            local,
            events: VecDeque::new(),
        }
    }

    /// A configuration read again (SIGHUP): new bounds, accounts and sources apply to the
    /// next SUBSCRIBE; running subscriptions go on until they end or are refreshed.
    pub fn reconfigure(&mut self, cfg: NotifierConfig) {
        self.status.max_subscriptions = cfg.max_subscriptions;
        self.cfg = cfg;
    }

    /// The local address of `transport` (learnt from the route to a server).
    pub fn set_local(&mut self, transport: Transport, addr: SocketAddr) {
        self.local.insert(transport, addr);
    }

    /// The states known at start (the table, the notifier's own file), without NOTIFY; at
    /// most `max_states` are kept.
    pub fn restore(&mut self, states: impl IntoIterator<Item = (String, MwiState)>) {
        for (number, state) in states {
            if self.states.len() >= self.cfg.max_states && !self.states.contains_key(&number) {
                break;
            }
            self.states.insert(number, state);
        }
        self.status.states = self.states.len();
    }

    /// Every number's state as the notifier knows it, in number order.
    pub fn states(&self) -> impl Iterator<Item = (&str, MwiState)> {
        self.states.iter().map(|(n, s)| (n.as_str(), *s))
    }

    /// The state of `number`, `None` when never heard of.
    pub fn state(&self, number: &str) -> Option<MwiState> {
        self.states.get(number).copied()
    }

    /// `number` has `state` now: every subscriber of it gets a NOTIFY when it changed.
    /// Returns `false` when the state is not kept: a new number beyond `max_states` (logged;
    /// its subscribers, if any, are still told).
    pub fn set_state(&mut self, now: Instant, number: &str, state: MwiState) -> bool {
        let known = self.states.get(number).copied();
        if known == Some(state) {
            return true;
        }
        let kept = known.is_some() || self.states.len() < self.cfg.max_states;
        if kept {
            self.states.insert(number.to_owned(), state);
            self.status.states = self.states.len();
        } else {
            log::warn!(
                number:% = number;
                "notifier: state of {number} not kept: {} numbers already (the table's capacity)",
                self.cfg.max_states
            );
        }
        let ids: Vec<u64> = self
            .subs
            .iter()
            .filter(|(_, s)| s.number == number)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.notify(now, id, Some(state));
        }
        kept
    }

    /// Counters for `sipd status`.
    pub fn status(&self) -> NotifierStatus {
        self.status
    }

    /// A SUBSCRIBE or a response to a NOTIFY (RFC 3261 §17), parsed and admitted by the
    /// [`crate::ua::Ua`], from `src`; `len` is its size on the wire (responses are trimmed to
    /// a multiple of it, [`wire::AMPLIFICATION`]).
    pub fn handle_sip(&mut self, now: Instant, msg: Message, len: usize, src: Dest) {
        if !msg.is_request() {
            self.tx.on_response(now, msg);
            self.drain_tx(now);
            return;
        }
        let reliable = src.transport == Transport::Tcp;
        let Some((key, req)) = self.tx.on_request(msg, src, reliable) else {
            return;
        };
        let tag = wire::secret_token(10);
        let (mut rsp, then) = self.answer(now, &req, src, &tag);
        let code = rsp.code().unwrap_or(500);
        if code >= 300 && code != 401 {
            self.status.refused += 1;
        }
        if matches!(code, 403 | 481) || (code == 401 && matches!(then, After::Strike)) {
            self.events.push_back(NotifierEvent::Refused {
                src,
                why: rsp.summary(),
            });
        }
        rsp.push("Server", self.cfg.user_agent.clone());
        rsp.trim_to(len.saturating_mul(wire::AMPLIFICATION));
        self.tx.respond(now, &key, &rsp);
        match then {
            After::Notify(id) => {
                let state = self.subs.get(&id).and_then(|s| self.states.get(&s.number));
                self.notify(now, id, state.copied());
            }
            After::Final(sub, reason) => self.send_final(now, *sub, reason),
            After::Nothing | After::Strike => {}
        }
    }

    /// The answer to a new SUBSCRIBE transaction and what follows it.
    fn answer(&mut self, now: Instant, req: &Message, src: Dest, tag: &str) -> (Message, After) {
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

    /// Ends subscription `id` in the notifier's books; its last NOTIFY is up to the caller.
    fn remove(&mut self, id: u64) -> Option<Sub> {
        let sub = self.subs.remove(&id)?;
        self.by_dialog
            .remove(&(sub.call_id.clone(), sub.local_tag.clone()));
        if let Some(k) = &sub.in_flight {
            self.by_tx.remove(k);
        }
        self.timers.cancel(id);
        self.status.subscriptions = self.subs.len();
        Some(sub)
    }

    /// Sends the state to subscription `id` now, or after the NOTIFY in flight.
    fn notify(&mut self, now: Instant, id: u64, state: Option<MwiState>) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        if sub.in_flight.is_some() {
            sub.pending = true;
            return;
        }
        sub.pending = false;
        let left = sub.expires_at.saturating_duration_since(now).as_secs();
        let ss = format!("active;expires={left}");
        let req = self.build_notify(id, &ss, state);
        if let Some(req) = req {
            let key = self.send(now, id, &req);
            if let (Some(key), Some(sub)) = (key, self.subs.get_mut(&id)) {
                sub.in_flight = Some(key.clone());
                self.by_tx.insert(key, id);
            }
        }
    }

    /// The last NOTIFY of a subscription already removed: `terminated`, with `reason`.
    fn send_final(&mut self, now: Instant, mut sub: Sub, reason: Option<&str>) {
        let ss = match reason {
            Some(r) => format!("terminated;reason={r}"),
            None => "terminated".to_owned(),
        };
        let state = self.states.get(&sub.number).copied();
        sub.local_cseq += 1;
        let req = self.notify_request(&sub, &ss, state);
        self.transmit(now, sub.dest, &req);
    }

    /// The next NOTIFY of subscription `id` (its CSeq counted).
    fn build_notify(&mut self, id: u64, ss: &str, state: Option<MwiState>) -> Option<Message> {
        let sub = self.subs.get_mut(&id)?;
        sub.local_cseq += 1;
        let sub = &self.subs[&id];
        Some(self.notify_request(sub, ss, state))
    }

    /// A NOTIFY in `sub`'s dialog (RFC 6665 §4.2.2, RFC 3842 §5) with the body of `state`
    /// (none before the number's state is known: RFC 6665 §4.2.2 lets a NOTIFY carry no body).
    fn notify_request(&self, sub: &Sub, ss: &str, state: Option<MwiState>) -> Message {
        let mut req = Message::request("NOTIFY", &sub.remote_target);
        req.push("Via", self.via(sub.dest.transport));
        req.push("Max-Forwards", "70");
        for r in &sub.route {
            req.push("Route", r.clone());
        }
        req.push("From", format!("{};tag={}", sub.local_uri, sub.local_tag));
        req.push("To", format!("{};tag={}", sub.remote_uri, sub.remote_tag));
        req.push("Call-ID", sub.call_id.clone());
        req.push("CSeq", format!("{} NOTIFY", sub.local_cseq));
        req.push("Contact", self.contact(&sub.number, sub.dest.transport));
        req.push("Event", sub.event.clone());
        req.push("Subscription-State", ss.to_owned());
        req.push("User-Agent", self.cfg.user_agent.clone());
        if let Some(st) = state {
            let mut summary = Summary::from(st);
            summary.account = Some(self.account(&sub.number, sub.dest.transport));
            req.push("Content-Type", ACCEPT);
            req.body = summary.to_body().into_bytes();
        }
        req
    }

    /// Starts the NOTIFY transaction of subscription `id`.
    fn send(&mut self, now: Instant, id: u64, req: &Message) -> Option<TxKey> {
        let dest = self.subs.get(&id)?.dest;
        self.transmit(now, dest, req)
    }

    fn transmit(&mut self, now: Instant, dest: Dest, req: &Message) -> Option<TxKey> {
        let key = self
            .tx
            .send_request(now, req, dest, dest.transport == Transport::Tcp)?;
        self.status.notifies_sent += 1;
        Some(key)
    }

    fn drain_tx(&mut self, now: Instant) {
        while let Some(ev) = self.tx.poll_event() {
            let (key, code, retry_after) = match ev {
                TxEvent::Response(k, r) => {
                    let ra = r.header("Retry-After").is_some();
                    (k, r.code().unwrap_or(0), ra)
                }
                TxEvent::Timeout(k) | TxEvent::TransportError(k) => (k, 408, false),
            };
            if code < 200 {
                continue;
            }
            let Some(id) = self.by_tx.remove(&key) else {
                continue;
            };
            let Some(sub) = self.subs.get_mut(&id) else {
                continue;
            };
            sub.in_flight = None;
            if code >= 300 {
                self.status.notify_failures += 1;
                // RFC 6665 §4.2.2: 481, 408 and failures without Retry-After end it.
                if code == 481 || code == 408 || !retry_after {
                    log::info!(
                        number:% = sub.number, call_id = sub.call_id.as_str();
                        "notifier: NOTIFY to {} for {} answered {code}: subscription ended",
                        sub.dest.addr,
                        sub.number
                    );
                    self.remove(id);
                    continue;
                }
            }
            if sub.pending {
                let state = self.states.get(&sub.number).copied();
                self.notify(now, id, state);
            }
        }
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        let v4 = ip.to_canonical();
        self.cfg.allow.is_empty()
            || self
                .cfg
                .allow
                .iter()
                .any(|c| c.contains(ip) || c.contains(v4))
    }

    fn local_addr(&self, t: Transport) -> SocketAddr {
        self.local
            .get(&t)
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5060)))
    }

    fn via(&self, t: Transport) -> String {
        let name = match t {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        };
        format!(
            "SIP/2.0/{name} {};branch={MAGIC_COOKIE}{};rport",
            self.local_addr(t),
            wire::secret_token(16)
        )
    }

    fn contact(&self, user: &str, t: Transport) -> String {
        match t {
            Transport::Udp => format!("<sip:{user}@{}>", self.local_addr(t)),
            Transport::Tcp => format!("<sip:{user}@{};transport=tcp>", self.local_addr(t)),
        }
    }

    /// The Message-Account of `number` (RFC 3842 §5.2): the mailbox at this sipd.
    fn account(&self, number: &str, t: Transport) -> String {
        format!("sip:{number}@{}", self.local_addr(t))
    }

    /// `now` as milliseconds since start: the clock of [`Nonces`].
    fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }
}

/// What follows the answer to a SUBSCRIBE.
#[derive(Debug)]
enum After {
    Nothing,
    /// A 401 for a wrong answer: a failure of the source.
    Strike,
    /// NOTIFY the subscription's state.
    Notify(u64),
    /// The last NOTIFY of a subscription ended by this request, `terminated` with a reason.
    Final(Box<Sub>, Option<&'static str>),
}

/// A From or To value without its `tag` parameter.
fn without_tag(v: &str) -> String {
    match param(v, "tag") {
        Some(t) => v.replacen(&format!(";tag={t}"), "", 1),
        None => v.to_owned(),
    }
}

/// SUBSCRIBE and the answers to our NOTIFYs in, NOTIFYs and answers out; timers: the
/// transactions' and subscription expiry.
impl Core for Notifier {
    type Transmit = Transmit<Dest>;
    type Event = NotifierEvent;

    /// Transaction timers, then every subscription that expired: `terminated;reason=timeout`
    /// (RFC 6665 §4.2.2).
    fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.drain_tx(now);
        while let Some(id) = self.timers.pop_due(now) {
            if let Some(sub) = self.remove(id) {
                log::info!(
                    number:% = sub.number, call_id = sub.call_id.as_str();
                    "notifier: subscription of {} to {} expired",
                    sub.dest.addr,
                    sub.number
                );
                self.send_final(now, sub, Some("timeout"));
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit<Dest>> {
        let t = self.tx.poll_transmit()?;
        log::debug!(
            "SIP send to {} ({:?}):\n{}",
            t.dest.addr,
            t.dest.transport,
            String::from_utf8_lossy(&t.bytes)
        );
        Some(t)
    }

    fn poll_event(&mut self) -> Option<NotifierEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.tx.poll_timeout(), self.timers.next()]
            .into_iter()
            .flatten()
            .min()
    }
}
