//! `[sip.proxy]`, `[media]` and the call keys of `[[fxs]]`: FXS ports as SIP lines
//! (docs/calls.md).

use super::*;

use callctl::Codec;
use fxs::digitmap::DigitMap;

/// `[sip.proxy]`: where INVITEs go (RFC 3261 §8.1.2, an outbound proxy); absent = ports
/// cannot place calls (digits that complete the dial plan get the reorder tone).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// `server = "ipv4:192.0.2.20"` or `"dns:pbx.example.com"` (SRV, then A/AAAA).
    pub server: ServerSpec,
    /// `port = 5060` (default 5060).
    #[serde(default = "default_sip_port")]
    pub port: u16,
    /// `transport = "udp"`: `udp` or `tcp` (default udp).
    #[serde(default)]
    pub transport: Transport,
}

/// `[media]`: chand's RTP/RTCP sockets (RFC 3550) for calls on FXS ports.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// `address = "192.0.2.5"`: the local address the RTP sockets bind to and the SDP
    /// announces; absent (the default) = all addresses, and sipd announces the address it
    /// sends its SIP from.
    #[serde(default)]
    pub address: Option<IpAddr>,
    /// `rtp_ports = "10000-20000"`: the UDP ports of RTP (even) and RTCP (RTP + 1,
    /// RFC 3550 §11); the range must hold at least one even/odd pair, within 1024..=65535.
    #[serde(default)]
    pub rtp_ports: PortRange,
    /// `codecs = ["pcmu", "pcma"]`: G.711 laws offered and accepted, in order of preference
    /// (RFC 3264 §5.1); each at most once, at least one. Default both, PCMU first.
    #[serde(default = "default_codecs", deserialize_with = "de_codecs")]
    pub codecs: Vec<Codec>,
    /// `dscp = 46`: the DiffServ code point of RTP and RTCP packets, 0..=63 (default 46,
    /// Expedited Forwarding, RFC 3246).
    #[serde(default = "default_dscp", deserialize_with = "de_dscp")]
    pub dscp: u32,
}

impl Default for Media {
    fn default() -> Self {
        Self {
            address: None,
            rtp_ports: PortRange::default(),
            codecs: default_codecs(),
            dscp: default_dscp(),
        }
    }
}

fn default_codecs() -> Vec<Codec> {
    vec![Codec::Pcmu, Codec::Pcma]
}

fn default_dscp() -> u32 {
    46
}

/// Allowed range of `[media] dscp` (RFC 2474 §3: a 6-bit field).
pub const DSCP_RANGE: std::ops::RangeInclusive<u32> = 0..=63;

ranged! { de_dscp: "dscp" in DSCP_RANGE; }

fn de_codecs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Codec>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    let mut codecs = Vec::with_capacity(names.len());
    for name in &names {
        let codec = match name.as_str() {
            "pcmu" => Codec::Pcmu,
            "pcma" => Codec::Pcma,
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "unknown codec {name:?}: expected pcmu or pcma"
                )))
            }
        };
        if codecs.contains(&codec) {
            return Err(serde::de::Error::custom(format!(
                "codec {name:?} is listed twice"
            )));
        }
        codecs.push(codec);
    }
    if codecs.is_empty() {
        return Err(serde::de::Error::custom(
            "codecs is empty: list at least one of pcmu, pcma",
        ));
    }
    Ok(codecs)
}

/// An inclusive range of UDP ports, written `"LO-HI"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port.
    pub last: u16,
}

impl PortRange {
    /// The RTP ports of the range: its even ports whose odd successor (RTCP) is also inside.
    pub fn rtp_ports(&self) -> impl Iterator<Item = u16> {
        let first = self.first.next_multiple_of(2);
        (first..self.last).step_by(2)
    }
}

impl Default for PortRange {
    /// 10000-20000 (the common choice of SIP phones and gateways).
    fn default() -> Self {
        Self {
            first: 10000,
            last: 20000,
        }
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("bad port range {s:?}: {why} (expected \"LO-HI\")");
        let (lo, hi) = s.split_once('-').ok_or_else(|| bad("no '-'"))?;
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| bad("a port is not a number in 1024..=65535"))
        };
        let r = Self {
            first: port(lo)?,
            last: port(hi)?,
        };
        if r.first < 1024 {
            return Err(bad("ports below 1024 are reserved"));
        }
        if r.rtp_ports().next().is_none() {
            return Err(bad("it holds no even RTP port with its odd RTCP port"));
        }
        Ok(r)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

deserialize_from_str!(PortRange);

/// A `dial_plan` value: an MGCP digit map (RFC 3435 §2.1.5), e.g. `"(*xx|[2-9]xxx|x.T)"`,
/// kept parsed and as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialPlan {
    text: String,
    map: DigitMap,
}

impl DialPlan {
    /// The map as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed map.
    pub fn map(&self) -> &DigitMap {
        &self.map
    }
}

impl Default for DialPlan {
    /// `x.T`: any digits, sent after the inter-digit timer.
    fn default() -> Self {
        "x.T".parse().expect("the default dial plan parses")
    }
}

impl FromStr for DialPlan {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let map = s
            .parse::<DigitMap>()
            .map_err(|e| format!("bad dial_plan {s:?}: {e}"))?;
        Ok(Self {
            text: s.to_owned(),
            map,
        })
    }
}

impl fmt::Display for DialPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

deserialize_from_str!(DialPlan);

/// A `voicemail` value: the pilot digits (1 to 16 of `0-9 * #`) that dial the port's mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pilot(String);

impl FromStr for Pilot {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if (1..=16).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_digit() || b"*#".contains(&b))
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "bad voicemail pilot {s:?}: expected 1 to 16 of the keys 0-9, * and #"
            ))
        }
    }
}

string_newtype!(Pilot, "The pilot digits as written.");

/// How a port sends on-hook caller ID (`caller_id`): FSK between the first and second ring,
/// or DTMF before the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallerIdMode {
    /// No caller ID.
    None,
    /// Telcordia GR-30: Bell 202 FSK, MDMF (North America).
    Bell202,
    /// ETSI EN 300 659-1: V.23 FSK after the first ring, MDMF (Europe).
    V23,
    /// ETSI EN 300 659-1 Annex B: DTMF digits before the first ring (Nordic, Netherlands).
    Dtmf,
}

keyword_enum!(CallerIdMode, "caller_id", {
    None => "none", Bell202 => "bell202", V23 => "v23", Dtmf => "dtmf",
});
