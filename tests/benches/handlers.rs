//! Handler latency of the ingest, enrich and score Lambdas, in process on the in-memory
//! ports, so the figures are the handlers' own cost without DynamoDB or SQS round trips.
//!
//! `cargo bench -p leadq-tests --bench handlers`. Each iteration handles one new lead:
//! - ingest: a signed `POST /v1/leads` (generic JSON form) through the Lambda's service,
//!   signature check, parsing, idempotency claim, lead creation, the form event, the
//!   enrich message and the idempotency record;
//! - enrich: an SQS event of one record for a freshly ingested lead (email analysis,
//!   title parser, company directory, one conditional write, the score message);
//! - score: an SQS event of one record for a freshly enriched lead (model from the cache,
//!   the ScoreCard, its history entry, the route message).

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use leadq_enrich::EnrichFunction;
use leadq_pipeline::api::{ApiState, IngestAuth};
use leadq_pipeline::intake::FieldMapping;
use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::stages::{CompanyFacts, MemoryDirectory, ModelCache};
use leadq_pipeline::{Envelope, FixedClock, RetryPolicy, Stage};
use leadq_score::ScoreFunction;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tower::ServiceExt;

const SECRET: &str = "leadq-bench-secret-0123456789";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

/// The three functions on one in-memory store and queue.
struct Functions {
    ingest: leadq_ingest::IngestService,
    enrich: EnrichFunction,
    score: ScoreFunction,
    next: AtomicUsize,
}

impl Functions {
    fn new() -> Functions {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::default());
        let clock = Arc::new(FixedClock::new(now()));
        let directory = MemoryDirectory::with(vec![CompanyFacts {
            domain: "stoneco.co.uk".into(),
            name: Some("Stone & Co".into()),
            industry: Some("retail".into()),
            employees: Some(40),
            revenue_band: Some("1m-10m".into()),
            country: Some("GB".into()),
            tech_stack: Some(vec!["shopify".into(), "hubspot".into()]),
            business_model: Some("b2c".into()),
        }]);
        Functions {
            ingest: leadq_ingest::service(ApiState {
                store: store.clone(),
                queue: queue.clone(),
                clock: clock.clone(),
                auth: IngestAuth::new(Some(SECRET.into()), Vec::new()),
                mapping: FieldMapping::default(),
                policy: RetryPolicy::default(),
            }),
            enrich: EnrichFunction {
                store: store.clone(),
                queue: queue.clone(),
                clock: clock.clone(),
                directory: Arc::new(directory),
                policy: RetryPolicy::default(),
                concurrency: 1,
            },
            score: ScoreFunction {
                store,
                queue,
                clock,
                models: Arc::new(ModelCache::default()),
                policy: RetryPolicy::default(),
                concurrency: 1,
            },
            next: AtomicUsize::new(0),
        }
    }

    /// A signed submission of a person not seen before.
    fn new_submission(&self) -> lambda_http::Request {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            r#"{{"email":"person{n}@stoneco.co.uk","name":"Person {n}","job_title":"VP Marketing","company":"Stone & Co","website":"https://www.stoneco.co.uk/","country":"GB","utm_source":"google","gdpr_consent":true,"page":"/pricing"}}"#
        );
        let signature =
            leadq_pipeline::signature::sign(SECRET.as_bytes(), now().timestamp(), body.as_bytes());
        http::Request::builder()
            .method("POST")
            .uri("https://ingest.lambda-url.eu-west-1.on.aws/v1/leads")
            .header("content-type", "application/json")
            .header("x-leadq-signature", signature)
            .body(lambda_http::Body::from(body))
            .expect("request")
    }

    async fn ingest_one(&self) -> String {
        let response = self
            .ingest
            .clone()
            .oneshot(self.new_submission())
            .await
            .expect("infallible");
        assert_eq!(response.status(), 201);
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        body["lead_id"].as_str().expect("lead id").to_string()
    }
}

/// An SQS event of one record carrying `stage`'s envelope for `lead_id`.
fn sqs_event(stage: Stage, lead_id: &str) -> SqsEvent {
    let mut record = SqsMessage::default();
    record.message_id = Some(format!("msg-{lead_id}"));
    record.body = Some(Envelope::new(stage, lead_id, "bench-trace", now()).to_json());
    let mut event = SqsEvent::default();
    event.records = vec![record];
    event
}

fn handlers(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let functions = Functions::new();
    let mut group = c.benchmark_group("handler");

    group.bench_function("ingest new lead", |b| {
        b.iter_batched(
            || functions.new_submission(),
            |request| {
                runtime.block_on(async {
                    let response = functions
                        .ingest
                        .clone()
                        .oneshot(request)
                        .await
                        .expect("infallible");
                    assert_eq!(response.status(), 201);
                })
            },
            BatchSize::SmallInput,
        )
    });

    group.bench_function("enrich one record", |b| {
        b.iter_batched(
            || sqs_event(Stage::Enrich, &runtime.block_on(functions.ingest_one())),
            |event| {
                runtime.block_on(async {
                    let response = functions.enrich.handle(&event).await.expect("response");
                    assert!(response.batch_item_failures.is_empty());
                })
            },
            BatchSize::SmallInput,
        )
    });

    group.bench_function("score one record", |b| {
        b.iter_batched(
            || {
                runtime.block_on(async {
                    let lead_id = functions.ingest_one().await;
                    let enriched = functions
                        .enrich
                        .handle(&sqs_event(Stage::Enrich, &lead_id))
                        .await
                        .expect("response");
                    assert!(enriched.batch_item_failures.is_empty());
                    sqs_event(Stage::Score, &lead_id)
                })
            },
            |event| {
                runtime.block_on(async {
                    let response = functions.score.handle(&event).await.expect("response");
                    assert!(response.batch_item_failures.is_empty());
                })
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, handlers);
criterion_main!(benches);
