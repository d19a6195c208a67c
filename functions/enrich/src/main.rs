//! The enrich Lambda's entry point: wires telemetry, configuration and clients, then runs.

use anyhow::Context;
use leadq_aws::directory::DynamoDirectory;
use leadq_aws::{Config, DynamoStore, SqsQueue, Timeouts, load_sdk_config, telemetry};
use leadq_enrich::{EnrichFunction, run};
use leadq_pipeline::stages::DEFAULT_BATCH_CONCURRENCY;
use leadq_pipeline::{RetryPolicy, SystemClock};
use std::sync::Arc;

// One thread: a sandbox runs one invocation at a time with under one vCPU (below 1,769 MB),
// so worker threads would only add to the cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    telemetry::init()?;
    leadq_aws::metrics::install("enrich")?;
    let config = Config::from_env()?;
    let sdk = load_sdk_config(Timeouts::default()).await;
    let store = DynamoStore::from_sdk_config(&sdk, config.store);
    let directory = DynamoDirectory::for_store(&store);
    let function = EnrichFunction {
        store: Arc::new(store),
        queue: Arc::new(SqsQueue::from_sdk_config(&sdk, config.queues)),
        clock: Arc::new(SystemClock),
        directory: Arc::new(directory),
        policy: RetryPolicy::default(),
        concurrency: DEFAULT_BATCH_CONCURRENCY,
    };
    run(function)
        .await
        .map_err(|error| anyhow::anyhow!(error))
        .context("the Lambda runtime stopped")
}
