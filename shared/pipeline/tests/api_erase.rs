//! `DELETE /v1/leads/{id}`: the person's data goes, a hashed tombstone stays, and the
//! same email coming back without consent is suppressed.

mod api_support;

use api_support::*;
use leadq_pipeline::envelope::Stage;
use leadq_pipeline::ports::{LeadStore, email_hash};
use serde_json::json;

fn path(lead_id: &str) -> String {
    format!("/v1/leads/{lead_id}")
}

#[tokio::test]
async fn erase_then_get_is_404_and_the_events_are_gone() {
    let app = TestApp::new();
    let lead_id = app
        .send(lead_json(
            &json!({"email": "Ana@Acme.io", "consent": "yes"}),
        ))
        .await
        .lead_id();
    let events = json!({"events": [{"lead_id": lead_id, "kind": "pricing_view", "at": "2026-11-23T11:00:00Z"}]});
    let stored = app
        .send(signed(
            "POST",
            "/v1/events",
            "application/json",
            events.to_string().as_bytes(),
        ))
        .await;
    assert_eq!(stored.status, 200);
    assert_eq!(app.events(&lead_id).await.len(), 2);

    let erased = app
        .send(signed("DELETE", &path(&lead_id), "application/json", b""))
        .await;
    assert_eq!(erased.status, 204);
    app.send(signed("GET", &path(&lead_id), "application/json", b""))
        .await
        .assert_problem(404, "id");
    assert!(app.lead(&lead_id).await.is_none());
    assert!(app.events(&lead_id).await.is_empty());
    let store = &app.store.inner;
    assert_eq!(
        store.find_lead_by_email("ana@acme.io").await.expect("find"),
        None
    );
    let tombstone = store
        .find_tombstone(&email_hash("ana@acme.io"))
        .await
        .expect("find")
        .expect("a tombstone");
    assert_eq!(tombstone.lead_id, lead_id);

    // erasing again: nothing there
    app.send(keyed("DELETE", &path(&lead_id), "", b"", ADMIN_KEY))
        .await
        .assert_problem(404, "id");
    // events for the erased person are refused
    let reply = app
        .send(signed(
            "POST",
            "/v1/events",
            "application/json",
            events.to_string().as_bytes(),
        ))
        .await;
    reply.assert_problem(422, "events[0].lead_id");
}

#[tokio::test]
async fn an_erased_email_without_consent_is_suppressed_and_with_consent_created() {
    let app = TestApp::new();
    let old = app
        .send(lead_json(&json!({"email": "ana@acme.io", "name": "Ana"})))
        .await
        .lead_id();
    assert_eq!(
        app.send(signed("DELETE", &path(&old), "application/json", b""))
            .await
            .status,
        204
    );
    let writes = app.store.writes();
    let messages = app.queue.message_count();

    // the same person, spelled otherwise, without consent (absent, then refused)
    for body in [
        json!({"email": "ANA+news@acme.io", "name": "Ana"}),
        json!({"email": "ana@acme.io", "consent": "no"}),
    ] {
        let reply = app.send(lead_json(&body)).await;
        assert_eq!(reply.status, 202, "{}", reply.json);
        assert_eq!(reply.json, json!({"status": "suppressed"}));
    }
    assert_eq!(app.store.writes(), writes, "nothing stored when suppressed");
    assert_eq!(app.queue.message_count(), messages);
    assert_eq!(
        app.store
            .inner
            .find_lead_by_email("ana@acme.io")
            .await
            .expect("find"),
        None
    );

    // with consent the person is welcome again, as a new lead
    let back = app
        .send(lead_json(
            &json!({"email": "ana@acme.io", "gdpr_consent": true}),
        ))
        .await;
    assert_eq!(back.status, 201, "{}", back.json);
    let new = back.lead_id();
    assert_ne!(new, old);
    assert_eq!(
        app.queue
            .sent_to(Stage::Enrich)
            .last()
            .map(|e| e.lead_id.clone()),
        Some(new.clone())
    );

    // once back, later submissions without the consent field reach the same lead
    let later = app
        .send(lead_json(
            &json!({"email": "ana@acme.io", "page": "/pricing"}),
        ))
        .await;
    assert_eq!((later.status, later.lead_id()), (200, new));
}

#[tokio::test]
async fn suppression_is_replayed_for_its_idempotency_key() {
    let app = TestApp::new();
    let old = app
        .send(lead_json(&json!({"email": "ana@acme.io"})))
        .await
        .lead_id();
    app.send(signed("DELETE", &path(&old), "application/json", b""))
        .await;
    for _ in 0..2 {
        let mut request = lead_json(&json!({"email": "ana@acme.io"}));
        request
            .headers_mut()
            .insert("idempotency-key", "again-1".parse().expect("header"));
        let reply = app.send(request).await;
        assert_eq!(reply.status, 202, "{}", reply.json);
    }
}
