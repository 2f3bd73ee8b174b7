//! A small QSIG "PBX" on a sim D-channel socket, built on the isdn crate's Q.921 ([`Lapd`]) and
//! Q.931/ROSE/QSIG codecs: it brings the link up (on either side), decodes every SS-MWI invoke
//! it receives (ECMA-242 MWIActivate / MWIDeactivate in a call-independent SETUP or a
//! connectionless FACILITY) and answers as a PBX does: RELEASE COMPLETE (cause 16) carrying a
//! ReturnResult for a SETUP, a FACILITY with the ReturnResult for a connectionless invoke. It
//! keeps its lamps ([`QsigPbx::lamps`]) and answers MWIInterrogate from them (ECMA-242 §6.3:
//! a result with nbOfMessages when on, ReturnError notAvailable when off).
//! Real time, driven by [`QsigPbx::step`] from the test's thread.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use chand::backend::sim::peer::Pbx;
use isdn::q921::{Config, Event, Lapd, Side};
use isdn::q931::{
    cause, CallReference, Cause, Location, Message, MessageType, NumberingPlan, TypeOfNumber,
};
use isdn::qsig::{
    self, BasicService, MwiInterrogateRes, MwiInterrogateResElt, MwiInvoke, PartyNumber, DUMMY_RES,
};
use isdn::rose::{self, Component, Facility};
use sansio::Core;

/// How an invoke reached the PBX (ECMA-165 §7.1 / §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// In a call-independent SETUP.
    Setup,
    /// In a FACILITY on the dummy call reference.
    Facility,
}

/// One SS-MWI invoke the PBX decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// When its frame arrived.
    pub at: Instant,
    /// The Q.931 message that carried it.
    pub via: Via,
    /// invokeId.
    pub invoke_id: i64,
    /// The operation with its argument.
    pub invoke: MwiInvoke,
    /// The calling party number of the SETUP: digits, type of number, numbering plan.
    pub calling: Option<(String, TypeOfNumber, NumberingPlan)>,
    /// The called party number of the SETUP.
    pub called: Option<String>,
}

impl Received {
    /// servedUserNr's digits.
    pub fn served(&self) -> &str {
        self.invoke.served_user_nr().digits()
    }

    /// `true` for MWIActivate, `false` for MWIDeactivate (and MWIInterrogate).
    pub fn is_activate(&self) -> bool {
        matches!(self.invoke, MwiInvoke::Activate(_))
    }

    /// nbOfMessages of an MWIActivate.
    pub fn nb_of_messages(&self) -> Option<u16> {
        match &self.invoke {
            MwiInvoke::Activate(a) => a.nb_of_messages,
            _ => None,
        }
    }

    /// One line: `MWIActivate invokeId=1 servedUserNr=2001 (unknownPartyNumber)
    /// basicService=speech(1) nbOfMessages=2, in a SETUP`.
    pub fn describe(&self) -> String {
        let (op, service, extra) = match &self.invoke {
            MwiInvoke::Activate(a) => (
                "MWIActivate",
                a.basic_service,
                a.nb_of_messages
                    .map(|n| format!(" nbOfMessages={n}"))
                    .unwrap_or_default(),
            ),
            MwiInvoke::Deactivate(a) => ("MWIDeactivate", a.basic_service, String::new()),
            MwiInvoke::Interrogate(a) => ("MWIInterrogate", a.basic_service, String::new()),
        };
        format!(
            "{op} invokeId={} servedUserNr={} ({}) basicService={service:?}({}){extra}, in a {}",
            self.invoke_id,
            self.served(),
            party_kind(self.invoke.served_user_nr()),
            service.value(),
            match self.via {
                Via::Setup => "call-independent SETUP",
                Via::Facility => "connectionless FACILITY",
            }
        )
    }
}

/// The ECMA-155 PartyNumber alternative's name.
fn party_kind(p: &PartyNumber) -> &'static str {
    match p {
        PartyNumber::Unknown(_) => "unknownPartyNumber",
        PartyNumber::Public { .. } => "publicPartyNumber",
        PartyNumber::Data(_) => "dataPartyNumber",
        PartyNumber::Telex(_) => "telexPartyNumber",
        PartyNumber::Private { .. } => "privatePartyNumber",
        PartyNumber::NationalStandard(_) => "nationalStandardPartyNumber",
    }
}

/// The PBX on one D-channel socket.
pub struct QsigPbx {
    socket: Pbx,
    lapd: Lapd,
    up: bool,
    closed: bool,
    /// Every SS-MWI invoke decoded, in arrival order.
    pub received: Vec<Received>,
    /// Q.921 frames received from chand (without FCS), for tshark or latency figures.
    pub frames_in: Vec<(Instant, Vec<u8>)>,
    /// Every Q.931 message received from chand, in arrival order.
    pub messages: Vec<Vec<u8>>,
    /// The PBX's lamps by servedUserNr: nbOfMessages of the last MWIActivate (`None`: none
    /// given); a number is absent while its lamp is off.
    pub lamps: BTreeMap<String, Option<u16>>,
    /// Facility IE contents chand sent that answer an invoke (ReturnResult, ReturnError,
    /// Reject), e.g. to [`QsigPbx::send_setup`].
    pub answers: Vec<Vec<u8>>,
}

impl QsigPbx {
    /// Connect to D-channel `dchannel` under `sim_dir` (chand sees layer 1 up) as the Q.921
    /// `side` (the opposite of chand's) and start establishing the link. Waits up to `timeout`
    /// for chand to listen.
    pub fn connect(
        sim_dir: &Path,
        dchannel: u32,
        side: Side,
        timeout: Duration,
    ) -> io::Result<Self> {
        let socket = Pbx::connect(sim_dir, dchannel, timeout)?;
        let mut lapd = Lapd::new(Config::new(side));
        lapd.start(Instant::now());
        let mut pbx = Self {
            socket,
            lapd,
            up: false,
            closed: false,
            received: Vec::new(),
            frames_in: Vec::new(),
            messages: Vec::new(),
            lamps: BTreeMap::new(),
            answers: Vec::new(),
        };
        pbx.flush(Instant::now());
        Ok(pbx)
    }

    /// Whether the Q.921 link is established.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Wait for one frame (at most `max_wait`, less if a Q.921 timer is due) and handle it and
    /// any due timer.
    pub fn step(&mut self, max_wait: Duration) {
        if self.closed {
            std::thread::sleep(max_wait);
            return;
        }
        let now = Instant::now();
        let wait = self.lapd.poll_timeout().map_or(max_wait, |t| {
            t.saturating_duration_since(now)
                .min(max_wait)
                .max(Duration::from_millis(1))
        });
        match self.socket.recv_frame(wait) {
            Ok(frame) => {
                let at = Instant::now();
                self.lapd.handle_frame(at, &frame);
                self.frames_in.push((at, frame));
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
            Err(_) => {
                self.closed = true;
                self.lapd.link_lost();
            }
        }
        let now = Instant::now();
        if self.lapd.poll_timeout().is_some_and(|t| t <= now) {
            self.lapd.handle_timeout(now);
        }
        self.flush(now);
    }

    /// Send one Q.931 message of the PBX's own (e.g. an MWIActivate of its voice mail).
    ///
    /// Errors: the link is not established.
    pub fn send_message(&mut self, q931: Vec<u8>) -> io::Result<()> {
        let now = Instant::now();
        self.lapd
            .send(now, q931)
            .map_err(|e| io::Error::new(io::ErrorKind::NotConnected, format!("{e:?}")))?;
        self.flush(now);
        Ok(())
    }

    /// Step until `cond` holds or `timeout` passes; whether it held.
    pub fn run_until(&mut self, timeout: Duration, cond: impl Fn(&Self) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while !cond(self) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.step(left.min(Duration::from_millis(20)));
        }
        true
    }

    /// Sends a call-independent SETUP (ECMA-165 §7.1) on our call reference `value` carrying
    /// Facility IE content `facility` (an invoke for chand to answer). Errors: the link is
    /// down.
    pub fn send_setup(&mut self, value: u16, facility: &[u8]) -> Result<(), isdn::q921::SendError> {
        let cr = CallReference::Call { value, flag: false };
        let now = Instant::now();
        self.lapd
            .send(now, Message::setup_cis(cr, facility, None, None).to_vec())?;
        self.flush(now);
        Ok(())
    }

    /// Step for `duration`, whatever happens.
    pub fn run_for(&mut self, duration: Duration) {
        let end = Instant::now() + duration;
        self.run_until(duration, |_| Instant::now() >= end);
    }

    /// Send what Q.921 wants sent and act on what it delivered.
    fn flush(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(frame) = self.lapd.poll_transmit() {
                progressed = true;
                if self.socket.send_frame(&frame).is_err() {
                    self.closed = true;
                }
            }
            while let Some(ev) = self.lapd.poll_event() {
                progressed = true;
                match ev {
                    Event::LinkUp => self.up = true,
                    Event::LinkDown => self.up = false,
                    Event::Data(msg) | Event::UnitData(msg) => self.on_message(now, &msg),
                    Event::Error(_) => {}
                }
            }
            if !progressed {
                return;
            }
        }
    }

    /// A layer-3 message from chand: decode its invokes and answer.
    fn on_message(&mut self, now: Instant, bytes: &[u8]) {
        self.messages.push(bytes.to_vec());
        let Ok(msg) = Message::parse(bytes) else {
            return;
        };
        for content in &msg.facility {
            if Facility::parse(content).is_ok_and(|f| {
                f.components
                    .iter()
                    .any(|c| !matches!(c, Component::Invoke(_)))
            }) {
                self.answers.push(content.to_vec());
            }
        }
        let via = match (msg.message_type, msg.call_reference) {
            (MessageType::Setup, CallReference::Call { .. }) => Via::Setup,
            (MessageType::Facility, CallReference::Dummy) => Via::Facility,
            _ => return,
        };
        let mut results = Vec::new();
        for content in &msg.facility {
            let Ok(facility) = Facility::parse(content) else {
                continue;
            };
            for component in &facility.components {
                let Component::Invoke(invoke) = component else {
                    continue;
                };
                if let Ok(mwi) = MwiInvoke::from_invoke(invoke) {
                    results.push(self.apply(invoke.invoke_id, &mwi));
                    self.received.push(Received {
                        at: now,
                        via,
                        invoke_id: invoke.invoke_id,
                        invoke: mwi,
                        calling: msg
                            .calling_party_number
                            .map(|c| (c.digits.to_owned(), c.ton, c.plan)),
                        called: msg.called_party_number.map(|c| c.digits.to_owned()),
                    });
                }
            }
        }
        let cr = msg.call_reference.reply();
        let answer = match via {
            Via::Setup => {
                let mut m = Message::release_complete(
                    cr,
                    Some(Cause::new(Location::PrivateLocal, cause::NORMAL_CLEARING)),
                );
                m.facility = results.iter().map(Vec::as_slice).collect();
                m.to_vec()
            }
            Via::Facility if !results.is_empty() => {
                let mut m = Message::new(cr, MessageType::Facility);
                m.facility = results.iter().map(Vec::as_slice).collect();
                m.to_vec()
            }
            Via::Facility => return,
        };
        // A refused send (link reset meanwhile) only loses the courtesy answer.
        let _ = self.lapd.send(now, answer);
    }

    /// Sets the lamp an MWIActivate / MWIDeactivate names, or reads it for MWIInterrogate;
    /// the answer's Facility IE content.
    fn apply(&mut self, invoke_id: i64, mwi: &MwiInvoke) -> Vec<u8> {
        let served = mwi.served_user_nr().digits().to_owned();
        match mwi {
            MwiInvoke::Activate(a) => {
                self.lamps.insert(served, a.nb_of_messages);
            }
            MwiInvoke::Deactivate(_) => {
                self.lamps.remove(&served);
            }
            MwiInvoke::Interrogate(_) => {
                let Some(count) = self.lamps.get(&served) else {
                    return qsig::return_error_facility(invoke_id, rose::error::NOT_AVAILABLE);
                };
                let res = MwiInterrogateRes(vec![MwiInterrogateResElt {
                    basic_service: BasicService::Speech,
                    msg_centre_id: None,
                    nb_of_messages: *count,
                    originating_nr: None,
                    timestamp: None,
                    priority: None,
                }]);
                return qsig::return_result_facility(
                    invoke_id,
                    qsig::MWI_INTERROGATE,
                    &res.to_vec(),
                );
            }
        }
        qsig::return_result_facility(invoke_id, mwi.operation_value(), DUMMY_RES)
    }
}
