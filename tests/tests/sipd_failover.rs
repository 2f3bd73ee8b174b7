//! Server redundancy end to end (issue 14 item 3): sipd subscribed at a primary voice-mail
//! server with a backup on another port of loopback, both SIPp or both Kamailio (presence).
//! The primary is stopped:
//! the OPTIONS "down" verdict moves the subscription to the backup; it is started again: its
//! answers to the pings sent meanwhile move the subscription back. Both serve the same
//! message summary, and the lamp in the shared table never changes. Config reload (issue 14
//! item 4): a SIGHUP keeps the subscription and the lamp of a number it does not change.

use dahdi_mwi_tests::daemon::{wait_some as wait_for, Daemon};
use dahdi_mwi_tests::env::Sipd;
use dahdi_mwi_tests::kamailio::{Algorithm, Kamailio, Options};
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::sipp::scenario;
use mwi_core::MwiState;
use std::path::{Path, PathBuf};
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

/// A voice-mail server of the failover test, on its own loopback port: SIPp
/// (tests/scenarios/vm_server.xml) or Kamailio (presence; the summary of [`lamp`] PUBLISHed
/// for 8000 at each start, as a voice mail keeps its state across a restart).
enum Server {
    Sipp {
        dir: PathBuf,
        name: &'static str,
        port: u16,
        daemon: Option<Daemon>,
    },
    Kamailio(Kamailio),
}

/// The body of [`lamp`] (RFC 3842 §5.2).
const SUMMARY: &str = "Messages-Waiting: yes\r\nMessage-Account: sip:8000@127.0.0.1\r\n\
                       Voice-Message: 3/1 (1/0)\r\n";

impl Server {
    /// Start a SIPp (`kamailio` false) or a Kamailio server named `name`.
    fn start(kamailio: bool, dir: &Path, name: &'static str) -> Self {
        if kamailio {
            let k = Kamailio::start(Options::new(Algorithm::Md5));
            assert_eq!(k.publish("8000", SUMMARY), 200, "{name}: PUBLISH");
            return Self::Kamailio(k);
        }
        let port = free_port();
        Self::Sipp {
            dir: dir.to_path_buf(),
            name,
            port,
            daemon: Some(vm(dir, name, port)),
        }
    }

    fn port(&self) -> u16 {
        match self {
            Self::Sipp { port, .. } => *port,
            Self::Kamailio(k) => k.port(),
        }
    }

    /// Stop it: its port goes silent.
    fn stop(&mut self) {
        match self {
            Self::Sipp { daemon, .. } => {
                if let Some(mut d) = daemon.take() {
                    d.stop();
                }
            }
            Self::Kamailio(k) => k.stop(),
        }
    }

    /// Start it again on its port, with no memory of any subscription.
    fn start_again(&mut self) {
        match self {
            Self::Sipp {
                dir,
                name,
                port,
                daemon,
            } => *daemon = Some(vm(dir, &format!("{name}-again"), *port)),
            Self::Kamailio(k) => {
                k.start_again();
                assert_eq!(k.publish("8000", SUMMARY), 200, "PUBLISH again");
            }
        }
    }
}

/// Issue 14's "Done when": stopping the primary moves the subscription to the backup within
/// options_interval × options_failures (each failed ping is one that lasted Timer F), and back
/// after it returns; the lamp in the table never changes. With SIPp as both servers and with
/// Kamailio as both.
fn stopped_primary_moves_the_subscription_to_the_backup_and_back(kamailio: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = Server::start(kamailio, dir.path(), "primary");
    let second = Server::start(kamailio, dir.path(), "backup");
    let (primary, backup) = (first.port(), second.port());
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

    first.start_again();
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
        "{}: moved to the backup {:.1} s after the primary stopped (bound {bound} s), back \
         {:.1} s after it started again",
        if kamailio { "Kamailio" } else { "SIPp" },
        moved_after.as_secs_f64(),
        back_after.as_secs_f64()
    );
}

#[test]
fn sipp_stopped_primary_moves_the_subscription_to_the_backup_and_back() {
    stopped_primary_moves_the_subscription_to_the_backup_and_back(false);
}

#[test]
fn kamailio_stopped_primary_moves_the_subscription_to_the_backup_and_back() {
    stopped_primary_moves_the_subscription_to_the_backup_and_back(true);
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
