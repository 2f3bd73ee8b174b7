//! The Q.921 frame: [`Packet`], a checked view of the octets, and [`Repr`], the parsed form
//! that also emits (Q.921 §2, §3).

use std::fmt;

use super::N201;

/// Why a frame was not accepted (Q.921 §5.8.5 and §2.9: invalid frames and frame rejection
/// conditions W, X, Y).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its address and control field.
    Truncated,
    /// Address extension bits wrong (EA of octet 1 must be 0, of octet 2 must be 1; §3.3.1):
    /// the frame is discarded (§2.9).
    BadAddress,
    /// Condition W: the control field is undefined or not implemented.
    UndefinedControl,
    /// Condition X: an information field where none is permitted, or a supervisory or
    /// unnumbered frame of incorrect length.
    BadLength,
    /// Condition Y: the information field exceeds N201 (260 octets).
    TooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "frame shorter than address and control field",
            Error::BadAddress => "address extension bits invalid",
            Error::UndefinedControl => "undefined control field (condition W)",
            Error::BadLength => "information field not permitted or wrong length (condition X)",
            Error::TooLong => "information field longer than N201 (condition Y)",
        })
    }
}

impl std::error::Error for Error {}

/// Frame types (Q.921 Table 5, modulo 128). Sequence numbers are 0..=127.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Information frame: send sequence number N(S), receive sequence number N(R).
    I {
        /// N(S).
        ns: u8,
        /// N(R).
        nr: u8,
    },
    /// Receive ready (supervisory).
    Rr {
        /// N(R).
        nr: u8,
    },
    /// Receive not ready (supervisory).
    Rnr {
        /// N(R).
        nr: u8,
    },
    /// Reject (supervisory).
    Rej {
        /// N(R).
        nr: u8,
    },
    /// Set asynchronous balanced mode extended (command).
    Sabme,
    /// Disconnected mode (response).
    Dm,
    /// Unnumbered information (command).
    Ui,
    /// Disconnect (command).
    Disc,
    /// Unnumbered acknowledgement (response).
    Ua,
    /// Frame reject (response); its information field is 5 octets (Q.921 §3.6.12).
    Frmr,
    /// Exchange identification (command or response); parsed so it can be ignored.
    Xid,
}

/// Unnumbered control octets with the P/F bit clear (Q.921 Table 5).
const U_SABME: u8 = 0x6f;
const U_DM: u8 = 0x0f;
const U_UI: u8 = 0x03;
const U_DISC: u8 = 0x43;
const U_UA: u8 = 0x63;
const U_FRMR: u8 = 0x87;
const U_XID: u8 = 0xaf;
const U_PF: u8 = 0x10;

/// A checked view of one LAPD frame without FCS: 2 address octets, 1 (U) or 2 (I, S) control
/// octets, then the information field (Q.921 §2.1, §3). Only the length and the address
/// extension bits are checked here; [`Repr::parse`] checks the rest.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap `buffer` after checking it holds address and a control octet, and that the address
    /// extension bits are valid. Errors: [`Error::Truncated`], [`Error::BadAddress`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        match b {
            [a0, a1, _, ..] => {
                if a0 & 1 != 0 || a1 & 1 != 1 {
                    return Err(Error::BadAddress);
                }
            }
            _ => return Err(Error::Truncated),
        }
        Ok(Packet { buffer })
    }

    fn octet(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    /// SAPI (6 bits of address octet 1).
    pub fn sapi(&self) -> u8 {
        self.octet(0) >> 2
    }

    /// C/R bit of address octet 1.
    pub fn cr(&self) -> bool {
        self.octet(0) & 0x02 != 0
    }

    /// TEI (7 bits of address octet 2).
    pub fn tei(&self) -> u8 {
        self.octet(1) >> 1
    }

    /// The first control octet.
    pub fn control(&self) -> u8 {
        self.octet(2)
    }

    /// The whole frame.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A parsed LAPD frame (Q.921 §3): address fields, frame type, P/F bit and information field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Service access point identifier, 0..=63.
    pub sapi: u8,
    /// Command/response bit as on the wire; see [`super::Side::cr_bit`] for its meaning.
    pub cr: bool,
    /// Terminal endpoint identifier, 0..=127.
    pub tei: u8,
    /// Frame type with its sequence numbers.
    pub kind: Kind,
    /// Poll (command) or final (response) bit.
    pub pf: bool,
    /// Information field: the layer-3 message of I and UI frames, 5 octets of FRMR, XID
    /// parameters; empty for every other type.
    pub info: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parse a checked packet. Errors: [`Error::UndefinedControl`] (W), [`Error::BadLength`] (X),
    /// [`Error::TooLong`] (Y), [`Error::Truncated`].
    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<Self, Error> {
        Self::parse_bytes(packet.buffer)
    }

    /// Parse one frame from raw bytes (checks of [`Packet::new_checked`] included).
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        let packet = Packet::new_checked(bytes)?;
        let (sapi, cr, tei, c0) = (packet.sapi(), packet.cr(), packet.tei(), packet.control());
        let rest = bytes.get(3..).unwrap_or(&[]);
        let (kind, pf, info) = if c0 & 0x01 == 0 {
            let [c1, info @ ..] = rest else {
                return Err(Error::Truncated);
            };
            (
                Kind::I {
                    ns: c0 >> 1,
                    nr: c1 >> 1,
                },
                c1 & 1 != 0,
                info,
            )
        } else if c0 & 0x03 == 0x01 {
            let [c1, info @ ..] = rest else {
                return Err(Error::Truncated);
            };
            let nr = c1 >> 1;
            let kind = match c0 {
                0x01 => Kind::Rr { nr },
                0x05 => Kind::Rnr { nr },
                0x09 => Kind::Rej { nr },
                _ => return Err(Error::UndefinedControl),
            };
            if !info.is_empty() {
                return Err(Error::BadLength);
            }
            (kind, c1 & 1 != 0, info)
        } else {
            let kind = match c0 & !U_PF {
                U_SABME => Kind::Sabme,
                U_DM => Kind::Dm,
                U_UI => Kind::Ui,
                U_DISC => Kind::Disc,
                U_UA => Kind::Ua,
                U_FRMR => Kind::Frmr,
                U_XID => Kind::Xid,
                _ => return Err(Error::UndefinedControl),
            };
            let info_allowed = matches!(kind, Kind::Ui | Kind::Frmr | Kind::Xid);
            if !info_allowed && !rest.is_empty() {
                return Err(Error::BadLength);
            }
            (kind, c0 & U_PF != 0, rest)
        };
        if info.len() > N201 {
            return Err(Error::TooLong);
        }
        Ok(Repr {
            sapi,
            cr,
            tei,
            kind,
            pf,
            info,
        })
    }

    /// Length of the emitted frame in octets.
    pub fn buffer_len(&self) -> usize {
        let control = match self.kind {
            Kind::I { .. } | Kind::Rr { .. } | Kind::Rnr { .. } | Kind::Rej { .. } => 2,
            _ => 1,
        };
        2 + control + self.info.len()
    }

    /// Append the frame to `out`. Sequence numbers are taken modulo 128, SAPI modulo 64 and TEI
    /// modulo 128, so emitting never fails.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.reserve(self.buffer_len());
        out.push(((self.sapi & 0x3f) << 2) | (u8::from(self.cr) << 1));
        out.push(((self.tei & 0x7f) << 1) | 1);
        let pf = u8::from(self.pf);
        let seq = |n: u8| (n & 0x7f) << 1;
        match self.kind {
            Kind::I { ns, nr } => out.extend_from_slice(&[seq(ns), seq(nr) | pf]),
            Kind::Rr { nr } => out.extend_from_slice(&[0x01, seq(nr) | pf]),
            Kind::Rnr { nr } => out.extend_from_slice(&[0x05, seq(nr) | pf]),
            Kind::Rej { nr } => out.extend_from_slice(&[0x09, seq(nr) | pf]),
            u => {
                let c = match u {
                    Kind::Sabme => U_SABME,
                    Kind::Dm => U_DM,
                    Kind::Ui => U_UI,
                    Kind::Disc => U_DISC,
                    Kind::Ua => U_UA,
                    Kind::Frmr => U_FRMR,
                    _ => U_XID,
                };
                out.push(c | if self.pf { U_PF } else { 0 });
            }
        }
        out.extend_from_slice(self.info);
    }

    /// The emitted frame as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(&mut v);
        v
    }
}

/// One line in the manner of libpri's `q921_dump` and tshark's LAPD summary: frame type with
/// its sequence numbers, then address, P/F bit and information length, e.g.
/// `I N(S)=3 N(R)=5 SAPI=0 TEI=0 C/R=0 P=0 len=31`, `RR N(R)=4 SAPI=0 TEI=0 C/R=1 P/F=1`,
/// `SABME SAPI=0 TEI=0 C/R=0 P=1`. The bit is named P on frames that are always commands (I,
/// SABME, DISC, UI), F on frames that are always responses (DM, UA, FRMR) and P/F otherwise:
/// which one a supervisory frame carries depends on the sender's side (Q.921 Table 1),
/// which a frame alone does not tell.
impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, bit) = match self.kind {
            Kind::I { .. } => ("I", "P"),
            Kind::Rr { .. } => ("RR", "P/F"),
            Kind::Rnr { .. } => ("RNR", "P/F"),
            Kind::Rej { .. } => ("REJ", "P/F"),
            Kind::Sabme => ("SABME", "P"),
            Kind::Disc => ("DISC", "P"),
            Kind::Ui => ("UI", "P"),
            Kind::Dm => ("DM", "F"),
            Kind::Ua => ("UA", "F"),
            Kind::Frmr => ("FRMR", "F"),
            Kind::Xid => ("XID", "P/F"),
        };
        f.write_str(name)?;
        match self.kind {
            Kind::I { ns, nr } => write!(f, " N(S)={ns} N(R)={nr}")?,
            Kind::Rr { nr } | Kind::Rnr { nr } | Kind::Rej { nr } => write!(f, " N(R)={nr}")?,
            _ => {}
        }
        write!(
            f,
            " SAPI={} TEI={} C/R={} {bit}={}",
            self.sapi,
            self.tei,
            u8::from(self.cr),
            u8::from(self.pf)
        )?;
        if matches!(self.kind, Kind::I { .. }) || !self.info.is_empty() {
            write!(f, " len={}", self.info.len())?;
        }
        Ok(())
    }
}
