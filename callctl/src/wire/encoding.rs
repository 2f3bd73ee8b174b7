//! The octets of each [`Message`]: reading a packet field by field, with every length and
//! value checked, and writing it back canonically.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Message, Ports, WireError, MAX_PACKET, VERSION};
use crate::{
    CallId, Cause, Codec, Digits, Direction, ErrorCode, Media, PbxMwi, Privacy, Side, Text,
};

pub(super) mod ty {
    pub const HELLO: u8 = 0x01;
    pub const PING: u8 = 0x02;
    pub const PONG: u8 = 0x03;
    pub const ERROR: u8 = 0x04;
    pub const HANGUP: u8 = 0x05;
    pub const IDENTITY: u8 = 0x06;
    pub const DIAL: u8 = 0x10;
    pub const ALERTING: u8 = 0x11;
    pub const ANSWERED: u8 = 0x12;
    pub const MEDIA_READY: u8 = 0x13;
    pub const TRUNK_DIAL: u8 = 0x14;
    pub const PBX_MWI: u8 = 0x15;
    pub const INCOMING: u8 = 0x20;
    pub const RINGBACK: u8 = 0x21;
    pub const EARLY_MEDIA: u8 = 0x22;
    pub const CONNECTED: u8 = 0x23;
    pub const MODIFY: u8 = 0x24;
    pub const TRUNK_INCOMING: u8 = 0x25;
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

    fn digits(&mut self, field: &'static str) -> Result<Digits, WireError> {
        Digits::try_from(self.str(field)?).map_err(|_| WireError::BadText(field))
    }

    fn privacy(&mut self) -> Result<Privacy, WireError> {
        match self.u8("privacy")? {
            0 => Ok(Privacy::Allowed),
            1 => Ok(Privacy::Restricted),
            2 => Ok(Privacy::Unavailable),
            p => Err(WireError::Invalid("privacy", p.into())),
        }
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

fn put_party(out: &mut Vec<u8>, number: &Text, name: &Text, privacy: Privacy) {
    put_str(out, number.as_str());
    put_str(out, name.as_str());
    out.push(match privacy {
        Privacy::Allowed => 0,
        Privacy::Restricted => 1,
        Privacy::Unavailable => 2,
    });
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
            ty::IDENTITY => Self::Identity {
                call: r.call()?,
                number: r.text("number")?,
                name: r.text("name")?,
            },
            ty::DIAL => {
                let call = r.call()?;
                let port = r.u16("port")?;
                let digits = r.digits("digits")?;
                Self::Dial { call, port, digits }
            }
            ty::TRUNK_DIAL => Self::TrunkDial {
                call: r.call()?,
                span: r.u16("span")?,
                called: r.digits("called")?,
                number: r.text("number")?,
                name: r.text("name")?,
                privacy: r.privacy()?,
            },
            ty::PBX_MWI => Self::PbxMwi(PbxMwi {
                span: r.u16("span")?,
                number: r.digits("number")?,
                on: match r.u8("on")? {
                    0 => false,
                    1 => true,
                    v => return Err(WireError::Invalid("on", v.into())),
                },
                messages: match r.u8("messages present")? {
                    0 => None,
                    1 => Some(r.u16("messages")?),
                    v => return Err(WireError::Invalid("messages present", v.into())),
                },
            }),
            ty::TRUNK_INCOMING => Self::TrunkIncoming {
                call: r.call()?,
                span: r.u16("span")?,
                called: r.digits("called")?,
                number: r.text("number")?,
                name: r.text("name")?,
                privacy: r.privacy()?,
            },
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
                privacy: r.privacy()?,
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
            Self::PbxMwi(m) => {
                out.extend_from_slice(&m.span.to_be_bytes());
                put_str(&mut out, m.number.as_str());
                out.push(u8::from(m.on));
                match m.messages {
                    None => out.push(0),
                    Some(n) => {
                        out.push(1);
                        out.extend_from_slice(&n.to_be_bytes());
                    }
                }
            }
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
            Self::Identity { number, name, .. } => {
                put_str(&mut out, number.as_str());
                put_str(&mut out, name.as_str());
            }
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
                put_party(&mut out, number, name, *privacy);
            }
            Self::TrunkDial {
                span,
                called,
                number,
                name,
                privacy,
                ..
            }
            | Self::TrunkIncoming {
                span,
                called,
                number,
                name,
                privacy,
                ..
            } => {
                out.extend_from_slice(&span.to_be_bytes());
                put_str(&mut out, called.as_str());
                put_party(&mut out, number, name, *privacy);
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
            Self::Identity { .. } => ty::IDENTITY,
            Self::Dial { .. } => ty::DIAL,
            Self::Alerting { .. } => ty::ALERTING,
            Self::Answered { .. } => ty::ANSWERED,
            Self::MediaReady { .. } => ty::MEDIA_READY,
            Self::TrunkDial { .. } => ty::TRUNK_DIAL,
            Self::PbxMwi(_) => ty::PBX_MWI,
            Self::Incoming { .. } => ty::INCOMING,
            Self::Ringback { .. } => ty::RINGBACK,
            Self::EarlyMedia { .. } => ty::EARLY_MEDIA,
            Self::Connected { .. } => ty::CONNECTED,
            Self::Modify { .. } => ty::MODIFY,
            Self::TrunkIncoming { .. } => ty::TRUNK_INCOMING,
        }
    }

    /// The call the message is about; `None` for the link's own messages (Hello, Ping, Pong)
    /// and for state (`PbxMwi`).
    pub fn call(&self) -> Option<CallId> {
        match self {
            Self::Hello { .. } | Self::Ping { .. } | Self::Pong { .. } | Self::PbxMwi(_) => None,
            Self::Error { call, .. }
            | Self::Hangup { call, .. }
            | Self::Identity { call, .. }
            | Self::Dial { call, .. }
            | Self::Alerting { call }
            | Self::Answered { call }
            | Self::MediaReady { call, .. }
            | Self::Incoming { call, .. }
            | Self::TrunkDial { call, .. }
            | Self::TrunkIncoming { call, .. }
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

    /// Whether the message creates a call (`Dial`, `Incoming`, `TrunkDial`, `TrunkIncoming`).
    pub fn creates_call(&self) -> bool {
        matches!(
            self,
            Self::Dial { .. }
                | Self::Incoming { .. }
                | Self::TrunkDial { .. }
                | Self::TrunkIncoming { .. }
        )
    }
}
