//! Trunk calls on PRI spans (docs/calls.md): the span's Q.931 call events and sipd's messages
//! into each span's [`Trunk`] core, and what it asks for out: Q.931 frames (through the span,
//! ahead of MWI), messages to sipd, and the media of each B-channel (its RTP leg, its echo
//! canceller, and a 20 ms block each way while the media runs). Every log line of a call
//! carries `span`, `channel` and `call_id`.

use std::time::{Duration, Instant};

use callctl::link::SendError;
use callctl::wire::Message;
use callctl::{CallId, Cause};
use fxs::BLOCK_SAMPLES;
use isdn::call::CallEvent;
use log::{warn, Level};
use media::stream::Socket;

use super::leg::{self, Who};
use super::trunk::{Out, Phase, Trunk};
use crate::daemon::span::{drive_span, BSlot, Pri};
use crate::daemon::{Daemon, BMEDIA_BASE, SPAN_B_SLOTS};
use crate::status::{BChannelStatus, MediaStatus, TrunkCallStatus};

/// Q.850 cause 3, no route to destination: a `TrunkIncoming` for a span we do not have, or
/// one without `[pri.calls]` (RFC 3398 §7.2.4.1: 404).
const NO_ROUTE: Cause = Cause(3);

/// One audio block's time.
const BLOCK: Duration = Duration::from_millis(fxs::BLOCK_MS);

/// A B-channel behind by more than this restarts its clock instead of sending a burst.
const MAX_LAG: Duration = Duration::from_millis(100);

impl Daemon {
    /// Take span `i`'s call events into its trunk and do what it asks.
    pub(in crate::daemon) fn drive_calls(&mut self, i: usize, now: Instant) {
        let Some(s) = self.spans.get_mut(i) else {
            return;
        };
        while let Some(ev) = s.span.poll_call_event() {
            let Pri { span, trunk, .. } = &mut *s;
            let Some(trunk) = trunk else { return };
            let b = match &ev {
                CallEvent::Incoming { channel, .. } => Some(*channel),
                CallEvent::ChannelAssigned { b, .. } => Some(*b),
                e => call_ref(e).and_then(|r| trunk.get(r)).map(|c| c.b),
            };
            let mut new_call = None;
            if matches!(ev, CallEvent::Incoming { .. }) {
                new_call = self
                    .calls
                    .peer_up()
                    .then(|| self.calls.new_call_id())
                    .flatten();
            }
            let call = new_call.or_else(|| {
                call_ref(&ev)
                    .and_then(|r| trunk.get(r))
                    .and_then(|c| c.call)
            });
            span.with_calls(now, |cc| trunk.span_event(now, cc, ev.clone(), new_call));
            let who = who(s, b);
            who.log(Level::Info, call, format_args!("{ev:?}"));
            if matches!(ev, CallEvent::Incoming { .. }) && new_call.is_none() {
                who.log(
                    Level::Warn,
                    None,
                    format_args!("SETUP from the PBX cleared with cause 38: sipd is not connected"),
                );
            }
        }
        drive_span(s, &mut self.trace);
        self.apply_trunk(i, now);
    }

    /// Perform what span `i`'s trunk asks for.
    fn apply_trunk(&mut self, i: usize, now: Instant) {
        let registry = self.poll.registry();
        loop {
            let Some(s) = self.spans.get_mut(i) else {
                return;
            };
            let Some(out) = s.trunk.as_mut().and_then(Trunk::poll) else {
                break;
            };
            let span_no = s.cfg.span;
            match out {
                Out::Send(msg) => {
                    let call = msg.call();
                    let creates = msg.creates_call();
                    if let Err(e) = self.calls.send(now, msg.clone()) {
                        who(s, b_of(s, call)).log(
                            Level::Warn,
                            call,
                            format_args!("{msg} not sent: {e}"),
                        );
                        if let (true, Some(call)) = (creates, call) {
                            let cause = match e {
                                SendError::TooManyCalls => Cause::CONGESTION,
                                _ => Cause::NETWORK_OUT_OF_ORDER,
                            };
                            if let Some(trunk) = &mut s.trunk {
                                s.span
                                    .with_calls(now, |cc| trunk.sip_gone(now, cc, call, cause));
                            }
                        }
                    }
                }
                Out::OpenMedia { call, b } => {
                    let token = BMEDIA_BASE + 2 * (SPAN_B_SLOTS * i + usize::from(b));
                    let opened = s.bchans.iter_mut().find(|x| x.b == b).and_then(|slot| {
                        stop_media(slot, registry, now);
                        let l = leg::open(
                            call,
                            Who::bchannel(span_no, b, slot.channel),
                            &self.cfg.media,
                            &mut self.rtp_cursor,
                            registry,
                            token,
                        )?;
                        let local = l.local;
                        slot.leg = Some(l);
                        slot.watch(registry, true);
                        Some(local)
                    });
                    match opened {
                        Some(local_rtp) => {
                            let _ = self
                                .calls
                                .send(now, Message::MediaReady { call, local_rtp });
                        }
                        None => refuse(s, now, call, Cause::NO_CIRCUIT),
                    }
                }
                Out::MoveMedia { from, to } => {
                    let taken = s.bchans.iter_mut().find(|x| x.b == from).and_then(|slot| {
                        set_echo(slot, s.cfg.calls.as_ref(), span_no, false);
                        slot.next_block = None;
                        let l = slot.leg.take();
                        if l.is_some() {
                            slot.watch(registry, false);
                        }
                        l
                    });
                    if let (Some(mut l), Some(slot)) =
                        (taken, s.bchans.iter_mut().find(|x| x.b == to))
                    {
                        stop_media(slot, registry, now);
                        l.who = Who::bchannel(span_no, to, slot.channel);
                        slot.leg = Some(l);
                        slot.watch(registry, true);
                    }
                }
                Out::StartMedia { b, media } => {
                    let law = s.cfg.calls.as_ref().map(|c| c.law(s.cfg.span_type));
                    let calls_cfg = s.cfg.calls.clone();
                    if let (Some(slot), Some(law)) = (s.bchans.iter_mut().find(|x| x.b == b), law) {
                        set_echo(slot, calls_cfg.as_ref(), span_no, true);
                        if let Some(l) = &mut slot.leg {
                            l.start(now, &media, law);
                            slot.next_block.get_or_insert(now);
                        }
                    }
                }
                Out::StopMedia { b } => {
                    let calls_cfg = s.cfg.calls.clone();
                    if let Some(slot) = s.bchans.iter_mut().find(|x| x.b == b) {
                        set_echo(slot, calls_cfg.as_ref(), span_no, false);
                        stop_media(slot, registry, now);
                    }
                }
            }
        }
        if let Some(s) = self.spans.get_mut(i) {
            drive_span(s, &mut self.trace);
        }
    }

    /// A call message from sipd for a span's call (or a `TrunkIncoming`); `false` when it is
    /// about no span's call.
    pub(super) fn trunk_message(&mut self, now: Instant, msg: Message) -> bool {
        let i = match &msg {
            Message::TrunkIncoming { call, span, .. } => {
                let found = self
                    .spans
                    .iter()
                    .position(|s| u32::from(*span) == s.cfg.span && s.trunk.is_some());
                if found.is_none() {
                    warn!(span = *span, call_id = call.to_string(); "span {span}: call {call}: no such span with [pri.calls]: refused with cause {}", NO_ROUTE.0);
                    self.send_call(
                        now,
                        Message::Hangup {
                            call: *call,
                            cause: NO_ROUTE,
                        },
                    );
                    return true;
                }
                found
            }
            m => m.call().and_then(|c| self.span_of_call(c)),
        };
        let Some(i) = i else { return false };
        let s = &mut self.spans[i];
        let call = msg.call();
        let text = msg.to_string();
        let before = b_of(s, call);
        if let Some(trunk) = &mut s.trunk {
            s.span.with_calls(now, |cc| trunk.message(now, cc, msg));
        }
        let b = before.or_else(|| b_of(s, call));
        who(s, b).log(Level::Info, call, format_args!("{text}"));
        drive_span(s, &mut self.trace);
        self.drive_calls(i, now);
        true
    }

    /// The link to sipd lost `call`; `false` when it is no span's.
    pub(super) fn trunk_lost(&mut self, now: Instant, call: CallId) -> bool {
        let Some(i) = self.span_of_call(call) else {
            return false;
        };
        let s = &mut self.spans[i];
        who(s, b_of(s, Some(call))).log(
            Level::Info,
            Some(call),
            format_args!("call {call}: lost with sipd: DISCONNECT to the PBX"),
        );
        if let Some(trunk) = &mut s.trunk {
            s.span.with_calls(now, |cc| {
                trunk.sip_gone(now, cc, call, Cause::TEMPORARY_FAILURE)
            });
        }
        drive_span(s, &mut self.trace);
        self.drive_calls(i, now);
        true
    }

    fn span_of_call(&self, call: CallId) -> Option<usize> {
        self.spans
            .iter()
            .position(|s| s.trunk.as_ref().is_some_and(|t| t.by_call(call).is_some()))
    }

    /// Readable B-channel `t` (`SPAN_B_SLOTS * span + b`): its audio into the call's stream
    /// while the call is connected and the media sends.
    pub(in crate::daemon) fn service_bchan(&mut self, t: usize, now: Instant) {
        let (i, b) = (t / SPAN_B_SLOTS, t % SPAN_B_SLOTS);
        let Some(s) = self.spans.get_mut(i) else {
            return;
        };
        let connected = s.trunk.as_ref().is_some_and(|tr| {
            tr.calls()
                .any(|c| usize::from(c.b) == b && c.phase == Phase::Connected)
        });
        let Some(slot) = s.bchans.iter_mut().find(|x| usize::from(x.b) == b) else {
            return;
        };
        if let Err(e) = slot.chan.read() {
            warn!(span = s.cfg.span, channel = slot.channel; "span {} B-channel {b}: {e}", s.cfg.span);
        }
        while let Some(block) = slot.chan.take_audio() {
            if let Some(l) = slot.leg.as_mut().filter(|l| connected && l.sends()) {
                if let Some(stream) = &mut l.stream {
                    stream.handle_audio(now, &block);
                }
            }
        }
        if let Some(l) = &mut slot.leg {
            l.flush(now);
        }
    }

    /// Readable RTP or RTCP socket of B-channel leg `t / 2`.
    pub(in crate::daemon) fn service_bchan_media(&mut self, t: usize, now: Instant) {
        let which = if t % 2 == 0 {
            Socket::Rtp
        } else {
            Socket::Rtcp
        };
        let (i, b) = ((t / 2) / SPAN_B_SLOTS, (t / 2) % SPAN_B_SLOTS);
        if let Some(l) = self
            .spans
            .get_mut(i)
            .and_then(|s| s.bchans.iter_mut().find(|x| usize::from(x.b) == b))
            .and_then(|slot| slot.leg.as_mut())
        {
            l.read(now, which);
        }
    }

    /// Span `i`'s B-channels whose block is due at `now`: the far end's audio (silence
    /// unless the media plays, RFC 3264 §6.1) to the PBX; the streams' timers.
    pub(in crate::daemon) fn pace_bchans(&mut self, i: usize, now: Instant) {
        let Some(s) = self.spans.get_mut(i) else {
            return;
        };
        let silence = s
            .cfg
            .calls
            .as_ref()
            .map_or(0xff, |c| c.law(s.cfg.span_type).silence());
        for slot in &mut s.bchans {
            let Some(l) = &mut slot.leg else { continue };
            while slot.next_block.is_some_and(|t| t <= now) {
                let plays = l.plays();
                let block = match l.stream.as_mut().filter(|_| plays) {
                    Some(stream) => stream.pull_audio(now),
                    None => [silence; BLOCK_SAMPLES],
                };
                if let Err(e) = slot.chan.write_audio(&block) {
                    warn!(span = s.cfg.span, channel = slot.channel, call_id = l.call.to_string(); "span {} B-channel {}: audio: {e}", s.cfg.span, slot.b);
                }
                slot.next_block = slot.next_block.map(|t| {
                    let next = t + BLOCK;
                    if now.saturating_duration_since(next) > MAX_LAG {
                        now + BLOCK
                    } else {
                        next
                    }
                });
            }
            l.flush(now);
        }
    }
}

/// The trunk of `s` could not send or open `call`'s side: clear it with `cause`.
fn refuse(s: &mut Pri, now: Instant, call: CallId, cause: Cause) {
    if let Some(trunk) = &mut s.trunk {
        s.span
            .with_calls(now, |cc| trunk.refused(now, cc, call, cause));
    }
}

fn set_echo(slot: &mut BSlot, calls: Option<&mwi_config::PriCalls>, span: u32, on: bool) {
    let taps = calls.map_or(0, |c| c.echo_cancel);
    let who = Who::bchannel(span, slot.b, slot.channel);
    let chan = &mut slot.chan;
    slot.echo.set(taps, on, &who, |t| chan.echo_cancel(t));
}

fn stop_media(slot: &mut BSlot, registry: &mio::Registry, now: Instant) {
    slot.next_block = None;
    if let Some(l) = slot.leg.take() {
        slot.watch(registry, false);
        leg::close(l, registry, now);
    }
}

/// Who span `s`'s log lines about B-channel `b` name; the span itself (and its D-channel)
/// when `b` is not one of its B-channels.
fn who(s: &Pri, b: Option<u8>) -> Who {
    match b.and_then(|b| s.bchans.iter().find(|x| x.b == b)) {
        Some(slot) => Who::bchannel(s.cfg.span, slot.b, slot.channel),
        None => Who {
            span: Some(s.cfg.span),
            channel: s.cfg.dchannel,
            what: format!("span {}", s.cfg.span),
        },
    }
}

/// The B-channel of `call` on span `s`.
fn b_of(s: &Pri, call: Option<CallId>) -> Option<u8> {
    s.trunk
        .as_ref()
        .zip(call)
        .and_then(|(t, c)| t.by_call(c).and_then(|r| t.get(r)))
        .map(|c| c.b)
}

fn call_ref(ev: &CallEvent) -> Option<isdn::call::CallRef> {
    match ev {
        CallEvent::Incoming { call, .. }
        | CallEvent::Proceeding { call }
        | CallEvent::Alerting { call }
        | CallEvent::Progress { call, .. }
        | CallEvent::ChannelAssigned { call, .. }
        | CallEvent::Connected { call, .. }
        | CallEvent::Disconnected { call, .. }
        | CallEvent::Released { call, .. } => Some(*call),
    }
}

/// Each B-channel of span `s` at `now`, for status: its state and call.
pub(in crate::daemon) fn bchannel_status(s: &Pri, now: Instant) -> Vec<BChannelStatus> {
    s.bchans
        .iter()
        .map(|slot| {
            let call = s
                .trunk
                .as_ref()
                .and_then(|t| t.calls().find(|c| c.b == slot.b));
            BChannelStatus {
                b: slot.b,
                channel: slot.channel,
                state: call.map_or("idle", |c| c.phase.name()).to_owned(),
                call: call.map(|c| TrunkCallStatus {
                    call_id: c.call.map(|id| id.to_string()),
                    direction: if c.from_pbx { "to-sip" } else { "to-pbx" }.to_owned(),
                    called: c.called.clone(),
                    calling: c.calling.clone(),
                    duration_s: c.duration(now).map(|d| d.as_secs()),
                    media: slot
                        .leg
                        .as_ref()
                        .and_then(|l| l.stream.as_ref())
                        .map(|st| MediaStatus::new(&st.stats())),
                }),
            }
        })
        .collect()
}
