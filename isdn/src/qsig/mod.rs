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

use crate::ber::{self, int_enum, Class, Reader, Tag, Tlv, Writer};
use crate::rose::{self, Code, Component, Facility, Invoke, InvokeProblem, Problem};
use std::fmt;

mod display;

pub use display::{operation_name, Apdu};

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

/// The optional elements shared by MWIActivateArg and MWIInterrogateResElt, in ASN.1 order.
#[derive(Default)]
struct Optionals {
    msg_centre_id: Option<MsgCentreId>,
    nb_of_messages: Option<u16>,
    originating_nr: Option<PartyNumber>,
    timestamp: Option<ber::GeneralizedTime>,
    priority: Option<u8>,
}

impl Optionals {
    /// Reads the rest of a SEQUENCE, picking elements by tag; others (argumentExt [6]/[7],
    /// future extensions) are skipped.
    fn decode(r: &mut Reader<'_>) -> Result<Optionals, ber::Error> {
        let mut o = Optionals::default();
        while let Some(t) = r.next_tlv()? {
            match (t.tag.class, t.tag.number) {
                (Class::Context, 0..=2) => o.msg_centre_id = Some(MsgCentreId::decode(t)?),
                (Class::Context, 3) => {
                    o.nb_of_messages =
                        Some(u16::try_from(t.integer()?).map_err(|_| ber::Error::BadInteger)?);
                }
                (Class::Context, 4) => {
                    o.originating_nr = Some(PartyNumber::decode(t.reader()?.read()?)?);
                }
                (Class::Universal, 24) => o.timestamp = Some(t.generalized_time()?),
                (Class::Context, 5) => {
                    // Only the low values are defined (0..9); accept any byte-sized value.
                    o.priority =
                        Some(u8::try_from(t.integer()?).map_err(|_| ber::Error::BadInteger)?);
                }
                _ => {}
            }
        }
        Ok(o)
    }

    fn encode(
        w: &mut Writer,
        msg_centre_id: &Option<MsgCentreId>,
        nb_of_messages: Option<u16>,
        originating_nr: &Option<PartyNumber>,
        timestamp: &Option<ber::GeneralizedTime>,
        priority: Option<u8>,
    ) {
        if let Some(m) = msg_centre_id {
            m.encode(w);
        }
        if let Some(n) = nb_of_messages {
            w.integer(Tag::context(3), i64::from(n));
        }
        if let Some(p) = originating_nr {
            w.constructed(Tag::context_constructed(4), |w| p.encode(w));
        }
        if let Some(t) = timestamp {
            w.primitive(Tag::GENERALIZED_TIME, t.as_str().as_bytes());
        }
        if let Some(p) = priority {
            w.integer(Tag::context(5), i64::from(p));
        }
    }
}

/// Decodes the argument SEQUENCE of every SS-MWI invoke (ECMA-242 §7): servedUserNr,
/// basicService, then the optional elements.
fn decode_arg(buf: &[u8]) -> Result<(PartyNumber, BasicService, Optionals), ber::Error> {
    let mut r = Reader::new(buf).read_tag(Tag::SEQUENCE)?.reader()?;
    let served = PartyNumber::decode(r.read()?)?;
    let service = BasicService::from_value(r.read_enumerated()?);
    Ok((served, service, Optionals::decode(&mut r)?))
}

/// Appends the argument SEQUENCE of an SS-MWI invoke: servedUserNr, basicService, then what
/// `optionals` writes.
fn encode_arg(
    w: &mut Writer,
    served: &PartyNumber,
    service: BasicService,
    optionals: impl FnOnce(&mut Writer),
) {
    w.constructed(Tag::SEQUENCE, |w| {
        served.encode(w);
        w.integer(Tag::ENUMERATED, service.value());
        optionals(w);
    });
}

/// MWIActivateArg (ECMA-242 §7): lamp on for `served_user_nr`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MwiActivateArg {
    /// servedUserNr: the user whose lamp lights.
    pub served_user_nr: PartyNumber,
    /// basicService: usually [`BasicService::Speech`].
    pub basic_service: BasicService,
    /// msgCentreId, optional.
    pub msg_centre_id: Option<MsgCentreId>,
    /// nbOfMessages `[3] IMPLICIT INTEGER (0..65535)`, optional.
    pub nb_of_messages: Option<u16>,
    /// originatingNr `[4] EXPLICIT PartyNumber`: who left the message, optional.
    pub originating_nr: Option<PartyNumber>,
    /// timestamp GeneralizedTime, optional.
    pub timestamp: Option<ber::GeneralizedTime>,
    /// priority `[5] IMPLICIT INTEGER (0..9)`, optional.
    pub priority: Option<u8>,
}

impl MwiActivateArg {
    /// Mandatory elements only (the minimal golden frame).
    pub fn new(served_user_nr: PartyNumber, basic_service: BasicService) -> MwiActivateArg {
        MwiActivateArg {
            served_user_nr,
            basic_service,
            msg_centre_id: None,
            nb_of_messages: None,
            originating_nr: None,
            timestamp: None,
            priority: None,
        }
    }

    /// Decodes the argument TLV (a SEQUENCE).
    pub fn decode(buf: &[u8]) -> Result<MwiActivateArg, ber::Error> {
        let (served_user_nr, basic_service, o) = decode_arg(buf)?;
        Ok(MwiActivateArg {
            served_user_nr,
            basic_service,
            msg_centre_id: o.msg_centre_id,
            nb_of_messages: o.nb_of_messages,
            originating_nr: o.originating_nr,
            timestamp: o.timestamp,
            priority: o.priority,
        })
    }

    /// Appends the BER encoding.
    pub fn encode(&self, w: &mut Writer) {
        encode_arg(w, &self.served_user_nr, self.basic_service, |w| {
            Optionals::encode(
                w,
                &self.msg_centre_id,
                self.nb_of_messages,
                &self.originating_nr,
                &self.timestamp,
                self.priority,
            );
        });
    }
}

/// MWIDeactivateArg (ECMA-242 §7): lamp off for `served_user_nr`. MWIInterrogateArg has the
/// same shape (see [`MwiInterrogateArg`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MwiDeactivateArg {
    /// servedUserNr.
    pub served_user_nr: PartyNumber,
    /// basicService.
    pub basic_service: BasicService,
    /// msgCentreId, optional.
    pub msg_centre_id: Option<MsgCentreId>,
}

/// MWIInterrogateArg (ECMA-242 §7): `{ servedUserNr, basicService, msgCentreId OPTIONAL }`,
/// the same type as [`MwiDeactivateArg`].
pub type MwiInterrogateArg = MwiDeactivateArg;

impl MwiDeactivateArg {
    /// Mandatory elements only.
    pub fn new(served_user_nr: PartyNumber, basic_service: BasicService) -> MwiDeactivateArg {
        MwiDeactivateArg {
            served_user_nr,
            basic_service,
            msg_centre_id: None,
        }
    }

    /// Decodes the argument TLV (a SEQUENCE).
    pub fn decode(buf: &[u8]) -> Result<MwiDeactivateArg, ber::Error> {
        let (served_user_nr, basic_service, o) = decode_arg(buf)?;
        Ok(MwiDeactivateArg {
            served_user_nr,
            basic_service,
            msg_centre_id: o.msg_centre_id,
        })
    }

    /// Appends the BER encoding.
    pub fn encode(&self, w: &mut Writer) {
        encode_arg(w, &self.served_user_nr, self.basic_service, |w| {
            if let Some(m) = &self.msg_centre_id {
                m.encode(w);
            }
        });
    }
}

/// One element of the MWIInterrogate result: what is waiting for one basic service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MwiInterrogateResElt {
    /// basicService.
    pub basic_service: BasicService,
    /// msgCentreId, optional.
    pub msg_centre_id: Option<MsgCentreId>,
    /// nbOfMessages `[3]`, optional.
    pub nb_of_messages: Option<u16>,
    /// originatingNr `[4]`, optional.
    pub originating_nr: Option<PartyNumber>,
    /// timestamp, optional.
    pub timestamp: Option<ber::GeneralizedTime>,
    /// priority `[5]`, optional.
    pub priority: Option<u8>,
}

/// MWIInterrogateRes (ECMA-242 §7): `SEQUENCE SIZE(1..10) OF MWIInterrogateResElt`. Decoding
/// accepts any count (tolerant); the sender keeps it within 1..=10.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MwiInterrogateRes(pub Vec<MwiInterrogateResElt>);

impl MwiInterrogateRes {
    /// Decodes the result TLV.
    pub fn decode(buf: &[u8]) -> Result<MwiInterrogateRes, ber::Error> {
        let mut r = Reader::new(buf).read_tag(Tag::SEQUENCE)?.reader()?;
        let mut out = Vec::new();
        while let Some(elt) = r.next_tlv()? {
            let mut e = elt.expect(Tag::SEQUENCE)?.reader()?;
            let basic_service = BasicService::from_value(e.read_enumerated()?);
            let o = Optionals::decode(&mut e)?;
            out.push(MwiInterrogateResElt {
                basic_service,
                msg_centre_id: o.msg_centre_id,
                nb_of_messages: o.nb_of_messages,
                originating_nr: o.originating_nr,
                timestamp: o.timestamp,
                priority: o.priority,
            });
        }
        Ok(MwiInterrogateRes(out))
    }

    /// Appends the BER encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.constructed(Tag::SEQUENCE, |w| {
            for e in &self.0 {
                w.constructed(Tag::SEQUENCE, |w| {
                    w.integer(Tag::ENUMERATED, e.basic_service.value());
                    Optionals::encode(
                        w,
                        &e.msg_centre_id,
                        e.nb_of_messages,
                        &e.originating_nr,
                        &e.timestamp,
                        e.priority,
                    );
                });
            }
        });
    }

    /// The encoding as a new vector (the `result` of a ReturnResult).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.finish()
    }
}

/// An SS-MWI operation with its argument: what an Invoke asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MwiInvoke {
    /// mwiActivate (80).
    Activate(MwiActivateArg),
    /// mwiDeactivate (81).
    Deactivate(MwiDeactivateArg),
    /// mwiInterrogate (82).
    Interrogate(MwiInterrogateArg),
}

impl MwiInvoke {
    /// The operationValue: [`MWI_ACTIVATE`], [`MWI_DEACTIVATE`] or [`MWI_INTERROGATE`].
    pub fn operation_value(&self) -> i64 {
        match self {
            MwiInvoke::Activate(_) => MWI_ACTIVATE,
            MwiInvoke::Deactivate(_) => MWI_DEACTIVATE,
            MwiInvoke::Interrogate(_) => MWI_INTERROGATE,
        }
    }

    /// The served user the operation is about.
    pub fn served_user_nr(&self) -> &PartyNumber {
        match self {
            MwiInvoke::Activate(a) => &a.served_user_nr,
            MwiInvoke::Deactivate(a) | MwiInvoke::Interrogate(a) => &a.served_user_nr,
        }
    }

    /// The BER encoding of the argument.
    pub fn argument(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            MwiInvoke::Activate(a) => a.encode(&mut w),
            MwiInvoke::Deactivate(a) | MwiInvoke::Interrogate(a) => a.encode(&mut w),
        }
        w.finish()
    }

    /// Decodes an Invoke carrying an SS-MWI operation. Errors: [`Error::UnknownOperation`]
    /// for other operations (answer with a Reject, see [`Error::reject_problem`]),
    /// [`Error::NoArgument`], [`Error::Ber`].
    pub fn from_invoke(invoke: &Invoke<'_>) -> Result<MwiInvoke, Error> {
        let op = invoke.operation.local().ok_or(Error::UnknownOperation)?;
        if !(MWI_ACTIVATE..=MWI_INTERROGATE).contains(&op) {
            return Err(Error::UnknownOperation);
        }
        let arg = invoke.argument.ok_or(Error::NoArgument)?;
        Ok(match op {
            MWI_ACTIVATE => MwiInvoke::Activate(MwiActivateArg::decode(arg)?),
            MWI_DEACTIVATE => MwiInvoke::Deactivate(MwiDeactivateArg::decode(arg)?),
            _ => MwiInvoke::Interrogate(MwiDeactivateArg::decode(arg)?),
        })
    }

    /// Facility IE content (profile `9f`, NFE endPINX→endPINX, InterpretationApdu discard,
    /// Invoke) for this operation with the given invokeId: the bytes after `1c <len>`.
    /// Byte-identical to libpri for the same arguments.
    pub fn facility(&self, invoke_id: i64) -> Vec<u8> {
        let argument = self.argument();
        Facility::qsig(Component::Invoke(Invoke {
            invoke_id,
            linked_id: None,
            operation: Code::Local(self.operation_value()),
            argument: Some(&argument),
        }))
        .to_vec()
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
