//! Alerting an FXS port for an incoming call: the ring cadence of its zone (`DAHDI_SETCADENCE`)
//! and on-hook caller ID between the first and the second ring (docs/calls.md, "On-hook caller
//! ID").
//!
//! - [`RingCadence`]: on/off durations in ms, as `struct dahdi_ring_cadence` (dahdi/user.h) takes
//!   them; the built-in zones carry DAHDI's `zonedata.c` cadences (docs/calls.md, "Ring cadences").
//! - [`CallerId`] and [`mdmf_call_setup`]: the MDMF call setup message (type 0x80; GR-30,
//!   EN 300 659-3), rendered as FSK (Bell 202 or V.23) by [`crate::fsk::render_spill`].
//! - [`Alerting`]: the sans-IO core ([`sansio::Core`]) that follows the cadence
//!   ([`AlertEvent::Ring`]) and hands out the caller-ID audio as 160-sample blocks in the line's
//!   law ([`Core::poll_transmit`]), each at the time it is due. The spill starts
//!   [`CID_AFTER_RING_MS`] after the first ring ends and must end [`CID_BEFORE_RING_MS`] before
//!   the next one (GR-30); it goes in the first silent interval of the cadence long enough for it.

use std::collections::VecDeque;
use std::fmt;

use sansio::{Core, Duration, Instant, Timers};

use crate::fsk::{render_spill, spill_ms, FskStandard};
use crate::law::{Block, Law, BLOCK_MS};

/// Most values in a cadence (`DAHDI_MAX_CADENCE`, dahdi/user.h).
pub const MAX_CADENCE: usize = 16;
/// Longest on or off value accepted, ms (a sanity bound; DAHDI's zones use at most 5 s).
pub const MAX_CADENCE_MS: u32 = 30_000;
/// Earliest start of the caller-ID spill after the first ring ends, ms (GR-30).
pub const CID_AFTER_RING_MS: u32 = 500;
/// Least silence between the end of the spill and the next ring, ms (GR-30).
pub const CID_BEFORE_RING_MS: u32 = 200;
/// MDMF message type "Call Setup" (GR-30; EN 300 659-3).
pub const MDMF_CALL_SETUP: u8 = 0x80;
/// Parameter: date and time, 8 ASCII digits MMDDHHMM.
pub const PARAM_DATE_TIME: u8 = 0x01;
/// Parameter: calling number (ASCII).
pub const PARAM_NUMBER: u8 = 0x02;
/// Parameter: reason the calling number is absent (`O` or `P`).
pub const PARAM_NUMBER_ABSENT: u8 = 0x04;
/// Parameter: calling name (ASCII).
pub const PARAM_NAME: u8 = 0x07;
/// Parameter: reason the calling name is absent (`O` or `P`).
pub const PARAM_NAME_ABSENT: u8 = 0x08;
/// Longest calling number sent, characters (EN 300 659-3 allows 20; GR-30 displays 15 digits,
/// a phone shows what fits).
pub const MAX_NUMBER: usize = 20;
/// Longest calling name sent, characters (GR-30: 15).
pub const MAX_NAME: usize = 15;

/// A ring cadence: on, off, on, off ... durations in ms, at most [`MAX_CADENCE`] values,
/// repeated for as long as the port rings (`DAHDI_SETCADENCE`, `struct dahdi_ring_cadence`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingCadence {
    ms: Vec<u32>,
}

/// Why a cadence is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CadenceError {
    /// Not an even count of 2 to [`MAX_CADENCE`] values (on/off pairs).
    Count(usize),
    /// Value at this index is 0 or above [`MAX_CADENCE_MS`].
    Value(usize),
}

impl fmt::Display for CadenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CadenceError::Count(n) => write!(
                f,
                "ring cadence has {n} values: expected on/off pairs, 2 to {MAX_CADENCE}"
            ),
            CadenceError::Value(i) => write!(
                f,
                "ring cadence value {} must be 1 to {MAX_CADENCE_MS} ms",
                i + 1
            ),
        }
    }
}

impl std::error::Error for CadenceError {}

/// DAHDI's ring cadences by zone number (dahdi-tools `zonedata.c` `ringcadence`, docs/calls.md).
const ZONE_CADENCES: &[(u8, &[u32])] = &[
    (0, &[2000, 4000]),           // us
    (1, &[400, 200, 400, 2000]),  // au
    (2, &[1500, 3500]),           // fr
    (3, &[1000, 4000]),           // nl
    (4, &[400, 200, 400, 2000]),  // uk
    (5, &[1000, 4000]),           // fi
    (6, &[1500, 3000]),           // es
    (7, &[1000, 2000]),           // jp
    (8, &[1000, 4000]),           // no
    (9, &[1000, 5000]),           // at
    (10, &[400, 200, 400, 2000]), // nz
    (11, &[1000, 4000]),          // it
    (12, &[2000, 4000]),          // us-old
    (13, &[1000, 4000]),          // gr
    (14, &[1000, 4000]),          // tw
    (15, &[1000, 3000]),          // cl
    (16, &[1000, 5000]),          // se
    (17, &[1000, 3000]),          // be
    (18, &[400, 200, 400, 2000]), // sg
    (19, &[1000, 3000]),          // il
    (20, &[1000, 4000]),          // br
    (21, &[1250, 3750]),          // hu
    (22, &[1000, 4000]),          // lt
    (23, &[1000, 4000]),          // pl
    (24, &[400, 200, 400, 2000]), // za
    (25, &[1000, 5000]),          // pt
    (26, &[1000, 4000]),          // ee
    (27, &[2000, 4000]),          // mx
    (28, &[400, 200, 400, 2000]), // in
    (29, &[1000, 4000]),          // de
    (30, &[1000, 4000]),          // ch
    (31, &[1000, 4000]),          // dk
    (32, &[1000, 4000]),          // cz
    (33, &[1000, 4000]),          // cn
    (34, &[1000, 4500]),          // ar
    (35, &[400, 200, 400, 2000]), // my
    (36, &[1000, 4000]),          // th
    (37, &[1000, 4000]),          // bg
    (38, &[1000, 4000]),          // ve
    (39, &[1000, 4000]),          // ph
    (40, &[1000, 4000]),          // ru
    (41, &[2000, 4000]),          // tr
    (42, &[2000, 4000]),          // pa
    (43, &[1000, 4000]),          // mo
    (44, &[1203, 4797]),          // cr
    (45, &[1500, 4000]),          // ae
];

impl RingCadence {
    /// A cadence of on/off values in ms. Errors: [`CadenceError`].
    pub fn new(ms: &[u32]) -> Result<Self, CadenceError> {
        if ms.len() < 2 || ms.len() > MAX_CADENCE || ms.len() % 2 != 0 {
            return Err(CadenceError::Count(ms.len()));
        }
        if let Some(i) = ms.iter().position(|&v| v == 0 || v > MAX_CADENCE_MS) {
            return Err(CadenceError::Value(i));
        }
        Ok(Self { ms: ms.to_vec() })
    }

    /// The cadence of DAHDI zone `zone` (the `dahdi_zone` of a built-in tone plan), `None` for
    /// a number `zonedata.c` does not have.
    pub fn for_zone(zone: u8) -> Option<Self> {
        ZONE_CADENCES
            .iter()
            .find(|(z, _)| *z == zone)
            .map(|(_, ms)| Self { ms: ms.to_vec() })
    }

    /// The on/off values, ms.
    pub fn values(&self) -> &[u32] {
        &self.ms
    }

    /// The argument of `DAHDI_SETCADENCE`: `struct dahdi_ring_cadence { int ringcadence[16]; }`,
    /// unused values 0.
    pub fn dahdi_ring_cadence(&self) -> [i32; MAX_CADENCE] {
        let mut out = [0; MAX_CADENCE];
        for (o, &v) in out.iter_mut().zip(&self.ms) {
            // Bounded by MAX_CADENCE_MS in `new`.
            *o = v as i32;
        }
        out
    }
}

/// Why the name or the number is not shown (GR-30 / EN 300 659-3 "reason for absence").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presentation {
    /// Shown: the text (printable ASCII is kept, other characters dropped; truncated to
    /// [`MAX_NUMBER`] or [`MAX_NAME`]).
    Available(String),
    /// Withheld by the caller: `P`.
    Private,
    /// Unavailable, e.g. the call came from a network that did not pass it: `O`.
    OutOfArea,
}

/// Local date and time of the call for parameter 0x01 (the core reads no clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallTime {
    /// 1-12.
    pub month: u8,
    /// 1-31.
    pub day: u8,
    /// 0-23.
    pub hour: u8,
    /// 0-59.
    pub minute: u8,
}

/// What the phone displays for an incoming call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerId {
    /// Date and time; `None` leaves parameter 0x01 out.
    pub time: Option<CallTime>,
    /// The calling number (parameter 0x02) or why it is absent (0x04).
    pub number: Presentation,
    /// The calling name (parameter 0x07) or why it is absent (0x08); `None` leaves both out.
    pub name: Option<Presentation>,
}

/// Append parameter `ty` with `value` to `m`.
fn param(m: &mut Vec<u8>, ty: u8, value: &[u8]) {
    m.push(ty);
    m.push(value.len() as u8);
    m.extend_from_slice(value);
}

/// Append the presentation parameter (`present` with the text, or `absent` with `P`/`O`).
fn presentation(m: &mut Vec<u8>, p: &Presentation, present: u8, absent: u8, max: usize) {
    match p {
        Presentation::Available(text) => {
            let v: Vec<u8> = text
                .bytes()
                .filter(|b| (0x20..0x7F).contains(b))
                .take(max)
                .collect();
            param(m, present, &v);
        }
        Presentation::Private => param(m, absent, b"P"),
        Presentation::OutOfArea => param(m, absent, b"O"),
    }
}

/// The MDMF call setup message: type 0x80, length, parameters (0x01 date/time MMDDHHMM, 0x02
/// number or 0x04 its absence, 0x07 name or 0x08 its absence), checksum (two's complement of the
/// sum of all previous octets) (GR-30; EN 300 659-3 §5.2). A [`CallTime`] field out of range is
/// left out with the whole parameter. Shape: at most 2 + 10 + 22 + 17 + 1 = 52 octets.
pub fn mdmf_call_setup(cid: &CallerId) -> Vec<u8> {
    let mut m = vec![MDMF_CALL_SETUP, 0];
    if let Some(t) = cid.time {
        let valid = (1..=12).contains(&t.month)
            && (1..=31).contains(&t.day)
            && t.hour < 24
            && t.minute < 60;
        if valid {
            let text = format!("{:02}{:02}{:02}{:02}", t.month, t.day, t.hour, t.minute);
            param(&mut m, PARAM_DATE_TIME, text.as_bytes());
        }
    }
    presentation(
        &mut m,
        &cid.number,
        PARAM_NUMBER,
        PARAM_NUMBER_ABSENT,
        MAX_NUMBER,
    );
    if let Some(name) = &cid.name {
        presentation(&mut m, name, PARAM_NAME, PARAM_NAME_ABSENT, MAX_NAME);
    }
    m[1] = (m.len() - 2) as u8;
    let sum = m.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    m.push(sum.wrapping_neg());
    m
}

/// What [`Alerting`] asks of the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertEvent {
    /// Ring voltage on (`true`: `DAHDI_HOOK` `DAHDI_RING`) or off (`false`: `DAHDI_RINGOFF`).
    Ring(bool),
    /// On-hook audio follows for this long, ms: `DAHDI_ONHOOKTRANSFER` (docs/calls.md).
    OnHookTransfer {
        /// Duration of the spill, ms.
        ms: u32,
    },
    /// Caller ID was not sent: no silent interval of the cadence holds the spill with its
    /// margins (the cadence is too short for `spill_ms`).
    CallerIdSkipped {
        /// Duration of the spill that did not fit, ms.
        spill_ms: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum AlertTimer {
    /// The current cadence value ends.
    Cadence,
    /// The next caller-ID block is due.
    Audio,
}

/// The alerting of one incoming call on one port (sans-IO): ringing by the cadence, caller ID
/// in the first silent interval that holds it. Events are [`AlertEvent`]s; transmits are the
/// caller-ID blocks, each handed out when due (the event loop writes it to the channel).
pub struct Alerting {
    cadence: RingCadence,
    standard: FskStandard,
    law: Law,
    /// Index of the running cadence value (even = ringing).
    step: usize,
    ringing: bool,
    /// The spill not yet due, its length in blocks, and the index of the cadence value it goes
    /// in until that value begins.
    spill: VecDeque<Block>,
    spill_blocks: usize,
    spill_step: Option<usize>,
    events: VecDeque<AlertEvent>,
    out: VecDeque<Block>,
    timers: Timers<AlertTimer>,
}

impl Alerting {
    /// An idle alerting for a port with `cadence`, caller ID in `standard` and `law`.
    pub fn new(cadence: RingCadence, standard: FskStandard, law: Law) -> Self {
        Self {
            cadence,
            standard,
            law,
            step: 0,
            ringing: false,
            spill: VecDeque::new(),
            spill_blocks: 0,
            spill_step: None,
            events: VecDeque::new(),
            out: VecDeque::new(),
            timers: Timers::new(),
        }
    }

    /// Starts ringing at `now`; with `caller`, its caller ID goes between the first ring and
    /// the next (a call already alerting starts over).
    pub fn start(&mut self, now: Instant, caller: Option<&CallerId>) {
        self.reset();
        self.step = 0;
        self.set_ring(true);
        self.timers
            .set(AlertTimer::Cadence, now + ms(self.cadence.ms[0]));
        let Some(cid) = caller else { return };
        let blocks = render_spill(self.standard, self.law, &mdmf_call_setup(cid));
        let need = spill_ms(blocks.len()) + CID_AFTER_RING_MS + CID_BEFORE_RING_MS;
        match (1..self.cadence.ms.len())
            .step_by(2)
            .find(|&i| self.cadence.ms[i] >= need)
        {
            Some(i) => {
                self.spill_blocks = blocks.len();
                self.spill = blocks.into();
                self.spill_step = Some(i);
            }
            None => self.events.push_back(AlertEvent::CallerIdSkipped {
                spill_ms: spill_ms(blocks.len()),
            }),
        }
    }

    /// Stops alerting at `now` (answered, CANCEL, or the caller gave up): ring off, caller ID
    /// not yet sent dropped.
    pub fn stop(&mut self, _now: Instant) {
        self.reset();
        if self.ringing {
            self.set_ring(false);
        }
    }

    /// Whether the port is alerting (between [`Alerting::start`] and [`Alerting::stop`]).
    pub fn is_active(&self) -> bool {
        self.timers.is_running(AlertTimer::Cadence)
    }

    fn reset(&mut self) {
        self.timers.cancel(AlertTimer::Cadence);
        self.timers.cancel(AlertTimer::Audio);
        self.spill.clear();
        self.spill_step = None;
        self.out.clear();
    }

    fn set_ring(&mut self, on: bool) {
        self.ringing = on;
        self.events.push_back(AlertEvent::Ring(on));
    }

    /// The running cadence value ended at `at`: the next one begins.
    fn next_step(&mut self, at: Instant) {
        self.step = (self.step + 1) % self.cadence.ms.len();
        self.set_ring(self.step % 2 == 0);
        self.timers
            .set(AlertTimer::Cadence, at + ms(self.cadence.ms[self.step]));
        if self.spill_step == Some(self.step) {
            self.spill_step = None;
            self.timers
                .set(AlertTimer::Audio, at + ms(CID_AFTER_RING_MS));
        }
    }

    /// The spill's block due at `at`; the first one comes after its ONHOOKTRANSFER.
    fn next_block(&mut self, at: Instant) {
        if self.spill.len() == self.spill_blocks {
            self.events.push_back(AlertEvent::OnHookTransfer {
                ms: spill_ms(self.spill_blocks),
            });
        }
        let Some(block) = self.spill.pop_front() else {
            return;
        };
        self.out.push_back(block);
        if !self.spill.is_empty() {
            self.timers
                .set(AlertTimer::Audio, at + Duration::from_millis(BLOCK_MS));
        }
    }
}

/// `v` ms as a [`Duration`].
fn ms(v: u32) -> Duration {
    Duration::from_millis(u64::from(v))
}

impl Core for Alerting {
    type Transmit = Block;
    type Event = AlertEvent;

    /// Cadence steps and caller-ID blocks due at `now`, each at its own deadline.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(at) = self.timers.next().filter(|&at| at <= now) {
            match self.timers.pop_due(now) {
                Some(AlertTimer::Cadence) => self.next_step(at),
                Some(AlertTimer::Audio) => self.next_block(at),
                None => break,
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Block> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<AlertEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::{builtin_names, TonePlan};

    /// What happened at a time, ms after start.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Event(AlertEvent),
        Block,
    }

    /// Start `a` at t0 with `cid`, run it for `until` ms, optionally stop at `stop_at`; the
    /// timeline.
    fn run(
        a: &mut Alerting,
        cid: Option<&CallerId>,
        until: u64,
        stop_at: Option<u64>,
    ) -> Vec<(u64, Seen)> {
        let t0 = Instant::now();
        let mut seen = Vec::new();
        a.start(t0, cid);
        let drain = |a: &mut Alerting, at: u64, seen: &mut Vec<(u64, Seen)>| {
            while let Some(e) = a.poll_event() {
                seen.push((at, Seen::Event(e)));
            }
            while a.poll_transmit().is_some() {
                seen.push((at, Seen::Block));
            }
        };
        drain(a, 0, &mut seen);
        while let Some(next) = a.poll_timeout() {
            let at = (next - t0).as_millis() as u64;
            if let Some(s) = stop_at.filter(|&s| s <= at) {
                a.stop(t0 + Duration::from_millis(s));
                drain(a, s, &mut seen);
                break;
            }
            if at > until {
                break;
            }
            a.handle_timeout(next);
            drain(a, at, &mut seen);
        }
        seen
    }

    fn alice() -> CallerId {
        CallerId {
            time: Some(CallTime {
                month: 3,
                day: 15,
                hour: 14,
                minute: 30,
            }),
            number: Presentation::Available("5551234567".into()),
            name: Some(Presentation::Available("ALICE".into())),
        }
    }

    fn rings(seen: &[(u64, Seen)]) -> Vec<(u64, bool)> {
        seen.iter()
            .filter_map(|(t, s)| match s {
                Seen::Event(AlertEvent::Ring(on)) => Some((*t, *on)),
                _ => None,
            })
            .collect()
    }

    fn blocks(seen: &[(u64, Seen)]) -> Vec<u64> {
        seen.iter()
            .filter(|(_, s)| *s == Seen::Block)
            .map(|(t, _)| *t)
            .collect()
    }

    #[test]
    fn zone_cadences() {
        let us = TonePlan::builtin("us").unwrap().dahdi_zone.unwrap();
        let uk = TonePlan::builtin("uk").unwrap().dahdi_zone.unwrap();
        let de = TonePlan::builtin("de").unwrap().dahdi_zone.unwrap();
        assert_eq!(RingCadence::for_zone(us).unwrap().values(), [2000, 4000]);
        assert_eq!(
            RingCadence::for_zone(uk).unwrap().values(),
            [400, 200, 400, 2000]
        );
        assert_eq!(RingCadence::for_zone(de).unwrap().values(), [1000, 4000]);
        for name in builtin_names() {
            let zone = TonePlan::builtin(name).unwrap().dahdi_zone.unwrap();
            let c = RingCadence::for_zone(zone).unwrap_or_else(|| panic!("{name}: no cadence"));
            assert_eq!(RingCadence::new(c.values()), Ok(c.clone()), "{name}");
        }
        assert_eq!(RingCadence::for_zone(46), None);
        let mut want = [0; MAX_CADENCE];
        want[..4].copy_from_slice(&[400, 200, 400, 2000]);
        assert_eq!(
            RingCadence::for_zone(uk).unwrap().dahdi_ring_cadence(),
            want
        );
    }

    #[test]
    fn cadence_validation() {
        assert_eq!(RingCadence::new(&[]), Err(CadenceError::Count(0)));
        assert_eq!(RingCadence::new(&[1000]), Err(CadenceError::Count(1)));
        assert_eq!(RingCadence::new(&[1; 18]), Err(CadenceError::Count(18)));
        assert_eq!(RingCadence::new(&[1000, 0]), Err(CadenceError::Value(1)));
        assert_eq!(
            RingCadence::new(&[MAX_CADENCE_MS + 1, 10]),
            Err(CadenceError::Value(0))
        );
        assert!(RingCadence::new(&[100; 16]).is_ok());
        assert_eq!(
            CadenceError::Value(1).to_string(),
            "ring cadence value 2 must be 1 to 30000 ms"
        );
    }

    #[test]
    fn mdmf_message_bytes() {
        let m = mdmf_call_setup(&alice());
        let mut want = vec![0x80, 29, 0x01, 8];
        want.extend_from_slice(b"03151430");
        want.extend_from_slice(&[0x02, 10]);
        want.extend_from_slice(b"5551234567");
        want.extend_from_slice(&[0x07, 5]);
        want.extend_from_slice(b"ALICE");
        let sum = want.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        want.push(sum.wrapping_neg());
        assert_eq!(m, want);
        assert_eq!(m.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
    }

    #[test]
    fn mdmf_privacy_out_of_area_and_limits() {
        let private = CallerId {
            time: None,
            number: Presentation::Private,
            name: Some(Presentation::Private),
        };
        assert_eq!(
            mdmf_call_setup(&private)[..8],
            [0x80, 6, 0x04, 1, b'P', 0x08, 1, b'P']
        );
        let away = CallerId {
            time: None,
            number: Presentation::OutOfArea,
            name: Some(Presentation::OutOfArea),
        };
        assert_eq!(
            mdmf_call_setup(&away)[..8],
            [0x80, 6, 0x04, 1, b'O', 0x08, 1, b'O']
        );
        let long = CallerId {
            time: Some(CallTime {
                month: 13,
                day: 1,
                hour: 0,
                minute: 0,
            }),
            number: Presentation::Available("1".repeat(40)),
            name: Some(Presentation::Available("Zoë\u{7} Quite-Long Name".into())),
        };
        let m = mdmf_call_setup(&long);
        assert_eq!(m[2..4], [0x02, MAX_NUMBER as u8]); // bad month: no date
        let name = &m[4 + MAX_NUMBER..m.len() - 1];
        assert_eq!(name[..2], [0x07, MAX_NAME as u8]);
        assert_eq!(&name[2..], b"Zo Quite-Long N");
        assert_eq!(m[1] as usize, m.len() - 3);
        assert_eq!(m.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
    }

    #[test]
    fn us_rings_and_sends_caller_id_between_first_and_second_ring() {
        let mut a = Alerting::new(
            RingCadence::for_zone(0).unwrap(),
            FskStandard::Bell202,
            Law::Mulaw,
        );
        let seen = run(&mut a, Some(&alice()), 12_000, None);
        assert_eq!(
            rings(&seen),
            [
                (0, true),
                (2000, false),
                (6000, true),
                (8000, false),
                (12_000, true)
            ]
        );
        let b = blocks(&seen);
        let n = render_spill(FskStandard::Bell202, Law::Mulaw, &mdmf_call_setup(&alice())).len();
        assert_eq!(b.len(), n);
        assert_eq!(b[0], 2000 + u64::from(CID_AFTER_RING_MS));
        assert!(b.windows(2).all(|w| w[1] - w[0] == BLOCK_MS));
        assert!(b[n - 1] + BLOCK_MS + u64::from(CID_BEFORE_RING_MS) <= 6000);
        let transfer = seen
            .iter()
            .position(|s| matches!(s.1, Seen::Event(AlertEvent::OnHookTransfer { .. })))
            .unwrap();
        assert_eq!(
            seen[transfer],
            (
                2500,
                Seen::Event(AlertEvent::OnHookTransfer { ms: spill_ms(n) })
            )
        );
        assert_eq!(seen[transfer + 1], (2500, Seen::Block));
    }

    #[test]
    fn uk_caller_id_goes_in_the_long_pause() {
        let mut a = Alerting::new(
            RingCadence::for_zone(4).unwrap(),
            FskStandard::V23,
            Law::Alaw,
        );
        let seen = run(&mut a, Some(&alice()), 3000, None);
        assert_eq!(
            rings(&seen),
            [
                (0, true),
                (400, false),
                (600, true),
                (1000, false),
                (3000, true)
            ]
        );
        let b = blocks(&seen);
        assert_eq!(b[0], 1500);
        assert!(*b.last().unwrap() + BLOCK_MS + 200 <= 3000);
    }

    #[test]
    fn caller_id_skipped_when_no_pause_holds_it() {
        let mut a = Alerting::new(
            RingCadence::new(&[2000, 1000]).unwrap(),
            FskStandard::Bell202,
            Law::Mulaw,
        );
        let seen = run(&mut a, Some(&alice()), 6000, None);
        assert!(matches!(
            seen[1],
            (0, Seen::Event(AlertEvent::CallerIdSkipped { .. }))
        ));
        assert!(blocks(&seen).is_empty());
        assert_eq!(rings(&seen).len(), 5);
    }

    #[test]
    fn stop_ends_ring_and_drops_caller_id() {
        let cadence = RingCadence::for_zone(0).unwrap();
        let mut a = Alerting::new(cadence.clone(), FskStandard::Bell202, Law::Mulaw);
        let seen = run(&mut a, Some(&alice()), 20_000, Some(1000));
        assert_eq!(rings(&seen), [(0, true), (1000, false)]);
        assert!(blocks(&seen).is_empty());
        assert!(!a.is_active());
        assert_eq!(a.poll_timeout(), None);
        // Stopped mid-spill, in the silent interval: no ring-off, no further block.
        let mut a = Alerting::new(cadence, FskStandard::Bell202, Law::Mulaw);
        let seen = run(&mut a, Some(&alice()), 20_000, Some(2600));
        assert_eq!(rings(&seen), [(0, true), (2000, false)]);
        assert!(blocks(&seen).iter().all(|&t| t < 2600));
        assert_eq!(a.poll_timeout(), None);
        // Without caller ID it only rings.
        let mut a = Alerting::new(
            RingCadence::for_zone(29).unwrap(),
            FskStandard::V23,
            Law::Alaw,
        );
        let seen = run(&mut a, None, 5000, None);
        assert_eq!(rings(&seen), [(0, true), (1000, false), (5000, true)]);
        assert!(blocks(&seen).is_empty());
    }
}
