//! `chand`: the dahdi-mwi channel daemon's command line.
//!
//! ```text
//! chand run [--config FILE] [--log-level LEVEL] [--allow-root]
//! chand status [--json] [--config FILE]
//! chand mwi NUMBER on|off|reset [--config FILE]
//! chand check-config [--config FILE]
//! ```
//! FILE defaults to `/etc/dahdi-mwi/dahdi-mwi.toml`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chand::backend::dahdi::DahdiBackend;
use chand::backend::sim::SimBackend;
use chand::backend::Backend;
use chand::{control, daemon, daemon::Daemon};
use log::{error, info, warn};
use mwi_core::config::{
    self, check_config_command, take_config_option, Config, Number, EXIT_USAGE,
};
use mwi_core::service;

const USAGE: &str = "usage:
  chand run [--config FILE] [--log-level LEVEL] [--allow-root]
  chand status [--json] [--config FILE]
  chand mwi NUMBER on|off|reset [--config FILE]
  chand check-config [--config FILE]
FILE defaults to /etc/dahdi-mwi/dahdi-mwi.toml";

/// What `chand mwi NUMBER ...` does to the number's MWI state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MwiAction {
    /// Set message waiting.
    On,
    /// Clear message waiting.
    Off,
    /// Forget the local override: back to what the voice-mail server said.
    Reset,
}

impl MwiAction {
    /// The word of the control protocol.
    fn as_str(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
            Self::Reset => "reset",
        }
    }
}

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run {
        config: PathBuf,
        /// `--log-level`: overrides `[log] level`.
        log_level: Option<log::LevelFilter>,
        /// `--allow-root`: run even as root.
        allow_root: bool,
    },
    Status {
        json: bool,
        config: PathBuf,
    },
    Mwi {
        number: Number,
        action: MwiAction,
        config: PathBuf,
    },
    /// The arguments after `check-config`, for [`check_config_command`].
    CheckConfig(Vec<OsString>),
    Help,
}

/// Parse the arguments after the program name.
fn parse(args: &[OsString]) -> Result<Command, String> {
    let Some(sub) = args.first() else {
        return Err("no command given".into());
    };
    let rest = &args[1..];
    let sub = sub.to_str().unwrap_or("");
    if sub == "check-config" {
        return Ok(Command::CheckConfig(rest.to_vec()));
    }
    let (config, rest) = take_config_option(rest)?;
    let rest: Vec<&str> = rest
        .iter()
        .map(|a| {
            a.to_str()
                .ok_or_else(|| format!("argument {a:?} is not UTF-8"))
        })
        .collect::<Result<_, _>>()?;
    match (sub, rest.as_slice()) {
        ("help" | "--help" | "-h", []) => Ok(Command::Help),
        ("run", opts) => parse_run(config, opts),
        ("status", []) => Ok(Command::Status {
            json: false,
            config,
        }),
        ("status", ["--json"]) => Ok(Command::Status { json: true, config }),
        ("mwi", [number, action]) => Ok(Command::Mwi {
            number: number.parse()?,
            action: match *action {
                "on" => MwiAction::On,
                "off" => MwiAction::Off,
                "reset" => MwiAction::Reset,
                _ => return Err(format!("mwi: {action:?} is not on, off or reset")),
            },
            config,
        }),
        ("status" | "mwi" | "help" | "--help" | "-h", _) => {
            Err(format!("{sub}: unexpected arguments {rest:?}"))
        }
        _ => Err(format!("unknown command {sub:?}")),
    }
}

/// The options of `chand run`.
fn parse_run(config: PathBuf, opts: &[&str]) -> Result<Command, String> {
    let mut log_level = None;
    let mut allow_root = false;
    let mut it = opts.iter();
    while let Some(opt) = it.next() {
        match *opt {
            "--allow-root" => allow_root = true,
            "--log-level" => {
                let level = it.next().ok_or("--log-level needs a LEVEL")?;
                log_level = Some(
                    level
                        .parse::<mwi_core::config::LogLevel>()
                        .map_err(|e| format!("--log-level: {e}"))?
                        .filter(),
                );
            }
            other => return Err(format!("run: unexpected argument {other:?}")),
        }
    }
    Ok(Command::Run {
        config,
        log_level,
        allow_root,
    })
}

/// `chand run`: load the config, open the channels and the table, serve until SIGTERM.
fn run(config: &Path, log_level: Option<log::LevelFilter>, allow_root: bool) -> ExitCode {
    let cfg = match Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chand: {e}");
            return ExitCode::FAILURE;
        }
    };
    service::init_logging("chand", log_level.unwrap_or(cfg.log.level.filter()));
    if let Err(e) = service::refuse_root("chand", allow_root) {
        error!("{e}");
        return ExitCode::FAILURE;
    }
    let mut backend: Box<dyn Backend> = match cfg.dahdi.backend {
        config::Backend::Sim => match SimBackend::new(&cfg.dahdi.sim_dir) {
            Ok(b) => Box::new(b),
            Err(e) => {
                error!("sim back-end in {}: {e}", cfg.dahdi.sim_dir.display());
                return ExitCode::FAILURE;
            }
        },
        config::Backend::Kernel => Box::new(DahdiBackend),
    };
    let mut systemd = service::Systemd::new();
    let mut daemon = match Daemon::new(&cfg, backend.as_mut()) {
        Ok(d) => d,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if cfg.dahdi.realtime_priority > 0 {
        // Only the loop thread: the table's notifier thread keeps the normal scheduler.
        match driver_ffi::sched::set_realtime(cfg.dahdi.realtime_priority as i32) {
            Ok(()) => info!(
                "event loop under SCHED_FIFO priority {}",
                cfg.dahdi.realtime_priority
            ),
            Err(e) => warn!(
                "realtime_priority = {}: SCHED_FIFO refused ({e}); chand needs CAP_SYS_NICE \
                 (the systemd unit grants it); running with the normal scheduler",
                cfg.dahdi.realtime_priority
            ),
        }
    }
    // CAP_SYS_NICE served only to set SCHED_FIFO above: nothing later needs a privilege
    // (a reload does not change the priority), so none is kept.
    match service::drop_capabilities(&[]) {
        Ok(()) => info!("all capabilities dropped"),
        Err(e) => warn!("dropping capabilities: {e}"),
    }
    daemon.watch_config(config);
    systemd.ready(&format!(
        "{} FXS port(s), {} PRI span(s)",
        cfg.fxs.len(),
        cfg.pri.len()
    ));
    let result = daemon.run(|_| systemd.tick());
    systemd.stopping();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `chand status` and `chand mwi`: one request to the running daemon.
fn ask(config: &Path, line: &str) -> ExitCode {
    let cfg = match Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chand: {e}");
            return ExitCode::FAILURE;
        }
    };
    match control::request(&daemon::control_path(&cfg), line) {
        Ok(answer) => {
            print!("{answer}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chand: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match parse(&args) {
        Ok(Command::CheckConfig(rest)) => check_config_command("chand", &rest),
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run {
            config,
            log_level,
            allow_root,
        }) => run(&config, log_level, allow_root),
        Ok(Command::Status { json, config }) => {
            ask(&config, if json { "status json" } else { "status" })
        }
        Ok(Command::Mwi {
            number,
            action,
            config,
        }) => ask(&config, &format!("mwi {number} {}", action.as_str())),
        Err(e) => {
            eprintln!("chand: {e}\n{USAGE}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &str) -> Result<Command, String> {
        parse(
            &args
                .split_whitespace()
                .map(OsString::from)
                .collect::<Vec<_>>(),
        )
    }

    fn default() -> PathBuf {
        PathBuf::from(mwi_core::config::DEFAULT_CONFIG_PATH)
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(
            p("run --config /x.toml"),
            Ok(Command::Run {
                config: "/x.toml".into(),
                log_level: None,
                allow_root: false,
            })
        );
        assert_eq!(
            p("run --log-level debug --allow-root"),
            Ok(Command::Run {
                config: default(),
                log_level: Some(log::LevelFilter::Debug),
                allow_root: true,
            })
        );
        assert_eq!(
            p("status --json --config=/x.toml"),
            Ok(Command::Status {
                json: true,
                config: "/x.toml".into()
            })
        );
        assert_eq!(
            p("status"),
            Ok(Command::Status {
                json: false,
                config: default()
            })
        );
        assert_eq!(
            p("mwi 8000 reset"),
            Ok(Command::Mwi {
                number: "8000".parse().unwrap(),
                action: MwiAction::Reset,
                config: default()
            })
        );
        assert_eq!(
            p("check-config --config a.toml"),
            Ok(Command::CheckConfig(vec![
                "--config".into(),
                "a.toml".into()
            ]))
        );
        assert_eq!(p("--help"), Ok(Command::Help));
    }

    #[test]
    fn rejects_bad_command_lines() {
        assert!(p("").unwrap_err().contains("no command"));
        assert!(p("start").unwrap_err().contains("unknown command"));
        assert!(p("mwi 8000 blink")
            .unwrap_err()
            .contains("not on, off or reset"));
        assert!(p("mwi 80x0 on").unwrap_err().contains("bad number"));
        assert!(p("status --yaml").unwrap_err().contains("unexpected"));
        assert!(p("run --config").unwrap_err().contains("needs a FILE"));
        assert!(p("run --log-level loud")
            .unwrap_err()
            .contains("--log-level"));
        assert!(p("run -c a -c b").unwrap_err().contains("twice"));
    }
}
