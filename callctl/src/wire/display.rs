//! The one-line `Display` of messages and media descriptions, for logs.

use std::fmt;

use super::Message;
use crate::{Direction, Media};

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.attribute())
    }
}

impl fmt::Display for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rtp={} codec={} ptime={} dir={}",
            self.remote_rtp,
            self.codec.name(),
            self.ptime_ms,
            self.direction
        )?;
        match self.telephone_event_pt {
            Some(pt) => write!(f, " te={pt}"),
            None => f.write_str(" te=none"),
        }
    }
}

impl fmt::Display for Message {
    /// One line, for logs: the message name and its fields as `key=value`; strings quoted and
    /// escaped so a caller's name cannot break the line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hello {
                epoch,
                peer_epoch,
                ports,
            } => write!(
                f,
                "Hello epoch={epoch:016x} peer_epoch={peer_epoch:016x} ports={}",
                ports.0.len()
            ),
            Self::Ping { seq } => write!(f, "Ping seq={seq}"),
            Self::Pong { seq } => write!(f, "Pong seq={seq}"),
            Self::Error { call, code } => write!(f, "Error call={call} code={code}"),
            Self::Hangup { call, cause } => write!(f, "Hangup call={call} cause={cause}"),
            Self::Dial { call, port, digits } => {
                write!(f, "Dial call={call} port={port} digits={}", digits.as_str())
            }
            Self::PbxMwi(m) => write!(
                f,
                "PbxMwi span={} number={} {} messages={}",
                m.span,
                m.number.as_str(),
                if m.on { "on" } else { "off" },
                m.messages.map_or_else(|| "-".to_owned(), |n| n.to_string())
            ),
            Self::Identity { call, number, name } => write!(
                f,
                "Identity call={call} number={:?} name={:?}",
                number.as_str(),
                name.as_str()
            ),
            Self::Alerting { call } => write!(f, "Alerting call={call}"),
            Self::Answered { call } => write!(f, "Answered call={call}"),
            Self::MediaReady { call, local_rtp } => {
                write!(f, "MediaReady call={call} rtp={local_rtp}")
            }
            Self::Incoming {
                call,
                port,
                number,
                name,
                privacy,
            } => write!(
                f,
                "Incoming call={call} port={port} number={:?} name={:?} privacy={privacy:?}",
                number.as_str(),
                name.as_str()
            ),
            Self::TrunkDial {
                call,
                span,
                called,
                number,
                name,
                privacy,
            }
            | Self::TrunkIncoming {
                call,
                span,
                called,
                number,
                name,
                privacy,
            } => write!(
                f,
                "{} call={call} span={span} called={} number={:?} name={:?} privacy={privacy:?}",
                if matches!(self, Self::TrunkDial { .. }) {
                    "TrunkDial"
                } else {
                    "TrunkIncoming"
                },
                called.as_str(),
                number.as_str(),
                name.as_str()
            ),
            Self::Ringback { call } => write!(f, "Ringback call={call}"),
            Self::EarlyMedia { call, media } => write!(f, "EarlyMedia call={call} {media}"),
            Self::Connected { call, media } => write!(f, "Connected call={call} {media}"),
            Self::Modify { call, media } => write!(f, "Modify call={call} {media}"),
        }
    }
}
