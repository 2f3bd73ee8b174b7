//! rose
