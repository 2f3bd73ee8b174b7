//! Incoming calls, and what both directions share: bounds, reloads, status.

use super::*;

/// An incoming INVITE rung on port 2; returns the call id.
pub(super) fn ring(h: &mut Harness, call_id: &str) -> CallId {
    let rr = "Record-Route: <sip:192.0.2.20;lr>\r\nContent-Type";
    let req = invite("8000", call_id, PEER_SDP).replacen("Content-Type", rr, 1);
    h.sip_in(&req, peer());
    assert_eq!(codes(&h.take_sent()), [100]);
    let told = h.take_told();
    let [Ctl::Incoming {
        call,
        port: 2,
        number,
        name,
        privacy: Privacy::Allowed,
    }] = told.as_slice()
    else {
        panic!("{told:?}");
    };
    assert_eq!((number.as_str(), name.as_str()), ("5551234", "Alice Smith"));
    *call
}

#[test]
fn incoming_call_rings_is_answered_and_ends_with_bye() {
    let mut h = Harness::new(true);
    let call = ring(&mut h, "in1");
    h.chand_says(Ctl::Alerting { call });
    assert_eq!(codes(&h.take_sent()), [180]);
    h.chand_says(Ctl::MediaReady {
        call,
        local_rtp: "192.0.2.1:10002".parse().unwrap(),
    });
    h.chand_says(Ctl::Answered { call });
    let ok = h.take_sent().remove(0);
    assert_eq!(ok.code(), Some(200));
    let tag = ok.to_tag().unwrap().to_owned();
    assert!(String::from_utf8_lossy(&ok.body).contains("m=audio 10002 RTP/AVP 8 101"));
    // No ACK yet: Timer G resends the 200.
    h.advance(600);
    assert_eq!(codes(&h.take_sent()), [200]);
    h.sip_in(
        &in_dialog("ACK", "in1", &format!(";tag={tag}"), 1, "in1"),
        peer(),
    );
    assert!(matches!(h.take_told()[..], [Ctl::Connected { .. }]));
    h.advance(5_000);
    assert!(h.take_sent().is_empty(), "the ACK stopped Timer G");
    h.sip_in(
        &in_dialog("BYE", "in1", &format!(";tag={tag}"), 2, "bye1"),
        peer(),
    );
    assert_eq!(codes(&h.take_sent()), [200]);
    assert_eq!(
        h.take_told(),
        [Ctl::Hangup {
            call,
            cause: Cause::NORMAL_CLEARING
        }]
    );
    h.sip_in(
        &in_dialog("BYE", "in1", &format!(";tag={tag}"), 3, "bye2"),
        peer(),
    );
    assert_eq!(codes(&h.take_sent()), [481]);
}

#[test]
fn cancel_while_ringing_gives_487_and_hangup() {
    let mut h = Harness::new(true);
    let call = ring(&mut h, "in2");
    h.chand_says(Ctl::Alerting { call });
    h.take_sent();
    h.sip_in(&in_dialog("CANCEL", "in2", "", 1, "in2"), peer());
    assert_eq!(codes(&h.take_sent()), [200, 487]);
    assert!(matches!(h.take_told()[..], [Ctl::Hangup { .. }]));
    h.sip_in(&in_dialog("ACK", "in2", ";tag=x", 1, "in2"), peer());
    h.advance(40_000);
    assert!(h.take_sent().is_empty() && h.calls.status(h.now).is_empty());
}

#[test]
fn busy_port_unknown_number_bad_offer_and_no_chand() {
    let mut h = Harness::new(true);
    let call = ring(&mut h, "in3");
    h.chand_says(Ctl::Hangup {
        call,
        cause: Cause::USER_BUSY,
    });
    assert_eq!(codes(&h.take_sent()), [486]);
    h.sip_in(&invite("9999", "in4", PEER_SDP), peer());
    assert_eq!(codes(&h.take_sent()), [404]);
    let stranger = Dest {
        addr: "198.51.100.7:5060".parse().unwrap(),
        transport: Transport::Udp,
    };
    h.sip_in(&invite("8000", "in4b", PEER_SDP), stranger);
    assert_eq!(codes(&h.take_sent()), [403], "not from the proxy");
    assert!(matches!(
        h.calls.poll_event(),
        Some(CallEvent::Refused { src, .. }) if src == stranger
    ));
    let video = "v=0\r\no=- 1 1 IN IP4 192.0.2.30\r\ns=-\r\nc=IN IP4 192.0.2.30\r\nt=0 0\r\n\
                 m=video 4000 RTP/AVP 96\r\n";
    h.sip_in(&invite("8000", "in5", video), peer());
    assert_eq!(codes(&h.take_sent()), [488]);
    assert!(h.take_told().is_empty(), "the port never rang");
    h.calls.handle_disconnect(h.now);
    h.sip_in(&invite("8000", "in6", PEER_SDP), peer());
    let sent = h.take_sent();
    assert_eq!(codes(&sent), [503]);
    assert!(sent[0].header("Retry-After").is_some());
}

#[test]
fn chand_lost_mid_call_sends_bye() {
    let mut h = Harness::new(true);
    let (_, inv) = h.dial("5551234");
    let ok = reply(&inv, 200, "Contact: <sip:b@192.0.2.40>\r\n", PEER_SDP);
    h.sip_in(&ok, proxy());
    h.take_sent();
    h.calls.handle_disconnect(h.now);
    h.pump();
    assert_eq!(h.take_sent()[0].method(), "BYE");
}

#[test]
fn a_reinvite_is_answered_and_modifies_the_media() {
    let mut h = Harness::new(true);
    let call = ring(&mut h, "in7");
    h.chand_says(Ctl::MediaReady {
        call,
        local_rtp: "192.0.2.1:10004".parse().unwrap(),
    });
    h.chand_says(Ctl::Answered { call });
    let tag = h.take_sent()[0].to_tag().unwrap().to_owned();
    h.sip_in(
        &in_dialog("ACK", "in7", &format!(";tag={tag}"), 1, "in7"),
        peer(),
    );
    h.take_told();
    let hold = PEER_SDP.replace("sendrecv", "sendonly");
    let mut re = invite("8000", "in7", &hold).replace("CSeq: 1", "CSeq: 2");
    re = re.replace(
        "To: <sip:8000@192.0.2.1>",
        &format!("To: <sip:8000@192.0.2.1>;tag={tag}"),
    );
    re = re.replace("branch=z9hG4bKin7", "branch=z9hG4bKre7");
    h.sip_in(&re, peer());
    let ok = h.take_sent().remove(0);
    assert_eq!(ok.code(), Some(200));
    assert!(String::from_utf8_lossy(&ok.body).contains("a=recvonly"));
    let told = h.take_told();
    let [Ctl::Modify { media, .. }] = told.as_slice() else {
        panic!("{told:?}");
    };
    assert_eq!(media.direction, MediaDirection::RecvOnly);
}

#[test]
fn the_callee_keeps_the_route_set_and_hangs_up_with_bye() {
    let mut h = Harness::new(true);
    let call = ring(&mut h, "in8");
    h.chand_says(Ctl::Alerting { call });
    let ringing = h.take_sent().remove(0);
    assert_eq!(ringing.header("Record-Route"), Some("<sip:192.0.2.20;lr>"));
    h.chand_says(Ctl::MediaReady {
        call,
        local_rtp: "192.0.2.1:10006".parse().unwrap(),
    });
    h.chand_says(Ctl::Answered { call });
    let ok = h.take_sent().remove(0);
    assert_eq!(ok.header("Record-Route"), Some("<sip:192.0.2.20;lr>"));
    let tag = format!(";tag={}", ok.to_tag().unwrap());
    h.sip_in(&in_dialog("ACK", "in8", &tag, 1, "in8"), peer());
    h.take_told();
    h.chand_says(Ctl::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    let bye = h.take_sent().remove(0);
    assert_eq!(bye.uri(), Some("sip:alice@192.0.2.30:5062"));
    assert_eq!(bye.header("Route"), Some("<sip:192.0.2.20;lr>"));
    assert!(bye.header("From").unwrap().ends_with(&tag));
    h.sip_in(&reply(&bye, 200, "", ""), peer());
    assert!(h.calls.status(h.now).is_empty());
}

#[test]
fn a_reload_without_proxy_refuses_new_calls_and_keeps_running_ones() {
    let mut h = Harness::new(true);
    let (_, inv) = h.dial("5551234");
    let mut cfg = h.calls.cfg.clone();
    cfg.proxy = None;
    assert!(h.calls.reconfigure(cfg));
    h.sip_in(&reply(&inv, 180, "", ""), proxy());
    assert!(matches!(h.take_told()[..], [Ctl::Ringback { .. }]));
    let call = h.chand.new_call_id().unwrap();
    h.chand_says(Ctl::Dial {
        call,
        port: 2,
        digits: callctl::Digits::try_from("123").unwrap(),
    });
    assert_eq!(
        h.take_told(),
        [Ctl::Hangup {
            call,
            cause: Cause(3)
        }]
    );
    let status = h.calls.status(h.now);
    assert_eq!((status.len(), status[0].state.as_str()), (1, "proceeding"));
    let text = render(&status);
    assert!(
        text.starts_with("Calls: 1\n")
            && text.contains(" channel 2 outgoing proceeding sip:5551234@192.0.2.20 ")
    );
}

#[test]
fn an_invite_without_offer_gets_ours_and_the_ack_answers() {
    let mut h = Harness::new(true);
    h.sip_in(&invite("8000", "in9", ""), peer());
    assert_eq!(codes(&h.take_sent()), [100]);
    let call = match h.take_told()[..] {
        [Ctl::Incoming { call, .. }] => call,
        ref other => panic!("{other:?}"),
    };
    h.chand_says(Ctl::MediaReady {
        call,
        local_rtp: "192.0.2.1:10008".parse().unwrap(),
    });
    h.chand_says(Ctl::Answered { call });
    let ok = h.take_sent().remove(0);
    assert!(String::from_utf8_lossy(&ok.body).contains("m=audio 10008 RTP/AVP 0 8 101"));
    let tag = format!(";tag={}", ok.to_tag().unwrap());
    let ack = in_dialog("ACK", "in9", &tag, 1, "in9").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{PEER_SDP}",
            PEER_SDP.len()
        ),
    );
    h.sip_in(&ack, peer());
    let told = h.take_told();
    let [Ctl::Connected { media, .. }] = told.as_slice() else {
        panic!("{told:?}");
    };
    assert_eq!(media.codec, Codec::Pcma);
    // The same without an answer in the ACK: BYE.
    h.sip_in(&invite("8000", "in10", ""), peer());
    let call = match h.take_told()[..] {
        [Ctl::Incoming { call, .. }] => call,
        ref other => panic!("{other:?}"),
    };
    h.chand_says(Ctl::MediaReady {
        call,
        local_rtp: "192.0.2.1:10010".parse().unwrap(),
    });
    h.chand_says(Ctl::Answered { call });
    let tag = format!(";tag={}", h.take_sent()[1].to_tag().unwrap());
    h.sip_in(&in_dialog("ACK", "in10", &tag, 1, "in10"), peer());
    assert_eq!(h.take_sent()[0].method(), "BYE");
    assert!(matches!(h.take_told()[..], [Ctl::Hangup { .. }]));
}

#[test]
fn calls_are_bounded_and_garbage_from_chand_is_refused() {
    let mut h = Harness::new(true);
    for i in 0..4 {
        ring(&mut h, &format!("flood{i}"));
    }
    h.sip_in(&invite("8000", "flood4", PEER_SDP), peer());
    let sent = h.take_sent();
    assert_eq!(codes(&sent), [503]);
    assert!(sent[0].header("Retry-After").is_some());
    // Packets that are no callctl message change nothing.
    h.calls.handle_packet(h.now, &[1, 0x7f, 0, 0]);
    h.calls.handle_packet(h.now, &[]);
    h.pump();
    assert_eq!(h.calls.status(h.now).len(), 4);
    assert!(h.calls.chand_up());
    // Every ringing call ends by itself: 480 after the ring limit, gone after Timer H.
    h.advance(60_000 + 32_000 + 1);
    assert!(h.calls.status(h.now).is_empty());
    assert_eq!(h.take_told().len(), 4, "a Hangup for each");
}
