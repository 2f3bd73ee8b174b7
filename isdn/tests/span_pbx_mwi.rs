//! MWIActivate / MWIDeactivate from the PBX (ECMA-242 §6.3): the span answers with a
//! ReturnResult (DummyRes) in RELEASE COMPLETE for a call-independent SETUP and in a FACILITY
//! on the dummy call reference for the connectionless form, and reports
//! [`SpanEvent::PbxLamp`]; bad arguments get their ReturnError or Reject and no event.
//! The PBX is a network-side Q.921 entity; its Q.931 messages are written octet by octet.

mod common;

use common::hex;
use common::rig::Rig;
use isdn::q921::Side;
use isdn::span::{Lamp, SpanConfig, SpanEvent};

/// The invoke part of a QSIG Facility IE content: profile, NetworkFacilityExtension,
/// InterpretationApdu, then the ROSE component `rose` (docs/qsig.md, the golden frame).
fn facility_ie(rose: &str) -> String {
    let content = format!("9f aa06800100820100 8b0100 {rose}");
    let len = hex(&content).len();
    format!("1c{len:02x} {content}")
}

/// A call-independent SETUP from the PBX (call reference 5, flag 0) carrying `facility`.
fn setup(facility: &str) -> String {
    format!("08 020005 05 0402a880 1801ac {facility}")
}

/// The golden MWIActivate of docs/qsig.md, sent by the PBX, with nbOfMessages 3 added.
const ACTIVATE_1234_3: &str = "a114 020101 020150 300c 800431323334 0a0101 830103";

#[test]
fn activate_in_setup_is_answered_in_release_complete() {
    let mut r = Rig::new(SpanConfig::new(Side::User));
    let got = r.pbx_sends(&setup(&facility_ie(ACTIVATE_1234_3)));
    // RELEASE COMPLETE, call reference 5 with flag 1, cause 16 normal clearing from the user,
    // Facility: ReturnResult invokeId 1, mwiActivate (80), DummyRes NULL.
    assert_eq!(
        got,
        [concat!(
            "08",
            "028005",
            "5a",
            "08028090",
            "1c18",
            "9faa068001008201008b0100",
            "a20a",
            "020101",
            "3005",
            "020150",
            "0500"
        )]
    );
    assert_eq!(
        r.events,
        [SpanEvent::PbxLamp {
            number: "1234".into(),
            lamp: Lamp::on(Some(3)),
        }]
    );
}

#[test]
fn deactivate_connectionless_is_answered_on_the_dummy_call_reference() {
    let mut r = Rig::new(SpanConfig::new(Side::User));
    // FACILITY on the dummy call reference (ECMA-165 §7.3): invokeId 7, mwiDeactivate (81),
    // servedUserNr private level1RegionalNumber "1234", basicService speech.
    let deactivate = "a116 020107 020151 300e a509 0a0102 1204 31323334 0a0101";
    let got = r.pbx_sends(&format!("08 00 62 {}", facility_ie(deactivate)));
    assert_eq!(
        got,
        [concat!(
            "08",
            "00",
            "62",
            "1c18",
            "9faa068001008201008b0100",
            "a20a",
            "020107",
            "3005",
            "020151",
            "0500"
        )]
    );
    assert_eq!(
        r.events,
        [SpanEvent::PbxLamp {
            number: "1234".into(),
            lamp: Lamp::off(),
        }]
    );
}

#[test]
fn bad_arguments_get_their_error_and_no_event() {
    let mut r = Rig::new(SpanConfig::new(Side::User));
    // servedUserNr without digits: ReturnError invalidServedUserNr (6).
    let empty = "a110 020102 020150 3008 8000 0a0101 830101";
    let got = r.pbx_sends(&setup(&facility_ie(empty)));
    assert_eq!(
        got,
        [concat!(
            "08",
            "028005",
            "5a",
            "08028090",
            "1c14",
            "9faa068001008201008b0100",
            "a306",
            "020102",
            "020106"
        )]
    );
    // A space (a NumericString character, no digit): the same error.
    let letters = "a111 020103 020150 3009 8001 20 0a0101 830101";
    let got = r.pbx_sends(&setup(&facility_ie(letters)));
    assert!(got[0].ends_with("a306020103020106"), "{got:?}");
    // No argument SEQUENCE: Reject mistypedArgument (invoke problem 2).
    let mistyped = "a109 020104 020150 0a0101";
    let got = r.pbx_sends(&setup(&facility_ie(mistyped)));
    assert!(got[0].ends_with("a406020104810102"), "{got:?}");
    assert_eq!(r.events, []);
}
