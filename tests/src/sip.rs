//! A scripted voice-mail server on loopback UDP: it sends unsolicited NOTIFYs with
//! message-summary bodies (RFC 3842 §5.2) and reads the answers' status lines; free loopback
//! ports and an OPTIONS liveness probe for every suite.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

/// The message-waiting news of one NOTIFY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The mailbox number (Request-URI user part and Message-Account).
    pub number: String,
    /// `Messages-Waiting: yes|no`.
    pub waiting: bool,
    /// New voice messages.
    pub new: u32,
    /// Old voice messages.
    pub old: u32,
}

impl Summary {
    /// The `application/simple-message-summary` body (RFC 3842 §5.2).
    pub fn body(&self, server: SocketAddr) -> String {
        format!(
            "Messages-Waiting: {}\r\nMessage-Account: sip:{}@{}\r\nVoice-Message: {}/{} (0/0)\r\n",
            if self.waiting { "yes" } else { "no" },
            self.number,
            server.ip(),
            self.new,
            self.old
        )
    }
}

/// The voice-mail server's socket and its request counter.
pub struct VoiceMail {
    socket: UdpSocket,
    cseq: u32,
}

impl VoiceMail {
    /// Bind a UDP socket on 127.0.0.1 (any port).
    pub fn bind() -> io::Result<Self> {
        Self::bind_on("127.0.0.1")
    }

    /// Bind a UDP socket on `ip` (any port); any 127.0.0.0/8 address is on loopback, so a
    /// test can stand in for a server at an address of its own.
    pub fn bind_on(ip: &str) -> io::Result<Self> {
        Ok(Self {
            socket: UdpSocket::bind((ip, 0))?,
            cseq: 0,
        })
    }

    /// Our address (what sipd's `allow` must admit).
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("bound socket")
    }

    /// An unsolicited NOTIFY for `summary`, to `to` (sipd's listening address), for UDP.
    pub fn notify_text(&mut self, summary: &Summary, to: SocketAddr) -> String {
        self.notify_text_for(summary, to, "UDP")
    }

    /// An unsolicited NOTIFY for `summary`, to `to`, with `transport` (`UDP`, `TCP`) in Via.
    pub fn notify_text_for(
        &mut self,
        summary: &Summary,
        to: SocketAddr,
        transport: &str,
    ) -> String {
        self.cseq += 1;
        let me = self.local_addr();
        let body = summary.body(me);
        format!(
            "NOTIFY sip:{num}@{to} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {me};branch=z9hG4bK-vm-{pid}-{cseq}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:voicemail@{ip}>;tag=vm-{pid}\r\n\
             To: <sip:{num}@{toip}>\r\n\
             Call-ID: vm-{pid}-{cseq}@{ip}\r\n\
             CSeq: {cseq} NOTIFY\r\n\
             Contact: <sip:voicemail@{me}>\r\n\
             Event: message-summary\r\n\
             Subscription-State: active\r\n\
             Content-Type: application/simple-message-summary\r\n\
             Content-Length: {len}\r\n\r\n{body}",
            num = summary.number,
            pid = std::process::id(),
            cseq = self.cseq,
            ip = me.ip(),
            toip = to.ip(),
            len = body.len(),
        )
    }

    /// Send `text` to `to` and wait up to `timeout` for a final response to it, retransmitting
    /// as a UDP client transaction does (RFC 3261 §17.1.2.2: Timer E from T1 = 500 ms,
    /// doubling up to T2 = 4 s); returns the response's status line (provisional responses are
    /// skipped).
    pub fn send(&self, text: &str, to: SocketAddr, timeout: Duration) -> io::Result<String> {
        let end = Instant::now() + timeout;
        let mut interval = Duration::from_millis(500);
        let mut next_send = Instant::now();
        let mut buf = vec![0u8; 65_536];
        loop {
            let now = Instant::now();
            if now >= end {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no final response from {to} within {timeout:?}"),
                ));
            }
            if now >= next_send {
                self.socket.send_to(text.as_bytes(), to)?;
                next_send = now + interval;
                interval = (interval * 2).min(Duration::from_secs(4));
            }
            let wait = next_send.min(end).saturating_duration_since(now);
            self.socket
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
            let n = match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            let reply = String::from_utf8_lossy(&buf[..n]);
            let line = reply.lines().next().unwrap_or("").to_owned();
            // Requests from sipd (OPTIONS pings) and answers to other requests are not ours.
            if line.starts_with("SIP/2.0 ")
                && header(&reply, "Call-ID") == header(text, "Call-ID")
                && !line.starts_with("SIP/2.0 1")
            {
                return Ok(line);
            }
        }
    }
}

/// Send `text` over a new TCP connection to `to` and return the status line of the first
/// final response (RFC 3261 §18: one request, Content-Length framing; the connection is closed
/// afterwards).
pub fn send_tcp(text: &str, to: SocketAddr, timeout: Duration) -> io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&to, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(text.as_bytes())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed without a final response",
            ));
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        // Responses to a NOTIFY carry no body: each ends at its blank line.
        let mut rest = text.as_str();
        while let Some(end) = rest.find("\r\n\r\n") {
            let line = rest[..end].lines().next().unwrap_or("");
            if line.starts_with("SIP/2.0 ") && !line.starts_with("SIP/2.0 1") {
                return Ok(line.to_owned());
            }
            rest = &rest[end + 4..];
        }
    }
}

/// The value of the first header `name` of `message` (full names only), trimmed.
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message
        .split("\r\n\r\n")
        .next()?
        .lines()
        .skip(1)
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

/// Ports [`free_port`] hands out: below Linux's ephemeral range (32768-60999 by default), so
/// that a port a test keeps for a peer's restart is not taken meanwhile by another test's
/// outgoing socket, and clear of the fixed RTP ranges the call tests use (21000-23999,
/// 31000-32499).
pub const TEST_PORTS: std::ops::Range<u16> = 24000..31000;

/// A loopback port in [`TEST_PORTS`] free for both UDP and TCP right now, and never handed
/// out before in this process: a port a test keeps across its peer's restart (free while the
/// peer is down) is not given to a test running beside it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let port = fastrand::u16(TEST_PORTS);
        if !given.contains(&port)
            && UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            given.insert(port);
            return port;
        }
    }
    panic!("no port of {TEST_PORTS:?} is free for both UDP and TCP on loopback")
}

/// Whether a SIP server on `port` of 127.0.0.1 answers an out-of-dialog OPTIONS over UDP with
/// 200 within `timeout` (the liveness probe of the hostile-input tests, RFC 3261 §11).
pub fn options_answered(port: u16, timeout: Duration) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(timeout)).expect("timeout");
    let local = sock.local_addr().expect("addr");
    let branch = format!("z9hG4bKprobe{}", local.port());
    let req = format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:127.0.0.1:{port}>\r\n\
         From: <sip:probe@{local}>;tag=probe\r\n\
         Call-ID: {branch}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    sock.send_to(req.as_bytes(), ("127.0.0.1", port))
        .expect("send");
    let mut buf = [0u8; 4096];
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                if text.starts_with("SIP/2.0 200") && text.contains(&branch) {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}
