//! The sim back-end (`[dahdi] backend = "sim"`): each DAHDI channel is a Unix `SOCK_SEQPACKET`
//! socket that chand listens on under `sim_dir`, with the semantics of the channel it stands for.
//!
//! - PRI D-channel `N`: `<sim_dir>/dchan-N.sock`. One packet = one Q.921 frame (address,
//!   control, information) without FCS. One peer (the PBX) at a time: its connection is
//!   [`DChannelEvent::LinkUp`], its disconnection [`DChannelEvent::LinkDown`] (as a DAHDI
//!   alarm); then the next queued connection is accepted.
//! - FXS channel `N`: `<sim_dir>/fxs-N.sock`; the peer is the phone. Every packet starts with a
//!   tag octet: `E` + ASCII text is an event, `A` + samples is audio. Phone to chand:
//!   `Eoffhook`, `Eonhook`, `Eflash`, `Edigit 5`, and `Eunderrun` (the phone heard a gap in the
//!   audio: the sim's stand-in for the driver's `DAHDI_EVENT_WRITE_UNDERRUN`). Chand to phone: `A` + one 20 ms block
//!   ([`BLOCK_SAMPLES`] samples in the line's law) per [`FxsChannel::write_audio`], and
//!   `Evmwi 3`, `Evmwi 0`, `Ering`, `Eringoff`. A phone that connects is told the line's
//!   current lamp and ring state; a phone that disconnects while off-hook has hung up.
//!
//! - B-channel `N` of a span with `[pri.calls]` (DAHDI channel `N`: timeslot `b` of a span
//!   whose first channel is `F` is `F + b - 1`): `<sim_dir>/bchan-N.sock`; the peer is the PBX's end of the channel. While
//!   a call's media runs, each side sends `A` + one 20 ms block ([`BLOCK_SAMPLES`] samples in
//!   the span's law) every 20 ms, as on an FXS socket; chand tells its echo canceller as
//!   `Eec TAPS` / `Eec 0`. Anything else from the peer is dropped.
//!
//! The phone sends `A` + one block every 20 ms while off-hook (its voice and in-band DTMF);
//! chand keeps the last few for [`FxsChannel::take_audio`].
//!
//! Packets a peer should not send (unknown events, audio while on-hook or not a whole block,
//! oversized frames) are
//! logged at debug level and dropped. An empty packet cannot be told from a disconnection
//! (`recv` returns 0 for both) and counts as one.
//!
//! [`peer`] holds the other ends (a phone, a PBX) for tests.

mod bchan;
pub mod peer;

pub use bchan::SimBChannel;

use crate::seqpacket::listen_at;
use std::collections::VecDeque;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use mwi_config as config;
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{recv, send, MsgFlags};

use fxs::{Block, LineEvent, BLOCK_SAMPLES};

use super::{BChannel, Backend, BackendError, DChannel, DChannelEvent, FxsChannel, RingCommand};

/// Tag octet of an event packet on an FXS socket.
pub const EVENT_TAG: u8 = b'E';
/// Tag octet of an audio packet on an FXS socket.
pub const AUDIO_TAG: u8 = b'A';

/// Largest packet read from a peer, octets: above any Q.921 frame (N201 = 260 octets of
/// information, Q.921 §5.9.3) and any FXS packet.
const MAX_PACKET: usize = 4096;

/// Blocks of the phone's audio kept for [`FxsChannel::take_audio`] (100 ms).
const AUDIO_KEPT: usize = 5;

/// `<sim_dir>/fxs-<channel>.sock`.
pub fn fxs_socket_path(sim_dir: &Path, channel: u32) -> PathBuf {
    sim_dir.join(format!("fxs-{channel}.sock"))
}

/// `<sim_dir>/dchan-<channel>.sock`.
pub fn dchan_socket_path(sim_dir: &Path, channel: u32) -> PathBuf {
    sim_dir.join(format!("dchan-{channel}.sock"))
}

/// `<sim_dir>/bchan-<channel>.sock`.
pub fn bchan_socket_path(sim_dir: &Path, channel: u32) -> PathBuf {
    sim_dir.join(format!("bchan-{channel}.sock"))
}

/// The sim back-end: opens channels as sockets in one directory.
#[derive(Debug)]
pub struct SimBackend {
    dir: PathBuf,
}

impl SimBackend {
    /// A back-end with its sockets in `sim_dir`, created if missing.
    pub fn new(sim_dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = sim_dir.into();
        fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// Listen on `fxs-<channel>.sock` (a stale socket file is replaced).
    pub fn fxs(&self, channel: u32) -> io::Result<SimFxs> {
        Ok(SimFxs {
            endpoint: Endpoint::bind(fxs_socket_path(&self.dir, channel))?,
            off_hook: false,
            ringing: false,
            vmwi: 0,
            buf: vec![0; MAX_PACKET],
            audio_in: VecDeque::with_capacity(AUDIO_KEPT),
        })
    }

    /// Listen on `dchan-<channel>.sock` (a stale socket file is replaced).
    pub fn dchannel(&self, channel: u32) -> io::Result<SimDChannel> {
        Ok(SimDChannel {
            endpoint: Endpoint::bind(dchan_socket_path(&self.dir, channel))?,
            buf: vec![0; MAX_PACKET],
        })
    }
}

impl Backend for SimBackend {
    fn open_fxs(&mut self, port: &config::Fxs) -> Result<Box<dyn FxsChannel>, BackendError> {
        Ok(Box::new(self.fxs(port.channel)?))
    }

    fn open_dchannel(&mut self, pri: &config::Pri) -> Result<Box<dyn DChannel>, BackendError> {
        Ok(Box::new(self.dchannel(pri.dchannel)?))
    }

    /// The law is the peer's business: blocks pass as they are.
    fn open_bchannel(
        &mut self,
        channel: u32,
        _law: fxs::Law,
    ) -> Result<Box<dyn BChannel>, BackendError> {
        let endpoint = Endpoint::bind(bchan_socket_path(&self.dir, channel))?;
        Ok(Box::new(SimBChannel::new(endpoint)))
    }
}

/// What happened on an [`Endpoint`].
#[derive(Debug)]
enum Happening {
    /// A peer connected.
    Connected,
    /// The peer sent a packet of this many octets (more than the buffer: it was truncated).
    Packet(usize),
    /// The peer went away.
    Disconnected,
}

/// epoll data of the listening socket.
const LISTENER: u64 = 0;
/// epoll data of the peer's socket.
const PEER: u64 = 1;

/// A listening `SOCK_SEQPACKET` socket with at most one connected peer, behind one epoll fd
/// (level-triggered inside) so that the channel has a single, stable fd to register.
#[derive(Debug)]
struct Endpoint {
    path: PathBuf,
    /// std's listener type works for any Unix socket type; accept() keeps SOCK_SEQPACKET.
    listener: UnixListener,
    peer: Option<OwnedFd>,
    epoll: Epoll,
}

impl Endpoint {
    fn bind(path: PathBuf) -> io::Result<Self> {
        // Connections beyond the one peer wait in the backlog until it leaves.
        let fd = listen_at(&path, 8, None)?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(&fd, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))?;
        Ok(Self {
            path,
            listener: UnixListener::from(fd),
            peer: None,
            epoll,
        })
    }

    /// The next happening, `None` when nothing is pending. Received data goes to `buf`.
    fn poll(&mut self, buf: &mut [u8]) -> io::Result<Option<Happening>> {
        if let Some(peer) = &self.peer {
            loop {
                return match recv(
                    peer.as_raw_fd(),
                    buf,
                    MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC,
                ) {
                    Ok(0) | Err(Errno::ECONNRESET) => {
                        self.drop_peer()?;
                        Ok(Some(Happening::Disconnected))
                    }
                    Ok(n) => Ok(Some(Happening::Packet(n))),
                    Err(Errno::EINTR) => continue,
                    Err(Errno::EAGAIN) => {
                        self.clear_ready()?;
                        Ok(None)
                    }
                    Err(e) => Err(e.into()),
                };
            }
        }
        match self.listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(true)?;
                let fd = OwnedFd::from(stream);
                // While a peer is connected, queued connections must not wake the loop.
                self.epoll.delete(self.listener.as_fd())?;
                self.epoll
                    .add(&fd, EpollEvent::new(EpollFlags::EPOLLIN, PEER))?;
                self.peer = Some(fd);
                Ok(Some(Happening::Connected))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready()?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn drop_peer(&mut self) -> io::Result<()> {
        if let Some(fd) = self.peer.take() {
            self.epoll.delete(&fd)?;
            self.epoll.add(
                self.listener.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, LISTENER),
            )?;
        }
        Ok(())
    }

    /// Empty the inner ready list once everything is drained, so that the epoll fd reads as not
    /// ready until something new arrives.
    fn clear_ready(&self) -> io::Result<()> {
        let mut events = [EpollEvent::empty(); 2];
        self.epoll.wait(&mut events, EpollTimeout::ZERO)?;
        Ok(())
    }

    /// Send one packet to the peer; `false` when there is no peer or no room.
    fn send(&mut self, packet: &[u8]) -> io::Result<bool> {
        let Some(peer) = &self.peer else {
            return Ok(false);
        };
        loop {
            return match send(
                peer.as_raw_fd(),
                packet,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(_) => Ok(true),
                Err(Errno::EINTR) => continue,
                // A vanished peer is noticed (and reported) by the next poll.
                Err(Errno::EAGAIN | Errno::ENOBUFS | Errno::EPIPE | Errno::ECONNRESET) => Ok(false),
                Err(e) => Err(e.into()),
            };
        }
    }

    /// Send one block of audio, as `A` and the 160 samples (an FXS or a B-channel socket).
    fn send_audio(&mut self, block: &Block) -> Result<bool, BackendError> {
        let mut packet = [0u8; 1 + BLOCK_SAMPLES];
        packet[0] = AUDIO_TAG;
        packet[1..].copy_from_slice(block);
        Ok(self.send(&packet)?)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        // Best effort: a leftover socket file is replaced by the next bind anyway.
        let _ = fs::remove_file(&self.path);
    }
}

/// An FXS port of the sim back-end.
#[derive(Debug)]
pub struct SimFxs {
    endpoint: Endpoint,
    off_hook: bool,
    ringing: bool,
    /// New messages shown by the lamp; 0 = off.
    vmwi: u32,
    buf: Vec<u8>,
    /// The phone's audio blocks not yet taken ([`FxsChannel::take_audio`]).
    audio_in: VecDeque<Block>,
}

/// Parse the text of a phone's event packet (after the `E` tag).
fn parse_phone_event(text: &[u8]) -> Option<LineEvent> {
    match text {
        b"offhook" => Some(LineEvent::OffHook),
        b"onhook" => Some(LineEvent::OnHook),
        b"flash" => Some(LineEvent::Flash),
        b"underrun" => Some(LineEvent::WriteUnderrun),
        [b'd', b'i', b'g', b'i', b't', b' ', d] if d.is_ascii_digit() || b"*#ABCD".contains(d) => {
            Some(LineEvent::Digit(char::from(*d)))
        }
        _ => None,
    }
}

impl SimFxs {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.endpoint.path
    }

    fn send_event(&mut self, text: &str) -> io::Result<bool> {
        let mut packet = Vec::with_capacity(1 + text.len());
        packet.push(EVENT_TAG);
        packet.extend_from_slice(text.as_bytes());
        self.endpoint.send(&packet)
    }

    /// Apply a phone event to the line state; `None` when it changes nothing (DAHDI reports
    /// no off-hook while off-hook, and no flash or digit on-hook). Underruns always pass: the
    /// driver reports them whatever the hook state.
    fn hook_filter(&mut self, ev: LineEvent) -> Option<LineEvent> {
        match ev {
            LineEvent::WriteUnderrun => Some(ev),
            LineEvent::OffHook if !self.off_hook => {
                self.off_hook = true;
                // Ring trip: going off-hook stops the ringing.
                self.ringing = false;
                Some(ev)
            }
            LineEvent::OnHook if self.off_hook => {
                self.off_hook = false;
                Some(ev)
            }
            LineEvent::Flash | LineEvent::Digit(_) | LineEvent::PulseStart if self.off_hook => {
                Some(ev)
            }
            _ => None,
        }
    }
}

impl AsRawFd for SimFxs {
    fn as_raw_fd(&self) -> RawFd {
        self.endpoint.epoll.0.as_raw_fd()
    }
}

impl FxsChannel for SimFxs {
    fn poll_event(&mut self) -> Result<Option<LineEvent>, BackendError> {
        loop {
            match self.endpoint.poll(&mut self.buf)? {
                None => return Ok(None),
                Some(Happening::Connected) => {
                    if self.vmwi > 0 {
                        self.send_event(&format!("vmwi {}", self.vmwi))?;
                    }
                    if self.ringing {
                        self.send_event("ring")?;
                    }
                }
                Some(Happening::Disconnected) => {
                    if let Some(ev) = self.hook_filter(LineEvent::OnHook) {
                        return Ok(Some(ev));
                    }
                }
                Some(Happening::Packet(n)) => {
                    let event = match self.buf.get(..n) {
                        Some([EVENT_TAG, text @ ..]) => parse_phone_event(text),
                        Some([AUDIO_TAG, samples @ ..]) if self.off_hook => {
                            if let Ok(block) = Block::try_from(samples) {
                                if self.audio_in.len() == AUDIO_KEPT {
                                    self.audio_in.pop_front();
                                }
                                self.audio_in.push_back(block);
                                continue;
                            }
                            None
                        }
                        _ => None,
                    };
                    match event {
                        Some(ev) => {
                            if let Some(ev) = self.hook_filter(ev) {
                                return Ok(Some(ev));
                            }
                        }
                        None => log::debug!(
                            "{}: dropped a {n}-octet packet that is no phone event",
                            self.endpoint.path.display()
                        ),
                    }
                }
            }
        }
    }

    fn take_audio(&mut self) -> Option<Block> {
        self.audio_in.pop_front()
    }

    fn write_audio(&mut self, block: &Block) -> Result<bool, BackendError> {
        self.endpoint.send_audio(block)
    }

    fn ring(&mut self, command: RingCommand) -> Result<(), BackendError> {
        self.ringing = command == RingCommand::Ring;
        self.send_event(if self.ringing { "ring" } else { "ringoff" })?;
        Ok(())
    }

    fn set_vmwi(&mut self, messages: u32) -> Result<(), BackendError> {
        self.vmwi = messages;
        self.send_event(&format!("vmwi {messages}"))?;
        Ok(())
    }

    /// Blocks go to the phone as they are written: nothing is queued here.
    fn flush_audio(&mut self) -> Result<(), BackendError> {
        Ok(())
    }

    fn off_hook(&mut self) -> Result<bool, BackendError> {
        Ok(self.off_hook)
    }

    /// Told to the phone as `Ecadence 250 10000`, or `Ecadence default`.
    fn set_cadence(&mut self, cadence: Option<&[u32]>) -> Result<(), BackendError> {
        let text = match cadence {
            Some(c) => c.iter().fold(String::from("cadence"), |mut t, ms| {
                t.push_str(&format!(" {ms}"));
                t
            }),
            None => "cadence default".to_owned(),
        };
        self.send_event(&text)?;
        Ok(())
    }

    /// Told to the phone as `Eonhooktransfer MS`; the spill's audio follows as `A` blocks.
    fn onhook_transfer(&mut self, ms: u32) -> Result<(), BackendError> {
        self.send_event(&format!("onhooktransfer {ms}"))?;
        Ok(())
    }

    /// Told to the phone as `Eec TAPS` (`Eec 0`: removed).
    fn echo_cancel(&mut self, taps: u32) -> Result<(), BackendError> {
        self.send_event(&format!("ec {taps}"))?;
        Ok(())
    }
}

/// A PRI D-channel of the sim back-end.
#[derive(Debug)]
pub struct SimDChannel {
    endpoint: Endpoint,
    buf: Vec<u8>,
}

impl SimDChannel {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.endpoint.path
    }
}

impl AsRawFd for SimDChannel {
    fn as_raw_fd(&self) -> RawFd {
        self.endpoint.epoll.0.as_raw_fd()
    }
}

impl DChannel for SimDChannel {
    fn poll_event(&mut self) -> Result<Option<DChannelEvent>, BackendError> {
        loop {
            match self.endpoint.poll(&mut self.buf)? {
                None => return Ok(None),
                Some(Happening::Connected) => return Ok(Some(DChannelEvent::LinkUp)),
                Some(Happening::Disconnected) => return Ok(Some(DChannelEvent::LinkDown)),
                Some(Happening::Packet(n)) => match self.buf.get(..n) {
                    Some(frame) => return Ok(Some(DChannelEvent::Frame(frame.to_vec()))),
                    None => log::debug!(
                        "{}: dropped a {n}-octet frame (longer than {MAX_PACKET})",
                        self.endpoint.path.display()
                    ),
                },
            }
        }
    }

    fn send_frame(&mut self, frame: &[u8]) -> Result<bool, BackendError> {
        Ok(self.endpoint.send(frame)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_events_parse() {
        assert_eq!(parse_phone_event(b"offhook"), Some(LineEvent::OffHook));
        assert_eq!(parse_phone_event(b"onhook"), Some(LineEvent::OnHook));
        assert_eq!(parse_phone_event(b"flash"), Some(LineEvent::Flash));
        assert_eq!(parse_phone_event(b"digit 5"), Some(LineEvent::Digit('5')));
        assert_eq!(parse_phone_event(b"digit #"), Some(LineEvent::Digit('#')));
        assert_eq!(
            parse_phone_event(b"underrun"),
            Some(LineEvent::WriteUnderrun)
        );
        for bad in [
            &b""[..],
            b"digit",
            b"digit 55",
            b"digit x",
            b"OFFHOOK",
            b"offhook ",
        ] {
            assert_eq!(parse_phone_event(bad), None, "{bad:?}");
        }
    }
}
