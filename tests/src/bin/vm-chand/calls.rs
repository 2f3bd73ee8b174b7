//! `vm-chand calls`: an incoming call through the real DAHDI modules. This program is sipd
//! (the fake of dahdi_mwi_tests::fakesipd on chand's `callctl.sock`), the far end's RTP (a
//! 1 kHz stream to chand's RTP port, counting chand's packets) and the phone on channel 26:
//! `Incoming` for port 2 → chand rings 2 (`MediaReady`, `Alerting`) → the phone goes off-hook
//! on 26 → `Answered` → `Connected` → the phone measures the 1 kHz in the audio of 26
//! (Goertzel) → on-hook → `Hangup` cause 16. DAHDI's MG2 echo canceller on channel 2
//! (tests/vm/system.conf) runs during the call and not after it (`[[fxs]] echo_cancel`).

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use callctl::wire::Message;
use callctl::{CallId, Cause, Privacy, Text};
use dahdi_mwi_tests::fakesipd::{media, rtp_tone, FakeSipd};
use dahdi_mwi_tests::tone::Recording;
use dahdi_mwi_tests::vmcheck::{
    deep_buffers, drain_events, Context, Outcome, Report, BLOCK, PHONE,
};
use driver_ffi::{Channel, Flush, Hook, IoMode, ReadOutcome, Readiness};
use fxs::Law;

use crate::common::{stop, Install};
use crate::journal::{journal_entry, Journald};

/// The far end's tone, Hz.
const TONE: f64 = 1000.0;
/// DAHDI reports ONHOOK about 1250 ms after the far end hangs up (the hook-flash window).
const ONHOOK_WAIT: Duration = Duration::from_secs(4);

/// Read `ms` of audio (and the events) from `ch`, DAHDI channel `no`.
pub fn listen(ch: &Channel, no: i32, ms: usize) -> Result<(Recording, Vec<String>), String> {
    let mut rec = Recording::new(Law::Mulaw);
    let mut events = Vec::new();
    let mut buf = [0u8; BLOCK];
    let deadline = Instant::now() + Duration::from_millis(ms as u64 + 2000);
    while rec.ms() < ms {
        if Instant::now() > deadline {
            return Err(format!("channel {no}: {} ms of audio of {ms}", rec.ms()));
        }
        let ready = ch
            .poll(
                Readiness::READABLE | Readiness::EVENT,
                Some(Duration::from_millis(200)),
            )
            .ctx(&format!("poll {no}"))?;
        if ready.is_empty() {
            continue;
        }
        match ch.read(&mut buf).ctx(&format!("read {no}"))? {
            ReadOutcome::Data(n) => rec.push_block(&buf[..n]),
            ReadOutcome::Event(ev) => events.push(format!("{ev:?}")),
            ReadOutcome::WouldBlock => {}
        }
    }
    Ok((rec, events))
}

/// Events seen on `ch` within `d` (audio dropped).
fn events_for(ch: &Channel, d: Duration) -> Result<Vec<String>, String> {
    let mut events = Vec::new();
    let mut buf = [0u8; BLOCK];
    let end = Instant::now() + d;
    while Instant::now() < end {
        let ready = ch
            .poll(
                Readiness::EVENT | Readiness::READABLE,
                Some(Duration::from_millis(100)),
            )
            .ctx("poll 26")?;
        if ready.is_empty() {
            continue;
        }
        if let ReadOutcome::Event(ev) = ch.read(&mut buf).ctx("read 26")? {
            events.push(format!("{ev:?}"));
        }
    }
    Ok(events)
}

/// The echo canceller of channel `no` of span 1 as DAHDI shows it in /proc/dahdi/1
/// (`EC: MG2 - ACTIVE` while a canceller instance runs, `INACTIVE` when none does; dahdi-base.c's
/// span file).
pub fn echo_canceller(no: u32) -> Result<String, String> {
    let text =
        std::fs::read_to_string("/proc/dahdi/1").map_err(|e| format!("/proc/dahdi/1: {e}"))?;
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(no.to_string().as_str()))
        .ok_or_else(|| format!("no channel {no} in /proc/dahdi/1:\n{text}"))?;
    let ec = line
        .find("(EC:")
        .map(|i| line[i..].trim_end().to_owned())
        .ok_or_else(|| format!("channel {no} has no echo canceller: {line:?}"))?;
    Ok(ec)
}

fn call(inst: &Install) -> Outcome {
    let phone = Channel::open(PHONE, IoMode::Blocking).ctx("open 26")?;
    deep_buffers(&phone).map_err(|e| format!("channel 26 buffers: {e}"))?;
    drain_events(&phone)?;
    let mut sipd = FakeSipd::connect(&inst.dir.join("run/callctl.sock"));
    sipd.wait_up();
    let call = CallId(CallId::SIPD_BIT | 1);
    sipd.send(Message::Incoming {
        call,
        port: 2,
        number: Text::try_from("5551234").map_err(|e| e.to_string())?,
        name: Text::try_from("ALICE").map_err(|e| e.to_string())?,
        privacy: Privacy::Allowed,
    });
    let local = sipd.expect("MediaReady", |m| match m {
        Message::MediaReady { local_rtp, .. } => Some(local_rtp.port()),
        _ => None,
    });
    sipd.expect("Alerting", |m| {
        matches!(m, Message::Alerting { .. }).then_some(())
    });
    let ring_events = events_for(&phone, Duration::from_millis(2500))?;
    phone.flush(Flush::READ).ctx("DAHDI_FLUSH on 26")?;
    phone.hook(Hook::OffHook).ctx("DAHDI_HOOK(OFFHOOK) on 26")?;
    let answered = Instant::now();
    sipd.expect("Answered", |m| {
        matches!(m, Message::Answered { call: c } if *c == call).then_some(())
    });
    let answer_ms = answered.elapsed().as_millis();

    let far = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    far.set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| e.to_string())?;
    let to_chand = SocketAddr::from(([127, 0, 0, 1], local));
    sipd.send(Message::Connected {
        call,
        media: media(far.local_addr().map_err(|e| e.to_string())?),
    });
    let stop_far = AtomicBool::new(false);
    let from_chand = AtomicUsize::new(0);
    let heard = std::thread::scope(|s| {
        s.spawn(|| {
            let mut buf = [0u8; 2048];
            let mut seq = 0u16;
            let mut next = Instant::now();
            while !stop_far.load(Ordering::Relaxed) {
                let _ = far.send_to(&rtp_tone(0x26, seq, TONE), to_chand);
                seq = seq.wrapping_add(1);
                next += Duration::from_millis(20);
                while Instant::now() < next {
                    if far.recv_from(&mut buf).is_ok() {
                        from_chand.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        let _ = phone.flush(Flush::READ);
        let heard = listen(&phone, PHONE, 1000);
        stop_far.store(true, Ordering::Relaxed);
        heard
    });
    let ec_in_call = echo_canceller(2)?;
    let (rec, events) = heard?;
    let level = rec.level(TONE, 200, 1000);
    let sent = from_chand.load(Ordering::Relaxed);
    let st = inst.status()?;
    let port_call = st["fxs"][0]["call"].clone();

    phone.hook(Hook::OnHook).ctx("DAHDI_HOOK(ONHOOK) on 26")?;
    let deadline = Instant::now() + ONHOOK_WAIT;
    let cause = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match sipd.next(left) {
            Some(callctl::link::Event::Call(Message::Hangup { call: c, cause })) if c == call => {
                break cause
            }
            Some(_) => {}
            None => return Err(format!("no Hangup within {ONHOOK_WAIT:?} of on-hook")),
        }
    };
    let ec_after = echo_canceller(2)?;
    if level < -20.0
        || sent < 20
        || cause != Cause::NORMAL_CLEARING
        || !ec_in_call.contains("ACTIVE")
        || ec_in_call.contains("INACTIVE")
        || !ec_after.contains("INACTIVE")
    {
        return Err(format!(
            "far end's {TONE} Hz on 26 at {level:.1} dBm0, {sent} RTP packets from chand, \
             Hangup cause {cause}; echo canceller in the call {ec_in_call:?}, after it \
             {ec_after:?}; events {events:?}; status {port_call}"
        ));
    }
    Ok(format!(
        "ring events on 26 {ring_events:?}; Answered {answer_ms} ms after off-hook; \
         {TONE} Hz from RTP heard on 26 at {level:.1} dBm0; {sent} RTP packets from chand in \
         1.3 s; Hangup cause {cause}; /proc/dahdi/1 channel 2 in the call {ec_in_call:?}, \
         after it {ec_after:?}; status {port_call}"
    ))
}

/// The calls part: chand with a port on channel 2 and a fake sipd, logging to the guest's
/// journald as under systemd; the call's lines there carry CHANNEL and CALL_ID (issue 12
/// item 5).
pub fn calls_part(report: &mut Report, chand_bin: &Path) {
    let started = Journald::start().and_then(|journald| {
        let mut inst = Install::new("calls", Some("us"), "setup", None)?;
        inst.journal = true;
        let writer = inst.writer()?;
        let chand = inst.start(chand_bin)?;
        Ok((journald, inst, writer, chand))
    });
    let (_journald, inst, _writer, chand) = match started {
        Ok(r) => r,
        Err(e) => {
            report.record("journald and chand run (calls)", Err(e));
            return;
        }
    };
    if report.record(
        "incoming call 2 -> 26 through DAHDI, RTP audio measured on 26",
        call(&inst),
    ) {
        report.record(
            "journal: chand's call lines have CHANNEL and CALL_ID",
            journal_entry(
                "chand",
                "call 80000001: media closed",
                &[("CHANNEL", Some("2")), ("CALL_ID", Some("80000001"))],
            ),
        );
    }
    stop(report, &inst, "chand", chand);
}
