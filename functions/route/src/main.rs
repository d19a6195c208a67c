//! The route Lambda's entry point: wires telemetry, configuration and clients, then runs.

use anyhow::Context;
use leadq_aws::ledger::DynamoLedger;
use leadq_aws::{Config, DynamoStore, ParamEnv, SqsQueue, Timeouts, load_sdk_config, telemetry};
use leadq_pipeline::alerts::{AlertConfig, HttpNotifier};
use leadq_pipeline::stages::DEFAULT_BATCH_CONCURRENCY;
use leadq_pipeline::{RetryPolicy, SystemClock};
use leadq_route::{ALERTS_FILE_VAR, RouteFunction, config_from_lookup, run};
use std::sync::Arc;

// One thread: a sandbox runs one invocation at a time with under one vCPU (below 1,769 MB),
// so worker threads would only add to the cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    telemetry::init()?;
    leadq_aws::metrics::install("route")?;
    let config = Config::from_env()?;
    let sdk = load_sdk_config(Timeouts::default()).await;
    // hook URLs and secrets: from the environment, or the SSM parameters `X_PARAM` names
    let env = ParamEnv::from_process(&sdk).await?;
    let route = config_from_lookup(|var| env.get(var))?;
    let alerts = route.alerts.unwrap_or_else(|| {
        tracing::warn!("{ALERTS_FILE_VAR} is not set: leads are routed but nobody is alerted");
        AlertConfig::default()
    });
    let notifier = HttpNotifier::new(&alerts.delivery)?;
    let store = DynamoStore::from_sdk_config(&sdk, config.store);
    let ledger = DynamoLedger::for_store(&store);
    let function = RouteFunction {
        store: Arc::new(store),
        queue: Arc::new(SqsQueue::from_sdk_config(&sdk, config.queues)),
        clock: Arc::new(SystemClock),
        ledger: Arc::new(ledger),
        routing: Arc::new(route.routing),
        alerts: Arc::new(alerts),
        notifier: Arc::new(notifier),
        policy: RetryPolicy::default(),
        concurrency: DEFAULT_BATCH_CONCURRENCY,
    };
    run(function)
        .await
        .map_err(|error| anyhow::anyhow!(error))
        .context("the Lambda runtime stopped")
}
