//! A span on the user side linked to a PBX's network-side Q.921 entity, for the tests of what
//! the PBX sends and what the span answers.

use std::time::Instant;

use isdn::q921::{self, Lapd, Side};
use isdn::span::{Span, SpanConfig, SpanEvent};
use sansio::Core;

use super::hex;

/// The span and the PBX with the Q.931 messages and events the span produced.
pub struct Rig {
    /// The span under test (user side).
    pub span: Span,
    /// The PBX's Q.921 entity (network side).
    pub pbx: Lapd,
    /// The time of every step.
    pub now: Instant,
    /// Q.931 messages the span sent, in order.
    pub got: Vec<Vec<u8>>,
    /// Events the span reported, in order.
    pub events: Vec<SpanEvent>,
}

impl Rig {
    /// A span with `cfg` and the PBX, their link up, nothing sent yet.
    pub fn new(cfg: SpanConfig) -> Self {
        let now = Instant::now();
        let mut r = Rig {
            span: Span::new(cfg),
            pbx: Lapd::new(q921::Config::new(Side::Network)),
            now,
            got: Vec::new(),
            events: Vec::new(),
        };
        r.span.start(now);
        r.pbx.start(now);
        r.pump();
        assert!(r.span.status().link_up);
        r.events.clear();
        r
    }

    /// Moves frames both ways until neither side has anything to send.
    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(f) = self.span.poll_transmit() {
                moved = true;
                self.pbx.handle_frame(self.now, &f);
            }
            while let Some(ev) = self.pbx.poll_event() {
                if let q921::Event::Data(m) = ev {
                    self.got.push(m);
                }
            }
            while let Some(f) = self.pbx.poll_transmit() {
                moved = true;
                self.span.handle_frame(self.now, &f);
            }
            self.events
                .extend(std::iter::from_fn(|| self.span.poll_event()));
            if !moved {
                return;
            }
        }
    }

    /// The PBX sends one Q.931 message (hex); returns the span's answers.
    pub fn pbx_sends(&mut self, q931: &str) -> Vec<String> {
        let before = self.got.len();
        self.pbx.send(self.now, hex(q931)).unwrap();
        self.pump();
        self.got[before..].iter().map(|m| to_hex(m)).collect()
    }
}

/// Bytes as lower-case hex without spaces.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|o| format!("{o:02x}")).collect()
}
