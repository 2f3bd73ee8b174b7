//! The BER reader: one TLV ([`Tlv`]) and a run of them ([`Reader`]), bounded by
//! [`MAX_DEPTH`](super::MAX_DEPTH).

use super::{Error, GeneralizedTime, Tag, MAX_DEPTH};

/// One decoded TLV: its tag and content octets.
///
/// For the indefinite length form, `value` holds the content up to (not including) the
/// end-of-contents octets; the nested TLVs inside it are themselves valid BER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// Identifier.
    pub tag: Tag,
    /// Content octets.
    pub value: &'a [u8],
    /// The whole encoding, identifier and length octets included (and `00 00` for indefinite
    /// lengths). Useful to hand an `ANY` (e.g. a ROSE argument) to another decoder.
    pub raw: &'a [u8],
    depth: usize,
}

impl<'a> Tlv<'a> {
    /// A reader over the nested TLVs of a constructed encoding.
    ///
    /// Errors: [`Error::BadForm`] if this TLV is primitive, [`Error::TooDeep`] past
    /// [`MAX_DEPTH`].
    pub fn reader(&self) -> Result<Reader<'a>, Error> {
        if !self.tag.constructed {
            return Err(Error::BadForm);
        }
        if self.depth >= MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        Ok(Reader {
            buf: self.value,
            depth: self.depth + 1,
        })
    }

    /// Fails with [`Error::UnexpectedTag`] unless the tag is `expected` (form included).
    pub fn expect(self, expected: Tag) -> Result<Tlv<'a>, Error> {
        if self.tag == expected {
            Ok(self)
        } else {
            Err(Error::UnexpectedTag {
                expected,
                found: self.tag,
            })
        }
    }

    /// The content as a two's-complement integer (INTEGER, ENUMERATED or an IMPLICIT tag on
    /// them; X.690 §8.3). Errors: [`Error::BadInteger`] if empty or wider than 64 bits,
    /// [`Error::BadForm`] if constructed.
    pub fn integer(&self) -> Result<i64, Error> {
        if self.tag.constructed {
            return Err(Error::BadForm);
        }
        decode_integer(self.value)
    }

    /// The content as an integer in `min..=max`; [`Error::BadInteger`] otherwise.
    pub fn integer_in(&self, min: i64, max: i64) -> Result<i64, Error> {
        let v = self.integer()?;
        if (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(Error::BadInteger)
        }
    }

    /// The content octets of a string type. A constructed string (X.690 §8.21, allowed in BER)
    /// is flattened by concatenating its primitive segments.
    pub fn octets(&self) -> Result<std::borrow::Cow<'a, [u8]>, Error> {
        if !self.tag.constructed {
            return Ok(std::borrow::Cow::Borrowed(self.value));
        }
        let mut out = Vec::new();
        let mut r = self.reader()?;
        while let Some(seg) = r.next_tlv()? {
            out.extend_from_slice(&seg.octets()?);
        }
        Ok(std::borrow::Cow::Owned(out))
    }

    /// The content as a NumericString: digits `0`-`9` and space (X.680 §41.2). PBXs put `*` and
    /// `#` into number digits too, so those are accepted. Errors: [`Error::BadString`].
    pub fn numeric_string(&self) -> Result<String, Error> {
        let bytes = self.octets()?;
        if bytes
            .iter()
            .all(|&b| b.is_ascii_digit() || b == b' ' || b == b'*' || b == b'#')
        {
            // All ASCII by the check above.
            Ok(bytes.iter().map(|&b| char::from(b)).collect())
        } else {
            Err(Error::BadString)
        }
    }

    /// The content as a GeneralizedTime (X.680 §46); see [`GeneralizedTime`].
    pub fn generalized_time(&self) -> Result<GeneralizedTime, Error> {
        let bytes = self.octets()?;
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::BadString)?;
        GeneralizedTime::new(text)
    }

    /// Fails with [`Error::BadValue`] unless the content is empty (NULL, X.690 §8.8).
    pub fn null(&self) -> Result<(), Error> {
        if self.value.is_empty() && !self.tag.constructed {
            Ok(())
        } else {
            Err(Error::BadValue)
        }
    }
}

/// Parses one TLV at the start of `buf` at nesting level `depth`.
fn parse_tlv(buf: &[u8], depth: usize) -> Result<Tlv<'_>, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep);
    }
    let (tag, tag_len) = Tag::parse(buf)?;
    let rest = buf.get(tag_len..).ok_or(Error::Truncated)?;
    let first = *rest.first().ok_or(Error::Truncated)?;
    let header = tag_len + 1;
    if first == 0x80 {
        // Indefinite form (X.690 §8.1.3.6): constructed only, closed by 00 00.
        if !tag.constructed {
            return Err(Error::BadLength);
        }
        let content = rest.get(1..).ok_or(Error::Truncated)?;
        let mut pos = 0;
        loop {
            let here = content.get(pos..).ok_or(Error::Truncated)?;
            if here.len() >= 2 && here[0] == 0 && here[1] == 0 {
                let value = &content[..pos];
                let total = header + pos + 2;
                return Ok(Tlv {
                    tag,
                    value,
                    raw: buf.get(..total).ok_or(Error::Truncated)?,
                    depth,
                });
            }
            let inner = parse_tlv(here, depth + 1)?;
            pos += inner.raw.len();
        }
    }
    let (len, len_len) = if first & 0x80 == 0 {
        (usize::from(first), 1)
    } else {
        let n = usize::from(first & 0x7f);
        if n > 4 || first == 0xff {
            return Err(Error::BadLength);
        }
        let octets = rest.get(1..1 + n).ok_or(Error::Truncated)?;
        let len = octets
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, 1 + n)
    };
    let start = tag_len + len_len;
    let end = start.checked_add(len).ok_or(Error::BadLength)?;
    let value = buf.get(start..end).ok_or(Error::Truncated)?;
    Ok(Tlv {
        tag,
        value,
        raw: &buf[..end],
        depth,
    })
}

/// Decodes a two's-complement big-endian integer of 1 to 8 octets.
fn decode_integer(bytes: &[u8]) -> Result<i64, Error> {
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(Error::BadInteger);
    }
    let negative = bytes[0] & 0x80 != 0;
    let init: i64 = if negative { -1 } else { 0 };
    Ok(bytes.iter().fold(init, |acc, &b| (acc << 8) | i64::from(b)))
}

/// Sequential reader over a run of TLVs (the content of a constructed encoding, or a whole
/// buffer).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` at nesting level 0.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, depth: 0 }
    }

    /// `true` when every TLV has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The octets not yet read.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf
    }

    /// Reads the next TLV, or `None` at the end of the input.
    pub fn next_tlv(&mut self) -> Result<Option<Tlv<'a>>, Error> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let tlv = parse_tlv(self.buf, self.depth)?;
        self.buf = &self.buf[tlv.raw.len()..];
        Ok(Some(tlv))
    }

    /// Reads the next TLV; [`Error::Missing`] at the end of the input.
    pub fn read(&mut self) -> Result<Tlv<'a>, Error> {
        self.next_tlv()?.ok_or(Error::Missing)
    }

    /// Reads the next TLV and checks its tag (form included).
    pub fn read_tag(&mut self, expected: Tag) -> Result<Tlv<'a>, Error> {
        self.read()?.expect(expected)
    }

    /// The tag of the next TLV without consuming it; `None` at the end of the input.
    pub fn peek_tag(&self) -> Option<Tag> {
        Tag::parse(self.buf).ok().map(|(t, _)| t)
    }

    /// Reads the next TLV only if its class and number match `expected` (either form).
    pub fn read_optional(&mut self, expected: Tag) -> Result<Option<Tlv<'a>>, Error> {
        match self.peek_tag() {
            Some(t) if t.same_type(&expected) => self.read().map(Some),
            _ => Ok(None),
        }
    }

    /// Reads an INTEGER (UNIVERSAL 2).
    pub fn read_integer(&mut self) -> Result<i64, Error> {
        self.read_tag(Tag::INTEGER)?.integer()
    }

    /// Reads an ENUMERATED (UNIVERSAL 10).
    pub fn read_enumerated(&mut self) -> Result<i64, Error> {
        self.read_tag(Tag::ENUMERATED)?.integer()
    }
}
