//! ETSI DSS1 MWI (EN 300 745-1) on a PRI span with `mwi_protocol = "etsi"` (issue 14 item 7),
//! end to end with the real chand on the sim back-end. Outbound: libpri 1.6 as a EuroISDN
//! network (tests/peers/libpri-pbx.c `--etsi`) decodes chand's mwiActivate / mwiDeactivate
//! with its own ETSI decoder, sent connectionless (FACILITY on the dummy call reference) or in
//! a call-independent SETUP, and each delivery is settled. Inbound:
//! libpri has no call that sends mwiActivate, so a Q.921 PBX of our own sends ETSI invokes
//! written octet by octet; chand answers each and tells sipd (`PbxMwi`).

use std::time::Duration;

use callctl::link::Event;
use callctl::PbxMwi;
use chand::backend::sim::dchan_socket_path;
use chand::status::ChandStatus;
use dahdi_mwi_tests::env::{Chand, Env, NO_SIP_SERVER};
use dahdi_mwi_tests::fakesipd::FakeSipd;
use dahdi_mwi_tests::libpri::{LibpriPbx, LibpriSide};
use dahdi_mwi_tests::pbx::QsigPbx;
use isdn::q921::Side;
use mwi_core::MwiState;

const WAIT: Duration = Duration::from_secs(10);

/// The ETSI span, with `mwi_transport = "{transport}"`.
fn pri(transport: &str) -> String {
    format!(
        "[[pri]]\nspan = 1\ndchannel = 24\nside = \"user\"\nnumbers = [\"2...\"]\n\
         mwi_protocol = \"etsi\"\nmwi_transport = \"{transport}\"\nmsg_centre_id = \"8000\"\n"
    )
}

/// Hex (whitespace ignored) to bytes.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn settled(st: &ChandStatus) -> bool {
    st.span(1)
        .is_some_and(|p| p.link_up && p.queue_depth == 0 && p.in_flight == 0)
}

/// chand's mwiActivate and mwiDeactivate for 2001 in `transport`, decoded by libpri; the
/// frames libpri received.
fn libpri_decodes(transport: &str) -> Vec<Vec<u8>> {
    let env = Env::new();
    let cfg = env.write_config(&format!("{NO_SIP_SERVER}{}", pri(transport)));
    let mut writer = cfg.writer();
    let mut chand = Chand::start(&env, &cfg);
    let path = dchan_socket_path(&env.sim_dir, 24);
    let mut pbx = LibpriPbx::spawn_args(&path, LibpriSide::Network, &["--etsi"]);
    assert!(pbx.wait(WAIT, |p| p.dchan_up), "libpri:\n{}", pbx.tail(40));
    chand.wait_status("span 1 link up", WAIT, |st| {
        st.span(1).is_some_and(|p| p.link_up)
    });
    writer.publish("2001", MwiState::voice(true, 2, 0)).unwrap();
    assert!(
        pbx.wait(WAIT, |p| !p.decoded.is_empty()),
        "libpri:\n{}\nchand:\n{}",
        pbx.tail(60),
        chand.daemon.log()
    );
    let d = &pbx.decoded[0];
    assert_eq!((d.op(), d.served()), ("activate", "2001"), "{d:?}");
    assert_eq!(d.get("numberOfMessages"), Some("2"), "{d:?}");
    assert_eq!(d.get("basicService"), Some("1"), "{d:?}");
    assert_eq!(
        d.get("controllingUserNr.unknownPartyNumber"),
        Some("8000"),
        "{d:?}"
    );
    writer
        .publish("2001", MwiState::voice(false, 0, 2))
        .unwrap();
    assert!(
        pbx.wait(WAIT, |p| p.decoded.len() >= 2),
        "libpri:\n{}",
        pbx.tail(60)
    );
    let d = &pbx.decoded[1];
    assert_eq!((d.op(), d.served()), ("deactivate", "2001"), "{d:?}");
    chand.wait_status("span 1 settled", WAIT, settled);
    pbx.frames_rx.clone()
}

#[test]
fn libpri_euroisdn_decodes_chands_connectionless_etsi_invokes() {
    let frames = libpri_decodes("facility");
    // Both went out as FACILITY on the dummy call reference with the ROSE profile.
    let facilities = frames
        .iter()
        .filter(|f| f.get(4..8) == Some(&[0x08, 0x00, 0x62, 0x1c][..]) && f.get(9) == Some(&0x91))
        .count();
    assert_eq!(facilities, 2, "{frames:02x?}");
}

#[test]
fn libpri_euroisdn_decodes_chands_etsi_invokes_in_setup() {
    let frames = libpri_decodes("setup");
    // Both went out in a call-independent SETUP (`08 02 xxxx 05`).
    let setups = frames
        .iter()
        .filter(|f| f.get(4..6) == Some(&[0x08, 0x02][..]) && f.get(8) == Some(&0x05))
        .count();
    assert_eq!(setups, 2, "{frames:02x?}");
}

/// The next `PbxMwi` sipd gets, as (span, number, on, messages).
fn pbx_mwi(sipd: &mut FakeSipd, chand: &Chand) -> (u16, String, bool, Option<u16>) {
    loop {
        match sipd.next(WAIT) {
            Some(Event::PbxMwi(PbxMwi {
                span,
                number,
                on,
                messages,
            })) => return (span, number.as_str().to_owned(), on, messages),
            Some(_) => {}
            None => panic!(
                "no PbxMwi within {WAIT:?}; chand log:\n{}",
                chand.daemon.log()
            ),
        }
    }
}

#[test]
fn pbx_etsi_invokes_reach_sipd_and_are_answered() {
    let env = Env::new();
    let cfg = env.write_config(&format!("{NO_SIP_SERVER}{}", pri("facility")));
    let chand = Chand::start(&env, &cfg);
    let mut pbx = QsigPbx::connect(&env.sim_dir, 24, Side::Network, WAIT).expect("D-channel");
    assert!(pbx.run_until(WAIT, QsigPbx::is_up), "link up");
    let mut sipd = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
    sipd.wait_up();
    // A call-independent SETUP, call reference 5, with mwiActivate {0 4 0 745 1 1} for 8000,
    // speech, numberOfMessages [2] 3.
    pbx.send_message(hex(
        "08 020005 05 0402a880 1801ac 1c1e 91 a11b 020101 0606040085690101
         300e 800438303030 0a0101 a203020103",
    ))
    .expect("send");
    assert_eq!(
        pbx_mwi(&mut sipd, &chand),
        (1, "8000".into(), true, Some(3))
    );
    // RELEASE COMPLETE cause 16 with the ReturnResult of invoke 1 (DummyRes: no result).
    assert!(pbx.run_until(WAIT, |p| !p.messages.is_empty()));
    assert_eq!(
        pbx.messages[0],
        hex("08 028005 5a 08028090 1c06 91 a203 020101"),
        "chand log:\n{}",
        chand.daemon.log()
    );
    // Connectionless mwiDeactivate {0 4 0 745 1 2} for 8001: a FACILITY back.
    pbx.send_message(hex(
        "08 00 62 1c19 91 a116 020102 0606040085690102 3009 800438303031 0a0101",
    ))
    .expect("send");
    assert_eq!(pbx_mwi(&mut sipd, &chand), (1, "8001".into(), false, None));
    assert!(pbx.run_until(WAIT, |p| p.messages.len() == 2));
    assert_eq!(pbx.messages[1], hex("08 00 62 1c06 91 a203 020102"));
    // mwiIndicate {0 4 0 745 1 3}: Reject unrecognizedOperation, no lamp.
    pbx.send_message(hex(
        "08 00 62 1c15 91 a112 020103 0606040085690103 3005 a2030a0101",
    ))
    .expect("send");
    assert!(pbx.run_until(WAIT, |p| p.messages.len() == 3));
    assert_eq!(pbx.messages[2], hex("08 00 62 1c09 91 a406 020103 810101"));
}
