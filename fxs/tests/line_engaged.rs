//! A port in a call (`FxsLine::set_engaged`) gets no MWI action that needs the line; the
//! latest state is held and sent once the port is on-hook and idle again. And a call's switches
//! between tones and media keep one block per 20 ms.

mod common;

use common::{Phone, Seen};
use fxs::{Law, Notice, VmwiMode};

fn engage(phone: &mut Phone, engaged: bool) {
    let now = phone.at(phone.now);
    phone.line.set_engaged(now, engaged);
    phone.drain();
}

fn spills(seen: &[Seen]) -> Vec<u64> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::OnHookTransfer { at_ms, .. } => Some(*at_ms),
            _ => None,
        })
        .collect()
}

#[test]
fn mwi_set_while_ringing_is_spilled_three_seconds_after_the_call() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::Fsk);
    phone.run_for(5000);
    engage(&mut phone, true); // an incoming call rings at 5000 ms
    phone.set_mwi(true, 2);
    phone.run_for(10_000);
    assert_eq!(
        spills(&phone.seen),
        [] as [u64; 0],
        "no spill while ringing"
    );
    assert!(phone.line.status().mwi, "the state is known throughout");
    // Answered, talked, hung up: still engaged until the call is over.
    phone.offhook();
    phone.run_for(2000);
    phone.onhook(); // at 17000 ms
    phone.run_for(5000);
    assert_eq!(spills(&phone.seen), [] as [u64; 0], "no spill before idle");
    engage(&mut phone, false); // at 22000 ms
    phone.run_for(5000);
    assert_eq!(spills(&phone.seen), [25_000]);
    assert!(phone
        .seen
        .contains(&Seen::Notice(Notice::SpillSent { on: true })));
}

#[test]
fn a_call_stops_a_spill_in_progress_and_it_is_resent_after() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::Fsk);
    phone.set_mwi(true, 1);
    phone.run_for(3100); // the spill started at 3000 ms
    let before = phone.seen.len();
    engage(&mut phone, true);
    assert_eq!(
        phone.seen[before..],
        [
            Seen::StopAudio { at_ms: 3100 },
            Seen::Notice(Notice::SpillAborted)
        ]
    );
    assert_eq!(phone.line.status().spills_aborted, 1);
    let writes = phone.writes();
    phone.run_for(4000);
    assert_eq!(phone.writes(), writes, "no spill block while engaged");
    engage(&mut phone, false); // at 7100 ms
    phone.run_for(4000);
    assert_eq!(spills(&phone.seen), [3000, 10_100]);
    assert_eq!(phone.line.status().spills_sent, 1);
}

#[test]
fn a_call_during_the_rpas_ring_stops_it() {
    let mut phone = Phone::new("de", Law::Alaw, VmwiMode::Rpas);
    phone.set_mwi(true, 1);
    phone.run_for(3100); // the RP-AS rings from 3000 ms for 250 ms
    assert!(phone.seen.contains(&Seen::Ring { at_ms: 3000 }));
    let before = phone.seen.len();
    engage(&mut phone, true);
    assert_eq!(
        phone.seen[before..],
        [
            Seen::RingOff { at_ms: 3100 },
            Seen::RestoreCadence { at_ms: 3100 }
        ]
    );
    phone.run_for(5000);
    assert_eq!(phone.seen.len(), before + 2, "nothing more while engaged");
}

#[test]
fn the_driver_lamp_changes_only_on_an_idle_on_hook_port() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::Neon);
    let lamp = |p: &Phone| {
        p.seen
            .iter()
            .filter_map(|s| match s {
                Seen::SetVmwi { count } => Some(*count),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    phone.set_mwi(true, 1);
    assert_eq!(lamp(&phone), [1]);
    // Off-hook without a call yet: held until on-hook.
    phone.offhook();
    phone.set_mwi(true, 4);
    assert_eq!(lamp(&phone), [1]);
    phone.onhook();
    assert_eq!(lamp(&phone), [1, 4]);
    // Ringing, answered, hung up: held until the call is over; only the latest count goes.
    engage(&mut phone, true);
    phone.set_mwi(false, 0);
    phone.offhook();
    phone.set_mwi(true, 7);
    phone.onhook();
    assert_eq!(lamp(&phone), [1, 4]);
    assert_eq!(phone.line.status().count, 7);
    engage(&mut phone, false);
    assert_eq!(lamp(&phone), [1, 4, 7]);
    // A call that leaves the state as it was changes nothing.
    engage(&mut phone, true);
    engage(&mut phone, false);
    assert_eq!(lamp(&phone), [1, 4, 7]);
}

/// Tone → media → tone (ringback, a call's early media, busy) keeps the 20 ms block clock:
/// every block period gets exactly one block, a tone's [`Seen::Write`] or the call's
/// [`Seen::PullMedia`], across both switches, even when they come mid-block.
#[test]
fn no_block_is_dropped_or_doubled_switching_between_tone_and_media() {
    let mut phone = Phone::new("us", Law::Mulaw, VmwiMode::None);
    phone.offhook(); // 0 ms: the blocks of -40, -20 and 0 ms go at once (LEAD_MS)
    phone.run_for(1010);
    let now = phone.at(phone.now);
    phone.line.play_media(now);
    phone.drain();
    phone.run_for(1010);
    let now = phone.at(phone.now);
    phone.line.play(now, fxs::ToneKind::Busy);
    phone.drain();
    phone.run_for(980); // to 3000 ms
    let at: Vec<u64> = phone
        .seen
        .iter()
        .filter_map(|s| match s {
            Seen::Write { at_ms, .. } | Seen::PullMedia { at_ms } => Some(*at_ms),
            _ => None,
        })
        .collect();
    let pulls = phone
        .seen
        .iter()
        .filter(|s| matches!(s, Seen::PullMedia { .. }))
        .count();
    // Write times -40..=3000 ms every 20 ms: 153 blocks, the media's 50 or 51 of them.
    assert_eq!(at.len(), 153, "blocks {at:?}");
    assert!((50..=51).contains(&pulls), "{pulls} media blocks");
    // After the three of 0 ms, one block per 20 ms period, never two, never none.
    for (i, t) in at[3..].iter().enumerate() {
        assert_eq!(*t, 20 * (i as u64 + 1), "block {} at {t} ms", i + 3);
    }
}
