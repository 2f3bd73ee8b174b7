//! The call-control socket to chand: sipd connects to `<[state] runtime_dir>/callctl.sock`
//! (`SOCK_SEQPACKET`, one callctl message per packet), again every [`RETRY`] while chand is
//! not there, and moves packets between it and the call core ([`crate::call::Calls`]), which
//! drives the callctl link and its timers.

use super::Daemon;
use callctl::wire::MAX_PACKET;
use mio::unix::SourceFd;
use mio::{Interest, Token};
use nix::errno::Errno;
use nix::sys::socket::{
    connect, recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr,
};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

/// The socket's file name in `[state] runtime_dir` (chand listens there).
pub const CALLCTL_SOCKET: &str = "callctl.sock";

/// The poll token of the socket.
pub(super) const CALLCTL: Token = Token(usize::MAX - 1);

/// Packets read per readiness event, so that SIP and the other sources get their turn.
pub const CALLCTL_BATCH: usize = 64;

/// Wait between connection attempts while chand is absent.
const RETRY: Duration = Duration::from_secs(1);

/// The client end of the socket.
pub(super) struct CallCtl {
    path: PathBuf,
    sock: Option<OwnedFd>,
    /// When to try connecting next (ms on the loop's clock).
    retry_at: u64,
    /// Whether the last attempt failed (its reason is logged once, not every second).
    failing: bool,
}

impl CallCtl {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            sock: None,
            retry_at: 0,
            failing: false,
        }
    }

    /// When the loop must wake to connect, while not connected.
    pub(super) fn deadline(&self) -> Option<u64> {
        self.sock.is_none().then_some(self.retry_at)
    }

    fn open(&self) -> nix::Result<OwnedFd> {
        let fd = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        connect(fd.as_raw_fd(), &UnixAddr::new(&self.path)?)?;
        Ok(fd)
    }
}

impl Daemon {
    /// Connects to chand when due.
    pub(super) fn callctl_connect(&mut self, now: u64) {
        let c = &mut self.callctl;
        if c.sock.is_some() || now < c.retry_at {
            return;
        }
        c.retry_at = now + RETRY.as_millis() as u64;
        let fd = match c.open() {
            Ok(fd) => fd,
            Err(e) => {
                if !std::mem::replace(&mut c.failing, true) {
                    log::info!(
                        "callctl: {}: {e}; trying every {} s",
                        c.path.display(),
                        RETRY.as_secs()
                    );
                }
                return;
            }
        };
        let raw = fd.as_raw_fd();
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut SourceFd(&raw), CALLCTL, Interest::READABLE)
        {
            log::warn!("callctl: cannot poll the socket: {e}");
            return;
        }
        log::info!("callctl: connected to {}", c.path.display());
        c.failing = false;
        c.sock = Some(fd);
        self.calls.handle_connect(self.instant(now));
        self.pending.insert(CALLCTL);
    }

    /// Reads at most [`CALLCTL_BATCH`] packets; true when more may wait.
    pub(super) fn serve_callctl(&mut self, now: u64) -> bool {
        let mut buf = [0u8; MAX_PACKET + 1];
        for _ in 0..CALLCTL_BATCH {
            let Some(fd) = self.callctl.sock.as_ref().map(AsRawFd::as_raw_fd) else {
                return false;
            };
            match recv(fd, &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => {
                    self.callctl_close(now, "chand closed the connection");
                    return false;
                }
                Ok(n) => self.calls.handle_packet(self.instant(now), &buf[..n]),
                Err(Errno::EAGAIN) => return false,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    self.callctl_close(now, &e.to_string());
                    return false;
                }
            }
        }
        true
    }

    /// Sends one packet; without a connection it is dropped (the link says `Hello` again on
    /// the next one, and calls do not outlive the connection).
    pub(super) fn callctl_send(&mut self, now: u64, packet: &[u8]) {
        let Some(fd) = self.callctl.sock.as_ref().map(AsRawFd::as_raw_fd) else {
            return;
        };
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        match send(fd, packet, flags) {
            Ok(_) => {}
            Err(Errno::EAGAIN) => {
                // chand's queue is full: it stopped reading. Dropping the connection ends its
                // calls cleanly; a bounded loss beats an unbounded queue.
                self.callctl_close(now, "chand does not read (socket full)");
            }
            Err(e) => self.callctl_close(now, &e.to_string()),
        }
    }

    fn callctl_close(&mut self, now: u64, why: &str) {
        if let Some(fd) = self.callctl.sock.take() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&fd.as_raw_fd()));
            log::warn!("callctl: connection to chand lost: {why}");
            self.callctl.retry_at = now + RETRY.as_millis() as u64;
            self.calls.handle_disconnect(self.instant(now));
        }
    }
}
