//! Digit maps (MGCP, RFC 3435 §2.1.5, in the form ATAs use) and the sans-IO collector that
//! decides when the digits a phone dials make a number.
//!
//! Grammar (RFC 3435 §2.1.5, without the event letters E-K): a map is one digit string, or
//! `(` alternatives separated by `|` `)`. A digit string is a sequence of elements:
//! - `0`-`9`, `*`, `#`, `A`-`D`: that digit;
//! - `x`: any of 0-9;
//! - `[...]`: any digit of a set of digits, `*`, `#`, `A`-`D` and ranges `2-9`;
//! - `.` after an element: that element zero or more times;
//! - `T` at the end: the alternative matches only once the short inter-digit timer expires.
//!
//! Matching (RFC 3435 §2.1.5 and the ATAs' "short/long inter-digit timer"): after each digit the
//! dialled string is
//! - complete when it matches an alternative without `T` and no alternative can match a longer
//!   string: [`DigitMapEvent::Complete`] at once;
//! - a match that could still grow (or that waits for `T`): the short timer (default 4 s) runs;
//!   its expiry completes the number;
//! - a prefix of some alternative only: the long timer (default 16 s) runs; its expiry ends in
//!   [`DigitMapEvent::NoMatch`];
//! - a prefix of none: [`DigitMapEvent::NoMatch`] at once (the phone hears reorder).
//!
//! Before the first digit the long timer runs; its expiry is [`DigitMapEvent::Timeout`].
//!
//! ```
//! use fxs::digitmap::{DigitCollector, DigitMap, DigitMapEvent, DigitTiming};
//! use sansio::{Core, Duration, Instant};
//!
//! let map: DigitMap = "(*xx|[2-9]xxx|9[2-9]xxxxxx|x.T)".parse().unwrap();
//! let t0 = Instant::now();
//! let mut c = DigitCollector::new(t0, map, DigitTiming::default());
//! for d in "*98".chars() {
//!     c.handle_digit(t0, d).unwrap();
//! }
//! assert_eq!(c.poll_event(), Some(DigitMapEvent::Complete { digits: "*98".into() }));
//! assert_eq!(c.poll_timeout(), None);
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use sansio::{Core, Duration, Instant, Timers};

/// Longest digit map accepted, in characters (a bound on matching work per digit).
pub const MAX_MAP_CHARS: usize = 1024;
/// Longest dialled string, in digits (E.164 numbers have at most 15 digits, ITU-T E.164 §6;
/// room is left for prefixes and service codes). A string that reaches it without completing
/// ends the collection: [`DigitMapEvent::Complete`] if it matches, [`DigitMapEvent::NoMatch`]
/// otherwise.
pub const MAX_DIGITS: usize = 32;

/// The keys of a DTMF keypad, in the bit order of [`DigitSet`] (ITU-T Q.23).
const KEYS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// The bit of `key` (`a`-`d` taken as `A`-`D`), `None` for a character that is no key.
fn key_bit(key: char) -> Option<u16> {
    let k = key.to_ascii_uppercase();
    KEYS.iter().position(|&c| c == k).map(|i| 1 << i)
}

/// A set of keys: bit `i` is `KEYS[i]`.
type DigitSet = u16;
/// `x`: the digits 0-9.
const ANY_DIGIT: DigitSet = 0x03FF;

/// One element of a digit string: a set of keys, possibly repeated (`.`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Element {
    set: DigitSet,
    repeat: bool,
}

/// One alternative of a map: its elements and whether it ends in `T`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Alternative {
    elements: Vec<Element>,
    timer: bool,
}

impl Alternative {
    /// Positions reachable without consuming a key from those in `states` (a repeated element
    /// may match zero times).
    fn close(&self, states: &mut [bool]) {
        for i in 0..self.elements.len() {
            if states[i] && self.elements[i].repeat {
                states[i + 1] = true;
            }
        }
    }

    /// The positions (0..=len) reached after `digits`; position `len` is a full match.
    fn states(&self, digits: &[u16]) -> Vec<bool> {
        let n = self.elements.len();
        let mut states = vec![false; n + 1];
        states[0] = true;
        self.close(&mut states);
        for &bit in digits {
            let mut next = vec![false; n + 1];
            for (i, e) in self.elements.iter().enumerate() {
                if states[i] && e.set & bit != 0 {
                    next[if e.repeat { i } else { i + 1 }] = true;
                }
            }
            self.close(&mut next);
            states = next;
        }
        states
    }
}

/// How a dialled string stands against a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// No alternative can match it, whatever follows.
    NoMatch,
    /// A prefix of some alternative, a match of none: wait for more (the long timer).
    Partial,
    /// A match, but a longer string may match too or the match waits for `T`: wait for more
    /// (the short timer).
    Ambiguous,
    /// A match of an alternative without `T` that no longer string can better.
    Complete,
}

/// A parsed digit map (RFC 3435 §2.1.5). Parse with [`str::parse`]; errors are
/// [`DigitMapError`] with the 1-based column of the offending character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitMap {
    alternatives: Vec<Alternative>,
}

impl DigitMap {
    /// This map with `other`'s alternatives after its own: a string matches the union
    /// (RFC 3435 §2.1.5), e.g. a port's dial plan and its voice-mail pilot.
    pub fn or(mut self, other: DigitMap) -> DigitMap {
        self.alternatives.extend(other.alternatives);
        self
    }

    /// How the dialled string `digits` (keys `0`-`9`, `*`, `#`, `A`-`D`) stands against the map;
    /// a string holding any other character is [`Match::NoMatch`].
    pub fn classify(&self, digits: &str) -> Match {
        let Some(bits) = digits.chars().map(key_bit).collect::<Option<Vec<_>>>() else {
            return Match::NoMatch;
        };
        self.classify_bits(&bits)
    }

    fn classify_bits(&self, bits: &[u16]) -> Match {
        let (mut full, mut timed, mut longer) = (false, false, false);
        for alt in &self.alternatives {
            let states = alt.states(bits);
            let n = alt.elements.len();
            if states[n] {
                if alt.timer {
                    timed = true;
                } else {
                    full = true;
                }
            }
            longer |= states[..n].iter().any(|&s| s);
        }
        match (full, timed, longer) {
            (true, _, false) => Match::Complete,
            (true, _, true) | (false, true, _) => Match::Ambiguous,
            (false, false, true) => Match::Partial,
            (false, false, false) => Match::NoMatch,
        }
    }
}

/// Why a digit map does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DigitMapErrorKind {
    /// The map is empty.
    Empty,
    /// The map is longer than [`MAX_MAP_CHARS`].
    TooLong,
    /// A character that has no meaning at this place.
    Unexpected(char),
    /// An alternative (between `(`, `|` and `)`) has no element.
    EmptyAlternative,
    /// An alternative holds only `T`: it would match nothing dialled.
    NoDigit,
    /// `|` outside parentheses: alternatives need `(...)` (RFC 3435 §2.1.5).
    BarOutsideParens,
    /// `(` is not closed by `)`.
    UnclosedParen,
    /// Text after the closing `)`.
    TrailingText,
    /// `[` is not closed by `]`.
    UnclosedBracket,
    /// `[]`: a set with no key.
    EmptySet,
    /// A range whose bounds are not digits or whose lower bound exceeds the upper (`[9-2]`).
    BadRange,
    /// `.` with no element before it, or after another `.`.
    LoneDot,
    /// `T` not at the end of its alternative.
    TimerNotLast,
}

/// A digit map that does not parse: where (1-based character column) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitMapError {
    /// Column of the offending character (1-based, in characters); one past the end for
    /// errors found at the end of the map.
    pub column: usize,
    /// The reason.
    pub kind: DigitMapErrorKind,
}

impl fmt::Display for DigitMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DigitMapErrorKind::*;
        write!(f, "column {}: ", self.column)?;
        match &self.kind {
            Empty => write!(f, "empty digit map"),
            TooLong => write!(f, "digit map longer than {MAX_MAP_CHARS} characters"),
            Unexpected(c) => write!(
                f,
                "unexpected {c:?}: expected a digit, *, #, A-D, x, [set], '.', T, '|' or ')'"
            ),
            EmptyAlternative => write!(f, "empty alternative"),
            NoDigit => write!(f, "alternative without any digit"),
            BarOutsideParens => write!(f, "'|' outside parentheses: write (a|b)"),
            UnclosedParen => write!(f, "'(' not closed by ')'"),
            TrailingText => write!(f, "text after the closing ')'"),
            UnclosedBracket => write!(f, "'[' not closed by ']'"),
            EmptySet => write!(f, "empty set []"),
            BadRange => write!(f, "bad range: expected digit-digit, low to high"),
            LoneDot => write!(f, "'.' must follow a digit, x or [set]"),
            TimerNotLast => write!(f, "T must end its alternative"),
        }
    }
}

impl std::error::Error for DigitMapError {}

/// Parser state: the characters and the position (0-based index into them).
struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn err(&self, kind: DigitMapErrorKind) -> DigitMapError {
        DigitMapError {
            column: self.pos + 1,
            kind,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// One alternative, up to (not including) `|`, `)` or the end.
    fn alternative(&mut self, in_parens: bool) -> Result<Alternative, DigitMapError> {
        let start = self.pos;
        let mut elements: Vec<Element> = Vec::new();
        let mut timer = false;
        let mut dotted = false;
        while let Some(c) = self.peek() {
            match c {
                '|' if !in_parens => return Err(self.err(DigitMapErrorKind::BarOutsideParens)),
                '|' | ')' => break,
                _ if timer => return Err(self.err(DigitMapErrorKind::TimerNotLast)),
                'T' | 't' => {
                    timer = true;
                    self.pos += 1;
                }
                '.' => {
                    match elements.last_mut() {
                        Some(e) if !dotted => e.repeat = true,
                        _ => return Err(self.err(DigitMapErrorKind::LoneDot)),
                    }
                    dotted = true;
                    self.pos += 1;
                }
                'x' | 'X' => {
                    elements.push(Element {
                        set: ANY_DIGIT,
                        repeat: false,
                    });
                    dotted = false;
                    self.pos += 1;
                }
                '[' => {
                    let set = self.set()?;
                    elements.push(Element { set, repeat: false });
                    dotted = false;
                }
                _ => match key_bit(c) {
                    Some(bit) => {
                        elements.push(Element {
                            set: bit,
                            repeat: false,
                        });
                        dotted = false;
                        self.pos += 1;
                    }
                    None => return Err(self.err(DigitMapErrorKind::Unexpected(c))),
                },
            }
        }
        if self.pos == start {
            return Err(self.err(DigitMapErrorKind::EmptyAlternative));
        }
        if elements.is_empty() {
            return Err(DigitMapError {
                column: start + 1,
                kind: DigitMapErrorKind::NoDigit,
            });
        }
        Ok(Alternative { elements, timer })
    }

    /// `[...]` at the current position.
    fn set(&mut self) -> Result<DigitSet, DigitMapError> {
        let open = self.pos;
        self.pos += 1;
        let mut set: DigitSet = 0;
        loop {
            let Some(c) = self.peek() else {
                return Err(DigitMapError {
                    column: open + 1,
                    kind: DigitMapErrorKind::UnclosedBracket,
                });
            };
            if c == ']' {
                if set == 0 {
                    return Err(self.err(DigitMapErrorKind::EmptySet));
                }
                self.pos += 1;
                return Ok(set);
            }
            if c == '-' {
                return Err(self.err(DigitMapErrorKind::BadRange));
            }
            let Some(bit) = key_bit(c) else {
                return Err(self.err(DigitMapErrorKind::Unexpected(c)));
            };
            if self.chars.get(self.pos + 1) == Some(&'-') {
                let hi = self.chars.get(self.pos + 2).copied();
                let (lo, hi) = match (c.to_digit(10), hi.and_then(|h| h.to_digit(10))) {
                    (Some(lo), Some(hi)) if lo <= hi => (lo, hi),
                    _ => return Err(self.err(DigitMapErrorKind::BadRange)),
                };
                for d in lo..=hi {
                    set |= 1 << d;
                }
                self.pos += 3;
            } else {
                set |= bit;
                self.pos += 1;
            }
        }
    }
}

impl FromStr for DigitMap {
    type Err = DigitMapError;

    /// Parse a digit map, e.g. `(*xx|[2-9]xxx|9[2-9]xxxxxx|x.T)`. Errors name the 1-based
    /// column and the reason ([`DigitMapErrorKind`]).
    fn from_str(s: &str) -> Result<Self, DigitMapError> {
        let mut p = Parser {
            chars: s.chars().collect(),
            pos: 0,
        };
        if p.chars.len() > MAX_MAP_CHARS {
            p.pos = MAX_MAP_CHARS;
            return Err(p.err(DigitMapErrorKind::TooLong));
        }
        if p.chars.is_empty() {
            return Err(p.err(DigitMapErrorKind::Empty));
        }
        let mut alternatives = Vec::new();
        if p.peek() == Some('(') {
            let open = p.pos;
            p.pos += 1;
            loop {
                alternatives.push(p.alternative(true)?);
                match p.peek() {
                    Some('|') => p.pos += 1,
                    Some(_) => {
                        p.pos += 1;
                        break;
                    }
                    None => {
                        return Err(DigitMapError {
                            column: open + 1,
                            kind: DigitMapErrorKind::UnclosedParen,
                        })
                    }
                }
            }
            if p.pos < p.chars.len() {
                return Err(p.err(DigitMapErrorKind::TrailingText));
            }
        } else {
            alternatives.push(p.alternative(false)?);
            if p.peek() == Some(')') {
                return Err(p.err(DigitMapErrorKind::Unexpected(')')));
            }
        }
        Ok(DigitMap { alternatives })
    }
}

/// The inter-digit timers (RFC 3435 §2.1.5 `T`; ATAs' "short" and "long" inter-digit timers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigitTiming {
    /// After a string that matches but may grow, or waits for `T` (default 4 s).
    pub short: Duration,
    /// Before the first digit, and after a string that only partly matches (default 16 s).
    pub long: Duration,
}

impl Default for DigitTiming {
    fn default() -> Self {
        Self {
            short: Duration::from_secs(4),
            long: Duration::from_secs(16),
        }
    }
}

/// What the collector reports; exactly one per collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DigitMapEvent {
    /// The number dialled (keys as dialled, `A`-`D` upper case).
    Complete {
        /// The dialled string.
        digits: String,
    },
    /// The digits match no alternative (the phone hears reorder).
    NoMatch {
        /// The dialled string, up to the digit that left the map.
        digits: String,
    },
    /// No digit before the long timer expired.
    Timeout,
}

/// The collector's one timer: which of the two inter-digit timers runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum DigitTimer {
    Short,
    Long,
}

/// A digit the collector does not know (not `0`-`9`, `*`, `#`, `A`-`D`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownDigit(pub char);

impl fmt::Display for UnknownDigit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown digit {:?}: expected 0-9, *, #, A-D", self.0)
    }
}

impl std::error::Error for UnknownDigit {}

/// Collects the digits of one call attempt against a [`DigitMap`] (sans-IO, [`sansio::Core`]):
/// digits in with [`DigitCollector::handle_digit`], one [`DigitMapEvent`] out. Digits after
/// that event are ignored.
pub struct DigitCollector {
    map: DigitMap,
    timing: DigitTiming,
    digits: String,
    bits: Vec<u16>,
    done: bool,
    events: VecDeque<DigitMapEvent>,
    timers: Timers<DigitTimer>,
}

impl DigitCollector {
    /// Starts collecting at `now` (dial tone begins): the long timer runs.
    pub fn new(now: Instant, map: DigitMap, timing: DigitTiming) -> Self {
        let mut timers = Timers::new();
        timers.set(DigitTimer::Long, now + timing.long);
        Self {
            map,
            timing,
            digits: String::new(),
            bits: Vec::new(),
            done: false,
            events: VecDeque::new(),
            timers,
        }
    }

    /// The digits dialled so far.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// Whether the collection has ended (its event is out or queued).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Key `digit` (DTMF or pulse) dialled at `now`. A timer due at `now` runs first, so a digit
    /// that comes after the deadline does not extend the number. Errors: [`UnknownDigit`] for a
    /// character that is no key (the collection goes on).
    pub fn handle_digit(&mut self, now: Instant, digit: char) -> Result<(), UnknownDigit> {
        let bit = key_bit(digit).ok_or(UnknownDigit(digit))?;
        self.handle_timeout(now);
        if self.done {
            return Ok(());
        }
        self.digits.push(digit.to_ascii_uppercase());
        self.bits.push(bit);
        let m = self.map.classify_bits(&self.bits);
        let full = self.bits.len() >= MAX_DIGITS;
        match m {
            Match::Complete => self.finish(true),
            Match::NoMatch => self.finish(false),
            Match::Ambiguous if full => self.finish(true),
            Match::Partial if full => self.finish(false),
            Match::Ambiguous => self.arm(DigitTimer::Short, now + self.timing.short),
            Match::Partial => self.arm(DigitTimer::Long, now + self.timing.long),
        }
        Ok(())
    }

    fn arm(&mut self, timer: DigitTimer, at: Instant) {
        self.timers.cancel(DigitTimer::Short);
        self.timers.cancel(DigitTimer::Long);
        self.timers.set(timer, at);
    }

    fn finish(&mut self, complete: bool) {
        self.done = true;
        self.timers.cancel(DigitTimer::Short);
        self.timers.cancel(DigitTimer::Long);
        let digits = self.digits.clone();
        self.events.push_back(if complete {
            DigitMapEvent::Complete { digits }
        } else {
            DigitMapEvent::NoMatch { digits }
        });
    }
}

impl Core for DigitCollector {
    type Transmit = std::convert::Infallible;
    type Event = DigitMapEvent;

    /// Short timer: the number is complete. Long timer: [`DigitMapEvent::Timeout`] before any
    /// digit, [`DigitMapEvent::NoMatch`] after a partial match.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.timers.pop_due(now) {
            match t {
                DigitTimer::Short => self.finish(true),
                DigitTimer::Long if self.digits.is_empty() => {
                    self.done = true;
                    self.events.push_back(DigitMapEvent::Timeout);
                }
                DigitTimer::Long => self.finish(false),
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Self::Transmit> {
        None
    }

    fn poll_event(&mut self) -> Option<DigitMapEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map(s: &str) -> DigitMap {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> DigitMapError {
        s.parse::<DigitMap>().expect_err(s)
    }

    /// RFC 3435 §2.1.5's example map.
    const RFC: &str = "(0T|00T|[1-7]xxx|8xxxxxxx|#xxxxxxx|*xx|91xxxxxxxxxx|9011x.T)";
    const ATA: &str = "(*xx|[2-9]xxx|9[2-9]xxxxxx|x.T)";

    /// Dial `digits` 100 ms apart from `t0`, then let every timer run; all events.
    fn dial(m: &str, digits: &str) -> (Vec<DigitMapEvent>, Instant, Instant) {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(t0, map(m), DigitTiming::default());
        let mut now = t0;
        for d in digits.chars() {
            now += Duration::from_millis(100);
            c.handle_digit(now, d).unwrap();
        }
        let last = now;
        let mut events = Vec::new();
        loop {
            events.extend(std::iter::from_fn(|| c.poll_event()));
            let Some(at) = c.poll_timeout() else { break };
            now = at;
            c.handle_timeout(now);
        }
        (events, last, now)
    }

    fn complete(d: &str) -> Vec<DigitMapEvent> {
        vec![DigitMapEvent::Complete { digits: d.into() }]
    }

    fn nomatch(d: &str) -> Vec<DigitMapEvent> {
        vec![DigitMapEvent::NoMatch { digits: d.into() }]
    }

    #[test]
    fn every_construct_classifies() {
        let m = map("(12|3x|[57-9]#|[*#AB]|0.C|9x.T)");
        assert_eq!(m.classify("12"), Match::Complete);
        assert_eq!(m.classify("1"), Match::Partial);
        assert_eq!(m.classify("13"), Match::NoMatch);
        assert_eq!(m.classify("37"), Match::Complete);
        assert_eq!(m.classify("3*"), Match::NoMatch); // x is 0-9 only
        assert_eq!(m.classify("5#"), Match::Complete);
        assert_eq!(m.classify("6#"), Match::NoMatch);
        assert_eq!(m.classify("8#"), Match::Complete);
        assert_eq!(m.classify("*"), Match::Complete);
        assert_eq!(m.classify("b"), Match::Complete); // keys are case-insensitive
        assert_eq!(m.classify("C"), Match::Complete); // 0. matches no 0 at all
        assert_eq!(m.classify("000C"), Match::Complete);
        assert_eq!(m.classify("000"), Match::Partial);
        assert_eq!(m.classify("9"), Match::Ambiguous); // 9x.T: zero x, waits for T
        assert_eq!(m.classify("9123"), Match::Ambiguous);
        assert_eq!(m.classify("9*"), Match::NoMatch);
        assert_eq!(m.classify("1?"), Match::NoMatch);
        // Without parentheses: one digit string.
        assert_eq!(map("x.#").classify("123#"), Match::Complete);
    }

    #[test]
    fn rfc3435_example_map() {
        assert_eq!(dial(RFC, "0").0, complete("0")); // after T
        assert_eq!(dial(RFC, "00").0, complete("00"));
        assert_eq!(dial(RFC, "1234").0, complete("1234"));
        assert_eq!(dial(RFC, "81234567").0, complete("81234567"));
        assert_eq!(dial(RFC, "#1234567").0, complete("#1234567"));
        assert_eq!(dial(RFC, "*69").0, complete("*69"));
        assert_eq!(dial(RFC, "912125551212").0, complete("912125551212"));
        assert_eq!(dial(RFC, "9011331234567").0, complete("9011331234567"));
        assert_eq!(dial(RFC, "95").0, nomatch("95")); // at once
        assert_eq!(dial(RFC, "912").0, nomatch("912")); // long timer
        assert_eq!(dial(RFC, "").0, vec![DigitMapEvent::Timeout]);
    }

    #[test]
    fn timers_short_long_and_immediate() {
        let s = Duration::from_secs(4);
        let l = Duration::from_secs(16);
        let (_, last, end) = dial(RFC, "1234");
        assert_eq!(end, last); // complete at the fourth digit
        let (_, last, end) = dial(RFC, "0");
        assert_eq!(end - last, s); // 0T: the short timer
        let (_, last, end) = dial(RFC, "9");
        assert_eq!(end - last, l); // a prefix only: the long timer
        let (_, last, end) = dial(RFC, "");
        assert_eq!(end - last, l);
        let (_, last, end) = dial(RFC, "95");
        assert_eq!(end, last);
    }

    #[test]
    fn overlapping_alternatives_nine_first() {
        // [2-9]xxx matches 9234 but 9[2-9]xxxxxx may still: wait the short timer.
        let (ev, last, end) = dial(ATA, "9234");
        assert_eq!(ev, complete("9234"));
        assert_eq!(end - last, Duration::from_secs(4));
        // x.T may still grow 92345678: the short timer again.
        let (ev, last, end) = dial(ATA, "92345678");
        assert_eq!(ev, complete("92345678"));
        assert_eq!(end - last, Duration::from_secs(4));
        // Without x.T the long alternative completes at its last digit.
        let (ev, last, end) = dial("([2-9]xxx|9[2-9]xxxxxx)", "92345678");
        assert_eq!(ev, complete("92345678"));
        assert_eq!(end, last);
        assert_eq!(map(ATA).classify("92345"), Match::Ambiguous); // x.T
        assert_eq!(map(ATA).classify("2345"), Match::Ambiguous); // x.T may grow
        assert_eq!(dial(ATA, "*98").0, complete("*98"));
        assert_eq!(dial("([2-9]xxx|9[2-9]xxxxxx)", "2345").0, complete("2345"));
        // 91 rules the long alternative out: 9123 completes at once.
        let (ev, last, end) = dial("([2-9]xxx|9[2-9]xxxxxx)", "9123");
        assert_eq!((ev, end), (complete("9123"), last));
        assert_eq!(dial("([2-9]xxx|9[2-9]xxxxxx)", "1").0, nomatch("1"));
    }

    #[test]
    fn late_digit_does_not_extend_and_unknown_digit_is_an_error() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(t0, map(ATA), DigitTiming::default());
        assert_eq!(c.handle_digit(t0, 'E'), Err(UnknownDigit('E')));
        c.handle_digit(t0, '9').unwrap();
        c.handle_digit(t0, '2').unwrap();
        c.handle_digit(t0, '3').unwrap();
        c.handle_digit(t0, '4').unwrap();
        c.handle_digit(t0 + Duration::from_secs(5), '5').unwrap();
        assert_eq!(c.poll_event(), Some(complete("9234").remove(0)));
        assert_eq!(c.poll_event(), None);
        assert!(c.is_done());
        assert_eq!(c.digits(), "9234");
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn dial_string_is_bounded() {
        let long = "1".repeat(MAX_DIGITS + 5);
        let (ev, _, _) = dial("x.T", &long);
        assert_eq!(ev, complete(&long[..MAX_DIGITS]));
        let (ev, _, _) = dial("x.#", &long);
        assert_eq!(ev, nomatch(&long[..MAX_DIGITS]));
    }

    #[test]
    fn parse_errors_name_column_and_reason() {
        use DigitMapErrorKind::*;
        let cases: &[(&str, usize, DigitMapErrorKind)] = &[
            ("", 1, Empty),
            ("(12|)", 5, EmptyAlternative),
            ("()", 2, EmptyAlternative),
            ("(12||3)", 5, EmptyAlternative),
            ("(T)", 2, NoDigit),
            ("12|3", 3, BarOutsideParens),
            ("(12|3", 1, UnclosedParen),
            ("(12)3", 5, TrailingText),
            ("12)", 3, Unexpected(')')),
            ("1[23", 2, UnclosedBracket),
            ("1[]", 3, EmptySet),
            ("[9-2]", 2, BadRange),
            ("[2-]", 2, BadRange),
            ("[-2]", 2, BadRange),
            ("[*-9]", 2, BadRange),
            (".1", 1, LoneDot),
            ("1..", 3, LoneDot),
            ("(1|.)", 4, LoneDot),
            ("1T2", 3, TimerNotLast),
            ("1T.", 3, TimerNotLast),
            ("1TT", 3, TimerNotLast),
            ("12 3", 3, Unexpected(' ')),
            ("1E", 2, Unexpected('E')),
            ("[1E]", 3, Unexpected('E')),
            ("(1|(2))", 4, Unexpected('(')),
        ];
        for (s, column, kind) in cases {
            let e = err(s);
            assert_eq!((e.column, &e.kind), (*column, kind), "{s:?}: {e}");
        }
        let e = err(&"1".repeat(MAX_MAP_CHARS + 1));
        assert_eq!(e.kind, TooLong);
        assert_eq!(
            err("[9-2]").to_string(),
            "column 2: bad range: expected digit-digit, low to high"
        );
    }

    proptest! {
        /// Any string dialled without pause ends, once every timer ran, in exactly one
        /// Complete or NoMatch, whose digits are a prefix of what was dialled; a Complete
        /// string is a match of the map.
        #[test]
        fn exactly_one_outcome(
            m in prop::sample::select(vec![RFC, ATA, "x.T", "(0|00|000)", "([2-9]xxx|9[2-9]xxxxxx)", "(*xx|#[1-3].9)"]),
            digits in "[0-9*#A-D]{1,40}",
        ) {
            let (ev, _, _) = dial(m, &digits);
            prop_assert_eq!(ev.len(), 1, "{:?}", ev);
            match &ev[0] {
                DigitMapEvent::Complete { digits: d } => {
                    prop_assert!(digits.starts_with(d.as_str()));
                    prop_assert!(matches!(map(m).classify(d), Match::Complete | Match::Ambiguous));
                }
                DigitMapEvent::NoMatch { digits: d } => prop_assert!(digits.starts_with(d.as_str())),
                DigitMapEvent::Timeout => prop_assert!(false, "timeout after digits"),
            }
        }

        /// With any pauses between digits the collection still ends in exactly one event.
        #[test]
        fn exactly_one_event_with_pauses(
            digits in prop::collection::vec(("[0-9*#]", 0u64..20_000), 0..20),
        ) {
            let t0 = Instant::now();
            let mut c = DigitCollector::new(t0, map(ATA), DigitTiming::default());
            let mut now = t0;
            let mut events = Vec::new();
            for (d, gap) in &digits {
                now += Duration::from_millis(*gap);
                c.handle_timeout(now);
                c.handle_digit(now, d.chars().next().unwrap()).unwrap();
                events.extend(std::iter::from_fn(|| c.poll_event()));
            }
            while let Some(at) = c.poll_timeout() {
                c.handle_timeout(at);
            }
            events.extend(std::iter::from_fn(|| c.poll_event()));
            prop_assert_eq!(events.len(), 1, "{:?}", events);
        }
    }
}
