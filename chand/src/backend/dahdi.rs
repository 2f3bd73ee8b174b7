//! The DAHDI back-end (`[dahdi] backend = "kernel"`): real DAHDI channels through `driver-ffi`.
//!
//! Each channel is opened non-blocking on `/dev/dahdi/channel` and bound with `DAHDI_SPECIFY`.
//! DAHDI reports data with `POLLIN` but events (hook changes, alarms) only with `POLLPRI`, while
//! the event loop registers the channel's fd for readability: so the fd a channel exposes is an
//! epoll fd that watches the DAHDI fd for `EPOLLIN | EPOLLPRI` and reads as readable when
//! either is ready.
//!
//! - FXS port (`[[fxs]]`): the channel must be FXO-signalled (`fxoks=`/`fxols=`/`fxogs=` in
//!   system.conf: `DAHDI_SIG_FXOKS`/`FXOLS`/`FXOGS`). Set up with 160-octet blocks (20 ms),
//!   `DAHDI_POLICY_IMMEDIATE` with 4 buffers (80 ms of slack), the port's law, buffer events on,
//!   and `DAHDI_VMWI_CONFIG` for `lrev`/`hvdc`/`neon`. Audio from the phone is read and dropped
//!   (chand only sends audio); a phone off-hook at open time is reported as the first event.
//! - D-channel (`[[pri]] dchannel`): must be `DAHDI_SIG_HDLCFCS` (`dchan=`) or
//!   `DAHDI_SIG_HARDHDLC` (`hardhdlc=`). Set up as chan_dahdi does: `DAHDI_SPANSTAT` for the
//!   initial alarms (no alarm: [`DChannelEvent::LinkUp`] first), `DAHDI_SET_BUFINFO`
//!   IMMEDIATE/IMMEDIATE with 32 buffers of 1024 octets. `DAHDI_EVENT_ALARM`/`NOALARM` are
//!   link down/up; frames are read and written without their FCS (the kernel checks and adds
//!   it).
//! - B-channel of a span with `[pri.calls]` ([`DahdiBChannel`]): a clear channel (`bchan=`)
//!   switched to audio, 160-octet blocks in the span's law.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, RawFd};

use driver_ffi::{
    BufPolicy, Channel, DahdiBufferInfo, DahdiRingCadence, Event, Flush, Hook, IoMode, ReadOutcome,
    VmwiType, WriteOutcome, MAX_FRAME_LEN,
};
use mwi_config as config;
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};

use fxs::{Block, Law, LineEvent, VmwiMode, BLOCK_SAMPLES};

use crate::backend::{
    BChannel, Backend, BackendError, DChannel, DChannelEvent, FxsChannel, RingCommand,
};

mod bchan;
pub use bchan::DahdiBChannel;

/// Octets per read/write block of an FXS port: 160 samples of G.711 = 20 ms.
const FXS_BLOCKSIZE: i32 = BLOCK_SAMPLES as i32;
/// Buffers of an FXS port: enough slack for a late event loop, little added delay.
const FXS_NUMBUFS: i32 = 4;
/// Buffers of a D-channel and their size, octets (chan_dahdi: 32 x 1024, IMMEDIATE/IMMEDIATE).
const DCHAN_NUMBUFS: i32 = 32;
const DCHAN_BUFSIZE: i32 = 1024;

impl From<driver_ffi::Error> for BackendError {
    fn from(e: driver_ffi::Error) -> Self {
        match e {
            driver_ffi::Error::Unsupported { ioctl } => BackendError::Unsupported { what: ioctl },
            other => BackendError::Driver(Box::new(other)),
        }
    }
}

fn setup_error(channel: u32, what: String) -> BackendError {
    BackendError::Driver(format!("DAHDI channel {channel}: {what}").into())
}

/// Names the channel in an error of its setup.
fn at(channel: u32) -> impl Fn(driver_ffi::Error) -> BackendError {
    move |e| setup_error(channel, e.to_string())
}

/// The audio set-up an FXS port and a B-channel share: blocks of [`FXS_BLOCKSIZE`] octets
/// (20 ms), [`FXS_NUMBUFS`] buffers each way with the immediate policy, `law` (DAHDI_SETLAW),
/// and events in the read buffers (DAHDI_SET_BLOCKSIZE, DAHDI_SET_BUFINFO, DAHDI_BUFFER_EVENTS,
/// dahdi/user.h). Errors name `channel`.
fn set_audio(ch: &Channel, channel: u32, law: Law) -> Result<(), BackendError> {
    let at = at(channel);
    ch.set_blocksize(FXS_BLOCKSIZE).map_err(&at)?;
    ch.set_bufinfo(
        &DahdiBufferInfo::new(
            BufPolicy::Immediate,
            BufPolicy::Immediate,
            FXS_NUMBUFS,
            FXS_BLOCKSIZE,
        )
        .map_err(&at)?,
    )
    .map_err(&at)?;
    ch.set_law(Some(law)).map_err(&at)?;
    ch.buffer_events(true).map_err(&at)
}

/// The DAHDI back-end. Holds nothing: every channel is its own file descriptor.
#[derive(Debug, Default)]
pub struct DahdiBackend;

impl Backend for DahdiBackend {
    fn open_fxs(&mut self, port: &config::Fxs) -> Result<Box<dyn FxsChannel>, BackendError> {
        Ok(Box::new(DahdiFxs::open(port)?))
    }

    fn open_bchannel(
        &mut self,
        channel: u32,
        law: fxs::Law,
    ) -> Result<Box<dyn BChannel>, BackendError> {
        Ok(Box::new(DahdiBChannel::open(channel, law)?))
    }

    fn open_dchannel(&mut self, pri: &config::Pri) -> Result<Box<dyn DChannel>, BackendError> {
        Ok(Box::new(DahdiDChannel::open(pri)?))
    }
}

/// The fd a channel exposes, and the events it holds back.
///
/// An epoll fd watches the DAHDI channel for data (`EPOLLIN`) and events (`EPOLLPRI`),
/// level-triggered, so that it reads as readable whenever the channel has either. It also
/// watches an eventfd that is armed while events wait in `held`: events taken off the kernel
/// queue by a refused write (`ELAST`), or made up at open time (initial off-hook, link up), so
/// that the event loop is woken for them too.
#[derive(Debug)]
struct Watch {
    epoll: Epoll,
    kick: EventFd,
    held: VecDeque<Event>,
}

impl Watch {
    fn new(ch: &Channel) -> Result<Watch, BackendError> {
        let io = |e: nix::errno::Errno| BackendError::Io(e.into());
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(io)?;
        let kick =
            EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).map_err(io)?;
        epoll
            .add(
                ch,
                EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLPRI, 0),
            )
            .map_err(io)?;
        epoll
            .add(&kick, EpollEvent::new(EpollFlags::EPOLLIN, 1))
            .map_err(io)?;
        Ok(Watch {
            epoll,
            kick,
            held: VecDeque::new(),
        })
    }

    /// Keep `ev` for the next `poll_event`, and make the fd readable until it is taken.
    fn hold(&mut self, ev: Event) -> Result<(), BackendError> {
        if self.held.is_empty() {
            self.kick.arm().map_err(|e| BackendError::Io(e.into()))?;
        }
        self.held.push_back(ev);
        Ok(())
    }

    /// The oldest held event.
    fn take(&mut self) -> Result<Option<Event>, BackendError> {
        let ev = self.held.pop_front();
        if ev.is_some() && self.held.is_empty() {
            match self.kick.read() {
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(BackendError::Io(e.into())),
            }
        }
        Ok(ev)
    }
}

/// Opens channel `channo` non-blocking and checks its signalling with `DAHDI_GET_PARAMS`.
fn open_checked(
    channo: u32,
    ok: impl Fn(driver_ffi::SigType) -> bool,
    want: &str,
) -> Result<(Channel, driver_ffi::DahdiParams), BackendError> {
    let n = i32::try_from(channo)
        .map_err(|_| setup_error(channo, "channel number out of range".into()))?;
    let ch = Channel::open(n, IoMode::NonBlocking).map_err(at(channo))?;
    let params = ch.params().map_err(at(channo))?;
    let sig = params.sig_type();
    if !ok(sig) {
        return Err(setup_error(
            channo,
            format!("signalling is {sig:?}, expected {want} (check /etc/dahdi/system.conf)"),
        ));
    }
    Ok((ch, params))
}

/// The one translation of a DAHDI event on an FXS port into the line core's event (as
/// Asterisk's `dahdievent_to_analogevent`); `None` for events the line has no use for
/// (dahdi/user.h `DAHDI_EVENT_*`: e.g. `DTMFUP`, `READ_OVERRUN`, alarms).
fn line_event(ev: Event) -> Option<LineEvent> {
    match ev {
        Event::RingOffHook => Some(LineEvent::OffHook),
        Event::OnHook => Some(LineEvent::OnHook),
        Event::WinkFlash => Some(LineEvent::Flash),
        Event::DtmfDown(d) | Event::PulseDigit(d) => Some(LineEvent::Digit(char::from(d))),
        Event::PulseStart => Some(LineEvent::PulseStart),
        Event::WriteUnderrun => Some(LineEvent::WriteUnderrun),
        _ => None,
    }
}

/// An FXS port on a DAHDI channel.
#[derive(Debug)]
pub struct DahdiFxs {
    channel: u32,
    ch: Channel,
    watch: Watch,
    /// Phone audio is read into this.
    rx: Vec<u8>,
    /// The phone's whole blocks not yet taken ([`FxsChannel::take_audio`]).
    audio_in: std::collections::VecDeque<Block>,
}

/// Blocks of the phone's audio kept for [`FxsChannel::take_audio`] (100 ms).
const AUDIO_KEPT: usize = 5;

impl DahdiFxs {
    /// Opens and sets up the port of `[[fxs]]` `port` (see the module documentation).
    ///
    /// Errors: the channel cannot be opened or bound, is not FXO-signalled, or refuses a
    /// setting. A driver without `DAHDI_VMWI_CONFIG` is not an error: it is logged, and
    /// [`FxsChannel::set_vmwi`] then answers [`BackendError::Unsupported`].
    pub fn open(port: &config::Fxs) -> Result<DahdiFxs, BackendError> {
        let (ch, params) = open_checked(
            port.channel,
            driver_ffi::SigType::is_fxs_port,
            "FXOKS, FXOLS or FXOGS (an FXS port)",
        )?;
        let at = at(port.channel);
        set_audio(&ch, port.channel, port.law)?;
        let vmwi_type = match port.vmwi {
            VmwiMode::Lrev => Some(VmwiType::LREV),
            VmwiMode::Hvdc => Some(VmwiType::HVDC),
            VmwiMode::Neon => Some(VmwiType::HVAC),
            // FSK and RP-AS are audio that chand writes itself; no driver indicator.
            VmwiMode::None | VmwiMode::Fsk | VmwiMode::Rpas => None,
        };
        if let Some(kind) = vmwi_type {
            match ch.vmwi_config(kind) {
                Err(driver_ffi::Error::Unsupported { ioctl }) => log::warn!(
                    "DAHDI channel {}: {ioctl} is unsupported by this channel's driver: no {:?} lamp",
                    port.channel,
                    port.vmwi
                ),
                other => other.map_err(&at)?,
            }
        }
        let mut watch = Watch::new(&ch)?;
        if params.is_off_hook() {
            watch.hold(Event::RingOffHook)?;
        }
        Ok(DahdiFxs {
            channel: port.channel,
            ch,
            watch,
            rx: vec![0; BLOCK_SAMPLES],
            audio_in: std::collections::VecDeque::with_capacity(AUDIO_KEPT),
        })
    }

    /// The DAHDI channel number.
    pub fn channel(&self) -> u32 {
        self.channel
    }

    fn note_ignored(&self, ev: Event) {
        match ev {
            Event::Removed => log::error!("DAHDI channel {}: device removed", self.channel),
            Event::ReadOverrun => {
                log::trace!("DAHDI channel {}: {ev:?}", self.channel)
            }
            other => log::debug!("DAHDI channel {}: ignored {other:?}", self.channel),
        }
    }
}

impl AsRawFd for DahdiFxs {
    fn as_raw_fd(&self) -> RawFd {
        self.watch.epoll.0.as_raw_fd()
    }
}

impl FxsChannel for DahdiFxs {
    fn poll_event(&mut self) -> Result<Option<LineEvent>, BackendError> {
        loop {
            let ev = match self.watch.take()? {
                Some(ev) => ev,
                None => match self.ch.read(&mut self.rx)? {
                    ReadOutcome::Data(n) => {
                        if let Ok(block) = Block::try_from(&self.rx[..n.min(self.rx.len())]) {
                            if self.audio_in.len() == AUDIO_KEPT {
                                self.audio_in.pop_front();
                            }
                            self.audio_in.push_back(block);
                        }
                        continue;
                    }
                    ReadOutcome::Event(ev) => ev,
                    ReadOutcome::WouldBlock => return Ok(None),
                },
            };
            match line_event(ev) {
                Some(line) => return Ok(Some(line)),
                None => self.note_ignored(ev),
            }
        }
    }

    fn take_audio(&mut self) -> Option<Block> {
        self.audio_in.pop_front()
    }

    fn write_audio(&mut self, block: &Block) -> Result<bool, BackendError> {
        loop {
            match self.ch.write(block)? {
                WriteOutcome::Written(_) => return Ok(true),
                WriteOutcome::WouldBlock => return Ok(false),
                // The event is kept for poll_event; the write can go through now.
                WriteOutcome::Event(ev) => self.watch.hold(ev)?,
            }
        }
    }

    fn ring(&mut self, command: RingCommand) -> Result<(), BackendError> {
        self.ch.hook(match command {
            RingCommand::Ring => Hook::Ring,
            RingCommand::RingOff => Hook::RingOff,
        })?;
        Ok(())
    }

    fn set_vmwi(&mut self, messages: u32) -> Result<(), BackendError> {
        self.ch.vmwi(saturating_int(messages))?;
        Ok(())
    }

    fn flush_audio(&mut self) -> Result<(), BackendError> {
        self.ch.flush(Flush::WRITE)?;
        Ok(())
    }

    fn off_hook(&mut self) -> Result<bool, BackendError> {
        Ok(self.ch.params()?.is_off_hook())
    }

    fn set_cadence(&mut self, cadence: Option<&[u32]>) -> Result<(), BackendError> {
        let at = at(self.channel);
        match cadence {
            Some(ms) => {
                let ms: Vec<i32> = ms.iter().map(|&v| saturating_int(v)).collect();
                let c = DahdiRingCadence::new(&ms).map_err(&at)?;
                self.ch.set_cadence(Some(&c)).map_err(&at)?;
            }
            None => self.ch.set_cadence(None).map_err(&at)?,
        }
        Ok(())
    }

    fn onhook_transfer(&mut self, ms: u32) -> Result<(), BackendError> {
        self.ch.onhook_transfer(saturating_int(ms))?;
        Ok(())
    }

    fn echo_cancel(&mut self, taps: u32) -> Result<(), BackendError> {
        echo_cancel(&self.ch, taps)
    }
}

/// `DAHDI_ECHOCANCEL_PARAMS` with `taps` on `ch` (0 removes the canceller). dahdi-base.c answers
/// `EINVAL` or `ENODEV` when no echo canceller module serves the channel, `ENOTTY` where the
/// ioctl is unknown: all three mean [`BackendError::Unsupported`].
fn echo_cancel(ch: &Channel, taps: u32) -> Result<(), BackendError> {
    match ch.echocancel_params(taps, &[]) {
        Err(e) if matches!(e.errno(), Some(n) if n == Errno::EINVAL as i32 || n == Errno::ENODEV as i32) => {
            Err(BackendError::Unsupported {
                what: "DAHDI_ECHOCANCEL_PARAMS",
            })
        }
        r => Ok(r?),
    }
}

/// A count or duration (ms) as an `int` ioctl argument.
fn saturating_int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Layer 1 state of a D-channel as reported to the caller: DAHDI `ALARM`/`NOALARM` events
/// become [`DChannelEvent::LinkDown`]/[`DChannelEvent::LinkUp`], repeats are dropped.
#[derive(Debug, Default)]
struct Link {
    up: bool,
}

impl Link {
    /// The link change `ev` makes, if any; `Err(ev)` for events that are not about the link.
    fn apply(&mut self, ev: Event) -> Result<Option<DChannelEvent>, Event> {
        let up = match ev {
            Event::NoAlarm => true,
            Event::Alarm => false,
            other => return Err(other),
        };
        if up == self.up {
            return Ok(None);
        }
        self.up = up;
        Ok(Some(if up {
            DChannelEvent::LinkUp
        } else {
            DChannelEvent::LinkDown
        }))
    }
}

/// A PRI D-channel on a DAHDI HDLC channel.
#[derive(Debug)]
pub struct DahdiDChannel {
    channel: u32,
    ch: Channel,
    watch: Watch,
    link: Link,
    rx: Vec<u8>,
}

impl DahdiDChannel {
    /// Opens and sets up the D-channel of `[[pri]]` `pri` (see the module documentation).
    ///
    /// Errors: the channel cannot be opened or bound, is not an HDLC D-channel, or refuses a
    /// setting.
    pub fn open(pri: &config::Pri) -> Result<DahdiDChannel, BackendError> {
        let (ch, _) = open_checked(
            pri.dchannel,
            driver_ffi::SigType::is_dchannel,
            "HDLCFCS or HARDHDLC (dchan= or hardhdlc=)",
        )?;
        let at = at(pri.dchannel);
        let alarms = ch.span_status().map_err(&at)?.alarms();
        ch.set_bufinfo(
            &DahdiBufferInfo::new(
                BufPolicy::Immediate,
                BufPolicy::Immediate,
                DCHAN_NUMBUFS,
                DCHAN_BUFSIZE,
            )
            .map_err(&at)?,
        )
        .map_err(&at)?;
        let mut watch = Watch::new(&ch)?;
        // Any alarm bit means down, as in chan_dahdi (`if (si.alarms)`).
        if alarms.is_empty() {
            watch.hold(Event::NoAlarm)?;
        } else {
            log::info!(
                "DAHDI D-channel {}: span in alarm ({alarms:?}), link down",
                pri.dchannel
            );
        }
        Ok(DahdiDChannel {
            channel: pri.dchannel,
            ch,
            watch,
            link: Link::default(),
            rx: vec![0; MAX_FRAME_LEN + 2],
        })
    }

    /// The DAHDI channel number.
    pub fn channel(&self) -> u32 {
        self.channel
    }
}

impl AsRawFd for DahdiDChannel {
    fn as_raw_fd(&self) -> RawFd {
        self.watch.epoll.0.as_raw_fd()
    }
}

impl DChannel for DahdiDChannel {
    fn poll_event(&mut self) -> Result<Option<DChannelEvent>, BackendError> {
        loop {
            let ev = match self.watch.take()? {
                Some(ev) => ev,
                None => match self.ch.read_frame(&mut self.rx) {
                    Ok(ReadOutcome::Data(n)) => {
                        let n = n.min(self.rx.len());
                        return Ok(Some(DChannelEvent::Frame(self.rx[..n].to_vec())));
                    }
                    Ok(ReadOutcome::Event(ev)) => ev,
                    Ok(ReadOutcome::WouldBlock) => return Ok(None),
                    Err(driver_ffi::Error::ShortFrame { len }) => {
                        log::debug!(
                            "DAHDI D-channel {}: dropped a {len}-octet read",
                            self.channel
                        );
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                },
            };
            match self.link.apply(ev) {
                Ok(Some(change)) => return Ok(Some(change)),
                Ok(None) => {}
                Err(Event::Removed) => {
                    log::error!("DAHDI D-channel {}: device removed", self.channel)
                }
                // BADFCS, ABORT, OVERRUN: Q.921 recovers lost frames by retransmission.
                Err(other) => log::debug!("DAHDI D-channel {}: {other:?}", self.channel),
            }
        }
    }

    fn send_frame(&mut self, frame: &[u8]) -> Result<bool, BackendError> {
        if !self.link.up {
            return Ok(false);
        }
        loop {
            match self.ch.write_frame(frame)? {
                WriteOutcome::Written(_) => return Ok(true),
                WriteOutcome::WouldBlock => return Ok(false),
                // Kept for poll_event; the frame can go through now.
                WriteOutcome::Event(ev) => self.watch.hold(ev)?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dahdi_events_map_to_line_events() {
        for (ev, line) in [
            (Event::RingOffHook, LineEvent::OffHook),
            (Event::OnHook, LineEvent::OnHook),
            (Event::WinkFlash, LineEvent::Flash),
            (Event::DtmfDown(b'7'), LineEvent::Digit('7')),
            (Event::PulseDigit(b'0'), LineEvent::Digit('0')),
            (Event::PulseStart, LineEvent::PulseStart),
            // Dropped before this translation existed: underruns read 0 on hardware.
            (Event::WriteUnderrun, LineEvent::WriteUnderrun),
        ] {
            assert_eq!(line_event(ev), Some(line), "{ev:?}");
        }
        for ignored in [
            Event::DtmfUp(b'7'),
            Event::ReadOverrun,
            Event::RingerOn,
            Event::HookComplete,
            Event::Alarm,
        ] {
            assert_eq!(line_event(ignored), None, "{ignored:?}");
        }
    }

    #[test]
    fn dchannel_alarms_are_link_state() {
        let mut link = Link::default();
        assert_eq!(link.apply(Event::Alarm), Ok(None), "starts down");
        assert_eq!(link.apply(Event::NoAlarm), Ok(Some(DChannelEvent::LinkUp)));
        assert_eq!(link.apply(Event::NoAlarm), Ok(None), "repeats dropped");
        assert_eq!(link.apply(Event::BadFcs), Err(Event::BadFcs));
        assert!(link.up);
        assert_eq!(link.apply(Event::Alarm), Ok(Some(DChannelEvent::LinkDown)));
        assert_eq!(link.apply(Event::Abort), Err(Event::Abort));
        assert!(!link.up);
    }

    fn readable(watch: &Watch) -> bool {
        use std::os::fd::AsFd;
        let fd = watch.epoll.0.as_fd();
        let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).expect("poll") == 1
    }

    #[test]
    fn held_events_make_the_fd_readable() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).expect("pipe");
        let ch = Channel::from_fd(r);
        let mut watch = Watch::new(&ch).expect("watch");
        assert!(!readable(&watch), "nothing to report yet");
        watch.hold(Event::NoAlarm).unwrap();
        watch.hold(Event::Alarm).unwrap();
        assert!(readable(&watch));
        assert_eq!(watch.take().unwrap(), Some(Event::NoAlarm));
        assert!(readable(&watch), "one still held");
        assert_eq!(watch.take().unwrap(), Some(Event::Alarm));
        assert!(!readable(&watch), "all taken");
        assert_eq!(watch.take().unwrap(), None);
        nix::unistd::write(&w, b"x").unwrap();
        assert!(readable(&watch), "channel data wakes it too");
    }

    #[test]
    fn unsupported_ioctl_is_backend_unsupported() {
        let e = BackendError::from(driver_ffi::Error::Unsupported {
            ioctl: "DAHDI_VMWI",
        });
        assert!(matches!(
            e,
            BackendError::Unsupported { what: "DAHDI_VMWI" }
        ));
        assert_eq!(
            e.to_string(),
            "DAHDI_VMWI is not supported by this channel's driver"
        );
    }
}
