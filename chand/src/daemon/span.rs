//! PRI spans: each D-channel's layer 1 events and Q.921 frames into its [`Span`] engine, and
//! the frames it sends back out; what the engine reports is logged.

use std::time::Instant;

use isdn::dump::Frame;
use isdn::q931::{NumberingPlan, TypeOfNumber};
use isdn::span::{Lamp, PartyNumberType, Resync, Span, SpanConfig, SpanEvent, Transport};
use log::{debug, error, info, warn};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use mwi_config as config;
use mwi_core::MwiState;
use sansio::Core;

use super::trace::Tracer;
use super::{Daemon, DaemonError};
use crate::backend::{Backend, DChannel, DChannelEvent};
use crate::status::lamp_name;
use crate::trace::Direction;

/// One PRI span: its configuration, its D-channel and its QSIG MWI engine.
pub(super) struct Pri {
    pub(super) cfg: config::Pri,
    chan: Box<dyn DChannel>,
    pub(super) span: Span,
    /// Layer 1 of the D-channel is up: frames are sent only then.
    pub(super) layer1_up: bool,
}

impl Pri {
    /// Open span `p`'s D-channel through `backend` and register it as `token`.
    ///
    /// Errors: the D-channel cannot be opened or registered.
    pub(super) fn open(
        p: &config::Pri,
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
        Ok(Self {
            cfg: p.clone(),
            chan,
            span: Span::new(span_config(p)),
            layer1_up: false,
        })
    }
}

impl Daemon {
    /// Take every pending event of span `i`'s D-channel into its engine.
    pub(super) fn service_span(&mut self, i: usize) {
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
        }
    }
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
    c.msg_centre_id = p.msg_centre_id.as_ref().map(|m| match m {
        config::MsgCentreId::Number(d) => {
            isdn::qsig::MsgCentreId::PartyNumber(c.party_number(d.as_str()))
        }
        config::MsgCentreId::Integer(v) => isdn::qsig::MsgCentreId::Integer(*v),
    });
    c.originating_nr = p.originating_nr.as_ref().map(ToString::to_string);
    c.calling_number = p.calling_number.as_ref().map(ToString::to_string);
    c.calling_ton = match p.calling_type {
        config::NumberType::Unknown => TypeOfNumber::Unknown,
        config::NumberType::International => TypeOfNumber::International,
        config::NumberType::National => TypeOfNumber::National,
        config::NumberType::Network => TypeOfNumber::NetworkSpecific,
        config::NumberType::Subscriber => TypeOfNumber::Subscriber,
        config::NumberType::Abbreviated => TypeOfNumber::Abbreviated,
    };
    c.calling_plan = match p.calling_plan {
        config::NumberPlan::Unknown => NumberingPlan::Unknown,
        config::NumberPlan::Isdn => NumberingPlan::Isdn,
        config::NumberPlan::Private => NumberingPlan::Private,
    };
    c.served_strip = p.served_strip as usize;
    c.served_prefix = p.served_prefix.to_string();
    c.resync = match p.resync {
        config::ResyncMode::Send => Resync::All,
        config::ResyncMode::Interrogate => Resync::Interrogate,
    };
    c
}

/// The lamp for a state: nbOfMessages is the new-message count when the server gave one.
pub(super) fn lamp_of(state: &MwiState) -> Lamp {
    if state.waiting {
        Lamp::on((state.new > 0).then(|| state.new.min(u32::from(u16::MAX)) as u16))
    } else {
        Lamp::off()
    }
}
