//! Safe bindings to the DAHDI kernel interface (dahdi-linux `include/dahdi/user.h`).
//!
//! This is the only crate of dahdi-mwi that talks to DAHDI; all `unsafe` code lives here.
//!
//! - [`sys`]: the raw ABI (constants, ioctl numbers, `#[repr(C)]` structs), checked against the
//!   real header by `tests/header_check.rs`.
//! - [`Channel`]: one channel (open /dev/dahdi/channel + `DAHDI_SPECIFY`), every ioctl chand
//!   needs as a typed method, audio and HDLC frame I/O with DAHDI's conventions handled:
//!   an event pending (`ELAST`) comes back as [`ReadOutcome::Event`]/[`WriteOutcome::Event`],
//!   HDLC frames are read and written without their 2 FCS octets, and `ENOTTY` from an ioctl
//!   the card driver lacks is [`Error::Unsupported`].
//! - [`Control`]: /dev/dahdi/ctl, for span status and version.
//! - [`Event`], [`SigType`], [`Alarms`] and friends: typed forms of the `DAHDI_*` constants.
//!
//! ```no_run
//! use driver_ffi::{Channel, IoMode, Readiness, ReadOutcome};
//! # fn main() -> driver_ffi::Result<()> {
//! let ch = Channel::open(2, IoMode::NonBlocking)?;
//! assert!(ch.params()?.sig_type().is_fxs_port());
//! ch.set_blocksize(160)?;
//! let mut block = [0u8; 160];
//! loop {
//!     ch.poll(Readiness::READABLE | Readiness::EVENT, None)?;
//!     match ch.read(&mut block)? {
//!         ReadOutcome::Data(n) => { /* n octets of audio */ }
//!         ReadOutcome::Event(ev) => println!("event {ev:?}"),
//!         ReadOutcome::WouldBlock => {}
//!     }
//! }
//! # }
//! ```

mod channel;
mod error;
mod event;
mod info;
mod io;
pub mod sched;
pub mod sys;
mod types;

pub use channel::{Channel, Control, IoMode, Readiness, CHANNEL_DEVICE, CTL_DEVICE};
pub use error::{Error, Result};
pub use event::Event;
pub use io::{ReadOutcome, WriteOutcome, MAX_FRAME_LEN};
pub use sys::{
    DahdiBufferInfo, DahdiEchoCanParam, DahdiEchoCanParams, DahdiParams, DahdiRingCadence,
    DahdiSpanInfo, DahdiToneDef, DahdiToneDefHeader, DahdiVersionInfo, DahdiVmwiInfo,
};
pub use types::{Alarms, BufPolicy, Flush, Hook, Polarity, SigType, Tone, VmwiType};
