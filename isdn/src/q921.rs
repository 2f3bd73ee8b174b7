//! Q.921 LAPD for a PRI D-channel, sans-IO: SAPI 0, fixed TEI 0 (no TEI management),
//! modulo-128 multiple-frame operation (ITU-T Q.921 §5, SDL of Annex B), user or network side.
//!
//! Wire format: [`Packet`] is a checked view of one frame (address, control, information; no
//! flags, no FCS: what a DAHDI HDLC channel or the sim D-channel socket carries) and [`Repr`]
//! parses and emits every frame type. [`Lapd`] is the data-link state machine: it takes received
//! frames, layer-3 payloads and the current time, and returns frames to transmit
//! ([`Lapd::poll_transmit`]), events ([`Lapd::poll_event`]) and the next deadline
//! ([`Lapd::poll_timeout`]).

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

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
    /// Command/response bit as on the wire; see [`Side::cr_bit`] for its meaning.
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
    /// Frames handed to [`Lapd::poll_transmit`].
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

/// One Q.921 data-link entity (SAPI 0, TEI 0) in multiple-frame operation, sans-IO.
///
/// Drive it with [`Lapd::start`], [`Lapd::handle_frame`], [`Lapd::send`] and
/// [`Lapd::handle_timeout`]; drain [`Lapd::poll_transmit`] and [`Lapd::poll_event`] after each
/// call and wake at [`Lapd::poll_timeout`]. Once started, the entity keeps (re-)establishing
/// the link after any loss, one SABME cycle per T200, until [`Lapd::stop`].
#[derive(Debug)]
pub struct Lapd {
    cfg: Config,
    state: State,
    vs: u8,
    va: u8,
    vr: u8,
    rc: u8,
    peer_busy: bool,
    reject_exception: bool,
    ack_pending: bool,
    layer3_initiated: bool,
    persistent: bool,
    reported_up: bool,
    t200: Option<Instant>,
    t203: Option<Instant>,
    /// Payloads of I frames sent and not yet acknowledged; index 0 has N(S) = V(A).
    window: VecDeque<Vec<u8>>,
    /// Payloads not yet sent (the I queue).
    queue: VecDeque<Vec<u8>>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    stats: Stats,
}

fn seq_add(a: u8, b: u8) -> u8 {
    a.wrapping_add(b) & 0x7f
}

fn seq_sub(a: u8, b: u8) -> u8 {
    a.wrapping_sub(b) & 0x7f
}

impl Lapd {
    /// A released entity (state 4) with the given parameters. `k` is clamped to 1..=127,
    /// `n200` to at least 1, T200 and T203 to at most an hour.
    pub fn new(mut cfg: Config) -> Self {
        cfg.k = cfg.k.clamp(1, 127);
        cfg.n200 = cfg.n200.max(1);
        // Keeps `now + timer` far from Instant overflow whatever the configuration.
        cfg.t200 = cfg.t200.min(Duration::from_secs(3600));
        cfg.t203 = cfg.t203.min(Duration::from_secs(3600));
        Lapd {
            cfg,
            state: State::Released,
            vs: 0,
            va: 0,
            vr: 0,
            rc: 0,
            peer_busy: false,
            reject_exception: false,
            ack_pending: false,
            layer3_initiated: false,
            persistent: false,
            reported_up: false,
            t200: None,
            t203: None,
            window: VecDeque::new(),
            queue: VecDeque::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The parameters in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Current data-link state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether I frames can flow (states 7 and 8).
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established | State::TimerRecovery)
    }

    /// Whether the peer reported receiver busy (RNR) and has not cleared it.
    pub fn peer_busy(&self) -> bool {
        self.peer_busy
    }

    /// Payloads queued or sent and not yet acknowledged by the peer.
    pub fn outstanding(&self) -> usize {
        self.window.len() + self.queue.len()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// DL-ESTABLISH request (Q.921 §5.5.1): send SABME unless already established, and keep the
    /// link up from now on (re-establish after any loss).
    pub fn start(&mut self, now: Instant) {
        self.persistent = true;
        match self.state {
            State::Released | State::AwaitingRelease => {
                self.establish_data_link(now);
                self.layer3_initiated = true;
                self.state = State::AwaitingEstablishment;
            }
            State::AwaitingEstablishment | State::Established | State::TimerRecovery => {}
        }
    }

    /// DL-RELEASE request (Q.921 §5.5.3): discard the I queue, send DISC and stop keeping the
    /// link up.
    pub fn stop(&mut self, now: Instant) {
        self.persistent = false;
        match self.state {
            State::Established | State::TimerRecovery => {
                self.discard_queues();
                self.rc = 0;
                self.send_frame(Kind::Disc, true, true);
                self.t203 = None;
                self.t200 = Some(now + self.cfg.t200);
                self.state = State::AwaitingRelease;
                self.report_down();
            }
            State::AwaitingEstablishment => {
                self.discard_queues();
                self.t200 = None;
                self.state = State::Released;
            }
            State::Released => self.t200 = None,
            State::AwaitingRelease => {}
        }
    }

    /// The physical layer went away (DAHDI alarm, sim peer disconnected; MPH-DEACTIVATE):
    /// drop to state 4 without sending anything, discard queues, report [`Event::LinkDown`].
    /// Call [`Lapd::start`] again when the physical layer is back.
    pub fn link_lost(&mut self) {
        self.discard_queues();
        self.t200 = None;
        self.t203 = None;
        self.state = State::Released;
        self.out.clear();
        self.report_down();
    }

    /// DL-DATA request: queue one layer-3 message for transmission in an I frame. Accepted while
    /// established or establishing; the frame leaves as soon as the window (k) and the peer's
    /// receiver allow. Errors: [`SendError`].
    pub fn send(&mut self, now: Instant, payload: Vec<u8>) -> Result<(), SendError> {
        if payload.len() > N201 {
            return Err(SendError::TooLong);
        }
        match self.state {
            State::Established | State::TimerRecovery | State::AwaitingEstablishment => {
                self.stats.payloads_queued += 1;
                self.queue.push_back(payload);
                self.push_i_frames(now);
                Ok(())
            }
            State::Released | State::AwaitingRelease => Err(SendError::NotEstablished),
        }
    }

    /// DL-UNIT DATA request: send `payload` at once in a UI command frame (Q.921 §5.2).
    pub fn send_unit_data(&mut self, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > N201 {
            return Err(SendError::TooLong);
        }
        let repr = Repr {
            sapi: SAPI_CALL_CONTROL,
            cr: self.cfg.side.cr_bit(true),
            tei: TEI_PRI,
            kind: Kind::Ui,
            pf: false,
            info: payload,
        };
        self.push_out(repr.to_vec());
        Ok(())
    }

    /// Next frame to transmit (address + control + information, no FCS).
    ///
    /// An I frame received with P = 0 is acknowledged by the N(R) of the next I frame sent;
    /// only when nothing else is left to send does this return an RR for it, so layer 3 can
    /// answer (e.g. the next SETUP) between [`Lapd::handle_frame`] and draining the frames.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() && self.ack_pending && self.is_established() {
            self.enquiry_response(false);
        }
        self.out.pop_front()
    }

    /// Next event for layer 3 or management.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest running timer (T200 or T203), if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.t200, self.t203) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Run the expiry of every timer due at `now` (Q.921 §5.5.1.3, §5.6.7, §5.7).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.t200.is_some_and(|t| t <= now) {
            self.t200 = None;
            self.t200_expiry(now);
        }
        if self.t203.is_some_and(|t| t <= now) {
            self.t203 = None;
            if self.state == State::Established {
                self.transmit_enquiry(now);
                self.rc = 0;
                self.state = State::TimerRecovery;
            }
        }
    }

    /// Process one received frame (no FCS). Frames for another SAPI or TEI and frames with an
    /// invalid address are ignored; frame rejection conditions W, X, Y re-establish the link
    /// when it is established (Q.921 §5.8.5). Never panics.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        self.stats.frames_in += 1;
        let repr = match Repr::parse_bytes(frame) {
            Ok(r) => r,
            Err(Error::Truncated | Error::BadAddress) => return,
            Err(e) => {
                let addressed = Packet::new_checked(frame)
                    .is_ok_and(|p| p.sapi() == SAPI_CALL_CONTROL && p.tei() == TEI_PRI);
                if addressed && self.is_established() {
                    self.events.push_back(Event::Error(match e {
                        Error::UndefinedControl => MdlError::L,
                        Error::TooLong => MdlError::N,
                        _ => MdlError::M,
                    }));
                    self.reestablish(now);
                }
                return;
            }
        };
        if repr.sapi != SAPI_CALL_CONTROL || repr.tei != TEI_PRI {
            return;
        }
        let command = self.cfg.side.peer().is_command(repr.cr);
        match self.state {
            State::Released => self.released_frame(now, &repr, command),
            State::AwaitingEstablishment => self.awaiting_establishment_frame(now, &repr, command),
            State::AwaitingRelease => self.awaiting_release_frame(&repr, command),
            State::Established | State::TimerRecovery => {
                self.established_frame(now, &repr, command)
            }
        }
    }

    // ---- per-state frame handling (Q.921 Annex B) ----

    fn released_frame(&mut self, now: Instant, r: &Repr<'_>, command: bool) {
        match (r.kind, command) {
            (Kind::Sabme, true) => {
                self.send_frame(Kind::Ua, false, r.pf);
                self.clear_exception_conditions();
                self.reset_variables();
                self.t200 = None;
                self.t203 = Some(now + self.cfg.t203);
                self.state = State::Established;
                self.report_up();
            }
            (Kind::Disc, true) => self.send_frame(Kind::Dm, false, r.pf),
            (Kind::Ui, true) => self.events.push_back(Event::UnitData(r.info.to_vec())),
            (Kind::Ua, false) => {
                self.events
                    .push_back(Event::Error(if r.pf { MdlError::C } else { MdlError::D }))
            }
            (Kind::Dm, false) if !r.pf && self.persistent => {
                self.establish_data_link(now);
                self.layer3_initiated = true;
                self.state = State::AwaitingEstablishment;
            }
            // Any other command with P = 1 is answered DM F = 1 (Q.921 §5.5.2 disconnected mode).
            (_, true) if r.pf => self.send_frame(Kind::Dm, false, true),
            _ => {}
        }
    }

    fn awaiting_establishment_frame(&mut self, now: Instant, r: &Repr<'_>, command: bool) {
        match (r.kind, command) {
            (Kind::Sabme, true) => self.send_frame(Kind::Ua, false, r.pf),
            (Kind::Disc, true) => self.send_frame(Kind::Dm, false, r.pf),
            (Kind::Ui, true) => self.events.push_back(Event::UnitData(r.info.to_vec())),
            (Kind::Ua, false) if r.pf => {
                if !self.layer3_initiated && self.vs != self.va {
                    self.discard_queues();
                }
                self.t200 = None;
                self.t203 = Some(now + self.cfg.t203);
                self.reset_variables();
                self.state = State::Established;
                self.report_up();
                self.push_i_frames(now);
            }
            (Kind::Ua, false) => self.events.push_back(Event::Error(MdlError::D)),
            (Kind::Dm, false) if r.pf => {
                self.discard_queues();
                self.state = State::Released;
                // Keep trying after one T200 if the link is meant to be up.
                self.t200 = self.persistent.then(|| now + self.cfg.t200);
                self.report_down();
            }
            _ => {}
        }
    }

    fn awaiting_release_frame(&mut self, r: &Repr<'_>, command: bool) {
        match (r.kind, command) {
            (Kind::Sabme, true) => self.send_frame(Kind::Dm, false, r.pf),
            (Kind::Disc, true) => self.send_frame(Kind::Ua, false, r.pf),
            (Kind::Ua | Kind::Dm, false) if r.pf => {
                self.t200 = None;
                self.state = State::Released;
            }
            (Kind::Ua, false) => self.events.push_back(Event::Error(MdlError::D)),
            _ => {}
        }
    }

    fn established_frame(&mut self, now: Instant, r: &Repr<'_>, command: bool) {
        let recovery = self.state == State::TimerRecovery;
        match (r.kind, command) {
            (Kind::Sabme, true) => {
                self.send_frame(Kind::Ua, false, r.pf);
                self.clear_exception_conditions();
                self.events.push_back(Event::Error(MdlError::F));
                if self.vs != self.va {
                    self.discard_queues();
                    self.report_down();
                }
                self.t200 = None;
                self.t203 = Some(now + self.cfg.t203);
                self.reset_variables();
                self.state = State::Established;
                self.report_up();
            }
            (Kind::Disc, true) => {
                self.discard_queues();
                self.send_frame(Kind::Ua, false, r.pf);
                self.t200 = None;
                self.t203 = None;
                self.state = State::Released;
                self.report_down();
                if self.persistent {
                    self.t200 = Some(now + self.cfg.t200);
                }
            }
            (Kind::Ui, true) => self.events.push_back(Event::UnitData(r.info.to_vec())),
            (Kind::Ua, false) => {
                self.events
                    .push_back(Event::Error(if r.pf { MdlError::C } else { MdlError::D }))
            }
            (Kind::Dm, false) => {
                if r.pf && !recovery {
                    self.events.push_back(Event::Error(MdlError::B));
                } else {
                    self.events.push_back(Event::Error(if r.pf {
                        MdlError::B
                    } else {
                        MdlError::E
                    }));
                    self.reestablish(now);
                }
            }
            (Kind::Frmr, false) => {
                self.events.push_back(Event::Error(MdlError::K));
                self.reestablish(now);
            }
            (Kind::Rr { nr } | Kind::Rnr { nr } | Kind::Rej { nr }, _) => {
                self.peer_busy = matches!(r.kind, Kind::Rnr { .. });
                let rej = matches!(r.kind, Kind::Rej { .. });
                if command && r.pf {
                    self.enquiry_response(true);
                }
                let final_response = !command && r.pf;
                if final_response && !recovery {
                    self.events.push_back(Event::Error(MdlError::A));
                }
                if !self.nr_valid(nr) {
                    self.nr_error_recovery(now);
                    return;
                }
                if recovery {
                    self.ack_to(nr);
                    if final_response {
                        self.t200 = None;
                        self.invoke_retransmission(nr);
                        self.state = State::Established;
                        if self.peer_busy {
                            self.t200 = Some(now + self.cfg.t200);
                        } else {
                            self.t203 = Some(now + self.cfg.t203);
                        }
                    } else if rej {
                        self.invoke_retransmission(nr);
                    }
                } else if self.peer_busy {
                    self.ack_to(nr);
                    self.t203 = None;
                    self.t200 = Some(now + self.cfg.t200);
                } else if rej {
                    self.ack_to(nr);
                    self.t200 = None;
                    self.t203 = Some(now + self.cfg.t203);
                    self.invoke_retransmission(nr);
                } else {
                    self.update_acknowledged(now, nr);
                }
                self.push_i_frames(now);
            }
            (Kind::I { ns, nr }, true) => {
                if ns == self.vr {
                    self.vr = seq_add(self.vr, 1);
                    self.reject_exception = false;
                    self.events.push_back(Event::Data(r.info.to_vec()));
                    if r.pf {
                        self.enquiry_response(true);
                    } else {
                        self.ack_pending = true;
                    }
                } else if self.reject_exception {
                    if r.pf {
                        self.enquiry_response(true);
                    }
                } else {
                    self.reject_exception = true;
                    self.send_frame(Kind::Rej { nr: self.vr }, false, r.pf);
                    self.ack_pending = false;
                }
                if !self.nr_valid(nr) {
                    self.nr_error_recovery(now);
                    return;
                }
                if recovery || self.peer_busy {
                    self.ack_to(nr);
                } else {
                    self.update_acknowledged(now, nr);
                }
                self.push_i_frames(now);
            }
            _ => {}
        }
    }

    fn t200_expiry(&mut self, now: Instant) {
        match self.state {
            State::Released => {
                if self.persistent {
                    self.establish_data_link(now);
                    self.layer3_initiated = true;
                    self.state = State::AwaitingEstablishment;
                }
            }
            State::AwaitingEstablishment => {
                if self.rc >= self.cfg.n200 {
                    self.discard_queues();
                    self.events.push_back(Event::Error(MdlError::G));
                    self.state = State::Released;
                    self.t200 = self.persistent.then(|| now + self.cfg.t200);
                    self.report_down();
                } else {
                    self.rc += 1;
                    self.send_frame(Kind::Sabme, true, true);
                    self.t200 = Some(now + self.cfg.t200);
                }
            }
            State::AwaitingRelease => {
                if self.rc >= self.cfg.n200 {
                    self.events.push_back(Event::Error(MdlError::H));
                    self.state = State::Released;
                } else {
                    self.rc += 1;
                    self.send_frame(Kind::Disc, true, true);
                    self.t200 = Some(now + self.cfg.t200);
                }
            }
            State::Established => {
                self.rc = 0;
                self.transmit_enquiry(now);
                self.rc = 1;
                self.state = State::TimerRecovery;
            }
            State::TimerRecovery => {
                if self.rc >= self.cfg.n200 {
                    self.events.push_back(Event::Error(MdlError::I));
                    self.reestablish(now);
                } else {
                    self.transmit_enquiry(now);
                    self.rc += 1;
                }
            }
        }
    }

    // ---- procedures named in the Annex B SDL ----

    fn establish_data_link(&mut self, now: Instant) {
        self.clear_exception_conditions();
        self.rc = 0;
        self.send_frame(Kind::Sabme, true, true);
        self.t203 = None;
        self.t200 = Some(now + self.cfg.t200);
    }

    /// Re-establishment initiated by this entity after an error (layer 3 not initiator).
    fn reestablish(&mut self, now: Instant) {
        self.discard_queues();
        self.report_down();
        self.establish_data_link(now);
        self.layer3_initiated = false;
        self.state = State::AwaitingEstablishment;
    }

    fn nr_error_recovery(&mut self, now: Instant) {
        self.events.push_back(Event::Error(MdlError::J));
        self.reestablish(now);
    }

    fn clear_exception_conditions(&mut self) {
        self.peer_busy = false;
        self.reject_exception = false;
        self.ack_pending = false;
    }

    fn reset_variables(&mut self) {
        self.vs = 0;
        self.va = 0;
        self.vr = 0;
    }

    fn discard_queues(&mut self) {
        self.stats.payloads_discarded += (self.window.len() + self.queue.len()) as u64;
        self.window.clear();
        self.queue.clear();
    }

    fn transmit_enquiry(&mut self, now: Instant) {
        self.send_frame(Kind::Rr { nr: self.vr }, true, true);
        self.ack_pending = false;
        self.t200 = Some(now + self.cfg.t200);
        self.t203 = None;
    }

    fn enquiry_response(&mut self, f: bool) {
        self.send_frame(Kind::Rr { nr: self.vr }, false, f);
        self.ack_pending = false;
    }

    /// V(A) ≤ N(R) ≤ V(S), modulo 128.
    fn nr_valid(&self, nr: u8) -> bool {
        nr < 128 && seq_sub(nr, self.va) <= seq_sub(self.vs, self.va)
    }

    /// V(A) := N(R), dropping acknowledged payloads from the retransmission window.
    fn ack_to(&mut self, nr: u8) {
        let n = usize::from(seq_sub(nr, self.va));
        let n = n.min(self.window.len());
        self.stats.payloads_acked += n as u64;
        self.window.drain(..n);
        self.va = nr;
    }

    /// Acknowledgement handling in state 7 (Q.921 §5.6.3.2): stop T200 when all is
    /// acknowledged, restart it when some progress was made.
    fn update_acknowledged(&mut self, now: Instant, nr: u8) {
        if nr == self.vs {
            self.ack_to(nr);
            self.t200 = None;
            self.t203 = Some(now + self.cfg.t203);
        } else if nr != self.va {
            self.ack_to(nr);
            self.t200 = Some(now + self.cfg.t200);
        }
    }

    /// V(S) := N(R): the I frames from N(R) on are sent again (Q.921 §5.6.4).
    fn invoke_retransmission(&mut self, nr: u8) {
        self.vs = nr;
    }

    /// Transmit I frames while the window is open and the peer is not busy; frames between
    /// V(S) and the end of the window are retransmissions.
    fn push_i_frames(&mut self, now: Instant) {
        if self.state != State::Established && self.state != State::TimerRecovery {
            return;
        }
        while !self.peer_busy && seq_sub(self.vs, self.va) < self.cfg.k {
            let idx = usize::from(seq_sub(self.vs, self.va));
            if idx >= self.window.len() {
                match self.queue.pop_front() {
                    Some(p) => self.window.push_back(p),
                    None => break,
                }
            } else {
                self.stats.retransmissions += 1;
            }
            let Some(payload) = self.window.get(idx) else {
                break;
            };
            let frame = Repr {
                sapi: SAPI_CALL_CONTROL,
                cr: self.cfg.side.cr_bit(true),
                tei: TEI_PRI,
                kind: Kind::I {
                    ns: self.vs,
                    nr: self.vr,
                },
                pf: false,
                info: payload,
            }
            .to_vec();
            self.push_out(frame);
            self.vs = seq_add(self.vs, 1);
            self.ack_pending = false;
            if self.t200.is_none() {
                self.t203 = None;
                self.t200 = Some(now + self.cfg.t200);
            }
        }
    }

    fn send_frame(&mut self, kind: Kind, command: bool, pf: bool) {
        let repr = Repr {
            sapi: SAPI_CALL_CONTROL,
            cr: self.cfg.side.cr_bit(command),
            tei: TEI_PRI,
            kind,
            pf,
            info: &[],
        };
        self.push_out(repr.to_vec());
    }

    fn push_out(&mut self, frame: Vec<u8>) {
        self.stats.frames_out += 1;
        self.stats.octets_out += frame.len() as u64;
        self.out.push_back(frame);
    }

    fn report_up(&mut self) {
        if !self.reported_up {
            self.reported_up = true;
            self.events.push_back(Event::LinkUp);
        }
    }

    fn report_down(&mut self) {
        if self.reported_up {
            self.reported_up = false;
            self.events.push_back(Event::LinkDown);
        }
    }
}
