//! The real chand as a PRI trunk (issue 13) on the sim back-end: libpri 1.6 as the PBX on the
//! D-channel (tests/peers/libpri-pbx.c, chand on the user side of a T1), a fake sipd on the
//! callctl socket, the PBX's end of each B-channel on `bchan-N.sock`, and the far end's RTP
//! socket in the test.
//!
//! - PBX → SIP: libpri's SETUP becomes `TrunkDial` with the called number manipulated; the
//!   far end answers; a tone sent into the B-channel arrives as RTP and a tone sent as RTP
//!   arrives on the B-channel; sipd hangs up and libpri sees DISCONNECT with its cause.
//! - PBX → SIP with no sipd: libpri's SETUP is cleared with cause 38.
//! - SIP → PBX: `TrunkIncoming` becomes libpri's SETUP (number manipulated), ALERTING gives
//!   `Alerting`, CONNECT `Answered`; audio both ways; libpri hangs up: `Hangup` cause 16. Also
//!   on an E1 with chand on the network side, the B-channel in A-law.
//! - `TrunkIncoming` for a span without `[pri.calls]`, or for no span: `Hangup` cause 3.
//! - 23 answered calls fill the T1: the 24th gets `Hangup` cause 34; status shows the 23.
//! - sipd going away: its calls get DISCONNECT, cause 41.
//! - A SETUP goes ahead of a 100-lamp resync on the same D-channel.
//! - A lamp is delivered on the D-channel during a call; then a D-channel flap (libpri killed)
//!   clears the call (`Hangup`, cause 27) and the lamps arrive at the new PBX.
//!
//! tshark decodes every frame chand sent in a call as LAPD without a malformed flag.
//!
//! Needs gcc, libpri-dev, text2pcap and tshark (scripts/install-deps); fails if one is missing.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use callctl::link::Event;
use callctl::wire::Message;
use callctl::{CallId, Cause, Privacy};
use chand::backend::sim::dchan_socket_path;
use chand::backend::sim::peer::Phone;
use chand::status::SpanStatus;
use dahdi_mwi_tests::env::{Chand, Env, NO_SIP_SERVER};
use dahdi_mwi_tests::fakesipd::{media, rtp_tone, talk, FakeSipd, Voice};
use dahdi_mwi_tests::libpri::{LibpriPbx, LibpriSide};
use dahdi_mwi_tests::tone::{record, Recording};
use dahdi_mwi_tests::tshark;
use fxs::Law;
use mwi_core::MwiState;
use mwi_table::Writer;

const WAIT: Duration = Duration::from_secs(10);
/// The law of the RTP side: PCMU ([`media`], [`rtp_tone`]).
const RTP_LAW: Law = Law::Mulaw;

/// chand with one span with calls (span 1, numbers 21xx: a T1 on the user side, D-channel
/// 24, or an E1 on the network side, D-channel 16), a span 2 without calls, its table writer,
/// and a fake sipd unless `sipd` is false.
struct Rig {
    env: Env,
    writer: Writer,
    chand: Chand,
    sipd: Option<FakeSipd>,
    /// The B-channels' law: mu-law on the T1, A-law on the E1.
    law: Law,
    dchannel: u32,
    libpri_side: LibpriSide,
}

impl Rig {
    fn new(rtp_ports: &str, sipd: bool) -> Rig {
        Rig::with(rtp_ports, sipd, false)
    }

    fn with(rtp_ports: &str, sipd: bool, e1: bool) -> Rig {
        Rig::configured(rtp_ports, sipd, e1, "")
    }

    /// With `calls` as more keys of span 1's `[pri.calls]`.
    fn configured(rtp_ports: &str, sipd: bool, e1: bool, calls: &str) -> Rig {
        let env = Env::new();
        let (span_type, dchannel, side) = if e1 {
            ("e1", 16, "network")
        } else {
            ("t1", 24, "user")
        };
        let cfg = env.write_config(&format!(
            "{NO_SIP_SERVER}[media]\nrtp_ports = \"{rtp_ports}\"\n\
             [[pri]]\nspan = 1\nspan_type = \"{span_type}\"\ndchannel = {dchannel}\n\
             side = \"{side}\"\nnumbers = [\"21..\"]\n\
             [pri.calls]\necho_cancel = 128\nto_sip_strip = 1\nto_sip_prefix = \"9\"\n\
             to_pbx_strip = 2\nto_pbx_prefix = \"4\"\n{calls}\
             [[pri]]\nspan = 2\nspan_type = \"{span_type}\"\ndchannel = {}\n\
             numbers = [\"22..\"]\n",
            if e1 { 47 } else { 48 }
        ));
        let writer = cfg.writer();
        let chand = Chand::start(&env, &cfg);
        let sipd = sipd.then(|| {
            let mut s = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
            s.wait_up();
            s
        });
        Rig {
            env,
            writer,
            chand,
            sipd,
            law: if e1 { Law::Alaw } else { Law::Mulaw },
            dchannel,
            libpri_side: if e1 {
                LibpriSide::Cpe
            } else {
                LibpriSide::Network
            },
        }
    }

    fn sipd(&mut self) -> &mut FakeSipd {
        self.sipd.as_mut().expect("a fake sipd")
    }

    /// libpri on the other side with `args`, once its link is up.
    fn libpri(&mut self, args: &[&str]) -> LibpriPbx {
        let path = dchan_socket_path(&self.env.sim_dir, self.dchannel);
        let mut pbx = LibpriPbx::spawn_args(&path, self.libpri_side, args);
        assert!(
            pbx.wait(WAIT, |p| p.dchan_up),
            "libpri never saw DCHAN_UP:\n{}\nchand:\n{}",
            pbx.tail(30),
            self.chand.daemon.log()
        );
        pbx
    }

    fn span(&self) -> SpanStatus {
        self.chand.status().span(1).cloned().expect("span 1")
    }

    /// The PBX's end of B-channel `b` (DAHDI channel `b` on span 1).
    fn bchannel(&self, b: u32) -> Phone {
        Phone::connect_bchannel(&self.env.sim_dir, b, WAIT).expect("bchan socket")
    }
}

/// Wait for libpri's call line starting with `prefix`; its text.
#[track_caller]
fn wait_call_line(pbx: &mut LibpriPbx, prefix: &str, chand: &Chand) -> String {
    let ok = pbx.wait(WAIT, |p| p.calls.iter().any(|l| l.starts_with(prefix)));
    assert!(
        ok,
        "libpri: no {prefix}:\n{}\nchand:\n{}",
        pbx.tail(40),
        chand.daemon.log()
    );
    pbx.calls
        .iter()
        .find(|l| l.starts_with(prefix))
        .cloned()
        .unwrap_or_default()
}

/// `key=value` of a libpri call line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or("")
}

/// Audio both ways for 1.2 s: a 1 kHz tone into the B-channel must arrive in the RTP chand
/// sends to `far`, and a 600 Hz tone sent as RTP from `far` to `local` must arrive on the
/// B-channel. Returns the two levels (dBm0) after checking them.
fn audio_both_ways(bchan: &Phone, law: Law, far: &UdpSocket, local: SocketAddr) -> (f64, f64) {
    let stop = AtomicBool::new(false);
    let voice = Mutex::new(Voice::Tone(1000.0));
    far.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let (to_sip, to_pbx) = std::thread::scope(|s| {
        s.spawn(|| talk(bchan, law, &voice, &stop));
        let rtp = s.spawn(|| {
            let mut rec = Recording::new(RTP_LAW);
            let mut buf = [0u8; 2048];
            let mut seq = 0u16;
            let mut next = Instant::now();
            let end = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < end {
                if Instant::now() >= next {
                    far.send_to(&rtp_tone(0x600, seq, 600.0), local).unwrap();
                    seq = seq.wrapping_add(1);
                    next += Duration::from_millis(20);
                }
                if let Ok((n, _)) = far.recv_from(&mut buf) {
                    if n == 12 + 160 && buf[1] & 0x7f == 0 {
                        rec.push_block(&buf[12..n]);
                    }
                }
            }
            rec
        });
        let heard = record(bchan, law, 1200);
        stop.store(true, Ordering::Relaxed);
        (rtp.join().unwrap(), heard.expect("B-channel audio"))
    });
    let sip_level = to_sip.level(1000.0, 400, to_sip.ms().min(1200));
    let pbx_level = to_pbx.level(600.0, 400, 1200);
    eprintln!(
        "figure: 1 kHz from the PBX at {sip_level:.1} dBm0 in {} ms of RTP; 600 Hz from SIP at \
         {pbx_level:.1} dBm0 on the B-channel",
        to_sip.ms()
    );
    assert!(
        to_sip.ms() >= 800,
        "only {} ms of RTP from chand",
        to_sip.ms()
    );
    assert!(sip_level > -20.0, "1 kHz in the RTP at {sip_level:.1} dBm0");
    assert!(
        pbx_level > -20.0,
        "600 Hz on the B-channel at {pbx_level:.1} dBm0"
    );
    (sip_level, pbx_level)
}

/// sipd's `TrunkIncoming` for `call` on `span` to `called`, from 5551234 named `name`.
fn trunk_incoming(call: CallId, span: u16, called: &str, name: &str, privacy: Privacy) -> Message {
    Message::TrunkIncoming {
        call,
        span,
        called: called.try_into().unwrap(),
        number: "5551234".try_into().unwrap(),
        name: name.try_into().unwrap(),
        privacy,
    }
}

fn far_end() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

fn local(addr: SocketAddr) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], addr.port()))
}

#[test]
fn pbx_calls_sip_with_audio_both_ways_and_sip_hangs_up() {
    let mut rig = Rig::new("42000-42099", true);
    let mut pbx = rig.libpri(&["--call", "0789", "--calling", "2000", "--name", "Alice"]);
    let (call, called, number, name) = rig.sipd().expect("TrunkDial", |m| match m {
        Message::TrunkDial {
            call,
            called,
            number,
            name,
            ..
        } => Some((
            *call,
            called.as_str().to_owned(),
            number.as_str().to_owned(),
            name.as_str().to_owned(),
        )),
        _ => None,
    });
    assert_eq!(called, "9789", "to_sip_strip 1, to_sip_prefix 9");
    assert_eq!((number.as_str(), name.as_str()), ("2000", "Alice"));
    let rtp = rig.sipd().expect("MediaReady", |m| match m {
        Message::MediaReady { local_rtp, .. } => Some(*local_rtp),
        _ => None,
    });
    let proceeding = wait_call_line(&mut pbx, "PROCEEDING", &rig.chand);
    let b: u32 = field(&proceeding, "channel").parse().unwrap();
    let bchan = rig.bchannel(b);
    rig.sipd().send(Message::Ringback { call });
    wait_call_line(&mut pbx, "RINGING", &rig.chand);
    let far = far_end();
    rig.sipd().send(Message::Identity {
        call,
        number: "7001".try_into().unwrap(),
        name: "VoiceMail".try_into().unwrap(),
    });
    rig.sipd().send(Message::Connected {
        call,
        media: media(far.local_addr().unwrap()),
    });
    let answer = wait_call_line(&mut pbx, "ANSWER", &rig.chand);
    assert_eq!(
        field(&answer, "connected_name"),
        "VoiceMail",
        "sipd's Identity as the CONNECT's QSIG connectedName"
    );
    assert_eq!(
        bchan.recv_event(WAIT).unwrap(),
        "ec 128",
        "[pri.calls] echo_cancel attached with the media"
    );
    let st = rig.span();
    let slot = st.bchannels.iter().find(|x| u32::from(x.b) == b).unwrap();
    assert_eq!(slot.state, "connected", "{st:#?}");
    let c = slot.call.as_ref().unwrap();
    assert_eq!(
        (c.call_id.clone(), c.called.as_str(), c.calling.as_str()),
        (Some(call.to_string()), "9789", "2000")
    );
    audio_both_ways(&bchan, rig.law, &far, local(rtp));
    let st = rig.span();
    let media = st.bchannels[b as usize - 1]
        .call
        .as_ref()
        .unwrap()
        .media
        .clone();
    assert!(media.is_some_and(|m| m.packets_in > 20 && m.packets_out > 20));

    rig.sipd().send(Message::Hangup {
        call,
        cause: Cause::USER_BUSY,
    });
    let hangup = wait_call_line(&mut pbx, "HANGUP_REQ", &rig.chand);
    assert_eq!(
        field(&hangup, "cause"),
        "17",
        "sipd's cause reaches the PBX"
    );
    assert_eq!(
        bchan.recv_event(WAIT).unwrap(),
        "ec 0",
        "removed with the media"
    );
    rig.chand.wait_status("B-channel idle", WAIT, |st| {
        st.span(1)
            .unwrap()
            .bchannels
            .iter()
            .all(|x| x.call.is_none())
    });
    let log = rig.chand.daemon.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("call_id={call}")))
        .collect();
    assert!(lines.len() >= 4, "call lines:\n{log}");
    for l in &lines {
        assert!(
            l.contains("span=1") && l.contains(&format!("channel={b}")),
            "SPAN and CHANNEL on every line of the call: {l}"
        );
    }
}

#[test]
fn a_pbx_setup_without_sipd_is_cleared_with_cause_38() {
    let mut rig = Rig::new("42100-42199", false);
    let mut pbx = rig.libpri(&["--call", "0789"]);
    let line = wait_call_line(&mut pbx, "HANGUP", &rig.chand);
    assert_eq!(field(&line, "cause"), "38", "{line}");
    assert!(rig.chand.daemon.log().contains("sipd is not connected"));
}

#[test]
fn sip_calls_pbx_with_audio_both_ways_and_the_pbx_hangs_up() {
    sip_calls_pbx(Rig::new("42200-42299", true));
}

#[test]
fn sip_calls_pbx_on_an_e1_network_side_in_alaw() {
    sip_calls_pbx(Rig::with("42600-42699", true, true));
}

#[test]
fn trunk_incoming_for_a_span_without_calls_or_no_span_gets_cause_3() {
    let mut rig = Rig::new("42700-42799", true);
    for (span, k) in [(2u16, 1u32), (9, 2)] {
        let call = CallId(CallId::SIPD_BIT | k);
        rig.sipd()
            .send(trunk_incoming(call, span, "2201", "", Privacy::Allowed));
        let cause = rig.sipd().expect("Hangup", |m| match m {
            Message::Hangup { call: c, cause } if *c == call => Some(cause.0),
            _ => None,
        });
        assert_eq!(cause, 3, "span {span}: no route to destination");
    }
    assert!(rig
        .chand
        .daemon
        .log()
        .contains("no such span with [pri.calls]"));
}

/// SIP → PBX on `rig`'s span: libpri answers at once and hangs up after 4 s.
fn sip_calls_pbx(mut rig: Rig) {
    let mut pbx = rig.libpri(&["--answer", "--hangup-after", "4000", "--name", "Reception"]);
    let call = CallId(CallId::SIPD_BIT | 1);
    let t0 = Instant::now();
    rig.sipd()
        .send(trunk_incoming(call, 1, "992101", "Bob", Privacy::Allowed));
    let ring = wait_call_line(&mut pbx, "RING", &rig.chand);
    assert_eq!(
        field(&ring, "called"),
        "42101",
        "to_pbx_strip 2, to_pbx_prefix 4"
    );
    assert_eq!(field(&ring, "calling"), "5551234");
    assert_eq!(field(&ring, "name"), "Bob");
    let b: u32 = field(&ring, "channel").parse().unwrap();
    let rtp = rig.sipd().expect("MediaReady", |m| match m {
        Message::MediaReady { local_rtp, .. } => Some(*local_rtp),
        _ => None,
    });
    rig.sipd().expect("Alerting", |m| {
        matches!(m, Message::Alerting { .. }).then_some(())
    });
    let who = rig.sipd().expect("Identity", |m| match m {
        Message::Identity { name, .. } => Some(name.as_str().to_owned()),
        _ => None,
    });
    assert_eq!(who, "Reception", "the PBX's connectedName as Identity");
    rig.sipd().expect("Answered", |m| {
        matches!(m, Message::Answered { .. }).then_some(())
    });
    eprintln!(
        "figure: TrunkIncoming to Answered (libpri answering at once): {:?}",
        t0.elapsed()
    );
    let far = far_end();
    rig.sipd().send(Message::Connected {
        call,
        media: media(far.local_addr().unwrap()),
    });
    let bchan = rig.bchannel(b);
    audio_both_ways(&bchan, rig.law, &far, local(rtp));
    let cause = rig.sipd().expect("Hangup", |m| match m {
        Message::Hangup { cause, .. } => Some(cause.0),
        _ => None,
    });
    assert_eq!(cause, 16, "the PBX hung up");
    pbx.pump();
    assert!(pbx.frames_rx.len() >= 6, "{} frames", pbx.frames_rx.len());
    let v = tshark::decode(&pbx.frames_rx);
    assert_eq!(
        v.lapd,
        pbx.frames_rx.len(),
        "every frame chand sent is LAPD"
    );
    assert!(v.flagged.is_empty(), "tshark flags {:#?}", v.flagged);
}

/// `[pri.calls] timeslots = "1-2"`: only B-channels 1 and 2 are opened and carry calls; a
/// third call gets cause 34.
#[test]
fn timeslots_limit_the_b_channels() {
    let mut rig = Rig::configured("42400-42419", true, false, "timeslots = \"1-2\"\n");
    let _pbx = rig.libpri(&["--answer"]);
    assert!(!rig.env.sim_dir.join("bchan-3.sock").exists());
    let mut causes = Vec::new();
    for k in 0..3 {
        let call = CallId(CallId::SIPD_BIT | (200 + k));
        rig.sipd()
            .send(trunk_incoming(call, 1, "992101", "", Privacy::Allowed));
        causes.push(rig.sipd().expect("Answered or Hangup", |m| match m {
            Message::Answered { call: c } if *c == call => Some(0),
            Message::Hangup { call: c, cause } if *c == call => Some(cause.0),
            _ => None,
        }));
    }
    assert_eq!(causes, [0, 0, 34], "chand:\n{}", rig.chand.daemon.log());
    let st = rig.span();
    assert_eq!(st.bchannels.len(), 2, "{st:#?}");
}

#[test]
fn a_full_t1_answers_cause_34() {
    let mut rig = Rig::new("42300-42399", true);
    let _pbx = rig.libpri(&["--answer"]);
    let t0 = Instant::now();
    for k in 0..23 {
        rig.sipd().send(trunk_incoming(
            CallId(CallId::SIPD_BIT | (100 + k)),
            1,
            "992101",
            "",
            Privacy::Allowed,
        ));
    }
    let mut answered = 0;
    let deadline = Instant::now() + WAIT * 2;
    while answered < 23 && Instant::now() < deadline {
        if let Some(Event::Call(Message::Answered { .. })) = rig.sipd().next(WAIT) {
            answered += 1;
        }
    }
    assert_eq!(answered, 23, "chand:\n{}", rig.chand.daemon.log());
    eprintln!("figure: 23 calls SIP → PBX answered in {:?}", t0.elapsed());
    let st = rig.span();
    let connected = st
        .bchannels
        .iter()
        .filter(|x| x.state == "connected")
        .count();
    assert_eq!(connected, 23, "{st:#?}");
    let busy = CallId(CallId::SIPD_BIT | 999);
    rig.sipd()
        .send(trunk_incoming(busy, 1, "992101", "", Privacy::Allowed));
    let cause = rig.sipd().expect("Hangup of the 24th", |m| match m {
        Message::Hangup { call, cause } if *call == busy => Some(cause.0),
        _ => None,
    });
    assert_eq!(cause, 34);
    let (ok, text, _) = rig.chand.cli(&["status"]);
    assert!(
        ok && text.contains("B-channels: 23 in use, 0 idle"),
        "{text}"
    );
}

#[test]
fn a_lamp_during_a_call_then_a_d_channel_flap_clears_the_call_and_lamps_resync() {
    let mut rig = Rig::new("42400-42499", true);
    let mut pbx = rig.libpri(&["--answer"]);
    let call = CallId(CallId::SIPD_BIT | 7);
    rig.sipd()
        .send(trunk_incoming(call, 1, "992101", "", Privacy::Restricted));
    let ring = wait_call_line(&mut pbx, "RING", &rig.chand);
    assert_eq!(field(&ring, "calling"), "", "withheld: {ring}");
    rig.sipd().expect("Answered", |m| {
        matches!(m, Message::Answered { .. }).then_some(())
    });
    rig.writer
        .publish("2101", MwiState::voice(true, 3, 0))
        .unwrap();
    let ok = pbx.wait(WAIT, |p| p.decoded.iter().any(|d| d.served() == "2101"));
    assert!(ok, "no lamp during the call:\n{}", pbx.tail(40));
    assert!(
        !pbx.calls.iter().any(|l| l.starts_with("HANGUP")),
        "the call went on: {:?}",
        pbx.calls
    );

    pbx.disconnect();
    let cause = rig.sipd().expect("Hangup after the flap", |m| match m {
        Message::Hangup { call: c, cause } if *c == call => Some(cause.0),
        _ => None,
    });
    assert!(matches!(cause, 27 | 38 | 41), "cause {cause}");
    rig.writer
        .publish("2102", MwiState::voice(true, 1, 0))
        .unwrap();
    let mut pbx = rig.libpri(&[]);
    let ok = pbx.wait(WAIT * 3, |p| {
        ["2101", "2102"]
            .iter()
            .all(|n| p.decoded.iter().any(|d| d.served() == *n))
    });
    assert!(
        ok,
        "lamps after the flap:\n{}\nchand:\n{}",
        pbx.tail(40),
        rig.chand.daemon.log()
    );
    assert!(rig.span().bchannels.iter().all(|x| x.call.is_none()));
}

#[test]
fn sipd_going_away_disconnects_its_calls_on_the_pbx() {
    let mut rig = Rig::new("42500-42599", true);
    let mut pbx = rig.libpri(&["--answer"]);
    rig.sipd().send(trunk_incoming(
        CallId(CallId::SIPD_BIT | 8),
        1,
        "992101",
        "",
        Privacy::Allowed,
    ));
    rig.sipd().expect("Answered", |m| {
        matches!(m, Message::Answered { .. }).then_some(())
    });
    rig.sipd = None;
    let line = wait_call_line(&mut pbx, "HANGUP_REQ", &rig.chand);
    assert_eq!(field(&line, "cause"), "41", "{line}");
    rig.chand.wait_status("B-channel idle", WAIT, |st| {
        st.span(1)
            .unwrap()
            .bchannels
            .iter()
            .all(|x| x.call.is_none())
    });
}

#[test]
fn a_setup_goes_ahead_of_a_lamp_resync() {
    let mut rig = Rig::new("42800-42899", true);
    for n in 0..100 {
        rig.writer
            .publish(&format!("21{n:02}"), MwiState::voice(true, 1, 0))
            .unwrap();
    }
    let mut pbx = rig.libpri(&["--answer"]);
    let call = CallId(CallId::SIPD_BIT | 9);
    rig.sipd()
        .send(trunk_incoming(call, 1, "992101", "", Privacy::Allowed));
    wait_call_line(&mut pbx, "RING", &rig.chand);
    let ring = pbx
        .log
        .iter()
        .position(|l| l.starts_with("CALL RING"))
        .unwrap();
    let before = pbx.log[..ring]
        .iter()
        .filter(|l| l.starts_with("MWI "))
        .count();
    let all = pbx.wait(WAIT * 3, |p| p.decoded.len() >= 100);
    eprintln!("figure: the SETUP reached the PBX after {before} of 100 lamps of the resync");
    assert!(all, "{} of 100 lamps", pbx.decoded.len());
    // The resync keeps 7 deliveries in flight (isdn SpanConfig::max_outstanding): a SETUP in
    // the same queue would come after all 100; ahead of them it comes after the few windows
    // that were out before sipd's message reached chand.
    assert!(
        before <= 50,
        "the SETUP waited for {before} lamps of the resync"
    );
}
