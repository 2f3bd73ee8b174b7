//! [`ConfigError`]: what is wrong with a configuration file, and where.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Why a configuration file was rejected.
///
/// Displays as `FILE:LINE:COLUMN: RULE` (line and column 1-based, column in characters), or
/// `FILE: cannot read: REASON` when the file could not be read.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was read but breaks a rule (TOML syntax, schema or validation).
    Invalid {
        /// The file.
        path: PathBuf,
        /// Line of the offending key or value, 1-based.
        line: usize,
        /// Column of the offending key or value, 1-based, in characters.
        column: usize,
        /// The rule broken, e.g. `expires = 0 is out of range 1..=999999`.
        message: String,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] at byte offset `span.start` of `text`.
    pub(crate) fn at(path: &Path, text: &str, span: Option<Range<usize>>, message: String) -> Self {
        let (line, column) = line_column(text, span.map_or(0, |s| s.start));
        Self::Invalid {
            path: path.to_owned(),
            line,
            column,
            message,
        }
    }

    /// The rule broken (or the I/O error's text).
    pub fn message(&self) -> String {
        match self {
            Self::Io { source, .. } => format!("cannot read: {source}"),
            Self::Invalid { message, .. } => message.clone(),
        }
    }

    /// `(line, column)`, 1-based, of an [`ConfigError::Invalid`]; `None` for an I/O error.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Self::Io { .. } => None,
            Self::Invalid { line, column, .. } => Some((*line, *column)),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: cannot read: {source}", path.display()),
            Self::Invalid {
                path,
                line,
                column,
                message,
            } => write!(f, "{}:{line}:{column}: {message}", path.display()),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Invalid { .. } => None,
        }
    }
}
