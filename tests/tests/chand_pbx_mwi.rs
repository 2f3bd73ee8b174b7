//! The reverse path on a PRI span (issue 14 item 6): the PBX's own voice mail sends
//! MWIActivate / MWIDeactivate (ECMA-242 §6.3) to chand, which answers with a ReturnResult and
//! tells sipd (`PbxMwi` on the call-control socket), and tells a new sipd every lamp again.
//! The PBX is a Q.921 entity of our own whose frames are written octet by octet: libpri's
//! test peer (tests/peers/libpri-pbx.c) has no call that sends MWIActivate.

use std::time::Duration;

use callctl::link::Event;
use callctl::PbxMwi;
use dahdi_mwi_tests::env::{Chand, Env, NO_SIP_SERVER};
use dahdi_mwi_tests::fakesipd::FakeSipd;
use dahdi_mwi_tests::pbx::QsigPbx;
use dahdi_mwi_tests::tshark;
use isdn::q921::Side;

const WAIT: Duration = Duration::from_secs(10);

/// Hex (whitespace ignored) to bytes.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
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
fn pbx_lamps_reach_sipd_and_every_new_sipd() {
    let env = Env::new();
    let cfg = env.write_config(&format!(
        "{NO_SIP_SERVER}[[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"2...\"]\n"
    ));
    let chand = Chand::start(&env, &cfg);
    let mut pbx = QsigPbx::connect(&env.sim_dir, 24, Side::Network, WAIT).expect("D-channel");
    assert!(pbx.run_until(WAIT, QsigPbx::is_up), "link up");
    let mut sipd = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
    sipd.wait_up();
    // libpri's MWIActivate SETUP (docs/qsig.md) from the PBX, call reference 5, for 8000
    // with nbOfMessages 3.
    pbx.send_message(hex(
        "08 020005 05 0402a880 1801ac 1c22 9f aa06800100820100 8b0100
         a114 020101 020150 300c 800438303030 0a0101 830103",
    ))
    .expect("send");
    assert_eq!(
        pbx_mwi(&mut sipd, &chand),
        (1, "8000".into(), true, Some(3))
    );
    // RELEASE COMPLETE cause 16 with the ReturnResult (DummyRes) of invoke 1.
    assert!(pbx.run_until(WAIT, |p| !p.messages.is_empty()));
    assert_eq!(
        pbx.messages[0],
        hex("08 028005 5a 08028090 1c18 9faa068001008201008b0100 a20a 020101 3005 020150 0500"),
        "chand log:\n{}",
        chand.daemon.log()
    );
    // Connectionless MWIDeactivate for 8001 on the dummy call reference: a FACILITY back.
    pbx.send_message(hex(
        "08 00 62 1c1f 9f aa06800100820100 8b0100 a111 020102 020151 3009 800438303031 0a0101",
    ))
    .expect("send");
    assert_eq!(pbx_mwi(&mut sipd, &chand), (1, "8001".into(), false, None));
    assert!(pbx.run_until(WAIT, |p| p.messages.len() == 2));
    assert_eq!(
        pbx.messages[1],
        hex("08 00 62 1c18 9faa068001008201008b0100 a20a 020102 3005 020151 0500")
    );
    // A new sipd hears both again.
    drop(sipd);
    let mut sipd = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
    sipd.wait_up();
    let mut again = [pbx_mwi(&mut sipd, &chand), pbx_mwi(&mut sipd, &chand)];
    again.sort();
    assert_eq!(
        again,
        [
            (1, "8000".into(), true, Some(3)),
            (1, "8001".into(), false, None)
        ]
    );
    assert!(chand
        .daemon
        .log()
        .contains("the PBX set lamp on, 3 messages"));
    // tshark decodes every frame chand sent.
    let frames: Vec<Vec<u8>> = pbx.frames_in.iter().map(|(_, f)| f.clone()).collect();
    let v = tshark::decode(&frames);
    assert_eq!(v.lapd, frames.len());
    assert!(v.flagged.is_empty(), "tshark flags {:#?}", v.flagged);
}
