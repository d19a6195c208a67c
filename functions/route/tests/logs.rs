//! The route Lambda's log lines, captured as JSON: the invocation and the record on every
//! line, and never an email address, a hook's URL or its secret.
//!
//! Alone in its own test binary: tracing caches per call site whether anyone listens, and
//! a test thread without a subscriber could cache "no" while this one captures.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, TimeZone, Utc};
use lambda_runtime::Context;
use leadq_pipeline::alerts::{AlertConfig, DeliveryError, Hook, Notifier};
use leadq_pipeline::memory::{MemoryLedger, MemoryQueue, MemoryStore};
use leadq_pipeline::routing::RoutingConfig;
use leadq_pipeline::stages::DEFAULT_BATCH_CONCURRENCY;
use leadq_pipeline::{Alert, Envelope, FixedClock, LeadRecord, LeadStore, RetryPolicy};
use leadq_route::RouteFunction;
use leadq_scoring::{
    Authority, Company, Event, EventKind, JobFunction, Lead, Model, Person, Seniority, score,
};
use std::sync::Arc;
use tracing::Instrument;

/// A batch of ten from the route queue; record 3 (index 2) is an envelope of version 2.
const BATCH: &str = include_str!("../../../events/sqs/route-batch-with-poison.json");
const POISON_INDEX: usize = 2;

const HOOK_URL: &str = "https://hooks.example.com/services/T0SECRETPATH/B0/XyZ";
const HOOK_SECRET: &str = "route-logs-hook-secret-0123456789";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 4)
        .single()
        .unwrap_or_default()
}

fn email(i: usize) -> String {
    format!("Buyer.{i}+Demo@Acme.com")
}

/// Refuses every delivery the way a receiver that is down does.
struct Down;

#[async_trait]
impl Notifier for Down {
    async fn deliver(&self, hook: &Hook, _alert: &Alert) -> Result<(), DeliveryError> {
        Err(DeliveryError::Refused {
            hook: hook.name.clone(),
            status: 503,
            body: "down for maintenance".into(),
            retry_after_secs: None,
        })
    }
}

fn hot_record(id: &str, i: usize) -> LeadRecord {
    let lead = Lead {
        id: id.into(),
        person: Person {
            email: Some(email(i)),
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
    let mut record = LeadRecord::new(lead.clone(), None, now());
    record.card = Some(score(&lead, &events, &Model::default_model(), now()));
    record
}

#[tokio::test]
async fn logs_carry_the_request_and_the_record_but_no_email_url_or_secret() {
    let event: SqsEvent = serde_json::from_str(BATCH).expect("the fixture is an SQS event");
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
    let routing = RoutingConfig::from_toml(
        r#"
        fallback_queue = "unassigned"
        [[teams]]
        name = "everyone"
        strategy = "least_loaded"
        [[teams.reps]]
        id = "margaret"
        name = "Margaret Hamilton"
        max_open_leads = 5
        max_new_per_day = 50
        "#,
    )
    .expect("routing");
    let alerts = AlertConfig::from_toml_with_env(
        r#"
        lead_url = "https://leadq.example.com/v1/leads/{lead_id}"
        [hooks.crm]
        kind = "webhook"
        url_env = "CRM_URL"
        secret_env = "CRM_SECRET"
        [[subscriptions]]
        hook = "crm"
        bands = ["hot"]
        "#,
        |name| match name {
            "CRM_URL" => Some(HOOK_URL.into()),
            "CRM_SECRET" => Some(HOOK_SECRET.into()),
            _ => None,
        },
    )
    .expect("alerts");
    let function = RouteFunction {
        store,
        queue: Arc::new(MemoryQueue::default()),
        clock: Arc::new(FixedClock::new(now())),
        ledger: Arc::new(MemoryLedger::default()),
        routing: Arc::new(routing),
        alerts: Arc::new(alerts),
        notifier: Arc::new(Down),
        policy: RetryPolicy::default(),
        concurrency: DEFAULT_BATCH_CONCURRENCY,
    };

    let (_guard, logs) = leadq_aws::telemetry::capture("trace");
    let mut context = Context::default();
    context.request_id = "0d8e1f2a-7b61-11e6-9a41-93e8deadbeef".into();
    // the span lambda_runtime opens around each invocation
    let span = lambda_runtime::layers::trace::request_span(&context);
    let response = function
        .handle(&event)
        .instrument(span)
        .await
        .expect("per record");
    let poison = event.records[POISON_INDEX]
        .message_id
        .as_deref()
        .expect("id");
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier, poison);

    let lines = logs.lines();
    for line in &lines {
        assert_eq!(line["requestId"], context.request_id.as_str(), "{line}");
        assert_eq!(line["stage"], "route", "{line}");
    }
    let routed: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "lead routed")
        .collect();
    assert_eq!(routed.len(), 9, "{lines:?}");
    for line in routed {
        for field in ["lead_id", "trace_id", "message_id", "change", "why"] {
            assert!(
                line[field].as_str().is_some_and(|v| !v.is_empty()),
                "{field}: {line}"
            );
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l["message_id"] == poison && l["level"] == "WARN"),
        "the poison record is logged"
    );
    let text = logs.text();
    let lower = text.to_ascii_lowercase();
    for i in 0..event.records.len() {
        assert!(!lower.contains(&email(i).to_ascii_lowercase()), "{text}");
    }
    assert!(!lower.contains("+demo@"), "no email in clear");
    assert!(!text.contains("T0SECRETPATH"), "no hook URL: {text}");
    assert!(!text.contains(HOOK_SECRET), "no hook secret");
}
