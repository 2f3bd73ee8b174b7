//! Kamailio 5.6 on loopback as the registrar and message-waiting server (issue 4, "Done when":
//! against Kamailio 5.6 with presence_mwi and auth_db).
//!
//! `harness_*` prove the Kamailio set-up itself with a hand-written UDP user agent, so that a
//! failure of a `sipd_*` test points at sipd, not at the peer.

use std::time::Duration;

use dahdi_mwi_tests::kamailio::{
    authorization, challenge_params, summary, Algorithm, Kamailio, Options, SipClient,
};

fn register_with_digest(alg: Algorithm) {
    let k = Kamailio::start(Options::new(alg));
    let mut c = SipClient::new(k.addr()).expect("client socket");
    let uri = format!("sip:127.0.0.1:{}", k.port());
    let aor = format!("<sip:user1@127.0.0.1:{}>", k.port());
    let from = format!("{aor};tag=harness");
    let call_id = format!("reg-{}@127.0.0.1", std::process::id());
    let common = [
        ("From", from.as_str()),
        ("To", aor.as_str()),
        ("Call-ID", call_id.as_str()),
        ("Expires", "60"),
    ];

    let r = c.request("REGISTER", &uri, &common, "").expect("401");
    assert_eq!(r.status(), Some(401), "{}", r.text);
    let ch = r.header("WWW-Authenticate").expect("WWW-Authenticate");
    let p = challenge_params(ch);
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("algorithm"), Some(alg.token()), "{ch}");
    assert_eq!(get("qop"), Some("auth"), "{ch}");
    assert_eq!(get("realm"), Some("dahdi-mwi.test"), "{ch}");

    let bad = authorization(ch, "user1", "wrong", "REGISTER", &uri);
    let mut h = common.to_vec();
    h.push(("Authorization", &bad));
    let r = c.request("REGISTER", &uri, &h, "").expect("answer");
    assert_eq!(
        r.status(),
        Some(401),
        "a wrong password is refused: {}",
        r.text
    );

    let good = authorization(ch, "user1", "password1", "REGISTER", &uri);
    let mut h = common.to_vec();
    h.push(("Authorization", &good));
    let r = c.request("REGISTER", &uri, &h, "").expect("200");
    assert_eq!(r.status(), Some(200), "{}\nlog:\n{}", r.text, k.log());
    let contact = format!("@{}", c.local());
    assert!(
        k.contacts()
            .iter()
            .any(|(aor, c)| aor == "user1" && c.contains(&contact)),
        "usrloc holds {contact}: {:?}",
        k.contacts()
    );
}

#[test]
fn harness_register_md5() {
    register_with_digest(Algorithm::Md5);
}

#[test]
fn harness_register_sha256() {
    register_with_digest(Algorithm::Sha256);
}

#[test]
fn harness_subscribe_then_publish() {
    let k = Kamailio::start(Options::new(Algorithm::Md5));
    let mut c = SipClient::new(k.addr()).expect("client socket");
    let uri = format!("sip:8000@127.0.0.1:{}", k.port());
    let r = c
        .request(
            "SUBSCRIBE",
            &uri,
            &[
                ("Event", "message-summary"),
                ("Accept", "application/simple-message-summary"),
                ("Expires", "60"),
            ],
            "",
        )
        .expect("answer to SUBSCRIBE");
    assert_eq!(r.status(), Some(200), "{}", r.text);
    let n = c
        .next_notify(Duration::from_secs(5))
        .expect("the first NOTIFY");
    assert_eq!(n.header("Event"), Some("message-summary"));
    assert!(
        n.header("Subscription-State")
            .is_some_and(|s| s.starts_with("active")),
        "{}",
        n.text
    );
    assert_eq!(n.body(), "", "nothing published yet: no body");

    assert_eq!(k.publish("8000", &summary("8000", 2, 8)), 200);
    let n = c
        .next_notify(Duration::from_secs(5))
        .expect("a NOTIFY after PUBLISH");
    assert_eq!(
        n.header("Content-Type"),
        Some("application/simple-message-summary")
    );
    assert!(n.body().contains("Voice-Message: 2/8"), "{}", n.text);

    let rx = k.received();
    assert!(rx
        .iter()
        .any(|r| r.what == "SUBSCRIBE" && r.expires == Some(60)));
    assert!(rx.iter().any(|r| r.what == "PUBLISH"));
    assert!(rx.iter().any(|r| r.what == "reply 200"), "{rx:?}");
}

#[test]
fn harness_restart_forgets_subscriptions() {
    let mut k = Kamailio::start(Options::new(Algorithm::Md5));
    let port = k.port();
    let mut c = SipClient::new(k.addr()).expect("client socket");
    let uri = format!("sip:8001@127.0.0.1:{port}");
    let sub = [
        ("Event", "message-summary"),
        ("Accept", "application/simple-message-summary"),
        ("Expires", "60"),
    ];
    let r = c.request("SUBSCRIBE", &uri, &sub, "").expect("answer");
    assert_eq!(r.status(), Some(200));
    c.next_notify(Duration::from_secs(5)).expect("first NOTIFY");
    k.restart();
    assert_eq!(k.port(), port);
    assert_eq!(k.publish("8001", &summary("8001", 1, 0)), 200);
    assert!(
        c.next_notify(Duration::from_millis(500)).is_none(),
        "a restarted Kamailio has no subscription left"
    );
}
