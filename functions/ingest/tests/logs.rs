//! The ingest Lambda's log lines, captured as JSON while it takes the signed fixtures.
//!
//! Alone in its own test binary: tracing caches per call site whether anyone listens, and
//! a test thread without a subscriber could cache "no" while this one captures.

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
use tracing::Instrument;

/// Every address the fixtures' bodies carry.
const EMAILS: [&str; 5] = [
    "bob.stone@gmail.com",
    "carla.ruiz@northwind-logistics.com",
    "ana.lopez+demo@acme-robotics.io",
    "jonas.weber@brightline-analytics.de",
    "pat.kim@fabrikam.com",
];

#[tokio::test]
async fn logs_carry_the_request_and_the_lead_but_never_an_email() {
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

    let (_guard, logs) = leadq_aws::telemetry::capture("trace");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/http");
    for spec in fixture_specs() {
        let text = std::fs::read_to_string(root.join(spec.file)).expect("fixture");
        let mut context = Context::default();
        context.request_id = spec.request_id.into();
        let request = lambda_http::request::from_str(&text)
            .expect("a Function URL event")
            .with_lambda_context(context.clone());
        // the span lambda_runtime opens around each invocation
        let span = lambda_runtime_span(&context);
        let response = app
            .clone()
            .oneshot(request)
            .instrument(span)
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(response.status().as_u16(), spec.status, "{}", spec.file);
    }

    let lines = logs.lines();
    assert!(lines.len() >= fixture_specs().len(), "{lines:?}");
    for line in &lines {
        let id = line["requestId"].as_str().unwrap_or_default();
        assert!(
            fixture_specs().iter().any(|s| s.request_id == id),
            "every line names its invocation: {line}"
        );
        // the API's own request id is the invocation's
        if let Some(api_id) = line["request_id"].as_str() {
            assert_eq!(api_id, id, "{line}");
        }
    }
    let stored: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "lead submission stored")
        .collect();
    assert_eq!(stored.len(), 4, "{lines:?}");
    for line in stored {
        assert!(
            line["lead_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("lead_")),
            "{line}"
        );
    }
    let text = logs.text().to_ascii_lowercase();
    for email in EMAILS {
        assert!(!text.contains(email), "{email} in clear: {text}");
    }
    assert!(
        !text.contains("%40northwind"),
        "no URL-encoded email either"
    );
}

fn lambda_runtime_span(context: &Context) -> tracing::Span {
    lambda_http::lambda_runtime::layers::trace::request_span(context)
}
