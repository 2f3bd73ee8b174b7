//! The RFC 3842 message-summary parser on arbitrary bytes: never panics, and whatever it
//! accepts survives emission and a second parse unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipd::summary::Summary;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Summary::parse(data) {
        let again = Summary::parse(s.to_body().as_bytes()).expect("own output parses");
        assert_eq!(again, s);
    }
});
