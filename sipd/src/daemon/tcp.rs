//! TCP (RFC 3261 §18): accepting connections within the per-source and total bounds, reading
//! them through the stream framer, writing their queued bytes, and closing idle ones.

use super::Daemon;
use crate::trace::TcpFlow;
use crate::ua::Dest;
use crate::wire;
use mio::net::TcpStream;
use mio::{Interest, Token};
use mwi_config::{Config, Transport};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};

/// How long an idle TCP connection is kept (ms).
const TCP_IDLE: u64 = 300_000;

/// Connections accepted from one listener per turn.
pub const ACCEPT_BATCH: usize = 32;

/// Octets read from one TCP connection per turn.
pub const TCP_BATCH: usize = 2 * (wire::MAX_DATAGRAM + 1);

/// Wait before accepting again after the process or system ran out of files (ms).
const ACCEPT_RETRY: u64 = 200;

pub(super) struct Conn {
    pub(super) stream: TcpStream,
    pub(super) peer: SocketAddr,
    pub(super) framer: wire::Framer,
    pub(super) wbuf: Vec<u8>,
    pub(super) connected: bool,
    pub(super) last_used: u64,
    /// The connection's two ends and sequence numbers as the capture shows them; `None` if
    /// the local end could not be read (the connection is then not captured).
    pub(super) flow: Option<TcpFlow>,
}

impl Daemon {
    pub(super) fn serve_accept(&mut self, now: u64, i: usize) -> bool {
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

    pub(super) fn add_conn(
        &mut self,
        now: u64,
        mut stream: TcpStream,
        peer: SocketAddr,
        connected: bool,
    ) {
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
        let flow = stream
            .local_addr()
            .ok()
            .map(|local| TcpFlow::new(local, peer));
        self.conns.insert(
            token,
            Conn {
                stream,
                peer,
                framer: wire::Framer::new(max_message_size(&self.config)),
                wbuf: Vec::new(),
                connected,
                last_used: now,
                flow,
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
                let now = self.instant(self.now());
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
    pub(super) fn conn_event(&mut self, now: u64, token: Token, buf: &mut [u8]) -> bool {
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
                        more = budget == 0;
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
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                    Err(e) => {
                        log::debug!("tcp {}: {e}", c.peer);
                        close = Some(true);
                    }
                }
            }
            if close.is_none() && c.framer.buffered() > cap {
                log::warn!(
                    "tcp {}: {} octets unframed (tcp_buffer); closing",
                    c.peer,
                    c.framer.buffered()
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
    pub(super) fn write_conn(&mut self, now: u64, token: Token) {
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

    pub(super) fn close_idle(&mut self, now: u64) {
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
}

/// The source address connections are counted by: IPv4-mapped IPv6 as IPv4.
pub(super) fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `[sip] max_message_size` in octets: the bound of every TCP framer.
fn max_message_size(cfg: &Config) -> usize {
    usize::try_from(cfg.sip.max_message_size).unwrap_or(usize::MAX)
}
