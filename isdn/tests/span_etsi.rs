//! A span with `mwi_protocol = "etsi"` (EN 300 745-1): deliveries are ETSI mwiActivate /
//! mwiDeactivate in a Facility IE with the ROSE profile `0x91` (connectionless FACILITY on the
//! dummy call reference, or a call-independent SETUP); the same invokes from the PBX are
//! answered with a ReturnResult and reported as [`SpanEvent::PbxLamp`], mwiIndicate and other
//! invokes with a Reject, QSIG facilities not at all. Every frame is written octet by octet.

mod common;

use common::hex;
use common::rig::{to_hex, Rig};
use isdn::q921::Side;
use isdn::qsig::{MsgCentreId, PartyNumber};
use isdn::span::{Lamp, MwiProtocol, Resync, SpanConfig, SpanEvent, Transport};

fn etsi(transport: Transport) -> SpanConfig {
    let mut c = SpanConfig::new(Side::User);
    c.protocol = MwiProtocol::Etsi;
    c.transport = transport;
    c
}

/// A Facility IE (`1c len`) around ROSE-profile content `content` (starting with `91`).
fn facility_ie(content: &str) -> String {
    let len = hex(content).len();
    format!("1c{len:02x} {content}")
}

/// A call-independent SETUP from the PBX (call reference 5, flag 0) carrying `facility`.
fn setup(facility: &str) -> String {
    format!("08 020005 05 0402a880 1801ac {facility}")
}

/// mwiActivate from the PBX: invokeId 1, operation {0 4 0 745 1 1}, receivingUserNr unknown
/// "1234", speech, numberOfMessages [2] EXPLICIT 3.
const ACTIVATE_1234_3: &str = "91 a11b 020101 0606040085690101 300e 800431323334 0a0101 a203020103";

#[test]
fn deliveries_are_etsi_invokes_on_the_dummy_call_reference() {
    let mut r = Rig::new(etsi(Transport::Facility));
    let now = r.now;
    r.span.set_lamp(now, "1234", Lamp::on(Some(2)));
    r.pump();
    // FACILITY, dummy call reference, Facility: profile 0x91, Invoke 1 mwiActivate
    // {receivingUserNr "1234", speech, numberOfMessages [2] 2}.
    assert_eq!(
        r.got.iter().map(|m| to_hex(m)).collect::<Vec<_>>(),
        [concat!(
            "08",
            "00",
            "62",
            "1c1e",
            "91",
            "a11b",
            "020101",
            "0606040085690101",
            "300e",
            "800431323334",
            "0a0101",
            "a203020102"
        )]
    );
    r.got.clear();
    let now = r.now;
    r.span.set_lamp(now, "1234", Lamp::off());
    r.pump();
    // mwiDeactivate {0 4 0 745 1 2}, invokeId 2.
    assert_eq!(
        to_hex(&r.got[0]),
        "0800621c1991a116020102060604008569010230098004313233340a0101"
    );
    assert!(r.events.iter().any(|e| *e
        == SpanEvent::Confirmed {
            number: "1234".into(),
            lamp: Lamp::off()
        }));
}

#[test]
fn setup_delivery_carries_the_message_centre_and_caller() {
    let mut c = etsi(Transport::Setup);
    c.msg_centre_id = Some(MsgCentreId::PartyNumber(PartyNumber::Unknown(
        "8000".into(),
    )));
    c.originating_nr = Some("2000".into());
    let mut r = Rig::new(c);
    let now = r.now;
    r.span.set_lamp(now, "1234", Lamp::on(Some(1)));
    r.pump();
    // SETUP, call reference 1, CIS bearer and D-channel identification (ECMA-165 §7.1,
    // EN 300 196-1 §8.3), the invoke with controllingUserNr [1] "8000" and
    // controllingUserProvidedNr [3] "2000", then called party number "1234".
    assert_eq!(
        r.got.iter().map(|m| to_hex(m)).collect::<Vec<_>>(),
        [concat!(
            "08",
            "020001",
            "05",
            "0402a880",
            "1801ac",
            "1c2e",
            "91",
            "a12b",
            "020101",
            "0606040085690101",
            "301e",
            "800431323334",
            "0a0101",
            "a106800438303030",
            "a203020101",
            "a306800432303030",
            "70058031323334"
        )]
    );
    // The PBX clears with RELEASE COMPLETE: delivered.
    r.pbx_sends("08 028001 5a");
    assert!(r.events.contains(&SpanEvent::Confirmed {
        number: "1234".into(),
        lamp: Lamp::on(Some(1)),
    }));
}

#[test]
fn activate_from_the_pbx_is_answered_and_reported() {
    let mut r = Rig::new(etsi(Transport::Setup));
    let got = r.pbx_sends(&setup(&facility_ie(ACTIVATE_1234_3)));
    // RELEASE COMPLETE cause 16, Facility: ReturnResult invokeId 1 without result (DummyRes).
    assert_eq!(
        got,
        ["08028005 5a 08028090 1c06 91 a203 020101".replace(' ', "")]
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
fn connectionless_deactivate_is_answered_on_the_dummy_call_reference() {
    let mut r = Rig::new(etsi(Transport::Facility));
    // invokeId 7, mwiDeactivate, receivingUserNr public unknown "1234", speech,
    // controllingUserNr "8000" (untagged), mode immediate (untagged).
    let deactivate = "91 a124 020107 0606040085690102
        3017 a1090a0100120431323334 0a0101 800438303030 0a0101";
    let got = r.pbx_sends(&format!("08 00 62 {}", facility_ie(deactivate)));
    assert_eq!(got, ["080062 1c06 91 a203 020107".replace(' ', "")]);
    assert_eq!(
        r.events,
        [SpanEvent::PbxLamp {
            number: "1234".into(),
            lamp: Lamp::off(),
        }]
    );
}

#[test]
fn other_invokes_get_their_reject_or_error() {
    let mut r = Rig::new(etsi(Transport::Setup));
    // mwiIndicate (we are no receiving user's terminal): Reject unrecognizedOperation.
    let indicate = "91 a112 020102 0606040085690103 3005 a2030a0101";
    let got = r.pbx_sends(&setup(&facility_ie(indicate)));
    assert_eq!(
        got,
        ["08028005 5a 08028090 1c09 91 a406 020102 810101".replace(' ', "")]
    );
    // A local operation value (QSIG's 80) under the ETSI profile: the same Reject.
    let local = "91 a111 020103 020150 3009 800431323334 0a0101";
    let got = r.pbx_sends(&setup(&facility_ie(local)));
    assert!(got[0].ends_with("1c0991a406020103810101"), "{got:?}");
    // receivingUserNr without digits: ReturnError invalidReceivingUserNr {0 4 0 745 1 10}.
    let empty = "91 a112 020104 0606040085690101 3005 8000 0a0101";
    let got = r.pbx_sends(&setup(&facility_ie(empty)));
    assert!(
        got[0].ends_with("1c0e91a30b020104060604008569010a"),
        "{got:?}"
    );
    // No argument: Reject mistypedArgument.
    let bare = "91 a10b 020105 0606040085690101";
    let got = r.pbx_sends(&setup(&facility_ie(bare)));
    assert!(got[0].ends_with("1c0991a406020105810102"), "{got:?}");
    assert_eq!(r.events, []);
}

#[test]
fn qsig_facilities_are_not_answered_on_an_etsi_span() {
    let mut r = Rig::new(etsi(Transport::Setup));
    let qsig = "9f aa06800100820100 8b0100 a111 020101 020150 3009 800431323334 0a0101";
    let got = r.pbx_sends(&setup(&facility_ie(qsig)));
    // RELEASE COMPLETE cause 69 (facility not implemented), nothing else.
    assert_eq!(got, ["08028005 5a 080280c5".replace(' ', "")]);
    assert_eq!(r.events, []);
}

#[test]
fn interrogate_resync_sends_every_number_on_an_etsi_span() {
    let mut c = etsi(Transport::Facility);
    c.resync = Resync::Interrogate;
    let mut r = Rig::new(c);
    let now = r.now;
    r.span.set_lamp(now, "1234", Lamp::on(None));
    r.pump();
    r.got.clear();
    // The link drops and comes back: the lamp is sent again, no MWIInterrogate (ETSI has
    // none).
    r.span.link_lost(now);
    r.pbx.link_lost();
    r.span.start(now);
    r.pbx.start(now);
    r.pump();
    assert_eq!(
        r.got.iter().map(|m| to_hex(m)).collect::<Vec<_>>(),
        ["0800621c1991a116020102060604008569010130098004313233340a0101"]
    );
}
