//! What `sipd status` shows of each call.

use super::{Call, Direction, Line, State};
use sansio::Instant;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// `sipd status` text of the calls: a count, then one line per call; a trunk call's line ends
/// with its calling and called numbers.
pub fn render(calls: &[CallStatus]) -> String {
    let mut s = format!("Calls: {}\n", calls.len());
    for c in calls {
        let line = match (c.channel, c.span) {
            (Some(ch), _) => format!("channel {ch}"),
            (None, Some(span)) => format!("span {span}"),
            (None, None) => "-".to_owned(),
        };
        let _ = write!(
            s,
            "call {} {line} {} {} {} {} s Call-ID {}",
            c.call, c.direction, c.state, c.remote, c.duration_s, c.call_id
        );
        if c.span.is_some() {
            let _ = write!(s, " from {} to {}", shown(&c.calling), c.called);
        }
        s.push('\n');
    }
    s
}

/// A calling number as status and log lines show it: `anonymous` when withheld or absent.
pub(super) fn shown(calling: &str) -> &str {
    if calling.is_empty() {
        "anonymous"
    } else {
        calling
    }
}

/// One call as `sipd status` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStatus {
    /// The callctl call id, 8 hex digits.
    pub call: String,
    /// The SIP Call-ID.
    pub call_id: String,
    /// The port (DAHDI channel) of an FXS call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<u16>,
    /// The DAHDI span of a PRI trunk call (issue 13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<u16>,
    /// The called number: the digits dialled, the PBX's called number, or the Request-URI
    /// user of an incoming call.
    #[serde(default)]
    pub called: String,
    /// The calling number: the port's number, the PBX's calling number (empty: anonymous),
    /// or the caller's of an incoming call (empty: withheld).
    #[serde(default)]
    pub calling: String,
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
            channel: match self.line {
                Line::Port(ch) => Some(ch),
                Line::Span(_) => None,
            },
            span: match self.line {
                Line::Span(span) => Some(span),
                Line::Port(_) => None,
            },
            called: self.called.clone(),
            calling: self.calling.clone(),
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
