//! A call through Kamailio 5.6 as proxy and registrar (issue 12, sipd's side): sipd registers
//! the FXS port 8000 with its own `[fxs.auth]`; SIPp calls 8000 at Kamailio, which routes the
//! INVITE to sipd's registered contact with Record-Route; a fake chand (callctl) answers; SIPp's
//! BYE comes back through Kamailio. Then the port dials an unregistered number: Kamailio
//! challenges the registered line (407), sipd answers with digest, and the 404 reaches chand as
//! Q.850 cause 1.

#[path = "../../sipd/tests/common/chand.rs"]
#[allow(dead_code)]
mod chand;

use callctl::wire::Message as Ctl;
use callctl::Cause;
use chand::FakeChand;
use dahdi_mwi_tests::daemon::{wait_for, workspace_dir};
use dahdi_mwi_tests::kamailio::{Algorithm, Kamailio, Options, Sipd, SipdSetup};
use dahdi_mwi_tests::sip::free_udp_port;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_call_through_kamailio_both_ways() {
    let mut opts = Options::new(Algorithm::Md5);
    opts.accounts.push(("8000".into(), "pw8000".into()));
    let k = Kamailio::start(opts);
    let kport = k.port();
    let mut setup = SipdSetup::new(&["8000"]);
    setup.register = true;
    setup.extra = format!(
        "register = true\n[fxs.auth]\nusername = \"8000\"\npassword = \"pw8000\"\n\
         [sip.proxy]\nserver = \"ipv4:127.0.0.1\"\nport = {kport}\n"
    );
    let sipd = Sipd::start(&k, &setup);
    let mut chand = FakeChand::listen(&sipd.dir().join("run"), 1);
    let registered = wait_for(Duration::from_secs(15), || {
        k.contacts().iter().any(|(aor, _)| aor.starts_with("8000"))
    });
    assert!(
        registered,
        "port 8000 never registered: {:?}\nsipd:\n{}\nKamailio:\n{}",
        k.contacts(),
        sipd.log(),
        k.log()
    );

    // SIPp → Kamailio → sipd → chand.
    let scenario = workspace_dir().join("sipd/tests/sipp/call_uac.xml");
    let mut sipp = Command::new("sipp")
        .arg(format!("127.0.0.1:{kport}"))
        .arg("-sf")
        .arg(&scenario)
        .args(["-s", "8000", "-m", "1", "-i", "127.0.0.1", "-p"])
        .arg(free_udp_port().to_string())
        .args(["-mp", &free_udp_port().to_string()])
        .args(["-timeout", "30s", "-timeout_error", "-nostdin"])
        .current_dir(sipd.dir())
        .spawn()
        .expect("sipp must be installed (sip-tester, scripts/install-deps)");
    let call = chand.expect(15, "Incoming", |m| match m {
        Ctl::Incoming { call, port: 1, .. } => Some(*call),
        _ => None,
    });
    chand.say(Ctl::Alerting { call });
    chand.say(Ctl::MediaReady {
        call,
        local_rtp: "127.0.0.1:20010".parse().expect("addr"),
    });
    chand.say(Ctl::Answered { call });
    chand.expect(10, "Connected", |m| {
        matches!(m, Ctl::Connected { call: c, .. } if *c == call).then_some(())
    });
    chand.expect(10, "Hangup", |m| {
        matches!(m, Ctl::Hangup { call: c, .. } if *c == call).then_some(())
    });
    let status = sipp.wait().expect("sipp exit status");
    assert!(
        status.success(),
        "sipp: {status}\nsipd:\n{}\nKamailio:\n{}",
        sipd.log(),
        k.log()
    );
    let bye_via_proxy = k
        .received()
        .iter()
        .any(|r| r.is_request("BYE") || r.is_reply(200, "BYE"));
    assert!(
        bye_via_proxy,
        "the BYE did not pass Kamailio (Record-Route)"
    );

    // chand → sipd → Kamailio: 407, digest, 404.
    let out = chand.dial(1, "5551234");
    let cause = chand.expect(15, "Hangup", |m| match m {
        Ctl::Hangup { call, cause } if *call == out => Some(*cause),
        _ => None,
    });
    assert_eq!(
        cause,
        Cause::UNALLOCATED_NUMBER,
        "Kamailio log:\n{}",
        k.log()
    );
    let invites = k
        .received()
        .iter()
        .filter(|r| r.is_request("INVITE"))
        .count();
    assert_eq!(
        invites,
        3,
        "SIPp's, sipd's, sipd's with digest:\n{}",
        k.log()
    );
}
