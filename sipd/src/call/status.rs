//! What `sipd status` shows of each call.

use super::{Call, Direction, State};
use sansio::Instant;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// `sipd status` text of the calls: a count, then one line per call.
pub fn render(calls: &[CallStatus]) -> String {
    let mut s = format!("Calls: {}\n", calls.len());
    for c in calls {
        let _ = writeln!(
            s,
            "call {} channel {} {} {} {} {} s Call-ID {}",
            c.call, c.channel, c.direction, c.state, c.remote, c.duration_s, c.call_id
        );
    }
    s
}

/// One call as `sipd status` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStatus {
    /// The callctl call id, 8 hex digits.
    pub call: String,
    /// The SIP Call-ID.
    pub call_id: String,
    /// The port (DAHDI channel).
    pub channel: u16,
    /// `outgoing` or `incoming`.
    pub direction: String,
    /// Where the call stands: `waiting`, `calling`, `proceeding`, `cancelling`, `ringing`,
    /// `answering`, `connected` or `ending`.
    pub state: String,
    /// The far end's URI (To of an outgoing call, From of an incoming one).
    pub remote: String,
    /// Seconds since the call started.
    pub duration_s: u64,
}

impl Call {
    pub(super) fn status(&self, now: Instant) -> CallStatus {
        let state = match self.state {
            State::Waiting => "waiting",
            State::Calling => "calling",
            State::Proceeding => "proceeding",
            State::Cancelling => "cancelling",
            State::Ringing => "ringing",
            State::Answering => "answering",
            State::Confirmed => "connected",
            State::Ending => "ending",
        };
        CallStatus {
            call: self.id.to_string(),
            call_id: self.call_id.clone(),
            channel: self.port,
            direction: match self.direction {
                Direction::Outgoing => "outgoing",
                Direction::Incoming => "incoming",
            }
            .into(),
            state: state.into(),
            remote: crate::wire::addr_uri(&self.remote_uri).to_owned(),
            duration_s: now.saturating_duration_since(self.started).as_secs(),
        }
    }
}
