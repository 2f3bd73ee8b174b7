//! Accessors and constructors for the raw dahdi/user.h structures.

use crate::sys::{
    DahdiBufferInfo, DahdiEchoCanParam, DahdiParams, DahdiRingCadence, DahdiSpanInfo,
    DahdiToneDefHeader, DahdiVersionInfo, DAHDI_MAX_BLOCKSIZE, DAHDI_MAX_BUF_SPACE,
    DAHDI_MAX_CADENCE, DAHDI_MAX_NUM_BUFS, DAHDI_TONE_ZONE_MAX,
};
use crate::types::law_from_raw;
use crate::{Alarms, BufPolicy, Error, Result, SigType};
use g711::Law;
use libc::{c_char, c_int};

/// The text of a NUL-terminated C char array (lossy UTF-8; the whole array if no NUL).
pub(crate) fn c_text(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Copies `s` into a C char array with a terminating NUL.
fn put_c_text(dst: &mut [c_char], s: &str, what: &'static str) -> Result<()> {
    if s.len() >= dst.len() || s.as_bytes().contains(&0) {
        return Err(Error::InvalidArgument { what });
    }
    for (d, &b) in dst.iter_mut().zip(s.as_bytes()) {
        *d = b as c_char;
    }
    dst[s.len()] = 0;
    Ok(())
}

impl DahdiParams {
    /// The channel name (`name`), e.g. "DYN/loc/1:0/2".
    pub fn name(&self) -> String {
        c_text(&self.name)
    }

    /// The configured signalling (`sigtype`).
    pub fn sig_type(&self) -> SigType {
        SigType::from_raw(self.sigtype)
    }

    /// The current law (`curlaw`): `None` for the span's default (`DAHDI_LAW_DEFAULT`) or a
    /// value dahdi/user.h does not define.
    pub fn law(&self) -> Option<Law> {
        law_from_raw(self.curlaw)
    }

    /// The channel's alarms (`chan_alarms`).
    pub fn alarms(&self) -> Alarms {
        Alarms::from_bits_retain(self.chan_alarms)
    }

    /// True while the far end is off-hook (`rxisoffhook`); on an FXS port: the phone.
    pub fn is_off_hook(&self) -> bool {
        self.rxisoffhook != 0
    }
}

impl DahdiSpanInfo {
    /// A query for span `spanno` (0: the span of the channel the fd is bound to).
    pub fn query(spanno: c_int) -> DahdiSpanInfo {
        DahdiSpanInfo {
            spanno,
            ..DahdiSpanInfo::default()
        }
    }

    /// Span number (`spanno`).
    pub fn span_no(&self) -> c_int {
        self.spanno
    }

    /// Span alarms (`alarms`).
    pub fn alarms(&self) -> Alarms {
        Alarms::from_bits_retain(self.alarms as u32)
    }

    /// Span name (`name`).
    pub fn name(&self) -> String {
        let name = self.name;
        c_text(&name)
    }

    /// Span description (`desc`).
    pub fn desc(&self) -> String {
        let desc = self.desc;
        c_text(&desc)
    }

    /// Span type (`spantype`), e.g. "E1", "T1", "FXS".
    pub fn span_type(&self) -> String {
        let t = self.spantype;
        c_text(&t)
    }

    /// Configured channels (`numchans`) and channels on the span (`totalchans`).
    pub fn channels(&self) -> (c_int, c_int) {
        (self.numchans, self.totalchans)
    }
}

impl DahdiVersionInfo {
    /// DAHDI version (`version`).
    pub fn version(&self) -> String {
        c_text(&self.version)
    }

    /// Compiled-in echo cancellers (`echo_canceller`).
    pub fn echo_canceller(&self) -> String {
        c_text(&self.echo_canceller)
    }
}

impl DahdiBufferInfo {
    /// Buffer settings for `DAHDI_SET_BUFINFO`: `numbufs` buffers of `bufsize` octets.
    /// Errors if outside DAHDI's limits (bufsize 16..=8192, numbufs 1..=32, product <= 32768).
    pub fn new(
        tx: BufPolicy,
        rx: BufPolicy,
        numbufs: c_int,
        bufsize: c_int,
    ) -> Result<DahdiBufferInfo> {
        if !(16..=DAHDI_MAX_BLOCKSIZE).contains(&bufsize)
            || !(1..=DAHDI_MAX_NUM_BUFS).contains(&numbufs)
            || bufsize * numbufs > DAHDI_MAX_BUF_SPACE
        {
            return Err(Error::InvalidArgument {
                what: "buffer size 16..=8192 octets, 1..=32 buffers, at most 32768 octets",
            });
        }
        Ok(DahdiBufferInfo {
            txbufpolicy: tx.to_raw(),
            rxbufpolicy: rx.to_raw(),
            numbufs,
            bufsize,
            readbufs: 0,
            writebufs: 0,
        })
    }
}

impl DahdiRingCadence {
    /// A cadence of alternating on/off times in ms (at most 16 entries; a negative on-time
    /// marks where the cadence loops back to). Example: RP-AS `[250, 10000]`.
    pub fn new(ms: &[c_int]) -> Result<DahdiRingCadence> {
        if ms.len() > DAHDI_MAX_CADENCE {
            return Err(Error::InvalidArgument {
                what: "a ring cadence has at most 16 entries",
            });
        }
        let mut c = DahdiRingCadence::default();
        c.ringcadence[..ms.len()].copy_from_slice(ms);
        Ok(c)
    }
}

impl DahdiToneDefHeader {
    /// A `DAHDI_LOADZONE` header for zone `zone` (0..128) named `name` (< 40 octets) with ring
    /// cadence `ring_ms` (at most 16 entries). `count` is set by
    /// [`crate::Control::load_zone`] from the tones passed to it.
    pub fn new(zone: c_int, name: &str, ring_ms: &[c_int]) -> Result<DahdiToneDefHeader> {
        if !(0..DAHDI_TONE_ZONE_MAX).contains(&zone) {
            return Err(Error::InvalidArgument {
                what: "tone zone number must be 0..128",
            });
        }
        let cadence = DahdiRingCadence::new(ring_ms)?;
        let mut h = DahdiToneDefHeader {
            zone,
            ringcadence: cadence.ringcadence,
            ..DahdiToneDefHeader::default()
        };
        put_c_text(
            &mut h.name,
            name,
            "tone zone name must be < 40 octets, no NUL",
        )?;
        Ok(h)
    }

    /// Zone name (`name`).
    pub fn name(&self) -> String {
        c_text(&self.name)
    }
}

impl DahdiEchoCanParam {
    /// A named echo canceller parameter (name < 16 octets).
    pub fn new(name: &str, value: i32) -> Result<DahdiEchoCanParam> {
        let mut p = DahdiEchoCanParam {
            value,
            ..DahdiEchoCanParam::default()
        };
        put_c_text(
            &mut p.name,
            name,
            "echo canceller parameter name must be < 16 octets, no NUL",
        )?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_text_stops_at_nul_and_tolerates_none() {
        let mut a = [0 as c_char; 6];
        for (d, b) in a.iter_mut().zip(b"E1\0xy") {
            *d = *b as c_char;
        }
        assert_eq!(c_text(&a), "E1");
        let full = [b'A' as c_char; 6];
        assert_eq!(c_text(&full), "AAAAAA");
    }

    #[test]
    fn names_are_bounded() {
        assert!(DahdiEchoCanParam::new("aggressive", 1).is_ok());
        assert!(DahdiEchoCanParam::new("sixteen_chars_xx", 1).is_err());
        assert!(DahdiEchoCanParam::new("a\0b", 1).is_err());
        let h = DahdiToneDefHeader::new(3, "us", &[2000, 4000]).unwrap();
        assert_eq!(h.name(), "us");
        assert_eq!(&h.ringcadence[..3], &[2000, 4000, 0]);
        assert!(DahdiToneDefHeader::new(128, "x", &[]).is_err());
        assert!(DahdiToneDefHeader::new(0, &"x".repeat(40), &[]).is_err());
    }

    #[test]
    fn cadence_and_bufinfo_limits() {
        assert_eq!(
            DahdiRingCadence::new(&[250, 10000]).unwrap().ringcadence[..3],
            [250, 10000, 0]
        );
        assert!(DahdiRingCadence::new(&[1; 17]).is_err());
        let b = DahdiBufferInfo::new(BufPolicy::Immediate, BufPolicy::Immediate, 32, 1024).unwrap();
        assert_eq!((b.numbufs, b.bufsize, b.txbufpolicy), (32, 1024, 0));
        assert!(DahdiBufferInfo::new(BufPolicy::Immediate, BufPolicy::Immediate, 33, 16).is_err());
        assert!(DahdiBufferInfo::new(BufPolicy::Immediate, BufPolicy::Immediate, 8, 8).is_err());
        assert!(
            DahdiBufferInfo::new(BufPolicy::Immediate, BufPolicy::Immediate, 32, 2048).is_err()
        );
    }

    #[test]
    fn span_info_accessors() {
        let mut s = DahdiSpanInfo::query(2);
        s.alarms = 8;
        assert_eq!(s.span_no(), 2);
        assert_eq!(s.alarms(), Alarms::RED);
        assert_eq!(s.name(), "");
    }
}
