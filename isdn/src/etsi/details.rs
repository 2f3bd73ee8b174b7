//! The element codec shared by the ETSI MWI arguments (EN 300 745-1): the `[n] EXPLICIT`
//! wrappers, the optional elements mwiActivate and mwiIndicate have in common under different
//! tag numbers, and the mandatory head of mwiActivate / mwiDeactivate. Apart from the argument
//! types so that each of them reads as its ASN.1 SEQUENCE and nothing else.

use crate::ber::{self, Class, Reader, Tag, Tlv, Writer};
use crate::qsig::{BasicService, PartyNumber};

use super::MessageId;

/// A MessageCounter or MessageReference: `INTEGER (0..65535)`.
pub(super) fn u16_of(tlv: &Tlv<'_>) -> Result<u16, ber::Error> {
    u16::try_from(tlv.integer()?).map_err(|_| ber::Error::BadInteger)
}

/// The one element inside an `[n] EXPLICIT` tag.
fn explicit<'a>(tlv: &Tlv<'a>) -> Result<Tlv<'a>, ber::Error> {
    tlv.reader()?.read()
}

/// The ENUMERATED inside an `[n] EXPLICIT` tag.
pub(super) fn explicit_enumerated(tlv: &Tlv<'_>) -> Result<i64, ber::Error> {
    explicit(tlv)?.expect(Tag::ENUMERATED)?.integer()
}

/// Writes `body` inside an `[n] EXPLICIT` tag.
pub(super) fn tagged(w: &mut Writer, n: u32, body: impl FnOnce(&mut Writer)) {
    w.constructed(Tag::context_constructed(n), body);
}

/// The optional elements that mwiActivate and mwiIndicate share, each `[n] EXPLICIT` (the tag
/// numbers differ between the two arguments).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(super) struct Details {
    pub(super) controlling_user_nr: Option<PartyNumber>,
    pub(super) number_of_messages: Option<u16>,
    pub(super) controlling_user_provided_nr: Option<PartyNumber>,
    pub(super) time: Option<ber::GeneralizedTime>,
    pub(super) message_id: Option<MessageId>,
}

/// Tag numbers of [`Details`]' elements, in ASN.1 order.
pub(super) struct DetailTags {
    controlling_user_nr: u32,
    number_of_messages: u32,
    controlling_user_provided_nr: u32,
    time: u32,
    message_id: u32,
}

/// MWIActivateArg's tags: `[1] [2] [3] [4] [5]`, mode `[6]`.
pub(super) const ACTIVATE_TAGS: DetailTags = DetailTags {
    controlling_user_nr: 1,
    number_of_messages: 2,
    controlling_user_provided_nr: 3,
    time: 4,
    message_id: 5,
};

/// MWIIndicateArg's tags: `[1]`, basicService `[2]`, then `[3] [4] [5] [6]`.
pub(super) const INDICATE_TAGS: DetailTags = DetailTags {
    controlling_user_nr: 1,
    number_of_messages: 3,
    controlling_user_provided_nr: 4,
    time: 5,
    message_id: 6,
};

impl Details {
    /// Takes `t` if it is one of the elements; false when its tag is none of them.
    pub(super) fn take(&mut self, tags: &DetailTags, t: &Tlv<'_>) -> Result<bool, ber::Error> {
        if t.tag.class != Class::Context || !t.tag.constructed {
            return Ok(false);
        }
        let n = t.tag.number;
        if n == tags.controlling_user_nr {
            self.controlling_user_nr = Some(PartyNumber::decode(explicit(t)?)?);
        } else if n == tags.number_of_messages {
            self.number_of_messages = Some(u16_of(&explicit(t)?.expect(Tag::INTEGER)?)?);
        } else if n == tags.controlling_user_provided_nr {
            self.controlling_user_provided_nr = Some(PartyNumber::decode(explicit(t)?)?);
        } else if n == tags.time {
            let inner = explicit(t)?;
            if !inner.tag.same_type(&Tag::GENERALIZED_TIME) {
                return Err(ber::Error::UnexpectedTag {
                    expected: Tag::GENERALIZED_TIME,
                    found: inner.tag,
                });
            }
            self.time = Some(inner.generalized_time()?);
        } else if n == tags.message_id {
            self.message_id = Some(MessageId::decode(explicit(t)?)?);
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    pub(super) fn encode_head(&self, tags: &DetailTags, w: &mut Writer) {
        if let Some(p) = &self.controlling_user_nr {
            tagged(w, tags.controlling_user_nr, |w| p.encode(w));
        }
    }

    pub(super) fn encode_tail(&self, tags: &DetailTags, w: &mut Writer) {
        if let Some(n) = self.number_of_messages {
            tagged(w, tags.number_of_messages, |w| {
                w.integer(Tag::INTEGER, i64::from(n))
            });
        }
        if let Some(p) = &self.controlling_user_provided_nr {
            tagged(w, tags.controlling_user_provided_nr, |w| p.encode(w));
        }
        if let Some(t) = &self.time {
            tagged(w, tags.time, |w| {
                w.primitive(Tag::GENERALIZED_TIME, t.as_str().as_bytes())
            });
        }
        if let Some(m) = &self.message_id {
            tagged(w, tags.message_id, |w| m.encode(w));
        }
    }
}

/// Reads a SEQUENCE argument's receivingUserNr and basicService, the two mandatory elements of
/// mwiActivate and mwiDeactivate.
pub(super) fn decode_head(
    buf: &[u8],
) -> Result<(Reader<'_>, PartyNumber, BasicService), ber::Error> {
    let mut r = Reader::new(buf).read_tag(Tag::SEQUENCE)?.reader()?;
    let receiving = PartyNumber::decode(r.read()?)?;
    let service = BasicService::from_value(r.read_enumerated()?);
    Ok((r, receiving, service))
}
