//! Every frame shape the MWI delivery sends, checked by an independent decoder: tshark 4.x
//! (Debian `tshark`), LAPD link type 203. The Q.931 message is wrapped in a Q.921 I-frame header
//! (`00 01 00 00`: SAPI 0, C/R 0, TEI 0, N(S)=N(R)=0), written as text2pcap input, converted with
//! `text2pcap -q -F pcap -l 203` and decoded with `tshark -V` and `tshark -z expert`.
//!
//! tshark names operations 80/81 mCMNewMsg / mCMNoNewMsg (ECMA-347 reuses the SS-MWI codes and
//! tags); the argument fields decode fully. A missing tshark fails the test.

mod common;

use common::{calling, text2pcap, tshark, CR1};
use isdn::ber::GeneralizedTime;
use isdn::q931::{
    call_state, cause, CallReference, Cause, Location, Message, MessageType, PartyNumberIe,
};
use isdn::qsig::{
    self, BasicService, MsgCentreId, MwiActivateArg, MwiDeactivateArg, MwiInterrogateRes,
    MwiInterrogateResElt, MwiInvoke, PartyNumber, PrivateTypeOfNumber, PublicTypeOfNumber,
};
use isdn::rose::{InvokeProblem, Problem};

/// One frame to check: what it is, its Q.931 bytes, and strings tshark -V must print for it.
struct Case {
    name: &'static str,
    q931: Vec<u8>,
    expect: Vec<&'static str>,
}

fn setup(invoke: &MwiInvoke, invoke_id: i64) -> Vec<u8> {
    let fac = invoke.facility(invoke_id);
    let called = PartyNumberIe::unknown(invoke.served_user_nr().digits());
    Message::setup_cis(CR1, &fac, Some(calling()), Some(called)).to_vec()
}

fn cases() -> Vec<Case> {
    let minimal = MwiInvoke::Activate(MwiActivateArg::new(
        PartyNumber::Unknown("1234".into()),
        BasicService::Speech,
    ));
    let full = MwiInvoke::Activate(MwiActivateArg {
        served_user_nr: PartyNumber::Private {
            ton: PrivateTypeOfNumber::Local,
            digits: "4711".into(),
        },
        basic_service: BasicService::Speech,
        msg_centre_id: Some(MsgCentreId::PartyNumber(PartyNumber::Unknown(
            "8000".into(),
        ))),
        nb_of_messages: Some(3),
        originating_nr: Some(PartyNumber::Public {
            ton: PublicTypeOfNumber::International,
            digits: "4930123456".into(),
        }),
        timestamp: Some(GeneralizedTime::utc(2024, 1, 2, 3, 4, 5).unwrap()),
        priority: Some(5),
    });
    let deactivate = MwiInvoke::Deactivate(MwiDeactivateArg {
        served_user_nr: PartyNumber::Public {
            ton: PublicTypeOfNumber::Subscriber,
            digits: "1234".into(),
        },
        basic_service: BasicService::Speech,
        msg_centre_id: Some(MsgCentreId::Integer(7)),
    });
    let dummy_fac = minimal.facility(5);
    let rlc_cause = Cause::new(Location::PrivateLocal, cause::FACILITY_NOT_IMPLEMENTED);
    let interrogate_res = MwiInterrogateRes(vec![MwiInterrogateResElt {
        basic_service: BasicService::Speech,
        msg_centre_id: None,
        nb_of_messages: Some(2),
        originating_nr: None,
        timestamp: None,
        priority: None,
    }]);
    let result_fac = qsig::return_result_facility(1, qsig::MWI_ACTIVATE, qsig::DUMMY_RES);
    let reject_fac = qsig::reject_facility(
        Some(9),
        Problem::Invoke(InvokeProblem::UnrecognizedOperation),
    );
    let interrogate_fac =
        qsig::return_result_facility(3, qsig::MWI_INTERROGATE, &interrogate_res.to_vec());
    let status_diag = [0x33u8];
    vec![
        Case {
            name: "MWIActivate minimal (SETUP)",
            q931: setup(&minimal, 1),
            expect: vec![
                "Message type: SETUP (0x05)",
                "Protocol profile: Networking extensions (0x1f)",
                "local: 80 - mCMNewMsg",
                "unknownPartyNumber: 1234",
                "specificMessageType: speech (1)",
                "Calling party number digits: 2000",
                "Called party number digits: 1234",
            ],
        },
        Case {
            name: "MWIActivate full arguments (SETUP)",
            q931: setup(&full, 2),
            expect: vec![
                "local: 80 - mCMNewMsg",
                "privateTypeOfNumber: localNumber (4)",
                "privateNumberDigits: 4711",
                "specificMessageType: speech (1)",
                "unknownPartyNumber: 8000",
                "nrOfMessages: 3",
                "publicTypeOfNumber: internationalNumber (1)",
                "publicNumberDigits: 4930123456",
                "timestamp: Jan  2, 2024 03:04:05",
                "priority: 5",
            ],
        },
        Case {
            name: "MWIDeactivate (SETUP)",
            q931: setup(&deactivate, 3),
            expect: vec![
                "local: 81 - mCMNoNewMsg",
                "publicTypeOfNumber: subscriberNumber (4)",
                "publicNumberDigits: 1234",
                "specificMessageType: speech (1)",
                "integer: 7",
            ],
        },
        Case {
            name: "MWIActivate on the dummy call reference (FACILITY)",
            q931: Message::new_facility(CallReference::Dummy, &dummy_fac).to_vec(),
            expect: vec![
                "Call reference value length: 0",
                "Message type: FACILITY (0x62)",
                "local: 80 - mCMNewMsg",
                "unknownPartyNumber: 1234",
            ],
        },
        Case {
            name: "RELEASE COMPLETE cause 69",
            q931: Message::release_complete(CR1.reply(), Some(rlc_cause)).to_vec(),
            expect: vec![
                "Message type: RELEASE COMPLETE (0x5a)",
                "Call reference flag: Message sent to originating side",
                "Cause value: Requested facility not implemented (69)",
                "Private network serving the local user",
            ],
        },
        Case {
            name: "CONNECT with ReturnResult",
            q931: Message {
                facility: vec![&result_fac],
                ..Message::new(CR1.reply(), MessageType::Connect)
            }
            .to_vec(),
            expect: vec![
                "Message type: CONNECT (0x07)",
                "ROS: returnResult (2)",
                "local: 80 - mCMNewMsg",
                "MCMDummyRes: none (0)",
            ],
        },
        Case {
            name: "FACILITY with MWIInterrogate result",
            q931: Message::new_facility(CR1.reply(), &interrogate_fac).to_vec(),
            expect: vec![
                "ROS: returnResult (2)",
                "present: 3",
                "local: 82 - mCMUpdateReq",
                "specificMessageType: speech (1)",
                "nrOfMessages: 2",
            ],
        },
        Case {
            name: "FACILITY with Reject",
            q931: Message::new_facility(CR1, &reject_fac).to_vec(),
            expect: vec![
                "ROS: reject (4)",
                "present: 9",
                "invoke: unrecognizedOperation (1)",
            ],
        },
        Case {
            name: "RELEASE",
            q931: Message::release(
                CR1,
                Some(Cause::new(Location::User, cause::NORMAL_CLEARING)),
            )
            .to_vec(),
            expect: vec![
                "Message type: RELEASE (0x4d)",
                "Cause value: Normal call clearing (16)",
            ],
        },
        Case {
            name: "STATUS cause 97",
            q931: Message::status(
                CR1.reply(),
                Cause {
                    diagnostics: &status_diag,
                    ..Cause::new(Location::User, cause::MESSAGE_TYPE_NONEXISTENT)
                },
                call_state::ACTIVE,
            )
            .to_vec(),
            expect: vec![
                "Message type: STATUS (0x7d)",
                "Cause value: Message type non-existent or not implemented (97)",
                "Call state: Active (0x0a)",
            ],
        },
    ]
}

#[test]
fn tshark_decodes_every_frame_without_errors() {
    let cases = cases();
    let dir = tempfile::tempdir().unwrap();
    let lapd: Vec<Vec<u8>> = cases
        .iter()
        .map(|c| {
            let mut frame = vec![0x00, 0x01, 0x00, 0x00];
            frame.extend_from_slice(&c.q931);
            frame
        })
        .collect();
    let pcap = text2pcap(dir.path(), "frames", &lapd);

    let verbose = tshark(&pcap, &["-V"]);
    let frames: Vec<&str> = verbose.split("\nFrame ").collect();
    assert_eq!(frames.len(), cases.len(), "tshark frame count:\n{verbose}");
    for (c, text) in cases.iter().zip(&frames) {
        for e in &c.expect {
            assert!(text.contains(e), "{}: tshark lacks {e:?}:\n{text}", c.name);
        }
        for bad in [
            "Malformed",
            "Expert Info (Error",
            "Unknown operation",
            "BER Error",
        ] {
            assert!(
                !text.contains(bad),
                "{}: tshark says {bad:?}:\n{text}",
                c.name
            );
        }
    }

    let expert = tshark(&pcap, &["-q", "-z", "expert"]);
    assert!(
        !expert.contains("Errors") && !expert.contains("Malformed"),
        "tshark expert info reports errors:\n{expert}"
    );
}
