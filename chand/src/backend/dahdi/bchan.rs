//! A B-channel of a PRI span with calls on the DAHDI back-end: a clear channel (`bchan=` in
//! system.conf, `DAHDI_SIG_CLEAR`, checked) opened on `/dev/dahdi/channel` with `DAHDI_SPECIFY`, switched to audio
//! (`DAHDI_AUDIOMODE`), 160-octet blocks (20 ms) in the span's law (`DAHDI_SETLAW`),
//! `DAHDI_POLICY_IMMEDIATE` with 4 buffers, as an FXS port's audio.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, RawFd};

use driver_ffi::{BufPolicy, Channel, DahdiBufferInfo, ReadOutcome, SigType, WriteOutcome};
use fxs::{Block, Law, BLOCK_SAMPLES};

use super::{at, open_checked, AUDIO_KEPT, FXS_BLOCKSIZE, FXS_NUMBUFS};
use crate::backend::{BChannel, BackendError};

/// An open B-channel.
#[derive(Debug)]
pub struct DahdiBChannel {
    ch: Channel,
    rx: Vec<u8>,
    audio_in: VecDeque<Block>,
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
        let at = at(channel);
        ch.audio_mode(true).map_err(&at)?;
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
        Ok(Self {
            ch,
            rx: vec![0; BLOCK_SAMPLES],
            audio_in: VecDeque::with_capacity(AUDIO_KEPT),
        })
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
                // A clear channel's events (alarms) are the span's; the D-channel reports them.
                ReadOutcome::Event(_) => {}
                ReadOutcome::WouldBlock => return Ok(()),
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
                // Taken off the queue (a span event, see `read`): the write goes through now.
                WriteOutcome::Event(_) => {}
            }
        }
    }

    fn echo_cancel(&mut self, taps: u32) -> Result<(), BackendError> {
        super::echo_cancel(&self.ch, taps)
    }
}
