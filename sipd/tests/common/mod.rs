//! Helpers for the peer tests: free loopback ports, child processes stopped by pid, sipd
//! configurations, polling the status socket and the MWI table. A missing peer binary fails
//! the test loudly.
#![allow(dead_code)]

use mwi_core::config::Config;
use mwi_core::table::{Reader, TableConfig};
use mwi_core::MwiState;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sipd::ua::UaStatus;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free for both UDP and TCP on 127.0.0.1.
pub fn free_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = t.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A child process, stopped with SIGTERM (then SIGKILL) by its pid when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    /// Start `cmd` with stdout and stderr to `log`; panics (the test fails) when the binary is
    /// missing.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Self {
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}; is it installed?"));
        Self {
            child,
            name: name.into(),
        }
    }

    /// Stop it: SIGTERM, up to 5 s for it to exit, then SIGKILL.
    pub fn stop(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Poll `f` every 100 ms until it returns `Some`, at most `secs` seconds; panics with `what`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A sipd under test: its directory, config and process.
pub struct Sipd {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub port: u16,
    pub proc: Proc,
}

impl Sipd {
    /// Write a config (`[sip] listen` on a free port of 127.0.0.1, `extra` appended: the
    /// sections under test) into `dir` and start `sipd run` with debug logging to
    /// `dir/sipd.log`.
    pub fn start(dir: &Path, extra: &str) -> Self {
        Self::start_on(dir, &["127.0.0.1"], extra)
    }

    /// [`Sipd::start`] listening on UDP and TCP of every address in `ips` (one free port).
    pub fn start_on(dir: &Path, ips: &[&str], extra: &str) -> Self {
        Self::start_with(dir, ips, "", extra)
    }

    /// [`Sipd::start_on`] with `sip_keys` (lines such as `max_message_size = 2048`) added to
    /// the `[sip]` section.
    pub fn start_with(dir: &Path, ips: &[&str], sip_keys: &str, extra: &str) -> Self {
        let port = free_port();
        let d = dir.display();
        let listen: Vec<String> = ips
            .iter()
            .flat_map(|ip| {
                let a = if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                };
                [format!("\"udp:{a}\""), format!("\"tcp:{a}\"")]
            })
            .collect();
        let text = format!(
            "[sip]\nlisten = [{}]\n{sip_keys}\
             [dahdi]\nbackend = \"sim\"\nsim_dir = \"{d}/sim\"\n\
             [state]\ndir = \"{d}/state\"\nruntime_dir = \"{d}/run\"\n\
             [table]\npath = \"{d}/table\"\n[log]\nlevel = \"debug\"\n{extra}",
            listen.join(", ")
        );
        let config = dir.join("dahdi-mwi.toml");
        std::fs::write(&config, text).expect("config");
        std::fs::create_dir_all(dir.join("state")).expect("state dir");
        let proc = Proc::spawn(
            "sipd",
            Command::new(env!("CARGO_BIN_EXE_sipd"))
                .arg("run")
                .arg("--config")
                .arg(&config)
                .arg("--allow-root"),
            &dir.join("sipd.log"),
        );
        Self {
            dir: dir.to_owned(),
            config,
            port,
            proc,
        }
    }

    /// The daemon's status, `None` while it is not answering.
    pub fn status(&self) -> Option<UaStatus> {
        let cfg = Config::load(&self.config).ok()?;
        sipd::daemon::query_status(&cfg).ok()
    }

    /// The daemon's debug log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sipd.log")).unwrap_or_default()
    }

    /// The state of `number` in the shared MWI table, as chand would read it.
    pub fn table_state(&self, number: &str) -> Option<MwiState> {
        let cfg = Config::load(&self.config).ok()?;
        let reader = Reader::open(&TableConfig {
            path: cfg.table.path.clone(),
            capacity: cfg.table.capacity,
            ..TableConfig::default()
        })
        .ok()?;
        reader.lookup(number).ok()?.map(|e| e.state)
    }
}
