//! The tone and FXS line ioctls of a [`Channel`]: tones and tone zone, ring cadence, on-hook
//! transfer, polarity and message waiting.

use super::{ioctl_arg, set_int, Channel};
use crate::sys::{self, DahdiRingCadence, DahdiVmwiInfo};
use crate::{Error, Polarity, Result, Tone, VmwiType};
use libc::c_int;
use nix::errno::Errno;
use std::os::fd::{AsFd, AsRawFd};

impl Channel {
    /// dahdi/user.h `DAHDI_SENDTONE`: play a tone of the channel's zone ([`Tone::Stop`]
    /// stops). Writing audio stops the tone.
    pub fn send_tone(&self, tone: Tone) -> Result<()> {
        set_int(
            self.fd.as_fd(),
            "DAHDI_SENDTONE",
            sys::DAHDI_SENDTONE,
            tone.to_raw(),
        )
    }

    /// dahdi/user.h `DAHDI_SETTONEZONE`: select tone zone `zone` (as loaded by
    /// `loadzone=` or [`Control::load_zone`](crate::Control::load_zone); `DAHDI_TONE_ZONE_DEFAULT` = the default zone).
    pub fn set_tone_zone(&self, zone: c_int) -> Result<()> {
        set_int(
            self.fd.as_fd(),
            "DAHDI_SETTONEZONE",
            sys::DAHDI_SETTONEZONE,
            zone,
        )
    }

    /// dahdi/user.h `DAHDI_SETCADENCE`: ring cadence of an FXS port; `None` restores the
    /// zone's cadence.
    pub fn set_cadence(&self, cadence: Option<&DahdiRingCadence>) -> Result<()> {
        match cadence {
            Some(c) => {
                let mut c = *c;
                ioctl_arg(
                    self.fd.as_fd(),
                    "DAHDI_SETCADENCE",
                    sys::DAHDI_SETCADENCE,
                    &mut c,
                )
            }
            None => {
                // SAFETY: DAHDI_SETCADENCE with a NULL argument is defined by dahdi-base.c
                // ("Reset to default"): the kernel checks for NULL and dereferences nothing.
                let rc = unsafe {
                    libc::ioctl(
                        self.fd.as_raw_fd(),
                        sys::DAHDI_SETCADENCE,
                        std::ptr::null_mut::<DahdiRingCadence>(),
                    )
                };
                if rc < 0 {
                    Err(Error::ioctl("DAHDI_SETCADENCE", Errno::last()))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// dahdi/user.h `DAHDI_ONHOOKTRANSFER`: pass audio to an on-hook FXS line for `ms`
    /// milliseconds (to send FSK CLIP/VMWI; chan_dahdi uses 3000).
    /// [`Error::Unsupported`] if the card driver lacks it.
    pub fn onhook_transfer(&self, ms: c_int) -> Result<()> {
        set_int(
            self.fd.as_fd(),
            "DAHDI_ONHOOKTRANSFER",
            sys::DAHDI_ONHOOKTRANSFER,
            ms,
        )
    }

    /// dahdi/user.h `DAHDI_SETPOLARITY`: line polarity of an FXS port.
    /// [`Error::Unsupported`] if the card driver lacks it.
    pub fn set_polarity(&self, polarity: Polarity) -> Result<()> {
        set_int(
            self.fd.as_fd(),
            "DAHDI_SETPOLARITY",
            sys::DAHDI_SETPOLARITY,
            polarity.to_raw(),
        )
    }

    /// dahdi/user.h `DAHDI_VMWI`: message waiting on an FXS port: `messages` waiting, 0 =
    /// indicator off. Implemented by the card driver ([`Error::Unsupported`] otherwise).
    pub fn vmwi(&self, messages: c_int) -> Result<()> {
        set_int(self.fd.as_fd(), "DAHDI_VMWI", sys::DAHDI_VMWI, messages)
    }

    /// dahdi/user.h `DAHDI_VMWI_CONFIG`: how an FXS port shows message waiting. `EINVAL` on
    /// non-FXS channels, [`Error::Unsupported`] if the card driver lacks it.
    pub fn vmwi_config(&self, kind: VmwiType) -> Result<()> {
        let mut info = DahdiVmwiInfo {
            vmwi_type: kind.bits(),
        };
        ioctl_arg(
            self.fd.as_fd(),
            "DAHDI_VMWI_CONFIG",
            sys::DAHDI_VMWI_CONFIG,
            &mut info,
        )
    }
}
