//! The trunk core against a second [`CallControl`] playing the PBX (network side), the Q.931
//! messages carried between them as bytes.

use super::*;
use callctl::{Codec, Direction};
use isdn::call::{CallConfig, Interface};
use isdn::q921::Side;
use isdn::q931::Message as Q931;
use sansio::Core;

struct Rig {
    now: Instant,
    ours: CallControl,
    pbx: CallControl,
    trunk: Trunk,
    /// The PBX's call events.
    pbx_events: Vec<CallEvent>,
}

fn cfg() -> PriCalls {
    PriCalls {
        timeslots: None,
        law: None,
        echo_cancel: 0,
        to_sip_strip: 1,
        to_sip_prefix: "9".parse().unwrap(),
        to_pbx_strip: 2,
        to_pbx_prefix: "4".parse().unwrap(),
        called_type: NumberType::National,
        calling_type: NumberType::Subscriber,
        plan: NumberPlan::Isdn,
    }
}

impl Rig {
    fn new() -> Rig {
        let mut ours = CallControl::new(CallConfig::new(Side::User, Interface::T1));
        let mut pbx = CallControl::new(CallConfig::new(Side::Network, Interface::T1));
        ours.link_up();
        pbx.link_up();
        Rig {
            now: Instant::now(),
            ours,
            pbx,
            trunk: Trunk::new(1, cfg()),
            pbx_events: Vec::new(),
        }
    }

    /// Carry the messages both ways until quiet; our call events go into the trunk (a SETUP
    /// gets call id `new_call`).
    fn run(&mut self, new_call: Option<CallId>) {
        loop {
            let mut moved = false;
            while let Some(m) = self.ours.poll_transmit() {
                self.pbx.handle_message(self.now, &Q931::parse(&m).unwrap());
                moved = true;
            }
            while let Some(m) = self.pbx.poll_transmit() {
                self.ours
                    .handle_message(self.now, &Q931::parse(&m).unwrap());
                moved = true;
            }
            while let Some(ev) = self.ours.poll_event() {
                self.trunk
                    .span_event(self.now, &mut self.ours, ev, new_call);
                moved = true;
            }
            while let Some(ev) = self.pbx.poll_event() {
                self.pbx_events.push(ev);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    fn message(&mut self, msg: Message) {
        self.trunk.message(self.now, &mut self.ours, msg);
        self.run(None);
    }

    fn outs(&mut self) -> Vec<Out> {
        std::iter::from_fn(|| self.trunk.poll()).collect()
    }

    fn pbx_incoming(&self) -> Option<(CallRef, Number, Option<Number>, Option<Name>)> {
        self.pbx_events.iter().find_map(|e| match e {
            CallEvent::Incoming {
                call,
                called,
                calling,
                name,
                ..
            } => Some((*call, called.clone(), calling.clone(), name.clone())),
            _ => None,
        })
    }

    fn pbx_saw(&self, f: impl Fn(&CallEvent) -> bool) -> bool {
        self.pbx_events.iter().any(f)
    }

    /// The PBX calls `called` from 2000 ("Alice"); the SETUP reaches the trunk as call `id`.
    fn pbx_calls(&mut self, called: &str, id: Option<CallId>) -> CallRef {
        let cref = self
            .pbx
            .place(
                self.now,
                &Number::unknown(called),
                Some(&Number::unknown("2000")),
                Name::allowed("Alice").as_ref(),
                None,
            )
            .unwrap();
        self.run(id);
        cref
    }

    /// sipd sends `TrunkIncoming` for `called` from 5551234 ("Bob") with `privacy`.
    fn sip_calls(&mut self, id: CallId, called: &str, privacy: Privacy) {
        self.message(Message::TrunkIncoming {
            call: id,
            span: 1,
            called: called.try_into().unwrap(),
            number: "5551234".try_into().unwrap(),
            name: "Bob".try_into().unwrap(),
            privacy,
        });
    }
}

fn media() -> Media {
    Media {
        remote_rtp: "192.0.2.9:4000".parse().unwrap(),
        codec: Codec::Pcmu,
        ptime_ms: 20,
        telephone_event_pt: Some(101),
        direction: Direction::SendRecv,
    }
}

fn hangups(outs: &[Out]) -> Vec<(CallId, u8)> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Send(Message::Hangup { call, cause }) => Some((*call, cause.0)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_pbx_setup_dials_sip_with_its_number_manipulated_and_is_answered_and_cleared_by_sip() {
    let mut r = Rig::new();
    let call = CallId(5);
    r.pbx_calls("0789", Some(call));
    let outs = r.outs();
    let Out::Send(Message::TrunkDial {
        span,
        called,
        number,
        name,
        privacy,
        ..
    }) = &outs[0]
    else {
        panic!("{outs:?}")
    };
    assert_eq!((*span, called.as_str()), (1, "9789"), "strip 1, prefix 9");
    assert_eq!((number.as_str(), name.as_str()), ("2000", "Alice"));
    assert_eq!(*privacy, Privacy::Allowed);
    let b = match outs[1] {
        Out::OpenMedia { call: c, b } if c == call => b,
        ref o => panic!("{o:?}"),
    };
    assert!(r.pbx_saw(|e| matches!(e, CallEvent::Proceeding { .. })));
    assert_eq!(r.trunk.calls().next().unwrap().phase, Phase::Calling);

    r.message(Message::EarlyMedia {
        call,
        media: media(),
    });
    assert!(r.pbx_saw(|e| matches!(e, CallEvent::Alerting { .. })));
    assert!(
        r.pbx_saw(|e| matches!(e, CallEvent::Progress { description: 8, .. })),
        "early media: ALERTING with progress indicator 8, {:?}",
        r.pbx_events
    );
    assert_eq!(r.outs(), [Out::StartMedia { b, media: media() }]);
    r.message(Message::Connected {
        call,
        media: media(),
    });
    assert!(r.pbx_saw(|e| matches!(e, CallEvent::Connected { .. })));
    assert_eq!(r.outs(), [Out::StartMedia { b, media: media() }]);
    let c = r.trunk.calls().next().unwrap();
    assert_eq!(
        (c.phase, c.duration(r.now)),
        (Phase::Connected, Some(Duration::ZERO))
    );

    r.message(Message::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    assert!(r.pbx_saw(|e| matches!(e, CallEvent::Disconnected { cause: 16, .. })));
    let outs = r.outs();
    assert!(
        hangups(&outs).is_empty(),
        "sipd ended it: no Hangup back, {outs:?}"
    );
    assert!(outs.contains(&Out::StopMedia { b }));
    assert_eq!(r.trunk.calls().count(), 0, "released");
    assert_eq!(r.ours.busy_channels(), 0);
}

#[test]
fn a_pbx_setup_without_sipd_is_cleared_with_cause_38() {
    let mut r = Rig::new();
    r.pbx_calls("789", None);
    assert!(r.outs().is_empty());
    assert!(
        r.pbx_saw(|e| matches!(e, CallEvent::Released { cause: 38, .. })),
        "{:?}",
        r.pbx_events
    );
    assert_eq!(r.trunk.calls().count(), 0);
}

#[test]
fn the_pbx_hanging_up_sends_one_hangup_with_its_cause() {
    let mut r = Rig::new();
    let call = CallId(6);
    let cref = r.pbx_calls("0789", Some(call));
    r.outs();
    r.pbx.disconnect(r.now, cref, 17).unwrap();
    r.run(None);
    assert_eq!(
        hangups(&r.outs()),
        [(call, 17)],
        "once, with the PBX's cause"
    );
    assert_eq!(r.trunk.calls().count(), 0);
    r.message(Message::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    assert!(r.outs().is_empty(), "a late Hangup from sipd finds no call");
}

#[test]
fn trunk_incoming_places_a_setup_with_the_span_numbering_and_maps_the_answer() {
    let mut r = Rig::new();
    let call = CallId(CallId::SIPD_BIT | 1);
    r.sip_calls(call, "992001", Privacy::Allowed);
    let (pcref, called, calling, name) = r.pbx_incoming().expect("the PBX got a SETUP");
    assert_eq!(called.digits, "42001", "strip 2, prefix 4");
    assert_eq!(
        (called.ton, called.plan),
        (TypeOfNumber::National, NumberingPlan::Isdn)
    );
    let calling = calling.unwrap();
    assert_eq!(calling.digits, "5551234");
    assert_eq!(calling.ton, TypeOfNumber::Subscriber);
    assert_eq!(calling.presentation.map(|p| p.indicator), Some(0));
    assert_eq!(name.and_then(|n| n.display()).as_deref(), Some("Bob"));
    let outs = r.outs();
    assert!(
        matches!(outs[..], [Out::OpenMedia { call: c, .. }] if c == call),
        "{outs:?}"
    );

    r.pbx.alerting(pcref).unwrap();
    r.run(None);
    assert_eq!(r.outs(), [Out::Send(Message::Alerting { call })]);
    r.pbx.connect(r.now, pcref, None).unwrap();
    r.run(None);
    assert_eq!(r.outs(), [Out::Send(Message::Answered { call })]);
    r.message(Message::Connected {
        call,
        media: media(),
    });
    assert!(matches!(r.outs()[..], [Out::StartMedia { .. }]));

    r.pbx.disconnect(r.now, pcref, 16).unwrap();
    r.run(None);
    assert_eq!(hangups(&r.outs()), [(call, 16)]);
    assert_eq!(r.trunk.calls().count(), 0);
}

#[test]
fn a_withheld_caller_sends_no_name_and_a_restricted_number() {
    let mut r = Rig::new();
    r.sip_calls(CallId(CallId::SIPD_BIT | 2), "992001", Privacy::Restricted);
    let (_, _, calling, name) = r.pbx_incoming().unwrap();
    let calling = calling.unwrap();
    assert_eq!(calling.digits, "");
    assert_eq!(calling.presentation.map(|p| p.indicator), Some(1));
    assert_eq!(name, None);
}

#[test]
fn no_free_b_channel_answers_cause_34_and_a_link_down_cause_38() {
    let mut r = Rig::new();
    for k in 0..23 {
        r.sip_calls(
            CallId(CallId::SIPD_BIT | (10 + k)),
            "992001",
            Privacy::Allowed,
        );
    }
    r.outs();
    assert_eq!(r.ours.busy_channels(), 23);
    let busy = CallId(CallId::SIPD_BIT | 99);
    r.sip_calls(busy, "992001", Privacy::Allowed);
    assert_eq!(hangups(&r.outs()), [(busy, 34)]);

    let mut r = Rig::new();
    r.ours.link_down();
    let down = CallId(CallId::SIPD_BIT | 3);
    r.sip_calls(down, "992001", Privacy::Allowed);
    assert_eq!(hangups(&r.outs()), [(down, 38)]);
}

#[test]
fn a_link_flap_clears_every_call_towards_sip_once() {
    let mut r = Rig::new();
    let (a, b) = (CallId(7), CallId(CallId::SIPD_BIT | 4));
    r.pbx_calls("0789", Some(a));
    r.message(Message::Connected {
        call: a,
        media: media(),
    });
    r.sip_calls(b, "992001", Privacy::Allowed);
    r.outs();
    r.ours.link_down();
    r.run(None);
    let mut h = hangups(&r.outs());
    h.sort();
    assert_eq!(
        h,
        [(a, 27), (b, 41)],
        "active: 27, not yet answered: 41 (Q.931 §5.8.9)"
    );
    assert_eq!(r.trunk.calls().count(), 0);
}

#[test]
fn sipd_lost_or_refusing_clears_towards_the_pbx() {
    let mut r = Rig::new();
    let call = CallId(8);
    r.pbx_calls("0789", Some(call));
    r.outs();
    r.trunk
        .sip_gone(r.now, &mut r.ours, call, Cause::TEMPORARY_FAILURE);
    r.run(None);
    assert!(r.pbx_saw(|e| matches!(e, CallEvent::Disconnected { cause: 41, .. })));
    assert!(
        hangups(&r.outs()).is_empty(),
        "the link already dropped the call"
    );

    let mut r = Rig::new();
    let call = CallId(9);
    r.pbx_calls("0789", Some(call));
    r.outs();
    r.trunk.refused(r.now, &mut r.ours, call, Cause::NO_CIRCUIT);
    r.run(None);
    assert!(r.pbx_saw(|e| matches!(e, CallEvent::Disconnected { cause: 34, .. })));
    assert_eq!(hangups(&r.outs()), [(call, 34)], "sipd hears of it once");
}

#[test]
fn an_empty_called_number_is_refused_with_cause_28() {
    let mut r = Rig {
        trunk: Trunk::new(
            1,
            PriCalls {
                to_sip_strip: 4,
                to_sip_prefix: "".parse().unwrap(),
                ..cfg()
            },
        ),
        ..Rig::new()
    };
    r.pbx_calls("0789", Some(CallId(10)));
    assert!(r.outs().is_empty());
    assert!(r.pbx_saw(|e| matches!(e, CallEvent::Released { cause: 28, .. })));
}

#[test]
fn connected_names_go_both_ways() {
    // PBX → SIP: sipd's Identity becomes the CONNECT's connectedName.
    let mut r = Rig::new();
    let call = CallId(7);
    r.pbx_calls("0789", Some(call));
    r.outs();
    r.message(Message::Identity {
        call,
        number: "7001".try_into().unwrap(),
        name: "Voice Mail".try_into().unwrap(),
    });
    r.message(Message::Connected {
        call,
        media: media(),
    });
    assert!(
        r.pbx_saw(|e| matches!(e, CallEvent::Connected { name: Some(n), .. }
            if n.display().as_deref() == Some("Voice Mail"))),
        "{:?}",
        r.pbx_events
    );
    // SIP → PBX: the PBX's connectedName goes to sipd as Identity before Answered.
    let mut r = Rig::new();
    let call = CallId(CallId::SIPD_BIT | 2);
    r.sip_calls(call, "992001", Privacy::Allowed);
    let (pcref, ..) = r.pbx_incoming().expect("the PBX got a SETUP");
    r.outs();
    r.pbx
        .connect(r.now, pcref, Name::allowed("Reception").as_ref())
        .unwrap();
    r.run(None);
    assert_eq!(
        r.outs(),
        [
            Out::Send(Message::Identity {
                call,
                number: "".try_into().unwrap(),
                name: "Reception".try_into().unwrap(),
            }),
            Out::Send(Message::Answered { call })
        ]
    );
}
