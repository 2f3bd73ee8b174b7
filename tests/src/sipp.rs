//! SIPp (Debian `sip-tester`) as a peer: its scenarios in tests/scenarios/ and one run of it
//! to completion. A missing sipp fails the test loudly.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::daemon::Daemon;

/// Path of the SIPp scenario `name` (tests/scenarios/).
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// Run SIPp with `args` to completion (bounded by its own -timeout), logging to
/// `dir/sipp-NAME.log` and its errors to `dir/sipp-NAME.err`, and return whether every call
/// passed; on failure both are printed.
pub fn run(dir: &Path, name: &str, args: &[&str]) -> bool {
    let log = dir.join(format!("sipp-{name}.log"));
    let mut p = Daemon::spawn_command(
        "sipp",
        Command::new("sipp")
            .args(args)
            .args(["-timeout", "20s", "-timeout_error", "-nostdin"])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(dir.join(format!("sipp-{name}.err"))),
        &log,
    );
    let status = p.wait();
    if !status.success() {
        eprintln!(
            "sipp {name}: {status}\n{}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(dir.join(format!("sipp-{name}.err"))).unwrap_or_default()
        );
    }
    status.success()
}
