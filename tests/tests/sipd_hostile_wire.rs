//! Hostile bytes on the wire against the real sipd on loopback (issue 11, items 1 and 4):
//! a TCP Content-Length that wraps the size arithmetic, oversize UDP and TCP messages,
//! another SIP version, a bad Via, a bad Request-URI, the size of the answers strangers get
//! (amplification, the rate limit's 503 included), a retransmission from a forged source, and
//! the configured Server header. After each attack the daemon
//! is alive and answers OPTIONS.

use dahdi_mwi_tests::daemon::wait_some as wait_for;
use dahdi_mwi_tests::env::Sipd;
use sipd::wire::Message;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Unsolicited mode with an empty `allow` and a server nobody runs: every sender here is a
/// stranger, and sipd sends nothing of its own. Source blocking is off: these tests send many
/// refused requests from 127.0.0.1 and look at every answer (tests/hostile_notify covers it).
const CONFIG: &str = "[mwi_server]\nserver = \"ipv4:192.0.2.10\"\nunsolicited = true\n\
     options_interval = 0\n[[fxs]]\nchannel = 1\nnumber = \"8000\"\n[sip.block]\nfailures = 0\n";

fn start(dir: &std::path::Path, sip_keys: &str) -> Sipd {
    let sipd = Sipd::start_with(dir, &["127.0.0.1"], sip_keys, CONFIG);
    wait_for(10, "sipd status socket", || sipd.status());
    sipd
}

/// A fresh branch and Call-ID for every request of the test binary.
fn unique() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The smallest request a forger would send: LF line ends, compact names, short values.
/// `extra` goes after the headers every request needs; `body` after the blank line.
fn tiny(method: &str, extra: &str, body: &str) -> String {
    let n = unique();
    let extra: String = extra.lines().map(|l| format!("{l}\n")).collect();
    format!(
        "{method} sip:8000@h SIP/2.0\nv:SIP/2.0/UDP h;branch=z9hG4bK{n}\nf:<sip:a@h>;tag=1\n\
         t:<sip:8000@h>\ni:{n}\nCSeq:1 {method}\nMax-Forwards:70\n{extra}\n{body}"
    )
}

/// Send `req` over UDP from `from` and wait up to `wait` for one answer.
fn udp(sipd: &Sipd, from: &str, req: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let s = UdpSocket::bind(from).expect("bind");
    s.set_read_timeout(Some(wait)).expect("timeout");
    s.send_to(req, ("127.0.0.1", sipd.port)).expect("send");
    let mut buf = vec![0u8; 65_536];
    match s.recv(&mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        Err(e) => panic!("udp receive: {e}"),
    }
}

/// Status code and reason of the answer to `req` over UDP.
fn answer(sipd: &Sipd, req: &str) -> (u16, String) {
    let rsp = udp(sipd, "127.0.0.1:0", req.as_bytes(), Duration::from_secs(3))
        .unwrap_or_else(|| panic!("no answer to {req:?}"));
    let m = Message::parse(&rsp).expect("sipd answers valid SIP");
    match m.start {
        sipd::wire::StartLine::Response { code, reason } => (code, reason),
        sipd::wire::StartLine::Request { .. } => panic!("a request came back"),
    }
}

/// The daemon is alive and answers OPTIONS over UDP.
fn answers_options(sipd: &Sipd) {
    assert_eq!(answer(sipd, &tiny("OPTIONS", "", "")).0, 200);
}

/// Whether the peer closed `s` (EOF or reset) within 3 s, reading and discarding the rest.
fn closed_by_peer(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// CPU time (user + system) the process `pid` has used, from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15 (proc(5)).
    let fields: Vec<&str> = stat.rsplit_once(") ").expect("stat").1.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    let hz: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    Duration::from_millis(ticks * 1000 / hz)
}

/// The issue 11 case: header length + Content-Length = 2^64. The debug build used to panic
/// ("attempt to add with overflow"), the release build framed empty messages forever at
/// 62 % CPU.
#[test]
fn a_wrapping_content_length_over_tcp_closes_the_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = start(dir.path(), "");
    let head = "OPTIONS sip:8000@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKwrap\r\n\
                Content-Length: ";
    let body_start = (head.len() + 20 + 4) as u64;
    let wrap = 0u64.wrapping_sub(body_start);
    let attack = format!("{head}{wrap:020}\r\n\r\n{}", tiny("OPTIONS", "l:0", ""));
    let mut s = TcpStream::connect(("127.0.0.1", sipd.port)).expect("connect");
    s.write_all(attack.as_bytes()).expect("send");
    assert!(closed_by_peer(&mut s), "sipd closes the connection");
    wait_for(5, "the log line", || {
        sipd.log()
            .contains("Content-Length beyond any size (maximum 65536 octets); closing")
            .then_some(())
    });
    answers_options(&sipd);
    let mut s = TcpStream::connect(("127.0.0.1", sipd.port)).expect("connect");
    let n = unique();
    let options = format!(
        "OPTIONS sip:8000@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKt{n}\r\n\
         From: <sip:a@h>;tag=1\r\nTo: <sip:8000@h>\r\nCall-ID: t{n}\r\nCSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(options.as_bytes()).expect("send");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let got = s.read(&mut buf).expect("an answer over TCP");
    assert!(buf[..got].starts_with(b"SIP/2.0 200 OK\r\n"));
    drop(s);
    let pid = sipd.daemon.pid();
    let before = cpu_time(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_time(pid) - before;
    println!("sipd CPU over 2 s idle after the attack: {used:?}");
    assert!(used < Duration::from_millis(100), "idle sipd used {used:?}");
}

#[test]
fn an_oversize_udp_request_gets_413_and_junk_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = start(dir.path(), "max_message_size = 2048\n");
    let body = "x".repeat(3000);
    let big = tiny("OPTIONS", "c:text/plain\nl:3000", &body);
    assert_eq!(
        answer(&sipd, &big),
        (413, "Request Entity Too Large".into())
    );
    let junk = vec![b'j'; 3000];
    let got = udp(&sipd, "127.0.0.1:0", &junk, Duration::from_millis(700));
    assert_eq!(got, None, "no answer to an unreadable oversize datagram");
    wait_for(5, "the log line", || {
        sipd.log()
            .contains("longer than the maximum message size; dropped")
            .then_some(())
    });
    // Just under the limit is served.
    let fits = tiny("OPTIONS", "c:text/plain\nl:1800", &"x".repeat(1800));
    assert!(fits.len() <= 2048);
    assert_eq!(answer(&sipd, &fits).0, 200);
}

#[test]
fn an_oversize_tcp_message_closes_the_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = start(dir.path(), "max_message_size = 2048\n");
    // A Content-Length beyond the limit.
    let mut s = TcpStream::connect(("127.0.0.1", sipd.port)).expect("connect");
    s.write_all(tiny("OPTIONS", "l:5000", "").as_bytes())
        .expect("send");
    assert!(closed_by_peer(&mut s), "closed on Content-Length");
    // A header section that never ends.
    let mut s = TcpStream::connect(("127.0.0.1", sipd.port)).expect("connect");
    let endless = format!("OPTIONS sip:8000@h SIP/2.0\r\nX: {}", "a".repeat(4000));
    // The daemon may close before it read everything: a reset on write is the answer too.
    let _ = s.write_all(endless.as_bytes());
    assert!(
        closed_by_peer(&mut s),
        "closed on an endless header section"
    );
    wait_for(5, "the log lines", || {
        let log = sipd.log();
        (log.contains("(maximum 2048); closing") && log.matches("; closing").count() >= 2)
            .then_some(())
    });
    answers_options(&sipd);
}

#[test]
fn invalid_sip_is_rejected_not_guessed_at() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = start(dir.path(), "");
    let v3 = tiny("OPTIONS", "", "").replacen("SIP/2.0\n", "SIP/3.0\n", 1);
    assert_eq!(answer(&sipd, &v3), (505, "Version Not Supported".into()));
    let notify = tiny("NOTIFY", "o:message-summary", "");
    let bad_via = notify.replacen("SIP/2.0/UDP h;", "SIP/2.0/UDP h h;", 1);
    assert_eq!(
        answer(&sipd, &bad_via),
        (400, "Bad Request (malformed Via header)".into())
    );
    for uri in ["8000@h", "sip:8000@", "sip:8000@h:70000", "sip:80 00@h"] {
        let bad_uri = notify.replacen("sip:8000@h", uri, 1);
        assert_eq!(
            answer(&sipd, &bad_uri),
            (400, "Bad Request (malformed Request-URI)".into()),
            "{uri}"
        );
    }
    let http = tiny("OPTIONS", "", "").replacen("sip:8000@h", "http://h/", 1);
    assert_eq!(answer(&sipd, &http).0, 416);
    answers_options(&sipd);
}

/// Every kind of answer a stranger can pull from sipd, for the smallest request that pulls
/// it: never more than twice the request's size.
#[test]
fn answers_to_strangers_are_at_most_twice_the_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = start(dir.path(), "");
    let cases = [
        (200, tiny("OPTIONS", "", "")),
        (403, tiny("NOTIFY", "o:message-summary", "")),
        (489, tiny("NOTIFY", "o:x", "")),
        (405, tiny("SUBSCRIBE", "", "")),
        (405, tiny("INFO", "", "")),
        (501, tiny("FROB", "", "")),
        (420, tiny("OPTIONS", "Require:x", "")),
        (400, tiny("OPTIONS", "", "").replacen("\ni:", "\nX:", 1)),
        (400, tiny("OPTIONS", "", "").replacen("h;", "h h;", 1)),
        (
            400,
            tiny("NOTIFY", "o:message-summary", "").replacen("sip:8000@h", "x", 1),
        ),
        (
            416,
            tiny("OPTIONS", "", "").replacen("sip:8000@h", "http:h", 1),
        ),
        (
            505,
            tiny("OPTIONS", "", "").replacen("SIP/2.0\n", "SIP/3.0\n", 1),
        ),
    ];
    let mut worst = 0.0f64;
    for (code, req) in cases {
        let rsp = udp(&sipd, "127.0.0.1:0", req.as_bytes(), Duration::from_secs(3))
            .unwrap_or_else(|| panic!("no answer to {req:?}"));
        // (The answer to a request without Call-ID has none either: no full parse here.)
        let status = format!("SIP/2.0 {code} ");
        assert!(rsp.starts_with(status.as_bytes()), "{req:?}");
        if let Some(h) = sipd::wire::required_header(code) {
            let field = format!("\r\n{h}: ");
            assert!(
                rsp.windows(field.len()).any(|w| w == field.as_bytes()),
                "{code} without {h}"
            );
        }
        let ratio = rsp.len() as f64 / req.len() as f64;
        println!(
            "{code}: request {} octets, answer {} octets, ratio {ratio:.2}",
            req.len(),
            rsp.len()
        );
        assert!(ratio <= 2.0, "{code}: {ratio:.2} for {req:?}");
        worst = worst.max(ratio);
    }
    println!("worst amplification: {worst:.2}");
}

/// A retransmission of a request whose answer is cached, sent from another address (a
/// forged source): the cached answer never goes there. The request is a new one from that
/// source (a fresh answer, its own To tag, no larger than twice the request); the real source
/// still gets the cached answer again.
#[test]
fn a_retransmission_from_another_source_never_gets_the_cached_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = start(dir.path(), "");
    let req = tiny("OPTIONS", "", "");
    let real = UdpSocket::bind("127.0.0.1:0").expect("bind");
    real.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut buf = vec![0u8; 65_536];
    real.send_to(req.as_bytes(), ("127.0.0.1", sipd.port))
        .expect("send");
    let n = real.recv(&mut buf).expect("first answer");
    let first = buf[..n].to_vec();
    let forged = udp(&sipd, "127.0.0.2:0", req.as_bytes(), Duration::from_secs(2))
        .expect("a fresh answer to the new request");
    assert_ne!(forged, first, "the cached answer went to another source");
    assert!(forged.len() <= 2 * req.len());
    real.send_to(req.as_bytes(), ("127.0.0.1", sipd.port))
        .expect("send");
    let start = Instant::now();
    let n = real.recv(&mut buf).expect("answer to the retransmission");
    assert_eq!(buf[..n], first[..], "the cached answer, again");
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// The Server header is `[sip] user_agent`, and by default names no version (a scan such as
/// svmap learned `dahdi-mwi-sipd/0.1.0` before).
#[test]
fn the_server_header_is_configured_and_names_no_version() {
    for (keys, want) in [
        ("", "dahdi-mwi"),
        ("user_agent = \"Lab GW (test)\"\n", "Lab GW (test)"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let sipd = start(dir.path(), keys);
        // A request of ordinary size: its answer is not trimmed.
        let pad = format!("Subject:{}", "s".repeat(200));
        let rsp = udp(
            &sipd,
            "127.0.0.1:0",
            tiny("OPTIONS", &pad, "").as_bytes(),
            Duration::from_secs(3),
        )
        .expect("an answer");
        let m = Message::parse(&rsp).expect("valid answer");
        assert_eq!(m.header("Server"), Some(want));
    }
}

/// The 503 of the rate limit ([sip.limits]) is no larger than twice the request either.
#[test]
fn the_rate_limit_503_is_at_most_twice_the_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sipd = Sipd::start_with(
        dir.path(),
        &["127.0.0.1"],
        "",
        &format!("{CONFIG}[sip.limits]\nrate = 1\nburst = 1\n"),
    );
    wait_for(10, "sipd status socket", || sipd.status());
    assert_eq!(answer(&sipd, &tiny("OPTIONS", "", "")).0, 200);
    let req = tiny("OPTIONS", "", "");
    let rsp = udp(&sipd, "127.0.0.1:0", req.as_bytes(), Duration::from_secs(3)).expect("a 503");
    assert!(rsp.starts_with(b"SIP/2.0 503 "));
    let ratio = rsp.len() as f64 / req.len() as f64;
    println!(
        "503: request {} octets, answer {} octets, ratio {ratio:.2}",
        req.len(),
        rsp.len()
    );
    assert!(ratio <= 2.0, "{ratio:.2}");
}
