//! The call-progress tones of the tone plans: ringback (`DAHDI_TONE_RINGTONE`), busy
//! (`DAHDI_TONE_BUSY`) and congestion or reorder (`DAHDI_TONE_CONGESTION`) per DAHDI zone, as
//! dahdi-tools `zonedata.c` gives them (ITU-T E.180 Supplement 2 values; docs/calls.md), and
//! one receiver-off-hook tone for every plan.

use crate::toneplan::ToneSeq;

/// The call-progress tones of one plan, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct CallProgress {
    /// Ringback: the far end is alerted (`DAHDI_TONE_RINGTONE`).
    pub ringback: ToneSeq,
    /// Busy (`DAHDI_TONE_BUSY`; Q.850 cause 17).
    pub busy: ToneSeq,
    /// Reorder, or congestion (`DAHDI_TONE_CONGESTION`): the call failed for another reason.
    pub reorder: ToneSeq,
    /// Receiver off-hook (howler): the handset was left off-hook ([`HOWLER`]).
    pub howler: ToneSeq,
}

impl CallProgress {
    /// The tones of DAHDI zone `zone`; ITU-T E.180 values for `None` or an unknown zone.
    pub fn for_zone(zone: Option<u8>) -> Self {
        let t = zone.and_then(for_zone).unwrap_or(&E180);
        // Every string of the table parses (unit test below).
        let parse = |s: &str| ToneSeq::parse(s).expect("built-in call-progress tone");
        Self {
            ringback: parse(t.ringback),
            busy: parse(t.busy),
            reorder: parse(t.congestion),
            howler: parse(HOWLER),
        }
    }
}

/// One zone's call-progress tones, keyed by its DAHDI zone number.
pub(crate) struct CallTones {
    /// DAHDI zone number (`.zone` of zonedata.c).
    pub zone: u8,
    /// Ringback (`DAHDI_TONE_RINGTONE`).
    pub ringback: &'static str,
    /// Busy (`DAHDI_TONE_BUSY`).
    pub busy: &'static str,
    /// Congestion, heard as reorder (`DAHDI_TONE_CONGESTION`).
    pub congestion: &'static str,
}

/// Receiver off-hook (howler) tone of every plan: GR-506's 1400 + 2060 + 2450 + 2600 Hz at
/// 100 ms on / 100 ms off, cut to the first two frequencies (the tone grammar, like
/// libtonezone's, mixes at most two). No zone of zonedata.c defines one.
pub(crate) const HOWLER: &str = "1400+2060/100,0/100";

/// Tones of a plan without a DAHDI zone (a custom plan): the ITU-T E.180 §2 recommended
/// 425 Hz with its ringing (1 s / 4 s), busy (0.5 s / 0.5 s) and congestion (0.25 s / 0.25 s)
/// cadences.
pub(crate) const E180: CallTones = CallTones {
    zone: u8::MAX,
    ringback: "425/1000,0/4000",
    busy: "425/500,0/500",
    congestion: "425/250,0/250",
};

/// The call-progress tones of zone `zone`, or `None` for a zone not in the table.
pub(crate) fn for_zone(zone: u8) -> Option<&'static CallTones> {
    ZONES.iter().find(|t| t.zone == zone)
}

macro_rules! zones {
    ($($zone:literal $ringback:literal $busy:literal $congestion:literal;)*) => {
        /// Every zone of zonedata.c. `au` congestion alternates full and `@` (-20 dB) bursts
        /// there; the grammar has no level per element, so both bursts play at full level.
        const ZONES: &[CallTones] = &[$(CallTones {
            zone: $zone,
            ringback: $ringback,
            busy: $busy,
            congestion: $congestion,
        }),*];
    };
}

zones! {
    0 "440+480/2000,0/4000" "480+620/500,0/500" "480+620/250,0/250";
    1 "413+438/400,0/200,413+438/400,0/2000" "425/375,0/375" "425/375,0/375,425/375,0/375";
    2 "440/1500,0/3500" "440/500,0/500" "440/250,0/250";
    3 "425/1000,0/4000" "425/500,0/500" "425/250,0/250";
    4 "400+450/400,0/200,400+450/400,0/2000" "400/375,0/375" "400/400,0/350,400/225,0/525";
    5 "425/1000,0/4000" "425/300,0/300" "425/200,0/200";
    6 "425/1500,0/3000" "425/200,0/200" "425/200,0/200,425/200,0/200,425/200,0/600";
    7 "400+15/1000,0/2000" "400/500,0/500" "400/500,0/500";
    8 "425/1000,0/4000" "425/500,0/500" "425/200,0/200";
    9 "420/1000,0/5000" "420/400,0/400" "420/200,0/200";
    10 "400+450/400,0/200,400+450/400,0/2000" "400/500,0/500" "400/250,0/250";
    11 "425/1000,0/4000" "425/500,0/500" "425/200,0/200";
    12 "420*40/2000,0/4000" "500*100/500,0/500" "500*100/250,0/250";
    13 "425/1000,0/4000" "425/300,0/300" "425/200,0/200";
    14 "440+480/1000,0/2000" "480+620/500,0/500" "480+620/250,0/250";
    15 "400/1000,0/3000" "400/500,0/500" "400/200,0/200";
    16 "425/1000,0/5000" "425/250,0/250" "425/250,0/750";
    17 "425/1000,0/3000" "425/500,0/500" "425/167,0/167";
    18 "425*24/400,0/200,425*24/400,0/2000" "425/750,0/750" "425/250,0/250";
    19 "414/1000,0/3000" "414/500,0/500" "414/250,0/250";
    20 "425/1000,0/4000" "425/250,0/250" "425/250,0/250,425/750,0/250";
    21 "425/1250,0/3750" "425/300,0/300" "425/300,0/300";
    22 "425/1000,0/4000" "425/350,0/350" "425/200,0/200";
    23 "425/1000,0/4000" "425/500,0/500" "425/500,0/500";
    24 "400*33/400,0/200,400*33/400,0/2000" "400/500,0/500" "400/250,0/250";
    25 "425/1000,0/5000" "425/500,0/500" "425/200,0/200";
    26 "425/1000,0/4000" "425/300,0/300" "425/200,0/200";
    27 "425/1000,0/4000" "425/250,0/250" "425/250,0/250";
    28 "400*25/400,0/200,400*25/400,0/2000" "400/750,0/750" "400/250,0/250";
    29 "425/1000,0/4000" "425/480,0/480" "425/240,0/240";
    30 "425/1000,0/4000" "425/500,0/500" "425/200,0/200";
    31 "425/1000,0/4000" "425/500,0/500" "425/200,0/200";
    32 "425/1000,0/4000" "425/330,0/330" "425/165,0/165";
    33 "450/1000,0/4000" "450/350,0/350" "450/700,0/700";
    34 "425/1000,0/4500" "425/300,0/300" "425/200,0/300";
    35 "425/400,0/200,425/400,0/2000" "425/500,0/500" "425/500,0/500";
    36 "400/1000,0/4000" "400/500,0/500" "400/300,0/300";
    37 "425/1000,0/4000" "425/500,0/500" "425/250,0/250";
    38 "425/1000,0/4000" "425/500,0/500" "425/250,0/250";
    39 "425+480/1000,0/4000" "480+620/500,0/500" "480+620/250,0/250";
    40 "425/1000,0/4000" "425/350,0/350" "425/175,0/175";
    41 "450/2000,0/4000" "450/500,0/500" "!450/200,!0/200,!450/200,!0/200,!450/200,!0/200,450/600,0/200";
    42 "425/1200,0/4650" "425/320,0/320" "425/320,0/320";
    43 "425/1000,0/4000" "425/500,0/500" "425/250,0/250";
    44 "450/1203,0/4900" "450/330,0/330" "450/330,0/330";
    45 "400+425/400,0/200,400+425/400,0/2000" "400/375,0/375" "425/400,0/350,425/225,0/525";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_zone_parses_once() {
        for (i, t) in ZONES.iter().enumerate() {
            assert_eq!(usize::from(t.zone), i, "zones in order, none missing");
            for s in [t.ringback, t.busy, t.congestion] {
                ToneSeq::parse(s).unwrap_or_else(|e| panic!("zone {}: {s}: {e}", t.zone));
            }
        }
        for s in [HOWLER, E180.ringback, E180.busy, E180.congestion] {
            ToneSeq::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }
}
