//! Basic calls on a span that also sends QSIG MWI (issue 13 items 1 and 5): the span against a
//! peer made of a Q.921 entity and the other side's call control, over simulated frames.
//! Call control goes ahead of a 1,000-lamp resync; a link loss releases every call and the
//! lamps are sent again.

use std::time::Instant;

use isdn::call::{CallConfig, CallControl, CallEvent, CallRef, Interface, Number};
use isdn::q921::{self, Kind, Lapd, Repr, Side};
use isdn::q931::{cause, Message, MessageType};
use isdn::span::{Lamp, Span, SpanConfig, MAX_OUTSTANDING};
use sansio::Core;

/// The PBX: its data link and its call control; MWI SETUPs get no answer (they stay in
/// flight, so the lamp queue stays full).
struct Peer {
    lapd: Lapd,
    cc: CallControl,
}

struct Rig {
    span: Span,
    peer: Peer,
    now: Instant,
    /// Q.931 messages of the I frames the span sent, in order.
    sent: Vec<Vec<u8>>,
}

impl Rig {
    fn new(side: Side, max_outstanding: usize) -> Rig {
        let mut cfg = SpanConfig::new(side);
        cfg.calls = Some(CallConfig::new(side, Interface::T1));
        cfg.max_outstanding = max_outstanding;
        let peer_side = side.peer();
        let mut rig = Rig {
            span: Span::new(cfg),
            peer: Peer {
                lapd: Lapd::new(q921::Config::new(peer_side)),
                cc: CallControl::new(CallConfig::new(peer_side, Interface::T1)),
            },
            now: Instant::now(),
            sent: Vec::new(),
        };
        rig.span.start(rig.now);
        rig.peer.lapd.start(rig.now);
        rig.peer.cc.link_up();
        rig.pump(usize::MAX);
        rig
    }

    /// Moves frames both ways until nothing moves or the span has sent `limit` more I frames.
    fn pump(&mut self, limit: usize) {
        let start = self.sent.len();
        loop {
            let mut moved = false;
            while let Some(f) = self.span.poll_transmit() {
                moved = true;
                if let Ok(Repr {
                    kind: Kind::I { .. },
                    info,
                    ..
                }) = Repr::parse_bytes(&f)
                {
                    self.sent.push(info.to_vec());
                }
                self.peer.lapd.handle_frame(self.now, &f);
                if self.sent.len() - start >= limit {
                    return;
                }
            }
            while let Some(ev) = self.peer.lapd.poll_event() {
                moved = true;
                if let q921::Event::Data(m) = ev {
                    let msg = Message::parse(&m).unwrap();
                    let voice = msg.bearer_capability.map_or(true, |b| b.is_voice());
                    if voice {
                        self.peer.cc.handle_message(self.now, &msg);
                    }
                }
            }
            while let Some(m) = self.peer.cc.poll_transmit() {
                self.peer.lapd.send(self.now, m).unwrap();
            }
            while let Some(f) = self.peer.lapd.poll_transmit() {
                moved = true;
                self.span.handle_frame(self.now, &f);
            }
            if !moved {
                return;
            }
        }
    }

    /// Our call to "789" on any B-channel.
    fn place_call(&mut self) -> CallRef {
        let now = self.now;
        self.span
            .with_calls(now, |cc| {
                cc.place(now, &Number::unknown("789"), None, None, None)
            })
            .expect("calls on")
            .expect("call placed")
    }

    fn call_events(&mut self) -> Vec<CallEvent> {
        std::iter::from_fn(|| self.span.poll_call_event()).collect()
    }

    fn peer_events(&mut self) -> Vec<CallEvent> {
        std::iter::from_fn(|| self.peer.cc.poll_event()).collect()
    }
}

fn message_type(bytes: &[u8]) -> MessageType {
    Message::parse(bytes).unwrap().message_type
}

fn is_voice_setup(bytes: &[u8]) -> bool {
    let m = Message::parse(bytes).unwrap();
    m.message_type == MessageType::Setup && m.bearer_capability.is_some_and(|b| b.is_voice())
}

#[test]
fn call_both_ways_through_the_span() {
    for side in [Side::User, Side::Network] {
        let mut rig = Rig::new(side, 7);
        // We call the PBX; it answers.
        let now = rig.now;
        let ours = rig.place_call();
        rig.pump(usize::MAX);
        let theirs = rig
            .peer_events()
            .into_iter()
            .find_map(|e| match e {
                CallEvent::Incoming { call, .. } => Some(call),
                _ => None,
            })
            .unwrap();
        rig.peer.cc.connect(now, theirs, None).unwrap();
        rig.pump(usize::MAX);
        assert!(rig.call_events().contains(&CallEvent::Connected {
            call: ours,
            name: None
        }));
        // The PBX calls us; we answer and hang up.
        let from_pbx = rig
            .peer
            .cc
            .place(now, &Number::unknown("8000"), None, None, None)
            .unwrap();
        rig.pump(usize::MAX);
        let incoming = rig
            .call_events()
            .into_iter()
            .find_map(|e| match e {
                CallEvent::Incoming { call, channel, .. } => Some((call, channel)),
                _ => None,
            })
            .unwrap();
        rig.span
            .with_calls(now, |cc| cc.connect(now, incoming.0, None))
            .unwrap()
            .unwrap();
        rig.pump(usize::MAX);
        assert!(rig.peer_events().contains(&CallEvent::Connected {
            call: from_pbx,
            name: None
        }));
        rig.span
            .with_calls(now, |cc| {
                cc.disconnect(now, incoming.0, cause::NORMAL_CLEARING)
            })
            .unwrap()
            .unwrap();
        rig.pump(usize::MAX);
        assert!(rig.call_events().contains(&CallEvent::Released {
            call: incoming.0,
            cause: cause::NORMAL_CLEARING
        }));
        assert_eq!(rig.span.with_calls(now, |cc| cc.calls()), Some(1));
    }
}

/// Issue 13 item 5: 1,000 lamps queued (pacing at its maximum, so the data link holds
/// hundreds of MWI SETUPs), then a call: its SETUP leaves the span as the next I frame, behind
/// at most one MWI frame.
#[test]
fn setup_goes_ahead_of_a_1000_lamp_resync() {
    let mut rig = Rig::new(Side::User, MAX_OUTSTANDING);
    let now = rig.now;
    for n in 0..1000 {
        rig.span
            .set_lamp(now, &format!("{}", 10_000 + n), Lamp::on(Some(1)));
    }
    // Some of the resync is on the wire.
    rig.pump(20);
    let before = rig.sent.len();
    rig.place_call();
    rig.pump(usize::MAX);
    let after: Vec<&Vec<u8>> = rig.sent[before..].iter().collect();
    let at = after
        .iter()
        .position(|m| is_voice_setup(m))
        .expect("SETUP sent");
    assert!(at <= 1, "SETUP behind {at} MWI frames");
    let mwi_setups = rig.sent.iter().filter(|m| !is_voice_setup(m)).count();
    assert!(mwi_setups >= 1000, "the resync went on: {mwi_setups}");
}

/// A link loss releases every call (cause 41 before active, 27 when active) and the lamps are
/// sent again when the link is back.
#[test]
fn link_loss_releases_calls_and_lamps_resync() {
    let mut rig = Rig::new(Side::Network, 7);
    let now = rig.now;
    rig.span.set_lamp(now, "1234", Lamp::on(None));
    let call = rig.place_call();
    rig.pump(usize::MAX);
    rig.span.link_lost(now);
    rig.peer.lapd.link_lost();
    rig.peer.cc.link_down();
    assert!(rig.call_events().contains(&CallEvent::Released {
        call,
        cause: cause::TEMPORARY_FAILURE
    }));
    assert_eq!(rig.span.with_calls(now, |cc| cc.busy_channels()), Some(0));
    let sent = rig.sent.len();
    rig.span.start(now);
    rig.peer.lapd.start(now);
    rig.peer.cc.link_up();
    rig.pump(usize::MAX);
    assert!(
        rig.sent[sent..]
            .iter()
            .any(|m| message_type(m) == MessageType::Setup && !is_voice_setup(m)),
        "lamp sent again"
    );
}

/// Without `calls`, a voice SETUP is refused as before (RELEASE COMPLETE 69).
#[test]
fn calls_off_refuses_voice_setups() {
    let mut cfg = SpanConfig::new(Side::User);
    cfg.calls = None;
    let mut span = Span::new(cfg);
    let now = Instant::now();
    assert_eq!(span.with_calls(now, |cc| cc.calls()), None);
    let mut peer = Lapd::new(q921::Config::new(Side::Network));
    let mut cc = CallControl::new(CallConfig::new(Side::Network, Interface::T1));
    span.start(now);
    peer.start(now);
    cc.link_up();
    cc.place(now, &Number::unknown("789"), None, None, None)
        .unwrap();
    let mut answers = Vec::new();
    for _ in 0..20 {
        while let Some(f) = span.poll_transmit() {
            peer.handle_frame(now, &f);
        }
        while let Some(q921::Event::Data(m)) = peer.poll_event() {
            answers.push(m);
        }
        if peer.is_established() {
            while let Some(m) = cc.poll_transmit() {
                peer.send(now, m).unwrap();
            }
        }
        while let Some(f) = peer.poll_transmit() {
            span.handle_frame(now, &f);
        }
    }
    let rc = Message::parse(&answers[0]).unwrap();
    assert_eq!(rc.message_type, MessageType::ReleaseComplete);
    assert_eq!(rc.cause.unwrap().value, cause::FACILITY_NOT_IMPLEMENTED);
}
