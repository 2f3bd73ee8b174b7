//! On-hook data transmission of the visual message-waiting indicator: the MDMF message
//! (Telcordia GR-30, ETSI EN 300 659-3) and its FSK rendering (Bell 202 or ITU-T V.23) as
//! blocks of G.711 audio.
//!
//! Bit stream (GR-30 / EN 300 659-1): channel seizure = 300 bits alternating 0,1; mark = 180 bits
//! of 1; each octet as 1 start bit (0), 8 data bits LSB first, 1 stop bit (1); after the checksum a
//! short mark tail so that the last stop bit is not cut, then silence to the end of the block.

use std::f64::consts::PI;

use serde::Deserialize;

use crate::law::{Block, Law, BLOCK_SAMPLES, SAMPLE_RATE};

/// MDMF message type "Message Waiting Notification" (GR-30; EN 300 659-3 "Message Waiting Indicator").
pub const MDMF_MWI: u8 = 0x82;
/// Parameter type "Visual Indicator" (VMWI) (GR-30; EN 300 659-3 parameter 0x0B).
pub const PARAM_VMWI: u8 = 0x0B;
/// VMWI parameter value: indicator on.
pub const VMWI_ON: u8 = 0xFF;
/// VMWI parameter value: indicator off.
pub const VMWI_OFF: u8 = 0x00;
/// Bit rate of both standards, bit/s.
pub const BAUD: u32 = 1200;
/// Channel seizure length, bits.
pub const SEIZURE_BITS: usize = 300;
/// Mark (idle 1s) before the message, bits.
pub const MARK_BITS: usize = 180;
/// Mark after the checksum, bits.
pub const TAIL_BITS: usize = 12;
/// Transmit level of the FSK signal, dBm0 (a usual caller-ID send level, well inside the wide
/// receive range of GR-30 and EN 300 659-1 receivers).
pub const FSK_LEVEL_DBM0: f64 = -13.5;

/// FSK modulation of on-hook data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FskStandard {
    /// Bell 202: mark 1200 Hz, space 2200 Hz (North America, GR-30).
    Bell202,
    /// ITU-T V.23: mark 1300 Hz, space 2100 Hz (Europe and elsewhere, EN 300 659-1).
    V23,
}

impl FskStandard {
    /// Mark (binary 1) frequency, Hz.
    pub fn mark_hz(self) -> u32 {
        match self {
            FskStandard::Bell202 => 1200,
            FskStandard::V23 => 1300,
        }
    }

    /// Space (binary 0) frequency, Hz.
    pub fn space_hz(self) -> u32 {
        match self {
            FskStandard::Bell202 => 2200,
            FskStandard::V23 => 2100,
        }
    }
}

/// The MDMF message-waiting message: type 0x82, length, parameter VMWI (0x0B, length 1,
/// 0xFF on / 0x00 off), checksum (two's complement of the sum of all previous octets, so that
/// the sum of the whole message is 0 mod 256). Shape: 6 octets.
pub fn mdmf_mwi_message(on: bool) -> [u8; 6] {
    let mut m = [
        MDMF_MWI,
        3,
        PARAM_VMWI,
        1,
        if on { VMWI_ON } else { VMWI_OFF },
        0,
    ];
    let sum = m[..5].iter().fold(0u8, |a, &b| a.wrapping_add(b));
    m[5] = sum.wrapping_neg();
    m
}

/// The bits of a spill carrying `message`: seizure, mark, framed octets, tail.
fn bits(message: &[u8]) -> impl Iterator<Item = bool> + '_ {
    let seizure = (0..SEIZURE_BITS).map(|i| i % 2 == 1);
    let mark = std::iter::repeat(true).take(MARK_BITS);
    let octets = message.iter().flat_map(|&b| {
        std::iter::once(false)
            .chain((0..8).map(move |i| b >> i & 1 == 1))
            .chain(std::iter::once(true))
    });
    let tail = std::iter::repeat(true).take(TAIL_BITS);
    seizure.chain(mark).chain(octets).chain(tail)
}

/// Render `message` as continuous-phase FSK at 1200 bit/s, 8 kHz, in `law`, padded with silence
/// to whole 160-sample blocks. Bit `k` covers samples `[k·8000/1200, (k+1)·8000/1200)`, so the
/// fractional bit length (6⅔ samples) does not drift.
pub fn render_spill(standard: FskStandard, law: Law, message: &[u8]) -> Vec<Block> {
    let bits: Vec<bool> = bits(message).collect();
    let samples = (bits.len() as u64 * u64::from(SAMPLE_RATE)).div_ceil(u64::from(BAUD)) as usize;
    let blocks = samples.div_ceil(BLOCK_SAMPLES);
    let peak = law.peak_for_dbm0(FSK_LEVEL_DBM0);
    let mut phase = 0.0f64;
    let mut out = vec![[law.silence(); BLOCK_SAMPLES]; blocks];
    for n in 0..samples {
        let bit = bits
            .get(n * BAUD as usize / SAMPLE_RATE as usize)
            .copied()
            .unwrap_or(true);
        let f = if bit {
            standard.mark_hz()
        } else {
            standard.space_hz()
        };
        let x = peak * phase.sin();
        phase = (phase + 2.0 * PI * f64::from(f) / f64::from(SAMPLE_RATE)) % (2.0 * PI);
        out[n / BLOCK_SAMPLES][n % BLOCK_SAMPLES] = law.encode(x.round() as i16);
    }
    out
}

/// Duration of a spill of `blocks` blocks, ms.
pub fn spill_ms(blocks: usize) -> u32 {
    (blocks * BLOCK_SAMPLES * 1000 / SAMPLE_RATE as usize) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_and_checksum() {
        let on = mdmf_mwi_message(true);
        assert_eq!(on, [0x82, 0x03, 0x0B, 0x01, 0xFF, 0x70]);
        let off = mdmf_mwi_message(false);
        assert_eq!(off, [0x82, 0x03, 0x0B, 0x01, 0x00, 0x6F]);
        for m in [on, off] {
            assert_eq!(m.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        }
    }

    #[test]
    fn spill_length() {
        let blocks = render_spill(FskStandard::Bell202, Law::Mulaw, &mdmf_mwi_message(true));
        // 300 + 180 + 6×10 + 12 = 552 bits = 460 ms → 23 blocks.
        assert_eq!(blocks.len(), 23);
        assert_eq!(spill_ms(blocks.len()), 460);
    }
}
