//! The sipd event loop: mio sockets (UDP and TCP on every `[sip] listen` address, IPv4 and
//! IPv6), the status socket, name resolution on a helper thread. It only moves bytes and
//! timers; everything SIP happens in [`Ua`].

use crate::resolve;
use crate::ua::{Dest, Ua, UaConfig};
use crate::wire;
use mio::net::{TcpListener, TcpStream, UdpSocket, UnixListener};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use mwi_core::config::{Config, ServerSpec, Transport};
use mwi_core::table::{Snapshotter, TableConfig, Writer, SNAPSHOT_FILE};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAKER: Token = Token(0);
const STATUS: Token = Token(1);
const SIGNAL: Token = Token(2);
const FIRST_SOCKET: usize = 3;
/// How long an idle TCP connection is kept (ms).
const TCP_IDLE: u64 = 300_000;
/// Least time between two resolutions of the same server (ms).
const RERESOLVE_GAP: u64 = 30_000;

/// The file name of the status socket in `[state] runtime_dir`.
pub const STATUS_SOCKET: &str = "sipd.sock";

/// Which server a resolution is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Mwi,
    Registrar,
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    framer: wire::Framer,
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
    next_token: usize,
    status: UnixListener,
    status_path: PathBuf,
    ua: Ua<Writer>,
    snapshots: Snapshotter,
    start: Instant,
    resolved_tx: mpsc::Sender<(Role, Vec<SocketAddr>)>,
    resolved_rx: mpsc::Receiver<(Role, Vec<SocketAddr>)>,
    /// Servers to locate: role, spec, configured port, transport, last resolution (ms).
    servers: Vec<(Role, ServerSpec, u16, Transport, Option<u64>)>,
    locals_fixed: bool,
    signals: SignalFd,
    /// `[sip] max_message_size`, octets: the bound of every TCP framer.
    max_message: usize,
}

impl Daemon {
    /// Bind every listen address, open the MWI table and the status socket.
    ///
    /// Errors: a bind or table error, as a message for the administrator.
    pub fn new(cfg: &Config) -> Result<Self, String> {
        let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        // SIGTERM/SIGINT end the loop cleanly (snapshot saved, status socket removed). Blocked
        // before any helper thread exists, so every thread inherits the mask.
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGINT);
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
        let snapshots = Snapshotter::new(cfg.state.dir.join(SNAPSHOT_FILE), Duration::from_secs(5));
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
        let mut servers = vec![(
            Role::Mwi,
            cfg.mwi_server.server.clone(),
            cfg.mwi_server.port,
            cfg.mwi_server.transport,
            None,
        )];
        if let Some(r) = &cfg.registrar {
            servers.push((Role::Registrar, r.server.clone(), r.port, r.transport, None));
        }
        let (resolved_tx, resolved_rx) = mpsc::channel();
        Ok(Self {
            poll,
            waker,
            udp,
            listeners,
            conns: HashMap::new(),
            by_peer: HashMap::new(),
            next_token,
            status,
            status_path,
            ua,
            snapshots,
            start: Instant::now(),
            resolved_tx,
            resolved_rx,
            servers,
            locals_fixed: false,
            signals,
            max_message: usize::try_from(cfg.sip.max_message_size).unwrap_or(usize::MAX),
        })
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Resolve the servers that need it (first time, or after failures), off the event loop.
    fn resolve(&mut self, now: u64, force: bool) {
        for (role, spec, port, transport, last) in &mut self.servers {
            if last.is_some_and(|l| !force || now < l + RERESOLVE_GAP) {
                continue;
            }
            *last = Some(now);
            let (role, port) = (*role, *port);
            match spec.clone() {
                ServerSpec::Ipv4(a) => {
                    let _ = self
                        .resolved_tx
                        .send((role, vec![SocketAddr::new(IpAddr::V4(a), port)]));
                    let _ = self.waker.wake();
                }
                ServerSpec::Dns(host) => {
                    let tx = self.resolved_tx.clone();
                    let waker = Arc::clone(&self.waker);
                    let transport = *transport;
                    std::thread::spawn(move || {
                        let ns = resolve::system_nameservers();
                        let addrs =
                            resolve::locate(&host, port, transport, &ns, Duration::from_secs(3));
                        let _ = tx.send((role, addrs));
                        let _ = waker.wake();
                    });
                }
            }
        }
    }

    fn take_resolutions(&mut self, now: u64) {
        while let Ok((role, addrs)) = self.resolved_rx.try_recv() {
            if addrs.is_empty() {
                continue;
            }
            log::info!("{role:?} server resolved to {addrs:?}");
            if !self.locals_fixed {
                self.fix_locals(addrs[0]);
            }
            match role {
                Role::Mwi => self.ua.set_mwi_addrs(now, addrs),
                Role::Registrar => self.ua.set_registrar_addrs(now, addrs),
            }
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
    /// turn of the loop (at least once a second: the systemd watchdog ping).
    ///
    /// Errors: the poll failed.
    pub fn run(&mut self, mut tick: impl FnMut()) -> Result<(), String> {
        let mut events = Events::with_capacity(256);
        let mut buf = vec![0u8; wire::MAX_DATAGRAM + 1];
        let now = self.now();
        self.resolve(now, false);
        loop {
            let now = self.now();
            let mut wake = self.ua.poll_timeout();
            if let Some(d) = self.snapshots.deadline(Instant::now(), self.ua.sink()) {
                let ms = now + d.saturating_duration_since(Instant::now()).as_millis() as u64;
                wake = Some(wake.map_or(ms, |w| w.min(ms)));
            }
            let timeout = wake.map(|w| Duration::from_millis(w.saturating_sub(now)));
            let timeout = Some(
                timeout
                    .unwrap_or(Duration::from_secs(60))
                    .min(Duration::from_secs(60)),
            );
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("poll: {e}")),
            }
            let now = self.now();
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {}
                    SIGNAL => {
                        if let Ok(Some(info)) = self.signals.read_signal() {
                            log::info!("signal {}: stopping", info.ssi_signo);
                            return Ok(());
                        }
                    }
                    STATUS => self.serve_status(),
                    t => self.socket_event(now, t, &mut buf),
                }
            }
            self.take_resolutions(now);
            let now = self.now();
            self.ua.handle_timeout(now);
            if self.ua.take_reresolve() {
                self.resolve(now, true);
            }
            self.flush(now);
            if let Err(e) = self.snapshots.poll(Instant::now(), self.ua.sink()) {
                log::warn!("MWI snapshot: {e}");
            }
            self.close_idle(now);
            tick();
        }
    }

    fn socket_event(&mut self, now: u64, token: Token, buf: &mut [u8]) {
        if let Some(i) = self.udp.iter().position(|(t, _)| *t == token) {
            loop {
                let (n, src) = match self.udp[i].1.recv_from(buf) {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::debug!("udp receive: {e}");
                        break;
                    }
                };
                let dest = Dest {
                    addr: src,
                    transport: Transport::Udp,
                };
                self.ua
                    .handle_message(now, buf.get(..n).unwrap_or_default(), dest);
                self.flush(now);
            }
            return;
        }
        if let Some(i) = self.listeners.iter().position(|(t, _)| *t == token) {
            loop {
                match self.listeners[i].1.accept() {
                    Ok((stream, peer)) => self.add_conn(now, stream, peer, true),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::warn!("tcp accept: {e}");
                        break;
                    }
                }
            }
            return;
        }
        self.conn_event(now, token, buf);
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
        if let Some(old) = self.by_peer.insert(peer, token) {
            self.drop_conn(old, false);
            self.by_peer.insert(peer, token);
        }
        self.conns.insert(
            token,
            Conn {
                stream,
                peer,
                framer: wire::Framer::new(self.max_message),
                wbuf: Vec::new(),
                connected,
                last_used: now,
            },
        );
    }

    fn drop_conn(&mut self, token: Token, failed: bool) {
        if let Some(mut c) = self.conns.remove(&token) {
            let _ = self.poll.registry().deregister(&mut c.stream);
            if self.by_peer.get(&c.peer) == Some(&token) {
                self.by_peer.remove(&c.peer);
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

    fn conn_event(&mut self, now: u64, token: Token, buf: &mut [u8]) {
        let mut messages = Vec::new();
        let mut close = None;
        {
            let Some(c) = self.conns.get_mut(&token) else {
                return;
            };
            c.last_used = now;
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
            while close.is_none() {
                match c.stream.read(buf) {
                    Ok(0) => close = Some(false),
                    Ok(n) => {
                        // Every complete message out after each read: the framer holds at
                        // most one incomplete message, however fast the peer sends.
                        c.framer.push(buf.get(..n).unwrap_or_default());
                        loop {
                            match c.framer.next_message() {
                                Ok(Some(m)) => messages.push(m),
                                Ok(None) => break,
                                Err(why) => {
                                    log::warn!("tcp {}: {why}; closing", c.peer);
                                    close = Some(true);
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                    Err(e) => {
                        log::debug!("tcp {}: {e}", c.peer);
                        close = Some(true);
                    }
                }
            }
        }
        let peer = self.conns.get(&token).map(|c| c.peer);
        if let Some(peer) = peer {
            let dest = Dest {
                addr: peer,
                transport: Transport::Tcp,
            };
            for m in messages {
                self.ua.handle_message(now, &m, dest);
            }
        }
        if let Some(failed) = close {
            self.drop_conn(token, failed);
        } else {
            self.write_conn(token);
        }
    }

    fn write_conn(&mut self, token: Token) {
        let mut failed = false;
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
        }
        if failed {
            self.drop_conn(token, true);
        }
    }

    /// Send everything the user agent queued.
    fn flush(&mut self, now: u64) {
        while let Some(t) = self.ua.poll_transmit() {
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
                        continue;
                    };
                    if let Err(e) = sock.send_to(&t.bytes, t.dest.addr) {
                        log::warn!("udp send to {}: {e}", t.dest.addr);
                        if e.kind() != io::ErrorKind::WouldBlock {
                            self.ua.transport_error(now, t.dest);
                        }
                    }
                }
                Transport::Tcp => {
                    let token = match self.by_peer.get(&t.dest.addr) {
                        Some(&tok) => tok,
                        None => match TcpStream::connect(t.dest.addr) {
                            Ok(s) => {
                                self.add_conn(now, s, t.dest.addr, false);
                                match self.by_peer.get(&t.dest.addr) {
                                    Some(&tok) => tok,
                                    None => continue,
                                }
                            }
                            Err(e) => {
                                log::warn!("tcp connect {}: {e}", t.dest.addr);
                                self.ua.transport_error(now, t.dest);
                                continue;
                            }
                        },
                    };
                    if let Some(c) = self.conns.get_mut(&token) {
                        c.wbuf.extend_from_slice(&t.bytes);
                        c.last_used = now;
                    }
                    self.write_conn(token);
                }
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

    fn serve_status(&mut self) {
        loop {
            match self.status.accept() {
                Ok((stream, _)) => {
                    let json = serde_json::to_vec(&self.ua.status()).unwrap_or_default();
                    // A status client reads the whole answer; a blocking write of a few
                    // kilobytes to a local socket does not stall the loop.
                    let mut std_stream: std::os::unix::net::UnixStream = stream.into();
                    let _ = std_stream.set_nonblocking(false);
                    let _ = std_stream.set_write_timeout(Some(Duration::from_secs(1)));
                    let _ = std_stream.write_all(&json);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log::warn!("status socket: {e}");
                    break;
                }
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.status_path);
        let _ = self.snapshots.flush(self.ua.sink());
    }
}

/// `sipd status`: ask the daemon of `cfg` for its status.
///
/// Errors: the daemon is not running or did not answer.
pub fn query_status(cfg: &Config) -> Result<crate::ua::UaStatus, String> {
    let path = cfg.state.runtime_dir.join(STATUS_SOCKET);
    let mut s = std::os::unix::net::UnixStream::connect(&path)
        .map_err(|e| format!("sipd not running? {}: {e}", path.display()))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut text = Vec::new();
    s.read_to_end(&mut text)
        .map_err(|e| format!("reading status: {e}"))?;
    serde_json::from_slice(&text).map_err(|e| format!("bad status answer: {e}"))
}
