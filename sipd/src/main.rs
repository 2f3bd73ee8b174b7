//! sipd: the dahdi-mwi SIP daemon.
//!
//! ```text
//! sipd run [--config FILE] [--log-level LEVEL] [--allow-root]   run the daemon
//! sipd check-config [--config FILE]   validate the configuration
//! sipd status [--json] [--config FILE]  what the running daemon knows
//! ```
#![forbid(unsafe_code)]

use mwi_config::{check_config_command, take_config_option, Config, LogLevel, EXIT_USAGE};
use mwi_service as service;
use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: sipd run [--config FILE] [--log-level LEVEL] [--allow-root]\n       \
         sipd check-config [--config FILE]\n       sipd status [--json] [--config FILE]"
    );
    ExitCode::from(EXIT_USAGE)
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let Some(cmd) = args.first().and_then(|a| a.to_str()).map(str::to_owned) else {
        return usage();
    };
    let rest = args.get(1..).unwrap_or_default();
    if cmd == "check-config" {
        return check_config_command("sipd", rest);
    }
    let (path, extra) = match take_config_option(rest) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sipd {cmd}: {e}");
            return usage();
        }
    };
    let mut json = false;
    let mut allow_root = false;
    let mut log_level = None;
    let mut it = extra.iter().map(|a| a.to_str().unwrap_or(""));
    while let Some(a) = it.next() {
        match (cmd.as_str(), a) {
            ("status", "--json") => json = true,
            ("run", "--allow-root") => allow_root = true,
            ("run", "--log-level") => match it.next().map(str::parse::<LogLevel>) {
                Some(Ok(l)) => log_level = Some(l.filter()),
                _ => {
                    eprintln!("sipd run: --log-level needs error|warn|info|debug|trace");
                    return usage();
                }
            },
            _ => return usage(),
        }
    }
    let cfg = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match cmd.as_str() {
        "run" => run(&cfg, &path, log_level, allow_root),
        "status" => match sipd::daemon::query_status(&cfg) {
            Ok(st) if json => {
                println!("{}", serde_json::to_string_pretty(&st).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Ok(st) => {
                print!("{}", sipd::status::render(&st.ua));
                print!("{}", sipd::limits::render(&st.limits));
                print!("{}", sipd::call::render(&st.calls));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sipd status: {e}");
                ExitCode::FAILURE
            }
        },
        _ => usage(),
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
