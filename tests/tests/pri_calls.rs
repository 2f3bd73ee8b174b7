//! Q.931 basic calls (issue 13 item 1) between our span engine (`isdn::span::Span` with
//! calls on, no chand) and libpri 1.6 as the PBX (tests/peers/libpri-pbx.c), over a
//! SOCK_SEQPACKET socketpair (one packet = one Q.921 frame without FCS, as on the sim
//! D-channel), in real time: libpri calls us and hangs up, we call libpri and hang up, with our
//! side as the user and as the network side, on a T1 (µ-law) and an E1 (A-law, channel numbers
//! above the D-channel timeslot 16). tshark must decode every frame of both directions as LAPD
//! without a malformed flag or an expert warning.
//!
//! Needs gcc, libpri-dev, text2pcap and tshark (scripts/install-deps); fails if one is missing.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use dahdi_mwi_tests::libpri::{LibpriPbx, LibpriSide};
use dahdi_mwi_tests::tshark;
use isdn::call::{CallConfig, CallEvent, Interface, Number};
use isdn::q921::Side;
use isdn::q931::{cause, Message};
use isdn::qsig::{Name, CALLING_NAME};
use isdn::span::{Span, SpanConfig, SpanEvent};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use sansio::Core;

const WAIT: Duration = Duration::from_secs(10);

/// Our span and the libpri peer on the two ends of a socketpair.
struct Rig {
    span: Span,
    fd: OwnedFd,
    pbx: LibpriPbx,
    /// Every frame of both directions, in order, for tshark.
    frames: Vec<Vec<u8>>,
    /// Our call events so far.
    events: Vec<CallEvent>,
    link_up: bool,
}

impl Rig {
    /// Our span on `side` with calls on `iface`; libpri on the other side with the call
    /// options `args`. Returns once both ends report the link up.
    fn new(side: Side, iface: Interface, args: &[&str]) -> Rig {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        let libpri_side = match side {
            Side::User => LibpriSide::Network,
            Side::Network => LibpriSide::Cpe,
        };
        let mut cfg = SpanConfig::new(side);
        cfg.calls = Some(CallConfig::new(side, iface));
        let mut rig = Rig {
            span: Span::new(cfg),
            fd: ours,
            pbx: LibpriPbx::spawn_fd(theirs, libpri_side, args),
            frames: Vec::new(),
            events: Vec::new(),
            link_up: false,
        };
        rig.span.start(Instant::now());
        rig.flush();
        assert!(
            rig.run_until(|r| r.link_up && r.pbx.dchan_up),
            "link never came up:\n{}",
            rig.pbx.tail(20)
        );
        rig
    }

    fn flush(&mut self) {
        while let Some(f) = self.span.poll_transmit() {
            send(self.fd.as_raw_fd(), &f, MsgFlags::MSG_NOSIGNAL).expect("send to libpri");
            self.frames.push(f);
        }
        while let Some(ev) = self.span.poll_event() {
            match ev {
                SpanEvent::LinkUp => self.link_up = true,
                SpanEvent::LinkDown => self.link_up = false,
                _ => {}
            }
        }
        self.events
            .extend(std::iter::from_fn(|| self.span.poll_call_event()));
    }

    /// Moves frames and runs timers for at most 50 ms.
    fn step(&mut self) {
        let now = Instant::now();
        let wait = self
            .span
            .poll_timeout()
            .map_or(Duration::from_millis(50), |t| {
                t.saturating_duration_since(now)
            })
            .min(Duration::from_millis(50));
        let ms = u16::try_from(wait.as_millis()).unwrap_or(50);
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&self.fd),
            PollFlags::POLLIN,
        )];
        poll(&mut fds, PollTimeout::from(ms)).expect("poll");
        let readable = fds[0].revents().is_some_and(|r| !r.is_empty());
        if readable {
            let mut buf = [0u8; 512];
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT).unwrap_or(0);
            assert!(n > 0, "libpri closed the socket:\n{}", self.pbx.tail(20));
            self.frames.push(buf[..n].to_vec());
            self.span.handle_frame(Instant::now(), &buf[..n]);
        }
        self.span.handle_timeout(Instant::now());
        self.flush();
        self.pbx.pump();
    }

    /// Steps until `cond` holds (true) or [`WAIT`] passes (false).
    fn run_until(&mut self, mut cond: impl FnMut(&mut Rig) -> bool) -> bool {
        let end = Instant::now() + WAIT;
        while Instant::now() < end {
            self.step();
            if cond(self) {
                return true;
            }
        }
        false
    }

    /// The first of our events that `f` maps to `Some`.
    fn event<T>(&self, f: impl Fn(&CallEvent) -> Option<T>) -> Option<T> {
        self.events.iter().find_map(f)
    }

    /// Whether libpri printed a call line starting with `prefix`.
    fn libpri_saw(&self, prefix: &str) -> bool {
        self.pbx.calls.iter().any(|l| l.starts_with(prefix))
    }

    fn context(&self) -> String {
        format!(
            "our events: {:?}\nlibpri calls: {:?}\nlibpri tail:\n{}",
            self.events,
            self.pbx.calls,
            self.pbx.tail(30)
        )
    }

    /// tshark decodes every frame as LAPD, the Q.931 ones as Q.931 (at least the 7 messages
    /// of a call: SETUP, ALERTING, CONNECT, CONNECT ACKNOWLEDGE, DISCONNECT, RELEASE,
    /// RELEASE COMPLETE), nothing flagged.
    fn check_tshark(&self) {
        let v = tshark::decode(&self.frames);
        assert_eq!(v.lapd, self.frames.len(), "tshark: {v:?}");
        assert!(v.q931 >= 7, "too few Q.931 messages decoded: {v:?}");
        assert!(v.flagged.is_empty(), "tshark flagged frames: {v:?}");
    }
}

/// libpri on channel `b` calls 1234 from 2000; we send ALERTING and CONNECT; libpri sees
/// ANSWER and hangs up after 300 ms with cause 16: DISCONNECT, RELEASE, RELEASE COMPLETE.
fn libpri_calls_us(side: Side, iface: Interface, b: u8) {
    let mut args = vec!["--call", "1234", "--hangup-after", "300", "--exclusive"];
    let b_arg = b.to_string();
    args.extend(["--channel", &b_arg]);
    if iface == Interface::E1 {
        args.push("--alaw");
    }
    let mut rig = Rig::new(side, iface, &args);
    assert!(
        rig.run_until(|r| r.event(incoming).is_some()),
        "no SETUP arrived\n{}",
        rig.context()
    );
    let (call, called, calling, channel) = rig.event(incoming).unwrap();
    assert_eq!(called.digits, "1234");
    assert_eq!(calling.map(|n| n.digits).as_deref(), Some("2000"));
    assert_eq!(channel, b);
    let now = Instant::now();
    rig.span
        .with_calls(now, |cc| {
            cc.alerting(call).unwrap();
            cc.connect(now, call, None).unwrap();
        })
        .expect("calls are on");
    rig.flush();
    assert!(
        rig.run_until(|r| r.event(released).is_some()),
        "the call was not released\n{}",
        rig.context()
    );
    assert!(
        rig.run_until(|r| r.libpri_saw("SENT HANGUP")),
        "{}",
        rig.context()
    );
    assert!(rig.libpri_saw("RINGING"), "{}", rig.context());
    assert!(rig.libpri_saw("ANSWER"), "{}", rig.context());
    assert!(rig.event(connected).is_some(), "{}", rig.context());
    assert_eq!(
        rig.event(disconnected),
        Some(cause::NORMAL_CLEARING),
        "{}",
        rig.context()
    );
    assert_eq!(rig.event(released), Some(cause::NORMAL_CLEARING));
    assert!(
        rig.run_until(|r| r.libpri_saw("HANGUP ")),
        "libpri did not finish clearing\n{}",
        rig.context()
    );
    rig.span.with_calls(now, |cc| assert_eq!(cc.calls(), 0));
    rig.check_tshark();
}

/// We call 1234 from 2000 on a channel we choose; libpri answers with ALERTING and CONNECT;
/// we hang up with cause 16 and libpri sees HANGUP_REQ with that cause.
fn we_call_libpri(side: Side, iface: Interface) {
    let mut args = vec!["--answer"];
    if iface == Interface::E1 {
        args.push("--alaw");
    }
    let mut rig = Rig::new(side, iface, &args);
    let now = Instant::now();
    let call = rig
        .span
        .with_calls(now, |cc| {
            cc.place(
                now,
                &Number::unknown("1234"),
                Some(&Number::unknown("2000")),
                None,
                None,
            )
        })
        .expect("calls are on")
        .expect("place the call");
    rig.flush();
    assert!(
        rig.run_until(|r| r.event(connected).is_some()),
        "the call was not answered\n{}",
        rig.context()
    );
    assert!(
        rig.events
            .iter()
            .any(|e| matches!(e, CallEvent::Alerting { .. })),
        "{}",
        rig.context()
    );
    let b = rig
        .event(|e| match e {
            CallEvent::ChannelAssigned { b, .. } => Some(*b),
            _ => None,
        })
        .expect("a B-channel");
    assert!(iface.is_b_channel(b), "channel {b}");
    assert!(
        rig.run_until(|r| r.libpri_saw("SENT CONNECT")),
        "{}",
        rig.context()
    );
    assert!(
        rig.pbx
            .calls
            .iter()
            .any(|l| l.starts_with("RING ") && l.contains(" called=1234 calling=2000")),
        "{}",
        rig.context()
    );
    let now = Instant::now();
    rig.span
        .with_calls(now, |cc| cc.disconnect(now, call, cause::NORMAL_CLEARING))
        .expect("calls are on")
        .expect("disconnect");
    rig.flush();
    assert!(
        rig.run_until(|r| r.event(released).is_some() && r.libpri_saw("HANGUP_ACK")),
        "the call was not released\n{}",
        rig.context()
    );
    assert!(
        rig.libpri_saw(&format!("HANGUP_REQ cause={}", cause::NORMAL_CLEARING)),
        "{}",
        rig.context()
    );
    assert_eq!(rig.event(released), Some(cause::NORMAL_CLEARING));
    rig.check_tshark();
}

fn incoming(e: &CallEvent) -> Option<(isdn::call::CallRef, Number, Option<Number>, u8)> {
    match e {
        CallEvent::Incoming {
            call,
            called,
            calling,
            channel,
            ..
        } => Some((*call, called.clone(), calling.clone(), *channel)),
        _ => None,
    }
}

fn connected(e: &CallEvent) -> Option<()> {
    matches!(e, CallEvent::Connected { .. }).then_some(())
}

fn disconnected(e: &CallEvent) -> Option<u8> {
    match e {
        CallEvent::Disconnected { cause, .. } => Some(*cause),
        _ => None,
    }
}

fn released(e: &CallEvent) -> Option<u8> {
    match e {
        CallEvent::Released { cause, .. } => Some(*cause),
        _ => None,
    }
}

#[test]
fn libpri_network_calls_our_user_side_t1() {
    libpri_calls_us(Side::User, Interface::T1, 1);
}

#[test]
fn libpri_cpe_calls_our_network_side_t1() {
    libpri_calls_us(Side::Network, Interface::T1, 5);
}

#[test]
fn libpri_network_calls_our_user_side_e1() {
    libpri_calls_us(Side::User, Interface::E1, 17);
}

#[test]
fn libpri_cpe_calls_our_network_side_e1() {
    libpri_calls_us(Side::Network, Interface::E1, 31);
}

#[test]
fn our_user_side_calls_libpri_network_t1() {
    we_call_libpri(Side::User, Interface::T1);
}

#[test]
fn our_network_side_calls_libpri_cpe_t1() {
    we_call_libpri(Side::Network, Interface::T1);
}

#[test]
fn our_user_side_calls_libpri_network_e1() {
    we_call_libpri(Side::User, Interface::E1);
}

#[test]
fn our_network_side_calls_libpri_cpe_e1() {
    we_call_libpri(Side::Network, Interface::E1);
}

/// The Facility IE contents of a frame (I frame, Q.931 after 4 octets of Q.921 header).
fn facilities(frame: &[u8]) -> Vec<Vec<u8>> {
    frame
        .get(4..)
        .and_then(|m| Message::parse(m).ok())
        .map(|m| m.facility.iter().map(|f| f.to_vec()).collect())
        .unwrap_or_default()
}

/// ECMA-164 names with libpri (our side user, libpri network): its SETUP's callingName reaches our Incoming event, our
/// CONNECT's connectedName reaches libpri's ANSWER; our SETUP's callingName reaches libpri's
/// RING, its CONNECT's connectedName our Connected event. libpri's Facility IE for a name is
/// octet for octet what [`Name::facility`] builds with the same invokeId.
#[test]
fn qsig_names_both_ways_with_libpri() {
    let mut rig = Rig::new(
        Side::User,
        Interface::T1,
        &["--call", "1234", "--name", "Alice", "--hangup-after", "300"],
    );
    assert!(
        rig.run_until(|r| r.event(incoming).is_some()),
        "{}",
        rig.context()
    );
    let (call, name) = rig
        .events
        .iter()
        .find_map(|e| match e {
            CallEvent::Incoming { call, name, .. } => Some((*call, name.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(name, Name::allowed("Alice"), "{}", rig.context());
    let theirs = rig
        .frames
        .iter()
        .flat_map(|f| facilities(f))
        .next()
        .expect("libpri's SETUP has a Facility IE");
    let alice = Name::allowed("Alice").unwrap();
    assert_eq!(theirs, alice.facility(CALLING_NAME, 1));
    let now = Instant::now();
    let bob = Name::allowed("Bob");
    rig.span.with_calls(now, |cc| {
        cc.alerting(call).unwrap();
        cc.connect(now, call, bob.as_ref()).unwrap();
    });
    rig.flush();
    assert!(
        rig.run_until(|r| r.libpri_saw("ANSWER")),
        "{}",
        rig.context()
    );
    assert!(
        rig.libpri_saw("ANSWER channel=1 connected_name=Bob"),
        "{}",
        rig.context()
    );
    assert!(
        rig.run_until(|r| r.event(released).is_some() && r.libpri_saw("HANGUP ")),
        "{}",
        rig.context()
    );
    let v = tshark::decode(&rig.frames);
    assert_eq!(v.qsig, 2, "the SETUP and the CONNECT carry a name: {v:?}");
    rig.check_tshark();

    // The other way: our SETUP names Carol, libpri's CONNECT names Dave.
    let mut rig = Rig::new(Side::User, Interface::T1, &["--answer", "--name", "Dave"]);
    let now = Instant::now();
    let carol = Name::allowed("Carol");
    let call = rig
        .span
        .with_calls(now, |cc| {
            let called = Number::unknown("1234");
            cc.place(now, &called, None, carol.as_ref(), None)
        })
        .unwrap()
        .unwrap();
    rig.flush();
    assert!(
        rig.run_until(|r| r.event(connected).is_some()),
        "{}",
        rig.context()
    );
    let name = rig.events.iter().find_map(|e| match e {
        CallEvent::Connected { name, .. } => Some(name.clone()),
        _ => None,
    });
    assert_eq!(name, Some(Name::allowed("Dave")), "{}", rig.context());
    assert!(
        rig.run_until(|r| r.libpri_saw("SENT CONNECT")),
        "{}",
        rig.context()
    );
    assert!(
        rig.pbx
            .calls
            .iter()
            .any(|l| l.starts_with("RING ") && l.ends_with(" name=Carol")),
        "{}",
        rig.context()
    );
    rig.span
        .with_calls(now, |cc| cc.disconnect(now, call, cause::NORMAL_CLEARING))
        .unwrap()
        .unwrap();
    rig.flush();
    assert!(
        rig.run_until(|r| r.event(released).is_some() && r.libpri_saw("HANGUP_ACK")),
        "{}",
        rig.context()
    );
    rig.check_tshark();
}
