//! The real chand daemon on the sim back-end, PRI side, with libpri 1.6 as the PBX on each
//! D-channel socket: MWI state written into the shared table (the test stands in for sipd)
//! reaches libpri as QSIG MWIActivate / MWIDeactivate with the right servedUserNr, basicService
//! and nbOfMessages, with chand on the user side and on the network side, in both transports;
//! every frame chand sent decodes cleanly in tshark. Then restart semantics: chand killed and
//! restarted rebuilds from the table; 50 numbers flipping while the PBX is away reach it as
//! exactly their final states. And the manual override (`chand mwi`) and `chand status --json`.

use std::collections::BTreeMap;
use std::time::Duration;

use chand::backend::sim::dchan_socket_path;
use chand::backend::sim::peer::Phone;
use chand::status::{ChandStatus, LampStatus, SpanStatus};
use dahdi_mwi_tests::env::{Chand, Env, NO_SIP_SERVER};
use dahdi_mwi_tests::libpri::{Decoded, LibpriPbx, LibpriSide};
use dahdi_mwi_tests::pbx::{QsigPbx, Via};
use dahdi_mwi_tests::tone::record;
use dahdi_mwi_tests::tshark;
use isdn::q921::Side;
use mwi_core::MwiState;
use mwi_table::Writer;

const WAIT: Duration = Duration::from_secs(10);

/// A `[[pri]]` of the test config.
struct Span {
    span: u32,
    dchannel: u32,
    side: &'static str,
    transport: &'static str,
    prefix: &'static str,
}

impl Span {
    fn libpri_side(&self) -> LibpriSide {
        match self.side {
            "user" => LibpriSide::Network,
            _ => LibpriSide::Cpe,
        }
    }

    fn number(&self, n: u32) -> String {
        format!("{}{n:02}", self.prefix)
    }
}

const SPANS: [Span; 4] = [
    Span {
        span: 1,
        dchannel: 24,
        side: "user",
        transport: "setup",
        prefix: "21",
    },
    Span {
        span: 2,
        dchannel: 48,
        side: "user",
        transport: "facility",
        prefix: "22",
    },
    Span {
        span: 3,
        dchannel: 72,
        side: "network",
        transport: "setup",
        prefix: "23",
    },
    Span {
        span: 4,
        dchannel: 96,
        side: "network",
        transport: "facility",
        prefix: "24",
    },
];

fn sections(spans: &[Span]) -> String {
    let mut s = NO_SIP_SERVER.to_owned();
    s += "[[fxs]]\nchannel = 1\nnumber = \"8001\"\ncptone = \"us\"\n";
    // A phone without MWI whose number span 1's pattern (21..) also matches: it keeps the
    // number, which is then served nowhere (mwi_core::route).
    s += "[[fxs]]\nchannel = 2\nnumber = \"2199\"\nmwi = false\n";
    for p in spans {
        s += &format!(
            "[[pri]]\nspan = {}\ndchannel = {}\nside = \"{}\"\nmwi_transport = \"{}\"\n\
             numbers = [\"{}..\"]\n",
            p.span, p.dchannel, p.side, p.transport, p.prefix
        );
    }
    s
}

/// chand with its config, its table writer and the log for messages.
struct Rig {
    env: Env,
    cfg: dahdi_mwi_tests::env::ConfigFile,
    writer: Writer,
    chand: Chand,
}

impl Rig {
    fn new(spans: &[Span]) -> Self {
        let env = Env::new();
        let cfg = env.write_config(&sections(spans));
        let writer = cfg.writer();
        let chand = Chand::start(&env, &cfg);
        Self {
            env,
            cfg,
            writer,
            chand,
        }
    }

    fn libpri(&mut self, span: &Span) -> LibpriPbx {
        let mut pbx = LibpriPbx::spawn(
            &dchan_socket_path(&self.env.sim_dir, span.dchannel),
            span.libpri_side(),
        );
        let up = pbx.wait(WAIT, |p| p.dchan_up);
        assert!(
            up,
            "span {}: libpri never saw DCHAN_UP; libpri:\n{}\nchand:\n{}",
            span.span,
            pbx.tail(40),
            self.chand.daemon.log()
        );
        let n = span.span;
        self.chand
            .wait_status(&format!("span {n} link up"), WAIT, |st| pri(st, n).link_up);
        pbx
    }

    fn publish(&mut self, number: &str, state: MwiState) {
        self.writer.publish(number, state).unwrap();
    }

    /// Wait until span `n`'s queue is empty and nothing is in flight.
    fn wait_settled(&mut self, n: u32) {
        self.chand
            .wait_status(&format!("span {n} settled"), WAIT * 3, |st| {
                let p = pri(st, n);
                p.link_up && p.queue_depth == 0 && p.in_flight == 0
            });
    }
}

fn pri(st: &ChandStatus, span: u32) -> &SpanStatus {
    st.span(span)
        .unwrap_or_else(|| panic!("no span {span} in {st:#?}"))
}

fn lamp<'a>(st: &'a ChandStatus, span: u32, number: &str) -> &'a LampStatus {
    pri(st, span)
        .lamp(number)
        .unwrap_or_else(|| panic!("no lamp {number} on span {span} in {st:#?}"))
}

/// Wait until libpri has decoded `count` invokes.
#[track_caller]
fn wait_decoded(pbx: &mut LibpriPbx, count: usize, chand: &Chand) {
    let ok = pbx.wait(WAIT * 3, |p| p.decoded.len() >= count);
    assert!(
        ok,
        "libpri decoded {} of {count} invokes; libpri:\n{}\nchand:\n{}",
        pbx.decoded.len(),
        pbx.tail(60),
        chand.daemon.log()
    );
}

/// `d` is an SS-MWI `op` for `number`, speech, with `messages` as nbOfMessages (MWIDeactivate
/// carries none).
/// `chand mwi NUMBER ACTION` on the command line, which must succeed.
#[track_caller]
fn mwi_cli(chand: &Chand, number: &str, action: &str) {
    let (ok, out, err) = chand.cli(&["mwi", number, action]);
    assert!(ok, "chand mwi {number} {action}: {out}{err}");
}

/// chand's status shows FXS port `number` with `mwi` set by `source` (`manual`, `server`).
#[track_caller]
fn assert_port(chand: &Chand, number: &str, mwi: bool, source: &str) {
    let p = chand.port_status(number);
    assert_eq!((p.mwi, p.source.as_str()), (mwi, source), "{p:?}");
}

#[track_caller]
fn assert_invoke(d: &Decoded, op: &str, number: &str, messages: Option<u16>) {
    assert_eq!(d.op(), op, "{d:?}");
    assert_eq!(
        d.get("servedUserNr.unknownPartyNumber"),
        Some(number),
        "{d:?}"
    );
    assert_eq!(d.get("basicService"), Some("1"), "speech: {d:?}");
    assert_eq!(d.nb_of_messages(), messages, "{d:?}");
}

#[track_caller]
fn assert_activate(d: &Decoded, number: &str, messages: Option<u16>) {
    assert_invoke(d, "activate", number, messages);
}

#[track_caller]
fn assert_deactivate(d: &Decoded, number: &str) {
    assert_invoke(d, "deactivate", number, None);
}

/// tshark decodes every frame chand sent to `pbx` cleanly; returns how many carried QSIG.
fn assert_tshark_clean(what: &str, pbx: &LibpriPbx) -> usize {
    let v = tshark::decode(&pbx.frames_rx);
    assert_eq!(v.lapd, pbx.frames_rx.len(), "{what}: every frame is LAPD");
    assert!(
        v.flagged.is_empty(),
        "{what}: tshark flags {:#?}",
        v.flagged
    );
    v.qsig
}

#[test]
fn libpri_decodes_activate_and_deactivate_on_both_sides_and_transports() {
    let mut rig = Rig::new(&SPANS);
    let mut pbxs: Vec<LibpriPbx> = SPANS.iter().map(|s| rig.libpri(s)).collect();
    for s in &SPANS {
        rig.publish(&s.number(1), MwiState::voice(true, 3, 1));
    }
    for (s, pbx) in SPANS.iter().zip(&mut pbxs) {
        wait_decoded(pbx, 1, &rig.chand);
        assert_activate(&pbx.decoded[0], &s.number(1), Some(3));
    }
    for s in &SPANS {
        rig.publish(&s.number(1), MwiState::voice(false, 0, 4));
    }
    for (s, pbx) in SPANS.iter().zip(&mut pbxs) {
        wait_decoded(pbx, 2, &rig.chand);
        assert_deactivate(&pbx.decoded[1], &s.number(1));
        rig.wait_settled(s.span);
    }
    let st = rig.chand.status();
    for (s, pbx) in SPANS.iter().zip(&mut pbxs) {
        let l = lamp(&st, s.span, &s.number(1));
        assert_eq!(l.confirmed, Some(false), "span {}: {l:?}", s.span);
        assert!(!l.pending, "span {}: {l:?}", s.span);
        let p = pri(&st, s.span);
        assert_eq!(p.side, s.side);
        assert_eq!(p.transport, s.transport);
        pbx.pump();
        assert_eq!(pbx.decoded.len(), 2, "one invoke each: {:?}", pbx.decoded);
        let qsig = assert_tshark_clean(&format!("span {}", s.span), pbx);
        assert_eq!(qsig, 2, "span {}: both invokes decode as QSIG", s.span);
    }
}

/// The final state of number `n` after flip round `round` (never the first round's on(1)).
fn flip(round: u32, n: u32) -> MwiState {
    if (n + round) % 3 == 0 {
        MwiState::voice(false, 0, n)
    } else {
        MwiState::voice(true, round * 10 + n % 7 + 2, 0)
    }
}

/// Every number's invokes in `decoded`, by served user.
fn by_number(decoded: &[Decoded]) -> BTreeMap<String, Vec<&Decoded>> {
    let mut m: BTreeMap<String, Vec<&Decoded>> = BTreeMap::new();
    for d in decoded {
        m.entry(d.served().to_owned()).or_default().push(d);
    }
    m
}

#[test]
fn fifty_numbers_flipping_while_the_pbx_is_away_arrive_as_final_states() {
    let span = &SPANS[0];
    let mut rig = Rig::new(&SPANS[..1]);
    let mut pbx = rig.libpri(span);
    let numbers: Vec<String> = (0..50).map(|n| span.number(n)).collect();
    for n in &numbers {
        rig.publish(n, MwiState::voice(true, 1, 0));
    }
    wait_decoded(&mut pbx, 50, &rig.chand);
    rig.wait_settled(span.span);

    pbx.disconnect();
    rig.chand
        .wait_status("layer 1 down", WAIT, |st| !pri(st, 1).layer1_up);
    for round in 0..4 {
        for (i, n) in numbers.iter().enumerate() {
            rig.publish(n, flip(round, i as u32));
        }
    }
    let mut pbx = rig.libpri(span);
    wait_decoded(&mut pbx, 50, &rig.chand);
    rig.wait_settled(span.span);
    // Nothing more may come.
    pbx.wait(Duration::from_millis(500), |_| false);
    let seen = by_number(&pbx.decoded);
    assert_eq!(seen.len(), 50, "{:?}", seen.keys().collect::<Vec<_>>());
    for (i, n) in numbers.iter().enumerate() {
        let want = flip(3, i as u32);
        let got = &seen[n];
        assert_eq!(got.len(), 1, "{n}: exactly one invoke: {got:?}");
        if want.waiting {
            assert_activate(got[0], n, Some(want.new as u16));
        } else {
            assert_deactivate(got[0], n);
        }
    }
    assert_tshark_clean("resync after reconnect", &pbx);
}

#[test]
fn restarted_chand_rebuilds_from_the_table() {
    let span = &SPANS[0];
    let mut rig = Rig::new(&SPANS[..1]);
    let mut pbx = rig.libpri(span);
    rig.publish("2101", MwiState::voice(true, 2, 0));
    rig.publish("2102", MwiState::voice(true, 5, 0));
    rig.publish("2103", MwiState::voice(true, 1, 0));
    wait_decoded(&mut pbx, 3, &rig.chand);

    // chand dies; the voice-mail server's news goes on into the table meanwhile.
    rig.chand.daemon.crash();
    assert!(pbx.wait_exit(WAIT), "libpri sees the socket close");
    drop(pbx);
    rig.publish("2101", MwiState::voice(false, 0, 2));
    rig.publish("2102", MwiState::voice(true, 7, 0));
    rig.publish("2104", MwiState::voice(true, 4, 0));

    rig.chand = Chand::start(&rig.env, &rig.cfg);
    let st = rig.chand.status();
    assert_eq!(st.numbers_in_table, 4, "{st:#?}");
    let mut pbx = rig.libpri(span);
    rig.wait_settled(span.span);
    pbx.wait(Duration::from_millis(500), |_| false);
    let seen = by_number(&pbx.decoded);
    let last = |n: &str| -> &Decoded {
        seen.get(n)
            .and_then(|v| v.last())
            .unwrap_or_else(|| panic!("{n} not resent after restart: {:?}", pbx.decoded))
    };
    assert_deactivate(last("2101"), "2101");
    assert_activate(last("2102"), "2102", Some(7));
    assert_activate(last("2103"), "2103", Some(1));
    assert_activate(last("2104"), "2104", Some(4));
    let st = rig.chand.status();
    for (n, on) in [
        ("2101", false),
        ("2102", true),
        ("2103", true),
        ("2104", true),
    ] {
        assert_eq!(lamp(&st, 1, n).confirmed, Some(on), "{n}: {st:#?}");
    }
}

#[test]
fn manual_override_reset_and_status_json() {
    let span = &SPANS[0];
    let mut rig = Rig::new(&SPANS[..1]);
    let mut pbx = rig.libpri(span);
    rig.publish("2101", MwiState::voice(true, 2, 0));
    wait_decoded(&mut pbx, 1, &rig.chand);
    assert_activate(&pbx.decoded[0], "2101", Some(2));

    // Manual off wins over the table, and later table news is held back while it lasts.
    mwi_cli(&rig.chand, "2101", "off");
    wait_decoded(&mut pbx, 2, &rig.chand);
    assert_deactivate(&pbx.decoded[1], "2101");
    rig.publish("2101", MwiState::voice(true, 5, 0));
    pbx.wait(Duration::from_millis(500), |_| false);
    assert_eq!(pbx.decoded.len(), 2, "override holds: {:?}", pbx.decoded);
    let (ok, out, err) = rig.chand.cli(&["status", "--json"]);
    assert!(ok, "chand status --json: {out}{err}");
    let st: ChandStatus = serde_json::from_str(&out).unwrap();
    assert_eq!(st.overrides, ["2101"], "{st:#?}");
    assert!(!lamp(&st, 1, "2101").wanted, "{st:#?}");

    // Reset: back to the table's state, with its count.
    mwi_cli(&rig.chand, "2101", "reset");
    wait_decoded(&mut pbx, 3, &rig.chand);
    assert_activate(&pbx.decoded[2], "2101", Some(5));

    // An FXS port: manual on gives the stutter tone; reset gives the table's state back.
    mwi_cli(&rig.chand, "8001", "on");
    assert_port(&rig.chand, "8001", true, "manual");
    let phone = Phone::connect(&rig.env.sim_dir, 1, WAIT).unwrap();
    phone.off_hook().unwrap();
    let heard = record(&phone, fxs::Law::Mulaw, 700).unwrap();
    assert_eq!(
        heard.cadence().bursts.len(),
        3,
        "stutter: {:?}",
        heard.segments()
    );
    phone.on_hook().unwrap();
    mwi_cli(&rig.chand, "8001", "reset");
    assert_port(&rig.chand, "8001", false, "server");

    // A number nobody serves is refused.
    let (ok, out, err) = rig.chand.cli(&["mwi", "9999", "on"]);
    assert!(!ok, "chand mwi 9999 on must fail: {out}");
    assert!(err.contains("no FXS port or PRI span serves 9999"), "{err}");
    // Regression: an FXS port with mwi = false keeps its number from span 1's 21.. pattern;
    // `chand mwi` used to answer "ON (manual)" and deliver nothing.
    let (ok, out, err) = rig.chand.cli(&["mwi", "2199", "on"]);
    assert!(!ok, "chand mwi 2199 on must fail: {out}");
    assert!(
        err.contains("FXS channel 2, which has mwi = false"),
        "{err}"
    );

    // The whole status document.
    rig.wait_settled(1);
    let (ok, out, err) = rig.chand.cli(&["status", "--json"]);
    assert!(ok, "{err}");
    let st: ChandStatus = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (st.backend.as_str(), st.numbers_in_table, st.overrides.len()),
        ("sim", 1, 0),
        "{st:#?}"
    );
    let port = &st.fxs[0];
    assert_eq!(
        (
            port.channel,
            port.number.as_str(),
            port.mwi_enabled,
            port.hook.as_str(),
            port.mwi,
            port.source.as_str(),
            port.tone_plan.as_str(),
            port.vmwi.as_str(),
            port.underruns,
        ),
        (1, "8001", true, "on-hook", false, "server", "us", "none", 0),
        "{port:#?}"
    );
    let span1 = pri(&st, 1);
    assert_eq!(
        (
            span1.dchannel,
            span1.side.as_str(),
            span1.transport.as_str(),
            span1.layer1_up,
            span1.link_up,
            span1.queue_depth,
            span1.in_flight,
            span1.retransmissions,
        ),
        (24, "user", "setup", true, true, 0, 0, 0),
        "{span1:#?}"
    );
    assert!(span1.frames_out >= 3, "{span1:#?}");
    let l = lamp(&st, 1, "2101");
    assert_eq!(
        (l.wanted, l.messages, l.confirmed, l.pending),
        (true, Some(5), Some(true), false),
        "{l:?}"
    );
    let (ok, text, _) = rig.chand.cli(&["status"]);
    assert!(ok);
    assert!(
        text.contains("FXS channel 1 number 8001: on-hook"),
        "{text}"
    );
    assert!(
        text.contains("2101: lamp ON (5) confirmed by PBX ON (5)"),
        "{text}"
    );
}

/// The demo's PBX (the isdn crate's Q.921 on the other side) against chand: both sides, both
/// transports; it decodes what chand sends and its answers settle chand's deliveries.
#[test]
fn own_q921_pbx_decodes_both_sides_and_transports() {
    let mut rig = Rig::new(&SPANS);
    let mut pbxs: Vec<QsigPbx> = SPANS
        .iter()
        .map(|s| {
            let side = match s.side {
                "user" => Side::Network,
                _ => Side::User,
            };
            let mut pbx = QsigPbx::connect(&rig.env.sim_dir, s.dchannel, side, WAIT).unwrap();
            assert!(pbx.run_until(WAIT, QsigPbx::is_up), "span {} link", s.span);
            pbx
        })
        .collect();
    for s in &SPANS {
        rig.publish(&s.number(7), MwiState::voice(true, 9, 0));
        rig.publish(&s.number(7), MwiState::voice(false, 0, 9));
        rig.publish(&s.number(8), MwiState::voice(true, 1, 0));
    }
    for (s, pbx) in SPANS.iter().zip(&mut pbxs) {
        // 7 went on then off at once: whatever chand sent for it, the last is a deactivate.
        let ok = pbx.run_until(WAIT, |p| {
            p.received.iter().any(|r| r.served() == s.number(8))
                && p.received
                    .iter()
                    .rev()
                    .find(|r| r.served() == s.number(7))
                    .is_some_and(|r| !r.is_activate())
        });
        assert!(
            ok,
            "span {}: received {:?}; chand status {:#?}; chand log:\n{}",
            s.span,
            pbx.received,
            rig.chand.status(),
            rig.chand.daemon.log()
        );
        let via = match s.transport {
            "setup" => Via::Setup,
            _ => Via::Facility,
        };
        for r in &pbx.received {
            assert_eq!(r.via, via, "span {}: {}", s.span, r.describe());
        }
        let last7 = pbx
            .received
            .iter()
            .rev()
            .find(|r| r.served() == s.number(7))
            .unwrap();
        assert!(
            !last7.is_activate(),
            "last state wins: {}",
            last7.describe()
        );
        let r8 = pbx
            .received
            .iter()
            .find(|r| r.served() == s.number(8))
            .unwrap();
        assert!(
            r8.is_activate() && r8.nb_of_messages() == Some(1),
            "{}",
            r8.describe()
        );
    }
    for (s, pbx) in SPANS.iter().zip(&mut pbxs) {
        pbx.run_for(Duration::from_millis(200));
        let n = s.span;
        let st = rig.chand.status();
        let p = pri(&st, n);
        assert!(
            p.queue_depth == 0 && p.in_flight == 0,
            "span {n} settled: {p:?}"
        );
        assert_eq!(lamp(&st, n, &s.number(8)).confirmed, Some(true), "{p:?}");
        let frames: Vec<Vec<u8>> = pbx.frames_in.iter().map(|(_, f)| f.clone()).collect();
        let v = tshark::decode(&frames);
        assert_eq!(v.lapd, frames.len(), "span {n}: every frame is LAPD");
        assert!(
            v.flagged.is_empty(),
            "span {n}: tshark flags {:#?}",
            v.flagged
        );
    }
}

/// The D-channel trace lines (target `chand::trace`) of `log` that are about frames.
fn trace_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("chand::trace: span "))
        .collect()
}

/// `chand trace on|off` (issue 14 item 2): with `[log] level = "warn"`, no frame is traced
/// before `trace on`; while on, every frame is, decoded in one line (the link's SABME and UA,
/// the FACILITY with the MWIActivate); after `trace off`, none again. No restart.
#[test]
fn trace_switches_on_and_off_without_restart() {
    let span = &SPANS[1];
    let mut env = Env::new();
    env.log_level = "warn";
    let cfg = env.write_config(&sections(std::slice::from_ref(span)));
    let mut writer = cfg.writer();
    let mut chand = Chand::start(&env, &cfg);
    let connect = || {
        let mut pbx = QsigPbx::connect(&env.sim_dir, span.dchannel, Side::Network, WAIT).unwrap();
        assert!(pbx.run_until(WAIT, QsigPbx::is_up), "link up");
        pbx
    };
    let mut pbx = connect();
    writer
        .publish(&span.number(1), MwiState::voice(true, 1, 0))
        .unwrap();
    assert!(pbx.run_until(WAIT, |p| p.received.len() == 1), "first MWI");
    assert!(
        trace_lines(&chand.daemon.log()).is_empty(),
        "{}",
        chand.daemon.log()
    );

    // The PBX goes away and comes back with the trace on: the link set-up is traced.
    drop(pbx);
    chand.wait_status("span down", WAIT, |st| !pri(st, span.span).link_up);
    let (ok, out, err) = chand.cli(&["trace", "on"]);
    assert!(ok, "{out}{err}");
    assert_eq!(out, "trace on\n");
    let mut pbx = connect();
    writer
        .publish(&span.number(2), MwiState::voice(true, 4, 0))
        .unwrap();
    assert!(pbx.run_until(WAIT, |p| p.received.len() == 1), "MWI on");
    pbx.run_for(Duration::from_millis(300));
    let log = chand.daemon.log();
    let lines = trace_lines(&log);
    let has = |what: &str| lines.iter().any(|l| l.contains(what));
    assert!(has("span 2 recv <- SABME SAPI=0 TEI=0"), "{log}");
    assert!(has("span 2 sent -> UA SAPI=0 TEI=0"), "{log}");
    assert!(
        lines.iter().any(|l| l.contains("span 2 sent -> I ")
            && l.contains("FACILITY")
            && l.contains("mwiActivate")
            && l.contains(&span.number(2))),
        "{log}"
    );
    assert!(has("span 2 recv <- I "), "the PBX's answer: {log}");
    assert!(
        log.contains("chand::trace: D-channel trace on by command"),
        "{log}"
    );
    let traced = lines.len();

    let (ok, out, _) = chand.cli(&["trace", "off"]);
    assert!(ok && out == "trace off\n", "{out}");
    writer
        .publish(&span.number(3), MwiState::voice(true, 2, 0))
        .unwrap();
    assert!(pbx.run_until(WAIT, |p| p.received.len() == 2), "MWI on");
    pbx.run_for(Duration::from_millis(300));
    assert_eq!(
        trace_lines(&chand.daemon.log()).len(),
        traced,
        "{}",
        chand.daemon.log()
    );
}

/// The pcapng capture (issue 14 item 2): with `[trace] capture_dir`, chand writes every
/// D-channel frame to `chand-0.pcapng` (LINKTYPE_LAPD, one interface per span); tshark opens
/// it and finds the link set-up and the QSIG MWIActivate in a FACILITY, each frame's direction
/// right on a span where chand is the user side and on one where it is the network side (the
/// SABME, which the user side sends, reads as a command on both), none malformed. `chand
/// capture off|on` switches it; a tiny `capture_max_bytes` rotates files.
#[test]
fn capture_opens_in_tshark_and_rotates() {
    let span = &SPANS[1];
    let network = &SPANS[2];
    let env = Env::new();
    let dir = env.path().join("capture");
    std::fs::create_dir(&dir).unwrap();
    let cfg = env.write_config(&format!(
        "{}[trace]\ncapture_dir = \"{}\"\ncapture_max_bytes = 4096\ncapture_files = 3\n",
        sections(&SPANS[1..3]),
        dir.display()
    ));
    let mut writer = cfg.writer();
    let chand = Chand::start(&env, &cfg);
    let mut pbx = QsigPbx::connect(&env.sim_dir, span.dchannel, Side::Network, WAIT).unwrap();
    let mut user_pbx = QsigPbx::connect(&env.sim_dir, network.dchannel, Side::User, WAIT).unwrap();
    assert!(pbx.run_until(WAIT, QsigPbx::is_up), "link up");
    assert!(
        user_pbx.run_until(WAIT, QsigPbx::is_up),
        "link up, network side"
    );
    writer
        .publish(&span.number(1), MwiState::voice(true, 3, 0))
        .unwrap();
    assert!(pbx.run_until(WAIT, |p| p.received.len() == 1), "MWI on");
    pbx.run_for(Duration::from_millis(300));
    user_pbx.run_for(Duration::from_millis(100));
    let (ok, out, err) = chand.cli(&["capture", "off"]);
    assert!(ok && out == "capture off\n", "{out}{err}");
    let first = dir.join("chand-0.pcapng");
    let all = tshark::filter(&first, "lapd");
    assert!(all.len() >= 8, "{all:#?}");
    for interface in 0..2 {
        let sabme = tshark::filter(
            &first,
            &format!("lapd.control.u_modifier_cmd == 0x1b && frame.interface_id == {interface}"),
        );
        assert!(
            !sabme.is_empty(),
            "SABME on interface {interface}: {all:#?}"
        );
    }
    // On the user side span, chand sent the invoke (user to network: outbound), the PBX the
    // result.
    let mwi = tshark::filter(
        &first,
        "q931.message_type == 0x62 && qsig.operation == 80 && frame.p2p_dir == 0",
    );
    assert_eq!(mwi.len(), 1, "one FACILITY with MWIActivate: {all:#?}");
    let answer = tshark::filter(&first, "qsig.operation == 80 && frame.p2p_dir == 1");
    assert_eq!(answer.len(), 1, "{all:#?}");
    let flagged = tshark::filter(&first, tshark::FLAGGED);
    assert!(flagged.is_empty(), "tshark flags {flagged:#?}");

    // On again: 80 MWI changes pass 4096 octets twice, so the files rotate (3 of them, each
    // under the cap) and each still opens cleanly.
    let (ok, out, err) = chand.cli(&["capture", "on"]);
    assert!(ok && out.starts_with("capture on: "), "{out}{err}");
    for n in 0..80 {
        writer
            .publish(&span.number(n % 10), MwiState::voice(n % 2 == 0, n, 0))
            .unwrap();
        pbx.run_for(Duration::from_millis(20));
        user_pbx.run_for(Duration::from_millis(1));
    }
    pbx.run_for(Duration::from_millis(500));
    let (ok, _, _) = chand.cli(&["capture", "off"]);
    assert!(ok);
    for n in 0..3 {
        let f = dir.join(format!("chand-{n}.pcapng"));
        let len = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0 && len <= 4096, "{}: {len} octets", f.display());
        assert!(!tshark::filter(&f, "lapd").is_empty(), "{}", f.display());
        let flagged = tshark::filter(&f, tshark::FLAGGED);
        assert!(flagged.is_empty(), "{}: {flagged:#?}", f.display());
    }
    assert!(!dir.join("chand-3.pcapng").exists());
}
