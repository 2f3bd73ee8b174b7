//! The on-hook FSK message-waiting spill, captured by the test phone as audio and decoded by an
//! independent decoder (Debian's minimodem) back to the MDMF message-waiting bytes.
mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::*;
use fxs::fsk::mdmf_mwi_message;
use fxs::{Law, Notice, VmwiMode};

/// A 16-bit mono 8 kHz PCM WAV file of `samples`, with 200 ms of silence on each side.
fn write_wav(path: &Path, samples: &[i16]) {
    let pad = vec![0i16; 1600];
    let all: Vec<i16> = pad.iter().chain(samples).chain(&pad).copied().collect();
    let data_len = (all.len() * 2) as u32;
    let mut f = std::fs::File::create(path).expect("create wav");
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&1u16.to_le_bytes()); // mono
    h.extend_from_slice(&8000u32.to_le_bytes());
    h.extend_from_slice(&16000u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    f.write_all(&h).expect("write wav header");
    let body: Vec<u8> = all.iter().flat_map(|s| s.to_le_bytes()).collect();
    f.write_all(&body).expect("write wav data");
}

/// Decode `samples` with minimodem at 1200 bit/s, 8-N-1, with the given mark/space frequencies;
/// returns the raw bytes it prints. Panics (fails the test) if minimodem is missing.
fn minimodem(samples: &[i16], mark: u32, space: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("spill.wav");
    write_wav(&wav, samples);
    let out = Command::new("minimodem")
        .args(["--rx", "-q", "-8", "-M", &mark.to_string(), "-S", &space.to_string(), "-f"])
        .arg(&wav)
        .arg("1200")
        .output()
        .unwrap_or_else(|e| {
            panic!("minimodem is required for this test (apt-get install minimodem; listed in scripts/install-deps): {e}")
        });
    assert!(out.status.success(), "minimodem failed: {out:?}");
    out.stdout
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

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
