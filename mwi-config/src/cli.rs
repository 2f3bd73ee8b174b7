//! The command-line pieces sipd and chand share (parsed with clap): `--config FILE`, the
//! options of `run`, `check-config`, and `completions SHELL`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Subcommand, ValueEnum};
use clap_complete::Shell;

use super::{Config, LogLevel, DEFAULT_CONFIG_PATH};

/// `--config FILE` (also `-c FILE`, `--config=FILE`).
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct ConfigArg {
    /// The configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = DEFAULT_CONFIG_PATH)]
    pub path: PathBuf,
}

/// The options of `DAEMON run`.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct RunArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArg,
    /// Log at this level instead of `[log] level`: error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<LogLevel>,
    /// Run even as root (the daemons refuse to by default).
    #[arg(long)]
    pub allow_root: bool,
}

/// `on` or `off`, the argument of `DAEMON trace` and `DAEMON capture`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Switch it on.
    On,
    /// Switch it off.
    Off,
}

impl Switch {
    /// The word of the daemons' control protocols.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
        }
    }
}

/// The subcommands both daemons have, flattened into each one's own command line.
#[derive(Subcommand, Clone, Debug, PartialEq, Eq)]
pub enum Common {
    /// Run the daemon.
    Run(RunArgs),
    /// Validate the configuration file and exit.
    CheckConfig(ConfigArg),
    /// Switch the running daemon's one-line trace to the journal on or off (sipd: every SIP
    /// message; chand: every Q.921 frame and Q.931/QSIG message on a D-channel).
    Trace {
        /// on or off.
        state: Switch,
        #[command(flatten)]
        #[allow(missing_docs)]
        config: ConfigArg,
    },
    /// Switch the running daemon's pcapng capture into `[trace] capture_dir` on or off.
    Capture {
        /// on or off.
        state: Switch,
        #[command(flatten)]
        #[allow(missing_docs)]
        config: ConfigArg,
    },
    /// Print the shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: Shell,
    },
}

/// `DAEMON check-config [--config FILE]`: loads and validates the file; prints `OK` on stdout
/// and exits 0, or prints the error (`FILE:LINE:COLUMN: RULE`) on stderr and exits 1.
pub fn check_config(path: &Path) -> ExitCode {
    match Config::load(path) {
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

/// `DAEMON completions SHELL`: prints the completion script of `C`'s command line for `shell`
/// (bash, zsh, fish, elvish, powershell) on stdout.
pub fn print_completions<C: CommandFactory>(shell: Shell) -> ExitCode {
    let mut cmd = C::command();
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// The SYNOPSIS section of `C`'s man page, in roff (man(7)): one paragraph per subcommand
/// (`help` aside), `.br` between them. The man pages must hold exactly this text (a test in
/// each daemon compares them), so the synopsis and the parser cannot drift apart.
pub fn man_synopsis<C: CommandFactory>() -> String {
    let mut cmd = C::command();
    cmd.build();
    let bin = cmd.get_name().to_owned();
    let mut paragraphs = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut lines = vec![format!(".B {} {}", bin, roff(sub.get_name()))];
        for arg in sub.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let value = arg
                .get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| id.to_uppercase(), |v| v.to_string());
            let choices: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_owned())
                .collect();
            match arg.get_long() {
                None if choices.is_empty() => lines.push(format!(".I {value}")),
                None => lines.push(format!(".BR {}", choices.join(" | "))),
                Some(long) if !arg.get_action().takes_values() => {
                    lines.push(format!(".RB [ \\-\\-{} ]", roff(long)));
                }
                Some(long) => {
                    lines.push(format!(".RB [ \\-\\-{}", roff(long)));
                    lines.push(format!(".IR {value} ]"));
                }
            }
        }
        paragraphs.push(lines.join("\n"));
    }
    paragraphs.join("\n.br\n") + "\n"
}

/// `s` with its hyphens escaped for roff.
fn roff(s: &str) -> String {
    s.replace('-', "\\-")
}

/// The SYNOPSIS section of the man page `page` (roff text, up to the next `.SH`), to compare
/// with [`man_synopsis`]; `None` when the page has none.
pub fn synopsis_of(page: &str) -> Option<&str> {
    page.split(".SH SYNOPSIS\n")
        .nth(1)
        .and_then(|s| s.split(".SH ").next())
}
