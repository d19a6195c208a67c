//! The recalibrate Lambda's entry point: wires telemetry, configuration and clients, then runs.

use anyhow::Context;
use leadq_aws::{Config, DynamoStore, ParamEnv, SqsQueue, Timeouts, load_sdk_config, telemetry};
use leadq_pipeline::SystemClock;
use leadq_pipeline::alerts::HttpNotifier;
use leadq_recalibrate::{
    AlertDelivery, JobSettings, RecalibrateFunction, alert_config_from_lookup, run,
};
use std::sync::Arc;

// One thread: a sandbox runs one invocation at a time with under one vCPU (below 1,769 MB),
// so worker threads would only add to the cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    telemetry::init()?;
    leadq_aws::metrics::install("recalibrate")?;
    let config = Config::from_env()?;
    let settings = JobSettings::from_lookup(|var| std::env::var(var).ok())?;
    let sdk = load_sdk_config(Timeouts::default()).await;
    // hook URLs and secrets: from the environment, or the SSM parameters `X_PARAM` names
    let env = ParamEnv::from_process(&sdk).await?;
    // only the alerts job needs them; without the file it says so when called
    let alerts = match alert_config_from_lookup(|var| env.get(var))? {
        Some(config) => {
            let notifier = HttpNotifier::new(&config.delivery)?;
            Some(AlertDelivery {
                config: Arc::new(config),
                notifier: Arc::new(notifier),
            })
        }
        None => None,
    };
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
