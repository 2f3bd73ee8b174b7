//! The call-control channel's decoder: arbitrary packets must parse or fail with an error,
//! never panic; whatever parses re-encodes to the same octets (the encoding is canonical).
//! Every packet also goes into a chand-side link that is up, so unknown calls, bad ids and
//! wrong directions take the link's error paths.
#![no_main]

use std::time::Instant;

use callctl::link::{Config, Link};
use callctl::wire::{Message, Ports};
use callctl::Side;
use libfuzzer_sys::fuzz_target;
use sansio::Core;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        assert_eq!(m.emit(), data);
        assert!(!m.to_string().contains('\n'));
    }
    let now = Instant::now();
    let mut link = Link::new(now, Side::Chand, 2, Ports::default(), Config::default());
    let hello = Message::Hello {
        epoch: 1,
        peer_epoch: 2,
        ports: Ports::default(),
    };
    link.handle_packet(now, &hello.emit());
    link.handle_packet(now, data);
    while let Some(p) = link.poll_transmit() {
        assert!(Message::parse(&p).is_ok());
    }
    while link.poll_event().is_some() {}
});
