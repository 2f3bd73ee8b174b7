//! One ROSE APDU ([`Component`], X.880): parse, emit and its one-line summary.

use super::{
    Code, Error, GeneralProblem, Invoke, InvokeProblem, OperationResult, Problem, Reject,
    ReturnError, ReturnErrorProblem, ReturnResult, ReturnResultProblem,
};
use crate::ber::{self, Class, Reader, Tag, Tlv, Writer};
use std::fmt;

/// One ROSE APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component<'a> {
    /// `[1]` Invoke.
    Invoke(Invoke<'a>),
    /// `[2]` ReturnResult.
    ReturnResult(ReturnResult<'a>),
    /// `[3]` ReturnError.
    ReturnError(ReturnError<'a>),
    /// `[4]` Reject.
    Reject(Reject),
}

const TAG_INVOKE: Tag = Tag::context_constructed(1);
const TAG_RETURN_RESULT: Tag = Tag::context_constructed(2);
const TAG_RETURN_ERROR: Tag = Tag::context_constructed(3);
const TAG_REJECT: Tag = Tag::context_constructed(4);
const TAG_LINKED_ID: Tag = Tag::context(0);
const TAG_LINKED_ID_ABSENT: Tag = Tag::context(1);

/// Reads the next element as a complete TLV (an `ANY`), if there is one.
fn any<'a>(r: &mut Reader<'a>) -> Result<Option<&'a [u8]>, Error> {
    Ok(r.next_tlv()?.map(|t| t.raw))
}

impl<'a> Component<'a> {
    /// The invokeId this APDU carries (`None` for a Reject with a NULL invokeId).
    pub fn invoke_id(&self) -> Option<i64> {
        match self {
            Component::Invoke(i) => Some(i.invoke_id),
            Component::ReturnResult(r) => Some(r.invoke_id),
            Component::ReturnError(e) => Some(e.invoke_id),
            Component::Reject(r) => r.invoke_id,
        }
    }

    /// Parses one APDU from a TLV. Elements after the ones X.880 defines are ignored (the
    /// extension marker); a missing or mistyped mandatory element is an error.
    pub fn parse(tlv: Tlv<'a>) -> Result<Component<'a>, Error> {
        let tag = tlv.tag;
        if tag.class != Class::Context || !tag.constructed {
            return Err(Error::UnknownComponent(tag));
        }
        let mut r = tlv.reader()?;
        match tag.number {
            1 => {
                let invoke_id = r.read_integer()?;
                let linked_id = match r.read_optional(TAG_LINKED_ID)? {
                    Some(t) => Some(t.integer()?),
                    None => None,
                };
                // X.880 (1994) may say "absent" explicitly with `[1] IMPLICIT NULL`.
                if let Some(absent) = r.read_optional(TAG_LINKED_ID_ABSENT)? {
                    absent.null()?;
                }
                let operation = Code::parse(r.read()?)?;
                let argument = any(&mut r)?;
                Ok(Component::Invoke(Invoke {
                    invoke_id,
                    linked_id,
                    operation,
                    argument,
                }))
            }
            2 => {
                let invoke_id = r.read_integer()?;
                let result = match r.next_tlv()? {
                    None => None,
                    Some(seq) => {
                        let mut s = seq.expect(Tag::SEQUENCE)?.reader()?;
                        let operation = Code::parse(s.read()?)?;
                        let result = s.read()?.raw;
                        Some(OperationResult { operation, result })
                    }
                };
                Ok(Component::ReturnResult(ReturnResult { invoke_id, result }))
            }
            3 => {
                let invoke_id = r.read_integer()?;
                let error = Code::parse(r.read()?)?;
                let parameter = any(&mut r)?;
                Ok(Component::ReturnError(ReturnError {
                    invoke_id,
                    error,
                    parameter,
                }))
            }
            4 => {
                let id = r.read()?;
                let invoke_id = if id.tag == Tag::NULL {
                    None
                } else {
                    Some(id.expect(Tag::INTEGER)?.integer()?)
                };
                let p = r.read()?;
                if p.tag.class != Class::Context || p.tag.constructed {
                    return Err(ber::Error::BadForm.into());
                }
                let v = p.integer()?;
                let problem = match p.tag.number {
                    0 => Problem::General(GeneralProblem::from_value(v)),
                    1 => Problem::Invoke(InvokeProblem::from_value(v)),
                    2 => Problem::ReturnResult(ReturnResultProblem::from_value(v)),
                    3 => Problem::ReturnError(ReturnErrorProblem::from_value(v)),
                    _ => return Err(ber::Error::BadValue.into()),
                };
                Ok(Component::Reject(Reject { invoke_id, problem }))
            }
            _ => Err(Error::UnknownComponent(tag)),
        }
    }

    /// Appends the BER encoding of this APDU.
    pub fn emit(&self, w: &mut Writer) {
        match self {
            Component::Invoke(i) => w.constructed(TAG_INVOKE, |w| {
                w.integer(Tag::INTEGER, i.invoke_id);
                if let Some(l) = i.linked_id {
                    w.integer(TAG_LINKED_ID, l);
                }
                i.operation.emit(w);
                if let Some(a) = i.argument {
                    w.raw(a);
                }
            }),
            Component::ReturnResult(r) => w.constructed(TAG_RETURN_RESULT, |w| {
                w.integer(Tag::INTEGER, r.invoke_id);
                if let Some(res) = &r.result {
                    w.constructed(Tag::SEQUENCE, |w| {
                        res.operation.emit(w);
                        w.raw(res.result);
                    });
                }
            }),
            Component::ReturnError(e) => w.constructed(TAG_RETURN_ERROR, |w| {
                w.integer(Tag::INTEGER, e.invoke_id);
                e.error.emit(w);
                if let Some(p) = e.parameter {
                    w.raw(p);
                }
            }),
            Component::Reject(r) => w.constructed(TAG_REJECT, |w| {
                match r.invoke_id {
                    Some(id) => w.integer(Tag::INTEGER, id),
                    None => w.null(),
                }
                let (n, v) = match r.problem {
                    Problem::General(p) => (0, p.value()),
                    Problem::Invoke(p) => (1, p.value()),
                    Problem::ReturnResult(p) => (2, p.value()),
                    Problem::ReturnError(p) => (3, p.value()),
                };
                w.integer(Tag::context(n), v);
            }),
        }
    }
}

/// A local code as its number, a global one as `oid:` and the OID's content octets in hex.
impl fmt::Display for Code<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Local(v) => write!(f, "{v}"),
            Code::Global(oid) => {
                f.write_str("oid:")?;
                oid.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// The problem family and code in X.880's terms, e.g. `invoke/UnrecognizedOperation`.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::General(p) => write!(f, "general/{p:?}"),
            Problem::Invoke(p) => write!(f, "invoke/{p:?}"),
            Problem::ReturnResult(p) => write!(f, "returnResult/{p:?}"),
            Problem::ReturnError(p) => write!(f, "returnError/{p:?}"),
        }
    }
}

/// One line per APDU, operation and error codes as numbers and BER values by their length,
/// e.g. `invoke id=1 op=80 arg(11)`, `returnResult id=1 op=80 result(2)`,
/// `returnError id=1 error=1018`, `reject id=1 problem=invoke/UnrecognizedOperation`.
/// [`crate::qsig::Apdu`] names and decodes the SS-MWI operations.
impl fmt::Display for Component<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Component::Invoke(i) => {
                write!(f, "invoke id={}", i.invoke_id)?;
                if let Some(l) = i.linked_id {
                    write!(f, " linked={l}")?;
                }
                write!(f, " op={}", i.operation)?;
                match i.argument {
                    Some(a) => write!(f, " arg({})", a.len()),
                    None => Ok(()),
                }
            }
            Component::ReturnResult(r) => {
                write!(f, "returnResult id={}", r.invoke_id)?;
                match &r.result {
                    Some(o) => write!(f, " op={} result({})", o.operation, o.result.len()),
                    None => Ok(()),
                }
            }
            Component::ReturnError(e) => {
                write!(f, "returnError id={} error={}", e.invoke_id, e.error)?;
                match e.parameter {
                    Some(p) => write!(f, " parameter({})", p.len()),
                    None => Ok(()),
                }
            }
            Component::Reject(r) => {
                match r.invoke_id {
                    Some(id) => write!(f, "reject id={id}")?,
                    None => f.write_str("reject id=none")?,
                }
                write!(f, " problem={}", r.problem)
            }
        }
    }
}
