//! `[[fxs]] echo_cancel`: the DAHDI echo canceller's taps per port, range-checked with the
//! key's line and column.

use mwi_config::Config;

const PORT: &str = "[mwi_server]\nserver = \"ipv4:192.0.2.10\"\n\
                    [[fxs]]\nchannel = 1\nnumber = \"8001\"\n";

fn load(extra: &str) -> Result<Config, String> {
    Config::from_str(&format!("{PORT}{extra}"), "dahdi-mwi.toml").map_err(|e| e.to_string())
}

#[test]
fn echo_cancel_defaults_to_off_takes_taps_and_rejects_too_many() {
    assert_eq!(load("").unwrap().fxs[0].echo_cancel, 0);
    assert_eq!(load("echo_cancel = 128\n").unwrap().fxs[0].echo_cancel, 128);
    assert_eq!(
        load("echo_cancel = 2048\n").unwrap_err(),
        "dahdi-mwi.toml:6:15: echo_cancel = 2048 is out of range 0..=1024"
    );
    assert!(load("echo_cancel = -1\n")
        .unwrap_err()
        .starts_with("dahdi-mwi.toml:6:15: "));
}
