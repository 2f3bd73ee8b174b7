//! ROSE/BER decoder: Facility IE content (profile octet first: QSIG `9f` or ETSI ROSE `91`)
//! and the SS-MWI / ETSI MWI arguments and results inside. What parses must re-encode to bytes
//! that parse to the same value.
#![no_main]

use isdn::etsi;
use isdn::qsig::{MwiActivateArg, MwiInterrogateRes, MwiInvoke};
use isdn::rose::{Component, Facility, RoseFacility};
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
    if let Ok(f) = RoseFacility::parse(data) {
        let again = f.to_vec();
        assert_eq!(RoseFacility::parse(&again).as_ref(), Ok(&f));
        for c in &f.components {
            if let Component::Invoke(inv) = c {
                if let Ok(op) = etsi::MwiInvoke::from_invoke(inv) {
                    let arg = op.argument();
                    let reparsed = match &op {
                        etsi::MwiInvoke::Activate(_) => {
                            etsi::MwiActivateArg::decode(&arg).map(etsi::MwiInvoke::Activate)
                        }
                        etsi::MwiInvoke::Deactivate(_) => {
                            etsi::MwiDeactivateArg::decode(&arg).map(etsi::MwiInvoke::Deactivate)
                        }
                        etsi::MwiInvoke::Indicate(_) => {
                            etsi::MwiIndicateArg::decode(&arg).map(etsi::MwiInvoke::Indicate)
                        }
                    };
                    assert_eq!(reparsed.as_ref(), Ok(&op));
                }
            }
        }
    }
    // The raw BER decoders on the same bytes, without the profile octet check.
    let _ = MwiActivateArg::decode(data);
    let _ = MwiInterrogateRes::decode(data);
    let _ = etsi::MwiActivateArg::decode(data);
    let _ = etsi::MwiDeactivateArg::decode(data);
    let _ = etsi::MwiIndicateArg::decode(data);
});
