//! `chand`: the dahdi-mwi channel daemon's command line.
//!
//! ```text
//! chand run [--config FILE]
//! chand status [--json] [--config FILE]
//! chand mwi NUMBER on|off|reset [--config FILE]
//! chand check-config [--config FILE]
//! ```
//! FILE defaults to `/etc/dahdi-mwi/dahdi-mwi.toml`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use mwi_core::config::{check_config_command, take_config_option, Number, EXIT_USAGE};

const USAGE: &str = "usage:
  chand run [--config FILE]
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

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run {
        config: PathBuf,
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
        ("run", []) => Ok(Command::Run { config }),
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
        ("run" | "status" | "mwi" | "help" | "--help" | "-h", _) => {
            Err(format!("{sub}: unexpected arguments {rest:?}"))
        }
        _ => Err(format!("unknown command {sub:?}")),
    }
}

/// The daemon behind `command` is not part of this build yet.
fn not_available(command: &str) -> ExitCode {
    eprintln!("chand {command}: not available yet in this build");
    ExitCode::from(EXIT_USAGE)
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match parse(&args) {
        Ok(Command::CheckConfig(rest)) => check_config_command("chand", &rest),
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run { .. }) => not_available("run"),
        Ok(Command::Status { .. }) => not_available("status"),
        Ok(Command::Mwi { .. }) => not_available("mwi"),
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
                config: "/x.toml".into()
            })
        );
        assert_eq!(p("run"), Ok(Command::Run { config: default() }));
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
        assert!(p("run -c a -c b").unwrap_err().contains("twice"));
    }
}
