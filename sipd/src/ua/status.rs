//! What `sipd status` shows of the user agent (like `show sip-ua mwi`): the server, the
//! registration and every number with its state and subscription.

use super::Ua;
use crate::guard::BlockedSource;
use mwi_core::MwiState;
use sansio::Instant;
use serde::{Deserialize, Serialize};

/// The status of one number, as `sipd status` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NumberStatus {
    /// The number.
    pub number: String,
    /// `Messages-Waiting: yes`.
    pub mwi: bool,
    /// New messages.
    pub new: u32,
    /// Old messages.
    pub old: u32,
    /// Urgent new messages.
    pub urgent_new: u32,
    /// Urgent old messages.
    pub urgent_old: u32,
    /// Whether a state was ever learned.
    pub known: bool,
    /// Subscription state (`active`, `pending`, `terminated;reason=…`, `unsolicited`).
    pub subscription: String,
}

/// Status of the user agent (`sipd status`, like `show sip-ua mwi`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UaStatus {
    /// `[mwi_server] server` as configured (`ipv4:…` or `dns:…`).
    pub server: String,
    /// Resolved server addresses.
    pub addresses: Vec<String>,
    /// Requested expiry, s.
    pub expires: u32,
    /// Server port.
    pub port: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Unsolicited mode.
    pub unsolicited: bool,
    /// OPTIONS ping verdict: `up`, `down` or `unknown`.
    pub server_state: String,
    /// The resolved address requests go to now (empty before resolution).
    #[serde(default)]
    pub target: String,
    /// Moves to the next resolved address after an OPTIONS "down" verdict.
    #[serde(default)]
    pub failovers: u64,
    /// Moves back to the primary after its answers to OPTIONS (`[mwi_server] backup`).
    #[serde(default)]
    pub fallbacks: u64,
    /// Registration state: `none`, `registered`, `registering`, `failed`.
    pub registration: String,
    /// Every number with a known state or a subscription.
    pub numbers: Vec<NumberStatus>,
    /// Sources blocked by `[sip.block]`, the first to be lifted first.
    #[serde(default)]
    pub blocked: Vec<BlockedSource>,
}

impl Ua {
    /// What `sipd status` shows at `now`.
    pub fn status(&self, now: Instant) -> UaStatus {
        let mut numbers: Vec<NumberStatus> = Vec::new();
        let entry = |number: &str, state: Option<&MwiState>, sub: String| {
            let s = state.copied().unwrap_or_default();
            NumberStatus {
                number: number.to_owned(),
                mwi: s.waiting,
                new: s.new,
                old: s.old,
                urgent_new: s.urgent_new,
                urgent_old: s.urgent_old,
                known: state.is_some(),
                subscription: sub,
            }
        };
        for sub in &self.subs {
            numbers.push(entry(
                &sub.number,
                self.states.get(&sub.number),
                sub.state.to_string(),
            ));
        }
        let mut others: Vec<_> = self
            .states
            .iter()
            .filter(|(n, _)| !self.subs.iter().any(|s| &s.number == *n))
            .collect();
        others.sort_by(|a, b| a.0.cmp(b.0));
        for (n, s) in others {
            numbers.push(entry(n, Some(s), "unsolicited".into()));
        }
        if self.cfg.unsolicited {
            for n in &self.cfg.mwi_numbers {
                if !self.states.contains_key(n) {
                    numbers.push(entry(n, None, "unsolicited".into()));
                }
            }
        }
        UaStatus {
            server: self.cfg.mwi_spec.clone(),
            addresses: self.mwi_addrs.iter().map(|a| a.to_string()).collect(),
            expires: self.cfg.expires,
            port: self.cfg.mwi_port,
            transport: self.cfg.mwi_transport.to_string(),
            unsolicited: self.cfg.unsolicited,
            server_state: match self.server_up {
                None => "unknown",
                Some(true) => "up",
                Some(false) => "down",
            }
            .into(),
            target: self
                .mwi_addrs
                .first()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            failovers: self.failovers(),
            fallbacks: self.fallbacks(),
            registration: match &self.register[..] {
                [] => "none".into(),
                [one] => one.state.clone(),
                all => all
                    .iter()
                    .map(|b| format!("{} {}", b.user, b.state))
                    .collect::<Vec<_>>()
                    .join(", "),
            },
            numbers,
            blocked: self.blocks.blocked(self.ms(now)),
        }
    }
}
