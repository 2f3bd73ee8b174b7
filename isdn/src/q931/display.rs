//! One-line summaries of Q.931 messages for the debug log, in the manner of libpri's
//! `q931_dump` and tshark's summary.

use super::{ie, CallReference, Message, MessageType};
use std::fmt;

impl MessageType {
    /// The message type's name as Q.931 Table 4-2 writes it (`RELEASE COMPLETE`), `None` for
    /// [`MessageType::Other`].
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            MessageType::Alerting => "ALERTING",
            MessageType::CallProceeding => "CALL PROCEEDING",
            MessageType::Progress => "PROGRESS",
            MessageType::Setup => "SETUP",
            MessageType::Connect => "CONNECT",
            MessageType::ConnectAcknowledge => "CONNECT ACKNOWLEDGE",
            MessageType::Disconnect => "DISCONNECT",
            MessageType::Restart => "RESTART",
            MessageType::RestartAcknowledge => "RESTART ACKNOWLEDGE",
            MessageType::Release => "RELEASE",
            MessageType::ReleaseComplete => "RELEASE COMPLETE",
            MessageType::Facility => "FACILITY",
            MessageType::StatusEnquiry => "STATUS ENQUIRY",
            MessageType::Status => "STATUS",
            MessageType::Other(_) => return None,
        })
    }
}

/// One line in the manner of libpri's `q931_dump` and tshark's summary: message type, call
/// reference (`CR=dummy`, or value and `/orig` when sent by the side that allocated it,
/// `/dest` when sent to it; Q.931 §4.3), then the IEs in wire order (Q.931 §4.5.1) with what
/// matters of each, e.g. `SETUP CR=0x0001/orig [BearerCapability, ChannelId, Facility(31),
/// CallingNumber 2000, CalledNumber 1234]`. An unknown message type shows as `type=0x7b`,
/// an IE this module does not interpret as `ie=0x1e(2)`, a malformed one as
/// `invalid=0x08(1)` (identifier and content length), with `cs=N/` before the identifier when
/// it is of codeset N.
impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message_type.name() {
            Some(name) => f.write_str(name)?,
            None => write!(f, "type={:#04x}", self.message_type.value())?,
        }
        match self.call_reference {
            CallReference::Dummy => f.write_str(" CR=dummy")?,
            CallReference::Call { value, flag } => {
                write!(f, " CR={value:#06x}/{}", if flag { "dest" } else { "orig" })?
            }
        }
        // (codeset, identifier, text) in the order emit() writes them.
        let mut ies: Vec<(u8, u8, String)> = Vec::new();
        if self.bearer_capability.is_some() {
            ies.push((0, ie::BEARER_CAPABILITY, "BearerCapability".into()));
        }
        if let Some(c) = &self.cause {
            ies.push((0, ie::CAUSE, format!("Cause {}", c.value)));
        }
        if let Some(state) = self.call_state {
            ies.push((0, ie::CALL_STATE, format!("CallState {state}")));
        }
        if let Some(ch) = &self.channel_id {
            let text = match ch.channel {
                Some(b) => format!("ChannelId B{b}{}", if ch.exclusive { "" } else { "?" }),
                None => "ChannelId".into(),
            };
            ies.push((0, ie::CHANNEL_IDENTIFICATION, text));
        }
        if let Some(p) = &self.progress {
            let text = format!("Progress {}", p.description);
            ies.push((0, ie::PROGRESS_INDICATOR, text));
        }
        if let Some(d) = self.display {
            ies.push((0, ie::DISPLAY, format!("Display {d:?}")));
        }
        if let Some(r) = self.restart_indicator {
            let text = format!("Restart {}", r.value());
            ies.push((0, ie::RESTART_INDICATOR, text));
        }
        for content in &self.facility {
            ies.push((0, ie::FACILITY, format!("Facility({})", content.len())));
        }
        if let Some(p) = &self.calling_party_number {
            ies.push((
                0,
                ie::CALLING_PARTY_NUMBER,
                format!("CallingNumber {}", p.digits),
            ));
        }
        if let Some(p) = &self.called_party_number {
            ies.push((
                0,
                ie::CALLED_PARTY_NUMBER,
                format!("CalledNumber {}", p.digits),
            ));
        }
        for (what, raws) in [("ie", &self.unknown), ("invalid", &self.invalid)] {
            for r in raws {
                let cs = if r.codeset == 0 {
                    String::new()
                } else {
                    format!("cs={}/", r.codeset)
                };
                let text = format!("{what}={cs}{:#04x}({})", r.id, r.content.len());
                ies.push((r.codeset, r.id, text));
            }
        }
        ies.sort_by_key(|&(codeset, id, _)| (codeset, id));
        if !ies.is_empty() {
            let texts: Vec<&str> = ies.iter().map(|(_, _, t)| t.as_str()).collect();
            write!(f, " [{}]", texts.join(", "))?;
        }
        Ok(())
    }
}
