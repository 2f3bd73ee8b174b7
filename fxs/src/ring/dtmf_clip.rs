//! DTMF caller ID sent before the first ring (ETSI EN 300 659-1 Annex B, "DTMF based CLIP", as
//! used in Sweden, Denmark, Finland, the Netherlands and others; docs/calls.md).
//!
//! - The symbols: `A`, the calling number, `C`; a number that is not shown is replaced by the
//!   information code `B00` (not available) or `B10` (presentation restricted), then `C`.
//! - Each symbol is a DTMF tone of [`DIGIT_MS`] followed by a pause of [`PAUSE_MS`], the low
//!   (row) component at [`LOW_DBM0`] and the high (column) one [`TWIST_DB`] louder.
//! - The first ring follows [`RING_AFTER_MS`] after the end of the data (the Annex allows
//!   200-500 ms), so the phone, which gets no line reversal from an FXS port here, has it
//!   before it rings.
//!
//! The tones come from the tone generator's exact-period tables (`gen::render_table`).

use super::{CallerId, Presentation};
use crate::dtmf::frequencies;
use crate::gen::render_table;
use crate::law::{Block, Law, BLOCK_SAMPLES, SAMPLE_RATE};
use crate::toneplan::Mix;

/// Length of each DTMF symbol, ms (EN 300 659-1 Annex B: 70 ms tone).
pub const DIGIT_MS: u32 = 70;
/// Pause after each symbol, ms (EN 300 659-1 Annex B: 70 ms pause).
pub const PAUSE_MS: u32 = 70;
/// From the end of the data to the first ring, ms (EN 300 659-1 Annex B: 200 to 500 ms).
pub const RING_AFTER_MS: u32 = 300;
/// Level of the low-group (row) component, dBm0 (a DTMF sender's nominal -11 dBm0).
pub const LOW_DBM0: f64 = -11.0;
/// How much louder the high-group (column) component is, dB (pre-emphasis of 2 dB).
pub const TWIST_DB: f64 = 2.0;
/// Most digits of the number sent (E.164's 15); further digits are dropped.
pub const MAX_DIGITS: usize = 15;
/// Information code: the calling number is not available (`B00C`).
pub const CODE_UNAVAILABLE: &str = "00";
/// Information code: the caller restricted the presentation (`B10C`).
pub const CODE_RESTRICTED: &str = "10";

/// The symbols that carry `cid`: `A<number>C`, or `B<code>C` when the number is not shown.
/// Only the digits `0-9` of the number are sent (at most [`MAX_DIGITS`]); a number without
/// any counts as not available. The name and time cannot be carried by DTMF.
pub fn symbols(cid: &CallerId) -> String {
    let digits: String = match &cid.number {
        Presentation::Available(n) => n
            .chars()
            .filter(char::is_ascii_digit)
            .take(MAX_DIGITS)
            .collect(),
        _ => String::new(),
    };
    match (&cid.number, digits.is_empty()) {
        (_, false) => format!("A{digits}C"),
        (Presentation::Private, true) => format!("B{CODE_RESTRICTED}C"),
        _ => format!("B{CODE_UNAVAILABLE}C"),
    }
}

/// `symbols` as DTMF audio in `law`: each symbol [`DIGIT_MS`] of tone then [`PAUSE_MS`] of
/// silence, padded with silence to whole 160-sample blocks. A character that is not a DTMF
/// digit is left out.
pub fn render(symbols: &str, law: Law) -> Vec<Block> {
    let per_ms = (SAMPLE_RATE / 1000) as usize;
    let (tone, pause) = (DIGIT_MS as usize * per_ms, PAUSE_MS as usize * per_ms);
    let mut samples = Vec::new();
    for (row, column) in symbols.chars().filter_map(frequencies) {
        let table = render_table(law, row, Some((Mix::Sum, column)), LOW_DBM0, TWIST_DB);
        samples.extend(table.iter().cycle().take(tone));
        samples.resize(samples.len() + pause, law.silence());
    }
    samples
        .chunks(BLOCK_SAMPLES)
        .map(|chunk| {
            let mut block = [law.silence(); BLOCK_SAMPLES];
            block[..chunk.len()].copy_from_slice(chunk);
            block
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use sansio::Core;

    use super::*;
    use crate::dtmf::{DtmfDetector, DtmfEvent};
    use crate::measure::{dbm0, goertzel};
    use crate::ring::tests::alice;

    /// The digits the crate's own receiver hears in `blocks`, with their begin times in ms.
    fn decode(blocks: &[Block], law: Law) -> Vec<(char, u64)> {
        let t0 = Instant::now();
        let mut det = DtmfDetector::new(law);
        let mut out = Vec::new();
        for (i, b) in blocks.iter().enumerate() {
            let linear: Vec<i16> = b.iter().map(|&c| law.decode(c)).collect();
            det.handle_audio(t0 + Duration::from_millis(20 * i as u64), &linear);
            while let Some(ev) = det.poll_event() {
                if let DtmfEvent::Begin { digit, at } = ev {
                    out.push((digit, (at - t0).as_millis() as u64));
                }
            }
        }
        out
    }

    #[test]
    fn the_number_is_framed_by_a_and_c_and_an_absent_one_gets_its_code() {
        assert_eq!(symbols(&alice()), "A5551234567C");
        let mut cid = alice();
        cid.number = Presentation::Available("+46 (8) 123-4567890123456".into());
        assert_eq!(symbols(&cid), "A468123456789012C");
        cid.number = Presentation::Private;
        assert_eq!(symbols(&cid), "B10C");
        cid.number = Presentation::OutOfArea;
        assert_eq!(symbols(&cid), "B00C");
        cid.number = Presentation::Available("anonymous".into());
        assert_eq!(symbols(&cid), "B00C");
    }

    #[test]
    fn the_receiver_decodes_every_symbol_at_its_140_ms_pitch_in_both_laws() {
        for law in [Law::Mulaw, Law::Alaw] {
            let s = symbols(&alice());
            let blocks = render(&s, law);
            // 12 symbols of 140 ms: 1680 ms = 84 blocks.
            assert_eq!(blocks.len(), 84);
            let heard = decode(&blocks, law);
            let digits: String = heard.iter().map(|(d, _)| *d).collect();
            assert_eq!(digits, s, "{law:?}");
            for (i, (_, at)) in heard.iter().enumerate() {
                let want = i as u64 * u64::from(DIGIT_MS + PAUSE_MS);
                assert!(
                    at.abs_diff(want) <= 7,
                    "{law:?}: symbol {i} begins at {at} ms"
                );
            }
        }
    }

    #[test]
    fn the_levels_are_the_nominal_ones() {
        let law = Law::Mulaw;
        let blocks = render("5", law);
        let tone: Vec<i16> = blocks
            .concat()
            .iter()
            .take(DIGIT_MS as usize * 8)
            .map(|&c| law.decode(c))
            .collect();
        let (row, column) = frequencies('5').unwrap();
        let level = |f: u16| dbm0(law, goertzel(&tone, f64::from(f)));
        assert!((level(row) - LOW_DBM0).abs() < 0.3, "row {}", level(row));
        assert!(
            (level(column) - LOW_DBM0 - TWIST_DB).abs() < 0.3,
            "column {}",
            level(column)
        );
        let pause = &blocks.concat()[DIGIT_MS as usize * 8..];
        assert!(pause.iter().all(|&c| c == law.silence()));
    }
}
