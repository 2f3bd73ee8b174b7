//! The lamps' state across faults, against the real sipd on loopback (issue 11 item 8): a
//! table with no slot left for a number answers its NOTIFY 500 with Retry-After (the notifier
//! tries again; nothing is lost silently), and a restarted sipd shows every lamp as the table
//! holds it. Secrets (issue 11 item 6): sipd registers at a SIPp registrar with the password
//! from a `password_file` in `$CREDENTIALS_DIRECTORY`, and a missing file is a start error
//! naming the path. Server faults (issue 11 item 7): when the MWI server's SRV records give two
//! targets and the first stops answering OPTIONS, the subscriptions move to the second.

use dahdi_mwi_tests::daemon::{wait_some as wait_for, Daemon};
use dahdi_mwi_tests::dns::{srv_server, SrvTarget};
use dahdi_mwi_tests::env::Sipd;
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::sipp::{run as sipp, scenario};
use mwi_config::Config;
use mwi_core::MwiState;
use sipd::daemon::{query_status, SipdStatus};
use sipd::ua::UaStatus;
use sipd::wire::Message;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ON: &str = "Messages-Waiting: yes\r\nVoice-Message: 2/0\r\n";

/// Unsolicited mode from 127.0.0.1 with FXS ports for `numbers`, the table holding `capacity`.
fn start(dir: &Path, capacity: u32, numbers: &[&str]) -> Sipd {
    let ports: String = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| format!("[[fxs]]\nchannel = {}\nnumber = \"{n}\"\n", i + 1))
        .collect();
    let sipd = Sipd::start_with_table(
        dir,
        &format!("capacity = {capacity}\n"),
        &format!(
            "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nunsolicited = true\n\
             allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n{ports}"
        ),
    );
    wait_for(10, "sipd status socket", || sipd.status());
    sipd
}

/// Send an unsolicited NOTIFY for `number` (`n` tells the transactions apart) and return the
/// final response.
fn notify(sipd: &Sipd, number: &str, n: u32) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut m = Message::request("NOTIFY", &format!("sip:{number}@127.0.0.1"));
    let local = sock.local_addr().expect("addr");
    m.push(
        "Via",
        format!("SIP/2.0/UDP {local};branch=z9hG4bKst{number}x{n}"),
    );
    m.push("Max-Forwards", "70");
    m.push("From", "<sip:vm@127.0.0.1>;tag=vm");
    m.push("To", format!("<sip:{number}@127.0.0.1>"));
    m.push("Call-ID", format!("state-{number}-{n}"));
    m.push("CSeq", format!("{n} NOTIFY"));
    m.push("Event", "message-summary");
    m.push("Content-Type", "application/simple-message-summary");
    m.body = ON.as_bytes().to_vec();
    sock.send_to(&m.to_bytes(), ("127.0.0.1", sipd.port))
        .expect("send");
    let mut buf = [0u8; 65_536];
    loop {
        let len = sock.recv(&mut buf).expect("an answer within 3 s");
        let r = Message::parse(&buf[..len]).expect("sipd sends valid SIP");
        if r.code().is_some_and(|c| c >= 200) {
            return r;
        }
    }
}

fn full_status(sipd: &Sipd) -> SipdStatus {
    query_status(&Config::load(&sipd.config).expect("config")).expect("status")
}

fn lamp(st: &UaStatus, number: &str) -> Option<(bool, bool)> {
    st.numbers
        .iter()
        .find(|n| n.number == number)
        .map(|n| (n.mwi, n.known))
}

#[test]
fn a_restarted_sipd_shows_the_lamps_the_table_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sipd = start(dir.path(), 16, &["8000", "8001"]);
    assert_eq!(notify(&sipd, "8000", 1).code(), Some(200));
    assert_eq!(lamp(&sipd.status().unwrap(), "8000"), Some((true, true)));
    sipd.daemon.stop();
    // Regression: after a restart status said "mwi status OFF (state unknown)".
    let sipd = start(dir.path(), 16, &["8000", "8001"]);
    let st = sipd.status().expect("status");
    assert_eq!(lamp(&st, "8000"), Some((true, true)), "{st:#?}");
    assert_eq!(lamp(&st, "8001"), Some((false, false)));
}

#[test]
fn a_number_no_longer_served_gives_its_table_slot_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sipd = start(dir.path(), 2, &["8000", "8001"]);
    assert_eq!(notify(&sipd, "8000", 1).code(), Some(200));
    assert_eq!(notify(&sipd, "8001", 1).code(), Some(200));
    sipd.daemon.stop();
    // 8001 is no longer served: at the start its slot is given back, and 8002 takes it
    // (before, the table stayed full and 8002 got 500; the 500 path is tested in
    // sipd/tests/ua.rs, full_table).
    let mut sipd = start(dir.path(), 2, &["8000", "8002"]);
    let r = notify(&sipd, "8002", 1);
    assert_eq!(r.code(), Some(200), "{r:?}\n{}", sipd.log());
    assert_eq!(sipd.table_state("8001"), None);
    assert!(sipd.table_state("8002").is_some_and(|s| s.waiting));
    assert!(sipd.table_state("8000").is_some_and(|s| s.waiting));
    let st = full_status(&sipd);
    assert_eq!(
        (
            st.limits.table.current,
            st.limits.table.limit,
            st.limits.table.refused
        ),
        (2, 2, 0),
        "{:?}",
        st.limits
    );
    assert_eq!(
        sipd.log()
            .matches("1 number(s) no longer served dropped")
            .count(),
        1
    );
    assert!(sipd.daemon.exited().is_none(), "sipd alive");
}

/// `[sip.auth]` of user1 with `password_file = "{file}"` and a `[registrar]` on `port`.
fn registering(file: &str, port: u16) -> String {
    format!(
        "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nunsolicited = true\n\
         options_interval = 0\n[[fxs]]\nchannel = 1\nnumber = \"8000\"\n\
         [registrar]\nserver = \"ipv4:127.0.0.1\"\nport = {port}\nexpires = 600\n\
         [sip.auth]\nusername = \"user1\"\npassword_file = \"{file}\"\n"
    )
}

#[test]
fn sipd_registers_with_the_password_from_its_credentials_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).expect("credentials dir");
    std::fs::write(creds.join("sip-password"), "s3cret-from-file\n").expect("password");
    let text = std::fs::read_to_string(scenario("registrar_auth.xml")).expect("scenario");
    let sf = dir.path().join("registrar.xml");
    std::fs::write(&sf, text.replace("PASSWORD", "s3cret-from-file")).expect("scenario");
    let port = free_port();
    let registrar = std::thread::spawn({
        let (dir, port) = (dir.path().to_owned(), port.to_string());
        move || {
            let sf = sf.to_str().expect("path").to_owned();
            sipp(
                &dir,
                "registrar",
                &["-sf", &sf, "-i", "127.0.0.1", "-p", &port, "-m", "1"],
            )
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let creds = creds.to_str().expect("path");
    let sipd = Sipd::start_via(
        dir.path(),
        &["127.0.0.1"],
        &registering("sip-password", port),
        &[],
        &[("CREDENTIALS_DIRECTORY", creds)],
    );
    assert!(
        registrar.join().expect("sipp thread"),
        "the SIPp registrar did not accept the password"
    );
    wait_for(10, "registered", || {
        sipd.status().filter(|s| s.registration == "registered")
    });
    assert!(
        !sipd.log().contains("s3cret"),
        "the password is never logged"
    );
}

#[test]
fn a_missing_password_file_is_a_start_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-password");
    let mut sipd = Sipd::start(dir.path(), &registering(missing.to_str().unwrap(), 5999));
    let status = wait_for(10, "sipd to exit", || sipd.daemon.exited());
    assert!(!status.success());
    let log = sipd.log();
    assert!(
        log.contains(&format!(
            "[sip.auth] password_file {}: No such file or directory",
            missing.display()
        )),
        "{log}"
    );
    // A relative name without $CREDENTIALS_DIRECTORY says what it needs.
    let mut sipd = Sipd::start(dir.path(), &registering("sip-password", 5999));
    let status = wait_for(10, "sipd to exit", || sipd.daemon.exited());
    assert!(!status.success());
    assert!(
        sipd.log().contains("needs $CREDENTIALS_DIRECTORY"),
        "{}",
        sipd.log()
    );
}

/// A voice-mail server that answers SUBSCRIBE 200 and ignores everything else (OPTIONS
/// included) until `stop`; returns its port and the count of SUBSCRIBEs it answered.
fn silent_vm(stop: Arc<AtomicBool>) -> (u16, Arc<std::sync::atomic::AtomicU32>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let port = sock.local_addr().expect("addr").port();
    let count = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        let mut buf = [0u8; 65_536];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let Ok(m) = Message::parse(&buf[..n]) else {
                continue;
            };
            if m.is_request() && m.method() == "SUBSCRIBE" {
                seen.fetch_add(1, Ordering::Relaxed);
                let mut r = m.response(200, "OK", "silentvm");
                r.push("Expires", "3600");
                sock.send_to(&r.to_bytes(), from).expect("send");
            }
        }
    });
    (port, count)
}

#[test]
fn options_down_moves_the_subscriptions_to_the_next_srv_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stop = Arc::new(AtomicBool::new(false));
    let (first, subscribes) = silent_vm(Arc::clone(&stop));
    let second = free_port();
    let srv = |priority, port| SrvTarget {
        priority,
        port,
        target: "127.0.0.1",
    };
    let dns = srv_server(vec![srv(10, first), srv(20, second)], Arc::clone(&stop));
    // The second target: SIPp's voice-mail server (-aa answers the OPTIONS pings).
    let sf = scenario("vm_server.xml");
    let mut vm = Daemon::spawn_command(
        "sipp",
        Command::new("sipp")
            .arg("-sf")
            .arg(&sf)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &second.to_string(),
                "-m",
                "1",
                "-aa",
            ])
            .args(["-timeout", "90s", "-timeout_error", "-nostdin"]),
        &dir.path().join("sipp-second.log"),
    );
    let sipd = Sipd::start_via(
        dir.path(),
        &["127.0.0.1"],
        "[mwi_server]\nserver = \"dns:vm.test\"\noptions_interval = 1\n\
         options_failures = 1\n[[fxs]]\nchannel = 1\nnumber = \"8000\"\n",
        &[],
        &[("SIPD_NAMESERVERS", &dns.to_string())],
    );
    wait_for(10, "the SUBSCRIBE at the first target", || {
        (subscribes.load(Ordering::Relaxed) > 0).then_some(())
    });
    let st = sipd.status().expect("status");
    assert_eq!(st.target, format!("127.0.0.1:{first}"), "{st:?}");
    // Timer F (32 s) ends the first unanswered OPTIONS: down, move to the second target.
    let lamp = MwiState {
        waiting: true,
        new: 3,
        old: 1,
        urgent_new: 1,
        ..MwiState::default()
    };
    wait_for(60, "the lamp from the second target", || {
        (sipd.table_state("8000") == Some(lamp)).then_some(())
    });
    let st = sipd.status().expect("status");
    assert_eq!(st.target, format!("127.0.0.1:{second}"), "{st:?}");
    assert_eq!(st.failovers, 1);
    assert_eq!(st.numbers[0].subscription, "active", "{st:?}");
    assert_eq!(sipd.log().matches("subscriptions move to").count(), 1);
    let status = wait_for(20, "SIPp to finish", || vm.exited());
    assert!(status.success(), "SIPp's voice-mail scenario failed");
    stop.store(true, Ordering::Relaxed);
}
