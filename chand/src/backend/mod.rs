//! Channel back-ends: what chand's FXS lines and PRI spans run on.
//!
//! A [`Backend`] opens channels by the config's DAHDI channel numbers. An FXS port is an
//! [`FxsChannel`]; a PRI D-channel is a [`DChannel`]; a B-channel of a span with calls is a
//! [`BChannel`]. Two back-ends implement them: real DAHDI
//! channels (`backend = "kernel"`) and [`sim`] (`backend = "sim"`: one Unix `SOCK_SEQPACKET`
//! socket per channel, for tests and demos without a telephony card).
//!
//! Channels are non-blocking and fit a mio event loop: each is [`AsRawFd`], the fd to register
//! (with `mio::unix::SourceFd`) for readability. The fd stays the same for the channel's life.
//! Registrations are edge-triggered, so on every readable event the loop calls `poll_event`
//! until it returns `Ok(None)`. Nothing here keeps time: the caller's timers pace audio
//! (one [`fxs::Block`] every [`fxs::BLOCK_MS`]) and protocol timers.
//!
//! One vocabulary per boundary: an FXS port reports what the phone and the driver did as the
//! line core's own [`LineEvent`] (the DAHDI back-end translates `DAHDI_EVENT_*` in one function,
//! as Asterisk's `dahdievent_to_analogevent` does), and takes the line core's [`Block`].

pub mod dahdi;
pub mod sim;

use std::fmt;
use std::os::fd::AsRawFd;

use fxs::{Block, LineEvent};
use mwi_config as config;

/// A ring command for an FXS port (dahdi/user.h `DAHDI_HOOK` with `DAHDI_RING`/`DAHDI_RINGOFF`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingCommand {
    /// Start ringing with the port's cadence.
    Ring,
    /// Stop ringing.
    RingOff,
}

/// Something that happened on a D-channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DChannelEvent {
    /// Layer 1 is up: frames can flow (DAHDI: alarms cleared, `DAHDI_EVENT_NOALARM`; sim: a
    /// PBX connected). A channel starts down; if the link is up when it is opened, this is its
    /// first event.
    LinkUp,
    /// Layer 1 is down (DAHDI: `DAHDI_EVENT_ALARM`; sim: the PBX disconnected). Frames sent
    /// while down are lost.
    LinkDown,
    /// One received Q.921 frame: address, control, information; no flags, no FCS (ITU-T Q.921
    /// §2.1), as a DAHDI HDLC channel delivers it after the FCS is stripped.
    Frame(Vec<u8>),
}

/// Why a back-end operation failed.
#[derive(Debug)]
pub enum BackendError {
    /// This channel's driver cannot do it (DAHDI: the ioctl gave `ENOTTY`, e.g. `DAHDI_VMWI`
    /// on a card without VMWI support). Not fatal: the caller carries on without the feature.
    Unsupported {
        /// What was asked, e.g. `"DAHDI_VMWI"`.
        what: &'static str,
    },
    /// An operating-system error on the channel or its socket.
    Io(std::io::Error),
    /// An error of the underlying driver binding.
    Driver(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported { what } => {
                write!(f, "{what} is not supported by this channel's driver")
            }
            Self::Io(e) => write!(f, "{e}"),
            Self::Driver(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unsupported { .. } => None,
            Self::Io(e) => Some(e),
            Self::Driver(e) => Some(e.as_ref()),
        }
    }
}

impl From<std::io::Error> for BackendError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// An FXS port: a phone's line.
pub trait FxsChannel: AsRawFd {
    /// The next event, `Ok(None)` when there is none now. Call until `Ok(None)` after the fd
    /// turned readable.
    fn poll_event(&mut self) -> Result<Option<LineEvent>, BackendError>;

    /// The oldest 20 ms block of the phone's audio (its voice and its in-band DTMF) that
    /// `poll_event` read and kept, `None` when none is kept. At most a few blocks are kept;
    /// older ones are dropped (a loop that drains after every readiness event never loses one).
    fn take_audio(&mut self) -> Option<Block>;

    /// Send one 20 ms block of audio to the phone. `Ok(false)` when the line took nothing (no
    /// room in the channel's buffers, or no phone): the block is dropped, the caller's 20 ms
    /// timer carries on with the next one.
    fn write_audio(&mut self, block: &Block) -> Result<bool, BackendError>;

    /// Start or stop ringing.
    fn ring(&mut self, command: RingCommand) -> Result<(), BackendError>;

    /// Set the visual message-waiting indicator: `messages` new messages, 0 = lamp off
    /// (dahdi/user.h `DAHDI_VMWI`, with the `[[fxs]] vmwi` type set when the port was opened).
    /// [`BackendError::Unsupported`] when the port's driver has no VMWI.
    fn set_vmwi(&mut self, messages: u32) -> Result<(), BackendError>;

    /// Discard the audio queued for the phone (dahdi/user.h `DAHDI_FLUSH` with
    /// `DAHDI_FLUSH_WRITE`), so that a stopped tone stops now rather than a buffer later.
    fn flush_audio(&mut self) -> Result<(), BackendError>;

    /// Whether the phone is off-hook now (dahdi/user.h `DAHDI_GET_PARAMS` `rxisoffhook`).
    /// Asked just before an on-hook FSK spill, so a phone lifted meanwhile is not sent data.
    fn off_hook(&mut self) -> Result<bool, BackendError>;

    /// Set the ring cadence, ms on / ms off pairs (dahdi/user.h `DAHDI_SETCADENCE`, at most 16
    /// values); `None` restores the zone's default cadence. Used for the RP-AS before a spill.
    fn set_cadence(&mut self, cadence: Option<&[u32]>) -> Result<(), BackendError>;

    /// Let the next `ms` ms of audio reach an on-hook phone (dahdi/user.h
    /// `DAHDI_ONHOOKTRANSFER`), for an FSK message-waiting spill.
    /// [`BackendError::Unsupported`] when the port's driver cannot.
    fn onhook_transfer(&mut self, ms: u32) -> Result<(), BackendError>;

    /// Attach the channel's echo canceller with a tail of `taps` taps (8 per ms), or remove it
    /// with 0 (dahdi/user.h `DAHDI_ECHOCANCEL_PARAMS`, no named parameters).
    /// [`BackendError::Unsupported`] when the kernel has no echo canceller for the channel.
    fn echo_cancel(&mut self, taps: u32) -> Result<(), BackendError>;
}

/// A PRI D-channel: HDLC frames to and from the PBX.
pub trait DChannel: AsRawFd {
    /// The next event, `Ok(None)` when there is none now. Call until `Ok(None)` after the fd
    /// turned readable.
    fn poll_event(&mut self) -> Result<Option<DChannelEvent>, BackendError>;

    /// Send one Q.921 frame (address, control, information; the FCS is added below).
    /// `Ok(false)` when it was not sent (link down or no room): as a lost frame on the line,
    /// which Q.921 recovers by T200 retransmission.
    fn send_frame(&mut self, frame: &[u8]) -> Result<bool, BackendError>;
}

/// A B-channel of a PRI span opened as a clear channel for a call's audio (dahdi/user.h
/// `DAHDI_AUDIOMODE`): 20 ms blocks of [`fxs::BLOCK_SAMPLES`] octets in the span's law, both
/// ways, while a call's media runs.
pub trait BChannel: AsRawFd {
    /// Read what the channel holds, keeping the audio blocks for [`BChannel::take_audio`]
    /// (at most a few; older ones are dropped). Call after the fd turned readable.
    fn read(&mut self) -> Result<(), BackendError>;

    /// The oldest block kept by [`BChannel::read`].
    fn take_audio(&mut self) -> Option<Block>;

    /// Send one 20 ms block towards the PBX; `Ok(false)` when the channel took nothing.
    fn write_audio(&mut self, block: &Block) -> Result<bool, BackendError>;

    /// Attach the channel's echo canceller with `taps` taps, or remove it with 0 (as
    /// [`FxsChannel::echo_cancel`]).
    fn echo_cancel(&mut self, taps: u32) -> Result<(), BackendError>;
}

/// Opens channels by the config's DAHDI channel numbers.
pub trait Backend {
    /// Open the FXS port `port` (`[[fxs]]`), set to its law and VMWI type.
    fn open_fxs(&mut self, port: &config::Fxs) -> Result<Box<dyn FxsChannel>, BackendError>;

    /// Open the D-channel of the PRI span `pri` (`[[pri]] dchannel`).
    fn open_dchannel(&mut self, pri: &config::Pri) -> Result<Box<dyn DChannel>, BackendError>;

    /// Open DAHDI channel `channel`, a B-channel of a span with `[pri.calls]`, as a clear
    /// channel in `law`.
    fn open_bchannel(
        &mut self,
        channel: u32,
        law: fxs::Law,
    ) -> Result<Box<dyn BChannel>, BackendError>;
}
