//! The BER writer: definite lengths in their shortest form, minimal integers.

use super::Tag;

/// BER writer: appends TLVs to a byte vector with definite lengths in their shortest form.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// The encoded octets.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// The octets written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Writes a TLV with the given content octets.
    pub fn primitive(&mut self, tag: Tag, value: &[u8]) {
        tag.emit(&mut self.buf);
        emit_length(&mut self.buf, value.len());
        self.buf.extend_from_slice(value);
    }

    /// Writes a constructed TLV whose content `body` writes; the length is filled in after.
    pub fn constructed(&mut self, tag: Tag, body: impl FnOnce(&mut Writer)) {
        tag.emit(&mut self.buf);
        let len_at = self.buf.len();
        body(self);
        let len = self.buf.len() - len_at;
        let mut len_octets = Vec::with_capacity(5);
        emit_length(&mut len_octets, len);
        self.buf.splice(len_at..len_at, len_octets);
    }

    /// Writes an integer (INTEGER, ENUMERATED or an IMPLICIT tag on them) in minimal
    /// two's complement (X.690 §8.3.2).
    pub fn integer(&mut self, tag: Tag, value: i64) {
        let bytes = value.to_be_bytes();
        let mut start = 0;
        while start < 7 {
            let (b, next) = (bytes[start], bytes[start + 1]);
            let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
            if !redundant {
                break;
            }
            start += 1;
        }
        self.primitive(tag, &bytes[start..]);
    }

    /// Writes NULL.
    pub fn null(&mut self) {
        self.primitive(Tag::NULL, &[]);
    }

    /// Appends already-encoded TLVs (e.g. a ROSE argument) unchanged.
    pub fn raw(&mut self, encoded: &[u8]) {
        self.buf.extend_from_slice(encoded);
    }
}

/// Appends a definite length, short form below 128, else long form (X.690 §8.1.3.4-5).
fn emit_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Fits in 7 bits by the check above.
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.push(0x80 | (8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ber::Reader;

    #[test]
    fn integer_encoding_is_minimal() {
        for (v, enc) in [
            (0i64, &[0x00][..]),
            (127, &[0x7f]),
            (128, &[0x00, 0x80]),
            (-1, &[0xff]),
            (-128, &[0x80]),
            (-129, &[0xff, 0x7f]),
            (65535, &[0x00, 0xff, 0xff]),
        ] {
            let mut w = Writer::new();
            w.integer(Tag::INTEGER, v);
            let out = w.finish();
            assert_eq!(&out[2..], enc, "value {v}");
            assert_eq!(Reader::new(&out).read_integer(), Ok(v));
        }
    }
}
