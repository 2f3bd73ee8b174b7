//! FXS calls end to end (issue 12): the real sipd and chand (sim back-end) joined by their
//! call-control socket, a sim phone that speaks in-band (DTMF, tones) every 20 ms, and real SIP
//! peers: SIPp as the called party echoing RTP (`-rtp_echo`), and baresip, a real SIP phone,
//! calling the port and being called by it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use dahdi_mwi_tests::baresip::Baresip;
use dahdi_mwi_tests::daemon::RaiseOnDrop;
use dahdi_mwi_tests::fakesipd::{press, talk, Voice};
use dahdi_mwi_tests::fsk::{contains, minimodem};
use dahdi_mwi_tests::line::{sipp_echo_uas, Line};
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::sipp::passed;
use dahdi_mwi_tests::tone::{listen, record};
use fxs::Law;

const LAW: Law = Law::Mulaw;

#[test]
fn the_phone_dials_in_band_and_hears_itself_through_sipps_rtp_echo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let far = free_port();
    let line = Line::start(far, "21000-21099");
    let (mut uas, _) = sipp_echo_uas(dir.path(), far);
    let voice = Mutex::new(Voice::Silence);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        line.phone.off_hook().expect("off-hook");
        s.spawn(|| talk(&line.phone, LAW, &voice, &stop));
        std::thread::sleep(Duration::from_millis(300));
        press(&voice, "2001");
        // 180 Ringing: the phone hears the us ringback (440 + 480 Hz).
        line.wait_call_state(10, "ringback");
        let _ = listen(&line.phone, LAW, Duration::from_millis(40));
        let rec = record(&line.phone, LAW, 600).expect("record");
        for f in [440.0, 480.0] {
            let l = rec.level(f, 100, 600);
            assert!(l > -25.0, "ringback {f} Hz at {l:.1} dBm0\n{}", line.logs());
        }
        // 200 OK: two-way G.711; the phone's 1 kHz comes back from SIPp's echo.
        line.wait_call_state(10, "connected");
        *voice.lock().expect("voice") = Voice::Tone(1000.0);
        let rec = record(&line.phone, LAW, 1500).expect("record");
        let l = rec.level(1000.0, 700, 1500);
        assert!(l > -20.0, "1 kHz back at {l:.1} dBm0\n{}", line.logs());
        let st = line.chand.port_status("8001").call;
        let m = st.media.clone().expect("media in status");
        assert!(
            m.packets_in >= 40 && m.packets_out >= 40 && m.malformed == 0,
            "{st:?}"
        );
        eprintln!("figure: the call after 1.5 s of echo: {st}");
        let calls = line.sipd.status_json().expect("sipd status");
        assert_eq!(calls["calls"][0]["state"], "connected", "{calls:#}");
        line.phone.on_hook().expect("on-hook");
        stop.store(true, Ordering::Relaxed);
    });
    // On-hook: sipd sends BYE, SIPp answers it and passes.
    assert!(passed(dir.path(), "uas", &mut uas), "{}", line.logs());
    line.wait_call_state(5, "idle");
    drop(line.cfg);
    drop(line.env);
}

#[test]
fn baresip_calls_the_port_and_the_phone_calls_baresip() {
    let mut bob = Baresip::start("<sip:2001@{sip}>;regint=0;answermode=auto", 1000);
    let line = Line::start(bob.sip().port(), "21100-21199");

    // baresip → port 8001: the phone rings with caller ID, answers, hears baresip's 1 kHz,
    // and baresip hears the phone's 440 Hz.
    bob.command("dial", &format!("sip:8001@127.0.0.1:{}", line.sipd.port));
    let (rec, events) = listen(&line.phone, LAW, Duration::from_millis(4000));
    assert!(
        events.iter().any(|e| e == "ring"),
        "no ring: {events:?}\n{}",
        line.logs()
    );
    let fsk = minimodem(rec.slice_ms(0, rec.ms()), 1200, 2200);
    assert!(
        contains(&fsk, b"2001"),
        "caller ID decoded as {fsk:?}\n{}",
        line.logs()
    );
    let voice = Mutex::new(Voice::Tone(440.0));
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        line.phone.off_hook().expect("off-hook");
        s.spawn(|| talk(&line.phone, LAW, &voice, &stop));
        bob.wait_event("CALL_ESTABLISHED", Duration::from_secs(5));
        let _ = listen(&line.phone, LAW, Duration::from_millis(300));
        let rec = record(&line.phone, LAW, 1000).expect("record");
        let l = rec.level(1000.0, 200, 1000);
        assert!(l > -25.0, "baresip's 1 kHz at {l:.1} dBm0\n{}", line.logs());
        line.phone.on_hook().expect("on-hook");
        bob.wait_event("CALL_CLOSED", Duration::from_secs(5));
        let heard = bob.received(LAW);
        let l = heard.level(440.0, 200, heard.ms().saturating_sub(100));
        assert!(l > -25.0, "baresip heard the phone's 440 Hz at {l:.1}");

        // port → baresip: the phone dials 2001 in DTMF; baresip answers by itself.
        std::thread::sleep(Duration::from_millis(500));
        line.phone.off_hook().expect("off-hook");
        *voice.lock().expect("voice") = Voice::Silence;
        std::thread::sleep(Duration::from_millis(300));
        press(&voice, "2001");
        bob.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
        line.wait_call_state(5, "connected");
        let _ = listen(&line.phone, LAW, Duration::from_millis(300));
        let rec = record(&line.phone, LAW, 1000).expect("record");
        let l = rec.level(1000.0, 200, 1000);
        assert!(l > -25.0, "baresip's 1 kHz at {l:.1} dBm0\n{}", line.logs());
        line.phone.on_hook().expect("on-hook");
        bob.wait_event("CALL_CLOSED", Duration::from_secs(5));
        stop.store(true, Ordering::Relaxed);
    });
}
