//! Shared fixtures of the `stages_*` tests.
#![allow(dead_code)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use leadq_pipeline::memory::MemoryStore;
use leadq_pipeline::stages::{CompanyFacts, MemoryDirectory};
use leadq_pipeline::{LeadRecord, LeadStore, NewEvent, RetryPolicy, record_events};
use leadq_scoring::{Authority, Company, Event, EventKind, JobFunction, Lead, Person, Seniority};
use std::time::Duration;

/// The tests' epoch: 2026-11-02 09:30 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0)
        .single()
        .unwrap_or_default()
}

/// `t0` plus some seconds.
pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(seconds)
}

/// Fast retries.
pub fn quick() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(1),
        max: Duration::from_millis(2),
    }
}

/// A lead that has only submitted an email (and maybe a title).
pub fn bare_lead(id: &str, email: &str, title: Option<&str>) -> Lead {
    Lead {
        id: id.into(),
        person: Person {
            email: Some(email.into()),
            title: title.map(str::to_string),
            ..Person::default()
        },
        ..Lead::default()
    }
}

/// A lead at the ideal customer: strong fit, a decision maker.
pub fn ideal_lead(id: &str) -> Lead {
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

/// Engagement of a lead close to buying: a demo request and plenty of activity, at `when`.
pub fn buying_signals(when: DateTime<Utc>) -> Vec<NewEvent> {
    let kinds = [
        EventKind::DemoRequest,
        EventKind::PricingView,
        EventKind::PricingView,
        EventKind::ContentDownload,
        EventKind::ContentDownload,
        EventKind::ContentDownload,
        EventKind::Webinar,
        EventKind::Webinar,
        EventKind::EmailReply,
        EventKind::EmailReply,
        EventKind::CaseStudyView,
        EventKind::CaseStudyView,
        EventKind::CaseStudyView,
    ];
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| NewEvent::new(Event::new(*kind, when + TimeDelta::minutes(i as i64))))
        .collect()
}

/// Stores a lead first seen at `t0`.
pub async fn put_lead(store: &MemoryStore, lead: Lead) {
    let record = LeadRecord::new(lead, None, t0());
    store.create_lead(&record).await.expect("create lead");
}

/// Stores events of a lead.
pub async fn put_events(
    store: &MemoryStore,
    lead_id: &str,
    events: &[NewEvent],
    now: DateTime<Utc>,
) {
    record_events(store, lead_id, events, now, &quick())
        .await
        .expect("record events");
}

/// A directory that knows acme.com (revenue band unknown).
pub fn acme_directory() -> MemoryDirectory {
    MemoryDirectory::with(vec![CompanyFacts {
        domain: "acme.com".into(),
        name: Some("Acme".into()),
        industry: Some("software".into()),
        employees: Some(500),
        revenue_band: None,
        country: Some("US".into()),
        tech_stack: Some(vec!["salesforce".into(), "aws".into()]),
        business_model: Some("b2b".into()),
    }])
}
