//! The information elements and messages of basic call (Q.931 §3.1, §4.5; ECMA-143): byte
//! vectors written from the clauses, round trips, the §5.8 verdicts, and the fuzz corpus of the
//! `q931` target run through the decoder. tshark's verdict on every message type we send is in
//! the tests crate (tests/isdn_tshark.rs).

mod common;

use common::hex;
use isdn::q931::{
    progress, BearerCapability, CallReference, ChannelId, Layer1, Location, Message, MessageType,
    NumberingPlan, PartyNumberIe, Presentation, ProgressIndicator, RestartClass, TypeOfNumber,
    Verdict,
};

const CR5: CallReference = CallReference::Call {
    value: 5,
    flag: false,
};

/// Parses hex that lives as long as the test (a message borrows its bytes).
fn parse(s: &str) -> Message<'static> {
    Message::parse(Box::leak(hex(s).into_boxed_slice())).unwrap()
}

fn calling() -> PartyNumberIe<'static> {
    PartyNumberIe {
        ton: TypeOfNumber::National,
        plan: NumberingPlan::Isdn,
        presentation: Some(Presentation {
            indicator: 0,
            screening: 1,
        }),
        digits: "2000",
    }
}

fn called() -> PartyNumberIe<'static> {
    PartyNumberIe {
        ton: TypeOfNumber::Unknown,
        plan: NumberingPlan::Isdn,
        presentation: None,
        digits: "789",
    }
}

fn setup() -> Message<'static> {
    Message {
        progress: Some(ProgressIndicator::new(
            Location::PrivateLocal,
            progress::ORIGINATION_NON_ISDN,
        )),
        display: Some("Voice Mail"),
        ..Message::setup(
            CR5,
            BearerCapability::speech(Layer1::ALaw),
            Some(ChannelId::b_channel(17, true)),
            Some(calling()),
            called(),
        )
    }
}

/// SETUP as Q.931 §4.5 lays it out, IE by IE:
/// - `04 03 80 90 a3` bearer capability: ITU-T speech, circuit mode 64 kbit/s, G.711 A-law;
/// - `18 03 a9 83 91` channel identification: PRI, exclusive, B-channel units, channel 17;
/// - `1e 02 81 83` progress: private network serving the local user, origination non-ISDN;
/// - `28 0a ..` display "Voice Mail";
/// - `6c 06 21 81 ..` calling "2000": national/ISDN, allowed, user-provided verified;
/// - `70 04 81 ..` called "789": unknown/ISDN.
const SETUP: &str = "08 0200 05 05  04 03 80 90 a3  18 03 a9 83 91  1e 02 81 83
    28 0a 566f696365204d61696c  6c 06 21 81 32303030  70 04 81 373839";

#[test]
fn setup_of_a_basic_call() {
    let bytes = hex(SETUP);
    assert_eq!(setup().to_vec(), bytes);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m, setup());
    assert_eq!(m.check(), Verdict::Ok);
    assert!(m.bearer_capability.unwrap().is_voice());
    assert_eq!(
        m.to_string(),
        "SETUP CR=0x0005/orig [BearerCapability, ChannelId B17, Progress 3, \
         Display \"Voice Mail\", CallingNumber 2000, CalledNumber 789]"
    );
}

#[test]
fn bearer_capabilities() {
    let mu = BearerCapability::speech(Layer1::MuLaw);
    let audio = BearerCapability::audio_3k1(Layer1::ALaw);
    let m = |bc| Message {
        bearer_capability: Some(bc),
        ..Message::new(CR5, MessageType::Setup)
    };
    assert_eq!(m(mu).to_vec(), hex("08 0200 05 05 04 03 80 90 a2"));
    assert_eq!(m(audio).to_vec(), hex("08 0200 05 05 04 03 90 90 a3"));
    assert!(mu.is_voice() && audio.is_voice());
    assert!(!BearerCapability::CIS.is_voice());
    // Unrestricted digital (64k data) is not a voice call.
    let data = parse("08 0200 05 05 04 02 88 90");
    assert!(!data.bearer_capability.unwrap().is_voice());
}

#[test]
fn channel_identification_forms() {
    let ch = |s: &str| parse(s);
    // Preferred B-channel 23 (T1), exclusive 31 (E1).
    let m = ch("08 0200 02 02 18 03 a1 83 97");
    assert_eq!(m.channel_id, Some(ChannelId::b_channel(23, false)));
    let m = ch("08 0200 02 02 18 03 a9 83 9f");
    assert_eq!(m.channel_id, Some(ChannelId::b_channel(31, true)));
    // Any channel ("no channel number", selection 3).
    let m = ch("08 0200 02 02 18 01 a3");
    assert_eq!(m.channel_id.unwrap().channel, None);
    assert_eq!(m.channel_id.unwrap().selection, 3);
    // H0 channel units (type 6) and a truncated channel number are invalid, never a panic.
    for bad in ["08 0200 02 02 18 03 a9 86 81", "08 0200 02 02 18 02 a9 83"] {
        assert_eq!(ch(bad).check(), Verdict::OptionalInvalid(0x18), "{bad}");
    }
}

#[test]
fn progress_display_and_restart_indicator() {
    let m = parse("08 0201 03 03 1e 02 82 88");
    assert_eq!(m.message_type, MessageType::Progress);
    assert_eq!(m.check(), Verdict::Ok);
    let p = m.progress.unwrap();
    assert_eq!(
        (p.location, p.description),
        (Location::PublicLocal, progress::IN_BAND_AVAILABLE)
    );
    // PROGRESS without its progress indicator: mandatory IE missing (§5.8.6.1).
    let m = parse("08 0201 03 03");
    assert_eq!(m.check(), Verdict::MandatoryMissing(0x1e));
    // A display with a leading display-type octet (ETSI variants); non-IA5 text is invalid.
    let m = parse("08 0201 03 01 28 04 b1 41 42 43");
    assert_eq!(m.display, Some("ABC"));
    let m = parse("08 0201 03 01 28 02 41 ff");
    assert_eq!(m.check(), Verdict::OptionalInvalid(0x28));
    // RESTART of one channel and of the interface, on the global call reference.
    let r = Message::restart(
        MessageType::Restart,
        false,
        RestartClass::Indicated,
        Some(ChannelId::b_channel(3, true)),
    );
    assert_eq!(r.to_vec(), hex("08 0200 00 46 18 03 a9 83 83 79 01 80"));
    let ack = Message::restart(
        MessageType::RestartAcknowledge,
        true,
        RestartClass::AllInterfaces,
        None,
    );
    assert_eq!(ack.to_vec(), hex("08 0280 00 4e 79 01 87"));
    assert_eq!(Message::parse(&ack.to_vec()).unwrap(), ack);
    let m = parse("08 0200 00 46");
    assert_eq!(m.check(), Verdict::MandatoryMissing(0x79));
}

#[test]
fn every_basic_call_message_type_has_a_name() {
    for (t, name) in [
        (0x01, "ALERTING"),
        (0x02, "CALL PROCEEDING"),
        (0x03, "PROGRESS"),
        (0x05, "SETUP"),
        (0x07, "CONNECT"),
        (0x0f, "CONNECT ACKNOWLEDGE"),
        (0x45, "DISCONNECT"),
        (0x46, "RESTART"),
        (0x4d, "RELEASE"),
        (0x4e, "RESTART ACKNOWLEDGE"),
        (0x5a, "RELEASE COMPLETE"),
        (0x75, "STATUS ENQUIRY"),
        (0x7d, "STATUS"),
    ] {
        assert_eq!(MessageType::from_value(t).name(), Some(name));
    }
}

/// The checked-in corpus of the `q931` fuzz target, with the target's own invariants: parse or
/// fail cleanly, what parses re-encodes and parses again.
#[test]
fn fuzz_corpus_decodes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/q931");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        if let Ok(m) = Message::parse(&data) {
            let _ = m.check().cause();
            assert!(Message::parse(&m.to_vec()).is_ok());
        }
        n += 1;
    }
    assert!(n >= 6, "corpus in {} has {n} inputs", dir.display());
}
