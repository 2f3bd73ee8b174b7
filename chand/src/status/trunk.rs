//! The trunk calls of a PRI span in `chand status`: each B-channel and its call
//! (docs/calls.md, "PRI trunk").

use std::fmt;

use serde::{Deserialize, Serialize};

use super::MediaStatus;

/// One B-channel of a span with calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BChannelStatus {
    /// The timeslot (Q.931 channel number).
    pub b: u8,
    /// Its DAHDI channel.
    pub channel: u32,
    /// `idle`, `calling` (SETUP from or to the PBX, not yet alerting), `ringing`, `connected`
    /// or `clearing`.
    pub state: String,
    /// Its call, if any.
    pub call: Option<TrunkCallStatus>,
}

/// A trunk call on a B-channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrunkCallStatus {
    /// The callctl id (hexadecimal, as the log's `CALL_ID`); `None` once the SIP side ended.
    pub call_id: Option<String>,
    /// `to-sip` (the PBX called) or `to-pbx` (an INVITE for one of the span's numbers).
    pub direction: String,
    /// The called number after the span's number manipulation.
    pub called: String,
    /// The calling number (empty when withheld).
    pub calling: String,
    /// Seconds since the answer.
    pub duration_s: Option<u64>,
    /// The call's RTP stream, once sipd gave the far end's media.
    pub media: Option<MediaStatus>,
}

/// The text lines of `bchannels`: a count, then one line per B-channel in a call.
pub(super) fn write_bchannels(
    f: &mut fmt::Formatter<'_>,
    bchannels: &[BChannelStatus],
) -> fmt::Result {
    let idle = bchannels.iter().filter(|b| b.call.is_none()).count();
    if !bchannels.is_empty() {
        writeln!(
            f,
            "  B-channels: {} in use, {idle} idle",
            bchannels.len() - idle
        )?;
    }
    for b in bchannels {
        let Some(c) = &b.call else { continue };
        write!(
            f,
            "  B-channel {} (channel {}): {} call {} {} {} -> {}",
            b.b,
            b.channel,
            b.state,
            c.call_id.as_deref().unwrap_or("-"),
            c.direction,
            if c.calling.is_empty() {
                "(withheld)"
            } else {
                &c.calling
            },
            c.called,
        )?;
        if let Some(d) = c.duration_s {
            write!(f, ", {d} s")?;
        }
        if let Some(m) = &c.media {
            write!(
                f,
                ", RTP in {} out {} lost {} jitter {} us",
                m.packets_in, m.packets_out, m.lost, m.jitter_us
            )?;
        }
        writeln!(f)?;
    }
    Ok(())
}
