//! leadq's AWS adapters: the lead store on DynamoDB ([`DynamoStore`]) and the work
//! queues on SQS ([`SqsQueue`]), configured from the environment ([`Config`]).
//!
//! Adapters translate; they decide nothing. The table layout is documented in
//! [`table`] and `TABLE.md`. Bulk writes go through [`batch`], which keeps to the
//! services' batch limits and retries what they leave unprocessed.
//!
//! ```no_run
//! # async fn wire() -> Result<(), leadq_aws::ConfigError> {
//! let config = leadq_aws::Config::from_env()?;
//! let sdk = leadq_aws::load_sdk_config(leadq_aws::Timeouts::default()).await;
//! let store = leadq_aws::DynamoStore::from_sdk_config(&sdk, config.store);
//! let queue = leadq_aws::SqsQueue::from_sdk_config(&sdk, config.queues);
//! # let _ = (store, queue);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod batch;
pub mod config;
pub mod directory;
pub mod dynamo;
pub mod error;
pub mod lambda;
pub mod ledger;
pub mod metrics;
pub mod sqs;
pub mod ssm;
pub mod table;
pub mod telemetry;
pub mod tls;

pub use batch::Backoff;
pub use config::{
    Config, ConfigError, QueueConfig, QueueUrls, StoreConfig, Timeouts, load_sdk_config,
};
pub use dynamo::DynamoStore;
pub use ledger::DynamoLedger;
pub use sqs::SqsQueue;
pub use ssm::{ParamEnv, ParamError};
pub use tls::{AwsTrust, https_client};
