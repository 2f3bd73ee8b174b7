//! Glare on a B-channel (Q.931 §5.2.3.1, ECMA-143): both sides send a SETUP for the same
//! channel at once. The network side's choice wins; the user side moves its own call to
//! another channel when its SETUP offered the channel as preferred, and clears it (cause 34)
//! when it asked for it as exclusive. The network side, for its part, refuses an exclusive
//! request for a channel it holds (cause 44) and moves a preferred one.

use std::time::Instant;

use isdn::call::{CallConfig, CallControl, CallEvent, CallRef, Interface, Number};
use isdn::q921::Side;
use isdn::q931::{call_state, cause, Message, MessageType};
use sansio::Core;

fn core(side: Side) -> CallControl {
    let mut c = CallControl::new(CallConfig::new(side, Interface::T1));
    c.link_up();
    c
}

fn out(c: &mut CallControl) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

fn events(c: &mut CallControl) -> Vec<CallEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Hands `msgs` to `to`; returns their types.
fn deliver(now: Instant, msgs: &[Vec<u8>], to: &mut CallControl) -> Vec<MessageType> {
    msgs.iter()
        .map(|b| {
            let m = Message::parse(b).unwrap();
            to.handle_message(now, &m);
            m.message_type
        })
        .collect()
}

fn incoming(ev: &[CallEvent]) -> (CallRef, u8) {
    ev.iter()
        .find_map(|e| match e {
            CallEvent::Incoming { call, channel, .. } => Some((*call, *channel)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Incoming in {ev:?}"))
}

#[test]
fn user_side_moves_its_preferred_call_when_the_network_takes_the_channel() {
    let now = Instant::now();
    let (mut u, mut n) = (core(Side::User), core(Side::Network));
    let called = Number::unknown("789");
    // The user offers its highest free channel, 23, as preferred; the network asks for 23
    // as exclusive; the two SETUPs cross.
    let ours = u.place(now, &called, None, None, None).unwrap();
    assert_eq!(u.channel(ours), Some(23));
    let theirs = n.place(now, &called, None, None, Some(23)).unwrap();
    let (from_u, from_n) = (out(&mut u), out(&mut n));

    deliver(now, &from_n, &mut u);
    let (their_call, b) = incoming(&events(&mut u));
    assert_eq!(b, 23, "the network's choice wins");
    assert_eq!(u.channel(their_call), Some(23));
    assert_eq!(
        u.channel(ours),
        Some(22),
        "our call moved to the next free channel"
    );
    assert_eq!(u.state(ours), call_state::CALL_INITIATED);
    assert_eq!(u.busy_channels(), 2);
    assert!(out(&mut u).is_empty(), "nothing to send yet");

    // The network gets our SETUP for 23 (preferred, busy there) and picks 1 for it.
    deliver(now, &from_u, &mut n);
    let (at_n, b) = incoming(&events(&mut n));
    assert_eq!(b, 1);
    n.alerting(at_n).unwrap();
    deliver(now, &out(&mut n), &mut u);
    let ev = events(&mut u);
    assert!(
        ev.contains(&CallEvent::ChannelAssigned { call: ours, b: 1 }),
        "{ev:?}"
    );
    assert_eq!(u.channel(ours), Some(1));
    assert_eq!(u.busy_channels(), 2, "22 given back");
    assert!(n.has_call(theirs));
}

#[test]
fn user_side_clears_its_exclusive_call_with_34_when_the_network_takes_the_channel() {
    let now = Instant::now();
    let (mut u, mut n) = (core(Side::User), core(Side::Network));
    let called = Number::unknown("789");
    let ours = u.place(now, &called, None, None, Some(5)).unwrap();
    let theirs = n.place(now, &called, None, None, Some(5)).unwrap();
    let (from_u, from_n) = (out(&mut u), out(&mut n));

    deliver(now, &from_n, &mut u);
    let (their_call, b) = incoming(&events(&mut u));
    assert_eq!((b, u.channel(their_call)), (5, Some(5)));
    assert_eq!(u.channel(ours), None);
    assert_eq!(u.busy_channels(), 1);
    let clearing = out(&mut u);
    let m = Message::parse(&clearing[0]).unwrap();
    assert_eq!(m.message_type, MessageType::Disconnect);
    assert_eq!(m.cause.map(|c| c.value), Some(cause::NO_CIRCUIT_AVAILABLE));

    // The network refuses our exclusive SETUP with 44; the DISCONNECT then finds no call.
    let from_u: Vec<Vec<u8>> = from_u.into_iter().chain(clearing).collect();
    deliver(now, &from_u, &mut n);
    let answers = out(&mut n);
    let first = Message::parse(&answers[0]).unwrap();
    assert_eq!(first.message_type, MessageType::ReleaseComplete);
    assert_eq!(
        first.cause.map(|c| c.value),
        Some(cause::REQUESTED_CHANNEL_UNAVAILABLE)
    );
    deliver(now, &answers, &mut u);
    let ev = events(&mut u);
    assert!(
        ev.contains(&CallEvent::Released {
            call: ours,
            cause: cause::REQUESTED_CHANNEL_UNAVAILABLE
        }),
        "{ev:?}"
    );
    assert!(!u.has_call(ours));
    assert!(u.has_call(their_call) && n.has_call(theirs));
    assert_eq!(u.busy_channels(), 1);
    assert_eq!(u.call_references_in_use(), 0);
}

#[test]
fn user_side_clears_with_34_when_no_channel_is_left_to_move_to() {
    let now = Instant::now();
    let (mut u, mut n) = (core(Side::User), core(Side::Network));
    let called = Number::unknown("789");
    // 22 calls of the user hold 2..=23 (preferred); the network then asks for 23.
    let calls: Vec<CallRef> = (0..22)
        .map(|_| u.place(now, &called, None, None, None).unwrap())
        .collect();
    assert_eq!(u.busy_channels(), 22);
    n.place(now, &called, None, None, Some(23)).unwrap();
    out(&mut u);
    deliver(now, &out(&mut n), &mut u);
    let (_, b) = incoming(&events(&mut u));
    assert_eq!(b, 23);
    let on_23 = calls[0];
    assert_eq!(u.channel(on_23), Some(1), "moved to the last free channel");
    // One more glare, now with nothing free: the network asks for 22.
    n.place(now, &called, None, None, Some(22)).unwrap();
    deliver(now, &out(&mut n), &mut u);
    let (_, b) = incoming(&events(&mut u));
    assert_eq!(b, 22);
    assert_eq!(u.channel(calls[1]), None);
    let sent = out(&mut u);
    let m = Message::parse(&sent[0]).unwrap();
    assert_eq!(m.message_type, MessageType::Disconnect);
    assert_eq!(m.cause.map(|c| c.value), Some(cause::NO_CIRCUIT_AVAILABLE));
}

#[test]
fn an_answered_call_keeps_its_channel_and_the_setup_is_refused_with_44() {
    let now = Instant::now();
    let (mut u, mut n) = (core(Side::User), core(Side::Network));
    let called = Number::unknown("789");
    let ours = u.place(now, &called, None, None, None).unwrap();
    deliver(now, &out(&mut u), &mut n);
    let (at_n, _) = incoming(&events(&mut n));
    n.proceeding(at_n).unwrap();
    deliver(now, &out(&mut n), &mut u);
    events(&mut u);
    assert_eq!(u.channel(ours), Some(23));
    // A buggy network now asks for 23 again, exclusive: refused, our call untouched.
    let mut other = core(Side::Network);
    other.place(now, &called, None, None, Some(23)).unwrap();
    deliver(now, &out(&mut other), &mut u);
    assert!(events(&mut u).is_empty());
    let sent = out(&mut u);
    let m = Message::parse(&sent[0]).unwrap();
    assert_eq!(m.message_type, MessageType::ReleaseComplete);
    assert_eq!(
        m.cause.map(|c| c.value),
        Some(cause::REQUESTED_CHANNEL_UNAVAILABLE)
    );
    assert_eq!(u.channel(ours), Some(23));
}
