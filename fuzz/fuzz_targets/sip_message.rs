//! The SIP message layer on arbitrary bytes: parsing and validation never panic; an accepted
//! request's response serialises and parses again; a refused one's response serialises.
//! (TCP framing has its own target, sip_stream.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipd::wire::Message;

fuzz_target!(|data: &[u8]| {
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
    if let Some(rsp) = Message::oversize(data, 1024).response("fuzz") {
        let _ = rsp.to_bytes();
    }
});
