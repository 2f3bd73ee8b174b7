//! The PRI trunk, sipd's side (issue 13), on loopback: the real sipd, a fake chand written
//! with the callctl crate on `<runtime_dir>/callctl.sock` standing in for the PBX's span, and
//! SIPp as the SIP caller and called party. A missing SIPp fails the tests.

use callctl::wire::Message as Ctl;
use callctl::{CallId, Cause, Privacy};
use dahdi_mwi_tests::daemon::{wait_some as wait_for, Daemon};
use dahdi_mwi_tests::env::Sipd;
use dahdi_mwi_tests::fakechand::FakeChand;
use dahdi_mwi_tests::sip::{free_port, VoiceMail};
use dahdi_mwi_tests::sipp::{passed, scenario, spawn as sipp};
use std::path::Path;
use std::time::Duration;

/// sipd with port 2 = 8000, span 1 (numbers 2..., `[pri.calls]`), span 2 (numbers 3...,
/// no calls), `[sip.auth]` gw/secret and `[sip.proxy]` at 127.0.0.1:`proxy_port`.
fn sipd(dir: &Path, proxy_port: u16) -> Sipd {
    let s = Sipd::start(
        dir,
        &format!(
            "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = 5999\nunsolicited = true\n\
             options_interval = 0\n\
             [sip.auth]\nusername = \"gw\"\npassword = \"secret\"\n\
             [sip.proxy]\nserver = \"ipv4:127.0.0.1\"\nport = {proxy_port}\n\
             [[fxs]]\nchannel = 2\nnumber = \"8000\"\nmwi = false\n\
             [[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"2...\"]\n[pri.calls]\ntimeslots = \"1,3-23\"\n\
             [[pri]]\nspan = 2\ndchannel = 48\nnumbers = [\"3...\"]\n"
        ),
    );
    wait_for(10, "sipd status socket", || s.status());
    s
}

/// SIPp as the called party on a free port, its messages traced to `dir/sipp-NAME.msg`;
/// returns it and its SIP port.
fn sipp_uas(dir: &Path, name: &str, file: &str) -> (Daemon, u16) {
    let port = free_port();
    let media = free_port().to_string();
    let trace = dir.join(format!("sipp-{name}.msg"));
    let p = sipp(
        dir,
        name,
        &[
            "-sf",
            scenario(file).to_str().expect("path"),
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-mp",
            &media,
            "-rtp_echo",
            "-m",
            "1",
            "-trace_msg",
            "-message_file",
            trace.to_str().expect("path"),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    (p, port)
}

/// The first INVITE SIPp `name` received, as traced.
fn received_invite(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(format!("sipp-{name}.msg"))).expect("trace");
    let start = text.find("INVITE sip:").expect("an INVITE in SIPp's trace");
    let end = text[start..].find("\n\n").map_or(text.len(), |e| start + e);
    text[start..end].to_owned()
}

/// SIPp calling `user` at sipd with `file`.
fn sipp_uac(dir: &Path, s: &Sipd, name: &str, file: &str, user: &str) -> Daemon {
    let target = format!("127.0.0.1:{}", s.port);
    let port = free_port().to_string();
    let media = free_port().to_string();
    sipp(
        dir,
        name,
        &[
            &target,
            "-sf",
            scenario(file).to_str().expect("path"),
            "-s",
            user,
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-mp",
            &media,
            "-m",
            "1",
        ],
    )
}

/// The next `TrunkIncoming`, checked against SIPp's caller 5551234 named `name` for
/// `called` on span 1.
fn trunk_incoming(chand: &mut FakeChand, called: &str, name: &str) -> CallId {
    let (call, span, to, number, caller, privacy) = chand.trunk_incoming();
    assert_eq!(
        (span, to.as_str(), number.as_str(), caller.as_str(), privacy),
        (1, called, "5551234", name, Privacy::Allowed)
    );
    call
}

#[test]
fn sip_call_to_the_pbx_is_answered_and_the_caller_hangs_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sipd(dir.path(), 5998);
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    let mut uac = sipp_uac(dir.path(), &s, "uac", "call_uac.xml", "2001");
    let call = trunk_incoming(&mut chand, "2001", "Alice Smith");
    chand.answer(call, "127.0.0.1:20002");
    let st = s.status_json().expect("status");
    let c = &st["calls"][0];
    assert_eq!(
        (&c["span"], &c["called"], &c["calling"], &c["state"]),
        (
            &1.into(),
            &"2001".into(),
            &"5551234".into(),
            &"connected".into()
        ),
        "{st:#}"
    );
    assert!(
        c["duration_s"].is_u64() && c.get("channel").is_none(),
        "{st:#}"
    );
    chand.expect(10, "Hangup", |m| {
        matches!(m, Ctl::Hangup { call: c, cause } if *c == call && *cause == Cause::NORMAL_CLEARING)
            .then_some(())
    });
    assert!(passed(dir.path(), "uac", &mut uac));
    let log = s.log();
    assert!(
        log.lines()
            .any(|l| l.contains("span 1") && l.contains(" span=1") && l.contains("call_id=")),
        "trunk call lines carry SPAN and CALL_ID:\n{log}"
    );
}

#[test]
fn sip_call_to_the_pbx_is_ended_by_the_pbx_with_bye() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sipd(dir.path(), 5998);
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    let mut uac = sipp_uac(dir.path(), &s, "farbye", "call_uac_far_bye.xml", "+2002");
    let call = trunk_incoming(&mut chand, "2002", "Alice Smith");
    chand.answer(call, "127.0.0.1:20004");
    chand.say(Ctl::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    assert!(passed(dir.path(), "farbye", &mut uac), "SIPp saw no BYE");
}

#[test]
fn cancel_before_the_pbx_answers_gives_487_and_hangup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sipd(dir.path(), 5998);
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    let mut uac = sipp_uac(dir.path(), &s, "cancel", "call_cancel.xml", "2003");
    let call = trunk_incoming(&mut chand, "2003", "");
    chand.say(Ctl::Alerting { call });
    chand.expect(10, "Hangup", |m| {
        matches!(m, Ctl::Hangup { call: c, .. } if *c == call).then_some(())
    });
    assert!(passed(dir.path(), "cancel", &mut uac));
}

/// The status line sipd answers a bare INVITE for `user` with.
fn invite_status(s: &Sipd, user: &str) -> String {
    let vm = VoiceMail::bind().expect("bind");
    let local = vm.local_addr();
    let req = format!(
        "INVITE sip:{user}@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKtrunk{user}\r\n\
         Max-Forwards: 70\r\nFrom: \"Bob\" <sip:5550000@{local}>;tag=t\r\n\
         To: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: trunk-{user}-{}\r\nCSeq: 1 INVITE\r\nContact: <sip:x@{local}>\r\n\
         Content-Length: 0\r\n\r\n",
        local.port(),
        port = s.port
    );
    let to = ([127, 0, 0, 1], s.port).into();
    vm.send(&req, to, Duration::from_secs(10))
        .expect("a final response from sipd")
}

#[test]
fn pbx_causes_give_sip_errors_and_refused_numbers_get_404() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sipd(dir.path(), 5998);
    assert!(
        invite_status(&s, "2001").starts_with("SIP/2.0 503"),
        "chand is not connected"
    );
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    for user in ["3001", "2abc", "abcd"] {
        let line = invite_status(&s, user);
        assert!(line.starts_with("SIP/2.0 404"), "{user}: {line}");
    }
    assert!(
        s.log().contains("span 2 serves it, but has no [pri.calls]"),
        "the refusal is logged"
    );
    for (cause, code) in [(34, "503"), (17, "486"), (27, "502")] {
        let user = format!("20{cause}");
        std::thread::scope(|sc| {
            let answer = sc.spawn(|| invite_status(&s, &user));
            let call = chand.expect(10, "TrunkIncoming", |m| match m {
                Ctl::TrunkIncoming { call, called, .. } if called.as_str() == user => Some(*call),
                _ => None,
            });
            chand.say(Ctl::Hangup {
                call,
                cause: Cause(cause),
            });
            let line = answer.join().expect("INVITE thread");
            assert!(
                line.starts_with(&format!("SIP/2.0 {code}")),
                "cause {cause}: {line}"
            );
        });
    }
}

#[test]
fn pbx_call_to_sip_carries_the_pbx_caller_and_ends_with_bye() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut uas, port) = sipp_uas(dir.path(), "uas", "call_uas.xml");
    let s = sipd(dir.path(), port);
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    let call = chand.trunk_dial(1, "789", ("2001", "Ann Smith", Privacy::Allowed));
    chand.expect(10, "Ringback", |m| {
        matches!(m, Ctl::Ringback { call: c } if *c == call).then_some(())
    });
    chand.expect(10, "Connected", |m| {
        matches!(m, Ctl::Connected { call: c, .. } if *c == call).then_some(())
    });
    let st = s.status_json().expect("status");
    let c = &st["calls"][0];
    assert_eq!(
        (&c["span"], &c["called"], &c["calling"], &c["direction"]),
        (&1.into(), &"789".into(), &"2001".into(), &"outgoing".into()),
        "{st:#}"
    );
    chand.say(Ctl::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    assert!(passed(dir.path(), "uas", &mut uas), "SIPp saw no BYE");
    let invite = received_invite(dir.path(), "uas");
    assert!(
        invite.starts_with(&format!("INVITE sip:789@127.0.0.1:{port} SIP/2.0")),
        "{invite}"
    );
    assert!(
        invite.contains("From: \"Ann Smith\" <sip:2001@127.0.0.1>;tag="),
        "{invite}"
    );
}

#[test]
fn restricted_pbx_caller_is_anonymous_and_the_challenge_is_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut uas, port) = sipp_uas(dir.path(), "auth", "call_uas_auth.xml");
    let s = sipd(dir.path(), port);
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    let call = chand.trunk_dial(1, "789", ("2001", "", Privacy::Restricted));
    chand.expect(10, "Connected", |m| {
        matches!(m, Ctl::Connected { call: c, .. } if *c == call).then_some(())
    });
    chand.say(Ctl::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    assert!(passed(dir.path(), "auth", &mut uas), "digest, 200 and BYE");
    let invite = received_invite(dir.path(), "auth");
    assert!(
        invite.contains("From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=")
            && invite.contains("Privacy: id")
            && !invite.contains("2001"),
        "{invite}"
    );
}
