//! The notifier alone: SUBSCRIBE requests and answers to its NOTIFYs in, with a simulated
//! clock; what it sends, parsed, out.

use super::*;
use crate::digest::Challenge;
use crate::wire::EVENT;
use sansio::Duration;

fn phone() -> Dest {
    Dest {
        addr: "192.0.2.50:5062".parse().unwrap(),
        transport: Transport::Udp,
    }
}

fn stranger() -> Dest {
    Dest {
        addr: "203.0.113.9:5060".parse().unwrap(),
        transport: Transport::Udp,
    }
}

fn config() -> NotifierConfig {
    NotifierConfig {
        allow: vec!["192.0.2.0/24".parse().unwrap()],
        realm: "dahdi-mwi".into(),
        algorithms: crate::challenge::ALGORITHMS.to_vec(),
        accounts: Vec::new(),
        max_subscriptions: 4,
        max_per_source: 2,
        expires_min: 60,
        expires_max: 3600,
        max_states: 8,
        user_agent: "dahdi-mwi".into(),
        timers: TimerValues::default(),
    }
}

struct Rig {
    now: Instant,
    n: Notifier,
    cseq: u32,
    branch: u32,
}

impl Rig {
    fn new(cfg: NotifierConfig) -> Self {
        let now = Instant::now();
        let local = HashMap::from([(Transport::Udp, "192.0.2.1:5060".parse().unwrap())]);
        Self {
            now,
            n: Notifier::new(now, cfg, local),
            cseq: 0,
            branch: 0,
        }
    }

    /// A SUBSCRIBE from the phone for `number` in dialog `call_id` (to `to_tag` once known).
    fn subscribe(&mut self, number: &str, to_tag: Option<&str>, extra: &str) -> String {
        self.cseq += 1;
        self.branch += 1;
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        format!(
            "SUBSCRIBE sip:{number}@192.0.2.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.50:5062;branch=z9hG4bKph{}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{number}@192.0.2.1>;tag=phone1\r\n\
             To: <sip:{number}@192.0.2.1>{to_tag}\r\n\
             Call-ID: sub1@192.0.2.50\r\n\
             CSeq: {} SUBSCRIBE\r\n\
             Contact: <sip:{number}@192.0.2.50:5062>\r\n\
             {extra}Content-Length: 0\r\n\r\n",
            self.branch, self.cseq
        )
    }

    /// Feeds `text` from `src`; returns everything sent, parsed.
    fn send(&mut self, text: &str, src: Dest) -> Vec<Message> {
        let msg = Message::parse(text.as_bytes()).expect("test message parses");
        self.n.handle_sip(self.now, msg, text.len(), src);
        self.out()
    }

    fn out(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.n.poll_transmit())
            .map(|t| Message::parse(&t.bytes).expect("sent message parses"))
            .collect()
    }

    /// The phone answers `notify` with `code`.
    fn answer(&mut self, notify: &Message, code: u16) -> Vec<Message> {
        let mut rsp = notify.response(code, "Whatever", "");
        rsp.set("Content-Length", "0");
        let text = String::from_utf8(rsp.to_bytes()).unwrap();
        self.send(&text, phone())
    }

    fn at(&mut self, secs: u64) -> Vec<Message> {
        self.now += Duration::from_secs(secs);
        self.n.handle_timeout(self.now);
        self.out()
    }
}

fn body(m: &Message) -> String {
    String::from_utf8(m.body.clone()).unwrap()
}

/// Subscribes 8000 (2 new messages known) and returns the 200's To tag.
fn subscribed(r: &mut Rig) -> String {
    r.n.restore([("8000".to_owned(), MwiState::voice(true, 2, 0))]);
    let sub = r.subscribe("8000", None, "Event: message-summary\r\nExpires: 7200\r\n");
    let out = r.send(&sub, phone());
    assert_eq!(out.len(), 2, "{out:?}");
    let tag = out[0].to_tag().unwrap().to_owned();
    let notify = &out[1];
    r.answer(notify, 200);
    tag
}

#[test]
fn subscribe_is_answered_200_and_notified_at_once() {
    let mut r = Rig::new(config());
    r.n.restore([("8000".to_owned(), MwiState::voice(true, 2, 0))]);
    let sub = r.subscribe("8000", None, "Event: message-summary\r\nExpires: 7200\r\n");
    let out = r.send(&sub, phone());
    assert_eq!(out[0].code(), Some(200));
    // Shortened to expires_max.
    assert_eq!(out[0].header("Expires"), Some("3600"));
    let notify = &out[1];
    assert_eq!(notify.method(), "NOTIFY");
    assert_eq!(notify.uri(), Some("sip:8000@192.0.2.50:5062"));
    assert_eq!(
        notify.header("Subscription-State"),
        Some("active;expires=3600")
    );
    assert_eq!(notify.header("Event"), Some("message-summary"));
    assert_eq!(notify.header("Content-Type"), Some(ACCEPT));
    assert_eq!(notify.to_tag(), Some("phone1"));
    assert_eq!(notify.from_tag(), out[0].to_tag());
    assert_eq!(notify.call_id(), Some("sub1@192.0.2.50"));
    let b = body(notify);
    assert!(b.contains("Messages-Waiting: yes\r\n"), "{b}");
    assert!(
        b.contains("Message-Account: sip:8000@192.0.2.1:5060\r\n"),
        "{b}"
    );
    assert!(b.contains("Voice-Message: 2/0 (0/0)\r\n"), "{b}");
    assert_eq!(r.n.status().subscriptions, 1);
    assert_eq!(r.n.status().notifies_sent, 1);
}

#[test]
fn a_number_without_state_gets_a_notify_without_body() {
    let mut r = Rig::new(config());
    let sub = r.subscribe("8001", None, "Event: message-summary\r\n");
    let out = r.send(&sub, phone());
    assert_eq!(out[0].code(), Some(200));
    assert!(out[1].body.is_empty());
    assert_eq!(out[1].header("Content-Type"), None);
}

#[test]
fn changes_are_notified_one_at_a_time_last_state_wins() {
    let mut r = Rig::new(config());
    subscribed(&mut r);
    assert!(r.n.set_state(r.now, "8000", MwiState::voice(true, 3, 0)));
    let out = r.out();
    assert_eq!(out.len(), 1);
    assert!(body(&out[0]).contains("Voice-Message: 3/0"));
    assert_eq!(out[0].cseq(), Some((2, "NOTIFY")));
    // Two changes while the NOTIFY is unanswered: nothing yet, then the last one.
    r.n.set_state(r.now, "8000", MwiState::voice(true, 4, 0));
    r.n.set_state(r.now, "8000", MwiState::voice(false, 0, 4));
    assert!(r.out().is_empty());
    let next = r.answer(&out[0], 200);
    assert_eq!(next.len(), 1);
    assert!(body(&next[0]).contains("Messages-Waiting: no"));
    assert_eq!(next[0].cseq(), Some((3, "NOTIFY")));
    // The same state again: no NOTIFY; another number: none to this subscriber.
    r.answer(&next[0], 200);
    r.n.set_state(r.now, "8000", MwiState::voice(false, 0, 4));
    r.n.set_state(r.now, "8009", MwiState::voice(true, 1, 0));
    assert!(r.out().is_empty());
}

#[test]
fn refresh_notifies_and_unsubscribe_terminates() {
    let mut r = Rig::new(config());
    let tag = subscribed(&mut r);
    let refresh = r.subscribe(
        "8000",
        Some(&tag),
        "Event: message-summary\r\nExpires: 600\r\n",
    );
    let out = r.send(&refresh, phone());
    assert_eq!(out[0].code(), Some(200));
    assert_eq!(out[0].header("Expires"), Some("600"));
    assert_eq!(
        out[1].header("Subscription-State"),
        Some("active;expires=600")
    );
    r.answer(&out[1], 200);
    let unsub = r.subscribe(
        "8000",
        Some(&tag),
        "Event: message-summary\r\nExpires: 0\r\n",
    );
    let out = r.send(&unsub, phone());
    assert_eq!(out[0].code(), Some(200));
    assert_eq!(out[1].header("Subscription-State"), Some("terminated"));
    assert!(body(&out[1]).contains("Messages-Waiting: yes"));
    assert_eq!(r.n.status().subscriptions, 0);
    // The dialog is gone.
    let again = r.subscribe("8000", Some(&tag), "Event: message-summary\r\n");
    let out = r.send(&again, phone());
    assert_eq!(out[0].code(), Some(481));
    assert!(matches!(
        r.n.poll_event(),
        Some(NotifierEvent::Refused { .. })
    ));
}

#[test]
fn expiry_terminates_with_reason_timeout() {
    let mut r = Rig::new(config());
    subscribed(&mut r);
    assert!(r.at(3599).is_empty());
    let out = r.at(1);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].header("Subscription-State"),
        Some("terminated;reason=timeout")
    );
    assert_eq!(r.n.status().subscriptions, 0);
}

#[test]
fn a_failed_notify_ends_the_subscription() {
    let mut r = Rig::new(config());
    subscribed(&mut r);
    r.n.set_state(r.now, "8000", MwiState::voice(true, 5, 0));
    let out = r.out();
    r.answer(&out[0], 481);
    assert_eq!(r.n.status().subscriptions, 0);
    assert_eq!(r.n.status().notify_failures, 1);
    r.n.set_state(r.now, "8000", MwiState::voice(true, 6, 0));
    assert!(r.out().is_empty());
}

#[test]
fn fetch_gets_one_terminated_notify() {
    let mut r = Rig::new(config());
    r.n.restore([("8000".to_owned(), MwiState::voice(true, 1, 0))]);
    let sub = r.subscribe("8000", None, "Event: message-summary\r\nExpires: 0\r\n");
    let out = r.send(&sub, phone());
    assert_eq!(out[0].code(), Some(200));
    assert_eq!(out[1].header("Subscription-State"), Some("terminated"));
    assert_eq!(r.n.status().subscriptions, 0);
}

#[test]
fn refusals() {
    let mut r = Rig::new(config());
    let code = |out: &[Message]| out[0].code();
    // Another event package: 489 naming ours.
    let s = r.subscribe("8000", None, "Event: presence\r\n");
    let out = r.send(&s, phone());
    assert_eq!(code(&out), Some(489));
    assert_eq!(out[0].header("Allow-Events"), Some(EVENT));
    // Too short: 423 with Min-Expires.
    let s = r.subscribe("8000", None, "Event: message-summary\r\nExpires: 10\r\n");
    let out = r.send(&s, phone());
    assert_eq!(code(&out), Some(423));
    assert_eq!(out[0].header("Min-Expires"), Some("60"));
    // Not from an allowed source: 403.
    let s = r.subscribe("8000", None, "Event: message-summary\r\n");
    assert_eq!(code(&r.send(&s, stranger())), Some(403));
    // No mailbox number: 404.
    let s = r.subscribe("voicemail", None, "Event: message-summary\r\n");
    assert_eq!(code(&r.send(&s, phone())), Some(404));
    // Another body type only: 406.
    let s = r.subscribe(
        "8000",
        None,
        "Event: message-summary\r\nAccept: text/plain\r\n",
    );
    assert_eq!(code(&r.send(&s, phone())), Some(406));
    // Two per source, then 503 with Retry-After.
    for n in ["8000", "8001"] {
        let s = r
            .subscribe(n, None, "Event: message-summary\r\n")
            .replace("sub1@", n);
        assert_eq!(code(&r.send(&s, phone())), Some(200));
    }
    let s = r
        .subscribe("8002", None, "Event: message-summary\r\n")
        .replace("sub1@", "third@");
    let out = r.send(&s, phone());
    assert_eq!(code(&out), Some(503));
    assert_eq!(out[0].header("Retry-After"), Some("60"));
    assert_eq!(r.n.status().subscriptions, 2);
    assert_eq!(r.n.status().refused, 6);
}

#[test]
fn digest_challenge_and_own_mailbox_only() {
    let mut cfg = config();
    cfg.accounts = vec![("8000".into(), "s3cret".into())];
    let mut r = Rig::new(cfg);
    let s = r.subscribe("8000", None, "Event: message-summary\r\n");
    let out = r.send(&s, phone());
    assert_eq!(out[0].code(), Some(401));
    let challenges: Vec<_> = out[0].headers("WWW-Authenticate").collect();
    assert_eq!(challenges.len(), 2);
    let ch = Challenge::parse(challenges[1]).unwrap();
    assert_eq!(
        (ch.realm.as_str(), ch.algorithm),
        ("dahdi-mwi", Algorithm::Md5)
    );
    let uri = "sip:8000@192.0.2.1";
    let answer = |user: &str, pass: &str, nc| {
        format!(
            "Authorization: {}\r\nEvent: message-summary\r\n",
            ch.answer(user, pass, "SUBSCRIBE", uri, nc, "c0ffee")
        )
    };
    // Wrong password: 401 again, a failure of the source.
    let s = r.subscribe("8000", None, &answer("8000", "guess", 1));
    assert_eq!(r.send(&s, phone())[0].code(), Some(401));
    assert!(matches!(
        r.n.poll_event(),
        Some(NotifierEvent::Refused { .. })
    ));
    // Right: 200 and the NOTIFY.
    let s = r.subscribe("8000", None, &answer("8000", "s3cret", 2));
    let out = r.send(&s, phone());
    assert_eq!(out[0].code(), Some(200));
    assert_eq!(out[1].method(), "NOTIFY");
    // An account subscribing to someone else's mailbox: 403.
    let other = Challenge::issue("dahdi-mwi", &ch.nonce, Algorithm::Md5).answer(
        "8000",
        "s3cret",
        "SUBSCRIBE",
        "sip:8001@192.0.2.1",
        3,
        "c0ffee",
    );
    let s = r
        .subscribe(
            "8001",
            None,
            &format!("Authorization: {other}\r\nEvent: message-summary\r\n"),
        )
        .replace("sub1@", "other@");
    assert_eq!(r.send(&s, phone())[0].code(), Some(403));
}

#[test]
fn states_are_bounded() {
    let mut cfg = config();
    cfg.max_states = 2;
    let mut r = Rig::new(cfg);
    assert!(r.n.set_state(r.now, "1", MwiState::voice(true, 1, 0)));
    assert!(r.n.set_state(r.now, "2", MwiState::voice(true, 1, 0)));
    assert!(!r.n.set_state(r.now, "3", MwiState::voice(true, 1, 0)));
    assert!(r.n.set_state(r.now, "1", MwiState::voice(false, 0, 0)));
    assert_eq!(r.n.states().count(), 2);
    assert_eq!(r.n.state("3"), None);
}
