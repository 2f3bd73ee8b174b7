//! The atomics the slot, ring and wake-up protocols are written against: `std` in every build,
//! `loom`'s model-checked ones under `--cfg loom` (tests/table_loom.rs).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
