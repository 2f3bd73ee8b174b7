//! An in-process [`MwiSink`]: the latest state per number in a map. Used by tests and by the
//! daemon until the shared-memory table is wired in.

use mwi_core::{MwiSink, MwiState};
use std::collections::BTreeMap;
use std::convert::Infallible;

/// Latest [`MwiState`] per number, plus how many times each was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemorySink {
    /// Latest state per number.
    pub states: BTreeMap<String, MwiState>,
    /// Number of `publish` calls.
    pub writes: u64,
}

impl MwiSink for MemorySink {
    type Error = Infallible;

    fn publish(&mut self, number: &str, state: MwiState) -> Result<(), Infallible> {
        self.states.insert(number.to_owned(), state);
        self.writes += 1;
        Ok(())
    }
}
