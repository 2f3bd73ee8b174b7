//! The real chand daemon on the sim back-end, MWI during calls: a message-waiting change that
//! comes while the port rings or is in a call never reaches the phone as an FSK spill during
//! the call; it is held and spilled once the port is idle on-hook again (3 s after), and
//! `chand status` shows the new state from the moment it comes. A fake sipd stands in for sipd
//! (dahdi_mwi_tests::fakesipd); Debian's minimodem decodes what the phone hears.

use std::net::UdpSocket;
use std::time::Duration;

use callctl::wire::Message;
use callctl::{CallId, Cause, Privacy, Text};
use chand::backend::sim::peer::Phone;
use dahdi_mwi_tests::env::Chand;
use dahdi_mwi_tests::fakesipd::{media, start_calls, FakeSipd};
use dahdi_mwi_tests::fsk::{contains, minimodem};
use dahdi_mwi_tests::tone::listen;
use fxs::fsk::mdmf_mwi_message;
use fxs::Law;
use mwi_core::MwiState;

const LAW: Law = Law::Mulaw;

/// What the phone hears within `ms`, decoded as Bell 202 by minimodem, and its events.
fn hear(phone: &Phone, ms: u64) -> (Vec<u8>, Vec<String>) {
    let (rec, events) = listen(phone, LAW, Duration::from_millis(ms));
    (minimodem(&rec.samples, 1200, 2200), events)
}

#[track_caller]
fn assert_no_spill(what: &str, bytes: &[u8], chand: &Chand) {
    for on in [true, false] {
        assert!(
            !contains(bytes, &mdmf_mwi_message(on)),
            "{what}: an MWI spill (on={on}) during the call: {bytes:02X?}; log:\n{}",
            chand.daemon.log()
        );
    }
}

#[track_caller]
fn assert_spill(what: &str, bytes: &[u8], on: bool, chand: &Chand) {
    assert!(
        contains(bytes, &mdmf_mwi_message(on)),
        "{what}: no MWI spill (on={on}) decoded from {bytes:02X?}; log:\n{}",
        chand.daemon.log()
    );
}

fn incoming(sipd: &mut FakeSipd, n: u32) -> CallId {
    let call = CallId(CallId::SIPD_BIT | n);
    sipd.send(Message::Incoming {
        call,
        port: 1,
        number: Text::try_from("5551234").unwrap(),
        name: Text::try_from("ALICE").unwrap(),
        privacy: Privacy::Allowed,
    });
    sipd.expect("Alerting", |m| {
        matches!(m, Message::Alerting { call: c } if *c == call).then_some(())
    });
    call
}

#[test]
fn mwi_changed_while_ringing_or_talking_is_spilled_after_the_call() {
    let (_env, mut chand, mut phones, mut sipd, mut writer) =
        start_calls("31500-31599", &[1], "vmwi = \"fsk\"\n");
    let phone = phones.remove(0);
    // MWI was on before chand started: spilled 3 s after its start.
    let (bytes, _) = hear(&phone, 5000);
    assert_spill("at start", &bytes, true, &chand);

    // A ringing call; MWI goes off while it rings, then the caller gives up.
    let call = incoming(&mut sipd, 1);
    writer
        .publish("8001", MwiState::voice(false, 0, 0))
        .unwrap();
    chand.wait_port_mwi("8001", false);
    let (bytes, events) = hear(&phone, 5000);
    assert!(events.iter().any(|e| e == "ring"), "events {events:?}");
    assert!(
        contains(&bytes, b"5551234"),
        "the caller ID is heard: {bytes:02X?}"
    );
    assert_no_spill("ringing", &bytes, &chand);
    let port = chand.port_status("8001");
    assert!(
        !port.mwi && port.spills_sent == 1 && port.call.state == "ringing",
        "status while ringing: {port:?}"
    );
    sipd.send(Message::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    let (bytes, _) = hear(&phone, 4500);
    assert_spill("after the ringing call", &bytes, false, &chand);

    // A connected call; MWI comes on while it lasts, then the phone hangs up.
    let call = incoming(&mut sipd, 2);
    phone.off_hook().unwrap();
    sipd.expect("Answered", |m| {
        matches!(m, Message::Answered { call: c } if *c == call).then_some(())
    });
    let far = UdpSocket::bind("127.0.0.1:0").unwrap();
    sipd.send(Message::Connected {
        call,
        media: media(far.local_addr().unwrap()),
    });
    writer.publish("8001", MwiState::voice(true, 5, 0)).unwrap();
    chand.wait_port_mwi("8001", true);
    let (bytes, events) = hear(&phone, 4500);
    assert_no_spill("connected", &bytes, &chand);
    assert!(
        !events.iter().any(|e| e.starts_with("onhooktransfer")),
        "on-hook transfer during the call: {events:?}"
    );
    let port = chand.port_status("8001");
    assert!(
        port.mwi && port.new == 5 && port.spills_sent == 2 && port.call.state == "connected",
        "status in the call: {port:?}"
    );
    phone.on_hook().unwrap();
    sipd.expect("Hangup", |m| {
        matches!(m, Message::Hangup { call: c, .. } if *c == call).then_some(())
    });
    let (bytes, _) = hear(&phone, 4500);
    assert_spill("after the connected call", &bytes, true, &chand);
    let port = chand.port_status("8001");
    assert!(
        port.mwi && port.spills_sent == 3,
        "status after the calls: {port:?}"
    );
}
