//! Safe handles on DAHDI devices: [`Channel`] (one bound channel) and [`Control`]
//! (/dev/dahdi/ctl, for span status and version queries).

use crate::io::{self, RawIo, ReadOutcome, WriteOutcome};
use crate::sys::{
    self, DahdiBufferInfo, DahdiEchoCanParam, DahdiEchoCanParams, DahdiParams, DahdiSpanInfo, Pod,
    Request,
};
use crate::types::law_to_raw;
use crate::{Error, Event, Flush, Hook, Result};
use bitflags::bitflags;
use g711::Law;
use libc::c_int;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

mod control;
mod line;

pub use control::Control;

/// The generic channel device: open it, then bind a channel with `DAHDI_SPECIFY`.
pub const CHANNEL_DEVICE: &str = "/dev/dahdi/channel";
/// The control device (span status, version, configuration).
pub const CTL_DEVICE: &str = "/dev/dahdi/ctl";

/// Whether reads and writes on a handle block (`O_NONBLOCK` or not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoMode {
    /// `read`/`write` wait for data or buffer space.
    Blocking,
    /// `read`/`write` return [`ReadOutcome::WouldBlock`]/[`WriteOutcome::WouldBlock`]; use
    /// with `poll(2)`/epoll on [`AsRawFd::as_raw_fd`] (`POLLIN|POLLOUT|POLLPRI`).
    NonBlocking,
}

bitflags! {
    /// Readiness of a channel as `poll(2)` reports it. DAHDI signals a queued event with
    /// `POLLPRI` ([`Readiness::EVENT`]).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Readiness: u32 {
        /// `POLLIN`: a block or frame can be read.
        const READABLE = 1;
        /// `POLLOUT`: a write buffer is free.
        const WRITABLE = 1 << 1;
        /// `POLLPRI`: an event is queued; fetch it with [`Channel::get_event`].
        const EVENT = 1 << 2;
        /// `POLLERR`.
        const ERROR = 1 << 3;
        /// `POLLHUP`: the device is gone.
        const HANGUP = 1 << 4;
    }
}

const POLL_MAP: [(Readiness, PollFlags); 5] = [
    (Readiness::READABLE, PollFlags::POLLIN),
    (Readiness::WRITABLE, PollFlags::POLLOUT),
    (Readiness::EVENT, PollFlags::POLLPRI),
    (Readiness::ERROR, PollFlags::POLLERR),
    (Readiness::HANGUP, PollFlags::POLLHUP),
];

fn open_device(path: &Path, mode: IoMode) -> Result<OwnedFd> {
    let flags = match mode {
        IoMode::Blocking => 0,
        IoMode::NonBlocking => libc::O_NONBLOCK,
    };
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| Error::Open {
            path: path.to_path_buf(),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })
}

/// `ioctl(fd, req, arg)` for a request whose argument is one `T`.
///
/// Panics if `req` does not encode `size_of::<T>()` (a bug in this crate, not a runtime
/// condition).
fn ioctl_arg<T: Pod>(
    fd: BorrowedFd<'_>,
    name: &'static str,
    req: Request,
    arg: &mut T,
) -> Result<()> {
    assert_eq!(
        sys::ioc_size(req),
        size_of::<T>(),
        "{name}: argument type does not match the request"
    );
    // SAFETY: `arg` is a valid, exclusively borrowed `T` for the duration of the call, any bit
    // pattern the kernel writes is a valid `T` (`T: Pod`), and the request encodes
    // `size_of::<T>()`: DAHDI copies at most that many octets from or to the
    // pointer for every request this crate issues through here (dahdi-base.c uses
    // get_user/put_user of an int or copy_from_user/copy_to_user of sizeof(struct)).
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req, arg as *mut T) };
    if rc < 0 {
        Err(Error::ioctl(name, Errno::last()))
    } else {
        Ok(())
    }
}

fn set_int(fd: BorrowedFd<'_>, name: &'static str, req: Request, value: c_int) -> Result<()> {
    let mut v = value;
    ioctl_arg(fd, name, req, &mut v)
}

fn get_int(fd: BorrowedFd<'_>, name: &'static str, req: Request) -> Result<c_int> {
    let mut v: c_int = 0;
    ioctl_arg(fd, name, req, &mut v)?;
    Ok(v)
}

fn get_struct<T: Pod>(fd: BorrowedFd<'_>, name: &'static str, req: Request, init: T) -> Result<T> {
    let mut v = init;
    ioctl_arg(fd, name, req, &mut v)?;
    Ok(v)
}

fn span_status(fd: BorrowedFd<'_>, spanno: c_int) -> Result<DahdiSpanInfo> {
    get_struct(
        fd,
        "DAHDI_SPANSTAT",
        sys::DAHDI_SPANSTAT,
        DahdiSpanInfo::query(spanno),
    )
}

fn on_off(on: bool) -> c_int {
    c_int::from(on)
}

/// One DAHDI channel: a file descriptor bound to a channel number.
///
/// Poll it for `POLLIN|POLLPRI` (and `POLLOUT` when writing); `POLLPRI` means an event is
/// queued. While an event is queued DAHDI refuses reads and writes with `ELAST`:
/// [`Channel::read`] and friends then fetch the event and return it as
/// [`ReadOutcome::Event`]/[`WriteOutcome::Event`], never as an error.
///
/// Closing (dropping) the handle undoes the per-open settings (law, linear, buffer events).
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// Opens [`CHANNEL_DEVICE`] and binds it to channel `channo` with `DAHDI_SPECIFY`, as
    /// chan_dahdi does (numbered /dev/dahdi/N nodes may not exist).
    ///
    /// Errors: [`Error::Open`] (no DAHDI, no permission), [`Error::Ioctl`] with `EINVAL` for a
    /// channel that does not exist, `EBUSY` if another process holds it exclusively.
    pub fn open(channo: c_int, mode: IoMode) -> Result<Channel> {
        let ch = Channel::open_path(CHANNEL_DEVICE, mode)?;
        ch.specify(channo)?;
        Ok(ch)
    }

    /// Opens `path` as it is, without `DAHDI_SPECIFY`: a numbered channel node
    /// (`/dev/dahdi/N`), the pseudo device, or any file in tests.
    pub fn open_path(path: impl AsRef<Path>, mode: IoMode) -> Result<Channel> {
        open_device(path.as_ref(), mode).map(|fd| Channel { fd })
    }

    /// Wraps an already open DAHDI file descriptor.
    pub fn from_fd(fd: OwnedFd) -> Channel {
        Channel { fd }
    }

    /// dahdi/user.h `DAHDI_SPECIFY`: binds a fd opened on [`CHANNEL_DEVICE`] to channel
    /// `channo`; must be the first ioctl on it.
    pub fn specify(&self, channo: c_int) -> Result<()> {
        set_int(self.fd.as_fd(), "DAHDI_SPECIFY", sys::DAHDI_SPECIFY, channo)
    }

    /// dahdi/user.h `DAHDI_CHANNO`: the bound channel's number.
    pub fn channo(&self) -> Result<c_int> {
        get_int(self.fd.as_fd(), "DAHDI_CHANNO", sys::DAHDI_CHANNO)
    }

    /// dahdi/user.h `DAHDI_GET_PARAMS`: the channel's parameters (signalling, law, name, ...).
    pub fn params(&self) -> Result<DahdiParams> {
        get_struct(
            self.fd.as_fd(),
            "DAHDI_GET_PARAMS",
            sys::DAHDI_GET_PARAMS,
            DahdiParams::default(),
        )
    }

    /// dahdi/user.h `DAHDI_SET_PARAMS`: sets the timing fields (ms) of `params`; the
    /// read-only fields are ignored by the kernel. Start from [`Channel::params`].
    pub fn set_params(&self, params: &DahdiParams) -> Result<()> {
        let mut p = *params;
        ioctl_arg(
            self.fd.as_fd(),
            "DAHDI_SET_PARAMS",
            sys::DAHDI_SET_PARAMS,
            &mut p,
        )
    }

    /// dahdi/user.h `DAHDI_GET_BLOCKSIZE`: octets (= samples in a companded law) per
    /// read/write block.
    pub fn blocksize(&self) -> Result<c_int> {
        get_int(
            self.fd.as_fd(),
            "DAHDI_GET_BLOCKSIZE",
            sys::DAHDI_GET_BLOCKSIZE,
        )
    }

    /// dahdi/user.h `DAHDI_SET_BLOCKSIZE`: sets the block size (16..=8192 octets; 160 = 20 ms
    /// of G.711). A read shorter than the block silently drops the rest of the block.
    pub fn set_blocksize(&self, octets: c_int) -> Result<()> {
        set_int(
            self.fd.as_fd(),
            "DAHDI_SET_BLOCKSIZE",
            sys::DAHDI_SET_BLOCKSIZE,
            octets,
        )
    }

    /// dahdi/user.h `DAHDI_GET_BUFINFO`: buffer policy and sizes.
    pub fn bufinfo(&self) -> Result<DahdiBufferInfo> {
        get_struct(
            self.fd.as_fd(),
            "DAHDI_GET_BUFINFO",
            sys::DAHDI_GET_BUFINFO,
            DahdiBufferInfo::default(),
        )
    }

    /// dahdi/user.h `DAHDI_SET_BUFINFO`: sets buffer policy, count and size (see
    /// [`DahdiBufferInfo::new`]). D-channels: IMMEDIATE/IMMEDIATE, 32 x 1024 (as chan_dahdi).
    pub fn set_bufinfo(&self, info: &DahdiBufferInfo) -> Result<()> {
        let mut i = *info;
        ioctl_arg(
            self.fd.as_fd(),
            "DAHDI_SET_BUFINFO",
            sys::DAHDI_SET_BUFINFO,
            &mut i,
        )
    }

    /// dahdi/user.h `DAHDI_FLUSH`: discards buffered data and/or queued events.
    pub fn flush(&self, what: Flush) -> Result<()> {
        set_int(
            self.fd.as_fd(),
            "DAHDI_FLUSH",
            sys::DAHDI_FLUSH,
            what.bits() as c_int,
        )
    }

    /// dahdi/user.h `DAHDI_HOOK`: hook operation; on an FXS port [`Hook::Ring`] starts ringing
    /// with the channel's cadence and [`Hook::RingOff`]/[`Hook::OnHook`] stops it.
    ///
    /// `EINPROGRESS` (a non-blocking channel starting a timed operation) counts as success.
    pub fn hook(&self, op: Hook) -> Result<()> {
        match set_int(self.fd.as_fd(), "DAHDI_HOOK", sys::DAHDI_HOOK, op.to_raw()) {
            Err(Error::Ioctl {
                errno: Errno::EINPROGRESS,
                ..
            }) => Ok(()),
            other => other,
        }
    }

    /// dahdi/user.h `DAHDI_GETEVENT`: takes the oldest queued event, `None` if the queue is
    /// empty.
    pub fn get_event(&self) -> Result<Option<Event>> {
        get_int(self.fd.as_fd(), "DAHDI_GETEVENT", sys::DAHDI_GETEVENT).map(Event::from_raw)
    }

    /// Waits up to `timeout` (`None`: forever) until the channel is ready for any of
    /// `interest` (use [`Readiness::EVENT`] for events); returns what is ready, empty on
    /// timeout. `ERROR` and `HANGUP` are always reported.
    pub fn poll(&self, interest: Readiness, timeout: Option<Duration>) -> Result<Readiness> {
        let mut events = PollFlags::empty();
        for (r, p) in POLL_MAP {
            if interest.contains(r) {
                events |= p;
            }
        }
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
        };
        let mut fds = [PollFd::new(self.fd.as_fd(), events)];
        loop {
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Error::Io {
                        op: "poll",
                        errno: e as i32,
                    })
                }
            }
        }
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        Ok(POLL_MAP
            .iter()
            .filter(|(_, p)| revents.contains(*p))
            .fold(Readiness::empty(), |acc, (r, _)| acc | *r))
    }

    /// Reads one block of audio (or whatever the channel carries) into `buf`.
    /// An event pending is returned as [`ReadOutcome::Event`] (`ELAST` convention).
    pub fn read(&self, buf: &mut [u8]) -> Result<ReadOutcome> {
        io::read(self, buf)
    }

    /// Writes one block (at most the block size is taken).
    /// An event pending is returned as [`WriteOutcome::Event`] and nothing is written.
    pub fn write(&self, buf: &[u8]) -> Result<WriteOutcome> {
        io::write(self, buf)
    }

    /// Reads one HDLC frame (D-channel, `DAHDI_SIG_HDLCFCS`/`HARDHDLC`) into `buf` and returns
    /// its length without the 2 FCS octets DAHDI appends. `buf` needs room for the frame plus
    /// 2 octets, else DAHDI drops the tail. Frames with a bad FCS never arrive (they show up
    /// as [`Event::BadFcs`]).
    pub fn read_frame(&self, buf: &mut [u8]) -> Result<ReadOutcome> {
        io::read_frame(self, buf)
    }

    /// Writes one HDLC frame (at most [`crate::MAX_FRAME_LEN`] octets) followed by the 2
    /// placeholder octets DAHDI replaces with the FCS, in one `write(2)`.
    /// [`WriteOutcome::Written`] counts the frame's octets.
    pub fn write_frame(&self, frame: &[u8]) -> Result<WriteOutcome> {
        io::write_frame(self, frame)
    }

    /// dahdi/user.h `DAHDI_SPANSTAT` with `spanno = 0`: the status of this channel's span.
    pub fn span_status(&self) -> Result<DahdiSpanInfo> {
        span_status(self.fd.as_fd(), 0)
    }

    /// dahdi/user.h `DAHDI_SETLAW`: companding law of reads/writes until close; `None` is
    /// `DAHDI_LAW_DEFAULT`, the span's default law.
    pub fn set_law(&self, law: Option<Law>) -> Result<()> {
        set_int(
            self.fd.as_fd(),
            "DAHDI_SETLAW",
            sys::DAHDI_SETLAW,
            law_to_raw(law),
        )
    }

    /// dahdi/user.h `DAHDI_SETLINEAR`: `true` = 16-bit signed linear samples (2 octets per
    /// sample) instead of the law; audio channels only (`EINVAL` otherwise).
    pub fn set_linear(&self, linear: bool) -> Result<()> {
        set_int(
            self.fd.as_fd(),
            "DAHDI_SETLINEAR",
            sys::DAHDI_SETLINEAR,
            on_off(linear),
        )
    }

    /// dahdi/user.h `DAHDI_AUDIOMODE`: switch a clear channel to audio (`true`) or back.
    /// `EINVAL` unless the sigtype is `DAHDI_SIG_CLEAR`.
    pub fn audio_mode(&self, audio: bool) -> Result<()> {
        set_int(
            self.fd.as_fd(),
            "DAHDI_AUDIOMODE",
            sys::DAHDI_AUDIOMODE,
            on_off(audio),
        )
    }

    /// dahdi/user.h `DAHDI_HDLCFCSMODE`: switch a clear channel to HDLC with kernel FCS
    /// (`true`) or back. `EINVAL` unless the sigtype is `DAHDI_SIG_CLEAR`.
    pub fn hdlc_fcs_mode(&self, on: bool) -> Result<()> {
        set_int(
            self.fd.as_fd(),
            "DAHDI_HDLCFCSMODE",
            sys::DAHDI_HDLCFCSMODE,
            on_off(on),
        )
    }

    /// dahdi/user.h `DAHDI_BUFFER_EVENTS`: enable (`true`) [`Event::ReadOverrun`] and
    /// [`Event::WriteUnderrun`].
    pub fn buffer_events(&self, on: bool) -> Result<()> {
        set_int(
            self.fd.as_fd(),
            "DAHDI_BUFFER_EVENTS",
            sys::DAHDI_BUFFER_EVENTS,
            on_off(on),
        )
    }

    /// dahdi/user.h `DAHDI_ECHOCANCEL_PARAMS`: attach/configure the echo canceller with a tail
    /// of `tap_length` taps (8 per ms; 0 = off) and up to 8 named `params`. Audio channels
    /// only (`EINVAL` otherwise).
    pub fn echocancel_params(&self, tap_length: u32, params: &[DahdiEchoCanParam]) -> Result<()> {
        if params.len() > sys::DAHDI_MAX_ECHOCANPARAMS {
            return Err(Error::InvalidArgument {
                what: "at most 8 echo canceller parameters",
            });
        }
        // The kernel reads the header, then `param_count` parameters right after it; a repr(C)
        // struct with a full array keeps them contiguous and aligned.
        #[repr(C)]
        struct EcRequest {
            header: DahdiEchoCanParams,
            params: [DahdiEchoCanParam; sys::DAHDI_MAX_ECHOCANPARAMS],
        }
        let mut req = EcRequest {
            header: DahdiEchoCanParams {
                tap_length,
                param_count: params.len() as u32,
            },
            params: [DahdiEchoCanParam::default(); sys::DAHDI_MAX_ECHOCANPARAMS],
        };
        req.params[..params.len()].copy_from_slice(params);
        // SAFETY: `req` starts with the `dahdi_echocanparams` header the request encodes,
        // followed without padding (both are 4-aligned with sizes multiple of 4) by
        // `param_count` <= 8 initialised `dahdi_echocanparam`; dahdi-base.c reads exactly the
        // header and then `param_count` entries (it rejects more than
        // DAHDI_MAX_ECHOCANPARAMS), all inside `req`, which outlives the call.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                sys::DAHDI_ECHOCANCEL_PARAMS,
                &mut req as *mut EcRequest,
            )
        };
        if rc < 0 {
            Err(Error::ioctl("DAHDI_ECHOCANCEL_PARAMS", Errno::last()))
        } else {
            Ok(())
        }
    }
}

impl RawIo for Channel {
    fn raw_read(&self, buf: &mut [u8]) -> std::result::Result<usize, c_int> {
        nix::unistd::read(self.fd.as_raw_fd(), buf).map_err(|_| Errno::last_raw())
    }

    fn raw_write(&self, buf: &[u8]) -> std::result::Result<usize, c_int> {
        nix::unistd::write(&self.fd, buf).map_err(|_| Errno::last_raw())
    }

    fn next_event(&self) -> Result<Option<Event>> {
        self.get_event()
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<Channel> for OwnedFd {
    fn from(ch: Channel) -> OwnedFd {
        ch.fd
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{DahdiToneDef, DahdiToneDefHeader};
    use crate::{Polarity, VmwiType};
    use std::io::Write as _;

    /// /dev/null answers every ioctl with ENOTTY, like a DAHDI channel whose driver lacks a
    /// card-only ioctl.
    fn null_channel() -> Channel {
        Channel::open_path("/dev/null", IoMode::NonBlocking).expect("open /dev/null")
    }

    #[test]
    fn enotty_maps_to_unsupported() {
        let ch = null_channel();
        let cases: [(&str, Result<()>); 5] = [
            ("DAHDI_VMWI", ch.vmwi(3)),
            ("DAHDI_VMWI_CONFIG", ch.vmwi_config(VmwiType::HVDC)),
            ("DAHDI_ONHOOKTRANSFER", ch.onhook_transfer(3000)),
            ("DAHDI_SETPOLARITY", ch.set_polarity(Polarity::Reverse)),
            (
                "DAHDI_ECHOCANCEL_PARAMS",
                ch.echocancel_params(128, &[DahdiEchoCanParam::new("x", 1).unwrap()]),
            ),
        ];
        for (name, r) in cases {
            match r {
                Err(Error::Unsupported { ioctl }) => assert_eq!(ioctl, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        let ctl = Control::open_path("/dev/null").expect("open /dev/null");
        let h = DahdiToneDefHeader::new(0, "x", &[]).unwrap();
        assert!(matches!(
            ctl.load_zone(&h, &[DahdiToneDef::default(); 2]),
            Err(Error::Unsupported {
                ioctl: "DAHDI_LOADZONE"
            })
        ));
        assert!(matches!(
            ch.set_cadence(None),
            Err(Error::Unsupported {
                ioctl: "DAHDI_SETCADENCE"
            })
        ));
        assert!(matches!(
            ch.params(),
            Err(Error::Unsupported {
                ioctl: "DAHDI_GET_PARAMS"
            })
        ));
    }

    #[test]
    fn missing_device_is_open_error() {
        let e = Channel::open_path("/nonexistent/dahdi/channel", IoMode::Blocking).unwrap_err();
        match e {
            Error::Open { errno, .. } => assert_eq!(errno, Errno::ENOENT),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn data_path_on_a_pipe() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).expect("pipe");
        let reader = Channel::from_fd(r);
        let mut wf = std::fs::File::from(w);
        let mut buf = [0u8; 8];
        assert_eq!(reader.read(&mut buf).unwrap(), ReadOutcome::WouldBlock);
        assert_eq!(
            reader
                .poll(Readiness::READABLE | Readiness::EVENT, Some(Duration::ZERO))
                .unwrap(),
            Readiness::empty()
        );
        wf.write_all(&[1, 2, 3, 0xA, 0xB]).unwrap();
        assert_eq!(
            reader
                .poll(Readiness::READABLE, Some(Duration::from_secs(1)))
                .unwrap(),
            Readiness::READABLE
        );
        assert_eq!(reader.read_frame(&mut buf).unwrap(), ReadOutcome::Data(3));
        assert_eq!(&buf[..3], &[1, 2, 3]);
    }
}
