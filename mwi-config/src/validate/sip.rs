//! The SIP side's rules: `[sip]` (sockets, credentials, limits), the `backup` of `[mwi_server]`
//! and `[registrar]`, and `[notifier]` (expiry range, digest algorithms, accounts). Apart from
//! the line side's rules (tone plans, spans, `[[fxs]]`, `[[pri]]`) because they read none of it.

use std::collections::HashMap;

use super::{at, Seg, Violation};
use crate::{Auth, Config, ServerSpec};
use Seg::{Index, Key};

/// `[sip]`: at least one socket and none twice, the credentials, `notify_auth` only with them,
/// distinct backups, and no more numbers than `[sip.limits] numbers`.
pub(super) fn check_sip(c: &Config) -> Option<Violation> {
    if c.sip.listen.is_empty() {
        return Some(at(
            vec![Key("sip"), Key("listen")],
            "listen is empty: sipd needs at least one socket".into(),
        ));
    }
    let mut seen = HashMap::new();
    for (i, l) in c.sip.listen.iter().enumerate() {
        if let Some(first) = seen.insert(*l, i) {
            return Some(at(
                vec![Key("sip"), Key("listen"), Index(i)],
                format!(
                    "listen {:?} is given twice (also element {})",
                    l.to_string(),
                    first + 1
                ),
            ));
        }
    }
    if let Some(v) = c
        .sip
        .auth
        .as_ref()
        .and_then(|a| check_auth(a, vec![Key("sip"), Key("auth")]))
    {
        return Some(v);
    }
    if c.mwi_server.notify_auth && c.sip.auth.is_none() {
        return Some(at(
            vec![Key("mwi_server"), Key("notify_auth")],
            "notify_auth = true needs [sip.auth] credentials to check".into(),
        ));
    }
    let m = &c.mwi_server;
    let mwi_backup = m.backup.as_ref().map(|b| (b, m.backup_port()));
    if let Some(v) = check_backup("mwi_server", (&m.server, m.port), mwi_backup) {
        return Some(v);
    }
    if let Some(r) = &c.registrar {
        let backup = r.backup.as_ref().map(|b| (b, r.backup_port()));
        if let Some(v) = check_backup("registrar", (&r.server, r.port), backup) {
            return Some(v);
        }
    }
    let numbers = c.fxs.len() + c.pri.iter().map(|p| p.numbers.len()).sum::<usize>();
    let limit = c.sip.limits.numbers;
    if numbers > limit as usize {
        return Some(at(
            vec![Key("sip"), Key("limits"), Key("numbers")],
            format!("numbers = {limit}, but the [[fxs]] ports and [[pri]] numbers give {numbers}"),
        ));
    }
    None
}

/// The `backup` of `[table]`: another server than `server` (or another port); the same one
/// would make failover a no-op that still ends every subscription.
fn check_backup(
    table: &'static str,
    primary: (&ServerSpec, u16),
    backup: Option<(&ServerSpec, u16)>,
) -> Option<Violation> {
    let (spec, port) = backup?;
    (primary == (spec, port)).then(|| {
        at(
            vec![Key(table), Key("backup")],
            format!(
                "backup {:?} is the primary server itself (port {port})",
                spec.to_string()
            ),
        )
    })
}

/// `password` and `password_file` of the SIP credentials at `path` (also an `[[fxs]]` port's
/// `auth`): exactly one is given.
pub(super) fn check_auth(a: &Auth, mut path: Vec<Seg>) -> Option<Violation> {
    let message = match (a.password.is_empty(), &a.password_file) {
        (true, None) => return Some(at(path, "needs a password or a password_file".into())),
        (false, Some(_)) => "password_file and password are exclusive: give one",
        (true, Some(f)) if f.as_os_str().is_empty() => "password_file is empty",
        _ => return None,
    };
    path.push(Key("password_file"));
    Some(at(path, message.into()))
}

/// `[notifier]`: `expires_min` not above `expires_max`; each account's credentials, no realm
/// of its own (the challenge's realm is `[notifier] realm`), no username twice; enabled with
/// neither `allow` nor an account would let anybody subscribe.
pub(super) fn check_notifier(c: &Config) -> Option<Violation> {
    let n = &c.notifier;
    if n.expires_min > n.expires_max {
        return Some(at(
            vec![Key("notifier"), Key("expires_min")],
            format!(
                "expires_min = {} is above expires_max = {}",
                n.expires_min, n.expires_max
            ),
        ));
    }
    if n.algorithms.is_empty() {
        return Some(at(
            vec![Key("notifier"), Key("algorithms")],
            "algorithms is empty: give \"SHA-256\", \"MD5\" or both".into(),
        ));
    }
    for (i, a) in n.algorithms.iter().enumerate() {
        let known = ["SHA-256", "MD5"].iter().any(|k| k.eq_ignore_ascii_case(a));
        let twice = n.algorithms[..i].iter().any(|b| b.eq_ignore_ascii_case(a));
        if !known || twice {
            return Some(at(
                vec![Key("notifier"), Key("algorithms"), Index(i)],
                if twice {
                    format!("algorithm {a:?} is given twice")
                } else {
                    format!("unknown algorithm {a:?}: expected \"SHA-256\" or \"MD5\"")
                },
            ));
        }
    }
    let mut seen = HashMap::new();
    for (i, a) in n.account.iter().enumerate() {
        let path = vec![Key("notifier"), Key("account"), Index(i)];
        if let Some(v) = check_auth(a, path.clone()) {
            return Some(v);
        }
        if a.realm.is_some() {
            let mut path = path;
            path.push(Key("realm"));
            return Some(at(
                path,
                "an account has no realm of its own: set [notifier] realm".into(),
            ));
        }
        if let Some(first) = seen.insert(a.username.as_str(), i) {
            let mut path = path;
            path.push(Key("username"));
            return Some(at(
                path,
                format!(
                    "username {:?} is given twice (also account {})",
                    a.username,
                    first + 1
                ),
            ));
        }
    }
    (n.enabled && n.allow.is_empty() && n.account.is_empty()).then(|| {
        at(
            vec![Key("notifier"), Key("enabled")],
            "enabled = true with neither allow nor [[notifier.account]] would let anybody \
             subscribe: give one"
                .into(),
        )
    })
}
