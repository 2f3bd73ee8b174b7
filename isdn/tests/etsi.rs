//! ETSI MWI (EN 300 745-1) encoding against vectors derived by hand from the standard's ASN.1
//! (operation values `{0 4 0 745 1 n}`, explicit tags of MWIActivateArg and MWIIndicateArg,
//! untagged optionals of MWIDeactivateArg), the ROSE profile `0x91`, and decoding back.

mod common;

use common::hex;

use isdn::ber::{GeneralizedTime, Writer};
use isdn::etsi::{
    self, InvocationMode, MessageId, MessageStatus, MwiActivateArg, MwiDeactivateArg,
    MwiIndicateArg, MwiInvoke,
};
use isdn::qsig::{self, BasicService, PartyNumber, PrivateTypeOfNumber, PublicTypeOfNumber};
use isdn::rose::{self, Code, Component, InvokeProblem, Problem, RoseFacility};

fn minimal_activate() -> MwiActivateArg {
    MwiActivateArg::new(PartyNumber::Unknown("1234".into()), BasicService::Speech)
}

fn full_activate() -> MwiActivateArg {
    MwiActivateArg {
        controlling_user_nr: Some(PartyNumber::Unknown("8000".into())),
        number_of_messages: Some(3),
        controlling_user_provided_nr: Some(PartyNumber::Unknown("2000".into())),
        time: Some(GeneralizedTime::utc(2024, 1, 2, 3, 4, 5).unwrap()),
        message_id: Some(MessageId {
            message_ref: 7,
            status: MessageStatus::Added,
        }),
        mode: Some(InvocationMode::Immediate),
        ..minimal_activate()
    }
}

/// Facility IE content of a minimal MWIActivate, invokeId 1: profile 0x91 (ROSE), Invoke with
/// the OID operationValue {0 4 0 745 1 1} (`06 06 04 00 85 69 01 01`: 745 = 0x85 0x69 in
/// base 128), MWIActivateArg { receivingUserNr unknownPartyNumber "1234", speech }.
const MINIMAL_ACTIVATE: &str = "91 a1 16 020101 0606 040085690101 3009 800431323334 0a0101";

#[test]
fn minimal_activate_matches_the_asn1() {
    let fac = MwiInvoke::Activate(minimal_activate()).facility(1);
    assert_eq!(fac, hex(MINIMAL_ACTIVATE));
}

#[test]
fn full_activate_matches_the_asn1() {
    let mut w = Writer::new();
    full_activate().encode(&mut w);
    let expected = hex("30 40 800431323334 0a0101
         a1 06 800438303030
         a2 03 020103
         a3 06 800432303030
         a4 11 180f 3230323430313032303330343035 5a
         a5 08 3006 020107 0a0100
         a6 03 0a0101");
    assert_eq!(w.finish(), expected);
    assert_eq!(MwiActivateArg::decode(&expected).unwrap(), full_activate());
}

#[test]
fn deactivate_optionals_are_untagged() {
    let arg = MwiDeactivateArg {
        controlling_user_nr: Some(PartyNumber::Unknown("8000".into())),
        mode: Some(InvocationMode::Deferred),
        ..MwiDeactivateArg::new(PartyNumber::Unknown("1234".into()), BasicService::Speech)
    };
    let fac = MwiInvoke::Deactivate(arg.clone()).facility(2);
    assert_eq!(
        fac,
        hex("91 a1 1f 020102 0606 040085690102
             3012 800431323334 0a0101 800438303030 0a0100")
    );
    let parsed = RoseFacility::parse(&fac).unwrap();
    let Component::Invoke(inv) = parsed.components[0] else {
        panic!("not an invoke");
    };
    assert_eq!(
        MwiInvoke::from_invoke(&inv).unwrap(),
        MwiInvoke::Deactivate(arg)
    );
}

#[test]
fn indicate_uses_its_own_tags() {
    let arg = MwiIndicateArg {
        controlling_user_nr: Some(PartyNumber::Unknown("8000".into())),
        basic_service: Some(BasicService::Speech),
        number_of_messages: Some(2),
        ..MwiIndicateArg::default()
    };
    let fac = MwiInvoke::Indicate(arg.clone()).facility(3);
    assert_eq!(
        fac,
        hex("91 a1 1f 020103 0606 040085690103
             3012 a106800438303030 a2030a0101 a303020102")
    );
    let parsed = RoseFacility::parse(&fac).unwrap();
    let Component::Invoke(inv) = parsed.components[0] else {
        panic!("not an invoke");
    };
    assert_eq!(
        MwiInvoke::from_invoke(&inv).unwrap(),
        MwiInvoke::Indicate(arg)
    );
    // An empty MWIIndicateArg is valid: every element is optional.
    assert_eq!(
        MwiIndicateArg::decode(&hex("3000")).unwrap(),
        MwiIndicateArg::default()
    );
}

#[test]
fn answers_match_the_asn1() {
    assert_eq!(etsi::return_result_facility(1), hex("91 a2 03 020101"));
    assert_eq!(
        etsi::return_error_facility(1, &etsi::error::INVALID_RECEIVING_USER_NR),
        hex("91 a3 0b 020101 0606 04008569010a")
    );
    assert_eq!(
        etsi::reject_facility(
            Some(4),
            Problem::Invoke(InvokeProblem::UnrecognizedOperation)
        ),
        hex("91 a4 06 020104 810101")
    );
}

#[test]
fn qsig_operations_and_other_oids_are_not_etsi_mwi() {
    let arg = hex("3009 800431323334 0a0101");
    let local = rose::Invoke {
        invoke_id: 1,
        linked_id: None,
        operation: Code::Local(qsig::MWI_ACTIVATE),
        argument: Some(&arg),
    };
    assert_eq!(
        MwiInvoke::from_invoke(&local),
        Err(qsig::Error::UnknownOperation)
    );
    let ccbs = [0x04, 0x00, 0x82, 0x67, 0x01, 0x01];
    let other = rose::Invoke {
        operation: Code::Global(&ccbs),
        ..local
    };
    assert_eq!(
        MwiInvoke::from_invoke(&other),
        Err(qsig::Error::UnknownOperation)
    );
    let bare = rose::Invoke {
        operation: Code::Global(&etsi::MWI_ACTIVATE),
        argument: None,
        ..local
    };
    assert_eq!(MwiInvoke::from_invoke(&bare), Err(qsig::Error::NoArgument));
}

#[test]
fn profiles_do_not_mix() {
    assert_eq!(
        RoseFacility::parse(&MwiInvoke::Activate(minimal_activate()).facility(1)).map(|_| ()),
        Ok(())
    );
    let qsig_fac = qsig::MwiInvoke::Activate(qsig::MwiActivateArg::new(
        PartyNumber::Unknown("1234".into()),
        BasicService::Speech,
    ))
    .facility(1);
    assert_eq!(
        RoseFacility::parse(&qsig_fac),
        Err(rose::Error::Profile(0x9f))
    );
    assert_eq!(
        rose::Facility::parse(&hex(MINIMAL_ACTIVATE)),
        Err(rose::Error::Profile(0x91))
    );
    assert_eq!(RoseFacility::parse(&[]), Err(rose::Error::Empty));
    assert_eq!(RoseFacility::parse(&[0x91]), Err(rose::Error::NoComponent));
}

#[test]
fn tolerant_decoding_skips_unknown_elements() {
    // An extension element [9] after the known ones, and a long-form length.
    let arg = hex("30 81 10 800431323334 0a0101 a2 03 020105 8900");
    let a = MwiActivateArg::decode(&arg).unwrap();
    assert_eq!(a.number_of_messages, Some(5));
    // numberOfMessages out of MessageCounter's range.
    let big = hex("30 10 800431323334 0a0101 a2 05 0203010000");
    assert!(MwiActivateArg::decode(&big).is_err());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn digits() -> impl Strategy<Value = String> {
        "[0-9]{1,20}"
    }

    fn party_number() -> impl Strategy<Value = PartyNumber> {
        prop_oneof![
            digits().prop_map(PartyNumber::Unknown),
            (any::<i64>(), digits()).prop_map(|(t, digits)| PartyNumber::Public {
                ton: PublicTypeOfNumber::from_value(t),
                digits
            }),
            digits().prop_map(PartyNumber::Data),
            (any::<i64>(), digits()).prop_map(|(t, digits)| PartyNumber::Private {
                ton: PrivateTypeOfNumber::from_value(t),
                digits
            }),
            digits().prop_map(PartyNumber::NationalStandard),
        ]
    }

    fn time() -> impl Strategy<Value = GeneralizedTime> {
        (0u16..10000, 1u8..13, 1u8..32, 0u8..24, 0u8..60, 0u8..61)
            .prop_map(|(y, mo, d, h, mi, s)| GeneralizedTime::utc(y, mo, d, h, mi, s).unwrap())
    }

    fn message_id() -> impl Strategy<Value = MessageId> {
        (any::<u16>(), any::<i64>()).prop_map(|(message_ref, s)| MessageId {
            message_ref,
            status: MessageStatus::from_value(s),
        })
    }

    prop_compose! {
        fn activate()(
            receiving_user_nr in party_number(),
            service in any::<i64>(),
            controlling_user_nr in proptest::option::of(party_number()),
            number_of_messages in proptest::option::of(any::<u16>()),
            controlling_user_provided_nr in proptest::option::of(party_number()),
            time in proptest::option::of(time()),
            message_id in proptest::option::of(message_id()),
            mode in proptest::option::of(any::<i64>()),
        ) -> MwiActivateArg {
            MwiActivateArg {
                receiving_user_nr,
                basic_service: BasicService::from_value(service),
                controlling_user_nr,
                number_of_messages,
                controlling_user_provided_nr,
                time,
                message_id,
                mode: mode.map(InvocationMode::from_value),
            }
        }
    }

    fn round_trip(invoke: &MwiInvoke, id: i16) -> MwiInvoke {
        let fac = invoke.facility(i64::from(id));
        let parsed = RoseFacility::parse(&fac).unwrap();
        let Component::Invoke(inv) = parsed.components[0] else {
            panic!("not an invoke");
        };
        assert_eq!(inv.invoke_id, i64::from(id));
        MwiInvoke::from_invoke(&inv).unwrap()
    }

    proptest! {
        #[test]
        fn activate_round_trips(arg in activate(), id in any::<i16>()) {
            let invoke = MwiInvoke::Activate(arg);
            prop_assert_eq!(round_trip(&invoke, id), invoke);
        }

        #[test]
        fn deactivate_round_trips(
            receiving in party_number(),
            controlling in proptest::option::of(party_number()),
            mode in proptest::option::of(any::<i64>()),
            id in any::<i16>(),
        ) {
            let invoke = MwiInvoke::Deactivate(MwiDeactivateArg {
                controlling_user_nr: controlling,
                mode: mode.map(InvocationMode::from_value),
                ..MwiDeactivateArg::new(receiving, BasicService::Speech)
            });
            prop_assert_eq!(round_trip(&invoke, id), invoke);
        }

        #[test]
        fn indicate_round_trips(a in activate(), service in proptest::option::of(any::<i64>())) {
            let invoke = MwiInvoke::Indicate(MwiIndicateArg {
                controlling_user_nr: a.controlling_user_nr,
                basic_service: service.map(BasicService::from_value),
                number_of_messages: a.number_of_messages,
                controlling_user_provided_nr: a.controlling_user_provided_nr,
                time: a.time,
                message_id: a.message_id,
            });
            prop_assert_eq!(round_trip(&invoke, 1), invoke);
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = MwiActivateArg::decode(&bytes);
            let _ = MwiDeactivateArg::decode(&bytes);
            let _ = MwiIndicateArg::decode(&bytes);
            if let Ok(f) = RoseFacility::parse(&bytes) {
                for c in f.components {
                    if let Component::Invoke(inv) = c {
                        let _ = MwiInvoke::from_invoke(&inv);
                    }
                }
            }
        }

        #[test]
        fn mutated_invokes_never_panic(
            arg in activate(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        ) {
            let mut fac = MwiInvoke::Activate(arg).facility(1);
            for (at, v) in flips {
                let i = at % fac.len();
                fac[i] = v;
            }
            if let Ok(f) = RoseFacility::parse(&fac) {
                for c in f.components {
                    if let Component::Invoke(inv) = c {
                        let _ = MwiInvoke::from_invoke(&inv);
                    }
                }
            }
        }
    }
}

#[test]
fn dump_shows_etsi_components() {
    // I frame, FACILITY on the dummy call reference with the minimal mwiActivate.
    let frame = hex(&format!("0001 0000 080062 1c19 {MINIMAL_ACTIVATE}"));
    let line = isdn::dump::Frame(&frame).to_string();
    assert!(
        line.ends_with(
            "invoke id=1 op=mwiActivate{0 4 0 745 1 1} receivingUserNr=1234 basicService=speech"
        ),
        "{line}"
    );
    assert!(!line.contains("profile"), "{line}");
}

#[test]
fn apdu_lines_name_every_argument() {
    let line = |invoke: MwiInvoke| {
        let fac = invoke.facility(9);
        let f = RoseFacility::parse(&fac).unwrap();
        qsig::Apdu(&f.components[0]).to_string()
    };
    assert_eq!(
        line(MwiInvoke::Activate(full_activate())),
        "invoke id=9 op=mwiActivate{0 4 0 745 1 1} receivingUserNr=1234 basicService=speech \
         controllingUserNr=8000 numberOfMessages=3 controllingUserProvidedNr=2000 \
         time=20240102030405Z messageId=7/Added mode=Immediate"
    );
    assert_eq!(
        line(MwiInvoke::Indicate(MwiIndicateArg::default())),
        "invoke id=9 op=mwiIndicate{0 4 0 745 1 3}"
    );
    // An argument that does not decode: the plain APDU and the reason.
    let bad = [0x05, 0x00];
    let invoke = Component::Invoke(rose::Invoke {
        invoke_id: 9,
        linked_id: None,
        operation: Code::Global(&etsi::MWI_DEACTIVATE),
        argument: Some(&bad),
    });
    assert!(qsig::Apdu(&invoke)
        .to_string()
        .starts_with("invoke id=9 op=oid:040085690102 arg(2) (SS-MWI: "));
}
