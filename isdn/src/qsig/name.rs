//! QSIG name identification (ECMA-164, SS-CNIP / SS-CONP): the callingName of a SETUP and
//! the connectedName of a CONNECT, as ROSE invokes in a Facility IE.
//!
//! ```text
//! Name ::= CHOICE {
//!     namePresentationAllowedSimple      [0] IMPLICIT NameData,
//!     namePresentationAllowedExtended    [1] IMPLICIT NameSet,
//!     namePresentationRestrictedSimple   [2] IMPLICIT NameData,
//!     namePresentationRestrictedExtended [3] IMPLICIT NameSet,
//!     nameNotAvailable                   [4] IMPLICIT NULL,
//!     namePresentationRestrictedNull     [7] IMPLICIT NULL }
//! NameData ::= OCTET STRING (SIZE (1..50))
//! NameSet ::= SEQUENCE { nameData NameData, characterSet CharacterSet OPTIONAL }
//! callingName / connectedName ARGUMENT CHOICE { name Name,
//!     sequence SEQUENCE { name Name, extension ... OPTIONAL } }
//! ```

use crate::ber::{self, Reader, Tag, Tlv, Writer};
use crate::rose::{Code, Component, Facility, Invoke};

/// operationValue of callingName (ECMA-164, Name-Operations).
pub const CALLING_NAME: i64 = 0;
/// operationValue of calledName (ECMA-164, Name-Operations).
pub const CALLED_NAME: i64 = 1;
/// operationValue of connectedName (ECMA-164, Name-Operations).
pub const CONNECTED_NAME: i64 = 2;
/// operationValue of busyName (ECMA-164, Name-Operations).
pub const BUSY_NAME: i64 = 3;

/// Longest NameData, in octets (ECMA-164, NameData: SIZE (1..50)).
pub const MAX_NAME: usize = 50;

/// A name and whether it may be shown (ECMA-164 `Name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Name {
    /// namePresentationAllowedSimple / Extended: `data` may be shown.
    Allowed {
        /// NameData, 1..=[`MAX_NAME`] octets.
        data: Vec<u8>,
        /// CharacterSet (1 = ISO 8859-1, the default when absent); `Some` gives the
        /// Extended form.
        character_set: Option<u8>,
    },
    /// namePresentationRestrictedSimple / Extended: known but not to be shown.
    Restricted {
        /// NameData, 1..=[`MAX_NAME`] octets.
        data: Vec<u8>,
        /// CharacterSet, as for [`Name::Allowed`].
        character_set: Option<u8>,
    },
    /// namePresentationRestrictedNull: restricted, no name given.
    RestrictedNull,
    /// nameNotAvailable.
    NotAvailable,
}

impl Name {
    /// A name that may be shown, Simple form, cut to [`MAX_NAME`] octets; `None` for an
    /// empty `text`.
    pub fn allowed(text: &str) -> Option<Name> {
        let data: Vec<u8> = text.bytes().take(MAX_NAME).collect();
        (!data.is_empty()).then_some(Name::Allowed {
            data,
            character_set: None,
        })
    }

    /// The text of an allowed name (lossy for octets that are not UTF-8); `None` for a
    /// restricted or unavailable one.
    pub fn display(&self) -> Option<String> {
        match self {
            Name::Allowed { data, .. } => Some(String::from_utf8_lossy(data).into_owned()),
            _ => None,
        }
    }

    /// Decodes an operation argument: a `Name`, or the `sequence` alternative holding one.
    /// Errors: [`ber::Error::UnexpectedTag`] for anything else, [`ber::Error::BadValue`] for
    /// NameData of 0 or more than [`MAX_NAME`] octets, the BER errors of the elements.
    pub fn decode(arg: &[u8]) -> Result<Name, ber::Error> {
        let tlv = Reader::new(arg).read()?;
        if tlv.tag == Tag::SEQUENCE {
            return Name::from_tlv(tlv.reader()?.read()?);
        }
        Name::from_tlv(tlv)
    }

    fn from_tlv(tlv: Tlv<'_>) -> Result<Name, ber::Error> {
        let data = |t: &Tlv<'_>| -> Result<Vec<u8>, ber::Error> {
            let d = t.octets()?.into_owned();
            if d.is_empty() || d.len() > MAX_NAME {
                return Err(ber::Error::BadValue);
            }
            Ok(d)
        };
        let set = |t: &Tlv<'_>| -> Result<(Vec<u8>, Option<u8>), ber::Error> {
            let mut r = t.reader()?;
            let d = data(&r.read_tag(Tag::OCTET_STRING)?)?;
            let cs = match r.read_optional(Tag::INTEGER)? {
                Some(c) => {
                    Some(u8::try_from(c.integer_in(0, 255)?).map_err(|_| ber::Error::BadValue)?)
                }
                None => None,
            };
            Ok((d, cs))
        };
        let unexpected = ber::Error::UnexpectedTag {
            expected: Tag::context(0),
            found: tlv.tag,
        };
        if tlv.tag.class != ber::Class::Context {
            return Err(unexpected);
        }
        Ok(match tlv.tag.number {
            0 => Name::Allowed {
                data: data(&tlv)?,
                character_set: None,
            },
            1 => {
                let (data, character_set) = set(&tlv)?;
                Name::Allowed {
                    data,
                    character_set,
                }
            }
            2 => Name::Restricted {
                data: data(&tlv)?,
                character_set: None,
            },
            3 => {
                let (data, character_set) = set(&tlv)?;
                Name::Restricted {
                    data,
                    character_set,
                }
            }
            4 => Name::NotAvailable,
            7 => Name::RestrictedNull,
            _ => return Err(unexpected),
        })
    }

    /// Appends the BER encoding of the `name` alternative (Simple form unless a character
    /// set is given).
    pub fn encode(&self, w: &mut Writer) {
        let mut data_set = |n: u32, data: &[u8], cs: Option<u8>| match cs {
            None => w.primitive(Tag::context(n - 1), data),
            Some(cs) => w.constructed(Tag::context_constructed(n), |w| {
                w.primitive(Tag::OCTET_STRING, data);
                w.integer(Tag::INTEGER, i64::from(cs));
            }),
        };
        match self {
            Name::Allowed {
                data,
                character_set,
            } => data_set(1, data, *character_set),
            Name::Restricted {
                data,
                character_set,
            } => data_set(3, data, *character_set),
            Name::NotAvailable => w.primitive(Tag::context(4), &[]),
            Name::RestrictedNull => w.primitive(Tag::context(7), &[]),
        }
    }

    /// Facility IE content (profile `9f`, NFE endPINX→endPINX, InterpretationApdu discard,
    /// Invoke `operation` with this name as argument): the bytes after `1c <len>`.
    /// `operation` is [`CALLING_NAME`], [`CALLED_NAME`], [`CONNECTED_NAME`] or [`BUSY_NAME`].
    pub fn facility(&self, operation: i64, invoke_id: i64) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        let argument = w.finish();
        Facility::qsig(Component::Invoke(Invoke {
            invoke_id,
            linked_id: None,
            operation: Code::Local(operation),
            argument: Some(&argument),
        }))
        .to_vec()
    }

    /// The name of the first `operation` invoke among Facility IE contents `facilities` (a
    /// message may hold several); `None` if there is none or it does not decode (a name is
    /// supplementary: a bad one is dropped, the call goes on).
    pub fn find(facilities: &[&[u8]], operation: i64) -> Option<Name> {
        facilities.iter().find_map(|content| {
            let f = Facility::parse(content).ok()?;
            f.components.iter().find_map(|c| match c {
                Component::Invoke(i) if i.operation.local() == Some(operation) => {
                    Name::decode(i.argument?).ok()
                }
                _ => None,
            })
        })
    }
}
