//! tshark as an independent judge: of the Q.921 frames chand sends (written to a pcap by
//! text2pcap, link type 203 = LAPD), and of a call's SIP and RTP on loopback (captured by
//! dumpcap); tshark must decode every frame with no malformed packet and no expert warning or
//! error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::daemon::{wait_for, Daemon};

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
    let pcap = lapd_pcap(dir.path(), frames);
    Verdict {
        lapd: filter(&pcap, "lapd").len(),
        qsig: filter(&pcap, "qsig").len(),
        q931: filter(&pcap, "q931").len(),
        flagged: filter(&pcap, FLAGGED),
    }
}

/// Write `frames` (Q.921 frames without FCS) as `dir/frames.pcap`, link type 203 (LAPD), via
/// a text2pcap hex dump (each packet starts again at offset 000000); returns its path. Panics
/// if text2pcap is missing or fails.
pub fn lapd_pcap(dir: &Path, frames: &[Vec<u8>]) -> PathBuf {
    let txt = dir.join("frames.txt");
    let pcap = dir.join("frames.pcap");
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
    pcap
}

/// One frame for [`check_verbose`]: its name, its octets (Q.921 without FCS) and strings
/// `tshark -V` must print for it.
pub struct Expect<'a> {
    /// What the frame is, for the failure message.
    pub name: String,
    /// The frame.
    pub frame: Vec<u8>,
    /// Strings its `tshark -V` text must hold.
    pub shows: &'a [&'a str],
}

/// Decode `cases` with `tshark -V` and check each frame's text: it holds every string of its
/// case and none of `forbidden` (e.g. "Malformed"); then tshark's expert statistics must list
/// no error. Panics naming the frame and quoting tshark otherwise.
pub fn check_verbose(cases: &[Expect<'_>], forbidden: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.frame.clone()).collect();
    let pcap = lapd_pcap(dir.path(), &frames);
    let verbose = read(&pcap, &["-V"]).join("\n");
    let texts: Vec<&str> = verbose.split("\nFrame ").collect();
    assert_eq!(texts.len(), cases.len(), "tshark frame count:\n{verbose}");
    for (c, text) in cases.iter().zip(&texts) {
        for e in c.shows {
            assert!(text.contains(e), "{}: tshark lacks {e:?}:\n{text}", c.name);
        }
        for bad in forbidden {
            assert!(
                !text.contains(bad),
                "{}: tshark says {bad:?}:\n{text}",
                c.name
            );
        }
    }
    let expert = read(&pcap, &["-q", "-z", "expert"]).join("\n");
    assert!(
        !expert.contains("Errors") && !expert.contains("Malformed"),
        "tshark expert info reports errors:\n{expert}"
    );
}

/// The display filter of frames tshark finds malformed or flags with an expert warning/error.
pub const FLAGGED: &str =
    "_ws.malformed || _ws.expert.severity == error || _ws.expert.severity == warning";

/// The summary lines of the packets of capture file `pcap` (pcap or pcapng) that match the
/// display filter `filter`. Panics if tshark is missing or cannot read the file.
pub fn filter(pcap: &Path, filter: &str) -> Vec<String> {
    read(pcap, &["-Y", filter])
}

/// dumpcap capturing on the loopback interface into a pcapng file (root or CAP_NET_RAW).
pub struct Capture {
    daemon: Daemon,
    path: PathBuf,
}

impl Capture {
    /// Start capturing on `lo` what the capture filter `filter` (pcap-filter(7) syntax, e.g.
    /// `udp port 5060`) admits, into `dir/capture.pcapng`, and wait until dumpcap says it
    /// captures. Panics with dumpcap's words when it cannot (not installed, no privilege).
    pub fn start(dir: &Path, filter: &str) -> Self {
        let path = dir.join("capture.pcapng");
        let log = dir.join("dumpcap.log");
        let daemon = Daemon::spawn_command(
            "dumpcap",
            Command::new("dumpcap")
                .args(["-i", "lo", "-f", filter, "-w"])
                .arg(&path),
            &log,
        );
        let mut c = Self { daemon, path };
        let up = wait_for(Duration::from_secs(10), || {
            c.daemon.assert_running();
            c.daemon.log().contains("Capturing on")
        });
        assert!(
            up,
            "dumpcap did not start capturing on lo (it needs root or CAP_NET_RAW; the \
             tshark package, scripts/install-deps):\n{}",
            c.daemon.log()
        );
        c
    }

    /// Stop capturing (SIGINT: dumpcap writes what it holds and closes the file) and return
    /// the file.
    pub fn finish(mut self) -> PathBuf {
        // Frames sent just now are still on their way through the kernel's ring buffer.
        std::thread::sleep(Duration::from_millis(300));
        let st = self
            .daemon
            .signal_and_wait(Signal::SIGINT, Duration::from_secs(5));
        assert!(st.success(), "dumpcap: {st}\n{}", self.daemon.log());
        self.path.clone()
    }
}

/// tshark's output lines for the capture file `pcap` read with `args` (decode-as rules,
/// display filter, fields, statistics). Panics if tshark is missing or fails.
pub fn read(pcap: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(pcap)
        .args(args)
        .output()
        .expect("tshark must be installed (scripts/install-deps)");
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
