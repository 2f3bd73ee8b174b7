//! Channel back-ends.
