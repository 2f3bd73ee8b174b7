//! `chand status [--json]`: one struct tree, built once per request from the daemon's state.
//! The text form is its [`Display`](fmt::Display), one line per FXS port, per PRI span and per
//! lamp of a span; the JSON form is its serde serialization (read back by
//! [`crate::control::query_status`]).

use std::fmt;

use isdn::span::{Lamp, Span};
use mwi_config as config;
use mwi_core::route::Source;
use mwi_core::MwiState;
use serde::{Deserialize, Serialize};

mod trunk;
pub use trunk::{BChannelStatus, TrunkCallStatus};

/// The whole status of a running chand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChandStatus {
    /// The channel back-end, `[dahdi] backend` (`kernel` or `sim`).
    pub backend: String,
    /// How many numbers the shared table has given a state for.
    pub numbers_in_table: usize,
    /// Numbers under a `chand mwi NUMBER on|off` override, in order.
    pub overrides: Vec<String>,
    /// One entry per `[[fxs]]` port, in configuration order.
    pub fxs: Vec<PortStatus>,
    /// One entry per `[[pri]]` span, in configuration order.
    pub pri: Vec<SpanStatus>,
}

/// One FXS port: its line's state and the MWI state routed to its number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStatus {
    /// DAHDI channel number.
    pub channel: u32,
    /// The port's number.
    pub number: String,
    /// `mwi` of the port: `false` shows no MWI whatever the table says.
    pub mwi_enabled: bool,
    /// `on-hook` or `off-hook`, as last known.
    pub hook: String,
    /// Message waiting, as the number's effective state says (table or override).
    pub mwi: bool,
    /// New messages of that state.
    pub new: u32,
    /// Old messages of that state.
    pub old: u32,
    /// Where the state comes from: `server` (the table) or `manual` (an override).
    pub source: String,
    /// The port's tone plan (`cptone`).
    pub tone_plan: String,
    /// The tone being played (e.g. `StutterDial`), if any.
    pub playing: Option<String>,
    /// Visual MWI mode (`none`, `fsk`, `rpas`, `lrev`, `hvdc`, `neon`).
    pub vmwi: String,
    /// `Some(false)` once the driver refused visual MWI, `Some(true)` once it worked.
    pub vmwi_supported: Option<bool>,
    /// DAHDI write underrun events (`DAHDI_EVENT_WRITE_UNDERRUN`, dahdi/user.h) seen.
    pub underruns: u64,
    /// Audio blocks written more than one block period late, or dropped.
    pub late_blocks: u64,
    /// FSK spills written completely.
    pub spills_sent: u64,
    /// The port's call (docs/calls.md).
    pub call: CallStatus,
}

/// The call on an FXS port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStatus {
    /// `idle`, `dialling`, `proceeding` (Dial sent), `ringback` (the far end is alerted),
    /// `ringing` (an incoming call rings the phone), `connected` or `failed` (busy, reorder or
    /// howler until on-hook).
    pub state: String,
    /// The call's callctl id (hexadecimal, as the log's `CALL_ID` field), if any.
    pub call_id: Option<String>,
    /// While dialling the digits so far; in a call the number dialled, or the caller's number
    /// of an incoming call (empty when withheld).
    pub number: String,
    /// Seconds since the call was answered.
    pub duration_s: Option<u64>,
    /// The call's RTP stream, once sipd gave the far end's media.
    pub media: Option<MediaStatus>,
}

/// The RTP stream of a call (RFC 3550 counters, [`media::stream::Stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaStatus {
    /// RTP packets taken from the far end.
    pub packets_in: u64,
    /// RTP packets sent (audio and telephone-events).
    pub packets_out: u64,
    /// Cumulative packets lost from the far end (RFC 3550 §A.3; duplicates can make it
    /// negative).
    pub lost: i64,
    /// Interarrival jitter of the far end's packets (RFC 3550 §6.4.1), µs.
    pub jitter_us: u64,
    /// Datagrams dropped as not RTP: wrong version, truncated, bad padding, oversized.
    pub malformed: u64,
    /// Datagrams dropped: from an address that may not send to us (RFC 3550 §8.2).
    pub wrong_source: u64,
    /// Packets dropped: another SSRC, or a payload type not negotiated.
    pub rejected: u64,
}

impl MediaStatus {
    /// The counters of `stats`.
    pub fn new(stats: &media::stream::Stats) -> Self {
        Self {
            packets_in: stats.packets_received,
            packets_out: stats.packets_sent,
            lost: stats.lost,
            jitter_us: (stats.playout.jitter_ms * 1000.0).round() as u64,
            malformed: stats.malformed,
            wrong_source: stats.wrong_source,
            rejected: stats.wrong_ssrc + stats.wrong_pt,
        }
    }
}

/// One PRI span: its link and delivery queue, and the lamp of every number it serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanStatus {
    /// DAHDI span number.
    pub span: u32,
    /// DAHDI channel of the D-channel.
    pub dchannel: u32,
    /// Q.921/Q.931 side: `user` or `network`.
    pub side: String,
    /// How MWI operations are carried: `setup` or `facility` (ECMA-242 §6).
    pub transport: String,
    /// Layer 1 (the D-channel's physical layer) up.
    pub layer1_up: bool,
    /// Q.921 multiple-frame operation established.
    pub link_up: bool,
    /// Numbers whose wanted lamp is not yet confirmed by the PBX.
    pub queue_depth: usize,
    /// Deliveries sent and not yet answered.
    pub in_flight: usize,
    /// Q.921 frames sent.
    pub frames_out: u64,
    /// Q.921 I frames sent again.
    pub retransmissions: u64,
    /// What the MWIInterrogates of `resync = "interrogate"` found (ECMA-242 §6.3).
    #[serde(default)]
    pub interrogate: InterrogateStatus,
    /// The lamp of every number the span has delivered to, in number order.
    pub lamps: Vec<LampStatus>,
    /// Each B-channel and its call, with `[pri.calls]` (none without).
    #[serde(default)]
    pub bchannels: Vec<BChannelStatus>,
}

/// MWIInterrogate counters of a span since chand started (`isdn::span::InterrogateStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterrogateStatus {
    /// MWIInterrogate invokes sent.
    pub sent: u64,
    /// Answers showing the wanted lamp: nothing sent.
    pub agreed: u64,
    /// Answers showing another lamp: the wanted one sent.
    pub differed: u64,
    /// Rejects, errors other than notAvailable, no answer: the wanted lamp sent.
    pub failed: u64,
}

/// The lamp of one served user (ECMA-242 MWIActivate/MWIDeactivate).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LampStatus {
    /// The served user's number.
    pub number: String,
    /// The lamp chand wants: on (MWIActivate) or off (MWIDeactivate).
    pub wanted: bool,
    /// nbOfMessages of the wanted lamp.
    pub messages: Option<u16>,
    /// The lamp the PBX last confirmed, `None` before its first answer.
    pub confirmed: Option<bool>,
    /// nbOfMessages of the confirmed lamp.
    pub confirmed_messages: Option<u16>,
    /// The wanted lamp is queued, in flight or backing off.
    pub pending: bool,
}

impl ChandStatus {
    /// The FXS port of `number`.
    pub fn port(&self, number: &str) -> Option<&PortStatus> {
        self.fxs.iter().find(|p| p.number == number)
    }

    /// The PRI span numbered `span`.
    pub fn span(&self, span: u32) -> Option<&SpanStatus> {
        self.pri.iter().find(|s| s.span == span)
    }
}

impl PortStatus {
    /// Port `cfg`, whose line reports `line`, showing `effective` (the routing's state of its
    /// number and where it comes from).
    pub(crate) fn new(
        cfg: &config::Fxs,
        line: &fxs::LineStatus,
        (mwi, source): (MwiState, Source),
        call: CallStatus,
    ) -> Self {
        Self {
            channel: cfg.channel,
            number: cfg.number.as_str().to_owned(),
            mwi_enabled: cfg.mwi,
            hook: match line.hook {
                fxs::Hook::OnHook => "on-hook",
                fxs::Hook::OffHook => "off-hook",
            }
            .to_owned(),
            mwi: mwi.waiting,
            new: mwi.new,
            old: mwi.old,
            source: source.as_str().to_owned(),
            tone_plan: line.plan.clone(),
            playing: line.playing.map(|t| format!("{t:?}")),
            vmwi: line.vmwi.to_string(),
            vmwi_supported: line.vmwi_supported,
            underruns: line.underruns,
            late_blocks: line.late_blocks,
            spills_sent: line.spills_sent,
            call,
        }
    }
}

impl SpanStatus {
    /// Span `cfg` with its engine `span` and whether layer 1 is up.
    pub(crate) fn new(
        cfg: &config::Pri,
        span: &Span,
        layer1_up: bool,
        bchannels: Vec<BChannelStatus>,
    ) -> Self {
        let st = span.status();
        Self {
            span: cfg.span,
            dchannel: cfg.dchannel,
            side: cfg.side.as_str().to_owned(),
            transport: cfg.mwi_transport.as_str().to_owned(),
            layer1_up,
            link_up: st.link_up,
            queue_depth: st.queue_depth,
            in_flight: st.in_flight,
            frames_out: st.lapd.frames_out,
            retransmissions: st.lapd.retransmissions,
            interrogate: InterrogateStatus {
                sent: st.interrogate.sent,
                agreed: st.interrogate.agreed,
                differed: st.interrogate.differed,
                failed: st.interrogate.failed,
            },
            lamps: span
                .lamps()
                .map(|(number, l)| LampStatus {
                    number: number.to_owned(),
                    wanted: l.wanted.on,
                    messages: l.wanted.messages,
                    confirmed: l.confirmed.map(|c| c.on),
                    confirmed_messages: l.confirmed.and_then(|c| c.messages),
                    pending: l.pending,
                })
                .collect(),
            bchannels,
        }
    }

    /// The lamp of `number`.
    pub fn lamp(&self, number: &str) -> Option<&LampStatus> {
        self.lamps.iter().find(|l| l.number == number)
    }
}

impl fmt::Display for ChandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "chand: backend {}", self.backend)?;
        self.fxs.iter().try_for_each(|p| writeln!(f, "{p}"))?;
        self.pri.iter().try_for_each(|s| write!(f, "{s}"))
    }
}

impl fmt::Display for PortStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FXS channel {} number {}: {}, mwi {} ({} new, {} old; {}){}, tone plan {}, \
             vmwi {} ({}), underruns {}, late blocks {}; call {}",
            self.channel,
            self.number,
            self.hook,
            if self.mwi_enabled {
                on_off(self.mwi)
            } else {
                "DISABLED"
            },
            self.new,
            self.old,
            self.source,
            self.playing
                .as_ref()
                .map(|t| format!(", playing {t}"))
                .unwrap_or_default(),
            self.tone_plan,
            self.vmwi,
            match self.vmwi_supported {
                None => "untested",
                Some(true) => "supported",
                Some(false) => "unsupported",
            },
            self.underruns,
            self.late_blocks,
            self.call,
        )
    }
}

/// `STATE [ID] [NUMBER] [N s] [RTP in N out N lost N jitter N us]`.
impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.state)?;
        if let Some(id) = &self.call_id {
            write!(f, " {id}")?;
        }
        if !self.number.is_empty() {
            write!(f, " {}", self.number)?;
        }
        if let Some(d) = self.duration_s {
            write!(f, " {d} s")?;
        }
        if let Some(m) = &self.media {
            write!(
                f,
                " (RTP in {} out {} lost {} jitter {} us, dropped {})",
                m.packets_in,
                m.packets_out,
                m.lost,
                m.jitter_us,
                m.malformed + m.wrong_source + m.rejected
            )?;
        }
        Ok(())
    }
}

/// The span's line, then one line per lamp.
impl fmt::Display for SpanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "PRI span {} (D-channel {}, {} side, {}): layer 1 {}, link {}, queue {}, \
             in flight {}, frames out {}, retransmissions {}",
            self.span,
            self.dchannel,
            self.side,
            self.transport,
            up_down(self.layer1_up),
            up_down(self.link_up),
            self.queue_depth,
            self.in_flight,
            self.frames_out,
            self.retransmissions,
        )?;
        let i = &self.interrogate;
        if i.sent > 0 {
            writeln!(
                f,
                "  MWIInterrogate sent {}: agreed {}, differed {}, failed {}",
                i.sent, i.agreed, i.differed, i.failed
            )?;
        }
        for l in &self.lamps {
            writeln!(
                f,
                "  {}: lamp {} confirmed by PBX {}{}",
                l.number,
                lamp_name(Some(Lamp {
                    on: l.wanted,
                    messages: l.messages,
                })),
                lamp_name(l.confirmed.map(|on| Lamp {
                    on,
                    messages: l.confirmed_messages,
                })),
                if l.pending { " (pending)" } else { "" },
            )?;
        }
        trunk::write_bchannels(f, &self.bchannels)
    }
}

/// `ON` or `OFF`, as status and the log show an MWI state.
pub(crate) fn on_off(b: bool) -> &'static str {
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

/// A lamp as status and the log show it: `-` (none yet), `OFF`, `ON` or `ON (n)` with
/// nbOfMessages `n`.
pub(crate) fn lamp_name(l: Option<Lamp>) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChandStatus {
        ChandStatus {
            backend: "sim".into(),
            numbers_in_table: 2,
            overrides: vec!["2101".into()],
            fxs: vec![PortStatus {
                channel: 1,
                number: "8000".into(),
                mwi_enabled: true,
                hook: "on-hook".into(),
                mwi: true,
                new: 2,
                old: 5,
                source: "server".into(),
                tone_plan: "us".into(),
                playing: Some("StutterDial".into()),
                vmwi: "fsk".into(),
                vmwi_supported: Some(true),
                underruns: 3,
                late_blocks: 4,
                spills_sent: 1,
                call: CallStatus {
                    state: "connected".into(),
                    call_id: Some("3".into()),
                    number: "2001".into(),
                    duration_s: Some(12),
                    media: Some(MediaStatus {
                        packets_in: 600,
                        packets_out: 601,
                        lost: 2,
                        jitter_us: 1500,
                        malformed: 1,
                        wrong_source: 0,
                        rejected: 0,
                    }),
                },
            }],
            pri: vec![SpanStatus {
                span: 1,
                dchannel: 24,
                side: "user".into(),
                transport: "setup".into(),
                layer1_up: true,
                link_up: false,
                queue_depth: 1,
                in_flight: 1,
                frames_out: 7,
                retransmissions: 0,
                interrogate: InterrogateStatus {
                    sent: 2,
                    agreed: 1,
                    differed: 1,
                    failed: 0,
                },
                lamps: vec![
                    LampStatus {
                        number: "2100".into(),
                        wanted: true,
                        messages: Some(3),
                        confirmed: Some(true),
                        confirmed_messages: Some(2),
                        pending: true,
                    },
                    LampStatus {
                        number: "2101".into(),
                        wanted: false,
                        messages: None,
                        confirmed: None,
                        confirmed_messages: None,
                        pending: false,
                    },
                ],
                bchannels: vec![
                    BChannelStatus {
                        b: 1,
                        channel: 1,
                        state: "connected".into(),
                        call: Some(TrunkCallStatus {
                            call_id: Some("00000004".into()),
                            direction: "to-sip".into(),
                            called: "789".into(),
                            calling: "2000".into(),
                            duration_s: Some(5),
                            media: Some(MediaStatus {
                                packets_in: 250,
                                packets_out: 251,
                                ..MediaStatus::default()
                            }),
                        }),
                    },
                    BChannelStatus {
                        b: 2,
                        channel: 2,
                        state: "idle".into(),
                        call: None,
                    },
                ],
            }],
        }
    }

    #[test]
    fn text_has_one_line_per_port_span_and_lamp() {
        assert_eq!(
            sample().to_string(),
            "chand: backend sim\n\
             FXS channel 1 number 8000: on-hook, mwi ON (2 new, 5 old; server), playing \
             StutterDial, tone plan us, vmwi fsk (supported), underruns 3, late blocks 4; call \
             connected 3 2001 12 s (RTP in 600 out 601 lost 2 jitter 1500 us, dropped 1)\n\
             PRI span 1 (D-channel 24, user side, setup): layer 1 UP, link DOWN, queue 1, \
             in flight 1, frames out 7, retransmissions 0\n  \
             MWIInterrogate sent 2: agreed 1, differed 1, failed 0\n  \
             2100: lamp ON (3) confirmed by PBX ON (2) (pending)\n  \
             2101: lamp OFF confirmed by PBX -\n  \
             B-channels: 1 in use, 1 idle\n  \
             B-channel 1 (channel 1): connected call 00000004 to-sip 2000 -> 789, 5 s, RTP in \
             250 out 251 lost 0 jitter 0 us\n"
        );
    }

    #[test]
    fn disabled_port_shows_no_mwi() {
        let mut st = sample();
        st.fxs[0].mwi_enabled = false;
        st.fxs[0].playing = None;
        st.fxs[0].vmwi_supported = None;
        st.fxs[0].call = CallStatus {
            state: "idle".into(),
            ..CallStatus::default()
        };
        let text = st.to_string();
        assert!(
            text.contains(
                "on-hook, mwi DISABLED (2 new, 5 old; server), tone plan us, vmwi fsk (untested)"
            ) && text.contains("late blocks 4; call idle\n"),
            "{text}"
        );
    }

    #[test]
    fn json_round_trips_with_the_documented_keys() {
        let st = sample();
        let json = serde_json::to_string(&st).unwrap();
        for key in [
            "\"backend\":\"sim\"",
            "\"numbers_in_table\":2",
            "\"overrides\":[\"2101\"]",
            "\"mwi_enabled\":true",
            "\"playing\":\"StutterDial\"",
            "\"layer1_up\":true",
            "\"confirmed\":null",
            "\"state\":\"connected\"",
            "\"jitter_us\":1500",
        ] {
            assert!(json.contains(key), "{key} in {json}");
        }
        assert_eq!(serde_json::from_str::<ChandStatus>(&json).unwrap(), st);
        assert_eq!(st.port("8000").map(|p| p.channel), Some(1));
        assert_eq!(
            st.span(1).and_then(|s| s.lamp("2100")).map(|l| l.pending),
            Some(true)
        );
        assert!(st.port("8001").is_none() && st.span(2).is_none());
    }
}
