//! What every scenario shares: the chand (and sipd) installation, status lookups, the
//! sources of MWI news, and starting and stopping the daemons.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dahdi_mwi_tests::daemon::{wait_for, Daemon};
use dahdi_mwi_tests::sip::{Summary, VoiceMail};
use dahdi_mwi_tests::vmcheck::{ms, Report, DCHAN_GW, FXS_PORT};
use mwi_config::Config;
use mwi_core::MwiState;
use mwi_table::{TableConfig, Writer};
use serde_json::Value;

/// The FXS port's number and a served user behind the PBX (pattern `2...`).
pub const FXS_NUMBER: &str = "8000";
pub const PRI_NUMBER: &str = "2001";
/// sipd's UDP port in `vm-chand e2e` (loopback of the guest, where nothing else listens).
pub const SIP_PORT: u16 = 5060;

/// The job folder (results stay there), or the current directory outside the VM tier.
pub fn job_dir() -> PathBuf {
    std::env::var_os("VM_JOB").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// One chand installation: table, state and runtime dirs under /tmp (guest tmpfs), the config
/// and chand's log in the job folder.
pub struct Install {
    name: String,
    pub dir: PathBuf,
    config_path: PathBuf,
    config: Config,
    /// Start the daemons with stdout and stderr on journald (see [`Install::start_daemon`])
    /// instead of a log file.
    pub journal: bool,
}

impl Install {
    /// A fresh installation `name` with an FXS port on channel 2 playing `plan` (none: no FXS
    /// port; its calls run DAHDI's echo canceller with 128 taps, tests/vm/system.conf) and PRI span 1 (D-channel 24, user side, `numbers = ["2..."]`) using `transport`;
    /// with `sip_port`, sipd's part too: unsolicited NOTIFYs from 127.0.0.1 over UDP to
    /// 127.0.0.1:`sip_port`.
    pub fn new(
        name: &str,
        plan: Option<&str>,
        transport: &str,
        sip_port: Option<u16>,
    ) -> Result<Self, String> {
        Self::with_calls(name, plan, transport, sip_port, "")
    }

    /// [`Install::new`] with `calls` (TOML: the `[pri.calls]` table and its keys) after span 1's
    /// `[[pri]]` keys: span 1 as a trunk.
    pub fn with_calls(
        name: &str,
        plan: Option<&str>,
        transport: &str,
        sip_port: Option<u16>,
        calls: &str,
    ) -> Result<Self, String> {
        let dir = PathBuf::from(format!("/tmp/vm-chand/{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let fxs = plan.map_or_else(String::new, |plan| {
            format!(
                "[[fxs]]\nchannel = {FXS_PORT}\nnumber = \"{FXS_NUMBER}\"\ncptone = \"{plan}\"\n\
                 echo_cancel = 128\n"
            )
        });
        let (sip, unsolicited) = sip_port.map_or_else(Default::default, |port| {
            (
                format!("[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\n"),
                "unsolicited = true\nallow = [\"127.0.0.1/32\"]\noptions_interval = 0\n".to_owned(),
            )
        });
        let text = format!(
            "{sip}[mwi_server]\nserver = \"ipv4:127.0.0.1\"\n{unsolicited}\
             [dahdi]\nbackend = \"kernel\"\n\
             {fxs}\
             [[pri]]\nspan = 1\ndchannel = {DCHAN_GW}\nside = \"user\"\nnumbers = [\"2...\"]\n\
             mwi_transport = \"{transport}\"\n{calls}\
             [state]\ndir = \"{d}/state\"\nruntime_dir = \"{d}/run\"\n\
             [table]\npath = \"{d}/mwi-table\"\ncapacity = 4096\n\
             [log]\nlevel = \"info\"\n",
            d = dir.display()
        );
        let config_path = job_dir().join(format!("vm-chand-{name}.toml"));
        let config = Config::from_str(&text, config_path.display().to_string())
            .map_err(|e| format!("config does not parse: {e}\n{text}"))?;
        std::fs::write(&config_path, &text)
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        Ok(Self {
            name: name.to_owned(),
            dir,
            config_path,
            config,
            journal: false,
        })
    }

    /// Copies the logs (kept on tmpfs while running: a write to the 9p job folder costs a
    /// round trip to the host, which would slow chand's event loop) to the job folder as
    /// `vm-chand-NAME.*.log`.
    pub fn keep_logs(&self) {
        for log in ["chand.log", "sipd.log", "libpri.log", "libpri.stderr"] {
            let from = self.dir.join(log);
            if from.exists() {
                let to = job_dir().join(format!("vm-chand-{}.{log}", self.name));
                if let Err(e) = std::fs::copy(&from, &to) {
                    println!("# cannot keep {}: {e}", from.display());
                }
            }
        }
    }

    /// The shared table as a writer (standing in for sipd).
    pub fn writer(&self) -> Result<Writer, String> {
        Writer::open(&TableConfig::for_config(&self.config))
            .map_err(|e| format!("open the MWI table as its writer: {e}"))
    }

    /// `chand run --config FILE --allow-root`, once its control socket answers.
    pub fn start(&self, bin: &Path) -> Result<Daemon, String> {
        self.start_daemon(bin, "chand", || self.status().is_ok())
    }

    /// `sipd run --config FILE --allow-root`, once its status socket answers.
    pub fn start_sipd(&self, bin: &Path) -> Result<Daemon, String> {
        self.start_daemon(bin, "sipd", || {
            sipd::daemon::query_status(&self.config).is_ok()
        })
    }

    /// `NAME run --config FILE --allow-root` logging to `NAME.log` (with `journal`: to
    /// journald, as systemd starts a unit), once `up` holds.
    fn start_daemon(
        &self,
        bin: &Path,
        name: &str,
        up: impl Fn() -> bool,
    ) -> Result<Daemon, String> {
        let config = self.config_path.display().to_string();
        let run = ["run", "--config", &config, "--allow-root"];
        let log = self.dir.join(format!("{name}.log"));
        let mut daemon = if self.journal {
            // systemd-cat connects stdout and stderr to journald but, unlike systemd, does not
            // set JOURNAL_STREAM (systemd.exec(5)), by which the daemon knows it: the shell
            // sets it to stderr's device:inode, then becomes the daemon.
            let bin = bin.display().to_string();
            let mut args = vec![
                "-t",
                name,
                "sh",
                "-c",
                r#"export JOURNAL_STREAM="$(stat -L -c %d:%i /proc/self/fd/2)"; exec "$0" "$@""#,
                &bin,
            ];
            args.extend(run);
            Daemon::spawn(Path::new("systemd-cat"), &args, &log)
        } else {
            Daemon::spawn(bin, &run, &log)
        };
        let start = Instant::now();
        let answered = wait_for(Duration::from_secs(20), || {
            daemon.exited().is_some() || up()
        });
        if let Some(st) = daemon.exited() {
            return Err(format!("{name} exited ({st}); log:\n{}", daemon.log()));
        }
        if !answered {
            return Err(format!(
                "{name}'s socket did not answer within 20 s; log:\n{}",
                daemon.log()
            ));
        }
        println!(
            "# {name} ({}) answering after {}",
            self.name,
            ms(start.elapsed())
        );
        Ok(daemon)
    }

    /// `status json` over the control socket.
    pub fn status(&self) -> Result<Value, String> {
        let text =
            chand::control::request(&chand::daemon::control_path(&self.config), "status json")
                .map_err(|e| format!("chand status: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("status JSON {text:?}: {e}"))
    }

    /// Waits up to `timeout` for `cond` on `status json`; the last status either way.
    pub fn wait_status(
        &self,
        timeout: Duration,
        cond: impl Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        let mut last = Value::Null;
        if wait_for(timeout, || {
            last = self.status().unwrap_or(Value::Null);
            cond(&last)
        }) {
            Ok(last)
        } else {
            Err(format!("last status {last}"))
        }
    }

    /// The `chand` command line against this installation: (success, stdout + stderr).
    pub fn cli(&self, bin: &Path, args: &[&str]) -> Result<String, String> {
        let out = Command::new(bin)
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .output()
            .map_err(|e| format!("run chand {args:?}: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "chand {args:?}: {}: {text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

pub fn fxs_port(st: &Value) -> Option<&Value> {
    st["fxs"]
        .as_array()?
        .iter()
        .find(|p| p["number"] == FXS_NUMBER)
}

pub fn pri_span(st: &Value) -> Option<&Value> {
    st["pri"].as_array()?.iter().find(|p| p["span"] == 1)
}

pub fn lamp<'a>(st: &'a Value, number: &str) -> Option<&'a Value> {
    pri_span(st)?["lamps"]
        .as_array()?
        .iter()
        .find(|l| l["number"] == number)
}

/// Where the MWI news comes from: the shared table written by this program (standing in for
/// sipd), or sipd itself fed unsolicited NOTIFYs.
pub trait Source {
    /// Makes `state` the news for `number`.
    fn publish(&mut self, number: &str, state: MwiState) -> Result<(), String>;
    /// What a latency is counted from, e.g. `the table write`.
    fn origin(&self) -> &'static str;
}

impl Source for Writer {
    fn publish(&mut self, number: &str, state: MwiState) -> Result<(), String> {
        Writer::publish(self, number, state)
            .map(drop)
            .map_err(|e| format!("publish: {e}"))
    }

    fn origin(&self) -> &'static str {
        "the table write"
    }
}

/// A scripted voice-mail server sending unsolicited NOTIFYs (RFC 3842) over loopback UDP to
/// sipd at `sipd`; each must be answered 200 OK.
pub struct Notifier {
    vm: VoiceMail,
    sipd: SocketAddr,
}

impl Notifier {
    /// A voice mail on a fresh loopback UDP socket, sending to sipd at 127.0.0.1:[`SIP_PORT`].
    pub fn bind() -> Result<Self, String> {
        let vm = VoiceMail::bind().map_err(|e| format!("voice mail's UDP socket: {e}"))?;
        Ok(Notifier {
            vm,
            sipd: SocketAddr::from(([127, 0, 0, 1], SIP_PORT)),
        })
    }
}

impl Source for Notifier {
    fn publish(&mut self, number: &str, state: MwiState) -> Result<(), String> {
        let summary = Summary {
            number: number.to_owned(),
            waiting: state.waiting,
            new: state.new,
            old: state.old,
        };
        let text = self.vm.notify_text(&summary, self.sipd);
        let answer = self
            .vm
            .send(&text, self.sipd, Duration::from_secs(5))
            .map_err(|e| format!("NOTIFY for {number} to sipd: {e}"))?;
        if answer == "SIP/2.0 200 OK" {
            Ok(())
        } else {
            Err(format!(
                "sipd answered the NOTIFY for {number} with {answer}"
            ))
        }
    }

    fn origin(&self) -> &'static str {
        "sending the NOTIFY"
    }
}

/// A fresh installation (see [`Install::new`]), its table writer and chand started; `None`
/// when one of them fails, recorded as the failed check `chand run (NAME)`.
pub fn launch(
    report: &mut Report,
    chand_bin: &Path,
    name: &str,
    plan: Option<&str>,
    transport: &str,
) -> Option<(Install, Writer, Daemon)> {
    let run = Install::new(name, plan, transport, None).and_then(|inst| {
        let writer = inst.writer()?;
        let chand = inst.start(chand_bin)?;
        Ok((inst, writer, chand))
    });
    match run {
        Ok(r) => Some(r),
        Err(e) => {
            report.record(&format!("chand run ({name})"), Err(e));
            None
        }
    }
}

/// SIGTERM to the daemon `name`, which must exit 0; the logs go to the job folder.
pub fn stop(report: &mut Report, inst: &Install, name: &str, mut daemon: Daemon) {
    let st = daemon.stop();
    inst.keep_logs();
    report.record(
        &format!("{name} stops on SIGTERM ({})", inst.name),
        if st.success() {
            Ok(format!("{st}"))
        } else {
            Err(format!("{st}; log:\n{}", daemon.log()))
        },
    );
}
