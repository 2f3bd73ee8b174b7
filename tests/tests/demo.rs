//! The demo (`scripts/demo`) end to end: it runs by itself within its time bound and prints the
//! NOTIFYs with sipd's answers, the PBX's decoded invokes, the tone heard, writes its PNG
//! (the level plot with the bursts marked, tests/src/plot.rs, whose unit test checks the
//! drawing), places a call to the voice-mail pilot (greeting heard, digit received as
//! RFC 4733, BYE), and shows its runtime traces and its two captures read by tshark (issue 14:
//! "a trace and a capture of the demo open in tshark").

use dahdi_mwi_tests::plot;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn demo_runs_and_reports_every_step() {
    // The demo starts chand and sipd from its own directory: have them built.
    dahdi_mwi_tests::daemon::binary("chand");
    dahdi_mwi_tests::daemon::binary("sipd");
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("envelope.png");
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_demo"))
        .arg("--png")
        .arg(&png)
        .output()
        .expect("run the demo");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{text}\n{err}");
    assert!(start.elapsed() < Duration::from_secs(60));
    for want in [
        "NOTIFY sip:8000@",
        "NOTIFY sip:2001@",
        "Messages-Waiting: yes",
        "Messages-Waiting: no",
        "sipd      answers: SIP/2.0 200 OK",
        "endpoint 8000 mwi status OFF",
        "received MWIActivate invokeId=1 servedUserNr=2001 (unknownPartyNumber) \
         basicService=Speech(1) nbOfMessages=3",
        "received MWIDeactivate invokeId=2 servedUserNr=2001",
        "10 burst(s), on 100 ms / off 100 ms, then steady tone from 2000 ms",
        "steady part: 350 Hz (-13.0 dBm0) + 440 Hz (-13.0 dBm0)",
        "heard plain dial tone: steady tone from 0 ms",
        "off-hook, hears the stutter dial tone: ",
        "dials the voice-mail pilot *98 in DTMF",
        "to *98 connected",
        "hears the greeting: 1004 Hz at ",
        "received RFC 4733 event 1 in ",
        "end bit set, duration ",
        "received BYE, answered 200: call ended",
        "sipd      trace on",
        "chand     trace on",
        "trace     sipd: ",
        "SIP recv udp from 127.0.0.1:",
        "trace     chand: ",
        "sipd-0.pcapng read by tshark: ",
        " INVITE, ",
        " BYE, none flagged",
        "chand-0.pcapng read by tshark: ",
        " MWIActivate, ",
        " MWIDeactivate, none flagged",
        "demo      done",
    ] {
        assert!(text.contains(want), "demo output lacks {want:?}:\n{text}");
    }
    assert!(
        text.contains("plot      level (dBm0) over the first 3000 ms, bursts marked (10 burst(s)"),
        "{text}"
    );
    let file = std::fs::File::open(&png).expect("the PNG is written");
    let info = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG");
    let (w, h) = info.info().size();
    assert_eq!((w, h), (plot::WIDTH, plot::HEIGHT));
}
