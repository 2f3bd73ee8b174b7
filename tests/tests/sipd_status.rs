//! `sipd status --format cisco` against the modelled gateway's `show sip-ua mwi` (issue 14
//! item 1): a sipd set up like the sample (the `dns:` server with expires 60, port 5060, UDP,
//! unsolicited; endpoints 8000 ON and 8001 OFF, learned from the server's NOTIFYs) prints the
//! sample field for field. The server's address is a loopback stand-in, named by the SRV record
//! of a name server on loopback. And the runtime message trace (issue 14 item 2): `sipd trace
//! on|off` over the status socket switches one-line SIP traces in the log without a restart.

use dahdi_mwi_tests::daemon::{binary, wait_some as wait_for};
use dahdi_mwi_tests::dns::{srv_server, SrvTarget};
use dahdi_mwi_tests::env::Sipd;
use dahdi_mwi_tests::sip::{Summary, VoiceMail};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The gateway's sample output of `show sip-ua mwi`, as its configuration guide prints it.
const SAMPLE: &str = "\
MWI type: 2
MWI server: dns:unity-vm.example1.com
MWI expires: 60
MWI port: 5060
MWI transport type: UDP
MWI unsolicited
MWI server IP address:
C801011E
0
0
0
0
0
0
0
0
0
MWI ipaddr cnt 1:
MWI ipaddr idx 0:
MWI server: 192.168.1.30, port 5060, transport 1
MWI server dns lookup retry cnt: 0
endpoint 8000 mwi status ON
endpoint 8000 mwi status ON
endpoint 8001 mwi status OFF
";

/// The stand-in for the sample's server: on loopback, with the sample's last two octets.
const SERVER: Ipv4Addr = Ipv4Addr::new(127, 1, 1, 30);

#[test]
fn cisco_format_is_the_reference_sample_field_for_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stop = Arc::new(AtomicBool::new(false));
    let dns = srv_server(
        vec![SrvTarget {
            priority: 0,
            port: 5060,
            target: "127.1.1.30",
        }],
        Arc::clone(&stop),
    );
    let sipd = Sipd::start_via(
        dir.path(),
        &["127.0.0.1"],
        "[mwi_server]\nserver = \"dns:unity-vm.example1.com\"\nexpires = 60\nport = 5060\n\
         transport = \"udp\"\nunsolicited = true\noptions_interval = 0\n\
         [[fxs]]\nchannel = 1\nnumber = \"8000\"\n[[fxs]]\nchannel = 2\nnumber = \"8001\"\n",
        &[],
        &[("SIPD_NAMESERVERS", &dns.to_string())],
    );
    wait_for(10, "the server's address", || {
        sipd.status().filter(|s| !s.addresses.is_empty())
    });
    // The server's NOTIFYs, from its address (no `allow`: only the resolved address may send).
    let mut vm = VoiceMail::bind_on(&SERVER.to_string()).expect("bind the server's address");
    let to: SocketAddr = ([127, 0, 0, 1], sipd.port).into();
    for (number, waiting) in [("8000", true), ("8001", false)] {
        let summary = Summary {
            number: number.into(),
            waiting,
            new: u32::from(waiting),
            old: 0,
        };
        let text = vm.notify_text(&summary, to);
        let answer = vm.send(&text, to, Duration::from_secs(5)).expect("answer");
        assert_eq!(answer, "SIP/2.0 200 OK", "{}", sipd.log());
    }
    let (ok, got, err) = sipd.cli(&["status", "--format", "cisco"]);
    stop.store(true, Ordering::Relaxed);
    assert!(ok, "{err}");
    // The sample's hex is not its server's address (C801011E is 200.1.1.30): each stands for
    // the server, so both become the stand-in's. The router prints an endpoint once per dial
    // peer, the sample has two for 8000; sipd prints one line per number.
    let want = SAMPLE
        .replace("C801011E", &format!("{:X}", u32::from(SERVER)))
        .replace("192.168.1.30", &SERVER.to_string())
        .replacen("endpoint 8000 mwi status ON\n", "", 1);
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {} differs:\n{got}", i + 1);
    }
    assert_eq!(got, want);
    // `--json` is `--format json`, which carries the lookup failures too.
    let json: serde_json::Value =
        serde_json::from_str(&sipd.cli(&["status", "--json"]).1).expect("JSON");
    assert_eq!(json["mwi_lookup_failures"], 0, "{json}");
    assert_eq!(json["addresses"][0], "127.1.1.30:5060", "{json}");
}

#[test]
fn format_values_are_checked() {
    let out = Command::new(binary("sipd"))
        .args(["status", "--format", "ios"])
        .output()
        .expect("sipd status");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'ios'"), "{err}");
    assert!(
        err.contains("[possible values: plain, cisco, json]"),
        "{err}"
    );
    let out = Command::new(binary("sipd"))
        .args(["status", "--json", "--format", "cisco"])
        .output()
        .expect("sipd status");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be used with"), "{err}");
}

/// The trace lines of `log` (target `sipd::trace`) that are about messages.
fn trace_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("sipd::trace: SIP recv ") || l.contains("sipd::trace: SIP sent "))
        .collect()
}

#[test]
fn trace_switches_on_and_off_without_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = Sipd::start(
        dir.path(),
        "[mwi_server]\nserver = \"ipv4:192.0.2.10\"\nunsolicited = true\n\
         allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n[[fxs]]\nchannel = 1\nnumber = \"8000\"\n",
    );
    wait_for(10, "sipd status socket", || sipd.status());
    let mut vm = VoiceMail::bind().expect("bind");
    let vm_addr = vm.local_addr();
    let to: SocketAddr = ([127, 0, 0, 1], sipd.port).into();
    let mut notify = |waiting: bool| {
        let summary = Summary {
            number: "8000".into(),
            waiting,
            new: u32::from(waiting),
            old: 0,
        };
        let text = vm.notify_text(&summary, to);
        let answer = vm.send(&text, to, Duration::from_secs(5)).expect("answer");
        assert_eq!(answer, "SIP/2.0 200 OK");
        dahdi_mwi_tests::sip::header(&text, "Call-ID")
            .expect("Call-ID")
            .to_owned()
    };
    notify(true);
    assert!(trace_lines(&sipd.log()).is_empty(), "{}", sipd.log());
    let on = sipd.cli(&["trace", "on"]);
    assert_eq!(on, (true, "trace on\n".into(), String::new()));
    let call_id = notify(false);
    let log = sipd.log();
    let lines = trace_lines(&log);
    assert!(
        lines.iter().any(|l| l.contains(&format!(
            "SIP recv udp from {vm_addr}: \"NOTIFY sip:8000@127.0.0.1:{} SIP/2.0\" \
             Call-ID: {call_id} CSeq: 2 NOTIFY (",
            sipd.port
        ))),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l.contains(&format!(
            "SIP sent udp to {vm_addr}: \"SIP/2.0 200 OK\" Call-ID: {call_id} CSeq: 2 NOTIFY ("
        ))),
        "{log}"
    );
    assert_eq!(lines.len(), 2, "one line per message:\n{log}");
    assert_eq!(sipd.cli(&["trace", "off"]).1, "trace off\n");
    notify(true);
    assert_eq!(trace_lines(&sipd.log()).len(), 2, "{}", sipd.log());
    assert!(sipd.log().contains("SIP message trace off by command"));
    // Anything else on the socket gets a reason, and the daemon goes on answering.
    let cfg = mwi_config::Config::load(&sipd.config).expect("config");
    let answer = sipd::daemon::control(&cfg, "trace maybe").expect("an answer");
    assert_eq!(
        String::from_utf8_lossy(&answer),
        "error: unknown request \"trace maybe\"; expected status, trace on|off or capture on|off\n"
    );
    assert!(sipd.status().is_some());
}

/// The pcapng capture (issue 14 item 2): with `[trace] capture_dir`, sipd writes the NOTIFY
/// and its 200 as IPv4/UDP packets with the real addresses and ports; tshark decodes both,
/// nothing flagged. `sipd capture off` closes the file, `on` starts it anew; then the same
/// over TCP, as the connection's segments.
#[test]
fn capture_opens_in_tshark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("capture");
    std::fs::create_dir(&capture).unwrap();
    let sipd = Sipd::start(
        dir.path(),
        &format!(
            "[mwi_server]\nserver = \"ipv4:192.0.2.10\"\nunsolicited = true\n\
             allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n[[fxs]]\nchannel = 1\n\
             number = \"8000\"\n[trace]\ncapture_dir = \"{}\"\n",
            capture.display()
        ),
    );
    wait_for(10, "sipd status socket", || sipd.status());
    let mut vm = VoiceMail::bind().expect("bind");
    let vm_port = vm.local_addr().port();
    let to: SocketAddr = ([127, 0, 0, 1], sipd.port).into();
    let summary = Summary {
        number: "8000".into(),
        waiting: true,
        new: 1,
        old: 0,
    };
    let text = vm.notify_text(&summary, to);
    let answer = vm.send(&text, to, Duration::from_secs(5)).expect("answer");
    assert_eq!(answer, "SIP/2.0 200 OK");
    assert_eq!(sipd.cli(&["capture", "off"]).1, "capture off\n");
    let file = capture.join("sipd-0.pcapng");
    let all = dahdi_mwi_tests::tshark::filter(&file, "sip");
    let notify = dahdi_mwi_tests::tshark::filter(
        &file,
        &format!(
            "sip.Method == \"NOTIFY\" && udp.srcport == {vm_port} && udp.dstport == {} \
             && ip.dst == 127.0.0.1",
            sipd.port
        ),
    );
    assert_eq!(notify.len(), 1, "{all:#?}");
    let ok = dahdi_mwi_tests::tshark::filter(
        &file,
        &format!("sip.Status-Code == 200 && udp.dstport == {vm_port}"),
    );
    assert_eq!(ok.len(), 1, "{all:#?}");
    let flagged = dahdi_mwi_tests::tshark::filter(&file, dahdi_mwi_tests::tshark::FLAGGED);
    assert!(flagged.is_empty(), "{flagged:#?}");
    let on = sipd.cli(&["capture", "on"]);
    assert!(on.1.starts_with("capture on: "), "{on:?}");

    // Over TCP: two NOTIFYs on one connection and their 200s are its segments, one byte
    // stream each way with the connection's ports; tshark follows it without a complaint.
    let mut tcp = TcpStream::connect(to).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let tcp_port = tcp.local_addr().unwrap().port();
    for _ in 0..2 {
        let text = vm.notify_text_for(&summary, to, "TCP");
        tcp.write_all(text.as_bytes()).expect("write");
    }
    let mut answers = String::new();
    let mut buf = [0u8; 4096];
    while answers.matches("SIP/2.0 200 OK").count() < 2 {
        let n = tcp.read(&mut buf).expect("two 200s over TCP");
        assert!(n > 0, "closed after {answers:?}");
        answers.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert_eq!(sipd.cli(&["capture", "off"]).1, "capture off\n");
    let all = dahdi_mwi_tests::tshark::filter(&file, "tcp");
    let notifies = dahdi_mwi_tests::tshark::filter(
        &file,
        &format!(
            "sip.Method == \"NOTIFY\" && tcp.srcport == {tcp_port} && tcp.dstport == {}",
            sipd.port
        ),
    );
    assert_eq!(notifies.len(), 2, "{all:#?}");
    let oks = dahdi_mwi_tests::tshark::filter(
        &file,
        &format!("sip.Status-Code == 200 && tcp.dstport == {tcp_port}"),
    );
    assert_eq!(oks.len(), 2, "{all:#?}");
    let analysis = dahdi_mwi_tests::tshark::filter(&file, "tcp.analysis.flags");
    assert!(analysis.is_empty(), "{analysis:#?}");
    let flagged = dahdi_mwi_tests::tshark::filter(&file, dahdi_mwi_tests::tshark::FLAGGED);
    assert!(flagged.is_empty(), "{flagged:#?}");
}
