//! Benchmarks of the shared MWI table (placeholder until written).
fn main() {}
