//! `check-config`: the shared command line of `sipd check-config` and `chand check-config`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use mwi_config::{check_config_command, take_config_option, DEFAULT_CONFIG_PATH};

fn args(a: &[&str]) -> Vec<OsString> {
    a.iter().map(OsString::from).collect()
}

#[test]
fn config_option_forms() {
    let (p, rest) = take_config_option(&args(&["--json", "--config", "/a.toml"])).unwrap();
    assert_eq!((p, rest), (PathBuf::from("/a.toml"), args(&["--json"])));
    let (p, _) = take_config_option(&args(&["--config=/b.toml"])).unwrap();
    assert_eq!(p, PathBuf::from("/b.toml"));
    let (p, _) = take_config_option(&args(&["-c", "/c.toml"])).unwrap();
    assert_eq!(p, PathBuf::from("/c.toml"));
    let (p, _) = take_config_option(&[]).unwrap();
    assert_eq!(p, PathBuf::from(DEFAULT_CONFIG_PATH));
    assert!(take_config_option(&args(&["--config"])).is_err());
    assert!(take_config_option(&args(&["-c", "a", "--config=b"])).is_err());
}

#[test]
fn exit_status_tells_good_from_broken() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[mwi_server]\nserver = \"ipv4:192.0.2.10\"\n").unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[mwi_server]\nserver = \"ipv4:192.0.2.10\"\nexpires = 0\n",
    )
    .unwrap();
    let good = good.to_str().unwrap();
    let bad = bad.to_str().unwrap();
    assert_eq!(
        check_config_command("t", &args(&["--config", good])),
        ExitCode::SUCCESS
    );
    assert_eq!(
        check_config_command("t", &args(&["--config", bad])),
        ExitCode::FAILURE
    );
    assert_eq!(
        check_config_command("t", &args(&["--config", good, "x"])),
        ExitCode::from(2)
    );
}
