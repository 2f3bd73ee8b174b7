//! Q.931 message parsing, emission and the §5.8 error verdicts.

mod common;

use common::{hex, CR1};

use isdn::q931::{
    call_state, cause, BearerCapability, CallReference, Cause, ChannelId, Error, Location, Message,
    MessageType, NumberingPlan, PartyNumberIe, Presentation, RawIe, TypeOfNumber, Verdict,
};
use proptest::prelude::*;

/// Test input that outlives the parsed message.
fn leak(s: &str) -> &'static [u8] {
    Box::leak(hex(s).into_boxed_slice())
}

#[test]
fn facility_on_dummy_call_reference() {
    let fac = [0x9f, 0xa1, 0x03, 0x02, 0x01, 0x01];
    let bytes = Message::new_facility(CallReference::Dummy, &fac).to_vec();
    assert_eq!(bytes, hex("08 00 62 1c 06 9fa103020101"));
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.call_reference, CallReference::Dummy);
    assert_eq!(m.message_type, MessageType::Facility);
    assert_eq!(m.facility, vec![&fac[..]]);
    assert_eq!(m.check(), Verdict::Ok);
}

#[test]
fn release_complete_with_cause_69() {
    // As libpri (network side, private network) answers an MWI invoke it does not handle.
    let bytes = hex("08 02 8001 5a 08 02 81 c5");
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.message_type, MessageType::ReleaseComplete);
    assert_eq!(
        m.call_reference,
        CallReference::Call {
            value: 1,
            flag: true
        }
    );
    assert_eq!(m.call_reference.reply(), CR1);
    let c = m.cause.unwrap();
    assert_eq!(c.value, cause::FACILITY_NOT_IMPLEMENTED);
    assert_eq!(c.location, Location::PrivateLocal);
    let built =
        Message::release_complete(CR1.reply(), Some(Cause::new(Location::PrivateLocal, 69)));
    assert_eq!(built.to_vec(), bytes);
}

#[test]
fn cause_with_recommendation_octet_and_diagnostics() {
    let m = Message::parse(leak("08 02 0001 45 08 04 02 81 e0 18")).unwrap();
    let c = m.cause.unwrap();
    assert_eq!(c.location, Location::PublicLocal);
    assert_eq!(c.value, cause::MANDATORY_IE_MISSING);
    assert_eq!(c.diagnostics, &[0x18]);
    assert_eq!(m.check(), Verdict::Ok);
}

#[test]
fn status_builder() {
    let diag = [0x33];
    let m = Message::status(
        CR1,
        Cause {
            diagnostics: &diag,
            ..Cause::new(Location::User, cause::MESSAGE_TYPE_NONEXISTENT)
        },
        call_state::ACTIVE,
    );
    assert_eq!(m.to_vec(), hex("08 02 0001 7d 08 03 80 e1 33 14 01 0a"));
    let bytes = m.to_vec();
    assert_eq!(Message::parse(&bytes).unwrap(), m);
}

#[test]
fn every_message_type_round_trips() {
    for t in [
        MessageType::Setup,
        MessageType::CallProceeding,
        MessageType::Alerting,
        MessageType::Connect,
        MessageType::ConnectAcknowledge,
        MessageType::Disconnect,
        MessageType::Release,
        MessageType::ReleaseComplete,
        MessageType::Facility,
        MessageType::Status,
        MessageType::StatusEnquiry,
    ] {
        let m = Message::new(CR1, t);
        let bytes = m.to_vec();
        let parsed = Message::parse(&bytes).unwrap();
        assert_eq!(parsed, m);
        assert!(!matches!(parsed.message_type, MessageType::Other(_)));
    }
}

#[test]
fn unknown_message_type_asks_for_status_97() {
    let m = Message::parse(leak("08 02 0001 33")).unwrap();
    assert_eq!(m.message_type, MessageType::Other(0x33));
    let v = m.check();
    assert_eq!(v, Verdict::UnknownMessageType(0x33));
    assert!(v.is_fatal());
    assert_eq!(v.cause(), Some((cause::MESSAGE_TYPE_NONEXISTENT, 0x33)));
}

#[test]
fn missing_and_invalid_mandatory_ies() {
    // SETUP without bearer capability: cause 96, diagnostic 04.
    let m = Message::parse(leak("08 02 0001 05 18 01 ac")).unwrap();
    assert_eq!(m.check(), Verdict::MandatoryMissing(0x04));
    // SETUP with an empty bearer capability: cause 100.
    let m = Message::parse(leak("08 02 0001 05 04 00")).unwrap();
    assert_eq!(m.check(), Verdict::MandatoryInvalid(0x04));
    assert_eq!(m.check().cause(), Some((cause::INVALID_IE_CONTENTS, 0x04)));
    // STATUS needs cause and call state.
    let m = Message::parse(leak("08 02 0001 7d 08 02 80 90")).unwrap();
    assert_eq!(m.check(), Verdict::MandatoryMissing(0x14));
}

#[test]
fn unknown_ies_by_comprehension_bit() {
    // 0x0f (bits 8-5 = 0000): comprehension required -> treated as missing mandatory.
    let m = Message::parse(leak("08 02 0001 5a 0f 01 00")).unwrap();
    assert_eq!(m.check(), Verdict::MandatoryMissing(0x0f));
    // Keypad facility (0x2c) is not interpreted here and not comprehension-required: act,
    // cause 99.
    let m = Message::parse(leak("08 02 0001 5a 2c 03 414243")).unwrap();
    assert_eq!(m.check(), Verdict::UnrecognisedIe(0x2c));
    assert!(!m.check().is_fatal());
    assert_eq!(
        m.unknown,
        vec![RawIe {
            codeset: 0,
            id: 0x2c,
            content: b"ABC"
        }]
    );
    // Invalid optional IE (channel identification without octet 3): act, cause 100.
    let m = Message::parse(leak("08 02 0001 5a 18 00")).unwrap();
    assert_eq!(m.check(), Verdict::OptionalInvalid(0x18));
}

#[test]
fn codeset_shifts_and_single_octet_ies() {
    // Sending complete (a1), non-locking shift to 6 for one IE, locking shift to 5.
    let bytes = hex("08 02 0001 62 1c 01 9f a1 9e 01 01 aa 70 02 80 31 95 02 01 bb");
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.called_party_number.unwrap().digits, "1");
    assert_eq!(
        m.unknown,
        vec![
            RawIe {
                codeset: 0,
                id: 0xa1,
                content: &[]
            },
            RawIe {
                codeset: 6,
                id: 0x01,
                content: &[0xaa]
            },
            RawIe {
                codeset: 5,
                id: 0x02,
                content: &[0xbb]
            },
        ]
    );
    assert_eq!(m.check(), Verdict::Ok);
}

#[test]
fn truncated_ie_is_kept_as_invalid() {
    let m = Message::parse(leak("08 02 0001 5a 08 05 80")).unwrap();
    assert_eq!(m.cause, None);
    assert_eq!(m.invalid[0].id, 0x08);
    assert_eq!(m.check(), Verdict::OptionalInvalid(0x08));
}

#[test]
fn repeated_ie_keeps_the_first() {
    let m = Message::parse(leak("08 02 0001 5a 08 02 80 90 08 02 80 9f")).unwrap();
    assert_eq!(m.cause.unwrap().value, cause::NORMAL_CLEARING);
}

#[test]
fn header_errors() {
    assert_eq!(Message::parse(&[]), Err(Error::Truncated));
    assert_eq!(
        Message::parse(leak("09 02 0001 05")),
        Err(Error::ProtocolDiscriminator(9))
    );
    assert_eq!(
        Message::parse(leak("08 03 000001 05")),
        Err(Error::CallReferenceLength(3))
    );
    assert_eq!(Message::parse(leak("08 02 0001")), Err(Error::Truncated));
    // One-octet (BRI) call reference.
    let m = Message::parse(leak("08 01 85 5a")).unwrap();
    assert_eq!(
        m.call_reference,
        CallReference::Call {
            value: 5,
            flag: true
        }
    );
}

#[test]
fn bearer_capability_and_channel_id_forms() {
    let m = Message::parse(leak("08 02 0001 05 04 03 80 90 a3 18 03 a9 83 85")).unwrap();
    assert_eq!(
        m.bearer_capability,
        Some(BearerCapability {
            coding_standard: 0,
            transfer_capability: 0,
            transfer_mode: 0,
            transfer_rate: 0x10,
            layer1: Some(3),
        })
    );
    assert_eq!(
        m.channel_id,
        Some(ChannelId {
            pri: true,
            exclusive: true,
            d_channel: false,
            selection: 1,
            channel: Some(5),
        })
    );
    let bytes = m.to_vec();
    assert_eq!(Message::parse(&bytes).unwrap(), m);
    // Slot map form is not represented: invalid, not a panic.
    let m = Message::parse(leak("08 02 0001 05 04 02 a8 80 18 03 a9 93 ff")).unwrap();
    assert_eq!(m.check(), Verdict::OptionalInvalid(0x18));
}

/// Calling party number fields: type of number, plan, octet 3a, digits.
type Calling = (u8, u8, Option<(u8, u8)>, String);

/// Owned inputs from which a borrowing [`Message`] is built.
#[derive(Debug, Clone)]
struct Owned {
    cr: CallReference,
    mt: u8,
    bc: Option<BearerCapability>,
    cause: Option<(u8, u8, u8, Vec<u8>)>,
    state: Option<u8>,
    ch: Option<ChannelId>,
    fac: Vec<Vec<u8>>,
    calling: Option<Calling>,
    called: Option<(u8, u8, String)>,
    unknown: Vec<(u8, Vec<u8>)>,
}

fn arb_owned() -> impl Strategy<Value = Owned> {
    let cr = prop_oneof![
        Just(CallReference::Dummy),
        (0u16..0x8000, any::<bool>()).prop_map(|(value, flag)| CallReference::Call { value, flag }),
    ];
    let bc = (
        0u8..4,
        0u8..32,
        0u8..4,
        0u8..32,
        proptest::option::of(0u8..32),
    )
        .prop_map(
            |(coding_standard, transfer_capability, transfer_mode, transfer_rate, layer1)| {
                BearerCapability {
                    coding_standard,
                    transfer_capability,
                    transfer_mode,
                    // 0x18 (multirate) needs a multiplier octet this type does not hold.
                    transfer_rate: if transfer_rate == 0x18 {
                        0
                    } else {
                        transfer_rate
                    },
                    layer1,
                }
            },
        );
    let ch = (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0u8..4,
        proptest::option::of(1u8..128),
    )
        .prop_map(
            |(pri, exclusive, d_channel, selection, channel)| ChannelId {
                pri,
                exclusive,
                d_channel,
                selection,
                channel: if pri { channel } else { None },
            },
        );
    let digits = "[0-9*#]{0,20}";
    (
        cr,
        prop_oneof![Just(0x05u8), Just(0x5a), Just(0x62), Just(0x7d), 0u8..0x80],
        proptest::option::of(bc),
        proptest::option::of((
            0u8..4,
            0u8..16,
            0u8..128,
            proptest::collection::vec(any::<u8>(), 0..4),
        )),
        proptest::option::of(0u8..64),
        proptest::option::of(ch),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..3),
        proptest::option::of((
            0u8..8,
            0u8..16,
            proptest::option::of((0u8..4, 0u8..4)),
            digits,
        )),
        proptest::option::of((0u8..8, 0u8..16, digits)),
        // Unknown codeset-0 IEs: identifiers these messages do not interpret.
        proptest::collection::vec(
            (
                prop_oneof![Just(0x29u8), Just(0x2c), Just(0x27), Just(0x7c), Just(0x7e)],
                proptest::collection::vec(any::<u8>(), 0..10),
            ),
            0..3,
        ),
    )
        .prop_map(
            |(cr, mt, bc, cause, state, ch, fac, calling, called, unknown)| Owned {
                cr,
                mt,
                bc,
                cause,
                state,
                ch,
                fac,
                calling,
                called,
                unknown,
            },
        )
}

fn build(o: &Owned) -> Message<'_> {
    let mut m = Message::new(o.cr, MessageType::from_value(o.mt));
    m.bearer_capability = o.bc;
    m.cause = o.cause.as_ref().map(|(cs, loc, v, d)| Cause {
        coding_standard: *cs,
        location: Location::from_value(*loc),
        value: *v,
        diagnostics: d,
    });
    m.call_state = o.state;
    m.channel_id = o.ch;
    m.facility = o.fac.iter().map(Vec::as_slice).collect();
    m.calling_party_number = o.calling.as_ref().map(|(t, p, pres, d)| PartyNumberIe {
        ton: TypeOfNumber::from_value(*t),
        plan: NumberingPlan::from_value(*p),
        presentation: pres.map(|(indicator, screening)| Presentation {
            indicator,
            screening,
        }),
        digits: d,
    });
    m.called_party_number = o.called.as_ref().map(|(t, p, d)| PartyNumberIe {
        ton: TypeOfNumber::from_value(*t),
        plan: NumberingPlan::from_value(*p),
        presentation: None,
        digits: d,
    });
    let mut unknown: Vec<RawIe<'_>> = o
        .unknown
        .iter()
        .map(|(id, c)| RawIe {
            codeset: 0,
            id: *id,
            content: c,
        })
        .collect();
    unknown.sort_by_key(|r| r.id);
    m.unknown = unknown;
    m
}

proptest! {
    #[test]
    fn emit_then_parse_is_identity(o in arb_owned()) {
        let m = build(&o);
        let bytes = m.to_vec();
        prop_assert_eq!(Message::parse(&bytes).unwrap(), m);
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(m) = Message::parse(&bytes) {
            let _ = m.check().cause();
            // What was parsed can be emitted and parsed again.
            let again = m.to_vec();
            prop_assert!(Message::parse(&again).is_ok());
        }
    }

    #[test]
    fn parse_never_panics_on_q931_shaped_input(
        cr in proptest::collection::vec(any::<u8>(), 0..3),
        mt in any::<u8>(),
        ies in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = vec![0x08, cr.len() as u8];
        bytes.extend_from_slice(&cr);
        bytes.push(mt);
        bytes.extend_from_slice(&ies);
        let m = Message::parse(&bytes).unwrap();
        let _ = m.check();
    }
}
