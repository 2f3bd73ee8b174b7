//! Kamailio 5.6 as a real registrar and message-waiting server on loopback, for testing sipd
//! against it: one instance per test, unprivileged, in a temp dir, on a free port (UDP and TCP).
//!
//! The configuration is `tests/peers/kamailio/kamailio.cfg` (registrar with auth_db digest,
//! qop=auth, from a sqlite `subscriber` table; presence + presence_mwi with subscriptions in
//! memory). Kamailio 5.6 challenges with one digest algorithm per instance, so a test picks
//! [`Algorithm::Md5`] or [`Algorithm::Sha256`] when it starts one.
//!
//! Besides the process, this module gives a test what it needs around it: a small UDP SIP
//! client ([`SipClient`]) that can REGISTER with digest, SUBSCRIBE, answer NOTIFYs and PUBLISH
//! message-summary state ([`Kamailio::publish`]); what Kamailio received ([`Kamailio::received`],
//! from the `RX` lines its config logs); and `kamcmd` (`ul.dump`) over its control socket.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};
use mwi_core::MwiState;
use mwi_table::Reader;
use sha2::Sha256;

use crate::daemon::{wait_for, Daemon};
use crate::env::{Env, Sipd};
use crate::sip::free_port;

/// Where the Debian package `kamailio-sqlite-modules` keeps the sqlite schema.
pub const SQLITE_SCHEMA_DIR: &str = "/usr/share/kamailio/db_sqlite";
/// The realm the test config challenges with (`REALM` in kamailio.cfg).
pub const REALM: &str = "dahdi-mwi.test";
/// How long Kamailio gets to answer its first OPTIONS.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long [`SipClient`] waits for a response before giving up.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The digest algorithm an instance challenges with (RFC 7616 §3.3, RFC 8760 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `algorithm=MD5`.
    Md5,
    /// `algorithm=SHA-256`.
    Sha256,
}

impl Algorithm {
    /// The token as it appears in WWW-Authenticate.
    pub fn token(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hex(self, data: &str) -> String {
        let bytes: Vec<u8> = match self {
            Self::Md5 => Md5::digest(data.as_bytes()).to_vec(),
            Self::Sha256 => Sha256::digest(data.as_bytes()).to_vec(),
        };
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

/// How to start an instance.
#[derive(Clone, Debug)]
pub struct Options {
    /// The challenge's digest algorithm.
    pub algorithm: Algorithm,
    /// Challenge SUBSCRIBE as well as REGISTER.
    pub subscribe_auth: bool,
    /// Accounts of the `subscriber` table: (username, password).
    pub accounts: Vec<(String, String)>,
    /// Nonce lifetime, s (Kamailio's default 300): a short one makes a client's cached
    /// challenge stale (`stale=true`, RFC 7616 §3.3).
    pub nonce_expire: Option<u32>,
    /// A gateway for the INVITEs whose Request-URI user starts with a prefix: (prefix, the
    /// gateway's loopback port), as a proxy routes a PBX's numbers to its trunk.
    pub gateway: Option<(String, u16)>,
}

impl Options {
    /// MD5 or SHA-256, REGISTER challenged, one account `user1` / `password1`.
    pub fn new(algorithm: Algorithm) -> Self {
        Self {
            algorithm,
            subscribe_auth: false,
            accounts: vec![("user1".into(), "password1".into())],
            nonce_expire: None,
            gateway: None,
        }
    }
}

/// One running Kamailio: its temp dir (config copy, accounts DB, runtime dir, log), port and
/// process. Stopped by pid (SIGTERM) when dropped.
pub struct Kamailio {
    dir: tempfile::TempDir,
    opts: Options,
    port: u16,
    daemon: Option<Daemon>,
}

impl Kamailio {
    /// Create the accounts DB, start Kamailio on a free loopback port (UDP and TCP) and wait
    /// until it answers OPTIONS. Panics, with the log, if it does not come up.
    pub fn start(opts: Options) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dahdi-mwi-kamailio.")
            .tempdir()
            .expect("temp dir");
        create_accounts_db(&dir.path().join("accounts.sqlite"), &opts.accounts);
        let port = free_port();
        let mut k = Self {
            dir,
            opts,
            port,
            daemon: None,
        };
        k.spawn();
        k
    }

    fn spawn(&mut self) {
        let cfg = config_path();
        let d = self.dir.path();
        let db = format!(
            "DBURL=\"sqlite:///{}\"",
            d.join("accounts.sqlite").display()
        );
        let ctl = format!("CTLSOCK=\"unix:{}\"", self.ctl_path().display());
        let server = format!("SERVER=\"sip:127.0.0.1:{}\"", self.port);
        let udp = format!("udp:127.0.0.1:{}", self.port);
        let tcp = format!("tcp:127.0.0.1:{}", self.port);
        let pid = d.join("kamailio.pid");
        let mut args: Vec<String> = vec![
            "-DD".into(),
            "-E".into(),
            "-f".into(),
            cfg.display().to_string(),
            "-Y".into(),
            d.display().to_string(),
            "-w".into(),
            d.display().to_string(),
            "-P".into(),
            pid.display().to_string(),
            "-m".into(),
            "32".into(),
            "-M".into(),
            "8".into(),
            "-l".into(),
            udp,
            "-l".into(),
            tcp,
            "-A".into(),
            db,
            "-A".into(),
            ctl,
            "-A".into(),
            server,
        ];
        if self.opts.algorithm == Algorithm::Sha256 {
            args.extend(["-A".into(), "WITH_SHA256".into()]);
        }
        if self.opts.subscribe_auth {
            args.extend(["-A".into(), "WITH_SUBSCRIBE_AUTH".into()]);
        }
        if let Some(s) = self.opts.nonce_expire {
            args.extend(["-A".into(), format!("NONCE_EXPIRE={s}")]);
        }
        if let Some((prefix, port)) = &self.opts.gateway {
            args.extend([
                "-A".into(),
                format!("GATEWAY=\"sip:127.0.0.1:{port}\""),
                "-A".into(),
                format!("GATEWAY_USERS=\"^{prefix}\""),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let bin = which("kamailio");
        let mut daemon = Daemon::spawn(&bin, &args, &self.log_path());
        let addr = self.addr();
        let up = wait_for(START_TIMEOUT, || {
            daemon.assert_running();
            let Ok(mut c) = SipClient::new(addr) else {
                return false;
            };
            c.timeout = Duration::from_millis(200);
            c.request(
                "OPTIONS",
                &format!("sip:127.0.0.1:{}", addr.port()),
                &[],
                "",
            )
            .is_some_and(|r| r.status() == Some(200))
        });
        assert!(
            up,
            "Kamailio did not answer OPTIONS on {addr} within {START_TIMEOUT:?}; log:\n{}",
            daemon.log()
        );
        self.daemon = Some(daemon);
    }

    /// Stop (SIGTERM by pid) and start again on the same port: every subscription, presentity
    /// and contact is lost, as after a server restart.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Start a stopped instance again on its port (see [`Kamailio::restart`]), once the old
    /// one's processes have let go of it.
    pub fn start_again(&mut self) {
        // The main process is gone, but its children may hold the listening sockets a little
        // longer: a new instance on the same port would fail to bind.
        let addr = self.addr();
        let free = wait_for(START_TIMEOUT, || {
            TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok()
        });
        assert!(
            free,
            "port {addr} still in use {START_TIMEOUT:?} after Kamailio stopped"
        );
        self.spawn();
    }

    /// Stop it (SIGTERM; SIGKILL with its workers after 5 s, see [`Daemon::stop`]), leaving
    /// the port silent.
    pub fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.stop();
        }
    }

    /// The UDP/TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The algorithm it challenges with.
    pub fn algorithm(&self) -> Algorithm {
        self.opts.algorithm
    }

    /// The temp dir.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn ctl_path(&self) -> PathBuf {
        self.dir.path().join("kamailio_ctl")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("kamailio.log")
    }

    /// Everything it logged (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// What it received, one [`Received`] per request or reply, in order (all runs).
    pub fn received(&self) -> Vec<Received> {
        self.log().lines().filter_map(Received::parse).collect()
    }

    /// Run `kamcmd` with `args` against this instance; its stdout. Panics if it fails.
    pub fn kamcmd(&self, args: &[&str]) -> String {
        let out = Command::new(which("kamcmd"))
            .arg("-s")
            .arg(format!("unix:{}", self.ctl_path().display()))
            .args(args)
            .output()
            .expect("run kamcmd");
        assert!(
            out.status.success(),
            "kamcmd {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The contacts usrloc holds (from `kamcmd ul.dump`): (AoR, contact URI) pairs.
    pub fn contacts(&self) -> Vec<(String, String)> {
        let dump = self.kamcmd(&["ul.dump"]);
        let mut aor = String::new();
        let mut out = Vec::new();
        for line in dump.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("AoR:") {
                aor = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("Address:") {
                out.push((aor.clone(), v.trim().to_owned()));
            }
        }
        out
    }

    /// PUBLISH a message-summary `body` for `number` (presentity `sip:NUMBER@127.0.0.1`) from
    /// a fresh UDP socket; the response status (200 when Kamailio took it). Kamailio then
    /// NOTIFYs every subscriber of that number with the body.
    pub fn publish(&self, number: &str, body: &str) -> u16 {
        let mut c = SipClient::new(self.addr()).expect("UDP socket for PUBLISH");
        let uri = format!("sip:{number}@127.0.0.1:{}", self.port);
        let r = c
            .request(
                "PUBLISH",
                &uri,
                &[
                    ("Event", "message-summary"),
                    ("Expires", "3600"),
                    ("Content-Type", "application/simple-message-summary"),
                ],
                body,
            )
            .unwrap_or_else(|| panic!("no answer to PUBLISH; Kamailio log:\n{}", self.log()));
        r.status().unwrap_or(0)
    }

    /// Send an out-of-dialog NOTIFY (`kamcmd tm.t_uac_start`, RFC 3842 unsolicited style) to
    /// `target` (e.g. `sip:8000@127.0.0.1:5062;transport=tcp`) with `Event: message-summary`,
    /// `Subscription-State: terminated;reason=noresource` and `body`. Returns at once; the
    /// answer shows in [`Kamailio::received`] as a reply to NOTIFY.
    pub fn notify(&self, target: &str, body: &str) {
        let to = target.split(';').next().unwrap_or(target);
        let headers = format!(
            "From: <sip:voicemail@127.0.0.1:{}>\r\nTo: <{to}>\r\nEvent: message-summary\r\n\
             Subscription-State: terminated;reason=noresource\r\n\
             Content-Type: application/simple-message-summary\r\n",
            self.port
        );
        self.kamcmd(&["tm.t_uac_start", "NOTIFY", target, ".", ".", &headers, body]);
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A message-summary body (RFC 3842 §5.2) with voice-message counts `new/old`.
pub fn summary(number: &str, new: u32, old: u32) -> String {
    let waiting = if new > 0 { "yes" } else { "no" };
    format!(
        "Messages-Waiting: {waiting}\r\nMessage-Account: sip:{number}@127.0.0.1\r\n\
         Voice-Message: {new}/{old} (0/0)\r\n"
    )
}

/// One request or reply Kamailio received, from its `RX` log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The request method, or the CSeq method of a reply.
    pub method: String,
    /// The status code of a reply; `None` for a request.
    pub status: Option<u16>,
    /// Transport `udp`/`tcp`.
    pub proto: String,
    /// Source `ip:port`.
    pub source: String,
    /// The user part of To (the number of a SUBSCRIBE or PUBLISH); empty for a reply.
    pub to_user: String,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// Expires header value, if any.
    pub expires: Option<u32>,
    /// The Event header (empty without one).
    pub event: String,
    /// The Accept header (empty without one).
    pub accept: String,
    /// The Authorization header (empty without one).
    pub authorization: String,
}

impl Received {
    fn parse(line: &str) -> Option<Self> {
        let (_, rest) = line.split_once("RX ")?;
        let field = |key: &str| -> Option<String> {
            let (_, v) = rest.split_once(&format!(" {key} "))?;
            Some(v.split(' ').next().unwrap_or("").to_owned())
        };
        let bracket = |key: &str| -> String {
            rest.split_once(&format!(" {key} ["))
                .and_then(|(_, v)| v.split_once(']'))
                .map(|(v, _)| v.to_owned())
                .filter(|v| v != "<null>")
                .unwrap_or_default()
        };
        let mut words = rest.split(' ');
        let (method, status) = match words.next()? {
            "reply" => {
                let status = words.next()?.parse().ok()?;
                (words.next()?.to_owned(), Some(status))
            }
            m => (m.to_owned(), None),
        };
        let from = field("from")?;
        let (proto, source) = from.split_once(':')?;
        Some(Self {
            method,
            status,
            proto: proto.to_owned(),
            source: source.to_owned(),
            to_user: bracket("to"),
            call_id: field("call-id")?,
            cseq: field("cseq")?.parse().ok()?,
            expires: bracket("expires").trim().parse().ok(),
            event: bracket("event"),
            accept: bracket("accept"),
            authorization: bracket("auth"),
        })
    }

    /// A request `method`.
    pub fn is_request(&self, method: &str) -> bool {
        self.status.is_none() && self.method == method
    }

    /// A reply `status` to a `method` request.
    pub fn is_reply(&self, status: u16, method: &str) -> bool {
        self.status == Some(status) && self.method == method
    }
}

/// The Kamailio config in the source tree.
pub fn config_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/kamailio/kamailio.cfg")
}

/// Absolute path of a tool in /usr/sbin or on PATH; panics saying what to install.
pub fn which(tool: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(tool);
    if sbin.is_file() {
        return sbin;
    }
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(tool))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("{tool} is not installed: run scripts/install-deps (Debian kamailio packages)")
        })
}

/// Create the sqlite accounts DB at `path` from the packaged schema (`version` and
/// `subscriber` tables) with plain-text passwords (the config computes HA1 itself, which
/// SHA-256 needs). Uses the `sqlite3` command.
pub fn create_accounts_db(path: &Path, accounts: &[(String, String)]) {
    let mut sql = String::new();
    for f in ["standard-create.sql", "auth_db-create.sql"] {
        let p = Path::new(SQLITE_SCHEMA_DIR).join(f);
        sql += &std::fs::read_to_string(&p).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; install kamailio-sqlite-modules (scripts/install-deps)",
                p.display()
            )
        });
    }
    for (user, pass) in accounts {
        let q = |s: &str| s.replace('\'', "''");
        let _ = writeln!(
            sql,
            "INSERT INTO subscriber (username, domain, password) VALUES ('{}', '{REALM}', '{}');",
            q(user),
            q(pass)
        );
    }
    let mut child = Command::new(which("sqlite3"))
        .arg(path)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sqlite3 (install it with scripts/install-deps)");
    std::io::Write::write_all(child.stdin.as_mut().expect("sqlite3 stdin"), sql.as_bytes())
        .expect("write SQL to sqlite3");
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait for sqlite3");
    assert!(
        out.status.success(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A SIP message as text, with header lookup by name (case-insensitive, compact forms not
/// expanded: Kamailio does not send them).
#[derive(Clone, Debug)]
pub struct SipMsg {
    /// The whole message.
    pub text: String,
}

impl SipMsg {
    /// The start line.
    pub fn start_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        let l = self.start_line().strip_prefix("SIP/2.0 ")?;
        l.get(..3)?.parse().ok()
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&str> {
        let l = self.start_line();
        if l.starts_with("SIP/2.0") {
            None
        } else {
            l.split(' ').next()
        }
    }

    /// Every value of header `name`.
    pub fn headers(&self, name: &str) -> Vec<&str> {
        let head = self.text.split("\r\n\r\n").next().unwrap_or("");
        head.lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers(name).into_iter().next()
    }

    /// The body.
    pub fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }
}

/// A minimal UDP SIP user agent for exercising Kamailio directly (no transactions layer:
/// loopback does not lose datagrams). NOTIFYs that arrive are answered 200 and queued.
pub struct SipClient {
    sock: UdpSocket,
    server: SocketAddr,
    seq: u32,
    /// NOTIFYs received (already answered 200), oldest first.
    pub notifies: Vec<SipMsg>,
    /// How long [`SipClient::request`] waits for the final response.
    pub timeout: Duration,
}

impl SipClient {
    /// A socket on an ephemeral loopback port, talking to `server`.
    pub fn new(server: SocketAddr) -> std::io::Result<Self> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        Ok(Self {
            sock,
            server,
            seq: 0,
            notifies: Vec::new(),
            timeout: RESPONSE_TIMEOUT,
        })
    }

    /// The local address (for Contact).
    pub fn local(&self) -> SocketAddr {
        self.sock.local_addr().expect("local address")
    }

    /// Send a request (From/To = `uri`'s user at 127.0.0.1, a fresh Call-ID unless `headers`
    /// has one, CSeq counting up) and return its final response, or `None` on timeout.
    pub fn request(
        &mut self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Option<SipMsg> {
        self.seq += 1;
        let local = self.local();
        let user = uri
            .strip_prefix("sip:")
            .and_then(|u| u.split_once('@'))
            .map_or("client", |(u, _)| u);
        let aor = format!("sip:{user}@127.0.0.1:{}", self.server.port());
        let branch = format!("z9hG4bK-test-{}-{}", std::process::id(), self.token());
        let mut text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n"
        );
        let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
        if !has("From") {
            let _ = write!(text, "From: <{aor}>;tag={}\r\n", self.token());
        }
        if !has("To") {
            let _ = write!(text, "To: <{aor}>\r\n");
        }
        if !has("Call-ID") {
            let _ = write!(text, "Call-ID: {}@127.0.0.1\r\n", self.token());
        }
        if !has("CSeq") {
            let _ = write!(text, "CSeq: {} {method}\r\n", self.seq);
        }
        if !has("Contact") && method != "PUBLISH" && method != "OPTIONS" {
            let _ = write!(text, "Contact: <sip:{user}@{local}>\r\n");
        }
        for (n, v) in headers {
            let _ = write!(text, "{n}: {v}\r\n");
        }
        let _ = write!(text, "Content-Length: {}\r\n\r\n{body}", body.len());
        self.sock.send_to(text.as_bytes(), self.server).ok()?;
        let end = Instant::now() + self.timeout;
        while let Some(m) = self.recv_until(end) {
            if m.status().is_some_and(|s| s >= 200)
                && m.header("Via").is_some_and(|v| v.contains(&branch))
            {
                return Some(m);
            }
        }
        None
    }

    /// Wait until `timeout` for the next NOTIFY (answered 200); it is also kept in
    /// [`SipClient::notifies`].
    pub fn next_notify(&mut self, timeout: Duration) -> Option<SipMsg> {
        let seen = self.notifies.len();
        let end = Instant::now() + timeout;
        while self.notifies.len() == seen {
            self.recv_until(end)?;
        }
        self.notifies.last().cloned()
    }

    /// Receive one message before `end`; NOTIFYs are answered 200 and queued.
    fn recv_until(&mut self, end: Instant) -> Option<SipMsg> {
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            self.sock
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            let Ok((n, from)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            let m = SipMsg {
                text: String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned(),
            };
            if m.method() == Some("NOTIFY") {
                let _ = self.sock.send_to(ok_for(&m).as_bytes(), from);
                self.notifies.push(m.clone());
            }
            return Some(m);
        }
    }

    fn token(&self) -> String {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{:x}{:x}", t, self.seq)
    }
}

/// A 200 OK to request `m` (Via, From, To, Call-ID, CSeq copied).
fn ok_for(m: &SipMsg) -> String {
    let mut s = String::from("SIP/2.0 200 OK\r\n");
    for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for v in m.headers(h) {
            let _ = write!(s, "{h}: {v}\r\n");
        }
    }
    s + "Content-Length: 0\r\n\r\n"
}

/// The parameters of a `Digest` challenge (WWW-Authenticate / Proxy-Authenticate), names
/// lower-cased, quotes removed.
pub fn challenge_params(header: &str) -> Vec<(String, String)> {
    let rest = header.trim().strip_prefix("Digest").unwrap_or(header);
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            value = chars.by_ref().take_while(|c| *c != '"').collect();
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

/// An Authorization value answering `challenge` with qop=auth (RFC 7616 §3.4.1, RFC 8760).
pub fn authorization(
    challenge: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
) -> String {
    let p = challenge_params(challenge);
    let get = |k: &str| {
        p.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let alg = if get("algorithm").eq_ignore_ascii_case("SHA-256") {
        Algorithm::Sha256
    } else {
        Algorithm::Md5
    };
    let (realm, nonce) = (get("realm"), get("nonce"));
    let (nc, cnonce) = ("00000001", "0a4f113b");
    let ha1 = alg.hex(&format!("{user}:{realm}:{password}"));
    let ha2 = alg.hex(&format!("{method}:{uri}"));
    let response = alg.hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"{cnonce}\"",
        alg.token()
    )
}

/// How sipd is set up against a Kamailio instance.
#[derive(Clone, Debug)]
pub struct SipdSetup {
    /// Numbers of MWI-enabled FXS ports (one subscription each).
    pub numbers: Vec<String>,
    /// `[mwi_server] transport` and `[registrar] transport`: `udp` or `tcp`.
    pub transport: &'static str,
    /// `[mwi_server] expires`, s.
    pub expires: u32,
    /// Register with Kamailio (`[registrar]`).
    pub register: bool,
    /// `[registrar] expires`, s.
    pub register_expires: u32,
    /// `[mwi_server] unsolicited`: no subscriptions, NOTIFYs accepted from the server.
    pub unsolicited: bool,
    /// Appended to the config right after the last `[[fxs]]`: keys of that port, then more
    /// sections.
    pub extra: String,
}

impl SipdSetup {
    /// Subscriptions for `numbers` over UDP, 60 s, no registration.
    pub fn new(numbers: &[&str]) -> Self {
        Self {
            numbers: numbers.iter().map(|n| (*n).to_owned()).collect(),
            transport: "udp",
            expires: 60,
            register: false,
            register_expires: 60,
            unsolicited: false,
            extra: String::new(),
        }
    }
}

impl Sipd {
    /// Write the config of `setup` against `k` into a new installation and start sipd there
    /// (built first if needed; panics if it cannot be), without waiting for it.
    pub fn start_against(k: &Kamailio, setup: &SipdSetup) -> Self {
        let env = Env::new();
        let port = free_port();
        let kport = k.port();
        let t = setup.transport;
        let mut sections = format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\n\
             [sip.auth]\nusername = \"user1\"\npassword = \"password1\"\n\
             [mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = {kport}\ntransport = \"{t}\"\n\
             expires = {}\noptions_interval = 0\nunsolicited = {}\n",
            setup.expires, setup.unsolicited
        );
        if setup.register {
            sections += &format!(
                "[registrar]\nserver = \"ipv4:127.0.0.1\"\nport = {kport}\ntransport = \"{t}\"\n\
                 expires = {}\n",
                setup.register_expires
            );
        }
        for (i, n) in setup.numbers.iter().enumerate() {
            sections += &format!(
                "[[fxs]]\nchannel = {}\nnumber = \"{n}\"\nmwi = true\n",
                i + 1
            );
        }
        sections += &setup.extra;
        let config = env.write_config(&sections);
        Sipd::start_owning(env, &config)
    }

    /// The MWI table sipd writes, opened as a reader once sipd has created it. Panics with
    /// the log if that does not happen within [`START_TIMEOUT`].
    pub fn reader(&mut self) -> Reader {
        let tc = self.table_config();
        let mut reader = None;
        let ok = wait_for(START_TIMEOUT, || {
            self.daemon.assert_running();
            reader = Reader::open(&tc).ok();
            reader.is_some()
        });
        match reader {
            Some(r) if ok => r,
            _ => panic!(
                "sipd did not create the MWI table {} within {START_TIMEOUT:?}; log:\n{}",
                tc.path.display(),
                self.log()
            ),
        }
    }

    /// Wait until the table holds `want` for `number`; panics with what it holds, sipd's log
    /// and Kamailio's log otherwise.
    pub fn wait_table(
        &mut self,
        reader: &Reader,
        k: &Kamailio,
        number: &str,
        want: MwiState,
        timeout: Duration,
    ) {
        let mut last = None;
        let ok = wait_for(timeout, || {
            self.daemon.assert_running();
            last = reader.lookup(number).ok().flatten().map(|e| e.state);
            last == Some(want)
        });
        assert!(
            ok,
            "table entry of {number}: want {want:?}, have {last:?} after {timeout:?}\n\
             sipd log:\n{}\nKamailio log:\n{}",
            self.log(),
            k.log()
        );
    }
}
