//! The sans-IO user agent against a scripted voice-mail server: subscriptions, digest,
//! refresh, failures, unsolicited NOTIFY, OPTIONS, REGISTER. No sockets; time is injected.

use mwi_config::{Block, Transport, UnsolicitedTransport};
use mwi_core::route::{FxsClaim, Pattern, PriClaim, Router};
use mwi_core::{MessageClass, MwiState};
use sansio::{Core, Duration, Instant};
use sipd::digest::{Algorithm, Challenge, Credentials};
use sipd::guard::BlockRules;
use sipd::transaction::Transmit;
use sipd::ua::{Backoff, Dest, Ua, UaConfig, UaEvent, UaStatus};
use sipd::wire::Message;
use std::collections::{BTreeMap, HashMap};
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
        mwi_backup: None,
        fallback_answers: 3,
        expires: 3600,
        unsolicited: false,
        allow: vec!["198.51.100.0/24".parse().unwrap()],
        unsolicited_transport: UnsolicitedTransport::Any,
        notify_auth: false,
        block: BlockRules::from_config(&Block::default()),
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
        registrar_backup: None,
        lines: Vec::new(),
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

/// What the UA published, read from its [`UaEvent`]s: the latest state per number and how
/// many MWI events came.
#[derive(Default)]
struct Published {
    states: BTreeMap<String, MwiState>,
    writes: u64,
}

/// The UA under test on a millisecond clock (the tests' times are ms after `t0`), its MWI
/// events collected after every call.
struct TestUa {
    ua: Ua,
    t0: Instant,
    published: Published,
}

impl TestUa {
    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn collect(&mut self) {
        while let Some(UaEvent::Mwi { number, state, .. }) = self.ua.poll_event() {
            self.published.states.insert(number, state);
            self.published.writes += 1;
        }
    }

    fn sink(&self) -> &Published {
        &self.published
    }

    fn handle_timeout(&mut self, now: u64) {
        self.ua.handle_timeout(self.at(now));
        self.collect();
    }

    fn poll_timeout(&self) -> Option<u64> {
        let at = self.ua.poll_timeout()?;
        Some(at.duration_since(self.t0).as_millis() as u64)
    }

    fn handle_message(&mut self, now: u64, bytes: &[u8], src: Dest) {
        self.ua.handle_message(self.at(now), bytes, src);
        self.collect();
    }

    fn poll_transmit(&mut self) -> Option<Transmit<Dest>> {
        self.ua.poll_transmit()
    }

    fn set_mwi_addrs(&mut self, now: u64, addrs: Vec<SocketAddr>) {
        self.ua.set_mwi_targets(self.at(now), addrs, Vec::new());
    }

    fn set_registrar_addrs(&mut self, now: u64, addrs: Vec<SocketAddr>) {
        self.ua
            .set_registrar_targets(self.at(now), addrs, Vec::new());
    }

    fn set_mwi_targets(&mut self, now: u64, primary: &[SocketAddr], backup: &[SocketAddr]) {
        self.ua
            .set_mwi_targets(self.at(now), primary.to_vec(), backup.to_vec());
    }

    fn set_registrar_targets(&mut self, now: u64, primary: &[SocketAddr], backup: &[SocketAddr]) {
        self.ua
            .set_registrar_targets(self.at(now), primary.to_vec(), backup.to_vec());
    }

    fn reconfigure(&mut self, now: u64, cfg: UaConfig) -> bool {
        self.ua.reconfigure(self.at(now), cfg)
    }

    fn status(&self, now: u64) -> UaStatus {
        self.ua.status(self.at(now))
    }

    fn take_reresolve(&mut self) -> bool {
        self.ua.take_reresolve()
    }
}

fn ua(cfg: UaConfig) -> TestUa {
    let local: SocketAddr = LOCAL.parse().unwrap();
    let t0 = Instant::now();
    let mut ua = TestUa {
        ua: Ua::new(
            t0,
            cfg,
            7,
            HashMap::from([(Transport::Udp, local), (Transport::Tcp, local)]),
        ),
        t0,
        published: Published::default(),
    };
    ua.set_mwi_addrs(0, vec![SERVER.parse().unwrap()]);
    ua
}

fn sent(ua: &mut TestUa) -> Vec<Message> {
    std::iter::from_fn(|| ua.poll_transmit())
        .map(|t: Transmit<Dest>| Message::parse(&t.bytes).expect("sipd sends valid SIP"))
        .collect()
}

fn one(ua: &mut TestUa) -> Message {
    let mut v = sent(ua);
    assert_eq!(v.len(), 1, "{v:#?}");
    v.remove(0)
}

/// Run timers until sipd sends something (or `limit` ms pass); returns the time and messages.
fn run_until_send(ua: &mut TestUa, limit: u64) -> (u64, Vec<Message>) {
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
fn serve_timers_until(ua: &mut TestUa, limit: u64) -> u64 {
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

fn reply(ua: &mut TestUa, now: u64, req: &Message, code: u16, extra: &[(&str, &str)]) {
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

fn deliver(ua: &mut TestUa, now: u64, m: &Message, from: Dest) -> Message {
    ua.handle_message(now, &m.to_bytes(), from);
    one(ua)
}

/// Drive the UA to an active subscription for 8000 through a 401 challenge; returns the
/// accepted SUBSCRIBE.
fn subscribed(ua: &mut TestUa) -> Message {
    let second = challenged(ua);
    reply(ua, 10, &second, 200, &[("Expires", "3600")]);
    assert!(sent(ua).is_empty());
    second
}

/// The SUBSCRIBE for 8000 that answers a SHA-256 qop=auth 401 challenge (realm vm, nonce n1).
fn challenged(ua: &mut TestUa) -> Message {
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
    one(ua)
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
    assert_eq!(ua.status(0).numbers[0].subscription, "pending");

    // Kamailio's first NOTIFY has no body: state unknown, nothing recorded.
    let n = notify(&sub, 1, "active;expires=3600", "");
    let r = deliver(&mut ua, 20, &n, server());
    assert_eq!(r.code(), Some(200));
    assert!(ua.sink().states.is_empty());
    assert_eq!(ua.status(0).numbers[0].subscription, "active");

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
    let s = ua.status(0);
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
    assert!(ua.status(0).numbers[0]
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
        ua.status(0).numbers[0].subscription,
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

fn many(n: usize) -> TestUa {
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

fn unsolicited_ua() -> TestUa {
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
    // Unknown number and a port without MWI: 481 as the gateway we model does (docs/sip.md).
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
    let st = ua.status(0);
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
    // An INVITE is the call core's (sipd::call, UaEvent::Call): the MWI agent sends nothing.
    assert!(sent(&mut ua).is_empty());
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
    assert_eq!(ua.status(0).server_state, "up");
    let now = serve_timers_until(&mut ua, 200_000);
    assert!(now > 120_000);
    assert_eq!(ua.status(0).server_state, "down");
}

/// Issue 12: each `[[fxs]]` port with `register = true` has a binding of its own, with its
/// own credentials, beside the `[sip.auth]` account's.
#[test]
fn each_registering_port_has_its_own_binding_and_credentials() {
    let mut cfg = config(&[]);
    cfg.registrar = Some(("192.0.2.20".into(), 5060, Transport::Udp, 600));
    cfg.lines = vec![
        ("8000".into(), Some(("8000".into(), "pw8000".into(), None))),
        (
            "user1".into(),
            Some(("user1".into(), "password1".into(), None)),
        ),
    ];
    let mut ua = ua(cfg);
    ua.set_registrar_addrs(0, vec!["192.0.2.20:5060".parse().unwrap()]);
    let (at, mut out) = run_until_send(&mut ua, 1_000);
    out.extend(run_until_send(&mut ua, 1_000).1);
    assert_eq!(
        out.len(),
        2,
        "user1 once (account and line), 8000: {out:#?}"
    );
    let to_of = |m: &Message| m.header("To").unwrap().to_owned();
    assert!(to_of(&out[0]).contains("sip:user1@") && to_of(&out[1]).contains("sip:8000@"));
    assert_ne!(out[0].call_id(), out[1].call_id());
    let line = out.remove(1);
    let challenge = [("WWW-Authenticate", "Digest realm=\"reg\", nonce=\"n8\"")];
    reply(&mut ua, at + 1, &line, 401, &challenge);
    let again = one(&mut ua);
    assert!(again
        .header("Authorization")
        .unwrap()
        .contains("username=\"8000\""));
    reply(&mut ua, at + 2, &again, 200, &[]);
    assert_eq!(
        ua.status(0).registration,
        "user1 registering, 8000 registered"
    );
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
    assert!(ua.status(0).registration.starts_with("failed"));
    let (at, mut out) = run_until_send(&mut ua, 100_000);
    let r3 = out.remove(0);
    reply(
        &mut ua,
        at + 1,
        &r3,
        200,
        &[("Contact", "<sip:user1@192.0.2.1:5060>;expires=300")],
    );
    assert_eq!(ua.status(0).registration, "registered");
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
            ua.status(0).numbers[0].subscription,
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
    assert_eq!(ua.status(0).numbers[0].subscription, "pending");
    let n = notify(&sub, 2, "terminated;reason=probation;retry-after=90", "");
    assert_eq!(deliver(&mut ua, 30, &n, server()).code(), Some(200));
    assert_eq!(
        ua.status(0).numbers[0].subscription,
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
    assert_eq!(ua.status(0).numbers[0].subscription, "pending");
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

// NOTIFY trust (RFC 6665 §4.1.3, RFC 3261 §12.2.2) and source blocking.

fn udp(addr: &str) -> Dest {
    Dest {
        addr: addr.parse().unwrap(),
        transport: Transport::Udp,
    }
}

const ON: &str = "Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n";
const OFF: &str = "Messages-Waiting: no\r\n";

#[test]
fn subscribed_mode_takes_state_only_inside_the_dialog() {
    let mut ua = ua(config(&["8000"]));
    let sub = subscribed(&mut ua);
    // Regression: a NOTIFY from the MWI server's own address without a To tag (no dialog) was
    // answered 200 and lit the lamp.
    let mut n = notify(&sub, 1, "active", ON);
    n.set("To", "<sip:8000@192.0.2.1>");
    assert_eq!(deliver(&mut ua, 20, &n, server()).code(), Some(481));
    // Nor from an `allow` source, which only counts with `unsolicited = true`.
    let u = unsolicited("8000", ON);
    assert_eq!(deliver(&mut ua, 21, &u, vm()).code(), Some(481));
    // Right tags, another Call-ID.
    let mut n = notify(&sub, 1, "active", ON);
    n.set("Call-ID", "forged");
    n.set("Via", format!("SIP/2.0/UDP {SERVER};branch=z9hG4bKforged"));
    assert_eq!(deliver(&mut ua, 22, &n, server()).code(), Some(481));
    // Right Call-ID and To tag, another notifier tag once the dialog knows "srvtag".
    let forged = String::from_utf8(notify(&sub, 1, "active", ON).to_bytes())
        .unwrap()
        .replace("tag=srvtag", "tag=intruder")
        .replace("z9hG4bKn1", "z9hG4bKx1");
    ua.handle_message(23, forged.as_bytes(), server());
    assert_eq!(one(&mut ua).code(), Some(481));
    assert!(
        ua.sink().states.is_empty(),
        "no state from outside the dialog"
    );
    // The dialog's own NOTIFY is taken.
    let n = notify(&sub, 2, "active", ON);
    assert_eq!(deliver(&mut ua, 24, &n, server()).code(), Some(200));
    assert!(ua.sink().states["8000"].waiting);
}

#[test]
fn out_of_order_cseq_gets_500_and_changes_nothing() {
    let mut ua = ua(config(&["8000"]));
    let sub = subscribed(&mut ua);
    let n3 = notify(&sub, 3, "active", ON);
    assert_eq!(deliver(&mut ua, 20, &n3, server()).code(), Some(200));
    // Regression: CSeq 2 after CSeq 3 won.
    let n2 = notify(&sub, 2, "active", OFF);
    assert_eq!(deliver(&mut ua, 21, &n2, server()).code(), Some(500));
    assert!(ua.sink().states["8000"].waiting);
    // An equal CSeq in a new transaction is out of order too.
    let mut again = notify(&sub, 3, "active", OFF);
    again.set("Via", format!("SIP/2.0/UDP {SERVER};branch=z9hG4bKother"));
    assert_eq!(deliver(&mut ua, 22, &again, server()).code(), Some(500));
    // A terminated NOTIFY out of order ends nothing either.
    let t = notify(&sub, 1, "terminated;reason=noresource", "");
    assert_eq!(deliver(&mut ua, 23, &t, server()).code(), Some(500));
    assert_ne!(
        ua.status(23).numbers[0].subscription,
        "terminated;reason=noresource"
    );
    let n4 = notify(&sub, 4, "active", OFF);
    assert_eq!(deliver(&mut ua, 24, &n4, server()).code(), Some(200));
    assert!(!ua.sink().states["8000"].waiting);
}

#[test]
fn first_notify_ahead_of_the_2xx_creates_the_dialog() {
    let mut ua = ua(config(&["8000"]));
    ua.handle_timeout(0);
    let s = one(&mut ua);
    let n = notify(&s, 1, "active;expires=3600", ON);
    assert_eq!(deliver(&mut ua, 5, &n, server()).code(), Some(200));
    assert!(ua.sink().states["8000"].waiting);
    // Its From tag is now the remote tag: another notifier is refused.
    let forged = String::from_utf8(notify(&s, 2, "active", OFF).to_bytes())
        .unwrap()
        .replace("tag=srvtag", "tag=fork2");
    ua.handle_message(6, forged.as_bytes(), server());
    assert_eq!(one(&mut ua).code(), Some(481));
    assert!(ua.sink().states["8000"].waiting);
    reply(&mut ua, 7, &s, 200, &[("Expires", "3600")]);
    assert_eq!(ua.status(7).numbers[0].subscription, "active");
    let n = notify(&s, 3, "active", OFF);
    assert_eq!(deliver(&mut ua, 8, &n, server()).code(), Some(200));
    assert!(!ua.sink().states["8000"].waiting);
}

#[test]
fn ipv4_mapped_sources_match_ipv4_rules() {
    let mut ua = unsolicited_ua();
    // Regression: on a `udp:[::]:5060` socket 198.51.100.7 arrives as ::ffff:198.51.100.7
    // and got 403 despite allow = ["198.51.100.0/24"].
    let mapped = udp("[::ffff:198.51.100.7]:5060");
    assert_eq!(
        deliver(&mut ua, 1, &unsolicited("8000", ON), mapped).code(),
        Some(200)
    );
    // The MWI server's own address too.
    let server_mapped = udp("[::ffff:192.0.2.10]:5060");
    assert_eq!(
        deliver(&mut ua, 2, &unsolicited("8001", ON), server_mapped).code(),
        Some(200)
    );
    let stranger = udp("[::ffff:203.0.113.5]:5060");
    let mut n = unsolicited("8000", OFF);
    n.set("Call-ID", "stranger");
    assert_eq!(deliver(&mut ua, 3, &n, stranger).code(), Some(403));
    assert!(ua.sink().states["8000"].waiting);
}

#[test]
fn unsolicited_notify_can_be_limited_to_tcp() {
    let mut cfg = config(&["8000"]);
    cfg.unsolicited = true;
    cfg.unsolicited_transport = UnsolicitedTransport::Tcp;
    let mut ua = ua(cfg);
    let r = deliver(&mut ua, 1, &unsolicited("8000", ON), vm());
    assert_eq!(r.code(), Some(403));
    assert!(ua.sink().states.is_empty());
    let tcp = Dest {
        transport: Transport::Tcp,
        ..vm()
    };
    let mut n = unsolicited("8000", ON);
    n.set("Via", "SIP/2.0/TCP 198.51.100.7:5060;branch=z9hG4bKtcp");
    assert_eq!(deliver(&mut ua, 2, &n, tcp).code(), Some(200));
    assert!(ua.sink().states["8000"].waiting);
}

fn auth_ua() -> TestUa {
    let mut cfg = config(&["8000"]);
    cfg.unsolicited = true;
    cfg.notify_auth = true;
    ua(cfg)
}

/// `n` in a new transaction with an Authorization answering the first challenge of `rsp`.
fn answered(n: &Message, rsp: &Message, password: &str, nc: u32, branch: &str) -> Message {
    let c = Challenge::parse(rsp.header("WWW-Authenticate").unwrap()).unwrap();
    let mut n = n.clone();
    n.set(
        "Via",
        format!("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK{branch}"),
    );
    let auth = c.answer("user1", password, "NOTIFY", n.uri().unwrap(), nc, "cn0nce");
    n.set("Authorization", auth);
    n
}

#[test]
fn notify_auth_challenges_then_accepts_the_right_answer_once() {
    let mut ua = auth_ua();
    let n = unsolicited("8000", ON);
    let ch = deliver(&mut ua, 1, &n, vm());
    assert_eq!(ch.code(), Some(401));
    let algs: Vec<_> = ch
        .headers("WWW-Authenticate")
        .map(|h| Challenge::parse(h).unwrap().algorithm)
        .collect();
    assert_eq!(algs, [Algorithm::Sha256, Algorithm::Md5]);
    assert!(ua.sink().states.is_empty(), "nothing before authentication");
    // Wrong password: 401 again, nothing changes.
    let bad = answered(&n, &ch, "guess", 1, "b1");
    assert_eq!(deliver(&mut ua, 2, &bad, vm()).code(), Some(401));
    assert!(ua.sink().states.is_empty());
    let good = answered(&n, &ch, "password1", 1, "g1");
    assert_eq!(deliver(&mut ua, 3, &good, vm()).code(), Some(200));
    assert!(ua.sink().states["8000"].waiting);
    // The same answer replayed in a new transaction (same nonce count): refused.
    let mut replay = good.clone();
    replay.set("Via", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKreplay");
    replay.body = OFF.as_bytes().to_vec();
    assert_eq!(deliver(&mut ua, 4, &replay, vm()).code(), Some(401));
    assert!(ua.sink().states["8000"].waiting);
    // A right answer to an expired nonce: 401 stale=true.
    let late = answered(&n, &ch, "password1", 2, "late");
    let r = deliver(&mut ua, 400_000, &late, vm());
    assert_eq!(r.code(), Some(401));
    assert!(
        Challenge::parse(r.header("WWW-Authenticate").unwrap())
            .unwrap()
            .stale
    );
}

fn stranger() -> Dest {
    udp("203.0.113.5:5060")
}

#[test]
fn a_failing_source_is_blocked_silently_then_lifted() {
    let mut cfg = config(&["8000"]);
    cfg.unsolicited = true;
    cfg.block = BlockRules {
        failures: 5,
        window: 60_000,
        duration: 600_000,
        capacity: 16,
    };
    let mut ua = ua(cfg);
    for i in 0..5u64 {
        let mut n = unsolicited("8000", ON);
        n.set("Call-ID", format!("scan{i}"));
        n.set("Via", format!("SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKs{i}"));
        assert_eq!(deliver(&mut ua, i * 1000, &n, stranger()).code(), Some(403));
    }
    // Blocked: no answer at all, even to a request that would pass, and to garbage.
    let mut o = unsolicited("8000", "");
    o.start = sipd::wire::StartLine::Request {
        method: "OPTIONS".into(),
        uri: "sip:192.0.2.1".into(),
    };
    o.set("CSeq", "1 OPTIONS");
    ua.handle_message(5_000, &o.to_bytes(), stranger());
    ua.handle_message(5_001, b"garbage", stranger());
    assert!(sent(&mut ua).is_empty(), "a blocked source gets no answer");
    let st = ua.status(5_000);
    assert_eq!(st.blocked.len(), 1);
    assert_eq!(st.blocked[0].source, "203.0.113.5");
    assert_eq!(st.blocked[0].remaining, 599);
    assert_eq!(st.blocked[0].dropped, 2);
    // The allowed server is still answered, and never blocked by its own faults.
    for i in 0..10 {
        let mut n = unsolicited("8000", "Messages-Waiting: perhaps\r\n");
        n.set(
            "Via",
            format!("SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKv{i}"),
        );
        assert_eq!(deliver(&mut ua, 6_000 + i, &n, vm()).code(), Some(400));
    }
    assert_eq!(
        deliver(&mut ua, 7_000, &unsolicited("8000", ON), vm()).code(),
        Some(200)
    );
    assert_eq!(ua.status(7_000).blocked.len(), 1);
    // The block ends on time (a timer wakes the UA for it) and the source is answered again.
    let wakes: Vec<u64> = std::iter::from_fn(|| {
        let at = ua.poll_timeout().filter(|&at| at <= 604_000)?;
        ua.handle_timeout(at);
        Some(at)
    })
    .collect();
    assert_eq!(wakes.last(), Some(&604_000), "{wakes:?}");
    assert!(ua.status(604_000).blocked.is_empty());
    assert_eq!(deliver(&mut ua, 604_001, &o, stranger()).code(), Some(200));
}

#[test]
fn strangers_481s_and_garbage_count_too() {
    let mut cfg = config(&["8000"]);
    cfg.block.failures = 3;
    let mut ua = ua(cfg);
    let sub = subscribed(&mut ua);
    for i in 0..2u32 {
        let mut n = notify(&sub, 10 + i, "active", ON);
        n.set("Call-ID", format!("guess{i}"));
        assert_eq!(deliver(&mut ua, 20, &n, stranger()).code(), Some(481));
    }
    let garbage = b"NOTIFY sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKq\r\n\r\n";
    ua.handle_message(21, garbage, stranger());
    while ua.poll_transmit().is_some() {}
    assert_eq!(ua.status(22).blocked.len(), 1);
    // The MWI server's stale NOTIFYs (481) never block it.
    for i in 0..5u32 {
        let mut n = notify(&sub, 10 + i, "active", ON);
        n.set("Call-ID", format!("old{i}"));
        assert_eq!(deliver(&mut ua, 30, &n, server()).code(), Some(481));
    }
    assert_eq!(ua.status(31).blocked.len(), 1);
}

// Server abuse (issue 11 item 7): whatever the server answers, few requests per minute.

/// Runs `minutes` of simulated time with `answer` as the server; the SUBSCRIBE/REGISTER
/// requests sipd sent in each minute.
fn per_minute(
    ua: &mut TestUa,
    minutes: usize,
    mut answer: impl FnMut(&mut TestUa, u64, &Message),
) -> Vec<u32> {
    let mut counts = vec![0u32; minutes];
    let end = minutes as u64 * 60_000;
    let mut now = 0;
    loop {
        loop {
            let out = sent(ua);
            if out.is_empty() {
                break;
            }
            for m in out {
                if m.is_request() && matches!(m.method(), "SUBSCRIBE" | "REGISTER") {
                    counts[(now / 60_000) as usize] += 1;
                    answer(ua, now, &m);
                }
            }
        }
        match ua.poll_timeout() {
            Some(at) if at < end => {
                now = now.max(at);
                ua.handle_timeout(now);
            }
            _ => return counts,
        }
    }
}

/// At most 6 requests in every minute, and sipd keeps trying.
fn assert_paced(what: &str, counts: &[u32]) {
    assert!(
        counts.iter().all(|&c| c <= 6),
        "{what}: requests per minute {counts:?}"
    );
    assert!(
        counts.iter().sum::<u32>() >= 3,
        "{what}: sipd must keep trying: {counts:?}"
    );
}

#[test]
fn endless_423_is_paced_and_min_expires_capped() {
    let mut ua = ua(config(&["8000"]));
    let counts = per_minute(&mut ua, 10, |ua, now, m| {
        reply(ua, now, m, 423, &[("Min-Expires", "4294967295")]);
    });
    assert_paced("423 Min-Expires: 4294967295", &counts);
    // A server raising Min-Expires by one each time.
    let mut ua2 = self::ua(config(&["8000"]));
    let counts = per_minute(&mut ua2, 10, |ua, now, m| {
        let asked: u32 = m.header("Expires").unwrap().parse().unwrap();
        reply(
            ua,
            now,
            m,
            423,
            &[("Min-Expires", &(asked + 1).to_string())],
        );
    });
    assert_paced("423 Min-Expires: Expires + 1", &counts);
}

#[test]
fn endless_stale_401_is_paced() {
    let mut ua = ua(config(&["8000"]));
    let mut nonce = 0;
    let counts = per_minute(&mut ua, 10, |ua, now, m| {
        nonce += 1;
        let ch = format!("Digest realm=\"vm\", nonce=\"n{nonce}\", qop=\"auth\", stale=true");
        reply(ua, now, m, 401, &[("WWW-Authenticate", &ch)]);
    });
    assert_paced("401 stale=true", &counts);
}

#[test]
fn retry_after_zero_huge_and_redirects_are_paced() {
    for (code, retry) in [
        (503, Some("0")),
        (503, Some("18446744073709551615")),
        (302, None),
    ] {
        let mut ua = ua(config(&["8000"]));
        let counts = per_minute(&mut ua, 130, |ua, now, m| match retry {
            Some(r) => reply(ua, now, m, code, &[("Retry-After", r)]),
            None => reply(ua, now, m, code, &[("Contact", "<sip:8000@192.0.2.99>")]),
        });
        // A huge Retry-After is capped at an hour: sipd still tries again.
        assert_paced(&format!("{code} {retry:?}"), &counts);
    }
}

#[test]
fn endless_deactivation_is_paced() {
    let mut ua = ua(config(&["8000"]));
    let mut cseq = 0;
    let counts = per_minute(&mut ua, 10, |ua, now, m| {
        reply(ua, now, m, 200, &[("Expires", "3600")]);
        cseq += 1;
        let n = notify(m, cseq, "terminated;reason=deactivated", "");
        ua.handle_message(now, &n.to_bytes(), server());
    });
    assert_paced("terminated;reason=deactivated", &counts);
}

#[test]
fn endless_register_challenges_are_paced() {
    let mut cfg = config(&[]);
    cfg.registrar = Some(("192.0.2.20".into(), 5060, Transport::Udp, 600));
    let mut ua = ua(cfg);
    ua.set_registrar_addrs(0, vec!["192.0.2.20:5060".parse().unwrap()]);
    let mut round = 0;
    let counts = per_minute(&mut ua, 10, |ua, now, m| {
        round += 1;
        let mut rsp = if round % 2 == 0 {
            m.response(423, "Interval Too Brief", "regtag")
        } else {
            let mut r = m.response(401, "Unauthorized", "regtag");
            let ch = format!("Digest realm=\"reg\", nonce=\"r{round}\", stale=true");
            r.push("WWW-Authenticate", ch);
            r
        };
        rsp.push("Min-Expires", "4294967295");
        ua.handle_message(now, &rsp.to_bytes(), udp("192.0.2.20:5060"));
    });
    assert_paced("REGISTER 401 stale / 423", &counts);
}

#[test]
fn a_full_table_gets_500_with_retry_after_and_loses_nothing() {
    let mut ua = unsolicited_ua();
    let on = "Messages-Waiting: yes\r\n";
    // 2345 is in the table from before; 9999 (not served) is left out of the user agent.
    ua.ua.restore_states([
        ("2345".to_owned(), MwiState::default()),
        ("9999".to_owned(), MwiState::default()),
    ]);
    ua.ua.set_table_room(1);
    assert_eq!(
        deliver(&mut ua, 1, &unsolicited("8000", on), vm()).code(),
        Some(200)
    );
    let r = deliver(&mut ua, 2, &unsolicited("8001", on), vm());
    assert_eq!(r.code(), Some(500));
    assert_eq!(r.header("Retry-After"), Some("60"));
    assert!(!ua.sink().states.contains_key("8001"));
    // Numbers with a slot keep being served.
    assert_eq!(
        deliver(&mut ua, 3, &unsolicited("2345", on), vm()).code(),
        Some(200)
    );
    assert_eq!(
        deliver(&mut ua, 4, &unsolicited("8000", ""), vm()).code(),
        Some(200)
    );
    assert_eq!(ua.ua.table_refused(), 1);
    let st = ua.status(4);
    assert!(!st.numbers.iter().any(|n| n.number == "9999"));
    // The notifier's retry after room was made.
    ua.ua.set_table_room(1);
    let again = unsolicited("8001", "Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n");
    assert_eq!(deliver(&mut ua, 5, &again, vm()).code(), Some(200));
    assert!(ua.sink().states["8001"].waiting);
}

#[test]
fn a_full_table_refuses_an_in_dialog_notify_before_its_cseq_counts() {
    let mut ua = ua(config(&["8000"]));
    let sub = subscribed(&mut ua);
    ua.ua.set_table_room(0);
    let n2 = notify(&sub, 2, "active", ON);
    let r = deliver(&mut ua, 20, &n2, server());
    assert_eq!((r.code(), r.header("Retry-After")), (Some(500), Some("60")));
    assert!(!ua.sink().states.contains_key("8000"));
    ua.ua.set_table_room(1);
    let mut retry = notify(&sub, 2, "active", ON);
    retry.set("Via", format!("SIP/2.0/UDP {SERVER};branch=z9hG4bKretry"));
    assert_eq!(deliver(&mut ua, 21, &retry, server()).code(), Some(200));
    assert!(ua.sink().states["8000"].waiting);
}

/// The Authentication-Info a server that knows `password` sends for `req`'s answer to the
/// challenge of [`challenged`], announcing `nextnonce`.
fn authentication_info(req: &Message, password: &str, nextnonce: &str) -> String {
    let cred = Credentials::parse(req.header("Authorization").unwrap()).unwrap();
    let ch =
        Challenge::parse("Digest realm=\"vm\", nonce=\"n1\", qop=auth, algorithm=SHA-256").unwrap();
    let (uri, cnonce) = (cred.get("uri").unwrap(), cred.get("cnonce").unwrap());
    let rspauth = ch.rspauth("user1", password, uri, 1, cnonce);
    format!("nextnonce=\"{nextnonce}\", qop=auth, rspauth=\"{rspauth}\", cnonce=\"{cnonce}\", nc=00000001")
}

#[test]
fn a_right_rspauth_is_accepted_and_its_nextnonce_used() {
    let mut ua = ua(config(&["8000"]));
    let sub = challenged(&mut ua);
    let info = authentication_info(&sub, "password1", "n2");
    reply(
        &mut ua,
        10,
        &sub,
        200,
        &[("Expires", "3600"), ("Authentication-Info", &info)],
    );
    assert_eq!(ua.status(10).numbers[0].subscription, "pending");
    let (_, mut out) = run_until_send(&mut ua, 4_000_000);
    let refresh = out.remove(0);
    let auth = refresh.header("Authorization").unwrap();
    assert!(
        auth.contains("nonce=\"n2\"") && auth.contains("nc=00000001"),
        "{auth}"
    );
}

#[test]
fn a_wrong_rspauth_is_a_failure_retried_with_backoff() {
    let mut first = ua(config(&["8000"]));
    let sub = challenged(&mut first);
    // Signed with another password: the 2xx does not come from who knows ours.
    let info = authentication_info(&sub, "guess", "n2");
    reply(
        &mut first,
        10,
        &sub,
        200,
        &[("Expires", "3600"), ("Authentication-Info", &info)],
    );
    assert_eq!(
        first.status(10).numbers[0].subscription,
        "terminated;reason=not authentic"
    );
    // Back-off (base 30 s here, with jitter), not at once; the nextnonce is not taken.
    let (at, mut out) = run_until_send(&mut first, 100_000);
    assert!(at >= 15_000, "retry at {at} ms");
    let again = out.remove(0);
    assert_eq!(again.method(), "SUBSCRIBE");
    assert!(!again
        .header("Authorization")
        .is_some_and(|a| a.contains("nonce=\"n2\"")));
    // A qop=auth answer with an Authentication-Info lacking rspauth is no proof either.
    let mut ua2 = ua(config(&["8000"]));
    let sub = challenged(&mut ua2);
    reply(
        &mut ua2,
        10,
        &sub,
        200,
        &[("Authentication-Info", "nextnonce=\"n3\"")],
    );
    assert_eq!(
        ua2.status(10).numbers[0].subscription,
        "terminated;reason=not authentic"
    );
}

#[test]
fn a_register_2xx_with_a_wrong_rspauth_is_not_a_registration() {
    let mut cfg = config(&[]);
    cfg.registrar = Some(("192.0.2.20".into(), 5060, Transport::Udp, 600));
    let mut ua = ua(cfg);
    ua.set_registrar_addrs(0, vec!["192.0.2.20:5060".parse().unwrap()]);
    ua.handle_timeout(0);
    let r = one(&mut ua);
    let challenge = "Digest realm=\"vm\", nonce=\"n1\", qop=auth, algorithm=SHA-256";
    reply(&mut ua, 1, &r, 401, &[("WWW-Authenticate", challenge)]);
    let r2 = one(&mut ua);
    let info = authentication_info(&r2, "guess", "n2");
    reply(&mut ua, 2, &r2, 200, &[("Authentication-Info", &info)]);
    assert_eq!(ua.status(2).registration, "failed (not authentic)");
    let (at, _) = run_until_send(&mut ua, 100_000);
    assert!(at >= 15_000, "retry at {at} ms");
}

#[test]
fn options_down_moves_subscriptions_to_the_next_target() {
    let mut cfg = config(&["8000"]);
    cfg.options_interval = 10;
    cfg.options_failures = 2;
    let mut ua = ua(cfg);
    let a: SocketAddr = SERVER.parse().unwrap();
    let b: SocketAddr = "192.0.2.11:5060".parse().unwrap();
    ua.set_mwi_addrs(0, vec![a, b]);
    ua.handle_timeout(0);
    let mut out: Vec<(u64, SocketAddr, Message)> = Vec::new();
    let mut now = 0;
    // A answers the SUBSCRIBE and then nothing: the OPTIONS pings time out (Timer F, 32 s).
    while now <= 60_000 {
        while let Some(t) = ua.poll_transmit() {
            let m = Message::parse(&t.bytes).unwrap();
            if m.method() == "SUBSCRIBE" && t.dest.addr == a {
                reply(&mut ua, now, &m, 200, &[("Expires", "3600")]);
            }
            out.push((now, t.dest.addr, m));
        }
        match ua.poll_timeout() {
            Some(at) => now = at,
            None => break,
        }
        ua.handle_timeout(now);
    }
    let subscribes: Vec<_> = out
        .iter()
        .filter(|(_, _, m)| m.method() == "SUBSCRIBE" && m.is_request())
        .map(|(at, to, m)| (*at, *to, m.call_id().unwrap().to_owned()))
        .collect();
    assert_eq!(subscribes[0].1, a);
    // The second OPTIONS (sent at 10 s) times out at 42 s: down, move to B at once.
    let moved = subscribes
        .iter()
        .find(|s| s.1 == b)
        .expect("a SUBSCRIBE to B");
    assert!((42_000..43_000).contains(&moved.0), "{subscribes:?}");
    assert_ne!(moved.2, subscribes[0].2, "a new dialog at the new target");
    // New pings go to B (retransmissions of the old ones still go to A).
    let old: Vec<String> = out
        .iter()
        .filter(|(at, _, _)| *at <= moved.0)
        .map(|(_, _, m)| m.call_id().unwrap().to_owned())
        .collect();
    let new_pings: Vec<_> = out
        .iter()
        .filter(|(_, _, m)| {
            m.method() == "OPTIONS" && !old.contains(&m.call_id().unwrap().to_owned())
        })
        .map(|(_, to, _)| *to)
        .collect();
    assert!(
        !new_pings.is_empty() && new_pings.iter().all(|to| *to == b),
        "{new_pings:?}"
    );
    let st = ua.status(now);
    assert_eq!((st.target.as_str(), st.failovers), ("192.0.2.11:5060", 1));
    // A new lookup with A first keeps B in use.
    ua.set_mwi_addrs(now, vec![a, b]);
    assert_eq!(ua.status(now).target, "192.0.2.11:5060");
}

/// One message sipd sent: when, where to, and the message.
type Sent = (u64, SocketAddr, Message);

/// Runs the UA until `until` ms; `peer` answers each request it sends (code and extra
/// headers, or `None`: lost) from the address it went to. Everything sent is returned.
fn serve(
    ua: &mut TestUa,
    until: u64,
    mut peer: impl FnMut(u64, SocketAddr, &Message) -> Option<(u16, Vec<(&'static str, String)>)>,
) -> Vec<Sent> {
    let mut out: Vec<Sent> = Vec::new();
    let mut now = ua.poll_timeout().unwrap_or(0);
    while now <= until {
        ua.handle_timeout(now);
        while let Some(t) = ua.poll_transmit() {
            let m = Message::parse(&t.bytes).unwrap();
            if m.is_request() {
                if let Some((code, extra)) = peer(now, t.dest.addr, &m) {
                    let mut rsp = m.response(code, "Reason", "srvtag");
                    for (k, v) in extra {
                        rsp.push(k, v);
                    }
                    ua.handle_message(now, &rsp.to_bytes(), udp(&t.dest.addr.to_string()));
                }
            }
            out.push((now, t.dest.addr, m));
        }
        match ua.poll_timeout() {
            Some(at) => now = at,
            None => break,
        }
    }
    out
}

/// The first requests of `method` sent to `to` at or after `from` ms.
fn first_after<'a>(out: &'a [Sent], method: &str, to: SocketAddr, from: u64) -> &'a Sent {
    out.iter()
        .find(|(at, dest, m)| *at >= from && *dest == to && m.method() == method)
        .unwrap_or_else(|| panic!("no {method} to {to} after {from} ms"))
}

/// `[mwi_server] backup`: the primary dies at 5 s, the OPTIONS "down" verdict moves the
/// subscription and the registration to the backup (Request-URI with the backup's host and
/// port); pings keep going to the primary, which comes back at 100 s: after
/// `fallback_answers` answers both move back, once.
#[test]
fn backup_takes_over_and_the_primary_gets_everything_back_after_its_answers() {
    let mut cfg = config(&["8000"]);
    cfg.options_interval = 10;
    cfg.options_failures = 2;
    cfg.fallback_answers = 2;
    cfg.mwi_backup = Some(("vm2.example".into(), 5062));
    cfg.registrar = Some(("192.0.2.10".into(), 5060, Transport::Udp, 3600));
    cfg.registrar_backup = Some(("vm2.example".into(), 5062));
    cfg.auth = None;
    cfg.lines = vec![("8000".into(), None)];
    let mut ua = ua(cfg);
    let a: SocketAddr = SERVER.parse().unwrap();
    let b: SocketAddr = "192.0.2.11:5062".parse().unwrap();
    ua.set_mwi_targets(0, &[a], &[b]);
    ua.set_registrar_targets(0, &[a], &[b]);
    let alive = |now: u64, to: SocketAddr| to == b || !(5_000..100_000).contains(&now);
    let out = serve(&mut ua, 200_000, |now, to, _| {
        alive(now, to).then(|| (200, vec![("Expires", "3600".to_owned())]))
    });
    let first = first_after(&out, "SUBSCRIBE", a, 0);
    // Pings at 10 s and 20 s time out at 42 s and 52 s: down at 52 s.
    let moved = first_after(&out, "SUBSCRIBE", b, 0);
    assert!((52_000..53_000).contains(&moved.0), "moved at {}", moved.0);
    assert_eq!(moved.2.uri(), Some("sip:8000@vm2.example:5062"));
    assert_ne!(moved.2.call_id(), first.2.call_id());
    let reg = first_after(&out, "REGISTER", b, 0);
    assert!((52_000..53_000).contains(&reg.0), "registered at {}", reg.0);
    assert_eq!(reg.2.uri(), Some("sip:vm2.example:5062"));
    // On the backup, every ping goes to both; the primary's carry the primary's host.
    let old: Vec<String> = out
        .iter()
        .filter(|(at, _, _)| *at <= moved.0)
        .map(|(_, _, m)| m.call_id().unwrap().to_owned())
        .collect();
    let mut seen = old;
    let pings: Vec<_> = out
        .iter()
        .filter(|(at, _, m)| {
            let id = m.call_id().unwrap().to_owned();
            let new =
                (moved.0..100_000).contains(at) && m.method() == "OPTIONS" && !seen.contains(&id);
            seen.push(id);
            new
        })
        .collect();
    assert!(pings.len() >= 8, "{pings:?}");
    for pair in pings.chunks(2) {
        let [(at, to_b, mb), (at2, to_a, ma)] = pair else {
            panic!("{pair:?}")
        };
        assert_eq!((at, to_b, to_a), (at2, &b, &a));
        assert_eq!(mb.uri(), Some("sip:vm2.example:5062"));
        assert_eq!(ma.uri(), Some("sip:192.0.2.10:5060"));
    }
    // The primary answers from 100 s (a retransmission of the 92 s ping, then the 102 s
    // ping): back at once after the second answer, and nothing moves after that.
    let back = first_after(&out, "SUBSCRIBE", a, moved.0 + 1);
    assert!((100_000..103_000).contains(&back.0), "back at {}", back.0);
    assert_eq!(back.2.uri(), Some("sip:8000@192.0.2.10:5060"));
    let reg_back = first_after(&out, "REGISTER", a, moved.0 + 1);
    assert!(
        (100_000..103_000).contains(&reg_back.0),
        "registered at {}",
        reg_back.0
    );
    assert!(!out
        .iter()
        .any(|(at, to, m)| *at > back.0 && *to == b && m.method() != "OPTIONS"));
    let st = ua.status(200_000);
    assert_eq!(
        (st.target.as_str(), st.failovers, st.fallbacks),
        (SERVER, 1, 1)
    );
    assert_eq!(st.numbers[0].subscription, "pending");
    assert_eq!(st.registration, "registered");
}

/// A server that stays silent for a while and answers OPTIONS again may have restarted: the
/// subscription is refreshed at once (in its dialog), and the 481 of a server that lost it
/// starts a new one within a second, long before the refresh time. A number the server
/// refused (403) keeps its long backoff.
#[test]
fn an_answer_after_unanswered_pings_refreshes_the_subscriptions_at_once() {
    let mut cfg = config(&["8000", "8001"]);
    cfg.options_interval = 10;
    cfg.options_failures = 3;
    cfg.auth = None;
    let mut ua = ua(cfg);
    let mut restarted = false;
    let out = serve(&mut ua, 120_000, |now, _, m| {
        if (5_000..45_000).contains(&now) {
            return None;
        }
        restarted |= now >= 45_000;
        let refused = m.uri().is_some_and(|u| u.contains("8001"));
        let lost_dialog = restarted && m.method() == "SUBSCRIBE" && m.to_tag().is_some();
        Some(match (refused, lost_dialog) {
            (true, _) => (403, Vec::new()),
            (_, true) => (481, Vec::new()),
            _ => (200, vec![("Expires", "3600".to_owned())]),
        })
    });
    let of = |number: &str| -> Vec<Sent> {
        out.iter()
            .filter(|(_, _, m)| m.uri().is_some_and(|u| u.contains(number)))
            .cloned()
            .collect()
    };
    let (ours, refused) = (of("8000"), of("8001"));
    let a: SocketAddr = SERVER.parse().unwrap();
    let first = first_after(&ours, "SUBSCRIBE", a, 0);
    let refresh = first_after(&ours, "SUBSCRIBE", a, 1);
    // The 20 s ping's retransmission at 52 s is the first answer after the silence.
    assert!(
        (45_000..53_000).contains(&refresh.0),
        "refresh at {}",
        refresh.0
    );
    assert_eq!(refresh.2.call_id(), first.2.call_id());
    assert!(refresh.2.to_tag().is_some());
    let fresh = first_after(&ours, "SUBSCRIBE", a, refresh.0 + 1);
    assert!(
        fresh.0 <= refresh.0 + 1_000,
        "new subscription at {}",
        fresh.0
    );
    assert_ne!(fresh.2.call_id(), first.2.call_id());
    assert_eq!(refused.len(), 1, "{refused:?}");
    let st = ua.status(120_000);
    assert_eq!(st.numbers[0].subscription, "pending");
    assert_eq!(st.numbers[1].subscription, "terminated;reason=403");
}

/// SIGHUP with an unchanged configuration (issue 14 item 4): no request, the subscription
/// keeps its dialog (the next refresh carries the same Call-ID) and the lamp its state; a
/// reload that adds a number subscribes that number only.
#[test]
fn a_reload_that_changes_nothing_keeps_the_subscription_and_the_lamp() {
    let cfg = config(&["8000"]);
    let mut ua = ua(cfg.clone());
    let sub = subscribed(&mut ua);
    let ok = deliver(&mut ua, 20, &notify(&sub, 1, "active", ON), server());
    assert_eq!(ok.code(), Some(200));
    let writes = ua.sink().writes;
    assert!(!ua.reconfigure(30, cfg.clone()));
    assert!(sent(&mut ua).is_empty());
    let st = ua.status(30);
    assert_eq!(
        (st.numbers[0].subscription.as_str(), st.numbers[0].mwi),
        ("active", true)
    );
    assert_eq!(ua.sink().writes, writes);
    let (at, refresh) = run_until_send(&mut ua, 3_600_000);
    assert!(at > 1_000_000, "refreshed at {at} ms");
    assert_eq!(refresh[0].call_id(), sub.call_id());
    assert_eq!(refresh[0].to_tag(), Some("srvtag"));
    let mut more = cfg.clone();
    more.mwi_numbers.push("8001".into());
    assert!(!ua.reconfigure(at + 10, more));
    let (_, new) = run_until_send(&mut ua, at + 1_000);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].uri(), Some("sip:8001@192.0.2.10:5060"));
    assert!(ua.status(at + 10).numbers[0].mwi);
}

/// A reload that adds a registrar registers and keeps every subscription: the registrar is
/// located (the call returns true) and REGISTER goes out once its address is known.
#[test]
fn a_new_registrar_on_reload_registers_without_touching_the_subscriptions() {
    let mut cfg = config(&["8000"]);
    let mut ua = ua(cfg.clone());
    let sub = subscribed(&mut ua);
    let _ = deliver(&mut ua, 20, &notify(&sub, 1, "active", ON), server());
    cfg.registrar = Some(("192.0.2.20".into(), 5060, Transport::Udp, 3600));
    assert!(ua.reconfigure(30, cfg));
    assert!(sent(&mut ua).is_empty());
    ua.set_registrar_addrs(40, vec!["192.0.2.20:5060".parse().unwrap()]);
    let (_, out) = run_until_send(&mut ua, 1_000);
    let methods: Vec<_> = out.iter().map(Message::method).collect();
    assert_eq!(methods, ["REGISTER"]);
    let st = ua.status(50);
    assert_eq!(
        (st.numbers[0].subscription.as_str(), st.numbers[0].mwi),
        ("active", true)
    );
}
