//! QSIG SS-MWI (ECMA-242 / ISO/IEC 13868): message waiting indication operations.
//!
//! | operation | operationValue | argument | result |
//! | --- | --- | --- | --- |
//! | mwiActivate | 80 | [`MwiActivateArg`] | DummyRes (NULL or nothing) |
//! | mwiDeactivate | 81 | [`MwiDeactivateArg`] | DummyRes |
//! | mwiInterrogate | 82 | [`MwiInterrogateArg`] | [`MwiInterrogateRes`] |
//!
//! Encoding follows libpri octet for octet (see the golden frames in the tests): definite
//! short lengths, minimal integers, optional elements in ASN.1 order. Decoding is tolerant:
//! any BER length form, elements found by tag, unknown elements (argumentExt, future
//! extensions) skipped.
//!
//! Building an MWIActivate for a SETUP or FACILITY message:
//!
//! ```
//! use isdn::qsig::{BasicService, MwiActivateArg, MwiInvoke, PartyNumber};
//! let arg = MwiActivateArg::new(PartyNumber::Unknown("1234".into()), BasicService::Speech);
//! let facility_ie_content = MwiInvoke::Activate(arg).facility(1);
//! assert_eq!(facility_ie_content[0], 0x9f);
//! ```

use crate::ber::{self, int_enum, Class, Tag, Tlv, Writer};
use crate::rose::{self, Code, Component, Facility, InvokeProblem, Problem};
use std::fmt;

mod args;
mod display;
mod name;

pub use args::{
    MwiActivateArg, MwiDeactivateArg, MwiInterrogateArg, MwiInterrogateRes, MwiInterrogateResElt,
    MwiInvoke,
};
pub use display::{operation_name, Apdu};
pub use name::{Name, BUSY_NAME, CALLED_NAME, CALLING_NAME, CONNECTED_NAME, MAX_NAME};

/// operationValue of mwiActivate (ECMA-242 §7).
pub const MWI_ACTIVATE: i64 = 80;
/// operationValue of mwiDeactivate (ECMA-242 §7).
pub const MWI_DEACTIVATE: i64 = 81;
/// operationValue of mwiInterrogate (ECMA-242 §7).
pub const MWI_INTERROGATE: i64 = 82;

/// DummyRes encoded as NULL: the result of mwiActivate / mwiDeactivate in a ReturnResult.
pub const DUMMY_RES: &[u8] = &[0x05, 0x00];

/// Errors decoding an SS-MWI invoke or result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The operationValue is not 80, 81 or 82 (or is a global code).
    UnknownOperation,
    /// The Invoke carries no argument, which every SS-MWI operation requires.
    NoArgument,
    /// The argument or result is not valid for its ASN.1 type.
    Ber(ber::Error),
}

impl Error {
    /// The ROSE Reject problem a receiver answers with (X.880, ECMA-165 §8.2).
    pub fn reject_problem(&self) -> Problem {
        match self {
            Error::UnknownOperation => Problem::Invoke(InvokeProblem::UnrecognizedOperation),
            Error::NoArgument | Error::Ber(_) => Problem::Invoke(InvokeProblem::MistypedArgument),
        }
    }
}

impl From<ber::Error> for Error {
    fn from(e: ber::Error) -> Error {
        Error::Ber(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownOperation => f.write_str("SS-MWI: not an MWI operation"),
            Error::NoArgument => f.write_str("SS-MWI: invoke without argument"),
            Error::Ber(e) => write!(f, "SS-MWI: {e}"),
        }
    }
}

impl std::error::Error for Error {}

int_enum!(
    i64,
    /// PublicTypeOfNumber (ECMA-155 / Q.931 type of number for E.164).
    PublicTypeOfNumber {
        /// 0: unknown.
        Unknown = 0,
        /// 1: internationalNumber.
        International = 1,
        /// 2: nationalNumber.
        National = 2,
        /// 3: networkSpecificNumber.
        NetworkSpecific = 3,
        /// 4: subscriberNumber.
        Subscriber = 4,
        /// 6: abbreviatedNumber.
        Abbreviated = 6,
    }
);

int_enum!(
    i64,
    /// PrivateTypeOfNumber (ECMA-155, PISN numbering plan).
    PrivateTypeOfNumber {
        /// 0: unknown.
        Unknown = 0,
        /// 1: level2RegionalNumber.
        Level2Regional = 1,
        /// 2: level1RegionalNumber.
        Level1Regional = 2,
        /// 3: pISNSpecificNumber.
        PisnSpecific = 3,
        /// 4: localNumber.
        Local = 4,
        /// 6: abbreviatedNumber.
        Abbreviated = 6,
    }
);

int_enum!(
    i64,
    /// BasicService (ECMA-242 / ECMA-174 `BasicService ::= ENUMERATED`).
    BasicService {
        /// 0: allServices.
        AllServices = 0,
        /// 1: speech.
        Speech = 1,
        /// 2: unrestrictedDigitalInformation.
        UnrestrictedDigitalInformation = 2,
        /// 3: audio3100Hz.
        Audio3100Hz = 3,
        /// 32: telephony.
        Telephony = 32,
        /// 33: teletex.
        Teletex = 33,
        /// 34: telefaxGroup4Class1.
        TelefaxGroup4Class1 = 34,
        /// 35: videotexSyntaxBased.
        VideotexSyntaxBased = 35,
        /// 36: videotelephony.
        Videotelephony = 36,
    }
);

/// PartyNumber (ECMA-155 `PartyNumber ::= CHOICE`), digits as a NumericString.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PartyNumber {
    /// `[0] IMPLICIT NumberDigits`: plan and type unknown (what libpri sends).
    Unknown(String),
    /// `[1] IMPLICIT PublicPartyNumber`: E.164 number with its type of number.
    Public {
        /// publicTypeOfNumber.
        ton: PublicTypeOfNumber,
        /// publicNumberDigits.
        digits: String,
    },
    /// `[3] IMPLICIT NumberDigits`: X.121 data number.
    Data(String),
    /// `[4] IMPLICIT NumberDigits`: F.69 telex number.
    Telex(String),
    /// `[5] IMPLICIT PrivatePartyNumber`: PISN number with its type of number.
    Private {
        /// privateTypeOfNumber.
        ton: PrivateTypeOfNumber,
        /// privateNumberDigits.
        digits: String,
    },
    /// `[8] IMPLICIT NumberDigits`: national standard numbering plan.
    NationalStandard(String),
}

impl PartyNumber {
    /// The digits, whatever the variant.
    pub fn digits(&self) -> &str {
        match self {
            PartyNumber::Unknown(d)
            | PartyNumber::Data(d)
            | PartyNumber::Telex(d)
            | PartyNumber::NationalStandard(d)
            | PartyNumber::Public { digits: d, .. }
            | PartyNumber::Private { digits: d, .. } => d,
        }
    }

    /// Decodes a PartyNumber from its TLV. Errors: [`ber::Error::UnexpectedTag`] for a tag
    /// that is no PartyNumber alternative, string and integer errors.
    pub fn decode(tlv: Tlv<'_>) -> Result<PartyNumber, ber::Error> {
        let bad = ber::Error::UnexpectedTag {
            expected: Tag::context(0),
            found: tlv.tag,
        };
        if tlv.tag.class != Class::Context {
            return Err(bad);
        }
        let typed = |tlv: Tlv<'_>| -> Result<(i64, String), ber::Error> {
            let mut r = tlv.reader()?;
            let ton = r.read_enumerated()?;
            let d = r.read()?;
            // Some PBXs tag the digits IA5String instead of NumericString.
            if !d.tag.same_type(&Tag::NUMERIC_STRING) && !d.tag.same_type(&Tag::IA5_STRING) {
                return Err(ber::Error::UnexpectedTag {
                    expected: Tag::NUMERIC_STRING,
                    found: d.tag,
                });
            }
            let digits = d.numeric_string()?;
            Ok((ton, digits))
        };
        Ok(match tlv.tag.number {
            0 => PartyNumber::Unknown(tlv.numeric_string()?),
            1 => {
                let (ton, digits) = typed(tlv)?;
                PartyNumber::Public {
                    ton: PublicTypeOfNumber::from_value(ton),
                    digits,
                }
            }
            3 => PartyNumber::Data(tlv.numeric_string()?),
            4 => PartyNumber::Telex(tlv.numeric_string()?),
            5 => {
                let (ton, digits) = typed(tlv)?;
                PartyNumber::Private {
                    ton: PrivateTypeOfNumber::from_value(ton),
                    digits,
                }
            }
            8 => PartyNumber::NationalStandard(tlv.numeric_string()?),
            _ => return Err(bad),
        })
    }

    /// Appends the BER encoding.
    pub fn encode(&self, w: &mut Writer) {
        let typed = |w: &mut Writer, n: u32, ton: i64, digits: &str| {
            w.constructed(Tag::context_constructed(n), |w| {
                w.integer(Tag::ENUMERATED, ton);
                w.primitive(Tag::NUMERIC_STRING, digits.as_bytes());
            });
        };
        match self {
            PartyNumber::Unknown(d) => w.primitive(Tag::context(0), d.as_bytes()),
            PartyNumber::Public { ton, digits } => typed(w, 1, ton.value(), digits),
            PartyNumber::Data(d) => w.primitive(Tag::context(3), d.as_bytes()),
            PartyNumber::Telex(d) => w.primitive(Tag::context(4), d.as_bytes()),
            PartyNumber::Private { ton, digits } => typed(w, 5, ton.value(), digits),
            PartyNumber::NationalStandard(d) => w.primitive(Tag::context(8), d.as_bytes()),
        }
    }
}

/// MsgCentreId (ECMA-242 `MsgCentreId ::= CHOICE`): who holds the messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MsgCentreId {
    /// `integer [0] IMPLICIT INTEGER (0..65535)`.
    Integer(u16),
    /// `partyNumber [1] EXPLICIT PartyNumber`: e.g. the voice-mail pilot number.
    PartyNumber(PartyNumber),
    /// `numericString [2] IMPLICIT NumericString (SIZE(1..10))`.
    NumericString(String),
}

impl MsgCentreId {
    fn decode(tlv: Tlv<'_>) -> Result<MsgCentreId, ber::Error> {
        match tlv.tag.number {
            0 => Ok(MsgCentreId::Integer(
                u16::try_from(tlv.integer()?).map_err(|_| ber::Error::BadInteger)?,
            )),
            1 => Ok(MsgCentreId::PartyNumber(PartyNumber::decode(
                tlv.reader()?.read()?,
            )?)),
            _ => Ok(MsgCentreId::NumericString(tlv.numeric_string()?)),
        }
    }

    fn encode(&self, w: &mut Writer) {
        match self {
            MsgCentreId::Integer(v) => w.integer(Tag::context(0), i64::from(*v)),
            MsgCentreId::PartyNumber(p) => w.constructed(Tag::context_constructed(1), |w| {
                p.encode(w);
            }),
            MsgCentreId::NumericString(s) => w.primitive(Tag::context(2), s.as_bytes()),
        }
    }
}

/// Facility IE content answering an invoke with ReturnResult: `result` is the encoded result
/// ([`DUMMY_RES`] for mwiActivate/mwiDeactivate, [`MwiInterrogateRes::to_vec`] for
/// mwiInterrogate).
pub fn return_result_facility(invoke_id: i64, operation_value: i64, result: &[u8]) -> Vec<u8> {
    Facility::qsig(Component::ReturnResult(rose::ReturnResult {
        invoke_id,
        result: Some(rose::OperationResult {
            operation: Code::Local(operation_value),
            result,
        }),
    }))
    .to_vec()
}

/// Facility IE content carrying a ROSE Reject of `invoke_id` (e.g. from
/// [`Error::reject_problem`] for an operation we do not support).
pub fn reject_facility(invoke_id: Option<i64>, problem: Problem) -> Vec<u8> {
    Facility::qsig(Component::Reject(rose::Reject { invoke_id, problem })).to_vec()
}

/// Facility IE content carrying a ROSE ReturnError with a local error value (see
/// [`rose::error`]) and no parameter.
pub fn return_error_facility(invoke_id: i64, error_value: i64) -> Vec<u8> {
    Facility::qsig(Component::ReturnError(rose::ReturnError {
        invoke_id,
        error: Code::Local(error_value),
        parameter: None,
    }))
    .to_vec()
}
