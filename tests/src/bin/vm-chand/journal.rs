//! `vm-chand journal`: the daemons' MWI log lines reach systemd-journald with their fields
//! (and [`Journald`], [`journal_entry`] for the call lines of `vm-chand calls`).

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dahdi_mwi_tests::daemon::wait_for;
use dahdi_mwi_tests::vmcheck::{Outcome, Report, FXS_PORT};
use mwi_core::MwiState;
use serde_json::Value;

use crate::common::{job_dir, stop, Install, Notifier, Source, FXS_NUMBER, PRI_NUMBER, SIP_PORT};
use crate::fxs::set_port_mwi;

/// systemd-journald of the guest (its /run is the guest's own tmpfs); killed when dropped.
pub struct Journald(Child);

impl Journald {
    /// Starts /lib/systemd/systemd-journald once its stream socket exists. journald asks for
    /// its cgroup at start-up, so the cgroup2 file system is mounted first if it is not.
    pub fn start() -> Result<Self, String> {
        if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            let st = Command::new("mount")
                .args(["-t", "cgroup2", "cgroup2", "/sys/fs/cgroup"])
                .status()
                .map_err(|e| format!("mount cgroup2: {e}"))?;
            if !st.success() {
                return Err(format!("mount -t cgroup2 /sys/fs/cgroup: {st}"));
            }
        }
        let stderr = File::create(job_dir().join("vm-chand-journald.log"))
            .map_err(|e| format!("journald's log: {e}"))?;
        let child = Command::new("/lib/systemd/systemd-journald")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("start systemd-journald (package systemd): {e}"))?;
        let mut journald = Self(child);
        let up = wait_for(Duration::from_secs(10), || {
            Path::new("/run/systemd/journal/stdout").exists()
        });
        if let Ok(Some(st)) = journald.0.try_wait() {
            return Err(format!("systemd-journald exited: {st}"));
        }
        if !up {
            return Err("systemd-journald: no /run/systemd/journal/stdout after 10 s".into());
        }
        Ok(journald)
    }

    /// Every entry so far, as `journalctl -o json` gives them (field name → string).
    fn entries() -> Result<Vec<Value>, String> {
        let out = Command::new("journalctl")
            .args(["-o", "json", "--no-pager"])
            .output()
            .map_err(|e| format!("journalctl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "journalctl: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).map_err(|e| format!("journal entry {l}: {e}")))
            .collect()
    }
}

impl Drop for Journald {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to 5 s for a journal entry of `ident` that the daemon sent itself (native
/// protocol, `_TRANSPORT=journal`) whose MESSAGE holds `message` and which has every field of
/// `fields` (a value of `None`: any non-empty value).
pub fn journal_entry(ident: &str, message: &str, fields: &[(&str, Option<&str>)]) -> Outcome {
    let matches = |e: &Value| {
        e["SYSLOG_IDENTIFIER"] == ident
            && e["_TRANSPORT"] == "journal"
            && e["MESSAGE"].as_str().is_some_and(|m| m.contains(message))
    };
    let mut last = Vec::new();
    let mut found = None;
    wait_for(Duration::from_secs(5), || {
        last = Journald::entries().unwrap_or_default();
        found = last.iter().find(|e| matches(e)).cloned();
        found.is_some()
    });
    let e = found.ok_or_else(|| {
        let theirs: Vec<String> = last
            .iter()
            .filter(|e| e["SYSLOG_IDENTIFIER"] == ident)
            .map(|e| format!("[{}] {}", e["_TRANSPORT"], e["MESSAGE"]))
            .collect();
        format!(
            "no native journal entry of {ident} with {message:?}; its entries:\n{}",
            theirs.join("\n")
        )
    })?;
    let mut shown = Vec::new();
    for (k, want) in fields {
        let got = e[*k].as_str().unwrap_or("");
        let ok = match want {
            Some(w) => got == *w,
            None => !got.is_empty(),
        };
        if !ok {
            return Err(format!("{k} = {:?}, want {want:?}: entry {e}", e[*k]));
        }
        shown.push(format!("{k}={got}"));
    }
    Ok(format!(
        "MESSAGE={} {} PRIORITY={}",
        e["MESSAGE"],
        shown.join(" "),
        e["PRIORITY"]
    ))
}

/// sipd and chand started as systemd would start them, logging to journald: their MWI lines
/// carry the structured fields NUMBER, CHANNEL, SPAN and CALL_ID (issue 7 item 6).
pub fn journal_part(report: &mut Report, chand_bin: &Path, sipd_bin: &Path) {
    let name = "journal";
    let started = Journald::start().and_then(|journald| {
        let mut inst = Install::new(name, Some("us"), "setup", Some(SIP_PORT))?;
        inst.journal = true;
        let sipd = inst.start_sipd(sipd_bin)?;
        let chand = inst.start(chand_bin)?;
        Ok((journald, inst, sipd, chand))
    });
    let (_journald, inst, sipd, chand) = match started {
        Ok(r) => r,
        Err(e) => {
            report.record("journald, sipd and chand run (journal)", Err(e));
            return;
        }
    };
    let sent = Notifier::bind().and_then(|mut notifier| {
        notifier.publish(PRI_NUMBER, MwiState::voice(true, 3, 1))?;
        set_port_mwi(&inst, &mut notifier, true)
    });
    if report.record(
        "NOTIFYs for 8000 and 2001 reach chand (journal)",
        sent.map(|()| "chand's port 8000 shows MWI on".into()),
    ) {
        let channel = FXS_PORT.to_string();
        report.record(
            "journal: sipd's MWI line has NUMBER and CALL_ID",
            journal_entry(
                "sipd",
                "MWI 8000: ON",
                &[("NUMBER", Some(FXS_NUMBER)), ("CALL_ID", None)],
            ),
        );
        report.record(
            "journal: chand's FXS MWI line has CHANNEL and NUMBER",
            journal_entry(
                "chand",
                "(8000): MWI ON",
                &[("CHANNEL", Some(&channel)), ("NUMBER", Some(FXS_NUMBER))],
            ),
        );
        report.record(
            "journal: chand's span MWI line has SPAN and NUMBER",
            journal_entry(
                "chand",
                "(2001): MWI ON",
                &[("SPAN", Some("1")), ("NUMBER", Some(PRI_NUMBER))],
            ),
        );
    }
    stop(report, &inst, "chand", chand);
    stop(report, &inst, "sipd", sipd);
}
