//! The span MWI engine against a scripted PBX (a network-side Q.921 entity plus Q.931 answers
//! built with the codec API), with a simulated clock.

mod common;

use std::time::{Duration, Instant};

use isdn::q921::{self, Lapd, Side};
use isdn::q931::{cause, CallReference, Cause, Location, Message, MessageType};
use isdn::qsig::{self, BasicService, MwiDeactivateArg, MwiInvoke, PartyNumber};
use isdn::rose::{Code, Component, Facility, Invoke};
use isdn::span::{Lamp, Resync, Span, SpanConfig, SpanEvent, Transport};
use proptest::prelude::*;
use sansio::Core;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    ReleaseComplete(u8),
    Connect,
    Disconnect(u8),
    Silent,
}

struct Pbx {
    lapd: Lapd,
    answer: Answer,
    /// Every MWI invoke received, with the message type that carried it.
    invokes: Vec<(MessageType, MwiInvoke)>,
    /// Every Q.931 message received.
    messages: Vec<Vec<u8>>,
}

impl Pbx {
    fn new(side: Side) -> Self {
        Pbx {
            lapd: Lapd::new(q921::Config::new(side)),
            answer: Answer::ReleaseComplete(cause::FACILITY_NOT_IMPLEMENTED),
            invokes: Vec::new(),
            messages: Vec::new(),
        }
    }

    fn on_message(&mut self, now: Instant, bytes: &[u8]) {
        self.messages.push(bytes.to_vec());
        let msg = Message::parse(bytes).expect("our messages parse");
        for f in &msg.facility {
            let fac = Facility::parse(f).expect("facility parses");
            for c in &fac.components {
                if let Component::Invoke(i) = c {
                    self.invokes
                        .push((msg.message_type, MwiInvoke::from_invoke(i).expect("MWI")));
                }
            }
        }
        let cr = msg.call_reference.reply();
        let reply = match (msg.message_type, self.answer) {
            (MessageType::Setup, Answer::ReleaseComplete(c)) => Some(Message::release_complete(
                cr,
                Some(Cause::new(Location::PrivateLocal, c)),
            )),
            (MessageType::Setup, Answer::Connect) => Some(Message::new(cr, MessageType::Connect)),
            (MessageType::Setup, Answer::Disconnect(c)) => Some(Message::disconnect(
                cr,
                Cause::new(Location::PrivateLocal, c),
            )),
            (MessageType::Release, a) if a != Answer::Silent => {
                Some(Message::release_complete(cr, None))
            }
            _ => None,
        };
        if let Some(r) = reply {
            self.lapd.send(now, r.to_vec()).unwrap();
        }
    }
}

struct Rig {
    span: Span,
    pbx: Pbx,
    now: Instant,
    events: Vec<SpanEvent>,
    /// Frames sent by the span, in order.
    sent: Vec<Vec<u8>>,
    connected: bool,
}

impl Rig {
    fn new(cfg: SpanConfig) -> Self {
        let peer = cfg.side.peer();
        Rig {
            span: Span::new(cfg),
            pbx: Pbx::new(peer),
            now: Instant::now(),
            events: Vec::new(),
            sent: Vec::new(),
            connected: false,
        }
    }

    fn user() -> Self {
        Rig::new(SpanConfig::new(Side::User))
    }

    fn connect(&mut self) {
        self.connected = true;
        self.span.start(self.now);
        self.pbx.lapd.start(self.now);
        self.pump();
    }

    fn disconnect(&mut self) {
        self.connected = false;
        self.span.link_lost(self.now);
        self.pbx.lapd.link_lost();
        self.pump();
    }

    fn pump(&mut self) {
        for _ in 0..100_000 {
            let Some(messages) = common::exchange(
                &mut self.span,
                &mut self.pbx.lapd,
                self.now,
                self.connected,
                &mut self.sent,
                &mut self.events,
            ) else {
                return;
            };
            for m in messages {
                self.pbx.on_message(self.now, &m);
            }
        }
        panic!("no quiescence");
    }

    /// Advance to the next deadline of either side.
    fn tick(&mut self) -> Duration {
        let next = [self.span.poll_timeout(), self.pbx.lapd.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .expect("a timer runs");
        let step = next.saturating_duration_since(self.now);
        self.now = self.now.max(next);
        self.span.handle_timeout(self.now);
        self.pbx.lapd.handle_timeout(self.now);
        self.pump();
        step
    }

    fn set(&mut self, number: &str, lamp: Lamp) {
        self.span.set_lamp(self.now, number, lamp);
        self.pump();
    }

    fn confirmed(&self) -> Vec<(String, Lamp)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SpanEvent::Confirmed { number, lamp } => Some((number.clone(), *lamp)),
                _ => None,
            })
            .collect()
    }

    /// The PBX's view: the last invoke per served user, as lamp on/off.
    fn pbx_view(&self) -> std::collections::BTreeMap<String, bool> {
        self.pbx
            .invokes
            .iter()
            .map(|(_, i)| {
                (
                    i.served_user_nr().digits().to_owned(),
                    matches!(i, MwiInvoke::Activate(_)),
                )
            })
            .collect()
    }
}

#[test]
fn setup_is_the_golden_frame() {
    let mut cfg = SpanConfig::new(Side::User);
    cfg.calling_number = Some("2000".into());
    cfg.message_count = false;
    let mut r = Rig::new(cfg);
    r.connect();
    r.sent.clear();
    r.set("1234", Lamp::on(Some(3)));
    // docs/qsig.md, MWIActivate with minimal arguments, from the user side.
    let golden = "0001000008020001050402a8801801ac1c1f9faa068001008201008b0100a111020101020150\
                  30098004313233340a01016c0600803230303070058031323334";
    let first_i = r
        .sent
        .iter()
        .find(|f| f.len() > 4)
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect::<String>());
    assert_eq!(first_i.as_deref(), Some(golden));
    assert_eq!(r.confirmed(), vec![("1234".to_owned(), Lamp::on(Some(3)))]);
    let st = r.span.status();
    assert!(st.link_up);
    assert_eq!((st.queue_depth, st.in_flight), (0, 0));
}

#[test]
fn network_side_and_message_count() {
    let mut r = Rig::new(SpanConfig::new(Side::Network));
    r.connect();
    r.sent.clear();
    r.set("8000", Lamp::on(Some(2)));
    let i_frame = r.sent.iter().find(|f| f.len() > 4).unwrap();
    assert_eq!(i_frame[0], 0x02, "network-side command: C/R 1");
    match &r.pbx.invokes[..] {
        [(MessageType::Setup, MwiInvoke::Activate(a))] => {
            assert_eq!(a.served_user_nr, PartyNumber::Unknown("8000".into()));
            assert_eq!(a.basic_service, BasicService::Speech);
            assert_eq!(a.nb_of_messages, Some(2));
        }
        other => panic!("{other:?}"),
    }
    r.set("8000", Lamp::off());
    assert!(matches!(
        r.pbx.invokes.last(),
        Some((MessageType::Setup, MwiInvoke::Deactivate(_)))
    ));
    assert_eq!(r.span.lamp("8000").unwrap().confirmed, Some(Lamp::off()));
}

#[test]
fn connect_answer_is_released_with_t308() {
    let mut r = Rig::user();
    r.pbx.answer = Answer::Connect;
    r.connect();
    r.set("1234", Lamp::on(None));
    assert_eq!(r.confirmed().len(), 1);
    let types: Vec<MessageType> = r
        .pbx
        .messages
        .iter()
        .map(|m| Message::parse(m).unwrap().message_type)
        .collect();
    assert_eq!(types, vec![MessageType::Setup, MessageType::Release]);
    assert_eq!(
        r.span.status().in_flight,
        0,
        "RELEASE COMPLETE ended the call"
    );

    // Without RELEASE COMPLETE: RELEASE again after T308, then the call reference is freed.
    let mut r = Rig::user();
    r.pbx.answer = Answer::Connect;
    r.connect();
    r.pbx.answer = Answer::Silent;
    r.set("1234", Lamp::on(None));
    r.pbx.answer = Answer::Silent;
    // The PBX answers CONNECT by hand, then ignores RELEASE.
    let setup = Message::parse(&r.pbx.messages[0]).unwrap();
    let connect = Message::new(setup.call_reference.reply(), MessageType::Connect);
    r.pbx.lapd.send(r.now, connect.to_vec()).unwrap();
    r.pump();
    let release_count = |r: &Rig| {
        r.pbx
            .messages
            .iter()
            .filter(|m| Message::parse(m).unwrap().message_type == MessageType::Release)
            .count()
    };
    assert_eq!(release_count(&r), 1);
    assert_eq!(r.tick(), Duration::from_secs(4));
    assert_eq!(release_count(&r), 2);
    r.tick();
    assert_eq!(r.span.status().in_flight, 0);
}

#[test]
fn t303_expiry_retries_with_backoff() {
    let mut r = Rig::user();
    r.pbx.answer = Answer::Silent;
    r.connect();
    r.set("1234", Lamp::on(None));
    assert_eq!(r.tick(), Duration::from_secs(4), "T303");
    assert!(r.events.contains(&SpanEvent::Failed {
        number: "1234".into(),
        cause: cause::RECOVERY_ON_TIMER_EXPIRY,
        retry_in: Duration::from_secs(1)
    }));
    let last = Message::parse(r.pbx.messages.last().unwrap()).unwrap();
    assert_eq!(last.message_type, MessageType::ReleaseComplete);
    assert_eq!(r.tick(), Duration::from_secs(1), "retry after 1 s");
    assert_eq!(r.pbx.invokes.len(), 2);
    r.tick();
    assert!(r.events.iter().any(|e| matches!(
        e,
        SpanEvent::Failed { retry_in, .. } if *retry_in == Duration::from_secs(2)
    )));
    r.pbx.answer = Answer::ReleaseComplete(cause::NORMAL_CLEARING);
    r.tick();
    assert_eq!(r.confirmed(), vec![("1234".to_owned(), Lamp::on(None))]);
    assert!(!r.span.lamp("1234").unwrap().pending);
}

#[test]
fn disconnect_with_resource_cause_retries_other_causes_deliver() {
    let mut r = Rig::user();
    r.pbx.answer = Answer::Disconnect(cause::TEMPORARY_FAILURE);
    r.connect();
    r.set("1234", Lamp::on(None));
    assert!(r
        .events
        .iter()
        .any(|e| matches!(e, SpanEvent::Failed { cause: 41, .. })));
    r.pbx.answer = Answer::Disconnect(cause::NORMAL_CLEARING);
    r.tick();
    r.pump();
    assert_eq!(r.confirmed().len(), 1);
}

#[test]
fn last_state_wins_while_link_down() {
    let mut r = Rig::user();
    for lamp in [
        Lamp::on(Some(1)),
        Lamp::off(),
        Lamp::on(Some(2)),
        Lamp::on(Some(5)),
    ] {
        r.set("1234", lamp);
    }
    r.set("1235", Lamp::off());
    assert!(r.pbx.messages.is_empty(), "nothing sent while down");
    assert_eq!(r.span.status().queue_depth, 2);
    r.connect();
    assert_eq!(r.pbx.invokes.len(), 2);
    assert!(matches!(&r.pbx.invokes[0].1, MwiInvoke::Activate(a) if a.nb_of_messages == Some(5)));
    assert!(matches!(&r.pbx.invokes[1].1, MwiInvoke::Deactivate(_)));
}

#[test]
fn change_during_flight_follows_after_answer() {
    let mut r = Rig::user();
    r.pbx.answer = Answer::Silent;
    r.connect();
    r.set("1234", Lamp::on(None));
    r.set("1234", Lamp::off());
    r.set("1234", Lamp::on(Some(7)));
    assert_eq!(r.pbx.invokes.len(), 1, "one in flight per number");
    let setup = Message::parse(&r.pbx.messages[0]).unwrap();
    r.pbx.answer = Answer::ReleaseComplete(cause::FACILITY_NOT_IMPLEMENTED);
    let rc = Message::release_complete(setup.call_reference.reply(), None);
    r.pbx.lapd.send(r.now, rc.to_vec()).unwrap();
    r.pump();
    assert_eq!(r.pbx.invokes.len(), 2);
    assert!(matches!(&r.pbx.invokes[1].1, MwiInvoke::Activate(a) if a.nb_of_messages == Some(7)));
    assert_eq!(
        r.span.lamp("1234").unwrap().confirmed,
        Some(Lamp::on(Some(7)))
    );
}

#[test]
fn pacing_limits_outstanding_setups() {
    let mut r = Rig::user();
    r.pbx.answer = Answer::Silent;
    r.connect();
    for n in 0..100 {
        r.set(&format!("{}", 3000 + n), Lamp::on(None));
    }
    assert_eq!(r.pbx.invokes.len(), 7);
    assert_eq!(r.span.status().in_flight, 7);
    assert_eq!(r.span.status().queue_depth, 100);
    // With answers, everything drains and call references stay unique per span.
    r.pbx.answer = Answer::ReleaseComplete(cause::FACILITY_NOT_IMPLEMENTED);
    while r.span.status().queue_depth > 0 {
        r.tick();
    }
    assert_eq!(r.pbx_view().len(), 100);
    assert!(r.pbx_view().values().all(|&on| on));
}

#[test]
fn link_loss_forgets_nothing_and_resyncs() {
    let mut r = Rig::user();
    r.connect();
    for n in 0..50 {
        r.set(&format!("{}", 2000 + n), Lamp::on(Some(1)));
    }
    r.disconnect();
    assert!(!r.span.status().link_up);
    for round in 0..3 {
        for n in 0..50 {
            let on = (n + round) % 3 != 0;
            r.set(
                &format!("{}", 2000 + n),
                if on {
                    Lamp::on(Some(round))
                } else {
                    Lamp::off()
                },
            );
        }
    }
    r.pbx.invokes.clear();
    r.connect();
    while r.span.status().queue_depth > 0 {
        r.tick();
    }
    let view = r.pbx_view();
    assert_eq!(view.len(), 50);
    for n in 0..50u16 {
        assert_eq!(view[&format!("{}", 2000 + n)], (n + 2) % 3 != 0, "{n}");
        let st = r.span.lamp(&format!("{}", 2000 + n)).unwrap();
        assert_eq!(st.confirmed, Some(st.wanted));
    }
}

#[test]
fn in_flight_at_link_loss_is_sent_again() {
    let mut r = Rig::user();
    r.pbx.answer = Answer::Silent;
    r.connect();
    r.set("1234", Lamp::on(None));
    r.disconnect();
    assert_eq!(r.span.status().in_flight, 0);
    assert!(r.span.lamp("1234").unwrap().pending);
    r.pbx.answer = Answer::ReleaseComplete(cause::FACILITY_NOT_IMPLEMENTED);
    r.connect();
    assert_eq!(r.span.lamp("1234").unwrap().confirmed, Some(Lamp::on(None)));
}

#[test]
fn resync_policies() {
    for (policy, expect) in [(Resync::All, 2), (Resync::On, 1)] {
        let mut cfg = SpanConfig::new(Side::User);
        cfg.resync = policy;
        let mut r = Rig::new(cfg);
        r.connect();
        r.set("1", Lamp::on(None));
        r.set("2", Lamp::off());
        r.disconnect();
        r.pbx.invokes.clear();
        r.connect();
        assert_eq!(r.pbx.invokes.len(), expect, "{policy:?}");
    }
}

#[test]
fn facility_transport_on_dummy_call_reference() {
    let mut cfg = SpanConfig::new(Side::User);
    cfg.transport = Transport::Facility;
    let mut r = Rig::new(cfg);
    r.connect();
    r.set("1234", Lamp::on(Some(1)));
    r.set("1234", Lamp::off());
    let m = Message::parse(&r.pbx.messages[0]).unwrap();
    assert_eq!(m.call_reference, CallReference::Dummy);
    assert_eq!(m.message_type, MessageType::Facility);
    assert_eq!(&r.pbx.messages[0][..4], &[0x08, 0x00, 0x62, 0x1c]);
    assert_eq!(r.pbx.invokes.len(), 2);
    assert_eq!(r.span.lamp("1234").unwrap().confirmed, Some(Lamp::off()));
    assert_eq!(r.span.status().in_flight, 0);
}

fn pbx_send(r: &mut Rig, msg: &Message<'_>) -> Vec<Message<'static>> {
    let before = r.pbx.messages.len();
    r.pbx.lapd.send(r.now, msg.to_vec()).unwrap();
    r.pump();
    r.pbx.messages[before..]
        .iter()
        .map(|m| {
            let leaked: &'static [u8] = Box::leak(m.clone().into_boxed_slice());
            Message::parse(leaked).unwrap()
        })
        .collect()
}

#[test]
fn status_enquiry_and_unknown_messages() {
    let mut r = Rig::user();
    r.connect();
    let cr = CallReference::Call {
        value: 77,
        flag: false,
    };
    let got = pbx_send(&mut r, &Message::new(cr, MessageType::StatusEnquiry));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_type, MessageType::Status);
    assert_eq!(
        got[0].cause.unwrap().value,
        cause::RESPONSE_TO_STATUS_ENQUIRY
    );
    assert_eq!(got[0].call_state, Some(0));
    // Unknown message type: STATUS cause 97.
    let got = pbx_send(&mut r, &Message::new(cr, MessageType::Other(0x33)));
    assert_eq!(got[0].message_type, MessageType::Status);
    assert_eq!(got[0].cause.unwrap().value, cause::MESSAGE_TYPE_NONEXISTENT);
    // A clearing message on an unknown call reference: RELEASE COMPLETE cause 81.
    let got = pbx_send(&mut r, &Message::new(cr, MessageType::Disconnect));
    assert_eq!(got[0].message_type, MessageType::ReleaseComplete);
    assert_eq!(got[0].cause.unwrap().value, cause::INVALID_CALL_REFERENCE);
    // STATUS ENQUIRY on a call of ours in progress: our state is Call Initiated.
    r.pbx.answer = Answer::Silent;
    r.set("1234", Lamp::on(None));
    let their_cr = Message::parse(r.pbx.messages.last().unwrap())
        .unwrap()
        .call_reference
        .reply();
    let got = pbx_send(&mut r, &Message::new(their_cr, MessageType::StatusEnquiry));
    assert_eq!(got[0].call_state, Some(1));
    // STATUS with call state Null: the PBX lost the call, we retry.
    let got = pbx_send(
        &mut r,
        &Message::status(
            their_cr,
            Cause::new(Location::PrivateLocal, cause::INVALID_CALL_REFERENCE),
            0,
        ),
    );
    assert!(got.is_empty());
    assert!(r
        .events
        .iter()
        .any(|e| matches!(e, SpanEvent::Failed { cause: 81, .. })));
}

fn interrogate_facility(number: &str, op: i64) -> Vec<u8> {
    let arg = {
        let mut w = isdn::ber::Writer::new();
        MwiDeactivateArg::new(PartyNumber::Unknown(number.into()), BasicService::Speech)
            .encode(&mut w);
        w.finish()
    };
    Facility::qsig(Component::Invoke(Invoke {
        invoke_id: 9,
        linked_id: None,
        operation: Code::Local(op),
        argument: Some(&arg),
    }))
    .to_vec()
}

#[test]
fn inbound_interrogate_answered_from_state() {
    let mut r = Rig::user();
    r.connect();
    r.set("1234", Lamp::on(Some(4)));
    let fac = interrogate_facility("1234", qsig::MWI_INTERROGATE);
    let cr = CallReference::Call {
        value: 5,
        flag: false,
    };
    let setup = Message::setup_cis(cr, &fac, None, None);
    let got = pbx_send(&mut r, &setup);
    assert_eq!(got[0].message_type, MessageType::ReleaseComplete);
    let f = Facility::parse(got[0].facility[0]).unwrap();
    match &f.components[0] {
        Component::ReturnResult(rr) => {
            assert_eq!(rr.invoke_id, 9);
            let res = qsig::MwiInterrogateRes::decode(rr.result.unwrap().result).unwrap();
            assert_eq!(res.0[0].nb_of_messages, Some(4));
        }
        other => panic!("{other:?}"),
    }
    // Connectionless, unknown user: ReturnError on the dummy call reference.
    let fac = interrogate_facility("999", qsig::MWI_INTERROGATE);
    let got = pbx_send(&mut r, &Message::new_facility(CallReference::Dummy, &fac));
    assert_eq!(got[0].call_reference, CallReference::Dummy);
    let f = Facility::parse(got[0].facility[0]).unwrap();
    assert!(matches!(f.components[0], Component::ReturnError(_)));
    // An operation we do not support: Reject.
    let fac = interrogate_facility("1234", 99);
    let got = pbx_send(&mut r, &Message::setup_cis(cr, &fac, None, None));
    let f = Facility::parse(got[0].facility[0]).unwrap();
    assert!(matches!(f.components[0], Component::Reject(_)));
}

proptest! {
    #[test]
    fn span_never_panics(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..40),
        ms in proptest::collection::vec(0u64..5000, 0..40),
    ) {
        let mut r = Rig::user();
        r.connect();
        r.set("1234", Lamp::on(None));
        for (i, p) in payloads.iter().enumerate() {
            let mut m = vec![0x08];
            m.extend_from_slice(p);
            let _ = r.pbx.lapd.send(r.now, m);
            r.pump();
            if let Some(&d) = ms.get(i) {
                r.now += Duration::from_millis(d);
                r.span.handle_timeout(r.now);
                r.pbx.lapd.handle_timeout(r.now);
                r.pump();
            }
            r.set(&format!("{}", i % 5), Lamp::on(Some(i as u16)));
        }
    }
}

/// One step of a span scenario.
#[derive(Clone, Debug)]
enum Step {
    Set(u8, bool),
    Answer(u8),
    Reconnect,
    Tick(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..4, any::<bool>()).prop_map(|(n, on)| Step::Set(n, on)),
        (0u8..4).prop_map(Step::Answer),
        Just(Step::Reconnect),
        (0u32..1000).prop_map(Step::Tick),
    ]
}

/// The frames the span sent, its events and the messages the PBX received over `steps`.
/// With `spurious`, every tick is preceded by a [`Core::handle_timeout`] at a fraction of
/// the way to the next deadline (nothing due yet: nothing may come out) and followed by a
/// second one at the same instant.
fn span_trace(steps: &[Step], spurious: bool) -> (Vec<Vec<u8>>, Vec<SpanEvent>, Vec<Vec<u8>>) {
    let mut r = Rig::user();
    if spurious {
        r.span.handle_timeout(r.now);
    }
    r.connect();
    for s in steps {
        match *s {
            Step::Set(n, on) => {
                let lamp = if on {
                    Lamp::on(Some(u16::from(n)))
                } else {
                    Lamp::off()
                };
                r.set(&format!("10{n}"), lamp);
            }
            Step::Answer(a) => {
                r.pbx.answer = match a {
                    0 => Answer::Silent,
                    1 => Answer::Connect,
                    2 => Answer::Disconnect(cause::TEMPORARY_FAILURE),
                    _ => Answer::ReleaseComplete(cause::NORMAL_CLEARING),
                }
            }
            Step::Reconnect => {
                r.disconnect();
                r.connect();
            }
            Step::Tick(f) => {
                let Some(next) = [r.span.poll_timeout(), r.pbx.lapd.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min()
                else {
                    continue;
                };
                if spurious {
                    let at = r.now + next.saturating_duration_since(r.now) * f / 1000;
                    r.span.handle_timeout(at);
                    assert_eq!(r.span.poll_transmit(), None, "frame from an early timeout");
                    assert_eq!(r.span.poll_event(), None, "event from an early timeout");
                }
                r.now = r.now.max(next);
                r.span.handle_timeout(r.now);
                if spurious {
                    r.span.handle_timeout(r.now);
                }
                r.pbx.lapd.handle_timeout(r.now);
                r.pump();
            }
        }
    }
    (r.sent, r.events, r.pbx.messages)
}

proptest! {
    /// A spurious timeout (before anything is due, or twice at the same instant) changes
    /// nothing: the same frames, events and PBX messages as with timeouts exactly at the
    /// deadlines, through T303/T308/T310 expiries, backoff and link loss.
    #[test]
    fn spurious_timeouts_change_nothing(steps in proptest::collection::vec(step(), 0..60)) {
        let reference = span_trace(&steps, false);
        prop_assert_eq!(span_trace(&steps, true), reference);
    }
}
