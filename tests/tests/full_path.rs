//! The full path with both real daemons: an unsolicited SIP NOTIFY (from a UDP socket in the
//! test, and from SIPp with tests/scenarios/unsolicited-notify.xml) → sipd → shared MWI table →
//! chand (sim back-end) → a sim phone hears the stutter dial tone AND libpri, the PBX on the
//! D-channel socket, decodes MWIActivate; then the way back to plain dial tone and
//! MWIDeactivate. And Kamailio as the MWI server: a PUBLISH makes it NOTIFY the subscribed
//! sipd for a phone's port and a PBX's served user: the phone hears the stutter tone and
//! libpri decodes MWIActivate. And each daemon survives the other's restart.

use std::net::SocketAddr;
use std::time::Duration;

use chand::backend::sim::dchan_socket_path;
use chand::backend::sim::peer::Phone;
use dahdi_mwi_tests::daemon::wait_for;
use dahdi_mwi_tests::env::{Chand, ConfigFile, Env, Sipd};
use dahdi_mwi_tests::kamailio::{self, Algorithm, Kamailio, Options};
use dahdi_mwi_tests::libpri::{Decoded, LibpriPbx, LibpriSide};
use dahdi_mwi_tests::sip::{free_port, send_tcp, Summary, VoiceMail};
use dahdi_mwi_tests::sipp;
use dahdi_mwi_tests::tone::{listen, record, Recording};
use dahdi_mwi_tests::tshark;
use fxs::Law;

const WAIT: Duration = Duration::from_secs(10);

/// Both daemons, the PBX and the phone on one installation whose sipd listens on `sip`.
struct Rig {
    env: Env,
    cfg: ConfigFile,
    sip: SocketAddr,
    sipd: Sipd,
    chand: Chand,
    pbx: LibpriPbx,
    phone: Phone,
}

impl Rig {
    /// sipd in unsolicited mode, accepting NOTIFYs from 127.0.0.1.
    fn new() -> Self {
        Self::with_mwi_server(
            "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nunsolicited = true\n\
             allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n",
            "2...",
        )
    }

    /// sipd with this `[mwi_server]` (and `[sip.auth]` user1/password1); span 1 serves the
    /// one served-user pattern `pri_numbers` (a literal number is one sipd subscribes for).
    fn with_mwi_server(mwi_server: &str, pri_numbers: &str) -> Self {
        let env = Env::new();
        let port = free_port();
        let cfg = env.write_config(&format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\n\
             [sip.auth]\nusername = \"user1\"\npassword = \"password1\"\n\
             {mwi_server}\
             [[fxs]]\nchannel = 1\nnumber = \"8000\"\ncptone = \"us\"\n\
             [[fxs]]\nchannel = 2\nnumber = \"8009\"\nmwi = false\n\
             [[pri]]\nspan = 1\ndchannel = 24\nside = \"user\"\nnumbers = [\"{pri_numbers}\"]\n"
        ));
        let sipd = Sipd::start_in(&env, &cfg);
        let mut chand = Chand::start(&env, &cfg);
        let mut pbx = LibpriPbx::spawn(&dchan_socket_path(&env.sim_dir, 24), LibpriSide::Network);
        assert!(pbx.wait(WAIT, |p| p.dchan_up), "libpri:\n{}", pbx.tail(40));
        chand.wait_status("span 1 link up", WAIT, |st| st.pri[0].link_up);
        let phone = Phone::connect(&env.sim_dir, 1, WAIT).unwrap();
        Self {
            env,
            cfg,
            sip: ([127, 0, 0, 1], port).into(),
            sipd,
            chand,
            pbx,
            phone,
        }
    }

    /// Wait for libpri's `n`-th decoded invoke.
    fn wait_decoded(&mut self, n: usize) {
        let ok = self.pbx.wait(WAIT, |p| p.decoded.len() >= n);
        assert!(
            ok,
            "libpri decoded {} of {n}; libpri:\n{}\nchand:\n{}\nsipd:\n{}",
            self.pbx.decoded.len(),
            self.pbx.tail(40),
            self.chand.daemon.log(),
            self.sipd.daemon.log()
        );
    }

    /// Waits for libpri's `nth` decoded invoke (1-based), checks its `op` and servedUserNr;
    /// returns it for further checks.
    fn decoded(&mut self, nth: usize, op: &str, served: &str) -> Decoded {
        self.wait_decoded(nth);
        let d = self.pbx.decoded[nth - 1].clone();
        assert_eq!(d.op(), op, "{d:?}");
        assert_eq!(d.get("servedUserNr.unknownPartyNumber"), Some(served));
        d
    }

    /// chand lights port 8000 with `new`/`old` messages and the phone hears the stutter.
    fn assert_port_on(&mut self, new: u32, old: u32) {
        self.chand.wait_port_mwi("8000", true);
        let p = self.chand.port_status("8000");
        assert_eq!((p.new, p.old), (new, old), "{p:?}");
        self.assert_stutter();
    }

    /// chand turns port 8000 off and the phone hears plain dial tone.
    fn assert_port_off(&mut self) {
        self.chand.wait_port_mwi("8000", false);
        self.assert_dial_tone();
    }

    /// Off-hook for `ms`, then on-hook.
    fn listen_off_hook(&self, ms: usize) -> Recording {
        self.phone.off_hook().unwrap();
        let rec = record(&self.phone, Law::Mulaw, ms).unwrap();
        self.phone.on_hook().unwrap();
        let _ = listen(&self.phone, Law::Mulaw, Duration::from_millis(100));
        rec
    }

    /// The phone hears us (GR-506) stutter: 10 bursts of 100/100 ms, then steady 350+440 Hz.
    fn assert_stutter(&self) {
        let rec = self.listen_off_hook(2600);
        let c = rec.cadence();
        assert_eq!(c.lead_silence_ms, 0, "{:?}", rec.segments());
        assert_eq!(c.bursts.len(), 10, "{:?}", rec.segments());
        for b in &c.bursts {
            assert!(
                b.on_ms.abs_diff(100) <= 5 && b.off_ms.abs_diff(100) <= 5,
                "{b:?}"
            );
        }
        let (start, _) = c.steady.expect("steady tone");
        assert!(start.abs_diff(2000) <= 5, "steady from {start} ms");
        let tones: Vec<f64> = rec
            .tones(start + 50, rec.ms())
            .iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(tones, [350.0, 440.0]);
    }

    /// The phone hears plain dial tone, no gaps.
    fn assert_dial_tone(&self) {
        let rec = self.listen_off_hook(1000);
        assert_eq!(rec.segments().len(), 1, "{:?}", rec.segments());
        let tones: Vec<f64> = rec.tones(0, rec.ms()).iter().map(|t| t.0).collect();
        assert_eq!(tones, [350.0, 440.0]);
    }

    fn sipd_number(&self, number: &str) -> serde_json::Value {
        let st = self.sipd.status_json().unwrap();
        st["numbers"]
            .as_array()
            .and_then(|a| a.iter().find(|n| n["number"] == number))
            .cloned()
            .unwrap_or_else(|| panic!("{number} not in sipd status {st}"))
    }
}

#[test]
fn notify_over_udp_gives_stutter_tone_and_qsig_mwi() {
    let mut rig = Rig::new();
    let mut vm = VoiceMail::bind().unwrap();
    let sip = rig.sip;
    let send = |vm: &mut VoiceMail, number: &str, waiting: bool, new: u32, old: u32| {
        let summary = Summary {
            number: number.into(),
            waiting,
            new,
            old,
        };
        let text = vm.notify_text(&summary, sip);
        vm.send(&text, sip, WAIT).unwrap()
    };
    assert_eq!(send(&mut vm, "8000", true, 2, 1), "SIP/2.0 200 OK");
    assert_eq!(send(&mut vm, "2001", true, 3, 0), "SIP/2.0 200 OK");
    // A port with mwi = false, and a number nobody serves: 481.
    assert!(send(&mut vm, "8009", true, 1, 0).starts_with("SIP/2.0 481"));
    assert!(send(&mut vm, "7777", true, 1, 0).starts_with("SIP/2.0 481"));
    // The same over TCP (same state for 8000: nothing changes).
    let over_tcp = |vm: &mut VoiceMail, number: &str, waiting: bool, new: u32| {
        let summary = Summary {
            number: number.into(),
            waiting,
            new,
            old: 1,
        };
        let text = vm.notify_text_for(&summary, sip, "TCP");
        send_tcp(&text, sip, WAIT).unwrap()
    };
    assert_eq!(over_tcp(&mut vm, "8000", true, 2), "SIP/2.0 200 OK");
    assert!(over_tcp(&mut vm, "7777", true, 1).starts_with("SIP/2.0 481"));

    let d = rig.decoded(1, "activate", "2001");
    assert_eq!(d.get("basicService"), Some("1"));
    assert_eq!(d.nb_of_messages(), Some(3));
    rig.assert_port_on(2, 1);

    assert_eq!(send(&mut vm, "8000", false, 0, 3), "SIP/2.0 200 OK");
    assert_eq!(send(&mut vm, "2001", false, 0, 3), "SIP/2.0 200 OK");
    rig.decoded(2, "deactivate", "2001");
    rig.assert_port_off();
    rig.pbx.pump();
    let v = tshark::decode(&rig.pbx.frames_rx);
    assert_eq!(
        v.lapd,
        rig.pbx.frames_rx.len(),
        "every frame chand sent is LAPD"
    );
    assert!(v.flagged.is_empty(), "tshark flags {:#?}", v.flagged);
    assert_eq!(v.qsig, 2, "both invokes decode as QSIG");
    let n = rig.sipd_number("8000");
    assert_eq!(
        (&n["mwi"], &n["old"], &n["subscription"]),
        (&false.into(), &3.into(), &"unsolicited".into()),
        "{n}"
    );

    // The log lines carry their structured fields (the journal's NUMBER, CHANNEL, SPAN,
    // CALL_ID), shown on stderr as key=value after the message.
    let sipd_log = rig.sipd.daemon.log();
    assert_logged(&sipd_log, &["MWI 8000: ON 2/1", " number=8000 call_id="]);
    assert_logged(&sipd_log, &["MWI 2001: OFF 0/3", " number=2001 call_id="]);
    let chand_log = rig.chand.daemon.log();
    assert_logged(
        &chand_log,
        &["FXS channel 1 (8000): MWI ON", " channel=1 number=8000"],
    );
    assert_logged(
        &chand_log,
        &["span 1 (2001): MWI ON", " span=1 number=2001"],
    );
    assert_logged(&chand_log, &["Q.921 link established", " span=1"]);
}

/// Some line of `log` holds every one of `parts`.
fn assert_logged(log: &str, parts: &[&str]) {
    assert!(
        log.lines().any(|l| parts.iter().all(|p| l.contains(p))),
        "no line with {parts:?} in:\n{log}"
    );
}

#[test]
fn notify_from_sipp_gives_stutter_tone_and_qsig_mwi() {
    let mut rig = Rig::new();
    let scenario = sipp::scenario("unsolicited-notify.xml");
    let run = |rig: &Rig, lines: &str| {
        let csv = rig.env.path().join("notifies.csv");
        std::fs::write(&csv, format!("SEQUENTIAL\n{lines}")).unwrap();
        let calls = lines.lines().count().to_string();
        let port = free_port().to_string();
        let sip = rig.sip.to_string();
        let args = [
            "-sf",
            scenario.to_str().expect("scenario path"),
            "-inf",
            csv.to_str().expect("csv path"),
            "-m",
            &calls,
            "-l",
            "1",
            "-r",
            "10",
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            &sip,
        ];
        assert!(
            sipp::run(rig.env.path(), "notify", &args),
            "sipp failed (its log above); sipd:\n{}",
            rig.sipd.daemon.log()
        );
    };
    run(&rig, "8000;yes;4;0\n2002;yes;5;1\n");
    let d = rig.decoded(1, "activate", "2002");
    assert_eq!(d.nb_of_messages(), Some(5));
    rig.assert_port_on(4, 0);

    run(&rig, "8000;no;0;4\n2002;no;0;6\n");
    rig.decoded(2, "deactivate", "2002");
    rig.assert_port_off();
}

/// Kamailio as the MWI server: sipd subscribes for the FXS port 8000 and for the PRI served
/// user 2001 (a literal `[[pri]]` number); a PUBLISH for each makes Kamailio NOTIFY sipd, and
/// in the same run the phone hears the stutter and libpri decodes MWIActivate for 2001, then
/// the next PUBLISHes give plain dial tone and MWIDeactivate.
#[test]
fn kamailio_publish_reaches_the_subscribed_sipd_the_phone_and_the_pbx() {
    let k = Kamailio::start(Options::new(Algorithm::Md5));
    let mut rig = Rig::with_mwi_server(
        &format!(
            "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = {}\ntransport = \"udp\"\n\
             expires = 60\noptions_interval = 0\n",
            k.port()
        ),
        "2001",
    );
    let active = wait_for(WAIT, || {
        rig.sipd.status_json().is_ok_and(|st| {
            st["numbers"].as_array().is_some_and(|a| {
                ["8000", "2001"].iter().all(|num| {
                    a.iter()
                        .any(|n| n["number"] == *num && n["subscription"] == "active")
                })
            })
        })
    });
    assert!(
        active,
        "sipd's subscriptions for 8000 and 2001 never both became active: {:?}\nsipd:\n{}\n\
         Kamailio:\n{}",
        rig.sipd.status_json(),
        rig.sipd.daemon.log(),
        k.log()
    );

    assert_eq!(k.publish("8000", &kamailio::summary("8000", 2, 1)), 200);
    assert_eq!(k.publish("2001", &kamailio::summary("2001", 4, 2)), 200);
    let d = rig.decoded(1, "activate", "2001");
    assert_eq!(d.nb_of_messages(), Some(4));
    rig.assert_port_on(2, 1);

    assert_eq!(k.publish("8000", &kamailio::summary("8000", 0, 3)), 200);
    assert_eq!(k.publish("2001", &kamailio::summary("2001", 0, 6)), 200);
    rig.decoded(2, "deactivate", "2001");
    rig.assert_port_off();
    let n = rig.sipd_number("8000");
    assert_eq!((&n["mwi"], &n["old"]), (&false.into(), &3.into()), "{n}");
    let n = rig.sipd_number("2001");
    assert_eq!(
        (&n["mwi"], &n["old"], &n["subscription"]),
        (&false.into(), &6.into(), &"active".into()),
        "{n}"
    );
    assert_logged(
        &rig.sipd.daemon.log(),
        &["subscription 2001: 2", " number=2001 call_id="],
    );
}

/// Each daemon keeps working while the other restarts: chand keeps the lamp and tone while
/// sipd is down; a restarted sipd takes the table over and its news reaches chand; a restarted
/// chand rebuilds its lines and spans from the table sipd wrote.
#[test]
fn each_daemon_survives_the_others_restart() {
    let mut rig = Rig::new();
    let mut vm = VoiceMail::bind().unwrap();
    let sip = rig.sip;
    let mut send = |number: &str, waiting: bool, new: u32| {
        let summary = Summary {
            number: number.into(),
            waiting,
            new,
            old: 0,
        };
        let text = vm.notify_text(&summary, sip);
        vm.send(&text, sip, WAIT).unwrap()
    };
    assert_eq!(send("8000", true, 1), "SIP/2.0 200 OK");
    assert_eq!(send("2001", true, 4), "SIP/2.0 200 OK");
    rig.wait_decoded(1);
    rig.chand.wait_port_mwi("8000", true);

    rig.sipd.daemon.crash();
    rig.assert_stutter();
    rig.sipd = Sipd::start_in(&rig.env, &rig.cfg);
    assert_eq!(send("8000", false, 0), "SIP/2.0 200 OK");
    rig.assert_port_off();

    rig.chand.daemon.crash();
    assert!(rig.pbx.wait_exit(WAIT), "libpri sees chand go");
    assert_eq!(send("2001", true, 6), "SIP/2.0 200 OK");
    rig.chand = Chand::start(&rig.env, &rig.cfg);
    rig.pbx = LibpriPbx::spawn(
        &dchan_socket_path(&rig.env.sim_dir, 24),
        LibpriSide::Network,
    );
    let d = rig.decoded(1, "activate", "2001");
    assert_eq!(
        d.nb_of_messages(),
        Some(6),
        "the state written while chand was down"
    );
    rig.phone = Phone::connect(&rig.env.sim_dir, 1, WAIT).unwrap();
    let p = rig.chand.port_status("8000");
    assert!(!p.mwi, "{p:?}");
    rig.assert_dial_tone();
}
