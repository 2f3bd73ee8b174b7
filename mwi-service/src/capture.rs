//! The pcapng capture of `[trace] capture_dir` (pcapng: IETF draft-ietf-opsawg-pcapng): one
//! interface per link (a listening socket of sipd, a D-channel of chand), each record an
//! Enhanced Packet Block with its direction in `epb_flags`. Files `PREFIX-N.pcapng`, N from 0
//! to `files - 1`, each kept under `max_bytes` and rotated, the oldest overwritten.
//!
//! Writes go through a buffer flushed when full and by [`Capture::flush_due`] (called from the
//! daemon's loop), so a slow disk costs the loop one buffered write at a time; a write error
//! is logged once and switches the capture off: a capture never stops a daemon.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
pub use pcap_file::DataLink;

/// Buffered octets before a write to the file.
const BUFFER: usize = 64 * 1024;

/// How often buffered records are written out at the latest.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Octets of an Enhanced Packet Block besides its padded data: block type, two block
/// lengths, interface, timestamp (2), captured and original lengths (32), the `epb_flags`
/// option (4 + 4) and `opt_endofopt` (4).
const EPB_OVERHEAD: usize = 32 + 8 + 4;

/// `if_tsresol` 9: timestamps in nanoseconds (pcap-file writes them so).
const TSRESOL_NS: u8 = 9;

/// One link of a capture file: its pcap link type (LINKTYPE_*, tcpdump.org's list) and name.
#[derive(Clone, Debug)]
pub struct Interface {
    /// E.g. [`DataLink::RAW`] (101) for IP packets, [`DataLink::LAPD`] (203) for
    /// Q.921 frames.
    pub linktype: DataLink,
    /// `if_name`, e.g. `udp 0.0.0.0:5060` or `span 1`.
    pub name: String,
}

/// Which way a packet went, for `epb_flags` bits 0-1 (inbound 1, outbound 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// Received.
    Inbound,
    /// Sent.
    Outbound,
}

/// A rotating pcapng capture, or a switched-off one.
pub struct Capture {
    dir: PathBuf,
    prefix: &'static str,
    max_bytes: u64,
    files: u32,
    interfaces: Vec<Interface>,
    /// The open file, `None` while off.
    writer: Option<PcapNgWriter<BufWriter<File>>>,
    /// N of the open file.
    index: u32,
    /// Octets in the open file (written or buffered).
    size: u64,
    flushed: Instant,
}

impl Capture {
    /// Start writing `dir/PREFIX-0.pcapng` (replacing it) with one Interface Description Block
    /// per entry of `interfaces` (a record names its interface by index there).
    ///
    /// Errors: the directory or the file cannot be written.
    pub fn open(
        dir: &Path,
        prefix: &'static str,
        max_bytes: u32,
        files: u32,
        interfaces: Vec<Interface>,
    ) -> io::Result<Self> {
        let mut c = Self {
            dir: dir.to_path_buf(),
            prefix,
            max_bytes: u64::from(max_bytes),
            files: files.max(1),
            interfaces,
            writer: None,
            index: 0,
            size: 0,
            flushed: Instant::now(),
        };
        c.start_file(0)?;
        Ok(c)
    }

    /// A capture that writes nothing (no `capture_dir`, or switched off).
    pub fn off(prefix: &'static str) -> Self {
        Self {
            dir: PathBuf::new(),
            prefix,
            max_bytes: 0,
            files: 1,
            interfaces: Vec::new(),
            writer: None,
            index: 0,
            size: 0,
            flushed: Instant::now(),
        }
    }

    /// Whether records are being written.
    pub fn is_on(&self) -> bool {
        self.writer.is_some()
    }

    /// The file being written now.
    pub fn path(&self) -> PathBuf {
        self.file(self.index)
    }

    fn file(&self, n: u32) -> PathBuf {
        self.dir.join(format!("{}-{n}.pcapng", self.prefix))
    }

    /// Create file `n` with its Section Header and Interface Description Blocks.
    fn start_file(&mut self, n: u32) -> io::Result<()> {
        let path = self.file(n);
        let file = File::create(&path)?;
        let mut w = PcapNgWriter::new(BufWriter::with_capacity(BUFFER, file))
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        // The Section Header Block pcap-file writes: 28 octets, no options.
        let mut size = 28;
        for i in &self.interfaces {
            let idb = InterfaceDescriptionBlock {
                linktype: i.linktype,
                snaplen: 0,
                options: vec![
                    InterfaceDescriptionOption::IfName(Cow::Owned(i.name.clone())),
                    InterfaceDescriptionOption::IfTsResol(TSRESOL_NS),
                ],
            };
            size += w
                .write_pcapng_block(idb)
                .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        }
        self.writer = Some(w);
        self.index = n;
        self.size = size as u64;
        Ok(())
    }

    /// Record `data` (a whole packet or frame of interface `interface`'s link type) that went
    /// `way` now. A record that would pass `max_bytes` goes to the next file; one larger than
    /// a whole file is cut to fit (its original length kept). Never fails: an error is logged
    /// once and switches the capture off.
    pub fn record(&mut self, interface: u32, way: Way, data: &[u8]) {
        if self.writer.is_none() {
            return;
        }
        if let Err(e) = self.try_record(interface, way, data) {
            log::error!(
                "capture {}: {e}; capture switched off",
                self.path().display()
            );
            self.writer = None;
        }
    }

    fn try_record(&mut self, interface: u32, way: Way, data: &[u8]) -> io::Result<()> {
        let padded = |n: usize| n.div_ceil(4) * 4;
        if self.size + (EPB_OVERHEAD + padded(data.len())) as u64 > self.max_bytes {
            self.finish()?;
            self.start_file((self.index + 1) % self.files)?;
        }
        let room = (self.max_bytes.saturating_sub(self.size) as usize).saturating_sub(EPB_OVERHEAD);
        let kept = &data[..data.len().min(room / 4 * 4)];
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let epb = EnhancedPacketBlock {
            interface_id: interface,
            timestamp,
            original_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            data: Cow::Borrowed(kept),
            options: vec![EnhancedPacketOption::Flags(match way {
                Way::Inbound => 1,
                Way::Outbound => 2,
            })],
        };
        let Some(w) = &mut self.writer else {
            return Ok(());
        };
        let n = w
            .write_pcapng_block(epb)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.size += n as u64;
        Ok(())
    }

    /// Write the buffered records out if the last flush is [`FLUSH_EVERY`] old (call once a
    /// loop turn). An error switches the capture off, logged once.
    pub fn flush_due(&mut self, now: Instant) {
        if self.writer.is_none() || now < self.flushed + FLUSH_EVERY {
            return;
        }
        self.flushed = now;
        if let Err(e) = self.writer.as_mut().map_or(Ok(()), |w| w.get_mut().flush()) {
            log::error!(
                "capture {}: {e}; capture switched off",
                self.path().display()
            );
            self.writer = None;
        }
    }

    /// Write out and close the open file.
    fn finish(&mut self) -> io::Result<()> {
        match self.writer.take() {
            Some(w) => w.into_inner().flush(),
            None => Ok(()),
        }
    }

    /// Stop writing (the file is written out and closed).
    pub fn stop(&mut self) {
        if let Err(e) = self.finish() {
            log::error!("capture {}: {e}", self.path().display());
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lapd() -> Vec<Interface> {
        vec![Interface {
            linktype: DataLink::LAPD,
            name: "span 1".into(),
        }]
    }

    #[test]
    fn sizes_are_counted_exactly_and_files_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Capture::open(dir.path(), "t", 4096, 3, lapd()).unwrap();
        c.record(0, Way::Outbound, &[0u8; 101]);
        c.stop();
        let len = std::fs::metadata(dir.path().join("t-0.pcapng"))
            .unwrap()
            .len();
        assert_eq!(len, c.size, "counted size is the file's");

        let mut c = Capture::open(dir.path(), "t", 4096, 3, lapd()).unwrap();
        for _ in 0..200 {
            c.record(0, Way::Inbound, &[0x55u8; 100]);
        }
        let current = c.index;
        c.stop();
        for n in 0..3 {
            let len = std::fs::metadata(dir.path().join(format!("t-{n}.pcapng")))
                .unwrap()
                .len();
            assert!(len <= 4096, "file {n}: {len} octets");
            if n != current {
                assert!(len > 4096 - 140, "file {n} filled: {len} octets");
            }
        }
        assert!(!dir.path().join("t-3.pcapng").exists());
        // A record larger than a file is cut to fit.
        let mut c = Capture::open(dir.path(), "big", 4096, 2, lapd()).unwrap();
        c.record(0, Way::Inbound, &[1u8; 10_000]);
        assert!(c.is_on());
        c.stop();
        let len = std::fs::metadata(dir.path().join("big-1.pcapng"))
            .unwrap()
            .len();
        assert!(len <= 4096 && len > 4000, "{len}");
    }

    #[test]
    fn a_write_error_switches_it_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Capture::open(dir.path(), "t", 4096, 2, lapd()).unwrap();
        std::fs::remove_dir_all(dir.path()).unwrap();
        for _ in 0..100 {
            c.record(0, Way::Inbound, &[0u8; 100]);
        }
        assert!(!c.is_on(), "rotation into a removed directory fails");
        c.record(0, Way::Inbound, &[0u8; 100]);
        assert!(Capture::open(Path::new("/nonexistent/dir"), "t", 4096, 2, lapd()).is_err());
        assert!(!Capture::off("x").is_on());
    }
}
