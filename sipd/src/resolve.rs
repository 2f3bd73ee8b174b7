//! Locating a `dns:` server (RFC 3263 §4.2, RFC 2782): an SRV query for `_sip._udp.HOST` or
//! `_sip._tcp.HOST`, then A/AAAA of each target in SRV order; without SRV records, A/AAAA of
//! HOST with the configured port. DNS messages are built and parsed with hickory-proto; the
//! lookups block, so the daemon runs [`locate`] on a helper thread, never on the event loop.

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use mwi_config::Transport;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// One SRV record (RFC 2782).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvTarget {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among equal priorities: see [`weighted_order`].
    pub weight: u16,
    /// Port, host byte order.
    pub port: u16,
    /// Target host name, without the trailing dot.
    pub target: String,
}

/// The SRV owner name for `host` and `transport` (RFC 3263 §4.2).
pub fn srv_name(host: &str, transport: Transport) -> String {
    let t = match transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    format!("_sip._{t}.{}", host.trim_end_matches('.'))
}

/// A recursive SRV query for `name` with message ID `id`.
///
/// Errors: `name` is not a valid domain name.
pub fn srv_query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let name = Name::from_ascii(format!("{name}.")).map_err(|e| e.to_string())?;
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name, RecordType::SRV));
    m.to_vec().map_err(|e| e.to_string())
}

/// The SRV records of a response to query `id`, ordered by priority (equal priorities in
/// answer order; [`weighted_order`] then picks among them). NXDOMAIN or no SRV answer: an
/// empty list.
///
/// Errors: not a DNS message, another ID, or a server failure (SERVFAIL, REFUSED, ...).
pub fn parse_srv_response(bytes: &[u8], id: u16) -> Result<Vec<SrvTarget>, String> {
    let m = Message::from_vec(bytes).map_err(|e| e.to_string())?;
    if m.id() != id || m.message_type() != MessageType::Response {
        return Err("not the response to our query".into());
    }
    match m.response_code() {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        rc => return Err(format!("DNS server answered {rc}")),
    }
    let mut out: Vec<SrvTarget> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            Some(RData::SRV(srv)) => Some(SrvTarget {
                priority: srv.priority(),
                weight: srv.weight(),
                port: srv.port(),
                target: srv.target().to_ascii().trim_end_matches('.').to_owned(),
            }),
            _ => None,
        })
        // RFC 2782: a target of "." means the service is not available there.
        .filter(|t| !t.target.is_empty())
        .collect();
    out.sort_by_key(|t| t.priority);
    Ok(out)
}

/// `records` (ordered by priority) in the order to try them (RFC 2782, "Usage rules"): by
/// priority, and within one priority by weighted random selection: weight-0 records first in
/// the list, then each pick takes the first record whose running sum of weights reaches a
/// number drawn from `rng` in 0..=sum, so a record's chance is proportional to its weight
/// and a weight-0 record's is small (1 in sum + 1) but not nil.
pub fn weighted_order(records: Vec<SrvTarget>, rng: &mut fastrand::Rng) -> Vec<SrvTarget> {
    let mut out = Vec::with_capacity(records.len());
    let mut rest = records.into_iter().peekable();
    while let Some(first) = rest.next() {
        let mut group = vec![first];
        while let Some(next) = rest.next_if(|t| t.priority == group[0].priority) {
            group.push(next);
        }
        group.sort_by_key(|t| t.weight != 0);
        while !group.is_empty() {
            let sum: u32 = group.iter().map(|t| u32::from(t.weight)).sum();
            let draw = rng.u32(0..=sum);
            let mut running = 0;
            let k = group
                .iter()
                .position(|t| {
                    running += u32::from(t.weight);
                    running >= draw
                })
                .unwrap_or(0);
            out.push(group.remove(k));
        }
    }
    out
}

/// First delay before resolving again after a lookup found no address, ms.
pub const RETRY_BASE: u64 = 1000;
/// Longest delay between two failed lookups of one server, ms.
pub const RETRY_MAX: u64 = 300_000;

/// Delay before the next lookup after `failures` consecutive failed ones (1 or more), ms:
/// [`RETRY_BASE`] doubled per failure up to [`RETRY_MAX`], scaled by `jitter` (clamped to
/// 0.5..=1.0) so that many boxes restarted together do not query in step (RFC 5626 §4.5
/// style). Never zero: a dead name server is never asked in a tight loop.
pub fn retry_delay(failures: u32, jitter: f64) -> u64 {
    let shift = failures.saturating_sub(1).min(20);
    let full = RETRY_BASE.saturating_mul(1 << shift).min(RETRY_MAX);
    ((full as f64) * jitter.clamp(0.5, 1.0)) as u64
}

/// The environment variable naming the name servers sipd asks for SRV records instead of
/// those of `/etc/resolv.conf`: `ADDRESS:PORT` entries separated by commas (a resolver of its
/// own for SIP, or a test's).
pub const NAMESERVERS_ENV: &str = "SIPD_NAMESERVERS";

/// The name servers of [`NAMESERVERS_ENV`] when set (an entry that is no `ADDRESS:PORT` is
/// logged and skipped), else of `/etc/resolv.conf`.
pub fn nameservers() -> Vec<SocketAddr> {
    let Ok(list) = std::env::var(NAMESERVERS_ENV) else {
        return system_nameservers();
    };
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            e.parse()
                .map_err(|err| log::warn!("{NAMESERVERS_ENV}: {e:?} skipped: {err}"))
                .ok()
        })
        .collect()
}

/// The name servers of `/etc/resolv.conf` (port 53).
pub fn system_nameservers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Ask each name server in turn for the SRV records of `name` (UDP, `timeout` each).
fn query_srv(name: &str, nameservers: &[SocketAddr], timeout: Duration) -> Vec<SrvTarget> {
    let id = fastrand::u16(..);
    let Ok(query) = srv_query(id, name) else {
        return Vec::new();
    };
    for ns in nameservers {
        let any = if ns.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let Ok(sock) = UdpSocket::bind(any) else {
            continue;
        };
        if sock.set_read_timeout(Some(timeout)).is_err() || sock.send_to(&query, ns).is_err() {
            continue;
        }
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if from != *ns {
                continue;
            }
            match parse_srv_response(buf.get(..n).unwrap_or_default(), id) {
                Ok(targets) => return targets,
                Err(e) => {
                    log::debug!("SRV {name} from {ns}: {e}");
                    break;
                }
            }
        }
    }
    Vec::new()
}

/// The addresses of a `dns:HOST` server for `transport`: SRV targets (A/AAAA each, SRV port)
/// in the order of [`weighted_order`], else A/AAAA of HOST with `port`. Blocking; empty when
/// nothing resolves.
pub fn locate(
    host: &str,
    port: u16,
    transport: Transport,
    nameservers: &[SocketAddr],
    timeout: Duration,
) -> Vec<SocketAddr> {
    let srv = weighted_order(
        query_srv(&srv_name(host, transport), nameservers, timeout),
        &mut fastrand::Rng::new(),
    );
    let mut out = Vec::new();
    for t in &srv {
        match (t.target.as_str(), t.port).to_socket_addrs() {
            Ok(addrs) => out.extend(addrs.filter(|a| !out.contains(a)).collect::<Vec<_>>()),
            Err(e) => log::warn!("resolving SRV target {}: {e}", t.target),
        }
    }
    if out.is_empty() {
        match (host, port).to_socket_addrs() {
            Ok(addrs) => out.extend(addrs),
            Err(e) => log::warn!("resolving {host}: {e}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::SRV;
    use hickory_proto::rr::Record;
    use std::collections::HashMap;

    fn answer(id: u16, records: &[(u16, u16, u16, &str)]) -> Vec<u8> {
        let q = Message::from_vec(&srv_query(id, "_sip._udp.vm.example").unwrap()).unwrap();
        let mut m = Message::new();
        m.set_id(id).set_message_type(MessageType::Response);
        m.add_query(q.queries()[0].clone());
        for (p, w, port, t) in records {
            m.add_answer(Record::from_rdata(
                Name::from_ascii("_sip._udp.vm.example.").unwrap(),
                60,
                RData::SRV(SRV::new(*p, *w, *port, Name::from_ascii(t).unwrap())),
            ));
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn failed_lookups_back_off_exponentially_with_jitter_and_a_cap() {
        assert_eq!(retry_delay(1, 1.0), 1000);
        assert_eq!(retry_delay(2, 1.0), 2000);
        assert_eq!(retry_delay(4, 0.5), 4000);
        assert_eq!(retry_delay(9, 1.0), 256_000);
        assert_eq!(retry_delay(10, 1.0), RETRY_MAX);
        assert_eq!(retry_delay(u32::MAX, 1.0), RETRY_MAX);
        assert_eq!(retry_delay(0, 0.0), 500);
        assert!((1..40).all(|f| retry_delay(f, 0.75) >= 750));
    }

    #[test]
    fn srv_records_in_order() {
        let bytes = answer(
            7,
            &[
                (20, 0, 5062, "b.example."),
                (10, 5, 5061, "a.example."),
                (10, 50, 5060, "c.example."),
                (30, 0, 0, "."),
            ],
        );
        let t = parse_srv_response(&bytes, 7).unwrap();
        let names: Vec<_> = t.iter().map(|t| (t.target.as_str(), t.port)).collect();
        assert_eq!(
            names,
            vec![
                ("a.example", 5061),
                ("c.example", 5060),
                ("b.example", 5062)
            ]
        );
        assert!(parse_srv_response(&bytes, 8).is_err());
        assert!(parse_srv_response(b"\x00\x01garbage", 1).is_err());
        assert_eq!(
            srv_name("vm.example.", Transport::Tcp),
            "_sip._tcp.vm.example"
        );
    }

    fn srv(priority: u16, weight: u16, target: &str) -> SrvTarget {
        SrvTarget {
            priority,
            weight,
            port: 5060,
            target: target.into(),
        }
    }

    /// How often each target came first in `draws` weighted orders of `records` (seeded).
    fn first_shares(records: &[SrvTarget], draws: u32) -> HashMap<String, f64> {
        let mut rng = fastrand::Rng::with_seed(2782);
        let mut firsts: HashMap<String, u32> = HashMap::new();
        for _ in 0..draws {
            let order = weighted_order(records.to_vec(), &mut rng);
            assert_eq!(order.len(), records.len());
            *firsts.entry(order[0].target.clone()).or_default() += 1;
        }
        firsts
            .into_iter()
            .map(|(t, n)| (t, f64::from(n) / f64::from(draws)))
            .collect()
    }

    #[test]
    fn equal_priorities_are_drawn_in_proportion_to_their_weights() {
        let records = [
            srv(10, 10, "a"),
            srv(10, 30, "b"),
            srv(10, 60, "c"),
            srv(20, 100, "backup"),
        ];
        let shares = first_shares(&records, 20_000);
        // The draw is in 0..=100: 11, 30 and 60 of the 101 values.
        for (t, want) in [
            ("a", 11.0 / 101.0),
            ("b", 30.0 / 101.0),
            ("c", 60.0 / 101.0),
        ] {
            assert!((shares[t] - want).abs() < 0.015, "{t}: {shares:?}");
        }
        assert!(!shares.contains_key("backup"));
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..100 {
            let order = weighted_order(records.to_vec(), &mut rng);
            assert_eq!(order[3].target, "backup");
        }
    }

    #[test]
    fn weight_zero_is_drawn_first_with_a_small_chance() {
        let shares = first_shares(&[srv(10, 100, "heavy"), srv(10, 0, "zero")], 20_000);
        assert!((0.004..0.02).contains(&shares["zero"]), "{shares:?}");
        let shares = first_shares(&[srv(10, 0, "x"), srv(10, 0, "y")], 100);
        assert_eq!(shares.get("x").copied(), Some(1.0));
    }

    #[test]
    fn locate_uses_srv_then_falls_back() {
        let dns = UdpSocket::bind("127.0.0.1:0").unwrap();
        let ns = dns.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            for records in [vec![(10, 0, 5099, "localhost.")], vec![]] {
                let (n, from) = dns.recv_from(&mut buf).unwrap();
                let q = Message::from_vec(&buf[..n]).unwrap();
                assert_eq!(q.queries()[0].query_type(), RecordType::SRV);
                dns.send_to(&answer(q.id(), &records), from).unwrap();
            }
        });
        let t = Duration::from_secs(2);
        let a = locate("vm.example", 5060, Transport::Udp, &[ns], t);
        assert!(
            a.iter().all(|a| a.port() == 5099 && a.ip().is_loopback()),
            "{a:?}"
        );
        assert!(!a.is_empty());
        let b = locate("localhost", 5070, Transport::Udp, &[ns], t);
        assert!(b.iter().all(|a| a.port() == 5070) && !b.is_empty(), "{b:?}");
        server.join().unwrap();
    }
}
