//! ETSI DSS1 message waiting indication (ETSI EN 300 745-1, the MWI supplementary service of
//! EN 300 650): the ROSE operations, their arguments and errors, carried in a Facility IE
//! with the plain ROSE protocol profile `0x91` ([`RoseFacility`], EN 300 196-1 §D.1).
//!
//! | operation | operationValue (globalValue) | argument | result |
//! | --- | --- | --- | --- |
//! | mwiActivate | {0 4 0 745 1 1} | [`MwiActivateArg`] | DummyRes (absent) |
//! | mwiDeactivate | {0 4 0 745 1 2} | [`MwiDeactivateArg`] | DummyRes (absent) |
//! | mwiIndicate | {0 4 0 745 1 3} | [`MwiIndicateArg`] | none (no answer) |
//!
//! Unlike QSIG's local values (ECMA-242: 80, 81, 82) the ETSI operation and error values are
//! OBJECT IDENTIFIERs under `{ccitt(0) identified-organization(4) etsi(0) 745
//! operations-and-errors(1)}`. The controlling user (the message centre) sends mwiActivate /
//! mwiDeactivate to the network; the network tells the receiving user with mwiIndicate.
//!
//! Encoding: definite short lengths, minimal integers, optional elements in ASN.1 order.
//! Decoding is tolerant (elements found by tag, unknown ones skipped) and never panics.
//!
//! ```
//! use isdn::etsi::{MwiActivateArg, MwiInvoke};
//! use isdn::qsig::{BasicService, PartyNumber};
//! let arg = MwiActivateArg::new(PartyNumber::Unknown("1234".into()), BasicService::Speech);
//! let facility_ie_content = MwiInvoke::Activate(arg).facility(1);
//! assert_eq!(facility_ie_content[0], 0x91);
//! ```

use std::fmt;

use crate::ber::{self, int_enum, Class, Reader, Tag, Tlv, Writer};
use crate::qsig::{BasicService, Error, PartyNumber};
use crate::rose::RoseFacility;
use crate::rose::{Code, Component, Invoke, Problem, Reject, ReturnError, ReturnResult};

mod details;

use details::{
    decode_head, explicit_enumerated, tagged, u16_of, Details, ACTIVATE_TAGS, INDICATE_TAGS,
};

/// Content octets of the OID `{0 4 0 745 1}`, MWI-Operations-and-Errors (EN 300 745-1
/// annex), that every MWI operation and error value extends by one arc.
const OID_PREFIX: [u8; 5] = [0x04, 0x00, 0x85, 0x69, 0x01];

/// The content octets of `{0 4 0 745 1 arc}` for an arc below 128.
const fn oid(arc: u8) -> [u8; 6] {
    [
        OID_PREFIX[0],
        OID_PREFIX[1],
        OID_PREFIX[2],
        OID_PREFIX[3],
        OID_PREFIX[4],
        arc,
    ]
}

/// operationValue of mwiActivate: `{0 4 0 745 1 1}` as OID content octets.
pub const MWI_ACTIVATE: [u8; 6] = oid(1);
/// operationValue of mwiDeactivate: `{0 4 0 745 1 2}`.
pub const MWI_DEACTIVATE: [u8; 6] = oid(2);
/// operationValue of mwiIndicate: `{0 4 0 745 1 3}`.
pub const MWI_INDICATE: [u8; 6] = oid(3);

/// The MWI error values (EN 300 745-1 annex, MWI-Operations-and-Errors), OID content octets,
/// for [`return_error_facility`].
pub mod error {
    use super::oid;

    /// invalidReceivingUserNr `{0 4 0 745 1 10}`.
    pub const INVALID_RECEIVING_USER_NR: [u8; 6] = oid(10);
    /// receivingUserNotSubscribed `{0 4 0 745 1 11}`.
    pub const RECEIVING_USER_NOT_SUBSCRIBED: [u8; 6] = oid(11);
    /// controllingUserNotRegistered `{0 4 0 745 1 12}`.
    pub const CONTROLLING_USER_NOT_REGISTERED: [u8; 6] = oid(12);
    /// indicationNotDelivered `{0 4 0 745 1 13}`.
    pub const INDICATION_NOT_DELIVERED: [u8; 6] = oid(13);
    /// maxNumOfControllingUsersReached `{0 4 0 745 1 14}`.
    pub const MAX_NUM_OF_CONTROLLING_USERS_REACHED: [u8; 6] = oid(14);
    /// maxNumOfActiveInstancesReached `{0 4 0 745 1 15}`.
    pub const MAX_NUM_OF_ACTIVE_INSTANCES_REACHED: [u8; 6] = oid(15);
}

int_enum!(
    i64,
    /// InvocationMode (EN 300 745-1): when the network passes the indication on.
    InvocationMode {
        /// 0: deferred.
        Deferred = 0,
        /// 1: immediate.
        Immediate = 1,
        /// 2: combined.
        Combined = 2,
    }
);

int_enum!(
    i64,
    /// MessageStatus of a [`MessageId`] (EN 300 745-1).
    MessageStatus {
        /// 0: addedMessage.
        Added = 0,
        /// 1: removedMessage.
        Removed = 1,
    }
);

/// MessageID (EN 300 745-1): `SEQUENCE { messageRef MessageReference (INTEGER 0..65535),
/// status MessageStatus }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageId {
    /// messageRef.
    pub message_ref: u16,
    /// status.
    pub status: MessageStatus,
}

impl MessageId {
    fn decode(tlv: Tlv<'_>) -> Result<MessageId, ber::Error> {
        let mut r = tlv.expect(Tag::SEQUENCE)?.reader()?;
        let message_ref = u16_of(&r.read_tag(Tag::INTEGER)?)?;
        let status = MessageStatus::from_value(r.read_enumerated()?);
        Ok(MessageId {
            message_ref,
            status,
        })
    }

    fn encode(&self, w: &mut Writer) {
        w.constructed(Tag::SEQUENCE, |w| {
            w.integer(Tag::INTEGER, i64::from(self.message_ref));
            w.integer(Tag::ENUMERATED, self.status.value());
        });
    }
}

/// MWIActivateArg (EN 300 745-1): `SEQUENCE { receivingUserNr PartyNumber, basicService
/// BasicService, controllingUserNr [1] EXPLICIT PartyNumber OPTIONAL, numberOfMessages [2]
/// EXPLICIT MessageCounter OPTIONAL, controllingUserProvidedNr [3] EXPLICIT PartyNumber
/// OPTIONAL, time [4] EXPLICIT GeneralizedTime OPTIONAL, messageId [5] EXPLICIT MessageID
/// OPTIONAL, mode [6] EXPLICIT InvocationMode OPTIONAL, ... }`: lamp on for the receiving user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MwiActivateArg {
    /// receivingUserNr: the user whose lamp lights.
    pub receiving_user_nr: PartyNumber,
    /// basicService (EN 300 196-1 BasicService, the same values as QSIG's).
    pub basic_service: BasicService,
    /// controllingUserNr: the message centre, optional.
    pub controlling_user_nr: Option<PartyNumber>,
    /// numberOfMessages (0..=65535), optional.
    pub number_of_messages: Option<u16>,
    /// controllingUserProvidedNr: who left the message, optional.
    pub controlling_user_provided_nr: Option<PartyNumber>,
    /// time the message was left, optional.
    pub time: Option<ber::GeneralizedTime>,
    /// messageId, optional.
    pub message_id: Option<MessageId>,
    /// mode, optional.
    pub mode: Option<InvocationMode>,
}

impl MwiActivateArg {
    /// Mandatory elements only.
    pub fn new(receiving_user_nr: PartyNumber, basic_service: BasicService) -> MwiActivateArg {
        MwiActivateArg {
            receiving_user_nr,
            basic_service,
            controlling_user_nr: None,
            number_of_messages: None,
            controlling_user_provided_nr: None,
            time: None,
            message_id: None,
            mode: None,
        }
    }

    fn details(&self) -> Details {
        Details {
            controlling_user_nr: self.controlling_user_nr.clone(),
            number_of_messages: self.number_of_messages,
            controlling_user_provided_nr: self.controlling_user_provided_nr.clone(),
            time: self.time.clone(),
            message_id: self.message_id,
        }
    }

    /// Decodes the argument TLV (a SEQUENCE). Errors: [`ber::Error`] for a missing or
    /// mistyped element; unknown elements are skipped.
    pub fn decode(buf: &[u8]) -> Result<MwiActivateArg, ber::Error> {
        let (mut r, receiving_user_nr, basic_service) = decode_head(buf)?;
        let mut d = Details::default();
        let mut mode = None;
        while let Some(t) = r.next_tlv()? {
            if !d.take(&ACTIVATE_TAGS, &t)? && t.tag == Tag::context_constructed(6) {
                mode = Some(InvocationMode::from_value(explicit_enumerated(&t)?));
            }
        }
        Ok(MwiActivateArg {
            receiving_user_nr,
            basic_service,
            controlling_user_nr: d.controlling_user_nr,
            number_of_messages: d.number_of_messages,
            controlling_user_provided_nr: d.controlling_user_provided_nr,
            time: d.time,
            message_id: d.message_id,
            mode,
        })
    }

    /// Appends the BER encoding.
    pub fn encode(&self, w: &mut Writer) {
        let d = self.details();
        w.constructed(Tag::SEQUENCE, |w| {
            self.receiving_user_nr.encode(w);
            w.integer(Tag::ENUMERATED, self.basic_service.value());
            d.encode_head(&ACTIVATE_TAGS, w);
            d.encode_tail(&ACTIVATE_TAGS, w);
            if let Some(m) = self.mode {
                tagged(w, 6, |w| w.integer(Tag::ENUMERATED, m.value()));
            }
        });
    }
}

/// MWIDeactivateArg (EN 300 745-1): `SEQUENCE { receivingUserNr PartyNumber, basicService
/// BasicService, controllingUserNr PartyNumber OPTIONAL, mode InvocationMode OPTIONAL, ... }`,
/// untagged: lamp off for the receiving user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MwiDeactivateArg {
    /// receivingUserNr.
    pub receiving_user_nr: PartyNumber,
    /// basicService.
    pub basic_service: BasicService,
    /// controllingUserNr: the message centre, optional.
    pub controlling_user_nr: Option<PartyNumber>,
    /// mode, optional.
    pub mode: Option<InvocationMode>,
}

impl MwiDeactivateArg {
    /// Mandatory elements only.
    pub fn new(receiving_user_nr: PartyNumber, basic_service: BasicService) -> MwiDeactivateArg {
        MwiDeactivateArg {
            receiving_user_nr,
            basic_service,
            controlling_user_nr: None,
            mode: None,
        }
    }

    /// Decodes the argument TLV (a SEQUENCE). A context-tagged element is the
    /// controllingUserNr (a PartyNumber alternative), an ENUMERATED the mode; others are
    /// skipped.
    pub fn decode(buf: &[u8]) -> Result<MwiDeactivateArg, ber::Error> {
        let (mut r, receiving_user_nr, basic_service) = decode_head(buf)?;
        let mut controlling_user_nr = None;
        let mut mode = None;
        while let Some(t) = r.next_tlv()? {
            if t.tag.class == Class::Context {
                controlling_user_nr = Some(PartyNumber::decode(t)?);
            } else if t.tag == Tag::ENUMERATED {
                mode = Some(InvocationMode::from_value(t.integer()?));
            }
        }
        Ok(MwiDeactivateArg {
            receiving_user_nr,
            basic_service,
            controlling_user_nr,
            mode,
        })
    }

    /// Appends the BER encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.constructed(Tag::SEQUENCE, |w| {
            self.receiving_user_nr.encode(w);
            w.integer(Tag::ENUMERATED, self.basic_service.value());
            if let Some(p) = &self.controlling_user_nr {
                p.encode(w);
            }
            if let Some(m) = self.mode {
                w.integer(Tag::ENUMERATED, m.value());
            }
        });
    }
}

/// MWIIndicateArg (EN 300 745-1): `SEQUENCE { controllingUserNr [1] EXPLICIT PartyNumber
/// OPTIONAL, basicService [2] EXPLICIT BasicService OPTIONAL, numberOfMessages [3] EXPLICIT
/// MessageCounter OPTIONAL, controllingUserProvidedNr [4] EXPLICIT PartyNumber OPTIONAL, time
/// [5] EXPLICIT GeneralizedTime OPTIONAL, messageId [6] EXPLICIT MessageID OPTIONAL, ... }`:
/// the network tells the receiving user (named by the Called party number IE of the message).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MwiIndicateArg {
    /// controllingUserNr, optional.
    pub controlling_user_nr: Option<PartyNumber>,
    /// basicService, optional.
    pub basic_service: Option<BasicService>,
    /// numberOfMessages, optional.
    pub number_of_messages: Option<u16>,
    /// controllingUserProvidedNr, optional.
    pub controlling_user_provided_nr: Option<PartyNumber>,
    /// time, optional.
    pub time: Option<ber::GeneralizedTime>,
    /// messageId, optional.
    pub message_id: Option<MessageId>,
}

impl MwiIndicateArg {
    /// Decodes the argument TLV (a SEQUENCE, possibly empty).
    pub fn decode(buf: &[u8]) -> Result<MwiIndicateArg, ber::Error> {
        let mut r = Reader::new(buf).read_tag(Tag::SEQUENCE)?.reader()?;
        let mut d = Details::default();
        let mut basic_service = None;
        while let Some(t) = r.next_tlv()? {
            if !d.take(&INDICATE_TAGS, &t)? && t.tag == Tag::context_constructed(2) {
                basic_service = Some(BasicService::from_value(explicit_enumerated(&t)?));
            }
        }
        Ok(MwiIndicateArg {
            controlling_user_nr: d.controlling_user_nr,
            basic_service,
            number_of_messages: d.number_of_messages,
            controlling_user_provided_nr: d.controlling_user_provided_nr,
            time: d.time,
            message_id: d.message_id,
        })
    }

    fn details(&self) -> Details {
        Details {
            controlling_user_nr: self.controlling_user_nr.clone(),
            number_of_messages: self.number_of_messages,
            controlling_user_provided_nr: self.controlling_user_provided_nr.clone(),
            time: self.time.clone(),
            message_id: self.message_id,
        }
    }

    /// Appends the BER encoding.
    pub fn encode(&self, w: &mut Writer) {
        let d = self.details();
        w.constructed(Tag::SEQUENCE, |w| {
            d.encode_head(&INDICATE_TAGS, w);
            if let Some(s) = self.basic_service {
                tagged(w, 2, |w| w.integer(Tag::ENUMERATED, s.value()));
            }
            d.encode_tail(&INDICATE_TAGS, w);
        });
    }
}

/// An ETSI MWI operation with its argument: what an Invoke asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MwiInvoke {
    /// mwiActivate.
    Activate(MwiActivateArg),
    /// mwiDeactivate.
    Deactivate(MwiDeactivateArg),
    /// mwiIndicate.
    Indicate(MwiIndicateArg),
}

impl MwiInvoke {
    /// The operationValue's OID content octets: [`MWI_ACTIVATE`], [`MWI_DEACTIVATE`] or
    /// [`MWI_INDICATE`].
    pub fn operation_value(&self) -> &'static [u8; 6] {
        match self {
            MwiInvoke::Activate(_) => &MWI_ACTIVATE,
            MwiInvoke::Deactivate(_) => &MWI_DEACTIVATE,
            MwiInvoke::Indicate(_) => &MWI_INDICATE,
        }
    }

    /// The BER encoding of the argument.
    pub fn argument(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            MwiInvoke::Activate(a) => a.encode(&mut w),
            MwiInvoke::Deactivate(a) => a.encode(&mut w),
            MwiInvoke::Indicate(a) => a.encode(&mut w),
        }
        w.finish()
    }

    /// Decodes an Invoke carrying an ETSI MWI operation. Errors: [`Error::UnknownOperation`]
    /// for any other operation (local values included), [`Error::NoArgument`],
    /// [`Error::Ber`].
    pub fn from_invoke(invoke: &Invoke<'_>) -> Result<MwiInvoke, Error> {
        let Code::Global(op) = invoke.operation else {
            return Err(Error::UnknownOperation);
        };
        let known = [&MWI_ACTIVATE[..], &MWI_DEACTIVATE[..], &MWI_INDICATE[..]];
        if !known.contains(&op) {
            return Err(Error::UnknownOperation);
        }
        let arg = invoke.argument.ok_or(Error::NoArgument)?;
        Ok(if op == MWI_ACTIVATE {
            MwiInvoke::Activate(MwiActivateArg::decode(arg)?)
        } else if op == MWI_DEACTIVATE {
            MwiInvoke::Deactivate(MwiDeactivateArg::decode(arg)?)
        } else {
            MwiInvoke::Indicate(MwiIndicateArg::decode(arg)?)
        })
    }

    /// Facility IE content (profile `0x91`, then the Invoke) for this operation with the given
    /// invokeId: the bytes after `1c <len>`.
    pub fn facility(&self, invoke_id: i64) -> Vec<u8> {
        let argument = self.argument();
        let operation = self.operation_value();
        RoseFacility {
            components: vec![Component::Invoke(Invoke {
                invoke_id,
                linked_id: None,
                operation: Code::Global(operation),
                argument: Some(&argument),
            })],
        }
        .to_vec()
    }
}

/// The operation by name and OID, then every argument present under its ASN.1 name:
/// `op=mwiActivate{0 4 0 745 1 1} receivingUserNr=1234 basicService=speech
/// numberOfMessages=3` (for the debug log, see [`crate::qsig::Apdu`]).
impl fmt::Display for MwiInvoke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (details, mode) = match self {
            MwiInvoke::Activate(a) => {
                write!(
                    f,
                    "op=mwiActivate{{0 4 0 745 1 1}} receivingUserNr={} basicService={}",
                    a.receiving_user_nr, a.basic_service
                )?;
                (a.details(), a.mode)
            }
            MwiInvoke::Deactivate(a) => {
                write!(
                    f,
                    "op=mwiDeactivate{{0 4 0 745 1 2}} receivingUserNr={} basicService={}",
                    a.receiving_user_nr, a.basic_service
                )?;
                let d = Details {
                    controlling_user_nr: a.controlling_user_nr.clone(),
                    ..Details::default()
                };
                (d, a.mode)
            }
            MwiInvoke::Indicate(a) => {
                f.write_str("op=mwiIndicate{0 4 0 745 1 3}")?;
                if let Some(s) = a.basic_service {
                    write!(f, " basicService={s}")?;
                }
                (a.details(), None)
            }
        };
        if let Some(p) = &details.controlling_user_nr {
            write!(f, " controllingUserNr={p}")?;
        }
        if let Some(n) = details.number_of_messages {
            write!(f, " numberOfMessages={n}")?;
        }
        if let Some(p) = &details.controlling_user_provided_nr {
            write!(f, " controllingUserProvidedNr={p}")?;
        }
        if let Some(t) = &details.time {
            write!(f, " time={}", t.as_str())?;
        }
        if let Some(m) = &details.message_id {
            write!(f, " messageId={}/{:?}", m.message_ref, m.status)?;
        }
        if let Some(m) = mode {
            write!(f, " mode={m:?}")?;
        }
        Ok(())
    }
}

/// Facility IE content (profile `0x91`) answering mwiActivate or mwiDeactivate: a
/// ReturnResult without result, DummyRes being empty (EN 300 745-1), as libpri encodes it.
pub fn return_result_facility(invoke_id: i64) -> Vec<u8> {
    RoseFacility {
        components: vec![Component::ReturnResult(ReturnResult {
            invoke_id,
            result: None,
        })],
    }
    .to_vec()
}

/// Facility IE content (profile `0x91`) carrying a ROSE Reject of `invoke_id`.
pub fn reject_facility(invoke_id: Option<i64>, problem: Problem) -> Vec<u8> {
    RoseFacility {
        components: vec![Component::Reject(Reject { invoke_id, problem })],
    }
    .to_vec()
}

/// Facility IE content (profile `0x91`) carrying a ROSE ReturnError with one of the
/// [`error`] values and no parameter.
pub fn return_error_facility(invoke_id: i64, error_value: &[u8; 6]) -> Vec<u8> {
    RoseFacility {
        components: vec![Component::ReturnError(ReturnError {
            invoke_id,
            error: Code::Global(error_value),
            parameter: None,
        })],
    }
    .to_vec()
}
