//! `vm-chand pricalls`: PRI trunk calls (issue 13) over the real B-channels of the
//! back-to-back spans. chand holds span 1 (D-channel 24, user side, `[pri.calls] timeslots =
//! "1,3-23"`: the FXS channel 2 stays out, echo canceller 128 taps) with a fake sipd on its
//! `callctl.sock`; libpri is the PBX on D-channel 48, and this program is the PBX's phones (its
//! end of each B-channel, DAHDI channel 24 + B) and the far end's RTP.
//!
//! 1. SIP → PBX: `TrunkIncoming`, libpri answers at once on the B-channel chand chose; audio
//!    both ways on its channel; sipd hangs up. Then [`TIMED_CALLS`] more without media, timed.
//! 2. PBX → SIP (a new libpri, whose SETUP follows its link's establishment): libpri's SETUP
//!    asks for B-channel 3 exclusive; `TrunkDial` → `Connected`;
//!    a 1 kHz tone written into channel 27 arrives as RTP and a 600 Hz tone sent as RTP is heard
//!    on 27 (Goertzel levels in dBm0); /proc/dahdi/1 shows channel 3's MG2 running. During the
//!    call a lamp written into the table reaches libpri as MWIActivate on the same D-channel.
//!    sipd hangs up: libpri sees DISCONNECT cause 16.
//! 3. PBX → SIP timed: a third libpri places [`TIMED_CALLS`] calls one after another, each
//!    connected by the fake sipd at once and hung up by libpri on CONNECT.
//! 4. SIP → PBX during a lamp resync (issue 13 item 5 on a real 64 kbit/s D-channel): see
//!    [`resync_setups`].
//!
//! chand logs to the guest's journald as under systemd: the SIP → PBX call's lines there carry
//! SPAN, CHANNEL and CALL_ID (item 6).
//!
//! Before them, chand with `timeslots = "1-23"` (taking the fxoks channel 2) must refuse to
//! start, naming channel 2's signalling.
//!
//! Setup times: SETUP → CONNECT as libpri sees them (PBX → SIP, the fake sipd answering at
//! once), `TrunkIncoming` → `Answered` as the fake sipd sees them (SIP → PBX).

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use callctl::link::Event;
use callctl::wire::Message;
use callctl::{CallId, Cause, Privacy, Text};
use dahdi_mwi_tests::fakesipd::{media, rtp_tone, FakeSipd};
use dahdi_mwi_tests::tone::Recording;
use dahdi_mwi_tests::vmcheck::{deep_buffers, drain_events, ms, Context, Outcome, Report, BLOCK};
use driver_ffi::{Channel, Flush, IoMode, WriteOutcome};
use fxs::Law;
use mwi_core::MwiState;
use mwi_table::Writer;

use crate::calls::{echo_canceller, listen};
use crate::common::{pri_span, stop, Install, Source, PRI_NUMBER};
use crate::journal::{journal_entry, Journald};
use crate::pri::{pbx_up, peer, Pbx};
use crate::resync::RESYNC_MAX;

/// chand's span 1 as a trunk: every B-channel but the FXS port's timeslot 2.
const CALLS: &str = "[pri.calls]\ntimeslots = \"1,3-23\"\necho_cancel = 128\n";
/// The B-channel libpri's SETUP asks for (exclusive).
const PBX_B: u32 = 3;
/// Span 2's first channel: the PBX's end of B-channel B is DAHDI channel `FAR_BASE + B`.
const FAR_BASE: u32 = 24;
/// The tone the PBX's phone sends and the one the SIP side sends, Hz.
const TONE_PBX: f64 = 1000.0;
const TONE_SIP: f64 = 600.0;
/// How long each direction is recorded, ms, and where the level is measured from.
const AUDIO_MS: usize = 1200;
const SETTLE_MS: usize = 300;
const WAIT: Duration = Duration::from_secs(10);

/// `key=value` of a libpri call line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or("")
}

/// When libpri printed the first call line starting with `prefix` among its lines from the
/// `since`th on, and the line, waiting for it up to [`WAIT`].
fn call_line(pbx: &mut Pbx, since: usize, prefix: &str) -> Result<(Instant, String), String> {
    let find = |p: &Pbx| {
        p.log
            .iter()
            .skip(since)
            .find(|(_, l)| {
                l.strip_prefix("CALL ")
                    .is_some_and(|c| c.starts_with(prefix))
            })
            .cloned()
    };
    pbx.wait(WAIT, None, |p| find(p).is_some());
    find(pbx).ok_or_else(|| format!("libpri: no CALL {prefix}:\n{}", pbx.tail(30)))
}

/// chand's last 60 log lines but the lamp confirmations of a resync, which would hide the rest:
/// from the guest's journal when it logs there.
fn chand_tail(inst: &Install) -> String {
    let lines = if inst.journal {
        std::process::Command::new("journalctl")
            .args([
                "--no-pager",
                "-o",
                "cat",
                "-n",
                "3000",
                "SYSLOG_IDENTIFIER=chand",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_else(|e| format!("journalctl: {e}"))
    } else {
        std::fs::read_to_string(inst.dir.join("chand.log")).unwrap_or_default()
    };
    let tail: Vec<&str> = lines
        .lines()
        .rev()
        .filter(|l| !l.contains("confirmed lamp"))
        .take(60)
        .collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// The next message from chand that `pick` takes, within [`WAIT`]; the error names `what` and
/// shows the messages passed over, libpri's and chand's last lines.
fn expect<T>(
    sipd: &mut FakeSipd,
    pbx: &mut Pbx,
    inst: &Install,
    what: &str,
    mut pick: impl FnMut(&Message) -> Option<T>,
) -> Result<T, String> {
    let end = Instant::now() + WAIT;
    let mut passed = Vec::new();
    loop {
        match sipd.next(end.saturating_duration_since(Instant::now())) {
            Some(Event::Call(m)) => {
                if let Some(t) = pick(&m) {
                    return Ok(t);
                }
                passed.push(m.to_string());
            }
            Some(_) => {}
            None => {
                pbx.wait(Duration::from_millis(100), None, |_| false);
                return Err(format!(
                    "no {what} from chand within {WAIT:?}; passed over: {passed:?}; libpri:\n{}\n\
                     chand:\n{}",
                    pbx.tail(30),
                    chand_tail(inst)
                ));
            }
        }
    }
}

/// The PBX's end of B-channel `b`: its DAHDI channel on span 2, in audio mode, mu-law, deep
/// buffers, nothing queued.
fn pbx_phone(b: u32) -> Result<(Channel, i32), String> {
    let no = i32::try_from(FAR_BASE + b).map_err(|e| e.to_string())?;
    let ch = Channel::open(no, IoMode::Blocking).ctx(&format!("open {no}"))?;
    ch.audio_mode(true).ctx("DAHDI_AUDIOMODE")?;
    ch.set_law(Some(Law::Mulaw)).ctx("DAHDI_SETLAW")?;
    deep_buffers(&ch).map_err(|e| format!("channel {no} buffers: {e}"))?;
    drain_events(&ch)?;
    Ok((ch, no))
}

/// Levels (dBm0) of a [`TONE_PBX`] written into `ch` as chand's RTP carries it to `far`, and of
/// a [`TONE_SIP`] sent as RTP from `far` to chand's `local` as `ch` hears it; also the RTP
/// packets chand sent; as text, per direction ([`Blocks`]).
fn audio_both_ways(ch: &Channel, no: i32, far: &UdpSocket, local: SocketAddr) -> Outcome {
    far.set_read_timeout(Some(Duration::from_millis(5)))
        .map_err(|e| e.to_string())?;
    let stop = AtomicBool::new(false);
    let (to_sip, to_pbx) = std::thread::scope(|s| {
        let talker = s.spawn(|| -> Result<(), String> {
            let mut seq = 0u16;
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                match ch.write(&rtp_tone(0, seq, TONE_PBX)[12..]).ctx("write")? {
                    WriteOutcome::Written(_) => {}
                    other => return Err(format!("write on {no}: {other:?}")),
                }
                seq = seq.wrapping_add(1);
                next += Duration::from_millis(20);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            Ok(())
        });
        let rtp = s.spawn(|| {
            let mut rec = Recording::new(Law::Mulaw);
            let mut buf = [0u8; 2048];
            let mut seq = 0u16;
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    let _ = far.send_to(&rtp_tone(0x600, seq, TONE_SIP), local);
                    seq = seq.wrapping_add(1);
                    next += Duration::from_millis(20);
                }
                if let Ok((n, _)) = far.recv_from(&mut buf) {
                    if n == 12 + BLOCK && buf[1] & 0x7f == 0 {
                        rec.push_block(&buf[12..n]);
                    }
                }
            }
            rec
        });
        std::thread::sleep(Duration::from_millis(SETTLE_MS as u64));
        let _ = ch.flush(Flush::READ);
        let heard = listen(ch, no, AUDIO_MS);
        // The RTP side gets as long again to receive what was sent last.
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let talked = talker
            .join()
            .map_err(|_| "talker thread panicked".to_owned())
            .and_then(|r| r);
        let rtp = rtp.join().map_err(|_| "RTP thread panicked".to_owned());
        (rtp, talked.and(heard))
    });
    let to_sip = to_sip?;
    let (to_pbx, events) = to_pbx?;
    let packets = to_sip.ms() / 20;
    let end = to_sip.ms().min(SETTLE_MS + AUDIO_MS);
    let sip = Blocks::of(&to_sip, TONE_PBX, SETTLE_MS, end);
    let pbx = Blocks::of(&to_pbx, TONE_SIP, 0, AUDIO_MS);
    let text = format!(
        "{TONE_PBX} Hz from {no} in chand's RTP: {sip} ({packets} packets), {TONE_SIP} Hz from \
         the RTP on {no}: {pbx}"
    );
    if packets < 40 || !sip.heard() || !pbx.heard() {
        return Err(format!("{text}; events on {no} {events:?}"));
    }
    Ok(text)
}

/// A tone's level in each 20 ms block of a recording: a block below -20 dBm0 was cut by an
/// underrun somewhere on the way. Block by block, because a gap shifts the tone's phase,
/// which lowers a level taken over the whole recording though every block carries the tone.
struct Blocks {
    median: f64,
    cut: usize,
    total: usize,
}

impl Blocks {
    fn of(rec: &Recording, hz: f64, from_ms: usize, to_ms: usize) -> Self {
        let mut levels: Vec<f64> = (from_ms..to_ms.saturating_sub(19))
            .step_by(20)
            .map(|t| rec.level(hz, t, t + 20))
            .collect();
        levels.sort_by(f64::total_cmp);
        Blocks {
            median: levels
                .get(levels.len() / 2)
                .copied()
                .unwrap_or(f64::NEG_INFINITY),
            cut: levels.iter().filter(|&&l| l < -20.0).count(),
            total: levels.len(),
        }
    }

    /// The tone came through: most blocks carry it, at most a quarter are cut.
    fn heard(&self) -> bool {
        self.median > -20.0 && self.total > 0 && self.cut * 4 <= self.total
    }
}

impl std::fmt::Display for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "median {:.1} dBm0 per 20 ms block, {} of {} blocks cut",
            self.median, self.cut, self.total
        )
    }
}

fn far_end() -> Result<UdpSocket, String> {
    UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("far end's RTP socket: {e}"))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Channel `b`'s echo canceller as /proc/dahdi/1 shows it, which must be running.
fn ec_running(b: u32) -> Result<String, String> {
    let ec = echo_canceller(b)?;
    if !ec.contains("ACTIVE") || ec.contains("INACTIVE") {
        return Err(format!("channel {b}'s echo canceller in the call: {ec}"));
    }
    Ok(ec)
}

/// sipd's `Hangup` with cause 16: libpri sees DISCONNECT with it and its RELEASE is
/// acknowledged, and the B-channel's echo canceller goes (`/proc/dahdi/1`).
fn sip_hangs_up(sipd: &mut FakeSipd, pbx: &mut Pbx, call: CallId, b: u32) -> Outcome {
    let since = pbx.log.len();
    sipd.send(Message::Hangup {
        call,
        cause: Cause::NORMAL_CLEARING,
    });
    let (_, line) = call_line(pbx, since, "HANGUP_REQ")?;
    if field(&line, "cause") != "16" {
        return Err(format!("libpri: {line}"));
    }
    call_line(pbx, since, "HANGUP_ACK")?;
    let ec = echo_canceller(b)?;
    if !ec.contains("INACTIVE") {
        return Err(format!("channel {b}'s echo canceller after the call: {ec}"));
    }
    Ok(format!("libpri {line}; channel {b} {ec}"))
}

/// The PBX → SIP call (see the module documentation); its lines and figures.
fn pbx_to_sip(inst: &Install, sipd: &mut FakeSipd, pbx: &mut Pbx, writer: &mut Writer) -> Outcome {
    let call = expect(sipd, pbx, inst, "TrunkDial", |m| match m {
        Message::TrunkDial { call, .. } => Some(*call),
        _ => None,
    })?;
    let local = expect(sipd, pbx, inst, "MediaReady", |m| match m {
        Message::MediaReady { local_rtp, .. } => Some(local_rtp.port()),
        _ => None,
    })?;
    let far = far_end()?;
    sipd.send(Message::Connected {
        call,
        media: media(far.local_addr().map_err(|e| e.to_string())?),
    });
    let (setup_at, _) = call_line(pbx, 0, "SENT SETUP")?;
    let (answer_at, answer) = call_line(pbx, 0, "ANSWER")?;
    let b: u32 = field(&answer, "channel").parse().unwrap_or(0);
    if b != PBX_B {
        return Err(format!(
            "libpri asked for B-channel {PBX_B} exclusive: {answer}"
        ));
    }
    let setup = answer_at.saturating_duration_since(setup_at);
    let (ch, no) = pbx_phone(b)?;
    let audio = audio_both_ways(&ch, no, &far, loopback(local))?;
    let ec = ec_running(b)?;
    let st = inst.status()?;
    let t = Instant::now();
    Source::publish(writer, PRI_NUMBER, MwiState::voice(true, 3, 1))?;
    if !pbx.wait(WAIT, None, |p| !p.decoded.is_empty()) {
        return Err(format!("no MWI during the call:\n{}", pbx.tail(30)));
    }
    let mwi_ms = ms(t.elapsed());
    let d = &pbx.decoded[0];
    if d.op() != "activate" || d.get("servedUserNr.unknownPartyNumber") != Some(PRI_NUMBER) {
        return Err(format!("want MWIActivate for {PRI_NUMBER}: {:?}", d.fields));
    }
    let cleared = sip_hangs_up(sipd, pbx, call, b)?;
    Ok(format!(
        "SETUP -> CONNECT {} (libpri); B-channel {b} (PBX end {no}): {audio}; channel {b} {ec}; MWIActivate {PRI_NUMBER} decoded by \
         libpri {mwi_ms} after the table write, during the call; {cleared}; span {}",
        ms(setup),
        pri_span(&st)
            .and_then(|s| s["bchannels"].as_array()?.iter().find(|x| x["b"] == b))
            .cloned()
            .unwrap_or_default()
    ))
}

/// The SIP → PBX call (see the module documentation); its lines and figures.
fn sip_to_pbx(inst: &Install, sipd: &mut FakeSipd, pbx: &mut Pbx) -> Outcome {
    let call = CallId(CallId::SIPD_BIT | 2);
    let text = |s: &str| Text::try_from(s).map_err(|e| e.to_string());
    let since = pbx.log.len();
    let t0 = Instant::now();
    sipd.send(Message::TrunkIncoming {
        call,
        span: 1,
        called: "2101".try_into().map_err(|e| format!("{e:?}"))?,
        number: text("5551234")?,
        name: text("Bob")?,
        privacy: Privacy::Allowed,
    });
    let local = expect(sipd, pbx, inst, "MediaReady", |m| match m {
        Message::MediaReady { local_rtp, .. } => Some(local_rtp.port()),
        _ => None,
    })?;
    expect(sipd, pbx, inst, "Answered", |m| {
        matches!(m, Message::Answered { call: c } if *c == call).then_some(())
    })?;
    let setup = t0.elapsed();
    let (_, ring) = call_line(pbx, since, "RING")?;
    let b: u32 = field(&ring, "channel")
        .parse()
        .map_err(|_| format!("libpri: {ring}"))?;
    let far = far_end()?;
    sipd.send(Message::Connected {
        call,
        media: media(far.local_addr().map_err(|e| e.to_string())?),
    });
    let (ch, no) = pbx_phone(b)?;
    let audio = audio_both_ways(&ch, no, &far, loopback(local))?;
    let ec = ec_running(b)?;
    let cleared = sip_hangs_up(sipd, pbx, call, b)?;
    let b_text = b.to_string();
    let call_id = call.to_string();
    let journal = journal_entry(
        "chand",
        &format!("span 1 B-channel {b}: call {call_id}: media closed"),
        &[
            ("SPAN", Some("1")),
            ("CHANNEL", Some(&b_text)),
            ("CALL_ID", Some(&call_id)),
        ],
    )?;
    Ok(format!(
        "TrunkIncoming -> Answered {} (fake sipd, libpri answering at once); libpri {ring}; \
         {audio}; channel {b} {ec}; {cleared}; journal: {journal}",
        ms(setup)
    ))
}

/// Calls timed one after another, per direction, for the setup figures.
const TIMED_CALLS: u32 = 100;

/// p50, p99 and the largest of setup times, as text.
fn percentiles(what: &str, mut took: Vec<Duration>) -> Outcome {
    took.sort();
    let at = |q: usize| took[(took.len() * q).div_ceil(100).saturating_sub(1)];
    if took.is_empty() {
        return Err(format!("{what}: no call timed"));
    }
    Ok(format!(
        "{what} over {} calls: p50 {}, p99 {}, max {}",
        took.len(),
        ms(at(50)),
        ms(at(99)),
        ms(took[took.len() - 1])
    ))
}

/// SIP → PBX calls without media, one after another, with the call ids `ids`: `TrunkIncoming`
/// → `Answered` as the fake sipd sees it (libpri answering at once), each cleared by sipd
/// before the next.
fn incoming_setups(
    inst: &Install,
    sipd: &mut FakeSipd,
    pbx: &mut Pbx,
    ids: std::ops::Range<u32>,
) -> Result<Vec<Duration>, String> {
    let mut took = Vec::new();
    for k in ids {
        let call = CallId(CallId::SIPD_BIT | k);
        let since = pbx.log.len();
        let t0 = Instant::now();
        trunk_incoming(sipd, call)?;
        expect(sipd, pbx, inst, "Answered", |m| {
            matches!(m, Message::Answered { call: c } if *c == call).then_some(())
        })?;
        took.push(t0.elapsed());
        sipd.send(Message::Hangup {
            call,
            cause: Cause::NORMAL_CLEARING,
        });
        call_line(pbx, since, "HANGUP_ACK")?;
    }
    Ok(took)
}

/// sipd's `TrunkIncoming` for `call` to 2101 on span 1, from 5551234 without a name.
fn trunk_incoming(sipd: &mut FakeSipd, call: CallId) -> Result<(), String> {
    sipd.send(Message::TrunkIncoming {
        call,
        span: 1,
        called: "2101".try_into().map_err(|e| format!("{e:?}"))?,
        number: Text::try_from("5551234").map_err(|e| e.to_string())?,
        name: Text::default(),
        privacy: Privacy::Allowed,
    });
    Ok(())
}

/// [`TIMED_CALLS`] SIP → PBX calls (see [`incoming_setups`]).
fn sip_setups(inst: &Install, sipd: &mut FakeSipd, pbx: &mut Pbx) -> Outcome {
    let took = incoming_setups(inst, sipd, pbx, 16..16 + TIMED_CALLS)?;
    percentiles("TrunkIncoming -> Answered", took)
}

/// Calls held up while setups are timed against a lamp resync (issue 13: 23 calls on a T1;
/// this span has 22 B-channels and the timed calls take one).
const HELD_CALLS: u32 = 20;
/// Calls timed during the resync, and again after it.
const RESYNC_TIMED: u32 = 50;

/// SIP → PBX setup during a lamp resync over the real 64 kbit/s D-channel: [`RESYNC_MAX`]
/// lamps are written while no PBX is up, so a new libpri's link-up starts their resync; with
/// [`HELD_CALLS`] calls up, [`RESYNC_TIMED`] setups are timed while it runs (it must still be
/// running after the last), then as many once every lamp has arrived; p99 during / p99 after.
fn resync_setups(
    report: &mut Report,
    inst: &Install,
    sipd: &mut FakeSipd,
    writer: &mut Writer,
    peer: &Path,
) -> Outcome {
    for i in 0..RESYNC_MAX {
        Source::publish(writer, &(2000 + i).to_string(), MwiState::voice(true, 1, 0))?;
    }
    let mut pbx = pbx_up(
        report,
        inst,
        peer,
        "pricalls, answering during a resync",
        &["--answer"],
    )
    .ok_or("no link for the resync")?;
    for k in 0..HELD_CALLS {
        let call = CallId(CallId::SIPD_BIT | (200 + k));
        trunk_incoming(sipd, call)?;
        expect(sipd, &mut pbx, inst, "Answered", |m| {
            matches!(m, Message::Answered { call: c } if *c == call).then_some(())
        })?;
    }
    let during = incoming_setups(inst, sipd, &mut pbx, 300..300 + RESYNC_TIMED)?;
    let sent = pbx.decoded.len();
    if sent >= RESYNC_MAX {
        return Err(format!(
            "the resync ended before the last timed call: {sent} lamps"
        ));
    }
    let t = Instant::now();
    // The fake sipd answers chand's pings meanwhile, or chand would take it for gone.
    while t.elapsed() < Duration::from_secs(90)
        && !pbx.wait(Duration::from_millis(200), None, |p| {
            p.decoded.len() >= RESYNC_MAX
        })
    {
        sipd.next(Duration::from_millis(10));
    }
    if pbx.decoded.len() < RESYNC_MAX {
        return Err(format!(
            "libpri decoded {} of {RESYNC_MAX} lamps:\n{}",
            pbx.decoded.len(),
            pbx.tail(20)
        ));
    }
    let rest = t.elapsed();
    let after = incoming_setups(inst, sipd, &mut pbx, 400..400 + RESYNC_TIMED)?;
    let p99 = |mut v: Vec<Duration>| {
        v.sort();
        v[(v.len() * 99).div_ceil(100) - 1]
    };
    let ratio = p99(during.clone()).as_secs_f64() / p99(after.clone()).as_secs_f64();
    Ok(format!(
        "{HELD_CALLS} calls up; {}; {}; p99 ratio {ratio:.2} (libpri had {sent} of \
         {RESYNC_MAX} lamps when the last timed call was answered, the rest took {})",
        percentiles("during the resync", during)?,
        percentiles("after it", after)?,
        ms(rest)
    ))
}

/// [`TIMED_CALLS`] PBX → SIP calls without media from one libpri (`--calls`), each SETUP
/// after the call before it is cleared: the fake sipd connects each `TrunkDial` at once and
/// libpri hangs up on CONNECT; SETUP → CONNECT as libpri sees them.
fn pbx_setups(inst: &Install, sipd: &mut FakeSipd, pbx: &mut Pbx) -> Outcome {
    let far = far_end()?;
    let far = far.local_addr().map_err(|e| e.to_string())?;
    for _ in 0..TIMED_CALLS {
        let call = expect(sipd, pbx, inst, "TrunkDial", |m| match m {
            Message::TrunkDial { call, .. } => Some(*call),
            _ => None,
        })?;
        expect(sipd, pbx, inst, "MediaReady", |m| {
            matches!(m, Message::MediaReady { call: c, .. } if *c == call).then_some(())
        })?;
        sipd.send(Message::Connected {
            call,
            media: media(far),
        });
        expect(sipd, pbx, inst, "Hangup", |m| {
            matches!(m, Message::Hangup { call: c, .. } if *c == call).then_some(())
        })?;
    }
    let answers = |p: &Pbx| {
        p.log
            .iter()
            .filter(|(_, l)| l.starts_with("CALL ANSWER"))
            .count()
    };
    pbx.wait(WAIT, None, |p| answers(p) >= TIMED_CALLS as usize);
    let mut took = Vec::new();
    let mut setup = None;
    for (at, line) in &pbx.log {
        match line.strip_prefix("CALL ") {
            Some("SENT SETUP") => setup = Some(*at),
            Some(l) if l.starts_with("ANSWER") => {
                took.extend(setup.take().map(|s| at.saturating_duration_since(s)));
            }
            _ => {}
        }
    }
    if took.len() != TIMED_CALLS as usize {
        return Err(format!(
            "libpri saw {} of {TIMED_CALLS} calls answered:\n{}",
            took.len(),
            pbx.tail(30)
        ));
    }
    percentiles("SETUP -> CONNECT (libpri)", took)
}

/// chand refuses a span whose timeslots take a channel that is not a clear channel (2, the
/// FXS port's `fxoks`), naming it, rather than failing on DAHDI_AUDIOMODE's bare EINVAL.
fn refuses_fxs_timeslot(chand_bin: &Path) -> Outcome {
    let calls = "[pri.calls]\ntimeslots = \"1-23\"\n";
    let inst = Install::with_calls("pricalls-fxoks", None, "setup", None, calls)?;
    match inst.start(chand_bin) {
        Ok(_) => Err("chand started with the fxoks channel 2 as a B-channel".to_owned()),
        Err(e) => {
            let line = e
                .lines()
                .find(|l| l.contains("DAHDI channel 2:"))
                .ok_or_else(|| format!("no line naming channel 2: {e}"))?;
            if line.contains("CLEAR") {
                Ok(line.trim().to_owned())
            } else {
                Err(format!("want the signalling named: {line}"))
            }
        }
    }
}

/// The pricalls part: chand as the trunk; libpri answers a call from SIP, then a second libpri
/// places one to SIP.
pub fn pricalls_part(report: &mut Report, chand_bin: &Path) {
    report.record(
        "chand refuses timeslots with a channel that is not clear",
        refuses_fxs_timeslot(chand_bin),
    );
    let Some(peer) = peer(report) else {
        return;
    };
    let started = Journald::start().and_then(|journald| {
        let mut inst = Install::with_calls("pricalls", None, "setup", None, CALLS)?;
        inst.journal = true;
        let writer = inst.writer()?;
        let chand = inst.start(chand_bin)?;
        Ok((journald, inst, writer, chand))
    });
    let (_journald, inst, mut writer, chand) = match started {
        Ok(r) => r,
        Err(e) => {
            report.record("chand run (pricalls)", Err(e));
            return;
        }
    };
    let mut sipd = FakeSipd::connect(&inst.dir.join("run/callctl.sock"));
    sipd.wait_up();
    if let Some(mut pbx) = pbx_up(report, &inst, &peer, "pricalls, answering", &["--answer"]) {
        if report.record(
            "PRI call SIP -> PBX, audio both ways",
            sip_to_pbx(&inst, &mut sipd, &mut pbx),
        ) {
            report.record(
                "PRI call setup SIP -> PBX, timed",
                sip_setups(&inst, &mut sipd, &mut pbx),
            );
        }
    }
    // Pings answered, so that chand takes the fake sipd for up when the SETUP comes.
    while sipd.next(Duration::from_millis(100)).is_some() {}
    // A new libpri places its call once its link is up: chand's side is established by then
    // (Q.921 §5.5.1.2: a SETUP sent while both sides' SABMEs crossed would be discarded).
    let b = PBX_B.to_string();
    let args = ["--call", "0789", "--channel", &b, "--exclusive"];
    if let Some(mut pbx) = pbx_up(report, &inst, &peer, "pricalls, calling", &args) {
        let name = format!(
            "PRI call PBX -> SIP on B-channel {PBX_B} (PBX end {}), audio both ways, MWI during \
             the call",
            FAR_BASE + PBX_B
        );
        report.record(&name, pbx_to_sip(&inst, &mut sipd, &mut pbx, &mut writer));
    }
    let calls = TIMED_CALLS.to_string();
    let args = [
        "--call",
        "0789",
        "--channel",
        &b,
        "--exclusive",
        "--calls",
        &calls,
        "--hangup-after",
        "0",
    ];
    if let Some(mut pbx) = pbx_up(report, &inst, &peer, "pricalls, timed", &args) {
        report.record(
            "PRI call setup PBX -> SIP, timed",
            pbx_setups(&inst, &mut sipd, &mut pbx),
        );
    }
    let outcome = resync_setups(report, &inst, &mut sipd, &mut writer, &peer);
    report.record(
        &format!("PRI call setup SIP -> PBX during a {RESYNC_MAX}-lamp resync, timed"),
        outcome,
    );
    stop(report, &inst, "chand", chand);
}
