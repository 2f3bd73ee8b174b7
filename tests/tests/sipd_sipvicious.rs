//! SIPVicious (Debian `sipvicious`: svmap, svwar, svcrack) against a running sipd on loopback,
//! as an attacker on the network edge would start: fingerprint the device, enumerate
//! extensions, crack a password. Nothing may be learnt beyond "a SIP device is here", and sipd
//! stays healthy throughout. A missing tool fails the test.

use dahdi_mwi_tests::daemon::wait_some;
use dahdi_mwi_tests::env::Sipd;
use dahdi_mwi_tests::sip::options_answered;
use std::process::Command;
use std::time::Duration;

/// The password configured for the port numbers; the dictionary given to svcrack holds it.
const PASSWORD: &str = "s3cret-Pass";

fn start(dir: &std::path::Path) -> Sipd {
    Sipd::start(
        dir,
        &format!(
            "[sip.auth]\nusername = \"8000\"\npassword = \"{PASSWORD}\"\n\
             [mwi_server]\nserver = \"ipv4:127.0.0.1\"\nunsolicited = true\n\
             allow = [\"127.0.0.1/32\"]\n\
             [[fxs]]\nchannel = 1\nnumber = \"8000\"\n\
             [[fxs]]\nchannel = 2\nnumber = \"8001\"\nmwi = false\n"
        ),
    )
}

/// Runs one SIPVicious tool against sipd and returns what it printed (stdout and stderr).
fn run(tool: &str, args: &[&str], port: u16) -> String {
    let port = port.to_string();
    let out = Command::new("timeout")
        .arg("120")
        .arg(tool)
        .args(args)
        .args(["-p", &port, "127.0.0.1"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}; install the sipvicious package"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("command not found") && out.status.code() != Some(127),
        "{tool} is not installed (Debian package sipvicious): {text}"
    );
    text
}

fn assert_healthy(sipd: &mut Sipd, after: &str) {
    assert!(sipd.daemon.exited().is_none(), "sipd exited after {after}");
    assert!(
        options_answered(sipd.port, Duration::from_secs(2)),
        "sipd does not answer OPTIONS after {after}"
    );
    assert!(sipd.status().is_some(), "sipd status fails after {after}");
}

#[test]
fn sipvicious_learns_nothing_and_sipd_stays_healthy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sipd = start(dir.path());
    wait_some(10, "sipd answering OPTIONS", || {
        options_answered(sipd.port, Duration::from_millis(300)).then_some(())
    });

    // svmap finds a SIP device (proof the tool reached sipd) but no software version.
    let map = run("svmap", &[], sipd.port);
    let row = map
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{}", sipd.port)))
        .unwrap_or_else(|| panic!("svmap did not find sipd:\n{map}"));
    assert!(
        !row.contains(env!("CARGO_PKG_VERSION")),
        "svmap reads sipd's version: {row}"
    );
    assert_healthy(&mut sipd, "svmap");

    // svwar with every method it knows: no extension stands out from the others, configured
    // (8000 with MWI, 8001 without) or not.
    for method in ["REGISTER", "OPTIONS", "INVITE"] {
        let war = run("svwar", &["-m", method, "-e", "7990-8010"], sipd.port);
        assert!(
            war.contains("found nothing"),
            "svwar -m {method} enumerated extensions:\n{war}"
        );
        assert_healthy(&mut sipd, &format!("svwar -m {method}"));
    }

    // svcrack with a dictionary that holds the real password: nothing is cracked.
    let dict = dir.path().join("dict.txt");
    std::fs::write(&dict, format!("password\n1234\n8000\n{PASSWORD}\nadmin\n")).expect("dict");
    let crack = run(
        "svcrack",
        &["-u", "8000", "-d", dict.to_str().expect("utf-8 path")],
        sipd.port,
    );
    assert!(
        !crack.contains(PASSWORD),
        "svcrack cracked the password:\n{crack}"
    );
    assert!(
        crack.contains("found nothing"),
        "svcrack did not end empty-handed:\n{crack}"
    );
    assert_healthy(&mut sipd, "svcrack");
}
