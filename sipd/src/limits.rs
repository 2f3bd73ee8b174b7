//! Admission of inbound SIP requests under load, sans-IO: a token bucket per source IP address
//! (`[sip.limits] rate` and `burst`), the bound on server transactions (`transactions`), and
//! the 503 answer with Retry-After (RFC 3261 §21.5.4, §20.33) at most once a second per source;
//! the rest over the bound is dropped. Also the counters `sipd status` shows for every bound.

use crate::wire::{self, Message};
use mwi_config::Limits;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;

/// Sources tracked at once; beyond it, new sources share one bucket, so a flood from spoofed
/// addresses costs bounded memory.
const MAX_SOURCES: usize = 65_536;
/// Least gap between two 503 answers to one source, ms.
const REJECT_GAP: u64 = 1000;
/// Retry-After of the 503 answers, s.
const RETRY_AFTER: u32 = 1;

/// What to do with one inbound message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the user agent.
    Admit,
    /// Over a bound: answer 503 with Retry-After ([`Guard::reject`]).
    Reject,
    /// Over a bound and the source had its 503 within the last second: drop it silently.
    Drop,
}

/// One bound as `sipd status` shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gauge {
    /// Use now (for `rate`: sources tracked; for the UDP buffers: the size the kernel granted).
    pub current: u64,
    /// The bound.
    pub limit: u64,
    /// Times the bound refused something since start.
    pub refused: u64,
}

/// Every `[sip.limits]` bound with its use, as `sipd status` shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsStatus {
    /// Open TCP connections; the limit is `tcp_connections` lowered to fit the open-file limit.
    pub tcp_connections: Gauge,
    /// TCP connections of the busiest source.
    pub tcp_per_source: Gauge,
    /// Largest TCP buffer now, octets; refused: connections dropped for a full buffer.
    pub tcp_buffer: Gauge,
    /// Server transactions; refused: requests answered 503 for want of room.
    pub transactions: Gauge,
    /// Answered server transactions ended before their Timer J to make room (a late
    /// retransmission of their request is then handled as a new request).
    #[serde(default)]
    pub transactions_evicted: u64,
    /// Sources tracked by the rate limit; limit: requests per second per source.
    pub rate: Gauge,
    /// SO_RCVBUF the kernel granted (smallest over the UDP sockets), octets.
    pub udp_rcvbuf: Gauge,
    /// SO_SNDBUF the kernel granted (smallest over the UDP sockets), octets.
    pub udp_sndbuf: Gauge,
    /// Numbers served.
    pub numbers: Gauge,
    /// Numbers in the shared MWI table and its `[table] capacity`; refused: NOTIFYs answered
    /// 500 with Retry-After because the table had no slot for their number.
    #[serde(default)]
    pub table: Gauge,
}

/// The `[sip.limits]` part of `sipd status` as text, one bound per line:
/// `limit NAME: CURRENT/LIMIT, refused N`.
pub fn render(l: &LimitsStatus) -> String {
    [
        ("tcp_connections", l.tcp_connections),
        ("tcp_per_source", l.tcp_per_source),
        ("tcp_buffer", l.tcp_buffer),
        ("transactions", l.transactions),
        ("rate", l.rate),
        ("udp_rcvbuf", l.udp_rcvbuf),
        ("udp_sndbuf", l.udp_sndbuf),
        ("numbers", l.numbers),
        ("table", l.table),
    ]
    .iter()
    .map(|(name, g)| {
        let evicted = if *name == "transactions" {
            format!(", evicted {}", l.transactions_evicted)
        } else {
            String::new()
        };
        format!(
            "limit {name}: {}/{}, refused {}{evicted}\n",
            g.current, g.limit, g.refused
        )
    })
    .collect()
}

/// A token bucket in thousandths of a request.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    milli: u64,
    at: u64,
    last_reject: Option<u64>,
}

/// Admission control of inbound requests (see the module documentation).
#[derive(Debug)]
pub struct Guard {
    rate: u64,
    burst: u64,
    transactions: usize,
    exempt: Vec<IpAddr>,
    buckets: HashMap<IpAddr, Bucket>,
    overflow: Bucket,
    /// Requests refused by the rate limit.
    pub refused_rate: u64,
    /// Requests refused by the transaction bound.
    pub refused_transactions: u64,
}

impl Guard {
    /// A guard with the `rate`, `burst` and `transactions` of `limits`.
    pub fn new(limits: &Limits) -> Self {
        let mut g = Self {
            rate: 0,
            burst: 0,
            transactions: 0,
            exempt: Vec::new(),
            buckets: HashMap::new(),
            overflow: Bucket {
                milli: 0,
                at: 0,
                last_reject: None,
            },
            refused_rate: 0,
            refused_transactions: 0,
        };
        g.set_limits(limits);
        g
    }

    /// New bounds (configuration reloaded); buckets and counters are kept.
    pub fn set_limits(&mut self, limits: &Limits) {
        self.rate = u64::from(limits.rate);
        self.burst = u64::from(limits.burst);
        self.transactions = limits.transactions as usize;
        self.overflow.milli = self.overflow.milli.min(self.burst * 1000);
    }

    /// Addresses never rate limited: the resolved MWI server and registrar, whose NOTIFY bursts
    /// (a state change of thousands of numbers) are legitimate.
    pub fn set_exempt(&mut self, addrs: Vec<IpAddr>) {
        self.exempt = addrs;
    }

    /// Sources tracked now.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    /// The bound on server transactions.
    pub fn transactions(&self) -> usize {
        self.transactions
    }

    /// Decide on `bytes` (a datagram or framed TCP message) from `src` at `now` (ms), with
    /// `server_transactions` live. Responses are always admitted: they end our own
    /// transactions and cost no state.
    pub fn check(
        &mut self,
        now: u64,
        src: IpAddr,
        bytes: &[u8],
        server_transactions: usize,
    ) -> Verdict {
        if bytes.starts_with(b"SIP/") {
            return Verdict::Admit;
        }
        let src = canonical(src);
        let over_transactions = server_transactions >= self.transactions;
        let exempt = self.exempt.iter().any(|&a| canonical(a) == src);
        if exempt && !over_transactions {
            return Verdict::Admit;
        }
        let (rate, burst) = (self.rate, self.burst);
        if !self.buckets.contains_key(&src) && self.buckets.len() >= MAX_SOURCES {
            // Forget the sources whose bucket refilled: they are idle.
            self.buckets
                .retain(|_, b| refill(b, now, rate, burst) < burst * 1000);
        }
        let bucket = if self.buckets.len() < MAX_SOURCES || self.buckets.contains_key(&src) {
            self.buckets.entry(src).or_insert(Bucket {
                milli: burst * 1000,
                at: now,
                last_reject: None,
            })
        } else {
            &mut self.overflow
        };
        let tokens = refill(bucket, now, rate, burst);
        let admit = if exempt || tokens >= 1000 {
            if !over_transactions && !exempt {
                bucket.milli = tokens - 1000;
            }
            !over_transactions
        } else {
            false
        };
        if admit {
            return Verdict::Admit;
        }
        let verdict = if bucket
            .last_reject
            .is_some_and(|t| now < t.saturating_add(REJECT_GAP))
        {
            Verdict::Drop
        } else {
            bucket.last_reject = Some(now);
            Verdict::Reject
        };
        if over_transactions {
            self.refused_transactions += 1;
        } else {
            self.refused_rate += 1;
        }
        verdict
    }

    /// The 503 answer to a rejected request, with `server` (`[sip] user_agent`) as its Server
    /// header and at most [`wire::AMPLIFICATION`] times the request's size; `None` when `bytes`
    /// is not a request that can be answered (unparsable, or an ACK: RFC 3261 §17.2.1 gives
    /// it no response).
    pub fn reject(&self, bytes: &[u8], server: &str) -> Option<Vec<u8>> {
        let req = Message::parse(bytes).ok()?;
        if !req.is_request() || req.method() == "ACK" {
            return None;
        }
        let mut rsp = req.response(503, "Service Unavailable", &wire::secret_token(10));
        rsp.push("Retry-After", RETRY_AFTER.to_string());
        rsp.push("Server", server);
        rsp.trim_to(bytes.len().saturating_mul(wire::AMPLIFICATION));
        Some(rsp.to_bytes())
    }
}

/// The bucket's tokens (thousandths) at `now`, stored back with `now` as its time.
fn refill(b: &mut Bucket, now: u64, rate: u64, burst: u64) -> u64 {
    let gained = now.saturating_sub(b.at).saturating_mul(rate);
    b.milli = b.milli.saturating_add(gained).min(burst * 1000);
    b.at = b.at.max(now);
    b.milli
}

/// An IPv4-mapped IPv6 address counts as its IPv4 address (a dual-stack socket reports it so).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// When a burst of refusals started: one log line per burst, never one per refusal.
#[derive(Clone, Copy, Debug, Default)]
pub struct BurstLog {
    last: Option<u64>,
}

impl BurstLog {
    /// A refusal at `now` (ms); true when it starts a burst (no refusal in the second before),
    /// so the caller logs it.
    pub fn refuse(&mut self, now: u64) -> bool {
        let starts = self.last.map_or(true, |t| now >= t.saturating_add(1000));
        self.last = Some(now);
        starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:sipd@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
        From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:sipd@127.0.0.1>\r\n\
        Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    fn limits(rate: u32, burst: u32, transactions: u32) -> Limits {
        Limits {
            rate,
            burst,
            transactions,
            ..Limits::default()
        }
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate_then_one_503_a_second() {
        let mut g = Guard::new(&limits(10, 5, 100));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..5 {
            assert_eq!(g.check(0, a, OPTIONS, 0), Verdict::Admit);
        }
        assert_eq!(g.check(0, a, OPTIONS, 0), Verdict::Reject);
        assert_eq!(g.check(10, a, OPTIONS, 0), Verdict::Drop);
        assert_eq!(g.check(99, a, OPTIONS, 0), Verdict::Drop);
        // 10/s: one token after 100 ms.
        assert_eq!(g.check(100, a, OPTIONS, 0), Verdict::Admit);
        assert_eq!(g.check(101, a, OPTIONS, 0), Verdict::Drop);
        assert_eq!(g.check(1000, a, OPTIONS, 0), Verdict::Admit);
        assert_eq!(g.refused_rate, 4);
        // Another source is not affected; responses are never limited.
        let b: IpAddr = "::ffff:192.0.2.2".parse().expect("ip");
        assert_eq!(g.check(101, b, OPTIONS, 0), Verdict::Admit);
        assert_eq!(g.check(101, a, b"SIP/2.0 200 OK\r\n", 0), Verdict::Admit);
        assert_eq!(g.sources(), 2);
    }

    #[test]
    fn the_server_is_exempt_from_the_rate_but_not_from_the_transaction_bound() {
        let mut g = Guard::new(&limits(1, 1, 16));
        let server: IpAddr = "192.0.2.10".parse().expect("ip");
        g.set_exempt(vec![server]);
        for t in 0..100 {
            assert_eq!(g.check(t, server, OPTIONS, 15), Verdict::Admit);
        }
        assert_eq!(g.check(100, server, OPTIONS, 16), Verdict::Reject);
        assert_eq!(g.check(200, server, OPTIONS, 16), Verdict::Drop);
        assert_eq!(g.refused_transactions, 2);
        assert_eq!(g.refused_rate, 0);
    }

    #[test]
    fn the_503_carries_retry_after_and_an_ack_gets_nothing() {
        let g = Guard::new(&Limits::default());
        let rsp = g.reject(OPTIONS, "lab").expect("a 503");
        let m = Message::parse(&rsp).expect("parsable");
        assert_eq!(m.summary(), "503 Service Unavailable (OPTIONS)");
        assert_eq!(m.header("Retry-After"), Some("1"));
        assert_eq!(m.call_id(), Some("c1"));
        let ack = String::from_utf8_lossy(OPTIONS)
            .replace("OPTIONS sip", "ACK sip")
            .replace("1 OPTIONS", "1 ACK");
        assert_eq!(g.reject(ack.as_bytes(), "lab"), None);
        assert_eq!(g.reject(b"\x00junk", "lab"), None);
    }

    #[test]
    fn spoofed_sources_share_one_bucket_beyond_the_bound() {
        let mut g = Guard::new(&limits(1, 1, 100));
        for i in 0..MAX_SOURCES as u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert_eq!(g.check(0, ip, OPTIONS, 0), Verdict::Admit);
        }
        let late: IpAddr = "203.0.113.1".parse().expect("ip");
        assert_eq!(g.check(0, late, OPTIONS, 0), Verdict::Reject);
        assert_eq!(g.sources(), MAX_SOURCES);
        // A second later every bucket is full again: they are forgotten for the new source.
        assert_eq!(g.check(1000, late, OPTIONS, 0), Verdict::Admit);
        assert_eq!(g.sources(), 1);
    }

    #[test]
    fn a_burst_of_refusals_is_logged_once() {
        let mut b = BurstLog::default();
        assert!(b.refuse(0));
        assert!(!b.refuse(500));
        assert!(!b.refuse(1400));
        assert!(b.refuse(2400));
    }

    #[test]
    fn status_text_has_one_line_per_bound() {
        let l = LimitsStatus {
            tcp_connections: Gauge {
                current: 3,
                limit: 1024,
                refused: 7,
            },
            ..LimitsStatus::default()
        };
        let text = render(&l);
        assert!(text.starts_with("limit tcp_connections: 3/1024, refused 7\n"));
        assert_eq!(text.lines().count(), 9);
    }
}
