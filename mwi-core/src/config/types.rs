//! The configuration schema: one struct per TOML section, one field per key.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use fxs::{Law, VmwiMode};
use serde::{Deserialize, Deserializer};

use crate::route::Pattern;

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
}

/// `[sip]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sip {
    /// `listen = ["udp:0.0.0.0:5060", "tcp:[::]:5060"]`: sockets sipd listens on.
    /// Default: `udp:0.0.0.0:5060` and `tcp:0.0.0.0:5060`.
    #[serde(default = "default_listen")]
    pub listen: Vec<ListenSpec>,
    /// `[sip.auth]`: credentials for REGISTER and for 401/407 challenges (RFC 3261 §22);
    /// absent = sipd cannot answer a challenge.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// `[sip.block]`: sources that fail repeatedly are ignored for a while.
    #[serde(default)]
    pub block: Block,
    /// `[sip.limits]`: resource bounds under hostile load. Default: see [`Limits`].
    #[serde(default)]
    pub limits: Limits,
}

impl Default for Sip {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            auth: None,
            block: Block::default(),
            limits: Limits::default(),
        }
    }
}

/// `[sip.block]`: a source (IP address) with `failures` failed or forbidden requests (400,
/// 401 with wrong credentials, 403, 481 from a stranger) within `window` seconds is ignored,
/// without any answer, for `duration` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// `failures = 5`: failed requests that block a source, 0..=100; 0 = never block.
    #[serde(
        default = "default_block_failures",
        deserialize_with = "de_block_failures"
    )]
    pub failures: u32,
    /// `window = 60`: seconds in which the failures must fall, 1..=86400.
    #[serde(default = "default_block_window", deserialize_with = "de_block_window")]
    pub window: u32,
    /// `duration = 600`: seconds a source stays blocked, 1..=604800.
    #[serde(
        default = "default_block_duration",
        deserialize_with = "de_block_duration"
    )]
    pub duration: u32,
}

impl Default for Block {
    fn default() -> Self {
        Self {
            failures: default_block_failures(),
            window: default_block_window(),
            duration: default_block_duration(),
        }
    }
}

/// `[sip.limits]`: what one peer or a flood may take from sipd. Each bound is shown in
/// `sipd status` with its current use and how often it refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// `tcp_connections = 1024`: TCP connections open at once, inbound and outbound, 1..=1000000
    /// (further ones are accepted and closed at once). sipd also keeps it below its open-file
    /// limit.
    #[serde(
        default = "default_tcp_connections",
        deserialize_with = "de_tcp_connections"
    )]
    pub tcp_connections: u32,
    /// `tcp_per_source = 32`: TCP connections from one IP address, 1..=65535.
    #[serde(
        default = "default_tcp_per_source",
        deserialize_with = "de_tcp_per_source"
    )]
    pub tcp_per_source: u32,
    /// `tcp_buffer = 131072`: octets a TCP connection may have waiting to be read or written,
    /// 65536..=16777216 (at least one message of the largest size); a peer that does not read
    /// its responses is dropped.
    #[serde(default = "default_tcp_buffer", deserialize_with = "de_tcp_buffer")]
    pub tcp_buffer: u32,
    /// `transactions = 8192`: server transactions (each keeps its response for retransmission,
    /// RFC 3261 §17.2) at once, 16..=1000000; a new request over it is answered 503.
    #[serde(default = "default_transactions", deserialize_with = "de_transactions")]
    pub transactions: u32,
    /// `rate = 200`: requests per second from one IP address, 1..=1000000 (the MWI server and
    /// registrar are not limited); more are answered 503 with Retry-After (once a second per
    /// source) and otherwise dropped.
    #[serde(default = "default_rate", deserialize_with = "de_rate")]
    pub rate: u32,
    /// `burst = 400`: requests one IP address may send at once above `rate`, 1..=1000000.
    #[serde(default = "default_burst", deserialize_with = "de_rate_burst")]
    pub burst: u32,
    /// `udp_rcvbuf = 1048576`: SO_RCVBUF of the UDP sockets, octets, 4096..=268435456 (the
    /// kernel caps it at net.core.rmem_max).
    #[serde(default = "default_udp_buf", deserialize_with = "de_udp_rcvbuf")]
    pub udp_rcvbuf: u32,
    /// `udp_sndbuf = 1048576`: SO_SNDBUF of the UDP sockets, octets, 4096..=268435456 (capped
    /// at net.core.wmem_max).
    #[serde(default = "default_udp_buf", deserialize_with = "de_udp_sndbuf")]
    pub udp_sndbuf: u32,
    /// `numbers = 10000`: numbers sipd serves (`[[fxs]]` numbers and `[[pri]]` patterns),
    /// 1..=1000000.
    #[serde(default = "default_numbers", deserialize_with = "de_numbers")]
    pub numbers: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            tcp_connections: default_tcp_connections(),
            tcp_per_source: default_tcp_per_source(),
            tcp_buffer: default_tcp_buffer(),
            transactions: default_transactions(),
            rate: default_rate(),
            burst: default_burst(),
            udp_rcvbuf: default_udp_buf(),
            udp_sndbuf: default_udp_buf(),
            numbers: default_numbers(),
        }
    }
}

/// Allowed range of `[sip.block] failures` (0 = off).
pub const BLOCK_FAILURES_RANGE: std::ops::RangeInclusive<u32> = 0..=100;
/// Allowed range of `[sip.block] window`, seconds.
pub const BLOCK_WINDOW_RANGE: std::ops::RangeInclusive<u32> = 1..=86_400;
/// Allowed range of `[sip.block] duration`, seconds (up to a week).
pub const BLOCK_DURATION_RANGE: std::ops::RangeInclusive<u32> = 1..=604_800;

fn default_block_failures() -> u32 {
    5
}

fn default_block_window() -> u32 {
    60
}

fn default_block_duration() -> u32 {
    600
}

fn de_block_failures<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "failures", BLOCK_FAILURES_RANGE)
}

fn de_block_window<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "window", BLOCK_WINDOW_RANGE)
}

fn de_block_duration<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "duration", BLOCK_DURATION_RANGE)
}

fn default_tcp_connections() -> u32 {
    1024
}
fn default_tcp_per_source() -> u32 {
    32
}
fn default_tcp_buffer() -> u32 {
    131_072
}
fn default_transactions() -> u32 {
    8192
}
fn default_rate() -> u32 {
    200
}
fn default_burst() -> u32 {
    400
}
fn default_udp_buf() -> u32 {
    1 << 20
}
fn default_numbers() -> u32 {
    10_000
}
fn de_tcp_connections<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "tcp_connections", 1..=1_000_000)
}
fn de_tcp_per_source<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "tcp_per_source", 1..=65_535)
}
fn de_tcp_buffer<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "tcp_buffer", 65_536..=16_777_216)
}
fn de_transactions<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "transactions", 16..=1_000_000)
}
fn de_rate<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "rate", 1..=1_000_000)
}
fn de_rate_burst<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "burst", 1..=1_000_000)
}
fn de_udp_rcvbuf<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "udp_rcvbuf", 4096..=268_435_456)
}
fn de_udp_sndbuf<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "udp_sndbuf", 4096..=268_435_456)
}
fn de_numbers<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "numbers", 1..=1_000_000)
}

fn default_listen() -> Vec<ListenSpec> {
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_SIP_PORT);
    vec![
        ListenSpec {
            transport: Transport::Udp,
            addr: any,
        },
        ListenSpec {
            transport: Transport::Tcp,
            addr: any,
        },
    ]
}

/// The SIP port used when none is given (RFC 3261 §19.1.2).
pub const DEFAULT_SIP_PORT: u16 = 5060;

/// `[sip.auth]`: digest credentials (RFC 3261 §22, RFC 2617).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// `username = "user1"`.
    pub username: String,
    /// `password = "password1"`.
    pub password: String,
    /// `realm = "example.com"`: answer only challenges of this realm; absent = any realm.
    #[serde(default)]
    pub realm: Option<String>,
}

/// `[registrar]`: sipd registers its numbers here (RFC 3261 §10).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registrar {
    /// `server = "dns:registrar.example.com"` or `"ipv4:192.0.2.1"`.
    pub server: ServerSpec,
    /// `port = 5060` (default 5060).
    #[serde(default = "default_sip_port")]
    pub port: u16,
    /// `transport = "udp"` (default udp).
    #[serde(default)]
    pub transport: Transport,
    /// `expires = 3600`: requested registration lifetime in seconds, 1..=999999 (default 3600).
    #[serde(default = "default_expires", deserialize_with = "de_expires")]
    pub expires: u32,
}

/// `[mwi_server]`: the voice-mail server (the modelled gateway's `mwi-server`, docs/sip.md).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MwiServer {
    /// `server = "ipv4:192.0.2.10"` or `"dns:vm.example.com"` (SRV, then A/AAAA).
    pub server: ServerSpec,
    /// `port = 5060` (default 5060).
    #[serde(default = "default_sip_port")]
    pub port: u16,
    /// `transport = "udp"`: `udp` or `tcp` (default udp).
    #[serde(default)]
    pub transport: Transport,
    /// `expires = 3600`: SUBSCRIBE Expires in seconds, 1..=999999 (default 3600).
    #[serde(default = "default_expires", deserialize_with = "de_expires")]
    pub expires: u32,
    /// `unsolicited = false`: true = do not subscribe; accept NOTIFY without a subscription.
    #[serde(default)]
    pub unsolicited: bool,
    /// `allow = ["192.0.2.10/32"]`: who may send an unsolicited NOTIFY. Empty (the default) =
    /// only the addresses `server` resolves to.
    #[serde(default)]
    pub allow: Vec<Cidr>,
    /// `unsolicited_transport = "any"`: `any` or `tcp`; `tcp` refuses (403) an unsolicited
    /// NOTIFY that came over UDP, whose source address is easily forged (default any).
    #[serde(default)]
    pub unsolicited_transport: UnsolicitedTransport,
    /// `notify_auth = false`: true = challenge every inbound NOTIFY with 401 and accept it only
    /// with `[sip.auth]`'s credentials (RFC 3261 §22.2); needs `[sip.auth]`.
    #[serde(default)]
    pub notify_auth: bool,
    /// `options_interval = 60`: seconds between OPTIONS pings to the server; 0 = no pings
    /// (default 60).
    #[serde(default = "default_options_interval")]
    pub options_interval: u32,
    /// `options_failures = 3`: consecutive unanswered OPTIONS after which the server counts as
    /// down, 1..=100 (default 3).
    #[serde(
        default = "default_options_failures",
        deserialize_with = "de_options_failures"
    )]
    pub options_failures: u32,
}

fn default_sip_port() -> u16 {
    DEFAULT_SIP_PORT
}

/// Default `expires` of `[mwi_server]` and `[registrar]`, seconds (docs/sip.md).
pub const DEFAULT_EXPIRES: u32 = 3600;
/// Allowed range of `expires`, seconds (docs/sip.md: 1..=999999).
pub const EXPIRES_RANGE: std::ops::RangeInclusive<u32> = 1..=999_999;
/// Allowed range of `options_failures`.
pub const OPTIONS_FAILURES_RANGE: std::ops::RangeInclusive<u32> = 1..=100;

fn default_expires() -> u32 {
    DEFAULT_EXPIRES
}

fn default_options_interval() -> u32 {
    60
}

fn default_options_failures() -> u32 {
    3
}

fn de_in_range<'de, D: Deserializer<'de>>(
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

fn de_expires<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "expires", EXPIRES_RANGE)
}

fn de_options_failures<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "options_failures", OPTIONS_FAILURES_RANGE)
}

/// A SIP transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (the default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
}

/// `[mwi_server] unsolicited_transport`: which transports may carry an unsolicited NOTIFY.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UnsolicitedTransport {
    /// UDP and TCP (the default).
    #[default]
    Any,
    /// TCP only.
    Tcp,
}

/// A listening socket: `"udp:0.0.0.0:5060"`, `"tcp:[::1]:5060"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenSpec {
    /// The transport.
    pub transport: Transport,
    /// The local address and port.
    pub addr: SocketAddr,
}

impl FromStr for ListenSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("bad listen spec {s:?}: {why} (expected \"udp:ADDR:PORT\" or \"tcp:ADDR:PORT\", e.g. \"udp:0.0.0.0:5060\")")
        };
        let (transport, addr) = s.split_once(':').ok_or_else(|| bad("no transport"))?;
        let transport = match transport {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            _ => return Err(bad("unknown transport")),
        };
        let addr = addr.parse().map_err(|_| bad("not an address:port"))?;
        Ok(Self { transport, addr })
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

/// A server: `"ipv4:192.0.2.10"` or `"dns:vm.example.com"` (the Cisco `mwi-server` forms).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerSpec {
    /// A literal IPv4 address.
    Ipv4(Ipv4Addr),
    /// A host name: resolve with SRV (RFC 3263 §4.2), then A/AAAA.
    Dns(String),
}

impl FromStr for ServerSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("bad server {s:?}: {why} (expected \"ipv4:ADDRESS\" or \"dns:HOSTNAME\")")
        };
        match s.split_once(':') {
            Some(("ipv4", a)) => a
                .parse()
                .map(Self::Ipv4)
                .map_err(|_| bad("not an IPv4 address")),
            Some(("dns", h)) if is_hostname(h) => Ok(Self::Dns(h.to_owned())),
            Some(("dns", _)) => Err(bad("not a host name")),
            _ => Err(bad("unknown form")),
        }
    }
}

/// RFC 1123 §2.1 host name: dot-separated labels of letters, digits and inner hyphens.
fn is_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipv4(a) => write!(f, "ipv4:{a}"),
            Self::Dns(h) => write!(f, "dns:{h}"),
        }
    }
}

/// An address block: `"192.0.2.0/24"`, `"2001:db8::/32"`; a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address (host bits zero).
    pub addr: IpAddr,
    /// The prefix length in bits (0..=32 for IPv4, 0..=128 for IPv6).
    pub prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in this block (an IPv4 block never contains an IPv6 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                mask(u128::from(u32::from(a)), self.prefix, 32) == u128::from(u32::from(n))
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                mask(u128::from(a), self.prefix, 128) == u128::from(n)
            }
            _ => false,
        }
    }
}

/// `v` with all but the top `prefix` of its `bits` bits cleared.
fn mask(v: u128, prefix: u8, bits: u8) -> u128 {
    let host = u32::from(bits - prefix.min(bits));
    v.checked_shr(host)
        .unwrap_or(0)
        .checked_shl(host)
        .unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("bad CIDR {s:?}: {why} (expected e.g. \"192.0.2.0/24\")");
        let (a, p) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = a.parse().map_err(|_| bad("not an IP address"))?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => bits,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= bits && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(bad(&format!("prefix length must be 0..={bits}"))),
            },
        };
        let raw = match addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        if mask(raw, prefix, bits) != raw {
            return Err(bad("host bits are set after the prefix"));
        }
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `[dahdi]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dahdi {
    /// `backend = "kernel"`: `kernel` (DAHDI devices) or `sim` (Unix sockets; default kernel).
    #[serde(default)]
    pub backend: Backend,
    /// `sim_dir = "/run/dahdi-mwi/sim"`: where the sim back-end's sockets live (sim only).
    #[serde(default = "default_sim_dir")]
    pub sim_dir: PathBuf,
    /// `realtime_priority = 0`: run chand's event loop (which paces the 20 ms audio blocks)
    /// under `SCHED_FIFO` at this priority, 1..=99, when chand holds `CAP_SYS_NICE`; 0 (the
    /// default) keeps the normal scheduler.
    #[serde(default, deserialize_with = "de_realtime_priority")]
    pub realtime_priority: u32,
}

/// Allowed range of `[dahdi] realtime_priority` (sched(7): SCHED_FIFO priorities 1..=99; 0 = off).
pub const REALTIME_PRIORITY_RANGE: std::ops::RangeInclusive<u32> = 0..=99;

fn de_realtime_priority<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "realtime_priority", REALTIME_PRIORITY_RANGE)
}

impl Default for Dahdi {
    fn default() -> Self {
        Self {
            backend: Backend::default(),
            sim_dir: default_sim_dir(),
            realtime_priority: 0,
        }
    }
}

fn default_sim_dir() -> PathBuf {
    PathBuf::from("/run/dahdi-mwi/sim")
}

/// The channel back-end of chand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Real DAHDI channels (`/dev/dahdi/channel`).
    #[default]
    Kernel,
    /// Unix SOCK_SEQPACKET sockets under `sim_dir`, one per channel.
    Sim,
}

/// `[[span]]`: one DAHDI span of the system, as `lsdahdi` shows it.
///
/// The span layout is optional. Without `[[span]]`, each `[[pri]]` span `N` is taken to hold
/// channels `(N-1)*C+1 ..= N*C` (C = 24 for T1, 31 for E1: DAHDI's numbering when all spans
/// before it are alike) and its D-channel must be in that range. When the PRI card is not
/// numbered that way (e.g. an analog card is span 1), list every span: then the layout is
/// explicit, every FXS channel and PRI D-channel must be on a listed span, an FXS channel must
/// not be on a PRI span, each `[[pri]]` span must be listed with the channel count of its
/// `span_type`, and spans must not overlap. In both cases no channel may serve twice (two FXS
/// ports, or an FXS port and a D-channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// `span = 1`: the DAHDI span number (1-based).
    pub span: u32,
    /// `first_channel = 1`: the DAHDI channel number of its first channel.
    pub first_channel: u32,
    /// `channels = 31`: how many channels it has.
    pub channels: u32,
}

impl Span {
    /// Its channel numbers.
    pub fn channel_range(&self) -> std::ops::RangeInclusive<u32> {
        self.first_channel
            ..=self
                .first_channel
                .saturating_add(self.channels.saturating_sub(1))
    }
}

/// `[[fxs]]`: one analog phone port.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fxs {
    /// `channel = 2`: the DAHDI channel number (1-based; the sim socket is `fxs-<channel>.sock`).
    pub channel: u32,
    /// `number = "8000"`: the phone's number (mailbox), digits with an optional leading `+`.
    pub number: Number,
    /// `mwi = true`: false = a NOTIFY for this number gets 481 (docs/sip.md). Default true.
    #[serde(default = "default_true")]
    pub mwi: bool,
    /// `cptone = "us"`: the tone plan of the stutter dial tone: a built-in zone (country code
    /// of docs/tones.md) or a `[[tone_plan]]` name. Default us.
    #[serde(default)]
    pub cptone: CpTone,
    /// `vmwi = "none"`: the visual indicator (lamp): `none`, `fsk`, `rpas` (FSK generated by
    /// chand), `lrev`, `hvdc`, `neon` (dahdi/user.h `DAHDI_VMWI_*`, done by the driver).
    /// Default none.
    #[serde(default)]
    pub vmwi: VmwiMode,
    /// `law = "mulaw"`: the line's companding law (ITU-T G.711), `mulaw` or `alaw`. Default mulaw.
    #[serde(default)]
    pub law: Law,
}

fn default_true() -> bool {
    true
}

/// A phone number: 1 to 32 digits, optionally preceded by `+`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Number(String);

impl FromStr for Number {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let digits = s.strip_prefix('+').unwrap_or(s);
        if (1..=32).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "bad number {s:?}: expected 1 to 32 digits, optionally after a '+'"
            ))
        }
    }
}

/// A `cptone` value: the name of a tone plan, built-in (`fxs::plans::builtin_names`: the
/// DAHDI zones of docs/tones.md plus `us-dahdi`) or a `[[tone_plan]]` of the file. Default `us`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CpTone(String);

impl Default for CpTone {
    fn default() -> Self {
        Self("us".to_owned())
    }
}

impl FromStr for CpTone {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        // Existence is checked against the built-in and custom plans after parsing.
        Ok(Self(s.to_owned()))
    }
}

/// `[[pri]]`: one QSIG PRI span towards a PBX.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pri {
    /// `span = 1`: the DAHDI span number (1-based).
    pub span: u32,
    /// `span_type = "t1"`: `t1` (24 channels) or `e1` (31 channels). Default t1.
    #[serde(default)]
    pub span_type: SpanType,
    /// `dchannel = 24`: the DAHDI channel number of the D-channel (the sim socket is
    /// `dchan-<dchannel>.sock`).
    pub dchannel: u32,
    /// `side = "user"`: our Q.921/Q.931 role, `user` or `network`. Default user.
    #[serde(default)]
    pub side: Side,
    /// `numbers = ["2..."]`: served users reached through this PBX (at least one pattern).
    pub numbers: Vec<Pattern>,
    /// `mwi_transport = "setup"`: how MWI operations travel. Default setup.
    #[serde(default)]
    pub mwi_transport: MwiTransport,
    /// `party_number = "unknown"`: how servedUserNr is encoded. Default unknown.
    #[serde(default)]
    pub party_number: PartyNumberKind,
    /// `message_count = true`: send nbOfMessages (ECMA-242 §6.3). Default true.
    #[serde(default = "default_true")]
    pub message_count: bool,
}

/// The kind of a PRI span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpanType {
    /// T1: 24 channels, D-channel usually the 24th (the default).
    #[default]
    T1,
    /// E1: 31 channels (timeslots 1-31), D-channel usually timeslot 16.
    E1,
}

impl SpanType {
    /// Channels on a span of this kind: 24 or 31.
    pub fn channels(self) -> u32 {
        match self {
            Self::T1 => 24,
            Self::E1 => 31,
        }
    }
}

/// Q.921/Q.931 side of a PRI link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Side {
    /// User side (TE; the default).
    #[default]
    User,
    /// Network side (NT).
    Network,
}

/// How QSIG MWI operations are carried (ECMA-242 §6, ECMA-165).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MwiTransport {
    /// In a call-independent signalling connection: SETUP carrying a Facility IE (the default).
    #[default]
    Setup,
    /// Connectionless: a FACILITY message on the dummy call reference.
    Facility,
}

/// Type of number of servedUserNr (ECMA-242 §6.3, PartyNumber of ECMA-165 / Q.931 numbering plan).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PartyNumberKind {
    /// `unknownPartyNumber` (the default).
    #[default]
    Unknown,
    /// `privatePartyNumber`.
    Private,
    /// `publicPartyNumber`.
    Public,
}

/// `[state]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// `dir = "/var/lib/dahdi-mwi"`: last known MWI per number, survives reboot.
    #[serde(default = "default_state_dir")]
    pub dir: PathBuf,
    /// `runtime_dir = "/run/dahdi-mwi"`: the daemons' status sockets.
    #[serde(default = "default_runtime_dir")]
    pub runtime_dir: PathBuf,
}

impl Default for State {
    fn default() -> Self {
        Self {
            dir: default_state_dir(),
            runtime_dir: default_runtime_dir(),
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/dahdi-mwi")
}

fn default_runtime_dir() -> PathBuf {
    PathBuf::from("/run/dahdi-mwi")
}

/// `[table]`: the shared-memory MWI table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// `path = "/dev/shm/dahdi-mwi"`: the file (on tmpfs) that holds the table.
    #[serde(default = "default_table_path")]
    pub path: PathBuf,
    /// `capacity = 65536`: slots (numbers) in the table, 1..=16777216 (default 65536).
    #[serde(default = "default_capacity", deserialize_with = "de_capacity")]
    pub capacity: u32,
}

/// Allowed range of `[table] capacity`.
pub const CAPACITY_RANGE: std::ops::RangeInclusive<u32> = 1..=(1 << 24);

fn default_capacity() -> u32 {
    65536
}

fn de_capacity<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_in_range(d, "capacity", CAPACITY_RANGE)
}

fn default_table_path() -> PathBuf {
    PathBuf::from("/dev/shm/dahdi-mwi")
}

impl Default for Table {
    fn default() -> Self {
        Self {
            path: default_table_path(),
            capacity: default_capacity(),
        }
    }
}

/// `[log]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `level = "info"`: error | warn | info | debug | trace (default info).
    #[serde(default)]
    pub level: LogLevel,
}

/// A log level (the `log` crate's levels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// The default.
    #[default]
    Info,
    /// Protocol detail.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The matching `log` filter.
    pub fn filter(self) -> log::LevelFilter {
        match self {
            Self::Error => log::LevelFilter::Error,
            Self::Warn => log::LevelFilter::Warn,
            Self::Info => log::LevelFilter::Info,
            Self::Debug => log::LevelFilter::Debug,
            Self::Trace => log::LevelFilter::Trace,
        }
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

deserialize_from_str!(ListenSpec, ServerSpec, Cidr, Pattern);

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
