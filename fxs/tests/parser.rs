//! The tone-string parser: DAHDI's malformed `nz` entry, every built-in zone, and properties
//! (never panics; valid strings round-trip).
use fxs::toneplan::{MAX_DURATION_MS, MAX_FREQ_HZ};
use fxs::{cptone, Mix, ParseErrorKind, ToneElement, ToneSeq};
use proptest::prelude::*;

/// dahdi-tools zonedata.c, zone 10 (nz), exactly as written (docs/tones.md).
const NZ_STUTTER_ZONEDATA: &str = "!400/100!0/100,!400/100,!0/100,!400/100,!0/100,!400/100!0/100,!400/100,!0/100,!400/100,!0/100,400";
const NZ_DIALRECALL_ZONEDATA: &str = "!400/100!0/100,!400/100,!0/100,!400/100,!0/100,400";

#[test]
fn nz_original_is_rejected_and_builtin_is_fixed() {
    for original in [NZ_STUTTER_ZONEDATA, NZ_DIALRECALL_ZONEDATA] {
        let e = ToneSeq::parse(original).expect_err("zonedata.c nz must be rejected");
        assert_eq!(e.pos, 8);
        assert_eq!(e.kind, ParseErrorKind::ExpectedComma { found: '!' });
        assert!(e.to_string().contains("column 9"), "{e}");
    }
    let nz = cptone("nz").expect("nz");
    let burst = "!400/100,!0/100";
    assert_eq!(
        nz.stutter.to_string(),
        format!("{}{}", format!("{burst},").repeat(6), "400")
    );
    assert_eq!(
        nz.dialrecall.unwrap().to_string(),
        format!("{}{}", format!("{burst},").repeat(3), "400")
    );
    // 6 bursts, 6 gaps, steady tone: libtonezone dropped two of the gaps.
    assert_eq!(nz.stutter.elements().len(), 13);
}

#[test]
fn hu_three_frequency_original_is_rejected() {
    let e = ToneSeq::parse("350+375+400").unwrap_err();
    assert_eq!(
        (e.pos, e.kind),
        (7, ParseErrorKind::ExpectedComma { found: '+' })
    );
    assert_eq!(cptone("hu").unwrap().stutter.to_string(), "350+375");
}

#[test]
fn us_is_gr506_and_us_dahdi_is_zonedata() {
    let us = cptone("us").unwrap();
    assert_eq!(us.level_dbm0, -13.0);
    let bursts = |seq: &ToneSeq| {
        seq.elements()
            .iter()
            .filter(|e| e.once && !e.is_silence())
            .count()
    };
    assert_eq!(bursts(&us.stutter), 10);
    let last = us.stutter.elements().last().unwrap();
    assert_eq!(
        (last.f1, last.second, last.duration_ms),
        (350, Some((Mix::Sum, 440)), None)
    );
    let dahdi = cptone("us-dahdi").unwrap();
    assert_eq!(bursts(&dahdi.stutter), 6);
    assert_eq!(
        dahdi.stutter.to_string(),
        "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440"
    );
    assert_eq!(dahdi.dahdi_zone, Some(0));
}

fn element(once: bool, last: bool) -> impl Strategy<Value = ToneElement> {
    let tone = (
        1..=MAX_FREQ_HZ,
        proptest::option::of((prop_oneof![Just(Mix::Sum), Just(Mix::Am)], 1..=MAX_FREQ_HZ)),
    )
        .prop_map(|(f1, second)| (f1, second));
    let silence = Just((0u16, None));
    let duration = if last {
        proptest::option::of(1..=MAX_DURATION_MS).boxed()
    } else {
        (1..=MAX_DURATION_MS).prop_map(Some).boxed()
    };
    (prop_oneof![3 => tone, 1 => silence], duration).prop_map(move |((f1, second), duration_ms)| {
        ToneElement {
            once,
            f1,
            second,
            duration_ms,
        }
    })
}

fn valid_seq() -> impl Strategy<Value = Vec<ToneElement>> {
    (0usize..6, 0usize..6).prop_flat_map(|(n_once, n_loop)| {
        let total = (n_once + n_loop).max(1);
        (0..total)
            .map(|i| element(i < n_once, i + 1 == total).boxed())
            .collect::<Vec<_>>()
    })
}

proptest! {
    #[test]
    fn never_panics_on_any_string(s in "\\PC{0,60}") {
        let _ = ToneSeq::parse(&s);
    }

    #[test]
    fn near_valid_strings_either_fail_or_round_trip(s in "[0-9!+*/,@ ]{0,40}") {
        if let Ok(seq) = ToneSeq::parse(&s) {
            prop_assert_eq!(ToneSeq::parse(&seq.to_string()), Ok(seq));
        } else {
            let e = ToneSeq::parse(&s).unwrap_err();
            prop_assert!(e.pos <= s.len());
        }
    }

    #[test]
    fn valid_sequences_round_trip(elements in valid_seq()) {
        let seq = ToneSeq::from_elements(elements.clone()).expect("generated sequence is valid");
        let text = seq.to_string();
        let back = ToneSeq::parse(&text).expect("canonical text parses");
        prop_assert_eq!(back.elements(), &elements[..]);
        prop_assert_eq!(&back.to_string(), &text);
        // spaces around elements are accepted and do not change the meaning
        let spaced = text.replace(',', " , ");
        prop_assert_eq!(ToneSeq::parse(&spaced), Ok(seq));
    }
}
