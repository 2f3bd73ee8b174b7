//! The line's audio output: the 20 ms block clock and the one ordered queue of actions that
//! [`FxsLine::poll_action`] drains (module doc of `line`).

use std::time::Instant;

use super::{Action, Audio, FxsLine, Queued, Timer, BLOCK, LEAD, MAX_CATCHUP_BLOCKS};
use crate::law::BLOCK_SAMPLES;
use crate::line::Hook;

impl FxsLine {
    /// Switch an off-hook line's audio to `audio`, keeping its block clock (a change of tone
    /// mid-block is heard at the next block); an idle clock starts at `now`.
    pub(super) fn play_audio(&mut self, now: Instant, audio: Audio) {
        if self.hook != Hook::OffHook {
            return;
        }
        if self.audio == Audio::Off {
            self.start_audio(now, audio);
        } else {
            self.queue
                .retain(|q| *q != Queued::Other(Action::PullMedia));
            self.audio = audio;
            self.emit_due_blocks(now);
        }
    }

    /// The next action, in order; `None` when there is nothing more to do for now.
    /// Never allocates: tone blocks are generated into the line's own buffer.
    pub fn poll_action(&mut self) -> Option<Action<'_>> {
        loop {
            match self.queue.pop_front()? {
                Queued::Other(a) => return Some(a),
                Queued::WriteFsk(i) => {
                    if let Some(b) = self.spill_blocks.get(i) {
                        self.block = *b;
                        return Some(Action::Write(&self.block));
                    }
                }
                Queued::Write => match &mut self.audio {
                    Audio::Tone(g) => {
                        g.fill(&self.plan, &mut self.block);
                        return Some(Action::Write(&self.block));
                    }
                    Audio::Silence => {
                        self.block = [self.plan.law().silence(); BLOCK_SAMPLES];
                        return Some(Action::Write(&self.block));
                    }
                    Audio::Off | Audio::Media | Audio::Fsk { .. } => {}
                },
            }
        }
    }

    /// Whether the head of the queue is a block to write (`Some(true)`), another action
    /// (`Some(false)`) or nothing; writes of audio that has stopped are dropped on the way.
    pub(super) fn head_is_write(&mut self) -> Option<bool> {
        loop {
            let live = match self.queue.front()? {
                Queued::Other(_) => return Some(false),
                Queued::WriteFsk(i) => *i < self.spill_blocks.len(),
                Queued::Write => matches!(self.audio, Audio::Tone(_) | Audio::Silence),
            };
            if live {
                return Some(true);
            }
            self.queue.pop_front();
        }
    }

    pub(super) fn push(&mut self, a: Action<'static>) {
        self.queue.push_back(Queued::Other(a));
    }

    pub(super) fn drop_writes(&mut self) {
        self.queue.retain(|q| {
            !matches!(
                q,
                Queued::Write | Queued::WriteFsk(_) | Queued::Other(Action::PullMedia)
            )
        });
    }

    /// Start playing `audio` with its first block due for play-out at `now`.
    pub(super) fn start_audio(&mut self, now: Instant, audio: Audio) {
        self.audio = audio;
        // An Instant closer than LEAD_MS to the clock's origin only shortens the first lead.
        self.next_write = now.checked_sub(LEAD).unwrap_or(now);
        self.timers.set(Timer::Block, self.next_write);
        self.emit_due_blocks(now);
    }

    /// Stop the audio: queued blocks go, the driver's buffer is flushed.
    pub(super) fn stop_audio(&mut self) {
        self.drop_writes();
        self.audio = Audio::Off;
        self.timers.cancel(Timer::Block);
        self.push(Action::StopAudio);
    }

    /// Queue every block whose write time has come (at most [`MAX_CATCHUP_BLOCKS`]; older
    /// ones are dropped and counted late).
    pub(super) fn emit_due_blocks(&mut self, now: Instant) {
        if self.audio == Audio::Off || now < self.next_write {
            return;
        }
        let behind = (now - self.next_write).as_nanos() / BLOCK.as_nanos();
        let due = u64::try_from(behind).unwrap_or(u64::MAX).saturating_add(1);
        if due > MAX_CATCHUP_BLOCKS {
            let dropped = due - MAX_CATCHUP_BLOCKS;
            self.late_blocks += dropped;
            // `dropped` blocks of 20 ms fit in the gap just measured.
            self.next_write += BLOCK * u32::try_from(dropped).unwrap_or(u32::MAX);
        }
        while self.next_write <= now {
            if now - self.next_write >= BLOCK + LEAD {
                self.late_blocks += 1;
            }
            self.next_write += BLOCK;
            if let Audio::Fsk { next } = self.audio {
                self.queue.push_back(Queued::WriteFsk(next));
                if next + 1 < self.spill_blocks.len() {
                    self.audio = Audio::Fsk { next: next + 1 };
                } else {
                    self.finish_spill(now + LEAD);
                    return;
                }
            } else if self.audio == Audio::Media {
                self.push(Action::PullMedia);
            } else {
                self.queue.push_back(Queued::Write);
            }
        }
        self.timers.set(Timer::Block, self.next_write);
    }
}
