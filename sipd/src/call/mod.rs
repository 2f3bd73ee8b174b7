//! INVITE dialogs of the FXS ports and of the PRI trunk (RFC 3261 §12, §13, §17.1.1,
//! §17.2.1), sans-IO on the [`sansio::Core`] contract, beside [`crate::ua::Ua`] and
//! [`crate::transaction`].
//!
//! [`Calls`] owns the sipd end of the call-control channel ([`callctl::link::Link`]): chand's
//! `Dial`/`TrunkDial`/`MediaReady`/`Alerting`/`Answered`/`Hangup` come in as packets, SIP
//! messages from the [`crate::ua::Ua`] (which parses and admits them), and time; SIP
//! messages, callctl packets ([`Out`]) and the next timer come out. Outgoing calls are in
//! [`uac`], incoming ones in [`uas`], the in-dialog requests both send in [`dialog`], the
//! dispatch of what chand sends in [`chand`].
//!
//! INVITE transactions are handled here, not in [`crate::transaction`] (which is the
//! non-INVITE layer): Timer A/B for our INVITE (§17.1.1.2), the ACK of a non-2xx in the
//! transaction and the ACK of a 2xx as its own request (§13.2.2.4), and Timer G/H for our
//! final responses (§17.2.1, §13.3.1.4). BYE and CANCEL run as non-INVITE transactions of a
//! [`Transactions`] layer of the calls' own.

use crate::sdp;
use crate::transaction::{TimerValues, Transactions, Transmit, TxEvent, TxKey};
use crate::ua::Dest;
use crate::wire::Message;
use callctl::link::Link;
use callctl::wire::Ports;
use callctl::{CallId, Codec, Media, PbxMwi, Side, Text};
use mwi_config::{Config, Transport};
use mwi_core::route::Router;
use sansio::{Core, Duration, Instant, Timers};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

mod chand;
mod dialog;
mod status;
mod uac;
mod uas;

#[cfg(test)]
mod tests;

pub use status::{render, CallStatus};

pub use crate::ua::Credentials;

/// One `[[fxs]]` port as the call core sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// DAHDI channel (the callctl port).
    pub channel: u16,
    /// Its number: the From user of its calls, the Request-URI user that rings it.
    pub number: String,
    /// `[fxs.auth]`, else `[sip.auth]`.
    pub auth: Option<Credentials>,
}

/// One `[[pri]]` span as the call core sees it (issue 13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trunk {
    /// The DAHDI span number (the callctl `span`).
    pub span: u16,
    /// Whether the span has `[pri.calls]`: without it, INVITEs for its numbers get 404.
    pub calls: bool,
}

/// What a call connects to on chand's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// An `[[fxs]]` port (DAHDI channel).
    Port(u16),
    /// A `[[pri]]` span (DAHDI span number): a trunk call to or from the PBX.
    Span(u16),
}

/// What the call core takes from the configuration.
#[derive(Clone, Debug)]
pub struct CallsConfig {
    /// The `[[fxs]]` ports.
    pub ports: Vec<Port>,
    /// The `[[pri]]` spans, in the file's order (the index of [`mwi_core::route::Route::Pri`]).
    pub trunks: Vec<Trunk>,
    /// The routing rule of the numbers ([`Config::router`]): an INVITE's Request-URI user
    /// that is no port's number goes to the PRI span it names.
    pub router: Router,
    /// `[sip.auth]`: the credentials of trunk calls, and its username their From user when
    /// the PBX gives no calling number.
    pub auth: Option<Credentials>,
    /// `[sip.proxy]`: host (Request-URI and To of INVITEs), port, transport; `None`: calls
    /// from the ports are refused at once.
    pub proxy: Option<(String, u16, Transport)>,
    /// `[media] codecs`, in order of preference.
    pub codecs: Vec<Codec>,
    /// `[sip] user_agent`.
    pub user_agent: String,
    /// Most calls at once (both directions); an INVITE beyond gets 503.
    pub max_calls: usize,
    /// RFC 3261 timers.
    pub timers: TimerValues,
    /// Longest an incoming call rings unanswered before sipd ends it with 480 (ms).
    pub ring_timeout: u64,
}

impl CallsConfig {
    /// Most calls at once: one per port is the real bound; the rest is room for calls that
    /// are being torn down.
    pub const MAX_CALLS: usize = 256;

    /// The call settings of a validated configuration.
    pub fn from_config(c: &Config) -> Self {
        let auth = |a: &mwi_config::Auth| (a.username.clone(), a.password.clone(), a.realm.clone());
        let host = |s: &mwi_config::ServerSpec| match s {
            mwi_config::ServerSpec::Ipv4(a) => a.to_string(),
            mwi_config::ServerSpec::Dns(h) => h.clone(),
        };
        Self {
            ports: c
                .fxs
                .iter()
                .filter_map(|f| {
                    Some(Port {
                        channel: u16::try_from(f.channel).ok()?,
                        number: f.number.to_string(),
                        auth: f.auth.as_ref().or(c.sip.auth.as_ref()).map(auth),
                    })
                })
                .collect(),
            trunks: c
                .pri
                .iter()
                .filter_map(|p| {
                    Some(Trunk {
                        span: u16::try_from(p.span).ok()?,
                        calls: p.calls.is_some(),
                    })
                })
                .collect(),
            router: c.router(),
            auth: c.sip.auth.as_ref().map(auth),
            proxy: c
                .sip
                .proxy
                .as_ref()
                .map(|p| (host(&p.server), p.port, p.transport)),
            codecs: c.media.codecs.clone(),
            user_agent: c.sip.user_agent.clone(),
            max_calls: Self::MAX_CALLS,
            timers: TimerValues::default(),
            ring_timeout: 180_000,
        }
    }
}

/// What the call core sends: a SIP message, or a packet for chand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// A SIP message to its destination.
    Sip(Transmit<Dest>),
    /// One callctl packet (one `SOCK_SEQPACKET` packet).
    Chand(Vec<u8>),
}

/// What the call core reports to the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEvent {
    /// A request refused as a failure of its source (403 to an INVITE not from the proxy),
    /// for `[sip.block]` ([`crate::ua::Ua::strike_source`]).
    Refused {
        /// Where it came from.
        src: Dest,
        /// The answer, for the log.
        why: String,
    },
    /// A lamp state from the PBX of a PRI span for a number an FXS port serves: the daemon
    /// records it in the table, which lights that port (issue 14 item 6). A state for a number
    /// the same span serves is dropped here (recording it would send it back to the PBX).
    PbxMwi(PbxMwi),
    /// A lamp state from the PBX for a number no FXS port serves (nor the sending span): not
    /// for the table, only for sipd's notifier, whose SIP subscribers it lights (issue 14
    /// item 6).
    PbxLamp(PbxMwi),
}

/// Which way a call goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Dialled on a port or a SETUP from the PBX: sipd is the UAC.
    Outgoing,
    /// An INVITE for a port or a span: sipd is the UAS.
    Incoming,
}

/// Where a call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Outgoing: `Dial` came, waiting for `MediaReady` to build the offer.
    Waiting,
    /// Outgoing: INVITE sent, no response yet (CANCEL waits for one, RFC 3261 §9.1).
    Calling,
    /// Outgoing: a provisional response came.
    Proceeding,
    /// Outgoing: CANCEL sent, waiting for the INVITE's final response.
    Cancelling,
    /// Incoming: chand was told; the port may be ringing.
    Ringing,
    /// Incoming: 200 sent, waiting for the ACK.
    Answering,
    /// The dialog is confirmed: two-way media.
    Confirmed,
    /// BYE sent, or a final error response waits for its ACK: kept to absorb retransmissions.
    Ending,
}

/// The timers of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Retransmit our INVITE (Timer A) or our final response (Timer G).
    Retransmit,
    /// Give up: Timer B (INVITE), Timer H (no ACK), the ring limit, the end of `Ending`.
    Give,
}

/// One call: its dialog and its INVITE transaction.
struct Call {
    id: CallId,
    line: Line,
    /// The user of our Contact: the port's number, the called number of an incoming trunk
    /// call, the From user of an outgoing one.
    user: String,
    /// Digest credentials of our INVITE: `[fxs.auth]` or `[sip.auth]`.
    auth: Option<Credentials>,
    /// The called and the calling number, for status.
    called: String,
    calling: String,
    /// Outgoing: the caller withheld its identity: `Privacy: id` on the INVITE (RFC 3323
    /// §4.2) with an anonymous From.
    private: bool,
    /// Incoming: who answered at chand's side (`Identity`: the PBX's connectedName), put in
    /// the 200's P-Asserted-Identity (RFC 3325 §9.1).
    answered_by: Option<(Text, Text)>,
    direction: Direction,
    state: State,
    started: Instant,
    dest: Dest,
    call_id: String,
    local_tag: String,
    remote_tag: Option<String>,
    /// Our URI (From of our requests) and the peer's (To), as name-addr without tags.
    local_uri: String,
    remote_uri: String,
    /// Request-URI of in-dialog requests: the peer's Contact (RFC 3261 §12.1).
    remote_target: String,
    /// Route set, in the order the Route headers take (§12.1.1, §12.1.2).
    route: Vec<String>,
    local_cseq: u32,
    /// Our media: from `MediaReady`.
    local: Option<sdp::Local>,
    media: Option<Media>,
    /// Outgoing: the INVITE last sent, for retransmission, CANCEL and the ACK of a non-2xx.
    invite: Option<Message>,
    /// Outgoing: whether a digest answer was tried.
    authorized: bool,
    /// Outgoing: chand hung up before any response; CANCEL follows the first provisional.
    cancel_pending: bool,
    /// The ACK we sent for the final response (resent for a retransmitted one).
    ack: Option<Vec<u8>>,
    /// Incoming: the INVITE (or re-INVITE) being answered.
    request: Option<Message>,
    /// Incoming: chand said `Answered` before `MediaReady`.
    answered: bool,
    /// The last response to the INVITE, resent on Timer G and for retransmitted INVITEs.
    response: Option<Vec<u8>>,
    /// Timer A/G interval.
    interval: Duration,
}

/// All calls of the FXS ports and the callctl link to chand.
pub struct Calls {
    cfg: CallsConfig,
    link: Link,
    calls: HashMap<CallId, Call>,
    /// SIP Call-ID → call.
    by_sip: HashMap<String, CallId>,
    /// BYE and CANCEL client transactions → call.
    pending: HashMap<TxKey, CallId>,
    tx: Transactions<Dest>,
    timers: Timers<(CallId, Timer)>,
    local: HashMap<Transport, SocketAddr>,
    proxy_addrs: Vec<SocketAddr>,
    /// Sources whose INVITEs are taken: `[sip.proxy]` and `[registrar]`.
    trusted: Vec<IpAddr>,
    out: VecDeque<Transmit<Dest>>,
    events: VecDeque<CallEvent>,
}

impl Calls {
    /// The call core, started at `now`; `epoch` is this run's callctl epoch (random, from the
    /// OS); `local` the address SIP is sent from per transport (Via, Contact, and the SDP of a
    /// `MediaReady` on an unspecified address).
    pub fn new(
        now: Instant,
        cfg: CallsConfig,
        epoch: u64,
        local: HashMap<Transport, SocketAddr>,
    ) -> Self {
        let link_cfg = callctl::link::Config {
            max_calls: cfg.max_calls,
            ..Default::default()
        };
        Self {
            link: Link::new(now, Side::Sipd, epoch, Ports::default(), link_cfg),
            tx: Transactions::new(cfg.timers),
            cfg,
            calls: HashMap::new(),
            by_sip: HashMap::new(),
            pending: HashMap::new(),
            timers: Timers::new(),
            local,
            proxy_addrs: Vec::new(),
            trusted: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The local address of `transport` (learnt from the route to a server).
    pub fn set_local(&mut self, transport: Transport, addr: SocketAddr) {
        self.local.insert(transport, addr);
    }

    /// A configuration read again (SIGHUP): ports, proxy, codecs and limits apply to new
    /// calls; running calls go on. Returns whether `[sip.proxy]` changed, so the daemon
    /// locates it again (its addresses and the trusted sources are forgotten until then).
    pub fn reconfigure(&mut self, cfg: CallsConfig) -> bool {
        let moved = cfg.proxy != self.cfg.proxy;
        if moved {
            self.proxy_addrs.clear();
            self.trusted.clear();
        }
        self.cfg = cfg;
        moved
    }

    /// The addresses of `[sip.proxy]`; the first is used.
    pub fn set_proxy_addrs(&mut self, addrs: Vec<SocketAddr>) {
        self.proxy_addrs = addrs;
    }

    /// The addresses INVITEs are taken from (the resolved `[sip.proxy]` and `[registrar]`);
    /// any other source gets 403, whatever number it calls, so calls cannot bypass the proxy
    /// (toll fraud) and a scan cannot tell the ports' numbers from others.
    pub fn set_trusted(&mut self, ips: Vec<IpAddr>) {
        self.trusted = ips;
    }

    /// The callctl socket connected to chand.
    pub fn handle_connect(&mut self, now: Instant) {
        self.link.handle_connect(now);
    }

    /// The callctl socket closed: every call ends ([`Event::CallsLost`]).
    pub fn handle_disconnect(&mut self, now: Instant) {
        self.link.handle_disconnect(now);
        self.drain_link(now);
    }

    /// One callctl packet from chand.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.link.handle_packet(now, packet);
        self.drain_link(now);
    }

    /// One SIP message for the calls (INVITE, ACK, BYE, CANCEL, or a response to one), parsed
    /// and admitted by the [`crate::ua::Ua`].
    pub fn handle_sip(&mut self, now: Instant, msg: Message, src: Dest) {
        if msg.is_request() {
            match msg.method() {
                "INVITE" => self.on_invite(now, msg, src),
                "ACK" => self.on_ack(now, &msg),
                "BYE" | "CANCEL" => self.on_bye_or_cancel(now, msg, src),
                m => log::debug!("calls: {m} is not a call request; dropped"),
            }
        } else if msg.method() == "INVITE" {
            self.on_invite_response(now, msg);
        } else {
            if !self.tx.on_response(now, msg) {
                log::debug!("calls: response matches no BYE or CANCEL; dropped");
            }
            self.drain_tx(now);
        }
    }

    /// The calls now, for `sipd status`.
    pub fn status(&self, now: Instant) -> Vec<CallStatus> {
        let mut v: Vec<_> = self.calls.values().map(|c| c.status(now)).collect();
        v.sort_by(|a, b| a.call.cmp(&b.call));
        v
    }

    /// Whether chand is connected and said `Hello`.
    pub fn chand_up(&self) -> bool {
        self.link.peer_up()
    }

    fn remove(&mut self, id: CallId) {
        if let Some(c) = self.calls.remove(&id) {
            self.by_sip.remove(&c.call_id);
            c.note(format_args!("call ends"));
        }
        self.timers.cancel((id, Timer::Retransmit));
        self.timers.cancel((id, Timer::Give));
        self.pending.retain(|_, c| *c != id);
    }

    /// Keeps an ended call `32 s` (Timer D/J) so that retransmissions are absorbed.
    fn linger(&mut self, now: Instant, id: CallId) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.state = State::Ending;
        }
        self.timers.cancel((id, Timer::Retransmit));
        self.timers.set((id, Timer::Give), now + self.t1() * 64);
    }

    fn t1(&self) -> Duration {
        Duration::from_millis(self.cfg.timers.t1)
    }

    fn local_addr(&self, t: Transport) -> SocketAddr {
        self.local
            .get(&t)
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5060)))
    }

    fn send_sip(&mut self, dest: Dest, msg: &Message) {
        self.out.push_back(Transmit {
            dest,
            bytes: msg.to_bytes(),
        });
    }

    /// Moves what the BYE/CANCEL transactions send into the one queue, keeping the order
    /// in which the calls sent it (a 200 to CANCEL before the 487, an ACK before a BYE).
    fn queue_tx(&mut self) {
        while let Some(t) = self.tx.poll_transmit() {
            self.out.push_back(t);
        }
    }

    fn drain_tx(&mut self, now: Instant) {
        while let Some(ev) = self.tx.poll_event() {
            let (key, code) = match ev {
                TxEvent::Response(k, r) => (k, r.code().unwrap_or(0)),
                TxEvent::Timeout(k) | TxEvent::TransportError(k) => (k, 408),
            };
            if code < 200 {
                continue;
            }
            let Some(id) = self.pending.remove(&key) else {
                continue;
            };
            // BYE done: the dialog is over. CANCEL done: the INVITE's final response ends it.
            if key.ends_with("BYE") {
                self.remove(id);
            } else if code >= 300 {
                self.timers.set((id, Timer::Give), now);
            }
        }
    }

    fn on_timer(&mut self, now: Instant, id: CallId, timer: Timer) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        match (timer, c.state) {
            (Timer::Retransmit, _) if c.response.is_some() => self.retransmit_response(now, id),
            (Timer::Retransmit, _) => self.retransmit_invite(now, id),
            (Timer::Give, State::Ending) => self.remove(id),
            (Timer::Give, State::Ringing | State::Answering | State::Confirmed) => {
                self.timer_h(now, id);
            }
            (Timer::Give, _) => self.timer_b(now, id),
        }
    }
}

impl Call {
    /// An info log line about this call, with its Call-ID and channel.
    fn note(&self, what: std::fmt::Arguments<'_>) {
        self.log(log::Level::Info, what);
    }

    /// A log line about this call at `level`, with its Call-ID and channel or span (journal
    /// fields CALL_ID and CHANNEL, issue 12, or SPAN, issue 13).
    fn log(&self, level: log::Level, what: std::fmt::Arguments<'_>) {
        match self.line {
            Line::Port(channel) => log::log!(
                level,
                call_id = self.call_id.as_str(), channel = channel;
                "call {} ({:?}, channel {channel}, Call-ID {}): {what}",
                self.id, self.direction, self.call_id
            ),
            Line::Span(span) => log::log!(
                level,
                call_id = self.call_id.as_str(), span = span;
                "call {} ({:?}, span {span}, {} to {}, Call-ID {}): {what}",
                self.id,
                self.direction,
                status::shown(&self.calling),
                self.called,
                self.call_id
            ),
        }
    }
}

impl Core for Calls {
    type Transmit = Out;
    type Event = CallEvent;

    fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
        self.drain_link(now);
        self.tx.handle_timeout(now);
        self.drain_tx(now);
        while let Some((id, timer)) = self.timers.pop_due(now) {
            self.on_timer(now, id, timer);
        }
    }

    fn poll_transmit(&mut self) -> Option<Out> {
        if let Some(t) = self.out.pop_front().or_else(|| self.tx.poll_transmit()) {
            return Some(Out::Sip(t));
        }
        self.link.poll_transmit().map(Out::Chand)
    }

    fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.link.poll_timeout(),
            self.tx.poll_timeout(),
            self.timers.next(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
