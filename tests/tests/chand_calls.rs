//! The real chand daemon on the sim back-end, call side: a fake sipd written here with the
//! callctl crate on `callctl.sock` (dahdi_mwi_tests::fakesipd), a sim phone that sends its audio (in-band DTMF, a 1 kHz
//! tone) every 20 ms, and an RTP echo socket standing in for the far end.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callctl::wire::Message;
use callctl::{CallId, Cause, Direction, Media, Privacy, Text};
use chand::backend::sim::peer::{Phone, ToPhone};
use dahdi_mwi_tests::daemon::RaiseOnDrop;
use dahdi_mwi_tests::env::{Chand, Env};
use dahdi_mwi_tests::fakesipd::{
    calls_config, echo, media, press, rtp_tone, start_calls, talk, FakeSipd, Voice, WAIT,
};
use dahdi_mwi_tests::fsk::{contains, minimodem};
use dahdi_mwi_tests::tone::{listen, record};
use fxs::dtmf::{DtmfDetector, DtmfEvent};
use fxs::Law;
use sansio::Core;

const LAW: Law = Law::Mulaw;

fn start(ports: &str) -> (Env, Chand, Phone, FakeSipd, mwi_table::Writer) {
    let (env, chand, mut phones, sipd, writer) = start_calls(ports, &[1], "");
    (env, chand, phones.remove(0), sipd, writer)
}

#[test]
fn outgoing_call_dtmf_ringback_media_digit_hangup() {
    let (_env, chand, phone, mut sipd, _w) = start("31000-31099");
    let echo_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo_sock.local_addr().unwrap();
    let voice = Mutex::new(Voice::Silence);
    let stop = AtomicBool::new(false);
    let events = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        s.spawn(|| echo(&echo_sock, &events, &stop));
        phone.off_hook().unwrap();
        s.spawn(|| talk(&phone, LAW, &voice, &stop));
        std::thread::sleep(Duration::from_millis(300));
        press(&voice, "20");
        std::thread::sleep(Duration::from_millis(100));
        let st = chand.port_status("8001").call;
        assert_eq!((st.state.as_str(), st.number.as_str()), ("dialling", "20"));
        press(&voice, "01");
        let call = sipd.expect("Dial 2001", |m| match m {
            Message::Dial { call, digits, .. } if digits.as_str() == "2001" => Some(*call),
            _ => None,
        });
        sipd.expect("MediaReady", |m| {
            matches!(m, Message::MediaReady { call: c, .. } if *c == call).then_some(())
        });

        sipd.send(Message::Ringback { call });
        std::thread::sleep(Duration::from_millis(100));
        let st = chand.port_status("8001").call;
        assert_eq!(st.state, "ringback");
        assert_eq!(st.call_id, Some(call.to_string()));
        let _ = listen(&phone, LAW, Duration::from_millis(50));
        let rec = record(&phone, LAW, 800).unwrap();
        for f in [440.0, 480.0] {
            let l = rec.level(f, 200, 800);
            assert!(
                l > -20.0,
                "ringback {f} Hz at {l:.1} dBm0; log:\n{}",
                chand.daemon.log()
            );
        }

        sipd.send(Message::Connected {
            call,
            media: media(echo_addr),
        });
        *voice.lock().unwrap() = Voice::Tone(1000.0);
        let rec = record(&phone, LAW, 1500).unwrap();
        let l = rec.level(1000.0, 800, 1500);
        assert!(
            l > -20.0,
            "1 kHz back through RTP at {l:.1} dBm0; log:\n{}",
            chand.daemon.log()
        );
        let st = chand.port_status("8001").call;
        let m = st.media.clone().expect("media in status");
        assert!(
            st.state == "connected"
                && st.number == "2001"
                && st.duration_s.is_some()
                && m.packets_in >= 50
                && m.packets_out >= 50
                && m.lost == 0
                && m.malformed + m.wrong_source + m.rejected == 0,
            "status in the call: {st:?}"
        );
        eprintln!("figure: status in the call after 1.5 s of echo: {st}");

        *voice.lock().unwrap() = Voice::Silence;
        std::thread::sleep(Duration::from_millis(100));
        press(&voice, "5");
        std::thread::sleep(Duration::from_millis(300));
        let got = events.lock().unwrap().clone();
        assert!(
            got.iter().any(|e| e[0] == 5) && got.iter().any(|e| e[0] == 5 && e[1] & 0x80 != 0),
            "RFC 4733 begin and end of digit 5 at the echo: {got:?}; log:\n{}",
            chand.daemon.log()
        );

        phone.on_hook().unwrap();
        let cause = sipd.expect("Hangup", |m| match m {
            Message::Hangup { call: c, cause } if *c == call => Some(*cause),
            _ => None,
        });
        assert_eq!(cause, Cause::NORMAL_CLEARING);
        stop.store(true, Ordering::Relaxed);
        let st = chand.port_status("8001").call;
        assert_eq!((st.state.as_str(), st.call_id), ("idle", None));
        assert_call_fields(&chand.daemon.log(), call);
    });
}

/// Every port log line naming `call` carries the fields `channel=1` and `call_id=ID`, which
/// the journal logger turns into the journal fields CHANNEL and CALL_ID (mwi-service); the
/// link's own lines (`call control: ...`) belong to no port.
fn assert_call_fields(log: &str, call: CallId) {
    let id = call.to_string();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&id) && !l.contains("call control:"))
        .collect();
    assert!(!lines.is_empty(), "no line of call {id}:\n{log}");
    for l in lines {
        assert!(
            l.contains(" channel=1") && l.contains(&format!(" call_id={id}")),
            "a call line without channel and call_id fields: {l}"
        );
    }
}

#[test]
fn incoming_call_rings_with_caller_id_and_answers() {
    let (_env, chand, phone, mut sipd, _w) = start("31100-31199");
    let call = CallId(CallId::SIPD_BIT | 1);
    sipd.send(Message::Incoming {
        call,
        port: 1,
        number: Text::try_from("5551234").unwrap(),
        name: Text::try_from("ALICE").unwrap(),
        privacy: Privacy::Allowed,
    });
    sipd.expect("MediaReady", |m| {
        matches!(m, Message::MediaReady { .. }).then_some(())
    });
    sipd.expect("Alerting", |m| {
        matches!(m, Message::Alerting { .. }).then_some(())
    });
    let st = chand.port_status("8001").call;
    assert_eq!(
        (st.state.as_str(), st.number.as_str(), st.call_id),
        ("ringing", "5551234", Some(call.to_string()))
    );
    let (rec, events) = listen(&phone, LAW, Duration::from_millis(4000));
    assert!(
        events.iter().any(|e| e == "ring"),
        "events {events:?}; log:\n{}",
        chand.daemon.log()
    );
    let bytes = minimodem(rec.slice_ms(0, rec.ms()), 1200, 2200);
    assert!(
        contains(&bytes, b"5551234") && contains(&bytes, b"ALICE"),
        "caller ID decoded as {bytes:?}; log:\n{}",
        chand.daemon.log()
    );
    phone.off_hook().unwrap();
    sipd.expect("Answered", |m| {
        matches!(m, Message::Answered { call: c } if *c == call).then_some(())
    });
    let st = chand.port_status("8001").call;
    assert_eq!((st.state.as_str(), st.duration_s), ("connected", Some(0)));
    assert_call_fields(&chand.daemon.log(), call);
}

#[test]
fn incoming_call_to_an_off_hook_port_is_busy() {
    let (_env, _chand, phone, mut sipd, _w) = start("31200-31299");
    phone.off_hook().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let call = CallId(CallId::SIPD_BIT | 2);
    sipd.send(Message::Incoming {
        call,
        port: 1,
        number: Text::try_from("5551234").unwrap(),
        name: Text::default(),
        privacy: Privacy::Allowed,
    });
    let cause = sipd.expect("Hangup", |m| match m {
        Message::Hangup { call: c, cause } if *c == call => Some(*cause),
        _ => None,
    });
    assert_eq!(cause, Cause::USER_BUSY);
}

#[test]
fn sipd_going_away_mid_call_gives_reorder_and_keeps_mwi() {
    let (_env, chand, phone, mut sipd, _w) = start("31300-31399");
    phone.off_hook().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    phone.digit('*').unwrap();
    phone.digit('9').unwrap();
    phone.digit('8').unwrap();
    let call = sipd.expect("Dial *98", |m| match m {
        Message::Dial { call, digits, .. } if digits.as_str() == "*98" => Some(*call),
        _ => None,
    });
    sipd.send(Message::Ringback { call });
    std::thread::sleep(Duration::from_millis(200));
    drop(sipd);
    std::thread::sleep(Duration::from_millis(300));
    let _ = listen(&phone, LAW, Duration::from_millis(50));
    let rec = record(&phone, LAW, 600).unwrap();
    // us reorder: 480 + 620 Hz, 250 ms on / 250 ms off; the loudest 100 ms window is on.
    for f in [480.0, 620.0] {
        let l = (0..6)
            .map(|w| rec.level(f, w * 100, w * 100 + 100))
            .fold(f64::MIN, f64::max);
        assert!(
            l > -15.0,
            "reorder {f} Hz at {l:.1} dBm0; log:\n{}",
            chand.daemon.log()
        );
    }
    let port = chand.port_status("8001");
    assert!(port.mwi, "MWI still on after the call: {port:?}");
}

#[test]
fn media_direction_decides_what_the_phone_hears_and_what_is_sent() {
    let (_env, chand, phone, mut sipd, _w) = start("31400-31499");
    let far = UdpSocket::bind("127.0.0.1:0").unwrap();
    far.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let voice = Mutex::new(Voice::Tone(600.0));
    let stop = AtomicBool::new(false);
    let got = AtomicUsize::new(0);
    phone.off_hook().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    for d in "*98".chars() {
        phone.digit(d).unwrap();
    }
    let (call, local) = sipd.expect("MediaReady", |m| match m {
        Message::MediaReady { call, local_rtp } => Some((*call, local_rtp.port())),
        _ => None,
    });
    let local = SocketAddr::from(([127, 0, 0, 1], local));
    let with = |direction| Media {
        direction,
        ..media(far.local_addr().unwrap())
    };
    std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        s.spawn(|| talk(&phone, LAW, &voice, &stop));
        // The far end: a 2 kHz stream towards chand, counting chand's packets.
        s.spawn(|| {
            let mut buf = [0u8; 2048];
            let mut seq = 0u16;
            while !stop.load(Ordering::Relaxed) {
                far.send_to(&rtp_tone(0xfa2, seq, 2000.0), local).unwrap();
                seq = seq.wrapping_add(1);
                if far.recv_from(&mut buf).is_ok() {
                    got.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        for (msg, hears, sends) in [
            (
                Message::EarlyMedia {
                    call,
                    media: with(Direction::RecvOnly),
                },
                true,
                false,
            ),
            (
                Message::Connected {
                    call,
                    media: with(Direction::SendOnly),
                },
                false,
                true,
            ),
            (
                Message::Modify {
                    call,
                    media: with(Direction::Inactive),
                },
                false,
                false,
            ),
            (
                Message::Modify {
                    call,
                    media: with(Direction::SendRecv),
                },
                true,
                true,
            ),
            (
                Message::Modify {
                    call,
                    media: with(Direction::RecvOnly),
                },
                true,
                false,
            ),
        ] {
            let what = msg.to_string();
            sipd.send(msg);
            std::thread::sleep(Duration::from_millis(300));
            let _ = listen(&phone, LAW, Duration::from_millis(20));
            got.store(0, Ordering::Relaxed);
            let rec = record(&phone, LAW, 600).unwrap();
            let (level, sent) = (rec.level(2000.0, 0, 600), got.load(Ordering::Relaxed));
            eprintln!("figure: {what}: phone hears 2 kHz at {level:.1} dBm0, {sent} packets sent");
            assert!(
                (level > -20.0) == hears && (sent >= 15) == sends && (sent == 0) != sends,
                "{what}: 2 kHz at {level:.1} dBm0, {sent} packets to the far end; log:\n{}",
                chand.daemon.log()
            );
        }
        stop.store(true, Ordering::Relaxed);
    });
}

/// `caller_id = "dtmf"` (EN 300 659-1 Annex B): the phone hears `A`, the number and `C` in
/// DTMF on-hook, decoded by the crate's own receiver, all before the first ring.
#[test]
fn dtmf_caller_id_is_heard_before_the_first_ring() {
    let env = Env::new();
    let cfg = env.write_config(&calls_config("31600-31699", &[1]).replace("bell202", "dtmf"));
    let chand = Chand::start(&env, &cfg);
    let phone = Phone::connect(&env.sim_dir, 1, WAIT).unwrap();
    let mut sipd = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
    sipd.wait_up();
    sipd.send(Message::Incoming {
        call: CallId(CallId::SIPD_BIT | 5),
        port: 1,
        number: Text::try_from("+46 8 5551234").unwrap(),
        name: Text::try_from("ALICE").unwrap(),
        privacy: Privacy::Allowed,
    });
    let t0 = std::time::Instant::now();
    let mut det = DtmfDetector::new(LAW);
    let (mut digits, mut blocks, mut events) = (String::new(), 0u64, Vec::new());
    while !events.iter().any(|e| e == "ring") {
        let left = Duration::from_secs(4).saturating_sub(t0.elapsed());
        assert!(
            !left.is_zero(),
            "no ring within 4 s: events {events:?}, digits {digits:?}; log:\n{}",
            chand.daemon.log()
        );
        match phone.recv(left) {
            Ok(ToPhone::Audio(codes)) => {
                let linear: Vec<i16> = codes.iter().map(|&c| LAW.decode(c)).collect();
                det.handle_audio(t0 + Duration::from_millis(20 * blocks), &linear);
                blocks += 1;
                while let Some(ev) = det.poll_event() {
                    if let DtmfEvent::Begin { digit, .. } = ev {
                        digits.push(digit);
                    }
                }
            }
            Ok(ToPhone::Event(e)) => events.push(e),
            Err(_) => {}
        }
    }
    assert_eq!(
        digits, "A4685551234C",
        "DTMF heard before the ring ({blocks} blocks, events {events:?})"
    );
    assert!(
        events.iter().any(|e| e == "onhooktransfer 1680"),
        "12 symbols of 140 ms under DAHDI_ONHOOKTRANSFER: {events:?}"
    );
    eprintln!(
        "figure: DTMF caller ID: {blocks} blocks, first ring {} ms after Incoming",
        t0.elapsed().as_millis()
    );
}

/// `echo_cancel = 128`: the echo canceller is attached when the call's media starts and
/// removed when it ends (the sim reports `DAHDI_ECHOCANCEL_PARAMS` as `Eec TAPS`).
#[test]
fn the_echo_canceller_runs_with_the_media() {
    let (_env, chand, phone, mut sipd, _w) = {
        let (env, chand, mut phones, sipd, w) =
            start_calls("31700-31799", &[1], "echo_cancel = 128\n");
        (env, chand, phones.remove(0), sipd, w)
    };
    let far = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone.off_hook().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    for d in "*98".chars() {
        phone.digit(d).unwrap();
    }
    let call = sipd.expect("Dial *98", |m| match m {
        Message::Dial { call, .. } => Some(*call),
        _ => None,
    });
    let (_, before) = listen(&phone, LAW, Duration::from_millis(300));
    assert!(
        !before.iter().any(|e| e.starts_with("ec ")),
        "no echo canceller before the media: {before:?}"
    );
    sipd.send(Message::Connected {
        call,
        media: media(far.local_addr().unwrap()),
    });
    let (_, during) = listen(&phone, LAW, Duration::from_millis(300));
    assert_eq!(
        during
            .iter()
            .filter(|e| e.starts_with("ec "))
            .collect::<Vec<_>>(),
        ["ec 128"],
        "log:\n{}",
        chand.daemon.log()
    );
    phone.on_hook().unwrap();
    sipd.expect("Hangup", |m| {
        matches!(m, Message::Hangup { call: c, .. } if *c == call).then_some(())
    });
    let (_, after) = listen(&phone, LAW, Duration::from_millis(300));
    assert_eq!(
        after
            .iter()
            .filter(|e| e.starts_with("ec "))
            .collect::<Vec<_>>(),
        ["ec 0"]
    );
}
