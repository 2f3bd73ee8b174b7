//! `sipd status` text output, in the shape of `show sip-ua mwi` (the gateway we model,
//! docs/sip.md): server, expires, port, transport, unsolicited, resolved addresses, then one
//! line per number, then the blocked sources (`[sip.block]`) with the time left.

use crate::ua::UaStatus;
use std::fmt::Write as _;

/// Render `st` as text, one item per line.
pub fn render(st: &UaStatus) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "MWI server: {}", st.server);
    let _ = writeln!(s, "MWI expires: {}", st.expires);
    let _ = writeln!(s, "MWI port: {}", st.port);
    let _ = writeln!(s, "MWI transport type: {}", st.transport.to_uppercase());
    if st.unsolicited {
        let _ = writeln!(s, "MWI unsolicited");
    }
    let _ = writeln!(s, "MWI server state: {}", st.server_state);
    let _ = writeln!(
        s,
        "MWI target: {} (moved {} time(s) after OPTIONS failures)",
        st.target, st.failovers
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::BlockedSource;
    use crate::ua::NumberStatus;

    #[test]
    fn looks_like_show_sip_ua_mwi() {
        let st = UaStatus {
            server: "dns:vm.example.com".into(),
            addresses: vec!["192.168.1.30:5060".into()],
            expires: 60,
            port: 5060,
            transport: "udp".into(),
            unsolicited: true,
            server_state: "up".into(),
            target: "192.168.1.30:5060".into(),
            failovers: 1,
            registration: "none".into(),
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
        };
        let text = render(&st);
        assert!(text.contains("MWI server: dns:vm.example.com\nMWI expires: 60\nMWI port: 5060\n"));
        assert!(text.contains("MWI transport type: UDP\nMWI unsolicited\n"));
        assert!(text.contains("MWI target: 192.168.1.30:5060 (moved 1 time(s) after OPTIONS"));
        assert!(text.contains("endpoint 8000 mwi status ON messages 2/8 (0/2)"));
        assert!(text.contains(
            "Blocked sources: 1\nblocked 203.0.113.9 for 42 s more (7 messages dropped; last \
             failure: 403 Forbidden (source not allowed) (NOTIFY))\n"
        ));
    }
}
