//! Helpers shared by isdn's integration tests: hex test vectors and the calling party of the
//! golden SETUPs. (tshark's verdicts on our frames are in the tests crate, tests/isdn_tshark.rs,
//! with the other real peers.)
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod rig;

use isdn::q921::{Kind, Repr};
use isdn::q931::{CallReference, NumberingPlan, PartyNumberIe, Presentation, TypeOfNumber};

/// Hex (whitespace ignored) to bytes.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// libpri's minimal MWIActivate SETUP, Q.921 header included (docs/qsig.md).
pub const GOLDEN_SETUP: &str =
    "0001 0000 08 020001 05 0402a880 1801ac 1c1f 9f aa06800100820100 8b0100
    a111 020101 020150 3009 800431323334 0a0101 6c0600803230303070058031323334";

/// A frame of SAPI 0, TEI 0 (a PRI's data link).
pub fn repr(cr: bool, kind: Kind, pf: bool, info: &[u8]) -> Repr<'_> {
    Repr {
        sapi: 0,
        cr,
        tei: 0,
        kind,
        pf,
        info,
    }
}

/// Call reference 1, sent by the side that allocated it (Q.931 §4.3, flag 0).
pub const CR1: CallReference = CallReference::Call {
    value: 1,
    flag: false,
};

/// The calling party of the golden MWI SETUPs: "2000", unknown type and plan, presentation
/// allowed, user-provided.
pub fn calling() -> PartyNumberIe<'static> {
    PartyNumberIe {
        ton: TypeOfNumber::Unknown,
        plan: NumberingPlan::Unknown,
        presentation: Some(Presentation {
            indicator: 0,
            screening: 0,
        }),
        digits: "2000",
    }
}

/// One round of frames between a span under test and the PBX's Q.921 entity `pbx`: the span's
/// frames go to the PBX (each is also pushed to `sent`), the PBX's to the span (both are lost
/// while not `connected`), the span's events to `events`. Returns the layer-3 messages the PBX
/// received, for the test to answer, or `None` when nothing moved.
pub fn exchange(
    span: &mut isdn::span::Span,
    pbx: &mut isdn::q921::Lapd,
    now: std::time::Instant,
    connected: bool,
    sent: &mut Vec<Vec<u8>>,
    events: &mut Vec<isdn::span::SpanEvent>,
) -> Option<Vec<Vec<u8>>> {
    use sansio::Core;
    let mut moved = false;
    while let Some(f) = span.poll_transmit() {
        moved = true;
        if connected {
            pbx.handle_frame(now, &f);
        }
        sent.push(f);
    }
    let mut messages = Vec::new();
    while let Some(ev) = pbx.poll_event() {
        moved = true;
        if let isdn::q921::Event::Data(m) = ev {
            messages.push(m);
        }
    }
    while let Some(f) = pbx.poll_transmit() {
        moved = true;
        if connected {
            span.handle_frame(now, &f);
        }
    }
    events.extend(std::iter::from_fn(|| span.poll_event()));
    moved.then_some(messages)
}
