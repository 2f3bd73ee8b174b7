//! BER reader/writer: length forms, tags, depth limit, GeneralizedTime, and properties.

mod common;

use common::hex;

use isdn::ber::{Class, Error, GeneralizedTime, Reader, Tag, Tlv, Writer, MAX_DEPTH};
use proptest::prelude::*;

#[test]
fn short_and_long_form_lengths() {
    for enc in [
        "04 03 616263",
        "04 81 03 616263",
        "04 82 0003 616263",
        "04 84 00000003 616263",
    ] {
        let b = hex(enc);
        let t = Reader::new(&b).read().unwrap();
        assert_eq!(t.tag, Tag::OCTET_STRING);
        assert_eq!(t.value, b"abc", "{enc}");
        assert_eq!(t.raw, &b[..]);
    }
    // Writer uses the long form from 128 octets on.
    let mut w = Writer::new();
    w.primitive(Tag::OCTET_STRING, &[0u8; 200]);
    let out = w.finish();
    assert_eq!(&out[..3], &[0x04, 0x81, 200]);
    assert_eq!(Reader::new(&out).read().unwrap().value.len(), 200);
    let mut w = Writer::new();
    w.constructed(Tag::SEQUENCE, |w| {
        w.primitive(Tag::OCTET_STRING, &[1u8; 300])
    });
    let out = w.finish();
    assert_eq!(&out[..4], &[0x30, 0x82, 0x01, 0x30]);
}

#[test]
fn malformed_lengths() {
    assert_eq!(
        Reader::new(&hex("04 85 0000000001 00")).read(),
        Err(Error::BadLength)
    );
    assert_eq!(Reader::new(&hex("04 ff")).read(), Err(Error::BadLength));
    assert_eq!(
        Reader::new(&hex("04 05 0102")).read(),
        Err(Error::Truncated)
    );
    assert_eq!(Reader::new(&hex("04 82 01")).read(), Err(Error::Truncated));
    // Indefinite length is for constructed encodings only.
    assert_eq!(
        Reader::new(&hex("04 80 0000")).read(),
        Err(Error::BadLength)
    );
    assert_eq!(
        Reader::new(&hex("30 80 020101")).read(),
        Err(Error::Truncated)
    );
    assert_eq!(Reader::new(&hex("30")).read(), Err(Error::Truncated));
}

#[test]
fn indefinite_lengths_nest() {
    let b = hex("30 80 a1 80 02 01 05 00 00 04 01 ff 00 00 02 01 07");
    let mut r = Reader::new(&b);
    let seq = r.read().unwrap();
    assert_eq!(seq.tag, Tag::SEQUENCE);
    assert_eq!(seq.raw.len(), 14);
    let mut inner = seq.reader().unwrap();
    let a1 = inner.read().unwrap();
    assert_eq!(a1.tag, Tag::context_constructed(1));
    assert_eq!(a1.reader().unwrap().read_integer(), Ok(5));
    assert_eq!(inner.read().unwrap().value, &[0xff]);
    assert!(inner.is_empty());
    assert_eq!(r.read_integer(), Ok(7));
}

#[test]
fn multi_octet_tags() {
    for (number, enc) in [
        (31u32, "9f1f"),
        (127, "9f7f"),
        (128, "9f8100"),
        (16383, "9fff7f"),
    ] {
        let tag = Tag::context(number);
        let mut w = Writer::new();
        w.integer(tag, 1);
        let out = w.finish();
        assert_eq!(out[..out.len() - 2], hex(enc)[..], "tag {number}");
        let t = Reader::new(&out).read().unwrap();
        assert_eq!(t.tag, tag);
        assert_eq!(t.integer(), Ok(1));
    }
    assert_eq!(
        Tag::parse(&hex("5f ff ff ff ff 7f")),
        Err(Error::TagTooLong)
    );
    assert_eq!(Tag::parse(&hex("5f 81")), Err(Error::Truncated));
    let (t, n) = Tag::parse(&hex("7f 22")).unwrap();
    assert_eq!(
        (t.class, t.constructed, t.number, n),
        (Class::Application, true, 34, 2)
    );
}

#[test]
fn depth_is_limited() {
    // Deeply nested indefinite encodings: rejected, never a stack overflow.
    let mut b = Vec::new();
    for _ in 0..10_000 {
        b.extend_from_slice(&[0x30, 0x80]);
    }
    assert_eq!(Reader::new(&b).read(), Err(Error::TooDeep));
    // Definite nesting: the reader refuses to descend past MAX_DEPTH.
    let mut enc = vec![0x05, 0x00];
    for _ in 0..MAX_DEPTH + 2 {
        let mut w = Writer::new();
        w.constructed(Tag::SEQUENCE, |w| w.raw(&enc));
        enc = w.finish();
    }
    let mut t: Tlv<'_> = Reader::new(&enc).read().unwrap();
    let mut depth = 0;
    loop {
        match t.reader() {
            Ok(mut r) => {
                t = r.read().unwrap();
                depth += 1;
            }
            Err(e) => {
                assert_eq!(e, Error::TooDeep);
                break;
            }
        }
    }
    assert_eq!(depth, MAX_DEPTH);
}

#[test]
fn strings() {
    let b = hex("12 04 31323334");
    assert_eq!(
        Reader::new(&b).read().unwrap().numeric_string().unwrap(),
        "1234"
    );
    let b = hex("12 02 3141");
    assert_eq!(
        Reader::new(&b).read().unwrap().numeric_string(),
        Err(Error::BadString)
    );
    // Constructed string segments are concatenated (X.690 §8.21).
    let b = hex("32 80 12 02 3132 12 01 33 00 00");
    assert_eq!(
        Reader::new(&b).read().unwrap().numeric_string().unwrap(),
        "123"
    );
}

#[test]
fn generalized_time() {
    for ok in [
        "20240102030405Z",
        "2024010203",
        "202401020304",
        "20240102030405.123Z",
        "20240102030405,5",
        "20240102030405+0100",
        "20240102030405-1130",
    ] {
        assert_eq!(GeneralizedTime::new(ok).unwrap().as_str(), ok);
    }
    for bad in [
        "",
        "2024",
        "20241302030405Z",
        "20240100030405Z",
        "20240102240405Z",
        "20240102036005Z",
        "20240102030405.Z",
        "20240102030405+01",
        "20240102030405X",
        "2024010203040５",
    ] {
        assert_eq!(GeneralizedTime::new(bad), Err(Error::BadString), "{bad}");
    }
    assert_eq!(
        GeneralizedTime::utc(2024, 1, 2, 3, 4, 5).unwrap().as_str(),
        "20240102030405Z"
    );
    assert!(GeneralizedTime::utc(2024, 0, 2, 3, 4, 5).is_err());
}

#[test]
fn integers() {
    let b = hex("02 00");
    assert_eq!(Reader::new(&b).read_integer(), Err(Error::BadInteger));
    let b = hex("02 09 010203040506070809");
    assert_eq!(Reader::new(&b).read_integer(), Err(Error::BadInteger));
    let b = hex("02 08 8000000000000000");
    assert_eq!(Reader::new(&b).read_integer(), Ok(i64::MIN));
    let b = hex("0a 01 05");
    assert_eq!(
        Reader::new(&b).read_integer(),
        Err(Error::UnexpectedTag {
            expected: Tag::INTEGER,
            found: Tag::ENUMERATED
        })
    );
    assert_eq!(Reader::new(&b).read_enumerated(), Ok(5));
}

/// A BER value tree for the round-trip property.
#[derive(Debug, Clone)]
enum Node {
    Int(u32, i64),
    Bytes(u32, Vec<u8>),
    Cons(u32, Vec<Node>),
}

fn arb_node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        (0u32..200, any::<i64>()).prop_map(|(t, v)| Node::Int(t, v)),
        (0u32..200, proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(t, v)| Node::Bytes(t, v)),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        (0u32..70_000, proptest::collection::vec(inner, 0..8)).prop_map(|(t, v)| Node::Cons(t, v))
    })
}

fn write(w: &mut Writer, n: &Node) {
    match n {
        Node::Int(t, v) => w.integer(Tag::context(*t), *v),
        Node::Bytes(t, v) => w.primitive(Tag::context(*t), v),
        Node::Cons(t, kids) => w.constructed(Tag::context_constructed(*t), |w| {
            for k in kids {
                write(w, k);
            }
        }),
    }
}

fn check(t: Tlv<'_>, n: &Node) {
    match n {
        Node::Int(num, v) => {
            assert_eq!(t.tag, Tag::context(*num));
            assert_eq!(t.integer(), Ok(*v));
        }
        Node::Bytes(num, v) => {
            assert_eq!(t.tag, Tag::context(*num));
            assert_eq!(t.value, &v[..]);
        }
        Node::Cons(num, kids) => {
            assert_eq!(t.tag, Tag::context_constructed(*num));
            let mut r = t.reader().unwrap();
            for k in kids {
                check(r.read().unwrap(), k);
            }
            assert!(r.is_empty());
        }
    }
}

/// Walks every TLV, descending into constructed ones, touching every accessor.
fn walk(r: &mut Reader<'_>) {
    while let Ok(Some(t)) = r.next_tlv() {
        let _ = t.integer();
        let _ = t.numeric_string();
        let _ = t.generalized_time();
        let _ = t.null();
        if let Ok(mut inner) = t.reader() {
            walk(&mut inner);
        }
    }
}

proptest! {
    #[test]
    fn write_then_read_is_identity(n in arb_node()) {
        let mut w = Writer::new();
        write(&mut w, &n);
        let out = w.finish();
        let mut r = Reader::new(&out);
        check(r.read().unwrap(), &n);
        prop_assert!(r.is_empty());
    }

    #[test]
    fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        walk(&mut Reader::new(&bytes));
    }

    #[test]
    fn generalized_time_never_panics(s in "[0-9Z+\\-.,]{0,24}") {
        let _ = GeneralizedTime::new(&s);
    }
}
