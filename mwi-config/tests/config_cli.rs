//! `check-config`'s exit status, shared by `sipd check-config` and `chand check-config`.

use std::process::ExitCode;

use mwi_config::check_config;

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
    assert_eq!(check_config(&good), ExitCode::SUCCESS);
    assert_eq!(check_config(&bad), ExitCode::FAILURE);
    assert_eq!(
        check_config(&dir.path().join("absent.toml")),
        ExitCode::FAILURE
    );
}
