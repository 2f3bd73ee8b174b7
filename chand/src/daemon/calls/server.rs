//! The call-control socket: `<runtime_dir>/callctl.sock`, `SOCK_SEQPACKET`, one message per
//! packet, one peer (sipd) at a time, driven by [`callctl::link::Link`].

use crate::seqpacket::listen_at;
use std::collections::VecDeque;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use callctl::link::{Config, Event, Link, SendError};
use callctl::wire::{Message, Ports, MAX_PACKET};
use callctl::Side;
use log::{debug, info, warn};
use nix::errno::Errno;
use nix::sys::socket::{recv, send, MsgFlags};
use sansio::Core;

/// Packets read from the peer per readiness event before the loop serves others (the rest
/// are read at the next turn).
pub const BATCH: usize = 64;

/// Packets kept for a peer whose socket is full (it is not reading, e.g. under a flood of its
/// own requests), sent in order as it drains; beyond this the oldest wait and the newest is
/// dropped with a log line.
pub const BACKLOG: usize = 4096;

/// How soon a full socket is tried again.
const RETRY: Duration = Duration::from_millis(5);

/// The call-control server: the listening socket, the peer and the link core.
pub struct CallServer {
    path: PathBuf,
    listener: UnixListener,
    peer: Option<OwnedFd>,
    link: Link,
    buf: Vec<u8>,
    /// The last read stopped at [`BATCH`] with packets left.
    more: bool,
    /// Packets the peer's full socket did not take yet, oldest first.
    backlog: VecDeque<Vec<u8>>,
    /// When to try the backlog again.
    retry_at: Option<Instant>,
}

impl CallServer {
    /// Listen on `path` (a stale file is removed; mode 0660) for the ports `channels`.
    pub fn bind(path: &Path, channels: Vec<u16>, now: Instant) -> io::Result<Self> {
        let fd = listen_at(path, 4, Some(0o660))?;
        let ports = Ports::try_from(channels)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        // A new epoch at every start (callctl::wire::Message::Hello): the clock's nanoseconds
        // mixed with the process id, so two starts in the same tick still differ.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        let epoch = nanos ^ (u64::from(std::process::id()) << 40);
        Ok(Self {
            path: path.to_path_buf(),
            listener: UnixListener::from(fd),
            peer: None,
            link: Link::new(now, Side::Chand, epoch, ports, Config::default()),
            buf: vec![0; MAX_PACKET + 1],
            more: false,
            backlog: VecDeque::new(),
            retry_at: None,
        })
    }

    /// The listening socket's fd, to register.
    pub fn listener_fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    /// The peer's fd, to register after [`CallServer::accept`] returned it.
    pub fn peer_fd(&self) -> Option<RawFd> {
        self.peer.as_ref().map(|p| p.as_raw_fd())
    }

    /// Whether sipd is connected and said Hello.
    pub fn peer_up(&self) -> bool {
        self.link.peer_up()
    }

    /// Whether packets were left unread by the batch limit.
    pub fn has_more(&self) -> bool {
        self.more
    }

    /// Accept waiting connections: the first becomes the peer (returns true); any while a peer
    /// is up are closed with a log line.
    pub fn accept(&mut self, now: Instant) -> bool {
        let mut new_peer = false;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.peer.is_some() {
                        warn!(
                            "{}: a second call-control connection was closed: one peer at a time",
                            self.path.display()
                        );
                        continue;
                    }
                    if let Err(e) = stream.set_nonblocking(true) {
                        warn!("{}: {e}", self.path.display());
                        continue;
                    }
                    info!("call control: sipd connected");
                    self.peer = Some(OwnedFd::from(stream));
                    self.link.handle_connect(now);
                    new_peer = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return new_peer,
                Err(e) => {
                    warn!("{}: accept: {e}", self.path.display());
                    return new_peer;
                }
            }
        }
    }

    /// Read up to [`BATCH`] packets from the peer into the link; returns the fd of a peer that
    /// went away (to deregister).
    pub fn read(&mut self, now: Instant) -> Option<OwnedFd> {
        self.more = false;
        for _ in 0..BATCH {
            let Some(peer) = &self.peer else { return None };
            match recv(
                peer.as_raw_fd(),
                &mut self.buf,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC,
            ) {
                Ok(0) | Err(Errno::ECONNRESET) => return self.disconnect(now),
                Ok(n) if n > MAX_PACKET => {
                    warn!("call control: dropped a {n}-octet packet (most {MAX_PACKET})");
                }
                Ok(n) => self.link.handle_packet(now, &self.buf[..n]),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return None,
                Err(e) => {
                    warn!("call control: {e}");
                    return self.disconnect(now);
                }
            }
        }
        self.more = true;
        None
    }

    fn disconnect(&mut self, now: Instant) -> Option<OwnedFd> {
        info!("call control: sipd disconnected");
        self.backlog.clear();
        self.retry_at = None;
        self.link.handle_disconnect(now);
        self.peer.take()
    }

    /// Send a call message of ours; nothing is sent on error (the caller ends the call).
    pub fn send(&mut self, now: Instant, msg: Message) -> Result<(), SendError> {
        debug!("call control: sending {msg}");
        self.link.send(now, msg)?;
        self.flush();
        Ok(())
    }

    /// A fresh id for a call dialled on a port.
    pub fn new_call_id(&mut self) -> Option<callctl::CallId> {
        self.link.new_call_id()
    }

    /// The link's next event for the owner.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.flush();
        self.link.poll_event()
    }

    /// Run the keep-alive due at `now`, and send the backlog once its retry is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.link.poll_timeout().is_some_and(|t| t <= now) {
            self.link.handle_timeout(now);
        }
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
        }
        self.flush_at(now);
    }

    /// When [`CallServer::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.link.poll_timeout(), self.retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn flush(&mut self) {
        self.flush_at(Instant::now());
    }

    /// Send what the link queued, after what a full socket kept back; without a peer it is
    /// dropped (the link sends `Hello` again on the next connection).
    fn flush_at(&mut self, now: Instant) {
        while let Some(packet) = self.link.poll_transmit() {
            if self.peer.is_none() {
                continue;
            }
            if self.backlog.len() >= BACKLOG {
                warn!(
                    "call control: sipd takes no packets; a {}-octet packet dropped ({BACKLOG} waiting)",
                    packet.len()
                );
                continue;
            }
            self.backlog.push_back(packet);
        }
        let Some(peer) = &self.peer else {
            self.backlog.clear();
            return;
        };
        if self.retry_at.is_some() {
            return;
        }
        while let Some(packet) = self.backlog.front() {
            match send(
                peer.as_fd().as_raw_fd(),
                packet,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(_) => {}
                Err(Errno::EAGAIN) => {
                    self.retry_at = Some(now + RETRY);
                    return;
                }
                Err(e) => warn!(
                    "call control: a {}-octet packet not sent: {e}",
                    packet.len()
                ),
            }
            self.backlog.pop_front();
        }
    }
}

impl Drop for CallServer {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
