//! `POST /v1/leads` through the router: the fixtures of every source, idempotency,
//! the same person twice, and the work queued.

mod api_support;

use api_support::*;
use leadq_pipeline::envelope::Stage;
use leadq_scoring::EventKind;
use serde_json::json;

#[tokio::test]
async fn generic_json_fixture_creates_a_lead_and_queues_enrichment() {
    let app = TestApp::new();
    let reply = app
        .send(signed(
            "POST",
            "/v1/leads",
            "application/json",
            &fixture("generic-form.json"),
        ))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.content_type(), "application/json");
    let lead_id = reply.lead_id();
    assert!(lead_id.starts_with("lead_"));

    let record = app.lead(&lead_id).await.expect("stored");
    assert_eq!(
        record.lead.person.email.as_deref(),
        Some("bob.stone@gmail.com")
    );
    assert_eq!(record.lead.source.as_deref(), Some("generic"));
    assert_eq!(record.email_key.as_deref(), Some("bobstone@gmail.com"));
    assert_eq!(record.provenance["person.email"].provider, "form");
    assert_eq!(record.aggregates.count, 1);
    let events = app.events(&lead_id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.kind, EventKind::FormSubmit);
    assert!(events[0].event_id.starts_with("form-"));

    let sent = app.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, Stage::Enrich);
    assert_eq!(sent[0].lead_id, lead_id);
    // the request id is the trace id of the work, and is echoed back
    let request_id = reply.headers["x-request-id"].to_str().expect("text");
    assert_eq!(sent[0].trace_id, request_id);
}

#[tokio::test]
async fn form_encoded_fixture_is_accepted() {
    let app = TestApp::new();
    let reply = app
        .send(signed(
            "POST",
            "/v1/leads?source=generic",
            "application/x-www-form-urlencoded",
            &fixture("generic-form.txt"),
        ))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let record = app.lead(&reply.lead_id()).await.expect("stored");
    assert_eq!(
        record.lead.person.email.as_deref(),
        Some("carla.ruiz@northwind-logistics.com")
    );
    assert_eq!(record.lead.company.employees, Some(1200));
}

#[tokio::test]
async fn hubspot_fixture_with_its_own_key() {
    let app = TestApp::new();
    let reply = app
        .send(keyed(
            "POST",
            "/v1/leads?source=hubspot",
            "application/json",
            &fixture("hubspot-form-submission.json"),
            HUBSPOT_KEY,
        ))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let record = app.lead(&reply.lead_id()).await.expect("stored");
    assert_eq!(record.lead.source.as_deref(), Some("hubspot"));
    assert_eq!(
        record.email_key.as_deref(),
        Some("ana.lopez@acme-robotics.io")
    );
    assert_eq!(record.lead.consent.email, Some(true));
}

#[tokio::test]
async fn typeform_fixture_is_accepted() {
    let app = TestApp::new();
    let reply = app
        .send(keyed(
            "POST",
            "/v1/leads?source=typeform",
            "application/json; charset=utf-8",
            &fixture("typeform-form-response.json"),
            ADMIN_KEY,
        ))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let record = app.lead(&reply.lead_id()).await.expect("stored");
    assert_eq!(
        record.lead.person.email.as_deref(),
        Some("jonas.weber@brightline-analytics.de")
    );
    assert_eq!(record.lead.source.as_deref(), Some("typeform"));
}

#[tokio::test]
async fn the_same_person_again_is_200_with_the_same_id() {
    let app = TestApp::new();
    let first = app
        .send(lead_json(&json!({"email": "Ana@Acme.io", "name": "Ana"})))
        .await;
    assert_eq!(first.status, 201);
    let lead_id = first.lead_id();

    // a redelivery of the same body: same lead, no new event, enrichment queued again
    // because the lead has not been scored yet
    let again = app
        .send(lead_json(&json!({"email": "Ana@Acme.io", "name": "Ana"})))
        .await;
    assert_eq!((again.status, again.lead_id()), (200, lead_id.clone()));
    assert_eq!(app.events(&lead_id).await.len(), 1);

    // a genuine second submission (other body, other case, plus-tag) counts as an event
    let second = app
        .send(lead_json(
            &json!({"email": "ana+webinar@ACME.io", "name": "Ana", "page": "/webinar"}),
        ))
        .await;
    assert_eq!((second.status, second.lead_id()), (200, lead_id.clone()));
    assert_eq!(app.events(&lead_id).await.len(), 2);
    assert_eq!(app.lead(&lead_id).await.expect("lead").aggregates.count, 2);
    let enrich = app.queue.sent_to(Stage::Enrich);
    assert_eq!(enrich.len(), 3);
    assert!(enrich.iter().all(|e| e.lead_id == lead_id));
}

#[tokio::test]
async fn a_scored_lead_submitting_again_is_rescored() {
    let app = TestApp::new();
    let lead_id = app
        .send(lead_json(&json!({"email": "ana@acme.io"})))
        .await
        .lead_id();
    // score it, as the score stage would
    let store = &app.store.inner;
    let mut record = app.lead(&lead_id).await.expect("lead");
    let card = leadq_scoring::score(
        &record.lead,
        &[],
        &leadq_scoring::Model::default_model(),
        now(),
    );
    record.card = Some(card);
    record.version += 1;
    leadq_pipeline::LeadStore::update_lead(store, &record)
        .await
        .expect("update");

    let again = app
        .send(lead_json(
            &json!({"email": "ana@acme.io", "page": "/pricing"}),
        ))
        .await;
    assert_eq!(again.status, 200);
    let score = app.queue.sent_to(Stage::Score);
    assert_eq!(score.len(), 1);
    assert_eq!(score[0].lead_id, lead_id);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response() {
    let app = TestApp::new();
    let body = json!({"email": "carla@northwind.com"}).to_string();
    let request = |key: &str| {
        let mut request = signed("POST", "/v1/leads", "application/json", body.as_bytes());
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().expect("header"));
        request
    };
    let first = app.send(request("order-1")).await;
    assert_eq!(first.status, 201);
    let writes = app.store.write_count();
    let messages = app.queue.message_count();

    let replay = app.send(request("order-1")).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.json, first.json);
    // a replay only looks at the idempotency record
    assert_eq!(app.store.write_count(), writes + 1);
    assert_eq!(app.queue.message_count(), messages);

    // the same key with another body is refused, nothing written
    let mut other = signed(
        "POST",
        "/v1/leads",
        "application/json",
        json!({"email": "zed@northwind.com"}).to_string().as_bytes(),
    );
    other
        .headers_mut()
        .insert("idempotency-key", "order-1".parse().expect("header"));
    let reused = app.send(other).await;
    reused.assert_problem(422, "Idempotency-Key");
    assert_eq!(app.queue.message_count(), messages);

    // keys are scoped per source: the same key from HubSpot is another request
    let hubspot = r#"{"fields":[{"name":"email","value":"carla@northwind.com"}]}"#;
    let mut from_hubspot = keyed(
        "POST",
        "/v1/leads?source=hubspot",
        "application/json",
        hubspot.as_bytes(),
        HUBSPOT_KEY,
    );
    from_hubspot
        .headers_mut()
        .insert("idempotency-key", "order-1".parse().expect("header"));
    let scoped = app.send(from_hubspot).await;
    assert_eq!((scoped.status, scoped.lead_id()), (200, first.lead_id()));
}

#[tokio::test]
async fn get_shows_the_lead_its_card_and_history() {
    let app = TestApp::new();
    let lead_id = app
        .send(signed(
            "POST",
            "/v1/leads?source=hubspot",
            "application/json",
            &fixture("hubspot-form-submission.json"),
        ))
        .await
        .lead_id();
    let view = app
        .send(signed(
            "GET",
            &format!("/v1/leads/{lead_id}"),
            "application/json",
            b"",
        ))
        .await;
    assert_eq!(view.status, 200, "{}", view.json);
    assert_eq!(view.json["lead_id"], lead_id.as_str());
    assert_eq!(view.json["version"], 2);
    assert_eq!(view.json["lead"]["person"]["title"], "VP Engineering");
    assert_eq!(view.json["aggregates"]["count"], 1);
    assert_eq!(view.json["provenance"]["person.title"]["provider"], "form");
    assert!(view.json["card"].is_null());
    assert_eq!(view.json["history"], json!([]));

    // after the enrich and score stages ran, the card and the history are shown
    let ports = leadq_pipeline::stages::StagePorts {
        store: app.store.as_ref(),
        queue: app.queue.as_ref(),
        clock: app.clock.as_ref(),
        policy: leadq_pipeline::RetryPolicy::default(),
    };
    let enrich = app.queue.sent_to(Stage::Enrich).remove(0);
    leadq_pipeline::stages::enrich_stage_handler(
        &ports,
        &leadq_pipeline::stages::MemoryDirectory::new(),
        &enrich,
    )
    .await
    .expect("enrich");
    let score = app.queue.sent_to(Stage::Score).remove(0);
    leadq_pipeline::stages::score_stage_handler(
        &ports,
        &leadq_pipeline::stages::ModelCache::default(),
        &score,
    )
    .await
    .expect("score");
    let view = app
        .send(keyed(
            "GET",
            &format!("/v1/leads/{lead_id}"),
            "",
            b"",
            ADMIN_KEY,
        ))
        .await;
    assert_eq!(view.status, 200);
    assert!(view.json["card"]["composite"].is_u64(), "{}", view.json);
    assert!(view.json["card"]["reasons"].is_array());
    assert!(view.json["card"]["missing"].is_array());
    assert_eq!(view.json["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        view.json["provenance"]["person.seniority"]["provider"],
        "title_parser"
    );
}

#[tokio::test]
async fn a_key_held_by_another_request_is_409_with_retry_after() {
    let app = TestApp::new();
    // another instance claimed the key (scoped per source) and is still working on it
    let claim = leadq_pipeline::LeadStore::claim_idempotency(
        &app.store.inner,
        "leads:generic:busy-1",
        now(),
        now() + chrono::Duration::hours(24),
        now() + chrono::Duration::seconds(30),
    )
    .await
    .expect("claim");
    assert_eq!(claim, leadq_pipeline::Claim::Claimed);
    let mut request = lead_json(&json!({"email": "ana@acme.io"}));
    request
        .headers_mut()
        .insert("idempotency-key", "busy-1".parse().expect("header"));
    let started = std::time::Instant::now();
    let reply = app.send(request).await;
    reply.assert_problem(409, "Idempotency-Key");
    assert_eq!(reply.headers["retry-after"], "2");
    // it waited for the holder a little before giving up
    assert!(started.elapsed() >= leadq_pipeline::stages::ingest::IN_PROGRESS_WAIT);
    assert_eq!(app.queue.message_count(), 0);
    assert_eq!(
        app.store.writes().keys().copied().collect::<Vec<_>>(),
        vec!["claim_idempotency"]
    );

    // once the holder's claim lapses, the request goes through
    app.clock.set(now() + chrono::Duration::seconds(31));
    let mut retry = signed_at(
        "POST",
        "/v1/leads",
        "application/json",
        json!({"email": "ana@acme.io"}).to_string().as_bytes(),
        now().timestamp() + 31,
    );
    retry
        .headers_mut()
        .insert("idempotency-key", "busy-1".parse().expect("header"));
    assert_eq!(app.send(retry).await.status, 201);
}
