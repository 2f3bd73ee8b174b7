//! One-line decodes of a whole D-channel frame, every layer at once, for debug logs: the
//! Q.921 summary, then the Q.931 message it carries, then each ROSE APDU of its Facility IEs
//! (QSIG profile `0x9f` or ETSI ROSE profile `0x91`) with the SS-MWI operations decoded. Decoding stops at the first layer that fails, and the
//! line says why.

use std::fmt;

use crate::q921::{Kind, Repr};
use crate::q931::Message;
use crate::qsig::Apdu;
use crate::rose::{Facility, RoseFacility, PROFILE_ROSE};

/// A D-channel frame (address, control, information; no FCS) to show on one line, e.g.
/// `I N(S)=0 N(R)=0 SAPI=0 TEI=0 C/R=0 P=0 len=60: SETUP CR=0x0001/orig [BearerCapability,
/// ChannelId, Facility(31), CallingNumber 2000, CalledNumber 1234]: invoke id=1
/// op=mwiActivate(80) servedUserNr=1234 basicService=speech`. Formatting decodes the frame,
/// so a disabled log level costs nothing.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a>(pub &'a [u8]);

impl fmt::Display for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let repr = match Repr::parse_bytes(self.0) {
            Ok(r) => r,
            Err(e) => return write!(f, "undecodable LAPD frame of {} octets: {e}", self.0.len()),
        };
        write!(f, "{repr}")?;
        if !matches!(repr.kind, Kind::I { .. } | Kind::Ui) || repr.info.is_empty() {
            return Ok(());
        }
        let msg = match Message::parse(repr.info) {
            Ok(m) => m,
            Err(e) => return write!(f, ": {e}"),
        };
        write!(f, ": {msg}")?;
        for content in &msg.facility {
            let parsed = match content.first() {
                Some(&PROFILE_ROSE) => RoseFacility::parse(content).map(|r| r.components),
                _ => Facility::parse(content).map(|q| q.components),
            };
            match parsed {
                Ok(components) => {
                    for c in &components {
                        write!(f, ": {}", Apdu(c))?;
                    }
                }
                Err(e) => write!(f, ": {e}")?,
            }
        }
        Ok(())
    }
}
