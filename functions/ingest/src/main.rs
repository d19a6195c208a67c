//! The ingest Lambda's entry point: wires telemetry, configuration and clients, then runs.

use anyhow::Context;
use leadq_aws::{Config, DynamoStore, SqsQueue, Timeouts, load_sdk_config, telemetry};
use leadq_ingest::{mapping_from_lookup, resolve_ingest_secret, run};
use leadq_pipeline::api::{API_KEYS_ENV, ApiState, IngestAuth};
use leadq_pipeline::{RetryPolicy, SystemClock};
use std::sync::Arc;

// One thread: a sandbox runs one invocation at a time with under one vCPU (below 1,769 MB),
// so worker threads would only add to the cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    telemetry::init()?;
    leadq_aws::metrics::install("ingest")?;
    let config = Config::from_env()?;
    let mapping = mapping_from_lookup(|var| std::env::var(var).ok())?;
    let sdk = load_sdk_config(Timeouts::default()).await;
    let env = |var: &str| std::env::var(var).ok();
    let secret = resolve_ingest_secret(env, || aws_sdk_ssm::Client::new(&sdk)).await?;
    let auth = IngestAuth::from_config(secret, &env(API_KEYS_ENV).unwrap_or_default())?;
    let state = ApiState {
        store: Arc::new(DynamoStore::from_sdk_config(&sdk, config.store)),
        queue: Arc::new(SqsQueue::from_sdk_config(&sdk, config.queues)),
        clock: Arc::new(SystemClock),
        auth,
        mapping,
        policy: RetryPolicy::default(),
    };
    run(state)
        .await
        .map_err(|error| anyhow::anyhow!(error))
        .context("the Lambda runtime stopped")
}
