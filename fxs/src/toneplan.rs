//! The tone-string grammar of DAHDI's `zonedata.c` and Asterisk's `indications.conf`, parsed strictly.
//!
//! ```text
//! sequence = element *( "," element )       ; spaces allowed around elements
//! element  = [ "!" ] freq [ ( "+" | "*" ) freq ] [ "/" ms ]
//! ```
//!
//! `!` plays the element once; the sequence loops from its first element without `!`; an element
//! without `/ms` is continuous (and must therefore be the last); `f1+f2` is the sum of two sines,
//! `f1*f2` is `f1` amplitude-modulated by `f2` (90 % depth, as Asterisk); a lone `0` is silence.
//! Frequencies are in Hz (1..=3999, below the 4 kHz Nyquist limit of 8 kHz sampling), durations in
//! ms (1..=60000). The `@` (attenuated) variant of dahdi-tools is not supported and is rejected.
//! Unlike libtonezone's `sscanf`, nothing is silently dropped: `!400/100!0/100` (DAHDI's `nz` entry,
//! a missing comma) is an error at column 9.

use std::fmt;
use std::str::FromStr;

/// Highest frequency accepted in a tone string, Hz (below the Nyquist limit of 8 kHz sampling).
pub const MAX_FREQ_HZ: u16 = 3999;
/// Longest element duration accepted in a tone string, ms.
pub const MAX_DURATION_MS: u32 = 60_000;

/// How the second frequency of an element combines with the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mix {
    /// `f1+f2`: two sines, each at the plan's level.
    Sum,
    /// `f1*f2`: the carrier `f1` amplitude-modulated by `f2` at 90 % depth.
    Am,
}

/// One element `[!]f1[+|*f2][/ms]` of a tone string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ToneElement {
    /// `!`: played once, not part of the loop.
    pub once: bool,
    /// First (or carrier) frequency in Hz; 0 = silence (then `second` is `None`).
    pub f1: u16,
    /// Second frequency in Hz and how it combines with `f1`.
    pub second: Option<(Mix, u16)>,
    /// Duration in ms; `None` = continuous.
    pub duration_ms: Option<u32>,
}

impl ToneElement {
    /// True for the silence element `0`.
    pub fn is_silence(&self) -> bool {
        self.f1 == 0
    }
}

impl fmt::Display for ToneElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.once {
            f.write_str("!")?;
        }
        write!(f, "{}", self.f1)?;
        match self.second {
            Some((Mix::Sum, f2)) => write!(f, "+{f2}")?,
            Some((Mix::Am, f2)) => write!(f, "*{f2}")?,
            None => {}
        }
        if let Some(ms) = self.duration_ms {
            write!(f, "/{ms}")?;
        }
        Ok(())
    }
}

/// A parsed, validated tone string: a non-empty list of elements (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ToneSeq {
    elements: Vec<ToneElement>,
}

impl ToneSeq {
    /// Parse a tone string strictly; see the module doc for the grammar.
    ///
    /// Errors: [`ParseError`] with the byte offset of the first offending character.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        Parser {
            s: s.as_bytes(),
            pos: 0,
        }
        .sequence()
    }

    /// Build a sequence from elements, applying the same rules as [`ToneSeq::parse`]
    /// (the error position is then the element index).
    pub fn from_elements(elements: Vec<ToneElement>) -> Result<Self, ParseError> {
        let starts: Vec<usize> = (0..elements.len()).collect();
        for (i, e) in elements.iter().enumerate() {
            check_element(e, i)?;
        }
        validate(&elements, &starts)?;
        Ok(Self { elements })
    }

    /// The elements in order.
    pub fn elements(&self) -> &[ToneElement] {
        &self.elements
    }

    /// Index of the first element without `!`, where playback loops back to; `None` if every
    /// element is `!` (silence after the last one).
    pub fn loop_start(&self) -> Option<usize> {
        self.elements.iter().position(|e| !e.once)
    }
}

impl fmt::Display for ToneSeq {
    /// The canonical tone string (no spaces); parses back to an equal sequence.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.elements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl FromStr for ToneSeq {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What is wrong with a tone string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The string (or an element) is empty.
    Empty,
    /// A frequency was expected; `found` is the character there (`None` = end of string).
    ExpectedFrequency {
        /// Offending character, `None` at the end of the string.
        found: Option<char>,
    },
    /// A duration in ms was expected after `/`.
    ExpectedDuration {
        /// Offending character, `None` at the end of the string.
        found: Option<char>,
    },
    /// After an element only `,` or the end of the string may follow (a missing comma).
    ExpectedComma {
        /// Offending character.
        found: char,
    },
    /// The `@` (attenuated) variant is not supported.
    UnsupportedAttenuation,
    /// A frequency outside 1..=3999 Hz (0 is only allowed alone, as silence).
    FrequencyOutOfRange {
        /// The value read, saturated at `u32::MAX`.
        hz: u32,
    },
    /// A duration outside 1..=60000 ms.
    DurationOutOfRange {
        /// The value read, saturated at `u32::MAX`.
        ms: u32,
    },
    /// Silence (`0`) combined with a second frequency.
    SilenceWithSecondFrequency,
    /// A continuous element (no `/ms`) that is not the last: what follows could never play.
    ContinuousNotLast,
    /// A `!` element after the loop has started: the loop point would be ambiguous.
    OnceAfterLoopStart,
}

/// A tone-string error: what and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset (0-based) of the offending character or element in the string.
    pub pos: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

fn show(c: Option<char>) -> String {
    match c {
        Some(c) => format!("{c:?}"),
        None => "end of string".to_owned(),
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tone string, column {}: ", self.pos + 1)?;
        match self.kind {
            ParseErrorKind::Empty => f.write_str("empty element"),
            ParseErrorKind::ExpectedFrequency { found } => {
                write!(f, "expected a frequency in Hz, found {}", show(found))
            }
            ParseErrorKind::ExpectedDuration { found } => {
                write!(
                    f,
                    "expected a duration in ms after '/', found {}",
                    show(found)
                )
            }
            ParseErrorKind::ExpectedComma { found } => write!(
                f,
                "expected ',' or end of string after an element, found {found:?} (missing comma?)"
            ),
            ParseErrorKind::UnsupportedAttenuation => {
                f.write_str("the '@' (attenuated) variant is not supported")
            }
            ParseErrorKind::FrequencyOutOfRange { hz } => {
                write!(f, "frequency {hz} Hz out of range 1..={MAX_FREQ_HZ}")
            }
            ParseErrorKind::DurationOutOfRange { ms } => {
                write!(f, "duration {ms} ms out of range 1..={MAX_DURATION_MS}")
            }
            ParseErrorKind::SilenceWithSecondFrequency => {
                f.write_str("silence '0' cannot have a second frequency")
            }
            ParseErrorKind::ContinuousNotLast => {
                f.write_str("continuous element (no '/ms') must be the last one")
            }
            ParseErrorKind::OnceAfterLoopStart => {
                f.write_str("'!' element after the first looping element")
            }
        }
    }
}

impl std::error::Error for ParseError {}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn found(&self) -> Option<char> {
        // Report the whole UTF-8 character at pos, if any.
        let rest = self.s.get(self.pos..).filter(|r| !r.is_empty())?;
        let text = match std::str::from_utf8(rest) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(rest.get(..e.valid_up_to())?).ok()?,
        };
        text.chars().next().or(Some(char::REPLACEMENT_CHARACTER))
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Digits as a saturating u32; `None` if there is no digit at pos.
    fn number(&mut self) -> Option<u32> {
        let start = self.pos;
        let mut v: u32 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            v = v.saturating_mul(10).saturating_add(u32::from(d - b'0'));
            self.pos += 1;
        }
        (self.pos > start).then_some(v)
    }

    fn freq(&mut self, allow_zero: bool) -> Result<u16, ParseError> {
        let at = self.pos;
        let Some(hz) = self.number() else {
            return Err(self.err(ParseErrorKind::ExpectedFrequency {
                found: self.found(),
            }));
        };
        if (hz == 0 && !allow_zero) || hz > u32::from(MAX_FREQ_HZ) {
            return Err(ParseError {
                pos: at,
                kind: ParseErrorKind::FrequencyOutOfRange { hz },
            });
        }
        Ok(hz as u16)
    }

    fn err(&self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            pos: self.pos,
            kind,
        }
    }

    fn element(&mut self) -> Result<ToneElement, ParseError> {
        let once = self.peek() == Some(b'!');
        if once {
            self.pos += 1;
        }
        if matches!(self.peek(), None | Some(b',')) && !once {
            return Err(self.err(ParseErrorKind::Empty));
        }
        let f1_at = self.pos;
        let f1 = self.freq(true)?;
        let second = match self.peek() {
            Some(op @ (b'+' | b'*')) => {
                if f1 == 0 {
                    return Err(ParseError {
                        pos: f1_at,
                        kind: ParseErrorKind::SilenceWithSecondFrequency,
                    });
                }
                self.pos += 1;
                let mix = if op == b'+' { Mix::Sum } else { Mix::Am };
                Some((mix, self.freq(false)?))
            }
            _ => None,
        };
        if self.peek() == Some(b'@') {
            return Err(self.err(ParseErrorKind::UnsupportedAttenuation));
        }
        let duration_ms = if self.peek() == Some(b'/') {
            self.pos += 1;
            let at = self.pos;
            let Some(ms) = self.number() else {
                return Err(self.err(ParseErrorKind::ExpectedDuration {
                    found: self.found(),
                }));
            };
            if ms == 0 || ms > MAX_DURATION_MS {
                return Err(ParseError {
                    pos: at,
                    kind: ParseErrorKind::DurationOutOfRange { ms },
                });
            }
            Some(ms)
        } else {
            None
        };
        Ok(ToneElement {
            once,
            f1,
            second,
            duration_ms,
        })
    }

    fn sequence(mut self) -> Result<ToneSeq, ParseError> {
        let mut elements = Vec::new();
        let mut starts = Vec::new();
        loop {
            self.skip_spaces();
            starts.push(self.pos);
            elements.push(self.element()?);
            self.skip_spaces();
            match self.peek() {
                None => break,
                Some(b',') => self.pos += 1,
                Some(b'@') => return Err(self.err(ParseErrorKind::UnsupportedAttenuation)),
                Some(_) => {
                    let found = self.found().unwrap_or(char::REPLACEMENT_CHARACTER);
                    return Err(self.err(ParseErrorKind::ExpectedComma { found }));
                }
            }
        }
        validate(&elements, &starts)?;
        Ok(ToneSeq { elements })
    }
}

/// Range checks of one element built by hand (the parser checks these while reading).
fn check_element(e: &ToneElement, pos: usize) -> Result<(), ParseError> {
    let err = |kind| Err(ParseError { pos, kind });
    if e.f1 > MAX_FREQ_HZ {
        return err(ParseErrorKind::FrequencyOutOfRange {
            hz: u32::from(e.f1),
        });
    }
    if let Some((_, f2)) = e.second {
        if e.f1 == 0 {
            return err(ParseErrorKind::SilenceWithSecondFrequency);
        }
        if f2 == 0 || f2 > MAX_FREQ_HZ {
            return err(ParseErrorKind::FrequencyOutOfRange { hz: u32::from(f2) });
        }
    }
    match e.duration_ms {
        Some(ms) if ms == 0 || ms > MAX_DURATION_MS => {
            err(ParseErrorKind::DurationOutOfRange { ms })
        }
        _ => Ok(()),
    }
}

/// Sequence-level rules; `starts[i]` is the position reported for element `i`.
fn validate(elements: &[ToneElement], starts: &[usize]) -> Result<(), ParseError> {
    if elements.is_empty() {
        return Err(ParseError {
            pos: 0,
            kind: ParseErrorKind::Empty,
        });
    }
    let last = elements.len() - 1;
    let mut looping = false;
    for (i, (e, &pos)) in elements.iter().zip(starts).enumerate() {
        if e.duration_ms.is_none() && i != last {
            return Err(ParseError {
                pos,
                kind: ParseErrorKind::ContinuousNotLast,
            });
        }
        if e.once && looping {
            return Err(ParseError {
                pos,
                kind: ParseErrorKind::OnceAfterLoopStart,
            });
        }
        looping |= !e.once;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> ParseError {
        ToneSeq::parse(s).expect_err(s)
    }

    #[test]
    fn parses_all_forms() {
        let seq = ToneSeq::parse("!350+440/100,!0/100, 400*25/500 ,425").unwrap();
        assert_eq!(
            seq.elements(),
            &[
                ToneElement {
                    once: true,
                    f1: 350,
                    second: Some((Mix::Sum, 440)),
                    duration_ms: Some(100)
                },
                ToneElement {
                    once: true,
                    f1: 0,
                    second: None,
                    duration_ms: Some(100)
                },
                ToneElement {
                    once: false,
                    f1: 400,
                    second: Some((Mix::Am, 25)),
                    duration_ms: Some(500)
                },
                ToneElement {
                    once: false,
                    f1: 425,
                    second: None,
                    duration_ms: None
                },
            ]
        );
        assert_eq!(seq.loop_start(), Some(2));
        assert_eq!(seq.to_string(), "!350+440/100,!0/100,400*25/500,425");
    }

    #[test]
    fn rejects_with_position() {
        let e = err("!400/100!0/100,400");
        assert_eq!(e.pos, 8);
        assert_eq!(e.kind, ParseErrorKind::ExpectedComma { found: '!' });
        assert_eq!(
            e.to_string(),
            "tone string, column 9: expected ',' or end of string after an element, found '!' (missing comma?)"
        );
        assert_eq!(err("").kind, ParseErrorKind::Empty);
        assert_eq!(err("425,").pos, 4);
        assert_eq!(
            err("425/").kind,
            ParseErrorKind::ExpectedDuration { found: None }
        );
        assert_eq!(
            err("425/0").kind,
            ParseErrorKind::DurationOutOfRange { ms: 0 }
        );
        assert_eq!(
            err("4000").kind,
            ParseErrorKind::FrequencyOutOfRange { hz: 4000 }
        );
        assert_eq!(
            err("0+440").kind,
            ParseErrorKind::SilenceWithSecondFrequency
        );
        assert_eq!(
            err("350+375+400").kind,
            ParseErrorKind::ExpectedComma { found: '+' }
        );
        assert_eq!(err("350+375+400").pos, 7);
        assert_eq!(err("425,0/50").kind, ParseErrorKind::ContinuousNotLast);
        assert_eq!(
            err("425/100,!0/100").kind,
            ParseErrorKind::OnceAfterLoopStart
        );
        assert_eq!(err("425/100,!0/100").pos, 8);
        assert_eq!(err("425@/100").kind, ParseErrorKind::UnsupportedAttenuation);
        assert_eq!(
            err("x").kind,
            ParseErrorKind::ExpectedFrequency { found: Some('x') }
        );
        assert_eq!(
            err("425/1é").kind,
            ParseErrorKind::ExpectedComma { found: 'é' }
        );
        assert_eq!(
            err("!").kind,
            ParseErrorKind::ExpectedFrequency { found: None }
        );
    }

    #[test]
    fn all_once_has_no_loop() {
        let seq = ToneSeq::parse("!425/100,!0/100").unwrap();
        assert_eq!(seq.loop_start(), None);
    }
}
