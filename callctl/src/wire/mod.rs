//! The messages of the call-control channel and their encoding: one message per
//! `SOCK_SEQPACKET` packet.
//!
//! Packet: `version` (1 octet, [`VERSION`]), `type` (1 octet), then the type's fields in a
//! fixed order, big-endian: call id (4), port (2), epoch (8), sequence number (4); strings as a
//! length octet and that many octets; socket addresses as family (4 or 6), the address (4 or 16
//! octets) and the port (2). Every field is checked: a short packet, an unknown version or
//! type, an out-of-range value or trailing octets is a [`WireError`], never a panic. The
//! encoding is canonical, so `emit(parse(x)) == x` whenever `parse(x)` succeeds.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::{CallId, Cause, Codec, Digits, Direction, ErrorCode, Media, Privacy, Side, Text};

/// The encoding's version; a peer with another version is refused ([`WireError::Version`]).
pub const VERSION: u8 = 1;

/// Largest packet either side sends or accepts, in octets (a `Hello` with [`Ports::MAX`]
/// ports is the largest message).
pub const MAX_PACKET: usize = 2 + 8 + 8 + 2 + 2 * Ports::MAX;

/// The ports a chand serves (DAHDI channel numbers), at most [`Ports::MAX`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ports(Vec<u16>);

impl Ports {
    /// Most ports in one `Hello` (a chand with more channels than DAHDI's 1024 is not built).
    pub const MAX: usize = 1024;

    /// The ports.
    pub fn as_slice(&self) -> &[u16] {
        &self.0
    }
}

impl TryFrom<Vec<u16>> for Ports {
    type Error = WireError;
    fn try_from(v: Vec<u16>) -> Result<Self, WireError> {
        if v.len() > Self::MAX {
            return Err(WireError::TooLong("ports", v.len(), Self::MAX));
        }
        Ok(Self(v))
    }
}

/// One message of the channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// Both ways, first on every connection: the sender's epoch (a number it picks anew at
    /// every start, so a restart shows), the receiver's epoch as the sender knows it, and, from
    /// chand, the ports it serves. The receiver answers with its own `Hello` when
    /// `peer_epoch` is not its epoch (the sender does not know it yet), which ends the
    /// exchange after one round.
    Hello {
        /// The sender's epoch (never 0).
        epoch: u64,
        /// The receiver's epoch as the sender knows it; 0 when it knows none.
        peer_epoch: u64,
        /// The ports chand serves (empty from sipd).
        ports: Ports,
    },
    /// Both ways: keep-alive request; the receiver answers `Pong` with the same `seq`.
    Ping {
        /// Sequence number.
        seq: u32,
    },
    /// Both ways: keep-alive answer.
    Pong {
        /// The `Ping`'s sequence number.
        seq: u32,
    },
    /// Both ways: the receiver could not apply a message about `call`; never answered.
    Error {
        /// The call the refused message named.
        call: CallId,
        /// Why.
        code: ErrorCode,
    },
    /// Both ways: the call ends (chand: on-hook, refused, busy; sipd: BYE, CANCEL, a final
    /// error response mapped by RFC 3398 §8.2.6.1).
    Hangup {
        /// The call.
        call: CallId,
        /// Q.850 cause.
        cause: Cause,
    },
    /// chand → sipd: the digits on `port` completed the digit map; send an INVITE.
    Dial {
        /// New call id (chand's, bit 31 clear).
        call: CallId,
        /// The port (DAHDI channel number).
        port: u16,
        /// What the phone dialled.
        digits: Digits,
    },
    /// chand → sipd: the port of an incoming call rings (send 180 Ringing, RFC 3261 §13.3.1.1).
    Alerting {
        /// The call.
        call: CallId,
    },
    /// chand → sipd: the phone went off-hook on an incoming call (send 200 OK).
    Answered {
        /// The call.
        call: CallId,
    },
    /// chand → sipd: the call's RTP socket is bound; put this address in the SDP.
    MediaReady {
        /// The call.
        call: CallId,
        /// Our RTP address and port (RTCP on port + 1).
        local_rtp: SocketAddr,
    },
    /// sipd → chand: an INVITE for `port`'s number arrived: ring it and send caller ID.
    Incoming {
        /// New call id (sipd's, bit 31 set).
        call: CallId,
        /// The port to ring.
        port: u16,
        /// Calling number (from P-Asserted-Identity or From), possibly empty.
        number: Text,
        /// Calling name (display name), possibly empty.
        name: Text,
        /// Presentation.
        privacy: Privacy,
    },
    /// sipd → chand: 180 without SDP: play the port's ringback tone.
    Ringback {
        /// The call.
        call: CallId,
    },
    /// sipd → chand: 183 (or 180) with SDP: connect early media one way, far end to phone.
    EarlyMedia {
        /// The call.
        call: CallId,
        /// The negotiated media.
        media: Media,
    },
    /// sipd → chand: the call is answered (200 OK to our INVITE, or ACK of ours): two-way audio.
    Connected {
        /// The call.
        call: CallId,
        /// The negotiated media.
        media: Media,
    },
    /// sipd → chand: a re-INVITE changed the media (hold, resume, new address).
    Modify {
        /// The call.
        call: CallId,
        /// The new media.
        media: Media,
    },
}

/// Why a packet is not a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The packet ended inside the named field.
    Truncated(&'static str),
    /// The version octet is not [`VERSION`].
    Version(u8),
    /// The type octet names no message.
    UnknownType(u8),
    /// The named field has this value, out of its range.
    Invalid(&'static str, u64),
    /// The named field has this length, beyond the maximum.
    TooLong(&'static str, usize, usize),
    /// The named string field is not UTF-8, or has characters its type forbids.
    BadText(&'static str),
    /// Octets left after the last field.
    Trailing(usize),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated(field) => write!(f, "packet ends inside {field}"),
            Self::Version(v) => write!(f, "version {v}, this end speaks {VERSION}"),
            Self::UnknownType(t) => write!(f, "unknown message type 0x{t:02x}"),
            Self::Invalid(field, v) => write!(f, "{field} {v} out of range"),
            Self::TooLong(field, n, max) => write!(f, "{field} of {n} (at most {max})"),
            Self::BadText(field) => write!(f, "{field} is not valid text"),
            Self::Trailing(n) => write!(f, "{n} octets after the message"),
        }
    }
}

impl std::error::Error for WireError {}

mod ty {
    pub const HELLO: u8 = 0x01;
    pub const PING: u8 = 0x02;
    pub const PONG: u8 = 0x03;
    pub const ERROR: u8 = 0x04;
    pub const HANGUP: u8 = 0x05;
    pub const DIAL: u8 = 0x10;
    pub const ALERTING: u8 = 0x11;
    pub const ANSWERED: u8 = 0x12;
    pub const MEDIA_READY: u8 = 0x13;
    pub const INCOMING: u8 = 0x20;
    pub const RINGBACK: u8 = 0x21;
    pub const EARLY_MEDIA: u8 = 0x22;
    pub const CONNECTED: u8 = 0x23;
    pub const MODIFY: u8 = 0x24;
}

/// `telephone_event_pt` octet meaning "none".
const NO_TE: u8 = 0xff;

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated(field));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        self.array(field).map(u16::from_be_bytes)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        self.array(field).map(u32::from_be_bytes)
    }

    fn call(&mut self) -> Result<CallId, WireError> {
        self.u32("call id").map(CallId)
    }

    fn str(&mut self, field: &'static str) -> Result<&'a str, WireError> {
        let n = self.u8(field)?;
        std::str::from_utf8(self.take(usize::from(n), field)?)
            .map_err(|_| WireError::BadText(field))
    }

    fn text(&mut self, field: &'static str) -> Result<Text, WireError> {
        Text::try_from(self.str(field)?).map_err(|_| WireError::BadText(field))
    }

    fn addr(&mut self, field: &'static str) -> Result<SocketAddr, WireError> {
        let ip = match self.u8(field)? {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>(field)?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>(field)?)),
            f => return Err(WireError::Invalid("address family", f.into())),
        };
        Ok(SocketAddr::new(ip, self.u16(field)?))
    }

    fn media(&mut self) -> Result<Media, WireError> {
        let remote_rtp = self.addr("remote rtp")?;
        let pt = self.u8("codec")?;
        let codec = Codec::from_payload_type(pt).ok_or(WireError::Invalid("codec", pt.into()))?;
        let ptime_ms = self.u8("ptime")?;
        if !(10..=60).contains(&ptime_ms) {
            return Err(WireError::Invalid("ptime", ptime_ms.into()));
        }
        let telephone_event_pt = match self.u8("telephone-event pt")? {
            NO_TE => None,
            pt @ 0..=127 => Some(pt),
            pt => return Err(WireError::Invalid("telephone-event pt", pt.into())),
        };
        let direction = match self.u8("direction")? {
            0 => Direction::SendRecv,
            1 => Direction::SendOnly,
            2 => Direction::RecvOnly,
            3 => Direction::Inactive,
            d => return Err(WireError::Invalid("direction", d.into())),
        };
        Ok(Media {
            remote_rtp,
            codec,
            ptime_ms,
            telephone_event_pt,
            direction,
        })
    }
}

fn put_addr(out: &mut Vec<u8>, a: SocketAddr) {
    match a.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&a.port().to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Digits and Text are at most 64 octets by construction.
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

fn put_media(out: &mut Vec<u8>, m: &Media) {
    put_addr(out, m.remote_rtp);
    out.push(m.codec.payload_type());
    out.push(m.ptime_ms);
    out.push(m.telephone_event_pt.unwrap_or(NO_TE));
    out.push(match m.direction {
        Direction::SendRecv => 0,
        Direction::SendOnly => 1,
        Direction::RecvOnly => 2,
        Direction::Inactive => 3,
    });
}

impl Message {
    /// Reads one packet.
    ///
    /// # Errors
    /// [`WireError`] naming the first field that is missing, out of range or too long.
    pub fn parse(packet: &[u8]) -> Result<Self, WireError> {
        if packet.len() > MAX_PACKET {
            return Err(WireError::TooLong("packet", packet.len(), MAX_PACKET));
        }
        let mut r = Reader(packet);
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(WireError::Version(version));
        }
        let msg = match r.u8("type")? {
            ty::HELLO => {
                let epoch = u64::from_be_bytes(r.array("epoch")?);
                let peer_epoch = u64::from_be_bytes(r.array("peer epoch")?);
                let n = usize::from(r.u16("port count")?);
                if n > Ports::MAX {
                    return Err(WireError::TooLong("ports", n, Ports::MAX));
                }
                let ports = (0..n).map(|_| r.u16("port")).collect::<Result<_, _>>()?;
                Self::Hello {
                    epoch,
                    peer_epoch,
                    ports: Ports(ports),
                }
            }
            ty::PING => Self::Ping { seq: r.u32("seq")? },
            ty::PONG => Self::Pong { seq: r.u32("seq")? },
            ty::ERROR => {
                let call = r.call()?;
                let code = match r.u8("error code")? {
                    1 => ErrorCode::UnknownCall,
                    2 => ErrorCode::BadCallId,
                    3 => ErrorCode::WrongDirection,
                    4 => ErrorCode::NoHello,
                    5 => ErrorCode::UnknownPort,
                    c => return Err(WireError::Invalid("error code", c.into())),
                };
                Self::Error { call, code }
            }
            ty::HANGUP => {
                let call = r.call()?;
                let cause = r.u8("cause")?;
                if !(1..=127).contains(&cause) {
                    return Err(WireError::Invalid("cause", cause.into()));
                }
                Self::Hangup {
                    call,
                    cause: Cause(cause),
                }
            }
            ty::DIAL => {
                let call = r.call()?;
                let port = r.u16("port")?;
                let digits =
                    Digits::try_from(r.str("digits")?).map_err(|_| WireError::BadText("digits"))?;
                Self::Dial { call, port, digits }
            }
            ty::ALERTING => Self::Alerting { call: r.call()? },
            ty::ANSWERED => Self::Answered { call: r.call()? },
            ty::MEDIA_READY => Self::MediaReady {
                call: r.call()?,
                local_rtp: r.addr("local rtp")?,
            },
            ty::INCOMING => Self::Incoming {
                call: r.call()?,
                port: r.u16("port")?,
                number: r.text("number")?,
                name: r.text("name")?,
                privacy: match r.u8("privacy")? {
                    0 => Privacy::Allowed,
                    1 => Privacy::Restricted,
                    2 => Privacy::Unavailable,
                    p => return Err(WireError::Invalid("privacy", p.into())),
                },
            },
            ty::RINGBACK => Self::Ringback { call: r.call()? },
            ty::EARLY_MEDIA => Self::EarlyMedia {
                call: r.call()?,
                media: r.media()?,
            },
            ty::CONNECTED => Self::Connected {
                call: r.call()?,
                media: r.media()?,
            },
            ty::MODIFY => Self::Modify {
                call: r.call()?,
                media: r.media()?,
            },
            t => return Err(WireError::UnknownType(t)),
        };
        match r.0.len() {
            0 => Ok(msg),
            n => Err(WireError::Trailing(n)),
        }
    }

    /// The packet of this message (at most [`MAX_PACKET`] octets).
    pub fn emit(&self) -> Vec<u8> {
        let mut out = vec![VERSION, self.type_octet()];
        match self {
            Self::Hello {
                epoch,
                peer_epoch,
                ports,
            } => {
                out.extend_from_slice(&epoch.to_be_bytes());
                out.extend_from_slice(&peer_epoch.to_be_bytes());
                // Ports::MAX fits in 16 bits.
                out.extend_from_slice(&(ports.0.len() as u16).to_be_bytes());
                for p in &ports.0 {
                    out.extend_from_slice(&p.to_be_bytes());
                }
            }
            Self::Ping { seq } | Self::Pong { seq } => out.extend_from_slice(&seq.to_be_bytes()),
            _ => {}
        }
        if let Some(call) = self.call() {
            out.extend_from_slice(&call.0.to_be_bytes());
        }
        match self {
            Self::Error { code, .. } => out.push(match code {
                ErrorCode::UnknownCall => 1,
                ErrorCode::BadCallId => 2,
                ErrorCode::WrongDirection => 3,
                ErrorCode::NoHello => 4,
                ErrorCode::UnknownPort => 5,
            }),
            Self::Hangup { cause, .. } => out.push(cause.0),
            Self::Dial { port, digits, .. } => {
                out.extend_from_slice(&port.to_be_bytes());
                put_str(&mut out, digits.as_str());
            }
            Self::MediaReady { local_rtp, .. } => put_addr(&mut out, *local_rtp),
            Self::Incoming {
                port,
                number,
                name,
                privacy,
                ..
            } => {
                out.extend_from_slice(&port.to_be_bytes());
                put_str(&mut out, number.as_str());
                put_str(&mut out, name.as_str());
                out.push(match privacy {
                    Privacy::Allowed => 0,
                    Privacy::Restricted => 1,
                    Privacy::Unavailable => 2,
                });
            }
            Self::EarlyMedia { media, .. }
            | Self::Connected { media, .. }
            | Self::Modify { media, .. } => put_media(&mut out, media),
            _ => {}
        }
        out
    }

    fn type_octet(&self) -> u8 {
        match self {
            Self::Hello { .. } => ty::HELLO,
            Self::Ping { .. } => ty::PING,
            Self::Pong { .. } => ty::PONG,
            Self::Error { .. } => ty::ERROR,
            Self::Hangup { .. } => ty::HANGUP,
            Self::Dial { .. } => ty::DIAL,
            Self::Alerting { .. } => ty::ALERTING,
            Self::Answered { .. } => ty::ANSWERED,
            Self::MediaReady { .. } => ty::MEDIA_READY,
            Self::Incoming { .. } => ty::INCOMING,
            Self::Ringback { .. } => ty::RINGBACK,
            Self::EarlyMedia { .. } => ty::EARLY_MEDIA,
            Self::Connected { .. } => ty::CONNECTED,
            Self::Modify { .. } => ty::MODIFY,
        }
    }

    /// The call the message is about; `None` for the link's own messages (Hello, Ping, Pong).
    pub fn call(&self) -> Option<CallId> {
        match self {
            Self::Hello { .. } | Self::Ping { .. } | Self::Pong { .. } => None,
            Self::Error { call, .. }
            | Self::Hangup { call, .. }
            | Self::Dial { call, .. }
            | Self::Alerting { call }
            | Self::Answered { call }
            | Self::MediaReady { call, .. }
            | Self::Incoming { call, .. }
            | Self::Ringback { call }
            | Self::EarlyMedia { call, .. }
            | Self::Connected { call, .. }
            | Self::Modify { call, .. } => Some(*call),
        }
    }

    /// The only side that may send this message; `None` for messages both sides send.
    pub fn sender(&self) -> Option<Side> {
        match self.type_octet() >> 4 {
            1 => Some(Side::Chand),
            2 => Some(Side::Sipd),
            _ => None,
        }
    }

    /// Whether the message creates a call (`Dial`, `Incoming`).
    pub fn creates_call(&self) -> bool {
        matches!(self, Self::Dial { .. } | Self::Incoming { .. })
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.attribute())
    }
}

impl fmt::Display for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rtp={} codec={} ptime={} dir={}",
            self.remote_rtp,
            self.codec.name(),
            self.ptime_ms,
            self.direction
        )?;
        match self.telephone_event_pt {
            Some(pt) => write!(f, " te={pt}"),
            None => f.write_str(" te=none"),
        }
    }
}

impl fmt::Display for Message {
    /// One line, for logs: the message name and its fields as `key=value`; strings quoted and
    /// escaped so a caller's name cannot break the line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hello {
                epoch,
                peer_epoch,
                ports,
            } => write!(
                f,
                "Hello epoch={epoch:016x} peer_epoch={peer_epoch:016x} ports={}",
                ports.0.len()
            ),
            Self::Ping { seq } => write!(f, "Ping seq={seq}"),
            Self::Pong { seq } => write!(f, "Pong seq={seq}"),
            Self::Error { call, code } => write!(f, "Error call={call} code={code}"),
            Self::Hangup { call, cause } => write!(f, "Hangup call={call} cause={cause}"),
            Self::Dial { call, port, digits } => {
                write!(f, "Dial call={call} port={port} digits={}", digits.as_str())
            }
            Self::Alerting { call } => write!(f, "Alerting call={call}"),
            Self::Answered { call } => write!(f, "Answered call={call}"),
            Self::MediaReady { call, local_rtp } => {
                write!(f, "MediaReady call={call} rtp={local_rtp}")
            }
            Self::Incoming {
                call,
                port,
                number,
                name,
                privacy,
            } => write!(
                f,
                "Incoming call={call} port={port} number={:?} name={:?} privacy={privacy:?}",
                number.as_str(),
                name.as_str()
            ),
            Self::Ringback { call } => write!(f, "Ringback call={call}"),
            Self::EarlyMedia { call, media } => write!(f, "EarlyMedia call={call} {media}"),
            Self::Connected { call, media } => write!(f, "Connected call={call} {media}"),
            Self::Modify { call, media } => write!(f, "Modify call={call} {media}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn media() -> impl Strategy<Value = Media> {
        (
            any::<[u8; 4]>(),
            any::<[u8; 16]>(),
            any::<bool>(),
            any::<u16>(),
            prop_oneof![Just(Codec::Pcmu), Just(Codec::Pcma)],
            10u8..=60,
            proptest::option::of(0u8..=127),
            prop_oneof![
                Just(Direction::SendRecv),
                Just(Direction::SendOnly),
                Just(Direction::RecvOnly),
                Just(Direction::Inactive)
            ],
        )
            .prop_map(|(v4, v6, six, port, codec, ptime_ms, te, direction)| {
                let ip = if six {
                    IpAddr::V6(Ipv6Addr::from(v6))
                } else {
                    IpAddr::V4(Ipv4Addr::from(v4))
                };
                Media {
                    remote_rtp: SocketAddr::new(ip, port),
                    codec,
                    ptime_ms,
                    telephone_event_pt: te,
                    direction,
                }
            })
    }

    fn text() -> impl Strategy<Value = Text> {
        "[^\\p{Cc}]{0,16}".prop_filter_map("at most 64 octets", |s| Text::try_from(&*s).ok())
    }

    fn message() -> impl Strategy<Value = Message> {
        let call = any::<u32>().prop_map(CallId);
        prop_oneof![
            (
                any::<u64>(),
                any::<u64>(),
                proptest::collection::vec(any::<u16>(), 0..40)
            )
                .prop_map(|(epoch, peer_epoch, p)| Message::Hello {
                    epoch,
                    peer_epoch,
                    ports: Ports(p)
                }),
            any::<u32>().prop_map(|seq| Message::Ping { seq }),
            any::<u32>().prop_map(|seq| Message::Pong { seq }),
            (call.clone(), 1u8..=127).prop_map(|(call, c)| Message::Hangup {
                call,
                cause: Cause(c)
            }),
            (call.clone(), 0usize..5).prop_map(|(call, i)| Message::Error {
                call,
                code: [
                    ErrorCode::UnknownCall,
                    ErrorCode::BadCallId,
                    ErrorCode::WrongDirection,
                    ErrorCode::NoHello,
                    ErrorCode::UnknownPort
                ][i]
            }),
            (call.clone(), any::<u16>(), "[0-9*#A-D]{1,32}").prop_map(|(call, port, d)| {
                Message::Dial {
                    call,
                    port,
                    digits: Digits::try_from(&*d).unwrap(),
                }
            }),
            call.clone().prop_map(|call| Message::Alerting { call }),
            call.clone().prop_map(|call| Message::Answered { call }),
            call.clone().prop_map(|call| Message::Ringback { call }),
            (call.clone(), media()).prop_map(|(call, m)| Message::MediaReady {
                call,
                local_rtp: m.remote_rtp
            }),
            (call.clone(), any::<u16>(), text(), text(), 0usize..3).prop_map(
                |(call, port, number, name, p)| Message::Incoming {
                    call,
                    port,
                    number,
                    name,
                    privacy: [Privacy::Allowed, Privacy::Restricted, Privacy::Unavailable][p],
                }
            ),
            (call.clone(), media()).prop_map(|(call, media)| Message::EarlyMedia { call, media }),
            (call.clone(), media()).prop_map(|(call, media)| Message::Connected { call, media }),
            (call, media()).prop_map(|(call, media)| Message::Modify { call, media }),
        ]
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(m in message()) {
            let bytes = m.emit();
            prop_assert!(bytes.len() <= MAX_PACKET);
            prop_assert_eq!(Message::parse(&bytes), Ok(m.clone()));
            let line = m.to_string();
            prop_assert!(!line.contains('\n'));
        }

        #[test]
        fn every_prefix_of_a_packet_is_a_clear_error(m in message()) {
            let bytes = m.emit();
            for n in 0..bytes.len() {
                prop_assert!(Message::parse(&bytes[..n]).is_err());
            }
        }
    }

    #[test]
    fn bad_packets_say_why() {
        assert_eq!(Message::parse(&[]), Err(WireError::Truncated("version")));
        assert_eq!(Message::parse(&[2, 1]), Err(WireError::Version(2)));
        assert_eq!(
            Message::parse(&[1, 0x7f]),
            Err(WireError::UnknownType(0x7f))
        );
        assert_eq!(
            Message::parse(&[1, ty::PING, 0, 0, 0, 1, 9]),
            Err(WireError::Trailing(1))
        );
        assert_eq!(
            Message::parse(&[1, ty::HANGUP, 0, 0, 0, 1, 0]),
            Err(WireError::Invalid("cause", 0))
        );
        assert_eq!(
            Message::parse(&[1, ty::DIAL, 0, 0, 0, 1, 0, 2, 2, b'1', b'x']),
            Err(WireError::BadText("digits"))
        );
        assert_eq!(
            Message::parse(&[1, ty::MEDIA_READY, 0, 0, 0, 1, 5]),
            Err(WireError::Invalid("address family", 5))
        );
        assert_eq!(
            Message::parse(&[
                1,
                ty::HELLO,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0x04,
                0x01
            ]),
            Err(WireError::TooLong("ports", 1025, Ports::MAX))
        );
        assert_eq!(
            Message::parse(&vec![1; MAX_PACKET + 1]),
            Err(WireError::TooLong("packet", MAX_PACKET + 1, MAX_PACKET))
        );
    }

    #[test]
    fn display_is_one_line_with_escaped_names() {
        let m = Message::Incoming {
            call: CallId(CallId::SIPD_BIT | 1),
            port: 2,
            number: Text::try_from("2001").unwrap(),
            name: Text::try_from("A \"B\"").unwrap(),
            privacy: Privacy::Allowed,
        };
        assert_eq!(
            m.to_string(),
            "Incoming call=80000001 port=2 number=\"2001\" name=\"A \\\"B\\\"\" privacy=Allowed"
        );
        let c = Message::Connected {
            call: CallId(1),
            media: Media {
                remote_rtp: "192.0.2.1:4000".parse().unwrap(),
                codec: Codec::Pcma,
                ptime_ms: 20,
                telephone_event_pt: Some(101),
                direction: Direction::SendRecv,
            },
        };
        assert_eq!(
            c.to_string(),
            "Connected call=00000001 rtp=192.0.2.1:4000 codec=PCMA ptime=20 dir=sendrecv te=101"
        );
        assert_eq!(c.sender(), Some(Side::Sipd));
        assert_eq!(Message::Ping { seq: 1 }.sender(), None);
    }
}
