//! `chand run`: the event loop that joins the shared MWI table to FXS lines and PRI spans.
//!
//! The loop only moves bytes and time: channel events go into the sans-IO cores
//! ([`fxs::FxsLine`], [`isdn::span::Span`]), and what they ask for (audio blocks, Q.921 frames,
//! ioctls) goes back out through the [`crate::backend`] channels. MWI state comes from the
//! shared table ([`mwi_table::Reader`]), woken by its futex notifier through a
//! [`mio::Waker`], and from manual overrides (`chand mwi NUMBER on|off|reset`) received on the
//! control socket ([`crate::control`]).
//!
//! Where a number goes, and what a manual override does, is decided by the routing core
//! ([`mwi_core::route::Routing`], the rule sipd's 481 and check-config use too); the loop
//! delivers what it answers.
//!
//! The loop is here; what it does for each source lives beside it: `port` drives FXS lines,
//! `span` PRI spans, `table` takes the shared table's news and delivers it, `control` answers
//! the control socket (status from [`crate::status`]), `trace` is the D-channel trace and capture
//! (`chand trace|capture on|off`, `[trace]`), `reload` applies SIGHUP.

mod calls;
mod control;
mod pbx_mwi;
mod port;
mod reload;
mod span;
mod table;
mod trace;

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::info;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use mwi_config::Config;
use mwi_core::route::Routing;
use mwi_table::{Reader, TableConfig, TableError};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use sansio::Core;

use self::port::Port;
use self::span::{drive_span, Pri};
use crate::backend::{Backend, BackendError};
use crate::control::ControlServer;

const WAKER: Token = Token(0);
const SIGNALS: Token = Token(1);
const CONTROL: Token = Token(2);
const CALLCTL: Token = Token(3);
const CALLCTL_PEER: Token = Token(4);
/// Tokens from here on are control connections.
const CONTROL_CONN: usize = 16;
/// FXS port `i` is `Token(PORT_BASE + i)`, PRI span `i` is `Token(SPAN_BASE + i)`.
const PORT_BASE: usize = 1 << 20;
const SPAN_BASE: usize = 2 << 20;
/// The RTP socket of FXS port `i`'s call is `Token(MEDIA_BASE + 2 * i)`, its RTCP socket the
/// next token.
const MEDIA_BASE: usize = 3 << 20;
/// B-channel `b` of PRI span `i` is `Token(BCHAN_BASE + SPAN_B_SLOTS * i + b)`; its call's RTP
/// socket `Token(BMEDIA_BASE + 2 * (SPAN_B_SLOTS * i + b))`, its RTCP socket the next token.
const BCHAN_BASE: usize = 4 << 20;
const BMEDIA_BASE: usize = 5 << 20;
/// Token slots per span: timeslots 0..=31 (Q.931 §4.5.13: at most 31 on an E1).
const SPAN_B_SLOTS: usize = 32;

/// How long the table notifier spins before it sleeps on the futex (docs/perf.md:
/// a wake-up costs 20-30 µs here; a short spin catches bursts without burning a core).
const NOTIFIER_SPIN: Duration = Duration::from_micros(50);

/// Polls of the table per wake-up before the loop serves its channels again.
const TABLE_POLLS: usize = 16;

/// When the table is read again after a slot was found mid-write.
const TABLE_RETRY: Duration = Duration::from_millis(10);

/// When opening the table is tried again after it failed.
const TABLE_REOPEN: Duration = Duration::from_secs(1);

/// How often the loop looks for a truncated or replaced region (fstat + stat: two syscalls,
/// too many for every turn of a loop that turns for each port's 20 ms block).
const TABLE_CHECK: Duration = Duration::from_secs(1);

/// Why `chand run` stopped before or while running.
#[derive(Debug)]
pub enum DaemonError {
    /// The configuration cannot be used (what check-config would also say).
    Config(String),
    /// The shared MWI table could not be opened.
    Table(TableError),
    /// A channel could not be opened (`what` names it, e.g. "FXS channel 2").
    Channel {
        /// The channel.
        what: String,
        /// The back-end's error.
        error: BackendError,
    },
    /// The event loop or the control socket failed.
    Io(io::Error),
}

impl std::fmt::Display for DaemonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::Table(e) => write!(f, "shared MWI table: {e}"),
            Self::Channel { what, error } => write!(f, "{what}: {error}"),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DaemonError {}

impl From<io::Error> for DaemonError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<TableError> for DaemonError {
    fn from(e: TableError) -> Self {
        Self::Table(e)
    }
}

/// The control socket of a config: `<[state] runtime_dir>/chand.sock`.
pub fn control_path(cfg: &Config) -> PathBuf {
    cfg.state.runtime_dir.join("chand.sock")
}

/// The running daemon: channels, their sans-IO cores and the MWI state they show.
pub struct Daemon {
    poll: Poll,
    clock: Instant,
    ports: Vec<Port>,
    spans: Vec<Pri>,
    reader: Reader,
    /// The routing rule with the last table state of each number and the `chand mwi NUMBER
    /// on|off` overrides (until `reset`).
    routing: Routing,
    control: ControlServer,
    /// `chand trace on|off`: the D-channel trace; `chand capture on|off`, `[trace]`: the
    /// capture.
    trace: trace::Tracer,
    /// The call-control socket to sipd (docs/calls.md).
    calls: calls::CallServer,
    /// The last lamp state the PBX set per (span, number), for sipd.
    pbx_lamps: pbx_mwi::PbxLamps,
    /// Where the next RTP port search starts in `[media] rtp_ports`.
    rtp_cursor: usize,
    signals: SignalFd,
    backend_name: &'static str,
    /// The running configuration, for reloads ([`Daemon::reload`]).
    cfg: Config,
    /// The file SIGHUP reloads, `None` if the daemon was not told ([`Daemon::watch_config`]).
    config_path: Option<PathBuf>,
    reload_requested: bool,
    table_cfg: TableConfig,
    waker: Arc<Waker>,
    notifier: mwi_table::Notifier,
    /// Read the table again at this time (a slot was busy, or news was left over).
    table_retry: Option<Instant>,
    /// When the region was last checked against its path ([`TABLE_CHECK`]).
    table_checked: Instant,
    /// Since when the region has been gone and not yet opened again (logged once).
    table_outage: Option<Instant>,
    stop: bool,
}

impl Daemon {
    /// Open every configured channel through `backend`, the shared table and the control
    /// socket, and apply the table's current state to every line and span (a restarted chand
    /// rebuilds everything from the table).
    ///
    /// SIGTERM, SIGINT and SIGHUP are blocked in the calling thread (and the threads it
    /// starts) and received through a signalfd: the first two stop [`Daemon::run`], SIGHUP
    /// reloads the configuration ([`Daemon::reload`]).
    pub fn new(cfg: &Config, backend: &mut dyn Backend) -> Result<Self, DaemonError> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGHUP);
        mask.thread_block().map_err(io::Error::from)?;
        let signals =
            SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK).map_err(io::Error::from)?;

        let poll = Poll::new()?;
        let clock = Instant::now();
        let mut plans =
            fxs::TonePlans::new(&cfg.tone_plan).map_err(|e| DaemonError::Config(e.to_string()))?;
        let ports = cfg
            .fxs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Port::open(
                    p,
                    backend,
                    poll.registry(),
                    Token(PORT_BASE + i),
                    &mut plans,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let spans = cfg
            .pri
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Pri::open(
                    i,
                    p,
                    &cfg.b_channels(p),
                    backend,
                    poll.registry(),
                    Token(SPAN_BASE + i),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;

        let table_cfg = TableConfig::for_config(cfg);
        let reader = Reader::open(&table_cfg)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let notifier = spawn_notifier(&reader, &waker)?;

        let mut control = ControlServer::bind(&control_path(cfg))?;
        control.register(poll.registry(), CONTROL)?;
        let channels = cfg
            .fxs
            .iter()
            .filter_map(|p| u16::try_from(p.channel).ok())
            .collect();
        let calls = calls::CallServer::bind(&calls::callctl_path(cfg), channels, clock)?;
        poll.registry().register(
            &mut SourceFd(&calls.listener_fd()),
            CALLCTL,
            Interest::READABLE,
        )?;
        poll.registry().register(
            &mut SourceFd(&signals.as_raw_fd()),
            SIGNALS,
            Interest::READABLE,
        )?;

        let mut daemon = Daemon {
            poll,
            clock,
            ports,
            spans,
            reader,
            routing: Routing::new(cfg.router()),
            control,
            trace: trace::Tracer::new(cfg),
            calls,
            pbx_lamps: pbx_mwi::PbxLamps::new(cfg.table.capacity as usize),
            rtp_cursor: 0,
            signals,
            backend_name: cfg.dahdi.backend.as_str(),
            cfg: cfg.clone(),
            config_path: None,
            reload_requested: false,
            table_cfg,
            waker,
            notifier,
            table_retry: None,
            table_checked: Instant::now(),
            table_outage: None,
            stop: false,
        };
        daemon.read_table();
        info!(
            "chand ready: {} FXS port(s), {} PRI span(s), {} number(s) in the table",
            daemon.ports.len(),
            daemon.spans.len(),
            daemon.routing.table_len()
        );
        Ok(daemon)
    }

    /// Reload the configuration from `path` on SIGHUP.
    pub fn watch_config(&mut self, path: &Path) {
        self.config_path = Some(path.to_path_buf());
    }

    /// Run until SIGTERM or SIGINT. `on_tick` is called once per loop turn (e.g. to feed the
    /// systemd watchdog) with the time since start.
    pub fn run(&mut self, mut on_tick: impl FnMut(Duration)) -> Result<(), DaemonError> {
        let mut events = Events::with_capacity(256);
        while !self.stop {
            let timeout = self.next_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => self.read_table(),
                    SIGNALS => self.read_signals(),
                    CONTROL => self.accept_control(),
                    CALLCTL => self.accept_callctl(),
                    CALLCTL_PEER => self.read_callctl(),
                    Token(t) if t >= BMEDIA_BASE => {
                        self.service_bchan_media(t - BMEDIA_BASE, Instant::now())
                    }
                    Token(t) if t >= BCHAN_BASE => {
                        self.service_bchan(t - BCHAN_BASE, Instant::now())
                    }
                    Token(t) if t >= MEDIA_BASE => {
                        self.service_media(t - MEDIA_BASE, Instant::now())
                    }
                    Token(t) if t >= SPAN_BASE => self.service_span(t - SPAN_BASE),
                    Token(t) if t >= PORT_BASE => self.service_port(t - PORT_BASE),
                    Token(t) => self.service_control(t),
                }
            }
            if std::mem::take(&mut self.reload_requested) {
                self.reload();
            }
            self.control.expire(self.poll.registry(), Instant::now());
            self.handle_timeouts();
            on_tick(self.clock.elapsed());
        }
        info!("chand stopping");
        Ok(())
    }

    /// Until the earliest line or span timer (and at most one second, for `on_tick`).
    fn next_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut until = now + Duration::from_secs(1);
        if let Some(t) = self.table_retry {
            until = until.min(t);
        }
        if self.calls.has_more() {
            until = now;
        }
        if let Some(t) = self.calls.poll_timeout() {
            until = until.min(t);
        }
        for p in &self.ports {
            let stream = p.leg.as_ref().and_then(|l| l.stream.as_ref());
            for t in [
                p.line.poll_timeout(),
                p.call.poll_timeout(),
                p.alerting.poll_timeout(),
                stream.and_then(|s| s.poll_timeout()),
            ]
            .into_iter()
            .flatten()
            {
                until = until.min(t);
            }
        }
        for s in &self.spans {
            if let Some(t) = s.span.poll_timeout() {
                until = until.min(t);
            }
            for slot in &s.bchans {
                let stream = slot.leg.as_ref().and_then(|l| l.stream.as_ref());
                for t in [slot.next_block, stream.and_then(|s| s.poll_timeout())]
                    .into_iter()
                    .flatten()
                {
                    until = until.min(t);
                }
            }
        }
        Some(until.saturating_duration_since(now))
    }

    fn handle_timeouts(&mut self) {
        let now = Instant::now();
        // Once a second a truncated or replaced region (checked before any read of it); once a
        // loop turn (at least once a second) news the notifier did not wake us for: a starved
        // notifier thread on a loaded machine left a change unread for 5 s in a test run.
        let check = now >= self.table_checked + TABLE_CHECK;
        if check {
            self.table_checked = now;
        }
        // A removed or replaced file leaves the mapping readable, so only this full check
        // (with the path's stat) finds it; each read checks the mapping alone.
        let replaced = match self.table_retry {
            None if check => self.reader.check().err(),
            _ => None,
        };
        let due = match (replaced, self.table_retry) {
            (Some(e), _) => self.reopen_table(&e),
            (None, Some(t)) => t <= now,
            (None, None) => self.reader.is_damaged() || self.reader.has_news(),
        };
        if due {
            self.read_table();
        }
        if self.calls.has_more() {
            self.read_callctl();
        }
        self.calls.handle_timeout(now);
        self.trace.flush_due(now);
        self.link_events(now);
        for i in 0..self.ports.len() {
            let p = &mut self.ports[i];
            if p.call.poll_timeout().is_some_and(|t| t <= now) {
                p.call.handle_timeout(now);
            }
            if let Some(leg) = &mut p.leg {
                leg.flush(now);
            }
            if p.line.poll_timeout().is_some_and(|t| t <= now) {
                p.line.handle_timeout(now);
            }
            self.apply_call(i, now);
        }
        for i in 0..self.spans.len() {
            let s = &mut self.spans[i];
            if s.span.poll_timeout().is_some_and(|t| t <= now) {
                s.span.handle_timeout(now);
                drive_span(s, &mut self.trace);
                self.drive_calls(i, now);
            }
            self.pace_bchans(i, now);
        }
        self.flush_pbx_lamps(now);
    }

    fn accept_callctl(&mut self) {
        let now = Instant::now();
        if self.calls.accept(now) {
            if let Some(fd) = self.calls.peer_fd() {
                if let Err(e) = self.poll.registry().register(
                    &mut SourceFd(&fd),
                    CALLCTL_PEER,
                    Interest::READABLE,
                ) {
                    log::warn!("call control: {e}");
                }
            }
        }
        self.link_events(now);
    }

    fn read_callctl(&mut self) {
        let now = Instant::now();
        if let Some(gone) = self.calls.read(now) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&gone.as_raw_fd()));
        }
        self.link_events(now);
    }

    fn read_signals(&mut self) {
        while let Ok(Some(sig)) = self.signals.read_signal() {
            if sig.ssi_signo == Signal::SIGHUP as u32 {
                info!("SIGHUP: reloading the configuration");
                self.reload_requested = true;
            } else {
                info!("signal {} received: stopping", sig.ssi_signo);
                self.stop = true;
            }
        }
    }
}

/// A notifier thread of `reader` that wakes the event loop.
fn spawn_notifier(reader: &Reader, waker: &Arc<Waker>) -> io::Result<mwi_table::Notifier> {
    let waker = Arc::clone(waker);
    reader.spawn_notifier(NOTIFIER_SPIN, move || {
        // A failed wake only delays the news to the next loop turn.
        let _ = waker.wake();
    })
}
