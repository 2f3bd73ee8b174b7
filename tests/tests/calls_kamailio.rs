//! A call through Kamailio 5.6 as proxy and registrar (issue 12, sipd's side): sipd registers
//! the FXS port 8000 with its own `[fxs.auth]`; SIPp calls 8000 at Kamailio, which routes the
//! INVITE to sipd's registered contact with Record-Route; a fake chand (callctl) answers; SIPp's
//! BYE comes back through Kamailio. Then the port dials an unregistered number: Kamailio
//! challenges the registered line (407), sipd answers with digest, and the 404 reaches chand as
//! Q.850 cause 1.

use callctl::wire::Message as Ctl;
use callctl::Cause;
use dahdi_mwi_tests::daemon::wait_for;
use dahdi_mwi_tests::env::Sipd;
use dahdi_mwi_tests::fakechand::FakeChand;
use dahdi_mwi_tests::kamailio::{Algorithm, Kamailio, Options, SipdSetup};
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::sipp::{passed, scenario, spawn as sipp};
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
    let sipd = Sipd::start_against(&k, &setup);
    let mut chand = FakeChand::listen(&sipd.dir.join("run"), 1);
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
    let target = format!("127.0.0.1:{kport}");
    let (port, media) = (free_port().to_string(), free_port().to_string());
    let uac = scenario("call_uac.xml");
    let uac = uac.to_str().expect("path");
    let args = [
        &target,
        "-sf",
        uac,
        "-s",
        "8000",
        "-m",
        "1",
        "-i",
        "127.0.0.1",
        "-p",
        &port,
        "-mp",
        &media,
    ];
    let mut uac = sipp(&sipd.dir, "uac", &args);
    let call = chand.expect(15, "Incoming", |m| match m {
        Ctl::Incoming { call, port: 1, .. } => Some(*call),
        _ => None,
    });
    chand.answer_until_hangup(call, "127.0.0.1:20010");
    assert!(
        passed(&sipd.dir, "uac", &mut uac),
        "sipd:\n{}\nKamailio:\n{}",
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
