//! `sipd status` text output, in the shape of `show sip-ua mwi` (the gateway we model,
//! docs/sip.md): server, expires, port, transport, unsolicited, resolved addresses, then one
//! line per number, then the blocked sources (`[sip.block]`) with the time left. The `cisco`
//! format ([`render_cisco`]) prints the gateway's fields only, in its words and order, so
//! scripts written for the router read it unchanged.

use crate::ua::UaStatus;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// `MWI type` of `show sip-ua mwi`: 2 is SIP-based MWI (1 is the router's MWI relay
/// application, which sipd is not).
const CISCO_MWI_TYPE: u8 = 2;
/// Lines of the router's `MWI server IP address:` list; unused slots print `0`.
const CISCO_ADDRESS_SLOTS: usize = 10;

/// The `mwi-server` settings, as both formats print them.
fn settings(s: &mut String, st: &UaStatus) {
    let _ = writeln!(s, "MWI server: {}", st.server);
    let _ = writeln!(s, "MWI expires: {}", st.expires);
    let _ = writeln!(s, "MWI port: {}", st.port);
    let _ = writeln!(s, "MWI transport type: {}", st.transport.to_uppercase());
    if st.unsolicited {
        let _ = writeln!(s, "MWI unsolicited");
    }
}

/// Render `st` as text, one item per line.
pub fn render(st: &UaStatus) -> String {
    let mut s = String::new();
    settings(&mut s, st);
    let _ = writeln!(s, "MWI server state: {}", st.server_state);
    let _ = writeln!(
        s,
        "MWI target: {} (moved {} time(s) after OPTIONS failures, {} back to the primary)",
        st.target, st.failovers, st.fallbacks
    );
    let _ = writeln!(s, "MWI ipaddr cnt {}:", st.addresses.len());
    for (i, a) in st.addresses.iter().enumerate() {
        let _ = writeln!(s, "MWI ipaddr idx {i}: {a}");
    }
    let _ = writeln!(s, "Registration: {}", st.registration);
    for n in &st.numbers {
        let _ = write!(
            s,
            "endpoint {} mwi status {}",
            n.number,
            if n.mwi { "ON" } else { "OFF" }
        );
        if n.known {
            let _ = write!(
                s,
                " messages {}/{} ({}/{})",
                n.new, n.old, n.urgent_new, n.urgent_old
            );
        } else {
            let _ = write!(s, " (state unknown)");
        }
        let _ = writeln!(s, " subscription {}", n.subscription);
    }
    let _ = writeln!(s, "Blocked sources: {}", st.blocked.len());
    for b in &st.blocked {
        let _ = writeln!(
            s,
            "blocked {} for {} s more ({} messages dropped; last failure: {})",
            b.source, b.remaining, b.dropped, b.reason
        );
    }
    s
}

/// Render `st` as `show sip-ua mwi` prints it, field for field: `MWI type`, the configured
/// server, expires, port, transport, `MWI unsolicited`, the resolved addresses in hex (network
/// order, unpadded, ten slots at least), their count, the index in use with the
/// `MWI server: A, port P, transport N` line (N: 1 UDP, 2 TCP), `lookup_failures` as the DNS
/// lookup retry count, and one `endpoint N mwi status ON|OFF` line per number (OFF also for a
/// number whose state is not known yet). sipd keeps the address in use first, so the index is
/// always 0; an address that does not parse is shown as `0`.
pub fn render_cisco(st: &UaStatus, lookup_failures: u32) -> String {
    let addrs: Vec<Option<SocketAddr>> = st.addresses.iter().map(|a| a.parse().ok()).collect();
    let mut s = String::new();
    let _ = writeln!(s, "MWI type: {CISCO_MWI_TYPE}");
    settings(&mut s, st);
    let _ = writeln!(s, "MWI server IP address:");
    for i in 0..addrs.len().max(CISCO_ADDRESS_SLOTS) {
        let hex = match addrs.get(i).copied().flatten().map(|a| a.ip()) {
            Some(IpAddr::V4(v4)) => format!("{:X}", u32::from(v4)),
            Some(IpAddr::V6(v6)) => format!("{:X}", u128::from(v6)),
            None => "0".into(),
        };
        let _ = writeln!(s, "{hex}");
    }
    let _ = writeln!(s, "MWI ipaddr cnt {}:", addrs.len());
    if let Some(Some(a)) = addrs.first() {
        let transport = if st.transport.eq_ignore_ascii_case("tcp") {
            2
        } else {
            1
        };
        let _ = writeln!(s, "MWI ipaddr idx 0:");
        let _ = writeln!(
            s,
            "MWI server: {}, port {}, transport {transport}",
            a.ip(),
            a.port()
        );
    }
    let _ = writeln!(s, "MWI server dns lookup retry cnt: {lookup_failures}");
    for n in &st.numbers {
        let _ = writeln!(
            s,
            "endpoint {} mwi status {}",
            n.number,
            if n.mwi { "ON" } else { "OFF" }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::BlockedSource;
    use crate::ua::NumberStatus;

    /// The settings of the gateway's sample (`show sip-ua mwi`), no numbers yet.
    fn sample() -> UaStatus {
        UaStatus {
            server: "dns:unity-vm.example1.com".into(),
            addresses: vec!["192.168.1.30:5060".into()],
            expires: 60,
            port: 5060,
            transport: "udp".into(),
            unsolicited: true,
            server_state: "up".into(),
            target: "192.168.1.30:5060".into(),
            failovers: 0,
            fallbacks: 0,
            registration: "none".into(),
            numbers: Vec::new(),
            blocked: Vec::new(),
        }
    }

    #[test]
    fn looks_like_show_sip_ua_mwi() {
        let st = UaStatus {
            failovers: 1,
            fallbacks: 0,
            numbers: vec![NumberStatus {
                number: "8000".into(),
                mwi: true,
                new: 2,
                old: 8,
                urgent_new: 0,
                urgent_old: 2,
                known: true,
                subscription: "unsolicited".into(),
            }],
            blocked: vec![BlockedSource {
                source: "203.0.113.9".into(),
                remaining: 42,
                reason: "403 Forbidden (source not allowed) (NOTIFY)".into(),
                dropped: 7,
            }],
            ..sample()
        };
        let text = render(&st);
        assert!(text
            .contains("MWI server: dns:unity-vm.example1.com\nMWI expires: 60\nMWI port: 5060\n"));
        assert!(text.contains("MWI transport type: UDP\nMWI unsolicited\n"));
        assert!(text.contains("MWI target: 192.168.1.30:5060 (moved 1 time(s) after OPTIONS"));
        assert!(text.contains("endpoint 8000 mwi status ON messages 2/8 (0/2)"));
        assert!(text.contains(
            "Blocked sources: 1\nblocked 203.0.113.9 for 42 s more (7 messages dropped; last \
             failure: 403 Forbidden (source not allowed) (NOTIFY))\n"
        ));
    }

    fn number(number: &str, mwi: bool, known: bool) -> NumberStatus {
        NumberStatus {
            number: number.into(),
            mwi,
            new: u32::from(mwi),
            old: 0,
            urgent_new: 0,
            urgent_old: 0,
            known,
            subscription: "unsolicited".into(),
        }
    }

    #[test]
    fn cisco_format_is_show_sip_ua_mwi_field_for_field() {
        let st = UaStatus {
            numbers: vec![number("8000", true, true), number("8001", false, false)],
            ..sample()
        };
        assert_eq!(
            render_cisco(&st, 0),
            "MWI type: 2\nMWI server: dns:unity-vm.example1.com\nMWI expires: 60\n\
             MWI port: 5060\nMWI transport type: UDP\nMWI unsolicited\n\
             MWI server IP address:\nC0A8011E\n0\n0\n0\n0\n0\n0\n0\n0\n0\n\
             MWI ipaddr cnt 1:\nMWI ipaddr idx 0:\n\
             MWI server: 192.168.1.30, port 5060, transport 1\n\
             MWI server dns lookup retry cnt: 0\n\
             endpoint 8000 mwi status ON\nendpoint 8001 mwi status OFF\n"
        );
    }

    #[test]
    fn cisco_format_before_resolution_over_tcp_and_ipv6() {
        let mut st = UaStatus {
            addresses: Vec::new(),
            transport: "tcp".into(),
            unsolicited: false,
            ..sample()
        };
        let text = render_cisco(&st, 3);
        assert!(!text.contains("MWI unsolicited"), "{text}");
        assert!(
            text.ends_with("0\nMWI ipaddr cnt 0:\nMWI server dns lookup retry cnt: 3\n"),
            "{text}"
        );
        st.addresses = vec!["[2001:db8::1e]:5062".into(), "192.0.2.7:5060".into()];
        let text = render_cisco(&st, 0);
        assert!(
            text.contains(
                "MWI server IP address:\n20010DB800000000000000000000001E\nC0000207\n0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "MWI ipaddr cnt 2:\nMWI ipaddr idx 0:\n\
                 MWI server: 2001:db8::1e, port 5062, transport 2\n"
            ),
            "{text}"
        );
    }
}
