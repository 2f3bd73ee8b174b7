//! Q.931 decoder: any bytes parse or fail cleanly; what parses re-encodes and parses again,
//! and its Facility IEs go through the ROSE/QSIG decoders.
#![no_main]

use isdn::q931::Message;
use isdn::qsig::MwiInvoke;
use isdn::rose::{Component, Facility};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::parse(data) else {
        return;
    };
    let _ = m.check().cause();
    let again = m.to_vec();
    assert!(Message::parse(&again).is_ok());
    for fac in &m.facility {
        if let Ok(f) = Facility::parse(fac) {
            for c in &f.components {
                if let Component::Invoke(inv) = c {
                    let _ = MwiInvoke::from_invoke(inv);
                }
            }
        }
    }
});
