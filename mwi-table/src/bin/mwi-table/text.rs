//! The text form of a state in `mwi-table`'s output, shared with tests/table_xproc.rs (which
//! includes this file) so that the test compares against exactly what the program prints.

use mwi_core::MwiState;

/// `WAITING CLASS NEW OLD URGENT_NEW URGENT_OLD`, e.g. `yes Voice-Message 2 8 0 2`.
pub fn format_state(s: &MwiState) -> String {
    format!(
        "{} {} {} {} {} {}",
        if s.waiting { "yes" } else { "no" },
        s.class.header_name(),
        s.new,
        s.old,
        s.urgent_new,
        s.urgent_old
    )
}
