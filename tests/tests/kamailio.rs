//! Kamailio 5.6 on loopback as the registrar and message-waiting server (issue 4, "Done when":
//! against Kamailio 5.6 with presence_mwi and auth_db).
//!
//! `harness_*` prove the Kamailio set-up itself with a hand-written UDP user agent, so that a
//! failure of a `sipd_*` test points at sipd, not at the peer. `sipd_*` run the real sipd
//! binary against it, over UDP and over TCP.

use std::time::{Duration, Instant};

use dahdi_mwi_tests::daemon::wait_for;
use dahdi_mwi_tests::env::Sipd;
use dahdi_mwi_tests::kamailio::{
    authorization, challenge_params, summary, Algorithm, Kamailio, Options, Received, SipClient,
    SipdSetup,
};
use mwi_core::MwiState;

/// One `#[test]` per row `name => call;`: a shared test body run for one transport (and
/// digest algorithm), each its own test so they run in parallel and fail by name.
macro_rules! cases {
    ($($name:ident => $call:expr;)+) => {
        $(
            #[test]
            fn $name() {
                $call;
            }
        )+
    };
}

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

    // Kamailio logs our 200 to its NOTIFY when it handles it, which may be a moment after we
    // read the NOTIFY: wait for that log line rather than racing it.
    let logged = wait_for(Duration::from_secs(5), || {
        k.received().iter().any(|r| r.is_reply(200, "NOTIFY"))
    });
    let rx = k.received();
    assert!(logged, "no 200 to the NOTIFY in Kamailio's log: {rx:?}");
    assert!(rx
        .iter()
        .any(|r| r.is_request("SUBSCRIBE") && r.expires == Some(60)));
    assert!(rx.iter().any(|r| r.is_request("PUBLISH")));
}

#[test]
fn harness_expired_nonce_is_stale() {
    let mut opts = Options::new(Algorithm::Md5);
    opts.nonce_expire = Some(1);
    let k = Kamailio::start(opts);
    let mut c = SipClient::new(k.addr()).expect("client socket");
    let uri = format!("sip:127.0.0.1:{}", k.port());
    let r = c.request("REGISTER", &uri, &[], "").expect("401");
    let ch = r.header("WWW-Authenticate").expect("challenge").to_owned();
    assert!(!ch.contains("stale"), "{ch}");
    std::thread::sleep(Duration::from_millis(2100));
    let a = authorization(&ch, "user1", "password1", "REGISTER", &uri);
    let r = c
        .request("REGISTER", &uri, &[("Authorization", &a)], "")
        .expect("401");
    assert_eq!(r.status(), Some(401));
    let ch = r.header("WWW-Authenticate").expect("challenge");
    assert!(ch.contains("stale=true"), "{ch}");
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

// sipd (the real binary, `sipd run`) against Kamailio. Every wait is bounded; a failure prints
// both logs (sipd's debug log shows every SIP message it sent and received).

/// Poll Kamailio's received messages until `cond` holds of them; panics with both logs.
fn wait_rx(
    k: &Kamailio,
    s: &mut Sipd,
    what: &str,
    timeout: Duration,
    cond: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let mut rx = Vec::new();
    let ok = wait_for(timeout, || {
        s.daemon.assert_running();
        rx = k.received();
        cond(&rx)
    });
    assert!(
        ok,
        "timed out after {timeout:?} waiting for {what}\nKamailio received: {rx:#?}\n\
         sipd log:\n{}\nKamailio log:\n{}",
        s.log(),
        k.log()
    );
    rx
}

/// Whether `number` has a SUBSCRIBE answered by a NOTIFY that sipd accepted (200), among
/// `rx` from index `from` on.
fn subscribed(rx: &[Received], from: usize, number: &str, proto: &str) -> bool {
    let rx = rx.get(from..).unwrap_or_default();
    rx.iter()
        .filter(|r| r.is_request("SUBSCRIBE") && r.to_user == number && r.proto == proto)
        .any(|sub| {
            rx.iter()
                .any(|r| r.is_reply(200, "NOTIFY") && r.call_id == sub.call_id)
        })
}

/// sipd started on `setup` against `k`, waited on (up to `timeout`, else a panic with both
/// logs) until every number of `setup` has a SUBSCRIBE over `setup.transport` answered by a
/// NOTIFY it accepted; with what Kamailio received by then.
fn start_subscribed(k: &Kamailio, setup: &SipdSetup, timeout: Duration) -> (Sipd, Vec<Received>) {
    let mut s = Sipd::start_against(k, setup);
    let what = format!(
        "a SUBSCRIBE over {} answered by an accepted NOTIFY for each of {:?}",
        setup.transport, setup.numbers
    );
    let rx = wait_rx(k, &mut s, &what, timeout, |rx| {
        setup
            .numbers
            .iter()
            .all(|n| subscribed(rx, 0, n, setup.transport))
    });
    (s, rx)
}

fn voice(new: u32, old: u32) -> MwiState {
    MwiState::voice(new > 0, new, old)
}

fn sipd_registers(alg: Algorithm, transport: &'static str) {
    let k = Kamailio::start(Options::new(alg));
    let mut setup = SipdSetup::new(&["8000"]);
    setup.register = true;
    setup.transport = transport;
    let mut s = Sipd::start_against(&k, &setup);
    let contact = format!("127.0.0.1:{}", s.port);
    let mut contacts = Vec::new();
    let ok = wait_for(Duration::from_secs(10), || {
        s.daemon.assert_running();
        contacts = k.contacts();
        contacts
            .iter()
            .any(|(aor, c)| aor == "user1" && c.contains(&contact))
    });
    assert!(
        ok,
        "usrloc has no contact of sipd at {contact}: {contacts:?}\nsipd log:\n{}\nKamailio log:\n{}",
        s.log(),
        k.log()
    );
    let rx = k.received();
    let authorized: Vec<&Received> = rx
        .iter()
        .filter(|r| r.is_request("REGISTER") && !r.authorization.is_empty())
        .collect();
    let a = &authorized
        .first()
        .expect("an authorized REGISTER")
        .authorization;
    assert!(a.contains("qop=auth"), "{a}");
    assert!(a.contains("nc="), "{a}");
    assert!(a.contains("cnonce="), "{a}");
    if alg == Algorithm::Sha256 {
        assert!(a.contains("algorithm=SHA-256"), "{a}");
    }
    assert!(
        authorized.iter().all(|r| r.proto == transport),
        "REGISTER over {transport}: {authorized:?}"
    );
    let mut st = None;
    let ok = wait_for(Duration::from_secs(5), || {
        st = s.status_json().ok();
        st.as_ref()
            .is_some_and(|st| st["registration"] == "registered")
    });
    assert!(ok, "sipd status does not say registered: {st:?}");
}

cases! {
    sipd_register_md5_udp => sipd_registers(Algorithm::Md5, "udp");
    sipd_register_sha256_udp => sipd_registers(Algorithm::Sha256, "udp");
    sipd_register_md5_tcp => sipd_registers(Algorithm::Md5, "tcp");
    sipd_register_sha256_tcp => sipd_registers(Algorithm::Sha256, "tcp");
}

/// The first NOTIFY of a fresh presentity has no body: sipd answers 200, the subscription is
/// active and no state is invented for the number.
fn sipd_first_notify_without_body(transport: &'static str) {
    let k = Kamailio::start(Options::new(Algorithm::Md5));
    let numbers = ["8000", "8001"];
    let mut setup = SipdSetup::new(&numbers);
    setup.transport = transport;
    let (mut s, _) = start_subscribed(&k, &setup, Duration::from_secs(10));
    let reader = s.reader();
    eprintln!(
        "{transport}: sipd start to first NOTIFY accepted for {} numbers: {:?}",
        numbers.len(),
        s.started.elapsed()
    );
    let rx = k.received();
    for sub in rx.iter().filter(|r| r.is_request("SUBSCRIBE")) {
        assert_eq!(sub.expires, Some(setup.expires), "{sub:?}");
        assert_eq!(sub.event, "message-summary", "{sub:?}");
        assert_eq!(sub.accept, "application/simple-message-summary", "{sub:?}");
    }
    for n in numbers {
        assert_eq!(
            reader.lookup(n).expect("table lookup").map(|e| e.state),
            None,
            "a body-less NOTIFY says nothing about {n}"
        );
    }
    let mut st = None;
    let ok = wait_for(Duration::from_secs(5), || {
        st = s.status_json().ok();
        st.as_ref().is_some_and(|st| {
            numbers.iter().all(|n| {
                st["numbers"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|e| e["number"] == *n && e["subscription"] == "active")
                })
            })
        })
    });
    assert!(ok, "sipd status: every number active: {st:#?}");
}

cases! {
    sipd_first_notify_without_body_udp => sipd_first_notify_without_body("udp");
    sipd_first_notify_without_body_tcp => sipd_first_notify_without_body("tcp");
}

/// PUBLISH → NOTIFY → the state in the shared table, for several numbers, and a change.
fn sipd_publish_reaches_table(transport: &'static str) {
    let k = Kamailio::start(Options::new(Algorithm::Md5));
    let numbers = ["8000", "8001", "8002", "8003"];
    let mut setup = SipdSetup::new(&numbers);
    setup.transport = transport;
    let (mut s, _) = start_subscribed(&k, &setup, Duration::from_secs(10));
    let reader = s.reader();
    let counts = [(2, 8), (0, 3), (5, 0), (1, 1)];
    let t0 = Instant::now();
    for (n, (new, old)) in numbers.iter().zip(counts) {
        assert_eq!(k.publish(n, &summary(n, new, old)), 200);
    }
    for (n, (new, old)) in numbers.iter().zip(counts) {
        s.wait_table(&reader, &k, n, voice(new, old), Duration::from_secs(5));
    }
    eprintln!(
        "{transport}: {} PUBLISHes to all states in the table: {:?}",
        numbers.len(),
        t0.elapsed()
    );
    let t0 = Instant::now();
    assert_eq!(k.publish("8000", &summary("8000", 0, 10)), 200);
    s.wait_table(&reader, &k, "8000", voice(0, 10), Duration::from_secs(5));
    eprintln!("{transport}: PUBLISH to table: {:?}", t0.elapsed());
    s.wait_table(&reader, &k, "8002", voice(5, 0), Duration::from_secs(1));
}

cases! {
    sipd_publish_reaches_table_udp => sipd_publish_reaches_table("udp");
    sipd_publish_reaches_table_tcp => sipd_publish_reaches_table("tcp");
}

/// With Expires 10, sipd refreshes within the dialog (same Call-ID, higher CSeq) before the
/// subscription ends, and Kamailio accepts the refresh.
fn sipd_refreshes(transport: &'static str) {
    let k = Kamailio::start(Options::new(Algorithm::Md5));
    let mut setup = SipdSetup::new(&["8000"]);
    setup.transport = transport;
    setup.expires = 10;
    let (mut s, rx) = start_subscribed(&k, &setup, Duration::from_secs(10));
    let first = rx
        .iter()
        .find(|r| r.is_request("SUBSCRIBE"))
        .expect("SUBSCRIBE")
        .clone();
    let t0 = Instant::now();
    wait_rx(
        &k,
        &mut s,
        "a refresh SUBSCRIBE in the same dialog, answered 200 and followed by a NOTIFY",
        Duration::from_secs(12),
        |rx| {
            rx.iter()
                .filter(|r| {
                    r.is_request("SUBSCRIBE") && r.call_id == first.call_id && r.cseq > first.cseq
                })
                .any(|refresh| {
                    rx.iter().any(|r| {
                        r.is_reply(200, "NOTIFY")
                            && r.call_id == first.call_id
                            && r.cseq > refresh.cseq
                    })
                })
        },
    );
    eprintln!(
        "{transport}: refresh seen {:?} after the initial subscription (expires 10 s)",
        t0.elapsed()
    );
}

cases! {
    sipd_refreshes_udp => sipd_refreshes("udp");
    sipd_refreshes_tcp => sipd_refreshes("tcp");
}

/// Kamailio restarted (subscriptions and presentities lost): sipd's refresh gets 481, it
/// subscribes anew, keeps the last state through the body-less first NOTIFY, and the next
/// PUBLISH reaches the table.
fn sipd_resubscribes_after_restart(transport: &'static str) {
    let mut k = Kamailio::start(Options::new(Algorithm::Md5));
    let numbers = ["8000", "8001"];
    let mut setup = SipdSetup::new(&numbers);
    setup.transport = transport;
    setup.expires = 10;
    let (mut s, _) = start_subscribed(&k, &setup, Duration::from_secs(10));
    let reader = s.reader();
    assert_eq!(k.publish("8000", &summary("8000", 3, 0)), 200);
    assert_eq!(k.publish("8001", &summary("8001", 0, 0)), 200);
    s.wait_table(&reader, &k, "8000", voice(3, 0), Duration::from_secs(5));
    s.wait_table(&reader, &k, "8001", voice(0, 0), Duration::from_secs(5));

    let before = k.received();
    let old_calls: Vec<String> = before.iter().map(|r| r.call_id.clone()).collect();
    k.restart();
    let t0 = Instant::now();
    let rx = wait_rx(
        &k,
        &mut s,
        "a new subscription per number after the restart",
        Duration::from_secs(30),
        |rx| {
            numbers.iter().all(|n| {
                rx.get(before.len()..)
                    .unwrap_or_default()
                    .iter()
                    .any(|sub| {
                        sub.is_request("SUBSCRIBE")
                            && sub.to_user == *n
                            && !old_calls.contains(&sub.call_id)
                            && subscribed(rx, before.len(), n, transport)
                    })
            })
        },
    );
    eprintln!(
        "{transport}: re-subscribed {:?} after the Kamailio restart (expires 10 s)",
        t0.elapsed()
    );
    let refreshes_refused = rx
        .get(before.len()..)
        .unwrap_or_default()
        .iter()
        .filter(|r| r.is_request("SUBSCRIBE") && old_calls.contains(&r.call_id))
        .count();
    eprintln!("{transport}: refreshes of the lost dialogs after the restart: {refreshes_refused}");
    s.wait_table(&reader, &k, "8000", voice(3, 0), Duration::from_millis(100));
    assert_eq!(k.publish("8000", &summary("8000", 4, 1)), 200);
    assert_eq!(k.publish("8001", &summary("8001", 1, 0)), 200);
    s.wait_table(&reader, &k, "8000", voice(4, 1), Duration::from_secs(5));
    s.wait_table(&reader, &k, "8001", voice(1, 0), Duration::from_secs(5));
}

cases! {
    sipd_resubscribes_after_restart_udp => sipd_resubscribes_after_restart("udp");
    sipd_resubscribes_after_restart_tcp => sipd_resubscribes_after_restart("tcp");
}

/// Kamailio challenges SUBSCRIBE too (SHA-256): sipd answers the challenge and the
/// subscription works.
fn sipd_subscribe_challenged(transport: &'static str) {
    let mut opts = Options::new(Algorithm::Sha256);
    opts.subscribe_auth = true;
    let k = Kamailio::start(opts);
    let mut setup = SipdSetup::new(&["8000", "8001"]);
    setup.transport = transport;
    let (mut s, rx) = start_subscribed(&k, &setup, Duration::from_secs(10));
    let reader = s.reader();
    for n in &setup.numbers {
        let subs: Vec<&Received> = rx
            .iter()
            .filter(|r| r.is_request("SUBSCRIBE") && r.to_user == *n)
            .collect();
        assert!(
            subs.first().is_some_and(|r| r.authorization.is_empty()),
            "{subs:#?}"
        );
        assert!(
            subs.iter()
                .any(|r| r.authorization.contains("algorithm=SHA-256")),
            "an authorized SUBSCRIBE for {n}: {subs:#?}"
        );
    }
    assert_eq!(k.publish("8001", &summary("8001", 7, 2)), 200);
    s.wait_table(&reader, &k, "8001", voice(7, 2), Duration::from_secs(5));
}

cases! {
    sipd_subscribe_challenged_udp => sipd_subscribe_challenged("udp");
    sipd_subscribe_challenged_tcp => sipd_subscribe_challenged("tcp");
}

/// A nonce that expires (2 s) before the registration refresh (expires 6 s): Kamailio answers
/// the refresh 401 with `stale=true`, sipd retries with the new nonce and stays registered.
#[test]
fn sipd_register_refresh_with_stale_nonce_udp() {
    let mut opts = Options::new(Algorithm::Sha256);
    opts.nonce_expire = Some(2);
    let k = Kamailio::start(opts);
    let mut setup = SipdSetup::new(&["8000"]);
    setup.register = true;
    setup.register_expires = 6;
    let mut s = Sipd::start_against(&k, &setup);
    let authorized = |rx: &[Received]| {
        rx.iter()
            .filter(|r| r.is_request("REGISTER") && !r.authorization.is_empty())
            .count()
    };
    // Initial: one authorized REGISTER. Refresh: stale one, then one with the new nonce.
    wait_rx(
        &k,
        &mut s,
        "three authorized REGISTERs (initial, stale refresh, retry)",
        Duration::from_secs(12),
        |rx| authorized(rx) >= 3,
    );
    let log = s.log();
    assert!(
        log.contains("stale=true"),
        "Kamailio flagged the nonce stale (sipd's log shows the 401):\n{log}"
    );
    let contact = format!("127.0.0.1:{}", s.port);
    let mut st = None;
    let ok = wait_for(Duration::from_secs(3), || {
        st = s.status_json().ok();
        st.as_ref()
            .is_some_and(|st| st["registration"] == "registered")
            && k.contacts()
                .iter()
                .any(|(aor, c)| aor == "user1" && c.contains(&contact))
    });
    assert!(
        ok,
        "still registered after the stale nonce: {st:?}\nsipd log:\n{}\nKamailio log:\n{}",
        s.log(),
        k.log()
    );
}

/// 100 numbers: every one subscribed, then one PUBLISH each reaches the table.
#[test]
fn sipd_hundred_numbers_udp() {
    let k = Kamailio::start(Options::new(Algorithm::Md5));
    let numbers: Vec<String> = (8100..8200).map(|n| n.to_string()).collect();
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let (mut s, _) = start_subscribed(&k, &SipdSetup::new(&refs), Duration::from_secs(20));
    let reader = s.reader();
    eprintln!(
        "udp: sipd start to 100 subscriptions with an accepted NOTIFY: {:?}",
        s.started.elapsed()
    );
    let t0 = Instant::now();
    for (i, n) in numbers.iter().enumerate() {
        let new = u32::try_from(i % 7).expect("small");
        assert_eq!(k.publish(n, &summary(n, new, 1)), 200);
    }
    for (i, n) in numbers.iter().enumerate() {
        let new = u32::try_from(i % 7).expect("small");
        s.wait_table(&reader, &k, n, voice(new, 1), Duration::from_secs(10));
    }
    eprintln!(
        "udp: 100 PUBLISHes (sent one after another) to 100 states in the table: {:?}",
        t0.elapsed()
    );
}

/// Unsolicited mode: Kamailio (tm) sends out-of-dialog NOTIFYs; sipd answers 200 for an
/// MWI-enabled number and writes the table, 481 for a number it does not serve, and sends no
/// SUBSCRIBE.
fn sipd_unsolicited_notify(transport: &'static str) {
    let k = Kamailio::start(Options::new(Algorithm::Md5));
    let mut setup = SipdSetup::new(&["8000", "8001"]);
    setup.transport = transport;
    setup.unsolicited = true;
    let mut s = Sipd::start_against(&k, &setup);
    let reader = s.reader();
    let t = if transport == "tcp" {
        ";transport=tcp"
    } else {
        ""
    };
    let port = s.port;
    let target = |n: &str| format!("sip:{n}@127.0.0.1:{port}{t}");
    // sipd may still be binding its sockets: resend until it answers.
    let mut answered = false;
    for _ in 0..20 {
        k.notify(&target("8001"), &summary("8001", 6, 1));
        answered = wait_for(Duration::from_millis(500), || {
            k.received().iter().any(|r| r.is_reply(200, "NOTIFY"))
        });
        if answered {
            break;
        }
    }
    assert!(
        answered,
        "no 200 to an unsolicited NOTIFY\nsipd log:\n{}\nKamailio log:\n{}",
        s.log(),
        k.log()
    );
    s.wait_table(&reader, &k, "8001", voice(6, 1), Duration::from_secs(5));
    k.notify(&target("9999"), &summary("9999", 1, 0));
    let rx = wait_rx(
        &k,
        &mut s,
        "481 to a NOTIFY for a number sipd does not serve",
        Duration::from_secs(5),
        |rx| rx.iter().any(|r| r.is_reply(481, "NOTIFY")),
    );
    assert!(
        rx.iter()
            .filter(|r| r.status.is_some())
            .all(|r| r.proto == transport),
        "answers over {transport}: {rx:#?}"
    );
    assert!(
        !rx.iter().any(|r| r.is_request("SUBSCRIBE")),
        "no SUBSCRIBE in unsolicited mode: {rx:#?}"
    );
    assert_eq!(
        reader.lookup("9999").expect("lookup").map(|e| e.state),
        None
    );
}

cases! {
    sipd_unsolicited_notify_udp => sipd_unsolicited_notify("udp");
    sipd_unsolicited_notify_tcp => sipd_unsolicited_notify("tcp");
}
