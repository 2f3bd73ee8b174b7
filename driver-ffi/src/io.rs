//! The data path conventions of a DAHDI channel, separated from the file descriptor so that
//! they can be tested without a kernel:
//! - `read(2)`/`write(2)` fail with `ELAST` while an event is queued: fetch it with
//!   `DAHDI_GETEVENT` and hand it to the caller instead of an error (dahdi-base.c
//!   `dahdi_chan_read`/`dahdi_chan_write`).
//! - HDLC channels with kernel FCS deliver each frame followed by its 2 FCS octets, and expect
//!   each written frame to be followed by 2 placeholder octets that the kernel overwrites with
//!   the FCS.

use crate::{sys, Error, Event, Result};
use libc::c_int;

/// Bytes of the HDLC frame check sequence (CRC-16) that DAHDI appends.
pub(crate) const FCS_LEN: usize = 2;

/// Longest HDLC frame (octets, without FCS) [`crate::Channel::write_frame`] accepts:
/// `DAHDI_DEFAULT_MTU_MRU` minus the FCS. The kernel also cuts frames to the channel's block
/// size (`dahdi_bufferinfo.bufsize`), which a D-channel sets to 1024 octets.
pub const MAX_FRAME_LEN: usize = sys::DAHDI_DEFAULT_MTU_MRU as usize - FCS_LEN;

/// What a read returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many octets were read into the buffer (for HDLC frames: the frame without FCS).
    Data(usize),
    /// The read was refused because an event was pending (`ELAST`); here it is, already
    /// taken off the queue with `DAHDI_GETEVENT`. Read again for data.
    Event(Event),
    /// Non-blocking channel and nothing to read (`EAGAIN`).
    WouldBlock,
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// This many octets were accepted (for HDLC frames: the whole frame, without FCS).
    Written(usize),
    /// Nothing was written because an event was pending (`ELAST`); here it is, taken off the
    /// queue with `DAHDI_GETEVENT`. Write again.
    Event(Event),
    /// Non-blocking channel and no free buffer (`EAGAIN`).
    WouldBlock,
}

/// The raw system calls a channel data path needs. Errors are raw errno values because
/// DAHDI's `ELAST` (500) is not a Linux errno.
pub(crate) trait RawIo {
    fn raw_read(&self, buf: &mut [u8]) -> std::result::Result<usize, c_int>;
    fn raw_write(&self, buf: &[u8]) -> std::result::Result<usize, c_int>;
    /// `DAHDI_GETEVENT`.
    fn next_event(&self) -> Result<Option<Event>>;
}

enum Step<T> {
    Done(T),
    Event(Event),
    WouldBlock,
}

/// Runs one system call, retrying on `EINTR`, and turns `ELAST` into the pending event.
fn step<R: RawIo + ?Sized, T>(
    io: &R,
    op: &'static str,
    mut call: impl FnMut() -> std::result::Result<T, c_int>,
) -> Result<Step<T>> {
    loop {
        match call() {
            Ok(v) => return Ok(Step::Done(v)),
            Err(libc::EINTR) => continue,
            Err(libc::EAGAIN) => return Ok(Step::WouldBlock),
            Err(sys::ELAST) => match io.next_event()? {
                Some(ev) => return Ok(Step::Event(ev)),
                // Another reader of the same fd took the event: the call may proceed now.
                None => continue,
            },
            Err(errno) => return Err(Error::Io { op, errno }),
        }
    }
}

pub(crate) fn read<R: RawIo + ?Sized>(io: &R, buf: &mut [u8]) -> Result<ReadOutcome> {
    Ok(match step(io, "read", || io.raw_read(buf))? {
        Step::Done(n) => ReadOutcome::Data(n),
        Step::Event(ev) => ReadOutcome::Event(ev),
        Step::WouldBlock => ReadOutcome::WouldBlock,
    })
}

pub(crate) fn write<R: RawIo + ?Sized>(io: &R, buf: &[u8]) -> Result<WriteOutcome> {
    Ok(match step(io, "write", || io.raw_write(buf))? {
        Step::Done(n) => WriteOutcome::Written(n),
        Step::Event(ev) => WriteOutcome::Event(ev),
        Step::WouldBlock => WriteOutcome::WouldBlock,
    })
}

pub(crate) fn read_frame<R: RawIo + ?Sized>(io: &R, buf: &mut [u8]) -> Result<ReadOutcome> {
    match read(io, buf)? {
        ReadOutcome::Data(n) if n < FCS_LEN => Err(Error::ShortFrame { len: n }),
        ReadOutcome::Data(n) => Ok(ReadOutcome::Data(n - FCS_LEN)),
        other => Ok(other),
    }
}

pub(crate) fn write_frame<R: RawIo + ?Sized>(io: &R, frame: &[u8]) -> Result<WriteOutcome> {
    if frame.len() > MAX_FRAME_LEN {
        return Err(Error::FrameTooLong { len: frame.len() });
    }
    // One write(2) per frame: the kernel treats each write as a whole frame, so the frame
    // and its FCS placeholder must be contiguous.
    let mut out = [0u8; MAX_FRAME_LEN + FCS_LEN];
    let total = frame.len() + FCS_LEN;
    out[..frame.len()].copy_from_slice(frame);
    match write(io, &out[..total])? {
        WriteOutcome::Written(n) if n == total => Ok(WriteOutcome::Written(frame.len())),
        // The kernel cut the frame to the channel's block size.
        WriteOutcome::Written(_) => Err(Error::FrameTooLong { len: frame.len() }),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// A scripted channel: each read/write pops the next result; events come from a queue.
    #[derive(Default)]
    struct Mock {
        reads: RefCell<VecDeque<std::result::Result<Vec<u8>, c_int>>>,
        writes: RefCell<VecDeque<std::result::Result<Option<usize>, c_int>>>,
        written: RefCell<Vec<Vec<u8>>>,
        events: RefCell<VecDeque<c_int>>,
    }

    impl RawIo for Mock {
        fn raw_read(&self, buf: &mut [u8]) -> std::result::Result<usize, c_int> {
            let data = self
                .reads
                .borrow_mut()
                .pop_front()
                .expect("unexpected read")?;
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            Ok(n)
        }
        fn raw_write(&self, buf: &[u8]) -> std::result::Result<usize, c_int> {
            let r = self
                .writes
                .borrow_mut()
                .pop_front()
                .expect("unexpected write")?;
            self.written.borrow_mut().push(buf.to_vec());
            Ok(r.unwrap_or(buf.len()))
        }
        fn next_event(&self) -> Result<Option<Event>> {
            Ok(self
                .events
                .borrow_mut()
                .pop_front()
                .and_then(Event::from_raw))
        }
    }

    #[test]
    fn elast_on_read_becomes_the_event() {
        let m = Mock::default();
        m.reads
            .borrow_mut()
            .extend([Err(sys::ELAST), Ok(vec![1, 2, 3])]);
        m.events
            .borrow_mut()
            .push_back(sys::DAHDI_EVENT_RINGOFFHOOK);
        let mut buf = [0u8; 8];
        assert_eq!(
            read(&m, &mut buf).unwrap(),
            ReadOutcome::Event(Event::RingOffHook)
        );
        assert_eq!(read(&m, &mut buf).unwrap(), ReadOutcome::Data(3));
        assert_eq!(&buf[..3], &[1, 2, 3]);
    }

    #[test]
    fn elast_with_event_already_taken_retries() {
        let m = Mock::default();
        m.reads.borrow_mut().extend([Err(sys::ELAST), Ok(vec![9])]);
        let mut buf = [0u8; 4];
        assert_eq!(read(&m, &mut buf).unwrap(), ReadOutcome::Data(1));
    }

    #[test]
    fn elast_on_write_becomes_the_event() {
        let m = Mock::default();
        m.writes.borrow_mut().push_back(Err(sys::ELAST));
        m.events.borrow_mut().push_back(sys::DAHDI_EVENT_ONHOOK);
        assert_eq!(
            write(&m, &[0x7f; 160]).unwrap(),
            WriteOutcome::Event(Event::OnHook)
        );
        assert!(m.written.borrow().is_empty());
    }

    #[test]
    fn eintr_retries_eagain_would_block_others_fail() {
        let m = Mock::default();
        m.reads.borrow_mut().extend([
            Err(libc::EINTR),
            Ok(vec![5]),
            Err(libc::EAGAIN),
            Err(libc::EIO),
        ]);
        let mut buf = [0u8; 4];
        assert_eq!(read(&m, &mut buf).unwrap(), ReadOutcome::Data(1));
        assert_eq!(read(&m, &mut buf).unwrap(), ReadOutcome::WouldBlock);
        let e = read(&m, &mut buf).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Io {
                    op: "read",
                    errno: libc::EIO
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn frame_read_strips_fcs() {
        let m = Mock::default();
        m.reads
            .borrow_mut()
            .extend([Ok(vec![0x02, 0x01, 0x7f, 0xAA, 0xBB]), Ok(vec![0x55])]);
        let mut buf = [0u8; 16];
        assert_eq!(read_frame(&m, &mut buf).unwrap(), ReadOutcome::Data(3));
        assert_eq!(&buf[..3], &[0x02, 0x01, 0x7f]);
        assert!(matches!(
            read_frame(&m, &mut buf),
            Err(Error::ShortFrame { len: 1 })
        ));
    }

    #[test]
    fn frame_read_passes_events_through() {
        let m = Mock::default();
        m.reads.borrow_mut().push_back(Err(sys::ELAST));
        m.events.borrow_mut().push_back(sys::DAHDI_EVENT_ALARM);
        let mut buf = [0u8; 16];
        assert_eq!(
            read_frame(&m, &mut buf).unwrap(),
            ReadOutcome::Event(Event::Alarm)
        );
    }

    #[test]
    fn frame_write_appends_two_placeholder_octets() {
        let m = Mock::default();
        m.writes.borrow_mut().push_back(Ok(None));
        assert_eq!(
            write_frame(&m, &[0x00, 0x01, 0x7f]).unwrap(),
            WriteOutcome::Written(3)
        );
        assert_eq!(m.written.borrow()[0], vec![0x00, 0x01, 0x7f, 0, 0]);
    }

    #[test]
    fn frame_write_limits() {
        let m = Mock::default();
        assert!(matches!(
            write_frame(&m, &[0u8; MAX_FRAME_LEN + 1]),
            Err(Error::FrameTooLong { .. })
        ));
        m.writes.borrow_mut().extend([Ok(Some(1024)), Ok(None)]);
        assert!(matches!(
            write_frame(&m, &[1u8; 1500]),
            Err(Error::FrameTooLong { len: 1500 })
        ));
        assert_eq!(
            write_frame(&m, &[1u8; MAX_FRAME_LEN]).unwrap(),
            WriteOutcome::Written(MAX_FRAME_LEN)
        );
    }
}
