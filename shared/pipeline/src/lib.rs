//! leadq's pipeline: the stages as plain async functions over small ports.
//!
//! The Lambda binaries and the local server call the same functions, so they cannot
//! disagree. Adapters live in `leadq-aws` (DynamoDB, SQS) and `leadq-local` (SQLite);
//! [`memory`] holds in-memory adapters for tests.

pub mod envelope;
pub mod ports;

pub use envelope::{Envelope, EnvelopeError, Stage};
pub use ports::*;
