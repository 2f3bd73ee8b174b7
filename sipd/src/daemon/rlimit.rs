//! The open-file limit: raised to the hard limit at start, and the share of it TCP connections
//! may take.

use super::Daemon;
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Open files kept free of TCP connections: status clients, the table, snapshots, DNS
/// sockets and helper threads always have one.
const RESERVED_FDS: u64 = 64;

/// Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in force.
///
/// The units set `LimitNOFILE=` to one value (soft = hard), so under systemd nothing is raised
/// and no setrlimit(2) is made: their `SystemCallFilter=~@resources` kills a process that
/// calls it (SIGSYS). A hand start with soft < hard gets the raise.
///
/// Errors: getrlimit(2) or setrlimit(2) failed.
pub fn raise_nofile_limit() -> Result<u64, String> {
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit(NOFILE): {e}"))?;
    if soft >= hard {
        return Ok(soft);
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
        .map_err(|e| format!("setrlimit(NOFILE, {hard}): {e}"))?;
    log::info!("open-file limit raised from {soft} to {hard}");
    Ok(hard)
}

impl Daemon {
    /// `tcp_connections`, lowered so that TCP connections never take the files the status
    /// socket and the rest need.
    pub(super) fn set_conn_limit(&mut self) {
        let wanted = self.config.sip.limits.tcp_connections as usize;
        let fit = self.nofile.saturating_sub(RESERVED_FDS).max(1) as usize;
        self.conn_limit = wanted.min(fit);
        if self.conn_limit < wanted {
            log::warn!(
                "tcp_connections = {wanted} lowered to {} to fit the open-file limit {}",
                self.conn_limit,
                self.nofile
            );
        }
    }
}
