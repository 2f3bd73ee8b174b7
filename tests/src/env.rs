//! One isolated installation per test: a temp dir holding the config, the sim sockets, the
//! shared MWI table, the state and runtime dirs and the daemons' logs, so tests run in parallel
//! without sharing anything.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chand::status::{ChandStatus, PortStatus};
use mwi_config::Config;
use mwi_core::MwiState;
use mwi_table::{Reader, TableConfig, TableError, Writer};
use serde_json::Value;
use sipd::ua::UaStatus;

use crate::daemon::{binary, command_via, wait_for, Daemon};
use crate::sip::free_port;

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
    /// The binary it runs, for [`Chand::cli`].
    bin: PathBuf,
}

impl Chand {
    /// Start chand (built first, see [`binary`]) on `cfg` and wait until its control socket
    /// answers.
    pub fn start(env: &Env, cfg: &ConfigFile) -> Self {
        Self::start_with(&binary("chand"), env, cfg)
    }

    /// [`Chand::start`] with the chand binary at `bin`.
    pub fn start_with(bin: &Path, env: &Env, cfg: &ConfigFile) -> Self {
        Self::start_via(bin, &[], env, cfg)
    }

    /// [`Chand::start_with`], chand run by the command line `launcher` (e.g. `ip netns exec
    /// NS`, which execs chand so the pid stays chand's; empty: directly).
    pub fn start_via(bin: &Path, launcher: &[&str], env: &Env, cfg: &ConfigFile) -> Self {
        let mut cmd = command_via(launcher, bin);
        cmd.arg("run").arg("--config").arg(&cfg.path).args([
            "--allow-root",
            "--log-level",
            env.log_level,
        ]);
        let daemon = Daemon::spawn_command("chand", &mut cmd, &env.log_path("chand"));
        let mut chand = Self {
            daemon,
            control: cfg.control_path(),
            config: cfg.path.clone(),
            bin: bin.to_path_buf(),
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
        cli(&self.bin, &self.config, args)
    }
}

/// A running `sipd run --config FILE --allow-root`, stopped when dropped: the one sipd
/// launcher of every suite. Either in an installation of this module ([`Sipd::start_in`]) or
/// alone in a directory, with a config of its own `[sip] listen` on a free loopback port and
/// the sections under test ([`Sipd::start`] and its variants).
pub struct Sipd {
    /// The process.
    pub daemon: Daemon,
    /// The config file it runs with.
    pub config: PathBuf,
    /// The directory holding the config and the log.
    pub dir: PathBuf,
    /// The port of its first `[sip] listen` entry (0 if the config names none).
    pub port: u16,
    /// When the process was started (after any build).
    pub started: Instant,
    parsed: Config,
    /// The installation it owns, if any: dropped after the daemon, with its temp dir.
    home: Option<Env>,
    /// The binary it runs, for [`Sipd::cli`].
    bin: PathBuf,
}

impl Sipd {
    /// Start sipd (built first, see [`binary`]) on `cfg` and wait until its status socket
    /// answers.
    pub fn start_in(env: &Env, cfg: &ConfigFile) -> Self {
        Self::start_in_with(&binary("sipd"), env, cfg)
    }

    /// [`Sipd::start_in`] with the sipd binary at `bin`.
    pub fn start_in_with(bin: &Path, env: &Env, cfg: &ConfigFile) -> Self {
        let mut sipd = Self::spawn(bin, &[], &[], env.path(), &cfg.path, cfg.config.clone());
        let up = wait_for(START_TIMEOUT, || {
            sipd.daemon.assert_running();
            sipd.status_json().is_ok()
        });
        assert!(
            up,
            "sipd did not answer status within {START_TIMEOUT:?}; log:\n{}",
            sipd.daemon.log()
        );
        sipd
    }

    /// Start sipd on `cfg` in the installation `env`, which it keeps (see [`Sipd::start_in`]),
    /// without waiting for it.
    pub fn start_owning(env: Env, cfg: &ConfigFile) -> Self {
        let mut sipd = Self::spawn(
            &binary("sipd"),
            &[],
            &[],
            env.path(),
            &cfg.path,
            cfg.config.clone(),
        );
        sipd.home = Some(env);
        sipd
    }

    /// Write a config (`[sip] listen` on a free port of 127.0.0.1, `extra` appended: the
    /// sections under test) into `dir` and start `sipd run` with debug logging to
    /// `dir/sipd.log`, without waiting for it.
    pub fn start(dir: &Path, extra: &str) -> Self {
        Self::start_on(dir, &["127.0.0.1"], extra)
    }

    /// [`Sipd::start`] listening on UDP and TCP of every address in `ips` (one free port).
    pub fn start_on(dir: &Path, ips: &[&str], extra: &str) -> Self {
        Self::launch(dir, ips, "", "", extra, &[], &[])
    }

    /// [`Sipd::start`] with `table_keys` (lines such as `capacity = 2`) added to the `[table]`
    /// section.
    pub fn start_with_table(dir: &Path, table_keys: &str, extra: &str) -> Self {
        Self::launch(dir, &["127.0.0.1"], "", table_keys, extra, &[], &[])
    }

    /// [`Sipd::start_on`] with `sip_keys` (lines such as `max_message_size = 2048`) added to
    /// the `[sip]` section.
    pub fn start_with(dir: &Path, ips: &[&str], sip_keys: &str, extra: &str) -> Self {
        Self::launch(dir, ips, sip_keys, "", extra, &[], &[])
    }

    /// [`Sipd::start_on`] with sipd run by the command line `launcher` (e.g. `prlimit
    /// --nofile=1024:1024`; empty: directly) and with `vars` added to its environment.
    pub fn start_via(
        dir: &Path,
        ips: &[&str],
        extra: &str,
        launcher: &[&str],
        vars: &[(&str, &str)],
    ) -> Self {
        Self::launch(dir, ips, "", "", extra, launcher, vars)
    }

    fn launch(
        dir: &Path,
        ips: &[&str],
        sip_keys: &str,
        table_keys: &str,
        extra: &str,
        launcher: &[&str],
        vars: &[(&str, &str)],
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
             [table]\npath = \"{d}/table\"\n{table_keys}[log]\nlevel = \"debug\"\n{extra}",
            listen.join(", ")
        );
        let config = dir.join("dahdi-mwi.toml");
        let parsed = Config::from_str(&text, config.display().to_string())
            .unwrap_or_else(|e| panic!("test config does not parse: {e}\n{text}"));
        std::fs::write(&config, text).expect("config");
        std::fs::create_dir_all(dir.join("state")).expect("state dir");
        Self::spawn(&binary("sipd"), launcher, vars, dir, &config, parsed)
    }

    fn spawn(
        bin: &Path,
        launcher: &[&str],
        vars: &[(&str, &str)],
        dir: &Path,
        config: &Path,
        parsed: Config,
    ) -> Self {
        let mut cmd = command_via(launcher, bin);
        cmd.envs(vars.iter().copied())
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--allow-root");
        let started = Instant::now();
        let daemon = Daemon::spawn_command("sipd", &mut cmd, &dir.join("sipd.log"));
        Self {
            daemon,
            bin: bin.to_path_buf(),
            config: config.to_owned(),
            dir: dir.to_owned(),
            port: parsed.sip.listen.first().map_or(0, |l| l.addr.port()),
            started,
            parsed,
            home: None,
        }
    }

    /// Run the `sipd` command line (`status --format cisco`, `trace on`, `capture off`, ...)
    /// against this daemon's config: (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        cli(&self.bin, &self.config, args)
    }

    /// The daemon's status, typed; `None` while it is not answering.
    pub fn status(&self) -> Option<UaStatus> {
        sipd::daemon::query_status(&self.parsed).ok().map(|s| s.ua)
    }

    /// `sipd status --json`, as JSON.
    ///
    /// Errors: sipd is not running or did not answer.
    pub fn status_json(&self) -> Result<Value, String> {
        let st = sipd::daemon::query_status(&self.parsed)?;
        serde_json::to_value(st).map_err(|e| e.to_string())
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// The shared table as sipd opens it.
    pub fn table_config(&self) -> TableConfig {
        TableConfig::for_config(&self.parsed)
    }

    /// The state of `number` in the shared MWI table, as chand would read it.
    pub fn table_state(&self, number: &str) -> Option<MwiState> {
        let reader = Reader::open(&self.table_config()).ok()?;
        reader.lookup(number).ok()?.map(|e| e.state)
    }
}

/// Run a daemon's command line `BIN ARGS --config CONFIG` against the running daemon:
/// (success, stdout, stderr). Panics if the binary cannot be run.
fn cli(bin: &Path, config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(bin)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", bin.display()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
