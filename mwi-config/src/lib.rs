//! The configuration file shared by sipd and chand (`/etc/dahdi-mwi/dahdi-mwi.toml`).
//!
//! [`Config::load`] reads, parses and validates it; every error names the file, the line and
//! column (1-based, columns in characters) and the rule broken, e.g.
//! `dahdi-mwi.toml:12:11: expires = 0 is out of range 1..=999999`.
//!
//! Every section and key an admin may omit has a default (documented on its field); unknown keys
//! are errors, so a typo never silently falls back to a default.
#![forbid(unsafe_code)]

mod cli;
mod error;
mod types;
mod validate;

use std::path::Path;

pub use clap_complete::Shell;
pub use cli::{
    check_config, man_synopsis, print_completions, synopsis_of, Common, ConfigArg, RunArgs, Switch,
};
pub use error::ConfigError;
pub use types::*;

use mwi_core::route::{FxsClaim, PriClaim, Router};

/// Where both daemons look for the configuration when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/dahdi-mwi/dahdi-mwi.toml";

impl Config {
    /// Read, parse and validate the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_str(&text, path)
    }

    /// Parse and validate `text`; `path` names the file in errors.
    pub fn from_str(text: &str, path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let config: Config = toml::from_str(text)
            .map_err(|e| ConfigError::at(path, text, e.span(), e.message().to_owned()))?;
        match validate::check(&config) {
            None => Ok(config),
            Some(v) => Err(ConfigError::at(
                path,
                text,
                validate::locate(text, &v.path),
                v.message,
            )),
        }
    }

    /// The routing rule of this configuration (mwi_core::route): its `[[fxs]]` lines and
    /// `[[pri]]` spans in file order.
    pub fn router(&self) -> Router {
        Router::new(self.fxs_claims(), self.pri_claims())
    }

    /// The DAHDI channel numbers of `pri`'s span: from `[[span]]` if any is given, else the
    /// implicit layout (see [`Span`]); `None` when the layout does not list it. B-channel
    /// (timeslot) `b` of the span is channel `start + b - 1`.
    pub fn pri_channels(&self, pri: &Pri) -> Option<std::ops::RangeInclusive<u32>> {
        if self.span.is_empty() {
            let n = pri.span_type.channels();
            let first = pri.span.checked_sub(1)?.checked_mul(n)?.checked_add(1)?;
            Some(first..=first + (n - 1))
        } else {
            self.span
                .iter()
                .find(|s| s.span == pri.span)
                .map(Span::channel_range)
        }
    }

    /// The B-channels of `pri` that carry calls, as (timeslot, DAHDI channel) pairs in
    /// timeslot order: `[pri.calls] timeslots`, or every channel of the span but the
    /// D-channel; empty without `[pri.calls]` or when the layout does not list the span.
    pub fn b_channels(&self, pri: &Pri) -> Vec<(u8, u32)> {
        let (Some(calls), Some(range)) = (&pri.calls, self.pri_channels(pri)) else {
            return Vec::new();
        };
        let start = *range.start();
        let of = |t: u8| (t, start + u32::from(t) - 1);
        match &calls.timeslots {
            Some(ts) => ts.as_slice().iter().map(|&t| of(t)).collect(),
            None => (1..=pri.span_type.channels())
                .filter_map(|t| u8::try_from(t).ok())
                .map(of)
                .filter(|&(_, ch)| ch != pri.dchannel)
                .collect(),
        }
    }

    fn fxs_claims(&self) -> impl Iterator<Item = FxsClaim<'_>> {
        self.fxs.iter().map(|f| FxsClaim {
            channel: f.channel,
            number: f.number.as_str(),
            mwi: f.mwi,
        })
    }

    fn pri_claims(&self) -> impl Iterator<Item = PriClaim<'_>> {
        self.pri.iter().map(|p| PriClaim {
            span: p.span,
            numbers: &p.numbers,
        })
    }
}
