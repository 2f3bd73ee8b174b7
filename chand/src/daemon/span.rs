//! PRI spans: each D-channel's layer 1 events and Q.921 frames into its [`Span`] engine, and
//! the frames it sends back out; what the engine reports is logged. A span with `[pri.calls]`
//! also has its trunk calls ([`Trunk`]) and its B-channels ([`BSlot`], driven by
//! `calls::pri`).

use std::time::Instant;

use isdn::call::{CallConfig, Interface};
use isdn::dump::Frame;
use isdn::q931::Layer1;
use isdn::span::{Lamp, PartyNumberType, Resync, Span, SpanConfig, SpanEvent, Transport};
use log::{debug, error, info, warn};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use mwi_config as config;
use mwi_core::MwiState;
use sansio::Core;

use super::calls::leg::{Echo, Leg};
use super::calls::trunk::Trunk;
use super::trace::Tracer;
use super::{Daemon, DaemonError, BCHAN_BASE, SPAN_B_SLOTS};
use crate::backend::{BChannel, Backend, DChannel, DChannelEvent};
use crate::status::lamp_name;
use crate::trace::Direction;

/// One PRI span: its configuration, its D-channel and its QSIG MWI engine.
pub(super) struct Pri {
    pub(super) cfg: config::Pri,
    chan: Box<dyn DChannel>,
    pub(super) span: Span,
    /// Layer 1 of the D-channel is up: frames are sent only then.
    pub(super) layer1_up: bool,
    /// The trunk calls, with `[pri.calls]`.
    pub(super) trunk: Option<Trunk>,
    /// The B-channels, in timeslot order (none without `[pri.calls]`).
    pub(super) bchans: Vec<BSlot>,
    /// Lamps the PBX set since the daemon last took them (`Daemon::flush_pbx_lamps`, every
    /// loop turn).
    pub(super) pbx_lamps: Vec<(String, Lamp)>,
}

/// One B-channel of a span with calls: its clear channel and its call's media.
pub(super) struct BSlot {
    /// The timeslot (Q.931 channel number).
    pub(super) b: u8,
    /// Its DAHDI channel number.
    pub(super) channel: u32,
    /// Its event-loop token: `Token(BCHAN_BASE + SPAN_B_SLOTS * span index + b)`.
    pub(super) token: Token,
    pub(super) chan: Box<dyn BChannel>,
    /// The call's RTP/RTCP sockets and media stream.
    pub(super) leg: Option<Leg>,
    /// The channel's DAHDI echo canceller (`[pri.calls] echo_cancel`).
    pub(super) echo: Echo,
    /// When the next 20 ms block goes to the PBX, while the call's media runs.
    pub(super) next_block: Option<Instant>,
}

impl BSlot {
    /// Watch the channel for audio (`on`) or stop. A DAHDI clear channel in audio mode is
    /// readable every block whether a call holds it or not: only a call's B-channel wakes the
    /// loop; the kernel keeps at most its few buffers of the idle time, read at the next start.
    pub(super) fn watch(&mut self, registry: &Registry, on: bool) {
        let fd = self.chan.as_raw_fd();
        let result = if on {
            registry.register(&mut SourceFd(&fd), self.token, Interest::READABLE)
        } else {
            registry.deregister(&mut SourceFd(&fd))
        };
        if let Err(e) = result {
            warn!(channel = self.channel; "B-channel {} (channel {}): {e}", self.b, self.channel);
        }
    }
}

impl Pri {
    /// Open span `i` (`p`)'s D-channel through `backend` and register it as `token`; with
    /// `[pri.calls]` open its B-channels `b_channels` too ((timeslot, DAHDI channel) pairs,
    /// `Config::b_channels`; each registered only while a call's media holds it,
    /// [`BSlot::watch`]).
    ///
    /// Errors: a channel cannot be opened or registered, or the layout has no channels for
    /// the span.
    pub(super) fn open(
        i: usize,
        p: &config::Pri,
        b_channels: &[(u8, u32)],
        backend: &mut dyn Backend,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, DaemonError> {
        let chan = backend
            .open_dchannel(p)
            .map_err(|error| DaemonError::Channel {
                what: format!("D-channel {} of span {}", p.dchannel, p.span),
                error,
            })?;
        registry.register(&mut SourceFd(&chan.as_raw_fd()), token, Interest::READABLE)?;
        let mut bchans = Vec::new();
        let mut trunk = None;
        if let Some(calls) = &p.calls {
            // callctl carries the span as 16 bits; check-config says so too.
            let number = u16::try_from(p.span).map_err(|_| {
                DaemonError::Config(format!("span {}: above 65535 with [pri.calls]", p.span))
            })?;
            trunk = Some(Trunk::new(number, calls.clone()));
            if b_channels.is_empty() {
                return Err(DaemonError::Config(format!(
                    "span {}: no B-channels (not in [[span]], or no timeslots)",
                    p.span
                )));
            }
            let law = calls.law(p.span_type);
            for &(b, channel) in b_channels {
                let chan =
                    backend
                        .open_bchannel(channel, law)
                        .map_err(|error| DaemonError::Channel {
                            what: format!("B-channel {b} (channel {channel}) of span {}", p.span),
                            error,
                        })?;
                bchans.push(BSlot {
                    b,
                    channel,
                    token: Token(BCHAN_BASE + SPAN_B_SLOTS * i + usize::from(b)),
                    chan,
                    leg: None,
                    echo: Echo::Off,
                    next_block: None,
                });
            }
        }
        Ok(Self {
            cfg: p.clone(),
            chan,
            span: Span::new(span_config(p, b_channels)),
            layer1_up: false,
            trunk,
            bchans,
            pbx_lamps: Vec::new(),
        })
    }
}

impl Daemon {
    /// Take every pending event of span `i`'s D-channel into its engine.
    pub(super) fn service_span(&mut self, i: usize) {
        loop {
            let now = Instant::now();
            let Some(s) = self.spans.get_mut(i) else {
                return;
            };
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
                Ok(Some(DChannelEvent::Frame(f))) => {
                    debug!(span = s.cfg.span; "span {}: <- {}", s.cfg.span, Frame(&f));
                    self.trace.frame(s.cfg.span, Direction::Received, &f);
                    s.span.handle_frame(now, &f)
                }
                Ok(None) => break,
                Err(e) => {
                    error!(
                        span = s.cfg.span, channel = s.cfg.dchannel;
                        "span {}: D-channel {}: {e}", s.cfg.span, s.cfg.dchannel
                    );
                    break;
                }
            }
            drive_span(s, &mut self.trace);
            self.drive_calls(i, now);
        }
    }
}

/// Send what the span wants sent (into `trace` too) and log what it reports.
pub(super) fn drive_span(s: &mut Pri, trace: &mut Tracer) {
    while let Some(frame) = s.span.poll_transmit() {
        if s.layer1_up {
            debug!(span = s.cfg.span; "span {}: -> {}", s.cfg.span, Frame(&frame));
            trace.frame(s.cfg.span, Direction::Sent, &frame);
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
            SpanEvent::PbxLamp { number, lamp } => s.pbx_lamps.push((number, lamp)),
        }
    }
}

fn span_config(p: &config::Pri, b_channels: &[(u8, u32)]) -> SpanConfig {
    let side = match p.side {
        config::Side::User => isdn::q921::Side::User,
        config::Side::Network => isdn::q921::Side::Network,
    };
    let mut c = SpanConfig::new(side);
    c.protocol = match p.mwi_protocol {
        config::MwiProtocol::Qsig => isdn::span::MwiProtocol::Qsig,
        config::MwiProtocol::Etsi => isdn::span::MwiProtocol::Etsi,
    };
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
    c.msg_centre_id = p.msg_centre_id.as_ref().map(|m| match m {
        config::MsgCentreId::Number(d) => {
            isdn::qsig::MsgCentreId::PartyNumber(c.party_number(d.as_str()))
        }
        config::MsgCentreId::Integer(v) => isdn::qsig::MsgCentreId::Integer(*v),
    });
    c.originating_nr = p.originating_nr.as_ref().map(ToString::to_string);
    c.calling_number = p.calling_number.as_ref().map(ToString::to_string);
    c.calling_ton = super::calls::trunk::ton(p.calling_type);
    c.calling_plan = super::calls::trunk::plan(p.calling_plan);
    c.served_strip = p.served_strip as usize;
    c.served_prefix = p.served_prefix.to_string();
    c.resync = match p.resync {
        config::ResyncMode::Send => Resync::All,
        config::ResyncMode::Interrogate => Resync::Interrogate,
    };
    c.calls = p.calls.as_ref().map(|calls| {
        let mut cc = CallConfig::new(side, interface(p));
        cc.usable = b_channels.iter().fold(0, |m, &(b, _)| m | 1u32 << (b & 31));
        cc.law = match calls.law(p.span_type) {
            fxs::Law::Mulaw => Layer1::MuLaw,
            fxs::Law::Alaw => Layer1::ALaw,
        };
        cc
    });
    c
}

/// The span's B-channel numbering (Q.931 §4.5.13): T1 or E1.
fn interface(p: &config::Pri) -> Interface {
    match p.span_type {
        config::SpanType::T1 => Interface::T1,
        config::SpanType::E1 => Interface::E1,
    }
}

/// The lamp for a state: nbOfMessages is the new-message count when the server gave one.
pub(super) fn lamp_of(state: &MwiState) -> Lamp {
    if state.waiting {
        Lamp::on((state.new > 0).then(|| state.new.min(u32::from(u16::MAX)) as u16))
    } else {
        Lamp::off()
    }
}
