//! `chand run`: the event loop that joins the shared MWI table to FXS lines and PRI spans.
//!
//! The loop only moves bytes and time: channel events go into the sans-IO cores
//! ([`fxs::FxsLine`], [`isdn::span::Span`]), and what they ask for (audio blocks, Q.921 frames,
//! ioctls) goes back out through the [`crate::backend`] channels. MWI state comes from the
//! shared table ([`mwi_core::table::Reader`]), woken by its futex notifier through a
//! [`mio::Waker`], and from manual overrides (`chand mwi NUMBER on|off|reset`) received on the
//! control socket ([`crate::control`]).
//!
//! Where a number goes, and what a manual override does, is decided by the routing core
//! ([`mwi_core::route::Routing`], the rule sipd's 481 and check-config use too); the loop
//! delivers what it answers.

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use isdn::span::{Lamp, PartyNumberType, Span, SpanConfig, SpanEvent, Transport};
use log::{debug, error, info, warn};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use mwi_core::config::{self, Config};
use mwi_core::route::{FxsClaim, PriClaim, Route, Router, Routing};
use mwi_core::table::{Reader, TableConfig, TableError};
use mwi_core::MwiState;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::backend::{Backend, BackendError, DChannel, DChannelEvent, FxsChannel, RingCommand};
use crate::control::{ControlServer, Request};

const WAKER: Token = Token(0);
const SIGNALS: Token = Token(1);
const CONTROL: Token = Token(2);
/// Tokens from here on are control connections.
const CONTROL_CONN: usize = 16;
/// FXS port `i` is `Token(PORT_BASE + i)`, PRI span `i` is `Token(SPAN_BASE + i)`.
const PORT_BASE: usize = 1 << 20;
const SPAN_BASE: usize = 2 << 20;

/// How long the table notifier spins before it sleeps on the futex (reference: facts/perf.md,
/// a wake-up costs 20-30 µs here; a short spin catches bursts without burning a core).
const NOTIFIER_SPIN: Duration = Duration::from_micros(50);

/// Polls of the table per wake-up before the loop serves its channels again.
const TABLE_POLLS: usize = 16;

/// When the table is read again after a slot was found mid-write.
const TABLE_RETRY: Duration = Duration::from_millis(10);

/// When opening the table is tried again after it failed.
const TABLE_REOPEN: Duration = Duration::from_secs(1);

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

struct Port {
    cfg: config::Fxs,
    chan: Box<dyn FxsChannel>,
    line: fxs::FxsLine,
}

struct Pri {
    cfg: config::Pri,
    chan: Box<dyn DChannel>,
    span: Span,
    layer1_up: bool,
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
    signals: SignalFd,
    backend_name: &'static str,
    /// The running configuration, for reloads ([`Daemon::reload`]).
    cfg: Config,
    /// The file SIGHUP reloads, `None` if the daemon was not told ([`Daemon::watch_config`]).
    config_path: Option<PathBuf>,
    reload_requested: bool,
    table_cfg: TableConfig,
    waker: Arc<Waker>,
    notifier: mwi_core::table::Notifier,
    /// Read the table again at this time (a slot was busy, or news was left over).
    table_retry: Option<Instant>,
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
        let mut ports = Vec::with_capacity(cfg.fxs.len());
        for (i, p) in cfg.fxs.iter().enumerate() {
            let chan = backend.open_fxs(p).map_err(|error| DaemonError::Channel {
                what: format!("FXS channel {}", p.channel),
                error,
            })?;
            poll.registry().register(
                &mut SourceFd(&chan.as_raw_fd()),
                Token(PORT_BASE + i),
                Interest::READABLE,
            )?;
            let line =
                fxs::FxsLine::new(line_config(p, &mut plans).map_err(DaemonError::Config)?, 0);
            ports.push(Port {
                cfg: p.clone(),
                chan,
                line,
            });
        }
        let mut spans = Vec::with_capacity(cfg.pri.len());
        for (i, p) in cfg.pri.iter().enumerate() {
            let chan = backend
                .open_dchannel(p)
                .map_err(|error| DaemonError::Channel {
                    what: format!("D-channel {} of span {}", p.dchannel, p.span),
                    error,
                })?;
            poll.registry().register(
                &mut SourceFd(&chan.as_raw_fd()),
                Token(SPAN_BASE + i),
                Interest::READABLE,
            )?;
            spans.push(Pri {
                cfg: p.clone(),
                chan,
                span: Span::new(span_config(p)),
                layer1_up: false,
            });
        }

        let table_cfg = TableConfig::for_config(cfg);
        let reader = Reader::open(&table_cfg)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let notifier = spawn_notifier(&reader, &waker)?;

        let mut control = ControlServer::bind(&control_path(cfg))?;
        control.register(poll.registry(), CONTROL)?;
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
            signals,
            backend_name: cfg.dahdi.backend.as_str(),
            cfg: cfg.clone(),
            config_path: None,
            reload_requested: false,
            table_cfg,
            waker,
            notifier,
            table_retry: None,
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

    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// Until the earliest line or span timer (and at most one second, for `on_tick`).
    fn next_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut until = now + Duration::from_secs(1);
        if let Some(t) = self.table_retry {
            until = until.min(t);
        }
        for p in &self.ports {
            if let Some(ms) = p.line.poll_timeout() {
                until = until.min(self.clock + Duration::from_millis(ms));
            }
        }
        for s in &self.spans {
            if let Some(t) = s.span.poll_timeout() {
                until = until.min(t);
            }
        }
        Some(until.saturating_duration_since(now))
    }

    fn handle_timeouts(&mut self) {
        let now = Instant::now();
        // A truncated or replaced region is looked for once a loop turn (fstat + stat).
        let due = match self.table_retry {
            Some(t) => t <= now,
            None => self.reader.check().is_err(),
        };
        if due {
            self.read_table();
        }
        let now_ms = self.now_ms();
        for p in &mut self.ports {
            if p.line.poll_timeout().is_some_and(|t| t <= now_ms) {
                p.line.handle_timeout(now_ms);
                drive_port(p, now_ms);
            }
        }
        for s in &mut self.spans {
            if s.span.poll_timeout().is_some_and(|t| t <= now) {
                s.span.handle_timeout(now);
                drive_span(s);
            }
        }
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

    /// Re-read the configuration file ([`Daemon::watch_config`]) and apply what can change
    /// without closing a channel: the number and `mwi` of each FXS port, the `numbers`
    /// patterns of each PRI span; every number is then routed again, manual overrides
    /// included. An invalid file changes nothing (its error, with file:line:column, is
    /// logged). Everything else (channels added or removed, tone plans, law, vmwi, span
    /// sides and transports, `[dahdi]`, `[table]`, `[state]`) is logged as needing a restart.
    pub fn reload(&mut self) {
        let Some(path) = self.config_path.clone() else {
            warn!("reload: chand was started without a configuration file to reload");
            return;
        };
        let new = match Config::load(&path) {
            Ok(c) => c,
            Err(e) => {
                error!("reload: {e}; keeping the running configuration");
                return;
            }
        };
        let mut restart = Vec::new();
        let now_ms = self.now_ms();
        for p in &mut self.ports {
            let Some(n) = new.fxs.iter().find(|n| n.channel == p.cfg.channel) else {
                restart.push(format!("FXS channel {} removed", p.cfg.channel));
                continue;
            };
            let rest = config::Fxs {
                number: p.cfg.number.clone(),
                mwi: p.cfg.mwi,
                ..n.clone()
            };
            if rest != p.cfg {
                restart.push(format!("FXS channel {} (law, cptone, vmwi)", p.cfg.channel));
            }
            if p.cfg.mwi && !n.mwi {
                p.line.set_mwi(false, 0, now_ms);
                drive_port(p, now_ms);
            }
            p.cfg.number = n.number.clone();
            p.cfg.mwi = n.mwi;
        }
        for s in &mut self.spans {
            let Some(n) = new.pri.iter().find(|n| n.span == s.cfg.span) else {
                restart.push(format!("PRI span {} removed", s.cfg.span));
                continue;
            };
            let rest = config::Pri {
                numbers: s.cfg.numbers.clone(),
                ..n.clone()
            };
            if rest != s.cfg {
                restart.push(format!("PRI span {} (all but numbers)", s.cfg.span));
            }
            s.cfg.numbers = n.numbers.clone();
        }
        let added_fxs = new
            .fxs
            .iter()
            .filter(|n| !self.ports.iter().any(|p| p.cfg.channel == n.channel))
            .map(|n| format!("FXS channel {} added", n.channel));
        let added_pri = new
            .pri
            .iter()
            .filter(|n| !self.spans.iter().any(|s| s.cfg.span == n.span))
            .map(|n| format!("PRI span {} added", n.span));
        restart.extend(added_fxs.chain(added_pri).collect::<Vec<_>>());
        let old = &self.cfg;
        for (changed, what) in [
            (new.dahdi != old.dahdi, "[dahdi]"),
            (new.table != old.table, "[table]"),
            (new.state != old.state, "[state]"),
            (new.tone_plan != old.tone_plan, "[[tone_plan]]"),
        ] {
            if changed {
                restart.push(what.to_owned());
            }
        }
        // The rule of the channels chand runs (a reload adds or removes none), so the indices
        // of its routes stay those of self.ports and self.spans.
        let router = Router::new(
            self.ports.iter().map(|p| FxsClaim {
                channel: p.cfg.channel,
                number: p.cfg.number.as_str(),
                mwi: p.cfg.mwi,
            }),
            self.spans.iter().map(|s| PriClaim {
                span: s.cfg.span,
                numbers: &s.cfg.numbers,
            }),
        );
        self.routing.set_router(router);
        let mut numbers: Vec<String> = self
            .routing
            .numbers()
            .chain(self.ports.iter().map(|p| p.cfg.number.as_str()))
            .map(str::to_owned)
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        for number in &numbers {
            if let Ok(route) = self.routing.router().route(number) {
                let (state, _) = self.routing.effective(number);
                self.deliver(route, number, state);
            }
        }
        self.cfg = new;
        if restart.is_empty() {
            info!(
                "configuration {} reloaded: numbers and MWI routing applied",
                path.display()
            );
        } else {
            warn!(
                "configuration {} reloaded: numbers and MWI routing applied; these changes \
                 need a restart of chand: {}",
                path.display(),
                restart.join(", ")
            );
        }
    }

    /// The region was truncated, removed or replaced: open it again (a new one is created
    /// from the snapshot if sipd has not yet). The numbers' last states stay as they are until
    /// the new region's first rescan delivers newer ones, so no lamp is lost meanwhile.
    /// Returns whether the new region is open; if not, [`TABLE_REOPEN`] later it is tried again.
    fn reopen_table(&mut self, why: &TableError) -> bool {
        warn!("{why}; opening the shared MWI table again");
        let reopened = Reader::open(&self.table_cfg).and_then(|r| {
            let n = spawn_notifier(&r, &self.waker)
                .map_err(|e| TableError::Config(format!("notifier thread: {e}")))?;
            Ok((r, n))
        });
        match reopened {
            Ok((reader, notifier)) => {
                self.reader = reader;
                self.notifier = notifier;
                info!("MWI table {} opened again", self.table_cfg.path.display());
                true
            }
            Err(e) => {
                error!("{e}; trying again in {} s", TABLE_REOPEN.as_secs());
                self.table_retry = Some(Instant::now() + TABLE_REOPEN);
                false
            }
        }
    }

    /// Take every change from the table (all slots after a ring overflow or a writer restart).
    ///
    /// One poll may deliver a rescan that predates a later change (mwi-core `Reader::poll`), so
    /// poll until the table has no news, a bounded number of times; a slot caught mid-write
    /// (`busy`) or news left over is taken up again after [`TABLE_RETRY`].
    fn read_table(&mut self) {
        self.table_retry = None;
        // Pages of a truncated region fault when touched: check before reading.
        if let Err(e) = self.reader.check() {
            if !self.reopen_table(&e) {
                return;
            }
        }
        let mut changed = Vec::new();
        for _ in 0..TABLE_POLLS {
            let summary = self.reader.poll(&mut changed);
            if summary.overflowed {
                warn!("MWI change ring overflowed: rescanned the whole table");
            }
            for entry in changed.drain(..) {
                let number = entry.number.as_str().to_owned();
                debug!(
                    number:% = number;
                    "table: {number} {:?} (version {})",
                    entry.state, entry.version
                );
                self.route(&number, entry.state);
            }
            if summary.busy > 0 {
                self.table_retry = Some(Instant::now() + TABLE_RETRY);
            }
            if !self.reader.has_news() {
                return;
            }
        }
        self.table_retry = Some(Instant::now());
    }

    /// The table has `state` for `number`: deliver it where the number routes, unless an
    /// override holds it.
    fn route(&mut self, number: &str, state: MwiState) {
        match self.routing.table_update(number, state) {
            Some(route) => self.deliver(route, number, state),
            None => debug!(
                number:% = number;
                "{number}: not delivered ({})",
                match self.routing.router().route(number) {
                    Ok(_) => "a manual override holds it".to_owned(),
                    Err(why) => why.explain(number),
                }
            ),
        }
    }

    /// Give `state` to the line or span `route` names.
    fn deliver(&mut self, route: Route, number: &str, state: MwiState) {
        match route {
            Route::Fxs { index, .. } => {
                let now_ms = self.now_ms();
                let Some(p) = self.ports.get_mut(index) else {
                    return;
                };
                info!(
                    channel = p.cfg.channel, number:% = number;
                    "FXS channel {} ({number}): MWI {}",
                    p.cfg.channel,
                    on_off(state.waiting)
                );
                p.line.set_mwi(state.waiting, state.new, now_ms);
                drive_port(p, now_ms);
            }
            Route::Pri { index, .. } => {
                let Some(s) = self.spans.get_mut(index) else {
                    return;
                };
                info!(
                    span = s.cfg.span, number:% = number;
                    "span {} ({number}): MWI {}",
                    s.cfg.span,
                    on_off(state.waiting)
                );
                s.span.set_lamp(Instant::now(), number, lamp_of(&state));
                drive_span(s);
            }
        }
    }

    fn service_port(&mut self, i: usize) {
        let now_ms = self.now_ms();
        let Some(p) = self.ports.get_mut(i) else {
            return;
        };
        loop {
            match p.chan.poll_event() {
                Ok(Some(ev)) => {
                    debug!(channel = p.cfg.channel; "FXS channel {}: {ev:?}", p.cfg.channel);
                    p.line.handle_event(ev, now_ms);
                    drive_port(p, now_ms);
                }
                Ok(None) => break,
                Err(e) => {
                    error!(channel = p.cfg.channel; "FXS channel {}: {e}", p.cfg.channel);
                    break;
                }
            }
        }
    }

    fn service_span(&mut self, i: usize) {
        let Some(s) = self.spans.get_mut(i) else {
            return;
        };
        loop {
            let now = Instant::now();
            match s.chan.poll_event() {
                Ok(Some(DChannelEvent::LinkUp)) => {
                    info!(span = s.cfg.span; "span {}: layer 1 up", s.cfg.span);
                    s.layer1_up = true;
                    s.span.start(now);
                }
                Ok(Some(DChannelEvent::LinkDown)) => {
                    warn!(span = s.cfg.span; "span {}: layer 1 down", s.cfg.span);
                    s.layer1_up = false;
                    s.span.link_lost(now);
                }
                Ok(Some(DChannelEvent::Frame(f))) => s.span.handle_frame(now, &f),
                Ok(None) => break,
                Err(e) => {
                    error!(
                        span = s.cfg.span, channel = s.cfg.dchannel;
                        "span {}: D-channel {}: {e}", s.cfg.span, s.cfg.dchannel
                    );
                    break;
                }
            }
            drive_span(s);
        }
    }

    fn accept_control(&mut self) {
        if let Err(e) = self
            .control
            .accept(self.poll.registry(), CONTROL_CONN, PORT_BASE)
        {
            warn!("control socket: {e}");
        }
    }

    /// One turn of control connection `token`: its single request read and answered, or
    /// more of a pending answer written.
    fn service_control(&mut self, token: usize) {
        if self.control.flush(self.poll.registry(), token) {
            return;
        }
        let request = match self.control.read(token) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                debug!("control connection: {e}");
                self.control.close(self.poll.registry(), token);
                return;
            }
        };
        let answer = match request {
            Request::Status { json: false } => Ok(self.status_text()),
            Request::Status { json: true } => Ok(self.status_json().to_string() + "\n"),
            Request::Mwi { number, state } => {
                let peer = self.control.peer(token);
                info!(
                    number:% = number, uid = peer.uid, pid = peer.pid;
                    "control: uid {} (pid {}) asks: mwi {number} {}",
                    peer.uid,
                    peer.pid,
                    state.map_or("reset", |s| if s.waiting { "on" } else { "off" })
                );
                self.manual(&number, state)
            }
        };
        self.control.answer(self.poll.registry(), token, answer);
    }

    /// `chand mwi NUMBER on|off|reset`: `Some(state)` overrides the table until a reset; the
    /// state goes where the number routes.
    ///
    /// Errors: the number routes nowhere (no FXS port or PRI span, or an FXS port with
    /// `mwi = false`): refused, nothing changes.
    fn manual(&mut self, number: &str, state: Option<MwiState>) -> Result<String, String> {
        let (route, s) = self
            .routing
            .manual(number, state)
            .map_err(|why| why.explain(number))?;
        let answer = if state.is_some() {
            info!(number:% = number; "manual override: {number} MWI {}", on_off(s.waiting));
            format!("{number}: MWI {} (manual)\n", on_off(s.waiting))
        } else {
            info!(
                number:% = number;
                "manual override of {number} reset: MWI {}",
                on_off(s.waiting)
            );
            format!(
                "{number}: MWI {} (from the voice-mail server)\n",
                on_off(s.waiting)
            )
        };
        self.deliver(route, number, s);
        Ok(answer)
    }

    /// `chand status`: one block per FXS port and per span.
    fn status_text(&self) -> String {
        use std::fmt::Write;
        let mut out = format!("chand: backend {}\n", self.backend_name);
        for p in &self.ports {
            let st = p.line.status();
            let (mwi, source) = self.routing.effective(p.cfg.number.as_str());
            let source = source.as_str();
            let _ =
                writeln!(
                out,
                "FXS channel {} number {}: {}, mwi {} ({} new, {} old; {source}){}, tone plan {}, \
                 vmwi {} ({}), underruns {}, late blocks {}",
                p.cfg.channel,
                p.cfg.number,
                hook_name(st.hook),
                if p.cfg.mwi { on_off(mwi.waiting) } else { "DISABLED" },
                mwi.new,
                mwi.old,
                st.playing
                    .map(|t| format!(", playing {t:?}"))
                    .unwrap_or_default(),
                st.plan,
                st.vmwi,
                support_name(st.vmwi_supported),
                st.underruns,
                st.late_blocks,
            );
        }
        for s in &self.spans {
            let st = s.span.status();
            let _ = writeln!(
                out,
                "PRI span {} (D-channel {}, {} side, {}): layer 1 {}, link {}, queue {}, \
                 in flight {}, frames out {}, retransmissions {}",
                s.cfg.span,
                s.cfg.dchannel,
                s.cfg.side,
                s.cfg.mwi_transport,
                up_down(s.layer1_up),
                up_down(st.link_up),
                st.queue_depth,
                st.in_flight,
                st.lapd.frames_out,
                st.lapd.retransmissions,
            );
            for (number, lamp) in s.span.lamps() {
                let _ = writeln!(
                    out,
                    "  {number}: lamp {} confirmed by PBX {}{}",
                    lamp_name(Some(lamp.wanted)),
                    lamp_name(lamp.confirmed),
                    if lamp.pending { " (pending)" } else { "" },
                );
            }
        }
        out
    }

    /// `chand status --json`.
    fn status_json(&self) -> serde_json::Value {
        use serde_json::json;
        let ports: Vec<_> = self
            .ports
            .iter()
            .map(|p| {
                let st = p.line.status();
                let (mwi, source) = self.routing.effective(p.cfg.number.as_str());
                json!({
                    "channel": p.cfg.channel,
                    "number": p.cfg.number.as_str(),
                    "mwi_enabled": p.cfg.mwi,
                    "hook": hook_name(st.hook),
                    "mwi": mwi.waiting,
                    "new": mwi.new,
                    "old": mwi.old,
                    "source": source.as_str(),
                    "tone_plan": st.plan,
                    "playing": st.playing.map(|t| format!("{t:?}")),
                    "vmwi": st.vmwi.to_string(),
                    "vmwi_supported": st.vmwi_supported,
                    "underruns": st.underruns,
                    "late_blocks": st.late_blocks,
                    "spills_sent": st.spills_sent,
                })
            })
            .collect();
        let spans: Vec<_> = self
            .spans
            .iter()
            .map(|s| {
                let st = s.span.status();
                let lamps: Vec<_> = s
                    .span
                    .lamps()
                    .map(|(number, l)| {
                        json!({
                            "number": number,
                            "wanted": l.wanted.on,
                            "messages": l.wanted.messages,
                            "confirmed": l.confirmed.map(|c| c.on),
                            "pending": l.pending,
                        })
                    })
                    .collect();
                json!({
                    "span": s.cfg.span,
                    "dchannel": s.cfg.dchannel,
                    "side": s.cfg.side.as_str(),
                    "transport": s.cfg.mwi_transport.as_str(),
                    "layer1_up": s.layer1_up,
                    "link_up": st.link_up,
                    "queue_depth": st.queue_depth,
                    "in_flight": st.in_flight,
                    "frames_out": st.lapd.frames_out,
                    "retransmissions": st.lapd.retransmissions,
                    "lamps": lamps,
                })
            })
            .collect();
        json!({
            "backend": self.backend_name,
            "numbers_in_table": self.routing.table_len(),
            "overrides": self.routing.overrides().collect::<Vec<_>>(),
            "fxs": ports,
            "pri": spans,
        })
    }
}

/// A notifier thread of `reader` that wakes the event loop.
fn spawn_notifier(reader: &Reader, waker: &Arc<Waker>) -> io::Result<mwi_core::table::Notifier> {
    let waker = Arc::clone(waker);
    reader.spawn_notifier(NOTIFIER_SPIN, move || {
        // A failed wake only delays the news to the next loop turn.
        let _ = waker.wake();
    })
}

/// Perform what the line asks for, feeding back the answers it waits for.
fn drive_port(p: &mut Port, now_ms: u64) {
    enum Answer {
        Vmwi(bool),
        Hook(bool),
    }
    loop {
        let Port { cfg, chan, line } = &mut *p;
        let Some(action) = line.poll_action() else {
            return;
        };
        let answer = match action {
            fxs::Action::Write(block) => {
                if let Err(e) = chan.write_audio(block) {
                    warn!(channel = cfg.channel; "FXS channel {}: audio: {e}", cfg.channel);
                }
                None
            }
            fxs::Action::StopAudio => {
                report(cfg.channel, chan.flush_audio());
                None
            }
            fxs::Action::SetVmwi { count, .. } => Some(Answer::Vmwi(vmwi_ok(chan.set_vmwi(count)))),
            fxs::Action::CheckHook => match chan.off_hook() {
                Ok(off) => Some(Answer::Hook(off)),
                Err(e) => {
                    warn!(channel = cfg.channel; "FXS channel {}: hook state: {e}", cfg.channel);
                    None
                }
            },
            fxs::Action::SetRpasCadence => Some(Answer::Vmwi(vmwi_ok(
                chan.set_cadence(Some(&fxs::line::RPAS_CADENCE_MS)),
            ))),
            fxs::Action::RestoreCadence => {
                report(cfg.channel, chan.set_cadence(None));
                None
            }
            fxs::Action::Ring => {
                report(cfg.channel, chan.ring(RingCommand::Ring));
                None
            }
            fxs::Action::RingOff => {
                report(cfg.channel, chan.ring(RingCommand::RingOff));
                None
            }
            fxs::Action::OnHookTransfer { ms } => {
                Some(Answer::Vmwi(vmwi_ok(chan.onhook_transfer(ms))))
            }
            fxs::Action::Notice(n) => {
                match n {
                    fxs::Notice::VmwiUnsupported(mode) => warn!(
                        channel = cfg.channel;
                        "FXS channel {}: visual MWI '{mode}' is not supported by this port's \
                         driver; MWI carries on with the stutter dial tone alone",
                        cfg.channel
                    ),
                    other => info!(channel = cfg.channel; "FXS channel {}: {other:?}", cfg.channel),
                }
                None
            }
        };
        match answer {
            Some(Answer::Vmwi(ok)) => line.vmwi_result(ok),
            Some(Answer::Hook(off)) => line.hook_state(off, now_ms),
            None => {}
        }
    }
}

/// `true` unless the driver said it cannot; other errors are logged and count as done.
fn vmwi_ok(result: Result<(), BackendError>) -> bool {
    match result {
        Ok(()) => true,
        Err(BackendError::Unsupported { .. }) => false,
        Err(e) => {
            warn!("visual MWI: {e}");
            true
        }
    }
}

fn report(channel: u32, result: Result<(), BackendError>) {
    if let Err(e) = result {
        warn!(channel = channel; "FXS channel {channel}: {e}");
    }
}

/// Send what the span wants sent and log what it reports.
fn drive_span(s: &mut Pri) {
    while let Some(frame) = s.span.poll_transmit() {
        if s.layer1_up {
            if let Err(e) = s.chan.send_frame(&frame) {
                warn!(span = s.cfg.span; "span {}: send: {e}", s.cfg.span);
            }
        }
    }
    while let Some(ev) = s.span.poll_event() {
        match ev {
            SpanEvent::LinkUp => {
                info!(span = s.cfg.span; "span {}: Q.921 link established", s.cfg.span)
            }
            SpanEvent::LinkDown => {
                warn!(span = s.cfg.span; "span {}: Q.921 link released", s.cfg.span)
            }
            SpanEvent::Confirmed { number, lamp } => info!(
                span = s.cfg.span, number:% = number;
                "span {} ({number}): PBX confirmed lamp {}",
                s.cfg.span,
                lamp_name(Some(lamp))
            ),
            SpanEvent::Failed {
                number,
                cause,
                retry_in,
            } => warn!(
                span = s.cfg.span, number:% = number;
                "span {} ({number}): delivery failed, cause {cause}; retry in {} ms",
                s.cfg.span,
                retry_in.as_millis()
            ),
            SpanEvent::LinkError(e) => {
                debug!(span = s.cfg.span; "span {}: Q.921 MDL-ERROR {e:?}", s.cfg.span)
            }
        }
    }
}

/// The line setup of port `p`, with its tone plan compiled once per plan and law.
///
/// Errors: the port's `cptone` names no plan (check-config rejects such a file).
fn line_config(p: &config::Fxs, plans: &mut fxs::TonePlans) -> Result<fxs::LineConfig, String> {
    let plan = plans.compiled(p.cptone.as_str(), p.law).ok_or_else(|| {
        format!(
            "FXS channel {}: no tone plan {:?}",
            p.channel,
            p.cptone.as_str()
        )
    })?;
    Ok(fxs::LineConfig { plan, vmwi: p.vmwi })
}

fn span_config(p: &config::Pri) -> SpanConfig {
    let side = match p.side {
        config::Side::User => isdn::q921::Side::User,
        config::Side::Network => isdn::q921::Side::Network,
    };
    let mut c = SpanConfig::new(side);
    c.transport = match p.mwi_transport {
        config::MwiTransport::Setup => Transport::Setup,
        config::MwiTransport::Facility => Transport::Facility,
    };
    c.party_number = match p.party_number {
        config::PartyNumberKind::Unknown => PartyNumberType::Unknown,
        config::PartyNumberKind::Private => PartyNumberType::Private,
        config::PartyNumberKind::Public => PartyNumberType::Public,
    };
    c.message_count = p.message_count;
    c
}

/// The lamp for a state: nbOfMessages is the new-message count when the server gave one.
fn lamp_of(state: &MwiState) -> Lamp {
    if state.waiting {
        Lamp::on((state.new > 0).then(|| state.new.min(u32::from(u16::MAX)) as u16))
    } else {
        Lamp::off()
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "ON"
    } else {
        "OFF"
    }
}

fn up_down(b: bool) -> &'static str {
    if b {
        "UP"
    } else {
        "DOWN"
    }
}

fn lamp_name(l: Option<Lamp>) -> String {
    match l {
        None => "-".into(),
        Some(Lamp { on: false, .. }) => "OFF".into(),
        Some(Lamp {
            on: true,
            messages: Some(n),
        }) => format!("ON ({n})"),
        Some(Lamp { on: true, .. }) => "ON".into(),
    }
}

fn hook_name(h: fxs::Hook) -> &'static str {
    match h {
        fxs::Hook::OnHook => "on-hook",
        fxs::Hook::OffHook => "off-hook",
    }
}

fn support_name(s: Option<bool>) -> &'static str {
    match s {
        None => "untested",
        Some(true) => "supported",
        Some(false) => "unsupported",
    }
}
