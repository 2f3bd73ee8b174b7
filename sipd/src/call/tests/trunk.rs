//! PRI trunk calls (issue 13): INVITEs for a span's numbers to chand as `TrunkIncoming`,
//! chand's `TrunkDial` as INVITEs to the proxy.

use super::uas::ring;
use super::*;
use callctl::{Digits, ErrorCode, Text};

/// An INVITE from the peer for `user`, rung on the trunk; returns the call id and the
/// `TrunkIncoming` chand got.
fn trunk_ring(h: &mut Harness, user: &str, call_id: &str) -> (CallId, Ctl) {
    h.sip_in(&invite(user, call_id, PEER_SDP), peer());
    assert_eq!(codes(&h.take_sent()), [100]);
    let mut told = h.take_told();
    assert_eq!(told.len(), 1, "{told:?}");
    let msg = told.remove(0);
    (msg.call().unwrap(), msg)
}

/// `TrunkDial` on `span` and `MediaReady`; returns the call id and what was sent.
fn trunk_dial(
    h: &mut Harness,
    span: u16,
    number: &str,
    privacy: Privacy,
) -> (CallId, Vec<Message>) {
    let call = h.chand.new_call_id().unwrap();
    h.chand_says(Ctl::TrunkDial {
        call,
        span,
        called: Digits::try_from("789").unwrap(),
        number: Text::try_from(number).unwrap(),
        name: Text::try_from("Ann \"B\"").unwrap(),
        privacy,
    });
    // A refused call is gone from chand's link already.
    if h.chand.calls().any(|c| c == call) {
        h.chand_says(Ctl::MediaReady {
            call,
            local_rtp: "0.0.0.0:10004".parse().unwrap(),
        });
    }
    (call, h.take_sent())
}

#[test]
fn an_invite_for_a_span_number_rings_the_trunk_and_is_answered() {
    let mut h = Harness::new(true);
    let (call, msg) = trunk_ring(&mut h, "2001", "t1");
    assert_eq!(
        msg,
        Ctl::TrunkIncoming {
            call,
            span: 1,
            called: Digits::try_from("2001").unwrap(),
            number: Text::try_from("5551234").unwrap(),
            name: Text::try_from("Alice Smith").unwrap(),
            privacy: Privacy::Allowed,
        }
    );
    let st = &h.calls.status(h.now)[0];
    assert_eq!((st.span, st.channel), (Some(1), None));
    assert_eq!(
        (st.called.as_str(), st.calling.as_str()),
        ("2001", "5551234")
    );
    assert!(render(&h.calls.status(h.now)).contains(
        "span 1 incoming ringing sip:5551234@192.0.2.30 0 s Call-ID t1 from 5551234 to 2001"
    ));
    h.chand_says(Ctl::Alerting { call });
    assert_eq!(codes(&h.take_sent()), [180]);
    h.chand_says(Ctl::MediaReady {
        call,
        local_rtp: "192.0.2.1:10006".parse().unwrap(),
    });
    h.chand_says(Ctl::Answered { call });
    let ok = h.take_sent().remove(0);
    assert_eq!(ok.code(), Some(200));
    assert_eq!(ok.header("Contact"), Some("<sip:2001@192.0.2.1:5060>"));
    assert!(String::from_utf8_lossy(&ok.body).contains("m=audio 10006 RTP/AVP 8 101"));
    let tag = format!(";tag={}", ok.to_tag().unwrap());
    h.sip_in(&in_dialog("ACK", "t1", &tag, 1, "t1"), peer());
    assert!(matches!(h.take_told()[..], [Ctl::Connected { .. }]));
    assert_eq!(h.calls.status(h.now)[0].state, "connected");
    // A re-INVITE (hold) becomes Modify.
    let hold = invite("2001", "t1", &PEER_SDP.replace("sendrecv", "sendonly"))
        .replace(
            "To: <sip:2001@192.0.2.1>",
            &format!("To: <sip:2001@192.0.2.1>{tag}"),
        )
        .replace("CSeq: 1", "CSeq: 2")
        .replace("branch=z9hG4bKt1", "branch=z9hG4bKt1b");
    h.sip_in(&hold, peer());
    assert_eq!(codes(&h.take_sent()), [200]);
    assert!(matches!(h.take_told()[..], [Ctl::Modify { .. }]));
    // The PBX hangs up: BYE.
    h.chand_says(Ctl::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    assert_eq!(h.take_sent()[0].method(), "BYE");
}

#[test]
fn a_global_number_loses_its_plus_and_the_peer_hangs_up() {
    let mut h = Harness::new(true);
    let (call, msg) = trunk_ring(&mut h, "+2002", "t2");
    let Ctl::TrunkIncoming {
        called, span: 1, ..
    } = msg
    else {
        panic!("{msg:?}");
    };
    assert_eq!(called.as_str(), "2002");
    h.chand_says(Ctl::MediaReady {
        call,
        local_rtp: "192.0.2.1:10008".parse().unwrap(),
    });
    h.chand_says(Ctl::Answered { call });
    let tag = format!(";tag={}", h.take_sent()[0].to_tag().unwrap());
    h.sip_in(&in_dialog("ACK", "t2", &tag, 1, "t2"), peer());
    h.take_told();
    h.sip_in(&in_dialog("BYE", "t2", &tag, 2, "t2bye"), peer());
    assert_eq!(codes(&h.take_sent()), [200]);
    assert_eq!(
        h.take_told(),
        [Ctl::Hangup {
            call,
            cause: Cause::NORMAL_CLEARING
        }]
    );
}

#[test]
fn pbx_causes_map_to_sip_responses() {
    for (cause, code) in [(34, 503), (17, 486), (27, 502), (38, 503), (1, 404)] {
        let mut h = Harness::new(true);
        let (call, _) = trunk_ring(&mut h, "2003", "t3");
        h.chand_says(Ctl::Hangup {
            call,
            cause: Cause(cause),
        });
        assert_eq!(codes(&h.take_sent()), [code], "cause {cause}");
        h.sip_in(&in_dialog("ACK", "t3", ";tag=x", 1, "t3"), peer());
        h.advance(40_000);
        assert!(h.calls.status(h.now).is_empty());
    }
}

#[test]
fn cancel_of_a_trunk_call_gives_487_and_hangup() {
    let mut h = Harness::new(true);
    let (call, _) = trunk_ring(&mut h, "2004", "t4");
    h.chand_says(Ctl::Alerting { call });
    h.take_sent();
    h.sip_in(&in_dialog("CANCEL", "t4", "", 1, "t4"), peer());
    assert_eq!(codes(&h.take_sent()), [200, 487]);
    assert_eq!(
        h.take_told(),
        [Ctl::Hangup {
            call,
            cause: Cause::NORMAL_CLEARING
        }]
    );
}

#[test]
fn numbers_no_span_takes_calls_for_are_refused() {
    let mut h = Harness::new(true);
    // Span 2 serves 3... without [pri.calls]; letters and too long numbers match no pattern.
    for user in ["3001", "abcd", "2a01", "20011", "+", "8000x"] {
        h.sip_in(&invite(user, &format!("r{user}"), PEER_SDP), peer());
        assert_eq!(codes(&h.take_sent()), [404], "{user}");
    }
    assert!(h.take_told().is_empty());
    assert!(h.calls.status(h.now).is_empty());
}

#[test]
fn trunk_dial_sends_an_invite_with_the_pbx_caller() {
    let mut h = Harness::new(true);
    let (call, mut sent) = trunk_dial(&mut h, 1, "2001", Privacy::Allowed);
    assert_eq!(sent.len(), 1);
    let inv = sent.remove(0);
    assert_eq!(inv.uri(), Some("sip:789@192.0.2.20:5060"));
    assert!(inv
        .header("From")
        .unwrap()
        .starts_with("\"Ann \\\"B\\\"\" <sip:2001@192.0.2.20>;tag="));
    assert_eq!(inv.header("Contact"), Some("<sip:2001@192.0.2.1:5060>"));
    assert_eq!(inv.header("Privacy"), None);
    // Digest with [sip.auth].
    let ch = "Proxy-Authenticate: Digest realm=\"pbx\", nonce=\"n1\"\r\n";
    h.sip_in(&reply(&inv, 407, ch, ""), proxy());
    let sent = h.take_sent();
    let again = &sent[1];
    assert!(again
        .header("Proxy-Authorization")
        .unwrap()
        .contains("username=\"gw\""));
    h.sip_in(&reply(again, 180, "", ""), proxy());
    assert_eq!(h.take_told(), [Ctl::Ringback { call }]);
    let st = &h.calls.status(h.now)[0];
    assert_eq!(
        (st.span, st.called.as_str(), st.calling.as_str()),
        (Some(1), "789", "2001")
    );
    h.sip_in(&reply(again, 200, "", PEER_SDP), proxy());
    assert_eq!(h.take_sent()[0].method(), "ACK");
    assert!(matches!(h.take_told()[..], [Ctl::Connected { .. }]));
    h.chand_says(Ctl::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    assert_eq!(h.take_sent()[0].method(), "BYE");
}

#[test]
fn a_restricted_caller_is_anonymous_and_no_number_is_the_account() {
    let mut h = Harness::new(true);
    let (_, sent) = trunk_dial(&mut h, 1, "2001", Privacy::Restricted);
    let inv = &sent[0];
    assert!(inv
        .header("From")
        .unwrap()
        .starts_with("\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag="));
    assert_eq!(inv.header("Privacy"), Some("id"));
    assert!(!String::from_utf8_lossy(&inv.to_bytes()).contains("2001"));
    let (_, sent) = trunk_dial(&mut h, 1, "", Privacy::Allowed);
    assert!(sent[0]
        .header("From")
        .unwrap()
        .starts_with("\"Ann \\\"B\\\"\" <sip:gw@192.0.2.20>;tag="));
}

#[test]
fn trunk_dial_on_a_span_without_calls_or_with_the_table_full_is_refused() {
    let mut h = Harness::new(true);
    let (call, sent) = trunk_dial(&mut h, 2, "2001", Privacy::Allowed);
    assert!(sent.is_empty());
    assert_eq!(
        h.take_told(),
        [Ctl::Error {
            call,
            code: ErrorCode::UnknownPort
        }]
    );
    // Trunk and FXS calls share the table of 4; the callctl link refuses a fifth call with
    // cause 42 before it reaches the call core.
    ring(&mut h, "f1");
    ring(&mut h, "f2");
    trunk_ring(&mut h, "2005", "f3");
    trunk_dial(&mut h, 1, "2001", Privacy::Allowed);
    h.sip_in(&invite("2006", "f5", PEER_SDP), peer());
    assert_eq!(codes(&h.take_sent()), [503]);
    let (call, sent) = trunk_dial(&mut h, 1, "2001", Privacy::Allowed);
    assert!(sent.is_empty());
    assert_eq!(
        h.take_told(),
        [Ctl::Hangup {
            call,
            cause: Cause::CONGESTION
        }]
    );
}

#[test]
fn no_chand_gives_503_with_retry_after() {
    let mut h = Harness::new(true);
    h.calls.handle_disconnect(h.now);
    h.pump();
    h.sip_in(&invite("2001", "n1", PEER_SDP), peer());
    let sent = h.take_sent();
    assert_eq!(codes(&sent), [503]);
    assert_eq!(sent[0].header("Retry-After"), Some("5"));
}

#[test]
fn early_media_odd_numbers_and_a_lost_chand() {
    let mut h = Harness::new(true);
    let (call, sent) = trunk_dial(&mut h, 1, "+49 30#1", Privacy::Allowed);
    let inv = &sent[0];
    assert!(inv
        .header("From")
        .unwrap()
        .contains("<sip:+49%2030%231@192.0.2.20>;tag="));
    h.sip_in(&reply(inv, 183, "", PEER_SDP), proxy());
    let told = h.take_told();
    assert!(
        matches!(told[..], [Ctl::EarlyMedia { call: c, .. }] if c == call),
        "{told:?}"
    );
    h.sip_in(&reply(inv, 200, "", PEER_SDP), proxy());
    h.take_sent();
    h.take_told();
    // chand goes away: the trunk call ends with BYE, as a port's does.
    h.calls.handle_disconnect(h.now);
    h.pump();
    assert_eq!(h.take_sent()[0].method(), "BYE");
}

#[test]
fn a_pbx_lamp_goes_to_the_table_for_a_port_to_the_notifier_else_never_back_to_its_span() {
    let mut h = Harness::new(true);
    for (number, on) in [("8000", true), ("2001", true), ("9999", false)] {
        h.chand_says(Ctl::PbxMwi(PbxMwi {
            span: 1,
            number: Digits::try_from(number).unwrap(),
            on,
            messages: Some(3),
        }));
    }
    let events: Vec<CallEvent> = std::iter::from_fn(|| h.calls.poll_event()).collect();
    let lamp = |number: &str, on| PbxMwi {
        span: 1,
        number: Digits::try_from(number).unwrap(),
        on,
        messages: Some(3),
    };
    // 2001 is span 1's own number: dropped.
    assert_eq!(
        events,
        [
            CallEvent::PbxMwi(lamp("8000", true)),
            CallEvent::PbxLamp(lamp("9999", false)),
        ]
    );
}

#[test]
fn who_answered_goes_both_ways() {
    // SIP → PBX: chand's Identity (the PBX's connectedName) is the 200's P-Asserted-Identity.
    let mut h = Harness::new(true);
    let (call, _) = trunk_ring(&mut h, "2001", "t9");
    h.chand_says(Ctl::MediaReady {
        call,
        local_rtp: "192.0.2.1:10006".parse().unwrap(),
    });
    h.chand_says(Ctl::Identity {
        call,
        number: Text::default(),
        name: Text::try_from("Reception").unwrap(),
    });
    h.chand_says(Ctl::Answered { call });
    let ok = h.take_sent().remove(0);
    assert_eq!(ok.code(), Some(200));
    assert_eq!(
        ok.header("P-Asserted-Identity"),
        Some("\"Reception\" <sip:2001@192.0.2.1>")
    );
    // PBX → SIP: a 200 with P-Asserted-Identity tells chand who answered, before Connected.
    let mut h = Harness::new(true);
    let (call, mut sent) = trunk_dial(&mut h, 1, "2001", Privacy::Allowed);
    let inv = sent.remove(0);
    let pai = "P-Asserted-Identity: \"Voice Mail\" <sip:7001@192.0.2.20>\r\n";
    h.sip_in(&reply(&inv, 200, pai, PEER_SDP), proxy());
    let told = h.take_told();
    assert_eq!(
        told[0],
        Ctl::Identity {
            call,
            number: Text::try_from("7001").unwrap(),
            name: Text::try_from("Voice Mail").unwrap(),
        }
    );
    assert!(matches!(told[1], Ctl::Connected { .. }), "{told:?}");
}
