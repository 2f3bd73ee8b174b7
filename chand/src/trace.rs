//! The D-channel trace of `chand trace on` (like a gateway's `debug isdn q921` and `debug isdn
//! q931` at once, one line per frame): the span, the direction and the whole frame decoded by
//! [`isdn::dump::Frame`] (Q.921, the Q.931 message it carries, each QSIG APDU); and the
//! record of a frame in the pcapng capture of `[trace] capture_dir`. Sans-IO: bytes in, a line
//! or a record out.

use isdn::dump::Frame;

/// Which way a frame went on the D-channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received from the PBX.
    Received,
    /// Sent to the PBX.
    Sent,
}

/// The trace line of `frame` (address, control, information; no FCS) on `span`, e.g.
/// `span 1 sent -> SABME SAPI=0 TEI=0 C/R=0 P=1` or `span 1 recv <- I N(S)=0 ...: FACILITY
/// CR=0x0000/orig [Facility(24)]: invoke id=1 op=mwiActivate(80) ...`.
pub fn frame_line(span: u32, dir: Direction, frame: &[u8]) -> String {
    let way = match dir {
        Direction::Received => "recv <-",
        Direction::Sent => "sent ->",
    };
    format!("span {span} {way} {}", Frame(frame))
}

/// The pseudo-header of LINKTYPE_LINUX_LAPD (177, tcpdump.org's link-type list), octets.
pub const LINUX_LAPD_HEADER: usize = 16;

/// `sll_pkttype` PACKET_HOST and PACKET_OUTGOING (Linux packet(7)).
const PACKET_HOST: u16 = 0;
const PACKET_OUTGOING: u16 = 4;

/// `sll_hatype` ARPHRD_LAPD (Linux if_arp.h).
const ARPHRD_LAPD: u16 = 8445;

/// `sll_protocol` ETH_P_LAPD (Linux if_ether.h); Wireshark rejects a record without it.
const ETH_P_LAPD: u16 = 0x0030;

/// `frame` as a LINKTYPE_LINUX_LAPD record: the 16-octet Linux "cooked" header (packet type,
/// ARPHRD_LAPD, address length 1, address, ETH_P_LAPD; big-endian) then the frame. Wireshark
/// reads the direction from the packet type (PACKET_OUTGOING: sent by chand) and chand's side
/// from the first address octet (non-zero: chand is the network side), which together give
/// each frame's command/response meaning (Q.921 §3.3.2).
pub fn linux_lapd_record(dir: Direction, network_side: bool, frame: &[u8]) -> Vec<u8> {
    let pkttype = match dir {
        Direction::Received => PACKET_HOST,
        Direction::Sent => PACKET_OUTGOING,
    };
    let mut r = Vec::with_capacity(LINUX_LAPD_HEADER + frame.len());
    r.extend_from_slice(&pkttype.to_be_bytes());
    r.extend_from_slice(&ARPHRD_LAPD.to_be_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&[u8::from(network_side), 0, 0, 0, 0, 0, 0, 0]);
    r.extend_from_slice(&ETH_P_LAPD.to_be_bytes());
    r.extend_from_slice(frame);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_lapd_pseudo_header() {
        let r = linux_lapd_record(Direction::Sent, true, &[0x02, 0x01, 0x7f]);
        assert_eq!(
            r,
            [0, 4, 0x20, 0xfd, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x30, 0x02, 0x01, 0x7f]
        );
        let r = linux_lapd_record(Direction::Received, false, &[0x00]);
        assert_eq!(&r[..2], [0, 0]);
        assert_eq!(r[6], 0);
        assert_eq!(r.len(), LINUX_LAPD_HEADER + 1);
    }

    #[test]
    fn one_line_per_frame_with_span_and_direction() {
        // SABME, SAPI 0, TEI 0, P=1 (Q.921 §3.6.4), from the user side (C/R 0).
        let sabme = [0x00, 0x01, 0x7f];
        let line = frame_line(3, Direction::Sent, &sabme);
        assert!(line.starts_with("span 3 sent -> SABME"), "{line}");
        // UA, F=1, the answer.
        let ua = [0x00, 0x01, 0x73];
        let line = frame_line(3, Direction::Received, &ua);
        assert!(line.starts_with("span 3 recv <- UA"), "{line}");
        let line = frame_line(1, Direction::Received, &[0x02]);
        assert!(
            line.starts_with("span 1 recv <- undecodable LAPD frame of 1 octets"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
