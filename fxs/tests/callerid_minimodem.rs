//! On-hook caller ID of an incoming call: the audio the [`Alerting`] core hands out between the
//! first and second ring, decoded by an independent decoder (Debian's minimodem) back to the MDMF
//! call setup message (GR-30 / EN 300 659-3), its checksum, and its place in the ring cadence.
mod minimodem;

use fxs::fsk::FskStandard;
use fxs::ring::{
    mdmf_call_setup, AlertEvent, Alerting, CallTime, CallerId, Presentation, RingCadence,
    CID_AFTER_RING_MS, CID_BEFORE_RING_MS,
};
use fxs::{Law, BLOCK_MS};
use minimodem::minimodem;
use sansio::{Core, Instant};

/// One alerting run: ring changes and the caller-ID audio, with times in ms from the start.
struct Capture {
    rings: Vec<(u64, bool)>,
    /// Start time of each block.
    block_at: Vec<u64>,
    audio: Vec<i16>,
}

/// Alert a port of DAHDI zone `zone` for `caller` until the ring after the caller ID starts.
fn alert(zone: u8, standard: FskStandard, law: Law, caller: &CallerId) -> Capture {
    let cadence = RingCadence::for_zone(zone).expect("zone cadence");
    let mut a = Alerting::new(cadence, standard, law);
    let t0 = Instant::now();
    a.start(t0, Some(caller));
    let mut c = Capture {
        rings: Vec::new(),
        block_at: Vec::new(),
        audio: Vec::new(),
    };
    let mut now = t0;
    loop {
        let at = (now - t0).as_millis() as u64;
        while let Some(e) = a.poll_event() {
            match e {
                AlertEvent::Ring(on) => c.rings.push((at, on)),
                AlertEvent::OnHookTransfer { .. } => {}
                AlertEvent::CallerIdSkipped { spill_ms } => {
                    panic!("caller ID skipped ({spill_ms} ms)")
                }
            }
        }
        while let Some(block) = a.poll_transmit() {
            c.block_at.push(at);
            c.audio.extend(block.iter().map(|&b| law.decode(b)));
        }
        let spill_done = c
            .block_at
            .last()
            .is_some_and(|&b| c.rings.iter().any(|r| r.1 && r.0 > b));
        if spill_done {
            return c;
        }
        now = a.poll_timeout().expect("alerting runs");
        a.handle_timeout(now);
    }
}

/// The MDMF message in minimodem's output: from type 0x80 through its checksum, which must
/// make the sum 0.
fn decoded_message(bytes: &[u8]) -> Vec<u8> {
    let start = bytes
        .iter()
        .position(|&b| b == 0x80)
        .unwrap_or_else(|| panic!("no MDMF 0x80 in {bytes:02X?}"));
    let len = usize::from(bytes[start + 1]);
    let m = bytes[start..start + len + 3].to_vec();
    assert_eq!(
        m.iter().fold(0u8, |a, &b| a.wrapping_add(b)),
        0,
        "checksum of {m:02X?}"
    );
    m
}

/// Parameters of a decoded message, in order: (type, value).
fn params(m: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 2;
    while i < m.len() - 1 {
        let len = usize::from(m[i + 1]);
        out.push((m[i], m[i + 2..i + 2 + len].to_vec()));
        i += 2 + len;
    }
    out
}

/// The caller ID lies in one silent interval: at least 500 ms after the ring before it ends,
/// ending at least 200 ms before the next ring.
fn check_timing(c: &Capture) {
    let first = c.block_at[0];
    let end = c.block_at.last().unwrap() + BLOCK_MS;
    let off = c
        .rings
        .iter()
        .rev()
        .find(|r| !r.1 && r.0 < first)
        .unwrap()
        .0;
    let next = c.rings.iter().find(|r| r.1 && r.0 > first).unwrap().0;
    assert!(
        first >= off + u64::from(CID_AFTER_RING_MS),
        "{:?} starts {first}",
        c.rings
    );
    assert!(
        end + u64::from(CID_BEFORE_RING_MS) <= next,
        "{:?} ends {end}",
        c.rings
    );
}

fn caller(number: Presentation, name: Presentation) -> CallerId {
    CallerId {
        time: Some(CallTime {
            month: 12,
            day: 24,
            hour: 18,
            minute: 5,
        }),
        number,
        name: Some(name),
    }
}

#[test]
fn bell202_caller_id_decodes_between_first_and_second_ring() {
    let cid = caller(
        Presentation::Available("6135550123".into()),
        Presentation::Available("BOB SMITH".into()),
    );
    for law in [Law::Mulaw, Law::Alaw] {
        let c = alert(0, FskStandard::Bell202, law, &cid);
        assert_eq!(c.rings, [(0, true), (2000, false), (6000, true)]);
        check_timing(&c);
        let m = decoded_message(&minimodem(&c.audio, 1200, 2200));
        assert_eq!(m, mdmf_call_setup(&cid), "{law}");
        assert_eq!(
            params(&m),
            [
                (0x01, b"12241805".to_vec()),
                (0x02, b"6135550123".to_vec()),
                (0x07, b"BOB SMITH".to_vec())
            ]
        );
    }
}

#[test]
fn v23_caller_id_decodes_in_de_and_in_uk_long_pause() {
    let cid = caller(
        Presentation::Available("0301234567".into()),
        Presentation::Available("ANNA".into()),
    );
    for zone in [29, 4] {
        let c = alert(zone, FskStandard::V23, Law::Alaw, &cid);
        check_timing(&c);
        let m = decoded_message(&minimodem(&c.audio, 1300, 2100));
        assert_eq!(m, mdmf_call_setup(&cid), "zone {zone}");
    }
}

#[test]
fn privacy_and_out_of_area_decode() {
    for (p, code) in [
        (Presentation::Private, b'P'),
        (Presentation::OutOfArea, b'O'),
    ] {
        let cid = caller(p.clone(), p);
        let c = alert(0, FskStandard::Bell202, Law::Mulaw, &cid);
        check_timing(&c);
        let m = decoded_message(&minimodem(&c.audio, 1200, 2200));
        assert_eq!(
            params(&m),
            [
                (0x01, b"12241805".to_vec()),
                (0x04, vec![code]),
                (0x08, vec![code])
            ]
        );
    }
}
