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
use std::net::SocketAddr;

use crate::{CallId, Cause, Digits, ErrorCode, Media, PbxMwi, Privacy, Text};

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
    /// error response mapped by RFC 3398 §7.2.4.1).
    Hangup {
        /// The call.
        call: CallId,
        /// Q.850 cause.
        cause: Cause,
    },
    /// Both ways: who answered (ECMA-164 SS-CONP connectedName / RFC 3325
    /// P-Asserted-Identity), sent before `Answered` (chand: the PBX's CONNECT named its
    /// party) or before `Connected` (sipd: the 200 OK named its party); either part may be
    /// empty.
    Identity {
        /// The call.
        call: CallId,
        /// The answering party's number.
        number: Text,
        /// The answering party's name.
        name: Text,
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
    /// chand → sipd: a SETUP from the PBX on PRI span `span` (Q.931 §5.2.1, ECMA-143 §10.1):
    /// send an INVITE for `called` through the proxy, From `number` with `name` as display
    /// name (QSIG callingName, ECMA-164 §7). Numbers are already manipulated per the span.
    TrunkDial {
        /// New call id (chand's, bit 31 clear).
        call: CallId,
        /// The DAHDI span number.
        span: u16,
        /// Called party number.
        called: Digits,
        /// Calling party number, possibly empty.
        number: Text,
        /// Calling party name, possibly empty.
        name: Text,
        /// Presentation (Q.931 §4.5.10 presentation indicator).
        privacy: Privacy,
    },
    /// chand → sipd: a lamp state the PBX sent (not a call; see [`PbxMwi`]).
    PbxMwi(PbxMwi),
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
    /// sipd → chand: an INVITE whose Request-URI user part matches PRI span `span`'s numbers:
    /// send a SETUP to the PBX on a free B-channel (Q.931 §5.1.1); none free is `Hangup`
    /// with cause 34 (no circuit/channel available).
    TrunkIncoming {
        /// New call id (sipd's, bit 31 set).
        call: CallId,
        /// The DAHDI span number.
        span: u16,
        /// Called party number (the Request-URI user part).
        called: Digits,
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

mod display;
mod encoding;

#[cfg(test)]
mod tests {
    use super::encoding::ty;
    use super::*;
    use crate::{Codec, Direction, Side};
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
            (call.clone(), text(), text())
                .prop_map(|(call, number, name)| { Message::Identity { call, number, name } }),
            call.clone().prop_map(|call| Message::Alerting { call }),
            call.clone().prop_map(|call| Message::Answered { call }),
            call.clone().prop_map(|call| Message::Ringback { call }),
            (
                call.clone(),
                any::<u16>(),
                "[0-9*#A-D]{1,32}",
                text(),
                text(),
                0usize..3,
                any::<bool>()
            )
                .prop_map(|(call, span, d, number, name, p, dial)| {
                    let called = Digits::try_from(&*d).unwrap();
                    let privacy = [Privacy::Allowed, Privacy::Restricted, Privacy::Unavailable][p];
                    if dial {
                        Message::TrunkDial {
                            call,
                            span,
                            called,
                            number,
                            name,
                            privacy,
                        }
                    } else {
                        Message::TrunkIncoming {
                            call,
                            span,
                            called,
                            number,
                            name,
                            privacy,
                        }
                    }
                }),
            (
                any::<u16>(),
                "[0-9*#]{1,32}",
                any::<bool>(),
                proptest::option::of(any::<u16>())
            )
                .prop_map(|(span, d, on, messages)| Message::PbxMwi(PbxMwi {
                    span,
                    number: Digits::try_from(&*d).unwrap(),
                    on,
                    messages
                })),
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
        let t = Message::TrunkDial {
            call: CallId(7),
            span: 1,
            called: Digits::try_from("789").unwrap(),
            number: Text::try_from("2001").unwrap(),
            name: Text::try_from("Ann").unwrap(),
            privacy: Privacy::Allowed,
        };
        assert_eq!(
            t.to_string(),
            "TrunkDial call=00000007 span=1 called=789 number=\"2001\" name=\"Ann\" privacy=Allowed"
        );
        assert_eq!(t.sender(), Some(Side::Chand));
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
