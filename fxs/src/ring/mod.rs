//! Alerting an FXS port for an incoming call: the ring cadence of its zone (`DAHDI_SETCADENCE`)
//! and on-hook caller ID between the first and the second ring (docs/calls.md, "On-hook caller
//! ID").
//!
//! - [`RingCadence`]: on/off durations in ms, as `struct dahdi_ring_cadence` (dahdi/user.h) takes
//!   them; the built-in zones carry DAHDI's `zonedata.c` cadences (docs/calls.md, "Ring cadences").
//! - [`CallerId`] and [`mdmf_call_setup`]: the MDMF call setup message (type 0x80; GR-30,
//!   EN 300 659-3), rendered as FSK (Bell 202 or V.23) by [`crate::fsk::render_spill`].
//! - [`Alerting`]: the sans-IO core ([`sansio::Core`]) that follows the cadence
//!   ([`AlertEvent::Ring`]) and hands out the caller-ID audio as 160-sample blocks in the line's
//!   law ([`sansio::Core::poll_transmit`]), each at the time it is due. The spill starts
//!   [`CID_AFTER_RING_MS`] after the first ring ends and must end [`CID_BEFORE_RING_MS`] before
//!   the next one (GR-30); it goes in the first silent interval of the cadence long enough for it.

use std::fmt;

mod alerting;
pub mod dtmf_clip;

pub use alerting::{AlertEvent, Alerting, CallerIdSignal};

/// Most values in a cadence (`DAHDI_MAX_CADENCE`, dahdi/user.h).
pub const MAX_CADENCE: usize = 16;
/// Longest on or off value accepted, ms (a sanity bound; DAHDI's zones use at most 5 s).
pub const MAX_CADENCE_MS: u32 = 30_000;
/// Earliest start of the caller-ID spill after the first ring ends, ms (GR-30).
pub const CID_AFTER_RING_MS: u32 = 500;
/// Least silence between the end of the spill and the next ring, ms (GR-30).
pub const CID_BEFORE_RING_MS: u32 = 200;
/// MDMF message type "Call Setup" (GR-30; EN 300 659-3).
pub const MDMF_CALL_SETUP: u8 = 0x80;
/// Parameter: date and time, 8 ASCII digits MMDDHHMM.
pub const PARAM_DATE_TIME: u8 = 0x01;
/// Parameter: calling number (ASCII).
pub const PARAM_NUMBER: u8 = 0x02;
/// Parameter: reason the calling number is absent (`O` or `P`).
pub const PARAM_NUMBER_ABSENT: u8 = 0x04;
/// Parameter: calling name (ASCII).
pub const PARAM_NAME: u8 = 0x07;
/// Parameter: reason the calling name is absent (`O` or `P`).
pub const PARAM_NAME_ABSENT: u8 = 0x08;
/// Longest calling number sent, characters (EN 300 659-3 allows 20; GR-30 displays 15 digits,
/// a phone shows what fits).
pub const MAX_NUMBER: usize = 20;
/// Longest calling name sent, characters (GR-30: 15).
pub const MAX_NAME: usize = 15;

/// A ring cadence: on, off, on, off ... durations in ms, at most [`MAX_CADENCE`] values,
/// repeated for as long as the port rings (`DAHDI_SETCADENCE`, `struct dahdi_ring_cadence`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingCadence {
    ms: Vec<u32>,
}

/// Why a cadence is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CadenceError {
    /// Not an even count of 2 to [`MAX_CADENCE`] values (on/off pairs).
    Count(usize),
    /// Value at this index is 0 or above [`MAX_CADENCE_MS`].
    Value(usize),
}

impl fmt::Display for CadenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CadenceError::Count(n) => write!(
                f,
                "ring cadence has {n} values: expected on/off pairs, 2 to {MAX_CADENCE}"
            ),
            CadenceError::Value(i) => write!(
                f,
                "ring cadence value {} must be 1 to {MAX_CADENCE_MS} ms",
                i + 1
            ),
        }
    }
}

impl std::error::Error for CadenceError {}

/// DAHDI's ring cadences by zone number (dahdi-tools `zonedata.c` `ringcadence`, docs/calls.md).
const ZONE_CADENCES: &[(u8, &[u32])] = &[
    (0, &[2000, 4000]),           // us
    (1, &[400, 200, 400, 2000]),  // au
    (2, &[1500, 3500]),           // fr
    (3, &[1000, 4000]),           // nl
    (4, &[400, 200, 400, 2000]),  // uk
    (5, &[1000, 4000]),           // fi
    (6, &[1500, 3000]),           // es
    (7, &[1000, 2000]),           // jp
    (8, &[1000, 4000]),           // no
    (9, &[1000, 5000]),           // at
    (10, &[400, 200, 400, 2000]), // nz
    (11, &[1000, 4000]),          // it
    (12, &[2000, 4000]),          // us-old
    (13, &[1000, 4000]),          // gr
    (14, &[1000, 4000]),          // tw
    (15, &[1000, 3000]),          // cl
    (16, &[1000, 5000]),          // se
    (17, &[1000, 3000]),          // be
    (18, &[400, 200, 400, 2000]), // sg
    (19, &[1000, 3000]),          // il
    (20, &[1000, 4000]),          // br
    (21, &[1250, 3750]),          // hu
    (22, &[1000, 4000]),          // lt
    (23, &[1000, 4000]),          // pl
    (24, &[400, 200, 400, 2000]), // za
    (25, &[1000, 5000]),          // pt
    (26, &[1000, 4000]),          // ee
    (27, &[2000, 4000]),          // mx
    (28, &[400, 200, 400, 2000]), // in
    (29, &[1000, 4000]),          // de
    (30, &[1000, 4000]),          // ch
    (31, &[1000, 4000]),          // dk
    (32, &[1000, 4000]),          // cz
    (33, &[1000, 4000]),          // cn
    (34, &[1000, 4500]),          // ar
    (35, &[400, 200, 400, 2000]), // my
    (36, &[1000, 4000]),          // th
    (37, &[1000, 4000]),          // bg
    (38, &[1000, 4000]),          // ve
    (39, &[1000, 4000]),          // ph
    (40, &[1000, 4000]),          // ru
    (41, &[2000, 4000]),          // tr
    (42, &[2000, 4000]),          // pa
    (43, &[1000, 4000]),          // mo
    (44, &[1203, 4797]),          // cr
    (45, &[1500, 4000]),          // ae
];

impl RingCadence {
    /// A cadence of on/off values in ms. Errors: [`CadenceError`].
    pub fn new(ms: &[u32]) -> Result<Self, CadenceError> {
        if ms.len() < 2 || ms.len() > MAX_CADENCE || ms.len() % 2 != 0 {
            return Err(CadenceError::Count(ms.len()));
        }
        if let Some(i) = ms.iter().position(|&v| v == 0 || v > MAX_CADENCE_MS) {
            return Err(CadenceError::Value(i));
        }
        Ok(Self { ms: ms.to_vec() })
    }

    /// The cadence of DAHDI zone `zone` (the `dahdi_zone` of a built-in tone plan), `None` for
    /// a number `zonedata.c` does not have.
    pub fn for_zone(zone: u8) -> Option<Self> {
        ZONE_CADENCES
            .iter()
            .find(|(z, _)| *z == zone)
            .map(|(_, ms)| Self { ms: ms.to_vec() })
    }

    /// The on/off values, ms.
    pub fn values(&self) -> &[u32] {
        &self.ms
    }

    /// The argument of `DAHDI_SETCADENCE`: `struct dahdi_ring_cadence { int ringcadence[16]; }`,
    /// unused values 0.
    pub fn dahdi_ring_cadence(&self) -> [i32; MAX_CADENCE] {
        let mut out = [0; MAX_CADENCE];
        for (o, &v) in out.iter_mut().zip(&self.ms) {
            // Bounded by MAX_CADENCE_MS in `new`.
            *o = v as i32;
        }
        out
    }
}

/// Why the name or the number is not shown (GR-30 / EN 300 659-3 "reason for absence").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presentation {
    /// Shown: the text (printable ASCII is kept, other characters dropped; truncated to
    /// [`MAX_NUMBER`] or [`MAX_NAME`]).
    Available(String),
    /// Withheld by the caller: `P`.
    Private,
    /// Unavailable, e.g. the call came from a network that did not pass it: `O`.
    OutOfArea,
}

/// Local date and time of the call for parameter 0x01 (the core reads no clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallTime {
    /// 1-12.
    pub month: u8,
    /// 1-31.
    pub day: u8,
    /// 0-23.
    pub hour: u8,
    /// 0-59.
    pub minute: u8,
}

/// What the phone displays for an incoming call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerId {
    /// Date and time; `None` leaves parameter 0x01 out.
    pub time: Option<CallTime>,
    /// The calling number (parameter 0x02) or why it is absent (0x04).
    pub number: Presentation,
    /// The calling name (parameter 0x07) or why it is absent (0x08); `None` leaves both out.
    pub name: Option<Presentation>,
}

/// Append parameter `ty` with `value` to `m`.
fn param(m: &mut Vec<u8>, ty: u8, value: &[u8]) {
    m.push(ty);
    m.push(value.len() as u8);
    m.extend_from_slice(value);
}

/// Append the presentation parameter (`present` with the text, or `absent` with `P`/`O`).
fn presentation(m: &mut Vec<u8>, p: &Presentation, present: u8, absent: u8, max: usize) {
    match p {
        Presentation::Available(text) => {
            let v: Vec<u8> = text
                .bytes()
                .filter(|b| (0x20..0x7F).contains(b))
                .take(max)
                .collect();
            param(m, present, &v);
        }
        Presentation::Private => param(m, absent, b"P"),
        Presentation::OutOfArea => param(m, absent, b"O"),
    }
}

/// The MDMF call setup message: type 0x80, length, parameters (0x01 date/time MMDDHHMM, 0x02
/// number or 0x04 its absence, 0x07 name or 0x08 its absence), checksum (two's complement of the
/// sum of all previous octets) (GR-30; EN 300 659-3 §5.2). A [`CallTime`] field out of range is
/// left out with the whole parameter. Shape: at most 2 + 10 + 22 + 17 + 1 = 52 octets.
pub fn mdmf_call_setup(cid: &CallerId) -> Vec<u8> {
    let mut m = vec![MDMF_CALL_SETUP, 0];
    if let Some(t) = cid.time {
        let valid = (1..=12).contains(&t.month)
            && (1..=31).contains(&t.day)
            && t.hour < 24
            && t.minute < 60;
        if valid {
            let text = format!("{:02}{:02}{:02}{:02}", t.month, t.day, t.hour, t.minute);
            param(&mut m, PARAM_DATE_TIME, text.as_bytes());
        }
    }
    presentation(
        &mut m,
        &cid.number,
        PARAM_NUMBER,
        PARAM_NUMBER_ABSENT,
        MAX_NUMBER,
    );
    if let Some(name) = &cid.name {
        presentation(&mut m, name, PARAM_NAME, PARAM_NAME_ABSENT, MAX_NAME);
    }
    m[1] = (m.len() - 2) as u8;
    let sum = m.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    m.push(sum.wrapping_neg());
    m
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plans::{builtin_names, TonePlan};

    pub(crate) fn alice() -> CallerId {
        CallerId {
            time: Some(CallTime {
                month: 3,
                day: 15,
                hour: 14,
                minute: 30,
            }),
            number: Presentation::Available("5551234567".into()),
            name: Some(Presentation::Available("ALICE".into())),
        }
    }

    #[test]
    fn zone_cadences() {
        let us = TonePlan::builtin("us").unwrap().dahdi_zone.unwrap();
        let uk = TonePlan::builtin("uk").unwrap().dahdi_zone.unwrap();
        let de = TonePlan::builtin("de").unwrap().dahdi_zone.unwrap();
        assert_eq!(RingCadence::for_zone(us).unwrap().values(), [2000, 4000]);
        assert_eq!(
            RingCadence::for_zone(uk).unwrap().values(),
            [400, 200, 400, 2000]
        );
        assert_eq!(RingCadence::for_zone(de).unwrap().values(), [1000, 4000]);
        for name in builtin_names() {
            let zone = TonePlan::builtin(name).unwrap().dahdi_zone.unwrap();
            let c = RingCadence::for_zone(zone).unwrap_or_else(|| panic!("{name}: no cadence"));
            assert_eq!(RingCadence::new(c.values()), Ok(c.clone()), "{name}");
        }
        assert_eq!(RingCadence::for_zone(46), None);
        let mut want = [0; MAX_CADENCE];
        want[..4].copy_from_slice(&[400, 200, 400, 2000]);
        assert_eq!(
            RingCadence::for_zone(uk).unwrap().dahdi_ring_cadence(),
            want
        );
    }

    #[test]
    fn cadence_validation() {
        assert_eq!(RingCadence::new(&[]), Err(CadenceError::Count(0)));
        assert_eq!(RingCadence::new(&[1000]), Err(CadenceError::Count(1)));
        assert_eq!(RingCadence::new(&[1; 18]), Err(CadenceError::Count(18)));
        assert_eq!(RingCadence::new(&[1000, 0]), Err(CadenceError::Value(1)));
        assert_eq!(
            RingCadence::new(&[MAX_CADENCE_MS + 1, 10]),
            Err(CadenceError::Value(0))
        );
        assert!(RingCadence::new(&[100; 16]).is_ok());
        assert_eq!(
            CadenceError::Value(1).to_string(),
            "ring cadence value 2 must be 1 to 30000 ms"
        );
    }

    #[test]
    fn mdmf_message_bytes() {
        let m = mdmf_call_setup(&alice());
        let mut want = vec![0x80, 29, 0x01, 8];
        want.extend_from_slice(b"03151430");
        want.extend_from_slice(&[0x02, 10]);
        want.extend_from_slice(b"5551234567");
        want.extend_from_slice(&[0x07, 5]);
        want.extend_from_slice(b"ALICE");
        let sum = want.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        want.push(sum.wrapping_neg());
        assert_eq!(m, want);
        assert_eq!(m.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
    }

    #[test]
    fn mdmf_privacy_out_of_area_and_limits() {
        let private = CallerId {
            time: None,
            number: Presentation::Private,
            name: Some(Presentation::Private),
        };
        assert_eq!(
            mdmf_call_setup(&private)[..8],
            [0x80, 6, 0x04, 1, b'P', 0x08, 1, b'P']
        );
        let away = CallerId {
            time: None,
            number: Presentation::OutOfArea,
            name: Some(Presentation::OutOfArea),
        };
        assert_eq!(
            mdmf_call_setup(&away)[..8],
            [0x80, 6, 0x04, 1, b'O', 0x08, 1, b'O']
        );
        let long = CallerId {
            time: Some(CallTime {
                month: 13,
                day: 1,
                hour: 0,
                minute: 0,
            }),
            number: Presentation::Available("1".repeat(40)),
            name: Some(Presentation::Available("Zoë\u{7} Quite-Long Name".into())),
        };
        let m = mdmf_call_setup(&long);
        assert_eq!(m[2..4], [0x02, MAX_NUMBER as u8]); // bad month: no date
        let name = &m[4 + MAX_NUMBER..m.len() - 1];
        assert_eq!(name[..2], [0x07, MAX_NAME as u8]);
        assert_eq!(&name[2..], b"Zo Quite-Long N");
        assert_eq!(m[1] as usize, m.len() - 3);
        assert_eq!(m.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
    }
}
