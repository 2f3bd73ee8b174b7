//! One isolated installation per test: a temp dir holding the config, the sim sockets, the
//! shared MWI table, the state and runtime dirs and the daemons' logs, so tests run in parallel
//! without sharing anything.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chand::status::{ChandStatus, PortStatus};
use mwi_config::Config;
use mwi_table::{TableConfig, TableError, Writer};
use serde_json::Value;

use crate::daemon::{binary, wait_for, Daemon};

/// How long a daemon gets to come up.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The `[mwi_server]` of a chand-only test: chand does not read it, but a config needs one.
pub const NO_SIP_SERVER: &str = "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\n";

/// A temp dir laid out as one installation.
pub struct Env {
    dir: tempfile::TempDir,
    /// `[dahdi] sim_dir`.
    pub sim_dir: PathBuf,
    /// `[table] path`.
    pub table_path: PathBuf,
    /// `[state] dir`.
    pub state_dir: PathBuf,
    /// `[state] runtime_dir`.
    pub runtime_dir: PathBuf,
    /// `[log] level` of the config and chand's `--log-level` (default `debug`, so a failing
    /// test's log shows everything).
    pub log_level: &'static str,
    /// `[table] capacity` (default 4096: small and quick to scan; a load test sets more).
    pub table_capacity: u32,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    /// A fresh temp dir.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dahdi-mwi-e2e.")
            .tempdir()
            .expect("temp dir");
        let p = dir.path();
        // systemd's StateDirectory= and RuntimeDirectory= create these for the daemons.
        for d in ["state", "run"] {
            std::fs::create_dir_all(p.join(d)).expect("state and runtime dirs");
        }
        Self {
            sim_dir: p.join("sim"),
            table_path: p.join("mwi-table"),
            state_dir: p.join("state"),
            runtime_dir: p.join("run"),
            log_level: "debug",
            table_capacity: 4096,
            dir,
        }
    }

    /// The temp dir.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A config file text: `sections` (`[mwi_server]`, `[[fxs]]`, `[[pri]]`, ...) followed by
    /// this installation's `[dahdi]` (sim back-end), `[state]`, `[table]` and `[log]`.
    pub fn config_text(&self, sections: &str) -> String {
        format!(
            "{sections}\n\
             [dahdi]\nbackend = \"sim\"\nsim_dir = \"{}\"\n\
             [state]\ndir = \"{}\"\nruntime_dir = \"{}\"\n\
             [table]\npath = \"{}\"\ncapacity = {}\n\
             [log]\nlevel = \"{}\"\n",
            self.sim_dir.display(),
            self.state_dir.display(),
            self.runtime_dir.display(),
            self.table_path.display(),
            self.table_capacity,
            self.log_level,
        )
    }

    /// Write [`Env::config_text`] to `<dir>/dahdi-mwi.toml`, check it parses, and return it.
    pub fn write_config(&self, sections: &str) -> ConfigFile {
        let text = self.config_text(sections);
        let path = self.path().join("dahdi-mwi.toml");
        let config = Config::from_str(&text, path.display().to_string())
            .unwrap_or_else(|e| panic!("test config does not parse: {e}\n{text}"));
        std::fs::write(&path, &text).expect("write config");
        ConfigFile { path, config }
    }

    /// Path of a daemon's log file.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.path().join(format!("{name}.log"))
    }
}

/// A config written to disk, with its parsed form.
pub struct ConfigFile {
    /// The file.
    pub path: PathBuf,
    /// What it says.
    pub config: Config,
}

impl ConfigFile {
    /// The shared table as both daemons open it.
    pub fn table_config(&self) -> TableConfig {
        TableConfig::for_config(&self.config)
    }

    /// Become the table's writer (standing in for sipd).
    ///
    /// Errors: those of [`Writer::open`] (e.g. sipd already is the writer).
    pub fn try_writer(&self) -> Result<Writer, TableError> {
        Writer::open(&self.table_config())
    }

    /// [`ConfigFile::try_writer`], panicking on error (for tests).
    pub fn writer(&self) -> Writer {
        self.try_writer().expect("open the MWI table as its writer")
    }

    /// chand's control socket.
    pub fn control_path(&self) -> PathBuf {
        chand::daemon::control_path(&self.config)
    }
}

/// A running `chand run --config FILE --allow-root --log-level debug`.
pub struct Chand {
    /// The process.
    pub daemon: Daemon,
    control: PathBuf,
    config: PathBuf,
}

impl Chand {
    /// Start chand (built first, see [`binary`]) on `cfg` and wait until its control socket
    /// answers.
    pub fn start(env: &Env, cfg: &ConfigFile) -> Self {
        Self::start_with(&binary("chand"), env, cfg)
    }

    /// [`Chand::start`] with the chand binary at `bin`.
    pub fn start_with(bin: &Path, env: &Env, cfg: &ConfigFile) -> Self {
        let config = cfg.path.display().to_string();
        let daemon = Daemon::spawn(
            bin,
            &[
                "run",
                "--config",
                &config,
                "--allow-root",
                "--log-level",
                env.log_level,
            ],
            &env.log_path("chand"),
        );
        let mut chand = Self {
            daemon,
            control: cfg.control_path(),
            config: cfg.path.clone(),
        };
        let up = wait_for(START_TIMEOUT, || {
            chand.daemon.assert_running();
            chand.request("status json").is_ok()
        });
        assert!(
            up,
            "chand did not answer on {} within {START_TIMEOUT:?}; log:\n{}",
            chand.control.display(),
            chand.daemon.log()
        );
        chand
    }

    /// One control request (`status json`, `mwi 8000 on`, ...) over the control socket.
    pub fn request(&self, line: &str) -> std::io::Result<String> {
        chand::control::request(&self.control, line)
    }

    /// `status json`, parsed.
    pub fn status(&self) -> ChandStatus {
        chand::control::query_status(&self.control)
            .unwrap_or_else(|e| panic!("chand status: {e}; log:\n{}", self.daemon.log()))
    }

    /// The FXS port of `number` in `status json`.
    pub fn port_status(&self, number: &str) -> PortStatus {
        let st = self.status();
        st.port(number)
            .cloned()
            .unwrap_or_else(|| panic!("no FXS port {number} in {st:#?}"))
    }

    /// Wait until `cond` holds of `status json`; panics with the status and log otherwise.
    pub fn wait_status(
        &mut self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&ChandStatus) -> bool,
    ) {
        let mut last = None;
        let ok = wait_for(timeout, || {
            self.daemon.assert_running();
            let st = self.status();
            let met = cond(&st);
            last = Some(st);
            met
        });
        assert!(
            ok,
            "timed out waiting for {what}; last status {last:#?}; log:\n{}",
            self.daemon.log()
        );
    }

    /// Wait until the FXS port of `number` shows `mwi` (the table's news has reached the line).
    pub fn wait_port_mwi(&mut self, number: &str, mwi: bool) {
        self.wait_status(
            &format!("port {number} mwi {mwi}"),
            Duration::from_secs(5),
            |st| st.port(number).is_some_and(|p| p.mwi == mwi),
        );
    }

    /// Run the `chand` command line (`status --json`, `mwi 8000 on`, ...) against this
    /// daemon's config: (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = std::process::Command::new(binary("chand"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .expect("run the chand command line");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// A running `sipd run --config FILE`.
pub struct Sipd {
    /// The process.
    pub daemon: Daemon,
    config: Config,
}

impl Sipd {
    /// Start sipd (built first, see [`binary`]) on `cfg` and wait until its status socket
    /// answers.
    pub fn start(env: &Env, cfg: &ConfigFile) -> Self {
        Self::start_with(&binary("sipd"), env, cfg)
    }

    /// [`Sipd::start`] with the sipd binary at `bin`.
    pub fn start_with(bin: &Path, env: &Env, cfg: &ConfigFile) -> Self {
        let config = cfg.path.display().to_string();
        let daemon = Daemon::spawn(
            bin,
            &["run", "--config", &config, "--allow-root"],
            &env.log_path("sipd"),
        );
        let mut sipd = Self {
            daemon,
            config: cfg.config.clone(),
        };
        let up = wait_for(START_TIMEOUT, || {
            sipd.daemon.assert_running();
            sipd.status().is_ok()
        });
        assert!(
            up,
            "sipd did not answer status within {START_TIMEOUT:?}; log:\n{}",
            sipd.daemon.log()
        );
        sipd
    }

    /// `sipd status --json`, as JSON.
    ///
    /// Errors: sipd is not running or did not answer.
    pub fn status(&self) -> Result<Value, String> {
        let st = sipd::daemon::query_status(&self.config)?;
        serde_json::to_value(st).map_err(|e| e.to_string())
    }
}
