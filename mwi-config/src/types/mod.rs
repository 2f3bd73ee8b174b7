//! The configuration schema: one struct per TOML section, one field per key.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use fxs::{Law, VmwiMode};
use serde::{Deserialize, Deserializer};

use mwi_core::route::Pattern;

/// `fn NAME(d) -> u32` for serde's `deserialize_with`: key `KEY` read as a whole number within
/// `RANGE`, else the error `KEY = v is out of range LO..=HI` at the value (one line per key,
/// instead of one three-line function each).
macro_rules! ranged {
    ($($name:ident: $key:literal in $range:expr;)*) => {$(
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
            de_in_range(d, $key, $range)
        }
    )*};
}

/// The whole configuration file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[sip]`: sipd's listening sockets and credentials. Default: see [`Sip`].
    #[serde(default)]
    pub sip: Sip,
    /// `[registrar]`: where sipd registers; absent = sipd does not register.
    #[serde(default)]
    pub registrar: Option<Registrar>,
    /// `[mwi_server]`: the voice-mail server (required).
    pub mwi_server: MwiServer,
    /// `[dahdi]`: which channel back-end chand uses.
    #[serde(default)]
    pub dahdi: Dahdi,
    /// `[[span]]`: the DAHDI span layout (optional; see [`Span`] for the rule without it).
    #[serde(default)]
    pub span: Vec<Span>,
    /// `[[fxs]]`: analog phone ports.
    #[serde(default)]
    pub fxs: Vec<Fxs>,
    /// `[media]`: RTP for calls on FXS ports. Default: see [`Media`].
    #[serde(default)]
    pub media: Media,
    /// `[[pri]]`: QSIG PRI spans towards PBXs.
    #[serde(default)]
    pub pri: Vec<Pri>,
    /// `[[tone_plan]]`: custom tone plans (`name`, `dial`, `stutter`, optional `dialrecall`,
    /// `level_dbm0`, `fsk`) that `cptone` may name besides the built-in ones; the tone strings
    /// use the grammar of `fxs::toneplan` (docs/tones.md).
    #[serde(default)]
    pub tone_plan: Vec<fxs::CustomPlan>,
    /// `[state]`: where the daemons keep state.
    #[serde(default)]
    pub state: State,
    /// `[table]`: the shared-memory MWI table.
    #[serde(default)]
    pub table: Table,
    /// `[log]`: logging.
    #[serde(default)]
    pub log: Log,
    /// `[trace]`: the pcapng capture. Default: none.
    #[serde(default)]
    pub trace: Trace,
    /// `[notifier]`: SIP phones subscribing to sipd for message-summary. Default: off.
    #[serde(default)]
    pub notifier: Notifier,
}

pub(super) fn de_in_range<'de, D: Deserializer<'de>>(
    d: D,
    key: &str,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, D::Error> {
    let v = i64::deserialize(d)?;
    match u32::try_from(v) {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(serde::de::Error::custom(format!(
            "{key} = {v} is out of range {}..={}",
            range.start(),
            range.end()
        ))),
    }
}

/// Deserializes a string through `T::from_str`. The parse runs inside the deserializer's visit,
/// so toml attaches the string's own span to the error, even inside an array.
struct FromStrVisitor<T>(std::marker::PhantomData<T>);

impl<T: FromStr<Err = String>> serde::de::Visitor<'_> for FromStrVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
        s.parse().map_err(E::custom)
    }
}

/// Deserialize the string-valued types through their `FromStr`.
macro_rules! deserialize_from_str {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(FromStrVisitor(std::marker::PhantomData))
            }
        }
    )*};
}

deserialize_from_str!(ListenSpec, ServerSpec, Cidr);

/// Implements `as_str`, `Display` and `Deserialize` (through its `FromStr`, which checks the
/// value) for a newtype that keeps a string as written in the file.
macro_rules! string_newtype {
    ($t:ty, $doc:literal) => {
        impl $t {
            #[doc = $doc]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        deserialize_from_str!($t);
    };
}

string_newtype!(Number, "The number as written.");
string_newtype!(CpTone, "The plan name, e.g. `\"us\"`.");

/// Implements `as_str`, `NAMES`, `FromStr`, `Display` and `Deserialize` for an enum of keywords,
/// so that an unknown keyword is an error naming the key and the accepted values.
macro_rules! keyword_enum {
    ($t:ty, $key:literal, { $($v:ident => $name:literal),* $(,)? }) => {
        impl $t {
            /// The accepted keywords, in the order of the documentation.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The keyword as written in the file.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$v => $name,)*
                }
            }
        }

        impl FromStr for $t {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok(Self::$v),)*
                    _ => Err(format!(
                        concat!("unknown ", $key, " {:?}: expected one of {}"),
                        s,
                        Self::NAMES.join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        deserialize_from_str!($t);
    };
}

keyword_enum!(Transport, "transport", { Udp => "udp", Tcp => "tcp" });
keyword_enum!(UnsolicitedTransport, "unsolicited_transport", { Any => "any", Tcp => "tcp" });
keyword_enum!(Backend, "backend", { Kernel => "kernel", Sim => "sim" });
keyword_enum!(SpanType, "span_type", { T1 => "t1", E1 => "e1" });
keyword_enum!(Side, "side", { User => "user", Network => "network" });
keyword_enum!(MwiTransport, "mwi_transport", { Setup => "setup", Facility => "facility" });
keyword_enum!(PartyNumberKind, "party_number", {
    Unknown => "unknown", Private => "private", Public => "public",
});
keyword_enum!(LogLevel, "level", {
    Error => "error", Warn => "warn", Info => "info", Debug => "debug", Trace => "trace",
});

// After the macros above, which the section modules use.
mod calls;
mod dahdi;
mod notifier;
mod sip;
mod state;
mod trace;

pub use calls::*;
pub use dahdi::*;
pub use notifier::*;
pub use sip::*;
pub use state::*;
pub use trace::*;
