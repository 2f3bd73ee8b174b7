//! Client-side digest (RFC 3261 §22.2, RFC 7616): answering a 401/407 challenge to a
//! SUBSCRIBE or REGISTER, keeping the nonce count, and checking the server's
//! Authentication-Info on the 2xx (RFC 2617 §3.2.3, RFC 3261 §20.6).

use super::subscription::SubState;
use super::usage::{AuthState, Sent};
use super::{Owner, Ua};
use crate::digest::{same_hex, AuthInfo, Challenge};
use crate::wire::{self, Message};

impl Ua {
    /// Add an Authorization answering the usage's last challenge, if any.
    pub(super) fn authorize(&mut self, req: &mut Message, which: Owner) {
        let Some((user, pass, _)) = self.credentials(which) else {
            return;
        };
        let cnonce = wire::secret_token(16);
        let Some(auth) = self.auth_state(which) else {
            return;
        };
        auth.sent = None;
        let Some((ch, proxy)) = &auth.challenge else {
            return;
        };
        auth.nc += 1;
        let method = req.method().to_owned();
        let uri = req.uri().unwrap_or("").to_owned();
        let value = ch.answer(&user, &pass, &method, &uri, auth.nc, &cnonce);
        auth.sent = Some(Sent {
            nc: auth.nc,
            cnonce,
            uri,
        });
        let name = if *proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        req.set(name, value);
    }

    /// The credentials of `owner`'s requests: a binding's own (`[fxs.auth]`), else
    /// `[sip.auth]`.
    fn credentials(&self, owner: Owner) -> Option<super::Credentials> {
        match owner {
            Owner::Register(i) => self.register.get(i)?.auth.clone(),
            _ => self.cfg.auth.clone(),
        }
    }

    /// Take a 401/407 challenge for a usage; `true` when the request should be sent again.
    pub(super) fn take_challenge(&mut self, owner: Owner, code: u16, rsp: &Message) -> bool {
        let proxy = code == 407;
        let name = if proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        let Some(realm_cfg) = self.credentials(owner).map(|a| a.2) else {
            log::warn!("{code} challenge but no [sip.auth] credentials configured");
            return false;
        };
        let challenge = rsp.headers(name).find_map(|v| match Challenge::parse(v) {
            Ok(c) if realm_cfg.as_ref().map_or(true, |r| *r == c.realm) => Some(c),
            Ok(_) => None,
            Err(e) => {
                log::warn!("{code} challenge not usable: {e}");
                None
            }
        });
        let Some(auth) = self.auth_state(owner) else {
            return false;
        };
        let Some(c) = challenge else {
            return false;
        };
        let same_nonce = auth
            .challenge
            .as_ref()
            .is_some_and(|(old, _)| old.nonce == c.nonce);
        // Challenged again with credentials that were just used and not stale: wrong password.
        if auth.challenge.is_some() && auth.failed && !c.stale {
            log::warn!("credentials refused ({code}); check [sip.auth]");
            auth.challenge = None;
            auth.failed = false;
            return false;
        }
        if !same_nonce {
            auth.nc = 0;
        }
        auth.failed = true;
        auth.challenge = Some((c, proxy));
        true
    }

    /// Whether the 2xx `rsp` to `owner`'s last request is authentic: with no
    /// Authentication-Info (RFC 3261 §20.6 makes it optional) or with one whose `rspauth`,
    /// `cnonce` and `nc` match the qop=auth answer sent (RFC 2617 §3.2.3). An authentic
    /// `nextnonce` is used for the next request, from nonce count 1. Errors: why it is not.
    pub(super) fn authentic(&mut self, owner: Owner, rsp: &Message) -> Result<(), String> {
        let Some(value) = rsp.header("Authentication-Info") else {
            return Ok(());
        };
        let info = AuthInfo::parse(value).map_err(|e| format!("Authentication-Info: {e}"))?;
        let Some((user, pass, _)) = self.cfg.auth.clone() else {
            return Ok(());
        };
        let Some(auth) = self.auth_state(owner) else {
            return Ok(());
        };
        if let (Some((ch, _)), Some(sent)) = (&auth.challenge, &auth.sent) {
            if ch.qop_auth {
                let rspauth = info
                    .rspauth
                    .as_deref()
                    .ok_or("Authentication-Info without rspauth for a qop=auth answer")?;
                if info.cnonce.as_deref().is_some_and(|c| c != sent.cnonce)
                    || info.nc.is_some_and(|n| n != sent.nc)
                {
                    return Err("Authentication-Info for another cnonce or nc".into());
                }
                let want = ch.rspauth(&user, &pass, &sent.uri, sent.nc, &sent.cnonce);
                if !same_hex(&want, rspauth) {
                    return Err(
                        "wrong rspauth: the server does not prove it knows the password".into(),
                    );
                }
            }
        }
        if let (Some(next), Some((ch, _))) = (info.nextnonce, &mut auth.challenge) {
            if next != ch.nonce {
                ch.nonce = next;
                auth.nc = 0;
            }
        }
        Ok(())
    }

    /// A 2xx to `owner`'s request that is not authentic (`why`): logged and treated as a
    /// failure, retried with back-off; the subscription or registration is not accepted.
    pub(super) fn not_authentic(&mut self, now: u64, owner: Owner, why: &str) {
        let failures = match owner {
            Owner::Sub(i) => &mut self.subs[i].usage.failures,
            Owner::Register(i) => match self.register.get_mut(i) {
                Some(b) => &mut b.usage.failures,
                None => return,
            },
            Owner::Options => return,
        };
        *failures += 1;
        let failures = *failures;
        let delay = self.retry_delay(failures, None);
        match owner {
            Owner::Sub(i) => {
                let number = self.subs[i].number.clone();
                log::warn!(
                    number:% = number, call_id = self.subs[i].usage.call_id.as_str();
                    "subscription {number}: 2xx not authentic ({why}); new subscription in \
                     {delay} ms"
                );
                self.end_subscription(i, SubState::Terminated("not authentic".into()));
            }
            Owner::Register(i) => {
                log::warn!("REGISTER: 2xx not authentic ({why}); retry in {delay} ms");
                if let Some(b) = self.register.get_mut(i) {
                    b.state = "failed (not authentic)".into();
                }
            }
            Owner::Options => {}
        }
        self.reschedule(owner, Some(now.saturating_add(delay)));
    }

    /// The authentication state of `owner`'s requests.
    fn auth_state(&mut self, owner: Owner) -> Option<&mut AuthState> {
        match owner {
            Owner::Sub(i) => Some(&mut self.subs[i].usage.auth),
            Owner::Register(i) => self.register.get_mut(i).map(|b| &mut b.usage.auth),
            Owner::Options => None,
        }
    }
}
