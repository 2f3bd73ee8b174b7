//! Q.921 LAPD: frame parsing (Repr round trip) and the data-link and span state machines fed
//! with arbitrary frames and timer steps. Input: a byte of flags (bit 0 side, 1 FACILITY
//! transport, 2 MWIInterrogate resync, 3 basic calls on), then records of
//! `[len][len bytes of frame]`, where len 0 means "advance the clock by the next byte × 10 ms".
#![no_main]

use std::time::{Duration, Instant};

use isdn::call::{CallConfig, Interface};
use isdn::q921::{Config, Lapd, Repr, Side};
use isdn::span::{Lamp, Resync, Span, SpanConfig, Transport};
use libfuzzer_sys::fuzz_target;
use sansio::Core;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Repr::parse_bytes(data) {
        assert_eq!(r.to_vec(), data, "emit(parse(x)) == x");
    }
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let side = if first & 1 == 0 {
        Side::User
    } else {
        Side::Network
    };
    let mut now = Instant::now();
    let mut lapd = Lapd::new(Config::new(side));
    let mut cfg = SpanConfig::new(side);
    if first & 2 != 0 {
        cfg.transport = Transport::Facility;
    }
    // The paths of this session's span features: MWIInterrogate at link-up and basic calls.
    if first & 4 != 0 {
        cfg.resync = Resync::Interrogate;
    }
    if first & 8 != 0 {
        cfg.calls = Some(CallConfig::new(side, Interface::T1));
    }
    let mut span = Span::new(cfg);
    lapd.start(now);
    span.start(now);
    span.set_lamp(now, "1234", Lamp::on(Some(2)));
    while let Some((&len, tail)) = rest.split_first() {
        if len == 0 {
            let Some((&step, tail)) = tail.split_first() else {
                break;
            };
            now += Duration::from_millis(u64::from(step) * 10);
            lapd.handle_timeout(now);
            span.handle_timeout(now);
            rest = tail;
        } else {
            let n = usize::from(len).min(tail.len());
            let (frame, tail) = tail.split_at(n);
            lapd.handle_frame(now, frame);
            span.handle_frame(now, frame);
            let _ = lapd.send(now, frame.to_vec());
            rest = tail;
        }
        while lapd.poll_transmit().is_some() {}
        while lapd.poll_event().is_some() {}
        while span.poll_transmit().is_some() {}
        while span.poll_event().is_some() {}
    }
});
