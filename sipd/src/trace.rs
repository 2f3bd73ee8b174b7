//! The one-line message trace of `sipd trace on` (like the gateway's `debug ccsip messages`,
//! one line per message): direction, transport, peer, the start line, Call-ID and CSeq
//! (RFC 3261 §7.1, §20.8, §20.16); and the IP packets of a datagram or of a message on a TCP
//! connection for the pcapng capture of `[trace] capture_dir`. Sans-IO: bytes in, a line or
//! packets out.

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

/// Largest TCP payload one captured segment carries (RFC 9293, RFC 791: 65535 - 20 - 20); a
/// longer message is recorded as several segments.
pub const MAX_TCP_PAYLOAD: usize = 65_495;

/// IP protocol numbers (IANA): TCP, UDP.
const TCP: u8 = 6;
const UDP: u8 = 17;

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
    ip_packet(src, dst, UDP, udp, 6)
}

/// `payload` as one TCP segment (RFC 9293 §3.1: 20-octet header, ACK and PSH set, window
/// 65535) with sequence number `seq` and acknowledgment number `ack`, in its IPv4 or IPv6
/// packet from `src` to `dst`: a LINKTYPE_RAW (101) record. `None` if the two addresses are of
/// different families or the payload is over [`MAX_TCP_PAYLOAD`] octets.
pub fn tcp_packet(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Option<Vec<u8>> {
    if payload.len() > MAX_TCP_PAYLOAD {
        return None;
    }
    let mut tcp = Vec::with_capacity(20 + payload.len());
    tcp.extend_from_slice(&src.port().to_be_bytes());
    tcp.extend_from_slice(&dst.port().to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    // Data offset 5 words; flags ACK | PSH; window; checksum; urgent pointer.
    tcp.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    ip_packet(src, dst, TCP, tcp, 16)
}

/// `transport` (a UDP datagram or TCP segment, its checksum field at `checksum_at` still
/// zero) in the IPv4 (RFC 791, TTL 64, DF) or IPv6 (RFC 8200, hop limit 64) packet from `src`
/// to `dst`, the IPv4 header's and the transport's checksums computed over the pseudo-header
/// (RFC 1071; RFC 768, RFC 9293 §3.1, RFC 8200 §8.1). `None` for mixed families.
fn ip_packet(
    src: SocketAddr,
    dst: SocketAddr,
    protocol: u8,
    mut transport: Vec<u8>,
    checksum_at: usize,
) -> Option<Vec<u8>> {
    let len = u16::try_from(transport.len()).ok()?;
    let (mut packet, pseudo) = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0];
            h.extend_from_slice(&20u16.checked_add(len)?.to_be_bytes());
            h.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let sum = checksum(0, &h).to_be_bytes();
            h[10..12].copy_from_slice(&sum);
            let mut pseudo = [s.octets(), d.octets()].concat();
            pseudo.extend_from_slice(&[0, protocol]);
            pseudo.extend_from_slice(&len.to_be_bytes());
            (h, pseudo)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60, 0, 0, 0];
            h.extend_from_slice(&len.to_be_bytes());
            h.extend_from_slice(&[protocol, 64]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let mut pseudo = [s.octets(), d.octets()].concat();
            pseudo.extend_from_slice(&u32::from(len).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, protocol]);
            (h, pseudo)
        }
        _ => return None,
    };
    let sum = match checksum(sum_words(0, &pseudo), &transport) {
        // RFC 768: a computed UDP checksum of zero is sent as all ones (zero means none).
        0 if protocol == UDP => 0xffff,
        s => s,
    };
    transport[checksum_at..checksum_at + 2].copy_from_slice(&sum.to_be_bytes());
    packet.extend_from_slice(&transport);
    Some(packet)
}

/// One TCP connection as the capture shows it: its two ends and the next sequence number
/// each way. The capture starts each direction at 1 whenever it first sees the connection
/// (it does not show the handshake), so a reader sees one unbroken byte stream each way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFlow {
    /// sipd's end of the connection.
    local: SocketAddr,
    /// The peer's end.
    peer: SocketAddr,
    /// Next sequence number of the octets sipd sends.
    sent: u32,
    /// Next sequence number of the octets the peer sends.
    received: u32,
}

impl TcpFlow {
    /// A connection between `local` (sipd) and `peer`, nothing captured yet.
    pub fn new(local: SocketAddr, peer: SocketAddr) -> Self {
        Self {
            local,
            peer,
            sent: 1,
            received: 1,
        }
    }

    /// `bytes` that went `dir` on the connection as its IP packets, in order: one segment
    /// per [`MAX_TCP_PAYLOAD`] octets, each acknowledging everything the other way so far;
    /// the sequence numbers move on (modulo 2^32, RFC 9293 §3.4). Empty for mixed families.
    pub fn packets(&mut self, dir: Direction, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for chunk in bytes.chunks(MAX_TCP_PAYLOAD) {
            let packet = match dir {
                Direction::Sent => {
                    tcp_packet(self.local, self.peer, self.sent, self.received, chunk)
                }
                Direction::Received => {
                    tcp_packet(self.peer, self.local, self.received, self.sent, chunk)
                }
            };
            let Some(packet) = packet else {
                return Vec::new();
            };
            let next = match dir {
                Direction::Sent => &mut self.sent,
                Direction::Received => &mut self.received,
            };
            // A chunk is at most MAX_TCP_PAYLOAD octets, so it fits u32.
            *next = next.wrapping_add(chunk.len() as u32);
            out.push(packet);
        }
        out
    }
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

    fn word32(p: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
    }

    #[test]
    fn tcp_segments_carry_one_stream_each_way_and_valid_checksums() {
        let sipd: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let peer: SocketAddr = "192.0.2.10:40000".parse().unwrap();
        let mut flow = TcpFlow::new(sipd, peer);
        let notify = flow.packets(Direction::Received, b"hello");
        assert_eq!(notify.len(), 1);
        let p = &notify[0];
        assert_eq!(p.len(), 20 + 20 + 5);
        assert_eq!(p[9], TCP);
        assert_eq!(&p[12..16], [192, 0, 2, 10], "from the peer");
        assert_eq!(&p[20..24], [0x9c, 0x40, 0x13, 0xc4], "ports 40000 -> 5060");
        assert_eq!((word32(p, 24), word32(p, 28)), (1, 1), "seq, ack");
        assert_eq!(p[33], 0x18, "ACK | PSH");
        assert_eq!(checksum(0, &p[..20]), 0, "IPv4 header checksum");
        let mut pseudo = p[12..20].to_vec();
        pseudo.extend_from_slice(&[0, TCP, 0, 25]);
        assert_eq!(checksum(sum_words(0, &pseudo), &p[20..]), 0, "TCP checksum");

        // A message longer than a segment goes as two; each acknowledges the 5 octets in.
        let answer = flow.packets(Direction::Sent, &vec![b'x'; MAX_TCP_PAYLOAD + 10]);
        assert_eq!(answer.len(), 2);
        assert_eq!((word32(&answer[0], 24), word32(&answer[0], 28)), (1, 6));
        let second = 1 + MAX_TCP_PAYLOAD as u32;
        assert_eq!(
            (word32(&answer[1], 24), word32(&answer[1], 28)),
            (second, 6)
        );
        assert_eq!(answer[1].len(), 20 + 20 + 10);
        let next = flow.packets(Direction::Received, b"!");
        assert_eq!(
            (word32(&next[0], 24), word32(&next[0], 28)),
            (6, second + 10)
        );

        let v6a: SocketAddr = "[2001:db8::1]:5060".parse().unwrap();
        let v6b: SocketAddr = "[2001:db8::2]:5061".parse().unwrap();
        let p = &TcpFlow::new(v6a, v6b).packets(Direction::Sent, b"x")[0];
        assert_eq!(p.len(), 40 + 20 + 1);
        assert_eq!(p[6], TCP);
        let mut pseudo = p[8..40].to_vec();
        pseudo.extend_from_slice(&[0, 0, 0, 21, 0, 0, 0, TCP]);
        assert_eq!(checksum(sum_words(0, &pseudo), &p[40..]), 0, "TCP checksum");
        assert!(TcpFlow::new(sipd, v6b)
            .packets(Direction::Sent, b"x")
            .is_empty());
        assert!(tcp_packet(sipd, peer, 1, 1, &vec![0; MAX_TCP_PAYLOAD + 1]).is_none());
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
