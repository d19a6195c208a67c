//! The route Lambda: an SQS batch of route envelopes in, the ids of the failed records
//! out (`ReportBatchItemFailures`).
//!
//! Each envelope runs [`route_stage_handler`]: the next action from the lead's ScoreCard,
//! its assignment to a rep (capacity taken with one conditional write in the ledger) or
//! the fallback queue, then the alerts its verdict calls for, put in the outbox
//! create-if-absent and tried once at once; the recalibrate Lambda's `alerts` job retries
//! what did not go out. A redelivered message makes no second assignment and no second
//! alert. Work on an erased lead is done, not failed. `main.rs` only wires.
//!
//! | variable | meaning |
//! |---|---|
//! | `LEADQ_ROUTING_FILE` | the routing rules (TOML, shipped with the function); required |
//! | `LEADQ_ALERTS_FILE` | the alert configuration (TOML); without it no alert is sent |
//! | the hooks' variables | the URLs and secrets the alert configuration names |
//! | the store's and queues' variables | see `leadq_aws::config` |

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use leadq_aws::lambda::{SqsBatchError, handle_sqs_batch};
use leadq_pipeline::alerts::{AlertConfig, AlertConfigError, Notifier};
use leadq_pipeline::routing::{RoutingConfig, RoutingConfigError};
use leadq_pipeline::stages::handlers::done_if_lead_gone;
use leadq_pipeline::stages::{RouteContext, StageError, StagePorts, route_stage_handler};
use leadq_pipeline::{Clock, LeadStore, RepLedger, RetryPolicy, Stage, WorkQueue};
use std::sync::Arc;
use tracing::info;

/// The variable naming the routing rules file.
pub const ROUTING_FILE_VAR: &str = "LEADQ_ROUTING_FILE";
/// The variable naming the alert configuration file.
pub const ALERTS_FILE_VAR: &str = "LEADQ_ALERTS_FILE";

/// Why the route function's configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteConfigError {
    /// No routing rules file named.
    #[error("environment variable {ROUTING_FILE_VAR} is not set: it names the routing rules file")]
    RoutingFileUnset,
    /// The routing rules file is unreadable or refused.
    #[error("{ROUTING_FILE_VAR}: {0}")]
    Routing(RoutingConfigError),
    /// The alert configuration file is unreadable or refused.
    #[error("{ALERTS_FILE_VAR}={path}: {error}")]
    Alerts {
        /// The file named.
        path: String,
        /// Why it was refused (never a URL or a secret).
        error: AlertConfigError,
    },
}

/// The routing rules and the alert configuration the function runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// Teams, reps, strategies and the fallback queue.
    pub routing: RoutingConfig,
    /// Hooks and subscriptions; `None` when no file is named (nobody is alerted).
    pub alerts: Option<AlertConfig>,
}

/// Reads the files the variables name (through `lookup`), and the hooks' URLs and
/// secrets the alert configuration names (through `lookup` too).
pub fn config_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<RouteConfig, RouteConfigError> {
    let named = |var: &str| {
        lookup(var)
            .map(|path| path.trim().to_string())
            .filter(|path| !path.is_empty())
    };
    let routing_file = named(ROUTING_FILE_VAR).ok_or(RouteConfigError::RoutingFileUnset)?;
    let routing = RoutingConfig::from_file(std::path::Path::new(&routing_file))
        .map_err(RouteConfigError::Routing)?;
    let alerts = match named(ALERTS_FILE_VAR) {
        None => None,
        Some(path) => {
            let refused = |error| RouteConfigError::Alerts {
                path: path.clone(),
                error,
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| refused(AlertConfigError::Syntax(format!("cannot be read: {e}"))))?;
            Some(AlertConfig::from_toml_with_env(&text, &lookup).map_err(refused)?)
        }
    };
    Ok(RouteConfig { routing, alerts })
}

/// The route function and the ports it runs over.
#[derive(Clone)]
pub struct RouteFunction {
    /// The lead store (assignments, the alert outbox).
    pub store: Arc<dyn LeadStore>,
    /// The work queues.
    pub queue: Arc<dyn WorkQueue>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Reps' capacity.
    pub ledger: Arc<dyn RepLedger>,
    /// Teams, reps, strategies and the fallback queue.
    pub routing: Arc<RoutingConfig>,
    /// Hooks and subscriptions (the default: none, so no alert).
    pub alerts: Arc<AlertConfig>,
    /// Makes the immediate delivery attempt of each new alert.
    pub notifier: Arc<dyn Notifier>,
    /// Retries of conflicting writes.
    pub policy: RetryPolicy,
    /// Records routed at once within a batch.
    pub concurrency: usize,
}

impl RouteFunction {
    /// Routes every well-formed record of the batch; returns the ids to redeliver.
    ///
    /// The batch's metrics are flushed before it returns, so Lambda cannot freeze them.
    pub async fn handle(&self, event: &SqsEvent) -> Result<SqsBatchResponse, SqsBatchError> {
        let ports = StagePorts {
            store: self.store.as_ref(),
            queue: self.queue.as_ref(),
            clock: self.clock.as_ref(),
            policy: self.policy,
        };
        let context = RouteContext {
            ledger: self.ledger.as_ref(),
            routing: self.routing.as_ref(),
            alerts: self.alerts.as_ref(),
            notifier: self.notifier.as_ref(),
        };
        let (ports, context) = (&ports, &context);
        let response = handle_sqs_batch(
            Stage::Route,
            event,
            self.concurrency,
            |envelope| async move {
                let result = route_stage_handler(ports, context, &envelope).await;
                // None: an erased lead, done (done_if_lead_gone logged it)
                if let Some(handled) = done_if_lead_gone(&envelope, result)? {
                    let outcome = &handled.outcome;
                    info!(
                        verdict = ?outcome.verdict,
                        change = ?outcome.change,
                        assignee = ?outcome.assignment.as_ref().map(|a| &a.assignee),
                        alerts = outcome.alerts.len(),
                        why = %outcome.why,
                        "lead routed"
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
pub async fn run(function: RouteFunction) -> Result<(), lambda_runtime::Error> {
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
    use async_trait::async_trait;
    use chrono::{DateTime, TimeZone, Utc};
    use leadq_pipeline::alerts::{DeliveryError, Hook};
    use leadq_pipeline::memory::{MemoryLedger, MemoryQueue, MemoryStore};
    use leadq_pipeline::stages::DEFAULT_BATCH_CONCURRENCY;
    use leadq_pipeline::{Alert, AlertState, Envelope, FixedClock, LeadRecord};
    use leadq_scoring::{
        Authority, Band, Company, Event, EventKind, JobFunction, Lead, Model, Person, Seniority,
        score,
    };
    use std::sync::Mutex;

    /// A batch of ten from the route queue; record 3 (index 2) is an envelope of version 2.
    const BATCH: &str = include_str!("../../../events/sqs/route-batch-with-poison.json");
    const POISON_INDEX: usize = 2;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 4)
            .single()
            .unwrap_or_default()
    }

    fn batch() -> SqsEvent {
        serde_json::from_str(BATCH).expect("the fixture is an SQS event")
    }

    /// Records every delivery attempt and accepts it.
    #[derive(Default)]
    struct Receiver(Mutex<Vec<String>>);

    impl Receiver {
        fn deliveries(&self) -> Vec<String> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }

    #[async_trait]
    impl Notifier for Receiver {
        async fn deliver(&self, hook: &Hook, alert: &Alert) -> Result<(), DeliveryError> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{}:{}", hook.name, alert.lead_id));
            Ok(())
        }
    }

    /// A decision maker at a North American software company, hot from fresh activity.
    fn hot_record(id: &str, i: usize) -> LeadRecord {
        let lead = Lead {
            id: id.into(),
            person: Person {
                email: Some(format!("buyer{i}@acme.com")),
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
                tech_stack: Some(vec!["salesforce".into(), "hubspot".into()]),
                business_model: Some("b2b".into()),
                revenue_band: Some("50m-250m".into()),
                ..Company::default()
            },
            ..Lead::default()
        };
        let kinds = [
            EventKind::DemoRequest,
            EventKind::PricingView,
            EventKind::PricingView,
            EventKind::ContentDownload,
            EventKind::ContentDownload,
            EventKind::Webinar,
            EventKind::Webinar,
            EventKind::EmailReply,
            EventKind::EmailReply,
            EventKind::CaseStudyView,
            EventKind::CaseStudyView,
        ];
        let events: Vec<Event> = kinds.iter().map(|k| Event::new(*k, now())).collect();
        let card = score(&lead, &events, &Model::default_model(), now());
        assert_eq!(card.band, Band::Hot, "{}", card.explain());
        let mut record = LeadRecord::new(lead, None, now());
        record.card = Some(card);
        record
    }

    const ROUTING: &str = r#"
        fallback_queue = "unassigned"

        [regions]
        na = ["US", "CA"]

        [[teams]]
        name = "na-software"
        strategy = "weighted_round_robin"
        regions = ["na"]
        industries = ["software"]

        [[teams.reps]]
        id = "katherine"
        name = "Katherine Johnson"
        weight = 2
        max_open_leads = 30
        max_new_per_day = 30

        [[teams.reps]]
        id = "alan"
        name = "Alan Turing"
        weight = 1
        max_open_leads = 30
        max_new_per_day = 30
    "#;

    const ALERTS: &str = r#"
        lead_url = "https://leadq.example.com/v1/leads/{lead_id}"

        [hooks.sales]
        kind = "slack"
        url_env = "SALES_SLACK_URL"

        [[subscriptions]]
        hook = "sales"
        bands = ["hot"]
    "#;

    struct World {
        store: Arc<MemoryStore>,
        ledger: Arc<MemoryLedger>,
        receiver: Arc<Receiver>,
        function: RouteFunction,
    }

    async fn world(event: &SqsEvent) -> World {
        let store = Arc::new(MemoryStore::new());
        for (i, record) in event.records.iter().enumerate() {
            let Ok(envelope) = Envelope::parse(record.body.as_deref().unwrap_or("")) else {
                continue;
            };
            store
                .create_lead(&hot_record(&envelope.lead_id, i))
                .await
                .expect("store lead");
        }
        let ledger = Arc::new(MemoryLedger::default());
        let receiver = Arc::new(Receiver::default());
        let env = |name: &str| {
            (name == "SALES_SLACK_URL").then(|| "https://hooks.slack.com/services/T0/B0/x".into())
        };
        let alerts = AlertConfig::from_toml_with_env(ALERTS, env).expect("alert config");
        let function = RouteFunction {
            store: store.clone(),
            queue: Arc::new(MemoryQueue::default()),
            clock: Arc::new(FixedClock::new(now())),
            ledger: ledger.clone(),
            routing: Arc::new(RoutingConfig::from_toml(ROUTING).expect("routing")),
            alerts: Arc::new(alerts),
            notifier: receiver.clone(),
            policy: RetryPolicy::default(),
            concurrency: DEFAULT_BATCH_CONCURRENCY,
        };
        World {
            store,
            ledger,
            receiver,
            function,
        }
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    fn lead_ids(event: &SqsEvent) -> Vec<String> {
        event
            .records
            .iter()
            .filter_map(|r| Envelope::parse(r.body.as_deref().unwrap_or("")).ok())
            .map(|e| e.lead_id)
            .collect()
    }

    #[tokio::test]
    async fn the_poison_record_fails_alone_and_nine_hot_leads_are_assigned_and_alerted() {
        let event = batch();
        assert_eq!(event.records.len(), 10);
        let world = world(&event).await;
        let response = world.function.handle(&event).await.expect("per record");
        let poison = event.records[POISON_INDEX]
            .message_id
            .as_deref()
            .expect("id");
        assert_eq!(failed(&response), [poison]);

        let ids = lead_ids(&event);
        assert_eq!(ids.len(), 9);
        let mut per_rep = std::collections::BTreeMap::new();
        for id in &ids {
            let record = world.store.get_lead(id).await.expect("get").expect("lead");
            let assignment = record.assignment.expect("assigned");
            assert_eq!(assignment.team.as_deref(), Some("na-software"));
            assert!(!assignment.why.is_empty());
            let rep = assignment.rep().expect("a rep").to_string();
            assert_eq!(
                world.ledger.holder(id).await.expect("holder").as_deref(),
                Some(rep.as_str())
            );
            *per_rep.entry(rep).or_insert(0) += 1;
        }
        assert_eq!(per_rep.values().sum::<i32>(), 9);
        assert_eq!(per_rep.len(), 2, "both reps get leads: {per_rep:?}");

        let mut delivered = world.receiver.deliveries();
        delivered.sort();
        let mut expected: Vec<String> = ids.iter().map(|id| format!("sales:{id}")).collect();
        expected.sort();
        assert_eq!(delivered, expected, "one alert per hot lead");
        let sent = world
            .store
            .alerts_in_state(AlertState::Sent, 100)
            .await
            .expect("outbox");
        assert_eq!(sent.len(), 9);
    }

    #[tokio::test]
    async fn a_redelivered_batch_assigns_and_alerts_nobody_twice() {
        let event = batch();
        let world = world(&event).await;
        world.function.handle(&event).await.expect("first delivery");
        let before: Vec<_> = {
            let mut all = Vec::new();
            for id in lead_ids(&event) {
                let record = world.store.get_lead(&id).await.expect("get").expect("lead");
                all.push(record.assignment);
            }
            all
        };
        let again = world.function.handle(&event).await.expect("redelivery");
        assert_eq!(again.batch_item_failures.len(), 1, "only the poison record");
        assert_eq!(world.receiver.deliveries().len(), 9, "no second alert");
        for (id, assignment) in lead_ids(&event).iter().zip(before) {
            let record = world.store.get_lead(id).await.expect("get").expect("lead");
            assert_eq!(
                record.assignment, assignment,
                "{id}: the first assignment stands"
            );
        }
        let day = now().date_naive();
        let katherine = world.ledger.load("katherine", day).await.expect("load");
        let alan = world.ledger.load("alan", day).await.expect("load");
        assert_eq!(katherine.open + alan.open, 9, "{katherine:?} {alan:?}");
        assert_eq!(katherine.new_today + alan.new_today, 9);
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
        assert!(world.receiver.deliveries().is_empty());
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }

    #[test]
    fn the_configuration_comes_from_the_files_the_environment_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let routing = write(&dir, "routing.toml", ROUTING);
        let alerts = write(&dir, "alerts.toml", ALERTS);
        let env = |pairs: Vec<(&'static str, String)>| {
            move |var: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == var)
                    .map(|(_, value)| value.clone())
            }
        };

        let config = config_from_lookup(env(vec![
            (ROUTING_FILE_VAR, routing.clone()),
            (ALERTS_FILE_VAR, alerts.clone()),
            (
                "SALES_SLACK_URL",
                "https://hooks.slack.com/services/T/B/x".into(),
            ),
        ]))
        .expect("both files");
        assert_eq!(config.routing.fallback_queue, "unassigned");
        let hooks = config.alerts.expect("alerts").hooks;
        assert_eq!(hooks.keys().collect::<Vec<_>>(), ["sales"]);

        let without_alerts =
            config_from_lookup(env(vec![(ROUTING_FILE_VAR, routing.clone())])).expect("routing");
        assert_eq!(without_alerts.alerts, None, "no file: nobody is alerted");

        let err = config_from_lookup(env(vec![(ROUTING_FILE_VAR, " ".into())]))
            .expect_err("blank is unset");
        assert_eq!(err, RouteConfigError::RoutingFileUnset);
        assert!(err.to_string().contains(ROUTING_FILE_VAR), "{err}");

        let missing = dir.path().join("nope.toml").display().to_string();
        let err = config_from_lookup(env(vec![(ROUTING_FILE_VAR, missing.clone())]))
            .expect_err("no such file");
        assert!(matches!(err, RouteConfigError::Routing(_)), "{err}");
        assert!(err.to_string().contains("nope.toml"), "{err}");

        let bad = write(&dir, "bad.toml", "fallback_queue = \"\"\n");
        let err = config_from_lookup(env(vec![(ROUTING_FILE_VAR, bad)])).expect_err("refused");
        assert!(err.to_string().contains("fallback_queue"), "{err}");

        // the hook's variable is not set: refused, naming the key, never a URL
        let err = config_from_lookup(env(vec![
            (ROUTING_FILE_VAR, routing.clone()),
            (ALERTS_FILE_VAR, alerts.clone()),
        ]))
        .expect_err("hook URL unset");
        assert!(matches!(&err, RouteConfigError::Alerts { path, .. } if *path == alerts));
        assert!(err.to_string().contains("hooks.sales.url_env"), "{err}");

        let err = config_from_lookup(env(vec![
            (ROUTING_FILE_VAR, routing),
            (ALERTS_FILE_VAR, missing),
        ]))
        .expect_err("no alerts file");
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }
}
