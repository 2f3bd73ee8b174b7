//! span
