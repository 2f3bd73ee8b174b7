//! The `application/simple-message-summary` body (RFC 3842 §5): parsing and emission.
//!
//! ```text
//! Messages-Waiting: yes
//! Message-Account: sip:8000@vm.example.com
//! Voice-Message: 2/8 (0/2)
//! ```
//!
//! Header names are case-insensitive; whitespace around tokens is tolerated; CRLF or LF line
//! ends; counts, urgent counts and Message-Account are optional; message headers after a blank
//! line (RFC 3842 §5.2 `opt-msg-headers`) are ignored.

use mwi_core::{MessageClass, MwiState};
use std::fmt::Write as _;

/// Counts of one message class: `new/old (urgent_new/urgent_old)` (RFC 3842 §5.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// New messages.
    pub new: u32,
    /// Old messages.
    pub old: u32,
    /// Urgent new and old messages, when the server sent them.
    pub urgent: Option<(u32, u32)>,
}

/// A parsed message-summary body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// `Messages-Waiting: yes|no`.
    pub waiting: bool,
    /// `Message-Account`, the mailbox URI, if present.
    pub account: Option<String>,
    /// Counts per class, in body order, one entry per class.
    pub counts: Vec<(MessageClass, Counts)>,
}

/// Why a body is not a message summary (answered with 400, naming the defect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SummaryError {
    /// Not UTF-8.
    NotText,
    /// No `Messages-Waiting` line.
    NoMessagesWaiting,
    /// `Messages-Waiting` is neither yes nor no.
    BadWaiting,
    /// A line that is not `name: value`.
    BadLine,
    /// A class line whose counts do not parse (or overflow u32).
    BadCounts(MessageClass),
    /// A line repeated (Messages-Waiting, Message-Account or a class).
    Duplicate,
}

impl std::fmt::Display for SummaryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotText => f.write_str("message-summary body is not UTF-8"),
            Self::NoMessagesWaiting => f.write_str("message-summary without Messages-Waiting"),
            Self::BadWaiting => f.write_str("Messages-Waiting is not yes or no"),
            Self::BadLine => f.write_str("message-summary line without a name"),
            Self::BadCounts(c) => write!(f, "malformed {} counts", c.header_name()),
            Self::Duplicate => f.write_str("repeated message-summary line"),
        }
    }
}

impl std::error::Error for SummaryError {}

const CLASSES: [MessageClass; 6] = [
    MessageClass::Voice,
    MessageClass::Fax,
    MessageClass::Pager,
    MessageClass::Multimedia,
    MessageClass::Text,
    MessageClass::None,
];

impl Summary {
    /// Parse a body. Errors: [`SummaryError`].
    pub fn parse(body: &[u8]) -> Result<Self, SummaryError> {
        let text = std::str::from_utf8(body).map_err(|_| SummaryError::NotText)?;
        let mut waiting = None;
        let mut account = None;
        let mut counts: Vec<(MessageClass, Counts)> = Vec::new();
        for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
            if line.trim().is_empty() {
                // The summary ends at the first blank line after it started; what follows are
                // optional message headers (RFC 3842 §5.2).
                if waiting.is_some() {
                    break;
                }
                continue;
            }
            let (name, value) = line.split_once(':').ok_or(SummaryError::BadLine)?;
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("Messages-Waiting") {
                let v = if value.eq_ignore_ascii_case("yes") {
                    true
                } else if value.eq_ignore_ascii_case("no") {
                    false
                } else {
                    return Err(SummaryError::BadWaiting);
                };
                if waiting.replace(v).is_some() {
                    return Err(SummaryError::Duplicate);
                }
            } else if name.eq_ignore_ascii_case("Message-Account") {
                if account.replace(value.to_owned()).is_some() {
                    return Err(SummaryError::Duplicate);
                }
            } else if let Some(class) = CLASSES
                .into_iter()
                .find(|c| c.header_name().eq_ignore_ascii_case(name))
            {
                if counts.iter().any(|(c, _)| *c == class) {
                    return Err(SummaryError::Duplicate);
                }
                let c = parse_counts(value).ok_or(SummaryError::BadCounts(class))?;
                counts.push((class, c));
            } else if name.is_empty() {
                return Err(SummaryError::BadLine);
            }
            // Other names: extension lines, ignored.
        }
        Ok(Self {
            waiting: waiting.ok_or(SummaryError::NoMessagesWaiting)?,
            account,
            counts,
        })
    }

    /// The state to record: voice counts when present, else the first class sent, else none.
    pub fn state(&self) -> MwiState {
        let (class, c) = self
            .counts
            .iter()
            .find(|(c, _)| *c == MessageClass::Voice)
            .or_else(|| self.counts.first())
            .copied()
            .unwrap_or_default();
        let (urgent_new, urgent_old) = c.urgent.unwrap_or_default();
        MwiState {
            waiting: self.waiting,
            class,
            new: c.new,
            old: c.old,
            urgent_new,
            urgent_old,
        }
    }

    /// Emit the body with CRLF line ends.
    pub fn to_body(&self) -> String {
        let mut s = format!(
            "Messages-Waiting: {}\r\n",
            if self.waiting { "yes" } else { "no" }
        );
        if let Some(a) = &self.account {
            let _ = write!(s, "Message-Account: {a}\r\n");
        }
        for (class, c) in &self.counts {
            let _ = write!(s, "{}: {}/{}", class.header_name(), c.new, c.old);
            if let Some((un, uo)) = c.urgent {
                let _ = write!(s, " ({un}/{uo})");
            }
            s.push_str("\r\n");
        }
        s
    }
}

impl From<MwiState> for Summary {
    fn from(st: MwiState) -> Self {
        Self {
            waiting: st.waiting,
            account: None,
            counts: vec![(
                st.class,
                Counts {
                    new: st.new,
                    old: st.old,
                    urgent: Some((st.urgent_new, st.urgent_old)),
                },
            )],
        }
    }
}

/// `new/old [(urgent_new/urgent_old)]`, whitespace anywhere between tokens; an empty value is
/// zero counts.
fn parse_counts(v: &str) -> Option<Counts> {
    if v.is_empty() {
        return Some(Counts::default());
    }
    let (main, urgent) = match v.split_once('(') {
        Some((m, rest)) => {
            let inner = rest.trim_end().strip_suffix(')')?;
            (m, Some(pair(inner)?))
        }
        None => (v, None),
    };
    let (new, old) = pair(main)?;
    Some(Counts { new, old, urgent })
}

fn pair(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('/')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3842_example() {
        let body = b"Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\n\
            Voice-Message: 4/8 (1/2)\r\n";
        let s = Summary::parse(body).unwrap();
        assert!(s.waiting);
        assert_eq!(s.account.as_deref(), Some("sip:alice@vmail.example.com"));
        assert_eq!(
            s.state(),
            MwiState {
                waiting: true,
                class: MessageClass::Voice,
                new: 4,
                old: 8,
                urgent_new: 1,
                urgent_old: 2
            }
        );
    }

    #[test]
    fn tolerant_forms() {
        let s = Summary::parse(b"messages-waiting:NO\n").unwrap();
        assert_eq!(s.state(), MwiState::default());
        let s = Summary::parse(
            b"  MESSAGES-WAITING :  yes \nfax-message:  3 / 0 ( 1 / 0 )\nX-Ext: 1\n\n\
              To: <sip:x@y>\nSubject: hi\n",
        )
        .unwrap();
        assert_eq!(s.state().class, MessageClass::Fax);
        assert_eq!((s.state().new, s.state().urgent_new), (3, 1));
        let s =
            Summary::parse(b"Messages-Waiting: yes\r\nText-Message: 1/2\r\nVoice-Message: 5/6\r\n")
                .unwrap();
        assert_eq!(s.state().class, MessageClass::Voice);
        assert_eq!(s.counts.len(), 2);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &b""[..],
            b"hello",
            b"Messages-Waiting: maybe\r\n",
            b"Voice-Message: 1/2\r\n",
            b"Messages-Waiting: yes\r\nVoice-Message: a/b\r\n",
            b"Messages-Waiting: yes\r\nVoice-Message: 1/2 (3/4\r\n",
            b"Messages-Waiting: yes\r\nVoice-Message: 99999999999/1\r\n",
            b"Messages-Waiting: yes\r\nMessages-Waiting: no\r\n",
            b"\xff\xfe",
        ] {
            assert!(
                Summary::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn class() -> impl Strategy<Value = MessageClass> {
        (0u8..6).prop_map(|c| MessageClass::from_u8(c).unwrap_or_default())
    }

    fn summary() -> impl Strategy<Value = Summary> {
        let counts = (
            any::<u32>(),
            any::<u32>(),
            proptest::option::of((any::<u32>(), any::<u32>())),
        )
            .prop_map(|(new, old, urgent)| Counts { new, old, urgent });
        (
            any::<bool>(),
            proptest::option::of("sip:[0-9]{1,6}@[a-z]{1,8}\\.example"),
            proptest::collection::vec((class(), counts), 0..6),
        )
            .prop_map(|(waiting, account, mut counts)| {
                let mut seen = Vec::new();
                counts.retain(|(c, _)| {
                    let first = !seen.contains(c);
                    seen.push(*c);
                    first
                });
                Summary {
                    waiting,
                    account,
                    counts,
                }
            })
    }

    proptest! {
        #[test]
        fn round_trip(s in summary(), lower in any::<bool>(), lf in any::<bool>()) {
            let mut body = s.to_body();
            if lower { body = body.to_lowercase(); }
            if lf { body = body.replace("\r\n", "\n"); }
            let back = Summary::parse(body.as_bytes()).unwrap();
            let mut expect = s.clone();
            if lower { expect.account = expect.account.map(|a| a.to_lowercase()); }
            prop_assert_eq!(back, expect);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Summary::parse(&bytes);
        }
    }
}
