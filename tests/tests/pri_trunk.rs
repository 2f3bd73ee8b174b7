//! The PRI trunk end to end (issue 13): libpri 1.6 as the PBX on the sim D-channel of a T1
//! (tests/peers/libpri-pbx.c, network side), the real chand and sipd joined by their
//! call-control socket, Kamailio as proxy and registrar, and baresip, a real SIP phone,
//! registered there as 7001. The PBX's end of each B-channel is its `bchan-N.sock`.
//!
//! - PBX → SIP: libpri calls 7001 with a calling name; sipd's INVITE through Kamailio rings
//!   baresip, which answers; baresip's 1 kHz arrives on the B-channel and a 600 Hz tone sent
//!   into the B-channel reaches baresip; baresip hangs up and libpri sees the DISCONNECT.
//!   The INVITE carried the PBX's calling number and name in its From.
//! - SIP → PBX: baresip calls 2101 through Kamailio (which routes 21xx to sipd, as a
//!   proxy routes a PBX's numbers to its trunk); the SETUP reaches libpri, which answers;
//!   audio both ways as above; libpri hangs up and baresip sees the call closed.
//! - A lamp for a PBX number is delivered on the same D-channel during the call.
//!
//! Needs gcc, libpri-dev, kamailio, baresip and sox (scripts/install-deps); fails if one is
//! missing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chand::backend::sim::dchan_socket_path;
use chand::backend::sim::peer::Phone;
use dahdi_mwi_tests::baresip::Baresip;
use dahdi_mwi_tests::daemon::{wait_some, RaiseOnDrop};
use dahdi_mwi_tests::env::{Chand, Env, Sipd};
use dahdi_mwi_tests::fakesipd::{talk, Voice};
use dahdi_mwi_tests::kamailio::{Algorithm, Kamailio, Options};
use dahdi_mwi_tests::libpri::{LibpriPbx, LibpriSide};
use dahdi_mwi_tests::sip::{free_port, Summary, VoiceMail};
use dahdi_mwi_tests::tone::record;
use fxs::Law;

const WAIT: Duration = Duration::from_secs(10);
const LAW: Law = Law::Mulaw;

/// Kamailio with account 7001, baresip registered there as 7001 (auto-answer, sending
/// 1 kHz), and chand + sipd with span 1 (numbers 21xx, calls on) trunking to Kamailio.
struct Rig {
    k: Kamailio,
    bob: Baresip,
    env: Env,
    chand: Chand,
    sipd: Sipd,
}

impl Rig {
    fn new(rtp_ports: &str) -> Rig {
        let sip = free_port();
        let mut opts = Options::new(Algorithm::Md5);
        opts.accounts.push(("7001".into(), "pw7001".into()));
        opts.gateway = Some(("21".into(), sip));
        let k = Kamailio::start(opts);
        let kport = k.port();
        let bob = Baresip::start(
            &format!(
                "<sip:7001@127.0.0.1:{kport};transport=udp>;auth_pass=pw7001;regint=60;\
                 answermode=auto"
            ),
            1000,
        );
        let registered = dahdi_mwi_tests::daemon::wait_for(Duration::from_secs(15), || {
            k.contacts().iter().any(|(aor, _)| aor.starts_with("7001"))
        });
        assert!(
            registered,
            "baresip never registered 7001: {:?}\n{}\nKamailio:\n{}",
            k.contacts(),
            bob.log(),
            k.log()
        );
        let env = Env::new();
        let cfg = env.write_config(&format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{sip}\"]\n\
             [sip.proxy]\nserver = \"ipv4:127.0.0.1\"\nport = {kport}\n\
             [mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = {}\nunsolicited = true\n\
             allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n\
             [media]\naddress = \"127.0.0.1\"\nrtp_ports = \"{rtp_ports}\"\n\
             [[pri]]\nspan = 1\ndchannel = 24\nside = \"user\"\nnumbers = [\"21..\"]\n\
             [pri.calls]\n",
            free_port()
        ));
        let chand = Chand::start(&env, &cfg);
        let sipd = Sipd::start_in(&env, &cfg);
        wait_some(10, "sipd and chand linked", || {
            chand
                .daemon
                .log()
                .contains("call control: sipd up")
                .then_some(())
        });
        Rig {
            k,
            bob,
            env,
            chand,
            sipd,
        }
    }

    /// libpri as the PBX with `args`, once its link is up.
    fn libpri(&self, args: &[&str]) -> LibpriPbx {
        let path = dchan_socket_path(&self.env.sim_dir, 24);
        let mut pbx = LibpriPbx::spawn_args(&path, LibpriSide::Network, args);
        assert!(
            pbx.wait(WAIT, |p| p.dchan_up),
            "libpri never saw DCHAN_UP:\n{}\nchand:\n{}",
            pbx.tail(30),
            self.chand.daemon.log()
        );
        pbx
    }

    fn logs(&self) -> String {
        format!(
            "chand:\n{}\nsipd:\n{}\nKamailio:\n{}\nbaresip:\n{}",
            self.chand.daemon.log(),
            self.sipd.log(),
            self.k.log(),
            self.bob.log()
        )
    }
}

/// libpri's call line starting with `prefix`.
#[track_caller]
fn call_line(pbx: &mut LibpriPbx, prefix: &str, rig: &Rig) -> String {
    let ok = pbx.wait(WAIT, |p| p.calls.iter().any(|l| l.starts_with(prefix)));
    assert!(ok, "libpri: no {prefix}:\n{}\n{}", pbx.tail(40), rig.logs());
    pbx.calls
        .iter()
        .find(|l| l.starts_with(prefix))
        .cloned()
        .unwrap_or_default()
}

/// The B-channel of a libpri call line (`channel=N`; span 1 numbers them as DAHDI does).
fn b_channel(line: &str) -> u32 {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix("channel="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no channel in {line:?}"))
}

#[test]
fn the_pbx_calls_baresip_through_kamailio_with_audio_both_ways() {
    let mut rig = Rig::new("43000-43099");
    let mut pbx = rig.libpri(&["--call", "7001", "--calling", "2101", "--name", "Alice"]);
    let established = rig.bob.wait_event("CALL_ESTABLISHED", WAIT);
    eprintln!("baresip: {established}");
    let answer = call_line(&mut pbx, "ANSWER", &rig);
    let bchan = Phone::connect_bchannel(&rig.env.sim_dir, b_channel(&answer), WAIT)
        .expect("the B-channel's sim socket");
    // A lamp for a PBX user goes on the same D-channel while the call runs.
    let mut vm = VoiceMail::bind().expect("voice mail socket");
    let lamp = Summary {
        number: "2102".into(),
        waiting: true,
        new: 2,
        old: 0,
    };
    let sipd_addr = SocketAddr::from(([127, 0, 0, 1], rig.sipd.port));
    let text = vm.notify_text(&lamp, sipd_addr);
    let answer = vm.send(&text, sipd_addr, WAIT).expect("NOTIFY answered");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    let stop = AtomicBool::new(false);
    let voice = Mutex::new(Voice::Tone(600.0));
    let heard = std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        s.spawn(|| talk(&bchan, LAW, &voice, &stop));
        let _ = record(&bchan, LAW, 300);
        let heard = record(&bchan, LAW, 1200).expect("B-channel audio");
        stop.store(true, Ordering::Relaxed);
        heard
    });
    let level = heard.level(1000.0, 200, 1200);
    assert!(
        level > -25.0,
        "baresip's 1 kHz on the B-channel at {level:.1} dBm0\n{}",
        rig.logs()
    );
    let lamp = pbx.wait(WAIT, |p| {
        p.decoded
            .iter()
            .any(|m| m.op() == "activate" && m.served() == "2102")
    });
    assert!(
        lamp,
        "no MWIActivate for 2102 during the call:\n{}",
        pbx.tail(40)
    );
    rig.bob.command("hangup", "");
    rig.bob.wait_event("CALL_CLOSED", WAIT);
    call_line(&mut pbx, "HANGUP", &rig);
    let to_bob = rig.bob.received(LAW);
    let from_pbx = to_bob.level(600.0, 400, to_bob.ms().min(1400));
    assert!(
        from_pbx > -25.0,
        "600 Hz from the B-channel at baresip: {from_pbx:.1} dBm0\n{}",
        rig.logs()
    );
    // The INVITE that reached baresip named the PBX's caller.
    let from = format!(
        "{} {}",
        established["peeruri"], established["peerdisplayname"]
    );
    assert!(
        from.contains("2101") && from.contains("Alice"),
        "baresip's caller: {from} ({established})"
    );
    eprintln!(
        "figure: PBX → baresip through Kamailio: {} answered; 1 kHz on the B-channel at \
         {level:.1} dBm0, 600 Hz at baresip at {from_pbx:.1} dBm0",
        established["param"]
    );
}

#[test]
fn baresip_calls_the_pbx_through_kamailio() {
    let mut rig = Rig::new("43100-43199");
    let mut pbx = rig.libpri(&["--answer", "--hangup-after", "2500"]);
    let kport = rig.k.port();
    rig.bob
        .command("dial", &format!("sip:2101@127.0.0.1:{kport}"));
    let ring = call_line(&mut pbx, "RING", &rig);
    assert!(ring.contains("called=2101"), "{ring}");
    let bchan = Phone::connect_bchannel(&rig.env.sim_dir, b_channel(&ring), WAIT)
        .expect("the B-channel's sim socket");
    rig.bob.wait_event("CALL_ESTABLISHED", WAIT);
    let stop = AtomicBool::new(false);
    let voice = Mutex::new(Voice::Tone(600.0));
    let heard = std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        s.spawn(|| talk(&bchan, LAW, &voice, &stop));
        let _ = record(&bchan, LAW, 300);
        let heard = record(&bchan, LAW, 800).expect("B-channel audio");
        stop.store(true, Ordering::Relaxed);
        heard
    });
    call_line(&mut pbx, "SENT HANGUP", &rig);
    rig.bob.wait_event("CALL_CLOSED", WAIT);
    let at_pbx = heard.level(1000.0, 0, 800);
    let to_bob = rig.bob.received(LAW);
    let at_bob = to_bob.level(600.0, 400, to_bob.ms().min(1100));
    assert!(
        at_pbx > -25.0 && at_bob > -25.0,
        "baresip's 1 kHz on the B-channel at {at_pbx:.1} dBm0, the PBX's 600 Hz at baresip at \
         {at_bob:.1} dBm0\n{}",
        rig.logs()
    );
    eprintln!(
        "figure: baresip → PBX through Kamailio: SETUP {ring}; 1 kHz on the B-channel at \
         {at_pbx:.1} dBm0, 600 Hz at baresip at {at_bob:.1} dBm0"
    );
}
