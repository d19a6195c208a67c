//! `POST /v1/events` and `POST /v1/outcomes` through the router, with their fixtures.

mod api_support;

use api_support::*;
use leadq_pipeline::envelope::Stage;
use leadq_pipeline::ports::{LeadRecord, LeadStore};
use leadq_scoring::{Lead, OutcomeStatus};
use serde_json::json;

/// The fixtures' leads: `lead_7f3c2a91` stored as is, Ana through the HubSpot fixture.
async fn fixture_leads(app: &TestApp) -> String {
    let known = LeadRecord::new(
        Lead {
            id: "lead_7f3c2a91".into(),
            ..Lead::default()
        },
        Some("bo@northwind.com".into()),
        now(),
    );
    app.store.inner.create_lead(&known).await.expect("create");
    app.send(signed(
        "POST",
        "/v1/leads?source=hubspot",
        "application/json",
        &fixture("hubspot-form-submission.json"),
    ))
    .await
    .lead_id()
}

#[tokio::test]
async fn events_fixture_is_stored_per_lead_and_rescored() {
    let app = TestApp::new();
    let ana = fixture_leads(&app).await;
    let before = app.queue.sent_to(Stage::Score).len();

    let reply = app
        .send(keyed(
            "POST",
            "/v1/events",
            "application/json",
            &fixture("events-batch.json"),
            TRACKER_KEY,
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["stored"], 3);
    assert_eq!(reply.json["duplicates"], 0);
    assert_eq!(
        reply.json["leads"],
        json!([
            {"lead_id": "lead_7f3c2a91", "stored": 2, "duplicates": 0},
            {"lead_id": ana, "stored": 1, "duplicates": 0}
        ])
    );
    assert_eq!(app.events("lead_7f3c2a91").await.len(), 2);
    // Ana: the form_submit and the session given by email in another spelling
    assert_eq!(app.events(&ana).await.len(), 2);
    let score = app.queue.sent_to(Stage::Score);
    assert_eq!(score.len() - before, 2);

    // a redelivery stores nothing, but the rescore is queued again (a retry after a
    // crash between storing and queueing must not lose it)
    let again = app
        .send(signed(
            "POST",
            "/v1/events",
            "application/json",
            &fixture("events-batch.json"),
        ))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        (
            again.json["stored"].as_u64(),
            again.json["duplicates"].as_u64()
        ),
        (Some(0), Some(3))
    );
    assert_eq!(app.events("lead_7f3c2a91").await.len(), 2);
    assert_eq!(app.queue.sent_to(Stage::Score).len() - before, 4);
}

#[tokio::test]
async fn up_to_500_events_per_request() {
    let app = TestApp::new();
    let lead_id = app
        .send(lead_json(&json!({"email": "ana@acme.io"})))
        .await
        .lead_id();
    let events = |n: usize| {
        let items: Vec<_> = (0..n)
            .map(|i| {
                json!({"lead_id": lead_id, "kind": "page_view",
                       "at": format!("2026-11-23T10:{:02}:{:02}Z", i / 60, i % 60)})
            })
            .collect();
        json!({ "events": items }).to_string()
    };
    let reply = app
        .send(signed(
            "POST",
            "/v1/events",
            "application/json",
            events(500).as_bytes(),
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["stored"], 500);
    assert_eq!(
        app.lead(&lead_id).await.expect("lead").aggregates.count,
        501
    );
    let writes = app.store.write_count();
    app.send(signed(
        "POST",
        "/v1/events",
        "application/json",
        events(501).as_bytes(),
    ))
    .await
    .assert_problem(422, "events");
    assert_eq!(app.store.write_count(), writes);
}

#[tokio::test]
async fn outcome_fixture_is_stored_once() {
    let app = TestApp::new();
    fixture_leads(&app).await;
    for _ in 0..2 {
        let reply = app
            .send(signed(
                "POST",
                "/v1/outcomes",
                "application/json",
                &fixture("outcome-won.json"),
            ))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.json);
        assert_eq!(
            reply.json,
            json!({"lead_id": "lead_7f3c2a91", "status": "won"})
        );
    }
    let outcomes = app.store.inner.list_outcomes().await.expect("outcomes");
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].status, OutcomeStatus::Won);
    assert_eq!(outcomes[0].amount, Some(24000.0));

    // by email, and a later outcome replaces the earlier one
    let lost = json!({"email": "ANA.LOPEZ@acme-robotics.io", "status": "lost", "closed_at": "2026-11-22T09:00:00Z"});
    let reply = app
        .send(signed(
            "POST",
            "/v1/outcomes",
            "application/json",
            lost.to_string().as_bytes(),
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["status"], "lost");
    assert_eq!(
        app.store
            .inner
            .list_outcomes()
            .await
            .expect("outcomes")
            .len(),
        2
    );
}
