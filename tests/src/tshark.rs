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
