//! The on-hook FSK message-waiting spill, captured by the test phone as audio and decoded by an
//! independent decoder (Debian's minimodem) back to the MDMF message-waiting bytes.
mod common;
mod minimodem;

use common::*;
use fxs::fsk::mdmf_mwi_message;
use fxs::{Law, Notice, VmwiMode};
use minimodem::{contains, minimodem};

/// Run a port with `vmwi` until its spill for `on` is written; returns the audio written.
fn capture_spill(plan: &str, law: Law, vmwi: VmwiMode, on: bool) -> (Phone, Vec<i16>) {
    let mut phone = Phone::new(plan, law, vmwi);
    phone.run_for(5000);
    let before = phone.heard.len();
    phone.set_mwi(on, 3);
    phone.run_for(5000);
    let spill = phone.heard[before..].to_vec();
    assert!(
        phone.seen.contains(&Seen::Notice(Notice::SpillSent { on })),
        "{plan}: no spill sent: {:?}",
        phone.seen
    );
    (phone, spill)
}

#[test]
fn bell202_spill_decodes_to_vmwi_on_and_off() {
    for on in [true, false] {
        for law in [Law::Mulaw, Law::Alaw] {
            let (_, audio) = capture_spill("us", law, VmwiMode::Fsk, on);
            let mark = &audio[2000..3200];
            assert!(goertzel(mark, 1200.0) > 10.0 * goertzel(mark, 1300.0));
            let bytes = minimodem(&audio, 1200, 2200);
            let msg = mdmf_mwi_message(on);
            assert!(
                contains(&bytes, &msg),
                "Bell 202 {law}: minimodem decoded {bytes:02X?}, expected to contain {msg:02X?}"
            );
        }
    }
}

#[test]
fn v23_spill_decodes_to_vmwi_on() {
    let (_, audio) = capture_spill("de", Law::Alaw, VmwiMode::Rpas, true);
    let bytes = minimodem(&audio, 1300, 2100);
    let msg = mdmf_mwi_message(true);
    assert!(
        contains(&bytes, &msg),
        "V.23: minimodem decoded {bytes:02X?}, expected to contain {msg:02X?}"
    );
    // The mark section (bits 300..480) is 1300 Hz, not Bell 202's 1200 Hz.
    let mark = &audio[2000..3200];
    assert!(goertzel(mark, 1300.0) > 10.0 * goertzel(mark, 1200.0));
}
