//! The shared table file truncated, then replaced, by another process while sipd and chand
//! run and NOTIFYs keep coming (issue 11 item 8): both daemons stay alive (no SIGBUS death),
//! each logs the event with its reason, sipd re-creates the table and publishes every number's
//! last state into it, chand re-opens it, and every lamp ends up equal to the last NOTIFY of
//! its number. Sim back-end, no PBX or phone needed: the lamps are read from `chand status`.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dahdi_mwi_tests::daemon::wait_for;
use dahdi_mwi_tests::env::{Chand, Env, Sipd};
use dahdi_mwi_tests::sip::{free_port, Summary, VoiceMail};

const FXS: [&str; 4] = ["8000", "8001", "8002", "8003"];
const PRI: [&str; 4] = ["2001", "2002", "2003", "2004"];

/// Last acknowledged NOTIFY per number: (waiting, new).
type Last = Arc<Mutex<HashMap<String, (bool, u32)>>>;

/// Send NOTIFYs round-robin over every number, each a new state, until `stop`; record the
/// state of each one sipd answered 200.
fn notify_loop(sip: std::net::SocketAddr, last: Last, stop: Arc<AtomicBool>) -> u32 {
    let mut vm = VoiceMail::bind().unwrap();
    let mut sent = 0u32;
    let numbers: Vec<&str> = FXS.iter().chain(PRI.iter()).copied().collect();
    while !stop.load(Ordering::Relaxed) {
        for number in &numbers {
            sent += 1;
            let state = (sent % 3 != 0, sent % 7);
            let summary = Summary {
                number: (*number).into(),
                waiting: state.0,
                new: state.1,
                old: 0,
            };
            let text = vm.notify_text(&summary, sip);
            let answer = vm.send(&text, sip, Duration::from_secs(5)).unwrap();
            assert_eq!(answer, "SIP/2.0 200 OK", "NOTIFY {number} #{sent}");
            last.lock().unwrap().insert((*number).into(), state);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    sent
}

/// Whether every lamp chand shows is the last acknowledged NOTIFY of its number; the
/// mismatches otherwise.
fn mismatches(chand: &Chand, last: &HashMap<String, (bool, u32)>) -> Vec<String> {
    let st = chand.status();
    let mut wrong = Vec::new();
    for n in FXS {
        let p = st.port(n).expect("FXS port");
        if (p.mwi, p.new) != last[n] {
            wrong.push(format!(
                "{n}: port {:?}/{}, NOTIFY {:?}",
                p.mwi, p.new, last[n]
            ));
        }
    }
    for n in PRI {
        let lamp = st.pri[0].lamps.iter().find(|l| l.number == n);
        if lamp.map(|l| l.wanted) != Some(last[n].0) {
            wrong.push(format!("{n}: lamp {lamp:?}, NOTIFY {:?}", last[n]));
        }
    }
    wrong
}

#[test]
fn a_truncated_then_replaced_table_is_survived_and_every_lamp_ends_right() {
    let env = Env::new();
    let port = free_port();
    let cfg = env.write_config(&format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\n\
         [mwi_server]\nserver = \"ipv4:127.0.0.1\"\nunsolicited = true\n\
         allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n\
         [[fxs]]\nchannel = 1\nnumber = \"8000\"\n\
         [[fxs]]\nchannel = 2\nnumber = \"8001\"\n\
         [[fxs]]\nchannel = 3\nnumber = \"8002\"\n\
         [[fxs]]\nchannel = 4\nnumber = \"8003\"\n\
         [[pri]]\nspan = 1\ndchannel = 24\nside = \"user\"\nnumbers = [\"2...\"]\n"
    ));
    let mut sipd = Sipd::start_in(&env, &cfg);
    let mut chand = Chand::start(&env, &cfg);
    let sip = ([127, 0, 0, 1], port).into();
    let last: Last = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (last, stop) = (last.clone(), stop.clone());
        std::thread::spawn(move || notify_loop(sip, last, stop))
    };
    std::thread::sleep(Duration::from_millis(1500));

    // `truncate -s 0` of the live table: same inode, every page gone.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&env.table_path)
        .unwrap()
        .set_len(0)
        .unwrap();
    std::thread::sleep(Duration::from_millis(3000));
    sipd.daemon.assert_running();
    chand.daemon.assert_running();

    // Another empty file renamed over the path: another inode.
    let other = env.path().join("other-table");
    std::fs::write(&other, b"").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o660)).unwrap();
    std::fs::rename(&other, &env.table_path).unwrap();
    std::thread::sleep(Duration::from_millis(3000));

    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().expect("the NOTIFY sender");
    assert!(sent > 100, "only {sent} NOTIFYs");
    sipd.daemon.assert_running();
    chand.daemon.assert_running();

    let last = last.lock().unwrap().clone();
    let mut wrong = Vec::new();
    let right = wait_for(Duration::from_secs(10), || {
        wrong = mismatches(&chand, &last);
        wrong.is_empty()
    });
    let (slog, clog) = (sipd.daemon.log(), chand.daemon.log());
    assert!(
        right,
        "lamps differ from the last NOTIFYs: {wrong:?}\nsipd:\n{slog}\nchand:\n{clog}"
    );
    for (who, log) in [("sipd", &slog), ("chand", &clog)] {
        // Whoever re-creates the file first, the other finds it re-initialised.
        assert!(
            log.contains("truncated to") || log.contains("re-initialised it"),
            "{who} names the truncation:\n{log}"
        );
        assert!(
            log.contains("another file took its place"),
            "{who} names the replacement:\n{log}"
        );
    }
    sipd.daemon.assert_running();
    chand.daemon.assert_running();
}
