//! Where a number's MWI goes: the one routing rule that sipd (which NOTIFYs get 481), chand
//! (delivery and `chand mwi`) and check-config (numbers claimed twice) share. Sans-IO: built
//! from the configuration, asked with a number, it answers; it never touches a channel.
//!
//! The rule (ARCHITECTURE.md): an FXS line configured with the number takes it; else the first
//! `[[pri]]` span one of whose `numbers` patterns matches; else the number is not served and
//! sipd answers 481. An FXS line with `mwi = false` still takes its number, so that number is not
//! served even when a PRI pattern matches it: the gateway we model answers 481 for a voice port
//! without MWI (docs/sip.md), and a PBX behind a PRI is not where that phone is.
//!
//! [`Routing`] adds the state around the rule: the last state of each number from the shared
//! table and the manual overrides (`chand mwi NUMBER on|off|reset`). An override applies where
//! the number routes; one for a number that routes nowhere is refused.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use crate::MwiState;

/// A number pattern of `[[pri]] numbers`: digits, and `.` for any one digit (`"2..."` =
/// 4-digit numbers starting with 2). A number matches when it has the same length and every
/// position matches. A pattern without `.` is a literal number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pattern(String);

impl Pattern {
    /// Whether `number` matches this pattern.
    pub fn matches(&self, number: &str) -> bool {
        number.len() == self.0.len()
            && self
                .0
                .bytes()
                .zip(number.bytes())
                .all(|(p, n)| n.is_ascii_digit() && (p == b'.' || p == n))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern is one literal number (no `.`).
    pub fn is_literal(&self) -> bool {
        !self.0.contains('.')
    }

    /// How many numbers the pattern matches: 10 to the power of its `.` count, saturating at
    /// `u64::MAX` (20 or more `.`).
    pub fn count(&self) -> u64 {
        let dots = self.0.bytes().filter(|&b| b == b'.').count() as u32;
        10u64.checked_pow(dots).unwrap_or(u64::MAX)
    }

    /// Whether every number `other` matches also matches this pattern.
    pub fn covers(&self, other: &Pattern) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .bytes()
                .zip(other.0.bytes())
                .all(|(p, o)| p == b'.' || p == o)
    }
}

/// Read from the config file through [`FromStr`], so a bad pattern is a config error at its
/// file:line:column.
impl<'de> serde::Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor, not String::deserialize then parse: the error is then raised while the
        // element is read, so it carries the element's position, not the array's.
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Pattern;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number pattern such as \"2...\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Pattern, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

impl FromStr for Pattern {
    type Err = String;

    /// Errors: not 1 to 32 characters of digits and `.`.
    fn from_str(s: &str) -> Result<Self, String> {
        if (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "bad pattern {s:?}: expected 1 to 32 digits or '.' (any digit), e.g. \"2...\""
            ))
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An FXS line as the router sees it (`[[fxs]]` `channel`, `number`, `mwi`).
#[derive(Clone, Copy, Debug)]
pub struct FxsClaim<'a> {
    /// DAHDI channel of the port.
    pub channel: u32,
    /// The line's number.
    pub number: &'a str,
    /// `mwi = true`: the line shows MWI; false: its number is not served.
    pub mwi: bool,
}

/// A PRI span as the router sees it (`[[pri]]` `span`, `numbers`).
#[derive(Clone, Copy, Debug)]
pub struct PriClaim<'a> {
    /// DAHDI span number.
    pub span: u32,
    /// Served-user patterns, in the order of the file.
    pub numbers: &'a [Pattern],
}

/// Where a number's MWI goes. The indices are those of `[[fxs]]` and `[[pri]]` in the file
/// (and of the claims given to [`Router::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// The FXS line `[[fxs]]` #index (0-based), on DAHDI channel `channel`.
    Fxs {
        /// Index of the line.
        index: usize,
        /// Its DAHDI channel.
        channel: u32,
    },
    /// The PRI span `[[pri]]` #index (0-based), DAHDI span `span`.
    Pri {
        /// Index of the span.
        index: usize,
        /// Its DAHDI span number.
        span: u32,
    },
}

/// Why a number is not served (sipd answers 481 to a NOTIFY for it; `chand mwi` refuses it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotServed {
    /// No FXS line has the number and no PRI pattern matches it.
    NoRoute,
    /// The FXS line on `channel` has the number with `mwi = false`.
    MwiDisabled {
        /// Its DAHDI channel.
        channel: u32,
    },
}

impl NotServed {
    /// Why `number` is not served, in a sentence for a log line or a refused `chand mwi`.
    pub fn explain(self, number: &str) -> String {
        match self {
            Self::NoRoute => format!("no FXS port or PRI span serves {number}"),
            Self::MwiDisabled { channel } => format!(
                "{number} is not served: it is the number of FXS channel {channel}, which has \
                 mwi = false (a NOTIFY for it gets 481)"
            ),
        }
    }
}

/// The routing rule of one configuration. Built once; [`Router::route`] is a hash lookup for
/// FXS numbers, then a scan of the PRI patterns.
#[derive(Clone, Debug, Default)]
pub struct Router {
    /// Number → (index, channel, mwi) of the first FXS line with it.
    fxs: HashMap<String, (usize, u32, bool)>,
    /// (span, patterns) per `[[pri]]`, in order.
    pri: Vec<(u32, Vec<Pattern>)>,
}

impl Router {
    /// The router of these FXS lines and PRI spans, in file order. Should a number be claimed
    /// twice (a file that [`double_claim`] rejects), the first claim wins.
    pub fn new<'a>(
        fxs: impl IntoIterator<Item = FxsClaim<'a>>,
        pri: impl IntoIterator<Item = PriClaim<'a>>,
    ) -> Self {
        let mut map = HashMap::new();
        for (i, f) in fxs.into_iter().enumerate() {
            map.entry(f.number.to_owned())
                .or_insert((i, f.channel, f.mwi));
        }
        Self {
            fxs: map,
            pri: pri
                .into_iter()
                .map(|p| (p.span, p.numbers.to_vec()))
                .collect(),
        }
    }

    /// Where `number` goes, or why it goes nowhere (module doc: FXS line first, then the first
    /// matching PRI span; an FXS line with `mwi = false` keeps its number unserved).
    pub fn route(&self, number: &str) -> Result<Route, NotServed> {
        if let Some(&(index, channel, mwi)) = self.fxs.get(number) {
            return if mwi {
                Ok(Route::Fxs { index, channel })
            } else {
                Err(NotServed::MwiDisabled { channel })
            };
        }
        self.pri
            .iter()
            .position(|(_, pats)| pats.iter().any(|p| p.matches(number)))
            .map(|index| Route::Pri {
                index,
                span: self.pri[index].0,
            })
            .ok_or(NotServed::NoRoute)
    }
}

/// Who claims a number: an FXS line's `number`, or one pattern of a span's `numbers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Claimant {
    /// `[[fxs]]` #index `number` (0-based).
    Fxs {
        /// Index of the line.
        index: usize,
    },
    /// `[[pri]]` #index `numbers[pattern]` (both 0-based).
    Pri {
        /// Index of the span.
        index: usize,
        /// Index of the pattern in `numbers`.
        pattern: usize,
    },
}

/// A number (or pattern) claimed twice: `second` repeats what `first` already claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoubleClaim {
    /// The number or pattern as written.
    pub number: String,
    /// The earlier claim in the file.
    pub first: Claimant,
    /// The later claim, where the error is reported.
    pub second: Claimant,
}

/// The first number claimed twice, in file order: two FXS lines with the same number, or the
/// same pattern (a literal number above all) twice in `[[pri]] numbers`, in one span or two.
/// The second claim would never receive anything, so a file with one is refused.
///
/// An FXS number that a PRI pattern also matches is no double claim: the FXS line takes it by
/// the routing rule, and the pattern serves the other numbers it matches.
pub fn double_claim<'a>(
    fxs: impl IntoIterator<Item = FxsClaim<'a>>,
    pri: impl IntoIterator<Item = PriClaim<'a>>,
) -> Option<DoubleClaim> {
    let mut numbers: HashMap<&str, Claimant> = HashMap::new();
    for (index, f) in fxs.into_iter().enumerate() {
        let second = Claimant::Fxs { index };
        if let Some(&first) = numbers.get(f.number) {
            return Some(DoubleClaim {
                number: f.number.to_owned(),
                first,
                second,
            });
        }
        numbers.insert(f.number, second);
    }
    let mut patterns: HashMap<&str, Claimant> = HashMap::new();
    for (index, p) in pri.into_iter().enumerate() {
        for (pattern, pat) in p.numbers.iter().enumerate() {
            let second = Claimant::Pri { index, pattern };
            if let Some(&first) = patterns.get(pat.as_str()) {
                return Some(DoubleClaim {
                    number: pat.as_str().to_owned(),
                    first,
                    second,
                });
            }
            patterns.insert(pat.as_str(), second);
        }
    }
    None
}

/// How many numbers a configuration serves, each at most once, saturating at `u64::MAX`: the
/// numbers of the FXS lines with MWI that no PRI pattern matches, plus the count of every PRI
/// pattern that no other pattern covers (an identical pattern counts once). Patterns that only
/// partly overlap (`"2.3."` and `"2..4"`) count their common numbers twice, so the result is an
/// upper bound of the table slots the numbers can take; an FXS line without MWI inside a
/// pattern is counted with the pattern.
pub fn served_count<'a>(
    fxs: impl IntoIterator<Item = FxsClaim<'a>>,
    pri: impl IntoIterator<Item = PriClaim<'a>>,
) -> u64 {
    let patterns: Vec<&Pattern> = pri.into_iter().flat_map(|p| p.numbers).collect();
    let mut count = 0u64;
    for (i, p) in patterns.iter().enumerate() {
        let covered = patterns
            .iter()
            .enumerate()
            .any(|(j, q)| j != i && q.covers(p) && (j < i || !p.covers(q)));
        if !covered {
            count = count.saturating_add(p.count());
        }
    }
    let mut seen = std::collections::HashSet::new();
    for f in fxs {
        if f.mwi && seen.insert(f.number) && !patterns.iter().any(|p| p.matches(f.number)) {
            count = count.saturating_add(1);
        }
    }
    count
}

/// Whose state a number shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The shared table (the voice-mail server).
    Server,
    /// A `chand mwi NUMBER on|off` override.
    Manual,
}

impl Source {
    /// `"server"` or `"manual"`, as status shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Manual => "manual",
        }
    }
}

/// The routing rule with the state it routes: the last table state of every number and the
/// manual overrides. chand feeds it table changes and `chand mwi` requests; it answers what to
/// deliver where.
#[derive(Clone, Debug, Default)]
pub struct Routing {
    router: Router,
    table: HashMap<String, MwiState>,
    overrides: BTreeMap<String, MwiState>,
}

impl Routing {
    /// No state yet, routed by `router`.
    pub fn new(router: Router) -> Self {
        Self {
            router,
            table: HashMap::new(),
            overrides: BTreeMap::new(),
        }
    }

    /// The rule.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Routes by `router` from now on (a reloaded configuration), keeping every number's table
    /// state and override.
    pub fn set_router(&mut self, router: Router) {
        self.router = router;
    }

    /// Every number with table state or an override, in no particular order (a number with
    /// both comes twice).
    pub fn numbers(&self) -> impl Iterator<Item = &str> {
        self.table
            .keys()
            .map(String::as_str)
            .chain(self.overrides())
    }

    /// The table has `state` for `number`. `Some(route)`: deliver `state` there now; `None`:
    /// the number is not served, or an override holds it (the state is kept for its reset).
    pub fn table_update(&mut self, number: &str, state: MwiState) -> Option<Route> {
        self.table.insert(number.to_owned(), state);
        if self.overrides.contains_key(number) {
            return None;
        }
        self.router.route(number).ok()
    }

    /// `chand mwi NUMBER on|off` (`Some(state)`: held until a reset) or `reset` (`None`: back
    /// to the table's state). Returns where to deliver which state now.
    ///
    /// Errors: [`NotServed`] when the number routes nowhere; nothing is recorded then.
    pub fn manual(
        &mut self,
        number: &str,
        state: Option<MwiState>,
    ) -> Result<(Route, MwiState), NotServed> {
        let route = self.router.route(number)?;
        match state {
            Some(s) => {
                self.overrides.insert(number.to_owned(), s);
                Ok((route, s))
            }
            None => {
                self.overrides.remove(number);
                Ok((route, self.effective(number).0))
            }
        }
    }

    /// The state `number` shows and where it comes from (no news yet: all off, from the server).
    pub fn effective(&self, number: &str) -> (MwiState, Source) {
        match self.overrides.get(number) {
            Some(s) => (*s, Source::Manual),
            None => (
                self.table.get(number).copied().unwrap_or_default(),
                Source::Server,
            ),
        }
    }

    /// Numbers under a manual override, in order.
    pub fn overrides(&self) -> impl Iterator<Item = &str> {
        self.overrides.keys().map(String::as_str)
    }

    /// How many numbers the table has given state for.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_count_counts_each_number_once() {
        let a = pats(&["2...", "21..", "2...", "8009", "3.5", "3.5."]);
        let b = pats(&["2.3.", "2..4"]);
        let all = pats(&["................................"]);
        assert_eq!(a[0].count(), 1000);
        assert_eq!(all[0].count(), u64::MAX);
        assert!(a[0].covers(&a[1]) && !a[1].covers(&a[0]) && !a[4].covers(&a[5]));
        let pri = |numbers| PriClaim { span: 1, numbers };
        // 2... (21.. and the second 2... inside it), 8009, 3.5, 3.5.; FXS 8000 (2001 is in 2...).
        assert_eq!(
            served_count([fxs(1, "8000", true), fxs(2, "2001", true)], [pri(&a[..])]),
            1000 + 1 + 10 + 100 + 1
        );
        // Partial overlaps count twice: an upper bound.
        assert_eq!(served_count([fxs(1, "9", false)], [pri(&b[..])]), 200);
        assert_eq!(served_count([], [pri(&all[..])]), u64::MAX);
    }

    fn pats(p: &[&str]) -> Vec<Pattern> {
        p.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn fxs(channel: u32, number: &str, mwi: bool) -> FxsClaim<'_> {
        FxsClaim {
            channel,
            number,
            mwi,
        }
    }

    /// FXS 8000 (mwi) on channel 1, 8009 (no mwi) on channel 2, 2001 (mwi) on 3; span 1 serves
    /// `2...` and `8009`, span 2 `2...` (shadowed) and `3...`.
    fn router() -> Router {
        let a = pats(&["2...", "8009"]);
        let b = pats(&["20..", "3..."]);
        Router::new(
            [
                fxs(1, "8000", true),
                fxs(2, "8009", false),
                fxs(3, "2001", true),
            ],
            [
                PriClaim {
                    span: 1,
                    numbers: &a,
                },
                PriClaim {
                    span: 2,
                    numbers: &b,
                },
            ],
        )
    }

    #[test]
    fn pattern_matching() {
        let p: Pattern = "2.0.".parse().unwrap();
        assert!(p.matches("2000") && p.matches("2905"));
        assert!(!p.matches("2010") && !p.matches("200") && !p.matches("20000"));
        assert!(!p.matches("2a0b"), "only digits match '.'");
        assert!(!p.is_literal() && Pattern::from_str("2001").unwrap().is_literal());
        for bad in ["", "2x", "+2001", &"1".repeat(33)] {
            assert!(bad.parse::<Pattern>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fxs_line_comes_before_a_matching_pattern() {
        let r = router();
        assert_eq!(
            r.route("8000"),
            Ok(Route::Fxs {
                index: 0,
                channel: 1
            })
        );
        assert_eq!(
            r.route("2001"),
            Ok(Route::Fxs {
                index: 2,
                channel: 3
            }),
            "2... matches, but the FXS line takes 2001"
        );
    }

    #[test]
    fn overlapping_patterns_go_to_the_first_span() {
        let r = router();
        assert_eq!(r.route("2002"), Ok(Route::Pri { index: 0, span: 1 }));
        assert_eq!(
            r.route("2050"),
            Ok(Route::Pri { index: 0, span: 1 }),
            "span 2's 20.. overlaps span 1's 2...: span 1 is first"
        );
        assert_eq!(r.route("3123"), Ok(Route::Pri { index: 1, span: 2 }));
        assert_eq!(r.route("4000"), Err(NotServed::NoRoute));
        assert_eq!(r.route("200"), Err(NotServed::NoRoute), "length counts");
    }

    #[test]
    fn mwi_false_line_keeps_its_number_unserved_even_when_a_pattern_matches() {
        let r = router();
        assert_eq!(
            r.route("8009"),
            Err(NotServed::MwiDisabled { channel: 2 }),
            "span 1 lists 8009 literally, but FXS channel 2 has it with mwi = false"
        );
        assert_eq!(
            NotServed::MwiDisabled { channel: 2 }.explain("8009"),
            "8009 is not served: it is the number of FXS channel 2, which has mwi = false (a \
             NOTIFY for it gets 481)"
        );
        assert_eq!(
            NotServed::NoRoute.explain("4000"),
            "no FXS port or PRI span serves 4000"
        );
    }

    #[test]
    fn overrides_apply_where_the_number_routes_and_reset_to_the_table() {
        let mut m = Routing::new(router());
        let on = MwiState {
            waiting: true,
            new: 2,
            ..MwiState::default()
        };
        let pri1 = Route::Pri { index: 0, span: 1 };
        assert_eq!(m.table_update("2002", on), Some(pri1));
        assert_eq!(m.effective("2002"), (on, Source::Server));

        let off = MwiState::default();
        assert_eq!(m.manual("2002", Some(off)), Ok((pri1, off)));
        assert_eq!(m.effective("2002"), (off, Source::Manual));
        assert_eq!(m.overrides().collect::<Vec<_>>(), ["2002"]);
        let later = MwiState { new: 5, ..on };
        assert_eq!(m.table_update("2002", later), None, "held by the override");

        assert_eq!(
            m.manual("2002", None),
            Ok((pri1, later)),
            "reset: latest table"
        );
        assert_eq!(m.effective("2002"), (later, Source::Server));
        assert_eq!(m.overrides().count(), 0);
        assert_eq!(m.table_len(), 1);
    }

    #[test]
    fn overrides_for_unserved_numbers_are_refused_and_not_recorded() {
        let mut m = Routing::new(router());
        let on = MwiState {
            waiting: true,
            ..MwiState::default()
        };
        assert_eq!(
            m.manual("8009", Some(on)),
            Err(NotServed::MwiDisabled { channel: 2 })
        );
        assert_eq!(m.manual("4000", Some(on)), Err(NotServed::NoRoute));
        assert_eq!(m.manual("4000", None), Err(NotServed::NoRoute));
        assert_eq!(m.overrides().count(), 0);
        assert_eq!(
            m.table_update("8009", on),
            None,
            "not served: kept, not routed"
        );
        assert_eq!(m.effective("8009"), (on, Source::Server));
    }

    #[test]
    fn double_claims() {
        let a = pats(&["2...", "2001"]);
        let b = pats(&["3...", "2001"]);
        let span = |span, numbers| PriClaim { span, numbers };
        assert_eq!(
            double_claim([fxs(1, "8000", true), fxs(2, "8000", false)], []),
            Some(DoubleClaim {
                number: "8000".into(),
                first: Claimant::Fxs { index: 0 },
                second: Claimant::Fxs { index: 1 },
            })
        );
        assert_eq!(
            double_claim([], [span(1, &a), span(2, &b)]),
            Some(DoubleClaim {
                number: "2001".into(),
                first: Claimant::Pri {
                    index: 0,
                    pattern: 1
                },
                second: Claimant::Pri {
                    index: 1,
                    pattern: 1
                },
            }),
            "a literal number twice across spans"
        );
        let twice = pats(&["2...", "2..."]);
        assert_eq!(
            double_claim([], [span(1, &twice)]).map(|d| d.second),
            Some(Claimant::Pri {
                index: 0,
                pattern: 1
            }),
            "the same pattern twice in one span"
        );
        assert_eq!(
            double_claim([fxs(1, "2001", true)], [span(1, &a)]),
            None,
            "an FXS number inside a PRI pattern is routed, not doubly claimed"
        );
    }
}
