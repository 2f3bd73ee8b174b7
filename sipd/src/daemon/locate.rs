//! Locating the MWI server and the registrar (RFC 3263) on helper threads: when to look up
//! again, taking the answers, and the local addresses they imply.

use super::Daemon;
use crate::resolve;
use mwi_config::{Config, ServerSpec, Transport};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Which server a resolution is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Mwi,
    Registrar,
    Proxy,
}

/// A finished lookup: the server's index, its primary's addresses and its backup's.
pub(super) type Resolution = (usize, Vec<SocketAddr>, Vec<SocketAddr>);

/// A server to locate and the state of its lookups.
pub(super) struct Server {
    pub(super) role: Role,
    pub(super) spec: ServerSpec,
    pub(super) port: u16,
    /// The backup server and its port (`backup`, `backup_port`).
    pub(super) backup: Option<(ServerSpec, u16)>,
    pub(super) transport: Transport,
    /// When the last lookup started (ms).
    pub(super) last: Option<u64>,
    pub(super) in_flight: bool,
    pub(super) failures: u32,
    /// When a failed lookup is tried again (ms).
    pub(super) retry_at: Option<u64>,
    /// The primary's addresses, then the backup's.
    pub(super) addrs: Vec<SocketAddr>,
}

/// The addresses of `spec` with `port`: the literal one, or a DNS lookup (blocking).
fn addresses(spec: &ServerSpec, port: u16, transport: Transport) -> Vec<SocketAddr> {
    match spec {
        ServerSpec::Ipv4(a) => vec![SocketAddr::new(IpAddr::V4(*a), port)],
        ServerSpec::Dns(host) => resolve::locate(
            host,
            port,
            transport,
            &resolve::nameservers(),
            Duration::from_secs(3),
        ),
    }
}

pub(super) fn servers_of(cfg: &Config) -> Vec<Server> {
    let m = &cfg.mwi_server;
    let mut out = vec![(
        Role::Mwi,
        &m.server,
        m.port,
        m.transport,
        m.backup.clone().map(|b| (b, m.backup_port())),
    )];
    if let Some(r) = &cfg.registrar {
        let backup = r.backup.clone().map(|b| (b, r.backup_port()));
        out.push((Role::Registrar, &r.server, r.port, r.transport, backup));
    }
    if let Some(p) = &cfg.sip.proxy {
        out.push((Role::Proxy, &p.server, p.port, p.transport, None));
    }
    out.into_iter()
        .map(|(role, spec, port, transport, backup)| Server {
            role,
            spec: spec.clone(),
            port,
            backup,
            transport,
            last: None,
            in_flight: false,
            failures: 0,
            retry_at: None,
            addrs: Vec::new(),
        })
        .collect()
}

/// Least time between two resolutions of the same server after request failures (ms).
const RERESOLVE_GAP: u64 = 30_000;

impl Daemon {
    /// Start lookups, off the event loop: the first one of each server, failed ones whose
    /// retry time came, and (`force`, after request failures) any not done in the last
    /// [`RERESOLVE_GAP`]. At most one lookup per server is in flight.
    pub(super) fn resolve(&mut self, now: u64, force: bool) {
        for (i, s) in self.servers.iter_mut().enumerate() {
            let due = match (s.last, s.retry_at) {
                _ if s.in_flight => false,
                (None, _) => true,
                (_, Some(at)) => at <= now,
                (Some(l), None) => force && now >= l + RERESOLVE_GAP,
            };
            if !due {
                continue;
            }
            s.last = Some(now);
            s.retry_at = None;
            let (primary, backup, transport) =
                ((s.spec.clone(), s.port), s.backup.clone(), s.transport);
            let lookup = move || {
                let backup = backup.map(|(b, port)| addresses(&b, port, transport));
                (
                    i,
                    addresses(&primary.0, primary.1, transport),
                    backup.unwrap_or_default(),
                )
            };
            // Literal addresses need no helper thread.
            let dns = |spec: &ServerSpec| matches!(spec, ServerSpec::Dns(_));
            match dns(&s.spec) || s.backup.as_ref().is_some_and(|(b, _)| dns(b)) {
                false => {
                    let _ = self.resolved_tx.send(lookup());
                    let _ = self.waker.wake();
                }
                true => {
                    let tx = self.resolved_tx.clone();
                    let waker = Arc::clone(&self.waker);
                    let spawned =
                        std::thread::Builder::new()
                            .name("resolve".into())
                            .spawn(move || {
                                let _ = tx.send(lookup());
                                let _ = waker.wake();
                            });
                    match spawned {
                        Ok(_) => s.in_flight = true,
                        Err(e) => {
                            s.failures = s.failures.saturating_add(1);
                            let delay =
                                resolve::retry_delay(s.failures, 0.5 + self.rng.f64() / 2.0);
                            s.retry_at = Some(now + delay);
                            log::warn!("resolver thread: {e}; retry in {delay} ms");
                        }
                    }
                }
            }
        }
    }

    pub(super) fn take_resolutions(&mut self, now: u64) {
        while let Ok((i, primary, backup)) = self.resolved_rx.try_recv() {
            let Some(s) = self.servers.get_mut(i) else {
                continue;
            };
            s.in_flight = false;
            let mut addrs = primary.clone();
            addrs.extend(backup.iter().filter(|a| !primary.contains(a)));
            if addrs.is_empty() {
                s.failures = s.failures.saturating_add(1);
                let delay = resolve::retry_delay(s.failures, 0.5 + self.rng.f64() / 2.0);
                s.retry_at = Some(now + delay);
                log::warn!(
                    "{:?} server {}: no address found ({} failure(s)); next lookup in {delay} ms",
                    s.role,
                    s.spec,
                    s.failures
                );
                continue;
            }
            s.failures = 0;
            s.addrs.clone_from(&addrs);
            let role = s.role;
            log::info!("{role:?} server resolved to {addrs:?}");
            if !self.locals_fixed {
                self.fix_locals(addrs[0]);
            }
            match role {
                Role::Mwi => self.ua.set_mwi_targets(self.instant(now), primary, backup),
                Role::Registrar => {
                    self.ua
                        .set_registrar_targets(self.instant(now), primary, backup);
                }
                Role::Proxy => self.calls.set_proxy_addrs(addrs),
            }
            let trusted = self
                .servers
                .iter()
                .filter(|s| matches!(s.role, Role::Proxy | Role::Registrar))
                .flat_map(|s| s.addrs.iter().map(SocketAddr::ip))
                .collect();
            self.calls.set_trusted(trusted);
            let exempt = self
                .servers
                .iter()
                .flat_map(|s| s.addrs.iter().map(SocketAddr::ip))
                .collect();
            self.guard.set_exempt(exempt);
        }
    }

    /// Listening on 0.0.0.0 or [::]: put the address the kernel routes to the server from in
    /// Via and Contact.
    fn fix_locals(&mut self, server: SocketAddr) {
        self.locals_fixed = true;
        let ports: Vec<(Transport, SocketAddr)> = self
            .udp
            .iter()
            .map(|(.., a)| (Transport::Udp, *a))
            .chain(
                self.listeners
                    .iter()
                    .filter_map(|(_, l)| l.local_addr().ok().map(|a| (Transport::Tcp, a))),
            )
            .collect();
        for t in [Transport::Udp, Transport::Tcp] {
            let same_family = ports
                .iter()
                .find(|(pt, a)| *pt == t && a.is_ipv4() == server.is_ipv4())
                .or_else(|| ports.iter().find(|(pt, _)| *pt == t));
            let Some(&(_, mut addr)) = same_family else {
                continue;
            };
            if addr.ip().is_unspecified() {
                let any: SocketAddr = if server.is_ipv4() {
                    "0.0.0.0:0".parse().expect("literal")
                } else {
                    "[::]:0".parse().expect("literal")
                };
                if let Some(ip) = std::net::UdpSocket::bind(any)
                    .and_then(|s| s.connect(server).and_then(|()| s.local_addr()))
                    .ok()
                    .map(|a| a.ip())
                {
                    addr.set_ip(ip);
                }
            }
            self.ua.set_local(t, addr);
            self.calls.set_local(t, addr);
            if let Some(n) = &mut self.notifier {
                n.set_local(t, addr);
            }
        }
    }
}
