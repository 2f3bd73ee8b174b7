//! The digit-map parser of configuration text and the collector it drives: arbitrary text must
//! parse or be refused with a column inside it, never panic; a parsed map fed the text's keys
//! ends, once every timer ran, in exactly one event.
#![no_main]

use fxs::digitmap::{DigitCollector, DigitMap, DigitTiming};
use libfuzzer_sys::fuzz_target;
use sansio::{Core, Instant};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let map = match text.parse::<DigitMap>() {
        Ok(map) => map,
        Err(e) => {
            assert!(e.column >= 1 && e.column <= text.chars().count() + 1, "{e}");
            return;
        }
    };
    let now = Instant::now();
    let mut c = DigitCollector::new(now, map, DigitTiming::default());
    for d in text.chars() {
        let _ = c.handle_digit(now, d);
    }
    while let Some(at) = c.poll_timeout() {
        c.handle_timeout(at);
    }
    assert_eq!(std::iter::from_fn(|| c.poll_event()).count(), 1);
});
