//! ROSE components and the QSIG Facility IE content.

mod common;

use common::hex;

use isdn::ber::{Reader, Writer};
use isdn::rose::{
    Code, Component, EntityType, Error, Facility, GeneralProblem, Interpretation, Invoke,
    InvokeProblem, NetworkFacilityExtension, OperationResult, Problem, Reject, ReturnError,
    ReturnErrorProblem, ReturnResult, ReturnResultProblem,
};
use proptest::prelude::*;

fn encode(c: &Component<'_>) -> Vec<u8> {
    let mut w = Writer::new();
    c.emit(&mut w);
    w.finish()
}

fn decode(b: &[u8]) -> Result<Component<'_>, Error> {
    Component::parse(Reader::new(b).read()?)
}

#[test]
fn invoke_with_linked_id_and_global_operation() {
    let oid = hex("2a 86 48");
    let c = Component::Invoke(Invoke {
        invoke_id: -2,
        linked_id: Some(300),
        operation: Code::Global(&oid),
        argument: Some(&[0x05, 0x00]),
    });
    let b = encode(&c);
    assert_eq!(b, hex("a1 0e 0201fe 80020 12c 06032a8648 0500"));
    assert_eq!(decode(&b), Ok(c));
}

#[test]
fn invoke_with_explicitly_absent_linked_id() {
    let b = hex("a1 08 020101 8100 020150");
    let Ok(Component::Invoke(inv)) = decode(&b) else {
        panic!("not an invoke");
    };
    assert_eq!((inv.linked_id, inv.operation), (None, Code::Local(80)));
}

#[test]
fn return_result_error_reject() {
    let rr = Component::ReturnResult(ReturnResult {
        invoke_id: 1,
        result: Some(OperationResult {
            operation: Code::Local(80),
            result: &[0x05, 0x00],
        }),
    });
    assert_eq!(encode(&rr), hex("a2 0a 020101 3005 020150 0500"));
    let bare = Component::ReturnResult(ReturnResult {
        invoke_id: 1,
        result: None,
    });
    assert_eq!(encode(&bare), hex("a2 03 020101"));
    let re = Component::ReturnError(ReturnError {
        invoke_id: 4,
        error: Code::Local(1018),
        parameter: None,
    });
    assert_eq!(encode(&re), hex("a3 07 020104 020203fa"));
    let rj = Component::Reject(Reject {
        invoke_id: None,
        problem: Problem::General(GeneralProblem::BadlyStructuredComponent),
    });
    assert_eq!(encode(&rj), hex("a4 05 0500 800102"));
    for c in [rr, bare, re, rj] {
        assert_eq!(decode(&encode(&c)), Ok(c));
    }
    for p in [
        Problem::Invoke(InvokeProblem::MistypedArgument),
        Problem::ReturnResult(ReturnResultProblem::MistypedResult),
        Problem::ReturnError(ReturnErrorProblem::UnexpectedError),
        Problem::ReturnError(ReturnErrorProblem::Other(42)),
    ] {
        let c = Component::Reject(Reject {
            invoke_id: Some(3),
            problem: p,
        });
        assert_eq!(decode(&encode(&c)), Ok(c));
    }
}

#[test]
fn bad_components() {
    assert_eq!(
        decode(&hex("a5 03 020101")),
        Err(Error::UnknownComponent(
            isdn::ber::Tag::context_constructed(5)
        ))
    );
    assert!(matches!(decode(&hex("a1 03 020101")), Err(Error::Ber(_))));
    assert!(matches!(
        decode(&hex("a4 05 020101 850101")),
        Err(Error::Ber(_))
    ));
}

#[test]
fn facility_header_elements() {
    let f = Facility {
        nfe: Some(NetworkFacilityExtension {
            source_entity: EntityType::EndPinx,
            destination_entity: EntityType::AnyTypeOfPinx,
        }),
        network_protocol_profile: Some(19),
        interpretation: Some(Interpretation::RejectUnrecognisedInvoke),
        components: vec![
            Component::ReturnResult(ReturnResult {
                invoke_id: 1,
                result: None,
            }),
            Component::Invoke(Invoke {
                invoke_id: 2,
                linked_id: None,
                operation: Code::Local(81),
                argument: None,
            }),
        ],
    };
    let b = f.to_vec();
    assert_eq!(
        b,
        hex("9f aa06800100820101 920113 8b0102 a203020101 a106020102020151")
    );
    assert_eq!(Facility::parse(&b), Ok(f));
    // NFE with entity addresses and extensions: addresses are skipped.
    let b = hex("9f aa 0d 800100 a1 03 800131 820100 8f00 a106020101020150");
    let f = Facility::parse(&b).unwrap();
    assert_eq!(f.nfe, Some(NetworkFacilityExtension::END_TO_END));
    // Empty, wrong profile, no component.
    assert_eq!(Facility::parse(&[]), Err(Error::Empty));
    assert_eq!(Facility::parse(&hex("91 a1 00")), Err(Error::Profile(0x91)));
    assert_eq!(Facility::parse(&hex("9f 8b0100")), Err(Error::NoComponent));
}

fn arb_code() -> impl Strategy<Value = (bool, i64, Vec<u8>)> {
    (
        any::<bool>(),
        any::<i64>(),
        proptest::collection::vec(any::<u8>(), 0..8),
    )
}

fn code(c: &(bool, i64, Vec<u8>)) -> Code<'_> {
    if c.0 {
        Code::Local(c.1)
    } else {
        Code::Global(&c.2)
    }
}

proptest! {
    #[test]
    fn invoke_round_trips(
        id in any::<i64>(),
        linked in proptest::option::of(any::<i64>()),
        op in arb_code(),
        arg in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
    ) {
        let arg_tlv = arg.map(|a| {
            let mut w = Writer::new();
            w.primitive(isdn::ber::Tag::OCTET_STRING, &a);
            w.finish()
        });
        let c = Component::Invoke(Invoke {
            invoke_id: id,
            linked_id: linked,
            operation: code(&op),
            argument: arg_tlv.as_deref(),
        });
        let f = Facility::qsig(c);
        let bytes = f.to_vec();
        prop_assert_eq!(Facility::parse(&bytes), Ok(f));
    }

    #[test]
    fn result_and_error_round_trip(id in any::<i64>(), op in arb_code(), with in any::<bool>()) {
        let rr = Component::ReturnResult(ReturnResult {
            invoke_id: id,
            result: with.then(|| OperationResult { operation: code(&op), result: &[0x05, 0x00] }),
        });
        let re = Component::ReturnError(ReturnError {
            invoke_id: id,
            error: code(&op),
            parameter: with.then_some(&[0x02, 0x01, 0x00][..]),
        });
        for c in [rr, re] {
            let bytes = encode(&c);
            prop_assert_eq!(decode(&bytes), Ok(c));
        }
    }

    #[test]
    fn facility_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Facility::parse(&bytes);
        let mut with_profile = vec![0x9f];
        with_profile.extend_from_slice(&bytes);
        if let Ok(f) = Facility::parse(&with_profile) {
            // Whatever parsed re-encodes to something that parses the same.
            let again = f.to_vec();
            prop_assert_eq!(Facility::parse(&again), Ok(f));
        }
    }
}
