//! The media path's decoders of untrusted RTP payloads: RFC 4733 telephone-event payloads into
//! the event receiver, and G.711 payloads with arbitrary timestamps into the play-out buffer
//! (wraps, jumps, duplicates, late and oversized packets), pulled as chand's 20 ms tick does.
//! Input: records of `[kind][ts: 4][len][len bytes]`; kind bit 0 picks the event receiver,
//! bits 1-7 advance the clock by that many ms and pull a frame.
#![no_main]

use std::time::{Duration, Instant};

use fxs::Law;
use libfuzzer_sys::fuzz_target;
use media::event::{Payload, Receiver};
use media::jitter::JitterBuffer;
use sansio::Core;

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut jb = JitterBuffer::new(Law::Mulaw);
    let mut rx = Receiver::new();
    let mut rest = data;
    while rest.len() >= 6 {
        let kind = rest[0];
        let ts = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let n = usize::from(rest[5]).min(rest.len() - 6);
        let payload = &rest[6..6 + n];
        rest = &rest[6 + n..];
        if kind & 1 == 1 {
            if let Ok(p) = Payload::parse(payload) {
                assert_eq!(Payload::parse(&p.emit()), Ok(p));
                rx.handle_packet(now, ts, p);
            }
        } else {
            jb.handle_packet(now, ts, payload);
        }
        now += Duration::from_millis(u64::from(kind >> 1));
        rx.handle_timeout(now);
        while rx.poll_event().is_some() {}
        let frame = jb.pull();
        assert_eq!(frame.len(), 160);
        assert!(jb.depth() <= 2 * u64::from(u32::MAX));
    }
});
