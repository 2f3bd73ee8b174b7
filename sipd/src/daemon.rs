//! The sipd event loop: mio sockets (UDP and TCP on every `[sip] listen` address, IPv4 and
//! IPv6), the status socket, signals, name resolution and snapshot writes on helper threads.
//! It only moves bytes and timers; everything SIP happens in [`Ua`], admission in [`Guard`].
//!
//! Fairness: each readiness event is served in a bounded batch ([`UDP_BATCH`] datagrams,
//! [`ACCEPT_BATCH`] accepts, [`TCP_BATCH`] octets per connection); mio is edge-triggered, so a
//! socket left with work is remembered and served again on the next turn without waiting for
//! a new event, after timers, signals, status and the watchdog had theirs.

use crate::limits::{BurstLog, Gauge, Guard, LimitsStatus, Verdict};
use crate::resolve;
use crate::snapshot::{SnapshotStatus, SnapshotWorker};
use crate::ua::{Dest, Ua, UaConfig, UaStatus};
use crate::wire;
use crossbeam_channel::{Receiver, Sender};
use mio::net::{TcpListener, TcpStream, UdpSocket, UnixListener};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use mwi_core::config::{Config, Limits, ServerSpec, Transport};
use mwi_core::table::{TableConfig, Writer, SNAPSHOT_FILE};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{getsockopt, setsockopt, sockopt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAKER: Token = Token(0);
const STATUS: Token = Token(1);
const SIGNAL: Token = Token(2);
const FIRST_SOCKET: usize = 3;
/// How long an idle TCP connection is kept (ms).
const TCP_IDLE: u64 = 300_000;
/// Least time between two resolutions of the same server after request failures (ms).
const RERESOLVE_GAP: u64 = 30_000;
/// Datagrams read from one UDP socket per turn of the loop.
pub const UDP_BATCH: usize = 64;
/// Connections accepted from one listener per turn.
pub const ACCEPT_BATCH: usize = 32;
/// Octets read from one TCP connection per turn.
pub const TCP_BATCH: usize = 2 * (wire::MAX_MESSAGE + 1);
/// Status clients answered per turn.
const STATUS_BATCH: usize = 8;
/// Longest wait for events: the loop turns at least this often so that `WATCHDOG=1` keeps
/// coming (half of `WatchdogSec=` is far longer).
const TICK: Duration = Duration::from_secs(1);
/// Open files kept free of TCP connections: status clients, the table, snapshots, DNS
/// sockets and helper threads always have one.
const RESERVED_FDS: u64 = 64;
/// Wait before accepting again after the process or system ran out of files (ms).
const ACCEPT_RETRY: u64 = 200;

/// The file name of the status socket in `[state] runtime_dir`.
pub const STATUS_SOCKET: &str = "sipd.sock";

/// What `sipd status` reports: the user agent's view and every `[sip.limits]` bound.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SipdStatus {
    /// Server, subscriptions and numbers.
    #[serde(flatten)]
    pub ua: UaStatus,
    /// Use, bound and refusals of each `[sip.limits]` key.
    pub limits: LimitsStatus,
    /// The on-disk snapshot of the table (`[state] dir`).
    pub snapshot: SnapshotStatus,
}

/// Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in force.
///
/// The units set `LimitNOFILE=` to one value (soft = hard), so under systemd nothing is raised
/// and no setrlimit(2) is made: their `SystemCallFilter=~@resources` kills a process that
/// calls it (SIGSYS). A hand start with soft < hard gets the raise.
///
/// Errors: getrlimit(2) or setrlimit(2) failed.
pub fn raise_nofile_limit() -> Result<u64, String> {
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit(NOFILE): {e}"))?;
    if soft >= hard {
        return Ok(soft);
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
        .map_err(|e| format!("setrlimit(NOFILE, {hard}): {e}"))?;
    log::info!("open-file limit raised from {soft} to {hard}");
    Ok(hard)
}

/// Which server a resolution is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Mwi,
    Registrar,
}

/// A server to locate and the state of its lookups.
struct Server {
    role: Role,
    spec: ServerSpec,
    port: u16,
    transport: Transport,
    /// When the last lookup started (ms).
    last: Option<u64>,
    in_flight: bool,
    failures: u32,
    /// When a failed lookup is tried again (ms).
    retry_at: Option<u64>,
    addrs: Vec<SocketAddr>,
}

fn servers_of(cfg: &Config) -> Vec<Server> {
    let mut out = vec![(
        Role::Mwi,
        &cfg.mwi_server.server,
        cfg.mwi_server.port,
        cfg.mwi_server.transport,
    )];
    if let Some(r) = &cfg.registrar {
        out.push((Role::Registrar, &r.server, r.port, r.transport));
    }
    out.into_iter()
        .map(|(role, spec, port, transport)| Server {
            role,
            spec: spec.clone(),
            port,
            transport,
            last: None,
            in_flight: false,
            failures: 0,
            retry_at: None,
            addrs: Vec::new(),
        })
        .collect()
}

/// Numbers a configuration serves (`[sip.limits] numbers` bounds them).
fn numbers_of(cfg: &Config) -> usize {
    cfg.fxs.len() + cfg.pri.iter().map(|p| p.numbers.len()).sum::<usize>()
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    connected: bool,
    last_used: u64,
}

/// A running sipd.
pub struct Daemon {
    poll: Poll,
    waker: Arc<Waker>,
    udp: Vec<(Token, UdpSocket)>,
    listeners: Vec<(Token, TcpListener)>,
    conns: HashMap<Token, Conn>,
    by_peer: HashMap<SocketAddr, Token>,
    per_source: HashMap<IpAddr, u32>,
    next_token: usize,
    status: UnixListener,
    status_path: PathBuf,
    ua: Ua<Writer>,
    guard: Guard,
    snapshots: SnapshotWorker,
    start: Instant,
    resolved_tx: Sender<(usize, Vec<SocketAddr>)>,
    resolved_rx: Receiver<(usize, Vec<SocketAddr>)>,
    servers: Vec<Server>,
    locals_fixed: bool,
    signals: SignalFd,
    /// The configuration file, read again on SIGHUP.
    config_path: PathBuf,
    /// The running configuration.
    config: Config,
    /// `tcp_connections` lowered to fit the open-file limit.
    conn_limit: usize,
    nofile: u64,
    /// Sockets with work left after their batch, served next turn.
    pending: BTreeSet<Token>,
    accept_retry_at: Option<u64>,
    refused_conns: u64,
    refused_per_source: u64,
    dropped_full: u64,
    conn_burst: BurstLog,
    source_burst: BurstLog,
    full_burst: BurstLog,
    rate_burst: BurstLog,
    fd_burst: BurstLog,
    rng: fastrand::Rng,
}

fn set_udp_buffers(s: &UdpSocket, l: &Limits) {
    if let Err(e) = setsockopt(s, sockopt::RcvBuf, &(l.udp_rcvbuf as usize)) {
        log::warn!("SO_RCVBUF {}: {e}", l.udp_rcvbuf);
    }
    if let Err(e) = setsockopt(s, sockopt::SndBuf, &(l.udp_sndbuf as usize)) {
        log::warn!("SO_SNDBUF {}: {e}", l.udp_sndbuf);
    }
}

impl Daemon {
    /// Bind every listen address, open the MWI table and the status socket; `config_path` is
    /// where `cfg` came from (read again on SIGHUP).
    ///
    /// Errors: a bind or table error, as a message for the administrator.
    pub fn new(cfg: &Config, config_path: &Path) -> Result<Self, String> {
        let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        // SIGTERM/SIGINT end the loop cleanly (snapshot saved, status socket removed), SIGHUP
        // reloads the configuration. Blocked before any helper thread exists, so every thread
        // inherits the mask.
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGHUP);
        mask.thread_block()
            .map_err(|e| format!("blocking signals: {e}"))?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| format!("signalfd: {e}"))?;
        poll.registry()
            .register(
                &mut SourceFd(&signals.as_raw_fd()),
                SIGNAL,
                Interest::READABLE,
            )
            .map_err(|e| format!("signalfd: {e}"))?;
        let waker =
            Arc::new(Waker::new(poll.registry(), WAKER).map_err(|e| format!("waker: {e}"))?);
        let mut next_token = FIRST_SOCKET;
        let mut udp = Vec::new();
        let mut listeners = Vec::new();
        let mut local = HashMap::new();
        for spec in &cfg.sip.listen {
            let token = Token(next_token);
            next_token += 1;
            match spec.transport {
                Transport::Udp => {
                    let mut s = UdpSocket::bind(spec.addr)
                        .map_err(|e| format!("cannot listen on {spec}: {e}"))?;
                    set_udp_buffers(&s, &cfg.sip.limits);
                    let addr = s.local_addr().map_err(|e| e.to_string())?;
                    poll.registry()
                        .register(&mut s, token, Interest::READABLE)
                        .map_err(|e| e.to_string())?;
                    local.entry(Transport::Udp).or_insert(addr);
                    log::info!("listening on udp:{addr}");
                    udp.push((token, s));
                }
                Transport::Tcp => {
                    let mut l = TcpListener::bind(spec.addr)
                        .map_err(|e| format!("cannot listen on {spec}: {e}"))?;
                    let addr = l.local_addr().map_err(|e| e.to_string())?;
                    poll.registry()
                        .register(&mut l, token, Interest::READABLE)
                        .map_err(|e| e.to_string())?;
                    local.entry(Transport::Tcp).or_insert(addr);
                    log::info!("listening on tcp:{addr}");
                    listeners.push((token, l));
                }
            }
        }
        // systemd's StateDirectory= makes it; a hand start may not have it yet.
        std::fs::create_dir_all(&cfg.state.dir)
            .map_err(|e| format!("state directory {}: {e}", cfg.state.dir.display()))?;
        let writer = Writer::open(&TableConfig::for_config(cfg))
            .map_err(|e| format!("MWI table {}: {e}", cfg.table.path.display()))?;
        let snapshots = SnapshotWorker::start(cfg.state.dir.join(SNAPSHOT_FILE))?;
        std::fs::create_dir_all(&cfg.state.runtime_dir)
            .map_err(|e| format!("runtime directory {}: {e}", cfg.state.runtime_dir.display()))?;
        let status_path = cfg.state.runtime_dir.join(STATUS_SOCKET);
        let _ = std::fs::remove_file(&status_path);
        let mut status = UnixListener::bind(&status_path)
            .map_err(|e| format!("status socket {}: {e}", status_path.display()))?;
        poll.registry()
            .register(&mut status, STATUS, Interest::READABLE)
            .map_err(|e| e.to_string())?;

        let seed = u64::from(std::process::id())
            ^ Instant::now().elapsed().as_nanos() as u64
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        let ua = Ua::new(UaConfig::from_config(cfg), writer, seed, local);
        let (resolved_tx, resolved_rx) = crossbeam_channel::unbounded();
        let nofile = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
        let mut d = Self {
            poll,
            waker,
            udp,
            listeners,
            conns: HashMap::new(),
            by_peer: HashMap::new(),
            per_source: HashMap::new(),
            next_token,
            status,
            status_path,
            ua,
            guard: Guard::new(&cfg.sip.limits, seed.rotate_left(17)),
            snapshots,
            start: Instant::now(),
            resolved_tx,
            resolved_rx,
            servers: servers_of(cfg),
            locals_fixed: false,
            signals,
            config_path: config_path.to_owned(),
            config: cfg.clone(),
            conn_limit: 0,
            nofile,
            pending: BTreeSet::new(),
            accept_retry_at: None,
            refused_conns: 0,
            refused_per_source: 0,
            dropped_full: 0,
            conn_burst: BurstLog::default(),
            source_burst: BurstLog::default(),
            full_burst: BurstLog::default(),
            rate_burst: BurstLog::default(),
            fd_burst: BurstLog::default(),
            rng: fastrand::Rng::with_seed(seed.rotate_left(31)),
        };
        d.set_conn_limit();
        Ok(d)
    }

    /// `tcp_connections`, lowered so that TCP connections never take the files the status
    /// socket and the rest need.
    fn set_conn_limit(&mut self) {
        let wanted = self.config.sip.limits.tcp_connections as usize;
        let fit = self.nofile.saturating_sub(RESERVED_FDS).max(1) as usize;
        self.conn_limit = wanted.min(fit);
        if self.conn_limit < wanted {
            log::warn!(
                "tcp_connections = {wanted} lowered to {} to fit the open-file limit {}",
                self.conn_limit,
                self.nofile
            );
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Start lookups, off the event loop: the first one of each server, failed ones whose
    /// retry time came, and (`force`, after request failures) any not done in the last
    /// [`RERESOLVE_GAP`]. At most one lookup per server is in flight.
    fn resolve(&mut self, now: u64, force: bool) {
        for (i, s) in self.servers.iter_mut().enumerate() {
            let due = match (s.last, s.retry_at) {
                _ if s.in_flight => false,
                (None, _) => true,
                (_, Some(at)) => at <= now,
                (Some(l), None) => force && now >= l + RERESOLVE_GAP,
            };
            if !due {
                continue;
            }
            s.last = Some(now);
            s.retry_at = None;
            let port = s.port;
            match s.spec.clone() {
                ServerSpec::Ipv4(a) => {
                    let _ = self
                        .resolved_tx
                        .send((i, vec![SocketAddr::new(IpAddr::V4(a), port)]));
                    let _ = self.waker.wake();
                }
                ServerSpec::Dns(host) => {
                    let tx = self.resolved_tx.clone();
                    let waker = Arc::clone(&self.waker);
                    let transport = s.transport;
                    let spawned =
                        std::thread::Builder::new()
                            .name("resolve".into())
                            .spawn(move || {
                                let ns = resolve::system_nameservers();
                                let addrs = resolve::locate(
                                    &host,
                                    port,
                                    transport,
                                    &ns,
                                    Duration::from_secs(3),
                                );
                                let _ = tx.send((i, addrs));
                                let _ = waker.wake();
                            });
                    match spawned {
                        Ok(_) => s.in_flight = true,
                        Err(e) => {
                            s.failures = s.failures.saturating_add(1);
                            let delay =
                                resolve::retry_delay(s.failures, 0.5 + self.rng.f64() / 2.0);
                            s.retry_at = Some(now + delay);
                            log::warn!("resolver thread: {e}; retry in {delay} ms");
                        }
                    }
                }
            }
        }
    }

    fn take_resolutions(&mut self, now: u64) {
        while let Ok((i, addrs)) = self.resolved_rx.try_recv() {
            let Some(s) = self.servers.get_mut(i) else {
                continue;
            };
            s.in_flight = false;
            if addrs.is_empty() {
                s.failures = s.failures.saturating_add(1);
                let delay = resolve::retry_delay(s.failures, 0.5 + self.rng.f64() / 2.0);
                s.retry_at = Some(now + delay);
                log::warn!(
                    "{:?} server {}: no address found ({} failure(s)); next lookup in {delay} ms",
                    s.role,
                    s.spec,
                    s.failures
                );
                continue;
            }
            s.failures = 0;
            s.addrs.clone_from(&addrs);
            let role = s.role;
            log::info!("{role:?} server resolved to {addrs:?}");
            if !self.locals_fixed {
                self.fix_locals(addrs[0]);
            }
            match role {
                Role::Mwi => self.ua.set_mwi_addrs(now, addrs),
                Role::Registrar => self.ua.set_registrar_addrs(now, addrs),
            }
            let exempt = self
                .servers
                .iter()
                .flat_map(|s| s.addrs.iter().map(SocketAddr::ip))
                .collect();
            self.guard.set_exempt(exempt);
        }
    }

    /// Listening on 0.0.0.0 or [::]: put the address the kernel routes to the server from in
    /// Via and Contact.
    fn fix_locals(&mut self, server: SocketAddr) {
        self.locals_fixed = true;
        let ports: Vec<(Transport, SocketAddr)> = self
            .udp
            .iter()
            .filter_map(|(_, s)| s.local_addr().ok().map(|a| (Transport::Udp, a)))
            .chain(
                self.listeners
                    .iter()
                    .filter_map(|(_, l)| l.local_addr().ok().map(|a| (Transport::Tcp, a))),
            )
            .collect();
        for t in [Transport::Udp, Transport::Tcp] {
            let same_family = ports
                .iter()
                .find(|(pt, a)| *pt == t && a.is_ipv4() == server.is_ipv4())
                .or_else(|| ports.iter().find(|(pt, _)| *pt == t));
            let Some(&(_, mut addr)) = same_family else {
                continue;
            };
            if addr.ip().is_unspecified() {
                let any: SocketAddr = if server.is_ipv4() {
                    "0.0.0.0:0".parse().expect("literal")
                } else {
                    "[::]:0".parse().expect("literal")
                };
                if let Some(ip) = std::net::UdpSocket::bind(any)
                    .and_then(|s| s.connect(server).and_then(|()| s.local_addr()))
                    .ok()
                    .map(|a| a.ip())
                {
                    addr.set_ip(ip);
                }
            }
            self.ua.set_local(t, addr);
        }
    }

    /// Run until SIGTERM or SIGINT (`Ok`) or an unrecoverable error, calling `tick` on every
    /// turn of the loop (at least once per [`TICK`]: the systemd watchdog ping).
    ///
    /// Errors: the poll failed.
    pub fn run(&mut self, mut tick: impl FnMut()) -> Result<(), String> {
        let mut events = Events::with_capacity(256);
        let mut buf = vec![0u8; wire::MAX_MESSAGE + 1];
        let now = self.now();
        self.resolve(now, false);
        loop {
            let timeout = if self.pending.is_empty() {
                self.wait()
            } else {
                Duration::ZERO
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("poll: {e}")),
            }
            let now = self.now();
            let mut ready = std::mem::take(&mut self.pending);
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {}
                    SIGNAL => {
                        while let Ok(Some(info)) = self.signals.read_signal() {
                            if info.ssi_signo == Signal::SIGHUP as u32 {
                                self.reload(now);
                            } else {
                                log::info!("signal {}: stopping", info.ssi_signo);
                                return Ok(());
                            }
                        }
                    }
                    t => {
                        ready.insert(t);
                    }
                }
            }
            if self.accept_retry_at.is_some_and(|t| t <= now) {
                self.accept_retry_at = None;
                ready.extend(self.listeners.iter().map(|(t, _)| *t));
            }
            for t in ready {
                if self.serve(now, t, &mut buf) {
                    self.pending.insert(t);
                }
            }
            self.take_resolutions(now);
            let now = self.now();
            self.ua.handle_timeout(now);
            let force = self.ua.take_reresolve();
            self.resolve(now, force);
            self.flush(now);
            self.snapshots.poll(Instant::now(), self.ua.sink());
            self.close_idle(now);
            tick();
        }
    }

    /// How long the loop may sleep: until the next timer, at most [`TICK`].
    fn wait(&self) -> Duration {
        let now = self.now();
        let mut wake = self.ua.poll_timeout();
        let mut at = |ms: u64| wake = Some(wake.map_or(ms, |w| w.min(ms)));
        if let Some(d) = self.snapshots.deadline(Instant::now(), self.ua.sink()) {
            at(now + d.saturating_duration_since(Instant::now()).as_millis() as u64);
        }
        for s in &self.servers {
            if let Some(r) = s.retry_at {
                at(r);
            }
        }
        if let Some(r) = self.accept_retry_at {
            at(r);
        }
        wake.map_or(TICK, |w| {
            Duration::from_millis(w.saturating_sub(now)).min(TICK)
        })
    }

    /// Serve one ready socket a bounded batch; true when it may have more (its batch ran out
    /// before the socket ran dry).
    fn serve(&mut self, now: u64, token: Token, buf: &mut [u8]) -> bool {
        if token == STATUS {
            return self.serve_status();
        }
        if let Some(i) = self.udp.iter().position(|(t, _)| *t == token) {
            return self.serve_udp(now, i, buf);
        }
        if let Some(i) = self.listeners.iter().position(|(t, _)| *t == token) {
            return self.serve_accept(now, i);
        }
        self.conn_event(now, token, buf)
    }

    /// Pass an inbound message through the guard to the user agent. A source blocked by
    /// `[sip.block]` gets nothing, not even the rate limit's 503.
    fn admit(&mut self, now: u64, bytes: &[u8], src: Dest) {
        if self.ua.blocked(now, src.addr.ip()) {
            return;
        }
        match self
            .guard
            .check(now, src.addr.ip(), bytes, self.ua.server_transactions())
        {
            Verdict::Admit => self.ua.handle_message(now, bytes, src),
            Verdict::Reject => {
                if self.rate_burst.refuse(now) {
                    log::warn!(
                        "SIP from {}: over the request rate or transaction bound; answering 503 \
                         once a second, dropping the rest",
                        src.addr
                    );
                }
                if let Some(rsp) = self.guard.reject(bytes) {
                    self.send(now, dest_bytes(src, rsp));
                }
            }
            Verdict::Drop => {}
        }
    }

    fn serve_udp(&mut self, now: u64, i: usize, buf: &mut [u8]) -> bool {
        for _ in 0..UDP_BATCH {
            let (n, src) = match self.udp[i].1.recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // An ICMP error queued on the socket; the next read goes on.
                    log::debug!("udp receive: {e}");
                    continue;
                }
            };
            let dest = Dest {
                addr: src,
                transport: Transport::Udp,
            };
            self.admit(now, buf.get(..n).unwrap_or_default(), dest);
        }
        self.flush(now);
        true
    }

    fn serve_accept(&mut self, now: u64, i: usize) -> bool {
        for _ in 0..ACCEPT_BATCH {
            let (stream, peer) = match self.listeners[i].1.accept() {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE/ENFILE and the like: the backlog stays; try again shortly rather
                    // than spin on a listener that stays readable.
                    if self.fd_burst.refuse(now) {
                        log::warn!("tcp accept: {e}; retrying every {ACCEPT_RETRY} ms");
                    }
                    self.accept_retry_at = Some(now + ACCEPT_RETRY);
                    return false;
                }
            };
            let limits = self.config.sip.limits;
            if self.conns.len() >= self.conn_limit {
                self.refused_conns += 1;
                if self.conn_burst.refuse(now) {
                    log::warn!(
                        "tcp: {} connections open (limit {}): closing new ones at once",
                        self.conns.len(),
                        self.conn_limit
                    );
                }
                continue;
            }
            let ip = source(peer.ip());
            if self.per_source.get(&ip).copied().unwrap_or(0) >= limits.tcp_per_source {
                self.refused_per_source += 1;
                if self.source_burst.refuse(now) {
                    log::warn!(
                        "tcp: {ip} has {} connections (tcp_per_source): closing new ones at once",
                        limits.tcp_per_source
                    );
                }
                continue;
            }
            self.add_conn(now, stream, peer, true);
        }
        true
    }

    fn add_conn(&mut self, now: u64, mut stream: TcpStream, peer: SocketAddr, connected: bool) {
        let token = Token(self.next_token);
        self.next_token += 1;
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!("tcp {peer}: {e}");
            return;
        }
        if let Some(old) = self.by_peer.get(&peer).copied() {
            self.drop_conn(old, false);
        }
        self.by_peer.insert(peer, token);
        *self.per_source.entry(source(peer.ip())).or_insert(0) += 1;
        self.conns.insert(
            token,
            Conn {
                stream,
                peer,
                rbuf: Vec::new(),
                wbuf: Vec::new(),
                connected,
                last_used: now,
            },
        );
        // Data may already wait: edge-triggered readiness was armed after it came.
        self.pending.insert(token);
    }

    fn drop_conn(&mut self, token: Token, failed: bool) {
        if let Some(mut c) = self.conns.remove(&token) {
            let _ = self.poll.registry().deregister(&mut c.stream);
            self.pending.remove(&token);
            if self.by_peer.get(&c.peer) == Some(&token) {
                self.by_peer.remove(&c.peer);
            }
            let ip = source(c.peer.ip());
            if let Some(n) = self.per_source.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.per_source.remove(&ip);
                }
            }
            log::debug!("tcp {} closed", c.peer);
            if failed {
                let now = self.now();
                self.ua.transport_error(
                    now,
                    Dest {
                        addr: c.peer,
                        transport: Transport::Tcp,
                    },
                );
            }
        }
    }

    /// Read at most [`TCP_BATCH`] octets of one connection, hand over its complete messages,
    /// write what waits; true when the read budget ran out first.
    fn conn_event(&mut self, now: u64, token: Token, buf: &mut [u8]) -> bool {
        let cap = self.config.sip.limits.tcp_buffer as usize;
        let mut messages = Vec::new();
        let mut close = None;
        let mut more = false;
        {
            let Some(c) = self.conns.get_mut(&token) else {
                return false;
            };
            if !c.connected {
                match c.stream.peer_addr() {
                    Ok(_) => c.connected = true,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                    Err(_) => close = Some(true),
                }
                if let Ok(Some(e)) = c.stream.take_error() {
                    log::warn!("tcp connect {}: {e}", c.peer);
                    close = Some(true);
                }
            }
            let mut budget = TCP_BATCH;
            while close.is_none() && budget > 0 {
                let want = budget.min(buf.len());
                match c.stream.read(buf.get_mut(..want).unwrap_or_default()) {
                    Ok(0) => close = Some(false),
                    Ok(n) => {
                        c.last_used = now;
                        budget -= n;
                        c.rbuf.extend_from_slice(buf.get(..n).unwrap_or_default());
                        more = budget == 0;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                    Err(e) => {
                        log::debug!("tcp {}: {e}", c.peer);
                        close = Some(true);
                    }
                }
            }
            // Several messages per read, and partial ones kept for the next read.
            while close.is_none() {
                match wire::frame(&c.rbuf) {
                    Ok(Some(n)) => {
                        let rest = c.rbuf.split_off(n);
                        messages.push(std::mem::replace(&mut c.rbuf, rest));
                    }
                    Ok(None) => break,
                    Err(why) => {
                        log::warn!("tcp {}: {why}; closing", c.peer);
                        close = Some(true);
                    }
                }
            }
            if close.is_none() && c.rbuf.len() > cap {
                log::warn!(
                    "tcp {}: {} octets unframed (tcp_buffer); closing",
                    c.peer,
                    c.rbuf.len()
                );
                close = Some(true);
            }
        }
        let peer = self.conns.get(&token).map(|c| c.peer);
        if let Some(peer) = peer {
            let dest = Dest {
                addr: peer,
                transport: Transport::Tcp,
            };
            for m in messages {
                if m.iter().all(|&b| b == b'\r' || b == b'\n') {
                    continue;
                }
                self.admit(now, &m, dest);
            }
        }
        if let Some(failed) = close {
            self.drop_conn(token, failed);
            return false;
        }
        self.flush(now);
        self.write_conn(now, token);
        more && self.conns.contains_key(&token)
    }

    /// Write what waits for `token`; a peer that lets more than `tcp_buffer` octets pile up
    /// (it does not read its responses) is dropped.
    fn write_conn(&mut self, now: u64, token: Token) {
        let cap = self.config.sip.limits.tcp_buffer as usize;
        let mut failed = false;
        let mut full = false;
        if let Some(c) = self.conns.get_mut(&token) {
            while !c.wbuf.is_empty() {
                match c.stream.write(&c.wbuf) {
                    Ok(0) => {
                        failed = true;
                        break;
                    }
                    Ok(n) => {
                        c.wbuf.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        log::debug!("tcp {} write: {e}", c.peer);
                        failed = true;
                        break;
                    }
                }
            }
            full = c.wbuf.len() > cap;
        }
        if full {
            self.dropped_full += 1;
            if self.full_burst.refuse(now) {
                log::warn!(
                    "tcp: a peer does not read its responses (over tcp_buffer = {cap}); dropped"
                );
            }
        }
        if failed || full {
            self.drop_conn(token, true);
        }
    }

    /// Send everything the user agent queued.
    fn flush(&mut self, now: u64) {
        while let Some(t) = self.ua.poll_transmit() {
            self.send(now, t);
        }
    }

    /// Send one message: a datagram, or onto its TCP connection (opened if needed).
    fn send(&mut self, now: u64, t: crate::transaction::Transmit<Dest>) {
        match t.dest.transport {
            Transport::Udp => {
                let sock = self
                    .udp
                    .iter()
                    .find(|(_, s)| {
                        s.local_addr()
                            .is_ok_and(|a| a.is_ipv4() == t.dest.addr.is_ipv4())
                    })
                    .or_else(|| self.udp.first());
                let Some((_, sock)) = sock else {
                    log::warn!("no UDP socket to send to {}", t.dest.addr);
                    return;
                };
                if let Err(e) = sock.send_to(&t.bytes, t.dest.addr) {
                    log::debug!("udp send to {}: {e}", t.dest.addr);
                    if e.kind() != io::ErrorKind::WouldBlock {
                        self.ua.transport_error(now, t.dest);
                    }
                }
            }
            Transport::Tcp => {
                let token = match self.by_peer.get(&t.dest.addr) {
                    Some(&tok) => tok,
                    None if self.conns.len() >= self.conn_limit => {
                        log::warn!("tcp connect {}: tcp_connections reached", t.dest.addr);
                        self.ua.transport_error(now, t.dest);
                        return;
                    }
                    None => match TcpStream::connect(t.dest.addr) {
                        Ok(s) => {
                            self.add_conn(now, s, t.dest.addr, false);
                            match self.by_peer.get(&t.dest.addr) {
                                Some(&tok) => tok,
                                None => return,
                            }
                        }
                        Err(e) => {
                            log::warn!("tcp connect {}: {e}", t.dest.addr);
                            self.ua.transport_error(now, t.dest);
                            return;
                        }
                    },
                };
                if let Some(c) = self.conns.get_mut(&token) {
                    c.wbuf.extend_from_slice(&t.bytes);
                    c.last_used = now;
                }
                self.write_conn(now, token);
            }
        }
    }

    fn close_idle(&mut self, now: u64) {
        let idle: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| c.wbuf.is_empty() && now > c.last_used + TCP_IDLE)
            .map(|(t, _)| *t)
            .collect();
        for t in idle {
            self.drop_conn(t, false);
        }
    }

    /// SIGHUP: read the configuration file again; a valid one is applied (numbers, server,
    /// limits), an invalid one is logged with its file:line:column and the running one kept.
    /// Listen addresses and the table and state paths need a restart.
    fn reload(&mut self, now: u64) {
        let cfg = match Config::load(&self.config_path) {
            Ok(c) => c,
            Err(e) => {
                log::error!("reload: {e}; keeping the running configuration");
                return;
            }
        };
        let old = &self.config;
        if cfg.sip.listen != old.sip.listen || cfg.table != old.table || cfg.state != old.state {
            log::warn!(
                "reload: [sip] listen, [table] and [state] changes take effect at the next start"
            );
        }
        let limits = cfg.sip.limits;
        if (limits.udp_rcvbuf, limits.udp_sndbuf)
            != (old.sip.limits.udp_rcvbuf, old.sip.limits.udp_sndbuf)
        {
            for (_, s) in &self.udp {
                set_udp_buffers(s, &limits);
            }
        }
        self.guard.set_limits(&limits);
        let relocate = self.ua.reconfigure(now, UaConfig::from_config(&cfg));
        if relocate {
            self.servers = servers_of(&cfg);
            self.locals_fixed = false;
            self.guard.set_exempt(Vec::new());
        }
        self.config = cfg;
        self.set_conn_limit();
        self.resolve(now, false);
        self.flush(now);
        log::info!(
            "reload: {} applied ({} number(s))",
            self.config_path.display(),
            numbers_of(&self.config)
        );
    }

    fn limits_status(&self) -> LimitsStatus {
        let l = &self.config.sip.limits;
        let kernel = |opt: fn(&UdpSocket) -> Option<usize>| {
            self.udp
                .iter()
                .filter_map(|(_, s)| opt(s))
                .min()
                .unwrap_or(0) as u64
        };
        LimitsStatus {
            tcp_connections: Gauge {
                current: self.conns.len() as u64,
                limit: self.conn_limit as u64,
                refused: self.refused_conns,
            },
            tcp_per_source: Gauge {
                current: self.per_source.values().copied().max().unwrap_or(0).into(),
                limit: l.tcp_per_source.into(),
                refused: self.refused_per_source,
            },
            tcp_buffer: Gauge {
                current: self
                    .conns
                    .values()
                    .map(|c| c.rbuf.len().max(c.wbuf.len()))
                    .max()
                    .unwrap_or(0) as u64,
                limit: l.tcp_buffer.into(),
                refused: self.dropped_full,
            },
            transactions: Gauge {
                current: self.ua.server_transactions() as u64,
                limit: self.guard.transactions() as u64,
                refused: self.guard.refused_transactions,
            },
            rate: Gauge {
                current: self.guard.sources() as u64,
                limit: l.rate.into(),
                refused: self.guard.refused_rate,
            },
            udp_rcvbuf: Gauge {
                current: kernel(|s| getsockopt(s, sockopt::RcvBuf).ok()),
                limit: l.udp_rcvbuf.into(),
                refused: 0,
            },
            udp_sndbuf: Gauge {
                current: kernel(|s| getsockopt(s, sockopt::SndBuf).ok()),
                limit: l.udp_sndbuf.into(),
                refused: 0,
            },
            numbers: Gauge {
                current: numbers_of(&self.config) as u64,
                limit: l.numbers.into(),
                refused: 0,
            },
        }
    }

    /// Answer up to [`STATUS_BATCH`] status clients; true when more may wait.
    fn serve_status(&mut self) -> bool {
        for _ in 0..STATUS_BATCH {
            match self.status.accept() {
                Ok((stream, _)) => {
                    let st = SipdStatus {
                        ua: self.ua.status(self.now()),
                        limits: self.limits_status(),
                        snapshot: self.snapshots.status(Instant::now()),
                    };
                    let json = serde_json::to_vec(&st).unwrap_or_default();
                    // A status client reads the whole answer; a blocking write of a few
                    // kilobytes to a local socket does not stall the loop.
                    let mut std_stream: std::os::unix::net::UnixStream = stream.into();
                    let _ = std_stream.set_nonblocking(false);
                    let _ = std_stream.set_write_timeout(Some(Duration::from_secs(1)));
                    let _ = std_stream.write_all(&json);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!("status socket: {e}");
                    return false;
                }
            }
        }
        true
    }
}

/// A message to `dest`.
fn dest_bytes(dest: Dest, bytes: Vec<u8>) -> crate::transaction::Transmit<Dest> {
    crate::transaction::Transmit { dest, bytes }
}

/// The source address connections are counted by: IPv4-mapped IPv6 as IPv4.
fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.status_path);
        self.snapshots.finish(self.ua.sink());
    }
}

/// `sipd status`: ask the daemon of `cfg` for its status.
///
/// Errors: the daemon is not running or did not answer.
pub fn query_status(cfg: &Config) -> Result<SipdStatus, String> {
    let path = cfg.state.runtime_dir.join(STATUS_SOCKET);
    let mut s = std::os::unix::net::UnixStream::connect(&path)
        .map_err(|e| format!("sipd not running? {}: {e}", path.display()))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut text = Vec::new();
    s.read_to_end(&mut text)
        .map_err(|e| format!("reading status: {e}"))?;
    serde_json::from_slice(&text).map_err(|e| format!("bad status answer: {e}"))
}
