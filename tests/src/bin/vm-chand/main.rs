//! chand on the real DAHDI kernel modules: runs inside the VM tier (tests/vm/run.sh,
//! scripts/test.d/50-vm.sh) as root, on the back-to-back `dahdi_dynamic_loc` spans of
//! tests/vm/system.conf. chand (kernel back-end) owns the gateway's side; this program plays
//! the far side:
//!
//! | chand (span 1) | far side (span 2) | played by |
//! | --- | --- | --- |
//! | FXS port, channel 2 (`fxoks`) | channel 26 (`fxsks`) | the phone: hook and audio through driver-ffi |
//! | D-channel 24 (`dchan`, user side) | D-channel 48 (`dchan`) | libpri 1.6 as the PBX, network side (tests/peers/libpri-pbx.c `dahdi:48`) |
//!
//! Each chand run has its own table, state and runtime dirs under /tmp; in `fxs` and `pri` this
//! program writes the table itself (standing in for sipd). `vm-chand fxs`:
//! 1. `cptone = "us"`: MWI on in the table, the phone goes off-hook and measures the GR-506
//!    stutter tone in the real DAHDI audio (Goertzel levels of 350 and 440 Hz, burst and gap
//!    lengths in 1 ms frames); MWI off gives plain dial tone; `chand status --json` shows the port.
//! 2. `cptone = "us-dahdi"`: the 6-burst stutter.
//!
//! `vm-chand pri`:
//! 1. libpri decodes MWIActivate and MWIDeactivate for 2001, once with `mwi_transport = "setup"`
//!    (call-independent SETUP) and once with `"facility"` (connectionless FACILITY).
//! 2. Lamp resync, once per transport: N numbers (default 1000) on in the table before chand
//!    starts and with no PBX; then libpri connects and every lamp crosses the 64 kbit/s
//!    D-channel. Prints the time from the first I-frame libpri received to the frame of the last
//!    MWI it decoded, MWI/s, and the fraction of the line-rate bound: the bits of the frames
//!    chand sent in that window (each frame + 2 FCS octets + 1 flag, plus the zero bits HDLC
//!    stuffing inserts, computed from the frame and its FCS) over 64000 bit/s, divided by the
//!    measured time. Every line libpri prints is stamped when it arrives here.
//!
//! Under TCG a vCPU can stall for several ms; a tone check whose audio was cut is repeated up to
//! 5 times, and every disturbed attempt is printed (`# ... disturbed`), with a closing count.
//!
//! `vm-chand e2e`: the whole path. sipd (unsolicited mode, UDP 127.0.0.1:5060, NOTIFYs allowed
//! from 127.0.0.1) and chand (FXS port 8000 on 2, PRI span 1 with `numbers = ["2..."]`) share
//! one table; this program is the voice mail and sends NOTIFYs over loopback UDP. `yes` for
//! 2001 → libpri decodes MWIActivate with nbOfMessages; `yes` for 8000 → the phone measures the
//! stutter tone as above; `no` for both → MWIDeactivate and plain dial tone.
//!
//! `vm-chand journal`: sipd and chand as in `e2e`, but logging to the guest's own
//! systemd-journald as under systemd (stdout and stderr on its stream socket, JOURNAL_STREAM
//! set); after NOTIFYs for 8000 and 2001, `journalctl -o json` must show their MWI lines sent
//! natively with the fields NUMBER, CHANNEL, SPAN and CALL_ID.
//!
//! `vm-chand calls`: an incoming call from a fake sipd on `callctl.sock` rings port 2; the
//! phone answers on 26 and measures the far end's RTP tone in the real DAHDI audio; chand logs
//! to the guest's journald, where the call's lines carry CHANNEL and CALL_ID (calls.rs).
//!
//! `vm-chand pricalls`: PRI trunk calls both ways over the real B-channels, audio measured on
//! the far span, a lamp delivered on the same D-channel during a call (pricalls.rs).
//!
//! Usage: `vm-chand calls|pricalls [CHAND_BINARY]`; `vm-chand fxs|pri|all [CHAND_BINARY] [RESYNC_NUMBERS]` (default: `chand` next to this
//! program, 1000 numbers, at most 1000: the resync numbers are 2000..=2999, pattern `2...`);
//! `vm-chand e2e|journal [CHAND_BINARY] [SIPD_BINARY]` (default: both next to this program).
//! The libpri peer is compiled with gcc inside the guest (host / is read-only there) into /tmp.
//!
//! Channel layout and PASS/FAIL report: [`dahdi_mwi_tests::vmcheck`].
//! Configs, chand's and libpri's logs are left in the job folder (`$VM_JOB`).
#![forbid(unsafe_code)]

mod calls;
mod common;
mod e2e;
mod fxs;
mod journal;
mod pri;
mod pricalls;
mod resync;

use crate::calls::calls_part;
use crate::e2e::e2e_part;
use crate::fxs::fxs_part;
use crate::journal::journal_part;
use crate::pri::pri_part;
use crate::pricalls::pricalls_part;
use crate::resync::RESYNC_MAX;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use dahdi_mwi_tests::daemon::profile_dir;
use dahdi_mwi_tests::vmcheck::{ms, Report};

fn main() -> ExitCode {
    let usage = || {
        eprintln!(
            "usage: vm-chand fxs|pri|all [CHAND_BINARY] [RESYNC_NUMBERS 1..={RESYNC_MAX}]\n       \
             vm-chand calls|pricalls [CHAND_BINARY]\n       \
             vm-chand e2e|journal [CHAND_BINARY] [SIPD_BINARY]"
        );
        ExitCode::from(2)
    };
    let mut args = std::env::args().skip(1);
    let mode = args.next();
    let (fxs, pri) = match mode.as_deref() {
        Some("fxs") => (true, false),
        Some("pri") => (false, true),
        Some("all") => (true, true),
        Some("e2e" | "journal" | "calls" | "pricalls") => (false, false),
        _ => return usage(),
    };
    let chand_bin = args
        .next()
        .map_or_else(|| profile_dir().join("chand"), PathBuf::from);
    let mut report = Report::default();
    let started = Instant::now();
    if mode.as_deref() == Some("calls") {
        calls_part(&mut report, &chand_bin);
    } else if mode.as_deref() == Some("pricalls") {
        pricalls_part(&mut report, &chand_bin);
    } else if !(fxs || pri) {
        let sipd_bin = args
            .next()
            .map_or_else(|| profile_dir().join("sipd"), PathBuf::from);
        if mode.as_deref() == Some("e2e") {
            e2e_part(&mut report, &chand_bin, &sipd_bin);
        } else {
            journal_part(&mut report, &chand_bin, &sipd_bin);
        }
    } else {
        let count: usize = match args.next().map(|a| a.parse()) {
            None => RESYNC_MAX,
            Some(Ok(n)) if (1..=RESYNC_MAX).contains(&n) => n,
            Some(_) => return usage(),
        };
        if fxs {
            fxs_part(&mut report, &chand_bin);
        }
        if pri {
            pri_part(&mut report, &chand_bin, count);
        }
    }
    println!("# vm-chand took {}", ms(started.elapsed()));
    report.finish("vm-chand")
}
