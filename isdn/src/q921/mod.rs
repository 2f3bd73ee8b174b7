//! Q.921 LAPD for a PRI D-channel, sans-IO: SAPI 0, fixed TEI 0 (no TEI management),
//! modulo-128 multiple-frame operation (ITU-T Q.921 §5, SDL of Annex B), user or network side.
//!
//! Wire format: [`Packet`] is a checked view of one frame (address, control, information; no
//! flags, no FCS: what a DAHDI HDLC channel or the sim D-channel socket carries) and [`Repr`]
//! parses and emits every frame type. [`Lapd`] is the data-link state machine: it takes received
//! frames, layer-3 payloads and the current time, and returns frames to transmit
//! (`poll_transmit`), events (`poll_event`) and the next deadline (`poll_timeout`) through
//! `sansio::Core`.
//!
//! Modules: `frame` (the wire format), `link` (the state machine).

use std::fmt;
use std::time::Duration;

mod frame;
mod link;

pub use frame::{Error, Kind, Packet, Repr};
pub use link::Lapd;

/// SAPI of call-control procedures (Q.921 Table 2): the only SAPI this entity serves.
pub const SAPI_CALL_CONTROL: u8 = 0;
/// TEI of a point-to-point PRI data link (Q.921 §5.3.2: fixed TEI, no TEI management).
pub const TEI_PRI: u8 = 0;
/// N201: maximum number of octets in an information field (Q.921 §5.9.3).
pub const N201: usize = 260;

/// Which end of the interface this entity is (Q.921 §3.3.2, Table 1: sets the C/R bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The user (CPE, TE) side: commands carry C/R = 0, responses C/R = 1.
    User,
    /// The network (NT) side: commands carry C/R = 1, responses C/R = 0.
    Network,
}

impl Side {
    /// The C/R bit this side puts on a command (`command = true`) or a response (Q.921 Table 1).
    pub fn cr_bit(self, command: bool) -> bool {
        (self == Side::Network) == command
    }

    /// The other end of the interface.
    pub fn peer(self) -> Side {
        match self {
            Side::User => Side::Network,
            Side::Network => Side::User,
        }
    }

    /// Whether a frame *sent by this side* with C/R bit `cr` is a command (Q.921 Table 1).
    pub fn is_command(self, cr: bool) -> bool {
        cr == (self == Side::Network)
    }
}

/// Data-link parameters (Q.921 §5.9). Defaults are those of a PRI: T200 1 s, N200 3,
/// T203 10 s, k 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Which side we are (sets C/R, Q.921 Table 1).
    pub side: Side,
    /// T200: acknowledgement / retransmission timer (§5.9.1).
    pub t200: Duration,
    /// N200: maximum number of retransmissions (§5.9.2).
    pub n200: u8,
    /// T203: maximum time without frame exchange before polling the peer (§5.9.8).
    pub t203: Duration,
    /// k: maximum number of outstanding I frames, 1..=127 (§5.9.5).
    pub k: u8,
    /// The k of payloads queued with [`Lapd::send`] (not [`Lapd::send_priority`]): such a
    /// payload is sent only while fewer I frames than this are outstanding, 1..=k. `k` (the
    /// default) treats both alike; 1 keeps at most one bulk frame on the line ahead of a
    /// priority one, so a lamp resync delays call control by at most one frame's line time.
    pub bulk_k: u8,
}

impl Config {
    /// PRI defaults for `side`.
    pub fn new(side: Side) -> Self {
        Config {
            side,
            t200: Duration::from_secs(1),
            n200: 3,
            t203: Duration::from_secs(10),
            k: 7,
            bulk_k: 7,
        }
    }
}

/// MDL-ERROR indication codes (Q.921 Table II.1, Appendix II), reported for management and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdlError {
    /// A: supervisory response with F = 1 received unsolicited.
    A,
    /// B: DM response with F = 1 received unsolicited.
    B,
    /// C: UA response with F = 1 received unsolicited.
    C,
    /// D: UA response with F = 0 received unsolicited.
    D,
    /// E: DM response with F = 0 received (peer is in disconnected mode).
    E,
    /// F: peer-initiated re-establishment (SABME received while established).
    F,
    /// G: SABME unanswered N200 times.
    G,
    /// H: DISC unanswered N200 times.
    H,
    /// I: status enquiry unanswered N200 times (timer recovery).
    I,
    /// J: N(R) sequence error.
    J,
    /// K: FRMR received.
    K,
    /// L: undefined control field received (condition W).
    L,
    /// M: information field not permitted or wrong length (condition X).
    M,
    /// N: information field too long (condition Y).
    N,
}

/// What the data link reports to layer 3 and management.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Multiple-frame operation established (DL-ESTABLISH indication or confirm). Also reported
    /// after a [`Event::LinkDown`] caused by a re-establishment: unacknowledged data may be lost.
    LinkUp,
    /// Multiple-frame operation ended or is being re-established (DL-RELEASE indication or
    /// confirm, or a reset): nothing can be sent until the next [`Event::LinkUp`].
    LinkDown,
    /// A layer-3 message received in an I frame (DL-DATA indication).
    Data(Vec<u8>),
    /// A layer-3 message received in a UI frame (DL-UNIT DATA indication).
    UnitData(Vec<u8>),
    /// A protocol error (MDL-ERROR indication).
    Error(MdlError),
}

/// Data-link states of a fixed-TEI entity (Q.921 Annex B numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// 4, TEI assigned: released.
    Released,
    /// 5, awaiting establishment: SABME sent.
    AwaitingEstablishment,
    /// 6, awaiting release: DISC sent.
    AwaitingRelease,
    /// 7, multiple frame established.
    Established,
    /// 8, timer recovery: an enquiry (RR/RNR with P = 1) is outstanding.
    TimerRecovery,
}

/// Why [`Lapd::send`] refused a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The payload exceeds N201 (260 octets).
    TooLong,
    /// The data link is released or being released: establish it first.
    NotEstablished,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::TooLong => "payload longer than N201 (260 octets)",
            SendError::NotEstablished => "data link not established",
        })
    }
}

impl std::error::Error for SendError {}

/// Counters of one data link, for status and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames handed to `poll_transmit`.
    pub frames_out: u64,
    /// Octets of those frames (without FCS).
    pub octets_out: u64,
    /// Frames given to [`Lapd::handle_frame`].
    pub frames_in: u64,
    /// I frames transmitted again (after REJ, timer recovery).
    pub retransmissions: u64,
    /// Payloads accepted by [`Lapd::send`].
    pub payloads_queued: u64,
    /// Payloads whose I frame the peer acknowledged.
    pub payloads_acked: u64,
    /// Payloads discarded unacknowledged (link reset or release). Payload number `n` (1-based,
    /// counted by `payloads_queued`) is resolved once `payloads_acked + payloads_discarded >= n`.
    pub payloads_discarded: u64,
}
