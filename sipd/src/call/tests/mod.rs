//! The call core alone: SIP messages, callctl packets from a fake chand (a real
//! [`Link`] of chand's side) and time in; SIP messages and chand's events out.

use super::*;
use callctl::link::Event as LinkEvent;
use callctl::wire::Message as Ctl;
use callctl::Cause;
use callctl::Direction as MediaDirection;
use callctl::Privacy;
use mwi_core::route::{FxsClaim, Pattern, PriClaim};

const PEER_SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.30\r\ns=-\r\nc=IN IP4 192.0.2.30\r\n\
    t=0 0\r\nm=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
    a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

/// `[[pri]] numbers` of span 1 (with `[pri.calls]`) and span 2 (without).
static TRUNK_NUMBERS: std::sync::LazyLock<[Pattern; 2]> =
    std::sync::LazyLock::new(|| ["2...".parse().unwrap(), "3...".parse().unwrap()]);

fn proxy() -> Dest {
    Dest {
        addr: "192.0.2.20:5060".parse().unwrap(),
        transport: Transport::Udp,
    }
}

fn peer() -> Dest {
    Dest {
        addr: "192.0.2.30:5062".parse().unwrap(),
        transport: Transport::Udp,
    }
}

struct Harness {
    now: Instant,
    calls: Calls,
    chand: Link,
    sent: Vec<(Dest, Message)>,
    told: Vec<Ctl>,
}

impl Harness {
    fn new(proxy_on: bool) -> Self {
        let now = Instant::now();
        let cfg = CallsConfig {
            ports: vec![Port {
                channel: 2,
                number: "8000".into(),
                auth: Some(("8000".into(), "secret".into(), None)),
            }],
            trunks: vec![
                Trunk {
                    span: 1,
                    calls: true,
                },
                Trunk {
                    span: 2,
                    calls: false,
                },
            ],
            router: Router::new(
                [FxsClaim {
                    channel: 2,
                    number: "8000",
                    mwi: true,
                }],
                [
                    PriClaim {
                        span: 1,
                        numbers: &TRUNK_NUMBERS[..1],
                    },
                    PriClaim {
                        span: 2,
                        numbers: &TRUNK_NUMBERS[1..],
                    },
                ],
            ),
            auth: Some(("gw".into(), "secret".into(), None)),
            proxy: proxy_on.then(|| ("192.0.2.20".to_owned(), 5060, Transport::Udp)),
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            user_agent: "sipd-test".into(),
            max_calls: 4,
            timers: TimerValues::default(),
            ring_timeout: 60_000,
        };
        let local = HashMap::from([(Transport::Udp, "192.0.2.1:5060".parse().unwrap())]);
        let mut calls = Calls::new(now, cfg, 0x5, local);
        calls.set_proxy_addrs(vec![proxy().addr]);
        calls.set_trusted(vec![proxy().addr.ip(), peer().addr.ip()]);
        let ports = Ports::try_from(vec![2]).unwrap();
        let chand = Link::new(now, Side::Chand, 0xc, ports, Default::default());
        let mut h = Self {
            now,
            calls,
            chand,
            sent: Vec::new(),
            told: Vec::new(),
        };
        h.pump();
        assert!(h.calls.chand_up());
        h
    }

    /// Moves packets both ways and collects SIP sent and messages chand got.
    fn pump(&mut self) {
        loop {
            let mut any = false;
            while let Some(out) = self.calls.poll_transmit() {
                any = true;
                match out {
                    Out::Sip(t) => self
                        .sent
                        .push((t.dest, Message::parse(&t.bytes).expect("valid SIP"))),
                    Out::Chand(p) => self.chand.handle_packet(self.now, &p),
                }
            }
            while let Some(p) = self.chand.poll_transmit() {
                any = true;
                self.calls.handle_packet(self.now, &p);
            }
            if !any {
                break;
            }
        }
        while let Some(ev) = self.chand.poll_event() {
            if let LinkEvent::Call(m) = ev {
                self.told.push(m);
            }
        }
    }

    fn chand_says(&mut self, msg: Ctl) {
        self.chand.send(self.now, msg).expect("chand sends");
        self.pump();
    }

    fn sip_in(&mut self, text: &str, src: Dest) {
        let msg = Message::parse(text.as_bytes()).expect("test message parses");
        self.calls.handle_sip(self.now, msg, src);
        self.pump();
    }

    fn advance(&mut self, ms: u64) {
        let end = self.now + Duration::from_millis(ms);
        while let Some(at) = self.calls.poll_timeout().filter(|&at| at <= end) {
            self.now = at.max(self.now);
            self.calls.handle_timeout(self.now);
            self.chand.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
    }

    fn take_sent(&mut self) -> Vec<Message> {
        self.sent.drain(..).map(|(_, m)| m).collect()
    }

    fn take_told(&mut self) -> Vec<Ctl> {
        std::mem::take(&mut self.told)
    }

    /// Dial + MediaReady on port 2; returns the call id and the INVITE.
    fn dial(&mut self, digits: &str) -> (CallId, Message) {
        let call = self.chand.new_call_id().unwrap();
        let digits = callctl::Digits::try_from(digits).unwrap();
        self.chand_says(Ctl::Dial {
            call,
            port: 2,
            digits,
        });
        self.chand_says(Ctl::MediaReady {
            call,
            local_rtp: "0.0.0.0:10000".parse().unwrap(),
        });
        let mut sent = self.take_sent();
        assert_eq!(sent.len(), 1, "one INVITE");
        (call, sent.remove(0))
    }
}

/// A response of the far end to `req`, with `extra` header lines.
fn reply(req: &Message, code: u16, extra: &str, body: &str) -> String {
    let mut s = format!("SIP/2.0 {code} X\r\n");
    for name in ["Via", "From", "Call-ID", "CSeq"] {
        for v in req.headers(name) {
            s.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    let to = req.header("To").unwrap();
    if code > 100 && !to.contains("tag=") {
        s.push_str(&format!("To: {to};tag=far\r\n"));
    } else {
        s.push_str(&format!("To: {to}\r\n"));
    }
    s.push_str(extra);
    if !body.is_empty() {
        s.push_str("Content-Type: application/sdp\r\n");
    }
    s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s
}

/// An INVITE from the peer for `user`.
fn invite(user: &str, call_id: &str, body: &str) -> String {
    format!(
        "INVITE sip:{user}@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.30:5062;branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice Smith\" <sip:5551234@192.0.2.30>;tag=a1\r\n\
         To: <sip:{user}@192.0.2.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:alice@192.0.2.30:5062>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A request of the peer in the dialog `call_id` with our tag `tag`.
fn in_dialog(method: &str, call_id: &str, tag: &str, cseq: u32, branch: &str) -> String {
    format!(
        "{method} sip:8000@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.30:5062;branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:5551234@192.0.2.30>;tag=a1\r\n\
         To: <sip:8000@192.0.2.1>{tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn codes(msgs: &[Message]) -> Vec<u16> {
    msgs.iter().filter_map(Message::code).collect()
}

#[test]
fn outgoing_call_rings_connects_and_ends_with_bye() {
    let mut h = Harness::new(true);
    let (call, inv) = h.dial("*98");
    assert_eq!(inv.uri(), Some("sip:*98@192.0.2.20:5060"));
    assert!(inv
        .header("From")
        .unwrap()
        .starts_with("<sip:8000@192.0.2.20>;tag="));
    let body = String::from_utf8(inv.body.clone()).unwrap();
    assert!(body.contains("c=IN IP4 192.0.2.1") && body.contains("m=audio 10000 RTP/AVP 0 8 101"));
    h.sip_in(&reply(&inv, 100, "", ""), proxy());
    h.sip_in(&reply(&inv, 180, "", ""), proxy());
    assert_eq!(h.take_told(), [Ctl::Ringback { call }]);
    let ok = reply(&inv, 200, "Contact: <sip:vm@192.0.2.40:5070>\r\n", PEER_SDP);
    h.sip_in(&ok, proxy());
    let acks = h.take_sent();
    assert_eq!(acks[0].method(), "ACK");
    assert_eq!(acks[0].uri(), Some("sip:vm@192.0.2.40:5070"));
    assert_eq!(acks[0].header("CSeq"), Some("1 ACK"));
    let told = h.take_told();
    let [Ctl::Connected { media, .. }] = told.as_slice() else {
        panic!("{told:?}");
    };
    assert_eq!(media.remote_rtp, "192.0.2.30:40000".parse().unwrap());
    assert_eq!(media.codec, Codec::Pcma);
    assert_eq!(media.direction, MediaDirection::SendRecv);
    // A retransmitted 200 is ACKed again.
    h.sip_in(&ok, proxy());
    assert_eq!(h.take_sent()[0].method(), "ACK");
    // A 200 of another dialog (a fork): ACKed and ended, the call keeps its dialog.
    let fork = ok.replace("tag=far", "tag=fork");
    h.sip_in(&fork, proxy());
    let sent = h.take_sent();
    let methods: Vec<_> = sent.iter().map(|m| m.method().to_owned()).collect();
    assert_eq!(methods, ["ACK", "BYE"]);
    assert!(sent
        .iter()
        .all(|m| m.header("To").unwrap().ends_with("tag=fork")));
    assert!(h.take_told().is_empty());
    assert_eq!(h.calls.status(h.now)[0].state, "connected");
    h.chand_says(Ctl::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    let bye = h.take_sent().remove(0);
    assert_eq!((bye.method(), bye.header("CSeq")), ("BYE", Some("2 BYE")));
    assert!(bye.header("To").unwrap().ends_with("tag=far"));
    h.sip_in(&reply(&bye, 200, "", ""), proxy());
    assert!(h.calls.status(h.now).is_empty());
}

#[test]
fn busy_is_acked_and_gives_cause_17() {
    let mut h = Harness::new(true);
    let (call, inv) = h.dial("5551234");
    h.sip_in(&reply(&inv, 486, "", ""), proxy());
    let ack = h.take_sent().remove(0);
    assert_eq!(ack.method(), "ACK");
    assert_eq!(ack.top_via_branch(), inv.top_via_branch());
    assert_eq!(
        h.take_told(),
        [Ctl::Hangup {
            call,
            cause: Cause::USER_BUSY
        }]
    );
}

#[test]
fn a_challenge_is_answered_once() {
    let mut h = Harness::new(true);
    let (_, inv) = h.dial("5551234");
    let ch = "Proxy-Authenticate: Digest realm=\"pbx\", nonce=\"n1\", qop=\"auth\"\r\n";
    h.sip_in(&reply(&inv, 407, ch, ""), proxy());
    let sent = h.take_sent();
    assert_eq!(sent[0].method(), "ACK");
    let again = &sent[1];
    assert_eq!(again.header("CSeq"), Some("2 INVITE"));
    assert!(again
        .header("Proxy-Authorization")
        .unwrap()
        .contains("username=\"8000\""));
    assert_ne!(again.top_via_branch(), inv.top_via_branch());
    h.sip_in(&reply(again, 407, ch, ""), proxy());
    assert!(matches!(
        h.take_told()[..],
        [Ctl::Hangup {
            cause: Cause::CALL_REJECTED,
            ..
        }]
    ));
}

#[test]
fn timer_b_retransmits_then_gives_up_with_cause_102() {
    let mut h = Harness::new(true);
    let (call, _) = h.dial("5551234");
    h.advance(32_000);
    let resent = h
        .take_sent()
        .iter()
        .filter(|m| m.method() == "INVITE")
        .count();
    assert_eq!(resent, 6, "Timer A at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s");
    assert!(h.take_told().contains(&Ctl::Hangup {
        call,
        cause: Cause::TIMER_EXPIRY
    }));
    assert!(h.calls.status(h.now).is_empty());
}

#[test]
fn on_hook_before_the_answer_cancels_after_the_first_provisional() {
    let mut h = Harness::new(true);
    let (call, inv) = h.dial("5551234");
    h.chand_says(Ctl::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    assert!(
        h.take_sent().is_empty(),
        "no CANCEL before a provisional (RFC 3261 §9.1)"
    );
    h.sip_in(&reply(&inv, 180, "", ""), proxy());
    let cancel = h.take_sent().remove(0);
    assert_eq!(cancel.method(), "CANCEL");
    assert_eq!(cancel.top_via_branch(), inv.top_via_branch());
    h.sip_in(&reply(&cancel, 200, "", ""), proxy());
    h.sip_in(&reply(&inv, 487, "", ""), proxy());
    assert_eq!(h.take_sent()[0].method(), "ACK");
    assert!(h.take_told().is_empty(), "chand ended the call already");
}

#[test]
fn no_proxy_refuses_at_once() {
    let mut h = Harness::new(false);
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
    assert!(h.take_sent().is_empty());
}

mod trunk;
mod uas;
