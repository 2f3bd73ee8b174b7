//! The vocabulary of the line core: its input events, its actions, its status and its setup.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::Deserialize;

use crate::gen::{CompiledPlan, ToneKind};
use crate::law::{Block, Law};

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

    pub(super) fn uses_fsk(self) -> bool {
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
    /// [`super::FxsLine::vmwi_result`].
    SetVmwi {
        /// Number of waiting messages, 0 = off.
        count: u32,
    },
    /// Read the hook state now (`DAHDI_GET_PARAMS` `rxisoffhook`; sim: the last event) and
    /// answer with [`super::FxsLine::hook_state`].
    CheckHook,
    /// Set the ring cadence for the RP-AS (`DAHDI_SETCADENCE` with [`super::RPAS_CADENCE_MS`]).
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
    /// Write the call's next block now: the owner takes it from the call's media stream
    /// (the line keeps the 20 ms clock while [`super::FxsLine::play_media`] is on).
    PullMedia,
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
