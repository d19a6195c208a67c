//! The adapter contract suite (see the crate docs).
