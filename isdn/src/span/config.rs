//! The configuration of one span's MWI engine (the `[[pri]]` table of the config file).

use std::time::Duration;

use crate::call::CallConfig;
use crate::q921::Side;
use crate::q931::{NumberingPlan, TypeOfNumber};
use crate::qsig::{MsgCentreId, PartyNumber, PrivateTypeOfNumber, PublicTypeOfNumber};

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

/// Which supplementary-service protocol carries MWI on the span (config `mwi_protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MwiProtocol {
    /// `qsig`: ECMA-242 SS-MWI, local operation values 80..82, Facility profile `0x9f` with
    /// the network facility extension (ECMA-165 §8.1).
    Qsig,
    /// `etsi`: ETSI EN 300 745-1 (DSS1, EuroISDN) mwiActivate / mwiDeactivate, OID operation
    /// values, Facility profile `0x91` ([`crate::etsi`]). No MWIInterrogate exists there:
    /// [`Resync::Interrogate`] acts as [`Resync::All`].
    Etsi,
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
    /// Every number the engine knows (config `resync = "send"`).
    All,
    /// Lamps that are on, plus any number whose confirmed state differs from its state.
    On,
    /// Config `resync = "interrogate"`: ask the PBX for every number the engine knows
    /// (MWIInterrogate, ECMA-242 §6.3) and send MWIActivate / MWIDeactivate only where its
    /// answer differs from the wanted state. A Reject, a ReturnError other than notAvailable,
    /// or no answer at all means [`Resync::All`] for that number.
    Interrogate,
}

/// Configuration of one span (from the `[[pri]]` table of the config file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanConfig {
    /// `side`: user (CPE) or network; sets Q.921 C/R.
    pub side: Side,
    /// `mwi_protocol`: QSIG or ETSI operations, both directions.
    pub protocol: MwiProtocol,
    /// `mwi_transport`.
    pub transport: Transport,
    /// `party_number`: servedUserNr encoding.
    pub party_number: PartyNumberType,
    /// `message_count`: send nbOfMessages in MWIActivate when known.
    pub message_count: bool,
    /// Calling party number IE of the SETUP (e.g. the voice-mail pilot); none when `None`.
    pub calling_number: Option<String>,
    /// Type of number of [`SpanConfig::calling_number`] (Q.931 §4.5.10).
    pub calling_ton: TypeOfNumber,
    /// Numbering plan of [`SpanConfig::calling_number`] (Q.931 §4.5.10).
    pub calling_plan: NumberingPlan,
    /// msgCentreId of every invoke and interrogate result (ECMA-242 §7); none when `None`.
    /// An MWIInterrogate from the PBX naming another message centre is answered with
    /// invalidMsgCentreId.
    pub msg_centre_id: Option<MsgCentreId>,
    /// originatingNr of MWIActivate and of interrogate results (ECMA-242 §7), digits
    /// encoded like servedUserNr ([`SpanConfig::party_number`]); none when `None`.
    pub originating_nr: Option<String>,
    /// Number manipulation of servedUserNr and the SETUP's called party number: this many
    /// leading digits removed (all of them when the number is shorter), then
    /// [`SpanConfig::served_prefix`] put in front.
    pub served_strip: usize,
    /// Digits put in front of servedUserNr after [`SpanConfig::served_strip`].
    pub served_prefix: String,
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
    /// Defaults for `side`: QSIG, SETUP transport, unknown party numbers, message counts on, no
    /// calling number, msgCentreId or originatingNr, servedUserNr unchanged, resync all, 7 outstanding, T303 4 s, T308 4 s, T310 30 s, retries from 1 s up to 60 s, no
    /// basic calls.
    pub fn new(side: Side) -> Self {
        SpanConfig {
            side,
            protocol: MwiProtocol::Qsig,
            transport: Transport::Setup,
            party_number: PartyNumberType::Unknown,
            message_count: true,
            calling_number: None,
            calling_ton: TypeOfNumber::Unknown,
            calling_plan: NumberingPlan::Unknown,
            msg_centre_id: None,
            originating_nr: None,
            served_strip: 0,
            served_prefix: String::new(),
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

    /// The servedUserNr digits for local number `number`: [`SpanConfig::served_strip`]
    /// leading digits removed, then [`SpanConfig::served_prefix`] put in front.
    pub fn served_number(&self, number: &str) -> String {
        let rest = number.get(self.served_strip..).unwrap_or("");
        format!("{}{rest}", self.served_prefix)
    }

    /// Whether `served` is [`SpanConfig::served_number`] of `number`, without building it.
    pub fn is_served_as(&self, number: &str, served: &str) -> bool {
        served.strip_prefix(self.served_prefix.as_str())
            == Some(number.get(self.served_strip..).unwrap_or(""))
    }

    /// `digits` as a PartyNumber in the span's servedUserNr encoding
    /// ([`SpanConfig::party_number`]): unknownPartyNumber, privatePartyNumber localNumber or
    /// publicPartyNumber unknown (ECMA-155).
    pub fn party_number(&self, digits: &str) -> PartyNumber {
        let digits = digits.to_owned();
        match self.party_number {
            PartyNumberType::Unknown => PartyNumber::Unknown(digits),
            PartyNumberType::Private => PartyNumber::Private {
                ton: PrivateTypeOfNumber::Local,
                digits,
            },
            PartyNumberType::Public => PartyNumber::Public {
                ton: PublicTypeOfNumber::Unknown,
                digits,
            },
        }
    }
}
