//! BER (X.690 Basic Encoding Rules) TLV reader and writer, as used by ROSE and QSIG.
//!
//! Decoding is tolerant (X.690 §8.1): single- and multi-octet tags, definite short- and
//! long-form lengths, and the indefinite length form (constructed encodings closed by the
//! end-of-contents octets `00 00`). Nesting is bounded by [`MAX_DEPTH`] so hostile input cannot
//! exhaust the stack. Encoding is DER-like: definite lengths in their shortest form and minimal
//! two's-complement integers, which is what libpri and the golden frames use.
//!
//! Nothing here panics on any input: every access is bounds-checked and reported as [`Error`].

use std::fmt;

mod reader;
mod time;
mod writer;

pub use reader::{Reader, Tlv};
pub use time::GeneralizedTime;
pub use writer::Writer;

/// Maximum nesting depth of constructed encodings accepted by the reader (levels below the
/// outermost TLV). QSIG arguments nest at most about 6 levels; 32 leaves room for extensions.
pub const MAX_DEPTH: usize = 32;

/// Declares a C-like enum of named wire values plus `Other(value)` for the rest, with
/// `value()` / `from_value()` conversions that round-trip every value.
macro_rules! int_enum {
    ($repr:ty, $(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $v:ident = $n:expr,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $v,)*
            /// A value without a name here, kept as received.
            Other($repr),
        }
        impl $name {
            /// The value on the wire.
            pub fn value(self) -> $repr {
                match self { $($name::$v => $n,)* $name::Other(v) => v }
            }
            /// From the wire value; values without a name become `Other`.
            pub fn from_value(v: $repr) -> $name {
                match v { $($n => $name::$v,)* _ => $name::Other(v) }
            }
        }
    };
}
pub(crate) use int_enum;

/// Decoding and encoding errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The input ends inside a tag, length or content (X.690 §8.1).
    Truncated,
    /// A length octet is malformed: reserved `ff`, more than 4 length octets, or indefinite
    /// length on a primitive encoding (X.690 §8.1.3).
    BadLength,
    /// A tag number does not fit in 32 bits (X.690 §8.1.2.4).
    TagTooLong,
    /// Constructed encodings nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// An element has a different tag than the ASN.1 type requires.
    UnexpectedTag {
        /// The tag the ASN.1 type requires.
        expected: Tag,
        /// The tag found on the wire.
        found: Tag,
    },
    /// An element that the ASN.1 type requires is absent.
    Missing,
    /// An INTEGER or ENUMERATED is empty, longer than 8 octets, or outside the range of the
    /// ASN.1 type (e.g. `INTEGER(0..65535)`).
    BadInteger,
    /// A character string holds characters its type forbids (e.g. a letter in a NumericString).
    BadString,
    /// A constructed encoding was expected and a primitive one found, or the reverse.
    BadForm,
    /// A value is syntactically valid BER but not a value the ASN.1 type allows.
    BadValue,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("BER: truncated"),
            Error::BadLength => f.write_str("BER: malformed length"),
            Error::TagTooLong => f.write_str("BER: tag number too large"),
            Error::TooDeep => f.write_str("BER: nesting too deep"),
            Error::UnexpectedTag { expected, found } => {
                write!(f, "BER: expected tag {expected}, found {found}")
            }
            Error::Missing => f.write_str("BER: required element missing"),
            Error::BadInteger => f.write_str("BER: invalid INTEGER/ENUMERATED"),
            Error::BadString => f.write_str("BER: invalid character string"),
            Error::BadForm => f.write_str("BER: wrong primitive/constructed form"),
            Error::BadValue => f.write_str("BER: value out of range"),
        }
    }
}

impl std::error::Error for Error {}

/// Tag class (X.690 §8.1.2.2, bits 8-7 of the identifier octet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// `00`: UNIVERSAL (INTEGER, SEQUENCE, ...).
    Universal,
    /// `01`: APPLICATION.
    Application,
    /// `10`: context-specific (`[n]`).
    Context,
    /// `11`: PRIVATE.
    Private,
}

/// A BER identifier: class, primitive/constructed, tag number (X.690 §8.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag {
    /// Tag class.
    pub class: Class,
    /// `true` for a constructed encoding (bit 6 set).
    pub constructed: bool,
    /// Tag number.
    pub number: u32,
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.class {
            Class::Universal => "UNIVERSAL ",
            Class::Application => "APPLICATION ",
            Class::Context => "",
            Class::Private => "PRIVATE ",
        };
        let form = if self.constructed { "c" } else { "p" };
        write!(f, "[{class}{}]{form}", self.number)
    }
}

impl Tag {
    /// UNIVERSAL 1 BOOLEAN.
    pub const BOOLEAN: Tag = Tag::universal(1);
    /// UNIVERSAL 2 INTEGER.
    pub const INTEGER: Tag = Tag::universal(2);
    /// UNIVERSAL 4 OCTET STRING (primitive).
    pub const OCTET_STRING: Tag = Tag::universal(4);
    /// UNIVERSAL 5 NULL.
    pub const NULL: Tag = Tag::universal(5);
    /// UNIVERSAL 6 OBJECT IDENTIFIER.
    pub const OBJECT_IDENTIFIER: Tag = Tag::universal(6);
    /// UNIVERSAL 10 ENUMERATED.
    pub const ENUMERATED: Tag = Tag::universal(10);
    /// UNIVERSAL 16 SEQUENCE / SEQUENCE OF (always constructed).
    pub const SEQUENCE: Tag = Tag {
        class: Class::Universal,
        constructed: true,
        number: 16,
    };
    /// UNIVERSAL 17 SET / SET OF (always constructed).
    pub const SET: Tag = Tag {
        class: Class::Universal,
        constructed: true,
        number: 17,
    };
    /// UNIVERSAL 18 NumericString (primitive).
    pub const NUMERIC_STRING: Tag = Tag::universal(18);
    /// UNIVERSAL 22 IA5String (primitive).
    pub const IA5_STRING: Tag = Tag::universal(22);
    /// UNIVERSAL 24 GeneralizedTime (primitive).
    pub const GENERALIZED_TIME: Tag = Tag::universal(24);

    /// A primitive UNIVERSAL tag.
    pub const fn universal(number: u32) -> Tag {
        Tag {
            class: Class::Universal,
            constructed: false,
            number,
        }
    }

    /// A primitive context-specific tag `[number] IMPLICIT` on a primitive type.
    pub const fn context(number: u32) -> Tag {
        Tag {
            class: Class::Context,
            constructed: false,
            number,
        }
    }

    /// A constructed context-specific tag: `[number] EXPLICIT`, or `[number] IMPLICIT` on a
    /// SEQUENCE.
    pub const fn context_constructed(number: u32) -> Tag {
        Tag {
            class: Class::Context,
            constructed: true,
            number,
        }
    }

    /// Same class and number, ignoring the primitive/constructed bit. Used where X.690 lets a
    /// sender choose the form (strings) and for tolerant matching.
    pub fn same_type(&self, other: &Tag) -> bool {
        self.class == other.class && self.number == other.number
    }

    /// Parses an identifier at the start of `buf`; returns the tag and the octets it took.
    pub fn parse(buf: &[u8]) -> Result<(Tag, usize), Error> {
        let first = *buf.first().ok_or(Error::Truncated)?;
        let class = match first >> 6 {
            0 => Class::Universal,
            1 => Class::Application,
            2 => Class::Context,
            _ => Class::Private,
        };
        let constructed = first & 0x20 != 0;
        let low = u32::from(first & 0x1f);
        if low != 0x1f {
            return Ok((
                Tag {
                    class,
                    constructed,
                    number: low,
                },
                1,
            ));
        }
        // High tag number form (X.690 §8.1.2.4): base-128, bit 8 = more octets follow.
        let mut number: u32 = 0;
        for (i, &b) in buf.iter().enumerate().skip(1) {
            if number > (u32::MAX >> 7) {
                return Err(Error::TagTooLong);
            }
            number = (number << 7) | u32::from(b & 0x7f);
            if b & 0x80 == 0 {
                return Ok((
                    Tag {
                        class,
                        constructed,
                        number,
                    },
                    i + 1,
                ));
            }
        }
        Err(Error::Truncated)
    }

    /// Appends the identifier octets (shortest form) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let class_bits = match self.class {
            Class::Universal => 0x00,
            Class::Application => 0x40,
            Class::Context => 0x80,
            Class::Private => 0xc0,
        };
        let first = class_bits | if self.constructed { 0x20 } else { 0 };
        if self.number < 0x1f {
            // Fits in 5 bits by the check above.
            out.push(first | self.number as u8);
            return;
        }
        out.push(first | 0x1f);
        let mut groups = [0u8; 5];
        let mut n = self.number;
        let mut len = 0;
        while n > 0 || len == 0 {
            groups[len] = (n & 0x7f) as u8;
            n >>= 7;
            len += 1;
        }
        for i in (0..len).rev() {
            let more = if i > 0 { 0x80 } else { 0 };
            out.push(groups[i] | more);
        }
    }
}
