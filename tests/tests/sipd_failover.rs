//! Server redundancy end to end (issue 14 item 3): sipd subscribed at a primary SIPp
//! voice-mail server with a backup SIPp on another port of loopback. The primary is stopped:
//! the OPTIONS "down" verdict moves the subscription to the backup; it is started again: its
//! answers to the pings sent meanwhile move the subscription back. Both serve the same
//! message summary, and the lamp in the shared table never changes. Config reload (issue 14
//! item 4): a SIGHUP keeps the subscription and the lamp of a number it does not change.

use dahdi_mwi_tests::daemon::{wait_some as wait_for, Daemon};
use dahdi_mwi_tests::env::Sipd;
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::sipp::scenario;
use mwi_core::MwiState;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `[mwi_server] options_interval`, s.
const INTERVAL: u64 = 1;
/// `[mwi_server] options_failures`.
const FAILURES: u64 = 2;
/// RFC 3261 Timer F (64 × T1): how long an unanswered OPTIONS lasts.
const TIMER_F: u64 = 32;

/// SIPp's voice-mail server (tests/scenarios/vm_server.xml) on 127.0.0.1:`port`, answering
/// OPTIONS (`-aa`) and serving SUBSCRIBEs until stopped; `name` names its log.
fn vm(dir: &Path, name: &str, port: u16) -> Daemon {
    let sf = scenario("vm_server.xml");
    Daemon::spawn_command(
        "sipp",
        Command::new("sipp")
            .arg("-sf")
            .arg(&sf)
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-aa"])
            .args(["-m", "100", "-timeout", "120s", "-nostdin"]),
        &dir.join(format!("sipp-{name}.log")),
    )
}

/// The lamp vm_server.xml's NOTIFY gives (`Voice-Message: 3/1 (1/0)`).
fn lamp() -> MwiState {
    MwiState {
        waiting: true,
        new: 3,
        old: 1,
        urgent_new: 1,
        ..MwiState::default()
    }
}

#[test]
fn stopped_primary_moves_the_subscription_to_the_backup_and_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (primary, backup) = (free_port(), free_port());
    let mut first = vm(dir.path(), "primary", primary);
    let _backup = vm(dir.path(), "backup", backup);
    std::thread::sleep(Duration::from_millis(300));
    let sipd = Sipd::start(
        dir.path(),
        &format!(
            "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = {primary}\n\
             backup = \"ipv4:127.0.0.1\"\nbackup_port = {backup}\n\
             options_interval = {INTERVAL}\noptions_failures = {FAILURES}\n\
             fallback_answers = 2\n[[fxs]]\nchannel = 1\nnumber = \"8000\"\n"
        ),
    );
    wait_for(10, "the lamp from the primary", || {
        (sipd.table_state("8000") == Some(lamp())).then_some(())
    });
    let st = sipd.status().expect("status");
    assert_eq!(st.target, format!("127.0.0.1:{primary}"), "{st:?}");

    // Every state the table shows from now on.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = std::thread::spawn({
        let (stop, seen, config) = (Arc::clone(&stop), Arc::clone(&seen), sipd.table_config());
        move || {
            let reader = mwi_table::Reader::open(&config).expect("table");
            while !stop.load(Ordering::Relaxed) {
                let state = reader.lookup("8000").ok().flatten().map(|e| e.state);
                let mut seen = seen.lock().expect("lock");
                if seen.last() != Some(&state) {
                    seen.push(state);
                }
                drop(seen);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });

    first.stop();
    let stopped = Instant::now();
    let bound = INTERVAL * FAILURES + TIMER_F + 3;
    let on_backup = wait_for(bound, "the subscription on the backup", || {
        let st = sipd.status()?;
        (st.target == format!("127.0.0.1:{backup}") && st.numbers[0].subscription == "active")
            .then_some(st)
    });
    let moved_after = stopped.elapsed();
    assert_eq!((on_backup.failovers, on_backup.fallbacks), (1, 0));

    let _second = vm(dir.path(), "primary-again", primary);
    let restarted = Instant::now();
    let back = wait_for(10, "the subscription back on the primary", || {
        let st = sipd.status()?;
        (st.target == format!("127.0.0.1:{primary}") && st.numbers[0].subscription == "active")
            .then_some(st)
    });
    let back_after = restarted.elapsed();
    assert_eq!((back.failovers, back.fallbacks), (1, 1), "{back:?}");
    let log = sipd.log();
    assert_eq!(log.matches("subscriptions move to").count(), 1, "{log}");
    assert_eq!(log.matches("subscriptions move back").count(), 1, "{log}");

    stop.store(true, Ordering::Relaxed);
    watcher.join().expect("watcher");
    let seen = seen.lock().expect("lock");
    assert_eq!(*seen, [Some(lamp())], "the lamp changed");
    eprintln!(
        "moved to the backup {:.1} s after the primary stopped (bound {bound} s), back {:.1} s \
         after it started again",
        moved_after.as_secs_f64(),
        back_after.as_secs_f64()
    );
}

/// How many SUBSCRIBEs for `number` sipd sent so far, by its debug log.
fn subscribes(sipd: &Sipd, number: &str) -> usize {
    sipd.log()
        .matches(&format!("SUBSCRIBE sip:{number}@"))
        .count()
}

/// SIGHUP (issue 14 item 4): a reload that changes nothing for 8000 (a comment, a new
/// number 8001, another OPTIONS interval) sends no SUBSCRIBE for it: its subscription keeps
/// its dialog and its lamp stays lit; 8001 alone is subscribed.
#[test]
fn reload_keeps_the_subscription_and_the_lamp_of_an_unchanged_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _vm = vm(dir.path(), "vm", port);
    std::thread::sleep(Duration::from_millis(300));
    let sipd = Sipd::start(
        dir.path(),
        &format!(
            "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = {port}\noptions_interval = 30\n\
             [[fxs]]\nchannel = 1\nnumber = \"8000\"\n"
        ),
    );
    wait_for(10, "the lamp of 8000", || {
        (sipd.table_state("8000") == Some(lamp())).then_some(())
    });
    assert_eq!(subscribes(&sipd, "8000"), 1);
    let pid = nix::unistd::Pid::from_raw(sipd.daemon.pid() as i32);
    let config = std::fs::read_to_string(&sipd.config).expect("config");
    let reloaded = format!(
        "# reloaded\n{}[[fxs]]\nchannel = 2\nnumber = \"8001\"\n",
        config.replace("options_interval = 30", "options_interval = 20")
    );
    std::fs::write(&sipd.config, reloaded).expect("write");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    wait_for(10, "the lamp of 8001", || {
        (sipd.table_state("8001") == Some(lamp())).then_some(())
    });
    let st = sipd.status().expect("status");
    assert_eq!(st.numbers[0].subscription, "active", "{st:?}");
    assert_eq!(sipd.table_state("8000"), Some(lamp()));
    assert_eq!(
        (subscribes(&sipd, "8000"), subscribes(&sipd, "8001")),
        (1, 1),
        "{}",
        sipd.log()
    );
}

/// A restarted server (issue 14 item 3): the SIPp voice-mail server stops, the OPTIONS
/// verdict says down, it starts again with no memory of the subscription; its first answer
/// to a ping makes sipd refresh the subscription at once, not at its refresh time an hour
/// later, and the lamp never changes.
#[test]
fn a_restarted_server_is_noticed_by_options_and_the_subscription_sent_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut first = vm(dir.path(), "vm", port);
    std::thread::sleep(Duration::from_millis(300));
    let sipd = Sipd::start(
        dir.path(),
        &format!(
            "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = {port}\n\
             options_interval = {INTERVAL}\noptions_failures = 1\n\
             [[fxs]]\nchannel = 1\nnumber = \"8000\"\n"
        ),
    );
    wait_for(10, "the lamp", || {
        (sipd.table_state("8000") == Some(lamp())).then_some(())
    });
    let sent = || sipd.log().matches("\nSUBSCRIBE sip:").count();
    assert_eq!(sent(), 1);
    first.stop();
    wait_for(INTERVAL + TIMER_F + 3, "the server down", || {
        sipd.status().filter(|s| s.server_state == "down")
    });
    assert_eq!(sent(), 1, "nothing is sent to a server that is down");
    let _again = vm(dir.path(), "vm-again", port);
    let restarted = Instant::now();
    wait_for(5, "the subscription sent again", || {
        (sent() == 2).then_some(())
    });
    let after = restarted.elapsed();
    let st = wait_for(5, "the subscription active", || {
        sipd.status()
            .filter(|s| s.numbers[0].subscription == "active" && s.server_state == "up")
    });
    assert_eq!(st.failovers, 0);
    assert_eq!(sipd.table_state("8000"), Some(lamp()));
    assert_eq!(sipd.log().matches("subscriptions refreshed now").count(), 1);
    eprintln!(
        "subscription sent again {:.1} s after the server restarted",
        after.as_secs_f64()
    );
}
