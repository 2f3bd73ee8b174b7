//! ROSE (X.880 / ECMA-165 §8 and annex) components and the QSIG Facility information element
//! content that carries them.
//!
//! A QSIG Facility IE (Q.931 IE `1c`) holds, after the IE header (ECMA-165 §8.1):
//!
//! ```text
//! 9f                       protocol profile: Networking Extensions (0x1f, ext bit set)
//! [aa ..]                  NetworkFacilityExtension   [10] IMPLICIT SEQUENCE   (optional)
//! [92 ..]                  NetworkProtocolProfile     [18] IMPLICIT INTEGER    (optional)
//! [8b ..]                  InterpretationApdu         [11] IMPLICIT ENUMERATED (optional)
//! a1/a2/a3/a4 ..           one or more ROSE APDUs: Invoke, ReturnResult, ReturnError, Reject
//! ```
//!
//! [`Facility`] parses and emits that content; [`Component`] is one ROSE APDU. Arguments and
//! results stay encoded (`&[u8]`, a complete BER TLV) so the operation-specific modules
//! ([`crate::qsig`], [`crate::etsi`]) decode them. Parsing never panics; [`Facility::parse`]
//! reports what is not QSIG (e.g. the ETSI profile `0x91`) as [`Error::Profile`];
//! [`RoseFacility`] is the ETSI content (profile `0x91`, then the APDUs).

use crate::ber::{self, int_enum, Tag, Tlv, Writer};
use std::fmt;

mod component;
mod facility;

pub use component::Component;
pub use facility::{EntityType, Facility, Interpretation, NetworkFacilityExtension, RoseFacility};

/// Protocol profile octet for QSIG Networking Extensions (ECMA-165 §8.1): ext bit + `11111`.
pub const PROFILE_NETWORKING_EXTENSIONS: u8 = 0x9f;
/// Protocol profile octet for plain ROSE (`10001`), used by ETSI EN 300 196 (not QSIG); see
/// [`RoseFacility`].
pub const PROFILE_ROSE: u8 = 0x91;

/// Errors from [`Facility::parse`] and [`Component::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The IE content is empty (no protocol profile octet).
    Empty,
    /// The protocol profile is not the one the parser reads: `0x9f` (QSIG Networking
    /// Extensions) for [`Facility`], `0x91` (ROSE, ETSI) for [`RoseFacility`]. Reported, never
    /// interpreted.
    Profile(u8),
    /// A component has a tag that is not Invoke `[1]`, ReturnResult `[2]`, ReturnError `[3]`
    /// or Reject `[4]`. A QSIG receiver answers a Reject with
    /// `GeneralProblem::UnrecognizedComponent`.
    UnknownComponent(ber::Tag),
    /// The facility carries no ROSE component.
    NoComponent,
    /// BER-level error inside a component or header element.
    Ber(ber::Error),
}

impl From<ber::Error> for Error {
    fn from(e: ber::Error) -> Error {
        Error::Ber(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => f.write_str("facility: empty"),
            Error::Profile(p) => {
                write!(f, "facility: unexpected protocol profile {p:#04x}")
            }
            Error::UnknownComponent(t) => write!(f, "facility: unknown ROSE component {t}"),
            Error::NoComponent => f.write_str("facility: no ROSE component"),
            Error::Ber(e) => write!(f, "facility: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// An operation or error code (X.880 `Code`): a local integer (QSIG uses these, e.g. 80 =
/// mwiActivate), or a global OBJECT IDENTIFIER kept as its BER content octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code<'a> {
    /// `localValue INTEGER`.
    Local(i64),
    /// `globalValue OBJECT IDENTIFIER`: the content octets of the OID.
    Global(&'a [u8]),
}

impl<'a> Code<'a> {
    fn parse(tlv: Tlv<'a>) -> Result<Code<'a>, Error> {
        if tlv.tag == Tag::INTEGER {
            Ok(Code::Local(tlv.integer()?))
        } else if tlv.tag == Tag::OBJECT_IDENTIFIER {
            Ok(Code::Global(tlv.value))
        } else {
            Err(ber::Error::UnexpectedTag {
                expected: Tag::INTEGER,
                found: tlv.tag,
            }
            .into())
        }
    }

    fn emit(&self, w: &mut Writer) {
        match *self {
            Code::Local(v) => w.integer(Tag::INTEGER, v),
            Code::Global(oid) => w.primitive(Tag::OBJECT_IDENTIFIER, oid),
        }
    }

    /// The local value, if this is one.
    pub fn local(&self) -> Option<i64> {
        match *self {
            Code::Local(v) => Some(v),
            Code::Global(_) => None,
        }
    }
}

/// ROSE Invoke APDU, `[1] IMPLICIT SEQUENCE` (X.880 §9, ECMA-165 annex D).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invoke<'a> {
    /// invokeId: chosen by the invoker, echoed in the answer. QSIG uses -32768..32767.
    pub invoke_id: i64,
    /// linkedId `[0] IMPLICIT InvokeId`, for operations linked to an earlier invoke.
    pub linked_id: Option<i64>,
    /// operationValue (`opcode`).
    pub operation: Code<'a>,
    /// argument: one complete BER TLV (any type), if present.
    pub argument: Option<&'a [u8]>,
}

/// ROSE ReturnResult APDU, `[2] IMPLICIT SEQUENCE` (X.880 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnResult<'a> {
    /// invokeId of the Invoke being answered.
    pub invoke_id: i64,
    /// `result SEQUENCE { opcode, result }`, absent when the operation returns nothing.
    pub result: Option<OperationResult<'a>>,
}

/// The optional `result` part of a ReturnResult.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationResult<'a> {
    /// operationValue of the answered operation.
    pub operation: Code<'a>,
    /// result value: one complete BER TLV.
    pub result: &'a [u8],
}

/// ROSE ReturnError APDU, `[3] IMPLICIT SEQUENCE` (X.880 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnError<'a> {
    /// invokeId of the Invoke being answered.
    pub invoke_id: i64,
    /// errorValue, e.g. [`error::NOT_SUBSCRIBED`] or `1018` invalidMsgCentreId (ECMA-242).
    pub error: Code<'a>,
    /// parameter: one complete BER TLV, if present.
    pub parameter: Option<&'a [u8]>,
}

/// ROSE Reject APDU, `[4] IMPLICIT SEQUENCE` (X.880 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    /// invokeId of the rejected APDU, `None` (NULL on the wire) when it could not be read.
    pub invoke_id: Option<i64>,
    /// The problem.
    pub problem: Problem,
}

/// Reject problem (X.880 §9 `problem CHOICE`): tag number gives the family, value the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// `[0] GeneralProblem`: the APDU itself is bad.
    General(GeneralProblem),
    /// `[1] InvokeProblem`.
    Invoke(InvokeProblem),
    /// `[2] ReturnResultProblem`.
    ReturnResult(ReturnResultProblem),
    /// `[3] ReturnErrorProblem`.
    ReturnError(ReturnErrorProblem),
}

int_enum!(
    i64,
    /// X.880 GeneralProblem.
    GeneralProblem {
        /// 0: unrecognizedPDU / unrecognizedComponent.
        UnrecognizedComponent = 0,
        /// 1: mistypedPDU / mistypedComponent.
        MistypedComponent = 1,
        /// 2: badlyStructuredPDU / badlyStructuredComponent.
        BadlyStructuredComponent = 2,
    }
);

int_enum!(
    i64,
    /// X.880 InvokeProblem.
    InvokeProblem {
        /// 0: duplicateInvocation.
        DuplicateInvocation = 0,
        /// 1: unrecognizedOperation: answer to an operationValue we do not implement.
        UnrecognizedOperation = 1,
        /// 2: mistypedArgument.
        MistypedArgument = 2,
        /// 3: resourceLimitation.
        ResourceLimitation = 3,
        /// 4: releaseInProgress.
        ReleaseInProgress = 4,
        /// 5: unrecognizedLinkedId.
        UnrecognizedLinkedId = 5,
        /// 6: linkedResponseUnexpected.
        LinkedResponseUnexpected = 6,
        /// 7: unexpectedLinkedOperation.
        UnexpectedLinkedOperation = 7,
    }
);

int_enum!(
    i64,
    /// X.880 ReturnResultProblem.
    ReturnResultProblem {
        /// 0: unrecognizedInvocation.
        UnrecognizedInvocation = 0,
        /// 1: resultResponseUnexpected.
        ResultResponseUnexpected = 1,
        /// 2: mistypedResult.
        MistypedResult = 2,
    }
);

int_enum!(
    i64,
    /// X.880 ReturnErrorProblem.
    ReturnErrorProblem {
        /// 0: unrecognizedInvocation.
        UnrecognizedInvocation = 0,
        /// 1: errorResponseUnexpected.
        ErrorResponseUnexpected = 1,
        /// 2: unrecognizedError.
        UnrecognizedError = 2,
        /// 3: unexpectedError.
        UnexpectedError = 3,
        /// 4: mistypedParameter.
        MistypedParameter = 4,
    }
);

/// Local error values of the QSIG General-Error-List (ECMA-165 / Q.950) and ECMA-242.
pub mod error {
    /// userNotSubscribed.
    pub const NOT_SUBSCRIBED: i64 = 0;
    /// rejectedByNetwork.
    pub const REJECTED_BY_NETWORK: i64 = 1;
    /// rejectedByUser.
    pub const REJECTED_BY_USER: i64 = 2;
    /// notAvailable.
    pub const NOT_AVAILABLE: i64 = 3;
    /// insufficientInformation.
    pub const INSUFFICIENT_INFORMATION: i64 = 5;
    /// invalidServedUserNr.
    pub const INVALID_SERVED_USER_NR: i64 = 6;
    /// invalidCallState.
    pub const INVALID_CALL_STATE: i64 = 7;
    /// basicServiceNotProvided.
    pub const BASIC_SERVICE_NOT_PROVIDED: i64 = 8;
    /// supplementaryServiceInteractionNotAllowed.
    pub const SS_INTERACTION_NOT_ALLOWED: i64 = 10;
    /// resourceUnavailable.
    pub const RESOURCE_UNAVAILABLE: i64 = 11;
    /// callFailure.
    pub const CALL_FAILURE: i64 = 25;
    /// proceduralError.
    pub const PROCEDURAL_ERROR: i64 = 43;
    /// invalidMsgCentreId (ECMA-242 SS-MWI).
    pub const INVALID_MSG_CENTRE_ID: i64 = 1018;
}
