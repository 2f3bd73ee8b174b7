//! Timing shared by `mwi-table`'s bench senders and the receivers of benches/table.rs (which
//! includes this file): one clock for every process of the machine, and exact gaps.

use std::time::{Duration, Instant};

/// CLOCK_MONOTONIC in ns; the same clock in every process of the machine.
pub fn now_ns() -> u64 {
    // CLOCK_MONOTONIC cannot fail on Linux.
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

/// Spins for `d`: a sleep would add the scheduler's wake-up latency to the gap.
pub fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}
