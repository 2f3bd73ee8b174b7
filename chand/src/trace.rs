//! The D-channel trace of `chand trace on` (like a gateway's `debug isdn q921` and `debug isdn
//! q931` at once, one line per frame): the span, the direction and the whole frame decoded by
//! [`isdn::dump::Frame`] (Q.921, the Q.931 message it carries, each QSIG APDU). Sans-IO:
//! bytes in, a line out.

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

#[cfg(test)]
mod tests {
    use super::*;

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
