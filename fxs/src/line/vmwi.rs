//! Message waiting on the line: the driver's visual indicator ([`Action::SetVmwi`]) and the
//! on-hook FSK spill with its phases (3 s after hang-up, hook re-check, optional RP-AS).

use std::time::{Duration, Instant};

use super::{
    Action, Audio, FxsLine, Notice, Queued, Timer, VmwiMode, HOOK_CHECK_TIMEOUT_MS,
    ONHOOK_TRANSFER_MARGIN_MS, RPAS_PAUSE_MS, SPILL_AFTER_ONHOOK,
};
use crate::fsk::{mdmf_mwi_message, render_spill, spill_ms};
use crate::line::Hook;

/// Where an on-hook spill is; the phases that wait run [`Timer::Spill`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Spill {
    Idle,
    /// Until [`SPILL_AFTER_ONHOOK_MS`](super::SPILL_AFTER_ONHOOK_MS) after hang-up.
    Waiting,
    /// [`Action::CheckHook`] asked, up to [`HOOK_CHECK_TIMEOUT_MS`].
    HookCheck {
        rpas_next: bool,
    },
    /// Ringing the RP-AS for [`RPAS_RING_MS`](super::RPAS_RING_MS).
    Rpas,
    /// The [`RPAS_PAUSE_MS`] after the RP-AS.
    RpasPause,
    Sending {
        on: bool,
    },
}

impl FxsLine {
    /// New MWI state of the port's number at `now`: `waiting` and the number of new messages.
    /// Does not change a tone already playing (the state at off-hook counts).
    pub fn set_mwi(&mut self, now: Instant, waiting: bool, new_messages: u32) {
        self.mwi = waiting;
        self.count = new_messages;
        self.sync_lamp();
        self.schedule_spill(now);
    }

    /// Whether the port is in a call at `now`: from an incoming call's first ring or the
    /// off-hook that dials, to the end of the call with the phone on-hook. While engaged, no MWI
    /// action that needs the line starts (module doc); a spill in progress stops (an RP-AS ring
    /// with [`Action::RingOff`], the FSK with [`Action::StopAudio`] and
    /// [`Notice::SpillAborted`]) so that the call's ringing and caller ID have the line. On
    /// release, the held lamp change goes out and the spill waits
    /// [`SPILL_AFTER_ONHOOK_MS`](super::SPILL_AFTER_ONHOOK_MS) from `now`.
    pub fn set_engaged(&mut self, now: Instant, engaged: bool) {
        if engaged == self.engaged {
            return;
        }
        self.engaged = engaged;
        if engaged {
            self.abort_spill(true);
            return;
        }
        if self.hook == Hook::OnHook {
            self.idle_since = now;
        }
        self.sync_lamp();
        self.schedule_spill(now);
    }

    /// Whether the port is in a call ([`FxsLine::set_engaged`]).
    pub fn is_engaged(&self) -> bool {
        self.engaged
    }

    /// Send the driver's indicator the current count if it differs from the last one sent and
    /// the line is free for it (on-hook, not engaged).
    pub(super) fn sync_lamp(&mut self) {
        let visual = if self.mwi { self.count.max(1) } else { 0 };
        if self.vmwi.driver_lamp()
            && self.vmwi_supported != Some(false)
            && self.hook == Hook::OnHook
            && !self.engaged
            && self.vmwi_count_sent != Some(visual)
        {
            self.vmwi_count_sent = Some(visual);
            self.push(Action::SetVmwi { count: visual });
        }
    }

    /// Stop the spill, wherever it is; one being sent counts as aborted and is sent again
    /// later. `ring_off`: an RP-AS ring in progress must be stopped (the phone is on-hook).
    pub(super) fn abort_spill(&mut self, ring_off: bool) {
        match self.spill {
            Spill::Rpas => {
                if ring_off {
                    self.push(Action::RingOff);
                }
                self.push(Action::RestoreCadence);
            }
            Spill::Sending { .. } => {
                self.stop_audio();
                self.push(Action::Notice(Notice::SpillAborted));
                self.spills_aborted += 1;
            }
            _ => {}
        }
        self.set_spill(Spill::Idle, None);
    }

    /// The back-end's answer to a visual-MWI action ([`Action::SetVmwi`], or the ioctls of an
    /// FSK spill: `DAHDI_SETCADENCE`, `DAHDI_ONHOOKTRANSFER`): `false` = unsupported (ENOTTY,
    /// EINVAL). The first `false` is reported once as [`Notice::VmwiUnsupported`], any spill in
    /// progress stops, and no further visual-MWI action is produced for this port.
    pub fn vmwi_result(&mut self, supported: bool) {
        if supported {
            if self.vmwi_supported.is_none() {
                self.vmwi_supported = Some(true);
            }
            return;
        }
        if self.vmwi_supported == Some(false) {
            return;
        }
        self.vmwi_supported = Some(false);
        self.push(Action::Notice(Notice::VmwiUnsupported(self.vmwi)));
        match self.spill {
            Spill::Rpas => {
                // The cadence was refused: the ring queued behind it must not go out.
                self.queue.retain(|q| *q != Queued::Other(Action::Ring));
                self.push(Action::RingOff);
                self.push(Action::RestoreCadence);
            }
            Spill::Sending { .. } => self.stop_audio(),
            _ => {}
        }
        self.set_spill(Spill::Idle, None);
    }

    /// Enter spill phase `spill`, its timer running until `until` (stopped for `None`).
    pub(super) fn set_spill(&mut self, spill: Spill, until: Option<Instant>) {
        self.spill = spill;
        match until {
            Some(at) => self.timers.set(Timer::Spill, at),
            None => self.timers.cancel(Timer::Spill),
        }
    }

    pub(super) fn wants_spill(&self) -> bool {
        self.vmwi.uses_fsk()
            && self.vmwi_supported != Some(false)
            && self.hook == Hook::OnHook
            && !self.engaged
            && self.spill_sent != Some(self.mwi)
    }

    pub(super) fn schedule_spill(&mut self, now: Instant) {
        if self.spill == Spill::Idle && self.wants_spill() {
            let at = now.max(self.idle_since + SPILL_AFTER_ONHOOK);
            self.set_spill(Spill::Waiting, Some(at));
        }
    }

    pub(super) fn start_spill(&mut self, now: Instant) {
        let on = self.mwi;
        self.spill_blocks = render_spill(self.plan.fsk(), self.plan.law(), &mdmf_mwi_message(on));
        self.push(Action::OnHookTransfer {
            ms: spill_ms(self.spill_blocks.len()) + ONHOOK_TRANSFER_MARGIN_MS,
        });
        self.set_spill(Spill::Sending { on }, None);
        self.start_audio(now, Audio::Fsk { next: 0 });
    }

    pub(super) fn finish_spill(&mut self, now: Instant) {
        if let Spill::Sending { on } = self.spill {
            self.spill_sent = Some(on);
            self.spills_sent += 1;
            self.push(Action::Notice(Notice::SpillSent { on }));
        }
        self.audio = Audio::Off;
        self.timers.cancel(Timer::Block);
        self.set_spill(Spill::Idle, None);
        self.schedule_spill(now);
    }

    /// The end of the current spill phase.
    pub(super) fn spill_timeout(&mut self, now: Instant) {
        match self.spill {
            Spill::Waiting => {
                if self.wants_spill() {
                    self.push(Action::CheckHook);
                    let rpas_next = self.vmwi == VmwiMode::Rpas;
                    self.await_hook_check(now, rpas_next);
                } else {
                    self.set_spill(Spill::Idle, None);
                }
            }
            Spill::HookCheck { .. } => {
                // No answer from the back-end: try again later rather than send blind.
                self.set_spill(Spill::Waiting, Some(now + SPILL_AFTER_ONHOOK));
            }
            Spill::Rpas => {
                self.push(Action::RingOff);
                self.push(Action::RestoreCadence);
                let until = now + Duration::from_millis(RPAS_PAUSE_MS);
                self.set_spill(Spill::RpasPause, Some(until));
            }
            Spill::RpasPause => {
                self.push(Action::CheckHook);
                self.await_hook_check(now, false);
            }
            Spill::Idle | Spill::Sending { .. } => {}
        }
    }

    pub(super) fn await_hook_check(&mut self, now: Instant, rpas_next: bool) {
        let deadline = now + Duration::from_millis(HOOK_CHECK_TIMEOUT_MS);
        self.set_spill(Spill::HookCheck { rpas_next }, Some(deadline));
    }
}
