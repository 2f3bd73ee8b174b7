//! chand as a process on the sim back-end: SIGHUP reloads (a valid file applied, an invalid
//! one kept out with file:line:column), the control socket logs the peer's uid with every
//! override, a flood of control connections does not delay a port's 20 ms audio blocks, and
//! no capability survives start-up.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chand::backend::sim::peer::{Phone, ToPhone};
use chand::control;
use chand::status::ChandStatus;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const WAIT: Duration = Duration::from_secs(5);

struct Chand {
    dir: tempfile::TempDir,
    child: Child,
}

impl Chand {
    /// Start chand with `[[fxs]]`/`[dahdi]` text `extra`, wait for its control socket.
    fn start(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("chand.toml"), config(dir.path(), extra)).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_chand"))
            .args(["run", "--allow-root", "--config"])
            .arg(dir.path().join("chand.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut c = Self { dir, child };
        c.wait_log("chand ready");
        let end = Instant::now() + WAIT;
        while c.ask("status").is_err() {
            assert!(Instant::now() < end, "no control socket; log:\n{}", c.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        c
    }

    fn sim(&self) -> PathBuf {
        self.dir.path().join("sim")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn wait_log(&mut self, what: &str) {
        let end = Instant::now() + WAIT;
        while !self.log().contains(what) {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "chand exited; log:\n{}",
                self.log()
            );
            assert!(
                Instant::now() < end,
                "no {what:?} in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ask(&self, line: &str) -> std::io::Result<String> {
        control::request(&self.socket(), line)
    }

    fn status(&self) -> ChandStatus {
        control::query_status(&self.socket()).unwrap()
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/chand.sock")
    }

    fn rewrite(&self, extra: &str) {
        std::fs::write(
            self.dir.path().join("chand.toml"),
            config(self.dir.path(), extra),
        )
        .unwrap();
    }

    fn hup(&self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGHUP).unwrap();
    }
}

impl Drop for Chand {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

fn config(dir: &Path, extra: &str) -> String {
    format!(
        "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\n\
         [state]\ndir = \"{d}/state\"\nruntime_dir = \"{d}/run\"\n\
         [table]\npath = \"{d}/t.table\"\ncapacity = 1024\n\
         [dahdi]\nbackend = \"sim\"\nsim_dir = \"{d}/sim\"\n{extra}",
        d = dir.display()
    )
}

const PORT_8000: &str = "[[fxs]]\nchannel = 1\nnumber = \"8000\"\n";

#[test]
fn sighup_applies_a_valid_config_and_keeps_the_running_one_on_error() {
    let mut c = Chand::start(PORT_8000);
    assert_eq!(c.ask("mwi 8000 on").unwrap(), "8000: MWI ON (manual)\n");
    c.wait_log("control: uid 0 (pid ");
    assert!(c.log().contains("asks: mwi 8000 on"), "{}", c.log());
    let phone = Phone::connect(&c.sim(), 1, WAIT).unwrap();

    // Invalid: the error names file:line:column, chand keeps running the old config.
    c.rewrite(&format!("{PORT_8000}bogus_key = 1\n"));
    c.hup();
    c.wait_log("keeping the running configuration");
    assert!(
        c.log()
            .contains("chand.toml:15:1: unknown field `bogus_key`"),
        "{}",
        c.log()
    );
    assert!(c.ask("status").unwrap().contains("number 8000"));

    // Valid: the port's number changes and a port is added (which needs a restart).
    c.rewrite("[[fxs]]\nchannel = 1\nnumber = \"8001\"\n[[fxs]]\nchannel = 2\nnumber = \"8002\"\n");
    c.hup();
    c.wait_log("need a restart of chand: FXS channel 2 added");
    let status = c.status();
    assert_eq!(status.fxs[0].number, "8001", "{status:?}");
    assert_eq!(status.overrides, ["8000"], "override kept: {status:?}");
    assert!(c.ask("mwi 8000 off").is_err(), "8000 is no longer served");
    assert_eq!(c.ask("mwi 8001 on").unwrap(), "8001: MWI ON (manual)\n");
    // The channel stayed open throughout: the phone plugged in before the reloads is still
    // connected, and the port shows the new number's lamp.
    let status = c.status();
    assert!(status.fxs[0].mwi, "{status:?}");
    phone.off_hook().unwrap();
    assert!(matches!(
        phone.recv(WAIT).unwrap(),
        ToPhone::Audio(_) | ToPhone::Event(_)
    ));
}

#[test]
fn a_control_flood_does_not_delay_audio_blocks() {
    let c = Chand::start(PORT_8000);
    c.ask("mwi 8000 on").unwrap();
    let phone = Phone::connect(&c.sim(), 1, WAIT).unwrap();
    phone.off_hook().unwrap();
    // Stutter dial tone: one block every 20 ms.
    while !matches!(phone.recv(WAIT).unwrap(), ToPhone::Audio(_)) {}

    let sock = c.socket();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Connections that never send, that ask for status and never read, and junk.
                if let Ok(mut s) = UnixStream::connect(&sock) {
                    match n % 3 {
                        0 => {}
                        1 => {
                            let _ = s.write_all(b"status json\n");
                        }
                        _ => {
                            let _ = s.write_all(&[b'x'; 300]);
                        }
                    }
                    held.push(s);
                    if held.len() > 500 {
                        held.drain(..250);
                    }
                }
                n += 1;
            }
            n
        })
    };
    let start = Instant::now();
    let mut last = Instant::now();
    let mut worst = Duration::ZERO;
    let mut blocks = 0;
    while start.elapsed() < Duration::from_secs(3) {
        if let ToPhone::Audio(_) = phone.recv(WAIT).unwrap() {
            worst = worst.max(last.elapsed());
            last = Instant::now();
            blocks += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let attempts = flood.join().unwrap();
    println!("{attempts} connections in 3 s; {blocks} blocks, longest gap {worst:?}");
    assert!(attempts > 100, "the flood ran");
    // Liveness, not speed (a loaded 2-core machine stretches any gap): the phone keeps getting
    // its blocks while the flood runs; the longest gap is printed above for the record.
    assert!(
        blocks >= 75,
        "{blocks} audio blocks in 3 s (150 due): the flood starved the line"
    );
    // Once the flood's connections time out, status answers again.
    let end = Instant::now() + Duration::from_secs(10);
    while c.ask("status").is_err() {
        assert!(Instant::now() < end, "status unanswered after the flood");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn no_capability_survives_start_up() {
    let c = Chand::start(&format!("realtime_priority = 10\n{PORT_8000}"));
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.child.id())).unwrap();
    for set in ["CapEff", "CapPrm", "CapAmb"] {
        let line = status
            .lines()
            .find(|l| l.starts_with(set))
            .unwrap_or_else(|| panic!("no {set}"));
        assert!(line.ends_with("0000000000000000"), "{line}");
    }
    assert!(c.log().contains("all capabilities dropped"), "{}", c.log());
}
