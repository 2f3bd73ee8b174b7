//! SIGHUP: the configuration read again and applied to the running daemon.

use super::locate::servers_of;
use super::udp::set_udp_buffers;
use super::{numbers_of, Daemon};
use crate::call::CallsConfig;
use crate::secret::{read_passwords, CREDENTIALS_DIRECTORY};
use crate::ua::{Ua, UaConfig};
use mwi_config::Config;
use mwi_table::Writer;
use std::path::PathBuf;

impl Daemon {
    /// SIGHUP: read the configuration file again; a valid one is applied (numbers, server,
    /// limits, the ports' call settings), an invalid one is logged with its file:line:column
    /// and the running one kept.
    /// Listen addresses and the table and state paths need a restart.
    pub(super) fn reload(&mut self, now: u64) {
        let credentials = std::env::var_os(CREDENTIALS_DIRECTORY).map(PathBuf::from);
        let loaded = Config::load(&self.config_path)
            .map_err(|e| e.to_string())
            .and_then(|mut c| read_passwords(&mut c, credentials.as_deref()).map(|()| c));
        let cfg = match loaded {
            Ok(c) => c,
            Err(e) => {
                log::error!("reload: {e}; keeping the running configuration");
                return;
            }
        };
        let old = &self.config;
        if cfg.sip.listen != old.sip.listen || cfg.table != old.table || cfg.state != old.state {
            log::warn!(
                "reload: [sip] listen, [table] and [state] changes take effect at the next start"
            );
        }
        let limits = cfg.sip.limits;
        if (limits.udp_rcvbuf, limits.udp_sndbuf)
            != (old.sip.limits.udp_rcvbuf, old.sip.limits.udp_sndbuf)
        {
            for (_, s, _) in &self.udp {
                set_udp_buffers(s, &limits);
            }
        }
        self.guard.set_limits(&limits);
        let relocate = self
            .ua
            .reconfigure(self.instant(now), UaConfig::from_config(&cfg));
        reclaim_slots(&mut self.writer, &self.ua);
        self.ua.set_table_room(self.writer.free());
        let proxy_moved = self.calls.reconfigure(CallsConfig::from_config(&cfg));
        self.reconfigure_notifier(&cfg);
        if relocate || proxy_moved {
            self.servers = servers_of(&cfg);
            self.locals_fixed = false;
            self.guard.set_exempt(Vec::new());
        }
        self.config = cfg;
        self.set_conn_limit();
        self.resolve(now, false);
        self.flush(now);
        log::info!(
            "reload: {} applied ({} number(s))",
            self.config_path.display(),
            numbers_of(&self.config)
        );
    }
}

/// Give back the table slots of the numbers `ua` no longer serves ([`Writer::retain`], issue
/// 11), at start and after a reload; a failure is logged and the writer makes the table anew
/// at its next check.
pub(super) fn reclaim_slots(writer: &mut Writer, ua: &Ua) {
    if let Err(e) = writer.retain(|n| ua.serves(n)) {
        log::error!("MWI table: giving back the slots of numbers no longer served: {e}");
    }
}
