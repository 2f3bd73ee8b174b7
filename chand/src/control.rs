//! chand's control socket: `chand status [--json]` and `chand mwi NUMBER on|off|reset` talk to
//! the running daemon over a Unix stream socket (`<[state] runtime_dir>/chand.sock`).
//!
//! Protocol: the client sends one request line and reads the answer until the daemon closes
//! the connection. Requests: `status`, `status json`, `mwi NUMBER on|off|reset`,
//! `trace on|off`, `capture on|off`. The answer is
//! text (JSON for `status json`); an error answer starts with `error: `.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use mwi_core::MwiState;

use crate::status::ChandStatus;

/// Longest request line, octets; a longer one closes the connection.
const MAX_REQUEST: usize = 256;

/// Most control connections open at once; more are closed as soon as accepted.
pub const MAX_CONNECTIONS: usize = 64;

/// Most connections accepted per loop turn: a connect flood costs the loop a bounded time
/// before the channels get their turn.
pub const ACCEPTS_PER_TURN: usize = 16;

/// How long a connection may take to send its request and read its answer; a client that
/// stalls (never sends, never reads) is closed after it, freeing its place.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest answer kept for a client that reads slowly; a longer one is cut (status of a few
/// thousand ports fits).
const MAX_ANSWER: usize = 1 << 20;

/// The client at the other end of a control connection (SO_PEERCRED, unix(7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its user id.
    pub uid: u32,
    /// Its process id.
    pub pid: i32,
}

/// A request to the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `status` / `status json`.
    Status {
        /// Answer in JSON.
        json: bool,
    },
    /// `mwi NUMBER on|off|reset`: `state` `None` is a reset to the voice-mail server's state.
    Mwi {
        /// The number.
        number: String,
        /// The manual state, `None` for `reset`.
        state: Option<MwiState>,
    },
    /// `trace on|off`: the one-line D-channel trace (Q.921, Q.931, QSIG) to the journal.
    Trace {
        /// Switch it on.
        on: bool,
    },
    /// `capture on|off`: the pcapng capture into `[trace] capture_dir`.
    Capture {
        /// Switch it on.
        on: bool,
    },
}

impl Request {
    /// Parse one request line (without its newline).
    ///
    /// Errors: a message naming what is wrong, sent back to the client.
    pub fn parse(line: &str) -> Result<Self, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["status"] => Ok(Self::Status { json: false }),
            ["status", "json"] => Ok(Self::Status { json: true }),
            ["mwi", number, action] => {
                if number.is_empty()
                    || !number
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b"*#+".contains(&b))
                {
                    return Err(format!("{number:?} is not a number"));
                }
                let state = match *action {
                    "on" => Some(MwiState::voice(true, 0, 0)),
                    "off" => Some(MwiState::voice(false, 0, 0)),
                    "reset" => None,
                    other => return Err(format!("{other:?}: expected on, off or reset")),
                };
                Ok(Self::Mwi {
                    number: (*number).to_owned(),
                    state,
                })
            }
            ["trace", "on"] => Ok(Self::Trace { on: true }),
            ["trace", "off"] => Ok(Self::Trace { on: false }),
            ["capture", "on"] => Ok(Self::Capture { on: true }),
            ["capture", "off"] => Ok(Self::Capture { on: false }),
            _ => Err(format!("unknown request {line:?}")),
        }
    }
}

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    peer: Peer,
    /// The answer not yet written (once the request is answered).
    out: Option<Vec<u8>>,
    deadline: Instant,
}

/// The listening socket and its connections, driven by the daemon's mio loop.
pub struct ControlServer {
    listener: UnixListener,
    token: Token,
    conns: HashMap<usize, Conn>,
    next: usize,
}

impl ControlServer {
    /// Listen on `path` (a stale socket file there is replaced), mode 0660.
    pub fn bind(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(path).map_err(|e| {
            io::Error::new(e.kind(), format!("control socket {}: {e}", path.display()))
        })?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        Ok(Self {
            listener,
            token: Token(usize::MAX),
            conns: HashMap::new(),
            next: 0,
        })
    }

    /// Register the listener for readability under `token`.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.token = token;
        registry.register(&mut self.listener, token, Interest::READABLE)
    }

    /// Accept up to [`ACCEPTS_PER_TURN`] pending connections, giving each a token in
    /// `first..limit`; past [`MAX_CONNECTIONS`] open ones, a new connection is closed at once.
    /// Connections left pending are accepted next turn (the listener stays readable).
    pub fn accept(&mut self, registry: &Registry, first: usize, limit: usize) -> io::Result<()> {
        for _ in 0..ACCEPTS_PER_TURN {
            let (mut stream, _) = match self.listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            if self.conns.len() >= MAX_CONNECTIONS {
                log::debug!("control socket: {MAX_CONNECTIONS} connections open, one refused");
                continue;
            }
            let cred =
                nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)?;
            let peer = Peer {
                uid: cred.uid(),
                pid: cred.pid(),
            };
            let span = limit - first;
            let mut token = first + self.next % span;
            while self.conns.contains_key(&token) {
                self.next += 1;
                token = first + self.next % span;
            }
            self.next += 1;
            registry.register(&mut stream, Token(token), Interest::READABLE)?;
            self.conns.insert(
                token,
                Conn {
                    stream,
                    buf: Vec::new(),
                    peer,
                    out: None,
                    deadline: Instant::now() + CONNECTION_TIMEOUT,
                },
            );
        }
        // The listener is edge-triggered: wake again for what is still pending.
        registry.reregister(&mut self.listener, self.token, Interest::READABLE)
    }

    /// The client of connection `token` (uid 0, pid 0 if there is no such connection).
    pub fn peer(&self, token: usize) -> Peer {
        self.conns
            .get(&token)
            .map_or(Peer { uid: 0, pid: 0 }, |c| c.peer)
    }

    /// Close every connection whose [`CONNECTION_TIMEOUT`] has passed at `now`.
    pub fn expire(&mut self, registry: &Registry, now: Instant) {
        let late: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for token in late {
            log::debug!("control connection timed out");
            self.close(registry, token);
        }
    }

    /// Read from connection `token`: `Ok(Some(request))` once a whole line is in, `Ok(None)`
    /// while it is incomplete. A malformed request is answered with its error here.
    pub fn read(&mut self, token: usize) -> io::Result<Option<Request>> {
        let Some(conn) = self.conns.get_mut(&token) else {
            return Ok(None);
        };
        let mut chunk = [0u8; MAX_REQUEST];
        loop {
            match conn.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => conn.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
            if conn.buf.len() > MAX_REQUEST {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request too long",
                ));
            }
        }
        let Some(end) = conn.buf.iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&conn.buf[..end]).into_owned();
        match Request::parse(&line) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                let _ = conn.stream.write_all(format!("error: {e}\n").as_bytes());
                Err(io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }

    /// Send the answer to connection `token`, closing it once written. What the socket does
    /// not take at once is written as the client reads ([`ControlServer::flush`]); the loop
    /// never waits for a client.
    pub fn answer(&mut self, registry: &Registry, token: usize, answer: Result<String, String>) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let mut text = match answer {
            Ok(t) => t,
            Err(e) => format!("error: {e}\n"),
        }
        .into_bytes();
        text.truncate(MAX_ANSWER);
        conn.out = Some(text);
        if !self.flush(registry, token) {
            return;
        }
        if let Some(conn) = self.conns.get_mut(&token) {
            if let Err(e) = registry.reregister(&mut conn.stream, Token(token), Interest::WRITABLE)
            {
                log::debug!("control connection: {e}");
                self.close(registry, token);
            }
        }
    }

    /// Write more of connection `token`'s pending answer; closes the connection when it is
    /// all written or the client is gone. Returns whether an answer is still pending.
    pub fn flush(&mut self, registry: &Registry, token: usize) -> bool {
        let Some(conn) = self.conns.get_mut(&token) else {
            return false;
        };
        let Some(out) = &mut conn.out else {
            return false;
        };
        while !out.is_empty() {
            match conn.stream.write(out) {
                Ok(0) => break,
                Ok(n) => {
                    out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => break,
            }
        }
        self.close(registry, token);
        false
    }

    /// Forget connection `token`.
    pub fn close(&mut self, registry: &Registry, token: usize) {
        if let Some(mut conn) = self.conns.remove(&token) {
            let _ = registry.deregister(&mut conn.stream);
        }
    }
}

/// Send one request to the daemon listening on `path` and return its answer.
///
/// Errors: the socket cannot be reached (the daemon is not running, or no permission), or the
/// daemon answered `error: ...` (returned as [`io::ErrorKind::Other`] with the message).
pub fn request(path: &Path, line: &str) -> io::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot reach chand at {} (is it running?): {e}",
                path.display()
            ),
        )
    })?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    s.write_all(format!("{line}\n").as_bytes())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    match answer.strip_prefix("error: ") {
        Some(e) => Err(io::Error::other(e.trim_end().to_owned())),
        None => Ok(answer),
    }
}

/// `status json` of the daemon listening on `path`, parsed.
///
/// Errors: those of [`request`], or an answer that is not a [`ChandStatus`] (e.g. from a chand
/// of another version; [`io::ErrorKind::InvalidData`], with the answer).
pub fn query_status(path: &Path) -> io::Result<ChandStatus> {
    let answer = request(path, "status json")?;
    serde_json::from_str(&answer).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad status answer: {e}: {answer}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        assert_eq!(
            Request::parse("status"),
            Ok(Request::Status { json: false })
        );
        assert_eq!(
            Request::parse("status json"),
            Ok(Request::Status { json: true })
        );
        assert_eq!(
            Request::parse("mwi 8000 reset"),
            Ok(Request::Mwi {
                number: "8000".into(),
                state: None
            })
        );
        let Ok(Request::Mwi { state: Some(s), .. }) = Request::parse("mwi 8000 on") else {
            panic!("mwi on not parsed");
        };
        assert!(s.waiting);
        assert!(Request::parse("mwi 80a0 on").is_err());
        assert!(Request::parse("mwi 8000 blink").is_err());
        assert!(Request::parse("reboot").is_err());
        assert_eq!(Request::parse("trace on"), Ok(Request::Trace { on: true }));
        assert_eq!(
            Request::parse("trace off"),
            Ok(Request::Trace { on: false })
        );
        assert!(Request::parse("trace maybe").is_err());
        assert_eq!(
            Request::parse("capture off"),
            Ok(Request::Capture { on: false })
        );
    }
}
