//! The sans-IO user agent against a scripted voice-mail server: subscriptions, digest,
//! refresh, failures, unsolicited NOTIFY, OPTIONS, REGISTER. No sockets; time is injected.

use mwi_core::config::Transport;
use mwi_core::route::{FxsClaim, Pattern, PriClaim, Router};
use mwi_core::{MessageClass, MwiState};
use sipd::sink::MemorySink;
use sipd::transaction::Transmit;
use sipd::ua::{Backoff, Dest, Ua, UaConfig};
use sipd::wire::Message;
use std::collections::HashMap;
use std::net::SocketAddr;

const SERVER: &str = "192.0.2.10:5060";
const LOCAL: &str = "192.0.2.1:5060";

fn server() -> Dest {
    Dest {
        addr: SERVER.parse().unwrap(),
        transport: Transport::Udp,
    }
}

/// FXS lines with `numbers` (MWI on) and 8009 (MWI off); a PRI span serving `2...`.
fn config(numbers: &[&str]) -> UaConfig {
    let pri: Vec<Pattern> = vec!["2...".parse().unwrap()];
    let fxs = numbers
        .iter()
        .map(|&number| (number, true))
        .chain([("8009", false)]);
    UaConfig {
        mwi_spec: "ipv4:192.0.2.10".into(),
        mwi_host: "192.0.2.10".into(),
        mwi_port: 5060,
        mwi_transport: Transport::Udp,
        expires: 3600,
        unsolicited: false,
        allow: vec!["198.51.100.0/24".parse().unwrap()],
        mwi_numbers: numbers.iter().map(|s| s.to_string()).collect(),
        router: Router::new(
            fxs.enumerate().map(|(i, (number, mwi))| FxsClaim {
                channel: i as u32 + 1,
                number,
                mwi,
            }),
            [PriClaim {
                span: 1,
                numbers: &pri,
            }],
        ),
        auth: Some(("user1".into(), "password1".into(), None)),
        registrar: None,
        options_interval: 0,
        options_failures: 3,
        timers: Default::default(),
        backoff: Backoff {
            base: 30_000,
            max: 600_000,
        },
        pace: 10,
        user_agent: "dahdi-mwi".into(),
        max_message_size: 65_536,
    }
}

fn ua(cfg: UaConfig) -> Ua<MemorySink> {
    let local: SocketAddr = LOCAL.parse().unwrap();
    let mut ua = Ua::new(
        cfg,
        MemorySink::default(),
        7,
        HashMap::from([(Transport::Udp, local), (Transport::Tcp, local)]),
    );
    ua.set_mwi_addrs(0, vec![SERVER.parse().unwrap()]);
    ua
}

fn sent(ua: &mut Ua<MemorySink>) -> Vec<Message> {
    std::iter::from_fn(|| ua.poll_transmit())
        .map(|t: Transmit<Dest>| Message::parse(&t.bytes).expect("sipd sends valid SIP"))
        .collect()
}

fn one(ua: &mut Ua<MemorySink>) -> Message {
    let mut v = sent(ua);
    assert_eq!(v.len(), 1, "{v:#?}");
    v.remove(0)
}

/// Run timers until sipd sends something (or `limit` ms pass); returns the time and messages.
fn run_until_send(ua: &mut Ua<MemorySink>, limit: u64) -> (u64, Vec<Message>) {
    while let Some(at) = ua.poll_timeout() {
        assert!(at <= limit, "nothing sent before {limit} ms");
        ua.handle_timeout(at);
        let out = sent(ua);
        if !out.is_empty() {
            return (at, out);
        }
    }
    panic!("no timer left");
}

/// Serves the UA's timers due up to `limit` ms, dropping what it sends; the time of the last
/// timer served (0 if none was due).
fn serve_timers_until(ua: &mut Ua<MemorySink>, limit: u64) -> u64 {
    let mut now = 0;
    while let Some(at) = ua.poll_timeout() {
        if at > limit {
            break;
        }
        now = at;
        ua.handle_timeout(now);
        let _ = sent(ua);
    }
    now
}

fn reply(ua: &mut Ua<MemorySink>, now: u64, req: &Message, code: u16, extra: &[(&str, &str)]) {
    let mut rsp = req.response(code, "Reason", "srvtag");
    for (k, v) in extra {
        rsp.push(k, *v);
    }
    ua.handle_message(now, &rsp.to_bytes(), server());
}

/// A NOTIFY in the dialog of `sub` (a SUBSCRIBE sipd sent).
fn notify(sub: &Message, cseq: u32, state: &str, body: &str) -> Message {
    let mut n = Message::request("NOTIFY", "sip:8000@192.0.2.1:5060");
    n.push(
        "Via",
        format!(
            "SIP/2.0/UDP {SERVER};branch=z9hG4bKn{cseq}{}",
            sub.call_id().unwrap()
        ),
    );
    n.push("Max-Forwards", "70");
    n.push("From", format!("{};tag=srvtag", sub.header("To").unwrap()));
    n.push("To", sub.header("From").unwrap());
    n.push("Call-ID", sub.call_id().unwrap());
    n.push("CSeq", format!("{cseq} NOTIFY"));
    n.push("Contact", format!("<sip:vm@{SERVER}>"));
    n.push("Event", "message-summary");
    n.push("Subscription-State", state);
    if !body.is_empty() {
        n.push("Content-Type", "application/simple-message-summary");
        n.body = body.as_bytes().to_vec();
    }
    n
}

fn deliver(ua: &mut Ua<MemorySink>, now: u64, m: &Message, from: Dest) -> Message {
    ua.handle_message(now, &m.to_bytes(), from);
    one(ua)
}

/// Drive the UA to an active subscription for 8000 through a 401 challenge; returns the
/// accepted SUBSCRIBE.
fn subscribed(ua: &mut Ua<MemorySink>) -> Message {
    ua.handle_timeout(0);
    let first = one(ua);
    assert_eq!(first.method(), "SUBSCRIBE");
    reply(
        ua,
        5,
        &first,
        401,
        &[(
            "WWW-Authenticate",
            "Digest realm=\"vm\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256",
        )],
    );
    let second = one(ua);
    reply(ua, 10, &second, 200, &[("Expires", "3600")]);
    assert!(sent(ua).is_empty());
    second
}

#[test]
fn subscribe_carries_event_accept_expires() {
    let mut ua = ua(config(&["8000"]));
    ua.handle_timeout(0);
    let s = one(&mut ua);
    assert_eq!(s.uri(), Some("sip:8000@192.0.2.10:5060"));
    assert_eq!(s.header("Event"), Some("message-summary"));
    assert_eq!(
        s.header("Accept"),
        Some("application/simple-message-summary")
    );
    assert_eq!(s.header("Expires"), Some("3600"));
    assert!(s.header("Contact").unwrap().contains(LOCAL));
    assert!(s.top_via_branch().unwrap().starts_with("z9hG4bK"));
}

/// Call-ID, tags and branches come from the OS CSPRNG, not from the jitter seed: two user
/// agents with the same seed pick different ones. The configured User-Agent is sent.
#[test]
fn secrets_do_not_follow_the_seed() {
    let mut cfg = config(&["8000"]);
    cfg.user_agent = "lab gw".into();
    let first: Vec<Message> = (0..2)
        .map(|_| {
            let mut ua = ua(cfg.clone());
            ua.handle_timeout(0);
            one(&mut ua)
        })
        .collect();
    let [a, b] = &first[..] else { unreachable!() };
    assert_ne!(a.call_id(), b.call_id());
    assert_ne!(a.from_tag(), b.from_tag());
    assert_ne!(a.top_via_branch(), b.top_via_branch());
    assert_eq!(a.call_id().unwrap().len(), 20);
    assert_eq!(a.header("User-Agent"), Some("lab gw"));
}

#[test]
fn digest_retry_then_bodyless_notify_then_state() {
    let mut ua = ua(config(&["8000"]));
    let sub = subscribed(&mut ua);
    assert_eq!(sub.cseq(), Some((2, "SUBSCRIBE")));
    let auth = sub.header("Authorization").unwrap();
    assert!(auth.contains("algorithm=SHA-256") && auth.contains("nc=00000001"));
    assert!(auth.contains("username=\"user1\""));
    assert_eq!(ua.status().numbers[0].subscription, "pending");

    // Kamailio's first NOTIFY has no body: state unknown, nothing recorded.
    let n = notify(&sub, 1, "active;expires=3600", "");
    let r = deliver(&mut ua, 20, &n, server());
    assert_eq!(r.code(), Some(200));
    assert!(ua.sink().states.is_empty());
    assert_eq!(ua.status().numbers[0].subscription, "active");

    let n = notify(
        &sub,
        2,
        "active;expires=3500",
        "Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n",
    );
    assert_eq!(deliver(&mut ua, 30, &n, server()).code(), Some(200));
    let st = ua.sink().states["8000"];
    assert_eq!(
        st,
        MwiState {
            waiting: true,
            class: MessageClass::Voice,
            new: 2,
            old: 8,
            urgent_new: 0,
            urgent_old: 2
        }
    );
    // A body-less NOTIFY later keeps the last state.
    let n = notify(&sub, 3, "active;expires=3400", "");
    deliver(&mut ua, 40, &n, server());
    assert_eq!(ua.sink().states["8000"], st);
    let s = ua.status();
    assert!(s.numbers[0].mwi && s.numbers[0].known);
}

#[test]
fn refresh_is_in_dialog_before_expiry() {
    let mut ua = ua(config(&["8000"]));
    let sub = subscribed(&mut ua);
    let n = notify(&sub, 1, "active;expires=3600", "");
    deliver(&mut ua, 20, &n, server());
    let (at, mut out) = run_until_send(&mut ua, 3_600_000);
    assert!((1_980_000..=3_060_020).contains(&at), "refresh at {at}");
    let refresh = out.remove(0);
    assert_eq!(refresh.call_id(), sub.call_id());
    assert_eq!(refresh.to_tag(), Some("srvtag"));
    assert_eq!(refresh.uri(), Some("sip:vm@192.0.2.10:5060"));
    assert_eq!(refresh.cseq(), Some((3, "SUBSCRIBE")));
    // The challenge is answered again without a new round trip, nonce count 2.
    assert!(refresh
        .header("Authorization")
        .unwrap()
        .contains("nc=00000002"));
}

#[test]
fn min_expires_is_honoured() {
    let mut ua = ua(config(&["8000"]));
    ua.handle_timeout(0);
    let s = one(&mut ua);
    reply(&mut ua, 1, &s, 423, &[("Min-Expires", "7200")]);
    let s2 = one(&mut ua);
    assert_eq!(s2.header("Expires"), Some("7200"));
}

#[test]
fn refresh_failure_481_starts_a_new_subscription() {
    let mut ua = ua(config(&["8000"]));
    let sub = subscribed(&mut ua);
    let (at, mut out) = run_until_send(&mut ua, 3_600_000);
    let refresh = out.remove(0);
    reply(&mut ua, at + 5, &refresh, 481, &[]);
    assert!(ua.status().numbers[0]
        .subscription
        .starts_with("terminated"));
    let (next, mut out) = run_until_send(&mut ua, at + 1005);
    assert!(next <= at + 1005);
    let fresh = out.remove(0);
    assert_ne!(fresh.call_id(), sub.call_id());
    assert_eq!(fresh.to_tag(), None);
}

#[test]
fn timeout_backs_off_with_jitter_and_asks_for_resolution() {
    let mut ua = ua(config(&["8000"]));
    ua.handle_timeout(0);
    let _ = one(&mut ua);
    let now = serve_timers_until(&mut ua, 32_000);
    assert_eq!(now, 32_000, "Timer F");
    assert!(ua.take_reresolve());
    let retry = ua.poll_timeout().unwrap();
    assert!(
        (32_000 + 15_000..=32_000 + 30_000).contains(&retry),
        "{retry}"
    );
    assert_eq!(
        ua.status().numbers[0].subscription,
        "terminated;reason=timeout"
    );
}

#[test]
fn terminated_notify_resubscribes() {
    let mut ua = ua(config(&["8000"]));
    let sub = subscribed(&mut ua);
    let n = notify(&sub, 1, "terminated;reason=deactivated", "");
    assert_eq!(deliver(&mut ua, 20, &n, server()).code(), Some(200));
    let (_, out) = run_until_send(&mut ua, 1020);
    assert_eq!(out[0].method(), "SUBSCRIBE");
    // A NOTIFY of the ended dialog now gets 481.
    let n = notify(&sub, 2, "active", "");
    assert_eq!(deliver(&mut ua, 2000, &n, server()).code(), Some(481));
}

fn many(n: usize) -> Ua<MemorySink> {
    let numbers: Vec<String> = (0..n).map(|i| format!("{}", 100_000 + i)).collect();
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let mut cfg = config(&refs);
    cfg.mwi_transport = Transport::Tcp;
    ua(cfg)
}

fn max_per_second(sends: &[u64]) -> u32 {
    let mut per_second: HashMap<u64, u32> = HashMap::new();
    for s in sends {
        *per_second.entry(s / 1000).or_default() += 1;
    }
    per_second.into_values().max().unwrap_or(0)
}

#[test]
fn ten_thousand_numbers_start_paced() {
    let mut ua = many(10_000);
    let mut sends = Vec::new();
    while let Some(now) = ua.poll_timeout().filter(|&t| t <= 110_000) {
        ua.handle_timeout(now);
        while let Some(t) = ua.poll_transmit() {
            assert!(t.bytes.starts_with(b"SUBSCRIBE "));
            sends.push(now);
        }
    }
    assert!(sends.len() >= 10_000, "{}", sends.len());
    assert!(max_per_second(&sends) <= 100);
}

#[test]
fn refreshes_spread_out() {
    let mut ua = many(1_000);
    let mut refreshes = Vec::new();
    while let Some(now) = ua.poll_timeout().filter(|&t| t <= 3_200_000) {
        ua.handle_timeout(now);
        for m in sent(&mut ua) {
            if m.to_tag().is_some() {
                refreshes.push(now);
            }
            let mut ok = m.response(200, "OK", "srvtag");
            ok.push("Expires", "3600");
            ua.handle_message(now, &ok.to_bytes(), server());
        }
    }
    assert_eq!(
        refreshes.len(),
        1_000,
        "each number refreshed once by 3200 s"
    );
    assert!(refreshes
        .iter()
        .all(|&t| (1_980_000..=3_070_000).contains(&t)));
    let mut seconds: Vec<u64> = refreshes.iter().map(|t| t / 1000).collect();
    seconds.dedup();
    assert!(
        seconds.len() > 400,
        "refreshes in only {} distinct seconds",
        seconds.len()
    );
    assert!(max_per_second(&refreshes) <= 10);
}

fn unsolicited_ua() -> Ua<MemorySink> {
    let mut cfg = config(&["8000", "8001"]);
    cfg.unsolicited = true;
    ua(cfg)
}

fn unsolicited(uri_user: &str, body: &str) -> Message {
    let mut n = Message::request("NOTIFY", &format!("sip:{uri_user}@192.0.2.1"));
    n.push(
        "Via",
        format!(
            "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK{uri_user}{}",
            body.len()
        ),
    );
    n.push("Max-Forwards", "70");
    n.push("From", "<sip:vm@198.51.100.7>;tag=v");
    n.push("To", format!("<sip:{uri_user}@192.0.2.1>"));
    n.push("Call-ID", format!("u-{uri_user}-{}", body.len()));
    n.push("CSeq", "1 NOTIFY");
    n.push("Event", "message-summary");
    n.push("Content-Type", "application/simple-message-summary");
    n.body = body.as_bytes().to_vec();
    n
}

fn vm() -> Dest {
    Dest {
        addr: "198.51.100.7:5060".parse().unwrap(),
        transport: Transport::Udp,
    }
}

#[test]
fn unsolicited_mode_routes_and_refuses() {
    let mut ua = unsolicited_ua();
    ua.handle_timeout(0);
    assert!(sent(&mut ua).is_empty(), "no SUBSCRIBE in unsolicited mode");
    let on = "Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n";
    assert_eq!(
        deliver(&mut ua, 1, &unsolicited("8000", on), vm()).code(),
        Some(200)
    );
    assert!(ua.sink().states["8000"].waiting);
    // PRI pattern 2... takes 2345.
    assert_eq!(
        deliver(&mut ua, 2, &unsolicited("2345", on), vm()).code(),
        Some(200)
    );
    // Unknown number and a port without MWI: 481 as the reference gateway does.
    let r = deliver(&mut ua, 3, &unsolicited("9999", on), vm());
    assert_eq!(r.code(), Some(481));
    assert_eq!(
        deliver(&mut ua, 4, &unsolicited("8009", on), vm()).code(),
        Some(481)
    );
    // A stranger: 403.
    let stranger = Dest {
        addr: "203.0.113.5:5060".parse().unwrap(),
        transport: Transport::Udp,
    };
    let r = deliver(&mut ua, 5, &unsolicited("8001", on), stranger);
    assert_eq!(r.code(), Some(403));
    assert!(!ua.sink().states.contains_key("8001"));
    // Message-Account names the number when the Request-URI has no user.
    let mut n = unsolicited(
        "x",
        "Messages-Waiting: no\r\nMessage-Account: sip:8001@vm\r\n",
    );
    n.start = sipd::wire::StartLine::Request {
        method: "NOTIFY".into(),
        uri: "sip:192.0.2.1".into(),
    };
    assert_eq!(deliver(&mut ua, 6, &n, vm()).code(), Some(200));
    assert!(!ua.sink().states["8001"].waiting);
    let st = ua.status();
    assert!(st.unsolicited);
    assert!(st.numbers.iter().any(|n| n.number == "2345" && n.mwi));
}

#[test]
fn notify_defects_get_named_responses() {
    let mut ua = unsolicited_ua();
    let mut n = unsolicited("8000", "Messages-Waiting: perhaps\r\n");
    let r = deliver(&mut ua, 1, &n, vm());
    assert_eq!(r.code(), Some(400));
    n.set("Via", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKc2");
    n.set("Content-Type", "text/plain");
    let r = deliver(&mut ua, 2, &n, vm());
    assert_eq!(r.code(), Some(415));
    assert_eq!(
        r.header("Accept"),
        Some("application/simple-message-summary")
    );
    n.set("Via", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKc3");
    n.set("Event", "presence");
    let r = deliver(&mut ua, 3, &n, vm());
    assert_eq!(r.code(), Some(489));
    n.set("Via", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKc4");
    n.set("Require", "100rel");
    let r = deliver(&mut ua, 4, &n, vm());
    assert_eq!(r.code(), Some(420));
    assert_eq!(r.header("Unsupported"), Some("100rel"));
}

#[test]
fn options_invite_and_unknown_methods() {
    let mut ua = unsolicited_ua();
    let mut o = unsolicited("8000", "");
    o.start = sipd::wire::StartLine::Request {
        method: "OPTIONS".into(),
        uri: "sip:192.0.2.1".into(),
    };
    o.set("CSeq", "1 OPTIONS");
    let r = deliver(&mut ua, 1, &o, vm());
    assert_eq!(r.code(), Some(200));
    assert_eq!(r.header("Allow"), Some("NOTIFY, OPTIONS"));
    assert!(r.header("Accept").is_some() && r.header("Supported").is_some());
    let text = String::from_utf8(o.to_bytes())
        .unwrap()
        .replace("OPTIONS", "INVITE")
        .replace("u-8000-0", "inv");
    ua.handle_message(2, text.as_bytes(), vm());
    let r = one(&mut ua);
    assert_eq!(r.code(), Some(405));
    assert_eq!(r.header("Allow"), Some("NOTIFY, OPTIONS"));
    let text = text.replace("INVITE", "FROB");
    ua.handle_message(3, text.as_bytes(), vm());
    assert_eq!(one(&mut ua).code(), Some(501));
    // A retransmitted NOTIFY gets the same response again without a second state write.
    let n = unsolicited("8000", "Messages-Waiting: yes\r\n");
    let first = deliver(&mut ua, 4, &n, vm());
    let again = deliver(&mut ua, 5, &n, vm());
    assert_eq!(first, again);
    assert_eq!(ua.sink().writes, 1);
}

#[test]
fn options_ping_reports_down_after_failures() {
    let mut cfg = config(&[]);
    cfg.options_interval = 60;
    cfg.options_failures = 2;
    let mut ua = ua(cfg);
    ua.handle_timeout(0);
    let o = one(&mut ua);
    assert_eq!(o.method(), "OPTIONS");
    reply(&mut ua, 3, &o, 200, &[]);
    assert_eq!(ua.status().server_state, "up");
    let now = serve_timers_until(&mut ua, 200_000);
    assert!(now > 120_000);
    assert_eq!(ua.status().server_state, "down");
}

#[test]
fn register_with_md5_digest() {
    let mut cfg = config(&[]);
    cfg.registrar = Some(("192.0.2.20".into(), 5060, Transport::Udp, 600));
    let mut ua = ua(cfg);
    ua.set_registrar_addrs(0, vec!["192.0.2.20:5060".parse().unwrap()]);
    ua.handle_timeout(0);
    let r = one(&mut ua);
    assert_eq!(r.method(), "REGISTER");
    assert_eq!(r.header("Expires"), Some("600"));
    reply(
        &mut ua,
        1,
        &r,
        407,
        &[(
            "Proxy-Authenticate",
            "Digest realm=\"reg\", nonce=\"abc\", qop=auth",
        )],
    );
    let r2 = one(&mut ua);
    let auth = r2.header("Proxy-Authorization").unwrap();
    assert!(auth.contains("algorithm=MD5") && auth.contains("realm=\"reg\""));
    reply(
        &mut ua,
        2,
        &r2,
        401,
        &[("WWW-Authenticate", "Digest realm=\"reg\", nonce=\"abc\"")],
    );
    assert!(
        sent(&mut ua).is_empty(),
        "same nonce refused again: wrong password, no loop"
    );
    assert!(ua.status().registration.starts_with("failed"));
    let (at, mut out) = run_until_send(&mut ua, 100_000);
    let r3 = out.remove(0);
    reply(
        &mut ua,
        at + 1,
        &r3,
        200,
        &[("Contact", "<sip:user1@192.0.2.1:5060>;expires=300")],
    );
    assert_eq!(ua.status().registration, "registered");
    let (refresh, _) = run_until_send(&mut ua, at + 300_000);
    assert!(refresh > at + 100_000);
}

#[test]
fn refused_subscriptions_back_off_long() {
    for code in [403u16, 404, 489] {
        let mut ua = ua(config(&["8000"]));
        ua.handle_timeout(0);
        let s = one(&mut ua);
        reply(&mut ua, 1, &s, code, &[]);
        assert_eq!(
            ua.status().numbers[0].subscription,
            format!("terminated;reason={code}")
        );
        // Backoff at its cap (600 s here), with jitter: 300..600 s.
        let (at, _) = run_until_send(&mut ua, 700_000);
        assert!((300_001..=600_001).contains(&at), "{code}: retry at {at}");
    }
}

#[test]
fn retry_after_is_honoured() {
    let mut ua = ua(config(&["8000"]));
    ua.handle_timeout(0);
    let s = one(&mut ua);
    reply(&mut ua, 1, &s, 503, &[("Retry-After", "120")]);
    let (at, _) = run_until_send(&mut ua, 200_000);
    assert_eq!(at, 120_001);
}

#[test]
fn pending_then_probation_with_retry_after() {
    let mut ua = ua(config(&["8000"]));
    let sub = subscribed(&mut ua);
    let n = notify(&sub, 1, "pending;expires=3600", "");
    assert_eq!(deliver(&mut ua, 20, &n, server()).code(), Some(200));
    assert_eq!(ua.status().numbers[0].subscription, "pending");
    let n = notify(&sub, 2, "terminated;reason=probation;retry-after=90", "");
    assert_eq!(deliver(&mut ua, 30, &n, server()).code(), Some(200));
    assert_eq!(
        ua.status().numbers[0].subscription,
        "terminated;reason=probation"
    );
    let (at, out) = run_until_send(&mut ua, 200_000);
    assert_eq!(at, 90_030);
    assert_ne!(out[0].call_id(), sub.call_id());
}

#[test]
fn stale_nonce_on_refresh_is_answered_with_the_new_nonce() {
    let mut ua = ua(config(&["8000"]));
    subscribed(&mut ua);
    let (at, mut out) = run_until_send(&mut ua, 3_600_000);
    let refresh = out.remove(0);
    reply(
        &mut ua,
        at + 1,
        &refresh,
        401,
        &[(
            "WWW-Authenticate",
            "Digest realm=\"vm\", nonce=\"n2\", qop=\"auth\", algorithm=SHA-256, stale=true",
        )],
    );
    let again = one(&mut ua);
    let auth = again.header("Authorization").unwrap();
    assert!(
        auth.contains("nonce=\"n2\"") && auth.contains("nc=00000001"),
        "{auth}"
    );
    assert_eq!(again.call_id(), refresh.call_id(), "still the same dialog");
    reply(&mut ua, at + 2, &again, 200, &[("Expires", "3600")]);
    assert_eq!(ua.status().numbers[0].subscription, "pending");
}

#[test]
fn refresh_follows_the_record_route_set() {
    let mut ua = ua(config(&["8000"]));
    ua.handle_timeout(0);
    let s = one(&mut ua);
    reply(
        &mut ua,
        1,
        &s,
        200,
        &[
            ("Expires", "600"),
            ("Record-Route", "<sip:p2.example;lr>, <sip:p1.example;lr>"),
            ("Contact", "<sip:vm@192.0.2.99>"),
        ],
    );
    let (_, mut out) = run_until_send(&mut ua, 600_000);
    let refresh = out.remove(0);
    let routes: Vec<&str> = refresh.headers("Route").collect();
    assert_eq!(routes, ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
    assert_eq!(refresh.uri(), Some("sip:vm@192.0.2.99"));
}
