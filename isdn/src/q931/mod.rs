//! Q.931 / ECMA-143 messages for basic call and call-independent signalling on a PRI
//! D-channel.
//!
//! A message is `08` (protocol discriminator), the call reference (length octet + 0..2
//! octets), the message type, then information elements (Q.931 §4). [`Packet`] is a checked
//! view of the header; [`Message`] is the parsed form (`Repr`), which also emits.
//!
//! Decoding never fails on IE content: per Q.931 §5.8 the receiver must still act on what it
//! understands. Recognised IEs whose content is malformed land in [`Message::invalid`], IEs
//! this module does not know (and IEs of other codesets, and single-octet IEs) in
//! [`Message::unknown`], unknown message types in [`MessageType::Other`]. [`Message::check`]
//! turns that into the §5.8 verdict (cause 96/97/99/100) and [`Message::status`] builds the
//! STATUS answer. Only a broken header (protocol discriminator, call reference length,
//! truncation before the message type) is an [`Error`]; §5.8.1-5.8.3 say to ignore those.
//!
//! Builders for what SS-MWI needs: [`Message::setup_cis`] (byte-identical to libpri's
//! MWIActivate SETUP), [`Message::new_facility`] on [`CallReference::Dummy`] for the
//! connectionless transport, [`Message::release_complete`], [`Message::release`].
//!
//! One MWIActivate over a call-independent signalling connection, and the two answers a PBX
//! gives (RELEASE COMPLETE, or CONNECT carrying the ROSE ReturnResult):
//!
//! ```
//! use isdn::q931::{CallReference, Message, MessageType, PartyNumberIe, Verdict};
//! use isdn::qsig::{BasicService, MwiActivateArg, MwiInvoke, PartyNumber};
//! use isdn::rose::{Component, Facility};
//!
//! let invoke = MwiInvoke::Activate(MwiActivateArg {
//!     nb_of_messages: Some(2),
//!     ..MwiActivateArg::new(PartyNumber::Unknown("1234".into()), BasicService::Speech)
//! });
//! let facility = invoke.facility(1); // invokeId 1
//! let cr = CallReference::Call { value: 1, flag: false };
//! let setup = Message::setup_cis(cr, &facility, None, Some(PartyNumberIe::unknown("1234")));
//! let bytes = setup.to_vec(); // the Q.931 part of a Q.921 I-frame
//! assert_eq!(&bytes[..5], &[0x08, 0x02, 0x00, 0x01, 0x05]);
//!
//! // Answer 1: RELEASE COMPLETE, cause 69 (libpri). The flag is set: sent to the originator.
//! let rlc = [0x08, 0x02, 0x80, 0x01, 0x5a, 0x08, 0x02, 0x81, 0xc5];
//! let m = Message::parse(&rlc).unwrap();
//! assert_eq!(m.check(), Verdict::Ok);
//! assert_eq!(m.call_reference.reply(), cr);
//! assert_eq!((m.message_type, m.cause.unwrap().value), (MessageType::ReleaseComplete, 69));
//!
//! // Answer 2: CONNECT with a Facility IE holding the ReturnResult for invokeId 1.
//! let result = isdn::qsig::return_result_facility(1, 80, isdn::qsig::DUMMY_RES);
//! let connect = Message { facility: vec![&result], ..Message::new(cr.reply(), MessageType::Connect) };
//! let wire = connect.to_vec();
//! let m = Message::parse(&wire).unwrap();
//! let f = Facility::parse(m.facility[0]).unwrap();
//! assert!(matches!(f.components[0], Component::ReturnResult(r) if r.invoke_id == 1));
//! ```

use crate::ber::int_enum;
use std::fmt;

mod display;
mod elements;
mod message;

pub use elements::{
    transfer_capability, BearerCapability, Cause, ChannelId, Layer1, Location, NumberingPlan,
    PartyNumberIe, Presentation, ProgressIndicator, RawIe, RestartClass, TypeOfNumber, DISPLAY_MAX,
};
pub use message::{Message, Packet, Verdict};

/// Q.931 protocol discriminator (Q.931 §4.2).
pub const PROTOCOL_DISCRIMINATOR: u8 = 0x08;

/// Header errors: Q.931 §5.8.1-5.8.3 say to ignore such a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than protocol discriminator + call reference + message type.
    Truncated,
    /// The protocol discriminator is not `08` (the value found).
    ProtocolDiscriminator(u8),
    /// The call reference length octet is not 0, 1 or 2, or its spare bits are set.
    CallReferenceLength(u8),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("Q.931: message too short"),
            Error::ProtocolDiscriminator(p) => write!(f, "Q.931: protocol discriminator {p:#04x}"),
            Error::CallReferenceLength(l) => write!(f, "Q.931: call reference length {l:#04x}"),
        }
    }
}

impl std::error::Error for Error {}

/// Call reference (Q.931 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallReference {
    /// The dummy call reference (length 0, `08 00`): connectionless FACILITY (ECMA-165 §7.3).
    Dummy,
    /// A call reference value. Emitted as 2 octets (PRI); a 1-octet (BRI) value decodes too.
    Call {
        /// Call reference value, 15 bits (0 is the global call reference).
        value: u16,
        /// Call reference flag: `false` in messages sent by the side that allocated the
        /// value, `true` in messages sent to it.
        flag: bool,
    },
}

impl CallReference {
    /// The same call reference as seen by the other side (flag inverted): what to put in an
    /// answer. The dummy call reference stays dummy.
    pub fn reply(self) -> CallReference {
        match self {
            CallReference::Dummy => CallReference::Dummy,
            CallReference::Call { value, flag } => CallReference::Call { value, flag: !flag },
        }
    }
}

int_enum!(
    u8,
    /// Message type (Q.931 §4.4, Table 4-2). The types of basic call and call-independent
    /// signalling have names; anything else is `Other`, to be answered with STATUS cause 97.
    MessageType {
        /// `01` ALERTING.
        Alerting = 0x01,
        /// `02` CALL PROCEEDING.
        CallProceeding = 0x02,
        /// `03` PROGRESS.
        Progress = 0x03,
        /// `05` SETUP.
        Setup = 0x05,
        /// `07` CONNECT.
        Connect = 0x07,
        /// `0f` CONNECT ACKNOWLEDGE.
        ConnectAcknowledge = 0x0f,
        /// `45` DISCONNECT.
        Disconnect = 0x45,
        /// `46` RESTART.
        Restart = 0x46,
        /// `4d` RELEASE.
        Release = 0x4d,
        /// `4e` RESTART ACKNOWLEDGE.
        RestartAcknowledge = 0x4e,
        /// `5a` RELEASE COMPLETE.
        ReleaseComplete = 0x5a,
        /// `62` FACILITY.
        Facility = 0x62,
        /// `75` STATUS ENQUIRY.
        StatusEnquiry = 0x75,
        /// `7d` STATUS.
        Status = 0x7d,
    }
);

/// Information element identifiers of codeset 0 (Q.931 §4.5, Table 4-3).
pub mod ie {
    /// Bearer capability.
    pub const BEARER_CAPABILITY: u8 = 0x04;
    /// Cause.
    pub const CAUSE: u8 = 0x08;
    /// Call state.
    pub const CALL_STATE: u8 = 0x14;
    /// Channel identification.
    pub const CHANNEL_IDENTIFICATION: u8 = 0x18;
    /// Facility.
    pub const FACILITY: u8 = 0x1c;
    /// Progress indicator.
    pub const PROGRESS_INDICATOR: u8 = 0x1e;
    /// Display.
    pub const DISPLAY: u8 = 0x28;
    /// Calling party number.
    pub const CALLING_PARTY_NUMBER: u8 = 0x6c;
    /// Called party number.
    pub const CALLED_PARTY_NUMBER: u8 = 0x70;
    /// Restart indicator.
    pub const RESTART_INDICATOR: u8 = 0x79;
}

/// Progress descriptions of the progress indicator IE (Q.931 §4.5.23).
pub mod progress {
    /// 1 call is not end-to-end ISDN; further progress information may be in-band.
    pub const NOT_END_TO_END_ISDN: u8 = 1;
    /// 2 destination address is non-ISDN.
    pub const DESTINATION_NON_ISDN: u8 = 2;
    /// 3 origination address is non-ISDN (what a gateway from SIP puts in its SETUP).
    pub const ORIGINATION_NON_ISDN: u8 = 3;
    /// 4 call has returned to the ISDN.
    pub const RETURNED_TO_ISDN: u8 = 4;
    /// 8 in-band information or an appropriate pattern is now available.
    pub const IN_BAND_AVAILABLE: u8 = 8;
}

/// Cause values used by this crate and its callers (Q.850).
pub mod cause {
    /// 1 unallocated (unassigned) number.
    pub const UNALLOCATED_NUMBER: u8 = 1;
    /// 17 user busy.
    pub const USER_BUSY: u8 = 17;
    /// 18 no user responding.
    pub const NO_USER_RESPONDING: u8 = 18;
    /// 19 no answer from user (user alerted).
    pub const NO_ANSWER: u8 = 19;
    /// 21 call rejected.
    pub const CALL_REJECTED: u8 = 21;
    /// 27 destination out of order.
    pub const DESTINATION_OUT_OF_ORDER: u8 = 27;
    /// 34 no circuit/channel available.
    pub const NO_CIRCUIT_AVAILABLE: u8 = 34;
    /// 44 requested circuit/channel not available.
    pub const REQUESTED_CHANNEL_UNAVAILABLE: u8 = 44;
    /// 65 bearer capability not implemented.
    pub const BEARER_CAPABILITY_NOT_IMPLEMENTED: u8 = 65;
    /// 82 identified channel does not exist.
    pub const CHANNEL_DOES_NOT_EXIST: u8 = 82;
    /// 16 normal call clearing.
    pub const NORMAL_CLEARING: u8 = 16;
    /// 30 response to STATUS ENQUIRY.
    pub const RESPONSE_TO_STATUS_ENQUIRY: u8 = 30;
    /// 31 normal, unspecified.
    pub const NORMAL_UNSPECIFIED: u8 = 31;
    /// 41 temporary failure.
    pub const TEMPORARY_FAILURE: u8 = 41;
    /// 47 resource unavailable, unspecified.
    pub const RESOURCE_UNAVAILABLE: u8 = 47;
    /// 50 requested facility not subscribed.
    pub const FACILITY_NOT_SUBSCRIBED: u8 = 50;
    /// 69 requested facility not implemented (libpri's answer to an MWI invoke).
    pub const FACILITY_NOT_IMPLEMENTED: u8 = 69;
    /// 81 invalid call reference value.
    pub const INVALID_CALL_REFERENCE: u8 = 81;
    /// 96 mandatory information element is missing.
    pub const MANDATORY_IE_MISSING: u8 = 96;
    /// 97 message type non-existent or not implemented.
    pub const MESSAGE_TYPE_NONEXISTENT: u8 = 97;
    /// 98 message not compatible with call state or message type non-existent.
    pub const MESSAGE_NOT_COMPATIBLE: u8 = 98;
    /// 99 information element / parameter non-existent or not implemented.
    pub const IE_NONEXISTENT: u8 = 99;
    /// 100 invalid information element contents.
    pub const INVALID_IE_CONTENTS: u8 = 100;
    /// 101 message not compatible with call state.
    pub const MESSAGE_NOT_COMPATIBLE_WITH_STATE: u8 = 101;
    /// 102 recovery on timer expiry.
    pub const RECOVERY_ON_TIMER_EXPIRY: u8 = 102;
    /// 111 protocol error, unspecified.
    pub const PROTOCOL_ERROR: u8 = 111;
}

/// Call state values (Q.931 §4.5.7) for the call state IE of STATUS.
pub mod call_state {
    /// U0/N0 Null.
    pub const NULL: u8 = 0;
    /// U1/N1 Call initiated.
    pub const CALL_INITIATED: u8 = 1;
    /// U3/N3 Outgoing call proceeding.
    pub const OUTGOING_CALL_PROCEEDING: u8 = 3;
    /// U4/N4 Call delivered.
    pub const CALL_DELIVERED: u8 = 4;
    /// U6/N6 Call present.
    pub const CALL_PRESENT: u8 = 6;
    /// U7/N7 Call received.
    pub const CALL_RECEIVED: u8 = 7;
    /// U8/N8 Connect request.
    pub const CONNECT_REQUEST: u8 = 8;
    /// U9/N9 Incoming call proceeding.
    pub const INCOMING_CALL_PROCEEDING: u8 = 9;
    /// U10/N10 Active.
    pub const ACTIVE: u8 = 10;
    /// U11/N11 Disconnect request.
    pub const DISCONNECT_REQUEST: u8 = 11;
    /// U12/N12 Disconnect indication.
    pub const DISCONNECT_INDICATION: u8 = 12;
    /// U19/N19 Release request.
    pub const RELEASE_REQUEST: u8 = 19;
}
