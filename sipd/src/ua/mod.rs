//! The message-waiting user agent, sans-IO: per-number subscriptions (RFC 6665, RFC 3842),
//! unsolicited NOTIFY, REGISTER (RFC 3261 §10) with digest, OPTIONS answered and sent as a
//! keep-alive ping, on the `sansio` contract: bytes, sources and the time ([`Instant`] first) go
//! in; bytes to send, the next wake-up time and MWI changes ([`UaEvent::Mwi`], which the daemon
//! writes into the shared table) come out.
//!
//! Requests sipd sends always go to the resolved MWI server (or registrar) address (an outbound
//! proxy in RFC 3261 terms); in-dialog requests carry the dialog's route set as Route headers.

use crate::guard::{Blocklist, Verdict};
use crate::nonces::Nonces;
use crate::transaction::{new_via, Transactions, Transmit, TxEvent, TxKey};
use crate::wire::Message;
use mwi_config::Transport;
use mwi_core::MwiState;
use sansio::{Core, Duration, Instant, Timers};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

mod auth;
mod config;
mod failover;
mod inbound;
mod notify;
mod options;
mod registration;
mod reload;
mod status;
mod subscription;
mod table;
mod usage;

use subscription::Subscription;

pub use config::{Backoff, Credentials, UaConfig};
pub use status::{NumberStatus, UaStatus};
pub use subscription::SubState;
pub use table::TABLE_FULL_RETRY_AFTER;

/// Where a message goes or comes from: address and transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dest {
    /// Remote address.
    pub addr: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Subscribe(usize),
    Register(usize),
    Options,
    /// An OPTIONS ping to the primary MWI server while the subscriptions are on the backup.
    Primary,
}

/// A timer owner in the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Sub(usize),
    /// The binding `registration::Binding` #index.
    Register(usize),
    Options,
}

/// What the user agent reports to the daemon, which applies it (the shared table, the
/// snapshot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UaEvent {
    /// A NOTIFY (RFC 3842 message-summary) set the state of `number`; `call_id` names the
    /// NOTIFY in logs.
    Mwi {
        /// The number, as configured.
        number: String,
        /// Its message-waiting state.
        state: MwiState,
        /// The Call-ID of the NOTIFY.
        call_id: String,
    },
    /// A SUBSCRIBE or a response to a NOTIFY, parsed and admitted, for the notifier
    /// ([`crate::notifier::Notifier::handle_sip`]; only with [`Ua::set_notifier`] on).
    Notifier {
        /// The message.
        msg: Box<Message>,
        /// Its size on the wire, octets.
        len: usize,
        /// Where it came from.
        src: Dest,
    },
    /// A call message (INVITE, ACK, BYE, CANCEL, or a response to one), parsed and admitted,
    /// for the call core ([`crate::call::Calls::handle_sip`]).
    Call {
        /// The message.
        msg: Box<Message>,
        /// Where it came from.
        src: Dest,
    },
}

/// The user agent, a [`sansio::Core`]: MWI changes come out of [`Core::poll_event`].
pub struct Ua {
    cfg: UaConfig,
    /// The instant of [`Ua::new`]: the origin of the millisecond clock of pacing, blocking and
    /// nonce lifetimes.
    origin: Instant,
    events: VecDeque<UaEvent>,
    rng: fastrand::Rng,
    tx: Transactions<Dest>,
    /// Local address per transport, for Via and Contact.
    local: HashMap<Transport, SocketAddr>,
    mwi_addrs: Vec<SocketAddr>,
    registrar_addrs: Vec<SocketAddr>,
    subs: Vec<Subscription>,
    dialogs: HashMap<String, usize>,
    purposes: HashMap<TxKey, Purpose>,
    /// The refresh, retry, registration and OPTIONS ping timers; the transactions and the
    /// block list keep their own.
    timers: Timers<Owner>,
    /// One REGISTER binding per registered address of record.
    register: Vec<registration::Binding>,
    options_failed: u32,
    server_up: Option<bool>,
    next_slot: u64,
    states: HashMap<String, MwiState>,
    reresolve: bool,
    blocks: Blocklist,
    nonces: Nonces,
    table: table::TableRoom,
    failover: failover::Failover,
    /// `[notifier] enabled`: SUBSCRIBE and the answers to NOTIFY go to the notifier.
    notifier: bool,
}

impl Ua {
    /// A user agent started at `now`; `seed` seeds the jitter of timers only: Call-IDs, tags,
    /// branches and cnonces come from the OS CSPRNG (getrandom). Nothing is sent until
    /// [`Self::set_mwi_targets`] gives the server address.
    pub fn new(
        now: Instant,
        cfg: UaConfig,
        seed: u64,
        local: HashMap<Transport, SocketAddr>,
    ) -> Self {
        let mut ua = Self {
            tx: Transactions::new(cfg.timers),
            rng: fastrand::Rng::with_seed(seed),
            origin: now,
            events: VecDeque::new(),
            local,
            mwi_addrs: Vec::new(),
            registrar_addrs: Vec::new(),
            subs: Vec::new(),
            dialogs: HashMap::new(),
            purposes: HashMap::new(),
            timers: Timers::new(),
            register: Vec::new(),
            options_failed: 0,
            server_up: None,
            next_slot: 0,
            states: HashMap::new(),
            reresolve: false,
            blocks: Blocklist::new(cfg.block),
            nonces: Nonces::default(),
            table: table::TableRoom::default(),
            failover: failover::Failover::default(),
            notifier: false,
            cfg,
        };
        if !ua.cfg.unsolicited {
            let numbers = ua.cfg.mwi_numbers.clone();
            for number in numbers {
                let usage = ua.new_usage(ua.cfg.expires);
                ua.subs.push(Subscription::idle(number, usage));
            }
        }
        ua.register = ua.bindings();
        ua
    }

    /// Addresses of the MWI server (from `ipv4:` or DNS), `primary`'s then `backup`'s. The
    /// first is used; subscriptions and the OPTIONS ping start (spread by the pace) once one
    /// is known.
    pub fn set_mwi_targets(
        &mut self,
        now: Instant,
        primary: Vec<SocketAddr>,
        backup: Vec<SocketAddr>,
    ) {
        let now = self.ms(now);
        let addrs = self.mwi_targets(primary, backup);
        let first = self.mwi_addrs.is_empty() && !addrs.is_empty();
        self.mwi_addrs = addrs;
        if first {
            for i in 0..self.subs.len() {
                if !self.timers.is_running(Owner::Sub(i)) && self.subs[i].state == SubState::Idle {
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

    /// Whether sipd is a notifier (`[notifier] enabled`): SUBSCRIBE requests and the responses
    /// to NOTIFY then come out as [`UaEvent::Notifier`]; without it SUBSCRIBE gets 405.
    pub fn set_notifier(&mut self, on: bool) {
        self.notifier = on;
    }

    /// Addresses of the registrar, `primary`'s then `backup`'s; REGISTER starts once one is
    /// known.
    pub fn set_registrar_targets(
        &mut self,
        now: Instant,
        primary: Vec<SocketAddr>,
        backup: Vec<SocketAddr>,
    ) {
        let now = self.ms(now);
        let addrs = self.registrar_targets(primary, backup);
        let first = self.registrar_addrs.is_empty() && !addrs.is_empty();
        self.registrar_addrs = addrs;
        if first {
            for i in 0..self.register.len() {
                self.reschedule(Owner::Register(i), Some(now));
            }
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

    /// Starts timer `owner` at `at` (ms on the UA's clock), or stops it.
    fn reschedule(&mut self, owner: Owner, at: Option<u64>) {
        if matches!(owner, Owner::Register(i) if i >= self.register.len()) {
            return;
        }
        match at {
            Some(at) => self.timers.set(owner, self.instant(at)),
            None => self.timers.cancel(owner),
        }
    }

    /// `now` as milliseconds since the UA's origin: the clock of its pacing arithmetic, of
    /// [`Blocklist`] and of [`Nonces`].
    fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    /// The instant `ms` milliseconds after the UA's origin.
    fn instant(&self, ms: u64) -> Instant {
        self.origin + Duration::from_millis(ms)
    }

    fn via(&mut self, transport: Transport) -> String {
        let local = self
            .local
            .get(&transport)
            .map(|a| a.to_string())
            .unwrap_or_else(|| "0.0.0.0:5060".into());
        new_via(transport, local)
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

    fn send(&mut self, now: u64, req: &Message, dest: Dest, purpose: Purpose) {
        let reliable = dest.transport == Transport::Tcp;
        if let Some(key) = self.tx.send_request(self.instant(now), req, dest, reliable) {
            self.sent_to(key.clone(), dest.addr);
            self.purposes.insert(key, purpose);
        }
    }

    /// Runs the timers due at `now`: the block list's, the transactions', then subscription
    /// refreshes and retries, REGISTER and the OPTIONS ping.
    fn run_timers(&mut self, instant: Instant) {
        self.blocks.handle_timeout(self.ms(instant));
        self.tx.handle_timeout(instant);
        self.drain_tx_events(self.ms(instant));
        let now = self.ms(instant);
        loop {
            // SUBSCRIBE and REGISTER wait for their pacing slot where they are.
            let owner = if self
                .timers
                .get(Owner::Options)
                .is_some_and(|at| at <= instant)
            {
                self.timers.cancel(Owner::Options);
                Owner::Options
            } else if now < self.next_slot {
                break;
            } else {
                match self.timers.pop_due(instant) {
                    Some(owner) => owner,
                    None => break,
                }
            };
            let capped = match owner {
                Owner::Sub(i) => Some(self.subs[i].usage.next_send(now)),
                Owner::Register(i) => self.register.get(i).map(|b| b.usage.next_send(now)),
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
                Owner::Register(i) => {
                    self.next_slot = now + self.cfg.pace;
                    self.send_register(now, i);
                }
                Owner::Options => {
                    self.send_options(now);
                    if let Some(addr) = self.primary_to_probe() {
                        let dest = Dest {
                            addr,
                            transport: self.cfg.mwi_transport,
                        };
                        self.send_options_to(now, dest, Purpose::Primary);
                    }
                    let every = u64::from(self.cfg.options_interval) * 1000;
                    self.reschedule(Owner::Options, Some(now + every));
                }
            }
        }
    }

    /// The transport could not reach `dest` (TCP connect/write failure, ICMP unreachable):
    /// every client transaction to it fails.
    pub fn transport_error(&mut self, now: Instant, dest: Dest) {
        self.tx.transport_error(&dest);
        self.drain_tx_events(self.ms(now));
    }

    /// Whether messages from `ip` are to be dropped unanswered at `now` (`[sip.block]`); a
    /// `true` counts one dropped message. The daemon asks before anything else may answer.
    pub fn blocked(&mut self, now: Instant, ip: IpAddr) -> bool {
        self.blocks.check(self.ms(now), ip) == Verdict::Drop
    }

    fn drain_tx_events(&mut self, now: u64) {
        while let Some(ev) = self.tx.poll_event() {
            let (key, rsp) = match ev {
                TxEvent::Response(k, r) => (k, Some(r)),
                TxEvent::Timeout(k) | TxEvent::TransportError(k) => {
                    // Locate again; the request itself moves on in `transaction_ended`.
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
            self.transaction_ended(&key, rsp.is_none(), purpose);
            match purpose {
                Purpose::Subscribe(i) => self.subscribe_result(now, i, code, rsp.as_deref()),
                Purpose::Register(i) => self.register_result(now, i, code, rsp.as_deref()),
                Purpose::Options => self.options_result(now, code),
                Purpose::Primary => self.primary_result(now, code),
            }
        }
    }
}

impl Core for Ua {
    type Transmit = Transmit<Dest>;
    type Event = UaEvent;

    fn handle_timeout(&mut self, now: Instant) {
        self.run_timers(now);
    }

    /// Next message to send (requests, retransmissions and responses alike).
    fn poll_transmit(&mut self) -> Option<Transmit<Dest>> {
        self.tx.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<UaEvent> {
        self.events.pop_front()
    }

    /// The earliest of the UA's own timers (SUBSCRIBE and REGISTER not before the pacing
    /// slot), the transactions' and the block list's.
    fn poll_timeout(&self) -> Option<Instant> {
        let paced = self
            .timers
            .next()
            .map(|at| at.max(self.instant(self.next_slot)));
        let own = match self.timers.get(Owner::Options) {
            Some(ping) => Some(paced.map_or(ping, |p| p.min(ping))),
            None => paced,
        };
        let blocks = self.blocks.poll_timeout().map(|ms| self.instant(ms));
        [own, self.tx.poll_timeout(), blocks]
            .into_iter()
            .flatten()
            .min()
    }
}
