//! The shared-memory MWI table between sipd (writer) and chand (reader).
