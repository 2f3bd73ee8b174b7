//! sipd: the dahdi-mwi SIP daemon.
//!
//! `sipd --help` and the man page sipd(8) give the command line; [`Cli`] defines it.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use mwi_config::{check_config, print_completions, Common, Config, ConfigArg, Switch};
use mwi_service as service;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The dahdi-mwi SIP daemon: subscribes to message-summary (RFC 3842) at the voice-mail
/// server and writes what it hears to the shared MWI table.
#[derive(Parser, Debug)]
#[command(name = "sipd", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Common(Common),
    /// Print what the running daemon knows.
    Status {
        /// plain (text with sipd's extras), cisco (`show sip-ua mwi` field for field) or json.
        #[arg(long, value_enum, default_value_t = Format::Plain)]
        format: Format,
        /// Same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// What `sipd status` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Text in the shape of `show sip-ua mwi`, with sipd's extras (server state, target,
    /// message counts, subscriptions, blocked sources, limits).
    Plain,
    /// `show sip-ua mwi` of the modelled gateway field for field ([`sipd::status::render_cisco`]).
    Cisco,
    /// The whole status as a JSON document.
    Json,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Common(Common::Run(a)) => match load(&a.config.path) {
            Some(cfg) => run(
                &cfg,
                &a.config.path,
                a.log_level.map(|l| l.filter()),
                a.allow_root,
            ),
            None => ExitCode::FAILURE,
        },
        Command::Common(Common::CheckConfig(c)) => check_config(&c.path),
        Command::Common(Common::Trace { state, config }) => match load(&config.path) {
            Some(cfg) => switch(&cfg, "trace", state),
            None => ExitCode::FAILURE,
        },
        Command::Common(Common::Capture { state, config }) => match load(&config.path) {
            Some(cfg) => switch(&cfg, "capture", state),
            None => ExitCode::FAILURE,
        },
        Command::Common(Common::Completions { shell }) => print_completions::<Cli>(shell),
        Command::Status {
            format,
            json,
            config,
        } => match load(&config.path) {
            Some(cfg) => status(&cfg, if json { Format::Json } else { format }),
            None => ExitCode::FAILURE,
        },
    }
}

fn load(path: &Path) -> Option<Config> {
    Config::load(path).map_err(|e| eprintln!("{e}")).ok()
}

/// `sipd status`: ask the running daemon.
fn status(cfg: &Config, format: Format) -> ExitCode {
    match sipd::daemon::query_status(cfg) {
        Ok(st) => {
            match format {
                Format::Json => {
                    println!("{}", serde_json::to_string_pretty(&st).unwrap_or_default());
                }
                Format::Cisco => print!(
                    "{}",
                    sipd::status::render_cisco(&st.ua, st.mwi_lookup_failures)
                ),
                Format::Plain => {
                    print!("{}", sipd::status::render(&st.ua));
                    print!("{}", sipd::limits::render(&st.limits));
                    print!("{}", sipd::call::render(&st.calls));
                    if let Some(n) = &st.notifier {
                        print!("{}", sipd::notifier::render(n));
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sipd status: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `sipd trace|capture on|off` (`what` is `trace` or `capture`): tell the running daemon;
/// prints its answer (`trace on`).
fn switch(cfg: &Config, what: &str, state: Switch) -> ExitCode {
    let request = match state {
        Switch::On => format!("{what} on"),
        Switch::Off => format!("{what} off"),
    };
    match sipd::daemon::control(cfg, &request) {
        Ok(answer) if answer.starts_with(request.as_bytes()) => {
            print!("{}", String::from_utf8_lossy(&answer));
            ExitCode::SUCCESS
        }
        Ok(answer) => {
            eprintln!(
                "sipd {what}: {}",
                String::from_utf8_lossy(&answer).trim_end()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("sipd {what}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `sipd run`: raise the open-file limit, bind, tell systemd we are ready, drop capabilities,
/// loop.
fn run(
    cfg: &Config,
    path: &Path,
    log_level: Option<log::LevelFilter>,
    allow_root: bool,
) -> ExitCode {
    service::init_logging("sipd", log_level.unwrap_or(cfg.log.level.filter()));
    if let Err(e) = service::refuse_root("sipd", allow_root) {
        log::error!("{e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = sipd::daemon::raise_nofile_limit() {
        log::warn!("{e}");
    }
    // Only sipd reads a password_file (chand loads the same configuration without it).
    let mut cfg = cfg.clone();
    let credentials = std::env::var_os(sipd::secret::CREDENTIALS_DIRECTORY).map(PathBuf::from);
    if let Err(e) = sipd::secret::read_passwords(&mut cfg, credentials.as_deref()) {
        log::error!("{e}");
        return ExitCode::FAILURE;
    }
    let cfg = &cfg;
    let mut systemd = service::Systemd::new();
    let mut daemon = match sipd::daemon::Daemon::new(cfg, path) {
        Ok(d) => d,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // Port 5060 is bound: no privilege is needed any more.
    if let Err(e) = service::drop_capabilities(&[]) {
        log::warn!("dropping capabilities: {e}");
    }
    systemd.ready(&format!(
        "{} number(s), MWI server {}",
        cfg.fxs.iter().filter(|f| f.mwi).count(),
        cfg.mwi_server.server
    ));
    let result = daemon.run(|| systemd.tick());
    systemd.stopping();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod man {
    use super::Cli;

    #[test]
    fn man_page_synopsis_is_the_parser() {
        let want = mwi_config::man_synopsis::<Cli>();
        let page = mwi_config::synopsis_of(include_str!("../../man/sipd.8"));
        assert_eq!(
            page,
            Some(want.as_str()),
            "man/sipd.8's SYNOPSIS must read:\n{want}"
        );
    }
}
