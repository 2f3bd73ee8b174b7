//! The status socket (`sipd status`, `sipd trace on|off`): what sipd reports, the runtime
//! message trace switch, and the client that asks. A client sends one request line (`status`,
//! `trace on`, `trace off`) and reads the answer until the daemon closes; the daemon waits for
//! the line without blocking its loop, holding at most [`MAX_WAITING`] clients (the oldest is
//! dropped for a new one).

use super::locate::Role;
use super::{numbers_of, Daemon};
use crate::call::CallStatus;
use crate::limits::{Gauge, LimitsStatus};
use crate::notifier::NotifierStatus;
use crate::snapshot::SnapshotStatus;
use crate::ua::UaStatus;
use mio::net::{UdpSocket, UnixStream};
use mio::{Interest, Token};
use mwi_config::Config;
use nix::sys::socket::{getsockopt, sockopt};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// The file name of the status socket in `[state] runtime_dir`.
pub const STATUS_SOCKET: &str = "sipd.sock";

/// What `sipd status` reports: the user agent's view and every `[sip.limits]` bound.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SipdStatus {
    /// Server, subscriptions and numbers.
    #[serde(flatten)]
    pub ua: UaStatus,
    /// Use, bound and refusals of each `[sip.limits]` key.
    pub limits: LimitsStatus,
    /// The on-disk snapshot of the table (`[state] dir`).
    pub snapshot: SnapshotStatus,
    /// The calls of the FXS ports.
    #[serde(default)]
    pub calls: Vec<CallStatus>,
    /// Failed lookups of the `dns:` MWI server since its last answer (`show sip-ua mwi`'s
    /// "dns lookup retry cnt"); 0 for an `ipv4:` server.
    #[serde(default)]
    pub mwi_lookup_failures: u32,
    /// `[notifier]`: subscriptions and NOTIFYs of the SIP phones subscribed to sipd; `None`
    /// when not enabled.
    #[serde(default)]
    pub notifier: Option<NotifierStatus>,
}

/// Status clients accepted per turn.
const STATUS_BATCH: usize = 8;
/// Clients waiting for their request line at once.
pub(super) const MAX_WAITING: usize = 16;
/// Longest request line, octets.
const MAX_REQUEST: usize = 64;

/// A status client whose request line has not come in full yet.
pub(super) struct Waiting {
    token: Token,
    stream: UnixStream,
    request: Vec<u8>,
}

impl Daemon {
    fn limits_status(&self) -> LimitsStatus {
        let l = &self.config.sip.limits;
        let kernel = |opt: fn(&UdpSocket) -> Option<usize>| {
            self.udp
                .iter()
                .filter_map(|(_, s, _)| opt(s))
                .min()
                .unwrap_or(0) as u64
        };
        LimitsStatus {
            tcp_connections: Gauge {
                current: self.conns.len() as u64,
                limit: self.conn_limit as u64,
                refused: self.refused_conns,
            },
            tcp_per_source: Gauge {
                current: self.per_source.values().copied().max().unwrap_or(0).into(),
                limit: l.tcp_per_source.into(),
                refused: self.refused_per_source,
            },
            tcp_buffer: Gauge {
                current: self
                    .conns
                    .values()
                    .map(|c| c.framer.buffered().max(c.wbuf.len()))
                    .max()
                    .unwrap_or(0) as u64,
                limit: l.tcp_buffer.into(),
                refused: self.dropped_full,
            },
            transactions: Gauge {
                current: self.ua.server_transactions() as u64,
                limit: self.guard.transactions() as u64,
                refused: self.guard.refused_transactions,
            },
            transactions_evicted: self.evicted_transactions,
            rate: Gauge {
                current: self.guard.sources() as u64,
                limit: l.rate.into(),
                refused: self.guard.refused_rate,
            },
            udp_rcvbuf: Gauge {
                current: kernel(|s| getsockopt(s, sockopt::RcvBuf).ok()),
                limit: l.udp_rcvbuf.into(),
                refused: 0,
            },
            udp_sndbuf: Gauge {
                current: kernel(|s| getsockopt(s, sockopt::SndBuf).ok()),
                limit: l.udp_sndbuf.into(),
                refused: 0,
            },
            numbers: Gauge {
                current: numbers_of(&self.config) as u64,
                limit: l.numbers.into(),
                refused: 0,
            },
            table: Gauge {
                current: self.writer.len() as u64,
                limit: self.writer.capacity() as u64,
                refused: self.ua.table_refused(),
            },
        }
    }

    /// Accept up to [`STATUS_BATCH`] status clients and wait for their requests; true when
    /// more may wait.
    pub(super) fn serve_status(&mut self) -> bool {
        for _ in 0..STATUS_BATCH {
            match self.status.accept() {
                Ok((mut stream, _)) => {
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut stream, token, Interest::READABLE)
                    {
                        log::warn!("status client: {e}");
                        continue;
                    }
                    if self.waiting.len() >= MAX_WAITING {
                        if let Some(mut old) = self.waiting.pop_front() {
                            let _ = self.poll.registry().deregister(&mut old.stream);
                            log::warn!(
                                "status socket: {MAX_WAITING} clients waiting; the oldest dropped"
                            );
                        }
                    }
                    self.waiting.push_back(Waiting {
                        token,
                        stream,
                        request: Vec::new(),
                    });
                    self.serve_client(token);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!("status socket: {e}");
                    return false;
                }
            }
        }
        true
    }

    /// Whether `token` is a status client's.
    pub(super) fn is_status_client(&self, token: Token) -> bool {
        self.waiting.iter().any(|w| w.token == token)
    }

    /// Read what status client `token` sent; once its line is in (or it closed), answer it.
    /// Always false: a client's request is at most [`MAX_REQUEST`] octets, read at once.
    pub(super) fn serve_client(&mut self, token: Token) -> bool {
        let Some(i) = self.waiting.iter().position(|w| w.token == token) else {
            return false;
        };
        let w = &mut self.waiting[i];
        let mut buf = [0u8; MAX_REQUEST];
        let done = loop {
            match w.stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => {
                    w.request.extend_from_slice(&buf[..n]);
                    if w.request.contains(&b'\n') || w.request.len() > MAX_REQUEST {
                        break true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        if !done {
            return false;
        }
        let Some(mut w) = self.waiting.remove(i) else {
            return false;
        };
        let _ = self.poll.registry().deregister(&mut w.stream);
        let request = String::from_utf8_lossy(&w.request);
        let answer = match request.lines().next().unwrap_or("").trim() {
            "status" => {
                let st = SipdStatus {
                    ua: self.ua.status(Instant::now()),
                    limits: self.limits_status(),
                    snapshot: self.snapshots.status(Instant::now()),
                    calls: self.calls.status(Instant::now()),
                    mwi_lookup_failures: self
                        .servers
                        .iter()
                        .find(|s| s.role == Role::Mwi)
                        .map_or(0, |s| s.failures),
                    notifier: self.notifier.as_ref().map(|n| n.status()),
                };
                serde_json::to_vec(&st).unwrap_or_default()
            }
            "trace on" | "trace off" => {
                self.trace = request.trim() == "trace on";
                let line = format!("trace {}", if self.trace { "on" } else { "off" });
                mwi_service::trace("sipd::trace", &format!("SIP message {line} by command"));
                (line + "\n").into_bytes()
            }
            "capture on" => match self.capture.is_on() {
                true => format!("capture on: {}\n", self.capture.path().display()).into_bytes(),
                false => match open_capture(&self.config) {
                    Ok(c) => {
                        self.capture = c;
                        format!("capture on: {}\n", self.capture.path().display()).into_bytes()
                    }
                    Err(e) => format!("error: {e}\n").into_bytes(),
                },
            },
            "capture off" => {
                self.capture.stop();
                b"capture off\n".to_vec()
            }
            other => format!(
                "error: unknown request {other:?}; expected status, trace on|off or capture \
                 on|off\n"
            )
            .into_bytes(),
        };
        // A status client reads the whole answer; a blocking write of a few kilobytes to a
        // local socket does not stall the loop.
        let mut std_stream: std::os::unix::net::UnixStream = w.stream.into();
        let _ = std_stream.set_nonblocking(false);
        let _ = std_stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = std_stream.write_all(&answer);
        false
    }
}

/// Send `request` (`status`, `trace on`, `trace off`) to the daemon of `cfg` and return its
/// answer.
///
/// Errors: the daemon is not running or did not answer.
pub fn control(cfg: &Config, request: &str) -> Result<Vec<u8>, String> {
    let path = cfg.state.runtime_dir.join(STATUS_SOCKET);
    let mut s = std::os::unix::net::UnixStream::connect(&path)
        .map_err(|e| format!("sipd not running? {}: {e}", path.display()))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    s.write_all(format!("{request}\n").as_bytes())
        .map_err(|e| format!("sending {request:?}: {e}"))?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .map_err(|e| format!("reading the answer: {e}"))?;
    Ok(answer)
}

/// `sipd status`: ask the daemon of `cfg` for its status.
///
/// Errors: the daemon is not running or did not answer.
pub fn query_status(cfg: &Config) -> Result<SipdStatus, String> {
    let text = control(cfg, "status")?;
    serde_json::from_slice(&text).map_err(|e| format!("bad status answer: {e}"))
}

/// The pcapng capture of `[trace] capture_dir`: `sipd-N.pcapng`, one LINKTYPE_RAW (101)
/// interface, SIP over UDP and TCP as IP packets.
///
/// Errors: no `capture_dir`, or its file cannot be written.
pub(super) fn open_capture(cfg: &Config) -> Result<mwi_service::capture::Capture, String> {
    use mwi_service::capture::{Capture, DataLink, Interface};
    let dir = cfg
        .trace
        .capture_dir
        .as_deref()
        .ok_or("no [trace] capture_dir in the configuration")?;
    Capture::open(
        dir,
        "sipd",
        cfg.trace.capture_max_bytes,
        cfg.trace.capture_files,
        vec![Interface {
            linktype: DataLink::RAW,
            name: "sip".into(),
        }],
    )
    .map_err(|e| format!("capture in {}: {e}", dir.display()))
}
