//! The `check-config` command line, shared by `sipd check-config` and `chand check-config`.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{Config, DEFAULT_CONFIG_PATH};

/// Exit status of a command-line usage error (an unknown option, a missing value).
pub const EXIT_USAGE: u8 = 2;

/// Parse `--config FILE` (also `--config=FILE`, `-c FILE`) out of `args`.
///
/// Returns the config path ([`DEFAULT_CONFIG_PATH`] when absent) and the other arguments in
/// order; an error for `--config` without a value or given twice.
pub fn take_config_option(args: &[OsString]) -> Result<(PathBuf, Vec<OsString>), String> {
    let mut path = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = match a.to_str() {
            Some("--config" | "-c") => Some(
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{} needs a FILE", a.to_string_lossy()))?,
            ),
            Some(s) => s.strip_prefix("--config=").map(OsString::from),
            None => None,
        };
        match value {
            Some(_) if path.is_some() => return Err("--config is given twice".into()),
            Some(v) => path = Some(PathBuf::from(v)),
            None => rest.push(a.clone()),
        }
    }
    Ok((
        path.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH)),
        rest,
    ))
}

/// `DAEMON check-config [--config FILE]`: `args` are the arguments after `check-config`.
///
/// Loads and validates the file; prints `OK` on stdout and exits 0, or prints the error
/// (`FILE:LINE:COLUMN: RULE`) on stderr and exits 1. A usage error prints
/// `DAEMON check-config: ...` and exits [`EXIT_USAGE`].
pub fn check_config_command(daemon: &str, args: &[OsString]) -> ExitCode {
    let path = match take_config_option(args) {
        Ok((path, rest)) if rest.is_empty() => path,
        Ok((_, rest)) => {
            eprintln!(
                "{daemon} check-config: unexpected argument {:?}\nusage: {daemon} check-config [--config FILE]",
                rest[0]
            );
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => {
            eprintln!("{daemon} check-config: {e}\nusage: {daemon} check-config [--config FILE]");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match Config::load(&path) {
        Ok(_) => {
            // A closed stdout (e.g. `| true`) must not turn a valid file into a failure.
            let _ = writeln!(std::io::stdout(), "OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
