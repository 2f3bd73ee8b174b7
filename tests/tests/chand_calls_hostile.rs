//! chand's call side under hostile input (issue 11's rule: a clear log line, nothing lost,
//! chand alive and answering status): bad packets and a second peer on `callctl.sock`,
//! messages for unknown calls, an `Incoming` flood, RTP port exhaustion and stray or garbage
//! RTP. The fake sipd is dahdi_mwi_tests::fakesipd.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callctl::wire::{Message, MAX_PACKET};
use callctl::{CallId, Cause, Privacy, Text};
use dahdi_mwi_tests::daemon::RaiseOnDrop;
use dahdi_mwi_tests::env::Chand;
use dahdi_mwi_tests::fakesipd::{echo, media, rtp_tone, start_calls, talk, FakeSipd, Voice, WAIT};
use dahdi_mwi_tests::tone::{listen, record};
use fxs::Law;

const LAW: Law = Law::Mulaw;

fn incoming(call: CallId, port: u16) -> Message {
    Message::Incoming {
        call,
        port,
        number: Text::try_from("5551234").unwrap(),
        name: Text::default(),
        privacy: Privacy::Allowed,
    }
}

/// Wait until chand's log holds `n` lines containing `text`.
fn wait_log(chand: &Chand, text: &str, n: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = chand.daemon.log();
        if log.matches(text).count() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {n} x {text:?} in the log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_packets_are_dropped_with_a_log_line_and_the_link_stays_up() {
    let (env, chand, _phones, mut sipd, _w) = start_calls("32000-32099", &[1], "");
    let good = incoming(CallId(CallId::SIPD_BIT | 1), 1).emit();
    let mut other_version = good.clone();
    other_version[0] = 9;
    sipd.send_raw(b"\x01\xfegarbage").unwrap();
    sipd.send_raw(&good[..good.len() / 2]).unwrap();
    sipd.send_raw(&other_version).unwrap();
    sipd.send_raw(&vec![0x55; MAX_PACKET + 100]).unwrap();
    wait_log(&chand, "call control: packet rejected", 3);
    wait_log(&chand, "call control: dropped a", 1);
    chand.status();
    // The link is still up: a good Incoming rings the port.
    sipd.send(incoming(CallId(CallId::SIPD_BIT | 2), 1));
    sipd.expect("Alerting", |m| {
        matches!(m, Message::Alerting { .. }).then_some(())
    });
    assert_eq!(chand.port_status("8001").call.state, "ringing");
    // An empty packet reads as the end of the connection: chand drops it, ends the call, and
    // takes the next connection.
    sipd.send_raw(&[]).unwrap();
    wait_log(&chand, "call control: sipd disconnected", 1);
    let mut again = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
    again.wait_up();
    assert_eq!(chand.port_status("8001").call.state, "idle");
}

#[test]
fn a_second_peer_is_refused_and_unknown_calls_get_error() {
    let (env, chand, _phones, sipd, _w) = start_calls("32100-32199", &[1], "");
    let second = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
    wait_log(&chand, "a second call-control connection was closed", 1);
    assert_eq!(second.recv_raw(WAIT), None, "the second peer got a packet");
    drop(second);
    // Messages about calls chand does not know: Error back, nothing else.
    for m in [
        Message::Ringback { call: CallId(77) },
        Message::Connected {
            call: CallId(78),
            media: media("127.0.0.1:9".parse().unwrap()),
        },
        Message::Alerting {
            call: CallId(CallId::SIPD_BIT | 79),
        },
    ] {
        let call = m.call().unwrap();
        sipd.send_raw(&m.emit()).unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let p = sipd.recv_raw(deadline.saturating_duration_since(Instant::now()));
            let p = p.unwrap_or_else(|| panic!("no Error for {m}; log:\n{}", chand.daemon.log()));
            if let Ok(Message::Error { call: c, .. }) = Message::parse(&p) {
                assert_eq!(c, call);
                break;
            }
        }
    }
    let st = chand.port_status("8001");
    assert_eq!(st.call.state, "idle");
    assert!(st.mwi, "MWI kept: {st:?}");
}

#[test]
fn an_incoming_flood_rings_each_port_once_and_refuses_the_rest_busy() {
    let (_env, chand, _phones, mut sipd, _w) = start_calls("32200-32299", &[1, 2], "");
    // More answers than a socket buffer holds: chand keeps what sipd has not taken yet
    // (CallServer backlog) instead of dropping it.
    const FLOOD: u32 = 1000;
    let started = Instant::now();
    for k in 0..FLOOD {
        sipd.send(incoming(
            CallId(CallId::SIPD_BIT | (k + 1)),
            1 + (k % 2) as u16,
        ));
    }
    let (mut alerting, mut busy) = (0, 0);
    while alerting + busy < FLOOD {
        sipd.expect("Alerting or Hangup", |m| match m {
            Message::Alerting { .. } => {
                alerting += 1;
                Some(())
            }
            Message::Hangup { cause, .. } => {
                assert_eq!(*cause, Cause::USER_BUSY);
                busy += 1;
                Some(())
            }
            _ => None,
        });
    }
    eprintln!(
        "figure: {FLOOD} Incoming for 2 ports answered in {:?}",
        started.elapsed()
    );
    assert_eq!((alerting, busy), (2, FLOOD - 2));
    let st = chand.status();
    assert!(st.fxs.iter().all(|p| p.call.state == "ringing"), "{st:#?}");
}

#[test]
fn rtp_port_exhaustion_gives_cause_34_and_reorder() {
    // One RTP/RTCP pair for two ports.
    let (_env, chand, phones, mut sipd, _w) = start_calls("32300-32301", &[1, 2], "");
    phones[0].off_hook().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    for d in "*98".chars() {
        phones[0].digit(d).unwrap();
    }
    sipd.expect("MediaReady of port 1", |m| {
        matches!(m, Message::MediaReady { .. }).then_some(())
    });
    phones[1].off_hook().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    for d in "*98".chars() {
        phones[1].digit(d).unwrap();
    }
    let call = sipd.expect("Dial of port 2", |m| match m {
        Message::Dial { call, port: 2, .. } => Some(*call),
        _ => None,
    });
    let cause = sipd.expect("Hangup of port 2", |m| match m {
        Message::Hangup { call: c, cause } if *c == call => Some(*cause),
        _ => None,
    });
    assert_eq!(cause, Cause::NO_CIRCUIT);
    std::thread::sleep(Duration::from_millis(200));
    let _ = listen(&phones[1], LAW, Duration::from_millis(50));
    let rec = record(&phones[1], LAW, 600).unwrap();
    for f in [480.0, 620.0] {
        let l = (0..6)
            .map(|w| rec.level(f, w * 100, w * 100 + 100))
            .fold(f64::MIN, f64::max);
        assert!(l > -15.0, "reorder {f} Hz at {l:.1} dBm0 on port 2");
    }
    let st = chand.status();
    assert_eq!(st.fxs[0].call.state, "proceeding");
    assert_eq!(st.fxs[1].call.state, "failed");
    assert!(
        chand.daemon.log().contains("no free RTP/RTCP port pair"),
        "{}",
        chand.daemon.log()
    );
}

#[test]
fn stray_and_garbage_rtp_is_counted_and_never_played() {
    let (_env, chand, phones, mut sipd, _w) = start_calls("32400-32499", &[1], "");
    let phone = &phones[0];
    let echo_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo_sock.local_addr().unwrap();
    let voice = Mutex::new(Voice::Tone(1000.0));
    let stop = AtomicBool::new(false);
    let events = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        s.spawn(|| echo(&echo_sock, &events, &stop));
        phone.off_hook().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        for d in "*98".chars() {
            phone.digit(d).unwrap();
        }
        let (call, local) = sipd.expect("MediaReady", |m| match m {
            Message::MediaReady { call, local_rtp } => Some((*call, *local_rtp)),
            _ => None,
        });
        let local = std::net::SocketAddr::new("127.0.0.1".parse().unwrap(), local.port());
        sipd.send(Message::Connected {
            call,
            media: media(echo_addr),
        });
        s.spawn(|| talk(phone, LAW, &voice, &stop));
        // The echo's packets make it the remote source; then a stranger sends a loud 2 kHz
        // stream, garbage and oversize datagrams for a second.
        std::thread::sleep(Duration::from_millis(500));
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rec = std::thread::scope(|s2| {
            let sender = s2.spawn(|| {
                for k in 0..50u16 {
                    stranger
                        .send_to(&rtp_tone(0xbad, k, 2000.0), local)
                        .unwrap();
                    stranger.send_to(b"\x80\x00garbage", local).unwrap();
                    stranger.send_to(&vec![0x80; 4000], local).unwrap();
                    echo_sock.send_to(&[0x80, 0, 0], local).unwrap();
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            let _ = listen(phone, LAW, Duration::from_millis(50));
            let rec = record(phone, LAW, 900).unwrap();
            sender.join().unwrap();
            rec
        });
        let stray = rec.level(2000.0, 0, 900);
        let ours = rec.level(1000.0, 0, 900);
        assert!(
            stray < -45.0 && ours > -20.0,
            "stray 2 kHz at {stray:.1} dBm0, the call's 1 kHz at {ours:.1}; log:\n{}",
            chand.daemon.log()
        );
        let m = chand.port_status("8001").call.media.expect("media status");
        eprintln!("figure: after 50 x (stray RTP, garbage, 4000-octet, truncated): {m:?}");
        assert!(
            m.wrong_source >= 50 && m.malformed >= 50 && m.packets_in > 20,
            "{m:?}"
        );
        stop.store(true, Ordering::Relaxed);
    });
}
