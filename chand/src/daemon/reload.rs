//! SIGHUP: the configuration file read again, and what can change without closing a channel
//! (numbers, `mwi`, PRI `numbers` patterns) applied.

use std::time::Instant;

use log::{error, info, warn};
use mwi_config::{self as config, Config};
use mwi_core::route::{FxsClaim, PriClaim, Router};

use super::port::drive_port;
use super::Daemon;

impl Daemon {
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
        let now = Instant::now();
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
                p.line.set_mwi(now, false, 0);
                drive_port(p, now);
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
}
