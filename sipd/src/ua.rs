//! The message-waiting user agent, sans-IO: per-number subscriptions (RFC 6665, RFC 3842),
//! unsolicited NOTIFY, REGISTER (RFC 3261 §10) with digest, OPTIONS answered and sent as a
//! keep-alive ping. Bytes, sources and a millisecond clock go in; bytes to send, the next wake-up
//! time and MWI states (through [`MwiSink`]) come out.
//!
//! Requests sipd sends always go to the resolved MWI server (or registrar) address (an outbound
//! proxy in RFC 3261 terms); in-dialog requests carry the dialog's route set as Route headers.

use crate::digest::{Algorithm, Challenge, Credentials};
use crate::guard::{BlockRules, BlockedSource, Blocklist, Verdict};
use crate::nonces::{Nonces, Use};
use crate::summary::Summary;
use crate::transaction::{TimerValues, Transactions, Transmit, TxEvent, TxKey, MAGIC_COOKIE};
use crate::wire::{self, addr_uri, param, uri_user, Message, ACCEPT, AGENT, ALLOW, EVENT};
use mwi_core::config::{Cidr, Config, Transport, UnsolicitedTransport, EXPIRES_RANGE};
use mwi_core::route::Router;
use mwi_core::{MwiSink, MwiState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

mod reload;

/// The numbers sipd subscribes for: every FXS port with `mwi = true`, then every `[[pri]]`
/// served-user pattern that names one number (no `.`); a wildcard pattern cannot be subscribed
/// and is served by unsolicited NOTIFYs only.
fn subscribed_numbers(c: &Config) -> Vec<String> {
    let mut numbers: Vec<String> = c
        .fxs
        .iter()
        .filter(|f| f.mwi)
        .map(|f| f.number.to_string())
        .collect();
    for n in c.pri.iter().flat_map(|p| &p.numbers).map(|p| p.to_string()) {
        let taken_by_fxs = c.fxs.iter().any(|f| f.number.as_str() == n);
        if !n.contains('.') && !taken_by_fxs && !numbers.contains(&n) {
            numbers.push(n);
        }
    }
    numbers
}

/// Where a message goes or comes from: address and transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dest {
    /// Remote address.
    pub addr: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
}

/// Re-subscribe backoff after a failure (ms): `base * 2^(failures-1)`, capped at `max`, then
/// scaled by a random factor in 0.5..1.0 (RFC 5626 §4.5 style) so that many numbers spread out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// First retry delay, ms.
    pub base: u64,
    /// Largest delay, ms.
    pub max: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: 30_000,
            max: 1_800_000,
        }
    }
}

/// What the user agent needs from the configuration.
#[derive(Clone, Debug)]
pub struct UaConfig {
    /// The `[mwi_server] server` as configured (`ipv4:…` or `dns:…`), for status.
    pub mwi_spec: String,
    /// Host part used in Request-URI/To of SUBSCRIBE (the `server` of `[mwi_server]`).
    pub mwi_host: String,
    /// `[mwi_server] port`.
    pub mwi_port: u16,
    /// `[mwi_server] transport`.
    pub mwi_transport: Transport,
    /// Requested subscription duration, s (1..=999999).
    pub expires: u32,
    /// `unsolicited = true`: no subscriptions.
    pub unsolicited: bool,
    /// Sources allowed to send NOTIFY outside a subscription (besides the MWI server itself).
    pub allow: Vec<Cidr>,
    /// `[mwi_server] unsolicited_transport`: `Tcp` refuses unsolicited NOTIFYs over UDP.
    pub unsolicited_transport: UnsolicitedTransport,
    /// `[mwi_server] notify_auth`: challenge inbound NOTIFYs with `auth`'s credentials.
    pub notify_auth: bool,
    /// `[sip.block]`: when a failing source is blocked.
    pub block: BlockRules,
    /// Numbers of FXS lines with `mwi = true`: one subscription each.
    pub mwi_numbers: Vec<String>,
    /// Which numbers are served (mwi_core::route): a NOTIFY for any other gets 481.
    pub router: Router,
    /// `[sip.auth]` username, password and optional realm.
    pub auth: Option<(String, String, Option<String>)>,
    /// `[registrar]`: host, port, transport, expires.
    pub registrar: Option<(String, u16, Transport, u32)>,
    /// OPTIONS ping interval, s (0: off).
    pub options_interval: u32,
    /// Consecutive OPTIONS failures after which the server is reported down.
    pub options_failures: u32,
    /// RFC 3261 timers.
    pub timers: TimerValues,
    /// Re-subscribe backoff.
    pub backoff: Backoff,
    /// Minimum gap between two SUBSCRIBE/REGISTER sends, ms: 10,000 numbers never start or
    /// refresh in one burst.
    pub pace: u64,
}

impl UaConfig {
    /// The user-agent settings of a validated configuration.
    pub fn from_config(c: &Config) -> Self {
        let host = |s: &mwi_core::config::ServerSpec| match s {
            mwi_core::config::ServerSpec::Ipv4(a) => a.to_string(),
            mwi_core::config::ServerSpec::Dns(h) => h.clone(),
        };
        let m = &c.mwi_server;
        Self {
            mwi_spec: m.server.to_string(),
            mwi_host: host(&m.server),
            mwi_port: m.port,
            mwi_transport: m.transport,
            expires: m.expires,
            unsolicited: m.unsolicited,
            allow: m.allow.clone(),
            unsolicited_transport: m.unsolicited_transport,
            notify_auth: m.notify_auth,
            block: BlockRules::from_config(&c.sip.block),
            mwi_numbers: subscribed_numbers(c),
            router: c.router(),
            auth: c
                .sip
                .auth
                .as_ref()
                .map(|a| (a.username.clone(), a.password.clone(), a.realm.clone())),
            registrar: c
                .registrar
                .as_ref()
                .map(|r| (host(&r.server), r.port, r.transport, r.expires)),
            options_interval: m.options_interval,
            options_failures: m.options_failures,
            timers: TimerValues::default(),
            backoff: Backoff::default(),
            pace: 10,
        }
    }
}

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

/// Authentication progress of one client request sequence (a subscription or the registration).
#[derive(Clone, Debug, Default)]
struct AuthState {
    /// The last challenge and whether it came in Proxy-Authenticate.
    challenge: Option<(Challenge, bool)>,
    /// Nonce count already used with the challenge's nonce.
    nc: u32,
    /// The last request carried an answer to `challenge` and was challenged again.
    failed: bool,
}

/// Requests of one usage sent at once after a 401/407/423, in a row, before the next one
/// waits for the backoff: a server that challenges forever (`stale=true` with a new nonce each
/// time) or raises Min-Expires forever cannot make a tight loop.
const MAX_IMMEDIATE_RETRIES: u32 = 3;
/// Most requests of one usage (new transactions, not retransmissions) in [`SEND_WINDOW`].
const MAX_SENDS: usize = 6;
/// The window of [`MAX_SENDS`], ms.
const SEND_WINDOW: u64 = 60_000;
/// Retry-After values are honoured within this range, s (RFC 3261 §20.33 sets no bound).
const RETRY_AFTER: std::ops::RangeInclusive<u64> = 1..=3600;
/// The realm of sipd's own challenges when `[sip.auth]` names none.
const DEFAULT_REALM: &str = "dahdi-mwi";

/// One client dialog usage: a subscription or the registration binding.
#[derive(Clone, Debug)]
struct Usage {
    call_id: String,
    from_tag: String,
    to_tag: Option<String>,
    cseq: u32,
    remote_target: Option<String>,
    /// Route set of the dialog (RFC 3261 §12.1.2), loose routes in sending order.
    route_set: Vec<String>,
    auth: AuthState,
    failures: u32,
    /// Requested expiry for the next request, s (raised by 423 Min-Expires).
    expires: u32,
    /// When the current subscription/binding ends.
    expires_at: Option<u64>,
    /// The CSeq of the last request accepted from the remote side (RFC 3261 §12.2.2).
    remote_cseq: Option<u32>,
    /// Requests sent at once after a 401/407/423 since the last final answer.
    retries: u32,
    /// Times of the last [`MAX_SENDS`] requests, oldest first (kept across new dialogs).
    sends: VecDeque<u64>,
}

impl Usage {
    /// The earliest time the next request may go out: at most [`MAX_SENDS`] per
    /// [`SEND_WINDOW`], whatever the server answers.
    fn next_send(&self, now: u64) -> u64 {
        match self.sends.front() {
            Some(&first) if self.sends.len() >= MAX_SENDS => now.max(first + SEND_WINDOW),
            _ => now,
        }
    }

    fn record_send(&mut self, now: u64) {
        if self.sends.len() >= MAX_SENDS {
            self.sends.pop_front();
        }
        self.sends.push_back(now);
    }
}

struct Subscription {
    number: String,
    state: SubState,
    usage: Usage,
    due: Option<u64>,
    /// Whether the usage's dialog is established (a refresh is in-dialog).
    established: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Subscribe(usize),
    Register,
    Options,
}

/// A timer owner in the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Sub(usize),
    Register,
    Options,
}

/// The status of one number, as `sipd status` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NumberStatus {
    /// The number.
    pub number: String,
    /// `Messages-Waiting: yes`.
    pub mwi: bool,
    /// New messages.
    pub new: u32,
    /// Old messages.
    pub old: u32,
    /// Urgent new messages.
    pub urgent_new: u32,
    /// Urgent old messages.
    pub urgent_old: u32,
    /// Whether a state was ever learned.
    pub known: bool,
    /// Subscription state (`active`, `pending`, `terminated;reason=…`, `unsolicited`).
    pub subscription: String,
}

/// Status of the user agent (`sipd status`, like `show sip-ua mwi`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UaStatus {
    /// `[mwi_server] server` as configured (`ipv4:…` or `dns:…`).
    pub server: String,
    /// Resolved server addresses.
    pub addresses: Vec<String>,
    /// Requested expiry, s.
    pub expires: u32,
    /// Server port.
    pub port: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Unsolicited mode.
    pub unsolicited: bool,
    /// OPTIONS ping verdict: `up`, `down` or `unknown`.
    pub server_state: String,
    /// Registration state: `none`, `registered`, `registering`, `failed`.
    pub registration: String,
    /// Every number with a known state or a subscription.
    pub numbers: Vec<NumberStatus>,
    /// Sources blocked by `[sip.block]`, the first to be lifted first.
    #[serde(default)]
    pub blocked: Vec<BlockedSource>,
}

/// The user agent.
pub struct Ua<S: MwiSink> {
    cfg: UaConfig,
    sink: S,
    rng: fastrand::Rng,
    tx: Transactions<Dest>,
    /// Local address per transport, for Via and Contact.
    local: HashMap<Transport, SocketAddr>,
    mwi_addrs: Vec<SocketAddr>,
    registrar_addrs: Vec<SocketAddr>,
    subs: Vec<Subscription>,
    dialogs: HashMap<String, usize>,
    purposes: HashMap<TxKey, Purpose>,
    schedule: BTreeSet<(u64, Owner)>,
    register: Option<(Usage, Option<u64>, String)>,
    options_due: Option<u64>,
    options_failed: u32,
    server_up: Option<bool>,
    next_slot: u64,
    states: HashMap<String, MwiState>,
    reresolve: bool,
    blocks: Blocklist,
    nonces: Nonces,
}

impl<S: MwiSink> Ua<S> {
    /// A user agent that writes states into `sink`; `seed` seeds tags, branches and jitter.
    /// Nothing is sent until [`Self::set_mwi_addrs`] gives the server address.
    pub fn new(cfg: UaConfig, sink: S, seed: u64, local: HashMap<Transport, SocketAddr>) -> Self {
        let mut ua = Self {
            tx: Transactions::new(cfg.timers),
            rng: fastrand::Rng::with_seed(seed),
            sink,
            local,
            mwi_addrs: Vec::new(),
            registrar_addrs: Vec::new(),
            subs: Vec::new(),
            dialogs: HashMap::new(),
            purposes: HashMap::new(),
            schedule: BTreeSet::new(),
            register: None,
            options_due: None,
            options_failed: 0,
            server_up: None,
            next_slot: 0,
            states: HashMap::new(),
            reresolve: false,
            blocks: Blocklist::new(cfg.block),
            nonces: Nonces::default(),
            cfg,
        };
        if !ua.cfg.unsolicited {
            let numbers = ua.cfg.mwi_numbers.clone();
            for number in numbers {
                let usage = ua.new_usage(ua.cfg.expires);
                ua.subs.push(Subscription {
                    number,
                    state: SubState::Idle,
                    usage,
                    due: None,
                    established: false,
                });
            }
        }
        if let Some((_, _, _, expires)) = ua.cfg.registrar {
            ua.register = Some((ua.new_usage(expires), None, "registering".into()));
        }
        ua
    }

    /// The MWI sink (tests read what was published).
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Addresses of the MWI server (from `ipv4:` or DNS). The first is used; subscriptions and
    /// the OPTIONS ping start (spread by the pace) once one is known.
    pub fn set_mwi_addrs(&mut self, now: u64, addrs: Vec<SocketAddr>) {
        let first = self.mwi_addrs.is_empty() && !addrs.is_empty();
        self.mwi_addrs = addrs;
        if first {
            for i in 0..self.subs.len() {
                if self.subs[i].due.is_none() && self.subs[i].state == SubState::Idle {
                    self.reschedule(Owner::Sub(i), Some(now));
                }
            }
            if self.cfg.options_interval > 0 {
                self.reschedule(Owner::Options, Some(now));
            }
        }
    }

    /// The local address (for Via and Contact) of `transport`: the daemon learns it from the
    /// route to the server when it listens on an unspecified address.
    pub fn set_local(&mut self, transport: Transport, addr: SocketAddr) {
        self.local.insert(transport, addr);
    }

    /// Addresses of the registrar; REGISTER starts once one is known.
    pub fn set_registrar_addrs(&mut self, now: u64, addrs: Vec<SocketAddr>) {
        let first = self.registrar_addrs.is_empty() && !addrs.is_empty();
        self.registrar_addrs = addrs;
        if first && self.register.is_some() {
            self.reschedule(Owner::Register, Some(now));
        }
    }

    /// Whether the daemon should resolve the servers again (set after timeouts and transport
    /// failures; cleared by this call).
    pub fn take_reresolve(&mut self) -> bool {
        std::mem::take(&mut self.reresolve)
    }

    /// The destination of requests to the MWI server.
    fn mwi_dest(&self) -> Option<Dest> {
        self.mwi_addrs.first().map(|&addr| Dest {
            addr,
            transport: self.cfg.mwi_transport,
        })
    }

    fn token(&mut self, len: usize) -> String {
        (0..len).map(|_| self.rng.alphanumeric()).collect()
    }

    fn new_usage(&mut self, expires: u32) -> Usage {
        Usage {
            call_id: self.token(20),
            from_tag: self.token(10),
            to_tag: None,
            cseq: 0,
            remote_target: None,
            route_set: Vec::new(),
            auth: AuthState::default(),
            failures: 0,
            expires,
            expires_at: None,
            remote_cseq: None,
            retries: 0,
            sends: VecDeque::new(),
        }
    }

    fn reschedule(&mut self, owner: Owner, at: Option<u64>) {
        let slot = match owner {
            Owner::Sub(i) => &mut self.subs[i].due,
            Owner::Register => match &mut self.register {
                Some((_, due, _)) => due,
                None => return,
            },
            Owner::Options => &mut self.options_due,
        };
        if let Some(old) = slot.take() {
            self.schedule.remove(&(old, owner));
        }
        *slot = at;
        if let Some(at) = at {
            self.schedule.insert((at, owner));
        }
    }

    fn backoff(&mut self, failures: u32) -> u64 {
        let shift = failures.saturating_sub(1).min(20);
        let d = self
            .cfg
            .backoff
            .base
            .saturating_mul(1 << shift)
            .min(self.cfg.backoff.max);
        d / 2 + self.rng.u64(0..=d / 2)
    }

    /// The delay before a new attempt after the `failures`-th failure in a row: the backoff,
    /// or the server's Retry-After (s) when that is longer, capped to [`RETRY_AFTER`] (a
    /// `Retry-After: 0` makes no tight loop, a huge one no endless wait).
    fn retry_delay(&mut self, failures: u32, retry_after: Option<u64>) -> u64 {
        let backoff = self.backoff(failures);
        retry_after.map_or(backoff, |s| {
            (s.clamp(*RETRY_AFTER.start(), *RETRY_AFTER.end()) * 1000).max(backoff)
        })
    }

    /// When to refresh a usage that lasts `secs`: at 55..85 % of it (random), so refreshes of
    /// many numbers spread out, never later than 5 s (or half the time) before expiry.
    fn refresh_in(&mut self, secs: u32) -> u64 {
        let ms = u64::from(secs) * 1000;
        let at = self.rng.u64(ms * 55 / 100..=ms * 85 / 100);
        at.min(ms.saturating_sub(5000).max(ms / 2)).max(200)
    }

    fn via(&mut self, transport: Transport) -> String {
        let local = self
            .local
            .get(&transport)
            .map(|a| a.to_string())
            .unwrap_or_else(|| "0.0.0.0:5060".into());
        let t = match transport {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        };
        format!(
            "SIP/2.0/{t} {local};branch={MAGIC_COOKIE}{};rport",
            self.token(16)
        )
    }

    fn contact(&self, user: &str, transport: Transport) -> String {
        let local = self
            .local
            .get(&transport)
            .map(|a| a.to_string())
            .unwrap_or_else(|| "0.0.0.0:5060".into());
        match transport {
            Transport::Udp => format!("<sip:{user}@{local}>"),
            Transport::Tcp => format!("<sip:{user}@{local};transport=tcp>"),
        }
    }

    fn host_uri(host: &str, port: u16, transport: Transport, user: Option<&str>) -> String {
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        let t = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        format!("sip:{user}{host}:{port}{t}")
    }

    /// Add an Authorization answering the usage's last challenge, if any.
    fn authorize(&mut self, req: &mut Message, which: Owner) {
        let Some((user, pass, _)) = self.cfg.auth.clone() else {
            return;
        };
        let cnonce = self.token(16);
        let auth = match which {
            Owner::Sub(i) => &mut self.subs[i].usage.auth,
            Owner::Register => match &mut self.register {
                Some((u, _, _)) => &mut u.auth,
                None => return,
            },
            Owner::Options => return,
        };
        let Some((ch, proxy)) = &auth.challenge else {
            return;
        };
        auth.nc += 1;
        let method = req.method().to_owned();
        let uri = req.uri().unwrap_or("").to_owned();
        let value = ch.answer(&user, &pass, &method, &uri, auth.nc, &cnonce);
        let name = if *proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        req.set(name, value);
    }

    fn send(&mut self, now: u64, req: &Message, dest: Dest, purpose: Purpose) {
        let reliable = dest.transport == Transport::Tcp;
        if let Some(key) = self.tx.send_request(now, req, dest, reliable) {
            self.purposes.insert(key, purpose);
        }
    }

    fn send_subscribe(&mut self, now: u64, i: usize) {
        let Some(dest) = self.mwi_dest() else {
            return;
        };
        let transport = self.cfg.mwi_transport;
        let number = self.subs[i].number.clone();
        let aor = Self::host_uri(
            &self.cfg.mwi_host,
            self.cfg.mwi_port,
            Transport::Udp,
            Some(&number),
        );
        let target = Self::host_uri(
            &self.cfg.mwi_host,
            self.cfg.mwi_port,
            transport,
            Some(&number),
        );
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
        req.push("User-Agent", AGENT);
        self.authorize(&mut req, Owner::Sub(i));
        self.dialogs.insert(self.subs[i].usage.call_id.clone(), i);
        self.send(now, &req, dest, Purpose::Subscribe(i));
    }

    fn send_register(&mut self, now: u64) {
        let (Some((host, port, transport, _)), Some(&addr), Some((user, _, _))) = (
            self.cfg.registrar.clone(),
            self.registrar_addrs.first(),
            self.cfg.auth.clone(),
        ) else {
            return;
        };
        let via = self.via(transport);
        let contact = self.contact(&user, transport);
        let Some((u, _, state)) = &mut self.register else {
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
        req.push("User-Agent", AGENT);
        self.authorize(&mut req, Owner::Register);
        self.send(now, &req, Dest { addr, transport }, Purpose::Register);
    }

    fn send_options(&mut self, now: u64) {
        let Some(dest) = self.mwi_dest() else {
            return;
        };
        let transport = dest.transport;
        let via = self.via(transport);
        let tag = self.token(10);
        let call_id = self.token(20);
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
        req.push("User-Agent", AGENT);
        self.send(now, &req, dest, Purpose::Options);
    }

    /// The earliest time [`Self::handle_timeout`] must run.
    pub fn poll_timeout(&self) -> Option<u64> {
        let own = self.schedule.first().map(|&(at, owner)| match owner {
            Owner::Options => at,
            _ => at.max(self.next_slot),
        });
        [own, self.tx.poll_timeout(), self.blocks.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Run timers due at `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        self.blocks.handle_timeout(now);
        self.tx.handle_timeout(now);
        self.drain_tx_events(now);
        while let Some(&(at, owner)) = self.schedule.first() {
            // SUBSCRIBE and REGISTER wait for their pacing slot where they are.
            if at > now || (owner != Owner::Options && now < self.next_slot) {
                break;
            }
            self.schedule.remove(&(at, owner));
            match owner {
                Owner::Sub(i) => self.subs[i].due = None,
                Owner::Register => {
                    if let Some((_, due, _)) = &mut self.register {
                        *due = None;
                    }
                }
                Owner::Options => self.options_due = None,
            }
            let capped = match owner {
                Owner::Sub(i) => Some(self.subs[i].usage.next_send(now)),
                Owner::Register => self.register.as_ref().map(|(u, _, _)| u.next_send(now)),
                Owner::Options => None,
            };
            if let Some(at) = capped.filter(|&at| at > now) {
                self.reschedule(owner, Some(at));
                continue;
            }
            match owner {
                Owner::Sub(i) => {
                    self.next_slot = now + self.cfg.pace;
                    let sub = &mut self.subs[i];
                    if sub.usage.expires_at.is_some_and(|e| e <= now) {
                        // Refreshes failed until the end: start a new subscription.
                        sub.established = false;
                        sub.usage.expires_at = None;
                    }
                    if !sub.established {
                        // A new subscription is a new dialog: fresh Call-ID and tag.
                        self.dialogs.remove(&sub.usage.call_id);
                        let (expires, failures) = (sub.usage.expires, sub.usage.failures);
                        let sends = std::mem::take(&mut sub.usage.sends);
                        let mut fresh = self.new_usage(expires);
                        fresh.failures = failures;
                        fresh.sends = sends;
                        self.subs[i].usage = fresh;
                    }
                    self.send_subscribe(now, i);
                }
                Owner::Register => {
                    self.next_slot = now + self.cfg.pace;
                    self.send_register(now);
                }
                Owner::Options => {
                    self.send_options(now);
                    let every = u64::from(self.cfg.options_interval) * 1000;
                    self.reschedule(Owner::Options, Some(now + every));
                }
            }
        }
    }

    /// The transport could not reach `dest` (TCP connect/write failure, ICMP unreachable):
    /// every client transaction to it fails.
    pub fn transport_error(&mut self, now: u64, dest: Dest) {
        self.tx.transport_error(&dest);
        self.drain_tx_events(now);
    }

    /// Next message to send (requests, retransmissions and responses alike), logged at debug
    /// level like `debug ccsip messages`.
    pub fn poll_transmit(&mut self) -> Option<Transmit<Dest>> {
        let t = self.tx.poll_transmit()?;
        log::debug!(
            "SIP send to {} ({:?}):\n{}",
            t.dest.addr,
            t.dest.transport,
            String::from_utf8_lossy(&t.bytes)
        );
        Some(t)
    }

    /// Whether messages from `ip` are to be dropped unanswered at `now` (`[sip.block]`); a
    /// `true` counts one dropped message. The daemon asks before anything else may answer.
    pub fn blocked(&mut self, now: u64, ip: IpAddr) -> bool {
        self.blocks.check(now, ip) == Verdict::Drop
    }

    /// One received datagram or framed TCP message from `src`.
    /// A message from a blocked source ([`crate::guard`]) is dropped before it is parsed.
    pub fn handle_message(&mut self, now: u64, bytes: &[u8], src: Dest) {
        if self.blocked(now, src.addr.ip()) {
            return;
        }
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(defect) => {
                let tag = self.token(10);
                match defect.response(&tag) {
                    Some(rsp) => {
                        log::info!(
                            "SIP from {}: {defect}; answering {}",
                            src.addr,
                            rsp.summary()
                        );
                        self.tx.push_direct(Transmit {
                            dest: src,
                            bytes: rsp.to_bytes(),
                        });
                    }
                    None => log::info!("SIP from {}: {defect}; dropped", src.addr),
                }
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
        if msg.is_request() {
            self.handle_request(now, msg, src);
        } else {
            if !self.tx.on_response(now, msg) {
                log::debug!(
                    "SIP from {}: response matches no transaction; dropped",
                    src.addr
                );
            }
            self.drain_tx_events(now);
        }
    }

    fn handle_request(&mut self, now: u64, msg: Message, src: Dest) {
        if msg.method() == "ACK" {
            return;
        }
        let reliable = src.transport == Transport::Tcp;
        let Some((key, req)) = self.tx.on_request(msg, src, reliable) else {
            return;
        };
        let tag = self.token(10);
        let (rsp, strike) = self.answer(now, &req, src, &tag);
        if strike {
            self.strike(now, src, &rsp.summary());
        }
        self.tx.respond(now, &key, &rsp);
    }

    /// A failed or forbidden request from `src` (`why`: the answer or the defect) counts
    /// towards blocking it, unless it is the MWI server or an `allow` source: a forged UDP
    /// source must not lock out the peers sipd trusts.
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
            "OPTIONS" => {
                let mut rsp = req.response(200, "OK", tag);
                rsp.push("Allow", ALLOW);
                rsp.push("Accept", ACCEPT);
                rsp.push("Allow-Events", EVENT);
                rsp.push("Supported", "");
                (rsp, false)
            }
            "NOTIFY" => self.answer_notify(now, req, src, tag),
            _ => {
                let mut rsp = req.response(405, "Method Not Allowed", tag);
                rsp.push("Allow", ALLOW);
                (rsp, false)
            }
        }
    }

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

    fn answer_notify(&mut self, now: u64, req: &Message, src: Dest, tag: &str) -> (Message, bool) {
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
        let (stale, fault) = match req.header("Authorization").map(Credentials::parse) {
            None => (false, None),
            Some(Err(e)) => (false, Some(e.to_string())),
            Some(Ok(cred)) => {
                let nonce = cred.get("nonce").unwrap_or_default();
                let algorithm = cred
                    .get("algorithm")
                    .map_or(Some(Algorithm::Md5), Algorithm::parse);
                let verdict = match algorithm {
                    None => Err("unsupported digest algorithm".to_owned()),
                    Some(a) => Challenge::issue(&realm, nonce, a)
                        .verify(&cred, &user, &pass, req.method())
                        .map_err(|e| e.to_string()),
                };
                match verdict {
                    Ok(_) if cred.get("uri") != req.uri() => {
                        (false, Some("Authorization for another URI".to_owned()))
                    }
                    Ok(nc) => match self.nonces.take(now, nonce, nc) {
                        Use::Fresh => return Ok(()),
                        Use::Stale => (true, None),
                        Use::Replay => (false, Some("replayed nonce count".to_owned())),
                    },
                    Err(e) => (false, Some(e)),
                }
            }
        };
        let nonce = self.token(24);
        self.nonces.issue(now, nonce.clone());
        let reason = match &fault {
            Some(why) => {
                log::warn!(
                    call_id = req.call_id().unwrap_or_default();
                    "{} refused: {why}",
                    req.method()
                );
                format!("Unauthorized ({why})")
            }
            None => "Unauthorized".to_owned(),
        };
        let mut rsp = req.response(401, &reason, tag);
        // RFC 8760 §2.4: one challenge per algorithm, the preferred first.
        for a in [Algorithm::Sha256, Algorithm::Md5] {
            let mut c = Challenge::issue(&realm, &nonce, a);
            c.stale = stale;
            rsp.push("WWW-Authenticate", c.header());
        }
        Err((rsp, fault.is_some()))
    }

    /// Whether `src` is the MWI server or in `allow`; an IPv4-mapped IPv6 source (a NOTIFY
    /// over IPv4 on a `[::]` socket) also matches as the IPv4 address it carries.
    fn allowed(&self, src: Dest) -> bool {
        let ip = src.addr.ip();
        let v4 = ip.to_canonical();
        self.mwi_addrs.iter().any(|a| a.ip().to_canonical() == v4)
            || self
                .cfg
                .allow
                .iter()
                .any(|c| c.contains(ip) || c.contains(v4))
    }

    /// Whether `number` routes to an FXS line or a PRI span (mwi_core::route; docs/sip.md:
    /// 481 for a port without MWI).
    fn serves(&self, number: &str) -> bool {
        self.cfg.router.route(number).is_ok()
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
        if let Err(e) = self.sink.publish(number, state) {
            log::error!(number:% = number; "MWI {number}: cannot record state: {e}");
        }
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
                self.reschedule(Owner::Sub(i), Some(now + delay));
            }
            _ => {}
        }
        (req.response(200, "OK", tag), false)
    }

    fn end_subscription(&mut self, i: usize, state: SubState) {
        let sub = &mut self.subs[i];
        self.dialogs.remove(&sub.usage.call_id);
        sub.state = state;
        sub.established = false;
        sub.usage.expires_at = None;
    }

    fn drain_tx_events(&mut self, now: u64) {
        while let Some(ev) = self.tx.poll_event() {
            let (key, rsp) = match ev {
                TxEvent::Response(k, r) => (k, Some(r)),
                TxEvent::Timeout(k) | TxEvent::TransportError(k) => {
                    // Try the next resolved address (RFC 3263 §4.3) and locate again.
                    if !self.mwi_addrs.is_empty() {
                        self.mwi_addrs.rotate_left(1);
                    }
                    self.reresolve = true;
                    (k, None)
                }
            };
            let code = rsp.as_ref().and_then(|r| r.code()).unwrap_or(408);
            if code < 200 {
                continue;
            }
            let Some(purpose) = self.purposes.remove(&key) else {
                continue;
            };
            match purpose {
                Purpose::Subscribe(i) => self.subscribe_result(now, i, code, rsp.as_deref()),
                Purpose::Register => self.register_result(now, code, rsp.as_deref()),
                Purpose::Options => self.options_result(code),
            }
        }
    }

    fn options_result(&mut self, code: u16) {
        if code == 408 {
            self.options_failed += 1;
            if self.options_failed >= self.cfg.options_failures && self.server_up != Some(false) {
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

    /// Take a 401/407 challenge for a usage; `true` when the request should be sent again.
    fn take_challenge(&mut self, owner: Owner, code: u16, rsp: &Message) -> bool {
        let proxy = code == 407;
        let name = if proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        let Some(realm_cfg) = self.cfg.auth.as_ref().map(|a| a.2.clone()) else {
            log::warn!("{code} challenge but no [sip.auth] credentials configured");
            return false;
        };
        let challenge = rsp.headers(name).find_map(|v| match Challenge::parse(v) {
            Ok(c) if realm_cfg.as_ref().map_or(true, |r| *r == c.realm) => Some(c),
            Ok(_) => None,
            Err(e) => {
                log::warn!("{code} challenge not usable: {e}");
                None
            }
        });
        let auth = match owner {
            Owner::Sub(i) => &mut self.subs[i].usage.auth,
            Owner::Register => match &mut self.register {
                Some((u, _, _)) => &mut u.auth,
                None => return false,
            },
            Owner::Options => return false,
        };
        let Some(c) = challenge else {
            return false;
        };
        let same_nonce = auth
            .challenge
            .as_ref()
            .is_some_and(|(old, _)| old.nonce == c.nonce);
        // Challenged again with credentials that were just used and not stale: wrong password.
        if auth.challenge.is_some() && auth.failed && !c.stale {
            log::warn!("credentials refused ({code}); check [sip.auth]");
            auth.challenge = None;
            auth.failed = false;
            return false;
        }
        if !same_nonce {
            auth.nc = 0;
        }
        auth.failed = true;
        auth.challenge = Some((c, proxy));
        true
    }

    fn subscribe_result(&mut self, now: u64, i: usize, code: u16, rsp: Option<&Message>) {
        let number = self.subs[i].number.clone();
        if (200..300).contains(&code) {
            let rsp = rsp.expect("2xx carries a response");
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
        self.reschedule(Owner::Sub(i), Some(now + delay));
    }

    fn register_result(&mut self, now: u64, code: u16, rsp: Option<&Message>) {
        if (200..300).contains(&code) {
            let rsp = rsp.expect("2xx carries a response");
            let Some((u, _, state)) = &mut self.register else {
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
                (Some((u, _, _)), r) => match raised_expires(r, u.expires) {
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
        let Some((u, _, state)) = &mut self.register else {
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
        self.reschedule(Owner::Register, Some(now + delay));
    }

    /// What `sipd status` shows at `now` (ms, the clock of the other calls).
    pub fn status(&self, now: u64) -> UaStatus {
        let mut numbers: Vec<NumberStatus> = Vec::new();
        let entry = |number: &str, state: Option<&MwiState>, sub: String| {
            let s = state.copied().unwrap_or_default();
            NumberStatus {
                number: number.to_owned(),
                mwi: s.waiting,
                new: s.new,
                old: s.old,
                urgent_new: s.urgent_new,
                urgent_old: s.urgent_old,
                known: state.is_some(),
                subscription: sub,
            }
        };
        for sub in &self.subs {
            numbers.push(entry(
                &sub.number,
                self.states.get(&sub.number),
                sub.state.to_string(),
            ));
        }
        let mut others: Vec<_> = self
            .states
            .iter()
            .filter(|(n, _)| !self.subs.iter().any(|s| &s.number == *n))
            .collect();
        others.sort_by(|a, b| a.0.cmp(b.0));
        for (n, s) in others {
            numbers.push(entry(n, Some(s), "unsolicited".into()));
        }
        if self.cfg.unsolicited {
            for n in &self.cfg.mwi_numbers {
                if !self.states.contains_key(n) {
                    numbers.push(entry(n, None, "unsolicited".into()));
                }
            }
        }
        UaStatus {
            server: self.cfg.mwi_spec.clone(),
            addresses: self.mwi_addrs.iter().map(|a| a.to_string()).collect(),
            expires: self.cfg.expires,
            port: self.cfg.mwi_port,
            transport: self.cfg.mwi_transport.to_string(),
            unsolicited: self.cfg.unsolicited,
            server_state: match self.server_up {
                None => "unknown",
                Some(true) => "up",
                Some(false) => "down",
            }
            .into(),
            registration: match &self.register {
                None => "none".into(),
                Some((_, _, s)) => s.clone(),
            },
            numbers,
            blocked: self.blocks.blocked(now),
        }
    }
}

/// The Retry-After of a response, s (RFC 3261 §20.33: a number, then optional comment and
/// parameters).
fn retry_after(rsp: &Message) -> Option<u64> {
    rsp.header("Retry-After")
        .and_then(|v| v.split([';', '(']).next())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The Min-Expires of a 423 (RFC 3261 §10.2.8, RFC 6665 §4.1.2.1) when it is above `current`
/// and within the configurable range; else `None` (the request failed, retry after backoff).
fn raised_expires(rsp: &Message, current: u32) -> Option<u32> {
    let min = rsp.header("Min-Expires")?.trim();
    match min.parse::<u32>() {
        Ok(m) if m > current && EXPIRES_RANGE.contains(&m) => Some(m),
        Ok(m) if m <= current => None,
        _ => {
            log::warn!(
                "423 with Min-Expires {min} out of range {}..={}: not followed",
                EXPIRES_RANGE.start(),
                EXPIRES_RANGE.end()
            );
            None
        }
    }
}

/// Every Record-Route entry of `m`, in order.
fn record_route(m: &Message) -> Vec<String> {
    m.headers("Record-Route")
        .flat_map(wire::split_list)
        .map(str::to_owned)
        .collect()
}

/// The message as text for debug logs (body included, like `debug ccsip messages`).
fn show(m: &Message) -> String {
    String::from_utf8_lossy(&m.to_bytes()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribes_fxs_numbers_and_literal_pri_numbers() {
        let cfg = Config::from_str(
            r#"
            [mwi_server]
            server = "ipv4:127.0.0.1"
            [[fxs]]
            channel = 2
            number = "8000"
            [[fxs]]
            channel = 3
            number = "8001"
            mwi = false
            [[pri]]
            span = 1
            dchannel = 24
            numbers = ["2001", "3...", "8000"]
            "#,
            "test.toml",
        )
        .expect("valid config");
        assert_eq!(subscribed_numbers(&cfg), ["8000", "2001"]);
    }
}
