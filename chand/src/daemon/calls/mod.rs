//! Calls on FXS ports and PRI trunks (docs/calls.md): the call-control socket to sipd
//! ([`server`]), the call state of each port ([`phone`], sans-IO), the trunk calls of each
//! span ([`trunk`], sans-IO; driven by [`pri`]) and the media of each call ([`leg`]). The loop
//! moves bytes: phone audio into the DTMF receiver and the media stream, link events into the
//! ports' call cores, and what those ask for out to the channel, the link and the sockets.
//! MWI is not touched here: a call never changes a lamp or the table; it only holds the
//! port's MWI actions that need the line while it lasts (`FxsLine::set_engaged`).

pub(super) mod leg;
pub(super) mod phone;
mod pri;
mod server;
pub(super) mod trunk;

use std::path::PathBuf;
use std::time::Instant;

use chrono::{Datelike, Timelike};

use callctl::link::{Event, SendError};
use callctl::wire::Message;
use callctl::{CallId, Cause, Digits};
use fxs::ring::{AlertEvent, CallTime};

use log::{info, warn};
use media::stream::Socket;
use mio::Registry;
use mwi_config::{Config, Media as MediaConfig};
use sansio::Core;

pub(super) use self::phone::{Out, Phase};
pub(super) use self::pri::bchannel_status;
pub(super) use self::server::CallServer;

use super::port::Port;
use super::{Daemon, MEDIA_BASE};
use crate::backend::RingCommand;
use crate::status::{CallStatus, MediaStatus};

/// The call-control socket of a config: `<[state] runtime_dir>/callctl.sock`.
pub fn callctl_path(cfg: &Config) -> PathBuf {
    cfg.state.runtime_dir.join("callctl.sock")
}

impl Daemon {
    /// Take the link's events: calls for the ports, lost calls torn down.
    pub(super) fn link_events(&mut self, now: Instant) {
        while let Some(ev) = self.calls.poll_event() {
            match ev {
                Event::PeerUp { epoch, .. } => info!("call control: sipd up (epoch {epoch:x})"),
                Event::PeerDown => info!("call control: sipd down"),
                Event::CallsLost { calls, reason } => {
                    for call in calls {
                        let Some(i) = self.port_of_call(call) else {
                            self.trunk_lost(now, call);
                            continue;
                        };
                        let channel = self.ports[i].cfg.channel;
                        info!(channel = channel, call_id = call.to_string(); "FXS channel {channel}: call {call}: lost with sipd ({reason:?})");
                        self.ports[i].call.lost(now);
                        self.apply_call(i, now);
                    }
                }
                Event::Call(msg) => self.call_message(now, msg),
                // Only sipd's side of the link reports lamp states.
                Event::PbxMwi(_) => {}
                Event::Rejected(e) => warn!("call control: packet rejected: {e}"),
            }
        }
    }

    fn call_message(&mut self, now: Instant, msg: Message) {
        let for_trunk = matches!(msg, Message::TrunkIncoming { .. })
            || msg.call().is_some_and(|c| self.port_of_call(c).is_none());
        if for_trunk && self.trunk_message(now, msg.clone()) {
            return;
        }
        let i = match &msg {
            Message::Incoming { port, .. } => self
                .ports
                .iter()
                .position(|p| p.cfg.channel == u32::from(*port)),
            m => m.call().and_then(|c| self.port_of_call(c)),
        };
        let Some(i) = i else {
            if let Message::Incoming { call, .. } = msg {
                // The link checked the port against our Hello; a reload may have removed it.
                self.send_call(
                    now,
                    Message::Hangup {
                        call,
                        cause: Cause::SUBSCRIBER_ABSENT,
                    },
                );
            }
            return;
        };
        info!(
            channel = self.ports[i].cfg.channel,
            call_id = msg.call().map(|c| c.to_string()).unwrap_or_default();
            "FXS channel {}: {msg}", self.ports[i].cfg.channel
        );
        self.ports[i].call.message(now, msg);
        self.apply_call(i, now);
    }

    fn port_of_call(&self, call: CallId) -> Option<usize> {
        self.ports.iter().position(|p| p.call.call() == Some(call))
    }

    pub(super) fn send_call(&mut self, now: Instant, msg: Message) {
        if let Err(e) = self.calls.send(now, msg.clone()) {
            warn!("call control: {msg} not sent: {e}");
        }
    }

    /// Perform what port `i`'s call core asks for, then drive its line.
    pub(super) fn apply_call(&mut self, i: usize, now: Instant) {
        let registry = self.poll.registry();
        let media_cfg = &self.cfg.media;
        let Some(p) = self.ports.get_mut(i) else {
            return;
        };
        sync_engaged(p, now);
        while let Some(out) = p.call.poll() {
            match out {
                Out::Send(msg) => {
                    if let Err(e) = self.calls.send(now, msg.clone()) {
                        let call_id = msg.call().map(|c| c.to_string()).unwrap_or_default();
                        warn!(channel = p.cfg.channel, call_id = call_id; "FXS channel {}: {msg} not sent: {e}", p.cfg.channel);
                    }
                }
                Out::Dial(digits) => {
                    let result = dial(
                        p,
                        &mut self.calls,
                        media_cfg,
                        &mut self.rtp_cursor,
                        registry,
                        i,
                        now,
                        &digits,
                    );
                    if let Err(cause) = &result {
                        warn!(channel = p.cfg.channel; "FXS channel {}: {digits} not dialled (cause {cause})", p.cfg.channel);
                    }
                    p.call.dialled(now, result);
                }
                Out::OpenMedia(call) => {
                    match open_leg(p, media_cfg, &mut self.rtp_cursor, registry, i, call) {
                        Ok(local) => {
                            let _ = self.calls.send(
                                now,
                                Message::MediaReady {
                                    call,
                                    local_rtp: local,
                                },
                            );
                        }
                        Err(()) => p.call.message(
                            now,
                            Message::Hangup {
                                call,
                                cause: Cause::SUBSCRIBER_ABSENT,
                            },
                        ),
                    }
                }
                Out::Tone(kind) => p.line.play(now, kind),
                Out::Silence => p.line.play_silence(now),
                Out::StartMedia(media) => {
                    echo_cancel(p, true);
                    if let Some(leg) = &mut p.leg {
                        leg.start(now, &media, p.cfg.law);
                        // RFC 3264 §6.1: sendonly and inactive media is not played.
                        if leg.plays() {
                            p.line.play_media(now);
                        } else {
                            p.line.play_silence(now);
                        }
                    }
                }
                Out::StopMedia => close_leg(p, registry, now),
                Out::Ring(cid) => {
                    let cid = cid.map(|mut c| {
                        c.time = Some(local_now());
                        c
                    });
                    report(
                        p.cfg.channel,
                        p.chan.set_cadence(Some(p.alerting_cadence.values())),
                    );
                    p.alerting.start(now, cid.as_ref());
                }
                Out::StopRing => {
                    p.alerting.stop(now);
                    drive_alerting(p, now);
                    report(p.cfg.channel, p.chan.set_cadence(None));
                }
            }
        }
        sync_engaged(p, now);
        drive_alerting(p, now);
        super::port::drive_port(p, now);
    }

    /// Readable RTP or RTCP socket of port `t / 2`.
    pub(super) fn service_media(&mut self, t: usize, now: Instant) {
        let which = if t % 2 == 0 {
            Socket::Rtp
        } else {
            Socket::Rtcp
        };
        if let Some(leg) = self.ports.get_mut(t / 2).and_then(|p| p.leg.as_mut()) {
            leg.read(now, which);
        }
    }
}

/// Tell port `p`'s line whether it is in a call (any phase but idle), so that MWI holds
/// what needs the line (a spill, a lamp change) until the port is idle on-hook again; what
/// the line asks for then (a spill stopped) is done at once, before the call's ringing.
fn sync_engaged(p: &mut Port, now: Instant) {
    let engaged = p.call.phase() != Phase::Idle;
    if engaged != p.line.is_engaged() {
        p.line.set_engaged(now, engaged);
        super::port::drive_port(p, now);
    }
}

/// The call on port `p` at `now`, for status.
pub(super) fn call_status(p: &Port, now: Instant) -> CallStatus {
    let state = match p.call.phase() {
        Phase::Idle => "idle",
        Phase::Dialling => "dialling",
        Phase::Proceeding => "proceeding",
        Phase::Ringback => "ringback",
        Phase::Ringing => "ringing",
        Phase::Connected => "connected",
        Phase::Failed => "failed",
    };
    CallStatus {
        state: state.to_owned(),
        call_id: p.call.call().map(|c| c.to_string()),
        number: p.call.number().to_owned(),
        duration_s: p.call.duration(now).map(|d| d.as_secs()),
        media: p
            .leg
            .as_ref()
            .and_then(|l| l.stream.as_ref())
            .map(|s| MediaStatus::new(&s.stats())),
    }
}

/// Dial `digits` on port `p`: a call id, the RTP pair, `Dial` and `MediaReady`.
#[allow(clippy::too_many_arguments)]
fn dial(
    p: &mut Port,
    server: &mut CallServer,
    media: &MediaConfig,
    cursor: &mut usize,
    registry: &Registry,
    i: usize,
    now: Instant,
    digits: &str,
) -> Result<CallId, Cause> {
    let digits = Digits::try_from(digits).map_err(|_| Cause::INVALID_NUMBER_FORMAT)?;
    let call = server.new_call_id().ok_or(Cause::CONGESTION)?;
    let port = u16::try_from(p.cfg.channel).map_err(|_| Cause::INTERWORKING)?;
    server
        .send(now, Message::Dial { call, port, digits })
        .map_err(|e| match e {
            SendError::TooManyCalls => Cause::CONGESTION,
            _ => Cause::NETWORK_OUT_OF_ORDER,
        })?;
    info!(channel = p.cfg.channel, call_id = call.to_string(); "FXS channel {}: call {call} dialled", p.cfg.channel);
    match open_leg(p, media, cursor, registry, i, call) {
        Ok(local_rtp) => {
            let _ = server.send(now, Message::MediaReady { call, local_rtp });
            Ok(call)
        }
        Err(()) => {
            let _ = server.send(
                now,
                Message::Hangup {
                    call,
                    cause: Cause::NO_CIRCUIT,
                },
            );
            Err(Cause::NO_CIRCUIT)
        }
    }
}

/// Bind port `i`'s RTP pair for `call` and register it.
fn open_leg(
    p: &mut Port,
    media: &MediaConfig,
    cursor: &mut usize,
    registry: &Registry,
    i: usize,
    call: CallId,
) -> Result<std::net::SocketAddr, ()> {
    let leg = leg::open(
        call,
        leg::Who::fxs(p.cfg.channel),
        media,
        cursor,
        registry,
        MEDIA_BASE + 2 * i,
    )
    .ok_or(())?;
    let local = leg.local;
    p.leg = Some(leg);
    Ok(local)
}

/// Attach (`on`) or remove port `p`'s echo canceller (`[[fxs]] echo_cancel`).
fn echo_cancel(p: &mut Port, on: bool) {
    let who = leg::Who::fxs(p.cfg.channel);
    let chan = &mut p.chan;
    p.echo
        .set(p.cfg.echo_cancel, on, &who, |t| chan.echo_cancel(t));
}

fn close_leg(p: &mut Port, registry: &Registry, now: Instant) {
    echo_cancel(p, false);
    if let Some(leg) = p.leg.take() {
        leg::close(leg, registry, now);
    }
}

/// Perform the ringing and caller ID of port `p` due at `now`.
pub(super) fn drive_alerting(p: &mut Port, now: Instant) {
    if p.alerting.poll_timeout().is_some_and(|t| t <= now) {
        p.alerting.handle_timeout(now);
    }
    while let Some(ev) = p.alerting.poll_event() {
        match ev {
            AlertEvent::Ring(on) => report(
                p.cfg.channel,
                p.chan.ring(if on {
                    RingCommand::Ring
                } else {
                    RingCommand::RingOff
                }),
            ),
            AlertEvent::OnHookTransfer { ms } => report(p.cfg.channel, p.chan.onhook_transfer(ms)),
            AlertEvent::CallerIdSkipped { spill_ms } => warn!(
                channel = p.cfg.channel,
                call_id = p.call.call().map(|c| c.to_string()).unwrap_or_default();
                "FXS channel {}: caller ID ({spill_ms} ms) does not fit the ring cadence", p.cfg.channel
            ),
        }
    }
    while let Some(block) = p.alerting.poll_transmit() {
        if let Err(e) = p.chan.write_audio(&block) {
            let call_id = p.call.call().map(|c| c.to_string()).unwrap_or_default();
            warn!(channel = p.cfg.channel, call_id = call_id; "FXS channel {}: caller ID: {e}", p.cfg.channel);
        }
    }
}

fn report(channel: u32, result: Result<(), crate::backend::BackendError>) {
    if let Err(e) = result {
        warn!(channel = channel; "FXS channel {channel}: {e}");
    }
}

/// The date and time of caller ID (MDMF parameter 0x01, GR-30 §3.1 / ETSI EN 300 659-3
/// §5.4.1): local time, as the phone shows it, from the system's time zone (TZ or
/// /etc/localtime, read by chrono).
fn local_now() -> CallTime {
    call_time(&chrono::Local::now())
}

fn call_time<T: Datelike + Timelike>(t: &T) -> CallTime {
    // Month 1..=12, day 1..=31, hour 0..=23 and minute 0..=59 always fit a u8.
    CallTime {
        month: t.month() as u8,
        day: t.day() as u8,
        hour: t.hour() as u8,
        minute: t.minute() as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_id_time_is_the_wall_clock_date_and_time() {
        let t = chrono::NaiveDate::from_ymd_opt(2024, 12, 31)
            .and_then(|d| d.and_hms_opt(23, 59, 30))
            .unwrap();
        assert_eq!(
            call_time(&t),
            CallTime {
                month: 12,
                day: 31,
                hour: 23,
                minute: 59
            }
        );
    }
}
