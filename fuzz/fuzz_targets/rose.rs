//! ROSE/BER decoder: Facility IE content (profile octet first) and the SS-MWI arguments and
//! results inside. What parses must re-encode to bytes that parse to the same value.
#![no_main]

use isdn::qsig::{MwiActivateArg, MwiInterrogateRes, MwiInvoke};
use isdn::rose::{Component, Facility};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Facility::parse(data) {
        let again = f.to_vec();
        assert_eq!(Facility::parse(&again).as_ref(), Ok(&f));
        for c in &f.components {
            match c {
                Component::Invoke(inv) => {
                    if let Ok(op) = MwiInvoke::from_invoke(inv) {
                        let arg = op.argument();
                        let reparsed = match &op {
                            MwiInvoke::Activate(_) => {
                                MwiActivateArg::decode(&arg).map(MwiInvoke::Activate)
                            }
                            _ => Ok(op.clone()),
                        };
                        assert_eq!(reparsed.as_ref(), Ok(&op));
                    }
                }
                Component::ReturnResult(rr) => {
                    if let Some(r) = &rr.result {
                        let _ = MwiInterrogateRes::decode(r.result);
                    }
                }
                _ => {}
            }
        }
    }
    // The raw BER decoders on the same bytes, without the profile octet check.
    let _ = MwiActivateArg::decode(data);
    let _ = MwiInterrogateRes::decode(data);
});
