//! What the user agent takes from the configuration: [`UaConfig`], the numbers it subscribes
//! for, and the re-subscribe [`Backoff`].

use crate::guard::BlockRules;
use crate::transaction::TimerValues;
use mwi_config::{Cidr, Config, Transport, UnsolicitedTransport};
use mwi_core::route::Router;

/// The numbers sipd subscribes for: every FXS port with `mwi = true`, then every `[[pri]]`
/// served-user pattern that names one number (no `.`); a wildcard pattern cannot be subscribed
/// and is served by unsolicited NOTIFYs only.
fn subscribed_numbers(c: &Config) -> Vec<String> {
    let mut numbers: Vec<String> = c
        .fxs
        .iter()
        .filter(|f| f.mwi)
        .map(|f| f.number.to_string())
        .collect();
    for n in c.pri.iter().flat_map(|p| &p.numbers).map(|p| p.to_string()) {
        let taken_by_fxs = c.fxs.iter().any(|f| f.number.as_str() == n);
        if !n.contains('.') && !taken_by_fxs && !numbers.contains(&n) {
            numbers.push(n);
        }
    }
    numbers
}

/// Re-subscribe backoff after a failure (ms): `base * 2^(failures-1)`, capped at `max`, then
/// scaled by a random factor in 0.5..1.0 (RFC 5626 §4.5 style) so that many numbers spread out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// First retry delay, ms.
    pub base: u64,
    /// Largest delay, ms.
    pub max: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: 30_000,
            max: 1_800_000,
        }
    }
}

/// Digest credentials: username, password, realm (`None`: answer any realm).
pub type Credentials = (String, String, Option<String>);

/// What the user agent needs from the configuration.
#[derive(Clone, Debug)]
pub struct UaConfig {
    /// The `[mwi_server] server` as configured (`ipv4:…` or `dns:…`), for status.
    pub mwi_spec: String,
    /// Host part used in Request-URI/To of SUBSCRIBE (the `server` of `[mwi_server]`).
    pub mwi_host: String,
    /// `[mwi_server] port`.
    pub mwi_port: u16,
    /// `[mwi_server] transport`.
    pub mwi_transport: Transport,
    /// `[mwi_server] backup` and `backup_port`: host part and port of the Request-URI/To
    /// while requests go to the backup's addresses.
    pub mwi_backup: Option<(String, u16)>,
    /// `[mwi_server] fallback_answers`: consecutive OPTIONS answers of the primary that move
    /// the subscriptions back from the backup.
    pub fallback_answers: u32,
    /// Requested subscription duration, s (1..=999999).
    pub expires: u32,
    /// `unsolicited = true`: no subscriptions.
    pub unsolicited: bool,
    /// Sources allowed to send NOTIFY outside a subscription (besides the MWI server itself).
    pub allow: Vec<Cidr>,
    /// `[mwi_server] unsolicited_transport`: `Tcp` refuses unsolicited NOTIFYs over UDP.
    pub unsolicited_transport: UnsolicitedTransport,
    /// `[mwi_server] notify_auth`: challenge inbound NOTIFYs with `auth`'s credentials.
    pub notify_auth: bool,
    /// `[sip.block]`: when a failing source is blocked.
    pub block: BlockRules,
    /// Numbers of FXS lines with `mwi = true`: one subscription each.
    pub mwi_numbers: Vec<String>,
    /// Which numbers are served (mwi_core::route): a NOTIFY for any other gets 481.
    pub router: Router,
    /// `[sip.auth]` username, password and optional realm.
    pub auth: Option<(String, String, Option<String>)>,
    /// `[registrar]`: host, port, transport, expires.
    pub registrar: Option<(String, u16, Transport, u32)>,
    /// `[registrar] backup` and `backup_port`: host and port of the backup registrar.
    pub registrar_backup: Option<(String, u16)>,
    /// The `[[fxs]]` ports with `register = true`: number and credentials (`[fxs.auth]`,
    /// else `[sip.auth]`); each registers its number at `[registrar]` (issue 12).
    pub lines: Vec<(String, Option<Credentials>)>,
    /// OPTIONS ping interval, s (0: off).
    pub options_interval: u32,
    /// Consecutive OPTIONS failures after which the server is reported down.
    pub options_failures: u32,
    /// RFC 3261 timers.
    pub timers: TimerValues,
    /// Re-subscribe backoff.
    pub backoff: Backoff,
    /// Minimum gap between two SUBSCRIBE/REGISTER sends, ms: 10,000 numbers never start or
    /// refresh in one burst.
    pub pace: u64,
    /// `[sip] user_agent`: the value of `User-Agent` (requests) and `Server` (responses).
    pub user_agent: String,
    /// `[sip] max_message_size`, octets: a longer request gets 413 (RFC 3261 §21.4.11).
    pub max_message_size: usize,
}

impl UaConfig {
    /// The user-agent settings of a validated configuration.
    pub fn from_config(c: &Config) -> Self {
        let host = |s: &mwi_config::ServerSpec| match s {
            mwi_config::ServerSpec::Ipv4(a) => a.to_string(),
            mwi_config::ServerSpec::Dns(h) => h.clone(),
        };
        let m = &c.mwi_server;
        Self {
            mwi_spec: m.server.to_string(),
            mwi_host: host(&m.server),
            mwi_port: m.port,
            mwi_transport: m.transport,
            mwi_backup: m.backup.as_ref().map(|b| (host(b), m.backup_port())),
            fallback_answers: m.fallback_answers,
            expires: m.expires,
            unsolicited: m.unsolicited,
            allow: m.allow.clone(),
            unsolicited_transport: m.unsolicited_transport,
            notify_auth: m.notify_auth,
            block: BlockRules::from_config(&c.sip.block),
            mwi_numbers: subscribed_numbers(c),
            router: c.router(),
            auth: c
                .sip
                .auth
                .as_ref()
                .map(|a| (a.username.clone(), a.password.clone(), a.realm.clone())),
            registrar: c
                .registrar
                .as_ref()
                .map(|r| (host(&r.server), r.port, r.transport, r.expires)),
            registrar_backup: c
                .registrar
                .as_ref()
                .and_then(|r| r.backup.as_ref().map(|b| (host(b), r.backup_port()))),
            lines: c
                .fxs
                .iter()
                .filter(|f| f.register)
                .map(|f| {
                    let auth = f.auth.as_ref().or(c.sip.auth.as_ref());
                    let creds =
                        auth.map(|a| (a.username.clone(), a.password.clone(), a.realm.clone()));
                    (f.number.to_string(), creds)
                })
                .collect(),
            options_interval: m.options_interval,
            options_failures: m.options_failures,
            timers: TimerValues::default(),
            backoff: Backoff::default(),
            pace: 10,
            user_agent: c.sip.user_agent.clone(),
            max_message_size: usize::try_from(c.sip.max_message_size).unwrap_or(usize::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribes_fxs_numbers_and_literal_pri_numbers() {
        let cfg = Config::from_str(
            r#"
            [mwi_server]
            server = "ipv4:127.0.0.1"
            [[fxs]]
            channel = 2
            number = "8000"
            [[fxs]]
            channel = 3
            number = "8001"
            mwi = false
            [[pri]]
            span = 1
            dchannel = 24
            numbers = ["2001", "3...", "8000"]
            "#,
            "test.toml",
        )
        .expect("valid config");
        assert_eq!(subscribed_numbers(&cfg), ["8000", "2001"]);
    }
}
