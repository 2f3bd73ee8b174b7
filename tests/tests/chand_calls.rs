//! The real chand daemon on the sim back-end, call side: a fake sipd written here with the
//! callctl crate on `callctl.sock`, a sim phone that sends its audio (in-band DTMF, a 1 kHz
//! tone) every 20 ms, and an RTP echo socket standing in for the far end.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callctl::link::{Config as LinkConfig, Event, Link};
use callctl::wire::{Message, Ports};
use callctl::{CallId, Cause, Codec, Direction, Media, Privacy, Side, Text};
use chand::backend::sim::peer::Phone;
use dahdi_mwi_tests::env::{Chand, Env, NO_SIP_SERVER};
use dahdi_mwi_tests::fsk::{contains, minimodem};
use dahdi_mwi_tests::tone::{listen, record};
use fxs::Law;
use mwi_core::MwiState;
use nix::sys::socket::{
    connect, recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr,
};
use sansio::Core;

const WAIT: Duration = Duration::from_secs(5);
const LAW: Law = Law::Mulaw;

/// The config of one port, channel 1, number 8001, us plan, with a dial plan and a pilot.
fn sections(ports: &str) -> String {
    format!(
        "{NO_SIP_SERVER}[media]\nrtp_ports = \"{ports}\"\n\
         [[fxs]]\nchannel = 1\nnumber = \"8001\"\ncptone = \"us\"\nlaw = \"mulaw\"\n\
         dial_plan = \"(*xx|[2-9]xxx|x.T)\"\nvoicemail = \"*98\"\ncaller_id = \"bell202\"\n"
    )
}

/// A fake sipd: the callctl link over a `SOCK_SEQPACKET` connection to chand.
struct FakeSipd {
    fd: std::os::fd::OwnedFd,
    link: Link,
}

impl FakeSipd {
    fn connect(path: &std::path::Path) -> Self {
        let deadline = Instant::now() + WAIT;
        let fd = loop {
            let fd = socket(
                AddressFamily::Unix,
                SockType::SeqPacket,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .expect("socket");
            use std::os::fd::AsRawFd;
            if connect(fd.as_raw_fd(), &UnixAddr::new(path).unwrap()).is_ok() {
                break fd;
            }
            assert!(
                Instant::now() < deadline,
                "no callctl.sock at {}",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let now = Instant::now();
        let link = Link::new(now, Side::Sipd, 7, Ports::default(), LinkConfig::default());
        let mut s = Self { fd, link };
        s.flush();
        s
    }

    fn flush(&mut self) {
        use std::os::fd::AsRawFd;
        while let Some(p) = self.link.poll_transmit() {
            send(self.fd.as_raw_fd(), &p, MsgFlags::empty()).expect("send to chand");
        }
    }

    fn send(&mut self, msg: Message) {
        self.link.send(Instant::now(), msg).expect("link send");
        self.flush();
    }

    /// The next event of the link, reading packets for up to `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<Event> {
        use std::os::fd::AsRawFd;
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; callctl::wire::MAX_PACKET];
        loop {
            if let Some(ev) = self.link.poll_event() {
                self.flush();
                return Some(ev);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let stream = UnixStream::from(self.fd.try_clone().unwrap());
            stream.set_read_timeout(Some(left)).unwrap();
            match recv(stream.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) => return None,
                Ok(n) => self.link.handle_packet(Instant::now(), &buf[..n]),
                Err(_) => {}
            }
            self.flush();
        }
    }

    /// Wait for a call message that `pick` accepts (others are skipped).
    fn expect<T>(&mut self, what: &str, mut pick: impl FnMut(&Message) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        while let Some(ev) = self.next(deadline.saturating_duration_since(Instant::now())) {
            if let Event::Call(m) = &ev {
                if let Some(t) = pick(m) {
                    return t;
                }
            }
        }
        panic!("fake sipd: no {what} within {WAIT:?}");
    }

    fn wait_up(&mut self) {
        let deadline = Instant::now() + WAIT;
        while !self.link.peer_up() {
            assert!(Instant::now() < deadline, "chand never said Hello");
            self.next(Duration::from_millis(100));
        }
    }
}

/// What the phone's audio thread sends.
#[derive(Clone, Copy, PartialEq)]
enum Voice {
    Silence,
    Tone(f64),
    Dtmf(char),
}

/// Send one block every 20 ms of what `voice` says until `stop`.
fn talk(phone: &Phone, voice: &Mutex<Voice>, stop: &AtomicBool) {
    let mut n = 0u64;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let v = *voice.lock().unwrap();
        let block: Vec<u8> = (0..160)
            .map(|i| {
                let t = (n * 160 + i) as f64 / 8000.0;
                let tone =
                    |f: f64| LAW.peak_for_dbm0(-10.0) * (2.0 * std::f64::consts::PI * f * t).sin();
                let x = match v {
                    Voice::Silence => 0.0,
                    Voice::Tone(f) => tone(f),
                    Voice::Dtmf(d) => {
                        let (lo, hi) = dtmf(d);
                        tone(lo) + tone(hi)
                    }
                };
                LAW.encode(x as i16)
            })
            .collect();
        let _ = phone.send_audio(&block);
        n += 1;
        next += Duration::from_millis(20);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// The two Q.23 frequencies of key `d`.
fn dtmf(d: char) -> (f64, f64) {
    let keys = ["123A", "456B", "789C", "*0#D"];
    let row = keys.iter().position(|r| r.contains(d)).unwrap();
    let col = keys[row].find(d).unwrap();
    (
        [697.0, 770.0, 852.0, 941.0][row],
        [1209.0, 1336.0, 1477.0, 1633.0][col],
    )
}

/// Press `keys` in-band: 80 ms of tone, 80 ms of silence each.
fn press(voice: &Mutex<Voice>, keys: &str) {
    for k in keys.chars() {
        *voice.lock().unwrap() = Voice::Dtmf(k);
        std::thread::sleep(Duration::from_millis(80));
        *voice.lock().unwrap() = Voice::Silence;
        std::thread::sleep(Duration::from_millis(80));
    }
}

/// An RTP echo: sends every RTP packet back to its sender, keeps the RFC 4733 ones (PT 101).
fn echo(sock: &UdpSocket, events: &Mutex<Vec<Vec<u8>>>, stop: &AtomicBool) {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, src)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if n >= 12 && buf[1] & 0x7f == 101 {
            events.lock().unwrap().push(buf[12..n].to_vec());
        } else {
            let _ = sock.send_to(&buf[..n], src);
        }
    }
}

fn media(remote: SocketAddr) -> Media {
    Media {
        remote_rtp: remote,
        codec: Codec::Pcmu,
        ptime_ms: 20,
        telephone_event_pt: Some(101),
        direction: Direction::SendRecv,
    }
}

fn start(ports: &str) -> (Env, Chand, Phone, FakeSipd, mwi_table::Writer) {
    let env = Env::new();
    let cfg = env.write_config(&sections(ports));
    let mut writer = cfg.writer();
    writer.publish("8001", MwiState::voice(true, 2, 0)).unwrap();
    let chand = Chand::start(&env, &cfg);
    let phone = Phone::connect(&env.sim_dir, 1, WAIT).unwrap();
    let mut sipd = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
    sipd.wait_up();
    (env, chand, phone, sipd, writer)
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
        s.spawn(|| echo(&echo_sock, &events, &stop));
        phone.off_hook().unwrap();
        s.spawn(|| talk(&phone, &voice, &stop));
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
