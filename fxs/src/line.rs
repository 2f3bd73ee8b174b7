//! The FXS line state machine: hook events, MWI and time in; audio blocks, VMWI and on-hook
//! data actions out. Sans-IO: the channel back-end performs the actions.
//!
//! Behaviour:
//! - Off-hook (`DAHDI_EVENT_RINGOFFHOOK`) with message waiting at that moment: stutter dial tone
//!   (the plan's stutter, which usually ends in steady dial tone); without: dial tone. A later MWI
//!   change does not alter the tone being played.
//! - The first digit (`DTMFDOWN`, `PULSEDIGIT`, `PULSE_START`) stops the tone: the line then
//!   writes silence blocks while it stays off-hook.
//! - Hook flash (`WINKFLASH`) while off-hook: our choice is to play the plan's recall dial tone
//!   (`DAHDI_TONE_DIALRECALL`, e.g. 3 bursts then steady in `us`) regardless of MWI, or dial tone
//!   for a plan without one; the flash restarts the tone from its beginning.
//! - On-hook (`ONHOOK`): audio stops.
//! - One block (160 samples, 20 ms) is due every 20 ms from the moment of off-hook.
//! - Visual MWI: `lrev`/`hvdc`/`neon` as [`Action::SetVmwi`] on every change of the count;
//!   `fsk`/`rpas` as an on-hook MDMF spill, only on an on-hook line at least 3 s after hang-up, with
//!   the hook state re-checked ([`Action::CheckHook`]) just before (asterisk issue #928: a spill sent
//!   to an off-hook phone is heard as a screech); `rpas` first rings a 250 ms ring pulse alerting
//!   signal and waits 500 ms (EN 300 659-1 RP-AS). An unsupported answer from the back-end
//!   ([`FxsLine::vmwi_result`]) is reported once ([`Notice::VmwiUnsupported`]); MWI then carries on
//!   with the stutter tone alone.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::Deserialize;

use crate::fsk::{mdmf_mwi_message, render_spill, spill_ms};
use crate::gen::{CompiledPlan, ToneGen, ToneKind};
use crate::law::{Block, Law, BLOCK_MS, BLOCK_SAMPLES};

/// Minimum time between hang-up and an on-hook FSK spill, ms.
pub const SPILL_AFTER_ONHOOK_MS: u64 = 3000;
/// Ring pulse alerting signal length, ms (`DAHDI_SETCADENCE {250, 10000}`).
pub const RPAS_RING_MS: u64 = 250;
/// Pause between the end of the RP-AS and the FSK data, ms.
pub const RPAS_PAUSE_MS: u64 = 500;
/// Ring cadence for the RP-AS, ms on / ms off (`struct dahdi_ring_cadence`, as chan_dahdi).
pub const RPAS_CADENCE_MS: [u32; 2] = [250, 10_000];
/// Margin added to the spill length for `DAHDI_ONHOOKTRANSFER`, ms.
pub const ONHOOK_TRANSFER_MARGIN_MS: u32 = 100;
/// How long the line waits for the answer to [`Action::CheckHook`] before retrying, ms.
pub const HOOK_CHECK_TIMEOUT_MS: u64 = 1000;
/// Most blocks written at once when the event loop is late; older ones are dropped (and counted).
pub const MAX_CATCHUP_BLOCKS: u64 = 5;
/// How far ahead of its play-out time a block is written, ms: two blocks of slack in the port's
/// driver buffers (chand sets 4), so that an event loop woken late, or a driver that takes
/// audio in timer ticks of several ms, does not cut the tone.
pub const LEAD_MS: u64 = 2 * BLOCK_MS;

/// Hook state of the phone on the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// Handset on the cradle.
    OnHook,
    /// Handset lifted.
    OffHook,
}

/// Visual message-waiting indication of a port (`[[fxs]] vmwi` in the configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VmwiMode {
    /// Stutter tone only.
    #[default]
    None,
    /// On-hook FSK MDMF spill (phones with a lamp/display driven by caller-ID data).
    Fsk,
    /// FSK spill preceded by a ring pulse alerting signal.
    Rpas,
    /// Line reversal (`DAHDI_VMWI_LREV`).
    Lrev,
    /// High-voltage DC (`DAHDI_VMWI_HVDC`).
    Hvdc,
    /// Neon lamp, high-voltage AC (`DAHDI_VMWI_HVAC`).
    Neon,
}

impl VmwiMode {
    /// Whether the port's driver shows the indicator (`lrev`, `hvdc`, `neon`: dahdi/user.h
    /// `DAHDI_VMWI_CONFIG` then `DAHDI_VMWI`), rather than chand's own FSK audio or nothing.
    pub fn driver_lamp(self) -> bool {
        matches!(self, VmwiMode::Lrev | VmwiMode::Hvdc | VmwiMode::Neon)
    }

    fn uses_fsk(self) -> bool {
        matches!(self, VmwiMode::Fsk | VmwiMode::Rpas)
    }
}

impl fmt::Display for VmwiMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VmwiMode::None => "none",
            VmwiMode::Fsk => "fsk",
            VmwiMode::Rpas => "rpas",
            VmwiMode::Lrev => "lrev",
            VmwiMode::Hvdc => "hvdc",
            VmwiMode::Neon => "neon",
        })
    }
}

/// Error for an unknown `vmwi` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownVmwiMode(pub String);

impl fmt::Display for UnknownVmwiMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown vmwi {:?}: expected one of none, fsk, rpas, lrev, hvdc, neon",
            self.0
        )
    }
}

impl std::error::Error for UnknownVmwiMode {}

/// Read from its keyword (through [`FromStr`], so an unknown one gets [`UnknownVmwiMode`]).
impl<'de> Deserialize<'de> for VmwiMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl FromStr for VmwiMode {
    type Err = UnknownVmwiMode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "none" => VmwiMode::None,
            "fsk" => VmwiMode::Fsk,
            "rpas" => VmwiMode::Rpas,
            "lrev" => VmwiMode::Lrev,
            "hvdc" => VmwiMode::Hvdc,
            "neon" => VmwiMode::Neon,
            _ => return Err(UnknownVmwiMode(s.to_owned())),
        })
    }
}

/// An input event of the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineEvent {
    /// The phone went off-hook (`DAHDI_EVENT_RINGOFFHOOK`; sim `Eoffhook`).
    OffHook,
    /// The phone went on-hook (`DAHDI_EVENT_ONHOOK`; sim `Eonhook`).
    OnHook,
    /// Hook flash (`DAHDI_EVENT_WINKFLASH`; sim `Eflash`).
    Flash,
    /// A dialled digit (`DTMFDOWN`/`PULSEDIGIT`; sim `Edigit 5`): `0-9 * # A-D`.
    Digit(char),
    /// A pulse digit has begun (`DAHDI_EVENT_PULSE_START`).
    PulseStart,
    /// The driver ran out of audio to send (`DAHDI_EVENT_WRITE_UNDERRUN`; sim `Eunderrun`):
    /// counted in [`LineStatus::underruns`].
    WriteUnderrun,
}

/// Something the line wants logged or shown once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notice {
    /// The back-end answered that the port's visual MWI is unsupported (e.g. ENOTTY); reported
    /// once per port; MWI carries on with the stutter tone.
    VmwiUnsupported(VmwiMode),
    /// An FSK message-waiting spill was written completely.
    SpillSent {
        /// Indicator state carried.
        on: bool,
    },
    /// A spill was cut short because the phone went off-hook.
    SpillAborted,
}

/// What the back-end must do, in order. [`Action::Write`] borrows the line's block buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Write this block (160 samples in the port's law) to the channel.
    Write(&'a Block),
    /// Stop the audio: discard what is queued for writing (`DAHDI_FLUSH` `DAHDI_FLUSH_WRITE`).
    StopAudio,
    /// Set the count of the driver's visual indicator (`DAHDI_VMWI` with `count`; 0 = off;
    /// the back-end configured the port's [`VmwiMode`] when it opened the channel). Answer with
    /// [`FxsLine::vmwi_result`].
    SetVmwi {
        /// Number of waiting messages, 0 = off.
        count: u32,
    },
    /// Read the hook state now (`DAHDI_GET_PARAMS` `rxisoffhook`; sim: the last event) and
    /// answer with [`FxsLine::hook_state`].
    CheckHook,
    /// Set the ring cadence for the RP-AS (`DAHDI_SETCADENCE` with [`RPAS_CADENCE_MS`]).
    SetRpasCadence,
    /// Restore the port's normal ring cadence (`DAHDI_SETCADENCE`).
    RestoreCadence,
    /// Start ringing (`DAHDI_HOOK` `DAHDI_RING`; sim `Ering`).
    Ring,
    /// Stop ringing (`DAHDI_HOOK` `DAHDI_RINGOFF`; sim `Eringoff`).
    RingOff,
    /// Enable on-hook transmission for `ms` ms (`DAHDI_ONHOOKTRANSFER`); the spill's blocks follow
    /// as [`Action::Write`]s.
    OnHookTransfer {
        /// Duration, ms.
        ms: u32,
    },
    /// Log or record this.
    Notice(Notice),
}

/// Counters and state shown by `chand status`.
#[derive(Clone, Debug, PartialEq)]
pub struct LineStatus {
    /// Tone plan name.
    pub plan: String,
    /// Law of the port.
    pub law: Law,
    /// Hook state as last known.
    pub hook: Hook,
    /// Message waiting.
    pub mwi: bool,
    /// Message count given with the MWI state.
    pub count: u32,
    /// Visual MWI mode.
    pub vmwi: VmwiMode,
    /// `Some(false)` once the back-end reported it unsupported, `Some(true)` once it worked.
    pub vmwi_supported: Option<bool>,
    /// Tone being played, if any.
    pub playing: Option<ToneKind>,
    /// `DAHDI_EVENT_WRITE_UNDERRUN` events seen.
    pub underruns: u64,
    /// Blocks written more than one block period after they were due, or dropped.
    pub late_blocks: u64,
    /// FSK spills written completely.
    pub spills_sent: u64,
    /// FSK spills cut short by an off-hook.
    pub spills_aborted: u64,
}

/// How a port is set up.
#[derive(Clone, Debug)]
pub struct LineConfig {
    /// The port's tone plan (`cptone`), compiled in the port's law.
    pub plan: Arc<CompiledPlan>,
    /// Visual MWI mode.
    pub vmwi: VmwiMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Audio {
    Off,
    Tone(ToneGen),
    Silence,
    Fsk { next: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spill {
    Idle,
    Waiting { at: u64 },
    HookCheck { rpas_next: bool, deadline: u64 },
    Rpas { until: u64 },
    RpasPause { until: u64 },
    Sending { on: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Queued {
    Write,
    WriteFsk(usize),
    Other(Action<'static>),
}

/// One FXS port.
#[derive(Debug)]
pub struct FxsLine {
    plan: Arc<CompiledPlan>,
    vmwi: VmwiMode,
    hook: Hook,
    onhook_since: u64,
    audio: Audio,
    next_block_at: u64,
    mwi: bool,
    count: u32,
    vmwi_count_sent: Option<u32>,
    vmwi_supported: Option<bool>,
    spill: Spill,
    spill_sent: Option<bool>,
    spill_blocks: Vec<Block>,
    queue: VecDeque<Queued>,
    block: Block,
    underruns: u64,
    late_blocks: u64,
    spills_sent: u64,
    spills_aborted: u64,
}

impl FxsLine {
    /// A port, assumed on-hook since `now_ms` (the back-end may correct it with
    /// [`FxsLine::hook_state`]), with no message waiting.
    pub fn new(config: LineConfig, now_ms: u64) -> Self {
        let silence = config.plan.law().silence();
        Self {
            plan: config.plan,
            vmwi: config.vmwi,
            hook: Hook::OnHook,
            onhook_since: now_ms,
            audio: Audio::Off,
            next_block_at: now_ms,
            mwi: false,
            count: 0,
            vmwi_count_sent: None,
            vmwi_supported: None,
            spill: Spill::Idle,
            spill_sent: None,
            spill_blocks: Vec::new(),
            queue: VecDeque::with_capacity(2 * MAX_CATCHUP_BLOCKS as usize + 8),
            block: [silence; BLOCK_SAMPLES],
            underruns: 0,
            late_blocks: 0,
            spills_sent: 0,
            spills_aborted: 0,
        }
    }

    /// Feed one event at `now_ms`. Drain [`FxsLine::poll_action`] afterwards.
    pub fn handle_event(&mut self, event: LineEvent, now_ms: u64) {
        match event {
            LineEvent::OffHook => self.off_hook(now_ms),
            LineEvent::OnHook => self.on_hook(now_ms),
            LineEvent::Flash => {
                if self.hook == Hook::OffHook {
                    self.audio = Audio::Tone(ToneGen::new(ToneKind::DialRecall));
                }
            }
            LineEvent::Digit(_) | LineEvent::PulseStart => {
                if matches!(self.audio, Audio::Tone(_)) {
                    self.audio = Audio::Silence;
                }
            }
            LineEvent::WriteUnderrun => self.underruns += 1,
        }
    }

    /// The hook state read by the back-end (answer to [`Action::CheckHook`], or at start-up).
    /// A difference from what the line believed counts as the missed event.
    pub fn hook_state(&mut self, off_hook: bool, now_ms: u64) {
        match (off_hook, self.hook) {
            (true, Hook::OnHook) => self.off_hook(now_ms),
            (false, Hook::OffHook) => self.on_hook(now_ms),
            _ => {}
        }
        if let Spill::HookCheck { rpas_next, .. } = self.spill {
            if off_hook || now_ms < self.onhook_since + SPILL_AFTER_ONHOOK_MS {
                self.spill = Spill::Idle;
                self.schedule_spill(now_ms);
            } else if rpas_next {
                self.push(Action::SetRpasCadence);
                self.push(Action::Ring);
                self.spill = Spill::Rpas {
                    until: now_ms + RPAS_RING_MS,
                };
            } else {
                self.start_spill(now_ms);
            }
        }
    }

    /// New MWI state of the port's number: `waiting` and the number of new messages.
    /// Does not change a tone already playing (the state at off-hook counts).
    pub fn set_mwi(&mut self, waiting: bool, new_messages: u32, now_ms: u64) {
        self.mwi = waiting;
        self.count = new_messages;
        let visual = if waiting { new_messages.max(1) } else { 0 };
        if self.vmwi.driver_lamp()
            && self.vmwi_supported != Some(false)
            && self.vmwi_count_sent != Some(visual)
        {
            self.vmwi_count_sent = Some(visual);
            self.push(Action::SetVmwi { count: visual });
        }
        self.schedule_spill(now_ms);
    }

    /// The back-end's answer to a visual-MWI action ([`Action::SetVmwi`], or the ioctls of an
    /// FSK spill: `DAHDI_SETCADENCE`, `DAHDI_ONHOOKTRANSFER`): `false` = unsupported (ENOTTY,
    /// EINVAL). The first `false` is reported once as [`Notice::VmwiUnsupported`], any spill in
    /// progress stops, and no further visual-MWI action is produced for this port.
    pub fn vmwi_result(&mut self, supported: bool) {
        if supported {
            if self.vmwi_supported.is_none() {
                self.vmwi_supported = Some(true);
            }
            return;
        }
        if self.vmwi_supported == Some(false) {
            return;
        }
        self.vmwi_supported = Some(false);
        self.push(Action::Notice(Notice::VmwiUnsupported(self.vmwi)));
        match self.spill {
            Spill::Rpas { .. } => {
                // The cadence was refused: the ring queued behind it must not go out.
                self.queue.retain(|q| *q != Queued::Other(Action::Ring));
                self.push(Action::RingOff);
                self.push(Action::RestoreCadence);
            }
            Spill::Sending { .. } => {
                self.drop_writes();
                self.audio = Audio::Off;
                self.push(Action::StopAudio);
            }
            _ => {}
        }
        self.spill = Spill::Idle;
    }

    /// When [`FxsLine::handle_timeout`] must next be called (ms), `None` if nothing is pending.
    pub fn poll_timeout(&self) -> Option<u64> {
        let block =
            (self.audio != Audio::Off).then_some(self.next_block_at.saturating_sub(LEAD_MS));
        let spill = match self.spill {
            Spill::Waiting { at } => Some(at),
            Spill::HookCheck { deadline, .. } => Some(deadline),
            Spill::Rpas { until } | Spill::RpasPause { until } => Some(until),
            Spill::Idle | Spill::Sending { .. } => None,
        };
        match (block, spill) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advance to `now_ms`: queue the blocks that are due and run the spill timers.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.emit_due_blocks(now_ms);
        match self.spill {
            Spill::Waiting { at } if now_ms >= at => {
                if self.wants_spill() {
                    self.push(Action::CheckHook);
                    self.spill = Spill::HookCheck {
                        rpas_next: self.vmwi == VmwiMode::Rpas,
                        deadline: now_ms + HOOK_CHECK_TIMEOUT_MS,
                    };
                } else {
                    self.spill = Spill::Idle;
                }
            }
            Spill::HookCheck { deadline, .. } if now_ms >= deadline => {
                // No answer from the back-end: try again later rather than send blind.
                self.spill = Spill::Waiting {
                    at: now_ms + SPILL_AFTER_ONHOOK_MS,
                };
            }
            Spill::Rpas { until } if now_ms >= until => {
                self.push(Action::RingOff);
                self.push(Action::RestoreCadence);
                self.spill = Spill::RpasPause {
                    until: now_ms + RPAS_PAUSE_MS,
                };
            }
            Spill::RpasPause { until } if now_ms >= until => {
                self.push(Action::CheckHook);
                self.spill = Spill::HookCheck {
                    rpas_next: false,
                    deadline: now_ms + HOOK_CHECK_TIMEOUT_MS,
                };
            }
            _ => {}
        }
    }

    /// The next action, in order; `None` when there is nothing more to do for now.
    /// Never allocates: tone blocks are generated into the line's own buffer.
    pub fn poll_action(&mut self) -> Option<Action<'_>> {
        loop {
            match self.queue.pop_front()? {
                Queued::Other(a) => return Some(a),
                Queued::WriteFsk(i) => {
                    if let Some(b) = self.spill_blocks.get(i) {
                        self.block = *b;
                        return Some(Action::Write(&self.block));
                    }
                }
                Queued::Write => match &mut self.audio {
                    Audio::Tone(g) => {
                        g.fill(&self.plan, &mut self.block);
                        return Some(Action::Write(&self.block));
                    }
                    Audio::Silence => {
                        self.block = [self.plan.law().silence(); BLOCK_SAMPLES];
                        return Some(Action::Write(&self.block));
                    }
                    Audio::Off | Audio::Fsk { .. } => {}
                },
            }
        }
    }

    /// State and counters for `chand status`.
    pub fn status(&self) -> LineStatus {
        LineStatus {
            plan: self.plan.name().to_owned(),
            law: self.plan.law(),
            hook: self.hook,
            mwi: self.mwi,
            count: self.count,
            vmwi: self.vmwi,
            vmwi_supported: self.vmwi_supported,
            playing: match self.audio {
                Audio::Tone(g) => Some(g.kind()),
                _ => None,
            },
            underruns: self.underruns,
            late_blocks: self.late_blocks,
            spills_sent: self.spills_sent,
            spills_aborted: self.spills_aborted,
        }
    }

    fn push(&mut self, a: Action<'static>) {
        self.queue.push_back(Queued::Other(a));
    }

    fn drop_writes(&mut self) {
        self.queue
            .retain(|q| !matches!(q, Queued::Write | Queued::WriteFsk(_)));
    }

    fn off_hook(&mut self, now_ms: u64) {
        if self.hook == Hook::OffHook {
            return;
        }
        self.hook = Hook::OffHook;
        match self.spill {
            Spill::Rpas { .. } => self.push(Action::RestoreCadence),
            Spill::Sending { .. } => {
                self.drop_writes();
                self.push(Action::StopAudio);
                self.push(Action::Notice(Notice::SpillAborted));
                self.spills_aborted += 1;
            }
            _ => {}
        }
        self.spill = Spill::Idle;
        let kind = if self.mwi {
            ToneKind::Stutter
        } else {
            ToneKind::Dial
        };
        self.audio = Audio::Tone(ToneGen::new(kind));
        self.next_block_at = now_ms;
        self.emit_due_blocks(now_ms);
    }

    fn on_hook(&mut self, now_ms: u64) {
        if self.hook == Hook::OnHook {
            return;
        }
        self.hook = Hook::OnHook;
        self.onhook_since = now_ms;
        if self.audio != Audio::Off {
            self.drop_writes();
            self.audio = Audio::Off;
            self.push(Action::StopAudio);
        }
        self.schedule_spill(now_ms);
    }

    fn wants_spill(&self) -> bool {
        self.vmwi.uses_fsk()
            && self.vmwi_supported != Some(false)
            && self.hook == Hook::OnHook
            && self.spill_sent != Some(self.mwi)
    }

    fn schedule_spill(&mut self, now_ms: u64) {
        if self.spill == Spill::Idle && self.wants_spill() {
            self.spill = Spill::Waiting {
                at: now_ms.max(self.onhook_since + SPILL_AFTER_ONHOOK_MS),
            };
        }
    }

    fn start_spill(&mut self, now_ms: u64) {
        let on = self.mwi;
        self.spill_blocks = render_spill(self.plan.fsk(), self.plan.law(), &mdmf_mwi_message(on));
        self.push(Action::OnHookTransfer {
            ms: spill_ms(self.spill_blocks.len()) + ONHOOK_TRANSFER_MARGIN_MS,
        });
        self.spill = Spill::Sending { on };
        self.audio = Audio::Fsk { next: 0 };
        self.next_block_at = now_ms;
        self.emit_due_blocks(now_ms);
    }

    fn emit_due_blocks(&mut self, now_ms: u64) {
        let now_ms = now_ms + LEAD_MS;
        if self.audio == Audio::Off || now_ms < self.next_block_at {
            return;
        }
        let due = (now_ms - self.next_block_at) / BLOCK_MS + 1;
        if due > MAX_CATCHUP_BLOCKS {
            let dropped = due - MAX_CATCHUP_BLOCKS;
            self.late_blocks += dropped;
            self.next_block_at += dropped * BLOCK_MS;
        }
        while self.next_block_at <= now_ms {
            if now_ms - self.next_block_at >= BLOCK_MS + LEAD_MS {
                self.late_blocks += 1;
            }
            self.next_block_at += BLOCK_MS;
            if let Audio::Fsk { next } = self.audio {
                self.queue.push_back(Queued::WriteFsk(next));
                if next + 1 < self.spill_blocks.len() {
                    self.audio = Audio::Fsk { next: next + 1 };
                } else {
                    self.finish_spill(now_ms);
                    return;
                }
            } else {
                self.queue.push_back(Queued::Write);
            }
        }
    }

    fn finish_spill(&mut self, now_ms: u64) {
        if let Spill::Sending { on } = self.spill {
            self.spill_sent = Some(on);
            self.spills_sent += 1;
            self.push(Action::Notice(Notice::SpillSent { on }));
        }
        self.audio = Audio::Off;
        self.spill = Spill::Idle;
        self.schedule_spill(now_ms);
    }
}
