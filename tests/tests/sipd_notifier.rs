//! sipd as a message-summary notifier for SIP phones (issue 14 item 6) on loopback: the real
//! sipd, SIPp as the phone subscribing with digest credentials, a scripted voice-mail server's
//! unsolicited NOTIFYs and a fake chand's `PbxMwi` (a lamp the PBX set) changing the state.
//! Refusals: a source outside `[notifier] allow` (403), another event package (489). The PBX
//! lamp of a number no port serves survives a restart. And the whole path from libpri's
//! MWIActivate through the real chand. A missing SIPp, gcc or libpri-dev fails the tests.

use callctl::wire::Message as Ctl;
use callctl::{Digits, PbxMwi};
use chand::backend::sim::dchan_socket_path;
use dahdi_mwi_tests::daemon::{wait_some as wait_for, Daemon};
use dahdi_mwi_tests::env::{Chand, Env, Sipd};
use dahdi_mwi_tests::fakechand::FakeChand;
use dahdi_mwi_tests::libpri::{LibpriPbx, LibpriSide};
use dahdi_mwi_tests::sip::{free_port, Summary, VoiceMail};
use dahdi_mwi_tests::sipp::{passed, scenario, spawn as sipp};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// sipd with port 2 = 8000, span 1 (numbers 2...), unsolicited NOTIFYs from 127.0.0.1, and
/// the notifier on for 127.0.0.1 with the accounts 8000/s3cret and 9000/p9, challenging with
/// MD5 only (SIPp 3.6 answers only MD5, and only the first challenge).
fn sipd(dir: &Path) -> Sipd {
    let s = Sipd::start(
        dir,
        "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = 5999\nunsolicited = true\n\
         allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n\
         [[fxs]]\nchannel = 2\nnumber = \"8000\"\n\
         [[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"2...\"]\n\
         [notifier]\nenabled = true\nallow = [\"127.0.0.1/32\"]\nalgorithms = [\"MD5\"]\n\
         [[notifier.account]]\nusername = \"8000\"\npassword = \"s3cret\"\n\
         [[notifier.account]]\nusername = \"9000\"\npassword = \"p9\"\n",
    );
    wait_for(10, "sipd status socket", || s.status());
    s
}

/// A notifier counter of `sipd status --json`.
fn counter(s: &Sipd, name: &str) -> u64 {
    let st = s.status_json().expect("status");
    st["notifier"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no notifier.{name} in {st}"))
}

/// SIPp as the phone of account 8000 (tests/scenarios/notifier_phone.xml) subscribed to sipd
/// at `to`, its messages traced into `trace` when given.
fn phone(dir: &Path, to: SocketAddr, trace: Option<&Path>) -> Daemon {
    let port = free_port().to_string();
    // SIPp's digest uri is the remote address unless told (it adds the "sip:" itself).
    let auth_uri = format!("8000@{to}");
    let to = to.to_string();
    let scenario = scenario("notifier_phone.xml");
    let mut args = vec![
        "-sf",
        scenario.to_str().expect("path"),
        "-s",
        "8000",
        "-au",
        "8000",
        "-ap",
        "s3cret",
        "-auth_uri",
        &auth_uri,
        "-i",
        "127.0.0.1",
        "-p",
        &port,
        "-m",
        "1",
    ];
    if let Some(t) = trace {
        args.extend(["-trace_msg", "-message_file", t.to_str().expect("path")]);
    }
    args.push(&to);
    sipp(dir, "phone", &args)
}

/// The voice-mail server tells sipd the state of 8000; sipd answers 200.
fn voice_mail(vm: &mut VoiceMail, to: SocketAddr, waiting: bool, new: u32, old: u32) {
    let summary = Summary {
        number: "8000".into(),
        waiting,
        new,
        old,
    };
    let text = vm.notify_text(&summary, to);
    let answer = vm.send(&text, to, Duration::from_secs(5)).expect("answer");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
}

#[test]
fn a_subscribed_phone_hears_of_every_change_whatever_its_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sipd(dir.path());
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    let to: SocketAddr = format!("127.0.0.1:{}", s.port).parse().unwrap();
    let mut vm = VoiceMail::bind().expect("bind");
    voice_mail(&mut vm, to, true, 1, 0);
    let trace = dir.path().join("sipp-phone.msg");
    let mut phone = phone(dir.path(), to, Some(&trace));
    let told = |what: &str| {
        format!(
            "{what}; sipd log:\n{}\nSIPp:\n{}{}",
            s.log(),
            std::fs::read_to_string(&trace).unwrap_or_default(),
            std::fs::read_to_string(dir.path().join("sipp-phone.err")).unwrap_or_default()
        )
    };
    let sent = |n: u64, secs: u64| {
        let end = Instant::now() + Duration::from_secs(secs);
        while counter(&s, "notifies_sent") < n {
            assert!(
                Instant::now() < end,
                "{}",
                told(&format!("no NOTIFY #{n} in {secs} s"))
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    sent(1, 10);
    assert_eq!(counter(&s, "subscriptions"), 1);
    // A NOTIFY of the voice-mail server changes the state: the phone hears of it.
    voice_mail(&mut vm, to, false, 0, 1);
    sent(2, 10);
    // The PBX lights 8000's lamp (an FXS port's number): the phone hears of it within 1 s.
    let pbx_at = Instant::now();
    chand.say(Ctl::PbxMwi(PbxMwi {
        span: 1,
        number: Digits::try_from("8000").unwrap(),
        on: true,
        messages: Some(5),
    }));
    sent(3, 1);
    eprintln!("PbxMwi to NOTIFY sent: {:?}", pbx_at.elapsed());
    assert!(
        passed(dir.path(), "phone", &mut phone),
        "{}",
        told("SIPp failed")
    );
    assert_eq!(counter(&s, "subscriptions"), 0);
    assert_eq!(counter(&s, "notifies_sent"), 4);
    assert_eq!(counter(&s, "notify_failures"), 0);
    // The table has the PBX's state too: the port's lamp follows.
    assert!(s.table_state("8000").expect("8000 in the table").waiting);
}

/// The whole reverse path with a real PBX stack (issue 14, "Done when"): libpri 1.6 sends an
/// MWIActivate for 8000 (`pri_mwi_activate`, a call-independent SETUP) on the real chand's sim
/// D-channel; chand answers it and tells sipd (`PbxMwi`); the phone subscribed to 8000 gets its
/// NOTIFY within 1 s, and the port's lamp follows in the table.
#[test]
fn a_libpri_mwi_activate_reaches_a_subscribed_phone_within_a_second() {
    let env = Env::new();
    let sip = free_port();
    let cfg = env.write_config(&format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{sip}\"]\n\
         [mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = 5999\nunsolicited = true\n\
         allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n\
         [[fxs]]\nchannel = 2\nnumber = \"8000\"\n\
         [[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"2...\"]\n\
         [notifier]\nenabled = true\nallow = [\"127.0.0.1/32\"]\nalgorithms = [\"MD5\"]\n\
         [[notifier.account]]\nusername = \"8000\"\npassword = \"s3cret\"\n"
    ));
    let chand = Chand::start(&env, &cfg);
    let s = Sipd::start_in(&env, &cfg);
    wait_for(10, "sipd and chand linked", || {
        chand
            .daemon
            .log()
            .contains("call control: sipd up")
            .then_some(())
    });
    let to: SocketAddr = format!("127.0.0.1:{sip}").parse().unwrap();
    let mut vm = VoiceMail::bind().expect("bind");
    voice_mail(&mut vm, to, true, 1, 0);
    let dir = env.path();
    let mut phone = phone(dir, to, None);
    let sent = |n: u64, within: Duration| {
        let end = Instant::now() + within;
        while counter(&s, "notifies_sent") < n {
            assert!(
                Instant::now() < end,
                "no NOTIFY #{n} within {within:?}; sipd:\n{}\nchand:\n{}",
                s.log(),
                chand.daemon.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    sent(1, Duration::from_secs(10));
    voice_mail(&mut vm, to, false, 0, 1);
    sent(2, Duration::from_secs(10));
    let mut pbx = LibpriPbx::spawn_args(
        &dchan_socket_path(&env.sim_dir, 24),
        LibpriSide::Network,
        &["--mwi", "8000", "--calling", "2000"],
    );
    assert!(
        pbx.wait(Duration::from_secs(10), |p| p
            .calls
            .iter()
            .any(|l| l.starts_with("SENT MWI"))),
        "libpri sent no MWIActivate:\n{}",
        pbx.tail(30)
    );
    let at = Instant::now();
    sent(3, Duration::from_secs(1));
    eprintln!(
        "figure: libpri's MWIActivate to sipd's NOTIFY: {:?}",
        at.elapsed()
    );
    assert!(
        passed(dir, "phone", &mut phone),
        "SIPp failed:\n{}",
        s.log()
    );
    assert!(s.table_state("8000").expect("8000 in the table").waiting);
}

/// A SUBSCRIBE for `number` from `phone` with `event`, outside any dialog.
fn subscribe_text(phone: SocketAddr, to: SocketAddr, number: &str, event: &str) -> String {
    format!(
        "SUBSCRIBE sip:{number}@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {phone};branch=z9hG4bK-{number}-{event}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{number}@{to}>;tag=ph\r\n\
         To: <sip:{number}@{to}>\r\n\
         Call-ID: {event}-{number}@test\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:{number}@{phone}>\r\n\
         Event: {event}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn refusals_and_pbx_lamps_for_sip_phones_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = sipd(dir.path());
    let to: SocketAddr = format!("127.0.0.1:{}", s.port).parse().unwrap();
    // A source outside [notifier] allow: 403 (127.0.0.2 is loopback too).
    let outsider = VoiceMail::bind_on("127.0.0.2").expect("bind");
    let text = subscribe_text(outsider.local_addr(), to, "8000", "message-summary");
    let answer = outsider
        .send(&text, to, Duration::from_secs(5))
        .expect("answer");
    assert!(answer.starts_with("SIP/2.0 403"), "{answer}");
    // Another event package: 489.
    let insider = VoiceMail::bind().expect("bind");
    let text = subscribe_text(insider.local_addr(), to, "8000", "presence");
    let answer = insider
        .send(&text, to, Duration::from_secs(5))
        .expect("answer");
    assert!(answer.starts_with("SIP/2.0 489"), "{answer}");
    // A lamp the PBX set for 9000, which no port serves: kept for SIP phones, on disk.
    let mut chand = FakeChand::listen(&s.dir.join("run"), 2);
    chand.say(Ctl::PbxMwi(PbxMwi {
        span: 1,
        number: Digits::try_from("9000").unwrap(),
        on: true,
        messages: Some(2),
    }));
    wait_for(5, "9000 known to the notifier", || {
        (counter(&s, "states") >= 1).then_some(())
    });
    assert_eq!(s.table_state("9000"), None);
    assert!(s.daemon.stop().success());
    let saved = std::fs::read_to_string(dir.path().join("state/notifier-states"))
        .expect("notifier-states written");
    assert!(saved.contains("9000"), "{saved}");
    drop(chand);
    drop(s);
    let s = sipd(dir.path());
    assert_eq!(counter(&s, "states"), 1, "9000 not restored:\n{}", s.log());
}
