//! The enrich Lambda's log lines, captured as JSON.
//!
//! Alone in its own test binary: tracing caches per call site whether anyone listens, and
//! a test thread without a subscriber could cache "no" while this one captures.

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, TimeZone, Utc};
use lambda_runtime::Context;
use leadq_enrich::EnrichFunction;
use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::stages::{DEFAULT_BATCH_CONCURRENCY, MemoryDirectory};
use leadq_pipeline::{Envelope, FixedClock, LeadRecord, LeadStore, RetryPolicy};
use leadq_scoring::{Lead, Person};
use std::sync::Arc;
use tracing::Instrument;

/// A batch of ten from the enrich queue; record 5 (index 4) is a truncated body.
const BATCH: &str = include_str!("../../../events/sqs/enrich-batch-with-poison.json");
const POISON_INDEX: usize = 4;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 5)
        .single()
        .unwrap_or_default()
}

fn email(i: usize) -> String {
    format!("Person.{i}+Trial@Acme.com")
}

#[tokio::test]
async fn logs_carry_the_request_and_the_record_but_never_an_email() {
    let event: SqsEvent = serde_json::from_str(BATCH).expect("the fixture is an SQS event");
    let store = Arc::new(MemoryStore::new());
    for (i, record) in event.records.iter().enumerate() {
        let Ok(envelope) = Envelope::parse(record.body.as_deref().unwrap_or("")) else {
            continue;
        };
        let lead = Lead {
            id: envelope.lead_id,
            person: Person {
                email: Some(email(i)),
                title: Some("Head of Marketing".into()),
                ..Person::default()
            },
            ..Lead::default()
        };
        store
            .create_lead(&LeadRecord::new(lead, None, now()))
            .await
            .expect("store lead");
    }
    let function = EnrichFunction {
        store,
        queue: Arc::new(MemoryQueue::default()),
        clock: Arc::new(FixedClock::new(now())),
        directory: Arc::new(MemoryDirectory::new()),
        policy: RetryPolicy::default(),
        concurrency: DEFAULT_BATCH_CONCURRENCY,
    };

    let (_guard, logs) = leadq_aws::telemetry::capture("trace");
    let mut context = Context::default();
    context.request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into();
    // the span lambda_runtime opens around each invocation
    let span = lambda_runtime::layers::trace::request_span(&context);
    function
        .handle(&event)
        .instrument(span)
        .await
        .expect("per record");

    let lines = logs.lines();
    assert!(
        lines.len() >= 11,
        "a line per record and one per batch: {lines:?}"
    );
    for line in &lines {
        assert_eq!(line["requestId"], context.request_id.as_str(), "{line}");
        assert_eq!(line["stage"], "enrich", "{line}");
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let records: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "lead enriched and sent on to scoring")
        .collect();
    assert_eq!(records.len(), 9);
    for line in records {
        for field in ["lead_id", "trace_id", "message_id"] {
            assert!(
                line[field].as_str().is_some_and(|v| !v.is_empty()),
                "{line}"
            );
        }
        assert_eq!(line["receive_count"], 1, "{line}");
    }
    let poison = event.records[POISON_INDEX]
        .message_id
        .as_deref()
        .expect("id");
    assert!(
        lines
            .iter()
            .any(|l| l["message_id"] == poison && l["level"] == "WARN"),
        "the poison record is logged"
    );
    let text = logs.text().to_ascii_lowercase();
    for i in 0..event.records.len() {
        assert!(!text.contains(&email(i).to_ascii_lowercase()), "{text}");
    }
    assert!(!text.contains("+trial@"), "no email in clear");
}
