//! `chand trace on|off` and `chand capture on|off`: the runtime D-channel trace, one line per
//! frame ([`crate::trace::frame_line`]) at info whatever `[log] level` says
//! ([`mwi_service::trace`], target `chand::trace`), and the pcapng capture of `[trace]
//! capture_dir` (`chand-N.pcapng`, one LINKTYPE_LAPD interface per span).

use std::time::Instant;

use mwi_config::Config;
use mwi_service::capture::{Capture, DataLink, Interface};

use crate::trace::{frame_line, lapd_way, Direction};

/// The log target of the trace lines.
const TARGET: &str = "chand::trace";

/// What the D-channel trace and capture do now.
pub(super) struct Tracer {
    on: bool,
    capture: Capture,
    /// `[trace]`, for `capture on`.
    cfg: mwi_config::Trace,
    /// Each span's number and side (`true`: network), in `[[pri]]` order: the capture's
    /// interfaces.
    spans: Vec<(u32, bool)>,
}

impl Tracer {
    /// The trace off, the capture on if `[trace] capture_dir` is set (and can be written:
    /// else logged, and off).
    pub(super) fn new(cfg: &Config) -> Self {
        let mut t = Self {
            on: false,
            capture: Capture::off("chand"),
            cfg: cfg.trace.clone(),
            spans: cfg
                .pri
                .iter()
                .map(|p| (p.span, p.side == mwi_config::Side::Network))
                .collect(),
        };
        if t.cfg.capture_dir.is_some() {
            if let Err(e) = t.start_capture() {
                log::error!("{e}");
            }
        }
        t
    }

    /// Switch the trace on or off (by command); says so in the trace itself.
    pub(super) fn switch(&mut self, on: bool) {
        self.on = on;
        mwi_service::trace(
            TARGET,
            &format!(
                "D-channel trace {} by command",
                if on { "on" } else { "off" }
            ),
        );
    }

    /// `capture on|off` by command: the answer, or why not.
    ///
    /// Errors: no `[trace] capture_dir`, or its file cannot be written.
    pub(super) fn switch_capture(&mut self, on: bool) -> Result<String, String> {
        if !on {
            self.capture.stop();
            mwi_service::trace(TARGET, "D-channel capture off by command");
            return Ok("capture off\n".to_owned());
        }
        if !self.capture.is_on() {
            self.start_capture()?;
        }
        mwi_service::trace(
            TARGET,
            &format!(
                "D-channel capture on by command: {}",
                self.capture.path().display()
            ),
        );
        Ok(format!("capture on: {}\n", self.capture.path().display()))
    }

    fn start_capture(&mut self) -> Result<(), String> {
        let dir = self
            .cfg
            .capture_dir
            .as_deref()
            .ok_or("no [trace] capture_dir in the configuration")?;
        let interfaces = self
            .spans
            .iter()
            .map(|(span, _)| Interface {
                linktype: DataLink::LAPD,
                name: format!("span {span}"),
            })
            .collect();
        self.capture = Capture::open(
            dir,
            "chand",
            self.cfg.capture_max_bytes,
            self.cfg.capture_files,
            interfaces,
        )
        .map_err(|e| format!("capture in {}: {e}", dir.display()))?;
        Ok(())
    }

    /// Frame `frame` went `dir` on span `span`'s D-channel.
    pub(super) fn frame(&mut self, span: u32, dir: Direction, frame: &[u8]) {
        if self.on {
            mwi_service::trace(TARGET, &frame_line(span, dir, frame));
        }
        if self.capture.is_on() {
            if let Some(i) = self.spans.iter().position(|(s, _)| *s == span) {
                let way = lapd_way(dir, self.spans[i].1);
                self.capture.record(i as u32, way, frame);
            }
        }
    }

    /// Write out what the capture has buffered, at most once a second (each loop turn).
    pub(super) fn flush_due(&mut self, now: Instant) {
        self.capture.flush_due(now);
    }
}
