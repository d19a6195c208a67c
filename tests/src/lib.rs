//! Cross-crate test support: the adapter contract suite, written once and run against
//! every adapter, and the harness that runs the DynamoDB/SQS emulator.

pub mod contract;
pub mod emulator;
pub mod event_source;
pub mod shared_file;
