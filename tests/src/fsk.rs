//! Independent decoding of an on-hook FSK spill a sim phone captured: the samples go into a WAV
//! file and Debian's minimodem decodes them (1200 bit/s, 8-N-1, the standard's mark and space
//! frequencies) back to bytes.

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Write `samples` (8 kHz linear) as a 16-bit mono PCM WAV file, with 200 ms of silence before
/// and after so the decoder sees the carrier start and stop.
pub fn write_wav(path: &Path, samples: &[i16]) -> std::io::Result<()> {
    let pad = [0i16; 1600];
    let data: Vec<u8> = pad
        .iter()
        .chain(samples)
        .chain(&pad)
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let len = u32::try_from(data.len()).expect("WAV under 4 GiB");
    let mut f = std::fs::File::create(path)?;
    f.write_all(b"RIFF")?;
    f.write_all(&(36 + len).to_le_bytes())?;
    f.write_all(b"WAVEfmt ")?;
    // fmt chunk: size 16, PCM, mono, 8000 Hz, 16000 bytes/s, block 2, 16 bits.
    for field in [
        16u32.to_le_bytes().as_slice(),
        &1u16.to_le_bytes(),
        &1u16.to_le_bytes(),
    ] {
        f.write_all(field)?;
    }
    f.write_all(&8000u32.to_le_bytes())?;
    f.write_all(&16000u32.to_le_bytes())?;
    f.write_all(&2u16.to_le_bytes())?;
    f.write_all(&16u16.to_le_bytes())?;
    f.write_all(b"data")?;
    f.write_all(&len.to_le_bytes())?;
    f.write_all(&data)
}

/// The bytes minimodem decodes from `samples` at 1200 bit/s with `mark_hz`/`space_hz`.
/// Panics if minimodem is missing (scripts/install-deps installs it) or fails.
pub fn minimodem(samples: &[i16], mark_hz: u32, space_hz: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("spill.wav");
    write_wav(&wav, samples).expect("write the WAV file");
    let out = Command::new("minimodem")
        .args(["--rx", "-q", "-8", "-M"])
        .arg(mark_hz.to_string())
        .arg("-S")
        .arg(space_hz.to_string())
        .arg("-f")
        .arg(&wav)
        .arg("1200")
        .output()
        .unwrap_or_else(|e| panic!("minimodem must be installed (scripts/install-deps): {e}"));
    assert!(out.status.success(), "minimodem failed: {out:?}");
    out.stdout
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
