//! The control socket's requests: `status [json]` answered from one [`ChandStatus`],
//! `mwi NUMBER on|off|reset` applied through the routing core, `trace on|off` and `capture on|off`
//! switching the D-channel trace and capture.

use std::time::Instant;

use log::{debug, info, warn};
use mwi_core::MwiState;

use super::{Daemon, CONTROL_CONN, PORT_BASE};
use crate::control::Request;
use crate::status::{on_off, ChandStatus, PortStatus, SpanStatus};

impl Daemon {
    /// Accept the connections waiting on the control socket.
    pub(super) fn accept_control(&mut self) {
        if let Err(e) = self
            .control
            .accept(self.poll.registry(), CONTROL_CONN, PORT_BASE)
        {
            warn!("control socket: {e}");
        }
    }

    /// One turn of control connection `token`: its single request read and answered, or
    /// more of a pending answer written.
    pub(super) fn service_control(&mut self, token: usize) {
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
            Request::Status { json: false } => Ok(self.status().to_string()),
            Request::Status { json: true } => serde_json::to_string(&self.status())
                .map(|json| json + "\n")
                .map_err(|e| format!("status: {e}")),
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
            Request::Trace { on } => {
                self.trace.switch(on);
                Ok(format!("trace {}\n", if on { "on" } else { "off" }))
            }
            Request::Capture { on } => self.trace.switch_capture(on),
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

    /// The status of every port and span now, and of the table and overrides.
    fn status(&self) -> ChandStatus {
        let now = Instant::now();
        ChandStatus {
            backend: self.backend_name.to_owned(),
            numbers_in_table: self.routing.table_len(),
            overrides: self.routing.overrides().map(str::to_owned).collect(),
            fxs: self
                .ports
                .iter()
                .map(|p| {
                    PortStatus::new(
                        &p.cfg,
                        &p.line.status(),
                        self.routing.effective(p.cfg.number.as_str()),
                        super::calls::call_status(p, now),
                    )
                })
                .collect(),
            pri: self
                .spans
                .iter()
                .map(|s| {
                    SpanStatus::new(
                        &s.cfg,
                        &s.span,
                        s.layer1_up,
                        super::calls::bchannel_status(s, now),
                    )
                })
                .collect(),
        }
    }
}
