//! QSIG name identification (ECMA-164): the Name encodings with vectors (libpri 1.6 sends the
//! first one octet for octet, see tests/tests/pri_calls.rs), decoding of every alternative
//! and of bad input, and names carried by the call core in SETUP and CONNECT both ways.

use std::time::Instant;

use isdn::call::{CallConfig, CallControl, CallEvent, Interface, Number};
use isdn::q921::Side;
use isdn::q931::{Message, MessageType};
use isdn::qsig::{Name, CALLING_NAME, CONNECTED_NAME, MAX_NAME};
use sansio::Core;

/// callingName "Alice", invokeId 1, as libpri 1.6 puts it in a SETUP: profile 9f, NFE
/// endPINX→endPINX, InterpretationApdu discard, Invoke with namePresentationAllowedSimple.
const LIBPRI_CALLING_ALICE: &[u8] = &[
    0x9f, 0xaa, 0x06, 0x80, 0x01, 0x00, 0x82, 0x01, 0x00, 0x8b, 0x01, 0x00, 0xa1, 0x0d, 0x02, 0x01,
    0x01, 0x02, 0x01, 0x00, 0x80, 0x05, b'A', b'l', b'i', b'c', b'e',
];

fn encoded(name: &Name) -> Vec<u8> {
    let mut w = isdn::ber::Writer::new();
    name.encode(&mut w);
    w.finish()
}

#[test]
fn calling_name_facility_is_libpris() {
    let alice = Name::allowed("Alice").unwrap();
    assert_eq!(alice.facility(CALLING_NAME, 1), LIBPRI_CALLING_ALICE);
    assert_eq!(
        Name::find(&[LIBPRI_CALLING_ALICE], CALLING_NAME),
        Some(alice)
    );
    // The same invoke is no connectedName.
    assert_eq!(Name::find(&[LIBPRI_CALLING_ALICE], CONNECTED_NAME), None);
}

#[test]
fn every_name_alternative_round_trips() {
    let vectors: [(Name, &[u8]); 6] = [
        (Name::allowed("Bob").unwrap(), b"\x80\x03Bob"),
        (
            Name::Allowed {
                data: b"Bob".to_vec(),
                character_set: Some(1),
            },
            b"\xa1\x08\x04\x03Bob\x02\x01\x01",
        ),
        (
            Name::Restricted {
                data: b"Eve".to_vec(),
                character_set: None,
            },
            b"\x82\x03Eve",
        ),
        (
            Name::Restricted {
                data: b"Eve".to_vec(),
                character_set: Some(9),
            },
            b"\xa3\x08\x04\x03Eve\x02\x01\x09",
        ),
        (Name::NotAvailable, b"\x84\x00"),
        (Name::RestrictedNull, b"\x87\x00"),
    ];
    for (name, bytes) in vectors {
        assert_eq!(encoded(&name), bytes, "{name:?}");
        assert_eq!(Name::decode(bytes), Ok(name));
    }
    // The `sequence` alternative of the argument: SEQUENCE { name, extension }.
    assert_eq!(
        Name::decode(b"\x30\x07\x80\x03Bob\x05\x00"),
        Ok(Name::allowed("Bob").unwrap())
    );
    // A constructed OCTET STRING is still a name.
    assert_eq!(
        Name::decode(b"\xa0\x07\x04\x02Bo\x04\x01b"),
        Ok(Name::allowed("Bob").unwrap())
    );
}

#[test]
fn bad_names_are_errors() {
    assert!(Name::decode(b"\x80\x00").is_err(), "empty NameData");
    let mut long = vec![0x80, 51];
    long.extend([b'x'; 51]);
    assert!(Name::decode(&long).is_err(), "51 octets");
    assert!(Name::decode(b"\x85\x00").is_err(), "tag [5] is no Name");
    assert!(
        Name::decode(b"\x04\x03Bob").is_err(),
        "universal OCTET STRING"
    );
    assert!(Name::decode(b"\x80\x05Bo").is_err(), "truncated");
    assert!(Name::decode(b"").is_err());
    assert!(
        Name::decode(b"\xa1\x03\x02\x01\x01").is_err(),
        "NameSet without nameData"
    );
    assert_eq!(Name::allowed(""), None);
    assert_eq!(
        Name::allowed(&"y".repeat(80)).map(|n| encoded(&n).len()),
        Some(2 + MAX_NAME)
    );
    // A Facility that does not parse or holds a bad name gives no name.
    assert_eq!(Name::find(&[b"\x91\x00"], CALLING_NAME), None);
    // libpri's facility with the NameData cut to 0 octets (Invoke and name lengths fixed).
    let mut bad = LIBPRI_CALLING_ALICE.to_vec();
    bad[21] = 0;
    bad.truncate(22);
    bad[13] = 8;
    assert_eq!(Name::find(&[&bad], CALLING_NAME), None);
    assert_eq!(
        Name::allowed("Ann").unwrap().display().as_deref(),
        Some("Ann")
    );
    assert_eq!(Name::NotAvailable.display(), None);
}

fn core(side: Side) -> CallControl {
    let mut c = CallControl::new(CallConfig::new(side, Interface::E1));
    c.link_up();
    c
}

/// Hands every message of `from` to `to`; returns their types and Facility IE counts.
fn pass(now: Instant, from: &mut CallControl, to: &mut CallControl) -> Vec<(MessageType, usize)> {
    std::iter::from_fn(|| from.poll_transmit())
        .map(|b| {
            let m = Message::parse(&b).unwrap();
            to.handle_message(now, &m);
            (m.message_type, m.facility.len())
        })
        .collect()
}

#[test]
fn call_core_carries_names_in_setup_and_connect() {
    let now = Instant::now();
    let (mut u, mut n) = (core(Side::User), core(Side::Network));
    let alice = Name::allowed("Alice");
    let cu = u
        .place(now, &Number::unknown("789"), None, alice.as_ref(), None)
        .unwrap();
    assert_eq!(pass(now, &mut u, &mut n), [(MessageType::Setup, 1)]);
    let incoming = std::iter::from_fn(|| n.poll_event()).collect::<Vec<_>>();
    let [CallEvent::Incoming { call: cn, name, .. }] = &incoming[..] else {
        panic!("{incoming:?}");
    };
    assert_eq!(name, &alice);
    let bob = Name::Restricted {
        data: b"Bob".to_vec(),
        character_set: None,
    };
    n.connect(now, *cn, Some(&bob)).unwrap();
    assert_eq!(pass(now, &mut n, &mut u), [(MessageType::Connect, 1)]);
    let got: Vec<CallEvent> = std::iter::from_fn(|| u.poll_event()).collect();
    assert!(
        got.contains(&CallEvent::Connected {
            call: cu,
            name: Some(bob)
        }),
        "{got:?}"
    );
    // Without names: no Facility IE, no name in the events.
    let cu = u
        .place(now, &Number::unknown("790"), None, None, None)
        .unwrap();
    assert_eq!(
        pass(now, &mut u, &mut n),
        [
            (MessageType::ConnectAcknowledge, 0),
            (MessageType::Setup, 0)
        ]
    );
    let cn = std::iter::from_fn(|| n.poll_event())
        .find_map(|e| match e {
            CallEvent::Incoming {
                call, name: None, ..
            } => Some(call),
            _ => None,
        })
        .expect("a nameless Incoming");
    n.connect(now, cn, None).unwrap();
    assert_eq!(pass(now, &mut n, &mut u), [(MessageType::Connect, 0)]);
    let got: Vec<CallEvent> = std::iter::from_fn(|| u.poll_event()).collect();
    assert!(got.contains(&CallEvent::Connected {
        call: cu,
        name: None
    }));
}
