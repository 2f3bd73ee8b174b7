//! tshark as an independent judge of the Q.921 frames chand sends: frames are written to a pcap
//! (text2pcap, link type 203 = LAPD) and tshark must decode every one with no malformed packet
//! and no expert warning or error.

use std::io::Write;
use std::process::{Command, Stdio};

/// What tshark made of a batch of frames.
#[derive(Debug)]
pub struct Verdict {
    /// Frames tshark decoded as LAPD.
    pub lapd: usize,
    /// Frames holding a QSIG APDU.
    pub qsig: usize,
    /// Frames holding a Q.931 message.
    pub q931: usize,
    /// Lines of frames flagged malformed or with an expert warning/error (empty if clean).
    pub flagged: Vec<String>,
}

/// Decode `frames` (Q.921 without FCS). Panics if text2pcap or tshark is missing (install
/// them with scripts/install-deps).
pub fn decode(frames: &[Vec<u8>]) -> Verdict {
    let dir = tempfile::tempdir().expect("temp dir");
    let txt = dir.path().join("frames.txt");
    let pcap = dir.path().join("frames.pcap");
    let mut f = std::fs::File::create(&txt).expect("hex dump file");
    for frame in frames {
        for (i, chunk) in frame.chunks(16).enumerate() {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(f, "{:06x} {}", i * 16, hex.join(" ")).expect("write hex dump");
        }
    }
    drop(f);
    let st = Command::new("text2pcap")
        .args(["-q", "-F", "pcap", "-l", "203"])
        .arg(&txt)
        .arg(&pcap)
        .stderr(Stdio::null())
        .status()
        .expect("text2pcap must be installed (tshark package, scripts/install-deps)");
    assert!(st.success(), "text2pcap failed");
    Verdict {
        lapd: filter(&pcap, "lapd").len(),
        qsig: filter(&pcap, "qsig").len(),
        q931: filter(&pcap, "q931").len(),
        flagged: filter(&pcap, FLAGGED),
    }
}

/// The display filter of frames tshark finds malformed or flags with an expert warning/error.
pub const FLAGGED: &str =
    "_ws.malformed || _ws.expert.severity == error || _ws.expert.severity == warning";

/// The summary lines of the packets of capture file `pcap` (pcap or pcapng) that match the
/// display filter `filter`. Panics if tshark is missing or cannot read the file.
pub fn filter(pcap: &std::path::Path, filter: &str) -> Vec<String> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(pcap)
        .args(["-Y", filter])
        .output()
        .expect("tshark must be installed (scripts/install-deps)");
    assert!(out.status.success(), "tshark failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
