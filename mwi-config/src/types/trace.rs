//! `[trace]`: the pcapng capture the daemons write for Wireshark (issue 14 item 2).

use super::*;

/// `[trace]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    /// `capture_dir = "/var/log/dahdi-mwi"`: where sipd writes `sipd-N.pcapng` (SIP as IP
    /// packets) and chand `chand-N.pcapng` (D-channel frames); absent = no capture.
    #[serde(default)]
    pub capture_dir: Option<PathBuf>,
    /// `capture_max_bytes = 16777216`: the size cap of one capture file, octets
    /// ([`CAPTURE_MAX_BYTES_RANGE`]); the next file is started before it would be passed.
    #[serde(
        default = "default_capture_max_bytes",
        deserialize_with = "de_capture_max_bytes"
    )]
    pub capture_max_bytes: u32,
    /// `capture_files = 4`: how many files each daemon rotates through
    /// ([`CAPTURE_FILES_RANGE`]); the oldest is overwritten.
    #[serde(
        default = "default_capture_files",
        deserialize_with = "de_capture_files"
    )]
    pub capture_files: u32,
}

/// Allowed range of `[trace] capture_max_bytes`: room for a few SIP messages at least, at
/// most 1 GiB.
pub const CAPTURE_MAX_BYTES_RANGE: std::ops::RangeInclusive<u32> = 4096..=(1 << 30);

/// Allowed range of `[trace] capture_files`.
pub const CAPTURE_FILES_RANGE: std::ops::RangeInclusive<u32> = 1..=1000;

fn default_capture_max_bytes() -> u32 {
    16 << 20
}

fn default_capture_files() -> u32 {
    4
}

ranged! {
    de_capture_max_bytes: "capture_max_bytes" in CAPTURE_MAX_BYTES_RANGE;
    de_capture_files: "capture_files" in CAPTURE_FILES_RANGE;
}

impl Default for Trace {
    fn default() -> Self {
        Self {
            capture_dir: None,
            capture_max_bytes: default_capture_max_bytes(),
            capture_files: default_capture_files(),
        }
    }
}
