//! Digest authentication of inbound requests, the server side (RFC 3261 §22.2, §22.4,
//! RFC 7616 §3.3-3.4, RFC 8760 §2.4): checking an Authorization against the nonces sipd issued
//! and building the 401 that challenges again. Used for inbound NOTIFY (`[mwi_server]
//! notify_auth`) and for SUBSCRIBE to sipd's notifier (`[[notifier.account]]`).

use crate::digest::{Algorithm, Challenge, Credentials};
use crate::nonces::{Nonces, Use};
use crate::wire::{self, Message};

/// Why a request is not authenticated: the 401 to send says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// A right answer to a nonce that is no longer fresh: challenge with `stale=true`.
    pub stale: bool,
    /// What was wrong with the Authorization (wrong credentials, a replay, garbage); `None`
    /// when the request carried none or only a stale one. A fault counts as a failure of the
    /// source.
    pub fault: Option<String>,
}

/// Checks `req`'s Authorization in `realm` at `now` (ms, the clock of `nonces`):
/// `password_of(username)` gives the password of a known user. Returns the authenticated
/// username. Errors: [`Refusal`].
pub fn check(
    nonces: &mut Nonces,
    now: u64,
    req: &Message,
    realm: &str,
    password_of: impl Fn(&str) -> Option<String>,
) -> Result<String, Refusal> {
    let refuse = |stale, fault: Option<String>| Err(Refusal { stale, fault });
    let cred = match req.header("Authorization").map(Credentials::parse) {
        None => return refuse(false, None),
        Some(Err(e)) => return refuse(false, Some(e.to_string())),
        Some(Ok(c)) => c,
    };
    let user = cred.get("username").unwrap_or_default();
    let Some(pass) = password_of(user) else {
        return refuse(false, Some(format!("unknown username {user:?}")));
    };
    let nonce = cred.get("nonce").unwrap_or_default();
    let algorithm = cred
        .get("algorithm")
        .map_or(Some(Algorithm::Md5), Algorithm::parse);
    let Some(algorithm) = algorithm else {
        return refuse(false, Some("unsupported digest algorithm".into()));
    };
    match Challenge::issue(realm, nonce, algorithm).verify(&cred, user, &pass, req.method()) {
        Ok(_) if cred.get("uri") != req.uri() => {
            refuse(false, Some("Authorization for another URI".into()))
        }
        Ok(nc) => match nonces.take(now, nonce, nc) {
            Use::Fresh => Ok(user.to_owned()),
            Use::Stale => refuse(true, None),
            Use::Replay => refuse(false, Some("replayed nonce count".into())),
        },
        Err(e) => refuse(false, Some(e.to_string())),
    }
}

/// The challenges sipd sends by default: SHA-256, then MD5 (RFC 8760 §2.4).
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::Sha256, Algorithm::Md5];

impl Refusal {
    /// The 401 to `req` with a fresh nonce (issued in `nonces` at `now`), one challenge in
    /// `realm` per algorithm of `algorithms`, in its order (RFC 8760 §2.4: the preferred
    /// first); a fault is logged and named in the reason phrase.
    pub fn response(
        &self,
        nonces: &mut Nonces,
        now: u64,
        req: &Message,
        (realm, algorithms): (&str, &[Algorithm]),
        tag: &str,
    ) -> Message {
        let nonce = wire::secret_token(24);
        nonces.issue(now, nonce.clone());
        let reason = match &self.fault {
            Some(why) => {
                log::warn!(
                    call_id = req.call_id().unwrap_or_default();
                    "{} refused: {why}",
                    req.method()
                );
                format!("Unauthorized ({why})")
            }
            None => "Unauthorized".to_owned(),
        };
        let mut rsp = req.response(401, &reason, tag);
        for &a in algorithms {
            let mut c = Challenge::issue(realm, &nonce, a);
            c.stale = self.stale;
            rsp.push("WWW-Authenticate", c.header());
        }
        rsp
    }
}
