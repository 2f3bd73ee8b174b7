//! The TCP stream framer the daemon uses (sipd::wire::Framer, RFC 3261 §18.3) on arbitrary
//! bytes in arbitrary chunkings: never a panic (overflow checks are on), every framed message
//! within the maximum size, framing independent of how the stream was cut, and every framed
//! message parsed without a panic.
//!
//! Input: byte 0 picks the maximum message size, byte 1 seeds the chunk sizes; the rest is
//! the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipd::wire::{FrameError, Framer, Message};

/// Every message framed from `stream` cut into the chunk sizes `cuts` yields (cycled).
fn frame(
    stream: &[u8],
    max: usize,
    cuts: &mut dyn Iterator<Item = usize>,
) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut framer = Framer::new(max);
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = cuts.next().unwrap_or(1).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        framer.push(chunk);
        loop {
            match framer.next_message() {
                Ok(Some(m)) => {
                    assert!(m.len() <= max, "framed {} octets, maximum {max}", m.len());
                    out.push(m);
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
        // What is left is one incomplete message.
        assert!(framer.buffered() <= max);
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let [size, seed, stream @ ..] = data else {
        return;
    };
    // 64..=65,344 octets: small maxima make the size checks reachable with short inputs.
    let max = 64 + usize::from(*size) * 256;
    let mut state = u32::from(*seed) | 1;
    let mut cuts = std::iter::from_fn(move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        Some(1 + (state % 97) as usize)
    });
    let (chunked, chunked_err) = frame(stream, max, &mut cuts);
    let (whole, whole_err) = frame(stream, max, &mut std::iter::repeat(stream.len()));
    assert_eq!(chunked, whole, "framing depends on the chunking");
    assert_eq!(chunked_err.is_some(), whole_err.is_some());
    for m in &chunked {
        let _ = Message::parse(m);
    }
});
