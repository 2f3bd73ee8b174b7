//! The one-line message trace of `sipd trace on` (like the gateway's `debug ccsip messages`,
//! one line per message): direction, transport, peer, the start line, Call-ID and CSeq
//! (RFC 3261 §7.1, §20.8, §20.16), sans-IO: bytes in, a line out.

use crate::wire::Message;
use mwi_config::Transport;
use std::net::SocketAddr;

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

#[cfg(test)]
mod tests {
    use super::*;

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
