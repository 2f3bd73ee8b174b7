//! The configuration of one span's MWI engine (the `[[pri]]` table of the config file).

use std::time::Duration;

use crate::call::CallConfig;
use crate::q921::Side;

/// Upper bound of [`SpanConfig::max_outstanding`].
pub const MAX_OUTSTANDING: usize = 1024;
/// Upper bound of every timer and backoff of [`SpanConfig`].
pub const MAX_TIMER: Duration = Duration::from_secs(86_400);

/// How MWI invokes travel to the PBX (config `mwi_transport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `setup`: call-independent signalling connection, SETUP with the invoke (ECMA-165 §7.1).
    Setup,
    /// `facility`: connectionless FACILITY on the dummy call reference (ECMA-165 §7.3).
    Facility,
}

/// Encoding of servedUserNr (config `party_number`, ECMA-155 PartyNumber).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartyNumberType {
    /// `unknownPartyNumber [0]` (what libpri sends).
    Unknown,
    /// `privatePartyNumber [5]`, type of number localNumber.
    Private,
    /// `publicPartyNumber [1]`, type of number unknown.
    Public,
}

/// Which numbers are sent again when the link comes up or the engine starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resync {
    /// Every number the engine knows.
    All,
    /// Lamps that are on, plus any number whose confirmed state differs from its state.
    On,
}

/// Configuration of one span (from the `[[pri]]` table of the config file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanConfig {
    /// `side`: user (CPE) or network; sets Q.921 C/R.
    pub side: Side,
    /// `mwi_transport`.
    pub transport: Transport,
    /// `party_number`: servedUserNr encoding.
    pub party_number: PartyNumberType,
    /// `message_count`: send nbOfMessages in MWIActivate when known.
    pub message_count: bool,
    /// Calling party number IE of the SETUP (e.g. the voice-mail pilot); none when `None`.
    pub calling_number: Option<String>,
    /// Resync policy on link up and start.
    pub resync: Resync,
    /// At most this many deliveries unanswered at once (1..=1024; default 7).
    pub max_outstanding: usize,
    /// T303: SETUP answer timer (Q.931 Table 9-1, 4 s).
    pub t303: Duration,
    /// T308: RELEASE answer timer (Q.931 Table 9-1, 4 s).
    pub t308: Duration,
    /// T310: after CALL PROCEEDING, waiting for the final answer (Q.931 Table 9-1, 30 s).
    pub t310: Duration,
    /// First retry delay after a failure; doubles up to `retry_max`.
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Q.931 basic calls on this span ([`crate::call`]); `None`: every call SETUP is refused
    /// (RELEASE COMPLETE cause 69) as before calls existed.
    pub calls: Option<CallConfig>,
}

impl SpanConfig {
    /// Defaults for `side`: SETUP transport, unknown party numbers, message counts on, resync
    /// all, 7 outstanding, T303 4 s, T308 4 s, T310 30 s, retries from 1 s up to 60 s, no
    /// basic calls.
    pub fn new(side: Side) -> Self {
        SpanConfig {
            side,
            transport: Transport::Setup,
            party_number: PartyNumberType::Unknown,
            message_count: true,
            calling_number: None,
            resync: Resync::All,
            max_outstanding: 7,
            t303: Duration::from_secs(4),
            t308: Duration::from_secs(4),
            t310: Duration::from_secs(30),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            calls: None,
        }
    }
}
