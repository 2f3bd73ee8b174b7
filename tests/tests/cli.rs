//! The command lines of sipd, chand and mwi-table (issue 14 item 8): help and version on
//! every subcommand without reading any configuration, unknown commands and options refused
//! with the usage and exit status 2, completion scripts for the shells.

use std::process::{Command, Output};

use dahdi_mwi_tests::daemon::binary;

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(binary(bin))
        .args(args)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"))
}

fn check(bin: &str, args: &[&str], code: i32, stdout: &str, stderr: &str) {
    let out = run(bin, args);
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(code), "{bin} {args:?}:\n{o}\n{e}");
    assert!(
        o.contains(stdout),
        "{bin} {args:?} stdout lacks {stdout:?}:\n{o}"
    );
    assert!(
        e.contains(stderr),
        "{bin} {args:?} stderr lacks {stderr:?}:\n{e}"
    );
    assert!(
        !e.contains("cannot read"),
        "{bin} {args:?} read a config:\n{e}"
    );
}

#[test]
fn help_version_and_usage_errors() {
    for (bin, subs) in [
        (
            "sipd",
            &[
                "run",
                "check-config",
                "status",
                "trace",
                "capture",
                "completions",
            ][..],
        ),
        (
            "chand",
            &[
                "run",
                "check-config",
                "status",
                "mwi",
                "trace",
                "completions",
            ][..],
        ),
        (
            "mwi-table",
            &["dump", "write", "follow", "bench-write", "bench-dgram"][..],
        ),
    ] {
        check(bin, &["--help"], 0, &format!("Usage: {bin} <COMMAND>"), "");
        check(bin, &["-h"], 0, "Commands:", "");
        check(
            bin,
            &["--version"],
            0,
            &format!("{bin} {}", env!("CARGO_PKG_VERSION")),
            "",
        );
        check(bin, &[], 2, "", &format!("Usage: {bin} <COMMAND>"));
        check(bin, &["bogus"], 2, "", "unrecognized subcommand 'bogus'");
        check(bin, &["--bogus"], 2, "", "unexpected argument '--bogus'");
        for sub in subs {
            check(bin, &[sub, "--help"], 0, &format!("Usage: {bin} {sub}"), "");
            check(
                bin,
                &[sub, "--bogus"],
                2,
                "",
                "unexpected argument '--bogus'",
            );
        }
    }
}

#[test]
fn completion_scripts() {
    for bin in ["sipd", "chand", "mwi-table"] {
        check(
            bin,
            &["completions", "bash"],
            0,
            &format!("_{}", bin.replace('-', "__")),
            "",
        );
        check(
            bin,
            &["completions", "zsh"],
            0,
            &format!("#compdef {bin}"),
            "",
        );
        check(bin, &["completions", "tcsh"], 2, "", "invalid value 'tcsh'");
    }
}
