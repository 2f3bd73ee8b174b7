//! The one-line `Display` of every wire form (Q.921 frame, Q.931 message, ROSE APDU, SS-MWI
//! invoke, whole frame), pinned on libpri's golden MWIActivate SETUP (docs/qsig.md).

mod common;

use common::{hex, repr, CR1, GOLDEN_SETUP};

use isdn::dump::Frame;
use isdn::q921::{Kind, Repr};
use isdn::q931::{cause, Cause, Location, Message, MessageType, RawIe};
use isdn::qsig::{self, Apdu, BasicService, MwiActivateArg, MwiInvoke, PartyNumber};
use isdn::rose::{Component, Facility, InvokeProblem, Problem};

fn frame(cr: bool, kind: Kind, pf: bool, info: &[u8]) -> String {
    repr(cr, kind, pf, info).to_string()
}

#[test]
fn q921_frames_show_type_sequence_numbers_address_and_bit() {
    let golden = hex(GOLDEN_SETUP);
    assert_eq!(
        Repr::parse_bytes(&golden).unwrap().to_string(),
        "I N(S)=0 N(R)=0 SAPI=0 TEI=0 C/R=0 P=0 len=60"
    );
    assert_eq!(
        frame(false, Kind::I { ns: 3, nr: 5 }, false, &[0; 31]),
        "I N(S)=3 N(R)=5 SAPI=0 TEI=0 C/R=0 P=0 len=31"
    );
    assert_eq!(
        frame(true, Kind::Rr { nr: 4 }, true, &[]),
        "RR N(R)=4 SAPI=0 TEI=0 C/R=1 P/F=1"
    );
    assert_eq!(
        frame(false, Kind::Rej { nr: 127 }, false, &[]),
        "REJ N(R)=127 SAPI=0 TEI=0 C/R=0 P/F=0"
    );
    assert_eq!(
        frame(false, Kind::Sabme, true, &[]),
        "SABME SAPI=0 TEI=0 C/R=0 P=1"
    );
    assert_eq!(
        frame(true, Kind::Ua, true, &[]),
        "UA SAPI=0 TEI=0 C/R=1 F=1"
    );
    assert_eq!(
        frame(true, Kind::Frmr, false, &[1, 2, 3, 4, 5]),
        "FRMR SAPI=0 TEI=0 C/R=1 F=0 len=5"
    );
}

#[test]
fn q931_message_shows_type_call_reference_and_ies_in_wire_order() {
    let golden = hex(GOLDEN_SETUP);
    let msg = Message::parse(&golden[4..]).unwrap();
    assert_eq!(
        msg.to_string(),
        "SETUP CR=0x0001/orig [BearerCapability, ChannelId, Facility(31), CallingNumber 2000, \
         CalledNumber 1234]"
    );
    let rlc = Message::release_complete(
        CR1.reply(),
        Some(Cause::new(Location::User, cause::FACILITY_NOT_IMPLEMENTED)),
    );
    assert_eq!(
        rlc.to_string(),
        "RELEASE COMPLETE CR=0x0001/dest [Cause 69]"
    );
    let fac = [0x9f];
    let connectionless = Message::new_facility(isdn::q931::CallReference::Dummy, &fac);
    assert_eq!(
        connectionless.to_string(),
        "FACILITY CR=dummy [Facility(1)]"
    );
}

#[test]
fn q931_unknown_type_and_ies_show_their_identifiers() {
    let mut msg = Message::new(CR1, MessageType::Other(0x7b));
    msg.unknown.push(RawIe {
        codeset: 0,
        id: 0x1e,
        content: &[0x80, 0x82],
    });
    msg.unknown.push(RawIe {
        codeset: 6,
        id: 0x01,
        content: &[1],
    });
    msg.invalid.push(RawIe {
        codeset: 0,
        id: 0x08,
        content: &[0x80],
    });
    assert_eq!(
        msg.to_string(),
        "type=0x7b CR=0x0001/orig [invalid=0x08(1), ie=0x1e(2), ie=cs=6/0x01(1)]"
    );
    assert_eq!(
        Message::new(CR1, MessageType::Status).to_string(),
        "STATUS CR=0x0001/orig"
    );
}

#[test]
fn rose_apdus_and_mwi_invokes_show_operation_and_arguments() {
    let golden = hex(GOLDEN_SETUP);
    let msg = Message::parse(&golden[4..]).unwrap();
    let facility = Facility::parse(msg.facility[0]).unwrap();
    let invoke = &facility.components[0];
    assert_eq!(invoke.to_string(), "invoke id=1 op=80 arg(11)");
    assert_eq!(
        Apdu(invoke).to_string(),
        "invoke id=1 op=mwiActivate(80) servedUserNr=1234 basicService=speech"
    );

    let full = MwiInvoke::Activate(MwiActivateArg {
        nb_of_messages: Some(3),
        originating_nr: Some(PartyNumber::Unknown("2000".into())),
        priority: Some(5),
        ..MwiActivateArg::new(PartyNumber::Unknown("1234".into()), BasicService::Speech)
    });
    let content = full.facility(7);
    let f = Facility::parse(&content).unwrap();
    assert_eq!(
        Apdu(&f.components[0]).to_string(),
        "invoke id=7 op=mwiActivate(80) servedUserNr=1234 basicService=speech nbOfMessages=3 \
         originatingNr=2000 priority=5"
    );

    let result = qsig::return_result_facility(1, qsig::MWI_ACTIVATE, qsig::DUMMY_RES);
    let f = Facility::parse(&result).unwrap();
    assert_eq!(
        Apdu(&f.components[0]).to_string(),
        "returnResult id=1 op=80 result(2)"
    );
    let err = qsig::return_error_facility(2, isdn::rose::error::INVALID_MSG_CENTRE_ID);
    let f = Facility::parse(&err).unwrap();
    assert_eq!(f.components[0].to_string(), "returnError id=2 error=1018");
    let rej = qsig::reject_facility(None, Problem::Invoke(InvokeProblem::UnrecognizedOperation));
    let f = Facility::parse(&rej).unwrap();
    assert_eq!(
        f.components[0].to_string(),
        "reject id=none problem=invoke/UnrecognizedOperation"
    );
}

#[test]
fn mwi_invoke_with_a_bad_argument_shows_the_reason() {
    let invoke = isdn::rose::Invoke {
        invoke_id: 3,
        linked_id: None,
        operation: isdn::rose::Code::Local(qsig::MWI_DEACTIVATE),
        argument: Some(&[0x30, 0x01]),
    };
    assert_eq!(
        Apdu(&Component::Invoke(invoke)).to_string(),
        "invoke id=3 op=81 arg(2) (SS-MWI: BER: truncated)"
    );
}

#[test]
fn whole_frame_shows_every_layer_on_one_line() {
    let golden = hex(GOLDEN_SETUP);
    assert_eq!(
        Frame(&golden).to_string(),
        "I N(S)=0 N(R)=0 SAPI=0 TEI=0 C/R=0 P=0 len=60: SETUP CR=0x0001/orig [BearerCapability, \
         ChannelId, Facility(31), CallingNumber 2000, CalledNumber 1234]: invoke id=1 \
         op=mwiActivate(80) servedUserNr=1234 basicService=speech"
    );
    assert_eq!(
        Frame(&[0x00, 0x01, 0x7f]).to_string(),
        "SABME SAPI=0 TEI=0 C/R=0 P=1"
    );
    assert_eq!(
        Frame(&[0x00, 0x01, 0x00, 0x00, 0x09]).to_string(),
        "I N(S)=0 N(R)=0 SAPI=0 TEI=0 C/R=0 P=0 len=1: Q.931: protocol discriminator 0x09"
    );
    assert_eq!(
        Frame(&[0x00]).to_string(),
        "undecodable LAPD frame of 1 octets: frame shorter than address and control field"
    );
}
