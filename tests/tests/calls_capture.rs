//! tshark as the judge of a real call's packets (issue 12, "Done when"): loopback is captured
//! (dumpcap) while the sim phone on port 8001 dials SIPp (`-rtp_echo`) through the real sipd
//! and chand, talks, presses a digit in the call and hangs up; tshark must decode the SIP
//! dialog, every RTP packet of both directions with no malformed frame and no expert warning,
//! no loss nor sequence error in either stream, chand's RTCP, and the RFC 4733 events of the
//! digit with their end bit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use dahdi_mwi_tests::daemon::RaiseOnDrop;
use dahdi_mwi_tests::fakesipd::{press, talk, Voice};
use dahdi_mwi_tests::line::{sipp_echo_uas, Line};
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::sipp::passed;
use dahdi_mwi_tests::tshark::{read, Capture, FLAGGED};
use fxs::Law;

/// chand's RTP ports in this test.
const RTP_PORTS: (u16, u16) = (21200, 21299);

#[test]
fn tshark_decodes_the_sip_dialog_both_rtp_streams_and_the_rfc4733_digit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let far = free_port();
    let (lo, hi) = RTP_PORTS;
    let line = Line::start(far, &format!("{lo}-{hi}"));
    let (mut uas, media) = sipp_echo_uas(dir.path(), far);
    // Nothing is sent before the phone dials.
    let cap = Capture::start(
        dir.path(),
        &format!("udp and (port {far} or port {media} or portrange {lo}-{hi})"),
    );
    let voice = Mutex::new(Voice::Silence);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        line.phone.off_hook().expect("off-hook");
        s.spawn(|| talk(&line.phone, Law::Mulaw, &voice, &stop));
        std::thread::sleep(Duration::from_millis(300));
        press(&voice, "2001");
        line.wait_call_state(10, "connected");
        *voice.lock().expect("voice") = Voice::Tone(1000.0);
        std::thread::sleep(Duration::from_millis(1000));
        *voice.lock().expect("voice") = Voice::Silence;
        std::thread::sleep(Duration::from_millis(200));
        press(&voice, "5");
        std::thread::sleep(Duration::from_millis(500));
        line.phone.on_hook().expect("on-hook");
        stop.store(true, Ordering::Relaxed);
    });
    assert!(passed(dir.path(), "uas", &mut uas), "{}", line.logs());
    line.wait_call_state(5, "idle");
    let pcap = cap.finish();
    let rtp = format!("udp.port=={media},rtp");
    let tshark = |args: &[&str]| read(&pcap, &[&["-d", &rtp], args].concat());

    let sip = tshark(&[
        "-Y",
        "sip",
        "-T",
        "fields",
        "-e",
        "sip.CSeq",
        "-e",
        "sip.Status-Code",
    ]);
    let dialog = [
        "1 INVITE\t",
        "1 INVITE\t180",
        "1 INVITE\t200",
        "1 ACK\t",
        "2 BYE\t",
        "2 BYE\t200",
    ];
    assert_eq!(sip, dialog, "the SIP dialog as tshark decodes it");
    let flagged = tshark(&["-Y", FLAGGED]);
    assert!(flagged.is_empty(), "frames tshark flags: {flagged:#?}");
    let undecoded = tshark(&["-Y", "udp && !sip && !rtp && !rtcp"]);
    assert!(undecoded.is_empty(), "UDP not decoded: {undecoded:#?}");
    let rtp_frames = tshark(&["-Y", "rtp"]).len();
    assert!(rtp_frames >= 100, "{rtp_frames} RTP frames");

    // One stream each way between chand's port and SIPp's: no loss, no sequence error.
    let table = tshark(&["-q", "-z", "rtp,streams"]);
    let streams: Vec<Stream> = table.iter().filter_map(|l| Stream::parse(l)).collect();
    let from_chand = |s: &Stream| (lo..=hi).contains(&s.src_port) && s.dst_port == media;
    let to_chand = |s: &Stream| s.src_port == media && (lo..=hi).contains(&s.dst_port);
    assert!(
        streams.len() == 2
            && streams.iter().any(from_chand)
            && streams.iter().any(to_chand)
            && streams.iter().all(|s| s.clean && s.packets >= 50),
        "RTP streams:\n{}",
        table.join("\n")
    );
    eprintln!(
        "figure: tshark -z rtp,streams of the call:\n{}",
        table.join("\n")
    );

    // The digit 5 chand sent as RFC 4733 events, the last ones with the end bit (§2.5.1.4).
    let events = tshark(&[
        "-Y",
        "rtpevent",
        "-T",
        "fields",
        "-e",
        "udp.srcport",
        "-e",
        "rtpevent.event_id",
        "-e",
        "rtpevent.end_of_event",
    ]);
    let chand_events: Vec<(u16, u8)> = events
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let port: u16 = f.first()?.parse().ok()?;
            (lo..=hi)
                .contains(&port)
                .then(|| Some((f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?)))?
        })
        .collect();
    assert!(
        !chand_events.is_empty()
            && chand_events.iter().all(|&(digit, _)| digit == 5)
            && chand_events.iter().any(|&(_, end)| end == 1),
        "RFC 4733 events from chand: {events:?}"
    );
    drop(line);
}

/// One row of tshark's `-z rtp,streams` table.
struct Stream {
    src_port: u16,
    dst_port: u16,
    packets: u64,
    /// No packet lost and no problem (sequence error, wrong timestamp) flagged.
    clean: bool,
}

impl Stream {
    /// Columns: start, end, source address and port, destination address and port, SSRC,
    /// payload names (may hold spaces), packets, lost `N (P%)`, three deltas, three jitters,
    /// and `X` when tshark saw a problem.
    fn parse(line: &str) -> Option<Self> {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 16 || t.get(2) != Some(&"127.0.0.1") {
            return None;
        }
        let problem = t.last() == Some(&"X");
        let end = t.len() - usize::from(problem);
        Some(Self {
            src_port: t[3].parse().ok()?,
            dst_port: t[5].parse().ok()?,
            packets: t[end - 9].parse().ok()?,
            clean: !problem && t[end - 8] == "0",
        })
    }
}
