//! baresip (Debian `baresip-core` 1.0) as a real SIP phone on loopback, headless: one instance
//! per test in a temp dir, driven through its `ctrl_tcp` module (netstring-framed JSON commands
//! and events), sending a sine tone from a WAV file (`aufile`, made with sox) and recording
//! what it receives (`sndfile`'s `dump-*-dec.wav`), so a test can measure the far side's audio
//! with [`crate::tone::Recording`].

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fxs::Law;
use serde_json::Value;

use crate::daemon::{wait_for, Daemon};
use crate::sip::free_port;
use crate::tone::Recording;

/// Where the Debian package keeps baresip's modules.
pub const MODULE_DIR: &str = "/usr/lib/baresip/modules";
/// How long baresip gets to open its control socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running baresip, stopped when dropped.
pub struct Baresip {
    daemon: Daemon,
    dir: tempfile::TempDir,
    ctrl: TcpStream,
    sip: SocketAddr,
    pending: Vec<u8>,
    token: u64,
}

impl Baresip {
    /// Starts baresip with one account line (baresip's `accounts` syntax, e.g.
    /// `<sip:bob@127.0.0.1:5070>;regint=0;answermode=auto`; `{sip}` in it is replaced by its
    /// SIP address), sending a `tone_hz` sine at -10 dBFS. Panics, saying what to install,
    /// when baresip or sox is missing.
    pub fn start(account: &str, tone_hz: u32) -> Self {
        assert!(
            Path::new(MODULE_DIR).join("ctrl_tcp.so").is_file(),
            "baresip is missing: install the Debian package baresip-core (scripts/install-deps)"
        );
        let dir = tempfile::tempdir().expect("temp dir for baresip");
        let tone = dir.path().join("tone.wav");
        let sox = Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
            .arg(&tone)
            .args(["synth", "120", "sine", &tone_hz.to_string(), "vol", "0.3"])
            .status()
            .expect("sox is missing: install the Debian package sox (scripts/install-deps)");
        assert!(sox.success(), "sox could not write {}", tone.display());
        let sip: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("loopback address");
        let ctrl_port = free_port();
        let rtp = free_port() & !1;
        let config = format!(
            "poll_method epoll\n\
             sip_listen {sip}\n\
             module_path {MODULE_DIR}\n\
             module g711.so\n\
             module aufile.so\n\
             module sndfile.so\n\
             module ctrl_tcp.so\n\
             module_app account.so\n\
             module_app menu.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
             audio_source aufile,{tone}\n\
             audio_alert aufile,/dev/null\n\
             snd_path {dir}\n\
             rtp_ports {rtp}-{rtp_end}\n",
            tone = tone.display(),
            dir = dir.path().display(),
            rtp_end = rtp.saturating_add(200),
        );
        std::fs::write(dir.path().join("config"), config).expect("write baresip config");
        std::fs::write(
            dir.path().join("accounts"),
            format!("{}\n", account.replace("{sip}", &sip.to_string())),
        )
        .expect("write baresip accounts");
        std::fs::write(dir.path().join("contacts"), "").expect("write baresip contacts");
        let log = dir.path().join("baresip.log");
        let dir_arg = dir.path().to_str().expect("temp dir path is UTF-8");
        let daemon = Daemon::spawn(Path::new("baresip"), &["-f", dir_arg], &log);
        let ctrl_addr: SocketAddr = format!("127.0.0.1:{ctrl_port}").parse().expect("address");
        let mut ctrl = None;
        wait_for(START_TIMEOUT, || {
            ctrl = TcpStream::connect(ctrl_addr).ok();
            ctrl.is_some()
        });
        let ctrl = ctrl.unwrap_or_else(|| {
            panic!(
                "baresip did not open its control socket {ctrl_addr} within {START_TIMEOUT:?}:\n{}",
                daemon.log()
            )
        });
        Self {
            daemon,
            dir,
            ctrl,
            sip,
            pending: Vec::new(),
            token: 0,
        }
    }

    /// Its SIP address (UDP).
    pub fn sip(&self) -> SocketAddr {
        self.sip
    }

    /// Its process id (e.g. for its CPU time in /proc).
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Runs a `menu` command (`dial`, `accept`, `hangup`, ...) and returns its response data;
    /// panics when baresip refuses it. Events that arrive first stay queued for
    /// [`Baresip::wait_event`].
    pub fn command(&mut self, command: &str, params: &str) -> String {
        self.token += 1;
        let token = self.token.to_string();
        let body = serde_json::json!({"command": command, "params": params, "token": token});
        let body = body.to_string();
        let frame = format!("{}:{body},", body.len());
        self.ctrl
            .write_all(frame.as_bytes())
            .expect("write to baresip's control socket");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut skipped = Vec::new();
        let response = loop {
            let v = self
                .next_message(deadline)
                .unwrap_or_else(|| panic!("baresip did not answer {command}:\n{}", self.log()));
            if v["response"] == true && v["token"] == token.as_str() {
                break v;
            }
            skipped.push(v);
        };
        self.requeue(skipped);
        assert!(
            response["ok"] == true,
            "baresip refused {command} {params}: {response}"
        );
        response["data"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits up to `timeout` for the event of type `kind` (e.g. `CALL_INCOMING`,
    /// `CALL_ESTABLISHED`, `CALL_CLOSED`); events before it are dropped.
    pub fn wait_event(&mut self, kind: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.next_message(deadline).unwrap_or_else(|| {
                panic!("baresip sent no {kind} within {timeout:?}:\n{}", self.log())
            });
            if v["event"] == true && v["type"] == kind {
                return v;
            }
        }
    }

    /// What baresip received and decoded in its last call, as 8 kHz linear samples in a
    /// [`Recording`] of `law` (for levels in dBm0).
    pub fn received(&self, law: Law) -> Recording {
        let path = self.newest_dump("-dec.wav");
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        // sndfile writes a 44-octet RIFF header whose sizes are only final at close.
        let mut rec = Recording::new(law);
        rec.samples = bytes
            .get(44..)
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        rec
    }

    fn newest_dump(&self, suffix: &str) -> PathBuf {
        let mut dumps: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read baresip's dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        dumps.sort();
        dumps
            .pop()
            .unwrap_or_else(|| panic!("baresip recorded no call:\n{}", self.log()))
    }

    fn requeue(&mut self, messages: Vec<Value>) {
        let mut again = Vec::new();
        for v in messages {
            let s = v.to_string();
            again.extend_from_slice(format!("{}:{s},", s.len()).as_bytes());
        }
        again.append(&mut self.pending);
        self.pending = again;
    }

    /// The next netstring-framed JSON message, or `None` at the deadline.
    fn next_message(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            if let Some(v) = self.take_frame() {
                return Some(v);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.ctrl
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set read timeout");
            let mut buf = [0u8; 4096];
            match self.ctrl.read(&mut buf) {
                Ok(0) => panic!("baresip closed its control socket:\n{}", self.log()),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("read from baresip's control socket: {e}"),
            }
        }
    }

    fn take_frame(&mut self) -> Option<Value> {
        let colon = self.pending.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&self.pending[..colon])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad netstring from baresip: {:?}", self.pending));
        let end = colon.checked_add(1)?.checked_add(len)?;
        if self.pending.len() <= end {
            return None;
        }
        let frame: Vec<u8> = self.pending.drain(..=end).collect();
        let body = &frame[colon + 1..end];
        Some(serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!(
                "bad JSON from baresip ({e}): {}",
                String::from_utf8_lossy(body)
            )
        }))
    }
}
