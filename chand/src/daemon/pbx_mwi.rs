//! Lamps a PBX lights for its own voice mail (MWIActivate / MWIDeactivate from the PBX,
//! ECMA-242 §6.3, reported by the span engine as `SpanEvent::PbxLamp`): each goes to sipd as
//! a callctl `PbxMwi`, and the last state per (span, number) is kept so that every one is sent
//! again after each new sipd (`PeerUp`, the `PbxMwi` contract in callctl), so a restarted sipd
//! loses none.

use std::collections::BTreeMap;
use std::time::Instant;

use callctl::wire::Message;
use callctl::{Digits, PbxMwi};
use isdn::span::Lamp;
use log::{info, warn};

use super::Daemon;

/// The last lamp state of every (span, number) the PBX sent, at most `capacity` entries (the
/// table's capacity: no more numbers exist to light).
pub(super) struct PbxLamps {
    last: BTreeMap<(u16, String), Lamp>,
    capacity: usize,
}

impl PbxLamps {
    /// An empty store of at most `capacity` (span, number) pairs.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            last: BTreeMap::new(),
            capacity,
        }
    }

    /// Records `lamp` for `number` on `span`. `false`: the store is full and the pair is new,
    /// nothing was recorded.
    fn record(&mut self, span: u16, number: &str, lamp: Lamp) -> bool {
        let key = (span, number.to_owned());
        if self.last.len() >= self.capacity && !self.last.contains_key(&key) {
            return false;
        }
        self.last.insert(key, lamp);
        true
    }
}

/// The callctl message for a lamp; `None` when `number` is no callctl `Digits` (the span
/// engine lets only `0-9 * #` through, so this does not happen).
fn pbx_mwi(span: u16, number: &str, lamp: Lamp) -> Option<Message> {
    Some(Message::PbxMwi(PbxMwi {
        span,
        number: Digits::try_from(number).ok()?,
        on: lamp.on,
        messages: lamp.messages,
    }))
}

impl Daemon {
    /// Takes the lamps each span reported since the last turn: records them and sends each to
    /// sipd (when sipd is down, the next `PeerUp` sends them all).
    pub(super) fn flush_pbx_lamps(&mut self, now: Instant) {
        for i in 0..self.spans.len() {
            let reported = std::mem::take(&mut self.spans[i].pbx_lamps);
            // DAHDI has at most 128 spans (DAHDI_MAX_SPANS); callctl carries a u16.
            let Ok(span) = u16::try_from(self.spans[i].cfg.span) else {
                continue;
            };
            for (number, lamp) in reported {
                if !self.pbx_lamps.record(span, &number, lamp) {
                    warn!(
                        span = span, number:% = number;
                        "span {span} ({number}): PBX lamp not kept: {} lamps already kept (the table's capacity)",
                        self.pbx_lamps.capacity
                    );
                }
                info!(
                    span = span, number:% = number;
                    "span {span} ({number}): the PBX set lamp {}{}",
                    if lamp.on { "on" } else { "off" },
                    lamp.messages.map(|m| format!(", {m} messages")).unwrap_or_default()
                );
                if let Some(msg) = pbx_mwi(span, &number, lamp) {
                    // PeerDown: the next PeerUp sends every kept lamp.
                    let _ = self.calls.send(now, msg);
                }
            }
        }
    }

    /// A new sipd: sends it the last state of every lamp the PBX set.
    pub(super) fn resend_pbx_lamps(&mut self, now: Instant) {
        let all: Vec<Message> = self
            .pbx_lamps
            .last
            .iter()
            .filter_map(|((span, number), lamp)| pbx_mwi(*span, number, *lamp))
            .collect();
        for msg in all {
            if let Err(e) = self.calls.send(now, msg) {
                warn!("call control: PBX lamps not sent again: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_bounded_and_keeps_the_last_state() {
        let mut s = PbxLamps::new(2);
        assert!(s.record(1, "100", Lamp::on(Some(2))));
        assert!(s.record(1, "101", Lamp::on(None)));
        assert!(!s.record(2, "100", Lamp::on(None)));
        assert!(s.record(1, "100", Lamp::off()));
        assert_eq!(s.last.get(&(1, "100".into())), Some(&Lamp::off()));
        assert_eq!(s.last.len(), 2);
    }

    #[test]
    fn message_carries_span_number_and_count() {
        let Some(Message::PbxMwi(m)) = pbx_mwi(3, "2001", Lamp::on(Some(4))) else {
            panic!("no PbxMwi");
        };
        assert_eq!(
            (m.span, m.number.as_str(), m.on, m.messages),
            (3, "2001", true, Some(4))
        );
    }
}
