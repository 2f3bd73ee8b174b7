//! What the VM-tier programs (`vm-driver-ffi`, `vm-chand`; tests/vm/run.sh,
//! scripts/test.d/50-vm.sh) share: the channel layout of the two back-to-back
//! `dahdi_dynamic_loc` spans of tests/vm/system.conf, where whatever span 1 sends, span 2
//! receives, and the check/report harness.
//!
//! | span 1 (gateway) | span 2 (far end) | configured as |
//! | --- | --- | --- |
//! | 1 | 25 | `bchan` (clear channel, audio) |
//! | 2 | 26 | `fxoks` (an FXS port) / `fxsks` (the phone) |
//! | 24 | 48 | `dchan` (HDLC with FCS, PRI D-channel) |
//!
//! Every check prints one `PASS name: detail` or `FAIL name: reason` line; the last line is
//! `PROGRAM: N passed, M failed` and the exit status is non-zero when any check failed.

use std::process::ExitCode;
use std::time::Duration;

use driver_ffi::{BufPolicy, Channel, DahdiBufferInfo};
use libc::c_int;

/// The gateway's FXS port (`fxoks=2`).
pub const FXS_PORT: c_int = 2;
/// The phone on the far span (`fxsks=26`).
pub const PHONE: c_int = 26;
/// The gateway's clear channel (`bchan=1`).
pub const BCHAN_GW: c_int = 1;
/// The far end's clear channel (`bchan=25`).
pub const BCHAN_FAR: c_int = 25;
/// The gateway's D-channel (`dchan=24`).
pub const DCHAN_GW: c_int = 24;
/// The PBX's D-channel on the far span (`dchan=48`).
pub const DCHAN_PBX: c_int = 48;
/// One 20 ms block of G.711, in octets.
pub const BLOCK: usize = 160;
/// Blocks buffered each way by [`deep_buffers`].
const DEEP_BUFFERS: c_int = 32;

/// The outcome of one check: a detail line, or why it failed.
pub type Outcome = Result<String, String>;

/// Adds what was being done to a driver-ffi error.
pub trait Context<T> {
    /// The error as `"{what}: {error}"`.
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T> Context<T> for driver_ffi::Result<T> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

/// Counts and prints check results.
#[derive(Debug, Default)]
pub struct Report {
    /// Checks that passed so far.
    pub passed: u32,
    /// Checks that failed so far.
    pub failed: u32,
    /// Run only the checks whose name contains this.
    only: Option<String>,
}

impl Report {
    /// A report that runs (see [`Report::run`]) only the checks whose name contains `only`,
    /// or every check for `None`.
    pub fn new(only: Option<String>) -> Self {
        Self {
            only,
            ..Self::default()
        }
    }

    /// Whether the check `name` is selected.
    pub fn wanted(&self, name: &str) -> bool {
        match &self.only {
            Some(only) => name.contains(only.as_str()),
            None => true,
        }
    }

    /// Runs `check` if it is selected and prints its result; false if it failed.
    pub fn run(&mut self, name: &str, check: impl FnOnce() -> Outcome) -> bool {
        if !self.wanted(name) {
            return true;
        }
        self.record(name, check())
    }

    /// Prints the result of a check; whether it passed.
    pub fn record(&mut self, name: &str, outcome: Outcome) -> bool {
        match outcome {
            Ok(detail) => {
                self.passed += 1;
                println!("PASS {name}: {detail}");
                true
            }
            Err(reason) => {
                self.failed += 1;
                println!("FAIL {name}: {reason}");
                false
            }
        }
    }

    /// Prints the closing `program: N passed, M failed` line; failure if any check failed.
    pub fn finish(&self, program: &str) -> ExitCode {
        println!("{program}: {} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// A duration in ms with one decimal, e.g. `12.3 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// [`BLOCK`]-octet blocks and 32 of them (640 ms) buffered each way, immediate policy: under
/// qemu's TCG a thread can stall for longer than DAHDI's default few blocks, and an underrun or
/// overrun would cut the audio (tests/vm/README.md).
pub fn deep_buffers(ch: &Channel) -> Result<(), String> {
    let deep = DahdiBufferInfo::new(
        BufPolicy::Immediate,
        BufPolicy::Immediate,
        DEEP_BUFFERS,
        BLOCK as c_int,
    )
    .ctx("buffer settings")?;
    ch.set_blocksize(BLOCK as c_int)
        .ctx("DAHDI_SET_BLOCKSIZE")?;
    ch.set_bufinfo(&deep).ctx("DAHDI_SET_BUFINFO")
}

/// Takes every queued event, so that a check starts from a quiet channel.
pub fn drain_events(ch: &Channel) -> Result<(), String> {
    while ch.get_event().ctx("DAHDI_GETEVENT")?.is_some() {}
    Ok(())
}
