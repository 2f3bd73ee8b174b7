//! [`Control`]: the DAHDI control device, for span status, version and tone zones.

use super::{get_struct, open_device, span_status, IoMode, CTL_DEVICE};
use crate::sys::{
    self, DahdiParams, DahdiSpanInfo, DahdiToneDef, DahdiToneDefHeader, DahdiVersionInfo,
};
use crate::{Error, Result};
use libc::c_int;
use nix::errno::Errno;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

/// The DAHDI control device ([`CTL_DEVICE`]): span status, version, channel parameters by
/// number, tone zones.
#[derive(Debug)]
pub struct Control {
    fd: OwnedFd,
}

impl Control {
    /// Opens [`CTL_DEVICE`].
    pub fn open() -> Result<Control> {
        Control::open_path(CTL_DEVICE)
    }

    /// Opens `path` as the control device.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Control> {
        open_device(path.as_ref(), IoMode::Blocking).map(|fd| Control { fd })
    }

    /// dahdi/user.h `DAHDI_SPANSTAT`: status of span `spanno` (1-based); `EINVAL` if there is
    /// no such span.
    pub fn span_status(&self, spanno: c_int) -> Result<DahdiSpanInfo> {
        span_status(self.fd.as_fd(), spanno)
    }

    /// dahdi/user.h `DAHDI_GETVERSION` (a ctl-device ioctl): DAHDI version and echo
    /// cancellers.
    pub fn version(&self) -> Result<DahdiVersionInfo> {
        get_struct(
            self.fd.as_fd(),
            "DAHDI_GETVERSION",
            sys::DAHDI_GETVERSION,
            DahdiVersionInfo::default(),
        )
    }

    /// dahdi/user.h `DAHDI_GET_PARAMS` for channel `channo` (the ctl fd is not bound to one).
    pub fn params(&self, channo: c_int) -> Result<DahdiParams> {
        get_struct(
            self.fd.as_fd(),
            "DAHDI_GET_PARAMS",
            sys::DAHDI_GET_PARAMS,
            DahdiParams {
                channo,
                ..DahdiParams::default()
            },
        )
    }

    /// dahdi/user.h `DAHDI_LOADZONE` (a ctl-device ioctl): load a tone zone, `header`
    /// followed by `tones` (`header.count` is set to `tones.len()`, at most 128).
    pub fn load_zone(&self, header: &DahdiToneDefHeader, tones: &[DahdiToneDef]) -> Result<()> {
        load_zone(self.fd.as_fd(), header, tones)
    }
}

impl AsFd for Control {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Control {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn load_zone(
    fd: BorrowedFd<'_>,
    header: &DahdiToneDefHeader,
    tones: &[DahdiToneDef],
) -> Result<()> {
    const MAX_TONES: usize = 128;
    if tones.len() > MAX_TONES {
        return Err(Error::InvalidArgument {
            what: "a tone zone has at most 128 tone definitions",
        });
    }
    // Header and tones as one contiguous, int-aligned buffer: both structs consist of c_int
    // and c_char[40] only, so their sizes are multiples of 4 and no padding sits between them.
    const H: usize = size_of::<DahdiToneDefHeader>() / size_of::<c_int>();
    const T: usize = size_of::<DahdiToneDef>() / size_of::<c_int>();
    let mut buf: Vec<c_int> = vec![0; H + T * tones.len()];
    let mut h = *header;
    h.count = tones.len() as c_int;
    // SAFETY: `buf` holds H + T*len c_ints, exactly size_of header + len * size_of tone
    // octets, c_int-aligned (the alignment of both structs); source and destination are
    // distinct allocations and the copied types are plain integers.
    unsafe {
        std::ptr::copy_nonoverlapping(
            &h as *const DahdiToneDefHeader as *const c_int,
            buf.as_mut_ptr(),
            H,
        );
        std::ptr::copy_nonoverlapping(
            tones.as_ptr() as *const c_int,
            buf.as_mut_ptr().add(H),
            T * tones.len(),
        );
    }
    // SAFETY: `buf` starts with a `dahdi_tone_def_header` (the size the request encodes) whose
    // `count` equals the number of `dahdi_tone_def` that follow it in `buf`; dahdi-base.c
    // (dahdi_ioctl_loadzone) reads the header and then exactly `count` definitions.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), sys::DAHDI_LOADZONE, buf.as_mut_ptr()) };
    if rc < 0 {
        Err(Error::ioctl("DAHDI_LOADZONE", Errno::last()))
    } else {
        Ok(())
    }
}

const _: () = assert!(size_of::<DahdiToneDefHeader>() % size_of::<c_int>() == 0);
const _: () = assert!(size_of::<DahdiToneDef>() % size_of::<c_int>() == 0);
const _: () = assert!(std::mem::align_of::<DahdiToneDefHeader>() == std::mem::align_of::<c_int>());
const _: () = assert!(std::mem::align_of::<DahdiToneDef>() == std::mem::align_of::<c_int>());
