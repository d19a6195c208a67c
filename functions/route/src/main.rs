//! The route Lambda's entry point: wires telemetry, configuration and clients, then runs.

use anyhow::Context;
use leadq_aws::ledger::DynamoLedger;
use leadq_aws::{Config, DynamoStore, SqsQueue, Timeouts, load_sdk_config, telemetry};
use leadq_pipeline::alerts::{AlertConfig, HttpNotifier};
use leadq_pipeline::routing::RoutingConfig;
use leadq_pipeline::stages::DEFAULT_BATCH_CONCURRENCY;
use leadq_pipeline::{RetryPolicy, SystemClock};
use leadq_route::{ALERTS_FILE_VAR, ROUTING_FILE_VAR, RouteFunction, run};
use std::path::Path;
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init()?;
    let config = Config::from_env()?;
    let routing_file = std::env::var(ROUTING_FILE_VAR)
        .ok()
        .filter(|p| !p.trim().is_empty())
        .with_context(|| format!("environment variable {ROUTING_FILE_VAR} is not set"))?;
    let routing = RoutingConfig::from_file(Path::new(routing_file.trim()))
        .with_context(|| format!("{ROUTING_FILE_VAR}={routing_file}"))?;
    let alerts = match std::env::var(ALERTS_FILE_VAR)
        .ok()
        .filter(|p| !p.trim().is_empty())
    {
        Some(path) => AlertConfig::from_file(Path::new(path.trim()))
            .with_context(|| format!("{ALERTS_FILE_VAR}={path}"))?,
        None => {
            tracing::warn!("{ALERTS_FILE_VAR} is not set: leads are routed but nobody is alerted");
            AlertConfig::default()
        }
    };
    let notifier = HttpNotifier::new(&alerts.delivery)?;
    let sdk = load_sdk_config(Timeouts::default()).await;
    let store = DynamoStore::from_sdk_config(&sdk, config.store);
    let ledger = DynamoLedger::for_store(&store);
    let function = RouteFunction {
        store: Arc::new(store),
        queue: Arc::new(SqsQueue::from_sdk_config(&sdk, config.queues)),
        clock: Arc::new(SystemClock),
        ledger: Arc::new(ledger),
        routing: Arc::new(routing),
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
