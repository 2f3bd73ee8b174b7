//! sipd: the dahdi-mwi SIP daemon.
//!
//! ```text
//! sipd run [--config FILE]            run the daemon
//! sipd check-config [--config FILE]   validate the configuration
//! sipd status [--json] [--config FILE]  what the running daemon knows
//! ```

use mwi_core::config::{check_config_command, take_config_option, Config, EXIT_USAGE};
use std::ffi::OsString;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: sipd run|check-config|status [--json] [--config FILE]");
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
    let json = extra.iter().any(|a| a == "--json");
    if extra.iter().any(|a| a != "--json") || (json && cmd != "status") {
        return usage();
    }
    let cfg = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match cmd.as_str() {
        "run" => {
            mwi_core::service::init_logging("sipd", cfg.log.level.filter());
            let mut daemon = match sipd::daemon::Daemon::new(&cfg) {
                Ok(d) => d,
                Err(e) => {
                    log::error!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            match daemon.run() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    log::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        "status" => match sipd::daemon::query_status(&cfg) {
            Ok(st) if json => {
                println!("{}", serde_json::to_string_pretty(&st).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Ok(st) => {
                print!("{}", sipd::status::render(&st));
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
