//! Helpers shared by isdn's integration tests: hex test vectors, the calling party of the
//! golden SETUPs, and tshark as an independent decoder (text2pcap, link type 203 = LAPD). A
//! missing tshark fails the test loudly.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use isdn::q921::{Kind, Repr};
use isdn::q931::{CallReference, NumberingPlan, PartyNumberIe, Presentation, TypeOfNumber};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Hex (whitespace ignored) to bytes.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// libpri's minimal MWIActivate SETUP, Q.921 header included (docs/qsig.md).
pub const GOLDEN_SETUP: &str =
    "0001 0000 08 020001 05 0402a880 1801ac 1c1f 9f aa06800100820100 8b0100
    a111 020101 020150 3009 800431323334 0a0101 6c0600803230303070058031323334";

/// A frame of SAPI 0, TEI 0 (a PRI's data link).
pub fn repr(cr: bool, kind: Kind, pf: bool, info: &[u8]) -> Repr<'_> {
    Repr {
        sapi: 0,
        cr,
        tei: 0,
        kind,
        pf,
        info,
    }
}

/// Call reference 1, sent by the side that allocated it (Q.931 §4.3, flag 0).
pub const CR1: CallReference = CallReference::Call {
    value: 1,
    flag: false,
};

/// The calling party of the golden MWI SETUPs: "2000", unknown type and plan, presentation
/// allowed, user-provided.
pub fn calling() -> PartyNumberIe<'static> {
    PartyNumberIe {
        ton: TypeOfNumber::Unknown,
        plan: NumberingPlan::Unknown,
        presentation: Some(Presentation {
            indicator: 0,
            screening: 0,
        }),
        digits: "2000",
    }
}

/// Run `cmd`, asserting that it starts and succeeds; returns its stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} (install tshark: scripts/install-deps): {e}")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Write `frames` (Q.921 frames without FCS) as `dir/<name>.pcap`, link type 203 (LAPD), via a
/// text2pcap hex dump (each packet starts again at offset 000000). Returns the pcap's path.
pub fn text2pcap(dir: &Path, name: &str, frames: &[Vec<u8>]) -> PathBuf {
    let txt = dir.join(format!("{name}.txt"));
    let pcap = dir.join(format!("{name}.pcap"));
    let mut dump = String::new();
    for frame in frames {
        for (i, chunk) in frame.chunks(16).enumerate() {
            write!(dump, "{:06x}", i * 16).unwrap();
            for b in chunk {
                write!(dump, " {b:02x}").unwrap();
            }
            dump.push('\n');
        }
    }
    std::fs::write(&txt, dump).unwrap();
    run(Command::new("text2pcap")
        .args(["-q", "-F", "pcap", "-l", "203"])
        .arg(&txt)
        .arg(&pcap));
    pcap
}

/// `tshark -r <pcap> <args>`; its stdout.
pub fn tshark(pcap: &Path, args: &[&str]) -> String {
    run(Command::new("tshark").arg("-r").arg(pcap).args(args))
}
