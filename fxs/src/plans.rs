//! Tone plans: dial, stutter (message-waiting) and dial-recall tones per country, the built-in
//! zones of DAHDI's `zonedata.c` (docs/tones.md) and custom plans from the configuration.

use std::fmt;

use serde::Deserialize;

use crate::calltones::CallProgress;
use crate::fsk::FskStandard;
use crate::toneplan::{ParseError, ToneSeq};

/// Level per frequency component of the plans taken from DAHDI, dBm0 (libtonezone `LEVEL -10`).
pub const DAHDI_LEVEL_DBM0: f64 = -10.0;
/// Level per frequency component of the GR-506 `us` plan, dBm0 (precise tone plan dial tone).
pub const GR506_LEVEL_DBM0: f64 = -13.0;

/// One row of the built-in table (the tone strings as text; parsed by [`TonePlan::builtin`]).
struct Zone {
    name: &'static str,
    description: &'static str,
    dahdi_zone: u8,
    dial: &'static str,
    stutter: &'static str,
    dialrecall: &'static str,
}

/// The built-in zones: every zone of dahdi-tools `zonedata.c` with its `DAHDI_TONE_DIALTONE`,
/// `DAHDI_TONE_STUTTER` and `DAHDI_TONE_DIALRECALL` strings, except:
/// - `us` is GR-506 (10 stutter bursts of 100/100 ms, -13 dBm0); `us-dahdi` keeps DAHDI's 6 bursts;
/// - `nz` has the commas that zonedata.c lacks (`!400/100!0/100`), as indications.conf.sample;
/// - `hu` stutter `350+375+400` has three frequencies, which the grammar (and libtonezone's
///   `sscanf("%d+%d")`) cannot express: we keep `350+375`, what DAHDI actually plays.
const ZONES: &[Zone] = &[
    Zone {
        name: "us",
        description: "United States / North America (GR-506: 10 stutter bursts)",
        dahdi_zone: 0,
        dial: "350+440",
        stutter: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "us-dahdi",
        description: "United States, DAHDI zonedata.c (6 stutter bursts)",
        dahdi_zone: 0,
        dial: "350+440",
        stutter: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "uk",
        description: "United Kingdom",
        dahdi_zone: 4,
        dial: "350+440",
        stutter: "350+440/750,440/750",
        dialrecall: "350+440",
    },
    Zone {
        name: "de",
        description: "Germany",
        dahdi_zone: 29,
        dial: "425",
        stutter: "425+400",
        dialrecall: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
    },
    Zone {
        name: "fr",
        description: "France",
        dahdi_zone: 2,
        dial: "440",
        stutter: "!440/100,!0/100,!440/100,!0/100,!440/100,!0/100,!440/100,!0/100,!440/100,!0/100,!440/100,!0/100,440",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "au",
        description: "Australia",
        dahdi_zone: 1,
        dial: "415+440",
        stutter: "413+438/100,0/40",
        dialrecall: "413+428",
    },
    Zone {
        name: "jp",
        description: "Japan",
        dahdi_zone: 7,
        dial: "400",
        stutter: "!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,400",
        dialrecall: "!400/200,!0/200,!400/200,!0/200,!400/200,!0/200,400",
    },
    Zone {
        name: "it",
        description: "Italy",
        dahdi_zone: 11,
        dial: "425/200,0/200,425/600,0/1000",
        stutter: "470/400,425/400",
        dialrecall: "470/400,425/400",
    },
    Zone {
        name: "nl",
        description: "Netherlands",
        dahdi_zone: 3,
        dial: "425",
        stutter: "425/500,0/50",
        dialrecall: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
    },
    Zone {
        name: "se",
        description: "Sweden",
        dahdi_zone: 16,
        dial: "425",
        stutter: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
        dialrecall: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
    },
    Zone {
        name: "es",
        description: "Spain",
        dahdi_zone: 6,
        dial: "425",
        stutter: "425/500,0/50",
        dialrecall: "!425/200,!0/200,!425/200,!0/200,!425/200,!0/200,425",
    },
    Zone {
        name: "at",
        description: "Austria",
        dahdi_zone: 9,
        dial: "420",
        stutter: "380+420",
        dialrecall: "420",
    },
    Zone {
        name: "ch",
        description: "Switzerland",
        dahdi_zone: 30,
        dial: "425",
        stutter: "425+340/1100,0/1100",
        dialrecall: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
    },
    Zone {
        name: "dk",
        description: "Denmark",
        dahdi_zone: 31,
        dial: "425",
        stutter: "425/450,0/50",
        dialrecall: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
    },
    Zone {
        name: "no",
        description: "Norway",
        dahdi_zone: 8,
        dial: "425",
        stutter: "470/400,425/400",
        dialrecall: "470/400,425/400",
    },
    Zone {
        name: "fi",
        description: "Finland",
        dahdi_zone: 5,
        dial: "425",
        stutter: "425/650,0/25",
        dialrecall: "425/650,0/25",
    },
    Zone {
        name: "be",
        description: "Belgium",
        dahdi_zone: 17,
        dial: "425",
        stutter: "425/1000,0/250",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "pl",
        description: "Poland",
        dahdi_zone: 23,
        dial: "425",
        stutter: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "pt",
        description: "Portugal",
        dahdi_zone: 25,
        dial: "425",
        stutter: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
        dialrecall: "425/1000,0/200",
    },
    Zone {
        name: "ru",
        description: "Russia / ex Soviet Union",
        dahdi_zone: 40,
        dial: "425",
        stutter: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "nz",
        description: "New Zealand (missing commas of zonedata.c fixed)",
        dahdi_zone: 10,
        dial: "400",
        stutter: "!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,400",
        dialrecall: "!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,400",
    },
    Zone {
        name: "cn",
        description: "China",
        dahdi_zone: 33,
        dial: "450",
        stutter: "450+425",
        dialrecall: "450",
    },
    Zone {
        name: "in",
        description: "India",
        dahdi_zone: 28,
        dial: "400*25",
        stutter: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "br",
        description: "Brazil",
        dahdi_zone: 20,
        dial: "425",
        stutter: "350+440",
        dialrecall: "350+440",
    },
    Zone {
        name: "mx",
        description: "Mexico",
        dahdi_zone: 27,
        dial: "425",
        stutter: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "za",
        description: "South Africa",
        dahdi_zone: 24,
        dial: "400*33",
        stutter: "!400*33/100,!0/100,!400*33/100,!0/100,!400*33/100,!0/100,!400*33/100,!0/100,!400*33/100,!0/100,!400*33/100,!0/100,400*33",
        dialrecall: "350+440",
    },
    Zone {
        name: "il",
        description: "Israel",
        dahdi_zone: 19,
        dial: "414",
        stutter: "!414/160,!0/160,!414/160,!0/160,!414/160,!0/160,!414/160,!0/160,!414/160,!0/160,!414/160,!0/160,!414/160,!0/160,!414/160,!0/160,!414/160,!0/160,!414/160,!0/160,414",
        dialrecall: "!414/100,!0/100,!414/100,!0/100,!414/100,!0/100,414",
    },
    Zone {
        name: "sg",
        description: "Singapore",
        dahdi_zone: 18,
        dial: "425",
        stutter: "!425/200,!0/200,!425/600,!0/200,!425/200,!0/200,!425/600,!0/200,!425/200,!0/200,!425/600,!0/200,!425/200,!0/200,!425/600,!0/200,425",
        dialrecall: "425*24/500,0/500,425/500,0/2500",
    },
    Zone {
        name: "th",
        description: "Thailand",
        dahdi_zone: 36,
        dial: "400*50",
        stutter: "!400/200,!0/200,!400/600,!0/200,!400/200,!0/200,!400/600,!0/200,!400/200,!0/200,!400/600,!0/200,!400/200,!0/200,!400/600,!0/200,400",
        dialrecall: "400*50/400,0/100,400*50/400,0/100",
    },
    Zone {
        name: "tw",
        description: "Taiwan",
        dahdi_zone: 14,
        dial: "350+440",
        stutter: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
        dialrecall: "300/1500,0/500",
    },
    Zone {
        name: "cz",
        description: "Czech Republic",
        dahdi_zone: 32,
        dial: "425/330,0/330,425/660,0/660",
        stutter: "425/450,0/50",
        dialrecall: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425/330,0/330,425/660,0/660",
    },
    Zone {
        name: "hu",
        description: "Hungary (three-frequency stutter reduced to what DAHDI plays)",
        dahdi_zone: 21,
        dial: "425",
        stutter: "350+375",
        dialrecall: "425+450",
    },
    Zone {
        name: "gr",
        description: "Greece",
        dahdi_zone: 13,
        dial: "425/200,0/300,425/700,0/800",
        stutter: "425/650,0/25",
        dialrecall: "425/650,0/25",
    },
    Zone {
        name: "ee",
        description: "Estonia",
        dahdi_zone: 26,
        dial: "425",
        stutter: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
        dialrecall: "425/650,0/25",
    },
    Zone {
        name: "lt",
        description: "Lithuania",
        dahdi_zone: 22,
        dial: "425",
        stutter: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "bg",
        description: "Bulgaria",
        dahdi_zone: 37,
        dial: "425",
        stutter: "425/1500,0/100",
        dialrecall: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
    },
    Zone {
        name: "cl",
        description: "Chile",
        dahdi_zone: 15,
        dial: "400",
        stutter: "!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,400",
        dialrecall: "!400/100,!0/100,!400/100,!0/100,!400/100,!0/100,400",
    },
    Zone {
        name: "ve",
        description: "Venezuela",
        dahdi_zone: 38,
        dial: "425",
        stutter: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
        dialrecall: "425",
    },
    Zone {
        name: "ph",
        description: "Philippines",
        dahdi_zone: 39,
        dial: "425",
        stutter: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "my",
        description: "Malaysia",
        dahdi_zone: 35,
        dial: "425",
        stutter: "450+425",
        dialrecall: "350+440",
    },
    Zone {
        name: "ar",
        description: "Argentina",
        dahdi_zone: 34,
        dial: "425",
        stutter: "425/450,0/50",
        dialrecall: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425/330,0/330,425/660,0/660",
    },
    Zone {
        name: "tr",
        description: "Turkey",
        dahdi_zone: 41,
        dial: "450",
        stutter: "!450/100,!0/100,!450/100,!0/100,!450/100,!0/100,!450/100,!0/100,!450/100,!0/100,!450/100,!0/100,450",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "pa",
        description: "Panama",
        dahdi_zone: 42,
        dial: "425",
        stutter: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
        dialrecall: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
    },
    Zone {
        name: "mo",
        description: "Macao",
        dahdi_zone: 43,
        dial: "425",
        stutter: "!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,!425/100,!0/100,425",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "cr",
        description: "Costa Rica",
        dahdi_zone: 44,
        dial: "450",
        stutter: "!450/100,!0/100,!450/100,!0/100,!450/100,!0/100,!450/100,!0/100,!450/100,!0/100,!450/100,!0/100,450",
        dialrecall: "!450/100,!0/100,!450/100,!0/100,!450/100,!0/100,450",
    },
    Zone {
        name: "ae",
        description: "United Arab Emirates",
        dahdi_zone: 45,
        dial: "350+440",
        stutter: "380+420",
        dialrecall: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    },
    Zone {
        name: "us-old",
        description: "United States, old (pre-AT&T divestiture)",
        dahdi_zone: 12,
        dial: "600*120",
        stutter: "!600*120/100,!0/100,!600*120/100,!0/100,!600*120/100,!0/100,!600*120/100,!0/100,!600*120/100,!0/100,!600*120/100,!0/100,600*120",
        dialrecall: "!600*120/100,!0/100,!600*120/100,!0/100,!600*120/100,!0/100,600*120",
    },
];

/// A complete tone plan: what an FXS port plays, at what level, and which FSK standard its
/// on-hook data (visual MWI) uses.
#[derive(Clone, Debug, PartialEq)]
pub struct TonePlan {
    /// Plan name as used in the `cptone` setting (e.g. `us`, `de`).
    pub name: String,
    /// DAHDI tone zone number of the same country, if any.
    pub dahdi_zone: Option<u8>,
    /// Dial tone (`DAHDI_TONE_DIALTONE`).
    pub dial: ToneSeq,
    /// Message-waiting (stutter) dial tone (`DAHDI_TONE_STUTTER`).
    pub stutter: ToneSeq,
    /// Recall dial tone after a hook flash (`DAHDI_TONE_DIALRECALL`); `None`: dial tone is used.
    pub dialrecall: Option<ToneSeq>,
    /// Ringback, busy, reorder and howler (by `dahdi_zone`; docs/calls.md).
    pub call: CallProgress,
    /// Level of each frequency component (of the carrier for `*`), dBm0.
    pub level_dbm0: f64,
    /// Modulation of the on-hook FSK message-waiting spill.
    pub fsk: FskStandard,
}

/// A tone plan as written in the configuration (`[[tone_plan]]` or similar): strings in the
/// grammar of [`ToneSeq`].
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPlan {
    /// Name the ports refer to with `cptone`; must not be a built-in name.
    pub name: String,
    /// Dial tone string.
    pub dial: String,
    /// Stutter dial tone string.
    pub stutter: String,
    /// Recall dial tone string; absent: dial tone after a flash.
    #[serde(default)]
    pub dialrecall: Option<String>,
    /// Level per frequency component, dBm0 (-40.0..=0.0); absent: -13 dBm0.
    #[serde(default)]
    pub level_dbm0: Option<f64>,
    /// FSK standard for on-hook data; absent: V.23.
    #[serde(default)]
    pub fsk: Option<FskStandard>,
}

/// Why a plan could not be built.
#[derive(Clone, Debug, PartialEq)]
pub enum PlanError {
    /// A tone string of plan `plan`, field `field` (`dial`, `stutter`, `dialrecall`), is malformed.
    Tone {
        /// Plan name.
        plan: String,
        /// Field name.
        field: &'static str,
        /// The parse error (with its position in the string).
        error: ParseError,
    },
    /// The level is outside -40.0..=0.0 dBm0.
    Level {
        /// Plan name.
        plan: String,
        /// The level given.
        dbm0: f64,
    },
    /// A custom plan reuses a built-in name or another custom plan's name.
    DuplicateName(String),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Tone { plan, field, error } => {
                write!(f, "tone plan {plan:?}, {field}: {error}")
            }
            PlanError::Level { plan, dbm0 } => {
                write!(
                    f,
                    "tone plan {plan:?}: level {dbm0} dBm0 out of range -40..=0"
                )
            }
            PlanError::DuplicateName(n) => write!(f, "tone plan {n:?} is defined twice"),
        }
    }
}

impl std::error::Error for PlanError {}

fn parse_field(plan: &str, field: &'static str, s: &str) -> Result<ToneSeq, PlanError> {
    ToneSeq::parse(s).map_err(|error| PlanError::Tone {
        plan: plan.to_owned(),
        field,
        error,
    })
}

impl TonePlan {
    /// The built-in plan `name` (see [`builtin_names`]), or `None`.
    pub fn builtin(name: &str) -> Option<TonePlan> {
        let z = ZONES.iter().find(|z| z.name == name)?;
        let parse = |field, s| parse_field(z.name, field, s).ok();
        let na = matches!(z.name, "us" | "us-dahdi" | "us-old");
        Some(TonePlan {
            name: z.name.to_owned(),
            dahdi_zone: Some(z.dahdi_zone),
            dial: parse("dial", z.dial)?,
            stutter: parse("stutter", z.stutter)?,
            dialrecall: Some(parse("dialrecall", z.dialrecall)?),
            call: CallProgress::for_zone(Some(z.dahdi_zone)),
            level_dbm0: if z.name == "us" {
                GR506_LEVEL_DBM0
            } else {
                DAHDI_LEVEL_DBM0
            },
            fsk: if na {
                FskStandard::Bell202
            } else {
                FskStandard::V23
            },
        })
    }

    /// Build a plan from its configuration form.
    ///
    /// Errors: [`PlanError::Tone`] for a malformed string, [`PlanError::Level`] for a level
    /// outside -40..=0 dBm0.
    pub fn custom(c: &CustomPlan) -> Result<TonePlan, PlanError> {
        let level = c.level_dbm0.unwrap_or(GR506_LEVEL_DBM0);
        if !(-40.0..=0.0).contains(&level) {
            return Err(PlanError::Level {
                plan: c.name.clone(),
                dbm0: level,
            });
        }
        Ok(TonePlan {
            name: c.name.clone(),
            dahdi_zone: None,
            dial: parse_field(&c.name, "dial", &c.dial)?,
            stutter: parse_field(&c.name, "stutter", &c.stutter)?,
            dialrecall: c
                .dialrecall
                .as_deref()
                .map(|s| parse_field(&c.name, "dialrecall", s))
                .transpose()?,
            call: CallProgress::for_zone(None),
            level_dbm0: level,
            fsk: c.fsk.unwrap_or(FskStandard::V23),
        })
    }
}

/// Names of the built-in plans, in table order.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    ZONES.iter().map(|z| z.name)
}

/// Human description of a built-in plan (country), or `None`.
pub fn builtin_description(name: &str) -> Option<&'static str> {
    ZONES.iter().find(|z| z.name == name).map(|z| z.description)
}

/// The built-in plan for a `cptone` name, or `None` (custom plans: [`crate::TonePlans::cptone`]).
pub fn cptone(name: &str) -> Option<TonePlan> {
    TonePlan::builtin(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses() {
        let names: Vec<_> = builtin_names().collect();
        assert_eq!(names.len(), 47);
        for n in names {
            let p = cptone(n).unwrap_or_else(|| panic!("built-in {n} does not parse"));
            assert!(p.dialrecall.is_some());
            assert!(builtin_description(n).is_some());
        }
    }
}
