//! Client-side digest (RFC 3261 §22.2, RFC 7616): answering a 401/407 challenge to a
//! SUBSCRIBE or REGISTER and keeping the nonce count.

use super::{Owner, Ua};
use crate::digest::Challenge;
use crate::wire::{self, Message};

/// Authentication progress of one client request sequence (a subscription or the registration).
#[derive(Clone, Debug, Default)]
pub(super) struct AuthState {
    /// The last challenge and whether it came in Proxy-Authenticate.
    pub(super) challenge: Option<(Challenge, bool)>,
    /// Nonce count already used with the challenge's nonce.
    pub(super) nc: u32,
    /// The last request carried an answer to `challenge` and was challenged again.
    pub(super) failed: bool,
}

impl Ua {
    /// Add an Authorization answering the usage's last challenge, if any.
    pub(super) fn authorize(&mut self, req: &mut Message, which: Owner) {
        let Some((user, pass, _)) = self.credentials(which) else {
            return;
        };
        let cnonce = wire::secret_token(16);
        let auth = match which {
            Owner::Sub(i) => &mut self.subs[i].usage.auth,
            Owner::Register(i) => match self.register.get_mut(i) {
                Some(b) => &mut b.usage.auth,
                None => return,
            },
            Owner::Options => return,
        };
        let Some((ch, proxy)) = &auth.challenge else {
            return;
        };
        auth.nc += 1;
        let method = req.method().to_owned();
        let uri = req.uri().unwrap_or("").to_owned();
        let value = ch.answer(&user, &pass, &method, &uri, auth.nc, &cnonce);
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
        let auth = match owner {
            Owner::Sub(i) => &mut self.subs[i].usage.auth,
            Owner::Register(i) => match self.register.get_mut(i) {
                Some(b) => &mut b.usage.auth,
                None => return false,
            },
            Owner::Options => return false,
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
}
