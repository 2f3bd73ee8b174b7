//! SS-MWI encoding against the golden frames of libpri 1.6 (docs/qsig.md), and decoding back.

mod common;

use common::{calling, hex, GOLDEN_SETUP};

use isdn::ber::{GeneralizedTime, Writer};
use isdn::q931::{CallReference, Message, MessageType, PartyNumberIe};
use isdn::qsig::{
    BasicService, MsgCentreId, MwiActivateArg, MwiDeactivateArg, MwiInterrogateRes,
    MwiInterrogateResElt, MwiInvoke, PartyNumber, PrivateTypeOfNumber, PublicTypeOfNumber,
};
use isdn::rose::{Code, Component, Facility, Interpretation, NetworkFacilityExtension};

fn minimal_arg() -> MwiActivateArg {
    MwiActivateArg::new(PartyNumber::Unknown("1234".into()), BasicService::Speech)
}

fn full_arg() -> MwiActivateArg {
    MwiActivateArg {
        msg_centre_id: Some(MsgCentreId::PartyNumber(PartyNumber::Unknown(
            "8000".into(),
        ))),
        nb_of_messages: Some(3),
        originating_nr: Some(PartyNumber::Unknown("2000".into())),
        timestamp: Some(GeneralizedTime::utc(2024, 1, 2, 3, 4, 5).unwrap()),
        priority: Some(5),
        ..minimal_arg()
    }
}

#[test]
fn minimal_setup_is_byte_identical_to_libpri() {
    let fac = MwiInvoke::Activate(minimal_arg()).facility(1);
    let cr = CallReference::Call {
        value: 1,
        flag: false,
    };
    let msg = Message::setup_cis(
        cr,
        &fac,
        Some(calling()),
        Some(PartyNumberIe::unknown("1234")),
    );
    let golden = hex(GOLDEN_SETUP);
    assert_eq!(msg.to_vec(), golden[4..]);
}

#[test]
fn minimal_setup_decodes_back() {
    let golden = hex(GOLDEN_SETUP);
    let msg = Message::parse(&golden[4..]).unwrap();
    assert_eq!(msg.message_type, MessageType::Setup);
    assert_eq!(msg.check(), isdn::q931::Verdict::Ok);
    assert_eq!(msg.called_party_number.unwrap().digits, "1234");
    assert_eq!(msg.calling_party_number, Some(calling()));
    let fac = Facility::parse(msg.facility[0]).unwrap();
    assert_eq!(fac.nfe, Some(NetworkFacilityExtension::END_TO_END));
    assert_eq!(
        fac.interpretation,
        Some(Interpretation::DiscardUnrecognisedInvoke)
    );
    let Component::Invoke(inv) = fac.components[0] else {
        panic!("not an invoke: {:?}", fac.components[0]);
    };
    assert_eq!(inv.invoke_id, 1);
    assert_eq!(inv.operation, Code::Local(80));
    assert_eq!(
        MwiInvoke::from_invoke(&inv).unwrap(),
        MwiInvoke::Activate(minimal_arg())
    );
}

#[test]
fn full_argument_is_byte_identical_to_libpri() {
    let golden = hex(
        "3030 800431323334 0a0101 a106800438303030 830103 a406800432303030
         180f3230323430313032303330343035 5a 850105",
    );
    // The golden text writes "Z" as the letter; in hex it is 5a.
    let mut w = Writer::new();
    full_arg().encode(&mut w);
    assert_eq!(w.finish(), golden);
    assert_eq!(MwiActivateArg::decode(&golden).unwrap(), full_arg());
}

#[test]
fn deactivate_uses_operation_81() {
    let arg = MwiDeactivateArg::new(PartyNumber::Unknown("1234".into()), BasicService::Speech);
    let fac = MwiInvoke::Deactivate(arg.clone()).facility(7);
    assert_eq!(
        fac,
        hex("9f aa06800100820100 8b0100 a111 020107 020151 3009 800431323334 0a0101")
    );
    let parsed = Facility::parse(&fac).unwrap();
    let Component::Invoke(inv) = parsed.components[0] else {
        panic!("not an invoke");
    };
    assert_eq!(
        MwiInvoke::from_invoke(&inv).unwrap(),
        MwiInvoke::Deactivate(arg)
    );
}

#[test]
fn party_number_variants_round_trip() {
    for p in [
        PartyNumber::Public {
            ton: PublicTypeOfNumber::International,
            digits: "4930123".into(),
        },
        PartyNumber::Private {
            ton: PrivateTypeOfNumber::Local,
            digits: "1234".into(),
        },
        PartyNumber::Data("1".into()),
        PartyNumber::Telex("2".into()),
        PartyNumber::NationalStandard("3".into()),
    ] {
        let arg = MwiActivateArg::new(p, BasicService::Telephony);
        let mut w = Writer::new();
        arg.encode(&mut w);
        assert_eq!(MwiActivateArg::decode(&w.finish()).unwrap(), arg);
    }
    // Private number: [5] IMPLICIT SEQUENCE { ENUMERATED, NumericString }.
    let mut w = Writer::new();
    PartyNumber::Private {
        ton: PrivateTypeOfNumber::Local,
        digits: "12".into(),
    }
    .encode(&mut w);
    assert_eq!(w.finish(), hex("a5 07 0a0104 12023132"));
}

#[test]
fn interrogate_result_round_trips() {
    let res = MwiInterrogateRes(vec![
        MwiInterrogateResElt {
            basic_service: BasicService::Speech,
            msg_centre_id: Some(MsgCentreId::Integer(7)),
            nb_of_messages: Some(2),
            originating_nr: None,
            timestamp: None,
            priority: None,
        },
        MwiInterrogateResElt {
            basic_service: BasicService::AllServices,
            msg_centre_id: Some(MsgCentreId::NumericString("99".into())),
            nb_of_messages: None,
            originating_nr: Some(PartyNumber::Unknown("5".into())),
            timestamp: None,
            priority: Some(9),
        },
    ]);
    assert_eq!(MwiInterrogateRes::decode(&res.to_vec()).unwrap(), res);
}

#[test]
fn indefinite_and_long_form_lengths_decode() {
    // The minimal argument with an indefinite outer length and a long-form inner length.
    let arg = hex("3080 80 81 04 31323334 0a0101 0000");
    assert_eq!(MwiActivateArg::decode(&arg).unwrap(), minimal_arg());
}

#[test]
fn unknown_operation_is_rejected_not_decoded() {
    let fac = hex("9f a1 06 020105 020163");
    let parsed = Facility::parse(&fac).unwrap();
    let Component::Invoke(inv) = parsed.components[0] else {
        panic!("not an invoke");
    };
    let err = MwiInvoke::from_invoke(&inv).unwrap_err();
    assert_eq!(err, isdn::qsig::Error::UnknownOperation);
    assert_eq!(
        err.reject_problem(),
        isdn::rose::Problem::Invoke(isdn::rose::InvokeProblem::UnrecognizedOperation)
    );
}

#[test]
fn etsi_profile_is_reported() {
    assert_eq!(
        Facility::parse(&hex("91 a1 06 020101 020150")),
        Err(isdn::rose::Error::Profile(0x91))
    );
}

mod properties {
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
            digits().prop_map(PartyNumber::Telex),
            (any::<i64>(), digits()).prop_map(|(t, digits)| PartyNumber::Private {
                ton: PrivateTypeOfNumber::from_value(t),
                digits
            }),
            digits().prop_map(PartyNumber::NationalStandard),
        ]
    }

    fn msg_centre_id() -> impl Strategy<Value = MsgCentreId> {
        prop_oneof![
            any::<u16>().prop_map(MsgCentreId::Integer),
            party_number().prop_map(MsgCentreId::PartyNumber),
            "[0-9]{1,10}".prop_map(MsgCentreId::NumericString),
        ]
    }

    fn timestamp() -> impl Strategy<Value = GeneralizedTime> {
        (0u16..10000, 1u8..13, 1u8..32, 0u8..24, 0u8..60, 0u8..61)
            .prop_map(|(y, mo, d, h, mi, s)| GeneralizedTime::utc(y, mo, d, h, mi, s).unwrap())
    }

    prop_compose! {
        fn activate_arg()(
            served_user_nr in party_number(),
            service in any::<i64>(),
            msg_centre_id in proptest::option::of(msg_centre_id()),
            nb_of_messages in proptest::option::of(any::<u16>()),
            originating_nr in proptest::option::of(party_number()),
            timestamp in proptest::option::of(timestamp()),
            priority in proptest::option::of(0u8..10),
        ) -> MwiActivateArg {
            MwiActivateArg {
                served_user_nr,
                basic_service: BasicService::from_value(service),
                msg_centre_id,
                nb_of_messages,
                originating_nr,
                timestamp,
                priority,
            }
        }
    }

    proptest! {
        #[test]
        fn activate_round_trips_through_facility(arg in activate_arg(), id in any::<i16>()) {
            let invoke = MwiInvoke::Activate(arg);
            let fac = invoke.facility(i64::from(id));
            let parsed = Facility::parse(&fac).unwrap();
            let Component::Invoke(inv) = parsed.components[0] else {
                panic!("not an invoke");
            };
            prop_assert_eq!(inv.invoke_id, i64::from(id));
            prop_assert_eq!(MwiInvoke::from_invoke(&inv).unwrap(), invoke);
        }

        #[test]
        fn deactivate_round_trips(
            served in party_number(),
            centre in proptest::option::of(msg_centre_id()),
        ) {
            let arg = MwiDeactivateArg {
                served_user_nr: served,
                basic_service: BasicService::Speech,
                msg_centre_id: centre,
            };
            let invoke = MwiInvoke::Interrogate(arg);
            let fac = invoke.facility(1);
            let parsed = Facility::parse(&fac).unwrap();
            let Component::Invoke(inv) = parsed.components[0] else {
                panic!("not an invoke");
            };
            prop_assert_eq!(MwiInvoke::from_invoke(&inv).unwrap(), invoke);
        }

        #[test]
        fn interrogate_result_round_trips(args in proptest::collection::vec(activate_arg(), 1..10)) {
            let res = MwiInterrogateRes(
                args.into_iter()
                    .map(|a| MwiInterrogateResElt {
                        basic_service: a.basic_service,
                        msg_centre_id: a.msg_centre_id,
                        nb_of_messages: a.nb_of_messages,
                        originating_nr: a.originating_nr,
                        timestamp: a.timestamp,
                        priority: a.priority,
                    })
                    .collect(),
            );
            prop_assert_eq!(MwiInterrogateRes::decode(&res.to_vec()).unwrap(), res);
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = MwiActivateArg::decode(&bytes);
            let _ = MwiDeactivateArg::decode(&bytes);
            let _ = MwiInterrogateRes::decode(&bytes);
            // Behind a valid SEQUENCE header, to get past the first check.
            let mut seq = vec![0x30, bytes.len().min(127) as u8];
            seq.extend_from_slice(&bytes[..bytes.len().min(127)]);
            let _ = MwiActivateArg::decode(&seq);
            let _ = MwiInterrogateRes::decode(&seq);
        }
    }
}
