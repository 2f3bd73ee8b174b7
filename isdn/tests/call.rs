//! Q.931 basic call control (isdn::call): a user-side and a network-side core back to back,
//! every state transition and timer, messages from a hostile peer, and proptests that no
//! message sequence panics or leaks call references or B-channels.

use std::time::{Duration, Instant};

use isdn::call::{CallConfig, CallControl, CallEvent, CallRef, CommandError, Interface, Number};
use isdn::q921::Side;
use isdn::q931::{call_state, cause, CallReference, Message, MessageType, Verdict};
use proptest::prelude::*;
use sansio::Core;

fn core(side: Side, interface: Interface) -> CallControl {
    let mut c = CallControl::new(CallConfig::new(side, interface));
    c.link_up();
    c
}

fn out(c: &mut CallControl) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

fn events(c: &mut CallControl) -> Vec<CallEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Hands every message of `from` to `to`; returns their types.
fn pass(now: Instant, from: &mut CallControl, to: &mut CallControl) -> Vec<MessageType> {
    out(from)
        .iter()
        .map(|b| {
            let m = Message::parse(b).unwrap();
            assert_eq!(m.check(), Verdict::Ok, "{m}");
            to.handle_message(now, &m);
            m.message_type
        })
        .collect()
}

fn released(ev: &[CallEvent]) -> Option<u8> {
    ev.iter().find_map(|e| match e {
        CallEvent::Released { cause, .. } => Some(*cause),
        _ => None,
    })
}

/// A call from `a` to `b`, answered; returns both call handles.
fn active_call(now: Instant, a: &mut CallControl, b: &mut CallControl) -> (CallRef, CallRef) {
    let ca = a
        .place(now, &Number::unknown("789"), None, None, None)
        .unwrap();
    pass(now, a, b);
    let Some(cb) = events(b).into_iter().find_map(|e| match e {
        CallEvent::Incoming { call, .. } => Some(call),
        _ => None,
    }) else {
        panic!("no Incoming");
    };
    b.alerting(cb).unwrap();
    b.connect(now, cb, None).unwrap();
    pass(now, b, a);
    pass(now, a, b);
    assert_eq!(a.state(ca), call_state::ACTIVE);
    assert_eq!(b.state(cb), call_state::ACTIVE);
    (ca, cb)
}

#[test]
fn user_calls_network_and_network_clears() {
    let t = Instant::now();
    let mut u = core(Side::User, Interface::T1);
    let mut n = core(Side::Network, Interface::T1);
    let called = Number::unknown("789");
    let calling = Number::unknown("2000");
    let cu = u.place(t, &called, Some(&calling), None, None).unwrap();
    assert_eq!(u.state(cu), call_state::CALL_INITIATED);
    assert_eq!(pass(t, &mut u, &mut n), [MessageType::Setup]);
    let ev = events(&mut n);
    let CallEvent::Incoming {
        call: cn,
        called: got,
        calling: from,
        channel,
        ..
    } = &ev[0]
    else {
        panic!("{ev:?}");
    };
    // The user side offers its highest free channel, preferred; the network accepts it.
    assert_eq!((got.digits.as_str(), *channel), ("789", 23));
    assert_eq!(from.as_ref().unwrap().digits, "2000");
    let cn = *cn;
    assert_eq!(n.state(cn), call_state::CALL_INITIATED);
    n.proceeding(cn).unwrap();
    assert_eq!(n.state(cn), call_state::OUTGOING_CALL_PROCEEDING);
    pass(t, &mut n, &mut u);
    assert_eq!(u.state(cu), call_state::OUTGOING_CALL_PROCEEDING);
    assert_eq!(
        events(&mut u),
        [
            CallEvent::ChannelAssigned { call: cu, b: 23 },
            CallEvent::Proceeding { call: cu }
        ]
    );
    n.alerting(cn).unwrap();
    assert_eq!(n.state(cn), call_state::CALL_DELIVERED);
    pass(t, &mut n, &mut u);
    assert_eq!(u.state(cu), call_state::CALL_DELIVERED);
    n.connect(t, cn, None).unwrap();
    assert_eq!(
        events(&mut n),
        [CallEvent::Connected {
            call: cn,
            name: None
        }]
    );
    pass(t, &mut n, &mut u);
    assert_eq!(
        events(&mut u)[1],
        CallEvent::Connected {
            call: cu,
            name: None
        }
    );
    assert_eq!(pass(t, &mut u, &mut n), [MessageType::ConnectAcknowledge]);
    assert_eq!(n.state(cn), call_state::ACTIVE);

    n.disconnect(t, cn, cause::NORMAL_CLEARING).unwrap();
    assert_eq!(n.state(cn), call_state::DISCONNECT_INDICATION);
    assert_eq!(pass(t, &mut n, &mut u), [MessageType::Disconnect]);
    assert_eq!(u.state(cu), call_state::RELEASE_REQUEST);
    assert_eq!(
        events(&mut u),
        [CallEvent::Disconnected {
            call: cu,
            cause: cause::NORMAL_CLEARING
        }]
    );
    assert_eq!(pass(t, &mut u, &mut n), [MessageType::Release]);
    assert_eq!(released(&events(&mut n)), Some(cause::NORMAL_CLEARING));
    assert_eq!(pass(t, &mut n, &mut u), [MessageType::ReleaseComplete]);
    assert_eq!(released(&events(&mut u)), Some(cause::NORMAL_CLEARING));
    for c in [&u, &n] {
        assert_eq!((c.calls(), c.busy_channels()), (0, 0));
        assert_eq!(c.poll_timeout(), None);
    }
    assert_eq!(u.call_references_in_use(), 0);
}

#[test]
fn network_calls_user_on_e1_and_user_clears() {
    let t = Instant::now();
    let mut n = core(Side::Network, Interface::E1);
    let mut u = core(Side::User, Interface::E1);
    let (cn, cu) = active_call(t, &mut n, &mut u);
    // The network side takes the lowest channel, exclusive.
    assert_eq!(n.channel(cn), Some(1));
    assert_eq!(u.channel(cu), Some(1));
    u.disconnect(t, cu, cause::NORMAL_CLEARING).unwrap();
    assert_eq!(u.state(cu), call_state::DISCONNECT_REQUEST);
    pass(t, &mut u, &mut n);
    assert_eq!(n.state(cn), call_state::RELEASE_REQUEST);
    pass(t, &mut n, &mut u);
    pass(t, &mut u, &mut n);
    assert_eq!((n.calls(), u.calls(), n.busy_channels()), (0, 0, 0));
}

#[test]
fn exclusive_busy_channel_is_refused_with_44_and_full_span_with_34() {
    let t = Instant::now();
    let mut n = core(Side::Network, Interface::T1);
    let mut u = core(Side::User, Interface::T1);
    n.place(t, &Number::unknown("1"), None, None, Some(5))
        .expect("channel 5");
    assert_eq!(
        n.place(t, &Number::unknown("1"), None, None, Some(5)),
        Err(CommandError::ChannelUnavailable)
    );
    assert_eq!(
        n.place(t, &Number::unknown("1"), None, None, Some(24)),
        Err(CommandError::ChannelUnavailable)
    );
    pass(t, &mut n, &mut u);
    events(&mut u);
    for _ in 0..22 {
        n.place(t, &Number::unknown("1"), None, None, None).unwrap();
    }
    assert_eq!(n.busy_channels(), 23);
    assert_eq!(
        n.place(t, &Number::unknown("1"), None, None, None),
        Err(CommandError::NoChannel)
    );
    assert_eq!(CommandError::NoChannel.cause(), cause::NO_CIRCUIT_AVAILABLE);
    pass(t, &mut n, &mut u);
    assert_eq!(u.calls(), 23);
    // A 24th SETUP from elsewhere on the same user side: no channel, RELEASE COMPLETE 34.
    let bytes = hex_setup(0x1234, 0);
    u.handle_message(t, &Message::parse(&bytes).unwrap());
    let rc = out(&mut u);
    let m = Message::parse(&rc[0]).unwrap();
    assert_eq!(m.message_type, MessageType::ReleaseComplete);
    assert_eq!(m.cause.unwrap().value, cause::NO_CIRCUIT_AVAILABLE);
    // And one for busy channel 5, exclusive: cause 44.
    let bytes = hex_setup(0x1235, 5);
    u.handle_message(t, &Message::parse(&bytes).unwrap());
    let m = out(&mut u);
    let m = Message::parse(&m[0]).unwrap();
    assert_eq!(m.cause.unwrap().value, cause::REQUESTED_CHANNEL_UNAVAILABLE);
}

#[test]
fn only_usable_timeslots_carry_calls() {
    let t = Instant::now();
    let mut cfg = CallConfig::new(Side::User, Interface::T1);
    cfg.usable = 1 << 1 | 1 << 3;
    let mut u = CallControl::new(cfg);
    u.link_up();
    // Exclusive channel 2, not ours to use: 44; our own SETUPs take usable channels only (a
    // user side from the highest, Q.931 §5.1.2 glare avoidance).
    let bytes = hex_setup(0x21, 2);
    u.handle_message(t, &Message::parse(&bytes).unwrap());
    let m = out(&mut u);
    let m = Message::parse(&m[0]).unwrap();
    assert_eq!(m.cause.unwrap().value, cause::REQUESTED_CHANNEL_UNAVAILABLE);
    assert_eq!(
        u.place(t, &Number::unknown("1"), None, None, Some(2)),
        Err(CommandError::ChannelUnavailable)
    );
    let a = u.place(t, &Number::unknown("1"), None, None, None).unwrap();
    let b = u.place(t, &Number::unknown("1"), None, None, None).unwrap();
    assert_eq!((u.channel(a), u.channel(b)), (Some(3), Some(1)));
    assert_eq!(
        u.place(t, &Number::unknown("1"), None, None, None),
        Err(CommandError::NoChannel)
    );
}

/// A SETUP from the network (flag 0), speech µ-law, exclusive channel `b` (0: none).
fn hex_setup(value: u16, b: u8) -> Vec<u8> {
    let mut v = vec![0x08, 0x02, (value >> 8) as u8, value as u8, 0x05];
    v.extend_from_slice(&[0x04, 0x03, 0x80, 0x90, 0xa2]);
    if b != 0 {
        v.extend_from_slice(&[0x18, 0x03, 0xa9, 0x83, 0x80 | b]);
    }
    v.extend_from_slice(&[0x70, 0x02, 0x80, 0x31]);
    v
}

#[test]
fn t303_sends_setup_twice_then_releases_with_102() {
    let t = Instant::now();
    let mut u = core(Side::User, Interface::T1);
    let c = u
        .place(t, &Number::unknown("789"), None, None, None)
        .unwrap();
    let first = out(&mut u);
    // Early and repeated timeouts do nothing.
    u.handle_timeout(t + Duration::from_secs(3));
    assert!(out(&mut u).is_empty());
    u.handle_timeout(t + Duration::from_secs(4));
    assert_eq!(out(&mut u), first, "SETUP sent again");
    u.handle_timeout(t + Duration::from_secs(4));
    assert!(out(&mut u).is_empty());
    u.handle_timeout(t + Duration::from_secs(8));
    let m = out(&mut u);
    let m = Message::parse(&m[0]).unwrap();
    assert_eq!(m.message_type, MessageType::ReleaseComplete);
    assert_eq!(m.cause.unwrap().value, cause::RECOVERY_ON_TIMER_EXPIRY);
    assert_eq!(
        events(&mut u),
        [CallEvent::Released {
            call: c,
            cause: cause::RECOVERY_ON_TIMER_EXPIRY
        }]
    );
    assert_eq!(
        (u.calls(), u.busy_channels(), u.call_references_in_use()),
        (0, 0, 0)
    );
}

#[test]
fn t310_t305_t308_clear_a_silent_peer() {
    let t = Instant::now();
    let s = Duration::from_secs;
    let mut u = core(Side::User, Interface::T1);
    let mut n = core(Side::Network, Interface::T1);
    let c = u
        .place(t, &Number::unknown("789"), None, None, None)
        .unwrap();
    pass(t, &mut u, &mut n);
    let Some(CallEvent::Incoming { call: cn, .. }) = events(&mut n).into_iter().next() else {
        panic!()
    };
    n.proceeding(cn).unwrap();
    pass(t, &mut n, &mut u);
    // T310 (30 s): DISCONNECT 102.
    u.handle_timeout(t + s(30));
    let types: Vec<MessageType> = out(&mut u)
        .iter()
        .map(|b| Message::parse(b).unwrap().message_type)
        .collect();
    assert_eq!(types, [MessageType::Disconnect]);
    assert_eq!(u.state(c), call_state::DISCONNECT_REQUEST);
    // T305 (30 s): RELEASE with cause 102.
    u.handle_timeout(t + s(60));
    let m = out(&mut u);
    let m = Message::parse(&m[0]).unwrap();
    assert_eq!(
        (m.message_type, m.cause.unwrap().value),
        (MessageType::Release, 102)
    );
    // T308 twice: RELEASE again, then the call reference is released.
    u.handle_timeout(t + s(64));
    assert_eq!(out(&mut u).len(), 1);
    u.handle_timeout(t + s(68));
    assert!(out(&mut u).is_empty());
    assert_eq!(released(&events(&mut u)), Some(102));
    assert_eq!((u.calls(), u.busy_channels()), (0, 0));
}

#[test]
fn t313_clears_when_connect_is_not_acknowledged() {
    let t = Instant::now();
    let mut n = core(Side::Network, Interface::T1);
    let mut u = core(Side::User, Interface::T1);
    n.place(t, &Number::unknown("789"), None, None, None)
        .unwrap();
    pass(t, &mut n, &mut u);
    let Some(CallEvent::Incoming { call, .. }) = events(&mut u).into_iter().next() else {
        panic!()
    };
    u.connect(t, call, None).unwrap();
    assert_eq!(u.state(call), call_state::CONNECT_REQUEST);
    out(&mut u);
    u.handle_timeout(t + Duration::from_secs(4));
    let m = out(&mut u);
    let m = Message::parse(&m[0]).unwrap();
    assert_eq!(
        (m.message_type, m.cause.unwrap().value),
        (MessageType::Disconnect, 102)
    );
}

#[test]
fn status_enquiry_unexpected_messages_and_unknown_call_references() {
    let t = Instant::now();
    let mut u = core(Side::User, Interface::T1);
    let mut n = core(Side::Network, Interface::T1);
    let (cu, _) = active_call(t, &mut u, &mut n);
    let cr = CallReference::Call {
        value: cu.value,
        flag: true,
    };
    let reply = |u: &mut CallControl, m: Message<'_>| {
        u.handle_message(t, &m);
        let o = out(u);
        let r = Message::parse(&o[0]).unwrap();
        (r.message_type, r.cause.map(|c| c.value), r.call_state)
    };
    assert_eq!(
        reply(&mut u, Message::new(cr, MessageType::StatusEnquiry)),
        (MessageType::Status, Some(30), Some(call_state::ACTIVE))
    );
    // ALERTING in the Active state: STATUS 101.
    assert_eq!(
        reply(&mut u, Message::new(cr, MessageType::Alerting)),
        (MessageType::Status, Some(101), Some(call_state::ACTIVE))
    );
    // An unknown message type: STATUS 97.
    assert_eq!(
        reply(&mut u, Message::new(cr, MessageType::Other(0x7b))),
        (MessageType::Status, Some(97), Some(call_state::ACTIVE))
    );
    // A call reference nobody uses: RELEASE COMPLETE 81.
    let stray = CallReference::Call {
        value: 999,
        flag: false,
    };
    assert_eq!(
        reply(&mut u, Message::new(stray, MessageType::Connect)).1,
        Some(cause::INVALID_CALL_REFERENCE)
    );
    // STATUS saying the peer is in Null: the call is released.
    u.handle_message(
        t,
        &Message::status(
            cr,
            isdn::q931::Cause::new(isdn::q931::Location::User, 101),
            0,
        ),
    );
    assert_eq!(released(&events(&mut u)), Some(101));
    assert_eq!(u.calls(), 0);
}

#[test]
fn clear_collision_and_link_loss() {
    let t = Instant::now();
    let mut u = core(Side::User, Interface::T1);
    let mut n = core(Side::Network, Interface::T1);
    let (cu, cn) = active_call(t, &mut u, &mut n);
    // Both send DISCONNECT at once (§5.3.5.1).
    u.disconnect(t, cu, 16).unwrap();
    n.disconnect(t, cn, 16).unwrap();
    let (a, b) = (out(&mut u), out(&mut n));
    for m in &b {
        u.handle_message(t, &Message::parse(m).unwrap());
    }
    for m in &a {
        n.handle_message(t, &Message::parse(m).unwrap());
    }
    // Both send RELEASE (§5.3.5.2): each releases without RELEASE COMPLETE.
    pass(t, &mut u, &mut n);
    pass(t, &mut n, &mut u);
    assert_eq!((u.calls(), n.calls()), (0, 0));
    // Link loss clears every call: 41 before active, 27 when active.
    let (_, _) = active_call(t, &mut u, &mut n);
    u.place(t, &Number::unknown("1"), None, None, None).unwrap();
    events(&mut u);
    u.link_down();
    let mut causes: Vec<u8> = events(&mut u)
        .iter()
        .filter_map(|e| match e {
            CallEvent::Released { cause, .. } => Some(*cause),
            _ => None,
        })
        .collect();
    causes.sort();
    assert_eq!(causes, [27, 41]);
    assert!(out(&mut u).is_empty());
    assert_eq!(
        (u.calls(), u.busy_channels(), u.poll_timeout()),
        (0, 0, None)
    );
    assert_eq!(
        u.place(t, &Number::unknown("1"), None, None, None),
        Err(CommandError::LinkDown)
    );
}

#[test]
fn restart_both_ways() {
    let t = Instant::now();
    let mut u = core(Side::User, Interface::T1);
    let mut n = core(Side::Network, Interface::T1);
    active_call(t, &mut u, &mut n);
    n.restart(t).unwrap();
    assert_eq!(released(&events(&mut n)), Some(41));
    assert_eq!(pass(t, &mut n, &mut u), [MessageType::Restart]);
    assert_eq!(released(&events(&mut u)), Some(41));
    assert_eq!(pass(t, &mut u, &mut n), [MessageType::RestartAcknowledge]);
    assert_eq!(n.poll_timeout(), None, "T316 stopped");
    // Unanswered: RESTART once more after T316, then no more.
    n.restart(t).unwrap();
    out(&mut n);
    n.handle_timeout(t + Duration::from_secs(120));
    assert_eq!(out(&mut n).len(), 1);
    n.handle_timeout(t + Duration::from_secs(240));
    assert!(out(&mut n).is_empty());
    assert_eq!(n.poll_timeout(), None);
}

#[test]
fn network_reassigns_a_preferred_channel() {
    let t = Instant::now();
    let mut u = core(Side::User, Interface::T1);
    let c = u.place(t, &Number::unknown("1"), None, None, None).unwrap();
    out(&mut u);
    let cr = CallReference::Call {
        value: c.value,
        flag: true,
    };
    let proc = Message {
        channel_id: Some(isdn::q931::ChannelId::b_channel(7, true)),
        ..Message::new(cr, MessageType::CallProceeding)
    };
    u.handle_message(t, &proc);
    assert_eq!(u.channel(c), Some(7));
    assert_eq!(
        events(&mut u)[0],
        CallEvent::ChannelAssigned { call: c, b: 7 }
    );
    assert_eq!(u.busy_channels(), 1);
}

proptest! {
    /// Any sequence of messages from the peer, commands and timeouts: no panic, and once the
    /// link goes down nothing is left: no call, no B-channel, no call reference, no timer.
    #[test]
    fn no_sequence_panics_or_leaks(
        network in any::<bool>(),
        steps in proptest::collection::vec((0u8..12, 0u8..16, 1u16..4, any::<bool>(), 0u8..25), 1..60),
    ) {
        let side = if network { Side::Network } else { Side::User };
        let mut c = core(side, Interface::T1);
        let mut now = Instant::now();
        let types = [0x01u8, 0x02, 0x03, 0x05, 0x07, 0x0f, 0x45, 0x46, 0x4d, 0x4e, 0x5a, 0x75, 0x7d, 0x62, 0x7b, 0x00];
        let mut placed = Vec::new();
        for (op, t, value, flag, b) in steps {
            match op {
                0..=5 => {
                    let mut bytes = vec![0x08, 0x02, (u8::from(flag) << 7), value as u8, types[usize::from(t)]];
                    bytes.extend_from_slice(&[0x04, 0x03, 0x80, 0x90, 0xa2]);
                    if b != 0 { bytes.extend_from_slice(&[0x18, 0x03, 0xa9, 0x83, 0x80 | b]); }
                    bytes.extend_from_slice(&[0x08, 0x02, 0x80, 0x90, 0x14, 0x01, b % 20]);
                    c.handle_message(now, &Message::parse(&bytes).unwrap());
                }
                6 => if let Ok(call) = c.place(now, &Number::unknown("1"), None, None, (b != 0).then_some(b)) { placed.push(call) },
                7 => { let call = CallRef { value, ours: flag }; let _ = c.alerting(call); let _ = c.connect(now, call, None); }
                8 => { let call = CallRef { value, ours: flag }; let _ = c.disconnect(now, call, 16); }
                9 => { for p in &placed { let _ = c.disconnect(now, *p, 16); } }
                10 => { now += Duration::from_secs(u64::from(b) * 3); c.handle_timeout(now); }
                _ => { let _ = c.restart(now); }
            }
            out(&mut c);
            events(&mut c);
            prop_assert!(c.busy_channels() <= 23);
            prop_assert!(c.calls() <= 23);
        }
        c.link_down();
        prop_assert_eq!((c.calls(), c.busy_channels(), c.call_references_in_use()), (0, 0, 0));
        prop_assert_eq!(c.poll_timeout(), None);
    }
}
