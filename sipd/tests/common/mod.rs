//! Helpers for the peer tests: free loopback ports, child processes stopped by pid, sipd
//! configurations, polling the status socket and the MWI table. A missing peer binary fails
//! the test loudly.
#![allow(dead_code)]

pub mod chand;

use mwi_config::Config;
use mwi_core::MwiState;
use mwi_table::{Reader, TableConfig};
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
        Self::launch(dir, ips, "", extra, &[], &[])
    }

    /// [`Sipd::start_on`] with `sip_keys` (lines such as `max_message_size = 2048`) added to
    /// the `[sip]` section.
    pub fn start_with(dir: &Path, ips: &[&str], sip_keys: &str, extra: &str) -> Self {
        Self::launch(dir, ips, sip_keys, extra, &[], &[])
    }

    /// [`Sipd::start_on`] with sipd run by the command line `launcher` (e.g. `prlimit
    /// --nofile=1024:1024`; empty: directly) and with `env` added to its environment.
    pub fn start_via(
        dir: &Path,
        ips: &[&str],
        extra: &str,
        launcher: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::launch(dir, ips, "", extra, launcher, env)
    }

    fn launch(
        dir: &Path,
        ips: &[&str],
        sip_keys: &str,
        extra: &str,
        launcher: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
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
        let sipd = env!("CARGO_BIN_EXE_sipd");
        let mut cmd = match launcher.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(sipd);
                c
            }
            None => Command::new(sipd),
        };
        let proc = Proc::spawn(
            "sipd",
            cmd.envs(env.iter().copied())
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
        sipd::daemon::query_status(&cfg).ok().map(|s| s.ua)
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

/// Whether sipd on `port` of 127.0.0.1 answers an out-of-dialog OPTIONS over UDP with 200
/// within `timeout` (the liveness probe of the hostile-input tests, RFC 3261 §11).
pub fn options_answered(port: u16, timeout: Duration) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(timeout)).expect("timeout");
    let local = sock.local_addr().expect("addr");
    let branch = format!("z9hG4bKprobe{}", local.port());
    let req = format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:127.0.0.1:{port}>\r\n\
         From: <sip:probe@{local}>;tag=probe\r\n\
         Call-ID: {branch}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    sock.send_to(req.as_bytes(), ("127.0.0.1", port))
        .expect("send");
    let mut buf = [0u8; 4096];
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                if text.starts_with("SIP/2.0 200") && text.contains(&branch) {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}
