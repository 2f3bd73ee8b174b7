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

use crate::digest::Algorithm;
use crate::nonces::Nonces;
use crate::summary::Summary;
use crate::transaction::{new_via, TimerValues, Transactions, Transmit, TxEvent, TxKey};
use crate::ua::Dest;
use crate::wire::{self, Message, ACCEPT};
use mwi_config::{Cidr, Config, Transport};
use mwi_core::MwiState;
use sansio::{Core, Instant, Timers};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

#[cfg(test)]
mod tests;

mod subscribe;

use subscribe::After;

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
        new_via(t, self.local_addr(t))
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
        self.tx.poll_transmit()
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
