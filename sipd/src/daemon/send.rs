//! The way out, and the record of both ways: sending one SIP message (a datagram from the UDP
//! socket of the peer's family, or onto the peer's TCP connection, opened on demand within
//! `[sip.limits] tcp_connections`), and tracing every message in and out for `sipd trace` and
//! the capture (UDP and TCP as IP packets). Apart from the loop itself, which only decides
//! when to read and flush.

use std::io;

use mio::net::TcpStream;
use mwi_config::Transport;
use mwi_service::capture::Way;

use super::Daemon;
use crate::trace::{self, Direction};
use crate::transaction::Transmit;
use crate::ua::Dest;

impl Daemon {
    /// Send one message: a datagram, or onto its TCP connection (opened if needed).
    pub(super) fn send(&mut self, now: u64, t: Transmit<Dest>) {
        log::debug!(
            "SIP send to {} ({:?}):\n{}",
            t.dest.addr,
            t.dest.transport,
            String::from_utf8_lossy(&t.bytes)
        );
        match t.dest.transport {
            Transport::Udp => {
                self.trace_sip(Direction::Sent, t.dest, &t.bytes);
                let sock = self
                    .udp
                    .iter()
                    .find(|(.., a)| a.is_ipv4() == t.dest.addr.is_ipv4())
                    .or_else(|| self.udp.first());
                let Some((_, sock, _)) = sock else {
                    log::warn!("no UDP socket to send to {}", t.dest.addr);
                    return;
                };
                if let Err(e) = sock.send_to(&t.bytes, t.dest.addr) {
                    log::debug!("udp send to {}: {e}", t.dest.addr);
                    if e.kind() != io::ErrorKind::WouldBlock {
                        self.ua.transport_error(self.instant(now), t.dest);
                    }
                }
            }
            Transport::Tcp => {
                let token = match self.by_peer.get(&t.dest.addr) {
                    Some(&tok) => tok,
                    None if self.conns.len() >= self.conn_limit => {
                        log::warn!("tcp connect {}: tcp_connections reached", t.dest.addr);
                        self.ua.transport_error(self.instant(now), t.dest);
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
                            self.ua.transport_error(self.instant(now), t.dest);
                            return;
                        }
                    },
                };
                // Traced once the connection exists: the capture needs its local end.
                self.trace_sip(Direction::Sent, t.dest, &t.bytes);
                if let Some(c) = self.conns.get_mut(&token) {
                    c.wbuf.extend_from_slice(&t.bytes);
                    c.last_used = now;
                }
                self.write_conn(now, token);
            }
        }
    }

    /// With `sipd trace on`, log `bytes` in one line ([`trace::sip_line`]); with the capture
    /// on, record them as IP packets: a UDP datagram ([`trace::udp_packet`]) between the UDP
    /// socket of the peer's family and the peer, a message on a TCP connection as its
    /// segments ([`trace::TcpFlow`]) between the connection's two ends.
    pub(super) fn trace_sip(&mut self, dir: Direction, peer: Dest, bytes: &[u8]) {
        if self.trace {
            mwi_service::trace(
                "sipd::trace",
                &trace::sip_line(dir, peer.transport, peer.addr, bytes),
            );
        }
        if !self.capture.is_on() {
            return;
        }
        let packets = match peer.transport {
            Transport::Udp => {
                let local = self
                    .udp
                    .iter()
                    .map(|(.., a)| *a)
                    .find(|a| a.is_ipv4() == peer.addr.is_ipv4());
                let Some(local) = local else {
                    return;
                };
                let (src, dst) = match dir {
                    Direction::Received => (peer.addr, local),
                    Direction::Sent => (local, peer.addr),
                };
                trace::udp_packet(src, dst, bytes).into_iter().collect()
            }
            Transport::Tcp => {
                let flow = self
                    .by_peer
                    .get(&peer.addr)
                    .and_then(|token| self.conns.get_mut(token))
                    .and_then(|c| c.flow.as_mut());
                match flow {
                    Some(flow) => flow.packets(dir, bytes),
                    None => return,
                }
            }
        };
        let way = match dir {
            Direction::Received => Way::Inbound,
            Direction::Sent => Way::Outbound,
        };
        for packet in &packets {
            self.capture.record(0, way, packet);
        }
    }
}

/// A message to `dest`.
pub(super) fn dest_bytes(dest: Dest, bytes: Vec<u8>) -> Transmit<Dest> {
    Transmit { dest, bytes }
}
