//! The score Lambda's entry point: wires telemetry, configuration and clients, then runs.

use anyhow::Context;
use leadq_aws::{Config, DynamoStore, SqsQueue, Timeouts, load_sdk_config, telemetry};
use leadq_pipeline::stages::DEFAULT_BATCH_CONCURRENCY;
use leadq_pipeline::{RetryPolicy, SystemClock};
use leadq_score::{ScoreFunction, model_cache_from_lookup, run};
use std::sync::Arc;

// One thread: a sandbox runs one invocation at a time with under one vCPU (below 1,769 MB),
// so worker threads would only add to the cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    telemetry::init()?;
    leadq_aws::metrics::install("score")?;
    let config = Config::from_env()?;
    let models = model_cache_from_lookup(|var| std::env::var(var).ok())?;
    let sdk = load_sdk_config(Timeouts::default()).await;
    let function = ScoreFunction {
        store: Arc::new(DynamoStore::from_sdk_config(&sdk, config.store)),
        queue: Arc::new(SqsQueue::from_sdk_config(&sdk, config.queues)),
        clock: Arc::new(SystemClock),
        models: Arc::new(models),
        policy: RetryPolicy::default(),
        concurrency: DEFAULT_BATCH_CONCURRENCY,
    };
    run(function)
        .await
        .map_err(|error| anyhow::anyhow!(error))
        .context("the Lambda runtime stopped")
}
