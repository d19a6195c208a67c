//! The score Lambda's metrics, captured as EMF while it takes an SQS batch twice.
//!
//! Alone in its own test binary: the metrics recorder is global to the process, and
//! another test's batches would add to the counts checked here.

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, TimeZone, Utc};
use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::stages::{DEFAULT_BATCH_CONCURRENCY, ModelCache};
use leadq_pipeline::{Envelope, FixedClock, LeadRecord, LeadStore, RetryPolicy};
use leadq_score::ScoreFunction;
use leadq_scoring::{Authority, Company, JobFunction, Lead, Person, Seniority};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A batch of ten from the score queue; one record is not an envelope.
const BATCH: &str = include_str!("../../../events/sqs/score-batch-with-poison.json");

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 9)
        .single()
        .unwrap_or_default()
}

/// Every other lead a decision maker at a fitting company, the rest nobody known at no
/// company, so the batch spans bands.
fn lead(id: &str, i: usize) -> Lead {
    let person = Person {
        email: Some(format!("buyer{i}@acme.com")),
        ..Person::default()
    };
    if i % 2 == 1 {
        return Lead {
            id: id.into(),
            person,
            ..Lead::default()
        };
    }
    Lead {
        id: id.into(),
        person: Person {
            title: Some("CEO".into()),
            seniority: Some(Seniority::CLevel),
            function: Some(JobFunction::Executive),
            authority: Some(Authority::DecisionMaker),
            ..person
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

#[tokio::test]
async fn each_batch_flushes_valid_emf_counting_scores_by_band_and_verdict_changes() {
    let captured = leadq_aws::metrics::capture("score").expect("the only recorder");
    let event: SqsEvent = serde_json::from_str(BATCH).expect("an SQS event");
    let store = Arc::new(MemoryStore::new());
    let mut leads = Vec::new();
    for (i, record) in event.records.iter().enumerate() {
        let Ok(envelope) = Envelope::parse(record.body.as_deref().unwrap_or("")) else {
            continue;
        };
        store
            .create_lead(&LeadRecord::new(lead(&envelope.lead_id, i), None, now()))
            .await
            .expect("store lead");
        leads.push(envelope.lead_id);
    }
    assert_eq!(leads.len(), 9);
    let function = ScoreFunction {
        store: store.clone(),
        queue: Arc::new(MemoryQueue::default()),
        clock: Arc::new(FixedClock::new(now())),
        models: Arc::new(ModelCache::default()),
        policy: RetryPolicy::default(),
        concurrency: DEFAULT_BATCH_CONCURRENCY,
    };

    let response = function.handle(&event).await.expect("per record");
    assert_eq!(response.batch_item_failures.len(), 1, "the poison record");
    let first = captured.validate("score").expect("valid EMF");
    assert!(first >= 2, "flushed by the invocation: {}", captured.text());
    let mut bands: BTreeMap<&'static str, f64> = BTreeMap::new();
    for id in &leads {
        let record = store.get_lead(id).await.expect("get").expect("lead");
        let band = record.card.expect("scored").band.name();
        *bands.entry(band).or_default() += 1.0;
    }
    assert!(bands.len() >= 2, "the batch spans bands: {bands:?}");
    let sum = |name: &str, dimensions: &[(&str, &str)]| -> f64 {
        captured.values(name, dimensions).iter().sum()
    };
    for (band, count) in &bands {
        assert_eq!(sum("LeadsScored", &[("Band", band)]), *count, "{band}");
    }
    assert_eq!(sum("LeadsScored", &[]), 9.0);
    assert_eq!(
        sum("VerdictChanges", &[]),
        9.0,
        "a first score changes the verdict"
    );
    let latencies = |captured: &leadq_aws::metrics::CapturedMetrics| {
        captured.values("StageLatency", &[("Stage", "score")]).len()
    };
    assert_eq!(latencies(&captured), 9);

    // the same batch again: scored again, nothing changed; only the new deltas are written
    function.handle(&event).await.expect("per record");
    assert!(captured.validate("score").expect("valid EMF") > first);
    assert_eq!(sum("LeadsScored", &[]), 18.0);
    assert_eq!(sum("VerdictChanges", &[]), 9.0, "a rescore with no change");
    assert_eq!(latencies(&captured), 18);

    let text = captured.text();
    assert!(!text.contains('@'), "no email in the metrics: {text}");
}
