//! A B-channel of the sim back-end: `<sim_dir>/bchan-<channel>.sock` (see the module
//! documentation of [`super`]).

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, RawFd};

use fxs::{Block, BLOCK_SAMPLES};

use super::{Endpoint, Happening, AUDIO_KEPT, AUDIO_TAG, EVENT_TAG, MAX_PACKET};
use crate::backend::{BChannel, BackendError};

/// A B-channel socket; its peer is the PBX's side of the channel.
#[derive(Debug)]
pub struct SimBChannel {
    endpoint: Endpoint,
    buf: Vec<u8>,
    audio_in: VecDeque<Block>,
}

impl SimBChannel {
    pub(super) fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            buf: vec![0; MAX_PACKET],
            audio_in: VecDeque::with_capacity(AUDIO_KEPT),
        }
    }
}

impl AsRawFd for SimBChannel {
    fn as_raw_fd(&self) -> RawFd {
        self.endpoint.epoll.0.as_raw_fd()
    }
}

impl BChannel for SimBChannel {
    fn read(&mut self) -> Result<(), BackendError> {
        while let Some(h) = self.endpoint.poll(&mut self.buf)? {
            let Happening::Packet(n) = h else { continue };
            match self.buf.get(..n) {
                Some([AUDIO_TAG, samples @ ..]) if samples.len() == BLOCK_SAMPLES => {
                    if let Ok(block) = Block::try_from(samples) {
                        if self.audio_in.len() == AUDIO_KEPT {
                            self.audio_in.pop_front();
                        }
                        self.audio_in.push_back(block);
                    }
                }
                _ => log::debug!(
                    "{}: dropped a {n}-octet packet that is no audio block",
                    self.endpoint.path.display()
                ),
            }
        }
        Ok(())
    }

    fn take_audio(&mut self) -> Option<Block> {
        self.audio_in.pop_front()
    }

    fn write_audio(&mut self, block: &Block) -> Result<bool, BackendError> {
        self.endpoint.send_audio(block)
    }

    /// Told to the peer as `Eec TAPS` (`Eec 0`: removed), as on an FXS socket.
    fn echo_cancel(&mut self, taps: u32) -> Result<(), BackendError> {
        let mut packet = vec![EVENT_TAG];
        packet.extend_from_slice(format!("ec {taps}").as_bytes());
        self.endpoint.send(&packet)?;
        Ok(())
    }
}
