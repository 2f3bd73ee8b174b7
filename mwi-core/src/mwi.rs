//! The message-waiting state of one number, as carried by an RFC 3842 message-summary body
//! and as delivered to an FXS port or a QSIG served user.

/// Message class of the counts (RFC 3842 §5.2, `msg-context-class` of RFC 3458).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageClass {
    /// `Voice-Message`.
    #[default]
    Voice = 0,
    /// `Fax-Message`.
    Fax = 1,
    /// `Pager-Message`.
    Pager = 2,
    /// `Multimedia-Message`.
    Multimedia = 3,
    /// `Text-Message`.
    Text = 4,
    /// `None` class (RFC 3842 §5.2): the summary carries no class-specific counts.
    None = 5,
}

impl MessageClass {
    /// The class for its `u8` code (as stored in the shared table); `None` for an unknown code.
    pub fn from_u8(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Voice,
            1 => Self::Fax,
            2 => Self::Pager,
            3 => Self::Multimedia,
            4 => Self::Text,
            5 => Self::None,
            _ => return Option::None,
        })
    }

    /// The header name that carries this class's counts in a message-summary body
    /// (RFC 3842 §5.2), e.g. `Voice-Message`.
    pub fn header_name(self) -> &'static str {
        match self {
            Self::Voice => "Voice-Message",
            Self::Fax => "Fax-Message",
            Self::Pager => "Pager-Message",
            Self::Multimedia => "Multimedia-Message",
            Self::Text => "Text-Message",
            Self::None => "None",
        }
    }
}

/// The message-waiting state of one number (RFC 3842 §5.2).
///
/// `waiting` is `Messages-Waiting: yes|no`; the counts are those of the `class` line
/// (`new/old (urgent_new/urgent_old)`), zero when the server sent none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MwiState {
    /// `Messages-Waiting: yes`: the lamp is on and the stutter dial tone plays.
    pub waiting: bool,
    /// The class the counts belong to.
    pub class: MessageClass,
    /// New (unheard) messages.
    pub new: u32,
    /// Old (heard, kept) messages.
    pub old: u32,
    /// New urgent messages (a subset of `new`).
    pub urgent_new: u32,
    /// Old urgent messages (a subset of `old`).
    pub urgent_old: u32,
}

impl MwiState {
    /// Message waiting with `new` new messages of the voice class.
    pub fn voice(waiting: bool, new: u32, old: u32) -> Self {
        Self {
            waiting,
            new,
            old,
            ..Self::default()
        }
    }
}

/// Where sipd writes what it learns: the shared-memory table in production, an in-process
/// map in tests. Last state wins per number; implementations must never lose the latest state.
pub trait MwiSink {
    /// Error returned by [`MwiSink::publish`].
    type Error: std::error::Error;

    /// Record `state` as the current MWI state of `number` (digits as configured, e.g. "8000").
    fn publish(&mut self, number: &str, state: MwiState) -> Result<(), Self::Error>;
}
