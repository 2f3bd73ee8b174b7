//! `[state]`, `[table]` and `[log]`: where the daemons keep their state and what they log.

use super::*;

/// `[state]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// `dir = "/var/lib/dahdi-mwi"`: last known MWI per number, survives reboot.
    #[serde(default = "default_state_dir")]
    pub dir: PathBuf,
    /// `runtime_dir = "/run/dahdi-mwi"`: the daemons' status sockets.
    #[serde(default = "default_runtime_dir")]
    pub runtime_dir: PathBuf,
}

impl Default for State {
    fn default() -> Self {
        Self {
            dir: default_state_dir(),
            runtime_dir: default_runtime_dir(),
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/dahdi-mwi")
}

fn default_runtime_dir() -> PathBuf {
    PathBuf::from("/run/dahdi-mwi")
}

/// `[table]`: the shared-memory MWI table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// `path = "/dev/shm/dahdi-mwi"`: the file (on tmpfs) that holds the table.
    #[serde(default = "default_table_path")]
    pub path: PathBuf,
    /// `capacity = 65536`: slots (numbers) in the table, 1..=16777216 (default 65536).
    #[serde(default = "default_capacity", deserialize_with = "de_capacity")]
    pub capacity: u32,
}

/// Allowed range of `[table] capacity`.
pub const CAPACITY_RANGE: std::ops::RangeInclusive<u32> = 1..=(1 << 24);

fn default_capacity() -> u32 {
    65536
}

ranged! { de_capacity: "capacity" in CAPACITY_RANGE; }

fn default_table_path() -> PathBuf {
    PathBuf::from("/dev/shm/dahdi-mwi")
}

impl Default for Table {
    fn default() -> Self {
        Self {
            path: default_table_path(),
            capacity: default_capacity(),
        }
    }
}

/// `[log]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `level = "info"`: error | warn | info | debug | trace (default info).
    #[serde(default)]
    pub level: LogLevel,
}

/// A log level (the `log` crate's levels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// The default.
    #[default]
    Info,
    /// Protocol detail.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The matching `log` filter.
    pub fn filter(self) -> log::LevelFilter {
        match self {
            Self::Error => log::LevelFilter::Error,
            Self::Warn => log::LevelFilter::Warn,
            Self::Info => log::LevelFilter::Info,
            Self::Debug => log::LevelFilter::Debug,
            Self::Trace => log::LevelFilter::Trace,
        }
    }
}
