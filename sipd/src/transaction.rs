//! The non-INVITE transaction layer (RFC 3261 §17.1.2 client, §17.2.2 server), sans-IO on the
//! [`sansio::Core`] contract.
//!
//! Time is an [`Instant`] supplied by the caller, first in every call; the layer never reads a
//! clock. Output is pulled: [`Core::poll_transmit`] for datagrams/segments to send,
//! [`Core::poll_event`] for what the transaction user must know (responses, timeouts),
//! [`Core::poll_timeout`] for the next instant to call [`Core::handle_timeout`].
//!
//! Matching (RFC 3261 §17.1.3, §17.2.3): responses by the topmost Via `branch` and the CSeq
//! method; requests by branch, sent-by and method when the branch starts with the magic cookie
//! `z9hG4bK`, else (RFC 2543 peers) by Call-ID, CSeq, From tag and the whole topmost Via.

use crate::wire::{self, param, Message};
use mwi_config::Transport;
use sansio::{Core, Duration, Instant, Timers};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// RFC 3261 magic cookie that starts every RFC 3261 branch (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// The topmost Via of a request that starts a client transaction from `sent_by` over
/// `transport`: a fresh branch with the magic cookie (RFC 3261 §8.1.1.7) and `rport` (RFC 3581
/// §3), e.g. `SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK…;rport`.
pub fn new_via(transport: Transport, sent_by: impl std::fmt::Display) -> String {
    let name = match transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
    };
    format!(
        "SIP/2.0/{name} {sent_by};branch={MAGIC_COOKIE}{};rport",
        wire::secret_token(16)
    )
}

/// Timer base values in milliseconds (RFC 3261 §17.1.1.1, Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerValues {
    /// T1, RTT estimate: 500 ms.
    pub t1: u64,
    /// T2, maximum non-INVITE retransmit interval: 4000 ms.
    pub t2: u64,
    /// T4, maximum time a message stays in the network: 5000 ms.
    pub t4: u64,
}

impl Default for TimerValues {
    fn default() -> Self {
        Self {
            t1: 500,
            t2: 4000,
            t4: 5000,
        }
    }
}

/// Identifies one transaction.
pub type TxKey = String;

/// Something to send to `dest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit<D> {
    /// Destination (address and transport, as the caller defines it).
    pub dest: D,
    /// The serialised message.
    pub bytes: Vec<u8>,
}

/// What the transaction user learns from the client side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxEvent {
    /// A provisional or final response, passed up once (retransmissions absorbed).
    Response(TxKey, Box<Message>),
    /// Timer F fired without a final response: the TU treats it as 408 (RFC 3261 §8.1.3.1).
    Timeout(TxKey),
    /// The transport reported an error for this transaction's destination (§17.1.4).
    TransportError(TxKey),
}

/// The timers of RFC 3261 §17.1.2.2 and §17.2.2, one table per transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Client: retransmit the request (unreliable transports).
    E,
    /// Client: give up waiting for a final response.
    F,
    /// Client: end the Completed state.
    K,
    /// Server: end the Completed state.
    J,
}

/// Where a client transaction stands; Trying and Proceeding carry the interval of Timer E.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientState {
    Trying { interval: Duration },
    Proceeding,
    Completed,
}

struct Client<D> {
    state: ClientState,
    dest: D,
    bytes: Vec<u8>,
    reliable: bool,
    timers: Timers<Timer>,
}

/// Where a server transaction stands; Proceeding and Completed own the last response, resent
/// for every retransmitted request.
enum ServerState {
    Trying,
    Proceeding(Vec<u8>),
    Completed(Vec<u8>),
}

struct Server<D> {
    state: ServerState,
    dest: D,
    reliable: bool,
    timers: Timers<Timer>,
}

/// All client and server non-INVITE transactions of one user agent.
pub struct Transactions<D> {
    values: TimerValues,
    clients: HashMap<TxKey, Client<D>>,
    servers: HashMap<TxKey, Server<D>>,
    transmits: VecDeque<Transmit<D>>,
    events: VecDeque<TxEvent>,
    /// Every transaction with a timer running, by its earliest deadline: (instant, is-server,
    /// key), so that finding the due ones costs O(log n) with thousands of live transactions.
    due: BTreeSet<(Instant, bool, TxKey)>,
}

/// `ms` milliseconds.
fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The client transaction key of a request or response: branch and CSeq method.
pub fn client_key(msg: &Message) -> Option<TxKey> {
    Some(format!("{}\u{0}{}", msg.top_via_branch()?, msg.method()))
}

/// The server transaction key of a request (RFC 3261 §17.2.3).
pub fn server_key(req: &Message) -> Option<TxKey> {
    let via = req.top_via()?;
    match req.top_via_branch() {
        Some(b) if b.starts_with(MAGIC_COOKIE) => {
            let sent_by = via
                .split(';')
                .next()
                .and_then(|s| s.split_whitespace().nth(1))
                .unwrap_or("");
            Some(format!("{b}\u{0}{sent_by}\u{0}{}", req.method()))
        }
        _ => Some(format!(
            "{}\u{0}{}\u{0}{}\u{0}{via}",
            req.call_id()?,
            req.header("CSeq")?,
            req.from_tag().unwrap_or("")
        )),
    }
}

impl<D: Clone> Transactions<D> {
    /// An empty layer with the given timer values.
    pub fn new(values: TimerValues) -> Self {
        Self {
            values,
            clients: HashMap::new(),
            servers: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            due: BTreeSet::new(),
        }
    }

    /// Start a client transaction for `req` (which must carry a Via with a fresh branch) and
    /// send it. `reliable`: TCP (no retransmissions, Timer K = 0). Returns the key, or `None`
    /// when the request has no branch or a transaction with that key exists.
    pub fn send_request(
        &mut self,
        now: Instant,
        req: &Message,
        dest: D,
        reliable: bool,
    ) -> Option<TxKey> {
        let key = client_key(req)?;
        if self.clients.contains_key(&key) {
            return None;
        }
        let bytes = req.to_bytes();
        self.transmits.push_back(Transmit {
            dest: dest.clone(),
            bytes: bytes.clone(),
        });
        let t1 = ms(self.values.t1);
        let mut timers = Timers::new();
        if !reliable {
            timers.set(Timer::E, now + t1);
        }
        timers.set(Timer::F, now + 64 * t1);
        self.clients.insert(
            key.clone(),
            Client {
                state: ClientState::Trying { interval: t1 },
                dest,
                bytes,
                reliable,
                timers,
            },
        );
        self.refile(false, &key, None);
        Some(key)
    }

    /// A response arrived. Returns `false` when no client transaction matches (the caller may
    /// log and drop it, RFC 3261 §18.1.2). Retransmitted finals are absorbed.
    pub fn on_response(&mut self, now: Instant, rsp: Message) -> bool {
        let Some(key) = client_key(&rsp) else {
            return false;
        };
        let Some(tx) = self.clients.get_mut(&key) else {
            return false;
        };
        let code = rsp.code().unwrap_or(0);
        let before = tx.timers.next();
        match tx.state {
            ClientState::Completed => return true,
            _ if code < 200 => tx.state = ClientState::Proceeding,
            _ => {
                tx.state = ClientState::Completed;
                tx.timers.cancel(Timer::E);
                tx.timers.cancel(Timer::F);
                if !tx.reliable {
                    tx.timers.set(Timer::K, now + ms(self.values.t4));
                }
            }
        }
        self.refile(false, &key, before);
        self.events.push_back(TxEvent::Response(key, Box::new(rsp)));
        true
    }

    /// A request arrived from `src`. Returns it for the TU when it starts a new transaction;
    /// `None` for a retransmission (the last response, if any, is queued again) or a request
    /// that cannot be keyed.
    ///
    /// The source is part of the key, beyond the matching rules of RFC 3261 §17.2.3: a
    /// retransmission matches only from the address that started the transaction, so a
    /// cached response is never sent anywhere else (issue 11: no reflection to a forged
    /// source), and a request from elsewhere with the same branch is a transaction of its own
    /// (a stranger cannot capture another peer's transaction by reusing its branch).
    pub fn on_request(&mut self, req: Message, src: D, reliable: bool) -> Option<(TxKey, Message)>
    where
        D: std::fmt::Debug,
    {
        let key = format!("{}\u{0}{src:?}", server_key(&req)?);
        if let Some(tx) = self.servers.get(&key) {
            if let ServerState::Proceeding(bytes) | ServerState::Completed(bytes) = &tx.state {
                self.transmits.push_back(Transmit {
                    dest: tx.dest.clone(),
                    bytes: bytes.clone(),
                });
            }
            return None;
        }
        self.servers.insert(
            key.clone(),
            Server {
                state: ServerState::Trying,
                dest: src,
                reliable,
                timers: Timers::new(),
            },
        );
        Some((key, req))
    }

    /// The TU answers the server transaction `key`. Responses after the final one are ignored.
    /// The response goes to the request's source (for UDP the caller applies RFC 3581 `rport`
    /// and `received` when it builds `src`).
    pub fn respond(&mut self, now: Instant, key: &TxKey, rsp: &Message) {
        let Some(tx) = self.servers.get_mut(key) else {
            return;
        };
        if matches!(tx.state, ServerState::Completed(_)) {
            return;
        }
        let bytes = rsp.to_bytes();
        self.transmits.push_back(Transmit {
            dest: tx.dest.clone(),
            bytes: bytes.clone(),
        });
        if rsp.code().unwrap_or(0) < 200 {
            tx.state = ServerState::Proceeding(bytes);
        } else if tx.reliable {
            self.servers.remove(key);
        } else {
            tx.state = ServerState::Completed(bytes);
            tx.timers.set(Timer::J, now + 64 * ms(self.values.t1));
            self.refile(true, key, None);
        }
    }

    /// The transport could not deliver to `dest`: every client transaction to it ends
    /// (RFC 3261 §17.1.4).
    pub fn transport_error(&mut self, dest: &D)
    where
        D: PartialEq,
    {
        let events = &mut self.events;
        let due = &mut self.due;
        self.clients.retain(|key, tx| {
            let hit = tx.dest == *dest;
            if hit {
                if let Some(at) = tx.timers.next() {
                    due.remove(&(at, false, key.clone()));
                }
                events.push_back(TxEvent::TransportError(key.clone()));
            }
            !hit
        });
    }

    /// Queue a message sent outside any transaction: the response to a request too broken to
    /// start one (RFC 3261 §8.2 checks that fail before a transaction exists).
    pub fn push_direct(&mut self, t: Transmit<D>) {
        self.transmits.push_back(t);
    }

    /// Re-file transaction `key` in the index of deadlines (its old earliest deadline was
    /// `before`); a transaction with no timer left is gone.
    fn refile(&mut self, server: bool, key: &TxKey, before: Option<Instant>) {
        if let Some(at) = before {
            self.due.remove(&(at, server, key.clone()));
        }
        let next = if server {
            self.servers.get(key).map(|t| t.timers.next())
        } else {
            self.clients.get(key).map(|t| t.timers.next())
        };
        match next {
            Some(Some(at)) => {
                self.due.insert((at, server, key.clone()));
            }
            Some(None) if server => {
                self.servers.remove(key);
            }
            Some(None) => {
                self.clients.remove(key);
            }
            None => {}
        }
    }

    /// Runs the due timers of client `key`: Timer E retransmits (doubling up to T2; at T2 once
    /// a provisional came), Timer F times out, Timer K ends the transaction.
    fn client_timeout(&mut self, now: Instant, key: TxKey) {
        let Some(tx) = self.clients.get_mut(&key) else {
            return;
        };
        let (mut e, mut f, mut k) = (false, false, false);
        while let Some(t) = tx.timers.pop_due(now) {
            match t {
                Timer::E => e = true,
                Timer::F => f = true,
                Timer::K | Timer::J => k = true,
            }
        }
        if k {
            self.clients.remove(&key);
            return;
        }
        if f {
            self.clients.remove(&key);
            self.events.push_back(TxEvent::Timeout(key));
            return;
        }
        if e {
            self.transmits.push_back(Transmit {
                dest: tx.dest.clone(),
                bytes: tx.bytes.clone(),
            });
            let t2 = ms(self.values.t2);
            let next = match tx.state {
                ClientState::Trying { interval } => {
                    let next = (interval * 2).min(t2);
                    tx.state = ClientState::Trying { interval: next };
                    next
                }
                _ => t2,
            };
            tx.timers.set(Timer::E, now + next);
        }
        self.refile(false, &key, None);
    }

    /// Ends the answered (Completed) server transaction whose Timer J expires first, the
    /// oldest: its only remaining job is to absorb retransmissions of a request already
    /// answered, so a full table sheds it before refusing new requests; a retransmission that
    /// comes after is handled as a new request. Returns whether one was ended.
    pub fn evict_completed_server(&mut self) -> bool {
        let oldest = self
            .due
            .iter()
            .filter(|(_, server, _)| *server)
            .find(|(_, _, key)| {
                self.servers
                    .get(key)
                    .is_some_and(|tx| matches!(tx.state, ServerState::Completed(_)))
            })
            .cloned();
        let Some(entry) = oldest else {
            return false;
        };
        self.due.remove(&entry);
        self.servers.remove(&entry.2);
        true
    }

    /// Live client and server transactions.
    pub fn counts(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }
}

impl<D: Clone> Core for Transactions<D> {
    type Transmit = Transmit<D>;
    type Event = TxEvent;

    /// Fires every timer due at `now`; Timer J ends a server transaction.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, server, key)) = self.due.first().cloned() {
            if at > now {
                break;
            }
            self.due.remove(&(at, server, key.clone()));
            if !server {
                self.client_timeout(now, key);
                continue;
            }
            if let Some(tx) = self.servers.get_mut(&key) {
                while tx.timers.pop_due(now).is_some() {}
                self.refile(true, &key, None);
            }
        }
    }

    /// Next message to send.
    fn poll_transmit(&mut self) -> Option<Transmit<D>> {
        self.transmits.pop_front()
    }

    /// Next event for the transaction user.
    fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`Core::handle_timeout`] has work.
    fn poll_timeout(&self) -> Option<Instant> {
        self.due.first().map(|t| t.0)
    }
}

/// Whether a Via branch parameter value is an RFC 3261 branch.
pub fn is_rfc3261_branch(via: &str) -> bool {
    param(via, "branch").is_some_and(|b| b.starts_with(MAGIC_COOKIE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static T0: LazyLock<Instant> = LazyLock::new(Instant::now);

    /// The instant `n` ms after the tests' origin.
    fn clock(n: u64) -> Instant {
        *T0 + Duration::from_millis(n)
    }

    /// Milliseconds from the tests' origin to `i`.
    fn since(i: Instant) -> u64 {
        i.duration_since(*T0).as_millis() as u64
    }

    fn request(branch: &str) -> Message {
        let mut m = Message::request("SUBSCRIBE", "sip:8000@127.0.0.1");
        m.push("Via", format!("SIP/2.0/UDP 127.0.0.1:5060;branch={branch}"));
        m.push("Max-Forwards", "70");
        m.push("From", "<sip:8000@127.0.0.1>;tag=a");
        m.push("To", "<sip:8000@127.0.0.1>");
        m.push("Call-ID", "c1");
        m.push("CSeq", "1 SUBSCRIBE");
        m
    }

    fn drain<D: Clone>(t: &mut Transactions<D>) -> usize {
        std::iter::from_fn(|| t.poll_transmit()).count()
    }

    #[test]
    fn client_retransmits_on_timer_e_and_times_out_on_f() {
        let mut t = Transactions::new(TimerValues::default());
        let key = t
            .send_request(clock(0), &request("z9hG4bK1"), 1u8, false)
            .unwrap();
        assert_eq!(drain(&mut t), 1);
        let mut sends = Vec::new();
        let mut now = clock(0);
        while let Some(at) = t.poll_timeout() {
            now = at;
            t.handle_timeout(now);
            if drain(&mut t) > 0 {
                sends.push(since(now));
            }
        }
        // E: 500, 1500, 3500, 7500, then every 4 s until F at 32 s.
        assert_eq!(
            sends,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(since(now), 32000);
        assert_eq!(t.poll_event(), Some(TxEvent::Timeout(key)));
    }

    #[test]
    fn provisional_sets_e_to_t2_and_final_absorbs_retransmissions() {
        let mut t = Transactions::new(TimerValues::default());
        let req = request("z9hG4bK2");
        let key = t.send_request(clock(0), &req, 1u8, false).unwrap();
        drain(&mut t);
        assert!(t.on_response(clock(100), req.response(100, "Trying", "")));
        t.handle_timeout(clock(500));
        assert_eq!(drain(&mut t), 1);
        assert_eq!(t.poll_timeout(), Some(clock(4500)));
        let ok = req.response(200, "OK", "x");
        assert!(t.on_response(clock(600), ok.clone()));
        assert!(t.on_response(clock(700), ok));
        let events: Vec<_> = std::iter::from_fn(|| t.poll_event()).collect();
        assert_eq!(events.len(), 2, "100 and the first 200 only");
        assert!(
            matches!(&events[1], TxEvent::Response(k, r) if *k == key && r.code() == Some(200))
        );
        // Timer K = T4 keeps the transaction to absorb retransmissions, then ends it.
        assert_eq!(t.poll_timeout(), Some(clock(5600)));
        t.handle_timeout(clock(5600));
        assert_eq!(t.counts(), (0, 0));
        assert!(!t.on_response(clock(5700), req.response(200, "OK", "x")));
    }

    #[test]
    fn reliable_client_never_retransmits() {
        let mut t = Transactions::new(TimerValues::default());
        let req = request("z9hG4bK3");
        t.send_request(clock(0), &req, 1u8, true).unwrap();
        drain(&mut t);
        assert_eq!(t.poll_timeout(), Some(clock(32000)));
        assert!(t.on_response(clock(10), req.response(202, "Accepted", "x")));
        assert_eq!(t.counts(), (0, 0));
    }

    #[test]
    fn server_absorbs_retransmissions_until_timer_j() {
        let mut t = Transactions::new(TimerValues::default());
        let mut req = request("z9hG4bKs1");
        req.start = crate::wire::StartLine::Request {
            method: "NOTIFY".into(),
            uri: "sip:8000@h".into(),
        };
        req.set("CSeq", "1 NOTIFY");
        let (key, got) = t.on_request(req.clone(), 7u8, false).unwrap();
        assert!(t.on_request(req.clone(), 7u8, false).is_none());
        assert_eq!(drain(&mut t), 0, "nothing to resend before the TU answers");
        t.respond(clock(20), &key, &got.response(200, "OK", "t"));
        assert_eq!(drain(&mut t), 1);
        assert!(t.on_request(req.clone(), 7u8, false).is_none());
        let again = t.poll_transmit().unwrap();
        assert!(again.bytes.starts_with(b"SIP/2.0 200 OK"));
        assert_eq!(t.poll_timeout(), Some(clock(32020)));
        t.handle_timeout(clock(32020));
        assert!(t.on_request(req, 7u8, false).is_some(), "a new transaction");
    }

    #[test]
    fn a_cached_response_goes_only_to_the_source_of_the_request() {
        let mut t = Transactions::new(TimerValues::default());
        let req = request("z9hG4bKr1");
        let (key, got) = t.on_request(req.clone(), 7u8, false).unwrap();
        t.respond(
            clock(20),
            &key,
            &got.response(405, "Method Not Allowed", "t"),
        );
        assert_eq!(t.poll_transmit().map(|x| x.dest), Some(7));
        let (other, _) = t
            .on_request(req.clone(), 8u8, false)
            .expect("from another source: a new transaction");
        assert_ne!(other, key);
        assert_eq!(t.poll_transmit(), None, "no resend to another source");
        assert!(t.on_request(req, 7u8, false).is_none());
        assert_eq!(
            t.poll_transmit().map(|x| x.dest),
            Some(7),
            "the real source still"
        );
        assert_eq!(t.counts(), (0, 2));
    }

    #[test]
    fn a_full_table_sheds_the_oldest_answered_transaction_only() {
        let mut t = Transactions::new(TimerValues::default());
        let mut keys = Vec::new();
        for i in 0..3u64 {
            let (key, req) = t
                .on_request(request(&format!("z9hG4bKe{i}")), 1u8, false)
                .unwrap();
            t.respond(clock(10 * i), &key, &req.response(200, "OK", "t"));
            keys.push(key);
        }
        // Not answered yet: never shed.
        let (open, _) = t.on_request(request("z9hG4bKopen"), 1u8, false).unwrap();
        drain(&mut t);
        assert!(t.evict_completed_server());
        assert_eq!(t.counts(), (0, 3));
        // The oldest went: its retransmission is a new request now; the next is still cached.
        assert!(t.on_request(request("z9hG4bKe0"), 1u8, false).is_some());
        assert!(t.on_request(request("z9hG4bKe1"), 1u8, false).is_none());
        assert!(t.evict_completed_server());
        assert!(t.evict_completed_server());
        assert!(!t.evict_completed_server(), "only unanswered ones are left");
        assert!(t.servers.contains_key(&open));
    }

    #[test]
    fn keys_distinguish_method_and_sent_by() {
        let a = request("z9hG4bKk");
        let mut b = a.clone();
        b.set("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKk");
        assert_ne!(server_key(&a), server_key(&b));
        let mut old = a.clone();
        old.set("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=1234");
        assert!(server_key(&old).unwrap().contains("c1"));
        assert!(is_rfc3261_branch(a.top_via().unwrap()));
        assert!(!is_rfc3261_branch(old.top_via().unwrap()));
    }
}
