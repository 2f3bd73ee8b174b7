//! The call-control channel between sipd and chand, sans-IO (the contract of the `sansio`
//! crate).
//!
//! sipd does all SIP signalling (INVITE dialogs, SDP offer/answer, REGISTER per line); chand
//! does all TDM signalling and all media, RTP included. Between them runs one `SOCK_SEQPACKET`
//! connection carrying one typed [`wire::Message`] per packet:
//!
//! - [`wire`]: the messages, their binary encoding (version byte, type byte, length-checked
//!   fields) and their one-line `Display` for logs.
//! - [`link`]: one side's protocol core: the `Hello` exchange of epochs, keep-alive pings,
//!   the bounded table of the calls the link carries, and [`link::Event::CallsLost`] when the
//!   peer restarts or goes silent, so the owner tears those calls down (BYE, reorder tone)
//!   without touching MWI, which lives in the shared table and not on this channel.
//!
//! The value types below are the channel's vocabulary: call ids, Q.850 causes with their
//! RFC 3398 mapping to SIP responses, the G.711 codecs and the media description of a call.
#![forbid(unsafe_code)]

use std::fmt;
use std::net::SocketAddr;

pub mod link;
pub mod wire;

/// The two ends of the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The SIP daemon.
    Sipd,
    /// The channel daemon.
    Chand,
}

impl Side {
    /// The other end.
    pub fn peer(self) -> Self {
        match self {
            Self::Sipd => Self::Chand,
            Self::Chand => Self::Sipd,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sipd => "sipd",
            Self::Chand => "chand",
        })
    }
}

/// One call on the channel. The side that creates a call picks its id: bit 31 set for sipd
/// (incoming SIP calls), clear for chand (calls dialled on a port), so the two never collide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u32);

impl CallId {
    /// The bit that marks sipd's ids.
    pub const SIPD_BIT: u32 = 1 << 31;

    /// The side that created this call.
    pub fn creator(self) -> Side {
        if self.0 & Self::SIPD_BIT != 0 {
            Side::Sipd
        } else {
            Side::Chand
        }
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// Why a call ended: an ITU-T Q.850 cause value (1..=127), the currency of the RFC 3398
/// mapping between ISDN/TDM and SIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cause(pub u8);

impl Cause {
    /// Q.850 cause 1, unallocated (unassigned) number.
    pub const UNALLOCATED_NUMBER: Self = Self(1);
    /// Q.850 cause 16, normal call clearing.
    pub const NORMAL_CLEARING: Self = Self(16);
    /// Q.850 cause 17, user busy.
    pub const USER_BUSY: Self = Self(17);
    /// Q.850 cause 18, no user responding.
    pub const NO_USER_RESPONDING: Self = Self(18);
    /// Q.850 cause 19, no answer from user (user alerted).
    pub const NO_ANSWER: Self = Self(19);
    /// Q.850 cause 20, subscriber absent.
    pub const SUBSCRIBER_ABSENT: Self = Self(20);
    /// Q.850 cause 21, call rejected.
    pub const CALL_REJECTED: Self = Self(21);
    /// Q.850 cause 22, number changed.
    pub const NUMBER_CHANGED: Self = Self(22);
    /// Q.850 cause 25, exchange routing error.
    pub const EXCHANGE_ROUTING_ERROR: Self = Self(25);
    /// Q.850 cause 27, destination out of order.
    pub const DESTINATION_OUT_OF_ORDER: Self = Self(27);
    /// Q.850 cause 28, invalid number format (address incomplete).
    pub const INVALID_NUMBER_FORMAT: Self = Self(28);
    /// Q.850 cause 31, normal, unspecified.
    pub const NORMAL_UNSPECIFIED: Self = Self(31);
    /// Q.850 cause 34, no circuit/channel available.
    pub const NO_CIRCUIT: Self = Self(34);
    /// Q.850 cause 38, network out of order.
    pub const NETWORK_OUT_OF_ORDER: Self = Self(38);
    /// Q.850 cause 41, temporary failure.
    pub const TEMPORARY_FAILURE: Self = Self(41);
    /// Q.850 cause 42, switching equipment congestion.
    pub const CONGESTION: Self = Self(42);
    /// Q.850 cause 63, service or option not available, unspecified.
    pub const SERVICE_UNAVAILABLE: Self = Self(63);
    /// Q.850 cause 65, bearer capability not implemented.
    pub const BEARER_NOT_IMPLEMENTED: Self = Self(65);
    /// Q.850 cause 79, service or option not implemented, unspecified.
    pub const NOT_IMPLEMENTED: Self = Self(79);
    /// Q.850 cause 88, incompatible destination.
    pub const INCOMPATIBLE_DESTINATION: Self = Self(88);
    /// Q.850 cause 102, recovery on timer expiry.
    pub const TIMER_EXPIRY: Self = Self(102);
    /// Q.850 cause 111, protocol error, unspecified.
    pub const PROTOCOL_ERROR: Self = Self(111);
    /// Q.850 cause 127, interworking, unspecified.
    pub const INTERWORKING: Self = Self(127);

    /// The cause of a SIP final error response (RFC 3398 §7.2.4.1, SIP to ISUP: the REL
    /// sent on receipt of a 4xx-6xx). Codes the table leaves
    /// open (487, 488, 606: "by Warning header", and codes it does not list) give
    /// [`Cause::INTERWORKING`]; 487 means the call was cancelled, which the owner already knows.
    pub fn from_sip_status(code: u16) -> Self {
        match code {
            400 | 481 | 500 | 503 => Self::TEMPORARY_FAILURE,
            401..=403 | 407 | 603 => Self::CALL_REJECTED,
            404 | 485 | 604 => Self::UNALLOCATED_NUMBER,
            405 => Self::SERVICE_UNAVAILABLE,
            406 | 415 | 501 => Self::NOT_IMPLEMENTED,
            408 | 504 => Self::TIMER_EXPIRY,
            410 => Self::NUMBER_CHANGED,
            480 => Self::NO_USER_RESPONDING,
            482 | 483 => Self::EXCHANGE_ROUTING_ERROR,
            484 => Self::INVALID_NUMBER_FORMAT,
            486 | 600 => Self::USER_BUSY,
            502 => Self::NETWORK_OUT_OF_ORDER,
            _ => Self::INTERWORKING,
        }
    }

    /// The SIP final response for a call that chand refuses or ends before it is answered
    /// (RFC 3398 §8.2.6.1, ISUP to SIP: ISDN cause code to status code; 22 "with
    /// diagnostic", 301, needs a new target the cause alone does not carry, so 22 gives 410).
    /// Causes the table does not list give 500, as its cause 127 does.
    /// Cause 16 (normal clearing) has no response in the table (the call ends by BYE or
    /// CANCEL); it gives 480 here for the rare case of clearing before an answer.
    pub fn to_sip_status(self) -> u16 {
        match self.0 {
            1..=3 | 26 => 404,
            17 => 486,
            18 => 408,
            16 | 19 | 20 | 31 => 480,
            21 | 55 | 57 | 87 => 403,
            22 | 23 => 410,
            27 => 502,
            28 => 484,
            29 | 79 => 501,
            34 | 38 | 41 | 42 | 47 | 58 | 88 => 503,
            65 | 70 => 488,
            102 => 504,
            _ => 500,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The codecs of a call: G.711 only (RFC 3551 §4.5.14), 8000 Hz, no transcoding when the
/// line's law matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551 Table 4).
    pub fn payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The codec of a static payload type, `None` for any other.
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            _ => None,
        }
    }

    /// The encoding name of `a=rtpmap` (RFC 3551 §6).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }
}

/// Which way media flows, from the receiver of the message's point of view (RFC 3264 §6.1:
/// sendrecv, sendonly, recvonly, inactive; hold is sendonly or inactive from the holder).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// chand sends only (the far end holds the call and still wants our audio).
    SendOnly,
    /// chand receives only (the far end put us on hold with music).
    RecvOnly,
    /// No media either way.
    Inactive,
}

impl Direction {
    /// The SDP attribute name (RFC 4566 §6).
    pub fn attribute(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction the other end sees: sendonly and recvonly swap (RFC 3264 §6.1).
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            d => d,
        }
    }
}

/// What chand needs to run a call's RTP: the result of sipd's SDP offer/answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Media {
    /// Where to send RTP (RTCP goes to port + 1, RFC 3550 §11).
    pub remote_rtp: SocketAddr,
    /// The codec both sides agreed.
    pub codec: Codec,
    /// Packetisation time in ms (RFC 4566 §6 `a=ptime`), 10..=60.
    pub ptime_ms: u8,
    /// The RTP payload type of telephone-event (RFC 4733 §7), `None` when the far end has none.
    pub telephone_event_pt: Option<u8>,
    /// Which way media flows, from chand's point of view.
    pub direction: Direction,
}

/// How the caller asked the network to present its identity (GR-30 MDMF reason codes
/// `P` and `O`; ETSI EN 300 659-3 §5.4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Privacy {
    /// Number and name may be shown.
    Allowed,
    /// The caller withheld its identity (MDMF "P", private).
    Restricted,
    /// The network does not know it (MDMF "O", out of area).
    Unavailable,
}

/// What the receiver of a message could not do with it (the `Error` message's code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The call id is not one the receiver knows.
    UnknownCall,
    /// A call-creating message reused an id that is in use, or carried the other side's id.
    BadCallId,
    /// The message came from the wrong side (e.g. `Dial` from sipd).
    WrongDirection,
    /// A call message arrived before the sender's `Hello`.
    NoHello,
    /// The port in a call-creating message is not one the receiver serves.
    UnknownPort,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownCall => "unknown-call",
            Self::BadCallId => "bad-call-id",
            Self::WrongDirection => "wrong-direction",
            Self::NoHello => "no-hello",
            Self::UnknownPort => "unknown-port",
        })
    }
}

/// A lamp state the PBX sent on a PRI span (an MWIActivate or MWIDeactivate invoke from the
/// PBX, ECMA-242 §6.3 / ETSI EN 300 745-1), for sipd to record and to NOTIFY to its
/// subscribers (RFC 3842). chand sends the last state of every number again after each
/// `Hello` from a new sipd epoch, so a restarted sipd loses none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PbxMwi {
    /// The DAHDI span number it came from.
    pub span: u16,
    /// servedUserNr: the mailbox whose state it is.
    pub number: Digits,
    /// MWIActivate (`true`) or MWIDeactivate (`false`).
    pub on: bool,
    /// nbOfMessages, when the PBX sent it.
    pub messages: Option<u16>,
}

/// Dialled digits: 1..=[`Digits::MAX`] of `0-9 * # A-D` (the DTMF keys, ITU-T Q.23).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Digits(String);

impl Digits {
    /// Most digits in one `Dial` (E.164 numbers have at most 15; room for prefixes).
    pub const MAX: usize = 32;

    /// The digits, as dialled.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Digits {
    type Error = TextError;
    fn try_from(s: &str) -> Result<Self, TextError> {
        if s.is_empty() || s.len() > Self::MAX {
            return Err(TextError::Length(s.len(), Self::MAX));
        }
        match s
            .chars()
            .find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D'))
        {
            Some(c) => Err(TextError::Char(c)),
            None => Ok(Self(s.to_owned())),
        }
    }
}

/// A caller's number or name for caller ID: 0..=[`Text::MAX`] octets of UTF-8 without
/// control characters (MDMF carries at most 15 name characters; chand truncates there).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Text(String);

impl Text {
    /// Most octets.
    pub const MAX: usize = 64;

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Text {
    type Error = TextError;
    fn try_from(s: &str) -> Result<Self, TextError> {
        if s.len() > Self::MAX {
            return Err(TextError::Length(s.len(), Self::MAX));
        }
        match s.chars().find(|c| c.is_control()) {
            Some(c) => Err(TextError::Char(c)),
            None => Ok(Self(s.to_owned())),
        }
    }
}

/// Why a string is not valid [`Digits`] or [`Text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextError {
    /// Length in octets and the most allowed (digits also need at least one).
    Length(usize, usize),
    /// A character not allowed.
    Char(char),
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length(n, max) => write!(f, "{n} octets (1..={max} digits or 0..={max} text)"),
            Self::Char(c) => write!(f, "character {c:?} not allowed"),
        }
    }
}

impl std::error::Error for TextError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of RFC 3398 §8.2.6.1 (ISDN cause code to SIP status code), cause 16 aside:
    /// the table maps it to no response.
    const CAUSE_TO_STATUS: [(u8, u16); 32] = [
        (1, 404),
        (2, 404),
        (3, 404),
        (17, 486),
        (18, 408),
        (19, 480),
        (20, 480),
        (21, 403),
        (22, 410),
        (23, 410),
        (26, 404),
        (27, 502),
        (28, 484),
        (29, 501),
        (31, 480),
        (34, 503),
        (38, 503),
        (41, 503),
        (42, 503),
        (47, 503),
        (55, 403),
        (57, 403),
        (58, 503),
        (65, 488),
        (70, 488),
        (79, 501),
        (87, 403),
        (88, 503),
        (102, 504),
        (111, 500),
        (127, 500),
        // Not in the table: 500, as for 127.
        (99, 500),
    ];

    /// Every row of RFC 3398 §7.2.4.1 (SIP response received to the cause of the REL); 487,
    /// 488 and 606 ("no mapping", "by Warning header") give 127 here.
    const STATUS_TO_CAUSE: [(u16, u8); 37] = [
        (400, 41),
        (401, 21),
        (402, 21),
        (403, 21),
        (404, 1),
        (405, 63),
        (406, 79),
        (407, 21),
        (408, 102),
        (410, 22),
        (413, 127),
        (414, 127),
        (415, 79),
        (416, 127),
        (420, 127),
        (421, 127),
        (423, 127),
        (480, 18),
        (481, 41),
        (482, 25),
        (483, 25),
        (484, 28),
        (485, 1),
        (486, 17),
        (487, 127),
        (488, 127),
        (500, 41),
        (501, 79),
        (502, 38),
        (503, 41),
        (504, 102),
        (505, 127),
        (513, 127),
        (600, 17),
        (603, 21),
        (604, 1),
        (606, 127),
    ];

    #[test]
    fn rfc3398_8_2_6_1_every_cause_row() {
        for (cause, status) in CAUSE_TO_STATUS {
            assert_eq!(Cause(cause).to_sip_status(), status, "cause {cause}");
        }
        assert_eq!(Cause::NORMAL_CLEARING.to_sip_status(), 480);
    }

    #[test]
    fn rfc3398_7_2_4_1_every_status_row() {
        for (status, cause) in STATUS_TO_CAUSE {
            assert_eq!(
                Cause::from_sip_status(status),
                Cause(cause),
                "status {status}"
            );
        }
    }

    #[test]
    fn rfc3398_maps_busy_and_unavailable_both_ways() {
        assert_eq!(Cause::from_sip_status(486), Cause::USER_BUSY);
        assert_eq!(Cause::USER_BUSY.to_sip_status(), 486);
        assert_eq!(Cause::from_sip_status(480), Cause::NO_USER_RESPONDING);
        assert_eq!(Cause::from_sip_status(503), Cause::TEMPORARY_FAILURE);
        assert_eq!(Cause::NO_CIRCUIT.to_sip_status(), 503);
    }

    #[test]
    fn call_ids_name_their_creator() {
        assert_eq!(CallId(7).creator(), Side::Chand);
        assert_eq!(CallId(CallId::SIPD_BIT | 7).creator(), Side::Sipd);
        assert_eq!(Side::Sipd.peer(), Side::Chand);
    }

    #[test]
    fn digits_and_text_are_checked() {
        assert!(Digits::try_from("*98").is_ok());
        assert_eq!(Digits::try_from(""), Err(TextError::Length(0, 32)));
        assert_eq!(Digits::try_from("12e"), Err(TextError::Char('e')));
        assert_eq!(Text::try_from("a\nb"), Err(TextError::Char('\n')));
        assert!(Text::try_from(&*"x".repeat(65)).is_err());
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
    }
}
