//! The configuration file shared by sipd and chand.
