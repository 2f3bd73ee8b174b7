//! The daemons under test as child processes: locating their binaries, starting them with a
//! config, stopping them by pid (SIGTERM, or SIGKILL to simulate a crash), and their logs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The cargo target directory this process was built into: the executable lives in
/// `<target>/<profile>/` (binaries) or `<target>/<profile>/deps/` (tests).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the running executable");
    let dir = exe.parent().expect("executable in a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent()
            .expect("deps/ inside a profile dir")
            .to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The workspace root (the directory holding `Cargo.lock`).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ inside the workspace")
        .to_path_buf()
}

/// Path of the workspace binary `name` (`chand`, `sipd`) of this build profile, built first
/// with `cargo build -p NAME --bin NAME` (a no-op when it is up to date) so a test never runs a
/// stale daemon. Panics, saying what to run, if cargo or the binary is missing.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let profile = profile_dir();
    let path = profile.join(name);
    if !built.iter().any(|b| b == name) {
        let release = profile.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let target = profile.parent().expect("profile dir inside the target dir");
        let mut cmd = Command::new(&cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            name,
            "--bin",
            name,
            "--target-dir",
        ])
        .arg(target)
        .current_dir(workspace_dir());
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().unwrap_or_else(|e| {
            panic!(
                "cannot run {} to build {name}: {e}; build it with `cargo build -p {name}`",
                Path::new(&cargo).display()
            )
        });
        assert!(status.success(), "`cargo build -p {name}` failed");
        built.push(name.to_owned());
    }
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p {name}`",
        path.display()
    );
    path
}

/// Path of the workspace binary `name` next to this executable's profile dir, without
/// building it (for the demo, which `scripts/demo` builds first). Panics, saying what to run,
/// if it is missing.
pub fn binary_path(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p {name}`",
        path.display()
    );
    path
}

/// A command running `bin` through the command line `launcher` (e.g. `prlimit
/// --nofile=1024:1024`, `ip netns exec NS`: programs that exec it, so the pid stays the
/// daemon's), or directly when `launcher` is empty.
pub fn command_via(launcher: &[&str], bin: &Path) -> Command {
    match launcher.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}

/// A running daemon, stopped (SIGTERM, then SIGKILL after 5 s) when dropped.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Start `binary` with `args`, stderr and stdout appended to `log`.
    pub fn spawn(binary: &Path, args: &[&str], log: &Path) -> Self {
        let name = binary
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let mut cmd = Command::new(binary);
        cmd.args(args);
        Self::spawn_command(&name, &mut cmd, log)
    }

    /// Start `cmd` (program, arguments, environment set by the caller) as `name`, stdin
    /// closed, stderr and stdout appended to `log`. Panics, naming the program, when it cannot
    /// be started: a missing peer fails the test loudly.
    pub fn spawn_command(name: &str, cmd: &mut Command, log: &Path) -> Self {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("log file {}: {e}", log.display()));
        let err = out.try_clone().expect("dup log fd");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}; is it installed?"));
        Self {
            name: name.to_owned(),
            child,
            log: log.to_path_buf(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the daemon logged so far (all runs sharing the log file).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status if the daemon has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Wait for the exit (a peer that ends by itself, e.g. a SIPp scenario).
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("wait for the process")
    }

    /// Panic with the log if the daemon has exited.
    pub fn assert_running(&mut self) {
        if let Some(st) = self.exited() {
            panic!("{} exited ({st}); its log:\n{}", self.name, self.log());
        }
    }

    /// Send `signal` and wait up to `timeout` for the exit; SIGKILL after that, to its children
    /// first.
    pub fn signal_and_wait(&mut self, signal: Signal, timeout: Duration) -> ExitStatus {
        if self.exited().is_none() {
            let pid = Pid::from_raw(self.child.id() as i32);
            // A killed process leaves its children running, handed to init with whatever they
            // hold (Kamailio's workers keep its listening sockets): a kill takes them first.
            if signal == Signal::SIGKILL {
                kill_children(pid);
            }
            let _ = kill(pid, signal);
            let end = Instant::now() + timeout;
            while Instant::now() < end {
                if let Some(st) = self.exited() {
                    return st;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            kill_children(pid);
            let _ = self.child.kill();
        }
        self.child.wait().expect("wait for the daemon")
    }

    /// SIGTERM: the clean stop systemd does (SIGKILL, children first, after 5 s).
    pub fn stop(&mut self) -> ExitStatus {
        self.signal_and_wait(Signal::SIGTERM, Duration::from_secs(5))
    }

    /// SIGKILL: a crash (of the whole daemon: its children too, as systemd kills a unit's
    /// processes).
    pub fn crash(&mut self) {
        self.signal_and_wait(Signal::SIGKILL, Duration::from_secs(5));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGKILL every child of process `pid`.
fn kill_children(pid: Pid) {
    for child in children(pid) {
        let _ = kill(child, Signal::SIGKILL);
    }
}

/// The processes whose parent is `pid`, by the parent field of each `/proc/PID/stat`
/// (proc(5)).
fn children(pid: Pid) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .filter(|&p| stat_field(p, 1).and_then(|f| f.parse().ok()) == Some(pid.as_raw()))
        .collect()
}

/// Field `n` (0: state, 1: parent, ...) of `/proc/PID/stat` after the command name, which is
/// in parentheses and may hold spaces (proc(5)); `None` once the process is gone.
fn stat_field(pid: Pid, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, fields) = stat.rsplit_once(')')?;
    fields.split_whitespace().nth(n).map(str::to_owned)
}

/// Poll `cond` every 10 ms until it holds or `timeout` passes; whether it held.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Poll `f` every 10 ms until it returns `Some`, at most `secs` seconds, and return that;
/// panics naming `what` otherwise.
pub fn wait_some<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let mut value = None;
    wait_for(Duration::from_secs(secs), || {
        value = f();
        value.is_some()
    });
    value.unwrap_or_else(|| panic!("timed out after {secs} s waiting for {what}"))
}

/// Raises `flag` when dropped: the first line inside a `std::thread::scope` whose threads run
/// until `flag`, so a failing assertion ends them and the test fails instead of waiting for
/// them forever.
pub struct RaiseOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for RaiseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A daemon that ignores SIGTERM is killed after the grace time, and its children with
    /// it: left alone they would run on under init.
    #[test]
    fn a_daemon_killed_after_its_grace_time_takes_its_children() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = Daemon::spawn(
            Path::new("/bin/sh"),
            &["-c", "trap '' TERM; sleep 60 & wait"],
            &dir.path().join("sh.log"),
        );
        let pid = Pid::from_raw(d.pid() as i32);
        let mut kids = Vec::new();
        assert!(wait_for(Duration::from_secs(5), || {
            kids = children(pid);
            !kids.is_empty()
        }));
        d.stop();
        for kid in kids {
            let gone = wait_for(Duration::from_secs(2), || {
                stat_field(kid, 0).is_none_or(|state| state == "Z")
            });
            assert!(gone, "child {kid} still runs");
        }
    }
}
