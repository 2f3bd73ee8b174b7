//! Q.921 LAPD: frame formats and every multiple-frame procedure, including frame loss.

mod common;

use std::time::{Duration, Instant};

use common::repr;
use isdn::q921::{
    Config, Error, Event, Kind, Lapd, MdlError, Packet, Repr, SendError, Side, State, N201,
};
use proptest::prelude::*;
use sansio::Core;

/// Frames sent by `side` as a command / response, parsed.
fn frames(l: &mut Lapd) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| l.poll_transmit()).collect()
}

fn events(l: &mut Lapd) -> Vec<Event> {
    std::iter::from_fn(|| l.poll_event()).collect()
}

fn kinds(fs: &[Vec<u8>]) -> Vec<Kind> {
    fs.iter()
        .map(|f| Repr::parse_bytes(f).expect("own frame parses").kind)
        .collect()
}

#[test]
fn golden_i_frame_from_libpri_parses() {
    // docs/qsig.md: user-side I frame carrying a CISC SETUP.
    let f = [0x00, 0x01, 0x00, 0x00, 0x08, 0x02, 0x00, 0x01, 0x05];
    let r = Repr::parse_bytes(&f).unwrap();
    assert_eq!(r.kind, Kind::I { ns: 0, nr: 0 });
    assert!(!r.cr && !r.pf);
    assert_eq!((r.sapi, r.tei), (0, 0));
    assert!(Side::User.is_command(r.cr));
    assert_eq!(r.info, &f[4..]);
    assert_eq!(r.to_vec(), f);
    // From the network side only octet 0 differs.
    assert!(Side::Network.is_command(true));
    assert_eq!(repr(true, r.kind, false, r.info).to_vec()[0], 0x02);
}

#[test]
fn cr_bit_table() {
    assert!(!Side::User.cr_bit(true));
    assert!(Side::User.cr_bit(false));
    assert!(Side::Network.cr_bit(true));
    assert!(!Side::Network.cr_bit(false));
}

#[test]
fn every_frame_type_round_trips_with_known_octets() {
    let cases: &[(Kind, bool, &[u8], &[u8])] = &[
        (Kind::I { ns: 127, nr: 5 }, true, b"x", &[0xfe, 0x0b, b'x']),
        (Kind::Rr { nr: 3 }, false, b"", &[0x01, 0x06]),
        (Kind::Rnr { nr: 3 }, true, b"", &[0x05, 0x07]),
        (Kind::Rej { nr: 64 }, true, b"", &[0x09, 0x81]),
        (Kind::Sabme, true, b"", &[0x7f]),
        (Kind::Sabme, false, b"", &[0x6f]),
        (Kind::Dm, true, b"", &[0x1f]),
        (Kind::Ui, false, b"ab", &[0x03, b'a', b'b']),
        (Kind::Disc, true, b"", &[0x53]),
        (Kind::Ua, true, b"", &[0x73]),
        (Kind::Frmr, false, &[1, 2, 3, 4, 5], &[0x87, 1, 2, 3, 4, 5]),
        (Kind::Xid, false, b"", &[0xaf]),
    ];
    for &(kind, pf, info, tail) in cases {
        let r = repr(true, kind, pf, info);
        let v = r.to_vec();
        assert_eq!(v.len(), r.buffer_len());
        assert_eq!(&v[..2], &[0x02, 0x01]);
        assert_eq!(&v[2..], tail, "{kind:?}");
        assert_eq!(Repr::parse_bytes(&v).unwrap(), r);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!((p.sapi(), p.cr(), p.tei()), (0, true, 0));
        assert_eq!(Repr::parse(&p).unwrap(), r);
    }
}

#[test]
fn invalid_frames_are_classified() {
    assert_eq!(Repr::parse_bytes(&[0x00, 0x01]), Err(Error::Truncated));
    assert_eq!(
        Repr::parse_bytes(&[0x00, 0x01, 0x00]),
        Err(Error::Truncated)
    );
    assert_eq!(
        Repr::parse_bytes(&[0x01, 0x01, 0x7f]),
        Err(Error::BadAddress)
    );
    assert_eq!(
        Repr::parse_bytes(&[0x00, 0x00, 0x7f]),
        Err(Error::BadAddress)
    );
    assert_eq!(
        Repr::parse_bytes(&[0x00, 0x01, 0x0d, 0x00]),
        Err(Error::UndefinedControl)
    );
    assert_eq!(
        Repr::parse_bytes(&[0x00, 0x01, 0xe3]),
        Err(Error::UndefinedControl)
    );
    assert_eq!(
        Repr::parse_bytes(&[0x00, 0x01, 0x01, 0x00, 0x55]),
        Err(Error::BadLength)
    );
    assert_eq!(
        Repr::parse_bytes(&[0x00, 0x01, 0x7f, 0x55]),
        Err(Error::BadLength)
    );
    let mut long = vec![0x00, 0x01, 0x00, 0x00];
    long.extend(std::iter::repeat(0).take(N201 + 1));
    assert_eq!(Repr::parse_bytes(&long), Err(Error::TooLong));
}

/// Two entities joined by a channel that can lose frames, with a simulated clock.
struct Link {
    user: Lapd,
    net: Lapd,
    now: Instant,
    /// Every frame sent, in order: (sent by user?, bytes).
    log: Vec<(bool, Vec<u8>)>,
    user_events: Vec<Event>,
    net_events: Vec<Event>,
}

impl Link {
    fn new() -> Self {
        Link {
            user: Lapd::new(Config::new(Side::User)),
            net: Lapd::new(Config::new(Side::Network)),
            now: Instant::now(),
            log: Vec::new(),
            user_events: Vec::new(),
            net_events: Vec::new(),
        }
    }

    /// Move frames both ways until quiet; `drop` decides (by sender and frame) which are lost.
    fn pump_with(&mut self, mut drop: impl FnMut(bool, &[u8]) -> bool) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(f) = self.user.poll_transmit() {
                moved = true;
                self.log.push((true, f.clone()));
                if !drop(true, &f) {
                    self.net.handle_frame(self.now, &f);
                }
            }
            while let Some(f) = self.net.poll_transmit() {
                moved = true;
                self.log.push((false, f.clone()));
                if !drop(false, &f) {
                    self.user.handle_frame(self.now, &f);
                }
            }
            self.user_events.extend(events(&mut self.user));
            self.net_events.extend(events(&mut self.net));
            if !moved {
                return;
            }
        }
        panic!("frames never stopped flowing");
    }

    fn pump(&mut self) {
        self.pump_with(|_, _| false);
    }

    /// Advance the clock to the next timer of either side and run it.
    fn tick(&mut self) -> Duration {
        let next = [self.user.poll_timeout(), self.net.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .expect("a timer runs");
        let step = next.saturating_duration_since(self.now);
        self.now = next.max(self.now);
        self.user.handle_timeout(self.now);
        self.net.handle_timeout(self.now);
        step
    }

    fn up(&mut self) {
        self.user.start(self.now);
        self.net.start(self.now);
        self.pump();
        assert_eq!(self.user.state(), State::Established);
        assert_eq!(self.net.state(), State::Established);
        self.clear();
    }

    fn clear(&mut self) {
        self.log.clear();
        self.user_events.clear();
        self.net_events.clear();
    }

    fn data(ev: &[Event]) -> Vec<Vec<u8>> {
        ev.iter()
            .filter_map(|e| match e {
                Event::Data(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }
}

fn is_i(f: &[u8]) -> bool {
    matches!(Repr::parse_bytes(f).map(|r| r.kind), Ok(Kind::I { .. }))
}

#[test]
fn establishment_by_one_side() {
    let mut l = Link::new();
    l.user.start(l.now);
    let f = frames(&mut l.user);
    assert_eq!(f, vec![vec![0x00, 0x01, 0x7f]]); // SABME, command from user: C/R 0, P 1
    l.net.handle_frame(l.now, &f[0]);
    let ua = frames(&mut l.net);
    assert_eq!(ua, vec![vec![0x00, 0x01, 0x73]]); // UA, response from network: C/R 0, F 1
    assert_eq!(events(&mut l.net), vec![Event::LinkUp]);
    l.user.handle_frame(l.now, &ua[0]);
    assert_eq!(events(&mut l.user), vec![Event::LinkUp]);
    assert!(l.user.is_established() && l.net.is_established());
    assert!(l.user.poll_timeout().is_some(), "T203 runs");
}

#[test]
fn simultaneous_establishment() {
    let mut l = Link::new();
    l.up();
}

#[test]
fn sabme_retried_every_t200_then_released_and_retried() {
    let mut l = Link::new();
    l.user.start(l.now);
    let mut sabmes = frames(&mut l.user).len();
    for _ in 0..3 {
        assert_eq!(l.tick(), Duration::from_secs(1));
        sabmes += frames(&mut l.user).len();
    }
    assert_eq!(sabmes, 4, "first SABME + N200 retransmissions");
    l.tick();
    assert_eq!(l.user.state(), State::Released);
    assert!(events(&mut l.user).contains(&Event::Error(MdlError::G)));
    // Persistent: a new establishment cycle one T200 later.
    assert_eq!(l.tick(), Duration::from_secs(1));
    assert_eq!(kinds(&frames(&mut l.user)), vec![Kind::Sabme]);
    assert_eq!(l.user.state(), State::AwaitingEstablishment);
}

#[test]
fn i_frames_both_ways_and_acknowledged() {
    let mut l = Link::new();
    l.up();
    l.user.send(l.now, b"hello".to_vec()).unwrap();
    l.net.send(l.now, b"world".to_vec()).unwrap();
    l.pump();
    assert_eq!(Link::data(&l.net_events), vec![b"hello".to_vec()]);
    assert_eq!(Link::data(&l.user_events), vec![b"world".to_vec()]);
    assert_eq!(l.user.outstanding(), 0);
    assert_eq!(l.net.outstanding(), 0);
    // Frames on the wire carry the right C/R: I frames are commands.
    let (_, first) = &l.log[0];
    assert_eq!(first[0], 0x00);
    assert!(l.log.iter().any(|(u, f)| !u && f[0] == 0x02 && f.len() > 4));
}

#[test]
fn window_k_limits_outstanding_frames() {
    let mut l = Link::new();
    l.up();
    for i in 0..20u8 {
        l.user.send(l.now, vec![i]).unwrap();
    }
    let sent = frames(&mut l.user);
    assert_eq!(sent.len(), 7);
    assert_eq!(
        kinds(&sent)[6],
        Kind::I { ns: 6, nr: 0 },
        "N(S) counts 0..6"
    );
    for f in &sent {
        l.net.handle_frame(l.now, f);
    }
    l.pump();
    let got = Link::data(&l.net_events);
    assert_eq!(got, (0..20u8).map(|i| vec![i]).collect::<Vec<_>>());
}

#[test]
fn bulk_k_keeps_one_bulk_frame_ahead_of_priority_ones() {
    let mut l = Link::new();
    l.user = Lapd::new(Config {
        bulk_k: 1,
        ..Config::new(Side::User)
    });
    l.up();
    for i in 0..5u8 {
        l.user.send(l.now, vec![i]).unwrap();
    }
    let sent = frames(&mut l.user);
    assert_eq!(sent.len(), 1, "one bulk frame outstanding at a time");
    // A priority payload is not held up by the queued bulk ones: it leaves at once.
    l.user.send_priority(l.now, vec![0xcc]).unwrap();
    let next = frames(&mut l.user);
    assert_eq!(next.len(), 1);
    assert_eq!(Repr::parse_bytes(&next[0]).unwrap().info, [0xcc]);
    // Acknowledged one by one, every bulk payload still arrives, in order.
    for f in sent.iter().chain(&next) {
        l.net.handle_frame(l.now, f);
    }
    l.pump();
    assert_eq!(
        Link::data(&l.net_events),
        [vec![0], vec![0xcc], vec![1], vec![2], vec![3], vec![4]]
    );
}

#[test]
fn sequence_numbers_wrap_modulo_128() {
    let mut l = Link::new();
    l.up();
    for i in 0..300u16 {
        l.user.send(l.now, i.to_be_bytes().to_vec()).unwrap();
        l.pump();
    }
    assert_eq!(Link::data(&l.net_events).len(), 300);
    assert!(l.user.is_established());
}

#[test]
fn lost_i_frame_recovered_by_rej() {
    let mut l = Link::new();
    l.up();
    for i in 0..3u8 {
        l.user.send(l.now, vec![i]).unwrap();
    }
    let mut dropped = false;
    l.pump_with(|from_user, f| {
        let d = from_user && is_i(f) && !dropped;
        dropped |= d;
        d
    });
    assert!(l
        .log
        .iter()
        .any(|(u, f)| !u && matches!(Repr::parse_bytes(f).unwrap().kind, Kind::Rej { nr: 0 })));
    assert_eq!(Link::data(&l.net_events), vec![vec![0], vec![1], vec![2]]);
    assert!(l.user.stats().retransmissions >= 1);
    assert_eq!(l.user.outstanding(), 0);
}

#[test]
fn lost_last_i_frame_recovered_by_t200_enquiry() {
    let mut l = Link::new();
    l.up();
    l.user.send(l.now, b"only".to_vec()).unwrap();
    l.pump_with(|from_user, f| from_user && is_i(f));
    assert!(l.net_events.is_empty());
    assert_eq!(l.tick(), Duration::from_secs(1), "T200");
    assert_eq!(l.user.state(), State::TimerRecovery);
    l.pump();
    assert_eq!(Link::data(&l.net_events), vec![b"only".to_vec()]);
    assert_eq!(l.user.state(), State::Established);
    assert_eq!(l.user.outstanding(), 0);
}

#[test]
fn lost_acknowledgement_recovered() {
    let mut l = Link::new();
    l.up();
    l.user.send(l.now, b"a".to_vec()).unwrap();
    // The RR acknowledging the I frame is lost.
    l.pump_with(|from_user, _| !from_user);
    assert_eq!(l.user.outstanding(), 1);
    l.tick();
    l.pump();
    assert_eq!(l.user.outstanding(), 0);
    assert_eq!(
        Link::data(&l.net_events),
        vec![b"a".to_vec()],
        "delivered once"
    );
}

#[test]
fn n200_unanswered_enquiries_reestablish() {
    let mut l = Link::new();
    l.up();
    l.user.send(l.now, b"x".to_vec()).unwrap();
    // The network side is gone: nothing reaches it.
    l.pump_with(|from_user, _| from_user);
    for _ in 0..4 {
        l.tick();
        l.pump_with(|from_user, _| from_user);
    }
    assert_eq!(l.user.state(), State::AwaitingEstablishment);
    assert!(l.user_events.contains(&Event::Error(MdlError::I)));
    assert!(l.user_events.contains(&Event::LinkDown));
    // The peer comes back: the link is re-established.
    l.tick();
    l.pump();
    assert!(l.user.is_established());
    assert_eq!(l.user_events.last(), Some(&Event::LinkUp));
}

#[test]
fn t203_idle_poll_keeps_link() {
    let mut l = Link::new();
    l.up();
    assert_eq!(l.tick(), Duration::from_secs(10), "T203");
    l.pump();
    let ks: Vec<_> = l
        .log
        .iter()
        .map(|(_, f)| Repr::parse_bytes(f).unwrap())
        .map(|r| (r.kind, r.pf))
        .collect();
    assert!(ks.contains(&(Kind::Rr { nr: 0 }, true)));
    assert!(l.user.is_established() && l.net.is_established());
    assert!(l.user_events.is_empty() && l.net_events.is_empty());
}

#[test]
fn peer_busy_holds_i_frames() {
    let mut l = Link::new();
    l.up();
    // Network says RNR.
    l.user.handle_frame(
        l.now,
        &repr(false, Kind::Rnr { nr: 0 }, false, b"").to_vec(),
    );
    assert!(l.user.peer_busy());
    l.user.send(l.now, b"wait".to_vec()).unwrap();
    assert!(frames(&mut l.user).is_empty());
    // T200 polls the busy peer.
    l.tick();
    let f = frames(&mut l.user);
    assert_eq!(kinds(&f), vec![Kind::Rr { nr: 0 }]);
    // RR F=1 clears busy: the I frame goes.
    l.user
        .handle_frame(l.now, &repr(false, Kind::Rr { nr: 0 }, true, b"").to_vec());
    assert!(!l.user.peer_busy());
    assert_eq!(kinds(&frames(&mut l.user)), vec![Kind::I { ns: 0, nr: 0 }]);
}

#[test]
fn frmr_and_dm_reestablish() {
    for bad in [
        repr(false, Kind::Frmr, false, &[0, 0, 0, 0, 1]).to_vec(),
        repr(false, Kind::Dm, false, b"").to_vec(),
    ] {
        let mut l = Link::new();
        l.up();
        l.user.handle_frame(l.now, &bad);
        assert_eq!(kinds(&frames(&mut l.user)), vec![Kind::Sabme]);
        let ev = events(&mut l.user);
        assert!(ev.contains(&Event::LinkDown), "{ev:?}");
        l.net
            .handle_frame(l.now, &repr(false, Kind::Sabme, true, b"").to_vec());
        l.pump();
        assert!(l.user.is_established());
        assert_eq!(l.user_events.last(), Some(&Event::LinkUp));
    }
}

#[test]
fn nr_sequence_error_reestablishes() {
    let mut l = Link::new();
    l.up();
    l.user
        .handle_frame(l.now, &repr(false, Kind::Rr { nr: 9 }, false, b"").to_vec());
    assert!(events(&mut l.user).contains(&Event::Error(MdlError::J)));
    assert_eq!(l.user.state(), State::AwaitingEstablishment);
}

#[test]
fn undefined_control_field_reestablishes() {
    let mut l = Link::new();
    l.up();
    l.user.handle_frame(l.now, &[0x02, 0x01, 0x0d, 0x00]);
    assert!(events(&mut l.user).contains(&Event::Error(MdlError::L)));
    assert_eq!(l.user.state(), State::AwaitingEstablishment);
    // Frames for other SAPI/TEI are ignored.
    let mut l = Link::new();
    l.up();
    l.user.handle_frame(l.now, &[0xfc, 0xff, 0x03, 0x0f]);
    l.user.handle_frame(l.now, &[0x02, 0x03, 0x0d, 0x00]);
    assert!(events(&mut l.user).is_empty());
    assert!(l.user.is_established());
}

#[test]
fn peer_reestablishment_with_outstanding_frames_resets() {
    let mut l = Link::new();
    l.up();
    l.user.send(l.now, b"lost".to_vec()).unwrap();
    frames(&mut l.user);
    l.user
        .handle_frame(l.now, &repr(true, Kind::Sabme, true, b"").to_vec());
    let ev = events(&mut l.user);
    assert_eq!(
        ev,
        vec![Event::Error(MdlError::F), Event::LinkDown, Event::LinkUp]
    );
    assert_eq!(l.user.outstanding(), 0);
    assert_eq!(kinds(&frames(&mut l.user)), vec![Kind::Ua]);
}

#[test]
fn release_by_us_and_by_peer() {
    let mut l = Link::new();
    l.up();
    l.user.stop(l.now);
    assert_eq!(l.user.send(l.now, vec![1]), Err(SendError::NotEstablished));
    l.pump();
    assert_eq!(l.user.state(), State::Released);
    assert_eq!(l.net.state(), State::Released);
    assert_eq!(l.user_events, vec![Event::LinkDown]);
    assert_eq!(l.net_events, vec![Event::LinkDown]);
    // No more SABME from the stopped user side; the network side re-establishes (persistent).
    l.tick();
    l.pump();
    assert!(l.user.is_established() && l.net.is_established());
}

#[test]
fn disc_unanswered_gives_up_after_n200() {
    let mut l = Link::new();
    l.up();
    l.user.stop(l.now);
    let mut discs = frames(&mut l.user).len();
    for _ in 0..4 {
        l.tick();
        discs += frames(&mut l.user).len();
    }
    assert_eq!(discs, 4);
    assert_eq!(l.user.state(), State::Released);
    assert!(events(&mut l.user).contains(&Event::Error(MdlError::H)));
}

#[test]
fn released_entity_answers_polls_with_dm() {
    let mut l = Lapd::new(Config::new(Side::User));
    let now = Instant::now();
    l.handle_frame(now, &repr(true, Kind::Rr { nr: 0 }, true, b"").to_vec());
    assert_eq!(frames(&mut l), vec![vec![0x02, 0x01, 0x1f]]);
    l.handle_frame(now, &repr(true, Kind::Disc, true, b"").to_vec());
    assert_eq!(kinds(&frames(&mut l)), vec![Kind::Dm]);
    assert_eq!(l.send(now, vec![0]), Err(SendError::NotEstablished));
    assert_eq!(l.send(now, vec![0; 261]), Err(SendError::TooLong));
}

#[test]
fn link_lost_then_restarted() {
    let mut l = Link::new();
    l.up();
    l.user.send(l.now, b"q".to_vec()).unwrap();
    l.user.link_lost();
    assert_eq!(events(&mut l.user), vec![Event::LinkDown]);
    assert!(frames(&mut l.user).is_empty());
    assert_eq!(l.user.poll_timeout(), None);
    l.net.link_lost();
    l.up();
    assert_eq!(l.user.outstanding(), 0);
}

#[test]
fn ui_frames_delivered_as_unit_data() {
    let mut l = Link::new();
    l.user.send_unit_data(b"ui").unwrap();
    l.pump();
    assert_eq!(l.net_events, vec![Event::UnitData(b"ui".to_vec())]);
}

#[test]
fn out_of_sequence_i_frames_rejected_once() {
    let mut l = Link::new();
    l.up();
    l.user.handle_frame(
        l.now,
        &repr(true, Kind::I { ns: 1, nr: 0 }, false, b"a").to_vec(),
    );
    l.user.handle_frame(
        l.now,
        &repr(true, Kind::I { ns: 2, nr: 0 }, false, b"b").to_vec(),
    );
    assert_eq!(kinds(&frames(&mut l.user)), vec![Kind::Rej { nr: 0 }]);
    assert!(events(&mut l.user).is_empty());
    l.user.handle_frame(
        l.now,
        &repr(true, Kind::I { ns: 0, nr: 0 }, true, b"c").to_vec(),
    );
    assert_eq!(events(&mut l.user), vec![Event::Data(b"c".to_vec())]);
    let f = frames(&mut l.user);
    let r = Repr::parse_bytes(&f[0]).unwrap();
    assert_eq!((r.kind, r.pf, r.cr), (Kind::Rr { nr: 1 }, true, true));
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(r) = Repr::parse_bytes(&bytes) {
            prop_assert_eq!(r.to_vec(), bytes);
        }
    }

    #[test]
    fn state_machine_never_panics(
        side in prop_oneof![Just(Side::User), Just(Side::Network)],
        script in proptest::collection::vec(
            (0u8..4, proptest::collection::vec(any::<u8>(), 0..12), 0u64..3000), 0..60),
    ) {
        let mut l = Lapd::new(Config::new(side));
        let mut now = Instant::now();
        l.start(now);
        for (op, bytes, ms) in script {
            match op {
                0 => {
                    let mut f = vec![bytes.first().copied().unwrap_or(0) & 0x02, 0x01];
                    f.extend_from_slice(bytes.get(1..).unwrap_or(&[]));
                    l.handle_frame(now, &f);
                }
                1 => l.handle_frame(now, &bytes),
                2 => { let _ = l.send(now, bytes); }
                _ => {
                    now += Duration::from_millis(ms);
                    l.handle_timeout(now);
                }
            }
            while l.poll_transmit().is_some() {}
            while l.poll_event().is_some() {}
            prop_assert!(l.outstanding() < 1000);
        }
    }
}

proptest! {
    /// Frames lost at random at the start, then a clean line: every payload arrives exactly
    /// once and in order, unless the link was reset (then a gap is allowed, never a duplicate
    /// or a reordering), and the link ends up established.
    #[test]
    fn lossy_line_delivers_in_order_without_duplicates(
        losses in proptest::collection::vec(any::<bool>(), 0..40),
        count in 1u8..30,
    ) {
        let mut l = Link::new();
        l.up();
        for i in 0..count {
            l.user.send(l.now, vec![i]).unwrap();
        }
        let mut n = 0usize;
        let mut lossy = |_: bool, _: &[u8]| {
            n += 1;
            losses.get(n - 1).copied().unwrap_or(false)
        };
        l.pump_with(&mut lossy);
        for _ in 0..200 {
            if l.user.outstanding() == 0 && l.user.is_established() && l.net.is_established() {
                break;
            }
            l.tick();
            l.pump_with(&mut lossy);
        }
        prop_assert!(l.user.is_established() && l.net.is_established());
        let got: Vec<u8> = Link::data(&l.net_events).into_iter().map(|d| d[0]).collect();
        prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "order {:?}", got);
        if !l.user_events.contains(&Event::LinkDown) {
            prop_assert_eq!(got, (0..count).collect::<Vec<_>>());
        }
    }
}

#[test]
fn lost_sabme_and_lost_ua_are_retried() {
    // First SABME lost.
    let mut l = Link::new();
    l.user.start(l.now);
    l.pump_with(|from_user, _| from_user);
    assert_eq!(l.user.state(), State::AwaitingEstablishment);
    l.tick();
    l.pump();
    assert!(l.user.is_established() && l.net.is_established());
    assert_eq!(l.user_events, vec![Event::LinkUp]);

    // UA lost: the network side is up, the user side retries SABME and gets UA again.
    let mut l = Link::new();
    l.user.start(l.now);
    l.pump_with(|from_user, _| !from_user);
    assert!(l.net.is_established());
    assert_eq!(l.user.state(), State::AwaitingEstablishment);
    l.tick();
    l.pump();
    assert!(l.user.is_established() && l.net.is_established());
    // The peer reports the repeated SABME (MDL-ERROR F) but no reset: nothing was outstanding.
    assert_eq!(l.net_events, vec![Event::LinkUp, Event::Error(MdlError::F)]);
}

/// The frames and events of the lossy-line scenario, with `spurious` extra
/// [`Core::handle_timeout`] calls: at the start, at an instant before the next deadline (a
/// fraction of the way there) before each tick, and a second time at the instant of the tick.
type Trace = (Vec<(bool, Vec<u8>)>, Vec<Event>, Vec<Event>);

fn lossy_trace(losses: &[bool], count: u8, fractions: &[u32], spurious: bool) -> Trace {
    let mut l = Link::new();
    let mut log = Vec::new();
    if spurious {
        l.user.handle_timeout(l.now);
        l.net.handle_timeout(l.now);
    }
    l.up();
    for i in 0..count {
        l.user.send(l.now, vec![i]).unwrap();
    }
    let mut n = 0usize;
    let mut lossy = |_: bool, _: &[u8]| {
        n += 1;
        losses.get(n - 1).copied().unwrap_or(false)
    };
    l.pump_with(&mut lossy);
    for step in 0..200 {
        if l.user.outstanding() == 0 && l.user.is_established() && l.net.is_established() {
            break;
        }
        if spurious {
            let next = [l.user.poll_timeout(), l.net.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .expect("a timer runs");
            let f = fractions.get(step).copied().unwrap_or(0);
            let at = l.now + next.saturating_duration_since(l.now) * f / 1000;
            for side in [&mut l.user, &mut l.net] {
                side.handle_timeout(at);
                assert_eq!(side.poll_transmit(), None, "frame from an early timeout");
                assert_eq!(side.poll_event(), None, "event from an early timeout");
            }
        }
        l.tick();
        if spurious {
            l.user.handle_timeout(l.now);
            l.net.handle_timeout(l.now);
        }
        l.pump_with(&mut lossy);
        log.append(&mut l.log);
    }
    log.append(&mut l.log);
    (log, l.user_events, l.net_events)
}

proptest! {
    /// A spurious timeout (before anything is due, or twice at the same instant) changes
    /// nothing: the same frames and events as with timeouts exactly at the deadlines.
    #[test]
    fn spurious_timeouts_change_nothing(
        losses in proptest::collection::vec(any::<bool>(), 0..40),
        count in 1u8..20,
        fractions in proptest::collection::vec(0u32..1000, 0..200),
    ) {
        let reference = lossy_trace(&losses, count, &fractions, false);
        prop_assert_eq!(lossy_trace(&losses, count, &fractions, true), reference);
    }
}
