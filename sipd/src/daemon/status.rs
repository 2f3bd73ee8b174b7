//! The status socket (`sipd status`): what sipd reports, and the client that asks for it.

use super::locate::Role;
use super::{numbers_of, Daemon};
use crate::limits::{Gauge, LimitsStatus};
use crate::snapshot::SnapshotStatus;
use crate::ua::UaStatus;
use mio::net::UdpSocket;
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
    /// Failed lookups of the `dns:` MWI server since its last answer (`show sip-ua mwi`'s
    /// "dns lookup retry cnt"); 0 for an `ipv4:` server.
    #[serde(default)]
    pub mwi_lookup_failures: u32,
}

/// Status clients answered per turn.
const STATUS_BATCH: usize = 8;

impl Daemon {
    fn limits_status(&self) -> LimitsStatus {
        let l = &self.config.sip.limits;
        let kernel = |opt: fn(&UdpSocket) -> Option<usize>| {
            self.udp
                .iter()
                .filter_map(|(_, s)| opt(s))
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

    /// Answer up to [`STATUS_BATCH`] status clients; true when more may wait.
    pub(super) fn serve_status(&mut self) -> bool {
        for _ in 0..STATUS_BATCH {
            match self.status.accept() {
                Ok((stream, _)) => {
                    let st = SipdStatus {
                        ua: self.ua.status(Instant::now()),
                        limits: self.limits_status(),
                        snapshot: self.snapshots.status(Instant::now()),
                        mwi_lookup_failures: self
                            .servers
                            .iter()
                            .find(|s| s.role == Role::Mwi)
                            .map_or(0, |s| s.failures),
                    };
                    let json = serde_json::to_vec(&st).unwrap_or_default();
                    // A status client reads the whole answer; a blocking write of a few
                    // kilobytes to a local socket does not stall the loop.
                    let mut std_stream: std::os::unix::net::UnixStream = stream.into();
                    let _ = std_stream.set_nonblocking(false);
                    let _ = std_stream.set_write_timeout(Some(Duration::from_secs(1)));
                    let _ = std_stream.write_all(&json);
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
}

/// `sipd status`: ask the daemon of `cfg` for its status.
///
/// Errors: the daemon is not running or did not answer.
pub fn query_status(cfg: &Config) -> Result<SipdStatus, String> {
    let path = cfg.state.runtime_dir.join(STATUS_SOCKET);
    let mut s = std::os::unix::net::UnixStream::connect(&path)
        .map_err(|e| format!("sipd not running? {}: {e}", path.display()))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut text = Vec::new();
    s.read_to_end(&mut text)
        .map_err(|e| format!("reading status: {e}"))?;
    serde_json::from_slice(&text).map_err(|e| format!("bad status answer: {e}"))
}
