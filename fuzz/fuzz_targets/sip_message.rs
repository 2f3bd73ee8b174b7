//! The SIP message layer on arbitrary bytes: TCP framing, parsing and validation never panic;
//! a frame never claims more octets than it was given; an accepted request's response
//! serialises and parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipd::wire::{frame, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = frame(data) {
        assert!(n <= data.len());
    }
    match Message::parse(data) {
        Ok(msg) => {
            if msg.is_request() {
                let rsp = msg.response(200, "OK", "fuzz");
                assert!(Message::parse(&rsp.to_bytes()).is_ok());
            }
        }
        Err(defect) => {
            if let Some(rsp) = defect.response("fuzz") {
                let _ = rsp.to_bytes();
            }
        }
    }
});
