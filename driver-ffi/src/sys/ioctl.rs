//! The ioctl request numbers of dahdi/user.h, computed like its `_IOR`/`_IOW`/`_IOWR` macros
//! from [`DAHDI_CODE`], the request number and the argument size.

use super::{
    DahdiBufferInfo, DahdiEchoCanParams, DahdiParams, DahdiRingCadence, DahdiSpanInfo,
    DahdiToneDefHeader, DahdiVersionInfo, DahdiVmwiInfo, Request, DAHDI_CODE,
};
use libc::c_int;
use std::mem::size_of;

const INT: usize = size_of::<c_int>();

/// dahdi/user.h `DAHDI_GET_BLOCKSIZE` = `_IOR(DAHDI_CODE, 1, int)`.
pub const DAHDI_GET_BLOCKSIZE: Request = nix::request_code_read!(DAHDI_CODE, 1, INT);
/// dahdi/user.h `DAHDI_SET_BLOCKSIZE` = `_IOW(DAHDI_CODE, 1, int)`.
pub const DAHDI_SET_BLOCKSIZE: Request = nix::request_code_write!(DAHDI_CODE, 1, INT);
/// dahdi/user.h `DAHDI_FLUSH` = `_IOW(DAHDI_CODE, 3, int)`.
pub const DAHDI_FLUSH: Request = nix::request_code_write!(DAHDI_CODE, 3, INT);
/// dahdi/user.h `DAHDI_GET_PARAMS` = `_IOWR(DAHDI_CODE, 5, struct dahdi_params)`.
pub const DAHDI_GET_PARAMS: Request =
    nix::request_code_readwrite!(DAHDI_CODE, 5, size_of::<DahdiParams>());
/// dahdi/user.h `DAHDI_SET_PARAMS` = `_IOW(DAHDI_CODE, 5, struct dahdi_params)`.
pub const DAHDI_SET_PARAMS: Request =
    nix::request_code_write!(DAHDI_CODE, 5, size_of::<DahdiParams>());
/// dahdi/user.h `DAHDI_HOOK` = `_IOW(DAHDI_CODE, 7, int)`.
pub const DAHDI_HOOK: Request = nix::request_code_write!(DAHDI_CODE, 7, INT);
/// dahdi/user.h `DAHDI_GETEVENT` = `_IOR(DAHDI_CODE, 8, int)`.
pub const DAHDI_GETEVENT: Request = nix::request_code_read!(DAHDI_CODE, 8, INT);
/// dahdi/user.h `DAHDI_SPANSTAT` = `_IOWR(DAHDI_CODE, 10, struct dahdi_spaninfo)`.
pub const DAHDI_SPANSTAT: Request =
    nix::request_code_readwrite!(DAHDI_CODE, 10, size_of::<DahdiSpanInfo>());
/// dahdi/user.h `DAHDI_SENDTONE` = `_IOW(DAHDI_CODE, 21, int)`.
pub const DAHDI_SENDTONE: Request = nix::request_code_write!(DAHDI_CODE, 21, INT);
/// dahdi/user.h `DAHDI_SETTONEZONE` = `_IOW(DAHDI_CODE, 22, int)`.
pub const DAHDI_SETTONEZONE: Request = nix::request_code_write!(DAHDI_CODE, 22, INT);
/// dahdi/user.h `DAHDI_LOADZONE` = `_IOW(DAHDI_CODE, 25, struct dahdi_tone_def_header)`.
pub const DAHDI_LOADZONE: Request =
    nix::request_code_write!(DAHDI_CODE, 25, size_of::<DahdiToneDefHeader>());
/// dahdi/user.h `DAHDI_GET_BUFINFO` = `_IOR(DAHDI_CODE, 27, struct dahdi_bufferinfo)`.
pub const DAHDI_GET_BUFINFO: Request =
    nix::request_code_read!(DAHDI_CODE, 27, size_of::<DahdiBufferInfo>());
/// dahdi/user.h `DAHDI_SET_BUFINFO` = `_IOW(DAHDI_CODE, 27, struct dahdi_bufferinfo)`.
pub const DAHDI_SET_BUFINFO: Request =
    nix::request_code_write!(DAHDI_CODE, 27, size_of::<DahdiBufferInfo>());
/// dahdi/user.h `DAHDI_AUDIOMODE` = `_IOW(DAHDI_CODE, 32, int)`.
pub const DAHDI_AUDIOMODE: Request = nix::request_code_write!(DAHDI_CODE, 32, INT);
/// dahdi/user.h `DAHDI_ECHOCANCEL_PARAMS` = `_IOW(DAHDI_CODE, 33, struct dahdi_echocanparams)`.
pub const DAHDI_ECHOCANCEL_PARAMS: Request =
    nix::request_code_write!(DAHDI_CODE, 33, size_of::<DahdiEchoCanParams>());
/// dahdi/user.h `DAHDI_CHANNO` = `_IOR(DAHDI_CODE, 34, int)`.
pub const DAHDI_CHANNO: Request = nix::request_code_read!(DAHDI_CODE, 34, INT);
/// dahdi/user.h `DAHDI_HDLCFCSMODE` = `_IOW(DAHDI_CODE, 37, int)`.
pub const DAHDI_HDLCFCSMODE: Request = nix::request_code_write!(DAHDI_CODE, 37, INT);
/// dahdi/user.h `DAHDI_SPECIFY` = `_IOW(DAHDI_CODE, 38, int)`.
pub const DAHDI_SPECIFY: Request = nix::request_code_write!(DAHDI_CODE, 38, INT);
/// dahdi/user.h `DAHDI_SETLAW` = `_IOW(DAHDI_CODE, 39, int)`.
pub const DAHDI_SETLAW: Request = nix::request_code_write!(DAHDI_CODE, 39, INT);
/// dahdi/user.h `DAHDI_SETLINEAR` = `_IOW(DAHDI_CODE, 40, int)`.
pub const DAHDI_SETLINEAR: Request = nix::request_code_write!(DAHDI_CODE, 40, INT);
/// dahdi/user.h `DAHDI_SETCADENCE` = `_IOW(DAHDI_CODE, 42, struct dahdi_ring_cadence)`.
pub const DAHDI_SETCADENCE: Request =
    nix::request_code_write!(DAHDI_CODE, 42, size_of::<DahdiRingCadence>());
/// dahdi/user.h `DAHDI_ONHOOKTRANSFER` = `_IOW(DAHDI_CODE, 51, int)`.
pub const DAHDI_ONHOOKTRANSFER: Request = nix::request_code_write!(DAHDI_CODE, 51, INT);
/// dahdi/user.h `DAHDI_GETVERSION` = `_IOR(DAHDI_CODE, 57, struct dahdi_versioninfo)`.
pub const DAHDI_GETVERSION: Request =
    nix::request_code_read!(DAHDI_CODE, 57, size_of::<DahdiVersionInfo>());
/// dahdi/user.h `DAHDI_SETPOLARITY` = `_IOW(DAHDI_CODE, 92, int)`.
pub const DAHDI_SETPOLARITY: Request = nix::request_code_write!(DAHDI_CODE, 92, INT);
/// dahdi/user.h `DAHDI_VMWI` = `_IOWR(DAHDI_CODE, 94, int)`.
pub const DAHDI_VMWI: Request = nix::request_code_readwrite!(DAHDI_CODE, 94, INT);
/// dahdi/user.h `DAHDI_VMWI_CONFIG` = `_IOW(DAHDI_CODE, 95, struct dahdi_vmwi_info)`.
pub const DAHDI_VMWI_CONFIG: Request =
    nix::request_code_write!(DAHDI_CODE, 95, size_of::<DahdiVmwiInfo>());
/// dahdi/user.h `DAHDI_BUFFER_EVENTS` = `_IOW(DAHDI_CODE, 105, int)`.
pub const DAHDI_BUFFER_EVENTS: Request = nix::request_code_write!(DAHDI_CODE, 105, INT);

/// Size in octets that request `req` transfers, from its `_IOC` size field.
pub(crate) const fn ioc_size(req: Request) -> usize {
    ((req >> nix::sys::ioctl::SIZESHIFT) & nix::sys::ioctl::SIZEMASK) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{DahdiEchoCanParam, DahdiToneDef};

    /// Sizes and request numbers of dahdi/user.h on x86_64 (docs/dahdi.md);
    /// the full check against the header is tests/header_check.rs.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn x86_64_values() {
        assert_eq!(size_of::<DahdiParams>(), 136);
        assert_eq!(std::mem::offset_of!(DahdiParams, name), 48);
        assert_eq!(std::mem::offset_of!(DahdiParams, chan_alarms), 132);
        assert_eq!(size_of::<DahdiSpanInfo>(), 314);
        assert_eq!(size_of::<DahdiToneDefHeader>(), 112);
        assert_eq!(size_of::<DahdiToneDef>(), 44);
        assert_eq!(size_of::<DahdiEchoCanParam>(), 20);
        let expect: &[(Request, u32)] = &[
            (DAHDI_GET_BLOCKSIZE, 0x8004_DA01),
            (DAHDI_SET_BLOCKSIZE, 0x4004_DA01),
            (DAHDI_FLUSH, 0x4004_DA03),
            (DAHDI_GET_PARAMS, 0xC088_DA05),
            (DAHDI_SET_PARAMS, 0x4088_DA05),
            (DAHDI_HOOK, 0x4004_DA07),
            (DAHDI_GETEVENT, 0x8004_DA08),
            (DAHDI_SPANSTAT, 0xC13A_DA0A),
            (DAHDI_SENDTONE, 0x4004_DA15),
            (DAHDI_SETTONEZONE, 0x4004_DA16),
            (DAHDI_LOADZONE, 0x4070_DA19),
            (DAHDI_GET_BUFINFO, 0x8018_DA1B),
            (DAHDI_SET_BUFINFO, 0x4018_DA1B),
            (DAHDI_AUDIOMODE, 0x4004_DA20),
            (DAHDI_ECHOCANCEL_PARAMS, 0x4008_DA21),
            (DAHDI_CHANNO, 0x8004_DA22),
            (DAHDI_HDLCFCSMODE, 0x4004_DA25),
            (DAHDI_SPECIFY, 0x4004_DA26),
            (DAHDI_SETLAW, 0x4004_DA27),
            (DAHDI_SETLINEAR, 0x4004_DA28),
            (DAHDI_SETCADENCE, 0x4040_DA2A),
            (DAHDI_ONHOOKTRANSFER, 0x4004_DA33),
            (DAHDI_GETVERSION, 0x80A0_DA39),
            (DAHDI_SETPOLARITY, 0x4004_DA5C),
            (DAHDI_VMWI, 0xC004_DA5E),
            (DAHDI_VMWI_CONFIG, 0x4004_DA5F),
            (DAHDI_BUFFER_EVENTS, 0x4004_DA69),
        ];
        for &(req, want) in expect {
            assert_eq!(req, want as Request, "{req:#x} != {want:#x}");
        }
    }

    #[test]
    fn ioc_size_reads_the_size_field() {
        assert_eq!(ioc_size(DAHDI_SPECIFY), size_of::<c_int>());
        assert_eq!(ioc_size(DAHDI_SPANSTAT), size_of::<DahdiSpanInfo>());
        assert_eq!(ioc_size(DAHDI_LOADZONE), size_of::<DahdiToneDefHeader>());
    }
}
