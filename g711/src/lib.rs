//! G.711 (ITU-T) companding, the one law type of the workspace: [`Law`] (µ-law or A-law) with
//! its encoder and decoder and the dBm0 scale of the digital side. The FXS line core, the
//! configuration, media and the DAHDI binding all use this type; DAHDI's "span default law"
//! is the absence of a law (`Option<Law>`) where the binding sets one.
//!
//! Linear samples are 16-bit two's complement (`i16`). µ-law works on 14 bits and A-law on 13 bits;
//! the encoders drop the low bits, the decoders return the reconstruction value scaled back to 16 bits.

#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// The companding law of a port (`[[fxs]] law`; dahdi/user.h `DAHDI_LAW_MULAW 1`,
/// `DAHDI_LAW_ALAW 2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Law {
    /// G.711 µ-law (North America, Japan).
    #[default]
    Mulaw,
    /// G.711 A-law (Europe and most other countries).
    Alaw,
}

/// `µ-law` bias added before segment search (G.711 Table 2a: decision values are offset by 33 in
/// 14-bit units = 132 in 16-bit units).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude (16-bit units) the µ-law encoder accepts before clipping (8159 in 14 bits).
const ULAW_CLIP: i32 = 32635;

impl Law {
    /// Encode one 16-bit linear sample into a G.711 code of this law.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mulaw => ulaw_encode(sample),
            Law::Alaw => alaw_encode(sample),
        }
    }

    /// Decode one G.711 code of this law into a 16-bit linear sample (the segment's reconstruction value).
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Mulaw => ulaw_decode(code),
            Law::Alaw => alaw_decode(code),
        }
    }

    /// The code of digital silence (linear 0): `0xFF` in µ-law, `0xD5` in A-law.
    pub fn silence(self) -> u8 {
        self.encode(0)
    }

    /// Peak of a full-load sine in 16-bit units: 8159 × 4 for µ-law (14-bit scale), 4096 × 8 for
    /// A-law (13-bit scale) (G.711 §4: the overload points).
    pub fn full_scale(self) -> f64 {
        match self {
            Law::Mulaw => 32636.0,
            Law::Alaw => 32768.0,
        }
    }

    /// Level of a full-load sine in dBm0: +3.17 dBm0 for µ-law, +3.14 dBm0 for A-law (G.711 §4,
    /// the "digital milliwatt" definition of 0 dBm0).
    #[allow(clippy::approx_constant)] // 3.14 dB is G.711's figure, not π
    pub fn full_load_dbm0(self) -> f64 {
        match self {
            Law::Mulaw => 3.17,
            Law::Alaw => 3.14,
        }
    }

    /// Peak amplitude (16-bit units) of a sine at `dbm0` dBm0 in this law.
    pub fn peak_for_dbm0(self, dbm0: f64) -> f64 {
        self.full_scale() * 10f64.powf((dbm0 - self.full_load_dbm0()) / 20.0)
    }

    /// Level in dBm0 of a signal whose RMS is `rms` (16-bit units) in this law.
    pub fn rms_to_dbm0(self, rms: f64) -> f64 {
        20.0 * (rms / (self.full_scale() / std::f64::consts::SQRT_2)).log10()
            + self.full_load_dbm0()
    }
}

impl Law {
    /// The keyword of `[[fxs]] law`: `mulaw` or `alaw`.
    pub fn as_str(self) -> &'static str {
        match self {
            Law::Mulaw => "mulaw",
            Law::Alaw => "alaw",
        }
    }
}

impl fmt::Display for Law {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown law keyword.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownLaw(pub String);

impl fmt::Display for UnknownLaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown law {:?}: expected one of mulaw, alaw", self.0)
    }
}

impl std::error::Error for UnknownLaw {}

impl FromStr for Law {
    type Err = UnknownLaw;
    /// `mulaw` or `alaw`, exactly as the configuration writes them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mulaw" => Ok(Law::Mulaw),
            "alaw" => Ok(Law::Alaw),
            _ => Err(UnknownLaw(s.to_owned())),
        }
    }
}

/// Read from its keyword (through [`FromStr`], so an unknown one gets [`UnknownLaw`]).
impl<'de> Deserialize<'de> for Law {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Number of the highest set bit (0-based) of a positive value.
fn top_bit(v: i32) -> i32 {
    31 - v.leading_zeros() as i32
}

/// G.711 µ-law encoder: sign, 3-bit segment, 4-bit step, all bits inverted (G.711 Table 2a).
pub fn ulaw_encode(sample: i16) -> u8 {
    let (sign, mag) = if sample < 0 {
        (0x80, -(sample as i32))
    } else {
        (0x00, sample as i32)
    };
    let biased = mag.min(ULAW_CLIP) + ULAW_BIAS;
    // biased is in 0x84..=0x7FFF, so its top bit is 7..=14: the segment is 0..=7.
    let segment = top_bit(biased) - 7;
    let step = (biased >> (segment + 3)) & 0x0F;
    !(sign | (segment << 4) as u8 | step as u8)
}

/// G.711 µ-law decoder (the reconstruction values of G.711 Table 2a, in 16-bit units).
pub fn ulaw_decode(code: u8) -> i16 {
    let c = !code;
    let segment = i32::from((c >> 4) & 0x07);
    let step = i32::from(c & 0x0F);
    let mag = (((step << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
    if c & 0x80 != 0 {
        -mag as i16
    } else {
        mag as i16
    }
}

/// G.711 A-law encoder: sign, 3-bit segment, 4-bit step, even bits inverted (XOR 0x55) (G.711 Table 1a).
pub fn alaw_encode(sample: i16) -> u8 {
    // 13-bit magnitude; negative values map to -x-1 so that the two halves are symmetric.
    let (mask, mag) = if sample >= 0 {
        (0xD5u8, i32::from(sample) >> 3)
    } else {
        (0x55u8, (-(i32::from(sample)) - 1) >> 3)
    };
    let code = if mag < 32 {
        // Segments 0 and 1 share the same step size.
        (mag >> 1) as u8
    } else {
        let segment = top_bit(mag) - 4; // 1..=7 for 32..=4095
        ((segment << 4) as u8) | ((mag >> segment) & 0x0F) as u8
    };
    code ^ mask
}

/// G.711 A-law decoder (the reconstruction values of G.711 Table 1a, in 16-bit units).
pub fn alaw_decode(code: u8) -> i16 {
    let c = code ^ 0x55;
    let segment = i32::from((c >> 4) & 0x07);
    let step = i32::from(c & 0x0F);
    let mag = match segment {
        0 => (step << 4) + 8,
        _ => ((step << 4) + 0x108) << (segment - 1),
    };
    if c & 0x80 != 0 {
        mag as i16
    } else {
        -mag as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ulaw_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0x7E), -8);
    }

    #[test]
    fn known_alaw_values() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    /// Every code decodes to a value that encodes back to the same code (except µ-law's
    /// negative zero 0x7F, which encodes as 0xFF), and decoding is monotonic in the code order.
    #[test]
    fn codes_round_trip_and_are_monotonic() {
        for law in [Law::Mulaw, Law::Alaw] {
            let mut values: Vec<i16> = (0..=255u8).map(|c| law.decode(c)).collect();
            for c in 0..=255u8 {
                let back = law.encode(law.decode(c));
                if law == Law::Mulaw && c == 0x7F {
                    assert_eq!(back, 0xFF);
                } else {
                    assert_eq!(back, c, "{law} code {c:#04x}");
                }
            }
            values.sort_unstable();
            values.dedup();
            assert_eq!(values.len(), if law == Law::Mulaw { 255 } else { 256 });
        }
    }

    /// Every 16-bit input encodes to the nearest reconstruction value's interval: the decoded value
    /// is never farther from the input than half the step of its segment (plus clipping).
    #[test]
    fn quantisation_error_is_within_half_a_step() {
        for law in [Law::Mulaw, Law::Alaw] {
            for x in i16::MIN..=i16::MAX {
                let y = law.decode(law.encode(x));
                let err = (i32::from(x) - i32::from(y)).abs();
                let mag = i32::from(x).abs();
                let bound = match law {
                    Law::Mulaw if mag > ULAW_CLIP => mag - 32124 + 1,
                    Law::Alaw if mag > 32256 => mag - 32256 + 1,
                    // Step is 1/16 of the segment span: ≤ 1/32 of |x| plus the smallest step.
                    _ => mag / 16 + 16,
                };
                assert!(err <= bound, "{law}: {x} -> {y}");
            }
        }
    }

    /// The digital milliwatt (G.711 Tables 5 and 6): a 1 kHz sine at 0 dBm0 sampled at
    /// π/8 + kπ/4 encodes exactly to the standard 8-byte sequences.
    #[test]
    fn digital_milliwatt() {
        for (law, expected) in [
            (Law::Mulaw, [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E]),
            (Law::Alaw, [0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4]),
        ] {
            let peak = law.peak_for_dbm0(0.0);
            let got: Vec<u8> = (0..8)
                .map(|k| {
                    let phase = std::f64::consts::PI / 8.0 + k as f64 * std::f64::consts::PI / 4.0;
                    law.encode((-peak * phase.sin()).round() as i16)
                })
                .collect();
            assert_eq!(got, expected, "{law}");
        }
    }

    /// A 0 dBm0 sine measured after encode + decode has an RMS 3.17 dB (µ-law) / 3.14 dB (A-law)
    /// below that of a full-scale sine, within 0.1 dB.
    #[test]
    fn zero_dbm0_rms() {
        for law in [Law::Mulaw, Law::Alaw] {
            let peak = law.peak_for_dbm0(0.0);
            let n = 8000;
            let sum: f64 = (0..n)
                .map(|i| {
                    let x = peak * (2.0 * std::f64::consts::PI * 1013.0 * i as f64 / 8000.0).sin();
                    let y = f64::from(law.decode(law.encode(x.round() as i16)));
                    y * y
                })
                .sum();
            let rms = (sum / n as f64).sqrt();
            let below_fs = 20.0 * (rms / (law.full_scale() / std::f64::consts::SQRT_2)).log10();
            assert!(
                (below_fs + law.full_load_dbm0()).abs() < 0.1,
                "{law}: {below_fs}"
            );
            assert!(law.rms_to_dbm0(rms).abs() < 0.1);
        }
    }
}
