//! The sipd event loop: mio sockets (UDP and TCP on every `[sip] listen` address, IPv4 and
//! IPv6), the status socket, signals, name resolution and snapshot writes on helper threads.
//! It only moves bytes and timers; everything SIP happens in [`Ua`], admission in [`Guard`].
//!
//! Fairness: each readiness event is served in a bounded batch ([`UDP_BATCH`] datagrams,
//! [`ACCEPT_BATCH`] accepts, [`TCP_BATCH`] octets per connection); mio is edge-triggered, so a
//! socket left with work is remembered and served again on the next turn without waiting for
//! a new event, after timers, signals, status and the watchdog had theirs.

use crate::call::{CallEvent, Calls, CallsConfig, Out};
use crate::limits::{BurstLog, Guard, Verdict};
use crate::notifier::{Notifier, NotifierConfig};
use crate::snapshot::SnapshotWorker;
use crate::trace::Direction;
use crate::ua::{Dest, Ua, UaConfig, UaEvent};
use crate::wire;
use crossbeam_channel::{Receiver, Sender};
use mio::net::{TcpListener, UdpSocket, UnixListener};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use mwi_config::{Config, Transport};
use mwi_core::MwiState;
use mwi_table::{TableConfig, Writer, SNAPSHOT_FILE};
use nix::sys::resource::{getrlimit, Resource};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use sansio::Core;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod callctl;
mod locate;
mod notifier_states;
mod reload;
mod rlimit;
mod send;
mod status;
mod tcp;
mod udp;

use callctl::{CallCtl, CALLCTL};
use locate::{servers_of, Server};
use reload::reclaim_slots;
use send::dest_bytes;
use tcp::Conn;
use udp::set_udp_buffers;

pub use callctl::{CALLCTL_BATCH, CALLCTL_SOCKET};
pub use rlimit::raise_nofile_limit;
pub use status::{control, query_status, SipdStatus, STATUS_SOCKET};
pub use tcp::{ACCEPT_BATCH, TCP_BATCH};
pub use udp::UDP_BATCH;

const WAKER: Token = Token(0);
const STATUS: Token = Token(1);
const SIGNAL: Token = Token(2);
const FIRST_SOCKET: usize = 3;
/// Longest wait for events: the loop turns at least this often so that `WATCHDOG=1` keeps
/// coming (half of `WatchdogSec=` is far longer).
const TICK: Duration = Duration::from_secs(1);
/// How often the MWI table file is checked for truncation or replacement
/// ([`Writer::check`]).
const TABLE_CHECK: Duration = Duration::from_secs(1);

/// Numbers a configuration serves (`[sip.limits] numbers` bounds them).
fn numbers_of(cfg: &Config) -> usize {
    cfg.fxs.len() + cfg.pri.iter().map(|p| p.numbers.len()).sum::<usize>()
}

/// A running sipd.
pub struct Daemon {
    poll: Poll,
    waker: Arc<Waker>,
    /// The UDP listeners with the address each is bound to (chosen by family per send).
    udp: Vec<(Token, UdpSocket, SocketAddr)>,
    listeners: Vec<(Token, TcpListener)>,
    conns: HashMap<Token, Conn>,
    by_peer: HashMap<SocketAddr, Token>,
    per_source: HashMap<IpAddr, u32>,
    next_token: usize,
    status: UnixListener,
    status_path: PathBuf,
    /// Status clients waiting for their request line.
    waiting: VecDeque<status::Waiting>,
    /// `sipd trace on`: every SIP message sent and received is logged in one line.
    trace: bool,
    /// The pcapng capture of `[trace] capture_dir` (`sipd capture on|off`).
    capture: mwi_service::capture::Capture,
    ua: Ua,
    /// The INVITE dialogs of the FXS ports and the callctl link to chand.
    calls: Calls,
    /// `[notifier]`: SIP phones subscribed to message-summary; `None` when not enabled.
    notifier: Option<Notifier>,
    /// The notifier's states of numbers the table does not hold, on disk.
    notifier_states: notifier_states::StateFile,
    callctl: CallCtl,
    /// The shared MWI table: the daemon applies the UA's events to it.
    writer: Writer,
    /// When the table file is checked next.
    table_check_at: Instant,
    guard: Guard,
    snapshots: SnapshotWorker,
    start: Instant,
    resolved_tx: Sender<locate::Resolution>,
    resolved_rx: Receiver<locate::Resolution>,
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
    /// Answered server transactions ended early to make room ([`Ua::evict_completed_transaction`]).
    evicted_transactions: u64,
    conn_burst: BurstLog,
    source_burst: BurstLog,
    full_burst: BurstLog,
    rate_burst: BurstLog,
    fd_burst: BurstLog,
    rng: fastrand::Rng,
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
                    udp.push((token, s, addr));
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
        let mut writer = Writer::open(&TableConfig::for_config(cfg))
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
        let start = Instant::now();
        let mut epoch = [0u8; 8];
        getrandom::fill(&mut epoch).map_err(|e| format!("getrandom: {e}"))?;
        let calls = Calls::new(
            start,
            CallsConfig::from_config(cfg),
            u64::from_ne_bytes(epoch),
            local.clone(),
        );
        let callctl = CallCtl::new(cfg.state.runtime_dir.join(CALLCTL_SOCKET));
        let notifier_states = notifier_states::StateFile::new(&cfg.state.dir);
        let mut notifier =
            NotifierConfig::from_config(cfg).map(|c| Notifier::new(start, c, local.clone()));
        let mut ua = Ua::new(start, UaConfig::from_config(cfg), seed, local);
        ua.set_notifier(notifier.is_some());
        reclaim_slots(&mut writer, &ua);
        // The lamps as the table holds them (restored from the snapshot if it was gone).
        ua.restore_states(
            writer
                .entries()
                .map(|e| (e.number.as_str().to_owned(), e.state)),
        );
        ua.set_table_room(writer.free());
        if let Some(n) = &mut notifier {
            n.restore(
                writer
                    .entries()
                    .map(|e| (e.number.as_str().to_owned(), e.state))
                    .chain(notifier_states.load()),
            );
        }
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
            waiting: VecDeque::new(),
            trace: false,
            capture: status::open_capture(cfg).unwrap_or_else(|e| {
                if cfg.trace.capture_dir.is_some() {
                    log::error!("{e}");
                }
                mwi_service::capture::Capture::off("sipd")
            }),
            ua,
            calls,
            notifier,
            notifier_states,
            callctl,
            writer,
            table_check_at: start + TABLE_CHECK,
            guard: Guard::new(&cfg.sip.limits),
            snapshots,
            start,
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
            evicted_transactions: 0,
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

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The instant of `now` (ms since start, the loop's clock), for the user agent.
    fn instant(&self, now: u64) -> Instant {
        self.start + Duration::from_millis(now)
    }

    /// Apply the user agent's MWI changes to the shared table; a failed write is logged and
    /// the state kept by the writer for the next re-publication.
    fn apply_events(&mut self, now: u64) {
        while let Some(ev) = self.ua.poll_event() {
            match ev {
                UaEvent::Mwi { number, state, .. } => {
                    if let Err(e) = self.writer.publish(&number, state) {
                        log::error!(number:% = number; "MWI {number}: cannot record state: {e}");
                    }
                    if let Some(n) = &mut self.notifier {
                        n.set_state(self.start + Duration::from_millis(now), &number, state);
                    }
                }
                UaEvent::Call { msg, src } => self.calls.handle_sip(self.instant(now), *msg, src),
                UaEvent::Notifier { msg, len, src } => {
                    if let Some(n) = &mut self.notifier {
                        n.handle_sip(self.start + Duration::from_millis(now), *msg, len, src);
                    }
                }
            }
        }
        self.ua.set_table_room(self.writer.free());
    }

    /// Every [`TABLE_CHECK`], and at once when the SIGBUS handler flagged the mapping damaged:
    /// a truncated, removed or replaced table file is re-created and every number's last state
    /// published into it again ([`Writer::check`], issue 11; it logs each outage once).
    fn check_table(&mut self, now: Instant) {
        if now < self.table_check_at && !self.writer.is_damaged() {
            return;
        }
        self.table_check_at = now + TABLE_CHECK;
        if let Err(e) = self.writer.check() {
            log::debug!("MWI table still not re-opened: {e}");
        }
    }

    /// Run until SIGTERM or SIGINT (`Ok`) or an unrecoverable error, calling `tick` on every
    /// turn of the loop (at least once a second: the systemd watchdog ping).
    ///
    /// Errors: the poll failed.
    pub fn run(&mut self, mut tick: impl FnMut()) -> Result<(), String> {
        let mut events = Events::with_capacity(256);
        let mut buf = vec![0u8; wire::MAX_DATAGRAM + 1];
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
            self.capture.flush_due(Instant::now());
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
            self.callctl_connect(now);
            self.ua.handle_timeout(self.instant(now));
            self.calls.handle_timeout(self.instant(now));
            if let Some(n) = &mut self.notifier {
                n.handle_timeout(self.start + Duration::from_millis(now));
            }
            let force = self.ua.take_reresolve();
            self.resolve(now, force);
            self.flush(now);
            self.snapshots.poll(Instant::now(), &self.writer);
            self.check_table(Instant::now());
            self.close_idle(now);
            tick();
        }
    }

    /// How long the loop may sleep: until the next timer, at most [`TICK`].
    fn wait(&self) -> Duration {
        let now = self.now();
        let mut wake = self
            .ua
            .poll_timeout()
            .map(|at| at.saturating_duration_since(self.start).as_millis() as u64);
        let mut at = |ms: u64| wake = Some(wake.map_or(ms, |w| w.min(ms)));
        if let Some(d) = self.snapshots.deadline(Instant::now(), &self.writer) {
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
        if let Some(r) = self.callctl.deadline() {
            at(r);
        }
        let notifier = self.notifier.as_ref().and_then(|n| n.poll_timeout());
        for t in [self.calls.poll_timeout(), notifier].into_iter().flatten() {
            at(t.saturating_duration_since(self.start).as_millis() as u64);
        }
        if let Some(t) = self.notifier_states.deadline() {
            at(t.saturating_duration_since(self.start).as_millis() as u64);
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
        if token == CALLCTL {
            return self.serve_callctl(now);
        }
        if self.is_status_client(token) {
            return self.serve_client(token);
        }
        if let Some(i) = self.udp.iter().position(|(t, ..)| *t == token) {
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
        self.trace_sip(Direction::Received, src, bytes);
        if self.ua.blocked(self.instant(now), src.addr.ip()) {
            return;
        }
        // A full transaction table first sheds the oldest answered transaction: at a sustained
        // rate R over UDP, Timer J (32 s) keeps 32·R answered transactions, and only requests
        // the table cannot make room for are refused.
        if !bytes.starts_with(b"SIP/")
            && self.ua.server_transactions() >= self.guard.transactions()
            && self.ua.evict_completed_transaction()
        {
            self.evicted_transactions += 1;
        }
        match self
            .guard
            .check(now, src.addr.ip(), bytes, self.ua.server_transactions())
        {
            Verdict::Admit => {
                self.ua.handle_message(self.instant(now), bytes, src);
                // A NOTIFY's state goes into the table now, ahead of the rest of the batch, the
                // timers and its own 200: the table write is what a lamp waits for.
                self.apply_events(now);
            }
            Verdict::Reject => {
                if self.rate_burst.refuse(now) {
                    log::warn!(
                        "SIP from {}: over the request rate or transaction bound; answering 503 \
                         once a second, dropping the rest",
                        src.addr
                    );
                }
                if let Some(rsp) = self.guard.reject(bytes, &self.config.sip.user_agent) {
                    self.send(now, dest_bytes(src, rsp));
                }
            }
            Verdict::Drop => {}
        }
    }

    /// Send everything the user agent queued.
    fn flush(&mut self, now: u64) {
        self.apply_events(now);
        while let Some(t) = self.ua.poll_transmit() {
            self.send(now, t);
        }
        while let Some(ev) = self.calls.poll_event() {
            match ev {
                CallEvent::Refused { src, why } => {
                    self.ua.strike_source(self.instant(now), src, &why)
                }
                CallEvent::PbxMwi(m) => {
                    let number = m.number.as_str();
                    let new = m.messages.map_or(0, u32::from);
                    log::info!(
                        span = m.span, number = number;
                        "MWI {number}: {} from the PBX on span {}",
                        if m.on { "ON" } else { "OFF" },
                        m.span
                    );
                    let state = MwiState::voice(m.on, new, 0);
                    if let Err(e) = self.writer.publish(number, state) {
                        log::error!(number = number; "MWI {number}: cannot record state: {e}");
                    }
                    if let Some(n) = &mut self.notifier {
                        n.set_state(self.start + Duration::from_millis(now), number, state);
                    }
                }
                CallEvent::PbxLamp(m) => self.pbx_lamp_for_sip(now, &m),
            }
        }
        self.flush_notifier(now);
        while let Some(out) = self.calls.poll_transmit() {
            match out {
                Out::Sip(t) => self.send(now, t),
                Out::Chand(packet) => self.callctl_send(now, &packet),
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.status_path);
        self.save_notifier_states(true);
        self.snapshots.finish(&self.writer);
    }
}
