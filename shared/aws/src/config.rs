//! Configuration from the environment, and the SDK configuration with fail-fast timeouts.
//!
//! | variable | meaning |
//! |---|---|
//! | `TABLE_NAME` | the DynamoDB table (required for the store) |
//! | `EVENT_RETENTION_DAYS` | optional: events get a `ttl` this many days after they happened |
//! | `ENRICH_QUEUE_URL`, `SCORE_QUEUE_URL`, `ROUTE_QUEUE_URL` | the stages' queues (required for the queue) |
//! | `ENRICH_DLQ_URL`, `SCORE_DLQ_URL`, `ROUTE_DLQ_URL` | optional: their dead-letter queues, for `dead_letters` |
//! | `SQS_RECEIVE_WAIT_SECONDS` | optional: long-poll wait of `receive` (0-20, default 0) |
//! | `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_DYNAMODB`, `_SQS`) | read by `aws-config` itself: points the clients at an emulator |

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use leadq_pipeline::Stage;
use std::collections::BTreeMap;
use std::time::Duration;

/// Why the configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("environment variable {var} is not set")]
    Missing {
        /// The variable.
        var: &'static str,
    },
    /// A variable is set to something unusable.
    #[error("environment variable {var}: {message}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// Where the lead store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The DynamoDB table.
    pub table_name: String,
    /// How long events are kept (their `ttl`); `None` keeps them forever.
    pub event_retention: Option<Duration>,
}

/// A stage's queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    /// The queue.
    pub url: String,
    /// Its dead-letter queue, if known (needed by `dead_letters`).
    pub dlq_url: Option<String>,
}

/// Where the work queues live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// The queue of every stage.
    pub queues: BTreeMap<Stage, QueueUrls>,
    /// Long-poll wait of `receive` (SQS allows 0-20 s).
    pub receive_wait: Duration,
}

/// The whole adapter configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The store.
    pub store: StoreConfig,
    /// The queues.
    pub queues: QueueConfig,
}

fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<String, ConfigError> {
    optional(lookup, var).ok_or(ConfigError::Missing { var })
}

fn optional(lookup: &impl Fn(&str) -> Option<String>, var: &'static str) -> Option<String> {
    lookup(var)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    max: u64,
) -> Result<Option<u64>, ConfigError> {
    let Some(text) = optional(lookup, var) else {
        return Ok(None);
    };
    match text.parse::<u64>() {
        Ok(value) if value <= max => Ok(Some(value)),
        _ => Err(ConfigError::Invalid {
            var,
            message: format!("expected a whole number from 0 to {max}, got {text:?}"),
        }),
    }
}

/// The environment variable of a stage's queue URL.
pub fn queue_var(stage: Stage) -> &'static str {
    match stage {
        Stage::Enrich => "ENRICH_QUEUE_URL",
        Stage::Score => "SCORE_QUEUE_URL",
        Stage::Route => "ROUTE_QUEUE_URL",
    }
}

/// The environment variable of a stage's dead-letter queue URL.
pub fn dlq_var(stage: Stage) -> &'static str {
    match stage {
        Stage::Enrich => "ENRICH_DLQ_URL",
        Stage::Score => "SCORE_DLQ_URL",
        Stage::Route => "ROUTE_DLQ_URL",
    }
}

impl StoreConfig {
    /// Reads `TABLE_NAME` and `EVENT_RETENTION_DAYS` from the environment.
    pub fn from_env() -> Result<StoreConfig, ConfigError> {
        StoreConfig::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads the variables through `lookup` (tests pass a map).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<StoreConfig, ConfigError> {
        const MAX_DAYS: u64 = 36_500;
        Ok(StoreConfig {
            table_name: required(&lookup, "TABLE_NAME")?,
            event_retention: number(&lookup, "EVENT_RETENTION_DAYS", MAX_DAYS)?
                .map(|days| Duration::from_secs(days * 86_400)),
        })
    }
}

impl QueueConfig {
    /// Reads the stages' queue and dead-letter queue URLs from the environment.
    pub fn from_env() -> Result<QueueConfig, ConfigError> {
        QueueConfig::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads the variables through `lookup` (tests pass a map).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<QueueConfig, ConfigError> {
        let mut queues = BTreeMap::new();
        for stage in Stage::ALL {
            let urls = QueueUrls {
                url: required(&lookup, queue_var(stage))?,
                dlq_url: optional(&lookup, dlq_var(stage)),
            };
            queues.insert(stage, urls);
        }
        let wait = number(&lookup, "SQS_RECEIVE_WAIT_SECONDS", 20)?.unwrap_or(0);
        Ok(QueueConfig {
            queues,
            receive_wait: Duration::from_secs(wait),
        })
    }
}

impl Config {
    /// Reads the store's and the queues' variables from the environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads the variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Ok(Config {
            store: StoreConfig::from_lookup(&lookup)?,
            queues: QueueConfig::from_lookup(&lookup)?,
        })
    }
}

/// Client timeouts: a dead or stuck endpoint fails the call instead of hanging it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// One attempt, from sending the request to reading the response.
    pub attempt: Duration,
    /// A whole operation, retries included.
    pub operation: Duration,
    /// Attempts per operation (the SDK's standard retry of throttling and transient errors).
    pub max_attempts: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(1),
            attempt: Duration::from_secs(2),
            operation: Duration::from_secs(5),
            max_attempts: 3,
        }
    }
}

impl Timeouts {
    /// The SDK's timeout configuration.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }

    /// The SDK's retry configuration.
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts)
    }
}

/// Loads the SDK configuration the usual way (env, profile, instance role), with `timeouts`
/// and leadq's HTTPS client ([`crate::tls::https_client`]).
///
/// When the environment holds credentials (Lambda puts the function role's there), they are
/// read from it directly: that is the default chain's first link, and building the whole
/// chain builds an STS client (its endpoint rules parsed, its regexes compiled) that a
/// function never uses, a tenth of a cold start. Otherwise the default chain is used. The
/// region is taken from `AWS_REGION` the same way.
///
/// `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SQS`) is honoured
/// by `aws-config` itself, which is how the emulator is reached.
pub async fn load_sdk_config(timeouts: Timeouts) -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::tls::https_client())
        .timeout_config(timeouts.timeout_config())
        .retry_config(timeouts.retry_config());
    let env = |var: &str| std::env::var(var).ok();
    let loader = if credentials_in_environment(env) {
        loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        )
    } else {
        loader
    };
    // likewise the region: the default chain's first link reads `AWS_REGION`, but building
    // the chain builds an instance-metadata client too
    let loader = match region_in_environment(env) {
        Some(region) => loader.region(aws_config::Region::new(region)),
        None => loader,
    };
    loader.load().await
}

/// The region `AWS_REGION` names (Lambda always sets it), as the default chain reads it.
fn region_in_environment(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    lookup("AWS_REGION")
        .map(|region| region.trim().to_string())
        .filter(|region| !region.is_empty())
}

/// Whether `lookup` holds an access key and its secret, as the default chain's environment
/// link requires.
fn credentials_in_environment(lookup: impl Fn(&str) -> Option<String>) -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|var| lookup(var).is_some_and(|value| !value.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |var| map.get(var).cloned()
    }

    const FULL: &[(&str, &str)] = &[
        ("TABLE_NAME", "leadq"),
        ("ENRICH_QUEUE_URL", "http://q/enrich"),
        ("SCORE_QUEUE_URL", "http://q/score"),
        ("ROUTE_QUEUE_URL", "http://q/route"),
        ("SCORE_DLQ_URL", "http://q/score-dlq"),
    ];

    #[test]
    fn credentials_are_read_from_the_environment_only_when_both_parts_are_there() {
        assert!(credentials_in_environment(env(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ])));
        assert!(!credentials_in_environment(env(&[(
            "AWS_ACCESS_KEY_ID",
            "AKIDEXAMPLE"
        )])));
        assert!(!credentials_in_environment(env(&[
            ("AWS_ACCESS_KEY_ID", " "),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ])));
        // SnapStart and containers give a credentials endpoint instead: the default chain
        assert!(!credentials_in_environment(env(&[(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:9001/credentials"
        )])));
    }

    #[test]
    fn the_region_is_read_from_aws_region_only_when_it_names_one() {
        assert_eq!(
            region_in_environment(env(&[("AWS_REGION", "eu-west-1")])).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_in_environment(env(&[("AWS_REGION", " ")])), None);
        // the default chain also reads AWS_DEFAULT_REGION and profiles: left to it
        assert_eq!(
            region_in_environment(env(&[("AWS_DEFAULT_REGION", "eu-west-1")])),
            None
        );
    }

    #[test]
    fn reads_every_variable() {
        let config = Config::from_lookup(env(FULL)).expect("complete config");
        assert_eq!(config.store.table_name, "leadq");
        assert_eq!(config.store.event_retention, None);
        assert_eq!(config.queues.queues[&Stage::Route].url, "http://q/route");
        assert_eq!(
            config.queues.queues[&Stage::Score].dlq_url.as_deref(),
            Some("http://q/score-dlq")
        );
        assert_eq!(config.queues.queues[&Stage::Enrich].dlq_url, None);
        assert_eq!(config.queues.receive_wait, Duration::ZERO);
    }

    #[test]
    fn names_the_missing_variable() {
        let partial: Vec<_> = FULL
            .iter()
            .copied()
            .filter(|(k, _)| *k != "SCORE_QUEUE_URL")
            .collect();
        let err = Config::from_lookup(env(&partial)).expect_err("score queue missing");
        assert_eq!(
            err,
            ConfigError::Missing {
                var: "SCORE_QUEUE_URL"
            }
        );
        assert_eq!(
            err.to_string(),
            "environment variable SCORE_QUEUE_URL is not set"
        );
        let blank = StoreConfig::from_lookup(env(&[("TABLE_NAME", "  ")])).expect_err("blank");
        assert_eq!(blank, ConfigError::Missing { var: "TABLE_NAME" });
    }

    #[test]
    fn rejects_bad_numbers() {
        let err =
            StoreConfig::from_lookup(env(&[("TABLE_NAME", "t"), ("EVENT_RETENTION_DAYS", "ten")]))
                .expect_err("not a number");
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    var: "EVENT_RETENTION_DAYS",
                    ..
                }
            ),
            "{err}"
        );
        let ok =
            StoreConfig::from_lookup(env(&[("TABLE_NAME", "t"), ("EVENT_RETENTION_DAYS", "2")]))
                .expect("valid");
        assert_eq!(ok.event_retention, Some(Duration::from_secs(2 * 86_400)));
        let mut wait: Vec<_> = FULL.to_vec();
        wait.push(("SQS_RECEIVE_WAIT_SECONDS", "21"));
        assert!(QueueConfig::from_lookup(env(&wait)).is_err());
    }
}
