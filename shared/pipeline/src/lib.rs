//! leadq's pipeline: the stages as plain async functions over small ports.
//!
//! The Lambda binaries and the local server call the same functions, so they cannot
//! disagree. Adapters live in `leadq-aws` (DynamoDB, SQS) and `leadq-local` (SQLite);
//! [`memory`] holds in-memory adapters for tests.

pub mod alerts;
pub mod api;
pub mod embedded;
pub mod enrich;
pub mod envelope;
pub mod intake;
pub mod memory;
pub mod metrics;
pub mod ports;
pub mod retry;
pub mod routing;
pub mod signature;
pub mod stages;
pub mod tls;
pub mod writes;

pub use envelope::{Cause, Envelope, EnvelopeError, Stage};
pub use ports::*;
pub use retry::RetryPolicy;
pub use writes::{AppendReport, NewEvent, Updated, record_events, update_lead_with_retry};
