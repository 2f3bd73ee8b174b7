//! sipd against SIPp 3.6 (Debian `sip-tester`) on loopback: sipd subscribing to a SIPp
//! voice-mail server; unsolicited NOTIFY answered 200, 481 for an unknown number, 403 from a
//! source not allowed; malformed requests answered with the code naming the defect, after which
//! sipd still answers a valid NOTIFY.

use dahdi_mwi_tests::daemon::wait_some as wait_for;
use dahdi_mwi_tests::env::Sipd;
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::sipp::{run as sipp, scenario};
use mwi_core::MwiState;
use std::path::Path;

#[test]
fn sipd_subscribes_to_a_sipp_voicemail_server() {
    subscribe_to_sipp("ipv4:127.0.0.1");
}

/// `dns:localhost`: the SRV lookup finds nothing, A/AAAA give ::1 and 127.0.0.1; SIPp listens
/// on 127.0.0.1 only, so whichever address comes first, sipd ends up subscribed there.
#[test]
fn dns_server_falls_back_to_a_aaaa() {
    subscribe_to_sipp("dns:localhost");
}

fn subscribe_to_sipp(server: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let vm_port = free_port();
    let numbers = ["8000", "8001"];
    let fxs: String = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| format!("[[fxs]]\nchannel = {}\nnumber = \"{n}\"\n", i + 1))
        .collect();
    // SIPp first, so the first SUBSCRIBE finds it listening.
    let port = vm_port.to_string();
    let sf = scenario("vm_server.xml");
    let vm = std::thread::spawn({
        let dir = dir.path().to_owned();
        move || {
            sipp(
                &dir,
                "vm",
                &[
                    "-sf",
                    sf.to_str().expect("path"),
                    "-i",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-m",
                    "2",
                ],
            )
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sipd = Sipd::start(
        dir.path(),
        &format!(
            "[mwi_server]\nserver = \"{server}\"\nport = {vm_port}\nexpires = 3600\n\
             options_interval = 0\n{fxs}"
        ),
    );
    assert!(
        vm.join().expect("sipp thread"),
        "SIPp voice-mail scenario failed"
    );
    for n in numbers {
        wait_for(60, &format!("state of {n}"), || {
            (sipd.table_state(n)
                == Some(MwiState {
                    waiting: true,
                    new: 3,
                    old: 1,
                    urgent_new: 1,
                    ..MwiState::default()
                }))
            .then_some(())
        });
    }
    let st = sipd.status().expect("status");
    assert!(
        st.numbers.iter().all(|n| n.subscription == "active"),
        "{st:?}"
    );
}

fn unsolicited_sipd(dir: &Path) -> Sipd {
    Sipd::start(
        dir,
        "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = 5999\nunsolicited = true\n\
         allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n\
         [[fxs]]\nchannel = 1\nnumber = \"8000\"\n\
         [[fxs]]\nchannel = 2\nnumber = \"8009\"\nmwi = false\n",
    )
}

fn wait_listening(sipd: &Sipd) {
    wait_for(10, "sipd status socket", || sipd.status());
}

fn unsolicited(dir: &Path, sipd: &Sipd, from_ip: &str, number: &str, expect: u16) -> bool {
    let text = std::fs::read_to_string(scenario("unsolicited.xml")).expect("scenario");
    let sf = dir.join(format!("unsolicited-{expect}.xml"));
    std::fs::write(&sf, text.replace("EXPECT", &expect.to_string())).expect("write scenario");
    let target = format!("127.0.0.1:{}", sipd.port);
    let port = free_port().to_string();
    sipp(
        dir,
        &format!("unsolicited-{number}-{expect}"),
        &[
            &target,
            "-sf",
            sf.to_str().expect("path"),
            "-s",
            number,
            "-i",
            from_ip,
            "-p",
            &port,
            "-m",
            "1",
        ],
    )
}

#[test]
fn unsolicited_notify_200_481_403() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = unsolicited_sipd(dir.path());
    wait_listening(&sipd);
    assert!(unsolicited(dir.path(), &sipd, "127.0.0.1", "8000", 200));
    assert_eq!(sipd.table_state("8000"), Some(MwiState::voice(true, 1, 0)));
    assert!(unsolicited(dir.path(), &sipd, "127.0.0.1", "9999", 481));
    assert!(unsolicited(dir.path(), &sipd, "127.0.0.1", "8009", 481));
    assert!(unsolicited(dir.path(), &sipd, "127.0.0.2", "8000", 403));
    assert!(sipd.log().contains("source not in [mwi_server] allow"));

    // What `show sip-ua mwi` shows, from the command line.
    let run = |args: &[&str]| {
        let (ok, out, err) = sipd.cli(args);
        assert!(ok, "{err}");
        out
    };
    let text = run(&["status"]);
    assert!(text.contains("MWI server: ipv4:127.0.0.1\n"), "{text}");
    assert!(text.contains("MWI unsolicited\n"), "{text}");
    assert!(
        text.contains("endpoint 8000 mwi status ON messages 1/0 (0/0)"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(&["status", "--json"])).expect("json");
    assert_eq!(json["unsolicited"], true);
    assert_eq!(run(&["check-config"]), "OK\n");
}

#[test]
fn malformed_requests_then_sipd_still_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = unsolicited_sipd(dir.path());
    wait_listening(&sipd);
    let target = format!("127.0.0.1:{}", sipd.port);
    let port = free_port().to_string();
    let sf = scenario("malformed.xml");
    assert!(sipp(
        dir.path(),
        "malformed",
        &[
            &target,
            "-sf",
            sf.to_str().expect("path"),
            "-s",
            "8000",
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-m",
            "1",
            "-default_behaviors",
            "all,-abortunexp",
        ],
    ));
    assert_eq!(sipd.table_state("8000"), Some(MwiState::voice(true, 5, 0)));
    let log = sipd.log();
    assert!(log.contains("malformed Max-Forwards header"));
    assert!(log.contains("missing Max-Forwards header"));
    assert!(log.contains("Content-Length 500 but body of"));
    // And it goes on answering.
    assert!(unsolicited(dir.path(), &sipd, "127.0.0.1", "8000", 200));
}
