//! UDP (RFC 3261 §18): datagrams read in bounded batches, and the socket buffer sizes of
//! `[sip.limits]`.

use super::Daemon;
use crate::ua::Dest;
use mio::net::UdpSocket;
use mwi_config::{Limits, Transport};
use nix::sys::socket::{setsockopt, sockopt};
use std::io;

/// Datagrams read from one UDP socket per turn of the loop.
pub const UDP_BATCH: usize = 64;

pub(super) fn set_udp_buffers(s: &UdpSocket, l: &Limits) {
    if let Err(e) = setsockopt(s, sockopt::RcvBuf, &(l.udp_rcvbuf as usize)) {
        log::warn!("SO_RCVBUF {}: {e}", l.udp_rcvbuf);
    }
    if let Err(e) = setsockopt(s, sockopt::SndBuf, &(l.udp_sndbuf as usize)) {
        log::warn!("SO_SNDBUF {}: {e}", l.udp_sndbuf);
    }
}

impl Daemon {
    pub(super) fn serve_udp(&mut self, now: u64, i: usize, buf: &mut [u8]) -> bool {
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
}
