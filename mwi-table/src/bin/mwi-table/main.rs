//! `mwi-table`: inspect the shared MWI table, and drive it from a separate process for the
//! cross-process tests (mwi-table/tests/table_xproc.rs) and benchmarks (mwi-table/benches).
//!
//! `mwi-table --help` gives the command line.
//!
//! `write` publishes, for rounds R..R+K and numbers 0..N, the state `stream_state(i, r)` of
//! number `1000 + i` in round `r`, then (with `--sentinel`) number `999999` with `new` = the
//! last round. `follow` applies every change a `Reader` reports to its own map until it has
//! seen the sentinel, no slot is busy and the ring is drained, then prints that map (one
//! `NUMBER STATE` line each, sorted) and a `# stats` line. `bench-*` send timestamps (CLOCK_MONOTONIC, ns) to a reader.
#![forbid(unsafe_code)]
#![allow(unexpected_cfgs)]

#[cfg(not(loom))]
mod app;
#[cfg(not(loom))]
mod clock;
#[cfg(not(loom))]
mod text;

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    app::main()
}

/// A `--cfg loom` build (model checking) has the table's protocols but no shared mapping.
#[cfg(loom)]
fn main() -> std::process::ExitCode {
    eprintln!("mwi-table: not available in a --cfg loom build");
    std::process::ExitCode::FAILURE
}
