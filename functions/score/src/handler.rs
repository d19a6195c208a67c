//! The score Lambda: an SQS batch of score envelopes in, the ids of the failed records
//! out (`ReportBatchItemFailures`).
//!
//! Each envelope runs [`score_stage_handler`] (the ScoreCard and its history, then the
//! lead goes to the route queue only when its verdict changed); work on an erased lead is
//! done, not failed. `main.rs` only wires.
//!
//! | variable | meaning |
//! |---|---|
//! | `MODEL_CACHE_SECONDS` | optional: how long the active model is used before the store is asked again (default 60, at most 86400) |
//! | the store's and queues' variables | see `leadq_aws::config` |

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use leadq_aws::lambda::{SqsBatchError, handle_sqs_batch};
use leadq_pipeline::stages::handlers::done_if_lead_gone;
use leadq_pipeline::stages::{ModelCache, StageError, StagePorts, score_stage_handler};
use leadq_pipeline::{Clock, LeadStore, RetryPolicy, Stage, WorkQueue};
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

/// The variable holding the model cache's lifetime in seconds.
pub const MODEL_CACHE_VAR: &str = "MODEL_CACHE_SECONDS";

/// Longest model cache lifetime accepted (a day).
const MAX_MODEL_CACHE_SECONDS: u64 = 86_400;

/// Why the score function's configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreConfigError {
    /// `MODEL_CACHE_SECONDS` is not a whole number of seconds in range.
    #[error(
        "environment variable {MODEL_CACHE_VAR}: expected a whole number from 0 to {MAX_MODEL_CACHE_SECONDS}, got {0:?}"
    )]
    ModelCacheSeconds(String),
}

/// The model cache with the lifetime of [`MODEL_CACHE_VAR`] (read through `lookup`),
/// [`ModelCache::DEFAULT_TTL`] when unset.
pub fn model_cache_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ModelCache, ScoreConfigError> {
    let Some(text) = lookup(MODEL_CACHE_VAR).filter(|t| !t.trim().is_empty()) else {
        return Ok(ModelCache::default());
    };
    match text.trim().parse::<u64>() {
        Ok(seconds) if seconds <= MAX_MODEL_CACHE_SECONDS => {
            Ok(ModelCache::new(Duration::from_secs(seconds)))
        }
        _ => Err(ScoreConfigError::ModelCacheSeconds(text)),
    }
}

/// The score function and the ports it runs over.
#[derive(Clone)]
pub struct ScoreFunction {
    /// The lead store.
    pub store: Arc<dyn LeadStore>,
    /// The work queues (changed verdicts go on to the route queue).
    pub queue: Arc<dyn WorkQueue>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// The active model, kept across invocations of a warm function.
    pub models: Arc<ModelCache>,
    /// Retries of conflicting writes.
    pub policy: RetryPolicy,
    /// Records scored at once within a batch.
    pub concurrency: usize,
}

impl ScoreFunction {
    /// Scores every well-formed record of the batch; returns the ids to redeliver.
    ///
    /// The batch's metrics are flushed before it returns, so Lambda cannot freeze them.
    pub async fn handle(&self, event: &SqsEvent) -> Result<SqsBatchResponse, SqsBatchError> {
        let ports = StagePorts {
            store: self.store.as_ref(),
            queue: self.queue.as_ref(),
            clock: self.clock.as_ref(),
            policy: self.policy,
        };
        let (ports, models) = (&ports, self.models.as_ref());
        let response = handle_sqs_batch(
            Stage::Score,
            event,
            self.concurrency,
            |envelope| async move {
                let result = score_stage_handler(ports, models, &envelope).await;
                // None: an erased lead, done (done_if_lead_gone logged it)
                if let Some(handled) = done_if_lead_gone(&envelope, result)? {
                    let card = &handled.outcome.card;
                    info!(
                        composite = card.composite,
                        band = ?card.band,
                        next_action = ?card.next_action,
                        verdict_changed = handled.outcome.verdict_changed,
                        routed = handled.follow_up.is_some(),
                        "lead scored"
                    );
                }
                Ok::<(), StageError>(())
            },
        )
        .await;
        leadq_aws::metrics::flush();
        response
    }
}

/// Serves invocations until the Lambda runtime stops the process.
pub async fn run(function: ScoreFunction) -> Result<(), lambda_runtime::Error> {
    let function = &function;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        function
            .handle(&event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
    use leadq_pipeline::stages::DEFAULT_BATCH_CONCURRENCY;
    use leadq_pipeline::{Envelope, FixedClock, LeadRecord};
    use leadq_scoring::{Authority, Company, JobFunction, Lead, Person, Seniority};

    /// A batch of ten from the score queue; record 7 (index 6) is not an envelope.
    const BATCH: &str = include_str!("../../../events/sqs/score-batch-with-poison.json");
    const POISON_INDEX: usize = 6;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 9)
            .single()
            .unwrap_or_default()
    }

    fn batch() -> SqsEvent {
        serde_json::from_str(BATCH).expect("the fixture is an SQS event")
    }

    /// A decision maker at a company that fits the default model well.
    fn enriched_lead(id: &str, i: usize) -> Lead {
        Lead {
            id: id.into(),
            person: Person {
                email: Some(format!("buyer{i}@acme.com")),
                title: Some("CEO".into()),
                seniority: Some(Seniority::CLevel),
                function: Some(JobFunction::Executive),
                authority: Some(Authority::DecisionMaker),
                ..Person::default()
            },
            company: Company {
                domain: Some("acme.com".into()),
                industry: Some("software".into()),
                employees: Some(500),
                country: Some("US".into()),
                ..Company::default()
            },
            ..Lead::default()
        }
    }

    struct World {
        store: Arc<MemoryStore>,
        queue: Arc<MemoryQueue>,
        clock: Arc<FixedClock>,
        function: ScoreFunction,
    }

    async fn world(event: &SqsEvent) -> World {
        let store = Arc::new(MemoryStore::new());
        for (i, record) in event.records.iter().enumerate() {
            let Ok(envelope) = Envelope::parse(record.body.as_deref().unwrap_or("")) else {
                continue;
            };
            let lead = enriched_lead(&envelope.lead_id, i);
            store
                .create_lead(&LeadRecord::new(lead, None, now()))
                .await
                .expect("store lead");
        }
        let queue = Arc::new(MemoryQueue::default());
        let clock = Arc::new(FixedClock::new(now()));
        let function = ScoreFunction {
            store: store.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            models: Arc::new(ModelCache::default()),
            policy: RetryPolicy::default(),
            concurrency: DEFAULT_BATCH_CONCURRENCY,
        };
        World {
            store,
            queue,
            clock,
            function,
        }
    }

    async fn routed(queue: &MemoryQueue) -> Vec<Envelope> {
        let deliveries = queue
            .receive(Stage::Route, 100, Duration::from_secs(30))
            .await
            .expect("receive");
        for delivery in &deliveries {
            queue
                .ack(Stage::Route, &delivery.receipt)
                .await
                .expect("ack");
        }
        deliveries
            .iter()
            .map(|d| Envelope::parse(&d.body).expect("envelope"))
            .collect()
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn the_poison_record_fails_alone_and_nine_leads_are_scored_and_routed() {
        let event = batch();
        assert_eq!(event.records.len(), 10);
        let world = world(&event).await;
        let response = world.function.handle(&event).await.expect("per record");
        let poison = event.records[POISON_INDEX]
            .message_id
            .as_deref()
            .expect("id");
        assert_eq!(failed(&response), [poison]);

        let sent = routed(&world.queue).await;
        assert_eq!(sent.len(), 9, "a first score is a changed verdict");
        for envelope in &sent {
            let record = world
                .store
                .get_lead(&envelope.lead_id)
                .await
                .expect("get")
                .expect("lead");
            let card = record.card.expect("scored");
            assert!(card.composite > 0);
            let history = world
                .store
                .list_history(&envelope.lead_id)
                .await
                .expect("history");
            assert_eq!(history.len(), 1);
            assert_eq!(history[0].to_band, card.band);
        }
        // the trace id of each submission follows it to the route queue
        let mut traces: Vec<String> = sent.iter().map(|e| e.trace_id.clone()).collect();
        traces.sort();
        let mut expected: Vec<String> = event
            .records
            .iter()
            .filter_map(|r| Envelope::parse(r.body.as_deref().unwrap_or("")).ok())
            .map(|e| e.trace_id)
            .collect();
        expected.sort();
        assert_eq!(traces, expected);
    }

    #[tokio::test]
    async fn with_a_trained_version_active_stored_cards_carry_its_probability() {
        use leadq_pipeline::ModelVersion;
        use leadq_pipeline::stages::VersionMetrics;
        use leadq_scoring::Calibration;
        use leadq_scoring::model::DEFAULT_MODEL_TOML;

        let event = batch();
        let world = world(&event).await;
        // every composite point worth 0.05 log-odds, from -3 at zero
        let calibration = Calibration {
            intercept: -3.0,
            prior_intercept: -3.0,
            prior_slope: 0.05,
            features: Vec::new(),
            rows: 100,
            won: 40,
            prior_strength: 50.0,
        };
        let metrics = VersionMetrics {
            calibration: Some(calibration.clone()),
            ..VersionMetrics::default()
        };
        let trained = ModelVersion {
            version: "trained-1".into(),
            created_at: now(),
            model_toml: DEFAULT_MODEL_TOML.replacen(
                "version = \"rules-default-2026.11\"",
                "version = \"trained-1\"",
                1,
            ),
            metrics_json: Some(serde_json::to_string(&metrics).expect("json")),
            promoted: true,
            reason: "promoted".into(),
        };
        assert!(world.store.put_model_version(&trained).await.expect("put"));
        world
            .store
            .set_active_model("trained-1")
            .await
            .expect("activate");

        world.function.handle(&event).await.expect("per record");
        let sent = routed(&world.queue).await;
        assert_eq!(sent.len(), 9);
        for envelope in &sent {
            let card = world
                .store
                .get_lead(&envelope.lead_id)
                .await
                .expect("get")
                .expect("lead")
                .card
                .expect("scored");
            assert_eq!(&*card.model_version, "trained-1");
            let p = card.probability.expect("a calibrated probability");
            let exact = card.composite_exact();
            let expected = 1.0 / (1.0 + (-(-3.0 + 0.05 * exact)).exp());
            assert!((p - expected).abs() < 1e-9, "{p} vs {expected}");
            assert_eq!(calibration.probability(&card), Some(p));
        }
    }

    #[tokio::test]
    async fn a_redelivered_batch_adds_no_history_and_later_work_routes_nothing() {
        let event = batch();
        let world = world(&event).await;
        world.function.handle(&event).await.expect("first delivery");
        assert_eq!(routed(&world.queue).await.len(), 9);

        // SQS delivers the same batch again a minute later (at-least-once): the verdicts
        // were recorded after these envelopes were enqueued, so the first delivery may have
        // died before routing; they are routed again (the route stage is idempotent per
        // verdict) but nothing is scored twice
        world.clock.set(now() + chrono::TimeDelta::minutes(1));
        let again = world.function.handle(&event).await.expect("redelivery");
        assert_eq!(again.batch_item_failures.len(), 1, "only the poison record");
        assert_eq!(routed(&world.queue).await.len(), 9);
        let envelopes: Vec<Envelope> = event
            .records
            .iter()
            .filter_map(|r| Envelope::parse(r.body.as_deref().unwrap_or("")).ok())
            .collect();
        for envelope in &envelopes {
            let history = world
                .store
                .list_history(&envelope.lead_id)
                .await
                .expect("history");
            assert_eq!(history.len(), 1, "no second history entry");
        }

        // new work on the same leads, nothing changed since: no route
        world.clock.set(now() + chrono::TimeDelta::minutes(3));
        let later: Vec<(String, String)> = envelopes
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let at = now() + chrono::TimeDelta::minutes(2);
                let body = Envelope::new(Stage::Score, &e.lead_id, &e.trace_id, at).to_json();
                (format!("later-{i}"), body)
            })
            .collect();
        let records: Vec<serde_json::Value> = later
            .iter()
            .map(|(id, body)| serde_json::json!({"messageId": id, "body": body}))
            .collect();
        let later: SqsEvent =
            serde_json::from_value(serde_json::json!({ "Records": records })).expect("event");
        let response = world.function.handle(&later).await.expect("later work");
        assert!(response.batch_item_failures.is_empty());
        assert!(routed(&world.queue).await.is_empty(), "verdicts unchanged");
    }

    #[tokio::test]
    async fn an_erased_lead_is_acknowledged_not_retried() {
        let event = batch();
        let world = world(&SqsEvent::default()).await;
        let response = world.function.handle(&event).await.expect("per record");
        assert_eq!(
            response.batch_item_failures.len(),
            1,
            "only the poison record"
        );
        assert!(routed(&world.queue).await.is_empty());
    }

    #[test]
    fn the_model_cache_lifetime_comes_from_the_environment() {
        let lookup = |value: &'static str| {
            move |var: &str| (var == MODEL_CACHE_VAR).then(|| value.to_string())
        };
        assert!(model_cache_from_lookup(|_| None).is_ok());
        assert!(model_cache_from_lookup(lookup("300")).is_ok());
        assert!(
            model_cache_from_lookup(lookup(" ")).is_ok(),
            "blank is unset"
        );
        for bad in ["-1", "ten", "86401"] {
            let err = model_cache_from_lookup(lookup(bad)).expect_err(bad);
            assert_eq!(err, ScoreConfigError::ModelCacheSeconds(bad.to_string()));
            assert!(err.to_string().contains(MODEL_CACHE_VAR), "{err}");
        }
    }
}
