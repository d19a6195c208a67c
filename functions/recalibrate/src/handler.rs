//! The recalibrate Lambda: scheduled jobs, one per EventBridge schedule, named by the
//! event's `job` field.
//!
//! | job | does |
//! |---|---|
//! | `decay` | [`sweep_decay`]: leads whose decayed score may have crossed a band edge go to the score queue, in bounded pages |
//! | `alerts` | [`deliver_due_alerts`]: the outbox's pending alerts whose attempt is due |
//! | `train` | [`train_model`]: trains a challenger calibration on the older outcomes, compares it with the active version on the newest 20%, stores it with its metrics and promotes it only if its AUC is at most 0.005 lower and its calibration error at most 0.02 higher |
//!
//! The job is read from the EventBridge event's `detail.job` (a rule or schedule whose
//! target input is the event with `"detail": {"job": "decay"}`), or from `job` at the top
//! level when the target input is just `{"job": "decay"}`. A decay job may carry `cursor`
//! (a previous report's) to resume a sweep that ran out of pages. Anything else, an
//! unknown job included, is an error naming what was wrong, and nothing is done.
//! `main.rs` only wires.
//!
//! | variable | meaning |
//! |---|---|
//! | `DECAY_PAGE_SIZE` | leads per page of the decay sweep (default 100, 1 to 1000) |
//! | `DECAY_MAX_PAGES` | pages per decay run (default 50, 1 to 10000) |
//! | `ALERT_DELIVERY_LIMIT` | alerts attempted per alerts run (default 100, 1 to 1000) |
//! | `LEADQ_ALERTS_FILE` | the alert configuration (TOML, shipped with the function); needed by the `alerts` job only |
//! | the store's and queues' variables | see `leadq_aws::config` |

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use lambda_runtime::{LambdaEvent, service_fn};
use leadq_pipeline::alerts::{
    AlertConfig, AlertConfigError, AlertError, Notifier, deliver_due_alerts,
};
use leadq_pipeline::metrics::{MeteredStage, time_stage};
use leadq_pipeline::stages::decay::{DEFAULT_MAX_PAGES, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use leadq_pipeline::stages::{
    ModelJobError, SweepError, TrainReport, TrainSettings, sweep_decay_from, train_model,
};
use leadq_pipeline::{Clock, LeadStore, WorkQueue};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use tracing::{info, warn};

/// The variable holding the decay sweep's page size.
pub const DECAY_PAGE_SIZE_VAR: &str = "DECAY_PAGE_SIZE";
/// The variable holding the decay sweep's page count per run.
pub const DECAY_MAX_PAGES_VAR: &str = "DECAY_MAX_PAGES";
/// The variable holding how many alerts one alerts run attempts.
pub const ALERT_DELIVERY_LIMIT_VAR: &str = "ALERT_DELIVERY_LIMIT";
/// The variable naming the alert configuration file.
pub const ALERTS_FILE_VAR: &str = "LEADQ_ALERTS_FILE";

/// Alerts attempted per alerts run unless configured.
pub const DEFAULT_ALERT_DELIVERY_LIMIT: usize = 100;
/// Most alerts attempted per alerts run.
const MAX_ALERT_DELIVERY_LIMIT: usize = 1_000;
/// Most decay pages per run.
const MAX_DECAY_PAGES: usize = 10_000;

/// A scheduled job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// The decay sweep.
    Decay,
    /// Delivery of the outbox's due alerts.
    Alerts,
    /// Training a new model version from outcomes.
    Train,
}

impl Job {
    /// Every job, in the order the error messages list them.
    pub const ALL: [Job; 3] = [Job::Decay, Job::Alerts, Job::Train];

    /// The name used in the event.
    pub fn name(self) -> &'static str {
        match self {
            Job::Decay => "decay",
            Job::Alerts => "alerts",
            Job::Train => "train",
        }
    }

    /// The job of this name.
    pub fn from_name(name: &str) -> Option<Job> {
        Job::ALL.into_iter().find(|job| job.name() == name)
    }

    fn names() -> String {
        Job::ALL.map(Job::name).join(", ")
    }
}

/// Why a job was refused or failed.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum RecalibrateError {
    /// The event is not a schedule event with a `job` field.
    #[error("event: {0}")]
    Event(String),
    /// The `job` field names no job.
    #[error("unknown job {0:?}: the jobs are {jobs}", jobs = Job::names())]
    UnknownJob(String),
    /// Training stopped; nothing was promoted.
    #[error("job train: {0}")]
    Train(#[from] ModelJobError),
    /// A field a job does not take.
    #[error("job {job}: field {field} is not taken by this job")]
    FieldNotTaken {
        /// The job.
        job: &'static str,
        /// The field given.
        field: &'static str,
    },
    /// The `alerts` job without an alert configuration.
    #[error("job alerts: no alert configuration; set {ALERTS_FILE_VAR} to the alert TOML file")]
    AlertsNotConfigured,
    /// The decay sweep stopped.
    #[error("job decay: {0}")]
    Decay(#[from] SweepError),
    /// Alert delivery stopped.
    #[error("job alerts: {0}")]
    Alerts(#[from] AlertError),
}

/// The job an event asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    /// The job.
    pub job: Job,
    /// Where a decay sweep resumes (a previous report's cursor).
    pub cursor: Option<String>,
}

/// The job fields of the event (its `detail`, or the whole input).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFields {
    job: String,
    #[serde(default)]
    cursor: Option<String>,
}

impl JobRequest {
    /// Reads the job from an EventBridge event's `detail`, or from a bare `{"job": ...}`.
    pub fn from_event(event: &Value) -> Result<JobRequest, RecalibrateError> {
        let Value::Object(fields) = event else {
            return Err(RecalibrateError::Event(format!(
                "expected a JSON object (an EventBridge event with detail.job, or {{\"job\": ...}}), got {}",
                kind_of(event)
            )));
        };
        let (fields, at) = if fields.contains_key("detail-type") || fields.contains_key("detail") {
            let event: EventBridgeEvent<Value> = serde_json::from_value(event.clone())
                .map_err(|e| RecalibrateError::Event(format!("not an EventBridge event: {e}")))?;
            (event.detail, "detail")
        } else {
            (event.clone(), "the input")
        };
        let fields: JobFields = serde_json::from_value(fields).map_err(|e| {
            RecalibrateError::Event(format!(
                "{at} must be {{\"job\": one of {}}} (decay may add \"cursor\"): {e}",
                Job::names()
            ))
        })?;
        let job = Job::from_name(fields.job.trim())
            .ok_or_else(|| RecalibrateError::UnknownJob(fields.job.clone()))?;
        if fields.cursor.is_some() && job != Job::Decay {
            return Err(RecalibrateError::FieldNotTaken {
                job: job.name(),
                field: "cursor",
            });
        }
        Ok(JobRequest {
            job,
            cursor: fields.cursor,
        })
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What a job did: the function's response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum JobReport {
    /// The decay sweep.
    Decay {
        /// Leads due at or before this time were swept.
        due: DateTime<Utc>,
        /// Pages read.
        pages: usize,
        /// Leads sent to the score queue.
        sent: usize,
        /// Whether every due lead was sent.
        complete: bool,
        /// Where the next sweep may resume, when not complete.
        cursor: Option<String>,
        /// The trace id of the score envelopes sent.
        trace_id: String,
    },
    /// Alert delivery.
    Alerts {
        /// Alerts delivered.
        sent: usize,
        /// Alerts whose attempt failed and will be retried.
        retrying: usize,
        /// Alerts that failed for good.
        failed: usize,
        /// Alerts not attempted (claimed elsewhere).
        skipped: usize,
        /// Alerts the store could not handle, with why (tried again on the next run).
        errors: Vec<(String, String)>,
    },
    /// Training: the version stored (if any), whether it was promoted, and why.
    Train(TrainReport),
}

/// Why the function's configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {var}: expected a whole number from 1 to {max}, got {value:?}")]
pub struct SettingsError {
    /// The variable.
    pub var: &'static str,
    /// The most it takes.
    pub max: usize,
    /// What it held.
    pub value: String,
}

/// The jobs' bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSettings {
    /// Leads per decay page.
    pub decay_page_size: usize,
    /// Decay pages per run.
    pub decay_max_pages: usize,
    /// Alerts attempted per alerts run.
    pub alert_limit: usize,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            decay_page_size: DEFAULT_PAGE_SIZE,
            decay_max_pages: DEFAULT_MAX_PAGES,
            alert_limit: DEFAULT_ALERT_DELIVERY_LIMIT,
        }
    }
}

impl JobSettings {
    /// The settings from variables read through `lookup`; unset or blank means the default.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<JobSettings, SettingsError> {
        let read = |var: &'static str, default: usize, max: usize| {
            let Some(text) = lookup(var).filter(|t| !t.trim().is_empty()) else {
                return Ok(default);
            };
            match text.trim().parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(SettingsError {
                    var,
                    max,
                    value: text,
                }),
            }
        };
        Ok(JobSettings {
            decay_page_size: read(DECAY_PAGE_SIZE_VAR, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?,
            decay_max_pages: read(DECAY_MAX_PAGES_VAR, DEFAULT_MAX_PAGES, MAX_DECAY_PAGES)?,
            alert_limit: read(
                ALERT_DELIVERY_LIMIT_VAR,
                DEFAULT_ALERT_DELIVERY_LIMIT,
                MAX_ALERT_DELIVERY_LIMIT,
            )?,
        })
    }
}

/// Why the alert configuration file is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ALERTS_FILE_VAR}={path}: {error}")]
pub struct AlertsFileError {
    /// The file named.
    pub path: String,
    /// Why it was refused (never a URL or a secret).
    pub error: AlertConfigError,
}

/// The alert configuration in the file [`ALERTS_FILE_VAR`] names, with the hooks' URLs
/// and secrets from the variables it names (all read through `lookup`); `None` when no
/// file is named.
pub fn alert_config_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<AlertConfig>, AlertsFileError> {
    let Some(path) = lookup(ALERTS_FILE_VAR)
        .map(|path| path.trim().to_string())
        .filter(|path| !path.is_empty())
    else {
        return Ok(None);
    };
    let refused = |error| AlertsFileError {
        path: path.clone(),
        error,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| refused(AlertConfigError::Syntax(format!("cannot be read: {e}"))))?;
    AlertConfig::from_toml_with_env(&text, &lookup)
        .map(Some)
        .map_err(refused)
}

/// The alert configuration and the notifier that delivers it.
#[derive(Clone)]
pub struct AlertDelivery {
    /// Hooks, subscriptions and retry settings.
    pub config: Arc<AlertConfig>,
    /// Makes one delivery attempt.
    pub notifier: Arc<dyn Notifier>,
}

/// The recalibrate function and the ports it runs over.
#[derive(Clone)]
pub struct RecalibrateFunction {
    /// The lead store.
    pub store: Arc<dyn LeadStore>,
    /// The work queues (the decay sweep sends to the score queue).
    pub queue: Arc<dyn WorkQueue>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Alert delivery, when alerts are configured.
    pub alerts: Option<AlertDelivery>,
    /// The jobs' bounds.
    pub settings: JobSettings,
}

impl RecalibrateFunction {
    /// Runs the job the event names, then flushes its metrics (so Lambda cannot freeze
    /// them); the job's `StageLatency` has stage `recalibrate`.
    pub async fn handle(&self, event: &Value) -> Result<JobReport, RecalibrateError> {
        let result = self.time_job(event).await;
        leadq_aws::metrics::flush();
        result
    }

    async fn time_job(&self, event: &Value) -> Result<JobReport, RecalibrateError> {
        let request = JobRequest::from_event(event).inspect_err(|error| {
            warn!(error = %error, "schedule event refused; nothing was done");
        })?;
        let timer = time_stage(MeteredStage::Recalibrate);
        let result = self.run_job(request.clone()).await;
        drop(timer);
        match &result {
            Ok(report) => info!(job = request.job.name(), report = ?report, "job done"),
            Err(error) => warn!(job = request.job.name(), error = %error, "job failed"),
        }
        result
    }

    async fn run_job(&self, request: JobRequest) -> Result<JobReport, RecalibrateError> {
        let now = self.clock.now();
        match request.job {
            Job::Decay => {
                let report = sweep_decay_from(
                    self.store.as_ref(),
                    self.queue.as_ref(),
                    now,
                    self.settings.decay_page_size,
                    self.settings.decay_max_pages,
                    request.cursor,
                )
                .await?;
                Ok(JobReport::Decay {
                    due: report.due,
                    pages: report.pages,
                    sent: report.sent,
                    complete: report.complete(),
                    cursor: report.cursor,
                    trace_id: report.trace_id,
                })
            }
            Job::Alerts => {
                let alerts = self
                    .alerts
                    .as_ref()
                    .ok_or(RecalibrateError::AlertsNotConfigured)?;
                let report = deliver_due_alerts(
                    self.store.as_ref(),
                    alerts.notifier.as_ref(),
                    &alerts.config,
                    now,
                    self.settings.alert_limit,
                )
                .await?;
                if !report.errors.is_empty() {
                    warn!(errors = ?report.errors, "some alerts could not be handled; they are tried again on the next run");
                }
                Ok(JobReport::Alerts {
                    sent: report.sent,
                    retrying: report.retrying,
                    failed: report.failed,
                    skipped: report.skipped,
                    errors: report.errors,
                })
            }
            Job::Train => {
                let report =
                    train_model(self.store.as_ref(), now, &TrainSettings::default()).await?;
                if report.version.is_none() {
                    warn!(reason = %report.reason, "nothing trained");
                }
                Ok(JobReport::Train(report))
            }
        }
    }
}

/// Serves invocations until the Lambda runtime stops the process.
pub async fn run(function: RecalibrateFunction) -> Result<(), lambda_runtime::Error> {
    let function = &function;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
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
    use chrono::{TimeDelta, TimeZone};
    use leadq_pipeline::alerts::{DeliveryError, Hook};
    use leadq_pipeline::envelope::Cause;
    use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
    use leadq_pipeline::{
        Alert, AlertState, Envelope, FixedClock, HistoryEntry, LeadRecord, Stage,
    };
    use leadq_scoring::{
        Band, Company, Lead, NextAction, Outcome, OutcomeStatus, Person, Seniority,
    };
    use serde_json::json;
    use std::sync::Mutex;
    use std::time::Duration;

    const DECAY: &str = include_str!("../../../events/schedule/decay.json");
    const ALERTS: &str = include_str!("../../../events/schedule/alerts.json");
    const TRAIN: &str = include_str!("../../../events/schedule/train.json");
    const UNKNOWN: &str = include_str!("../../../events/schedule/unknown-job.json");

    /// When the fixtures were scheduled: 2026-11-23T12:00:00Z.
    fn scheduled() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).expect("a fixture is JSON")
    }

    /// Records every delivery attempt and accepts it.
    #[derive(Default)]
    struct Receiver(Mutex<Vec<String>>);

    #[async_trait]
    impl Notifier for Receiver {
        async fn deliver(&self, hook: &Hook, alert: &Alert) -> Result<(), DeliveryError> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{}:{}", hook.name, alert.id));
            Ok(())
        }
    }

    struct World {
        store: Arc<MemoryStore>,
        queue: Arc<MemoryQueue>,
        receiver: Arc<Receiver>,
        function: RecalibrateFunction,
    }

    fn world(alerts: bool, settings: JobSettings) -> World {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::default());
        let receiver = Arc::new(Receiver::default());
        let alerts = alerts.then(|| {
            let toml = r#"
                lead_url = "https://app.example.com/leads/{lead_id}"
                [hooks.sales]
                kind = "webhook"
                url_env = "SALES_HOOK_URL"
                secret_env = "SALES_HOOK_SECRET"
                [[subscriptions]]
                hook = "sales"
                bands = ["hot"]
            "#;
            let env = |name: &str| match name {
                "SALES_HOOK_URL" => Some("https://hooks.example.com/leadq".to_string()),
                "SALES_HOOK_SECRET" => Some("a-webhook-secret-of-some-length".to_string()),
                _ => None,
            };
            let config = AlertConfig::from_toml_with_env(toml, env).expect("alert config");
            AlertDelivery {
                config: Arc::new(config),
                notifier: receiver.clone(),
            }
        });
        let function = RecalibrateFunction {
            store: store.clone(),
            queue: queue.clone(),
            clock: Arc::new(FixedClock::new(scheduled() + TimeDelta::seconds(2))),
            alerts,
            settings,
        };
        World {
            store,
            queue,
            receiver,
            function,
        }
    }

    async fn due_lead(store: &MemoryStore, id: &str, rescore_at: Option<DateTime<Utc>>) {
        let lead = Lead {
            id: id.into(),
            person: Person {
                email: Some(format!("{id}@example.com")),
                ..Person::default()
            },
            ..Lead::default()
        };
        let mut record = LeadRecord::new(lead, None, scheduled() - TimeDelta::days(30));
        record.rescore_at = rescore_at;
        store.create_lead(&record).await.expect("create");
    }

    async fn score_queue(queue: &MemoryQueue) -> Vec<Envelope> {
        let deliveries = queue
            .receive(Stage::Score, 1000, Duration::from_secs(30))
            .await
            .expect("receive");
        deliveries
            .iter()
            .map(|d| Envelope::parse(&d.body).expect("envelope"))
            .collect()
    }

    #[tokio::test]
    async fn the_decay_schedule_sends_due_leads_to_scoring_with_the_decay_cause() {
        let world = world(false, JobSettings::default());
        due_lead(
            &world.store,
            "cooling",
            Some(scheduled() - TimeDelta::hours(3)),
        )
        .await;
        due_lead(
            &world.store,
            "later",
            Some(scheduled() + TimeDelta::days(2)),
        )
        .await;
        due_lead(&world.store, "steady", None).await;

        let report = world.function.handle(&fixture(DECAY)).await.expect("decay");
        let JobReport::Decay {
            sent,
            complete,
            cursor,
            ..
        } = &report
        else {
            panic!("{report:?}");
        };
        assert_eq!((*sent, *complete, cursor.as_deref()), (1, true, None));
        let sent = score_queue(&world.queue).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].lead_id, "cooling");
        assert_eq!(sent[0].cause, Some(Cause::Decay));
        let answer = serde_json::to_value(&report).expect("a JSON response");
        assert_eq!(answer["job"], "decay");
        assert_eq!(answer["sent"], 1);
    }

    #[tokio::test]
    async fn a_decay_run_out_of_pages_returns_a_cursor_the_next_event_resumes_from() {
        let settings = JobSettings {
            decay_page_size: 2,
            decay_max_pages: 1,
            ..JobSettings::default()
        };
        let world = world(false, settings);
        for i in 0..3 {
            let at = scheduled() - TimeDelta::minutes(i);
            due_lead(&world.store, &format!("due-{i}"), Some(at)).await;
        }
        let first = world.function.handle(&fixture(DECAY)).await.expect("decay");
        let JobReport::Decay {
            sent: 2,
            complete: false,
            cursor: Some(cursor),
            ..
        } = first
        else {
            panic!("{first:?}");
        };
        let mut resume = fixture(DECAY);
        resume["detail"]["cursor"] = json!(cursor);
        let rest = world.function.handle(&resume).await.expect("resume");
        assert!(
            matches!(
                rest,
                JobReport::Decay {
                    sent: 1,
                    complete: true,
                    ..
                }
            ),
            "{rest:?}"
        );
        let mut ids: Vec<String> = score_queue(&world.queue)
            .await
            .into_iter()
            .map(|e| e.lead_id)
            .collect();
        ids.sort();
        assert_eq!(ids, ["due-0", "due-1", "due-2"]);
    }

    #[tokio::test]
    async fn the_alerts_schedule_delivers_the_due_alerts() {
        let world = world(true, JobSettings::default());
        let alert = |id: &str, due: DateTime<Utc>| Alert {
            id: id.into(),
            lead_id: "lead-1".into(),
            hook: "sales".into(),
            payload: "{}".into(),
            state: AlertState::Pending,
            attempts: 0,
            next_attempt_at: due,
            last_error: None,
            version: 1,
            created_at: scheduled() - TimeDelta::minutes(5),
        };
        let store = &world.store;
        assert!(
            store
                .enqueue_alert(&alert("due", scheduled()))
                .await
                .expect("enqueue")
        );
        let later = scheduled() + TimeDelta::hours(1);
        assert!(
            store
                .enqueue_alert(&alert("backing-off", later))
                .await
                .expect("enqueue")
        );

        let report = world
            .function
            .handle(&fixture(ALERTS))
            .await
            .expect("alerts");
        assert_eq!(
            report,
            JobReport::Alerts {
                sent: 1,
                retrying: 0,
                failed: 0,
                skipped: 0,
                errors: Vec::new()
            }
        );
        let delivered = world.receiver.0.lock().expect("lock").clone();
        assert_eq!(delivered, ["sales:due"]);
        let sent = store
            .alerts_in_state(AlertState::Sent, 10)
            .await
            .expect("sent");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].id, "due");
    }

    #[tokio::test]
    async fn the_alerts_schedule_without_a_configuration_says_so() {
        let world = world(false, JobSettings::default());
        let err = world
            .function
            .handle(&fixture(ALERTS))
            .await
            .expect_err("not configured");
        assert_eq!(err, RecalibrateError::AlertsNotConfigured);
        assert!(err.to_string().contains(ALERTS_FILE_VAR), "{err}");
    }

    /// Stores `n` leads, each scored (a history entry) an hour apart, with a won or lost
    /// outcome a day later: software companies and VPs mostly win, the rest mostly lose.
    async fn scored_leads_with_outcomes(store: &MemoryStore, n: usize) {
        let start = scheduled() - TimeDelta::days(60);
        for i in 0..n {
            let id = format!("lead-{i:03}");
            let software = i % 2 == 0;
            let vp = i % 3 == 0;
            let lead = Lead {
                id: id.clone(),
                person: Person {
                    email: Some(format!("{id}@example.com")),
                    seniority: Some(if vp {
                        Seniority::Vp
                    } else {
                        Seniority::IndividualContributor
                    }),
                    ..Person::default()
                },
                company: Company {
                    industry: Some(if software { "software" } else { "retail" }.into()),
                    ..Company::default()
                },
                ..Lead::default()
            };
            let scored_at = start + TimeDelta::hours(i as i64);
            let record = LeadRecord::new(lead, None, scored_at - TimeDelta::minutes(5));
            store.create_lead(&record).await.expect("create");
            let entry = HistoryEntry {
                at: scored_at,
                from_band: None,
                to_band: Band::Mql,
                next_action: NextAction::Nurture,
                composite: 50,
                cause: "new lead".into(),
                model_version: "rules".into(),
            };
            store.add_history(&id, &entry).await.expect("history");
            // a fixed pattern with noise: 80% of software+VP win, 10% of the others
            let chance = match (software, vp) {
                (true, true) => 8,
                (true, false) | (false, true) => 5,
                (false, false) => 1,
            };
            let won = (i * 7 + 3) % 10 < chance;
            let outcome = Outcome {
                lead_id: id.clone(),
                status: if won {
                    OutcomeStatus::Won
                } else {
                    OutcomeStatus::Lost
                },
                amount: None,
                closed_at: scored_at + TimeDelta::days(1),
            };
            store.put_outcome(&outcome).await.expect("outcome");
        }
    }

    #[tokio::test]
    async fn the_train_schedule_without_enough_outcomes_keeps_the_rules_and_says_why() {
        let world = world(false, JobSettings::default());
        scored_leads_with_outcomes(&world.store, 20).await;
        let report = world.function.handle(&fixture(TRAIN)).await.expect("train");
        let JobReport::Train(report) = &report else {
            panic!("{report:?}");
        };
        assert_eq!((report.version.as_deref(), report.promoted), (None, false));
        assert!(
            report.reason.contains("keeping the hand-written rules"),
            "{}",
            report.reason
        );
        assert_eq!(report.data.examples, 20);
        assert!(
            world
                .store
                .list_model_versions()
                .await
                .expect("list")
                .is_empty()
        );
        assert_eq!(world.store.active_model().await.expect("active"), None);
        let answer = serde_json::to_value(JobReport::Train(report.clone())).expect("JSON");
        assert_eq!(answer["job"], "train");
        assert_eq!(answer["promoted"], false);
    }

    #[tokio::test]
    async fn the_train_schedule_stores_and_promotes_a_challenger_better_than_the_rules() {
        let world = world(false, JobSettings::default());
        scored_leads_with_outcomes(&world.store, 300).await;
        let report = world.function.handle(&fixture(TRAIN)).await.expect("train");
        let JobReport::Train(report) = report else {
            panic!("{report:?}");
        };
        assert!(report.promoted, "{}", report.reason);
        assert!(report.reason.starts_with("promoted"), "{}", report.reason);
        let label = report.version.clone().expect("a version");
        assert_eq!(label, "trained-20261123T120002Z");
        assert_eq!(
            (report.data.train_rows, report.data.holdout_rows),
            (240, 60)
        );
        let active = world
            .store
            .active_model()
            .await
            .expect("active")
            .expect("set");
        assert_eq!(active.version, label);
        assert!(active.promoted);
        let metrics = leadq_pipeline::stages::version_metrics(&active).expect("metrics");
        assert!(metrics.calibration.is_some());
        assert!(!metrics.weight_changes.is_empty());
        assert!(
            score_queue(&world.queue).await.is_empty(),
            "training rescored nothing"
        );
    }

    #[tokio::test]
    async fn an_unknown_job_is_an_error_listing_the_jobs_and_does_nothing() {
        let world = world(true, JobSettings::default());
        due_lead(&world.store, "cooling", Some(scheduled())).await;
        let err = world
            .function
            .handle(&fixture(UNKNOWN))
            .await
            .expect_err("unknown job");
        assert_eq!(err, RecalibrateError::UnknownJob("recompute".into()));
        let message = err.to_string();
        for job in ["recompute", "decay", "alerts", "train"] {
            assert!(message.contains(job), "{message}");
        }
        assert!(score_queue(&world.queue).await.is_empty());
    }

    #[test]
    fn the_job_is_read_from_the_detail_or_a_bare_input() {
        for (event, job) in [
            (fixture(DECAY), Job::Decay),
            (fixture(ALERTS), Job::Alerts),
            (fixture(TRAIN), Job::Train),
            (json!({"job": "decay"}), Job::Decay),
            (json!({"job": "alerts"}), Job::Alerts),
        ] {
            let request = JobRequest::from_event(&event).expect("a job");
            assert_eq!(request, JobRequest { job, cursor: None });
        }
        let resume = json!({"job": "decay", "cursor": "c"});
        assert_eq!(
            JobRequest::from_event(&resume)
                .expect("decay")
                .cursor
                .as_deref(),
            Some("c")
        );
    }

    #[test]
    fn malformed_events_are_refused_saying_what_is_wrong() {
        let mut no_job = fixture(DECAY);
        no_job["detail"] = json!({});
        let mut typo = fixture(DECAY);
        typo["detail"] = json!({"job": "decay", "curser": "x"});
        let mut not_an_event = fixture(DECAY);
        not_an_event
            .as_object_mut()
            .expect("object")
            .remove("source");
        let mut number = fixture(DECAY);
        number["detail"]["job"] = json!(7);
        let cases = [
            (no_job, "job"),
            (typo, "curser"),
            (not_an_event, "source"),
            (number, "job"),
            (json!("decay"), "a string"),
            (json!([{"job": "decay"}]), "an array"),
            (json!({"jobs": "decay"}), "jobs"),
        ];
        for (event, named) in cases {
            let err = JobRequest::from_event(&event).expect_err("refused");
            assert!(matches!(err, RecalibrateError::Event(_)), "{err}");
            assert!(err.to_string().contains(named), "{named}: {err}");
        }
        let alerts_with_cursor = json!({"job": "alerts", "cursor": "c"});
        assert_eq!(
            JobRequest::from_event(&alerts_with_cursor),
            Err(RecalibrateError::FieldNotTaken {
                job: "alerts",
                field: "cursor"
            })
        );
    }

    #[test]
    fn settings_come_from_the_environment_with_bounds() {
        assert_eq!(
            JobSettings::from_lookup(|_| None),
            Ok(JobSettings::default())
        );
        let set = |pairs: &'static [(&'static str, &'static str)]| {
            move |var: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == var)
                    .map(|(_, value)| value.to_string())
            }
        };
        let settings = JobSettings::from_lookup(set(&[
            (DECAY_PAGE_SIZE_VAR, "25"),
            (DECAY_MAX_PAGES_VAR, " 4 "),
            (ALERT_DELIVERY_LIMIT_VAR, ""),
        ]))
        .expect("settings");
        assert_eq!(
            settings,
            JobSettings {
                decay_page_size: 25,
                decay_max_pages: 4,
                alert_limit: DEFAULT_ALERT_DELIVERY_LIMIT
            }
        );
        for (var, bad) in [
            (DECAY_PAGE_SIZE_VAR, "0"),
            (DECAY_PAGE_SIZE_VAR, "1001"),
            (DECAY_MAX_PAGES_VAR, "many"),
            (ALERT_DELIVERY_LIMIT_VAR, "-3"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([(var, bad)]));
            let err = JobSettings::from_lookup(set(pairs)).expect_err(bad);
            assert_eq!((err.var, err.value.as_str()), (var, bad));
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn the_alert_configuration_comes_from_the_file_the_environment_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("alerts.toml");
        let toml = r#"
            lead_url = "https://app.example.com/leads/{lead_id}"
            [hooks.sales]
            kind = "slack"
            url_env = "SALES_SLACK_URL"
            [[subscriptions]]
            hook = "sales"
            bands = ["hot"]
        "#;
        std::fs::write(&path, toml).expect("write");
        let path = path.display().to_string();
        let with = |url: Option<&'static str>, file: String| {
            move |var: &str| match var {
                ALERTS_FILE_VAR => Some(file.clone()),
                "SALES_SLACK_URL" => url.map(str::to_string),
                _ => None,
            }
        };

        let config = alert_config_from_lookup(with(
            Some("https://hooks.slack.com/services/T/B/x"),
            path.clone(),
        ))
        .expect("read")
        .expect("configured");
        assert_eq!(config.hooks.keys().collect::<Vec<_>>(), ["sales"]);
        assert_eq!(alert_config_from_lookup(|_| None), Ok(None));
        assert_eq!(
            alert_config_from_lookup(|var| (var == ALERTS_FILE_VAR).then(|| " ".into())),
            Ok(None),
            "blank is unset"
        );

        let err = alert_config_from_lookup(with(None, path.clone())).expect_err("URL unset");
        assert_eq!(err.path, path);
        assert!(err.to_string().contains("hooks.sales.url_env"), "{err}");
        assert!(err.to_string().contains(ALERTS_FILE_VAR), "{err}");

        let missing = dir.path().join("nope.toml").display().to_string();
        let err = alert_config_from_lookup(with(None, missing)).expect_err("no file");
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }
}
