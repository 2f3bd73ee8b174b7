//! QSIG MWI as a PBX administrator configures it (issue 14 item 5), end to end: the real chand
//! on the sim back-end, the test's QSIG PBX (tests/src/pbx.rs, a PBX that keeps its lamps and
//! answers MWIInterrogate from them) on the D-channel socket, the test standing in for sipd.
//! The configured msgCentreId, originatingNr, calling number (type and plan) and prefixed
//! servedUserNr arrive at the PBX; with `resync = "interrogate"` a link flap makes chand ask
//! for every number and send only the lamps the PBX shows differently. tshark decodes every
//! frame chand sent. The PBX's own MWIInterrogates get ECMA-242's answers. libpri 1.6 as the
//! PBX decodes the same invokes and our MWIInterrogate.

use std::time::Duration;

use chand::backend::sim::dchan_socket_path;
use chand::status::ChandStatus;
use dahdi_mwi_tests::env::{Chand, Env, NO_SIP_SERVER};
use dahdi_mwi_tests::libpri::{LibpriPbx, LibpriSide};
use dahdi_mwi_tests::pbx::{QsigPbx, Received};
use dahdi_mwi_tests::tshark;
use isdn::q921::Side;
use isdn::q931::{NumberingPlan, TypeOfNumber};
use isdn::qsig::{
    BasicService, MsgCentreId, MwiDeactivateArg, MwiInterrogateRes, MwiInvoke, PartyNumber,
};
use isdn::rose::{self, Code, Component, Facility, Invoke, InvokeProblem, Problem, Reject};
use mwi_core::MwiState;
use mwi_table::Writer;

const WAIT: Duration = Duration::from_secs(10);

const PRI: &str = "[[pri]]\nspan = 1\ndchannel = 24\nside = \"user\"\nnumbers = [\"2...\"]\n\
    msg_centre_id = \"8000\"\noriginating_nr = \"8000\"\ncalling_number = \"8000\"\n\
    calling_type = \"subscriber\"\ncalling_plan = \"private\"\n\
    served_strip = 1\nserved_prefix = \"55\"\nresync = \"interrogate\"\n";

/// chand with the administered `[[pri]]`, and the table's writer (the test stands in for sipd).
fn start() -> (Env, Writer, Chand) {
    let env = Env::new();
    let cfg = env.write_config(&format!("{NO_SIP_SERVER}{PRI}"));
    let writer = cfg.writer();
    let chand = Chand::start(&env, &cfg);
    (env, writer, chand)
}

fn settled(st: &ChandStatus) -> bool {
    st.span(1)
        .is_some_and(|p| p.link_up && p.queue_depth == 0 && p.in_flight == 0)
}

fn connect(env: &Env, chand: &mut Chand) -> QsigPbx {
    let mut pbx = QsigPbx::connect(&env.sim_dir, 24, Side::Network, WAIT).unwrap();
    assert!(pbx.run_until(WAIT, QsigPbx::is_up), "link up");
    chand.wait_status("span 1 link up", WAIT, |st| {
        st.span(1).is_some_and(|p| p.link_up)
    });
    pbx
}

/// Run the PBX until chand's span 1 is settled and the PBX has seen `count` invokes.
fn settle(pbx: &mut QsigPbx, chand: &Chand, count: usize) {
    let ok = pbx.run_until(WAIT * 2, |p| {
        p.received.len() >= count && settled(&chand.status())
    });
    assert!(
        ok,
        "PBX received {} of {count}: {:#?}; chand:\n{}",
        pbx.received.len(),
        pbx.received
            .iter()
            .map(Received::describe)
            .collect::<Vec<_>>(),
        chand.daemon.log()
    );
}

/// tshark decodes every frame chand sent without a malformed or expert flag, but for the
/// ReturnError invalidMsgCentreId: tshark 4.0 has no name for ECMA-242's error 1018 and flags it
/// "Undecoded" (a warning; isdn_tshark.rs checks that frame decodes without error).
fn assert_tshark_clean(pbx: &QsigPbx) {
    let error_1018 = [0x02, 0x02, 0x03, 0xfa];
    let frames: Vec<Vec<u8>> = pbx
        .frames_in
        .iter()
        .map(|(_, f)| f.clone())
        .filter(|f| !f.windows(4).any(|w| w == error_1018))
        .collect();
    let v = tshark::decode(&frames);
    assert_eq!(v.lapd, frames.len(), "every frame is LAPD");
    assert!(v.flagged.is_empty(), "tshark flags {:#?}", v.flagged);
}

#[test]
fn administered_fields_arrive_and_a_flap_interrogates_and_sends_only_differences() {
    let (env, mut writer, mut chand) = start();
    let mut pbx = connect(&env, &mut chand);

    // Delivered as they come while the link is up: every administered field on the wire.
    writer.publish("2001", MwiState::voice(true, 2, 0)).unwrap();
    writer.publish("2002", MwiState::voice(true, 1, 0)).unwrap();
    writer
        .publish("2003", MwiState::voice(false, 0, 4))
        .unwrap();
    settle(&mut pbx, &chand, 3);
    let first = pbx
        .received
        .iter()
        .find(|r| r.served() == "55001")
        .unwrap_or_else(|| panic!("no 55001 in {:#?}", pbx.received));
    let MwiInvoke::Activate(a) = &first.invoke else {
        panic!("{}", first.describe());
    };
    assert_eq!(a.served_user_nr, PartyNumber::Unknown("55001".into()));
    assert_eq!(
        a.msg_centre_id,
        Some(MsgCentreId::PartyNumber(PartyNumber::Unknown(
            "8000".into()
        )))
    );
    assert_eq!(a.originating_nr, Some(PartyNumber::Unknown("8000".into())));
    assert_eq!(a.nb_of_messages, Some(2));
    assert_eq!(
        first.calling,
        Some((
            "8000".to_owned(),
            TypeOfNumber::Subscriber,
            NumberingPlan::Private
        ))
    );
    assert_eq!(first.called.as_deref(), Some("55001"));
    assert_tshark_clean(&pbx);

    // The link flaps. Meanwhile 2002 goes off and 2004 gets 5 messages; the PBX itself lost
    // 55001's lamp (a card restart); it still shows 55002 and knows 55003 is off.
    let mut lamps = pbx.lamps.clone();
    drop(pbx);
    chand.wait_status("span 1 link down", WAIT, |st| {
        st.span(1).is_some_and(|p| !p.link_up)
    });
    writer
        .publish("2002", MwiState::voice(false, 0, 1))
        .unwrap();
    writer.publish("2004", MwiState::voice(true, 5, 0)).unwrap();
    lamps.remove("55001");
    let mut pbx = connect(&env, &mut chand);
    pbx.lamps = lamps;
    // Four asks, then exactly the three lamps that differ.
    settle(&mut pbx, &chand, 7);
    pbx.run_for(Duration::from_millis(300));
    let asked: Vec<&str> = pbx
        .received
        .iter()
        .filter(|r| matches!(r.invoke, MwiInvoke::Interrogate(_)))
        .map(Received::served)
        .collect();
    assert_eq!(asked, ["55001", "55002", "55003", "55004"]);
    let sent: Vec<(&str, bool, Option<u16>)> = pbx
        .received
        .iter()
        .filter(|r| !matches!(r.invoke, MwiInvoke::Interrogate(_)))
        .map(|r| (r.served(), r.is_activate(), r.nb_of_messages()))
        .collect();
    assert_eq!(
        sent,
        [
            ("55001", true, Some(2)),
            ("55002", false, None),
            ("55004", true, Some(5))
        ],
        "{:#?}",
        pbx.received
            .iter()
            .map(Received::describe)
            .collect::<Vec<_>>()
    );
    let st = chand.status();
    // 55003 agreed (off both sides); 55001, 55002 and 55004 differed.
    let i = st.span(1).unwrap().interrogate;
    assert_eq!(
        (i.sent, i.agreed, i.differed, i.failed),
        (4, 1, 3, 0),
        "{st}"
    );
    assert!(st
        .to_string()
        .contains("MWIInterrogate sent 4: agreed 1, differed 3, failed 0"));
    for n in ["2001", "2002", "2003", "2004"] {
        let l = st.span(1).and_then(|p| p.lamp(n)).unwrap();
        assert_eq!(l.confirmed, Some(l.wanted), "{n}: {l:?}");
    }
    assert_tshark_clean(&pbx);
}

/// libpri 1.6 as the PBX: it decodes the administered MWIActivate (msgCentreId and
/// originatingNr included) and, after a link flap with `resync = "interrogate"`, our
/// MWIInterrogate. libpri implements no MWIInterrogate (its answer carries no result), which
/// chand takes as "send": the lamp follows the ask.
#[test]
fn libpri_decodes_the_administered_invokes_and_the_interrogate() {
    let (env, mut writer, mut chand) = start();
    let path = dchan_socket_path(&env.sim_dir, 24);
    let spawn = |chand: &mut Chand| {
        let mut pbx = LibpriPbx::spawn(&path, LibpriSide::Network);
        assert!(pbx.wait(WAIT, |p| p.dchan_up), "libpri:\n{}", pbx.tail(40));
        chand.wait_status("span 1 link up", WAIT, |st| {
            st.span(1).is_some_and(|p| p.link_up)
        });
        pbx
    };
    let mut pbx = spawn(&mut chand);
    writer.publish("2001", MwiState::voice(true, 2, 0)).unwrap();
    assert!(
        pbx.wait(WAIT, |p| !p.decoded.is_empty()),
        "libpri:\n{}\nchand:\n{}",
        pbx.tail(60),
        chand.daemon.log()
    );
    let d = &pbx.decoded[0];
    assert_eq!((d.op(), d.served()), ("activate", "55001"), "{d:?}");
    assert_eq!(d.nb_of_messages(), Some(2), "{d:?}");
    // The peer names msgCentreId's partyNumber alternative without its parent.
    assert_eq!(
        d.get("partyNumber.unknownPartyNumber"),
        Some("8000"),
        "{d:?}"
    );
    assert_eq!(
        d.get("originatingNr.unknownPartyNumber"),
        Some("8000"),
        "{d:?}"
    );
    pbx.disconnect();
    chand.wait_status("span 1 link down", WAIT, |st| {
        st.span(1).is_some_and(|p| !p.link_up)
    });
    let mut pbx = spawn(&mut chand);
    assert!(
        pbx.wait(WAIT * 2, |p| p.decoded.len() >= 2),
        "libpri:\n{}\nchand:\n{}",
        pbx.tail(60),
        chand.daemon.log()
    );
    let ops: Vec<(&str, &str)> = pbx.decoded.iter().map(|d| (d.op(), d.served())).collect();
    assert_eq!(ops, [("interrogate", "55001"), ("activate", "55001")]);
    chand.wait_status("span 1 settled", WAIT, settled);
    let i = chand.status().span(1).unwrap().interrogate;
    assert_eq!((i.sent, i.failed), (1, 1), "{i:?}");
}

/// The PBX asks chand (ECMA-242 §6.3): MWIInterrogate answered per servedUserNr (in the PBX's
/// prefixed form), msgCentreId and basicService with ECMA-242's errors, and an operation chand
/// does not implement rejected, all through the real daemon.
#[test]
fn pbx_interrogates_chand_and_gets_ecma_242_answers() {
    let (env, mut writer, mut chand) = start();
    let mut pbx = connect(&env, &mut chand);
    writer.publish("2001", MwiState::voice(true, 2, 0)).unwrap();
    writer
        .publish("2003", MwiState::voice(false, 0, 4))
        .unwrap();
    settle(&mut pbx, &chand, 2);
    let ours = || {
        Some(MsgCentreId::PartyNumber(PartyNumber::Unknown(
            "8000".into(),
        )))
    };
    let asks: [(&str, BasicService, Option<MsgCentreId>, Option<i64>); 5] = [
        ("55001", BasicService::Speech, ours(), None),
        (
            "55003",
            BasicService::Speech,
            None,
            Some(rose::error::NOT_AVAILABLE),
        ),
        (
            "2001",
            BasicService::Speech,
            None,
            Some(rose::error::INVALID_SERVED_USER_NR),
        ),
        (
            "55001",
            BasicService::Speech,
            Some(MsgCentreId::Integer(1)),
            Some(rose::error::INVALID_MSG_CENTRE_ID),
        ),
        (
            "55001",
            BasicService::UnrestrictedDigitalInformation,
            None,
            Some(rose::error::BASIC_SERVICE_NOT_PROVIDED),
        ),
    ];
    for (i, (served, service, centre, _)) in asks.iter().enumerate() {
        let mut arg = MwiDeactivateArg::new(PartyNumber::Unknown((*served).into()), *service);
        arg.msg_centre_id = centre.clone();
        let facility = MwiInvoke::Interrogate(arg).facility(100 + i as i64);
        pbx.send_setup(10 + i as u16, &facility).unwrap();
    }
    // An ECMA-347 operation (mCMInterrogate, 117) chand does not implement.
    let null = [0x05, 0x00];
    let mcm = Facility::qsig(Component::Invoke(Invoke {
        invoke_id: 200,
        linked_id: None,
        operation: Code::Local(117),
        argument: Some(&null),
    }))
    .to_vec();
    pbx.send_setup(20, &mcm).unwrap();
    assert!(
        pbx.run_until(WAIT, |p| p.answers.len() >= 6),
        "answers {:?}; chand:\n{}",
        pbx.answers,
        chand.daemon.log()
    );
    let answers: Vec<Facility<'_>> = pbx
        .answers
        .iter()
        .map(|a| Facility::parse(a).unwrap())
        .collect();
    let by_id = |id: i64| {
        answers
            .iter()
            .flat_map(|f| &f.components)
            .find(|c| c.invoke_id() == Some(id))
            .unwrap_or_else(|| panic!("no answer to invoke {id}: {answers:#?}"))
    };
    match by_id(100) {
        Component::ReturnResult(rr) => {
            let res = MwiInterrogateRes::decode(rr.result.unwrap().result).unwrap();
            assert_eq!(res.0.len(), 1);
            assert_eq!(res.0[0].basic_service, BasicService::Speech);
            assert_eq!(res.0[0].nb_of_messages, Some(2));
            assert_eq!(res.0[0].msg_centre_id, ours());
            assert_eq!(
                res.0[0].originating_nr,
                Some(PartyNumber::Unknown("8000".into()))
            );
        }
        other => panic!("{other:?}"),
    }
    for (i, (served, _, _, error)) in asks.iter().enumerate().skip(1) {
        match by_id(100 + i as i64) {
            Component::ReturnError(re) => {
                assert_eq!(re.error, Code::Local(error.unwrap()), "{served}")
            }
            other => panic!("{served}: {other:?}"),
        }
    }
    assert!(matches!(
        by_id(200),
        Component::Reject(Reject {
            problem: Problem::Invoke(InvokeProblem::UnrecognizedOperation),
            ..
        })
    ));
    assert_tshark_clean(&pbx);
}
