//! A fake sipd for chand's call tests (tests/tests/chand_calls*.rs and the VM tier): the
//! callctl link over a `SOCK_SEQPACKET` connection to chand's `callctl.sock`, a phone that
//! talks (silence, a tone or DTMF) every 20 ms, and an RTP echo standing in for the far end.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::env::{Chand, Env, NO_SIP_SERVER};
use mwi_core::MwiState;

use callctl::link::{Config as LinkConfig, Event, Link};
use callctl::wire::{Message, Ports};
use callctl::{Codec, Direction, Media, Side};
use chand::backend::sim::peer::Phone;
use fxs::Law;
use nix::errno::Errno;
use nix::sys::socket::{
    connect, recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr,
};
use sansio::Core;

/// How long the fake waits for chand.
pub const WAIT: Duration = Duration::from_secs(5);

/// The config of FXS ports on `channels` (number `800N` for channel N, us plan, mu-law, a dial
/// plan, the pilot `*98`, Bell 202 caller ID) with RTP in `rtp_ports`.
pub fn calls_config(rtp_ports: &str, channels: &[u32]) -> String {
    let mut s = format!("{NO_SIP_SERVER}[media]\nrtp_ports = \"{rtp_ports}\"\n");
    for c in channels {
        s += &format!(
            "[[fxs]]\nchannel = {c}\nnumber = \"800{c}\"\ncptone = \"us\"\nlaw = \"mulaw\"\n\
             dial_plan = \"(*xx|[2-9]xxx|x.T)\"\nvoicemail = \"*98\"\ncaller_id = \"bell202\"\n"
        );
    }
    s
}

/// A running chand with `extra` config appended to [`calls_config`], MWI on for 8001, a sim
/// phone on each channel and a fake sipd whose link is up.
pub fn start_calls(
    rtp_ports: &str,
    channels: &[u32],
    extra: &str,
) -> (Env, Chand, Vec<Phone>, FakeSipd, mwi_table::Writer) {
    let env = Env::new();
    let cfg = env.write_config(&(calls_config(rtp_ports, channels) + extra));
    let mut writer = cfg.writer();
    writer.publish("8001", MwiState::voice(true, 2, 0)).unwrap();
    let chand = Chand::start(&env, &cfg);
    let phones = channels
        .iter()
        .map(|c| Phone::connect(&env.sim_dir, *c, WAIT).unwrap())
        .collect();
    let mut sipd = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
    sipd.wait_up();
    (env, chand, phones, sipd, writer)
}

/// A fake sipd: the callctl link over a `SOCK_SEQPACKET` connection to chand.
pub struct FakeSipd {
    fd: std::os::fd::OwnedFd,
    /// The link core, for what a test does not send through [`FakeSipd::send`].
    pub link: Link,
}

impl FakeSipd {
    /// Connect to chand's `callctl.sock` at `path` (retrying for [`WAIT`]) and send Hello.
    pub fn connect(path: &std::path::Path) -> Self {
        let deadline = Instant::now() + WAIT;
        let fd = loop {
            let fd = socket(
                AddressFamily::Unix,
                SockType::SeqPacket,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .expect("socket");
            if connect(fd.as_raw_fd(), &UnixAddr::new(path).unwrap()).is_ok() {
                break fd;
            }
            assert!(
                Instant::now() < deadline,
                "no callctl.sock at {}",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let now = Instant::now();
        let link = Link::new(now, Side::Sipd, 7, Ports::default(), LinkConfig::default());
        let mut s = Self { fd, link };
        s.flush();
        s
    }

    /// Send what the link queued. chand closing the connection (EPIPE, ECONNRESET: it refuses
    /// a second peer at once) ends the sending; the test sees the close when it reads.
    pub fn flush(&mut self) {
        while let Some(p) = self.link.poll_transmit() {
            match send(self.fd.as_raw_fd(), &p, MsgFlags::empty()) {
                Ok(_) => {}
                Err(Errno::EPIPE | Errno::ECONNRESET) => return,
                Err(e) => panic!("send to chand: {e}"),
            }
        }
    }

    /// Send `bytes` as one packet, bypassing the link (hostile input).
    pub fn send_raw(&self, bytes: &[u8]) -> nix::Result<usize> {
        send(self.fd.as_raw_fd(), bytes, MsgFlags::empty())
    }

    /// The next packet from chand, unparsed, within `timeout` (the link does not see it).
    pub fn recv_raw(&self, timeout: Duration) -> Option<Vec<u8>> {
        let stream = UnixStream::from(self.fd.try_clone().ok()?);
        stream.set_read_timeout(Some(timeout)).ok()?;
        let mut buf = vec![0u8; callctl::wire::MAX_PACKET];
        match recv(stream.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(n) if n > 0 => Some(buf[..n].to_vec()),
            _ => None,
        }
    }

    /// Send a call message.
    pub fn send(&mut self, msg: Message) {
        self.link.send(Instant::now(), msg).expect("link send");
        self.flush();
    }

    /// The next event of the link, reading packets for up to `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; callctl::wire::MAX_PACKET];
        loop {
            if let Some(ev) = self.link.poll_event() {
                self.flush();
                return Some(ev);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let stream = UnixStream::from(self.fd.try_clone().unwrap());
            stream.set_read_timeout(Some(left)).unwrap();
            match recv(stream.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) => return None,
                Ok(n) => self.link.handle_packet(Instant::now(), &buf[..n]),
                Err(_) => {}
            }
            self.flush();
        }
    }

    /// Wait for a call message that `pick` accepts (others are skipped).
    pub fn expect<T>(&mut self, what: &str, mut pick: impl FnMut(&Message) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        while let Some(ev) = self.next(deadline.saturating_duration_since(Instant::now())) {
            if let Event::Call(m) = &ev {
                if let Some(t) = pick(m) {
                    return t;
                }
            }
        }
        panic!("fake sipd: no {what} within {WAIT:?}");
    }

    /// Wait until chand's Hello came.
    pub fn wait_up(&mut self) {
        let deadline = Instant::now() + WAIT;
        while !self.link.peer_up() {
            assert!(Instant::now() < deadline, "chand never said Hello");
            self.next(Duration::from_millis(100));
        }
    }
}

/// What the phone's audio thread sends.
#[derive(Clone, Copy, PartialEq)]
pub enum Voice {
    /// Nothing.
    Silence,
    /// A sine at this frequency (Hz), -10 dBm0.
    Tone(f64),
    /// A DTMF key's two tones, -10 dBm0 each.
    Dtmf(char),
}

/// Send one block every 20 ms of what `voice` says until `stop`, in `law`.
pub fn talk(phone: &Phone, law: Law, voice: &Mutex<Voice>, stop: &AtomicBool) {
    let mut n = 0u64;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let v = *voice.lock().unwrap();
        let block: Vec<u8> = (0..160)
            .map(|i| {
                let t = (n * 160 + i) as f64 / 8000.0;
                let tone =
                    |f: f64| law.peak_for_dbm0(-10.0) * (2.0 * std::f64::consts::PI * f * t).sin();
                let x = match v {
                    Voice::Silence => 0.0,
                    Voice::Tone(f) => tone(f),
                    Voice::Dtmf(d) => {
                        let (lo, hi) = dtmf(d);
                        tone(lo) + tone(hi)
                    }
                };
                law.encode(x as i16)
            })
            .collect();
        let _ = phone.send_audio(&block);
        n += 1;
        next += Duration::from_millis(20);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// The two Q.23 frequencies of key `d`.
pub fn dtmf(d: char) -> (f64, f64) {
    let keys = ["123A", "456B", "789C", "*0#D"];
    let row = keys.iter().position(|r| r.contains(d)).unwrap();
    let col = keys[row].find(d).unwrap();
    (
        [697.0, 770.0, 852.0, 941.0][row],
        [1209.0, 1336.0, 1477.0, 1633.0][col],
    )
}

/// Press `keys` in-band: 80 ms of tone, 80 ms of silence each.
pub fn press(voice: &Mutex<Voice>, keys: &str) {
    for k in keys.chars() {
        *voice.lock().unwrap() = Voice::Dtmf(k);
        std::thread::sleep(Duration::from_millis(80));
        *voice.lock().unwrap() = Voice::Silence;
        std::thread::sleep(Duration::from_millis(80));
    }
}

/// An RTP echo: sends every RTP packet back to its sender, keeps the RFC 4733 ones (PT 101).
pub fn echo(sock: &UdpSocket, events: &Mutex<Vec<Vec<u8>>>, stop: &AtomicBool) {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, src)) = sock.recv_from(&mut buf) else {
            continue;
        };
        echo_packet(sock, &buf[..n], src, events);
    }
}

/// One packet for [`echo`]: an RFC 4733 event (payload type 101) is kept in `events`, anything
/// else goes back to `src`.
pub fn echo_packet(sock: &UdpSocket, packet: &[u8], src: SocketAddr, events: &Mutex<Vec<Vec<u8>>>) {
    if packet.len() >= 12 && packet[1] & 0x7f == 101 {
        events.lock().unwrap().push(packet[12..].to_vec());
    } else {
        let _ = sock.send_to(packet, src);
    }
}

/// PCMU, 20 ms, RFC 4733 on payload type 101, sendrecv, towards `remote`.
pub fn media(remote: SocketAddr) -> Media {
    Media {
        remote_rtp: remote,
        codec: Codec::Pcmu,
        ptime_ms: 20,
        telephone_event_pt: Some(101),
        direction: Direction::SendRecv,
    }
}

/// One RTP packet: version 2, PCMU, `ssrc`, `seq`, 20 ms of a `freq` Hz sine at -10 dBm0.
pub fn rtp_tone(ssrc: u32, seq: u16, freq: f64) -> Vec<u8> {
    let law = Law::Mulaw;
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..160u32).map(|i| {
        let n = f64::from(u32::from(seq) * 160 + i);
        let x = law.peak_for_dbm0(-10.0) * (2.0 * std::f64::consts::PI * freq * n / 8000.0).sin();
        law.encode(x as i16)
    }));
    p
}
