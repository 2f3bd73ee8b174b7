//! The media of one call, on an FXS port or a PRI B-channel: its RTP/RTCP socket pair in
//! `[media] rtp_ports` (RFC 3550 §11: RTP on an even port, RTCP on the next), registered with
//! the event loop, its [`media::stream::Stream`] once sipd gave the far end's address, and
//! the channel's DAHDI echo canceller while the media runs.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use callctl::{CallId, Direction, Media};
use log::{log, Level};
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
    /// The call's port or B-channel, for the log.
    pub who: Who,
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
    pub fn bind(call: CallId, who: Who, cfg: &MediaConfig, cursor: &mut usize) -> io::Result<Self> {
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
                    who.log(
                        Level::Warn,
                        Some(call),
                        format_args!("call {call}: DSCP {} not set: {e}", cfg.dscp),
                    );
                }
            }
            let local = rtp.local_addr()?;
            return Ok(Self {
                call,
                who,
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
            Err(e) => self.log(Level::Warn, format_args!("no media stream: {e}")),
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
                    self.log(Level::Warn, format_args!("{which:?} socket: {e}"));
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
                let (who, call) = (&self.who, self.call);
                who.log(
                    Level::Warn,
                    Some(call),
                    format_args!("call {call}: send to {}: {e}", t.dest),
                );
            }
        }
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Digit { key, duration } => self.who.log(
                    Level::Info,
                    Some(self.call),
                    format_args!(
                        "call {}: RFC 4733 digit {key} ({duration:?}) from the far end",
                        self.call
                    ),
                ),
                other => self.who.log(
                    Level::Info,
                    Some(self.call),
                    format_args!("call {}: media: {other:?}", self.call),
                ),
            }
        }
    }

    /// A log line about this call.
    fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        self.who.log(
            level,
            Some(self.call),
            format_args!("call {}: {args}", self.call),
        );
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

/// The port or B-channel of a call, as its log lines name it: the message's prefix and the
/// journal fields `SPAN` (B-channels), `CHANNEL` (the DAHDI channel) and `CALL_ID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Who {
    /// The DAHDI span of a B-channel; `None` for an FXS port.
    pub span: Option<u32>,
    /// The DAHDI channel.
    pub channel: u32,
    /// The prefix of the message, e.g. `FXS channel 3`, `span 1 B-channel 5`.
    pub what: String,
}

impl Who {
    /// FXS port `channel`.
    pub fn fxs(channel: u32) -> Who {
        Who {
            span: None,
            channel,
            what: format!("FXS channel {channel}"),
        }
    }

    /// B-channel (timeslot) `b` of `span`, DAHDI channel `channel`.
    pub fn bchannel(span: u32, b: u8, channel: u32) -> Who {
        Who {
            span: Some(span),
            channel,
            what: format!("span {span} B-channel {b}"),
        }
    }

    /// Log `args` at `level`, about `call` if given.
    pub fn log(&self, level: Level, call: Option<CallId>, args: fmt::Arguments<'_>) {
        let (channel, what) = (self.channel, &self.what);
        match (self.span, call.map(|c| c.to_string())) {
            (Some(span), Some(call_id)) => {
                log!(level, span = span, channel = channel, call_id = call_id; "{what}: {args}")
            }
            (Some(span), None) => log!(level, span = span, channel = channel; "{what}: {args}"),
            (None, Some(call_id)) => {
                log!(level, channel = channel, call_id = call_id; "{what}: {args}")
            }
            (None, None) => log!(level, channel = channel; "{what}: {args}"),
        }
    }
}

/// Bind `call`'s RTP pair for `who` and register its sockets as `Token(token)` (RTP) and
/// `Token(token + 1)` (RTCP); failures are logged.
pub fn open(
    call: CallId,
    who: Who,
    media: &MediaConfig,
    cursor: &mut usize,
    registry: &Registry,
    token: usize,
) -> Option<Leg> {
    let mut leg = match Leg::bind(call, who.clone(), media, cursor) {
        Ok(l) => l,
        Err(e) => {
            who.log(Level::Warn, Some(call), format_args!("call {call}: {e}"));
            return None;
        }
    };
    let rtp = registry.register(&mut leg.rtp, Token(token), Interest::READABLE);
    let rtcp = registry.register(&mut leg.rtcp, Token(token + 1), Interest::READABLE);
    if let Err(e) = rtp.and(rtcp) {
        leg.log(Level::Warn, format_args!("{e}"));
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
    leg.log(Level::Info, format_args!("media closed"));
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
    /// Attach (`on`, `taps` taps, 8 per ms) or remove the echo canceller of `who` through
    /// `set` (`DAHDI_ECHOCANCEL_PARAMS`), when `taps` is not 0; a kernel without one is logged
    /// once and the call goes on.
    pub fn set(
        &mut self,
        taps: u32,
        on: bool,
        who: &Who,
        set: impl FnOnce(u32) -> Result<(), BackendError>,
    ) {
        if taps == 0 || *self == Echo::Unsupported || (*self == Echo::On) == on {
            return;
        }
        match set(if on { taps } else { 0 }) {
            Ok(()) => *self = if on { Echo::On } else { Echo::Off },
            Err(BackendError::Unsupported { .. }) => {
                who.log(Level::Warn, None, format_args!("no DAHDI echo canceller for this channel (echocanceller= in system.conf); calls go on without"));
                *self = Echo::Unsupported;
            }
            Err(e) => who.log(Level::Warn, None, format_args!("echo canceller: {e}")),
        }
    }
}
