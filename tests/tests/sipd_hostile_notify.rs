//! Hostile NOTIFYs against the real sipd on loopback (issue 11 item 5): with subscriptions
//! only the subscription's dialog changes a lamp (no To tag → 481; an older CSeq → 500, lamp
//! kept); an `allow` rule for 127.0.0.1 matches on a `udp:[::]` socket; a source that keeps
//! failing is blocked (no answer, listed by `sipd status --json`, logged once when the block
//! starts and once when it ends) while a good source is still answered; with `notify_auth` a
//! NOTIFY changes state only with the right digest answer.

use dahdi_mwi_tests::daemon::wait_some as wait_for;
use dahdi_mwi_tests::env::Sipd;
use sipd::digest::Challenge;
use sipd::wire::Message;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const ON: &str = "Messages-Waiting: yes\r\nVoice-Message: 3/0\r\n";
const OFF: &str = "Messages-Waiting: no\r\n";

/// A NOTIFY for 8000 with `call_id`, tags and CSeq as given (no To tag when `to_tag` is None).
fn notify(call_id: &str, from_tag: &str, to_tag: Option<&str>, cseq: u32, body: &str) -> Message {
    let mut n = Message::request("NOTIFY", "sip:8000@127.0.0.1");
    n.push(
        "Via",
        format!("SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK{call_id}{from_tag}{cseq}"),
    );
    n.push("Max-Forwards", "70");
    n.push("From", format!("<sip:vm@127.0.0.1>;tag={from_tag}"));
    match to_tag {
        Some(t) => n.push("To", format!("<sip:8000@127.0.0.1>;tag={t}")),
        None => n.push("To", "<sip:8000@127.0.0.1>"),
    }
    n.push("Call-ID", call_id);
    n.push("CSeq", format!("{cseq} NOTIFY"));
    n.push("Contact", "<sip:vm@127.0.0.1>");
    n.push("Event", "message-summary");
    n.push("Subscription-State", "active;expires=3600");
    n.push("Content-Type", "application/simple-message-summary");
    n.body = body.as_bytes().to_vec();
    n
}

/// A UDP socket on `ip`, reads time out after 1.5 s.
fn socket(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    s
}

/// The next message on `sock` that `keep` accepts, `None` after 1.5 s of silence.
fn next(sock: &UdpSocket, keep: impl Fn(&Message) -> bool) -> Option<Message> {
    let mut buf = [0u8; 65_536];
    loop {
        let n = sock.recv(&mut buf).ok()?;
        let m = Message::parse(&buf[..n]).expect("sipd sends valid SIP");
        if keep(&m) {
            return Some(m);
        }
    }
}

/// Send `m` to `to` and wait for its final response.
fn ask(sock: &UdpSocket, to: SocketAddr, m: &Message) -> Option<Message> {
    sock.send_to(&m.to_bytes(), to).expect("send");
    next(sock, |r| {
        !r.is_request() && r.call_id() == m.call_id() && r.code().is_some_and(|c| c >= 200)
    })
}

fn code(r: Option<Message>) -> Option<u16> {
    r.and_then(|r| r.code())
}

#[test]
fn subscribed_mode_takes_state_only_in_the_dialog_and_in_cseq_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The MWI server: a socket on 127.0.0.1 that answers by hand.
    let vm = socket("127.0.0.1");
    let vm_port = vm.local_addr().expect("addr").port();
    let sipd = Sipd::start(
        dir.path(),
        &format!(
            "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = {vm_port}\noptions_interval = 0\n\
             [[fxs]]\nchannel = 1\nnumber = \"8000\"\n"
        ),
    );
    let to: SocketAddr = ([127, 0, 0, 1], sipd.port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    let sub = loop {
        if let Some(s) = next(&vm, |m| m.method() == "SUBSCRIBE") {
            break s;
        }
        assert!(Instant::now() < deadline, "no SUBSCRIBE from sipd");
    };
    let call_id = sub.call_id().expect("Call-ID").to_owned();
    let local_tag = sub.from_tag().expect("From tag").to_owned();

    // Regression: from the MWI server's own address and port, no To tag: no dialog, 481.
    let stray = notify("stray-1", "vmtag", None, 1, ON);
    assert_eq!(code(ask(&vm, to, &stray)), Some(481));
    // The subscription's Call-ID without the To tag is no dialog either.
    let no_tag = notify(&call_id, "vmtag", None, 1, ON);
    assert_eq!(code(ask(&vm, to, &no_tag)), Some(481));
    assert_eq!(
        sipd.table_state("8000"),
        None,
        "no lamp from outside the dialog"
    );

    let mut ok = sub.response(200, "OK", "vmtag");
    ok.push("Expires", "3600");
    ok.push("Contact", format!("<sip:vm@127.0.0.1:{vm_port}>"));
    vm.send_to(&ok.to_bytes(), to).expect("send 200");
    let n3 = notify(&call_id, "vmtag", Some(&local_tag), 3, ON);
    assert_eq!(code(ask(&vm, to, &n3)), Some(200));
    assert_eq!(sipd.table_state("8000").map(|s| s.waiting), Some(true));
    // Regression: CSeq 2 after CSeq 3 turned the lamp off.
    let n2 = notify(&call_id, "vmtag", Some(&local_tag), 2, OFF);
    assert_eq!(code(ask(&vm, to, &n2)), Some(500));
    assert_eq!(sipd.table_state("8000").map(|s| s.waiting), Some(true));
    // A forged notifier tag in the right dialog.
    let forged = notify(&call_id, "intruder", Some(&local_tag), 9, OFF);
    assert_eq!(code(ask(&vm, to, &forged)), Some(481));
    let n4 = notify(&call_id, "vmtag", Some(&local_tag), 4, OFF);
    assert_eq!(code(ask(&vm, to, &n4)), Some(200));
    assert_eq!(sipd.table_state("8000").map(|s| s.waiting), Some(false));
}

/// An unsolicited sipd whose MWI server is elsewhere (TEST-NET-1, never contacted), so only
/// the `allow` rule admits 127.0.0.1; `extra` goes at the end of `[mwi_server]` (it may open
/// further tables).
fn unsolicited_sipd(dir: &std::path::Path, ips: &[&str], extra: &str) -> Sipd {
    let sipd = Sipd::start_on(
        dir,
        ips,
        &format!(
            "[mwi_server]\nserver = \"ipv4:192.0.2.10\"\nunsolicited = true\n\
             allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n{extra}\
             [[fxs]]\nchannel = 1\nnumber = \"8000\"\n"
        ),
    );
    wait_for(10, "sipd status socket", || sipd.status());
    sipd
}

#[test]
fn ipv4_allow_rule_matches_on_an_ipv6_any_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Regression: on udp:[::] the source is ::ffff:127.0.0.1, which got 403.
    let sipd = unsolicited_sipd(dir.path(), &["::"], "");
    let to: SocketAddr = ([127, 0, 0, 1], sipd.port).into();
    let n = notify("mapped-1", "vmtag", None, 1, ON);
    assert_eq!(code(ask(&socket("127.0.0.1"), to, &n)), Some(200));
    assert_eq!(sipd.table_state("8000").map(|s| s.new), Some(3));
    // 127.0.0.2 is not allowed: 403 still.
    let n = notify("mapped-2", "vmtag", None, 1, OFF);
    assert_eq!(code(ask(&socket("127.0.0.2"), to, &n)), Some(403));
    assert_eq!(sipd.table_state("8000").map(|s| s.new), Some(3));
}

/// `sipd status ARGS` of `sipd`'s config: its standard output.
fn status(sipd: &Sipd, args: &[&str]) -> String {
    let (ok, out, err) = sipd.cli(&[&["status"], args].concat());
    assert!(ok, "{err}");
    out
}

#[test]
fn a_repeat_offender_is_blocked_listed_and_lifted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = unsolicited_sipd(
        dir.path(),
        &["127.0.0.1"],
        "[sip.block]\nfailures = 3\nwindow = 60\nduration = 3\n",
    );
    let to: SocketAddr = ([127, 0, 0, 1], sipd.port).into();
    let bad = socket("127.0.0.3");
    let good = socket("127.0.0.1");
    for i in 0..3 {
        let n = notify(&format!("bad-{i}"), "x", None, 1, OFF);
        assert_eq!(code(ask(&bad, to, &n)), Some(403), "attempt {i}");
    }
    // Blocked: no answer, to anything, however many packets.
    for i in 3..23 {
        bad.send_to(
            &notify(&format!("bad-{i}"), "x", None, 1, OFF).to_bytes(),
            to,
        )
        .expect("send");
    }
    assert!(
        ask(&bad, to, &notify("bad-last", "x", None, 1, OFF)).is_none(),
        "a blocked source gets no answer"
    );
    // A good source is still answered.
    let n = notify("good-1", "vmtag", None, 1, ON);
    assert_eq!(code(ask(&good, to, &n)), Some(200));
    assert_eq!(sipd.table_state("8000").map(|s| s.waiting), Some(true));

    let json: serde_json::Value =
        serde_json::from_str(&status(&sipd, &["--json"])).expect("status JSON");
    let blocked = json["blocked"].as_array().expect("blocked list");
    assert_eq!(blocked.len(), 1, "{json}");
    assert_eq!(blocked[0]["source"], "127.0.0.3");
    let left = blocked[0]["remaining"].as_u64().expect("remaining");
    assert!((1..=3).contains(&left), "{left}");
    assert!(blocked[0]["dropped"].as_u64().expect("dropped") >= 21);
    let text = status(&sipd, &[]);
    assert!(
        text.contains("Blocked sources: 1\nblocked 127.0.0.3 for "),
        "{text}"
    );

    // The block ends by itself (sipd wakes for it), logged once, and 127.0.0.3 is answered.
    wait_for(10, "the block to end", || {
        sipd.log().contains("unblocking 127.0.0.3").then_some(())
    });
    let log = sipd.log();
    assert_eq!(
        log.matches("blocking 127.0.0.3 for 3 s").count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("unblocking 127.0.0.3").count(), 1, "{log}");
    let n = notify("bad-after", "x", None, 1, OFF);
    assert_eq!(code(ask(&bad, to, &n)), Some(403));
    assert!(sipd.status().expect("status").blocked.is_empty());
}

#[test]
fn notify_auth_challenges_and_refuses_wrong_passwords() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = unsolicited_sipd(
        dir.path(),
        &["127.0.0.1"],
        "notify_auth = true\n[sip.auth]\nusername = \"user1\"\npassword = \"password1\"\n\
         [sip.block]\nfailures = 2\n",
    );
    let to: SocketAddr = ([127, 0, 0, 1], sipd.port).into();
    let vm = socket("127.0.0.1");
    let n = notify("auth-1", "vmtag", None, 1, ON);
    let ch = ask(&vm, to, &n).expect("a challenge");
    assert_eq!(ch.code(), Some(401));
    assert_eq!(
        sipd.table_state("8000"),
        None,
        "nothing before authentication"
    );
    let c = Challenge::parse(ch.header("WWW-Authenticate").expect("challenge")).expect("digest");
    let mut signed = notify("auth-1", "vmtag", None, 2, ON);
    let auth = c.answer(
        "user1",
        "password1",
        "NOTIFY",
        "sip:8000@127.0.0.1",
        1,
        "cn",
    );
    signed.set("Authorization", auth);
    assert_eq!(code(ask(&vm, to, &signed)), Some(200));
    assert_eq!(sipd.table_state("8000").map(|s| s.waiting), Some(true));
    // Wrong answers are refused (401) and change nothing; they never block the allowed server
    // (a forged source could otherwise lock it out).
    for i in 0..3 {
        let mut guess = notify(&format!("guess-{i}"), "vmtag", None, 1, OFF);
        let auth = c.answer("user1", "wrong", "NOTIFY", "sip:8000@127.0.0.1", 1, "cn");
        guess.set("Authorization", auth);
        assert_eq!(code(ask(&vm, to, &guess)), Some(401), "guess {i}");
    }
    assert_eq!(sipd.table_state("8000").map(|s| s.waiting), Some(true));
    assert!(sipd.status().expect("status").blocked.is_empty());
}
