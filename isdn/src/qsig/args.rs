//! The SS-MWI arguments and results (ECMA-242 §7) and [`MwiInvoke`], the operation with its
//! argument.

use super::{
    BasicService, Error, MsgCentreId, PartyNumber, MWI_ACTIVATE, MWI_DEACTIVATE, MWI_INTERROGATE,
};
use crate::ber::{self, Class, Reader, Tag, Writer};
use crate::rose::{Code, Component, Facility, Invoke};

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
