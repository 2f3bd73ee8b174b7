//! The SDP decoder of untrusted offers and answers: arbitrary bodies must be answered or
//! refused with an error, never panic; an answer we write must read back as the same media.
#![no_main]

use callctl::Codec;
use libfuzzer_sys::fuzz_target;
use sipd::sdp::{answer, process_answer, Local};

fuzz_target!(|data: &[u8]| {
    let rtp = "192.0.2.1:10000".parse().unwrap();
    let local = Local::new(rtp, vec![Codec::Pcmu, Codec::Pcma], 1);
    let _ = process_answer(data, &local);
    if let Ok((body, media)) = answer(data, &local) {
        let back = process_answer(&body, &local).expect("our answer reads back");
        assert_eq!(back.codec, media.codec);
        assert_eq!(back.remote_rtp, local.rtp);
        assert_eq!(back.direction, media.direction.reversed());
        assert_eq!(back.telephone_event_pt, media.telephone_event_pt);
    }
});
