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
//! - A port in a call ([`FxsLine::set_engaged`]: ringing, dialling, connected) and an off-hook
//!   phone get no MWI action that needs the line: no spill starts (one in progress stops, and
//!   is sent again later) and the driver's indicator is not changed (`hvdc`/`neon` put their
//!   voltage and `lrev` its polarity on the pair, which a ringing or talking phone would get).
//!   The latest state is held, never lost: the lamp follows once the port is on-hook and idle,
//!   the spill [`SPILL_AFTER_ONHOOK_MS`] after that.

//!
//! The line follows the `sansio` contract: time is an [`Instant`] passed first; the block
//! clock and the spill timers live in one [`Timers`] table. Its output stays one ordered
//! queue, drained by [`FxsLine::poll_action`], because the back-end must perform writes and
//! ioctls in order (`DAHDI_FLUSH` before the next tone's blocks, `DAHDI_ONHOOKTRANSFER` before
//! the spill's blocks, the RP-AS cadence before the ring); `poll_action` hands a block out
//! without copying it. [`Core::poll_transmit`] (the blocks) and [`Core::poll_event`] (the other
//! actions) are views of the head of that same queue, so a loop that asks both until both are
//! `None` sees the same order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sansio::{Core, Timers};

use crate::gen::{CompiledPlan, ToneGen, ToneKind};
use crate::law::{Block, BLOCK_MS, BLOCK_SAMPLES};

mod audio;
mod types;
mod vmwi;

use vmwi::Spill;

pub use types::{
    Action, Hook, LineConfig, LineEvent, LineStatus, Notice, UnknownVmwiMode, VmwiMode,
};

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

const BLOCK: Duration = Duration::from_millis(BLOCK_MS);
const LEAD: Duration = Duration::from_millis(LEAD_MS);
const SPILL_AFTER_ONHOOK: Duration = Duration::from_millis(SPILL_AFTER_ONHOOK_MS);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Audio {
    Off,
    Tone(ToneGen),
    Silence,
    /// A call's audio, block by block from the owner ([`Action::PullMedia`]).
    Media,
    Fsk {
        next: usize,
    },
}

/// The line's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// The write time of the next audio block (its play-out time less [`LEAD_MS`]); runs
    /// exactly while audio plays.
    Block,
    /// The end of the current [`Spill`] phase.
    Spill,
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
    /// Since when the line is on-hook and not [engaged](FxsLine::set_engaged): the spill
    /// waits [`SPILL_AFTER_ONHOOK_MS`] from here.
    idle_since: Instant,
    /// In a call (ringing, dialling, connected): MWI actions that need the line are held.
    engaged: bool,
    audio: Audio,
    /// The audio clock: write time of the next block, meaningful while audio plays (then
    /// [`Timer::Block`] runs at this instant).
    next_write: Instant,
    timers: Timers<Timer>,
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
    /// A port, assumed on-hook since `now` (the back-end may correct it with
    /// [`FxsLine::hook_state`]), with no message waiting.
    pub fn new(config: LineConfig, now: Instant) -> Self {
        let silence = config.plan.law().silence();
        Self {
            plan: config.plan,
            vmwi: config.vmwi,
            hook: Hook::OnHook,
            idle_since: now,
            engaged: false,
            audio: Audio::Off,
            next_write: now,
            timers: Timers::new(),
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

    /// Feed one event at `now`. Drain [`FxsLine::poll_action`] afterwards.
    pub fn handle_event(&mut self, now: Instant, event: LineEvent) {
        match event {
            LineEvent::OffHook => self.off_hook(now),
            LineEvent::OnHook => self.on_hook(now),
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

    /// Play `kind` of the port's plan from its start at `now`, if the phone is off-hook (a call's
    /// progress tones: ringback, busy, reorder, howler).
    pub fn play(&mut self, now: Instant, kind: ToneKind) {
        self.play_audio(now, Audio::Tone(ToneGen::new(kind)));
    }

    /// Send silence from `now` while the phone is off-hook (a call waits for its next step).
    pub fn play_silence(&mut self, now: Instant) {
        self.play_audio(now, Audio::Silence);
    }

    /// Ask for the call's audio from `now` on, one [`Action::PullMedia`] per block, while the
    /// phone is off-hook.
    pub fn play_media(&mut self, now: Instant) {
        self.play_audio(now, Audio::Media);
    }

    /// Whether the phone is off-hook, as the line last knew it.
    pub fn is_off_hook(&self) -> bool {
        self.hook == Hook::OffHook
    }

    /// The hook state read by the back-end at `now` (answer to [`Action::CheckHook`], or at
    /// start-up). A difference from what the line believed counts as the missed event.
    pub fn hook_state(&mut self, now: Instant, off_hook: bool) {
        match (off_hook, self.hook) {
            (true, Hook::OnHook) => self.off_hook(now),
            (false, Hook::OffHook) => self.on_hook(now),
            _ => {}
        }
        if let Spill::HookCheck { rpas_next } = self.spill {
            if off_hook || now < self.idle_since + SPILL_AFTER_ONHOOK {
                self.set_spill(Spill::Idle, None);
                self.schedule_spill(now);
            } else if rpas_next {
                self.push(Action::SetRpasCadence);
                self.push(Action::Ring);
                self.set_spill(Spill::Rpas, Some(now + Duration::from_millis(RPAS_RING_MS)));
            } else {
                self.start_spill(now);
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

    fn off_hook(&mut self, now: Instant) {
        if self.hook == Hook::OffHook {
            return;
        }
        self.hook = Hook::OffHook;
        // Ring trip has already stopped an RP-AS ring.
        self.abort_spill(false);
        let kind = if self.mwi {
            ToneKind::Stutter
        } else {
            ToneKind::Dial
        };
        self.start_audio(now, Audio::Tone(ToneGen::new(kind)));
    }

    fn on_hook(&mut self, now: Instant) {
        if self.hook == Hook::OnHook {
            return;
        }
        self.hook = Hook::OnHook;
        if !self.engaged {
            self.idle_since = now;
        }
        if self.audio != Audio::Off {
            self.stop_audio();
        }
        self.sync_lamp();
        self.schedule_spill(now);
    }
}

/// Audio blocks out ([`Core::poll_transmit`]), the other actions out ([`Core::poll_event`]);
/// both from the head of the one ordered queue of [`FxsLine::poll_action`] (module doc).
impl Core for FxsLine {
    type Transmit = Block;
    /// Never [`Action::Write`]: blocks come from [`Core::poll_transmit`].
    type Event = Action<'static>;

    /// Queue the blocks that are due and run the spill timer if due at `now`; an early, late
    /// or repeated call does only what is due, once.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::Block => self.emit_due_blocks(now),
                Timer::Spill => self.spill_timeout(now),
            }
        }
    }

    /// The next block to write, if a block heads the queue.
    fn poll_transmit(&mut self) -> Option<Block> {
        if self.head_is_write()? {
            match self.poll_action() {
                Some(Action::Write(b)) => return Some(*b),
                _ => return None,
            }
        }
        None
    }

    /// The next action other than a write, if one heads the queue.
    fn poll_event(&mut self) -> Option<Action<'static>> {
        if self.head_is_write()? {
            return None;
        }
        match self.queue.pop_front()? {
            Queued::Other(a) => Some(a),
            Queued::Write | Queued::WriteFsk(_) => None,
        }
    }

    /// When [`Core::handle_timeout`] must run next: the next block's write time or the end of
    /// the spill phase; `None` while neither runs.
    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}
