//! What both daemons do to run as services: logging to the journal (with structured fields)
//! or to stderr, readiness, status and watchdog notifications to systemd (sd_notify(3)), and
//! privileges: refuse to run as root unless told to, drop the capabilities no longer needed.
#![forbid(unsafe_code)]

pub mod capture;

use std::io::Write;
use std::time::{Duration, Instant};

use log::{LevelFilter, Log, Metadata, Record};

/// Log to the journal when started by systemd (stderr connected to the journal), else to
/// stderr as `LEVEL target: message key=value ...`.
///
/// `level` is the config's `[log] level`, overridden by `--log-level` on the command line.
/// Record key-values (`NUMBER`, `CHANNEL`, `SPAN`, `CALL_ID`) become journal fields.
pub fn init_logging(program: &str, level: LevelFilter) {
    let journal = systemd_journal_logger::connected_to_journal()
        .then(systemd_journal_logger::JournalLog::new)
        .and_then(Result::ok);
    let installed = match journal {
        Some(j) => j.with_syslog_identifier(program.to_owned()).install(),
        None => log::set_boxed_logger(Box::new(StderrLog)),
    };
    if installed.is_ok() {
        log::set_max_level(level);
    }
}

/// Log `line` at level info under `target` whatever the running level (`[log] level`,
/// `--log-level`): a runtime trace (`sipd trace on`, `chand trace on`) is asked for by
/// command, so the configured level must not hide it. Goes to the journal like every record.
pub fn trace(target: &str, line: &str) {
    log::logger().log(
        &Record::builder()
            .level(log::Level::Info)
            .target(target)
            .args(format_args!("{line}"))
            .build(),
    );
}

struct StderrLog;

impl Log for StderrLog {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        struct Fields(String);
        impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
            fn visit_pair(
                &mut self,
                key: log::kv::Key<'kvs>,
                value: log::kv::Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                self.0.push_str(&format!(" {key}={value}"));
                Ok(())
            }
        }
        let mut fields = Fields(String::new());
        let _ = record.key_values().visit(&mut fields);
        let _ = writeln!(
            std::io::stderr().lock(),
            "{:<5} {}: {}{}",
            record.level(),
            record.target(),
            record.args(),
            fields.0
        );
    }

    fn flush(&self) {}
}

/// Refuse to run as root (euid 0) unless `allowed` (`--allow-root`): the daemons need no
/// root privilege, only a group (`dahdi`, `dahdi-mwi`) and at most one capability.
///
/// Errors: a message for the administrator.
pub fn refuse_root(program: &str, allowed: bool) -> Result<(), String> {
    if nix::unistd::geteuid().is_root() && !allowed {
        return Err(format!(
            "{program} refuses to run as root: run it as its own user (the systemd unit does), \
             or pass --allow-root"
        ));
    }
    Ok(())
}

/// Drop every capability except `keep` from the effective, permitted, inheritable and
/// ambient sets, and the bounding set where allowed (capabilities(7)). Called once start-up
/// is done: e.g. sipd after binding port 5060 keeps nothing.
///
/// Errors: the kernel refused a change (the message names the set).
pub fn drop_capabilities(keep: &[caps::Capability]) -> Result<(), String> {
    use caps::{CapSet, CapsHashSet};
    let keep: CapsHashSet = keep.iter().copied().collect();
    caps::clear(None, CapSet::Ambient).map_err(|e| format!("ambient capabilities: {e}"))?;
    for set in [CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        let current = caps::read(None, set).map_err(|e| format!("{set:?} capabilities: {e}"))?;
        let wanted: CapsHashSet = current.intersection(&keep).copied().collect();
        caps::set(None, set, &wanted).map_err(|e| format!("{set:?} capabilities: {e}"))?;
    }
    Ok(())
}

/// systemd notifications (sd_notify(3)): READY, STATUS, WATCHDOG. Does nothing when not
/// started by systemd (no `NOTIFY_SOCKET`).
#[derive(Debug)]
pub struct Systemd {
    /// Half the unit's `WatchdogSec`, `None` without a watchdog.
    watchdog_every: Option<Duration>,
    last_ping: Instant,
}

impl Systemd {
    /// Read the watchdog interval from the environment (`WATCHDOG_USEC`).
    pub fn new() -> Self {
        let mut usec = 0;
        let enabled = sd_notify::watchdog_enabled(false, &mut usec);
        Self {
            watchdog_every: enabled.then(|| Duration::from_micros(usec / 2)),
            last_ping: Instant::now(),
        }
    }

    /// Start-up is done: `READY=1` with a `STATUS=` line.
    pub fn ready(&mut self, status: &str) {
        let _ = sd_notify::notify(
            false,
            &[
                sd_notify::NotifyState::Ready,
                sd_notify::NotifyState::Status(status),
            ],
        );
        self.last_ping = Instant::now();
    }

    /// A new `STATUS=` line (shown by `systemctl status`).
    pub fn status(&self, status: &str) {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Status(status)]);
    }

    /// Called from the event loop on every turn: `WATCHDOG=1` at half the watchdog interval,
    /// so a stuck loop gets the service restarted.
    pub fn tick(&mut self) {
        if let Some(every) = self.watchdog_every {
            if self.last_ping.elapsed() >= every {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                self.last_ping = Instant::now();
            }
        }
    }

    /// The daemon is stopping: `STOPPING=1`.
    pub fn stopping(&self) {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    }
}

impl Default for Systemd {
    fn default() -> Self {
        Self::new()
    }
}
