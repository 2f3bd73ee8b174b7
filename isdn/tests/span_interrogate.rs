//! QSIG MWI as a PBX administrator configures it (issue 14 item 5): msgCentreId,
//! originatingNr, the SETUP's calling number, servedUserNr manipulation, MWIInterrogate sent at
//! link up (`Resync::Interrogate`) and received from the PBX, and the Reject of operations we
//! do not implement. Frames are compared octet for octet (ECMA-242 §7, ECMA-165 §8).

mod common;

use std::time::{Duration, Instant};

use common::hex;
use isdn::q921::{self, Lapd, Side};
use isdn::q931::{CallReference, Message, MessageType, NumberingPlan, TypeOfNumber};
use isdn::qsig::{
    self, BasicService, MsgCentreId, MwiDeactivateArg, MwiInterrogateRes, MwiInterrogateResElt,
    MwiInvoke, PartyNumber,
};
use isdn::rose::{self, Code, Component, Facility, Invoke, InvokeProblem, Problem};
use isdn::span::{InterrogateStats, Lamp, Resync, Span, SpanConfig, SpanEvent, Transport};
use sansio::Core;

/// What the scripted PBX does with a message from the span: the messages it answers with.
type Script = Box<dyn FnMut(&Message<'_>) -> Vec<Vec<u8>>>;

struct Rig {
    span: Span,
    pbx: Lapd,
    script: Script,
    now: Instant,
    /// Q.931 messages the span sent, in order.
    got: Vec<Vec<u8>>,
    /// Q.921 frames the span sent, in order.
    sent: Vec<Vec<u8>>,
    events: Vec<SpanEvent>,
    connected: bool,
}

impl Rig {
    fn new(cfg: SpanConfig, script: Script) -> Rig {
        let peer = cfg.side.peer();
        Rig {
            span: Span::new(cfg),
            pbx: Lapd::new(q921::Config::new(peer)),
            script,
            now: Instant::now(),
            got: Vec::new(),
            sent: Vec::new(),
            events: Vec::new(),
            connected: false,
        }
    }

    fn connect(&mut self) {
        self.connected = true;
        self.span.start(self.now);
        self.pbx.start(self.now);
        self.pump();
    }

    fn disconnect(&mut self) {
        self.connected = false;
        self.span.link_lost(self.now);
        self.pbx.link_lost();
        self.pump();
    }

    fn pump(&mut self) {
        for _ in 0..10_000 {
            let Some(messages) = common::exchange(
                &mut self.span,
                &mut self.pbx,
                self.now,
                self.connected,
                &mut self.sent,
                &mut self.events,
            ) else {
                return;
            };
            for m in messages {
                let msg = Message::parse(&m).expect("the span's messages parse");
                for answer in (self.script)(&msg) {
                    self.pbx.send(self.now, answer).unwrap();
                }
                self.got.push(m);
            }
        }
        panic!("no quiescence");
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = [self.span.poll_timeout(), self.pbx.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .filter(|t| *t <= end)
        {
            self.now = self.now.max(t);
            self.span.handle_timeout(self.now);
            self.pbx.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
    }

    fn set(&mut self, number: &str, lamp: Lamp) {
        self.span.set_lamp(self.now, number, lamp);
        self.pump();
    }

    /// The invokes the span sent after message `from`.
    fn invokes(&self, from: usize) -> Vec<MwiInvoke> {
        self.got[from..]
            .iter()
            .flat_map(|m| invokes_of(&Message::parse(m).unwrap()))
            .collect()
    }
}

fn invokes_of(msg: &Message<'_>) -> Vec<MwiInvoke> {
    let mut out = Vec::new();
    for f in &msg.facility {
        for c in Facility::parse(f).unwrap().components {
            if let Component::Invoke(i) = c {
                out.push(MwiInvoke::from_invoke(&i).unwrap());
            }
        }
    }
    out
}

fn invoke_id_of(msg: &Message<'_>) -> i64 {
    let f = Facility::parse(msg.facility[0]).unwrap();
    f.components[0].invoke_id().unwrap()
}

/// A PBX that answers every SETUP with RELEASE COMPLETE cause 16 carrying `facility(msg)`.
fn release_complete_with(mut facility: impl FnMut(&Message<'_>) -> Vec<u8> + 'static) -> Script {
    Box::new(move |msg| {
        if msg.message_type != MessageType::Setup {
            return Vec::new();
        }
        let f = facility(msg);
        let cause = isdn::q931::Cause::new(isdn::q931::Location::PrivateLocal, 16);
        let mut rc = Message::release_complete(msg.call_reference.reply(), Some(cause));
        rc.facility = vec![f.as_slice()];
        vec![rc.to_vec()]
    })
}

/// The PBX's lamps: an interrogate result for on, ReturnError notAvailable for off, a Reject
/// for a number it does not know; MWIActivate/MWIDeactivate are answered without facility.
fn pbx_with(lamps: &'static [(&'static str, Option<Option<u16>>)]) -> Script {
    release_complete_with(move |msg| {
        let id = invoke_id_of(msg);
        let Some(MwiInvoke::Interrogate(arg)) = invokes_of(msg).pop() else {
            return qsig::return_result_facility(id, qsig::MWI_ACTIVATE, qsig::DUMMY_RES);
        };
        match lamps
            .iter()
            .find(|(n, _)| *n == arg.served_user_nr.digits())
        {
            Some((_, Some(count))) => qsig::return_result_facility(
                id,
                qsig::MWI_INTERROGATE,
                &result(BasicService::Speech, *count).to_vec(),
            ),
            Some((_, None)) => qsig::return_error_facility(id, rose::error::NOT_AVAILABLE),
            None => qsig::reject_facility(
                Some(id),
                Problem::Invoke(InvokeProblem::UnrecognizedOperation),
            ),
        }
    })
}

fn result(service: BasicService, count: Option<u16>) -> MwiInterrogateRes {
    MwiInterrogateRes(vec![MwiInterrogateResElt {
        basic_service: service,
        msg_centre_id: None,
        nb_of_messages: count,
        originating_nr: None,
        timestamp: None,
        priority: None,
    }])
}

fn administered() -> SpanConfig {
    let mut cfg = SpanConfig::new(Side::User);
    cfg.calling_number = Some("8000".into());
    cfg.calling_ton = TypeOfNumber::Subscriber;
    cfg.calling_plan = NumberingPlan::Private;
    cfg.msg_centre_id = Some(MsgCentreId::PartyNumber(PartyNumber::Unknown(
        "8000".into(),
    )));
    cfg.originating_nr = Some("8001".into());
    cfg.served_strip = 1;
    cfg.served_prefix = "55".into();
    cfg
}

#[test]
fn administered_setup_is_byte_exact() {
    let mut r = Rig::new(administered(), pbx_with(&[]));
    r.connect();
    r.set("2001", Lamp::on(Some(3)));
    assert_eq!(
        r.got[0],
        hex("08 020001 05 0402a880 1801ac
             1c33 9f aa06800100820100 8b0100
             a125 020101 020150
             301d 80053535303031 0a0101 a106800438303030 830103 a406800438303031
             6c06 4980 38303030
             7006 80 3535303031")
    );
    // In an I frame of SAPI 0, TEI 0, C/R 0 (the user side's command).
    assert!(r
        .sent
        .iter()
        .any(|f| f[..2] == [0x00, 0x01] && f.get(4..) == Some(&r.got[0][..])));
    r.set("2001", Lamp::off());
    // MWIDeactivate carries msgCentreId too, but no originatingNr.
    assert_eq!(
        r.got[1],
        hex("08 020002 05 0402a880 1801ac
             1c28 9f aa06800100820100 8b0100
             a11a 020102 020151
             3012 80053535303031 0a0101 a106800438303030
             6c06 4980 38303030
             7006 80 3535303031")
    );
    // The integer msgCentreId alternative, [0] IMPLICIT INTEGER.
    let mut cfg = SpanConfig::new(Side::User);
    cfg.msg_centre_id = Some(MsgCentreId::Integer(300));
    let mut r = Rig::new(cfg, pbx_with(&[]));
    r.connect();
    r.set("1234", Lamp::off());
    assert_eq!(
        r.got[0],
        hex("08 020001 05 0402a880 1801ac
             1c23 9f aa06800100820100 8b0100
             a115 020101 020151
             300d 800431323334 0a0101 8002012c
             7005 80 31323334")
    );
}

#[test]
fn interrogate_at_link_up_sends_only_what_differs() {
    let mut cfg = SpanConfig::new(Side::User);
    cfg.resync = Resync::Interrogate;
    let lamps: &'static [_] = &[
        ("2001", Some(Some(2))), // agrees
        ("2002", Some(Some(5))), // on, we want off: MWIDeactivate
        ("2003", None),          // off, we want on: MWIActivate
        ("2005", Some(None)),    // on without a count, we want on with no count known: agrees
    ];
    let mut r = Rig::new(cfg, pbx_with(lamps));
    r.set("2001", Lamp::on(Some(2)));
    r.set("2002", Lamp::off());
    r.set("2003", Lamp::on(Some(1)));
    r.set("2004", Lamp::on(None)); // unknown to the PBX: Reject, so sent
    r.set("2005", Lamp::on(None));
    r.connect();
    // The first frame is the byte-exact interrogate of 2001 (no calling number configured).
    assert_eq!(
        r.got[0],
        hex("08 020001 05 0402a880 1801ac
             1c1f 9f aa06800100820100 8b0100
             a111 020101 020152
             3009 800432303031 0a0101
             7005 80 32303031")
    );
    let sent: Vec<(String, bool)> = r
        .invokes(0)
        .into_iter()
        .filter(|i| !matches!(i, MwiInvoke::Interrogate(_)))
        .map(|i| {
            let on = matches!(i, MwiInvoke::Activate(_));
            (i.served_user_nr().digits().to_owned(), on)
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("2002".to_owned(), false),
            ("2003".to_owned(), true),
            ("2004".to_owned(), true)
        ]
    );
    assert_eq!(
        r.span.status().interrogate,
        InterrogateStats {
            sent: 5,
            agreed: 2,
            differed: 2,
            failed: 1
        }
    );
    for n in ["2001", "2002", "2003", "2004", "2005"] {
        let l = r.span.lamp(n).unwrap();
        assert_eq!((l.confirmed, l.pending), (Some(l.wanted), false), "{n}");
    }
    // A link flap asks again; the PBX (scripted) still shows its old lamps, so the same three
    // are sent again and nothing else.
    r.disconnect();
    let from = r.got.len();
    r.connect();
    assert_eq!(
        r.invokes(from)
            .iter()
            .filter(|i| matches!(i, MwiInvoke::Interrogate(_)))
            .count(),
        5
    );
    assert_eq!(r.span.status().interrogate.sent, 10);
}

#[test]
fn interrogations_are_paced_and_silence_means_send() {
    let mut cfg = SpanConfig::new(Side::User);
    cfg.resync = Resync::Interrogate;
    cfg.max_outstanding = 2;
    let silent: Script = Box::new(|_| Vec::new());
    let mut r = Rig::new(cfg, silent);
    for n in ["2001", "2002", "2003"] {
        r.set(n, Lamp::on(None));
    }
    r.connect();
    assert_eq!(r.got.len(), 2, "at most max_outstanding asks at once");
    assert_eq!(r.span.status().in_flight, 2);
    // T303 (4 s) on each unanswered ask: the call is cleared, the number sent.
    r.advance(Duration::from_millis(4_100));
    let st = r.span.status();
    assert_eq!(st.interrogate.failed, 2);
    let kinds: Vec<MessageType> = r
        .got
        .iter()
        .map(|m| Message::parse(m).unwrap().message_type)
        .collect();
    assert_eq!(
        &kinds[2..],
        [
            MessageType::ReleaseComplete,
            MessageType::ReleaseComplete,
            MessageType::Setup,
            MessageType::Setup
        ]
    );
    // The third ask went out before the deliveries: asks go first.
    assert!(matches!(
        invokes_of(&Message::parse(&r.got[4]).unwrap())[0],
        MwiInvoke::Interrogate(_)
    ));
    assert!(st.in_flight <= 2);
}

#[test]
fn connect_carrying_the_result_is_released() {
    let mut cfg = SpanConfig::new(Side::User);
    cfg.resync = Resync::Interrogate;
    let script: Script = Box::new(|msg| {
        let cr = msg.call_reference.reply();
        match msg.message_type {
            MessageType::Setup => {
                let f = qsig::return_result_facility(
                    invoke_id_of(msg),
                    qsig::MWI_INTERROGATE,
                    &result(BasicService::AllServices, Some(7)).to_vec(),
                );
                let mut c = Message::new(cr, MessageType::Connect);
                c.facility = vec![f.as_slice()];
                vec![c.to_vec()]
            }
            MessageType::Release => vec![Message::release_complete(cr, None).to_vec()],
            _ => Vec::new(),
        }
    });
    let mut r = Rig::new(cfg, script);
    r.set("2001", Lamp::on(Some(7)));
    r.connect();
    let kinds: Vec<MessageType> = r
        .got
        .iter()
        .map(|m| Message::parse(m).unwrap().message_type)
        .collect();
    assert_eq!(kinds, [MessageType::Setup, MessageType::Release]);
    assert_eq!(r.span.status().interrogate.agreed, 1);
    assert_eq!(r.span.status().in_flight, 0);
}

#[test]
fn connectionless_interrogate_on_the_dummy_call_reference() {
    let mut cfg = SpanConfig::new(Side::User);
    cfg.resync = Resync::Interrogate;
    cfg.transport = Transport::Facility;
    let script: Script = Box::new(|msg| {
        let Some(MwiInvoke::Interrogate(arg)) = invokes_of(msg).pop() else {
            return Vec::new();
        };
        if arg.served_user_nr.digits() == "2002" {
            return Vec::new(); // never answered
        }
        let f = qsig::return_error_facility(invoke_id_of(msg), rose::error::NOT_AVAILABLE);
        vec![Message::new_facility(CallReference::Dummy, &f).to_vec()]
    });
    let mut r = Rig::new(cfg, script);
    r.set("2001", Lamp::off());
    r.set("2002", Lamp::off());
    r.connect();
    assert_eq!(
        r.got[0],
        hex("08 00 62 1c1f 9f aa06800100820100 8b0100
             a111 020101 020152 3009 800432303031 0a0101")
    );
    assert_eq!(r.got.len(), 2);
    assert_eq!(r.span.status().interrogate.agreed, 1);
    assert_eq!(r.span.status().in_flight, 1);
    r.advance(Duration::from_millis(4_100));
    // No answer within T303: 2002's MWIDeactivate is sent.
    assert!(matches!(
        r.invokes(2).as_slice(),
        [MwiInvoke::Deactivate(a)] if a.served_user_nr.digits() == "2002"
    ));
    assert_eq!(r.span.status().interrogate.failed, 1);
}

#[test]
fn link_loss_during_asks_loses_nothing() {
    let mut cfg = SpanConfig::new(Side::User);
    cfg.resync = Resync::Interrogate;
    cfg.max_outstanding = 1;
    let silent: Script = Box::new(|_| Vec::new());
    let mut r = Rig::new(cfg, silent);
    r.set("2001", Lamp::on(None));
    r.set("2002", Lamp::on(None));
    r.connect();
    r.disconnect();
    assert_eq!(r.span.status().in_flight, 0);
    r.script = pbx_with(&[("2001", None), ("2002", None)]);
    r.connect();
    let sent: Vec<String> = r
        .invokes(0)
        .into_iter()
        .filter(|i| matches!(i, MwiInvoke::Activate(_)))
        .map(|i| i.served_user_nr().digits().to_owned())
        .collect();
    assert_eq!(sent, ["2001", "2002"]);
    assert_eq!(r.span.status().queue_depth, 0);
}

/// Sends `facility` from the PBX in a call-independent SETUP and returns the Facility IE of the
/// span's RELEASE COMPLETE (empty when it carries none).
fn ask_span(r: &mut Rig, facility: &[u8]) -> Vec<u8> {
    let cr = CallReference::Call {
        value: 9,
        flag: false,
    };
    r.pbx
        .send(r.now, Message::setup_cis(cr, facility, None, None).to_vec())
        .unwrap();
    let before = r.got.len();
    r.pump();
    let m = Message::parse(&r.got[before]).unwrap();
    assert_eq!(m.message_type, MessageType::ReleaseComplete);
    m.facility.first().map(|f| f.to_vec()).unwrap_or_default()
}

fn interrogate_arg(number: &str, service: BasicService, centre: Option<MsgCentreId>) -> Vec<u8> {
    let mut arg = MwiDeactivateArg::new(PartyNumber::Unknown(number.into()), service);
    arg.msg_centre_id = centre;
    MwiInvoke::Interrogate(arg).facility(9)
}

#[test]
fn inbound_interrogate_per_basic_service_and_msg_centre_id() {
    let mut r = Rig::new(administered(), pbx_with(&[]));
    r.connect();
    r.set("2001", Lamp::on(Some(3)));
    r.set("2002", Lamp::off());
    let centre = || {
        Some(MsgCentreId::PartyNumber(PartyNumber::Unknown(
            "8000".into(),
        )))
    };
    // On: one speech element with msgCentreId, nbOfMessages and originatingNr; the PBX names
    // the user as it knows it (prefix 55, first digit stripped).
    assert_eq!(
        ask_span(
            &mut r,
            &interrogate_arg("55001", BasicService::Speech, centre())
        ),
        hex("9f aa06800100820100 8b0100
             a222 020109 301d 020152
             3018 3016 0a0101 a106800438303030 830103 a406800438303031")
    );
    let error = |code: &str| {
        hex(&format!(
            "9f aa06800100820100 8b0100 a3{:02x} 020109 {code}",
            3 + code.len() / 2
        ))
    };
    // Off: notAvailable (3).
    assert_eq!(
        ask_span(
            &mut r,
            &interrogate_arg("55002", BasicService::Speech, None)
        ),
        error("020103")
    );
    // A number we do not serve (the local form, without the prefix): invalidServedUserNr (6).
    assert_eq!(
        ask_span(&mut r, &interrogate_arg("2001", BasicService::Speech, None)),
        error("020106")
    );
    // Another message centre: invalidMsgCentreId (1018).
    let other = Some(MsgCentreId::Integer(1));
    assert_eq!(
        ask_span(
            &mut r,
            &interrogate_arg("55001", BasicService::Speech, other)
        ),
        error("020203fa")
    );
    // A basic service we do not provide: basicServiceNotProvided (8); allServices is ours.
    assert_eq!(
        ask_span(
            &mut r,
            &interrogate_arg("55001", BasicService::UnrestrictedDigitalInformation, None)
        ),
        error("020108")
    );
    let f = ask_span(
        &mut r,
        &interrogate_arg("55001", BasicService::AllServices, None),
    );
    assert!(matches!(
        Facility::parse(&f).unwrap().components[0],
        Component::ReturnResult(_)
    ));
}

fn invoke_facility(operation: Code<'_>, argument: Option<&[u8]>) -> Vec<u8> {
    Facility::qsig(Component::Invoke(Invoke {
        invoke_id: 9,
        linked_id: None,
        operation,
        argument,
    }))
    .to_vec()
}

#[test]
fn operations_we_do_not_implement_are_rejected() {
    let mut r = Rig::new(SpanConfig::new(Side::User), pbx_with(&[]));
    r.connect();
    let unrecognized = hex("9f aa06800100820100 8b0100 a406 020109 810101");
    let null = [0x05, 0x00];
    // ECMA-347 message centre monitoring (mCMUpdate 115 .. mCMailboxFull 118) and SS-MID
    // (119, 120), which share ECMA-242's code space, an unassigned value and a global code.
    for op in [115, 116, 117, 118, 119, 120, 999] {
        assert_eq!(
            ask_span(&mut r, &invoke_facility(Code::Local(op), Some(&null))),
            unrecognized,
            "operation {op}"
        );
    }
    let oid = [0x2b, 0x0c, 0x09, 0x00];
    assert_eq!(
        ask_span(&mut r, &invoke_facility(Code::Global(&oid), Some(&null))),
        unrecognized
    );
    // Our own operation with a broken argument: mistypedArgument.
    assert_eq!(
        ask_span(
            &mut r,
            &invoke_facility(Code::Local(qsig::MWI_INTERROGATE), Some(&null))
        ),
        hex("9f aa06800100820100 8b0100 a406 020109 810102")
    );
}

/// An answer the hostile PBX puts in the RELEASE COMPLETE of an interrogate.
fn hostile_answer() -> impl proptest::strategy::Strategy<Value = (u8, Vec<u8>)> {
    use proptest::prelude::*;
    (0u8..5, proptest::collection::vec(any::<u8>(), 0..24))
}

proptest::proptest! {
    /// Whatever the PBX answers to our MWIInterrogates (garbage, results of any shape for any
    /// invokeId, errors, rejects), nothing panics and every lamp ends as wanted and confirmed.
    #[test]
    fn hostile_interrogate_answers_lose_nothing(
        answers in proptest::collection::vec(hostile_answer(), 1..12),
        lamps in proptest::collection::vec(proptest::option::of(proptest::option::of(0u16..9)), 1..8),
    ) {
        let mut cfg = SpanConfig::new(Side::User);
        cfg.resync = Resync::Interrogate;
        cfg.max_outstanding = 3;
        let mut i = 0;
        let script = release_complete_with(move |msg| {
            let (kind, bytes) = &answers[i % answers.len()];
            i += 1;
            let id = invoke_id_of(msg);
            match kind {
                0 => bytes.clone(),
                1 => qsig::return_result_facility(id, qsig::MWI_INTERROGATE, bytes),
                2 => qsig::return_result_facility(
                    id,
                    qsig::MWI_INTERROGATE,
                    &result(BasicService::from_value(i64::from(bytes.first().copied().unwrap_or(1))), bytes.get(1).map(|b| u16::from(*b))).to_vec(),
                ),
                3 => qsig::return_error_facility(id, i64::from(bytes.first().copied().unwrap_or(3) % 8)),
                _ => qsig::return_result_facility(id + 1, qsig::MWI_INTERROGATE, &result(BasicService::Speech, None).to_vec()),
            }
        });
        let mut r = Rig::new(cfg, script);
        let numbers: Vec<String> = (0..lamps.len()).map(|n| format!("20{n:02}")).collect();
        for (n, l) in numbers.iter().zip(&lamps) {
            r.set(n, l.map_or(Lamp::off(), Lamp::on));
        }
        r.connect();
        r.advance(Duration::from_secs(10));
        for (n, l) in numbers.iter().zip(&lamps) {
            let s = r.span.lamp(n).unwrap();
            let want = l.map_or(Lamp::off(), Lamp::on);
            proptest::prop_assert_eq!(s.wanted, want);
            proptest::prop_assert!(!s.pending, "{}: {:?}", n, s);
            proptest::prop_assert_eq!(s.confirmed.map(|c| c.on), Some(want.on), "{}: {:?}", n, s);
        }
        let st = r.span.status().interrogate;
        proptest::prop_assert_eq!(st.sent, lamps.len() as u64);
        proptest::prop_assert_eq!(st.agreed + st.differed + st.failed, st.sent);
    }
}

proptest::proptest! {
    /// servedUserNr manipulation and its inverse check agree for every number, strip and
    /// prefix, and no other digits pass as a number's servedUserNr.
    #[test]
    fn served_number_and_its_check_agree(
        number in "[0-9]{0,8}",
        other in "[0-9]{0,10}",
        strip in 0usize..10,
        prefix in "[0-9]{0,3}",
    ) {
        let mut cfg = SpanConfig::new(Side::User);
        cfg.served_strip = strip;
        cfg.served_prefix = prefix;
        let served = cfg.served_number(&number);
        proptest::prop_assert!(cfg.is_served_as(&number, &served));
        proptest::prop_assert_eq!(cfg.is_served_as(&number, &other), other == served);
    }
}

#[test]
fn an_answer_after_connect_counts_once() {
    let mut cfg = SpanConfig::new(Side::User);
    cfg.resync = Resync::Interrogate;
    // CONNECT without the result, then the result in a FACILITY and RELEASE COMPLETE on the
    // same call, while we are already clearing.
    let script: Script = Box::new(|msg| {
        let cr = msg.call_reference.reply();
        match msg.message_type {
            MessageType::Setup => vec![Message::new(cr, MessageType::Connect).to_vec()],
            MessageType::Release => {
                let f = qsig::return_error_facility(1, rose::error::NOT_AVAILABLE);
                let mut fac = Message::new(cr, MessageType::Facility);
                fac.facility = vec![f.as_slice()];
                let mut rc = Message::release_complete(cr, None);
                rc.facility = vec![f.as_slice()];
                vec![fac.to_vec(), rc.to_vec()]
            }
            _ => Vec::new(),
        }
    });
    let mut r = Rig::new(cfg, script);
    r.set("2001", Lamp::on(None));
    r.connect();
    assert_eq!(
        r.span.status().interrogate,
        InterrogateStats {
            sent: 1,
            agreed: 0,
            differed: 0,
            failed: 1
        }
    );
    // The ask counted as unanswered, so MWIActivate went out, and was confirmed.
    assert!(matches!(
        r.invokes(0).as_slice(),
        [MwiInvoke::Interrogate(_), MwiInvoke::Activate(_)]
    ));
    let l = r.span.lamp("2001").unwrap();
    assert_eq!((l.confirmed, l.pending), (Some(Lamp::on(None)), false));
}
