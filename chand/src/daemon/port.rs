//! FXS ports: each DAHDI channel's events into its [`fxs::FxsLine`], and what the line asks
//! for (audio blocks, hook checks, ringing, visual MWI ioctls) out through the back-end.

use std::time::Instant;

use log::{debug, error, info, warn};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use mwi_config as config;

use fxs::dtmf::DtmfEvent;
use fxs::{LineEvent, BLOCK_SAMPLES};
use sansio::Core;

use super::calls::leg::{Echo, Leg};
use super::calls::phone::{Phase, PortCall};
use super::{Daemon, DaemonError};
use crate::backend::{Backend, BackendError, FxsChannel, RingCommand};

/// One FXS port: its configuration, its channel, its line core and its call.
pub(super) struct Port {
    pub(super) cfg: config::Fxs,
    pub(super) chan: Box<dyn FxsChannel>,
    pub(super) line: fxs::FxsLine,
    /// The call state (docs/calls.md).
    pub(super) call: PortCall,
    /// The in-band DTMF receiver on the phone's audio (ITU-T Q.24).
    pub(super) dtmf: fxs::dtmf::DtmfDetector,
    /// Ringing and caller ID of an incoming call.
    pub(super) alerting: fxs::ring::Alerting,
    /// The zone's ring cadence (`DAHDI_SETCADENCE` while an incoming call rings).
    pub(super) alerting_cadence: fxs::ring::RingCadence,
    /// The call's RTP/RTCP sockets and media stream.
    pub(super) leg: Option<Leg>,
    /// The channel's DAHDI echo canceller (`[[fxs]] echo_cancel`).
    pub(super) echo: Echo,
}

impl Port {
    /// Open port `p` through `backend` and register its channel as `token`.
    ///
    /// Errors: the channel cannot be opened or registered, or its `cptone` names no plan.
    pub(super) fn open(
        p: &config::Fxs,
        backend: &mut dyn Backend,
        registry: &Registry,
        token: Token,
        plans: &mut fxs::TonePlans,
    ) -> Result<Self, DaemonError> {
        let chan = backend.open_fxs(p).map_err(|error| DaemonError::Channel {
            what: format!("FXS channel {}", p.channel),
            error,
        })?;
        registry.register(&mut SourceFd(&chan.as_raw_fd()), token, Interest::READABLE)?;
        let config = line_config(p, plans).map_err(DaemonError::Config)?;
        let zone = plans.cptone(p.cptone.as_str()).and_then(|t| t.dahdi_zone);
        // Zones without a cadence of their own ring as DAHDI's default, us (2 s on, 4 s off).
        let cadence = zone
            .and_then(fxs::ring::RingCadence::for_zone)
            .or_else(|| fxs::ring::RingCadence::for_zone(0))
            .ok_or_else(|| DaemonError::Config("no ring cadence for zone 0".into()))?;
        let signal = match p.caller_id {
            Some(config::CallerIdMode::Bell202) => fxs::FskStandard::Bell202.into(),
            Some(config::CallerIdMode::V23) => fxs::FskStandard::V23.into(),
            Some(config::CallerIdMode::Dtmf) => fxs::ring::CallerIdSignal::Dtmf,
            _ => config.plan.fsk().into(),
        };
        let send_cid = p.caller_id != Some(config::CallerIdMode::None);
        let call = PortCall::new(
            p.dial_plan.map().clone(),
            fxs::digitmap::DigitTiming::default(),
            p.voicemail.as_ref().map(|v| v.as_str().to_owned()),
            send_cid,
        );
        let line = fxs::FxsLine::new(config, Instant::now());
        Ok(Self {
            cfg: p.clone(),
            chan,
            line,
            call,
            dtmf: fxs::dtmf::DtmfDetector::new(p.law),
            alerting: fxs::ring::Alerting::new(cadence.clone(), signal, p.law),
            alerting_cadence: cadence,
            leg: None,
            echo: Echo::Off,
        })
    }
}

impl Daemon {
    /// Take every pending event of port `i`'s channel into its line.
    pub(super) fn service_port(&mut self, i: usize) {
        let now = Instant::now();
        loop {
            let Some(p) = self.ports.get_mut(i) else {
                return;
            };
            match p.chan.poll_event() {
                Ok(Some(ev)) => {
                    debug!(channel = p.cfg.channel; "FXS channel {}: {ev:?}", p.cfg.channel);
                    p.line.handle_event(now, ev);
                    phone_event(p, now, ev);
                    self.apply_call(i, now);
                }
                Ok(None) => break,
                Err(e) => {
                    error!(channel = p.cfg.channel; "FXS channel {}: {e}", p.cfg.channel);
                    break;
                }
            }
        }
        if let Some(p) = self.ports.get_mut(i) {
            phone_audio(p, now);
        }
        self.apply_call(i, now);
    }
}

/// Perform what the line asks for, feeding back the answers it waits for.
pub(super) fn drive_port(p: &mut Port, now: Instant) {
    enum Answer {
        Vmwi(bool),
        Hook(bool),
    }
    loop {
        let Port {
            cfg,
            chan,
            line,
            leg,
            ..
        } = &mut *p;
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
            fxs::Action::PullMedia => {
                let block = match leg.as_mut().and_then(|l| l.stream.as_mut()) {
                    Some(s) => s.pull_audio(now),
                    None => [cfg.law.silence(); fxs::BLOCK_SAMPLES],
                };
                if let Err(e) = chan.write_audio(&block) {
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
            Some(Answer::Hook(off)) => line.hook_state(now, off),
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

/// Port `p`'s phone events and audio at `now`: hook changes and digits into its call core,
/// the audio into the DTMF receiver and, in a connected call, into the media stream.
fn phone_event(p: &mut Port, now: Instant, ev: LineEvent) {
    match ev {
        LineEvent::OffHook => p.call.off_hook(now),
        LineEvent::OnHook => p.call.on_hook(),
        LineEvent::Digit(d) => p.call.digit(now, d),
        _ => {}
    }
}

/// The phone's audio blocks kept by the channel: DTMF detection, then the media stream.
fn phone_audio(p: &mut Port, now: Instant) {
    let law = p.cfg.law;
    while let Some(block) = p.chan.take_audio() {
        let mut linear = [0i16; BLOCK_SAMPLES];
        for (l, c) in linear.iter_mut().zip(block.iter()) {
            *l = law.decode(*c);
        }
        p.dtmf.handle_audio(now, &linear);
        let in_call = p.call.phase() == Phase::Connected;
        // RFC 3264 §6.1: nothing is sent on recvonly or inactive media, nor in early media.
        let sending = in_call && p.leg.as_ref().is_some_and(Leg::sends);
        while let Some(ev) = p.dtmf.poll_event() {
            let stream = p
                .leg
                .as_mut()
                .and_then(|l| l.stream.as_mut())
                .filter(|_| sending);
            match (ev, stream) {
                (DtmfEvent::Begin { digit, .. }, Some(s)) => {
                    let call_id = p.call.call().map(|c| c.to_string()).unwrap_or_default();
                    info!(channel = p.cfg.channel, call_id = call_id; "FXS channel {}: digit {digit} in the call", p.cfg.channel);
                    s.send_digit_begin(now, digit);
                }
                (DtmfEvent::End { .. }, Some(s)) => s.send_digit_end(now),
                (DtmfEvent::Begin { digit, .. }, None) => {
                    p.line.handle_event(now, LineEvent::Digit(digit));
                    p.call.digit(now, digit);
                }
                (DtmfEvent::End { .. }, None) => {}
            }
        }
        if let Some(leg) = p.leg.as_mut().filter(|_| in_call) {
            if let Some(s) = leg.stream.as_mut().filter(|_| sending) {
                s.handle_audio(now, &block);
            }
            leg.flush(now);
        }
    }
}
