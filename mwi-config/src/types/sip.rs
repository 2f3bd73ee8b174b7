//! `[sip]`, `[sip.auth]`, `[sip.limits]`, `[sip.block]`, `[registrar]` and `[mwi_server]`: the SIP side, and the address, server and CIDR forms they use.

use super::*;

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
    /// `max_message_size = 65536`: the longest SIP message sipd accepts, octets, in
    /// [`MAX_MESSAGE_SIZE_RANGE`]. A longer UDP request gets 413, a longer TCP message closes
    /// the connection (RFC 3261 §18.1.1, §21.4.11).
    #[serde(
        default = "default_max_message_size",
        deserialize_with = "de_max_message_size"
    )]
    pub max_message_size: u32,
    /// `user_agent = "dahdi-mwi"`: the `User-Agent` and `Server` header value (RFC 3261
    /// §20.35, §20.41): 1 to 128 printable ASCII characters. The default names no version.
    #[serde(default = "default_user_agent", deserialize_with = "de_user_agent")]
    pub user_agent: String,
    /// `[sip.proxy]`: where calls from FXS ports go; absent = ports cannot place calls.
    #[serde(default)]
    pub proxy: Option<Proxy>,
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
            proxy: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            user_agent: default_user_agent(),
            block: Block::default(),
            limits: Limits::default(),
        }
    }
}

/// Default `[sip] max_message_size`, octets: 64 KiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: u32 = 65_536;
/// Allowed range of `[sip] max_message_size`, octets.
pub const MAX_MESSAGE_SIZE_RANGE: std::ops::RangeInclusive<u32> = 1024..=1_048_576;
/// Default `[sip] user_agent`.
pub const DEFAULT_USER_AGENT: &str = "dahdi-mwi";

fn default_max_message_size() -> u32 {
    DEFAULT_MAX_MESSAGE_SIZE
}

ranged! { de_max_message_size: "max_message_size" in MAX_MESSAGE_SIZE_RANGE; }

fn default_user_agent() -> String {
    DEFAULT_USER_AGENT.to_owned()
}

/// A header value sipd sends as is: printable ASCII (no CR, LF or other control character,
/// which would end or split the header), no leading or trailing space, 1..=128 characters.
fn de_user_agent<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    let printable = v.bytes().all(|b| (0x20..0x7f).contains(&b));
    if printable && (1..=128).contains(&v.len()) && v.trim() == v {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "user_agent = {v:?}: expected 1 to 128 printable ASCII characters without \
             leading or trailing space"
        )))
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

ranged! { de_block_failures: "failures" in BLOCK_FAILURES_RANGE; }

ranged! { de_block_window: "window" in BLOCK_WINDOW_RANGE; }

ranged! { de_block_duration: "duration" in BLOCK_DURATION_RANGE; }

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
ranged! {
    de_tcp_connections: "tcp_connections" in 1..=1_000_000;
    de_tcp_per_source: "tcp_per_source" in 1..=65_535;
    de_tcp_buffer: "tcp_buffer" in 65_536..=16_777_216;
    de_transactions: "transactions" in 16..=1_000_000;
    de_rate: "rate" in 1..=1_000_000;
    de_rate_burst: "burst" in 1..=1_000_000;
    de_udp_rcvbuf: "udp_rcvbuf" in 4096..=268_435_456;
    de_udp_sndbuf: "udp_sndbuf" in 4096..=268_435_456;
    de_numbers: "numbers" in 1..=1_000_000;
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
    /// `password = "password1"`; empty when the password comes from `password_file`.
    #[serde(default)]
    pub password: String,
    /// `password_file = "sip-password"`: the password is the content of this file (one
    /// trailing newline removed), read by sipd only, at start and on reload, so that chand,
    /// which reads the configuration too, never needs access to it. A relative name is looked
    /// up in `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`, systemd.exec(5)). Exclusive
    /// with `password`. This crate keeps the path; sipd fills `password` from the file.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
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
    /// `backup = "ipv4:192.0.2.2"` or `"dns:registrar2.example.com"`: the backup registrar
    /// (the 7960's backup proxy); its addresses follow the primary's, and the registration
    /// moves with the MWI server's OPTIONS verdicts (absent: none).
    #[serde(default)]
    pub backup: Option<ServerSpec>,
    /// `backup_port = 5060`: the backup's port (default: `port`).
    #[serde(default)]
    pub backup_port: Option<u16>,
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
    /// only the addresses `server` and `backup` resolve to.
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
    /// `backup = "ipv4:192.0.2.11"` or `"dns:vm2.example.com"`: the backup voice-mail server.
    /// Its addresses follow the primary's; an OPTIONS "down" verdict moves the subscriptions
    /// to the next address, and while they are on the backup OPTIONS keeps pinging the
    /// primary (absent: none).
    #[serde(default)]
    pub backup: Option<ServerSpec>,
    /// `backup_port = 5060`: the backup's port (default: `port`).
    #[serde(default)]
    pub backup_port: Option<u16>,
    /// `fallback_answers = 3`: consecutive OPTIONS answers of the primary after which the
    /// subscriptions move back from the backup, 1..=100 (default 3).
    #[serde(
        default = "default_fallback_answers",
        deserialize_with = "de_fallback_answers"
    )]
    pub fallback_answers: u32,
}

impl MwiServer {
    /// The backup's port: `backup_port`, else `port`.
    pub fn backup_port(&self) -> u16 {
        self.backup_port.unwrap_or(self.port)
    }
}

impl Registrar {
    /// The backup's port: `backup_port`, else `port`.
    pub fn backup_port(&self) -> u16 {
        self.backup_port.unwrap_or(self.port)
    }
}

pub(super) fn default_sip_port() -> u16 {
    DEFAULT_SIP_PORT
}

/// Default `expires` of `[mwi_server]` and `[registrar]`, seconds (docs/sip.md).
pub const DEFAULT_EXPIRES: u32 = 3600;
/// Allowed range of `expires`, seconds (docs/sip.md: 1..=999999).
pub const EXPIRES_RANGE: std::ops::RangeInclusive<u32> = 1..=999_999;
/// Allowed range of `options_failures` and `fallback_answers`.
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

fn default_fallback_answers() -> u32 {
    3
}

ranged! { de_expires: "expires" in EXPIRES_RANGE; }

ranged! { de_options_failures: "options_failures" in OPTIONS_FAILURES_RANGE; }

ranged! { de_fallback_answers: "fallback_answers" in OPTIONS_FAILURES_RANGE; }

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
