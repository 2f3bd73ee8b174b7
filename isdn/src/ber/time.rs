//! GeneralizedTime (X.680 §46), the one time type of the SS-MWI arguments.

use super::Error;
use std::fmt;

/// A GeneralizedTime value (X.680 §46), kept as its validated text so that it re-encodes
/// octet for octet.
///
/// Accepted: `YYYYMMDDHH[MM[SS[(.|,)f+]]][Z|(+|-)HHMM]` with calendar-plausible fields
/// (month 1-12, day 1-31, hour 0-23, minute 0-59, second 0-60).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GeneralizedTime(String);

impl GeneralizedTime {
    /// Validates `text`. Errors: [`Error::BadString`] for anything that is not a
    /// GeneralizedTime.
    pub fn new(text: &str) -> Result<GeneralizedTime, Error> {
        let b = text.as_bytes();
        let num = |from: usize, to: usize| -> Option<u32> {
            let s = b.get(from..to)?;
            if s.iter().all(u8::is_ascii_digit) {
                Some(s.iter().fold(0, |a, &d| a * 10 + u32::from(d - b'0')))
            } else {
                None
            }
        };
        let bad = Error::BadString;
        num(0, 4).ok_or(bad)?;
        let month = num(4, 6).ok_or(bad)?;
        let day = num(6, 8).ok_or(bad)?;
        let hour = num(8, 10).ok_or(bad)?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 {
            return Err(bad);
        }
        let mut pos = 10;
        if let Some(minute) = num(10, 12) {
            if minute > 59 {
                return Err(bad);
            }
            pos = 12;
            if let Some(second) = num(12, 14) {
                if second > 60 {
                    return Err(bad);
                }
                pos = 14;
                if matches!(b.get(14), Some(b'.') | Some(b',')) {
                    let digits = b[15..].iter().take_while(|c| c.is_ascii_digit()).count();
                    if digits == 0 {
                        return Err(bad);
                    }
                    pos = 15 + digits;
                }
            }
        }
        match &b[pos..] {
            [] | [b'Z'] => {}
            [b'+' | b'-', ..] => {
                let zh = num(pos + 1, pos + 3).ok_or(bad)?;
                let zm = num(pos + 3, pos + 5).ok_or(bad)?;
                if b.len() != pos + 5 || zh > 23 || zm > 59 {
                    return Err(bad);
                }
            }
            _ => return Err(bad),
        }
        Ok(GeneralizedTime(text.to_owned()))
    }

    /// The UTC time `YYYYMMDDHHMMSSZ`, as libpri and most PBXs send it. Errors:
    /// [`Error::BadString`] if a field is out of range.
    pub fn utc(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Result<GeneralizedTime, Error> {
        if year > 9999 {
            return Err(Error::BadString);
        }
        GeneralizedTime::new(&format!(
            "{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}Z"
        ))
    }

    /// The text as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GeneralizedTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
