//! Decoding FSK audio with an independent decoder, Debian's minimodem (1200 bit/s, 8-N-1, the
//! standard's mark and space frequencies), for the tests of on-hook spills.
#![allow(dead_code)] // each test binary uses a different part of the helper

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// A 16-bit mono 8 kHz PCM WAV file of `samples`, with 200 ms of silence on each side.
pub fn write_wav(path: &Path, samples: &[i16]) {
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
pub fn minimodem(samples: &[i16], mark: u32, space: u32) -> Vec<u8> {
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

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
