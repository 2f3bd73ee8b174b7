//! One-line summaries of SS-MWI operations for the debug log.

use super::{
    BasicService, Error, MsgCentreId, MwiInvoke, PartyNumber, MWI_ACTIVATE, MWI_DEACTIVATE,
    MWI_INTERROGATE,
};
use crate::etsi;
use crate::rose::Component;
use std::fmt;

/// The ECMA-242 name of an SS-MWI operationValue (`mwiActivate` for 80), `None` for others.
pub fn operation_name(operation_value: i64) -> Option<&'static str> {
    match operation_value {
        MWI_ACTIVATE => Some("mwiActivate"),
        MWI_DEACTIVATE => Some("mwiDeactivate"),
        MWI_INTERROGATE => Some("mwiInterrogate"),
        _ => None,
    }
}

/// The ASN.1 identifier of the value (`speech`, `audio3100Hz`), or the number for a value
/// without a name here.
impl fmt::Display for BasicService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BasicService::AllServices => "allServices",
            BasicService::Speech => "speech",
            BasicService::UnrestrictedDigitalInformation => "unrestrictedDigitalInformation",
            BasicService::Audio3100Hz => "audio3100Hz",
            BasicService::Telephony => "telephony",
            BasicService::Teletex => "teletex",
            BasicService::TelefaxGroup4Class1 => "telefaxGroup4Class1",
            BasicService::VideotexSyntaxBased => "videotexSyntaxBased",
            BasicService::Videotelephony => "videotelephony",
            BasicService::Other(v) => return write!(f, "{v}"),
        })
    }
}

/// The digits, behind the numbering plan for every alternative but unknownPartyNumber:
/// `1234`, `public/National:1234`, `private/Local:1234`, `data:1234`, `telex:..`, `national:..`.
impl fmt::Display for PartyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartyNumber::Unknown(d) => f.write_str(d),
            PartyNumber::Public { ton, digits } => write!(f, "public/{ton:?}:{digits}"),
            PartyNumber::Data(d) => write!(f, "data:{d}"),
            PartyNumber::Telex(d) => write!(f, "telex:{d}"),
            PartyNumber::Private { ton, digits } => write!(f, "private/{ton:?}:{digits}"),
            PartyNumber::NationalStandard(d) => write!(f, "national:{d}"),
        }
    }
}

/// The integer, the party number or the string, whichever the choice holds.
impl fmt::Display for MsgCentreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsgCentreId::Integer(v) => write!(f, "{v}"),
            MsgCentreId::PartyNumber(p) => write!(f, "{p}"),
            MsgCentreId::NumericString(s) => f.write_str(s),
        }
    }
}

/// The operation by name and value, then every argument present under its ASN.1 name:
/// `op=mwiActivate(80) servedUserNr=1234 basicService=speech nbOfMessages=3`.
impl fmt::Display for MwiInvoke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.operation_value();
        let name = operation_name(op).unwrap_or("?");
        write!(f, "op={name}({op}) servedUserNr={}", self.served_user_nr())?;
        let (service, centre) = match self {
            MwiInvoke::Activate(a) => (a.basic_service, &a.msg_centre_id),
            MwiInvoke::Deactivate(a) | MwiInvoke::Interrogate(a) => {
                (a.basic_service, &a.msg_centre_id)
            }
        };
        write!(f, " basicService={service}")?;
        if let Some(m) = centre {
            write!(f, " msgCentreId={m}")?;
        }
        if let MwiInvoke::Activate(a) = self {
            if let Some(n) = a.nb_of_messages {
                write!(f, " nbOfMessages={n}")?;
            }
            if let Some(o) = &a.originating_nr {
                write!(f, " originatingNr={o}")?;
            }
            if let Some(t) = &a.timestamp {
                write!(f, " timestamp={}", t.as_str())?;
            }
            if let Some(p) = a.priority {
                write!(f, " priority={p}")?;
            }
        }
        Ok(())
    }
}

/// A ROSE APDU shown with its SS-MWI meaning where it has one: an Invoke of operation 80-82
/// as `invoke id=1 op=mwiActivate(80) servedUserNr=1234 basicService=speech nbOfMessages=3`,
/// an ETSI MWI invoke as `invoke id=1 op=mwiActivate{0 4 0 745 1 1} receivingUserNr=1234 ...`
/// ([`crate::etsi`]; one whose argument does not decode gets the reason in parentheses),
/// every other APDU as [`Component`]'s own line.
#[derive(Debug, Clone, Copy)]
pub struct Apdu<'a>(pub &'a Component<'a>);

impl fmt::Display for Apdu<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Component::Invoke(invoke) = self.0 else {
            return write!(f, "{}", self.0);
        };
        let shown = match MwiInvoke::from_invoke(invoke) {
            Ok(mwi) => return write!(f, "invoke id={} {mwi}", invoke.invoke_id),
            Err(Error::UnknownOperation) => etsi::MwiInvoke::from_invoke(invoke)
                .map(|mwi| write!(f, "invoke id={} {mwi}", invoke.invoke_id)),
            Err(e) => Err(e),
        };
        match shown {
            Ok(written) => written,
            Err(Error::UnknownOperation) => write!(f, "{}", self.0),
            Err(e) => write!(f, "{} ({e})", self.0),
        }
    }
}
