//! The span engine against libpri 1.6 (Debian libpri-dev) as the PBX, over a SOCK_SEQPACKET
//! socketpair (one packet = one Q.921 frame without FCS, like the sim D-channel), in real time.
//! libpri runs in tests/peers/libpri-pbx.c (the shared peer, `dahdi_mwi_tests::libpri`); it prints
//! what libpri decoded. Every frame our side sends is checked by tshark (`dahdi_mwi_tests::tshark`).
//!
//! Needs gcc, libpri-dev, text2pcap and tshark (scripts/install-deps); fails if one is missing.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use dahdi_mwi_tests::libpri::{Decoded, LibpriPbx, LibpriSide};
use dahdi_mwi_tests::tshark;
use isdn::q921::Side;
use isdn::span::{Lamp, Span, SpanConfig, SpanEvent, Transport};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use sansio::Core;

/// Our side (span engine) joined to a libpri run, driven in real time.
struct Harness {
    span: Span,
    libpri_side: LibpriSide,
    fd: Option<OwnedFd>,
    pbx: Option<LibpriPbx>,
    run: usize,
    /// Every frame our side sent, for tshark.
    sent: Vec<Vec<u8>>,
    events: Vec<SpanEvent>,
    log: Vec<String>,
    /// Each MWI invoke libpri decoded, with the libpri run (0 = first) that saw it.
    decoded: Vec<(usize, Decoded)>,
    dchan_up: usize,
}

impl Harness {
    fn new(our_side: Side, transport: Transport) -> Self {
        let mut cfg = SpanConfig::new(our_side);
        cfg.transport = transport;
        cfg.calling_number = Some("2000".into());
        Harness {
            span: Span::new(cfg),
            libpri_side: match our_side {
                Side::User => LibpriSide::Network,
                Side::Network => LibpriSide::Cpe,
            },
            fd: None,
            pbx: None,
            run: 0,
            sent: Vec::new(),
            events: Vec::new(),
            log: Vec::new(),
            decoded: Vec::new(),
            dchan_up: 0,
        }
    }

    fn connect(&mut self) {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        self.pbx = Some(LibpriPbx::spawn_fd(theirs, self.libpri_side, &[]));
        self.fd = Some(ours);
        self.span.start(Instant::now());
        self.flush();
    }

    /// Close the socket: libpri sees end of file and exits; our link is lost.
    fn drop_link(&mut self) {
        self.fd = None;
        self.pbx = None;
        self.run += 1;
        self.span.link_lost(Instant::now());
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(f) = self.span.poll_transmit() {
            if let Some(fd) = &self.fd {
                match send(fd.as_raw_fd(), &f, MsgFlags::MSG_NOSIGNAL) {
                    Ok(_) => self.sent.push(f),
                    Err(e) => self.log.push(format!("send failed: {e}")),
                }
            }
        }
        self.events
            .extend(std::iter::from_fn(|| self.span.poll_event()));
    }

    fn read_lines(&mut self) {
        let Some(pbx) = &mut self.pbx else { return };
        pbx.pump();
        self.decoded
            .extend(pbx.decoded.drain(..).map(|d| (self.run, d)));
        for line in pbx.log.drain(..) {
            if line == "DCHAN_UP" {
                self.dchan_up += 1;
            }
            self.log.push(line);
        }
    }

    /// One turn of the event loop: wait for a frame or the next timer (at most 20 ms).
    fn step(&mut self) {
        let now = Instant::now();
        let wait = self
            .span
            .poll_timeout()
            .map_or(Duration::from_millis(20), |t| {
                t.saturating_duration_since(now)
                    .min(Duration::from_millis(20))
            });
        if let Some(fd) = &self.fd {
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            let ms = u16::try_from(wait.as_millis()).unwrap_or(20);
            let _ = poll(&mut fds, PollTimeout::from(ms));
            let raw = fd.as_raw_fd();
            let mut buf = [0u8; 512];
            let mut closed = false;
            loop {
                match recv(raw, &mut buf, MsgFlags::MSG_DONTWAIT) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => self.span.handle_frame(Instant::now(), &buf[..n]),
                    Err(Errno::EAGAIN) => break,
                    Err(e) => panic!("recv: {e}"),
                }
                self.flush();
            }
            if closed {
                self.fd = None;
                self.span.link_lost(Instant::now());
            }
        } else {
            std::thread::sleep(wait);
        }
        self.span.handle_timeout(Instant::now());
        self.flush();
        self.read_lines();
    }

    fn run_until(&mut self, what: &str, limit: Duration, cond: impl Fn(&Harness) -> bool) {
        let end = Instant::now() + limit;
        while !cond(self) {
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; events {:?}; libpri said:\n{}",
                self.events,
                self.log[self.log.len().saturating_sub(60)..].join("\n")
            );
            self.step();
        }
    }

    fn wait_link(&mut self) {
        let want = self.dchan_up + 1;
        self.run_until("DCHAN_UP and our link up", Duration::from_secs(10), |h| {
            h.dchan_up >= want && h.span.status().link_up
        });
    }

    fn set(&mut self, number: &str, lamp: Lamp) {
        self.span.set_lamp(Instant::now(), number, lamp);
        self.flush();
    }

    fn settled(&self) -> bool {
        let st = self.span.status();
        st.link_up && st.queue_depth == 0
    }
}

/// Asserts that tshark decodes every one of `frames` (link type 203, LAPD) with no malformed
/// packet and no expert warning or error; returns the number it decoded as QSIG.
fn tshark_check(name: &str, frames: &[Vec<u8>]) -> usize {
    assert!(!frames.is_empty());
    let v = tshark::decode(frames);
    assert_eq!(
        v.lapd,
        frames.len(),
        "every frame of {name} decodes as LAPD"
    );
    assert!(
        v.flagged.is_empty(),
        "tshark flags {name}: {:#?}",
        v.flagged
    );
    v.qsig
}

fn exchange(our_side: Side, transport: Transport) {
    let mut h = Harness::new(our_side, transport);
    h.connect();
    h.wait_link();
    h.set("1234", Lamp::on(Some(3)));
    h.run_until("MWIActivate decoded", Duration::from_secs(10), |h| {
        h.decoded.iter().any(|(_, d)| d.op() == "activate") && h.settled()
    });
    h.set("1234", Lamp::off());
    h.run_until("MWIDeactivate decoded", Duration::from_secs(10), |h| {
        h.decoded.iter().any(|(_, d)| d.op() == "deactivate") && h.settled()
    });
    let (_, act) = h
        .decoded
        .iter()
        .find(|(_, d)| d.op() == "activate")
        .unwrap();
    assert_eq!(act.served(), "1234", "{act:?}");
    assert_eq!(act.get("servedUserNr.unknownPartyNumber"), Some("1234"));
    assert_eq!(act.get("basicService"), Some("1"));
    assert_eq!(act.get("nbOfMessages"), Some("3"));
    let (_, deact) = h
        .decoded
        .iter()
        .find(|(_, d)| d.op() == "deactivate")
        .unwrap();
    assert_eq!(deact.served(), "1234", "{deact:?}");
    assert_eq!(deact.get("basicService"), Some("1"));
    assert!(deact.get("nbOfMessages").is_none());
    assert_eq!(h.decoded.len(), 2, "one invoke each: {:?}", h.decoded);
    let lamp = h.span.lamp("1234").unwrap();
    assert_eq!(lamp.confirmed, Some(Lamp::off()));
    let name = format!("{our_side:?}-{transport:?}");
    let qsig_frames = tshark_check(&name, &h.sent);
    assert_eq!(qsig_frames, 2, "tshark decodes both invokes as QSIG");
}

#[test]
fn libpri_network_side_setup_transport() {
    exchange(Side::User, Transport::Setup);
}

#[test]
fn libpri_network_side_facility_transport() {
    exchange(Side::User, Transport::Facility);
}

#[test]
fn libpri_user_side_setup_transport() {
    exchange(Side::Network, Transport::Setup);
}

#[test]
fn libpri_user_side_facility_transport() {
    exchange(Side::Network, Transport::Facility);
}

fn final_state(round: u16, n: u16) -> Lamp {
    if (n + round) % 3 == 0 {
        Lamp::off()
    } else {
        Lamp::on(Some(round * 10 + n % 7))
    }
}

#[test]
fn link_dropped_while_50_numbers_change_then_final_state_delivered_setup() {
    link_drop(Transport::Setup);
}

#[test]
fn link_dropped_while_50_numbers_change_then_final_state_delivered_facility() {
    link_drop(Transport::Facility);
}

fn link_drop(transport: Transport) {
    let mut h = Harness::new(Side::User, transport);
    h.connect();
    h.wait_link();
    let numbers: Vec<String> = (0..50).map(|n| format!("{}", 4000 + n)).collect();
    for n in &numbers {
        h.set(n, Lamp::on(Some(1)));
    }
    h.run_until(
        "first round delivered",
        Duration::from_secs(30),
        Harness::settled,
    );

    h.drop_link();
    for round in 0..4u16 {
        for (i, n) in numbers.iter().enumerate() {
            h.set(n, final_state(round, i as u16));
        }
        h.step();
    }
    assert!(!h.span.status().link_up);
    assert_eq!(h.span.status().queue_depth, 50);

    let sent_before = h.sent.len();
    let octets_before: usize = h.sent.iter().map(Vec::len).sum();
    h.connect();
    h.wait_link();
    let t0 = Instant::now();
    h.run_until(
        "resync delivered",
        Duration::from_secs(60),
        Harness::settled,
    );
    let elapsed = t0.elapsed();
    // libpri prints its decode on a pipe that may lag behind its answers on the socket; then
    // give it a moment more to show that nothing else arrives.
    h.run_until(
        "libpri's decode of the resync",
        Duration::from_secs(10),
        |h| h.decoded.iter().filter(|(run, _)| *run == 1).count() >= 50,
    );
    let grace = Instant::now() + Duration::from_millis(300);
    while Instant::now() < grace {
        h.step();
    }

    // What the restarted PBX saw: exactly one invoke per number, with the final state.
    let mut seen: BTreeMap<String, Vec<&Decoded>> = BTreeMap::new();
    for (_, d) in h.decoded.iter().filter(|(run, _)| *run == 1) {
        seen.entry(d.served().to_owned()).or_default().push(d);
    }
    assert_eq!(seen.len(), 50, "{:?}", seen.keys().collect::<Vec<_>>());
    for (i, n) in numbers.iter().enumerate() {
        let want = final_state(3, i as u16);
        let got = &seen[n];
        assert_eq!(got.len(), 1, "{n}: {got:?}");
        let d = got[0];
        assert_eq!(
            d.op(),
            if want.on { "activate" } else { "deactivate" },
            "{n}"
        );
        let count = d.nb_of_messages();
        assert_eq!(count, want.messages, "{n}");
        assert_eq!(h.span.lamp(n).unwrap().confirmed, Some(want));
    }
    let frames = h.sent.len() - sent_before;
    let octets: usize = h.sent[sent_before..].iter().map(Vec::len).sum();
    let invokes: Vec<usize> = h.sent[sent_before..]
        .iter()
        .filter(|f| f.len() > 20)
        .map(Vec::len)
        .collect();
    eprintln!(
        "figure: {transport:?} resync of 50 numbers after link drop: {} frames / {} octets sent in {:?} \
         ({:.0} MWI/s, {:.0} frames/s); frames with an invoke {}..={} octets; octets before drop {}",
        frames,
        octets,
        elapsed,
        50.0 / elapsed.as_secs_f64(),
        frames as f64 / elapsed.as_secs_f64(),
        invokes.iter().min().unwrap(),
        invokes.iter().max().unwrap(),
        octets_before,
    );
    tshark_check(&format!("link-drop-{transport:?}"), &h.sent);
}
