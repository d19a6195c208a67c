//! The ingest Lambda's metrics, captured as EMF while it takes the signed fixtures.
//!
//! Alone in its own test binary: the metrics recorder is global to the process, and
//! another test's requests would add to the counts checked here.

#[allow(dead_code)] // the table also serves the generator
#[path = "../src/fixtures.rs"]
mod fixtures;

use chrono::DateTime;
use fixtures::{FIXTURE_SECRET, SIGNED_AT, fixture_specs};
use lambda_http::Context;
use lambda_http::ext::RequestExt;
use leadq_ingest::service;
use leadq_pipeline::api::{ApiState, IngestAuth};
use leadq_pipeline::intake::FieldMapping;
use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::{FixedClock, LeadRecord, LeadStore, RetryPolicy};
use leadq_scoring::Lead;
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

/// Every address the fixtures' bodies carry.
const EMAILS: [&str; 5] = [
    "bob.stone@gmail.com",
    "carla.ruiz@northwind-logistics.com",
    "ana.lopez+demo@acme-robotics.io",
    "jonas.weber@brightline-analytics.de",
    "pat.kim@fabrikam.com",
];

#[tokio::test]
async fn each_request_flushes_valid_emf_counting_leads_refusals_and_latency() {
    let captured = leadq_aws::metrics::capture("ingest").expect("the only recorder");
    let at = DateTime::from_timestamp(SIGNED_AT, 0).unwrap_or_default();
    let store = Arc::new(MemoryStore::new());
    let known = Lead {
        id: "lead_7f3c2a91".into(),
        ..Lead::default()
    };
    store
        .create_lead(&LeadRecord::new(known, None, at))
        .await
        .expect("store lead");
    let app = service(ApiState {
        store,
        queue: Arc::new(MemoryQueue::default()),
        clock: Arc::new(FixedClock::new(at)),
        auth: IngestAuth::new(Some(FIXTURE_SECRET.into()), Vec::new()),
        mapping: FieldMapping::default(),
        policy: RetryPolicy::default(),
    });

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/http");
    for (done, spec) in fixture_specs().iter().enumerate() {
        let text = std::fs::read_to_string(root.join(spec.file)).expect("fixture");
        let mut context = Context::default();
        context.request_id = spec.request_id.into();
        let request = lambda_http::request::from_str(&text)
            .expect("a Function URL event")
            .with_lambda_context(context);
        let response = app
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(response.status().as_u16(), spec.status, "{}", spec.file);
        // flushed with the response, not at some later point
        let latencies = captured.values("StageLatency", &[("Stage", "ingest")]);
        assert_eq!(latencies.len(), done + 1, "{}", captured.text());
    }

    assert!(captured.validate("ingest").expect("valid EMF") >= fixture_specs().len());
    let sum = |name: &str, dimensions: &[(&str, &str)]| -> f64 {
        captured.values(name, dimensions).iter().sum()
    };
    let created = fixture_specs().iter().filter(|s| s.status == 201).count();
    assert_eq!(sum("LeadsIngested", &[]), created as f64);
    assert_eq!(sum("Refusals", &[("Reason", "unauthorized")]), 2.0);
    assert_eq!(sum("Refusals", &[("Reason", "too_large")]), 1.0);
    assert_eq!(
        sum("Refusals", &[("Reason", "unsupported_media_type")]),
        1.0
    );
    assert_eq!(sum("Refusals", &[]), 4.0, "no other refusal");
    for latency in captured.values("StageLatency", &[]) {
        assert!((0.0..60_000.0).contains(&latency), "{latency} ms");
    }
    // units as declared
    let doc = captured
        .documents()
        .into_iter()
        .find(|doc| doc.get("StageLatency").is_some())
        .expect("a latency document");
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
        "Milliseconds"
    );

    let text = captured.text().to_ascii_lowercase();
    assert!(!text.contains('@') && !text.contains("%40"), "{text}");
    for email in EMAILS {
        assert!(!text.contains(email), "{email} in the metrics: {text}");
    }
}
