//! Time from a form POST to its alert reaching a webhook receiver, in process on the
//! DynamoDB/SQS emulator (moto): the ingest service, then the enrich, score and route
//! Lambdas, each fed by its SQS queue through the test event source mapping, and the
//! route's immediate delivery to a receiver on 127.0.0.1.
//!
//! `LEADQ_MOTO_SERVER=$PWD/.venv/bin/moto_server cargo bench -p leadq-tests --bench alert_latency`
//! (`ALERT_LATENCY_LEADS` leads, 200 unless set). Leads go one at a time and each stage's
//! queue is polled as soon as the previous stage is done, so the figure is the pipeline's
//! own latency (the emulator's round trips included) and never time spent waiting in a
//! queue behind other leads or for a poll interval. A lead's clock starts just before its
//! signed POST enters the ingest service and stops when the receiver gets the request.
//! The split: ingest (the POST's response), enrich and score (receive, handle, delete),
//! route + delivery (receive, route, outbox, the HTTP delivery's arrival).
//!
//! Without the emulator it fails, as the emulator tests do.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use leadq_aws::directory::DynamoDirectory;
use leadq_aws::ledger::DynamoLedger;
use leadq_aws::{QueueConfig, SqsQueue};
use leadq_enrich::EnrichFunction;
use leadq_pipeline::alerts::{AlertConfig, HttpNotifier};
use leadq_pipeline::api::{ApiState, IngestAuth};
use leadq_pipeline::intake::FieldMapping;
use leadq_pipeline::routing::RoutingConfig;
use leadq_pipeline::stages::{CompanyDirectory, CompanyFacts, ModelCache};
use leadq_pipeline::{FixedClock, RetryPolicy, Stage, WorkQueue};
use leadq_route::RouteFunction;
use leadq_score::ScoreFunction;
use leadq_tests::emulator::Moto;
use leadq_tests::event_source::{EventSource, Polled};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// The ingest signing secret of the bench.
const INGEST_SECRET: &str = "leadq-bench-secret-0123456789";

/// The secret the webhook hook signs alerts with.
const HOOK_SECRET: &str = "bench-webhook-secret-0123456789";

/// Leads measured unless `ALERT_LATENCY_LEADS` says otherwise.
const DEFAULT_LEADS: usize = 200;

/// Leads run first and not measured: they open the connections to moto and the receiver
/// and load the model, costs a running pipeline has already paid.
const WARM_UP_LEADS: usize = 3;

/// Polls of an empty queue after which a stage's message is taken as lost.
const MAX_EMPTY_POLLS: usize = 50;

/// 2026-11-23T12:00:00Z: the bench's fixed clock (signatures are checked against it).
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

/// One request the receiver got, with when it arrived.
struct Arrival {
    at: Instant,
    signature: Option<String>,
    body: Vec<u8>,
}

type Arrivals = Arc<Mutex<Vec<Arrival>>>;

/// The webhook receiver: records each request's arrival instant first, answers 200.
async fn receive(
    State(arrivals): State<Arrivals>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let at = Instant::now();
    let signature = headers
        .get("x-leadq-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    arrivals.lock().expect("lock").push(Arrival {
        at,
        signature,
        body: body.to_vec(),
    });
    StatusCode::OK
}

/// Starts the receiver on a free loopback port; returns its URL.
async fn start_receiver(arrivals: Arrivals) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(arrivals);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/hook")
}

/// North American software leads to two reps with room for every lead of the run, so
/// routing never falls back for lack of capacity.
fn routing(leads: usize) -> RoutingConfig {
    let cap = leads + WARM_UP_LEADS;
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
        max_open_leads = {cap}
        max_new_per_day = {cap}

        [[teams.reps]]
        id = "alan"
        name = "Alan Turing"
        max_open_leads = {cap}
        max_new_per_day = {cap}
        "#
    );
    RoutingConfig::from_toml(&toml).expect("routing rules")
}

/// Alerts to the receiver's signed webhook for leads a person works now: a form alone
/// (one `form_submit` event) makes this CEO an MQL for SDR review, not hot, and hot needs
/// buying events that can only be posted once the form has created the lead.
fn alert_config(receiver_url: &str) -> AlertConfig {
    let toml = r#"
        lead_url = "https://leadq.example.com/v1/leads/{lead_id}"

        [delivery]
        max_attempts = 3
        timeout_ms = 2000
        backoff_base_secs = 30
        backoff_max_secs = 600

        [hooks.crm]
        kind = "webhook"
        url_env = "BENCH_HOOK_URL"
        secret_env = "BENCH_HOOK_SECRET"

        [[subscriptions]]
        hook = "crm"
        next_actions = ["sales_now", "sdr_review"]
        "#;
    let env = |name: &str| match name {
        "BENCH_HOOK_URL" => Some(receiver_url.to_string()),
        "BENCH_HOOK_SECRET" => Some(HOOK_SECRET.to_string()),
        _ => None,
    };
    AlertConfig::from_toml_with_env(toml, env).expect("alert config")
}

/// The ingest service and the enrich, score and route Lambdas on a fresh table and fresh
/// queues of the emulator.
struct Pipeline {
    sqs: aws_sdk_sqs::Client,
    queues: QueueConfig,
    ingest: leadq_ingest::IngestService,
    enrich: EnrichFunction,
    score: ScoreFunction,
    route: RouteFunction,
}

impl Pipeline {
    async fn start(moto: &Moto, leads: usize, receiver_url: &str) -> Pipeline {
        let store = Arc::new(moto.dynamo_store().await.expect("a table on the emulator"));
        let ledger = Arc::new(DynamoLedger::for_store(&store));
        let sqs = moto.sqs();
        let queues = moto
            .queue_config(&sqs)
            .await
            .expect("queues on the emulator");
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
        let alerts = alert_config(receiver_url);
        let notifier = Arc::new(
            HttpNotifier::with_clock(&alerts.delivery, clock.clone()).expect("HTTP client"),
        );
        Pipeline {
            ingest: leadq_ingest::service(ApiState {
                store: store.clone(),
                queue: queue.clone(),
                clock: clock.clone(),
                auth: IngestAuth::new(Some(INGEST_SECRET.into()), Vec::new()),
                mapping: FieldMapping::default(),
                policy: RetryPolicy::default(),
            }),
            enrich: EnrichFunction {
                store: store.clone(),
                queue: queue.clone(),
                clock: clock.clone(),
                directory: Arc::new(directory),
                policy: RetryPolicy::default(),
                concurrency: 4,
            },
            score: ScoreFunction {
                store: store.clone(),
                queue: queue.clone(),
                clock: clock.clone(),
                models: Arc::new(ModelCache::default()),
                policy: RetryPolicy::default(),
                concurrency: 4,
            },
            route: RouteFunction {
                store,
                queue,
                clock,
                ledger,
                routing: Arc::new(routing(leads)),
                alerts: Arc::new(alerts),
                notifier,
                policy: RetryPolicy::default(),
                concurrency: 10,
            },
            sqs,
            queues,
        }
    }

    fn source(&self, stage: Stage) -> EventSource {
        EventSource::new(self.sqs.clone(), self.queues.queues[&stage].url.clone())
    }

    /// A signed demo request form of a CEO at a company the directory knows.
    fn form(n: usize) -> http::Request<lambda_http::Body> {
        let body = json!({
            "email": format!("person{n}@acmerobotics.com"),
            "name": format!("Person {n}"),
            "job_title": "CEO",
            "company": "Acme Robotics",
            "website": "https://acmerobotics.com/",
            "country": "US",
            "gdpr_consent": true,
            "page": "/demo"
        })
        .to_string();
        let signature = leadq_pipeline::signature::sign(
            INGEST_SECRET.as_bytes(),
            t0().timestamp(),
            body.as_bytes(),
        );
        http::Request::builder()
            .method("POST")
            .uri("https://ingest.lambda-url.eu-west-1.on.aws/v1/leads")
            .header("content-type", "application/json")
            .header("x-leadq-signature", signature)
            .body(lambda_http::Body::from(body))
            .expect("request")
    }

    /// Posts the form through the ingest service; returns the new lead's id.
    async fn post(&self, request: http::Request<lambda_http::Body>) -> String {
        let response = self
            .ingest
            .clone()
            .oneshot(request)
            .await
            .expect("the service is infallible");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(status, 201, "the form POST: {body}");
        body["lead_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no lead id in {body}"))
            .to_string()
    }

    /// The lead as `GET /v1/leads/{id}` shows it (to say why a lead was not alerted).
    async fn view(&self, lead_id: &str) -> Value {
        let signature =
            leadq_pipeline::signature::sign(INGEST_SECRET.as_bytes(), t0().timestamp(), b"");
        let request = http::Request::builder()
            .method("GET")
            .uri(format!(
                "https://ingest.lambda-url.eu-west-1.on.aws/v1/leads/{lead_id}"
            ))
            .header("x-leadq-signature", signature)
            .body(lambda_http::Body::Empty)
            .expect("request");
        let response = self
            .ingest
            .clone()
            .oneshot(request)
            .await
            .expect("the service is infallible");
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// Polls `stage`'s queue until one batch is handled by `function`, as Lambda's event
    /// source does with a message waiting; every record must succeed.
    async fn handle_next<F, Fut>(&self, stage: Stage, function: F)
    where
        F: Fn(aws_lambda_events::event::sqs::SqsEvent) -> Fut,
        Fut: Future<Output = aws_lambda_events::event::sqs::SqsBatchResponse>,
    {
        let source = self.source(stage);
        for _ in 0..MAX_EMPTY_POLLS {
            let polled: Polled = source
                .poll_once(&function)
                .await
                .unwrap_or_else(|e| panic!("{} event source: {e}", stage.name()));
            if polled.received == 0 {
                continue;
            }
            assert!(
                polled.failed.is_empty(),
                "{}: records failed: {polled:?}",
                stage.name()
            );
            return;
        }
        panic!("no {} message after {MAX_EMPTY_POLLS} polls", stage.name());
    }

    /// Fails unless every stage's queue is empty: a lead left no work behind.
    async fn assert_settled(&self) {
        for (stage, urls) in &self.queues.queues {
            let depth = EventSource::depth(&self.sqs, &urls.url)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", stage.name()));
            assert_eq!(depth, 0, "{} queue holds {depth} messages", stage.name());
        }
    }
}

/// One lead's timings: when each stage finished, from the instant before its POST.
struct Timings {
    ingest: Duration,
    enrich: Duration,
    score: Duration,
    route_and_delivery: Duration,
    total: Duration,
}

/// Runs lead `n` through the pipeline; checks its alert is the one that arrived, signed.
async fn one_lead(pipeline: &Pipeline, arrivals: &Arrivals, n: usize) -> Timings {
    let request = Pipeline::form(n);
    let already = arrivals.lock().expect("lock").len();

    let start = Instant::now();
    let lead_id = pipeline.post(request).await;
    let ingested = Instant::now();
    let enrich = &pipeline.enrich;
    pipeline
        .handle_next(Stage::Enrich, |event| async move {
            enrich.handle(&event).await.expect("a batch response")
        })
        .await;
    let enriched = Instant::now();
    let score = &pipeline.score;
    pipeline
        .handle_next(Stage::Score, |event| async move {
            score.handle(&event).await.expect("a batch response")
        })
        .await;
    let scored = Instant::now();
    let route = &pipeline.route;
    pipeline
        .handle_next(Stage::Route, |event| async move {
            route.handle(&event).await.expect("a batch response")
        })
        .await;

    let (count, alert) = {
        let arrivals = arrivals.lock().expect("lock");
        let new = &arrivals[already..];
        let alert = new
            .first()
            .map(|a| (a.at, a.signature.clone(), a.body.clone()));
        (new.len(), alert)
    };
    let (arrived_at, signature, body) = match (count, alert) {
        (1, Some(alert)) => alert,
        _ => {
            let view = pipeline.view(&lead_id).await;
            panic!(
                "lead {lead_id}: {count} alerts arrived, expected one; its verdict: {} / {}",
                view["card"]["band"], view["card"]["next_action"]
            );
        }
    };
    assert!(
        String::from_utf8_lossy(&body).contains(&lead_id),
        "the alert is not about lead {lead_id}"
    );
    leadq_pipeline::signature::verify(
        signature.as_deref(),
        &body,
        HOOK_SECRET.as_bytes(),
        t0().timestamp(),
        leadq_pipeline::signature::DEFAULT_TOLERANCE_SECS,
    )
    .unwrap_or_else(|e| panic!("the alert of {lead_id} is not signed by the hook: {e}"));
    Timings {
        ingest: ingested - start,
        enrich: enriched - ingested,
        score: scored - enriched,
        route_and_delivery: arrived_at - scored,
        total: arrived_at - start,
    }
}

/// The nearest-rank percentile `p` (0-100] of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Prints one row: p50, p90, p99, max and n of `values`, in milliseconds.
fn row(name: &str, mut values: Vec<Duration>) {
    values.sort();
    println!(
        "{name:<28} {:>8} {:>8} {:>8} {:>8} {:>6}",
        millis(percentile(&values, 50.0)),
        millis(percentile(&values, 90.0)),
        millis(percentile(&values, 99.0)),
        millis(values[values.len() - 1]),
        values.len()
    );
}

/// Leads to measure: `ALERT_LATENCY_LEADS`, else 200; a few when run as a test
/// (`cargo test --benches` runs the bench without `--bench`).
fn leads_to_measure() -> usize {
    if !std::env::args().any(|arg| arg == "--bench") {
        return 2;
    }
    match std::env::var("ALERT_LATENCY_LEADS") {
        Err(_) => DEFAULT_LEADS,
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => panic!("ALERT_LATENCY_LEADS={text:?}: expected a whole number of leads above 0"),
        },
    }
}

fn main() {
    let leads = leads_to_measure();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let timings = runtime.block_on(async {
        // panics, naming what to install, if moto_server is missing
        let moto = Moto::shared();
        let arrivals: Arrivals = Arc::default();
        let receiver_url = start_receiver(arrivals.clone()).await;
        let pipeline = Pipeline::start(&moto, leads, &receiver_url).await;
        let mut timings = Vec::with_capacity(leads);
        for n in 0..WARM_UP_LEADS + leads {
            let lead = one_lead(&pipeline, &arrivals, n).await;
            pipeline.assert_settled().await;
            if n >= WARM_UP_LEADS {
                timings.push(lead);
            }
        }
        timings
    });
    println!(
        "form POST -> alert at the receiver, moto in process, one lead at a time (ms; {WARM_UP_LEADS} warm-up leads not counted)"
    );
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "", "p50", "p90", "p99", "max", "n"
    );
    let column = |pick: fn(&Timings) -> Duration| timings.iter().map(pick).collect::<Vec<_>>();
    row("form POST -> alert", column(|t| t.total));
    row("  ingest (POST response)", column(|t| t.ingest));
    row("  enrich", column(|t| t.enrich));
    row("  score", column(|t| t.score));
    row("  route + delivery", column(|t| t.route_and_delivery));
}
