//! Issue 5 end to end on the emulator: score, route, alerts and the decay job, driven the
//! way AWS drives them (SQS queues fed to each Lambda's handler by an event source mapping
//! that deletes only what succeeded, the schedule's event handed to the recalibrate Lambda).
//!
//! Requires the moto server (`scripts/test` installs it); without it these tests fail.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use http_body_util::BodyExt;
use leadq_aws::directory::DynamoDirectory;
use leadq_aws::ledger::DynamoLedger;
use leadq_aws::table::{item_size, write_units};
use leadq_aws::{DynamoStore, QueueConfig, SqsQueue};
use leadq_enrich::EnrichFunction;
use leadq_pipeline::alerts::{AlertConfig, HttpNotifier};
use leadq_pipeline::api::{ApiState, IngestAuth};
use leadq_pipeline::envelope::Cause;
use leadq_pipeline::intake::FieldMapping;
use leadq_pipeline::routing::{Assignee, RoutingConfig};
use leadq_pipeline::stages::{CompanyDirectory, CompanyFacts, DECAY_CAUSE_PREFIX, ModelCache};
use leadq_pipeline::{
    AlertState, Clock, Envelope, FixedClock, LeadRecord, LeadStore, NewEvent, RepLedger,
    RetryPolicy, Stage, WorkQueue, record_events,
};
use leadq_recalibrate::{AlertDelivery, JobReport, JobSettings, RecalibrateFunction};
use leadq_route::RouteFunction;
use leadq_score::ScoreFunction;
use leadq_scoring::{
    Authority, Band, Company, Event, EventKind, JobFunction, Lead, Model, NextAction, Person,
    Seniority, score,
};
use leadq_tests::emulator::{Moto, workspace_root};
use leadq_tests::event_source::{EventSource, Polled};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// The ingest signing secret of the tests.
const INGEST_SECRET: &str = "leadq-fixture-secret-0123456789";

/// The secret the webhook hook signs alerts with.
const HOOK_SECRET: &str = "e2e-webhook-secret-0123456789";

/// 2026-11-23T12:00:00Z, when the fixtures were made.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

/// What the webhook receiver got: one request.
#[derive(Debug, Clone)]
struct Received {
    signature: Option<String>,
    idempotency_key: Option<String>,
    body: Vec<u8>,
    answered: u16,
}

#[derive(Default)]
struct ReceiverState {
    /// Statuses to answer with, in order; 200 once they run out.
    script: VecDeque<u16>,
    received: Vec<Received>,
}

/// A webhook receiver on 127.0.0.1, started by the test: records every request and
/// answers with its script.
#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState {
            script: script.iter().copied().collect(),
            received: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("its address");
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{address}/hook"),
            state,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().expect("lock").received.clone()
    }

    /// Answers with `status` to every request from now on until told otherwise.
    fn answer_always(&self, status: u16) {
        let mut state = self.state.lock().expect("lock");
        state.script = std::iter::repeat_n(status, 1000).collect();
    }

    fn recover(&self) {
        self.state.lock().expect("lock").script.clear();
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut state = state.lock().expect("lock");
    let answered = state.script.pop_front().unwrap_or(200);
    state.received.push(Received {
        signature: header("x-leadq-signature"),
        idempotency_key: header("idempotency-key"),
        body: body.to_vec(),
        answered,
    });
    StatusCode::from_u16(answered).unwrap_or(StatusCode::OK)
}

/// Routing of the tests: North American software leads to two reps, the rest to SDRs.
fn routing(katherine_cap: u32, alan_cap: u32) -> RoutingConfig {
    let toml = format!(
        r#"
        fallback_queue = "unassigned"

        [regions]
        na = ["US", "CA"]

        [[teams]]
        name = "na-software"
        strategy = "least_loaded"
        regions = ["na"]
        industries = ["software"]

        [[teams.reps]]
        id = "katherine"
        name = "Katherine Johnson"
        max_open_leads = {katherine_cap}
        max_new_per_day = 100

        [[teams.reps]]
        id = "alan"
        name = "Alan Turing"
        max_open_leads = {alan_cap}
        max_new_per_day = 100
        "#
    );
    RoutingConfig::from_toml(&toml).expect("routing rules")
}

/// Alerts of the tests: hot leads to the receiver's webhook, signed.
fn alert_config(receiver_url: &str, max_attempts: u32) -> AlertConfig {
    let toml = format!(
        r#"
        lead_url = "https://leadq.example.com/v1/leads/{{lead_id}}"

        [delivery]
        max_attempts = {max_attempts}
        timeout_ms = 2000
        backoff_base_secs = 30
        backoff_max_secs = 600

        [hooks.crm]
        kind = "webhook"
        url_env = "E2E_HOOK_URL"
        secret_env = "E2E_HOOK_SECRET"

        [[subscriptions]]
        hook = "crm"
        bands = ["hot"]
        "#
    );
    let env = |name: &str| match name {
        "E2E_HOOK_URL" => Some(receiver_url.to_string()),
        "E2E_HOOK_SECRET" => Some(HOOK_SECRET.to_string()),
        _ => None,
    };
    AlertConfig::from_toml_with_env(&toml, env).expect("alert config")
}

/// The Lambdas of the pipeline on one fresh table and fresh queues of the emulator.
struct Pipeline {
    moto: Moto,
    store: Arc<DynamoStore>,
    ledger: Arc<DynamoLedger>,
    sqs: aws_sdk_sqs::Client,
    queues: QueueConfig,
    clock: Arc<FixedClock>,
    ingest: leadq_ingest::IngestService,
    enrich: EnrichFunction,
    score: ScoreFunction,
    route: RouteFunction,
    recalibrate: RecalibrateFunction,
}

impl Pipeline {
    /// The pipeline without alerts, routing to reps with room for 10 and 10 leads.
    async fn start() -> Pipeline {
        Pipeline::with(routing(10, 10), AlertConfig::default()).await
    }

    async fn with(routing: RoutingConfig, alerts: AlertConfig) -> Pipeline {
        let moto = Moto::shared();
        let store = Arc::new(moto.dynamo_store().await.expect("table"));
        let ledger = Arc::new(DynamoLedger::for_store(&store));
        let sqs = moto.sqs();
        let queues = moto.queue_config(&sqs).await.expect("queues");
        let queue: Arc<dyn WorkQueue> = Arc::new(SqsQueue::new(sqs.clone(), queues.clone()));
        let clock = Arc::new(FixedClock::new(t0()));
        let directory = DynamoDirectory::new(moto.dynamodb(), store.table_name());
        directory
            .upsert(&[CompanyFacts {
                domain: "acmerobotics.com".into(),
                name: Some("Acme Robotics".into()),
                industry: Some("software".into()),
                employees: Some(500),
                revenue_band: Some("50m-250m".into()),
                country: Some("US".into()),
                tech_stack: Some(vec!["salesforce".into(), "hubspot".into()]),
                business_model: Some("b2b".into()),
            }])
            .await
            .expect("directory");
        let ingest = leadq_ingest::service(ApiState {
            store: store.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            auth: IngestAuth::new(Some(INGEST_SECRET.into()), Vec::new()),
            mapping: FieldMapping::default(),
            policy: RetryPolicy::default(),
        });
        let enrich = EnrichFunction {
            store: store.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            directory: Arc::new(directory),
            policy: RetryPolicy::default(),
            concurrency: 4,
        };
        let score = ScoreFunction {
            store: store.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            models: Arc::new(ModelCache::default()),
            policy: RetryPolicy::default(),
            concurrency: 4,
        };
        // the receiver checks the signature's time against the test's clock
        let notifier = Arc::new(
            HttpNotifier::with_clock(&alerts.delivery, clock.clone()).expect("HTTP client"),
        );
        let alerts = Arc::new(alerts);
        let route = RouteFunction {
            store: store.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            ledger: ledger.clone(),
            routing: Arc::new(routing),
            alerts: alerts.clone(),
            notifier: notifier.clone(),
            policy: RetryPolicy::default(),
            concurrency: 10,
        };
        let recalibrate = RecalibrateFunction {
            store: store.clone(),
            queue,
            clock: clock.clone(),
            alerts: Some(AlertDelivery {
                config: alerts,
                notifier,
            }),
            settings: JobSettings::default(),
        };
        Pipeline {
            moto,
            store,
            ledger,
            sqs,
            queues,
            clock,
            ingest,
            enrich,
            score,
            route,
            recalibrate,
        }
    }

    fn source(&self, stage: Stage) -> EventSource {
        EventSource::new(self.sqs.clone(), self.queues.queues[&stage].url.clone())
    }

    async fn drain_enrich(&self) -> Vec<Polled> {
        let function = &self.enrich;
        self.source(Stage::Enrich)
            .drain(20, |event| async move {
                function.handle(&event).await.expect("a batch response")
            })
            .await
            .expect("enrich event source")
    }

    async fn drain_score(&self) -> Vec<Polled> {
        let function = &self.score;
        self.source(Stage::Score)
            .drain(20, |event| async move {
                function.handle(&event).await.expect("a batch response")
            })
            .await
            .expect("score event source")
    }

    async fn drain_route(&self) -> Vec<Polled> {
        let function = &self.route;
        self.source(Stage::Route)
            .drain(20, |event| async move {
                function.handle(&event).await.expect("a batch response")
            })
            .await
            .expect("route event source")
    }

    /// Takes every message off a stage's queue and returns the envelopes.
    async fn take(&self, stage: Stage) -> Vec<Envelope> {
        let taken = Mutex::new(Vec::new());
        let taken_ref = &taken;
        self.source(stage)
            .drain(20, |event| async move {
                let mut taken = taken_ref.lock().expect("lock");
                for record in &event.records {
                    let body = record.body.as_deref().unwrap_or("");
                    taken.push(Envelope::parse(body).expect("an envelope"));
                }
                Default::default()
            })
            .await
            .expect("drain");
        taken.into_inner().expect("lock")
    }

    /// Calls the API (the ingest Lambda's service), signed with the ingest secret.
    async fn api(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let text = body.map(Value::to_string).unwrap_or_default();
        let signature = leadq_pipeline::signature::sign(
            INGEST_SECRET.as_bytes(),
            self.clock.now().timestamp(),
            text.as_bytes(),
        );
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("https://ingest.lambda-url.eu-west-1.on.aws{path}"))
            .header("x-leadq-signature", signature);
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(match body {
                Some(_) => lambda_http::Body::from(text),
                None => lambda_http::Body::Empty,
            })
            .expect("request");
        let response = self
            .ingest
            .clone()
            .oneshot(request)
            .await
            .expect("the service is infallible");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn schedule(file: &str) -> Value {
    let path = workspace_root().join("events/schedule").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("a schedule event")
}

fn total(polls: &[Polled]) -> (usize, usize, usize) {
    polls.iter().fold((0, 0, 0), |(r, f, d), p| {
        (r + p.received, f + p.failed.len(), d + p.deleted)
    })
}

/// A decision maker at a company that fits the default model well.
fn ideal_lead(id: &str) -> Lead {
    Lead {
        id: id.into(),
        person: Person {
            email: Some(format!("{id}@acme.com")),
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
            tech_stack: Some(vec!["salesforce".into(), "hubspot".into()]),
            business_model: Some("b2b".into()),
            revenue_band: Some("50m-250m".into()),
            name: Some("Acme".into()),
        },
        ..Lead::default()
    }
}

/// The half-life of every signal [`fortnight_signals`] sends, in the default model.
const HALF_LIFE_DAYS: i64 = 14;

/// Strong buying signals whose kinds all halve every 14 days in the default model.
fn fortnight_signals(when: DateTime<Utc>) -> Vec<NewEvent> {
    let mut kinds = vec![
        EventKind::DemoPageView,
        EventKind::DemoPageView,
        EventKind::PricingView,
        EventKind::PricingView,
        EventKind::PricingView,
    ];
    kinds.extend([EventKind::EmailClick; 4]);
    kinds.extend([EventKind::EmailOpen; 5]);
    kinds.extend([EventKind::ProductUsage; 10]);
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| NewEvent::new(Event::new(*kind, when + TimeDelta::minutes(i as i64))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_decay_job_rescores_a_hot_lead_lower_three_half_lives_later_and_says_why() {
    let pipeline = Pipeline::start().await;
    let store = pipeline.store.as_ref();
    let events_at = t0() - TimeDelta::hours(2);
    for id in ["cooling", "fresh"] {
        let record = LeadRecord::new(ideal_lead(id), None, events_at);
        store.create_lead(&record).await.expect("create");
    }
    record_events(
        store,
        "cooling",
        &fortnight_signals(events_at),
        t0(),
        &RetryPolicy::default(),
    )
    .await
    .expect("events");

    // scored through the score Lambda as the form's work arrives
    let queue = SqsQueue::new(pipeline.sqs.clone(), pipeline.queues.clone());
    let work: Vec<Envelope> = ["cooling", "fresh"]
        .iter()
        .map(|id| Envelope::new(Stage::Score, *id, format!("form-{id}"), t0()))
        .collect();
    queue.send(Stage::Score, &work).await.expect("send");
    assert_eq!(total(&pipeline.drain_score().await), (2, 0, 2));
    let first = store.get_lead("cooling").await.expect("get").expect("lead");
    let hot = first.card.clone().expect("scored");
    assert_eq!(hot.band, Band::Hot, "{}", hot.explain());
    let rescore_at = first.rescore_at.expect("these signals decay");
    assert_eq!(
        pipeline.take(Stage::Route).await.len(),
        2,
        "first scores route"
    );

    // three half-lives later, no new event: EventBridge fires the decay schedule
    let sweep_at = t0() + TimeDelta::days(3 * HALF_LIFE_DAYS);
    assert!(sweep_at >= rescore_at);
    pipeline.clock.set(sweep_at);
    let report = pipeline
        .recalibrate
        .handle(&schedule("decay.json"))
        .await
        .expect("the decay job");
    let JobReport::Decay {
        sent,
        complete,
        trace_id,
        ..
    } = &report
    else {
        panic!("{report:?}");
    };
    assert_eq!(
        (*sent, *complete),
        (1, true),
        "only the lead whose band decays"
    );

    // the score Lambda takes the decay work off the queue a few seconds later
    pipeline.clock.set(sweep_at + TimeDelta::seconds(3));
    assert_eq!(total(&pipeline.drain_score().await), (1, 0, 1));
    let record = store.get_lead("cooling").await.expect("get").expect("lead");
    let card = record.card.expect("rescored");
    assert_ne!(card.band, Band::Hot);
    assert!(card.composite < hot.composite);
    assert!(record.rescore_at.is_none_or(|next| next > sweep_at));
    assert_eq!(
        store.list_events("cooling").await.expect("events").len(),
        fortnight_signals(events_at).len(),
        "no new event"
    );
    let history = store.list_history("cooling").await.expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(
        (history[1].from_band, history[1].to_band),
        (Some(Band::Hot), card.band)
    );
    assert!(
        history[1].cause.starts_with(DECAY_CAUSE_PREFIX),
        "{}",
        history[1].cause
    );

    // the changed verdict goes on to routing, carrying why
    let routed = pipeline.take(Stage::Route).await;
    assert_eq!(routed.len(), 1);
    assert_eq!(
        (routed[0].lead_id.as_str(), routed[0].cause),
        ("cooling", Some(Cause::Decay))
    );
    assert_eq!(&routed[0].trace_id, trace_id);

    // the next run finds nothing due
    pipeline.clock.set(sweep_at + TimeDelta::minutes(1));
    let again = pipeline
        .recalibrate
        .handle(&schedule("decay.json"))
        .await
        .expect("the decay job");
    assert!(
        matches!(
            again,
            JobReport::Decay {
                sent: 0,
                complete: true,
                ..
            }
        ),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_job_fails_and_training_without_outcomes_keeps_the_rules() {
    let pipeline = Pipeline::start().await;
    let mut record = LeadRecord::new(ideal_lead("due"), None, t0());
    record.rescore_at = Some(t0() - TimeDelta::hours(1));
    pipeline.store.create_lead(&record).await.expect("create");
    let err = pipeline
        .recalibrate
        .handle(&schedule("unknown-job.json"))
        .await
        .expect_err("no such job");
    assert!(err.to_string().contains("unknown job"), "{err}");

    // no outcomes yet: the train job succeeds, stores nothing and says why
    let report = pipeline
        .recalibrate
        .handle(&schedule("train.json"))
        .await
        .expect("the train job runs");
    let JobReport::Train(report) = &report else {
        panic!("{report:?}");
    };
    assert_eq!((report.version.as_deref(), report.promoted), (None, false));
    assert!(report.reason.contains("outcome"), "{}", report.reason);
    let versions = pipeline.store.list_model_versions().await.expect("list");
    assert!(versions.is_empty(), "{versions:?}");
    assert!(pipeline.take(Stage::Score).await.is_empty());
}

/// The buying signals of a lead close to buying, as `POST /v1/events` takes them.
fn buying_events(lead_id: &str, at: DateTime<Utc>) -> Value {
    let kinds = [
        "demo_request",
        "pricing_view",
        "pricing_view",
        "content_download",
        "content_download",
        "content_download",
        "webinar",
        "webinar",
        "email_reply",
        "email_reply",
        "case_study_view",
        "case_study_view",
        "case_study_view",
    ];
    let events: Vec<Value> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let when = at + TimeDelta::minutes(i as i64);
            json!({
                "id": format!("evt-{lead_id}-{i}"),
                "lead_id": lead_id,
                "kind": kind,
                "at": when.to_rfc3339(),
            })
        })
        .collect();
    json!({ "events": events })
}

/// Checks a delivery's `X-Leadq-Signature` against the hook's secret at `now`.
fn signed_by_the_hook(received: &Received, now: DateTime<Utc>) -> bool {
    leadq_pipeline::signature::verify(
        received.signature.as_deref(),
        &received.body,
        HOOK_SECRET.as_bytes(),
        now.timestamp(),
        leadq_pipeline::signature::DEFAULT_TOLERANCE_SECS,
    )
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_form_post_ends_in_a_signed_alert_and_an_assignment_that_says_why() {
    let receiver = Receiver::start(&[]).await;
    let pipeline = Pipeline::with(routing(10, 10), alert_config(&receiver.url, 6)).await;

    // a CEO fills in the demo form, then their activity arrives
    let form = json!({
        "email": "ana.lopez@acmerobotics.com",
        "name": "Ana Lopez",
        "job_title": "CEO",
        "company": "Acme Robotics",
        "website": "https://acmerobotics.com/",
        "country": "US",
        "gdpr_consent": true,
        "page": "/demo"
    });
    // each step's own DynamoDB calls and SQS sends, for the cost figures in BENCHMARKS.md
    let calls = pipeline.moto.calls().clone();
    let mut phases = Vec::new();
    let mut phase = |name: &'static str| {
        let counted = own_calls(&calls.snapshot());
        calls.reset();
        eprintln!("calls for one hot lead, {name}: {counted:?}");
        phases.push((name, counted));
    };
    calls.reset();
    let (status, created) = pipeline.api("POST", "/v1/leads", Some(&form)).await;
    assert_eq!(status, 201, "{created}");
    let lead_id = created["lead_id"].as_str().expect("a lead id").to_string();
    phase("ingest form");
    let events = buying_events(&lead_id, t0() - TimeDelta::hours(3));
    let (status, stored) = pipeline.api("POST", "/v1/events", Some(&events)).await;
    assert_eq!(status, 200, "{stored}");
    phase("ingest events");

    // the Lambdas, each fed by its queue
    let enriched = pipeline.drain_enrich().await;
    assert_eq!(total(&enriched).1, 0, "{enriched:?}");
    phase("enrich");
    let scored = pipeline.drain_score().await;
    assert_eq!(total(&scored).1, 0, "{scored:?}");
    phase("score");
    let routed = pipeline.drain_route().await;
    let (received, failed, _) = total(&routed);
    assert!(received >= 1 && failed == 0, "{routed:?}");
    phase("route");
    let dynamodb: usize = phases
        .iter()
        .flat_map(|(_, counted)| counted.iter())
        .filter(|(op, _)| !op.starts_with("SendMessage"))
        .map(|(_, n)| n)
        .sum();
    // guards the cost figures in BENCHMARKS.md (35 calls when last measured) from creeping up
    // unnoticed; the margin is for retried attempts, which the counter also counts
    assert!(dynamodb <= 60, "{dynamodb} DynamoDB calls: {phases:?}");
    print_item_sizes(&pipeline).await;

    let record = pipeline
        .store
        .get_lead(&lead_id)
        .await
        .expect("get")
        .expect("the lead");
    let card = record.card.clone().expect("scored");
    assert_eq!(
        (card.band, card.next_action),
        (Band::Hot, NextAction::SalesNow),
        "{}",
        card.explain()
    );

    // exactly one alert reached the receiver, signed like ingest, keyed by the alert id
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let delivery = &got[0];
    assert!(
        signed_by_the_hook(delivery, t0()),
        "signature {:?}",
        delivery.signature
    );
    let alerts = pipeline
        .store
        .alerts_in_state(AlertState::Sent, 10)
        .await
        .expect("sent alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        delivery.idempotency_key.as_deref(),
        Some(alerts[0].id.as_str())
    );
    let body: Value = serde_json::from_slice(&delivery.body).expect("a JSON body");
    assert!(body.to_string().contains(&lead_id), "{body}");

    // the lead shows its assignment and why
    let (status, view) = pipeline
        .api("GET", &format!("/v1/leads/{lead_id}"), None)
        .await;
    assert_eq!(status, 200, "{view}");
    let assignment = &view["assignment"];
    assert_eq!(assignment["team"], "na-software", "{view}");
    assert_eq!(assignment["strategy"], "least_loaded", "{assignment}");
    assert_eq!(assignment["band"], "hot", "{assignment}");
    let why = assignment["why"].as_str().expect("why in words");
    assert!(why.contains("least_loaded"), "{why}");
    let rep = record
        .assignment
        .as_ref()
        .and_then(|a| a.rep())
        .expect("a rep")
        .to_string();
    assert!(["katherine", "alan"].contains(&rep.as_str()), "{rep}");
    assert!(why.contains(&rep), "{why}");
    assert_eq!(
        pipeline
            .ledger
            .holder(&lead_id)
            .await
            .expect("holder")
            .as_deref(),
        Some(rep.as_str())
    );
}

/// Prints the size of every item in the table by kind (partition and sort key prefixes),
/// with the write units a plain write of it costs: the cost figures' item sizes.
async fn print_item_sizes(pipeline: &Pipeline) {
    let page = pipeline
        .moto
        .dynamodb()
        .scan()
        .table_name(pipeline.store.table_name())
        .consistent_read(true)
        .send()
        .await
        .expect("scan");
    let prefix =
        |item: &std::collections::HashMap<String, AttributeValue>, key: &str| match item.get(key) {
            Some(AttributeValue::S(s)) => s.split('#').next().unwrap_or_default().to_string(),
            _ => String::new(),
        };
    let mut sizes: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    for item in page.items.unwrap_or_default() {
        let kind = format!("{}/{}", prefix(&item, "pk"), prefix(&item, "sk"));
        let entry = sizes.entry(kind).or_default();
        entry.push((item_size(&item), write_units(&item, false)));
    }
    for (kind, sizes) in &sizes {
        eprintln!("items {kind}: (bytes, write units) {sizes:?}");
    }
}

/// The calls the functions make themselves: DynamoDB and SQS sends (receiving and deleting
/// are the event source mapping's, not billed to the functions' code).
fn own_calls(calls: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    calls
        .iter()
        .filter(|(op, _)| op.starts_with("DynamoDB") || op.starts_with("AmazonSQS.SendMessage"))
        .map(|(op, n)| {
            (
                op.replace("DynamoDB_20120810.", "")
                    .replace("AmazonSQS.", ""),
                *n,
            )
        })
        .collect()
}

/// Stores `count` hot leads (ideal, with fresh buying signals) and queues their routing.
async fn hot_leads(pipeline: &Pipeline, count: usize) -> Vec<String> {
    let model = Model::default_model();
    let events: Vec<Event> = fortnight_signals(t0() - TimeDelta::hours(1))
        .into_iter()
        .map(|new| new.event)
        .collect();
    let mut ids = Vec::new();
    let mut envelopes = Vec::new();
    for i in 0..count {
        let id = format!("hot-{i:02}");
        let mut record = LeadRecord::new(ideal_lead(&id), None, t0());
        let card = score(&record.lead, &events, &model, t0());
        assert_eq!(card.band, Band::Hot, "{}", card.explain());
        record.card = Some(card);
        pipeline.store.create_lead(&record).await.expect("create");
        envelopes.push(Envelope::new(Stage::Route, &id, format!("trace-{i}"), t0()));
        ids.push(id);
    }
    let queue = SqsQueue::new(pipeline.sqs.clone(), pipeline.queues.clone());
    queue.send(Stage::Route, &envelopes).await.expect("send");
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_hot_leads_never_overfill_a_rep() {
    // katherine takes 10 at most, alan 25, the other 15 wait in the fallback queue
    let pipeline = Pipeline::with(routing(10, 25), AlertConfig::default()).await;
    let ids = hot_leads(&pipeline, 50).await;

    // five event source pollers at once, each batch routed 10 records at a time
    let pollers: Vec<_> = (0..5)
        .map(|_| {
            let source = pipeline.source(Stage::Route);
            let function = pipeline.route.clone();
            tokio::spawn(async move {
                let function = &function;
                source
                    .drain(20, |event| async move {
                        function.handle(&event).await.expect("a batch response")
                    })
                    .await
                    .expect("route event source")
            })
        })
        .collect();
    let mut polls = Vec::new();
    for poller in pollers {
        polls.extend(poller.await.expect("no panic"));
    }
    let (received, failed, deleted) = total(&polls);
    assert_eq!((failed, deleted), (0, received), "{polls:?}");
    assert!(received >= 50, "{polls:?}");

    let mut by_assignee: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ids {
        let record = pipeline
            .store
            .get_lead(id)
            .await
            .expect("get")
            .expect("lead");
        let assignment = record.assignment.expect("every hot lead is assigned");
        let key = match &assignment.assignee {
            Assignee::Rep(rep) => rep.clone(),
            Assignee::Queue(queue) => format!("queue:{queue}"),
        };
        *by_assignee.entry(key).or_default() += 1;
    }
    assert_eq!(
        by_assignee,
        BTreeMap::from([
            ("alan".to_string(), 25),
            ("katherine".to_string(), 10),
            ("queue:unassigned".to_string(), 15),
        ])
    );
    let today = t0().date_naive();
    for (rep, cap) in [("katherine", 10), ("alan", 25)] {
        let load = pipeline.ledger.load(rep, today).await.expect("load");
        assert_eq!(load.open, cap, "{rep}: {load:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_route_message_twice_makes_one_assignment_and_one_alert() {
    let receiver = Receiver::start(&[]).await;
    let pipeline = Pipeline::with(routing(10, 10), alert_config(&receiver.url, 6)).await;
    let ids = hot_leads(&pipeline, 1).await;
    let lead_id = &ids[0];
    // SQS delivers the same message again (at-least-once): the same body, twice more
    let again = Envelope::new(Stage::Route, lead_id, "trace-0", t0());
    let queue = SqsQueue::new(pipeline.sqs.clone(), pipeline.queues.clone());
    queue
        .send(Stage::Route, &[again.clone(), again])
        .await
        .expect("send");

    let routed = pipeline.drain_route().await;
    assert_eq!(total(&routed), (3, 0, 3), "{routed:?}");
    // and once more after everything settled
    let late = Envelope::new(Stage::Route, lead_id, "trace-0", t0());
    queue.send(Stage::Route, &[late]).await.expect("send");
    pipeline.clock.set(t0() + TimeDelta::minutes(2));
    assert_eq!(total(&pipeline.drain_route().await), (1, 0, 1));

    assert_eq!(receiver.received().len(), 1, "one alert");
    let sent = pipeline
        .store
        .alerts_in_state(AlertState::Sent, 10)
        .await
        .expect("alerts");
    let pending = pipeline
        .store
        .alerts_in_state(AlertState::Pending, 10)
        .await
        .expect("alerts");
    assert_eq!((sent.len(), pending.len()), (1, 0));
    let record = pipeline
        .store
        .get_lead(lead_id)
        .await
        .expect("get")
        .expect("lead");
    let assignment = record.assignment.expect("assigned");
    let rep = assignment.rep().expect("a rep").to_string();
    assert_eq!(assignment.at, t0(), "the first assignment stands");
    let load = pipeline
        .ledger
        .load(&rep, t0().date_naive())
        .await
        .expect("load");
    assert_eq!((load.open, load.new_today), (1, 1), "one slot taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_failing_three_times_gets_the_alert_once_and_one_down_for_good_fails_it() {
    // 500, 500, 500, then 200: the route's attempt and two scheduled retries fail
    let receiver = Receiver::start(&[500, 500, 500]).await;
    let pipeline = Pipeline::with(routing(10, 10), alert_config(&receiver.url, 4)).await;
    hot_leads(&pipeline, 1).await;
    pipeline.drain_route().await;
    let mut now = t0();
    for _ in 0..6 {
        let pending = pipeline
            .store
            .alerts_in_state(AlertState::Pending, 10)
            .await
            .expect("pending");
        let Some(next) = pending.first().map(|a| a.next_attempt_at) else {
            break;
        };
        // the alerts schedule fires once the backoff is over
        now = next.max(now) + TimeDelta::seconds(1);
        pipeline.clock.set(now);
        pipeline
            .recalibrate
            .handle(&schedule("alerts.json"))
            .await
            .expect("the alerts job");
    }
    let got = receiver.received();
    let answers: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(answers, [500, 500, 500, 200]);
    let keys: std::collections::BTreeSet<_> =
        got.iter().map(|r| r.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), 1, "every attempt carries the same key");
    let sent = pipeline
        .store
        .alerts_in_state(AlertState::Sent, 10)
        .await
        .expect("sent");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].attempts, 4);

    // a second lead while the receiver is down for longer than all four attempts
    receiver.answer_always(503);
    let mut record = pipeline
        .store
        .get_lead("hot-00")
        .await
        .expect("get")
        .expect("lead");
    record.lead.id = "hot-late".into();
    record.lead.person.email = Some("late@acme.com".into());
    record.version = 1;
    record.assignment = None;
    pipeline.store.create_lead(&record).await.expect("create");
    let queue = SqsQueue::new(pipeline.sqs.clone(), pipeline.queues.clone());
    queue
        .send(
            Stage::Route,
            &[Envelope::new(Stage::Route, "hot-late", "t-late", now)],
        )
        .await
        .expect("send");
    pipeline.drain_route().await;
    for _ in 0..6 {
        let pending = pipeline
            .store
            .alerts_in_state(AlertState::Pending, 10)
            .await
            .expect("pending");
        let Some(next) = pending.first().map(|a| a.next_attempt_at) else {
            break;
        };
        now = next.max(now) + TimeDelta::seconds(1);
        pipeline.clock.set(now);
        pipeline
            .recalibrate
            .handle(&schedule("alerts.json"))
            .await
            .expect("the alerts job");
    }
    let (status, listed) = pipeline.api("GET", "/v1/alerts?state=failed", None).await;
    assert_eq!(status, 200, "{listed}");
    let failed = listed["alerts"].as_array().expect("alerts").clone();
    assert_eq!(failed.len(), 1, "{listed}");
    assert_eq!(failed[0]["lead_id"], "hot-late");
    assert_eq!(failed[0]["attempts"], 4);
    let alert_id = failed[0]["id"].as_str().expect("id").to_string();

    // the receiver is back: re-sent by hand, delivered by the next scheduled run
    receiver.recover();
    let (status, resent) = pipeline
        .api("POST", &format!("/v1/alerts/{alert_id}/resend"), None)
        .await;
    assert_eq!(status, 200, "{resent}");
    let report = pipeline
        .recalibrate
        .handle(&schedule("alerts.json"))
        .await
        .expect("the alerts job");
    assert!(
        matches!(report, JobReport::Alerts { sent: 1, .. }),
        "{report:?}"
    );
    let last = receiver.received().pop().expect("a delivery");
    assert_eq!(
        (last.answered, last.idempotency_key.as_deref()),
        (200, Some(alert_id.as_str()))
    );
    assert!(signed_by_the_hook(&last, now));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lead_cooled_to_nurture_by_decay_frees_its_rep_without_a_second_alert() {
    let receiver = Receiver::start(&[]).await;
    let pipeline = Pipeline::with(routing(10, 10), alert_config(&receiver.url, 6)).await;
    let store = pipeline.store.as_ref();
    let events_at = t0() - TimeDelta::hours(2);
    let record = LeadRecord::new(ideal_lead("cooling"), None, events_at);
    store.create_lead(&record).await.expect("create");
    record_events(
        store,
        "cooling",
        &fortnight_signals(events_at),
        t0(),
        &RetryPolicy::default(),
    )
    .await
    .expect("events");
    let queue = SqsQueue::new(pipeline.sqs.clone(), pipeline.queues.clone());
    let work = Envelope::new(Stage::Score, "cooling", "form-cooling", t0());
    queue.send(Stage::Score, &[work]).await.expect("send");

    // hot: scored, assigned to a rep, one alert
    assert_eq!(total(&pipeline.drain_score().await), (1, 0, 1));
    assert_eq!(total(&pipeline.drain_route().await), (1, 0, 1));
    let first = store.get_lead("cooling").await.expect("get").expect("lead");
    let assigned = first.assignment.clone().expect("assigned");
    let rep = assigned.rep().expect("a rep").to_string();
    assert_eq!(receiver.received().len(), 1);

    // six weeks later the decay job cools it down; score and route run again
    let sweep_at = t0() + TimeDelta::days(3 * HALF_LIFE_DAYS);
    pipeline.clock.set(sweep_at);
    pipeline
        .recalibrate
        .handle(&schedule("decay.json"))
        .await
        .expect("the decay job");
    pipeline.clock.set(sweep_at + TimeDelta::seconds(3));
    assert_eq!(total(&pipeline.drain_score().await), (1, 0, 1));
    assert_eq!(total(&pipeline.drain_route().await), (1, 0, 1));

    let cooled = store.get_lead("cooling").await.expect("get").expect("lead");
    let card = cooled.card.expect("rescored");
    assert_ne!(card.band, Band::Hot);
    // an mql to nurture, by the default model: out of a person's hands, its rep is freed
    assert_eq!(
        (card.band, card.next_action),
        (Band::Mql, NextAction::Nurture),
        "{}",
        card.explain()
    );
    assert_eq!(cooled.assignment, None);
    assert_eq!(
        pipeline.ledger.holder("cooling").await.expect("holder"),
        None
    );
    let load = pipeline
        .ledger
        .load(&rep, sweep_at.date_naive())
        .await
        .expect("load");
    assert_eq!(load.open, 0, "{rep}: {load:?}");
    assert_eq!(
        receiver.received().len(),
        1,
        "a cooler verdict nobody subscribed to sends nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_decay_sweep_out_of_pages_resumes_from_its_cursor_on_dynamodb() {
    let mut pipeline = Pipeline::start().await;
    pipeline.recalibrate.settings = JobSettings {
        decay_page_size: 10,
        decay_max_pages: 2,
        ..JobSettings::default()
    };
    let mut due = std::collections::BTreeSet::new();
    for i in 0..25 {
        let id = format!("due-{i:02}");
        let mut record = LeadRecord::new(ideal_lead(&id), None, t0());
        record.rescore_at = Some(t0() - TimeDelta::minutes(i));
        pipeline.store.create_lead(&record).await.expect("create");
        due.insert(id);
    }
    let mut later = LeadRecord::new(ideal_lead("later"), None, t0());
    later.rescore_at = Some(t0() + TimeDelta::hours(1));
    pipeline.store.create_lead(&later).await.expect("create");

    let first = pipeline
        .recalibrate
        .handle(&schedule("decay.json"))
        .await
        .expect("the decay job");
    let JobReport::Decay {
        sent: 20,
        pages: 2,
        complete: false,
        cursor: Some(cursor),
        ..
    } = first
    else {
        panic!("{first:?}");
    };
    let mut resume = schedule("decay.json");
    resume["detail"]["cursor"] = json!(cursor);
    let rest = pipeline
        .recalibrate
        .handle(&resume)
        .await
        .expect("the resumed job");
    assert!(
        matches!(
            rest,
            JobReport::Decay {
                sent: 5,
                complete: true,
                cursor: None,
                ..
            }
        ),
        "{rest:?}"
    );
    let sent = pipeline.take(Stage::Score).await;
    assert_eq!(sent.len(), 25);
    let ids: std::collections::BTreeSet<String> = sent.iter().map(|e| e.lead_id.clone()).collect();
    assert_eq!(ids, due, "each due lead once, not the later one");
    assert!(sent.iter().all(|e| e.cause == Some(Cause::Decay)));
}
