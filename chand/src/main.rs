//! `chand`: the dahdi-mwi channel daemon's command line.
//!
//!
//! `chand --help` and the man page chand(8) give the command line; [`Cli`] defines it.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;

use chand::backend::dahdi::DahdiBackend;
use chand::backend::sim::SimBackend;
use chand::backend::Backend;
use chand::{control, daemon, daemon::Daemon};
use clap::{Parser, Subcommand, ValueEnum};
use log::{error, info, warn};
use mwi_config::{
    self as config, check_config, print_completions, Common, Config, ConfigArg, Number,
};
use mwi_service as service;

/// The dahdi-mwi channel daemon: drives the FXS ports and PRI D-channels from the shared MWI
/// table, and the calls on them.
#[derive(Parser, Debug)]
#[command(name = "chand", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug, PartialEq, Eq)]
enum Command {
    #[command(flatten)]
    Common(Common),
    /// Print the state of every port and span of the running daemon.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Override a number's MWI by hand, or give it back to the voice-mail server.
    Mwi {
        /// The number (1 to 32 digits, optionally after '+').
        number: Number,
        /// What to do.
        action: MwiAction,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// What `chand mwi NUMBER ...` does to the number's MWI state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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

/// `chand status`, `chand mwi`, `chand trace` and `chand capture`: one request to the running daemon.
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
    match Cli::parse().command {
        Command::Common(Common::Run(a)) => run(
            &a.config.path,
            a.log_level.map(|l| l.filter()),
            a.allow_root,
        ),
        Command::Common(Common::CheckConfig(c)) => check_config(&c.path),
        Command::Status { json, config } => {
            ask(&config.path, if json { "status json" } else { "status" })
        }
        Command::Mwi {
            number,
            action,
            config,
        } => ask(&config.path, &format!("mwi {number} {}", action.as_str())),
        Command::Common(Common::Trace { state, config }) => {
            ask(&config.path, &format!("trace {}", state.as_str()))
        }
        Command::Common(Common::Capture { state, config }) => {
            ask(&config.path, &format!("capture {}", state.as_str()))
        }
        Command::Common(Common::Completions { shell }) => print_completions::<Cli>(shell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mwi_config::{RunArgs, Switch};
    use std::path::PathBuf;

    fn p(args: &str) -> Result<Command, String> {
        Cli::try_parse_from(std::iter::once("chand").chain(args.split_whitespace()))
            .map(|c| c.command)
            .map_err(|e| e.to_string())
    }

    fn config(path: &str) -> ConfigArg {
        ConfigArg {
            path: PathBuf::from(path),
        }
    }

    fn default() -> ConfigArg {
        config(mwi_config::DEFAULT_CONFIG_PATH)
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(
            p("run --config /x.toml"),
            Ok(Command::Common(Common::Run(RunArgs {
                config: config("/x.toml"),
                log_level: None,
                allow_root: false,
            })))
        );
        assert_eq!(
            p("run --log-level debug --allow-root"),
            Ok(Command::Common(Common::Run(RunArgs {
                config: default(),
                log_level: Some(mwi_config::LogLevel::Debug),
                allow_root: true,
            })))
        );
        assert_eq!(
            p("status --json --config=/x.toml"),
            Ok(Command::Status {
                json: true,
                config: config("/x.toml")
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
            p("trace off"),
            Ok(Command::Common(Common::Trace {
                state: Switch::Off,
                config: default()
            }))
        );
        assert_eq!(
            p("check-config -c a.toml"),
            Ok(Command::Common(Common::CheckConfig(config("a.toml"))))
        );
    }

    #[test]
    fn rejects_bad_command_lines() {
        for (args, why) in [
            ("", "Usage: chand <COMMAND>"),
            ("start", "unrecognized subcommand 'start'"),
            ("mwi 8000 blink", "invalid value 'blink'"),
            ("trace maybe", "invalid value 'maybe'"),
            ("mwi 80x0 on", "bad number"),
            ("status --yaml", "unexpected argument '--yaml'"),
            ("run --config", "a value is required for '--config <FILE>'"),
            ("run --log-level loud", "unknown level \"loud\""),
            ("run -c a -c b", "cannot be used multiple times"),
        ] {
            let e = p(args).expect_err(args);
            assert!(e.contains(why), "{args:?}: {e}");
        }
    }
}

#[cfg(test)]
mod man {
    use super::Cli;

    #[test]
    fn man_page_synopsis_is_the_parser() {
        let want = mwi_config::man_synopsis::<Cli>();
        let page = mwi_config::synopsis_of(include_str!("../../man/chand.8"));
        assert_eq!(
            page,
            Some(want.as_str()),
            "man/chand.8's SYNOPSIS must read:\n{want}"
        );
    }
}
