//! Errors of the DAHDI bindings.

use nix::errno::Errno;
use std::fmt;
use std::path::PathBuf;

/// What went wrong talking to DAHDI.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `open(2)` of a DAHDI device failed (missing module, no permission, ...).
    Open {
        /// The device path.
        path: PathBuf,
        /// `errno` of `open(2)`.
        errno: Errno,
    },
    /// An ioctl failed.
    Ioctl {
        /// The dahdi/user.h name of the ioctl, e.g. `"DAHDI_SPECIFY"`.
        ioctl: &'static str,
        /// `errno` of `ioctl(2)`.
        errno: Errno,
    },
    /// The ioctl is not implemented by this channel's low-level driver (`ENOTTY`): e.g.
    /// `DAHDI_VMWI`, `DAHDI_ONHOOKTRANSFER`, `DAHDI_SETPOLARITY` are card features that
    /// software spans (dahdi_dynamic) lack.
    Unsupported {
        /// The dahdi/user.h name of the ioctl.
        ioctl: &'static str,
    },
    /// `read(2)`, `write(2)` or `poll(2)` failed.
    Io {
        /// `"read"`, `"write"` or `"poll"`.
        op: &'static str,
        /// The raw errno (DAHDI also uses values Linux does not define).
        errno: i32,
    },
    /// An HDLC read returned fewer octets than the 2 FCS octets every frame carries.
    ShortFrame {
        /// Octets read.
        len: usize,
    },
    /// An HDLC frame to write is longer than [`crate::MAX_FRAME_LEN`].
    FrameTooLong {
        /// Octets given (without FCS).
        len: usize,
    },
    /// An argument was rejected before the call (see the message).
    InvalidArgument {
        /// What is wrong.
        what: &'static str,
    },
}

impl Error {
    /// Maps a failed ioctl: `ENOTTY` (not implemented by the driver) becomes
    /// [`Error::Unsupported`], anything else [`Error::Ioctl`].
    pub(crate) fn ioctl(ioctl: &'static str, errno: Errno) -> Error {
        if errno == Errno::ENOTTY {
            Error::Unsupported { ioctl }
        } else {
            Error::Ioctl { ioctl, errno }
        }
    }

    /// The errno behind this error, if the kernel reported one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Open { errno, .. } | Error::Ioctl { errno, .. } => Some(*errno as i32),
            Error::Unsupported { .. } => Some(Errno::ENOTTY as i32),
            Error::Io { errno, .. } => Some(*errno),
            Error::ShortFrame { .. }
            | Error::FrameTooLong { .. }
            | Error::InvalidArgument { .. } => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Open { path, errno } => {
                write!(f, "cannot open {}: {}", path.display(), errno.desc())
            }
            Error::Ioctl { ioctl, errno } => write!(f, "{ioctl} failed: {}", errno.desc()),
            Error::Unsupported { ioctl } => {
                write!(f, "{ioctl} is unsupported by this channel's driver")
            }
            Error::Io { op, errno } => {
                write!(
                    f,
                    "{op} failed: {}",
                    std::io::Error::from_raw_os_error(*errno)
                )
            }
            Error::ShortFrame { len } => {
                write!(
                    f,
                    "HDLC read of {len} octets is shorter than the 2 FCS octets"
                )
            }
            Error::FrameTooLong { len } => write!(
                f,
                "HDLC frame of {len} octets exceeds {} octets",
                crate::MAX_FRAME_LEN
            ),
            Error::InvalidArgument { what } => write!(f, "invalid argument: {what}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        let kind = match &e {
            Error::Unsupported { .. } => std::io::ErrorKind::Unsupported,
            Error::InvalidArgument { .. } | Error::FrameTooLong { .. } => {
                std::io::ErrorKind::InvalidInput
            }
            Error::ShortFrame { .. } => std::io::ErrorKind::InvalidData,
            _ => match e.errno() {
                Some(n) => std::io::Error::from_raw_os_error(n).kind(),
                None => std::io::ErrorKind::Other,
            },
        };
        std::io::Error::new(kind, e)
    }
}

/// Result of the DAHDI bindings.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enotty_is_unsupported() {
        let e = Error::ioctl("DAHDI_VMWI", Errno::ENOTTY);
        assert!(matches!(
            e,
            Error::Unsupported {
                ioctl: "DAHDI_VMWI"
            }
        ));
        assert_eq!(
            e.to_string(),
            "DAHDI_VMWI is unsupported by this channel's driver"
        );
        assert_eq!(
            std::io::Error::from(e).kind(),
            std::io::ErrorKind::Unsupported
        );
    }

    #[test]
    fn other_errno_is_ioctl_error() {
        let e = Error::ioctl("DAHDI_SPECIFY", Errno::EINVAL);
        assert!(matches!(
            e,
            Error::Ioctl {
                ioctl: "DAHDI_SPECIFY",
                errno: Errno::EINVAL
            }
        ));
        assert_eq!(e.errno(), Some(libc::EINVAL));
        assert!(e.to_string().starts_with("DAHDI_SPECIFY failed: "));
    }
}
