//! The recalibrate Lambda's entry point: wires telemetry, configuration and clients, then runs.

use anyhow::Context;
use leadq_aws::{Config, DynamoStore, SqsQueue, Timeouts, load_sdk_config, telemetry};
use leadq_pipeline::SystemClock;
use leadq_pipeline::alerts::{AlertConfig, HttpNotifier};
use leadq_recalibrate::{ALERTS_FILE_VAR, AlertDelivery, JobSettings, RecalibrateFunction, run};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init()?;
    let config = Config::from_env()?;
    let settings = JobSettings::from_lookup(|var| std::env::var(var).ok())?;
    // only the alerts job needs them; without the file it says so when called
    let alerts = match std::env::var(ALERTS_FILE_VAR)
        .ok()
        .filter(|p| !p.trim().is_empty())
    {
        Some(path) => {
            let config = AlertConfig::from_file(std::path::Path::new(path.trim()))
                .with_context(|| format!("{ALERTS_FILE_VAR}={path}"))?;
            let notifier = HttpNotifier::new(&config.delivery)?;
            Some(AlertDelivery {
                config: Arc::new(config),
                notifier: Arc::new(notifier),
            })
        }
        None => None,
    };
    let sdk = load_sdk_config(Timeouts::default()).await;
    let function = RecalibrateFunction {
        store: Arc::new(DynamoStore::from_sdk_config(&sdk, config.store)),
        queue: Arc::new(SqsQueue::from_sdk_config(&sdk, config.queues)),
        clock: Arc::new(SystemClock),
        alerts,
        settings,
    };
    run(function)
        .await
        .map_err(|error| anyhow::anyhow!(error))
        .context("the Lambda runtime stopped")
}
