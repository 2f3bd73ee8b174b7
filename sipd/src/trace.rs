//! The one-line message trace of `sipd trace on` (like the gateway's `debug ccsip messages`,
//! one line per message): direction, transport, peer, the start line, Call-ID and CSeq
//! (RFC 3261 §7.1, §20.8, §20.16); and the IP packet of a datagram for the pcapng capture of
//! `[trace] capture_dir`. Sans-IO: bytes in, a line or a packet out.

use crate::wire::Message;
use mwi_config::Transport;
use std::net::{IpAddr, SocketAddr};

/// Longest start line shown, characters; the rest is cut with `…`.
const MAX_START_LINE: usize = 200;

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received from `peer`.
    Received,
    /// Sent to `peer`.
    Sent,
}

/// The trace line of `bytes`, received from or sent to `peer` over `transport`, e.g.
/// `SIP recv udp 192.0.2.10:5060: "NOTIFY sip:8000@192.0.2.1 SIP/2.0" Call-ID: abc@vm CSeq: 2 NOTIFY (412 bytes)`.
/// A message that does not parse shows its start line and the parser's reason instead of the
/// headers; control characters print as spaces.
pub fn sip_line(dir: Direction, transport: Transport, peer: SocketAddr, bytes: &[u8]) -> String {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let mut start: String = String::from_utf8_lossy(first)
        .trim_end()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if start.chars().count() > MAX_START_LINE {
        start = start.chars().take(MAX_START_LINE).collect::<String>() + "…";
    }
    let headers = match Message::parse(bytes) {
        Ok(m) => format!(
            "Call-ID: {} CSeq: {}",
            m.header("Call-ID").unwrap_or("-"),
            m.header("CSeq").unwrap_or("-")
        ),
        Err(d) => format!("unparsable: {d}"),
    };
    let (way, prep) = match dir {
        Direction::Received => ("recv", "from"),
        Direction::Sent => ("sent", "to"),
    };
    format!(
        "SIP {way} {transport} {prep} {peer}: \"{start}\" {headers} ({} bytes)",
        bytes.len()
    )
}

/// Largest UDP payload an IP packet carries (RFC 768, RFC 791: 65535 - 20 - 8).
const MAX_UDP_PAYLOAD: usize = 65_507;

/// `payload` as the IPv4 (RFC 791) or IPv6 (RFC 8200) packet with its UDP header (RFC 768)
/// from `src` to `dst`, checksums computed (RFC 1071; RFC 8200 §8.1 makes UDP's mandatory
/// over IPv6), TTL/hop limit 64: a LINKTYPE_RAW (101) record. `None` if the two addresses are
/// of different families or the payload does not fit a datagram.
pub fn udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    if payload.len() > MAX_UDP_PAYLOAD {
        return None;
    }
    let udp_len = 8 + payload.len() as u16;
    let mut udp = Vec::with_capacity(usize::from(udp_len));
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let (mut packet, pseudo) = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0];
            h.extend_from_slice(&(20 + udp_len).to_be_bytes());
            h.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let sum = checksum(0, &h).to_be_bytes();
            h[10..12].copy_from_slice(&sum);
            let mut pseudo = [s.octets(), d.octets()].concat();
            pseudo.extend_from_slice(&[0, 17]);
            pseudo.extend_from_slice(&udp_len.to_be_bytes());
            (h, pseudo)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60, 0, 0, 0];
            h.extend_from_slice(&udp_len.to_be_bytes());
            h.extend_from_slice(&[17, 64]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let mut pseudo = [s.octets(), d.octets()].concat();
            pseudo.extend_from_slice(&u32::from(udp_len).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 17]);
            (h, pseudo)
        }
        _ => return None,
    };
    let sum = match checksum(sum_words(0, &pseudo), &udp) {
        0 => 0xffff,
        s => s,
    };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    packet.extend_from_slice(&udp);
    Some(packet)
}

/// The one's complement sum of `bytes` as 16-bit big-endian words onto `acc` (RFC 1071).
fn sum_words(acc: u32, bytes: &[u8]) -> u32 {
    bytes.chunks(2).fold(acc, |a, w| {
        let word = u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)]);
        let s = a + u32::from(word);
        (s & 0xffff) + (s >> 16)
    })
}

/// The Internet checksum of `bytes` with the partial sum `acc` (RFC 1071).
fn checksum(acc: u32, bytes: &[u8]) -> u16 {
    !(sum_words(acc, bytes) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_packets_carry_the_addresses_and_valid_checksums() {
        let a: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let b: SocketAddr = "192.0.2.10:5070".parse().unwrap();
        let p = udp_packet(a, b, b"hello").unwrap();
        assert_eq!(p.len(), 20 + 8 + 5);
        assert_eq!(&p[12..16], [192, 0, 2, 1]);
        assert_eq!(&p[16..20], [192, 0, 2, 10]);
        assert_eq!(checksum(0, &p[..20]), 0, "IPv4 header checksum");
        assert_eq!(&p[20..24], [0x13, 0xc4, 0x13, 0xce]);
        let v6a: SocketAddr = "[2001:db8::1]:5060".parse().unwrap();
        let v6b: SocketAddr = "[2001:db8::2]:5060".parse().unwrap();
        let p = udp_packet(v6a, v6b, b"x").unwrap();
        assert_eq!(p.len(), 40 + 8 + 1);
        let mut pseudo = p[8..40].to_vec();
        pseudo.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 17]);
        assert_eq!(checksum(sum_words(0, &pseudo), &p[40..]), 0, "UDP checksum");
        assert!(udp_packet(a, v6b, b"x").is_none());
        assert!(udp_packet(a, b, &vec![0; MAX_UDP_PAYLOAD + 1]).is_none());
    }

    #[test]
    fn one_line_per_message_with_call_id_and_cseq() {
        let notify =
            b"NOTIFY sip:8000@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\n\
                       From: <sip:vm@192.0.2.10>;tag=a\r\nTo: <sip:8000@192.0.2.1>\r\ni: abc@vm\r\n\
                       CSeq: 2 NOTIFY\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let peer: SocketAddr = "192.0.2.10:5060".parse().unwrap();
        assert_eq!(
            sip_line(Direction::Received, Transport::Udp, peer, notify),
            format!(
                "SIP recv udp from 192.0.2.10:5060: \"NOTIFY sip:8000@192.0.2.1 SIP/2.0\" \
                 Call-ID: abc@vm CSeq: 2 NOTIFY ({} bytes)",
                notify.len()
            )
        );
        let junk = b"\x01\x02hello\r\n";
        let line = sip_line(Direction::Sent, Transport::Tcp, peer, junk);
        assert!(
            line.starts_with("SIP sent tcp to 192.0.2.10:5060: \"  hello\" unparsable: "),
            "{line}"
        );
        assert!(!line.contains('\n'));
        let long = [b'A'; 500];
        let line = sip_line(Direction::Received, Transport::Udp, peer, &long);
        assert!(
            line.contains(&format!("\"{}…\"", "A".repeat(MAX_START_LINE))),
            "{line}"
        );
    }
}
