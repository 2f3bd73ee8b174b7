//! libpri 1.6 (Debian libpri-dev) as the PBX on a sim D-channel socket: tests/peers/libpri-pbx.c,
//! built with gcc once per process, run as a child that connects to `dchan-N.sock` and prints
//! what libpri decoded (see the header of that file for its output lines).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::daemon::{profile_dir, workspace_dir};

/// The peer binary, built on first use. Panics if gcc or libpri-dev is missing.
pub fn peer_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = profile_dir().join("e2e-peers");
        std::fs::create_dir_all(&dir).expect("peer build dir");
        // Build under a private name, then rename: test binaries build it concurrently.
        let tmp = dir.join(format!("libpri-pbx.{}", std::process::id()));
        let out = dir.join("libpri-pbx");
        build_peer(&tmp).unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&tmp, &out).expect("install the libpri peer");
        out
    })
}

/// Compiles tests/peers/libpri-pbx.c with gcc (`-Wall -Wextra -Werror`, `-lpri`) into the
/// executable `out`. Errors: gcc missing, or the build failed (its stderr; libpri-dev missing).
pub fn build_peer(out: &Path) -> Result<(), String> {
    let src = workspace_dir().join("tests/peers/libpri-pbx.c");
    let result = Command::new("gcc")
        .args(["-Wall", "-Wextra", "-Werror", "-O1", "-o"])
        .arg(out)
        .arg(&src)
        .arg("-lpri")
        .output()
        .map_err(|e| {
            format!(
                "gcc must be installed to build the libpri test peer: {e} (scripts/install-deps)"
            )
        })?;
    if !result.status.success() {
        return Err(format!(
            "building {} failed: is libpri-dev installed (scripts/install-deps)?\n{}",
            src.display(),
            String::from_utf8_lossy(&result.stderr)
        ));
    }
    Ok(())
}

/// An SS-MWI invoke as libpri decoded it (an `MWI` line of the peer).
#[derive(Clone, Debug)]
pub struct Decoded {
    /// `op`, `invokeId`, `servedUserNr.unknownPartyNumber`, `basicService`, `nbOfMessages`, ...
    pub fields: HashMap<String, String>,
}

impl Decoded {
    /// Parses a peer line `MWI k=v k=v ...`; `None` for any other line. Words without `=` are
    /// skipped.
    pub fn from_line(line: &str) -> Option<Self> {
        let fields = line
            .strip_prefix("MWI ")?
            .split(' ')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Some(Self { fields })
    }

    /// `activate`, `deactivate`, `interrogate` or (ETSI) `indicate`.
    pub fn op(&self) -> &str {
        self.get("op").unwrap_or("")
    }

    /// The servedUserNr (QSIG) or receivingUserNr (ETSI) digits, whatever the PartyNumber
    /// alternative.
    pub fn served(&self) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k.starts_with("servedUserNr.") || k.starts_with("receivingUserNr."))
            .map_or("", |(_, v)| v.as_str())
    }

    /// A field by name.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// nbOfMessages, if sent.
    pub fn nb_of_messages(&self) -> Option<u16> {
        self.get("nbOfMessages").and_then(|v| v.parse().ok())
    }
}

/// The octets of a peer line `RX <hex>` (a frame libpri received, address to FCS exclusive);
/// `None` for any other line. Pairs that are not hex digits are skipped, a trailing odd digit
/// ignored.
pub fn rx_frame(line: &str) -> Option<Vec<u8>> {
    let hex = line.strip_prefix("RX ")?;
    Some(
        (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect(),
    )
}

/// libpri's node type for the side it plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibpriSide {
    /// PRI_NETWORK (chand is the user side).
    Network,
    /// PRI_CPE (chand is the network side).
    Cpe,
}

/// One run of the libpri peer, killed when dropped.
pub struct LibpriPbx {
    child: Child,
    lines: Receiver<String>,
    /// Every line it printed so far (drained by [`LibpriPbx::pump`]).
    pub log: Vec<String>,
    /// `DCHAN_UP` lines seen minus `DCHAN_DOWN` lines.
    pub dchan_up: bool,
    /// MWI invokes decoded.
    pub decoded: Vec<Decoded>,
    /// Frames libpri received (what chand sent), from its `RX` lines.
    pub frames_rx: Vec<Vec<u8>>,
    /// Its call event lines without the `CALL ` prefix, e.g. `RING channel=23 called=1234
    /// calling=2000 name=`, `ANSWER channel=1 connected_name=`, `HANGUP cause=16`.
    pub calls: Vec<String>,
}

impl LibpriSide {
    fn arg(self) -> &'static str {
        match self {
            LibpriSide::Network => "network",
            LibpriSide::Cpe => "cpe",
        }
    }
}

impl LibpriPbx {
    /// Connect libpri to the socket `path` (which must exist: start chand first) as `side`.
    pub fn spawn(path: &Path, side: LibpriSide) -> Self {
        Self::spawn_args(path, side, &[])
    }

    /// [`LibpriPbx::spawn`] with the call options `args` of tests/peers/libpri-pbx.c
    /// (`--call`, `--answer`, `--hangup-after`, ...).
    pub fn spawn_args(path: &Path, side: LibpriSide, args: &[&str]) -> Self {
        let mut cmd = Command::new(peer_binary());
        cmd.arg(path)
            .arg(side.arg())
            .args(args)
            .stdin(Stdio::null());
        Self::start(cmd)
    }

    /// Run libpri as `side` on `fd` (one end of a SOCK_SEQPACKET socketpair, given to it as
    /// standard input), with the call options `args` of tests/peers/libpri-pbx.c (`--call`,
    /// `--answer`, `--hangup-after`, ...).
    pub fn spawn_fd(fd: OwnedFd, side: LibpriSide, args: &[&str]) -> Self {
        let mut cmd = Command::new(peer_binary());
        cmd.arg("-")
            .arg(side.arg())
            .args(args)
            .stdin(Stdio::from(fd));
        Self::start(cmd)
    }

    fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start libpri-pbx");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            log: Vec::new(),
            dchan_up: false,
            decoded: Vec::new(),
            frames_rx: Vec::new(),
            calls: Vec::new(),
        }
    }

    /// Take the lines printed so far.
    pub fn pump(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.take(line);
        }
    }

    fn take(&mut self, line: String) {
        if line == "DCHAN_UP" {
            self.dchan_up = true;
        } else if line == "DCHAN_DOWN" {
            self.dchan_up = false;
        } else if let Some(d) = Decoded::from_line(&line) {
            self.decoded.push(d);
        } else if let Some(frame) = rx_frame(&line) {
            self.frames_rx.push(frame);
        } else if let Some(call) = line.strip_prefix("CALL ") {
            self.calls.push(call.to_owned());
        }
        self.log.push(line);
    }

    /// Read lines until `cond` holds or `timeout` passes; whether it held.
    pub fn wait(&mut self, timeout: Duration, cond: impl Fn(&Self) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            self.pump();
            if cond(self) {
                return true;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.lines.recv_timeout(left) {
                Ok(line) => self.take(line),
                Err(_) => {
                    if self.child.try_wait().ok().flatten().is_some() {
                        self.pump();
                        return cond(self);
                    }
                }
            }
        }
    }

    /// Wait up to `timeout` for the peer to exit (it does when chand closes the socket);
    /// whether it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            self.pump();
            if self.child.try_wait().ok().flatten().is_some() {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last `n` lines, for assertion messages.
    pub fn tail(&self, n: usize) -> String {
        self.log[self.log.len().saturating_sub(n)..].join("\n")
    }

    /// Kill the peer: its socket closes, chand sees layer 1 down.
    pub fn disconnect(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LibpriPbx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
