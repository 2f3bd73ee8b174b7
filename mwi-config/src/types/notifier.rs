//! `[notifier]`: sipd as an RFC 6665 notifier of the message-summary event package (RFC 3842)
//! for SIP phones that SUBSCRIBE to a mailbox number (issue 14 item 6).

use serde::{Deserialize, Deserializer};

use super::{de_in_range, Auth, Cidr};

/// `[notifier]`: who may subscribe, how many, for how long.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifier {
    /// `enabled = false`: true = answer SUBSCRIBE for `message-summary` (default false: 405
    /// as before).
    #[serde(default)]
    pub enabled: bool,
    /// `allow = ["192.0.2.0/24"]`: sources that may subscribe; others get 403. Empty (the
    /// default) = any source, which needs at least one `[[notifier.account]]`.
    #[serde(default)]
    pub allow: Vec<Cidr>,
    /// `realm = "dahdi-mwi"`: the realm of the 401 challenges (RFC 7616 §3.3).
    #[serde(default = "default_realm")]
    pub realm: String,
    /// `max_subscriptions = 1024`: subscriptions at once, 1..=65536; one beyond gets 503
    /// with Retry-After (default 1024).
    #[serde(
        default = "default_max_subscriptions",
        deserialize_with = "de_max_subscriptions"
    )]
    pub max_subscriptions: u32,
    /// `max_per_source = 64`: subscriptions at once from one IP address, 1..=65536
    /// (default 64).
    #[serde(
        default = "default_max_per_source",
        deserialize_with = "de_max_per_source"
    )]
    pub max_per_source: u32,
    /// `expires_min = 60`: the shortest subscription granted, seconds, 1..=86400; a shorter
    /// Expires gets 423 Interval Too Brief with Min-Expires (RFC 6665 §4.2.1.1; default 60).
    #[serde(default = "default_expires_min", deserialize_with = "de_expires_min")]
    pub expires_min: u32,
    /// `expires_max = 3600`: the longest subscription granted, seconds, 1..=86400; a longer
    /// Expires (or none) is shortened to it (default 3600).
    #[serde(default = "default_expires_max", deserialize_with = "de_expires_max")]
    pub expires_max: u32,
    /// `algorithms = ["SHA-256", "MD5"]`: the digest algorithms of the 401, one challenge
    /// each, in this order (RFC 8760 §2.4 puts the preferred first); phones that read only the
    /// first challenge and know only MD5 need `["MD5"]` or `["MD5", "SHA-256"]`.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// `[[notifier.account]]`: digest credentials of the subscribers (`username`, and
    /// `password` or `password_file` as in `[sip.auth]`). With any account, every SUBSCRIBE
    /// is challenged (401) and an account may subscribe only to the mailbox of its own
    /// `username`; without one, the source check alone decides.
    #[serde(default)]
    pub account: Vec<Auth>,
}

/// Allowed range of `max_subscriptions` and `max_per_source`.
pub const NOTIFIER_SUBSCRIPTIONS_RANGE: std::ops::RangeInclusive<u32> = 1..=65536;
/// Allowed range of `expires_min` and `expires_max`, seconds.
pub const NOTIFIER_EXPIRES_RANGE: std::ops::RangeInclusive<u32> = 1..=86400;

ranged! {
    de_max_subscriptions: "max_subscriptions" in NOTIFIER_SUBSCRIPTIONS_RANGE;
    de_max_per_source: "max_per_source" in NOTIFIER_SUBSCRIPTIONS_RANGE;
    de_expires_min: "expires_min" in NOTIFIER_EXPIRES_RANGE;
    de_expires_max: "expires_max" in NOTIFIER_EXPIRES_RANGE;
}

fn default_realm() -> String {
    "dahdi-mwi".into()
}

fn default_algorithms() -> Vec<String> {
    vec!["SHA-256".into(), "MD5".into()]
}

fn default_max_subscriptions() -> u32 {
    1024
}

fn default_max_per_source() -> u32 {
    64
}

fn default_expires_min() -> u32 {
    60
}

fn default_expires_max() -> u32 {
    3600
}

impl Default for Notifier {
    fn default() -> Self {
        Self {
            enabled: false,
            allow: Vec::new(),
            realm: default_realm(),
            max_subscriptions: default_max_subscriptions(),
            max_per_source: default_max_per_source(),
            expires_min: default_expires_min(),
            expires_max: default_expires_max(),
            algorithms: default_algorithms(),
            account: Vec::new(),
        }
    }
}
