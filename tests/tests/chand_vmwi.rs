//! The real chand daemon on the sim back-end, visual MWI: an MWI change written into the shared
//! table reaches an idle on-hook phone as the on-hook FSK message-waiting spill (after the
//! 3 s idle rule), which the phone captures as audio and Debian's minimodem decodes to the MDMF
//! message-waiting message; with `rpas` the ring-pulse alerting signal comes first; with
//! `neon` the lamp follows every change (`Evmwi N`).

use std::time::{Duration, Instant};

use chand::backend::sim::peer::Phone;
use dahdi_mwi_tests::env::{Chand, Env, NO_SIP_SERVER};
use dahdi_mwi_tests::fsk::{contains, minimodem};
use dahdi_mwi_tests::tone::{listen, Recording};
use fxs::fsk::mdmf_mwi_message;
use fxs::{FskStandard, Law};
use mwi_core::MwiState;

const WAIT: Duration = Duration::from_secs(5);

/// Listen on-hook until the spill's audio is over: (audio, events).
fn capture(phone: &Phone, law: Law) -> (Recording, Vec<String>) {
    listen(phone, law, Duration::from_millis(2500))
}

#[track_caller]
fn assert_spill(what: &str, rec: &Recording, standard: FskStandard, on: bool) {
    assert!(
        rec.ms() > 300,
        "{what}: only {} ms of spill audio",
        rec.ms()
    );
    let bytes = minimodem(&rec.samples, standard.mark_hz(), standard.space_hz());
    let msg = mdmf_mwi_message(on);
    assert!(
        contains(&bytes, &msg),
        "{what}: minimodem decoded {bytes:02X?}, expected {msg:02X?}"
    );
}

#[test]
fn fsk_and_rpas_spills_decode_and_neon_lamp_follows() {
    let env = Env::new();
    let cfg = env.write_config(&format!(
        "{NO_SIP_SERVER}\
         [[fxs]]\nchannel = 1\nnumber = \"8001\"\ncptone = \"us\"\nvmwi = \"fsk\"\n\
         [[fxs]]\nchannel = 2\nnumber = \"8002\"\ncptone = \"de\"\nlaw = \"alaw\"\nvmwi = \"rpas\"\n\
         [[fxs]]\nchannel = 3\nnumber = \"8003\"\ncptone = \"us\"\nvmwi = \"neon\"\n"
    ));
    let mut writer = cfg.writer();
    let _chand = Chand::start(&env, &cfg);
    // chand's lines count as on-hook since its start, which came before this.
    let started = Instant::now();
    let bell = Phone::connect(&env.sim_dir, 1, WAIT).unwrap();
    let v23 = Phone::connect(&env.sim_dir, 2, WAIT).unwrap();
    let neon = Phone::connect(&env.sim_dir, 3, WAIT).unwrap();
    // A spill waits until the line has been idle on-hook for 3 s.
    std::thread::sleep(Duration::from_millis(3300).saturating_sub(started.elapsed()));

    for on in [true, false] {
        for n in ["8001", "8002", "8003"] {
            writer.publish(n, MwiState::voice(on, 3, 0)).unwrap();
        }
        let ((bell_rec, bell_ev), (v23_rec, v23_ev)) = std::thread::scope(|s| {
            let a = s.spawn(|| capture(&bell, Law::Mulaw));
            let b = s.spawn(|| capture(&v23, Law::Alaw));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert!(
            bell_ev.iter().any(|e| e.starts_with("onhooktransfer ")),
            "fsk: {bell_ev:?}"
        );
        assert_spill(
            &format!("us fsk on={on}"),
            &bell_rec,
            FskStandard::Bell202,
            on,
        );
        // RP-AS: a 250 ms ring with its own cadence, then the V.23 spill.
        let pos = |name: &str| {
            v23_ev
                .iter()
                .position(|e| e.starts_with(name))
                .unwrap_or_else(|| panic!("rpas: no {name:?} in {v23_ev:?}"))
        };
        assert!(pos("cadence 250 10000") < pos("ring"), "{v23_ev:?}");
        assert!(pos("ringoff") < pos("onhooktransfer "), "{v23_ev:?}");
        assert!(
            pos("cadence default") < pos("onhooktransfer "),
            "{v23_ev:?}"
        );
        assert_spill(&format!("de rpas on={on}"), &v23_rec, FskStandard::V23, on);
        let lamp = neon.recv_event(WAIT).unwrap();
        assert_eq!(lamp, if on { "vmwi 3" } else { "vmwi 0" });
    }
}
