//! `[notifier]`: sipd as a message-summary notifier for SIP phones: defaults, ranges and the
//! rules across its keys, each error at its key's line and column.

use mwi_config::{Cidr, Config};

const BASE: &str = "[mwi_server]\nserver = \"ipv4:192.0.2.10\"\n";

fn load(extra: &str) -> Result<Config, String> {
    Config::from_str(&format!("{BASE}{extra}"), "dahdi-mwi.toml").map_err(|e| e.to_string())
}

#[test]
fn notifier_defaults_to_off() {
    let n = load("").unwrap().notifier;
    assert!(!n.enabled);
    assert!(n.allow.is_empty() && n.account.is_empty());
    assert_eq!(n.realm, "dahdi-mwi");
    assert_eq!((n.max_subscriptions, n.max_per_source), (1024, 64));
    assert_eq!((n.expires_min, n.expires_max), (60, 3600));
    assert_eq!(n.algorithms, ["SHA-256", "MD5"]);
}

#[test]
fn notifier_keys_load() {
    let n = load(
        "[notifier]\nenabled = true\nallow = [\"192.0.2.0/24\"]\nrealm = \"pbx\"\n\
         max_subscriptions = 10\nmax_per_source = 2\nexpires_min = 30\nexpires_max = 600\n\
         algorithms = [\"md5\"]\n\
         [[notifier.account]]\nusername = \"8000\"\npassword = \"s3cret\"\n\
         [[notifier.account]]\nusername = \"8001\"\npassword_file = \"phone-8001\"\n",
    )
    .unwrap()
    .notifier;
    assert!(n.enabled);
    assert_eq!(n.allow, ["192.0.2.0/24".parse::<Cidr>().unwrap()]);
    assert_eq!(n.realm, "pbx");
    assert_eq!((n.max_subscriptions, n.max_per_source), (10, 2));
    assert_eq!((n.expires_min, n.expires_max), (30, 600));
    assert_eq!(n.algorithms, ["md5"]);
    assert_eq!(n.account[0].password, "s3cret");
    assert_eq!(
        n.account[1].password_file.as_deref(),
        Some(std::path::Path::new("phone-8001"))
    );
}

#[test]
fn bad_notifier_keys_are_rejected_where_written() {
    let cases = [
        (
            "[notifier]\nmax_subscriptions = 0\n",
            "4:21: max_subscriptions = 0 is out of range 1..=65536",
        ),
        (
            "[notifier]\nexpires_max = 86401\n",
            "4:15: expires_max = 86401 is out of range 1..=86400",
        ),
        (
            "[notifier]\nexpires_min = 600\nexpires_max = 60\n",
            "4:15: expires_min = 600 is above expires_max = 60",
        ),
        (
            "[notifier]\nenabled = true\n",
            "4:11: enabled = true with neither allow nor [[notifier.account]] would let \
             anybody subscribe: give one",
        ),
        (
            "[notifier]\nallow = [\"192.0.2.300\"]\n",
            "4:10: bad CIDR \"192.0.2.300\": not an IP address (expected e.g. \"192.0.2.0/24\")",
        ),
        (
            "[[notifier.account]]\nusername = \"8000\"\n",
            "3:1: needs a password or a password_file",
        ),
        (
            "[[notifier.account]]\nusername = \"8000\"\npassword = \"p\"\nrealm = \"x\"\n",
            "6:9: an account has no realm of its own: set [notifier] realm",
        ),
        (
            "[[notifier.account]]\nusername = \"8000\"\npassword = \"p\"\n\
             [[notifier.account]]\nusername = \"8000\"\npassword = \"q\"\n",
            "7:12: username \"8000\" is given twice (also account 1)",
        ),
        (
            "[notifier]\nalgorithms = []\n",
            "4:14: algorithms is empty: give \"SHA-256\", \"MD5\" or both",
        ),
        (
            "[notifier]\nalgorithms = [\"MD5\", \"SHA-512\"]\n",
            "4:22: unknown algorithm \"SHA-512\": expected \"SHA-256\" or \"MD5\"",
        ),
        (
            "[notifier]\nalgorithms = [\"MD5\", \"md5\"]\n",
            "4:22: algorithm \"md5\" is given twice",
        ),
        (
            "[notifier]\nsubscribers = 3\n",
            "4:1: unknown field `subscribers`",
        ),
    ];
    for (text, want) in cases {
        let got = load(text).unwrap_err();
        let got = got.strip_prefix("dahdi-mwi.toml:").unwrap_or(&got);
        assert!(got.starts_with(want), "{text:?}: {got}");
    }
}
