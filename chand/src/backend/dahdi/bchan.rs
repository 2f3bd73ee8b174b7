//! A B-channel of a PRI span with calls on the DAHDI back-end: a clear channel (`bchan=` in
//! system.conf, `DAHDI_SIG_CLEAR`, checked) opened on `/dev/dahdi/channel` with `DAHDI_SPECIFY`, switched to audio
//! (`DAHDI_AUDIOMODE`), 160-octet blocks (20 ms) in the span's law (`DAHDI_SETLAW`),
//! `DAHDI_POLICY_IMMEDIATE` with 4 buffers, as an FXS port's audio.
//!
//! chand writes one block per 20 ms on its own clock, so the kernel's queue holds about one
//! block and a wake-up later than that runs it dry: DAHDI then sends silence and, with buffer
//! events on, queues `DAHDI_EVENT_WRITE_UNDERRUN`. Measured in the VM tier (vm-chand
//! pricalls): several per second of a call. After each, the next write puts one block of
//! silence ahead of the audio ([`Cushion`]): the queue then holds two blocks, 20 ms more
//! delay, and rides out a late wake-up of up to 20 ms more without a gap.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, RawFd};

use driver_ffi::{Channel, Event, ReadOutcome, SigType, WriteOutcome};
use fxs::{Block, Law, BLOCK_SAMPLES};

use super::{at, open_checked, set_audio, AUDIO_KEPT};
use crate::backend::{BChannel, BackendError};

/// An open B-channel.
#[derive(Debug)]
pub struct DahdiBChannel {
    ch: Channel,
    rx: Vec<u8>,
    audio_in: VecDeque<Block>,
    /// A block of silence in the channel's law.
    silence: Block,
    cushion: Cushion,
}

/// Whether the kernel's transmit queue ran dry since the last write, so that the next write
/// goes one block of silence ahead (see the module documentation). Dry at open: nothing is
/// queued.
#[derive(Debug)]
struct Cushion {
    dry: bool,
}

impl Cushion {
    /// Before a write: whether to put a block of silence ahead of it (once per underrun).
    fn take(&mut self) -> bool {
        std::mem::take(&mut self.dry)
    }

    /// `ev` seen on the channel: an underrun marks the queue dry; the rest (a clear channel's
    /// other events: alarms, which the D-channel reports, and read overruns while no call
    /// reads the channel) are no concern of the audio.
    fn event(&mut self, ev: Event) {
        if ev == Event::WriteUnderrun {
            self.dry = true;
        }
    }
}

impl DahdiBChannel {
    /// Open and set up DAHDI channel `channel` in `law`.
    ///
    /// Errors: the channel cannot be opened or bound, is not a clear channel, or refuses a
    /// setting.
    pub fn open(channel: u32, law: Law) -> Result<Self, BackendError> {
        // DAHDI_AUDIOMODE answers a bare EINVAL on any other signalling: say which it is.
        let (ch, _) = open_checked(
            channel,
            |sig| sig == SigType::Clear,
            "CLEAR (a B-channel: bchan=)",
        )?;
        ch.audio_mode(true).map_err(at(channel))?;
        set_audio(&ch, channel, law)?;
        Ok(Self {
            ch,
            rx: vec![0; BLOCK_SAMPLES],
            audio_in: VecDeque::with_capacity(AUDIO_KEPT),
            silence: [law.silence(); BLOCK_SAMPLES],
            cushion: Cushion { dry: true },
        })
    }
}

impl DahdiBChannel {
    fn write_block(&mut self, block: &Block) -> Result<bool, BackendError> {
        loop {
            match self.ch.write(block)? {
                WriteOutcome::Written(_) => return Ok(true),
                WriteOutcome::WouldBlock => return Ok(false),
                // Taken off the queue (see `read`): the write goes through now.
                WriteOutcome::Event(ev) => self.cushion.event(ev),
            }
        }
    }
}

impl AsRawFd for DahdiBChannel {
    fn as_raw_fd(&self) -> RawFd {
        self.ch.as_raw_fd()
    }
}

impl BChannel for DahdiBChannel {
    fn read(&mut self) -> Result<(), BackendError> {
        loop {
            match self.ch.read(&mut self.rx)? {
                ReadOutcome::Data(n) => {
                    if let Ok(block) = Block::try_from(&self.rx[..n.min(self.rx.len())]) {
                        if self.audio_in.len() == AUDIO_KEPT {
                            self.audio_in.pop_front();
                        }
                        self.audio_in.push_back(block);
                    }
                }
                ReadOutcome::Event(ev) => self.cushion.event(ev),
                ReadOutcome::WouldBlock => return Ok(()),
            }
        }
    }

    fn take_audio(&mut self) -> Option<Block> {
        self.audio_in.pop_front()
    }

    fn write_audio(&mut self, block: &Block) -> Result<bool, BackendError> {
        if self.cushion.take() {
            let silence = self.silence;
            self.write_block(&silence)?;
        }
        self.write_block(block)
    }

    fn echo_cancel(&mut self, taps: u32) -> Result<(), BackendError> {
        super::echo_cancel(&self.ch, taps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_block_of_silence_goes_ahead_once_per_underrun() {
        let mut c = Cushion { dry: true };
        assert!(c.take(), "dry at open");
        assert!(!c.take());
        c.event(Event::ReadOverrun);
        c.event(Event::Alarm);
        assert!(!c.take(), "other events leave the queue as it was");
        c.event(Event::WriteUnderrun);
        c.event(Event::WriteUnderrun);
        assert!(c.take());
        assert!(
            !c.take(),
            "one block per dry spell, however many events it queued"
        );
    }
}
