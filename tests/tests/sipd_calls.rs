//! FXS ports as SIP lines, sipd's side (issue 12), on loopback: a fake chand written with the
//! callctl crate listens on `<runtime_dir>/callctl.sock`; SIPp plays the far end as UAS
//! (`-rtp_echo`) and as UAC. A missing SIPp fails the tests.

use callctl::wire::Message as Ctl;
use callctl::{CallId, Cause, Privacy};
use dahdi_mwi_tests::daemon::{wait_some as wait_for, Daemon};
use dahdi_mwi_tests::env::Sipd;
use dahdi_mwi_tests::fakechand::FakeChand;
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::sipp::{passed, scenario, spawn as sipp};
use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

/// sipd with port 2 = 8000 and `[sip.proxy]` at 127.0.0.1:`proxy_port`.
fn sipd(dir: &Path, proxy_port: u16) -> Sipd {
    let s = Sipd::start(
        dir,
        &format!(
            "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = 5999\nunsolicited = true\n\
             options_interval = 0\n\
             [sip.proxy]\nserver = \"ipv4:127.0.0.1\"\nport = {proxy_port}\n\
             [[fxs]]\nchannel = 2\nnumber = \"8000\"\nmwi = false\n"
        ),
    );
    wait_for(10, "sipd status socket", || s.status());
    s
}

/// SIPp as the called party on a free port; returns it, its SIP port and its RTP port.
fn sipp_uas(dir: &Path, name: &str, file: &str) -> (Daemon, u16, u16) {
    let port = free_port();
    let rtp = free_port();
    let media = rtp.to_string();
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
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    (p, port, rtp)
}

#[test]
fn outgoing_call_rings_connects_and_hangs_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut uas, port, rtp) = sipp_uas(dir.path(), "uas", "call_uas.xml");
    let s = sipd(dir.path(), port);
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    let call = chand.dial(2, "5551234");
    chand.expect(10, "Ringback", |m| {
        matches!(m, Ctl::Ringback { call: c } if *c == call).then_some(())
    });
    let media = chand.expect(10, "Connected", |m| match m {
        Ctl::Connected { call: c, media } if *c == call => Some(*media),
        _ => None,
    });
    assert_eq!(
        media.remote_rtp,
        ([127, 0, 0, 1], rtp).into(),
        "SIPp's -rtp_echo socket"
    );
    assert_eq!(media.codec, callctl::Codec::Pcmu);
    assert_eq!(media.telephone_event_pt, Some(101));
    let status = sipd::daemon::query_status(&mwi_config::Config::load(&s.config).expect("cfg"))
        .expect("status");
    assert_eq!(status.calls.len(), 1);
    assert_eq!(status.calls[0].state, "connected");
    assert_eq!(status.calls[0].channel, Some(2));
    chand.say(Ctl::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    assert!(passed(dir.path(), "uas", &mut uas), "SIPp saw no BYE");
    assert!(s.log().contains("call_id"), "call lines carry the Call-ID");
}

#[test]
fn busy_far_end_gives_cause_17() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut uas, port, _) = sipp_uas(dir.path(), "busy", "call_busy.xml");
    let s = sipd(dir.path(), port);
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    let call = chand.dial(2, "5551234");
    let cause = chand.expect(10, "Hangup", |m| match m {
        Ctl::Hangup { call: c, cause } if *c == call => Some(*cause),
        _ => None,
    });
    assert_eq!(cause, Cause::USER_BUSY);
    assert!(passed(dir.path(), "busy", &mut uas), "SIPp saw no ACK");
}

#[test]
fn chand_gone_mid_call_sends_bye() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut uas, port, _) = sipp_uas(dir.path(), "lost", "call_uas.xml");
    let s = sipd(dir.path(), port);
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    let call = chand.dial(2, "5551234");
    chand.expect(10, "Connected", |m| {
        matches!(m, Ctl::Connected { call: c, .. } if *c == call).then_some(())
    });
    drop(chand);
    assert!(passed(dir.path(), "lost", &mut uas), "SIPp saw no BYE");
}

/// SIPp calling 8000 at sipd with `file`.
fn sipp_uac(dir: &Path, s: &Sipd, name: &str, file: &str) -> Daemon {
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
            "8000",
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

fn incoming(chand: &mut FakeChand) -> CallId {
    chand
        .expect(10, "Incoming", |m| match m {
            Ctl::Incoming {
                call,
                port: 2,
                number,
                name,
                privacy: Privacy::Allowed,
            } => {
                assert_eq!(number.as_str(), "5551234");
                Some((*call, name.as_str().to_owned()))
            }
            _ => None,
        })
        .0
}

#[test]
fn incoming_call_rings_answers_and_ends_with_bye() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sipd(dir.path(), 5998);
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    let mut uac = sipp_uac(dir.path(), &s, "uac", "call_uac.xml");
    let call = incoming(&mut chand);
    chand.answer_until_hangup(call, "127.0.0.1:20002");
    assert!(passed(dir.path(), "uac", &mut uac));
}

#[test]
fn cancel_while_ringing_gives_487_and_hangup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sipd(dir.path(), 5998);
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    let mut uac = sipp_uac(dir.path(), &s, "cancel", "call_cancel.xml");
    let call = incoming(&mut chand);
    chand.say(Ctl::Alerting { call });
    chand.expect(10, "Hangup", |m| {
        matches!(m, Ctl::Hangup { call: c, .. } if *c == call).then_some(())
    });
    assert!(passed(dir.path(), "cancel", &mut uac));
}

/// The status code sipd answers a bare INVITE for `user` with.
fn invite_code(s: &Sipd, user: &str) -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = sock.local_addr().expect("addr");
    let req = format!(
        "INVITE sip:{user}@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKraw{user}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:x@{local}>;tag=t\r\nTo: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: raw-{user}-{}\r\nCSeq: 1 INVITE\r\nContact: <sip:x@{local}>\r\n\
         Content-Length: 0\r\n\r\n",
        local.port(),
        port = s.port
    );
    sock.send_to(req.as_bytes(), ("127.0.0.1", s.port))
        .expect("send");
    let mut buf = [0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).expect("an answer from sipd");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code: u16 = text[8..11].parse().expect("status line");
        if code >= 200 {
            return code;
        }
    }
}

#[test]
fn unknown_numbers_get_404_and_no_chand_503() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sipd(dir.path(), 5998);
    assert_eq!(invite_code(&s, "9999"), 404);
    assert_eq!(invite_code(&s, "8000"), 503, "chand is not connected");
}
