//! SIPp (Debian `sip-tester`) as a peer: its scenarios in tests/scenarios/, one run of it in
//! the background or to completion. A missing sipp fails the test loudly.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::daemon::Daemon;

/// Path of the SIPp scenario `name` (tests/scenarios/).
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// Start SIPp with `args` in the background (bounded by its own 20 s -timeout), logging to
/// `dir/sipp-NAME.log` and its errors to `dir/sipp-NAME.err`; [`passed`] waits for it.
pub fn spawn(dir: &Path, name: &str, args: &[&str]) -> Daemon {
    Daemon::spawn_command(
        "sipp",
        Command::new("sipp")
            .args(args)
            .args(["-timeout", "20s", "-timeout_error", "-nostdin"])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(dir.join(format!("sipp-{name}.err"))),
        &dir.join(format!("sipp-{name}.log")),
    )
}

/// Wait for SIPp `name` started by [`spawn`] to end and return whether every call passed; on
/// failure its log and errors are printed.
pub fn passed(dir: &Path, name: &str, sipp: &mut Daemon) -> bool {
    let status = sipp.wait();
    if !status.success() {
        eprintln!(
            "sipp {name}: {status}\n{}\n{}",
            sipp.log(),
            std::fs::read_to_string(dir.join(format!("sipp-{name}.err"))).unwrap_or_default()
        );
    }
    status.success()
}

/// Run SIPp with `args` to completion ([`spawn`] then [`passed`]).
pub fn run(dir: &Path, name: &str, args: &[&str]) -> bool {
    passed(dir, name, &mut spawn(dir, name, args))
}
