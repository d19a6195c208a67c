//! Ingest, enrich and score end to end on the emulator, driven the way AWS drives them:
//! the Function URL request through the ingest Lambda's service, then each SQS queue fed
//! to its Lambda's handler by an event source mapping that deletes only what succeeded.
//!
//! Requires the moto server (`scripts/test` installs it); without it these tests fail.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use leadq_aws::directory::DynamoDirectory;
use leadq_aws::{DynamoStore, QueueConfig, SqsQueue};
use leadq_enrich::EnrichFunction;
use leadq_pipeline::api::{ApiState, IngestAuth};
use leadq_pipeline::intake::FieldMapping;
use leadq_pipeline::stages::{CompanyDirectory, CompanyFacts, ModelCache};
use leadq_pipeline::{Envelope, FixedClock, LeadStore, RetryPolicy, Stage, WorkQueue};
use leadq_score::ScoreFunction;
use leadq_tests::emulator::{MAX_RECEIVE_COUNT, Moto, workspace_root};
use leadq_tests::event_source::{EventSource, Polled};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

/// The secret the Function URL fixtures are signed with (events/README.md).
const FIXTURE_SECRET: &str = "leadq-fixture-secret-0123456789";

/// When the fixtures were signed: 2026-11-23T12:00:00Z.
fn signed_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

/// The three Lambdas on one fresh table and fresh queues of the emulator.
struct Pipeline {
    moto: Moto,
    store: Arc<DynamoStore>,
    sqs: aws_sdk_sqs::Client,
    queues: QueueConfig,
    ingest: leadq_ingest::IngestService,
    enrich: EnrichFunction,
    score: ScoreFunction,
}

impl Pipeline {
    async fn start() -> Pipeline {
        let moto = Moto::shared();
        let store = Arc::new(moto.dynamo_store().await.expect("table"));
        let sqs = moto.sqs();
        let queues = moto.queue_config(&sqs).await.expect("queues");
        let queue: Arc<dyn WorkQueue> = Arc::new(SqsQueue::new(sqs.clone(), queues.clone()));
        let directory = DynamoDirectory::new(moto.dynamodb(), store.table_name());
        directory
            .upsert(&[CompanyFacts {
                domain: "stoneco.co.uk".into(),
                revenue_band: Some("1m-10m".into()),
                tech_stack: Some(vec!["shopify".into(), "hubspot".into()]),
                ..CompanyFacts::default()
            }])
            .await
            .expect("directory");
        let clock = Arc::new(FixedClock::new(signed_at()));
        let ingest = leadq_ingest::service(ApiState {
            store: store.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            auth: IngestAuth::new(Some(FIXTURE_SECRET.into()), Vec::new()),
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
            queue,
            clock,
            models: Arc::new(ModelCache::default()),
            policy: RetryPolicy::default(),
            concurrency: 4,
        };
        moto.calls().reset();
        Pipeline {
            moto,
            store,
            sqs,
            queues,
            ingest,
            enrich,
            score,
        }
    }

    fn url(&self, stage: Stage) -> String {
        self.queues.queues[&stage].url.clone()
    }

    fn dlq_url(&self, stage: Stage) -> String {
        self.queues.queues[&stage]
            .dlq_url
            .clone()
            .expect("every stage has a dead-letter queue")
    }

    fn source(&self, stage: Stage) -> EventSource {
        EventSource::new(self.sqs.clone(), self.url(stage))
    }

    /// Sends a Function URL request through the ingest Lambda's service.
    async fn invoke_ingest(&self, request: lambda_http::Request) -> (u16, Value, String) {
        call_ingest(self.ingest.clone(), request).await
    }

    /// Replays a Function URL fixture of `events/http/`.
    async fn invoke_fixture(&self, file: &str) -> (u16, Value, String) {
        let path = workspace_root().join("events/http").join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{file} is not a Function URL event: {e}"));
        self.invoke_ingest(request).await
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

    async fn depth(&self, url: &str) -> u64 {
        EventSource::depth(&self.sqs, url).await.expect("depth")
    }

    /// Every item of the table, as (pk, sk).
    async fn items(&self) -> Vec<(String, String)> {
        let client = self.moto.dynamodb();
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = client
                .scan()
                .table_name(self.store.table_name())
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            for item in page.items.unwrap_or_default() {
                let key = |name: &str| match item.get(name) {
                    Some(AttributeValue::S(s)) => s.clone(),
                    _ => String::new(),
                };
                items.push((key("pk"), key("sk")));
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    /// The table's items other than the company directory's.
    async fn lead_items(&self) -> Vec<(String, String)> {
        let mut items = self.items().await;
        items.retain(|(pk, _)| !pk.starts_with("COMPANY#"));
        items
    }
}

/// Calls the ingest service once: status, JSON body (null if none) and content type.
async fn call_ingest(
    service: leadq_ingest::IngestService,
    request: lambda_http::Request,
) -> (u16, Value, String) {
    let response = service
        .oneshot(request)
        .await
        .expect("the service is infallible");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body, content_type)
}

fn total(polls: &[Polled]) -> (usize, usize, usize) {
    polls.iter().fold((0, 0, 0), |(r, f, d), p| {
        (r + p.received, f + p.failed.len(), d + p.deleted)
    })
}

/// A signed `POST /v1/leads` Function URL request for `body`.
fn signed_lead_request(body: &str, idempotency_key: Option<&str>) -> lambda_http::Request {
    let timestamp = signed_at().timestamp();
    let signature =
        leadq_pipeline::signature::sign(FIXTURE_SECRET.as_bytes(), timestamp, body.as_bytes());
    let mut builder = http::Request::builder()
        .method("POST")
        .uri("https://ingest.lambda-url.eu-west-1.on.aws/v1/leads")
        .header("content-type", "application/json")
        .header("x-leadq-signature", signature);
    if let Some(key) = idempotency_key {
        builder = builder.header("idempotency-key", key);
    }
    builder
        .body(lambda_http::Body::from(body.to_string()))
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_submission_is_stored_once_enriched_scored_and_routed() {
    let pipeline = Pipeline::start().await;

    let (status, body, _) = pipeline.invoke_fixture("leads-generic-signed.json").await;
    assert_eq!(status, 201, "{body}");
    let lead_id = body["lead_id"].as_str().expect("a lead id").to_string();
    let after_ingest = pipeline.moto.calls().snapshot();

    let enriched = pipeline.drain_enrich().await;
    assert_eq!(total(&enriched), (1, 0, 1), "{enriched:?}");
    let scored = pipeline.drain_score().await;
    assert_eq!(total(&scored), (1, 0, 1), "{scored:?}");
    let all_calls = pipeline.moto.calls().snapshot();

    // stored once, enriched with provenance, scored with a history entry
    let leads: Vec<_> = pipeline
        .lead_items()
        .await
        .into_iter()
        .filter(|(pk, sk)| pk.starts_with("LEAD#") && sk == "LEAD")
        .collect();
    assert_eq!(leads, vec![(format!("LEAD#{lead_id}"), "LEAD".to_string())]);
    let record = pipeline
        .store
        .get_lead(&lead_id)
        .await
        .expect("get")
        .expect("the lead");
    let provider = |field: &str| {
        record
            .provenance
            .get(field)
            .map(|p| p.provider.clone())
            .unwrap_or_else(|| panic!("no provenance for {field}: {:?}", record.provenance))
    };
    assert_eq!(provider("company.tech_stack"), "company_directory");
    assert_eq!(provider("company.revenue_band"), "company_directory");
    assert_eq!(provider("person.seniority"), "title_parser");
    assert_eq!(
        record.lead.company.tech_stack.as_deref(),
        Some(&["shopify".to_string(), "hubspot".to_string()][..])
    );
    let card = record.card.as_ref().expect("a ScoreCard");
    assert!(!card.reasons.is_empty());
    let history = pipeline
        .store
        .list_history(&lead_id)
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].from_band, None);
    assert_eq!(history[0].to_band, card.band);
    let events = pipeline.store.list_events(&lead_id).await.expect("events");
    assert_eq!(events.len(), 1, "the form submission is one event");

    // the verdict changed (first score), so exactly one route message was queued
    let route = pipeline
        .sqs
        .receive_message()
        .queue_url(pipeline.url(Stage::Route))
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(route.len(), 1);
    let envelope = Envelope::parse(route[0].body().unwrap_or_default()).expect("an envelope");
    assert_eq!(envelope.kind, Stage::Route);
    assert_eq!(envelope.lead_id, lead_id);

    // the lead as the API shows it
    let get = http::Request::builder()
        .method("GET")
        .uri(format!("https://ingest.example/v1/leads/{lead_id}"))
        .header(
            "x-leadq-signature",
            leadq_pipeline::signature::sign(
                FIXTURE_SECRET.as_bytes(),
                signed_at().timestamp(),
                b"",
            ),
        )
        .body(lambda_http::Body::Empty)
        .expect("request");
    let (status, view, _) = pipeline.invoke_ingest(get).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["card"]["band"], serde_json::json!(card.band));
    assert_eq!(view["history"].as_array().map(Vec::len), Some(1));

    print_calls("ingest", &after_ingest);
    let mut stages = all_calls.clone();
    for (operation, count) in &after_ingest {
        if let Some(n) = stages.get_mut(operation) {
            *n -= count;
        }
    }
    print_calls("enrich + score", &stages);
    let sum = |calls: &BTreeMap<String, usize>, prefix: &str| {
        calls
            .iter()
            .filter(|(op, _)| op.starts_with(prefix))
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    // guards the cost figures in BENCHMARKS.md from creeping up unnoticed
    assert!(sum(&all_calls, "DynamoDB") <= 16, "{all_calls:?}");
    // the functions send one batch each (enrich, score, route); receiving and deleting
    // are the event source mapping's calls, not the functions'
    assert_eq!(
        all_calls.get("AmazonSQS.SendMessageBatch"),
        Some(&3),
        "{all_calls:?}"
    );
}

fn print_calls(what: &str, calls: &BTreeMap<String, usize>) {
    let listed: Vec<String> = calls.iter().map(|(op, n)| format!("{op} x{n}")).collect();
    eprintln!("calls for one new lead, {what}: {}", listed.join(", "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_deliveries_make_one_lead() {
    let pipeline = Pipeline::start().await;
    let body = std::fs::read_to_string(workspace_root().join("events/payloads/generic-form.json"))
        .expect("payload");
    let shouting = body.replace("bob.stone@gmail.com", "Bob.Stone@GMAIL.com");
    assert_ne!(body, shouting);

    let mut requests = Vec::new();
    for i in 0..20 {
        let (text, key) = match i % 4 {
            0 => (body.as_str(), Some("same-key-0001".to_string())),
            1 => (body.as_str(), Some(format!("other-key-{i:04}"))),
            2 => (shouting.as_str(), None),
            _ => (body.as_str(), None),
        };
        requests.push(signed_lead_request(text, key.as_deref()));
    }
    // each delivery on its own task, so they race on the runtime's worker threads
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| tokio::spawn(call_ingest(pipeline.ingest.clone(), request)))
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("no panic"));
    }

    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for (status, body, _) in &answers {
        match status {
            201 => created += 1,
            200 => {}
            409 => continue, // the same key held by a concurrent delivery: retry later
            other => panic!("unexpected {other}: {body}"),
        }
        ids.insert(body["lead_id"].as_str().expect("lead id").to_string());
    }
    assert_eq!(created, 1, "{answers:?}");
    assert_eq!(ids.len(), 1, "{ids:?}");
    let lead_id = ids.into_iter().next().expect("one id");

    let items = pipeline.lead_items().await;
    let leads = items.iter().filter(|(_, sk)| sk == "LEAD").count();
    let locks = items
        .iter()
        .filter(|(pk, _)| pk.starts_with("EMAIL#"))
        .count();
    assert_eq!((leads, locks), (1, 1), "{items:?}");
    let events = pipeline.store.list_events(&lead_id).await.expect("events");
    assert_eq!(events.len(), 1, "one form_submit event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refusals_answer_with_a_problem_and_write_nothing() {
    let pipeline = Pipeline::start().await;
    let cases: [(&str, u16, &str); 4] = [
        ("leads-generic-unsigned.json", 401, "X-Leadq-Signature"),
        (
            "leads-generic-wrong-signature.json",
            401,
            "X-Leadq-Signature",
        ),
        ("leads-generic-oversized.json", 413, "body"),
        ("leads-generic-wrong-content-type.json", 415, "content-type"),
    ];
    for (file, status, field) in cases {
        let (got, problem, content_type) = pipeline.invoke_fixture(file).await;
        assert_eq!(got, status, "{file}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{file}");
        assert!(problem.to_string().contains(field), "{file}: {problem}");
    }

    let body = std::fs::read_to_string(workspace_root().join("events/payloads/generic-form.json"))
        .expect("payload");
    let mut wrong_type = signed_lead_request(&body, None);
    wrong_type
        .headers_mut()
        .insert("content-type", "text/plain".parse().expect("header"));
    let bad_email = body.replace("bob.stone@gmail.com", "bob.stone(at)gmail");
    let hubspot = std::fs::read_to_string(
        workspace_root().join("events/payloads/hubspot-form-submission.json"),
    )
    .expect("payload")
    .replace("1795435092000", "1924992000000"); // 2031: far in the future
    let future = {
        let mut request = signed_lead_request(&hubspot, None);
        *request.uri_mut() = "https://ingest.example/v1/leads?source=hubspot"
            .parse()
            .expect("uri");
        request
    };
    let unknown_source = {
        let mut request = signed_lead_request(&body, None);
        *request.uri_mut() = "https://ingest.example/v1/leads?source=marketo"
            .parse()
            .expect("uri");
        request
    };
    let requests = [
        (wrong_type, 415, "content-type"),
        (signed_lead_request(&bad_email, None), 422, "email"),
        (future, 422, "submittedAt"),
        (unknown_source, 422, "source"),
    ];
    for (request, status, field) in requests {
        let (got, problem, content_type) = pipeline.invoke_ingest(request).await;
        assert_eq!(got, status, "{field}: {problem}");
        assert_eq!(content_type, "application/problem+json");
        assert!(
            problem
                .to_string()
                .to_lowercase()
                .contains(&field.to_lowercase()),
            "{field}: {problem}"
        );
    }

    assert_eq!(pipeline.lead_items().await, Vec::<(String, String)>::new());
    for stage in [Stage::Enrich, Stage::Score, Stage::Route] {
        assert_eq!(pipeline.depth(&pipeline.url(stage)).await, 0, "{stage:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_record_fails_alone_and_reaches_the_dead_letter_queue() {
    let pipeline = Pipeline::start().await;
    let body = std::fs::read_to_string(workspace_root().join("events/payloads/generic-form.json"))
        .expect("payload");
    for i in 0..9 {
        let person = body.replace("bob.stone@gmail.com", &format!("person{i}@stoneco.co.uk"));
        let (status, answer, _) = pipeline
            .invoke_ingest(signed_lead_request(&person, None))
            .await;
        assert_eq!(status, 201, "{answer}");
    }
    let poison = "{\"v\":1,\"kind\":\"enrich\",\"lead_id\":";
    let queue = SqsQueue::new(pipeline.sqs.clone(), pipeline.queues.clone());
    queue.send_raw(Stage::Enrich, poison).await.expect("send");
    assert_eq!(pipeline.depth(&pipeline.url(Stage::Enrich)).await, 10);

    // the first batch: ten records, one failure reported, nine enriched and deleted
    let function = &pipeline.enrich;
    let mut polls = Vec::new();
    while polls.iter().map(|p: &Polled| p.received).sum::<usize>() < 10 {
        let polled = pipeline
            .source(Stage::Enrich)
            .poll_once(|event| async move { function.handle(&event).await.expect("response") })
            .await
            .expect("poll");
        assert!(polled.received > 0, "the queue ran dry: {polls:?}");
        polls.push(polled);
    }
    let (received, failed, deleted) = total(&polls);
    assert_eq!((received, failed, deleted), (10, 1, 9), "{polls:?}");
    assert_eq!(pipeline.depth(&pipeline.url(Stage::Score)).await, 9);

    // redelivered until its receive count passes maxReceiveCount, then dead-lettered alone
    let again = pipeline
        .source(Stage::Enrich)
        .drain(2 * MAX_RECEIVE_COUNT as usize + 2, |event| async move {
            function.handle(&event).await.expect("response")
        })
        .await
        .expect("drain");
    let (received, failed, deleted) = total(&again);
    assert_eq!(deleted, 0, "{again:?}");
    assert_eq!(received, failed);
    assert_eq!(received, MAX_RECEIVE_COUNT as usize - 1, "{again:?}");
    assert_eq!(pipeline.depth(&pipeline.url(Stage::Enrich)).await, 0);
    let dead = pipeline
        .sqs
        .receive_message()
        .queue_url(pipeline.dlq_url(Stage::Enrich))
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some(poison));
}
