//! The far ends of sim sockets, for tests: a [`Phone`] on an FXS socket (or a B-channel
//! socket, [`Phone::connect_bchannel`]) and a [`Pbx`] on a D-channel socket. Blocking, with a timeout on every receive.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    connect, recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr,
};

use super::{
    bchan_socket_path, dchan_socket_path, fxs_socket_path, AUDIO_TAG, EVENT_TAG, MAX_PACKET,
};

/// A connected `SOCK_SEQPACKET` client socket.
#[derive(Debug)]
struct Client {
    fd: OwnedFd,
}

impl Client {
    /// Connect to `path`, retrying while it does not exist yet or refuses (chand still
    /// starting), until `timeout`.
    fn connect(path: &Path, timeout: Duration) -> io::Result<Self> {
        let deadline = Instant::now() + timeout;
        let addr = UnixAddr::new(path)?;
        loop {
            let fd = socket(
                AddressFamily::Unix,
                SockType::SeqPacket,
                SockFlag::SOCK_CLOEXEC,
                None,
            )?;
            match connect(fd.as_raw_fd(), &addr) {
                Ok(()) => return Ok(Self { fd }),
                Err(Errno::ENOENT | Errno::ECONNREFUSED) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(io::Error::new(
                        io::Error::from(e).kind(),
                        format!("connect {}: {e}", path.display()),
                    ))
                }
            }
        }
    }

    fn send(&self, packet: &[u8]) -> io::Result<()> {
        send(self.fd.as_raw_fd(), packet, MsgFlags::MSG_NOSIGNAL)?;
        Ok(())
    }

    /// Takes every packet queued now without waiting; how many.
    fn drain(&self) -> usize {
        let mut buf = vec![0; MAX_PACKET];
        let mut n = 0;
        while recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT).is_ok_and(|len| len > 0) {
            n += 1;
        }
        n
    }

    /// The next packet; `TimedOut` after `timeout`, `UnexpectedEof` when chand closed the socket.
    fn recv(&self, timeout: Duration) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = PollTimeout::try_from(left.as_millis().max(1)).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(0) if Instant::now() >= deadline => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("nothing received in {timeout:?}"),
                    ))
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            let mut buf = vec![0; MAX_PACKET];
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "chand closed the socket",
                    ))
                }
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// What chand sent to a phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToPhone {
    /// An event's text, e.g. `"vmwi 3"`, `"ring"`, `"ringoff"`.
    Event(String),
    /// Audio samples (one 20 ms block: 160 samples in the line's law).
    Audio(Vec<u8>),
}

/// A phone on `fxs-N.sock`.
#[derive(Debug)]
pub struct Phone {
    client: Client,
}

impl Phone {
    /// Plug a phone into FXS channel `channel` of the sim back-end in `sim_dir`, waiting up to
    /// `timeout` for chand to listen.
    pub fn connect(sim_dir: &Path, channel: u32, timeout: Duration) -> io::Result<Self> {
        Ok(Self {
            client: Client::connect(&fxs_socket_path(sim_dir, channel), timeout)?,
        })
    }

    /// The PBX's end of B-channel `channel` (`bchan-N.sock`) of the sim back-end in `sim_dir`:
    /// its packets are a phone's (`A` blocks both ways, `E` events from chand), so the audio
    /// methods of a phone serve it.
    pub fn connect_bchannel(sim_dir: &Path, channel: u32, timeout: Duration) -> io::Result<Self> {
        Ok(Self {
            client: Client::connect(&bchan_socket_path(sim_dir, channel), timeout)?,
        })
    }

    /// Send an event's text (`"offhook"`, `"digit 5"`, ...).
    pub fn send_event(&self, text: &str) -> io::Result<()> {
        let mut packet = vec![EVENT_TAG];
        packet.extend_from_slice(text.as_bytes());
        self.client.send(&packet)
    }

    /// `Eoffhook`.
    pub fn off_hook(&self) -> io::Result<()> {
        self.send_event("offhook")
    }

    /// `Eonhook`.
    pub fn on_hook(&self) -> io::Result<()> {
        self.send_event("onhook")
    }

    /// `Eflash`.
    pub fn flash(&self) -> io::Result<()> {
        self.send_event("flash")
    }

    /// `Eunderrun`: the audio ran dry at the phone (the sim's `DAHDI_EVENT_WRITE_UNDERRUN`).
    pub fn underrun(&self) -> io::Result<()> {
        self.send_event("underrun")
    }

    /// One 20 ms block of the phone's audio (160 samples in the line's law), as a phone
    /// off-hook sends every 20 ms: its voice and its in-band DTMF.
    pub fn send_audio(&self, block: &[u8]) -> io::Result<()> {
        let mut packet = vec![AUDIO_TAG];
        packet.extend_from_slice(block);
        self.client.send(&packet)
    }

    /// Takes every packet chand queued for the phone, without waiting: a reader on its own
    /// clock, as DAHDI's driver takes a channel's blocks, so chand's writes wake no one; how
    /// many.
    pub fn drain(&self) -> usize {
        self.client.drain()
    }

    /// `Edigit D`, D one of `0-9 * # A-D`.
    pub fn digit(&self, digit: char) -> io::Result<()> {
        self.send_event(&format!("digit {digit}"))
    }

    /// The next packet from chand; `TimedOut` after `timeout`, `UnexpectedEof` when chand
    /// closed the socket, `InvalidData` for a packet without an `E`/`A` tag.
    pub fn recv(&self, timeout: Duration) -> io::Result<ToPhone> {
        let packet = self.client.recv(timeout)?;
        match packet.split_first() {
            Some((&EVENT_TAG, text)) => Ok(ToPhone::Event(String::from_utf8_lossy(text).into())),
            Some((&AUDIO_TAG, samples)) => Ok(ToPhone::Audio(samples.to_vec())),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("packet without E/A tag: {packet:?}"),
            )),
        }
    }

    /// The next event's text, skipping audio; `timeout` bounds the whole wait.
    pub fn recv_event(&self, timeout: Duration) -> io::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let ToPhone::Event(text) =
                self.recv(deadline.saturating_duration_since(Instant::now()))?
            {
                return Ok(text);
            }
        }
    }

    /// The next audio block, skipping events; `timeout` bounds the whole wait.
    pub fn recv_audio(&self, timeout: Duration) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let ToPhone::Audio(samples) =
                self.recv(deadline.saturating_duration_since(Instant::now()))?
            {
                return Ok(samples);
            }
        }
    }
}

/// A PBX on `dchan-N.sock`: Q.921 frames without FCS, one per packet.
#[derive(Debug)]
pub struct Pbx {
    client: Client,
}

impl Pbx {
    /// Connect the PBX to D-channel `dchannel` of the sim back-end in `sim_dir` (link up),
    /// waiting up to `timeout` for chand to listen. Dropping it takes the link down.
    pub fn connect(sim_dir: &Path, dchannel: u32, timeout: Duration) -> io::Result<Self> {
        Ok(Self {
            client: Client::connect(&dchan_socket_path(sim_dir, dchannel), timeout)?,
        })
    }

    /// Send one frame.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        self.client.send(frame)
    }

    /// The next frame from chand (`TimedOut` after `timeout`).
    pub fn recv_frame(&self, timeout: Duration) -> io::Result<Vec<u8>> {
        self.client.recv(timeout)
    }
}
