//! The daemon's transports on loopback: UDP and TCP over IPv4 and IPv6, TCP framing by
//! Content-Length across partial reads and with several messages in one read, connection
//! reuse, LF-only line ends, and a stream without Content-Length closed.

use dahdi_mwi_tests::daemon::wait_some as wait_for;
use dahdi_mwi_tests::env::Sipd;
use sipd::wire::{Framer, Message};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

fn start(dir: &std::path::Path) -> Sipd {
    let sipd = Sipd::start_on(
        dir,
        &["127.0.0.1", "::1"],
        "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = 5999\nunsolicited = true\n\
         allow = [\"127.0.0.1/32\", \"::1/128\"]\noptions_interval = 0\n\
         [[fxs]]\nchannel = 1\nnumber = \"8000\"\n",
    );
    wait_for(10, "sipd status socket", || sipd.status());
    sipd
}

fn notify(branch: &str, body: &str, transport: &str) -> Message {
    let mut n = Message::request("NOTIFY", "sip:8000@localhost");
    n.push(
        "Via",
        format!("SIP/2.0/{transport} client.invalid;branch=z9hG4bK{branch}"),
    );
    n.push("Max-Forwards", "70");
    n.push("From", format!("<sip:vm@localhost>;tag={branch}"));
    n.push("To", "<sip:8000@localhost>");
    n.push("Call-ID", branch);
    n.push("CSeq", "1 NOTIFY");
    n.push("Event", "message-summary");
    n.push("Content-Type", "application/simple-message-summary");
    n.body = body.as_bytes().to_vec();
    n
}

/// Read framed responses from `s` until `count` arrived.
fn read_responses(s: &mut TcpStream, count: usize) -> Vec<Message> {
    let mut framer = Framer::new(65_536);
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < count {
        while let Some(m) = framer.next_message().expect("framed response") {
            out.push(Message::parse(&m).expect("valid response"));
        }
        if out.len() >= count {
            break;
        }
        let n = s.read(&mut chunk).expect("response in time");
        assert!(n > 0, "connection closed early");
        framer.push(&chunk[..n]);
    }
    out
}

#[test]
fn udp_over_ipv4_and_ipv6_with_lf_only_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = start(dir.path());
    for (local, target) in [
        ("127.0.0.1:0", format!("127.0.0.1:{}", sipd.port)),
        ("[::1]:0", format!("[::1]:{}", sipd.port)),
    ] {
        let sock = UdpSocket::bind(local).expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let target: SocketAddr = target.parse().expect("addr");
        // The body has no line end, so only the header section changes to LF.
        let n = notify(
            &format!("u{}", target.is_ipv6()),
            "Messages-Waiting: yes",
            "UDP",
        );
        let lf_only = String::from_utf8(n.to_bytes())
            .expect("text")
            .replace("\r\n", "\n");
        sock.send_to(lf_only.as_bytes(), target).expect("send");
        let mut buf = [0u8; 4096];
        let len = sock.recv(&mut buf).expect("response");
        let rsp = Message::parse(&buf[..len]).expect("valid");
        assert_eq!(rsp.code(), Some(200), "{target}: {}", rsp.summary());
    }
}

#[test]
fn tcp_framing_partial_and_batched_reads_and_reuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = start(dir.path());
    for target in [
        format!("127.0.0.1:{}", sipd.port),
        format!("[::1]:{}", sipd.port),
    ] {
        let mut s = TcpStream::connect(&target).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        // One message in three writes with pauses: the daemon reassembles it.
        let one = notify(
            "p1",
            "Messages-Waiting: yes\r\nVoice-Message: 4/0\r\n",
            "TCP",
        )
        .to_bytes();
        for part in one.chunks(one.len() / 3 + 1) {
            s.write_all(part).expect("write");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(read_responses(&mut s, 1)[0].code(), Some(200));
        assert_eq!(
            sipd.table_state("8000").map(|st| st.new),
            Some(4),
            "{target}"
        );
        // Two messages and a keep-alive in one write, then an OPTIONS on the same
        // connection: three answers, in order, on this connection.
        let mut batch = notify("b1", "Messages-Waiting: no\r\n", "TCP").to_bytes();
        batch.extend_from_slice(b"\r\n\r\n");
        batch.extend_from_slice(&notify("b2", "Messages-Waiting: yes\r\n", "TCP").to_bytes());
        s.write_all(&batch).expect("write");
        let mut o = notify("o1", "", "TCP");
        o.start = sipd::wire::StartLine::Request {
            method: "OPTIONS".into(),
            uri: "sip:localhost".into(),
        };
        o.set("CSeq", "2 OPTIONS");
        s.write_all(&o.to_bytes()).expect("write");
        let rs = read_responses(&mut s, 3);
        let ids: Vec<_> = rs.iter().map(|r| r.call_id().unwrap_or("")).collect();
        assert_eq!(ids, ["b1", "b2", "o1"]);
        assert!(rs.iter().all(|r| r.code() == Some(200)));
        assert_eq!(rs[2].header("Allow"), Some("NOTIFY, OPTIONS"));
    }
}

#[test]
fn tcp_without_content_length_is_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = start(dir.path());
    let mut s = TcpStream::connect(("127.0.0.1", sipd.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let text = String::from_utf8(notify("n1", "", "TCP").to_bytes())
        .expect("text")
        .replace("Content-Length: 0\r\n", "");
    s.write_all(text.as_bytes()).expect("write");
    let mut buf = [0u8; 512];
    assert_eq!(s.read(&mut buf).expect("closed, not timed out"), 0);
    assert!(sipd
        .log()
        .contains("no Content-Length on a stream transport"));
}
