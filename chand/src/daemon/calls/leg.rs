//! The media of one call, on an FXS port or a PRI B-channel: its RTP/RTCP socket pair in
//! `[media] rtp_ports` (RFC 3550 §11: RTP on an even port, RTCP on the next), registered with
//! the event loop, its [`media::stream::Stream`] once sipd gave the far end's address, and
//! the channel's DAHDI echo canceller while the media runs.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use callctl::{CallId, Direction, Media};
use log::{info, warn};
use media::stream::{Config, Event, Socket, Stream};
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use mwi_config::Media as MediaConfig;
use nix::sys::socket::{setsockopt, sockopt};
use sansio::Core;

use crate::backend::BackendError;

/// Datagrams read per socket per readiness event.
pub const BATCH: usize = 32;
/// RTP silence after which the far end counts as gone (logged; sipd ends the call by SIP).
const REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

/// One call's sockets and stream.
pub struct Leg {
    /// The call.
    pub call: CallId,
    /// The DAHDI channel of the call's port or B-channel (the log's `CHANNEL` field).
    pub channel: u32,
    /// The channel as the log names it, e.g. `FXS channel 3`, `span 1 B-channel 5`.
    pub what: String,
    /// RTP socket (even port).
    pub rtp: UdpSocket,
    /// RTCP socket (RTP + 1).
    pub rtcp: UdpSocket,
    /// Our RTP address, for `MediaReady`.
    pub local: SocketAddr,
    /// The stream, once sipd sent the far end's media.
    pub stream: Option<Stream>,
    /// Which way the media flows (RFC 3264 §6.1), from the last `EarlyMedia`, `Connected` or
    /// `Modify`.
    pub direction: Direction,
    buf: Vec<u8>,
}

impl Leg {
    /// Bind an RTP/RTCP pair in `cfg.rtp_ports`, trying the even ports from `cursor` on (and
    /// advancing it, so consecutive calls do not reuse a port just closed); ports in use are
    /// skipped. DSCP from `cfg.dscp` (IP_TOS / IPV6_TCLASS, RFC 2474 §3).
    pub fn bind(
        call: CallId,
        channel: u32,
        what: String,
        cfg: &MediaConfig,
        cursor: &mut usize,
    ) -> io::Result<Self> {
        let ip = cfg.address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let ports: Vec<u16> = cfg.rtp_ports.rtp_ports().collect();
        for k in 0..ports.len() {
            let port = ports[(*cursor + k) % ports.len()];
            let Ok(rtp) = std::net::UdpSocket::bind(SocketAddr::new(ip, port)) else {
                continue;
            };
            let Ok(rtcp) = std::net::UdpSocket::bind(SocketAddr::new(ip, port + 1)) else {
                continue;
            };
            *cursor = (*cursor + k + 1) % ports.len();
            let tos = (cfg.dscp as i32) << 2;
            for s in [&rtp, &rtcp] {
                s.set_nonblocking(true)?;
                let set = if ip.is_ipv4() {
                    setsockopt(s, sockopt::IpTos, &tos)
                } else {
                    setsockopt(s, sockopt::Ipv6TClass, &tos)
                };
                if let Err(e) = set {
                    warn!(channel = channel, call_id = call.to_string(); "{what}: call {call}: DSCP {} not set: {e}", cfg.dscp);
                }
            }
            let local = rtp.local_addr()?;
            return Ok(Self {
                call,
                channel,
                what,
                rtp: UdpSocket::from_std(rtp),
                rtcp: UdpSocket::from_std(rtcp),
                local,
                stream: None,
                direction: Direction::Inactive,
                buf: vec![0; 2048],
            });
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("no free RTP/RTCP port pair in {}", cfg.rtp_ports),
        ))
    }

    /// Start (or, on a re-INVITE, restart) the stream towards `media` at `now`.
    pub fn start(&mut self, now: Instant, media: &Media, law: fxs::Law) {
        self.direction = media.direction;
        let rtcp = SocketAddr::new(media.remote_rtp.ip(), media.remote_rtp.port() + 1);
        let config = Config {
            codec: media.codec,
            line: law,
            telephone_event: media.telephone_event_pt,
            remote_rtp: media.remote_rtp,
            remote_rtcp: rtcp,
            latch: true,
            remote_timeout: REMOTE_TIMEOUT,
            wallclock: SystemTime::now(),
        };
        if let Some(old) = &mut self.stream {
            old.close(now);
        }
        match Stream::new(now, config) {
            Ok(s) => self.stream = Some(s),
            Err(e) => {
                warn!(channel = self.channel, call_id = self.call.to_string(); "{}: call {}: no media stream: {e}", self.what, self.call)
            }
        }
        self.flush(now);
    }

    /// Read what the sockets hold (at most [`BATCH`] each) into the stream.
    pub fn read(&mut self, now: Instant, which: Socket) {
        for _ in 0..BATCH {
            let sock = match which {
                Socket::Rtp => &self.rtp,
                Socket::Rtcp => &self.rtcp,
            };
            let (n, src) = match sock.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    warn!(channel = self.channel, call_id = self.call.to_string(); "{}: call {}: {which:?} socket: {e}", self.what, self.call);
                    break;
                }
            };
            if let Some(s) = &mut self.stream {
                match which {
                    Socket::Rtp => s.handle_rtp(now, src, &self.buf[..n]),
                    Socket::Rtcp => s.handle_rtcp(now, src, &self.buf[..n]),
                }
            }
        }
        self.flush(now);
    }

    /// Send the stream's datagrams and log its events.
    pub fn flush(&mut self, now: Instant) {
        let Some(s) = &mut self.stream else { return };
        if s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        while let Some(t) = s.poll_transmit() {
            let sock = match t.socket {
                Socket::Rtp => &self.rtp,
                Socket::Rtcp => &self.rtcp,
            };
            if let Err(e) = sock.send_to(&t.bytes, t.dest) {
                warn!(channel = self.channel, call_id = self.call.to_string(); "{}: call {}: send to {}: {e}", self.what, self.call, t.dest);
            }
        }
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Digit { key, duration } => {
                    info!(
                        channel = self.channel, call_id = self.call.to_string();
                        "{}: call {}: RFC 4733 digit {key} ({duration:?}) from the far end",
                        self.what, self.call
                    )
                }
                other => {
                    info!(channel = self.channel, call_id = self.call.to_string(); "{}: call {}: media: {other:?}", self.what, self.call)
                }
            }
        }
    }

    /// Whether the phone hears the far end (sendrecv or recvonly).
    pub fn plays(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::RecvOnly)
    }

    /// Whether the phone's audio and digits are sent (sendrecv or sendonly).
    pub fn sends(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::SendOnly)
    }

    /// Close the stream (RTCP BYE) at `now`.
    pub fn close(&mut self, now: Instant) {
        if let Some(s) = &mut self.stream {
            s.close(now);
        }
        self.flush(now);
    }
}

/// Bind `call`'s RTP pair on `channel` (`what` in the log) and register its sockets as
/// `Token(token)` (RTP) and `Token(token + 1)` (RTCP); failures are logged.
pub fn open(
    call: CallId,
    channel: u32,
    what: String,
    media: &MediaConfig,
    cursor: &mut usize,
    registry: &Registry,
    token: usize,
) -> Option<Leg> {
    let mut leg = match Leg::bind(call, channel, what.clone(), media, cursor) {
        Ok(l) => l,
        Err(e) => {
            warn!(channel = channel, call_id = call.to_string(); "{what}: call {call}: {e}");
            return None;
        }
    };
    let rtp = registry.register(&mut leg.rtp, Token(token), Interest::READABLE);
    let rtcp = registry.register(&mut leg.rtcp, Token(token + 1), Interest::READABLE);
    if let Err(e) = rtp.and(rtcp) {
        warn!(channel = channel, call_id = call.to_string(); "{what}: call {call}: {e}");
        let _ = registry.deregister(&mut leg.rtp);
        let _ = registry.deregister(&mut leg.rtcp);
        return None;
    }
    Some(leg)
}

/// Close `leg` (RTCP BYE) at `now` and deregister its sockets.
pub fn close(mut leg: Leg, registry: &Registry, now: Instant) {
    leg.close(now);
    let _ = registry.deregister(&mut leg.rtp);
    let _ = registry.deregister(&mut leg.rtcp);
    info!(channel = leg.channel, call_id = leg.call.to_string(); "{}: call {} media closed", leg.what, leg.call);
}

/// Where a channel's echo canceller is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// Not attached.
    Off,
    /// Attached for the running media.
    On,
    /// The kernel has none for the channel (logged once); calls go on without.
    Unsupported,
}

impl Echo {
    /// Attach (`on`, `taps` taps, 8 per ms) or remove the echo canceller of `channel` (`what`
    /// in the log) through `set` (`DAHDI_ECHOCANCEL_PARAMS`), when `taps` is not 0; a kernel
    /// without one is logged once and the call goes on.
    pub fn set(
        &mut self,
        taps: u32,
        on: bool,
        channel: u32,
        what: &str,
        set: impl FnOnce(u32) -> Result<(), BackendError>,
    ) {
        if taps == 0 || *self == Echo::Unsupported || (*self == Echo::On) == on {
            return;
        }
        match set(if on { taps } else { 0 }) {
            Ok(()) => *self = if on { Echo::On } else { Echo::Off },
            Err(BackendError::Unsupported { .. }) => {
                warn!(channel = channel; "{what}: no DAHDI echo canceller for this channel (echocanceller= in system.conf); calls go on without");
                *self = Echo::Unsupported;
            }
            Err(e) => warn!(channel = channel; "{what}: echo canceller: {e}"),
        }
    }
}
