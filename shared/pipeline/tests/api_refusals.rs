//! Every refusal class through the router: its status, a problem body naming the field
//! and the rule, and nothing written to the store or the queue.

mod api_support;

use api_support::*;
use axum::body::Body;
use leadq_pipeline::api::IngestAuth;
use leadq_pipeline::envelope::Stage;
use leadq_pipeline::intake::MAX_BODY_BYTES;
use serde_json::json;
use std::sync::atomic::Ordering;

/// Asserts the refusal wrote nothing and queued nothing.
fn assert_untouched(app: &TestApp) {
    assert_eq!(app.store.writes(), Default::default(), "store was written");
    assert_eq!(app.queue.message_count(), 0, "queue was sent to");
}

fn ana() -> Vec<u8> {
    json!({"email": "ana@acme.io"}).to_string().into_bytes()
}

#[tokio::test]
async fn unauthenticated_requests_are_401_on_every_route() {
    let app = TestApp::new();
    let routes = [
        ("POST", "/v1/leads"),
        ("POST", "/v1/events"),
        ("POST", "/v1/outcomes"),
        ("GET", "/v1/leads/lead_1"),
        ("DELETE", "/v1/leads/lead_1"),
    ];
    for (method, uri) in routes {
        let reply = app
            .send(unsigned(method, uri, "application/json", &ana()))
            .await;
        reply.assert_problem(401, "X-Leadq-Signature");
        assert!(reply.headers.contains_key("www-authenticate"));
    }
    assert_untouched(&app);
}

#[tokio::test]
async fn wrong_stale_and_malformed_signatures_are_401() {
    let app = TestApp::new();
    let body = ana();
    // signed with another secret
    let mut wrong = signed("POST", "/v1/leads", "application/json", &body);
    let forged = leadq_pipeline::signature::sign(b"not-the-secret", now().timestamp(), &body);
    wrong
        .headers_mut()
        .insert("x-leadq-signature", forged.parse().expect("header"));
    let reply = app.send(wrong).await;
    reply.assert_problem(401, "X-Leadq-Signature");
    assert_eq!(reply.json["errors"][0]["rule"], "signature");

    // more than five minutes old, and more than five minutes ahead
    for skew in [-301, 301] {
        let stale = signed_at(
            "POST",
            "/v1/leads",
            "application/json",
            &body,
            now().timestamp() + skew,
        );
        let reply = app.send(stale).await;
        reply.assert_problem(401, "X-Leadq-Signature");
        assert_eq!(reply.json["errors"][0]["rule"], "tolerance");
    }

    // a valid signature over another body
    let mut tampered = signed("POST", "/v1/leads", "application/json", &body);
    *tampered.body_mut() = Body::from(json!({"email": "eve@evil.io"}).to_string());
    app.send(tampered)
        .await
        .assert_problem(401, "X-Leadq-Signature");

    let mut garbage = signed("POST", "/v1/leads", "application/json", &body);
    garbage
        .headers_mut()
        .insert("x-leadq-signature", "sha256=abc".parse().expect("header"));
    let reply = app.send(garbage).await;
    reply.assert_problem(401, "X-Leadq-Signature");
    assert_eq!(reply.json["errors"][0]["rule"], "format");
    assert_untouched(&app);
}

#[tokio::test]
async fn api_keys_are_checked_and_bound_to_their_sources() {
    let app = TestApp::new();
    // the HubSpot key may not submit for another source nor use other routes
    let other_source = keyed(
        "POST",
        "/v1/leads?source=typeform",
        "application/json",
        &fixture("typeform-form-response.json"),
        HUBSPOT_KEY,
    );
    let reply = app.send(other_source).await;
    reply.assert_problem(401, "X-Api-Key");
    assert_eq!(reply.json["errors"][0]["rule"], "scope");
    let generic = keyed("POST", "/v1/leads", "application/json", &ana(), HUBSPOT_KEY);
    app.send(generic).await.assert_problem(401, "X-Api-Key");
    for (method, uri) in [
        ("POST", "/v1/events"),
        ("GET", "/v1/leads/lead_1"),
        ("DELETE", "/v1/leads/lead_1"),
    ] {
        app.send(keyed(method, uri, "application/json", b"{}", HUBSPOT_KEY))
            .await
            .assert_problem(401, "X-Api-Key");
    }
    // the tracker key may post events but not leads
    app.send(keyed(
        "POST",
        "/v1/leads",
        "application/json",
        &ana(),
        TRACKER_KEY,
    ))
    .await
    .assert_problem(401, "X-Api-Key");
    // an unknown key, and a key that is not text
    let reply = app
        .send(keyed(
            "POST",
            "/v1/leads",
            "application/json",
            &ana(),
            "key_admin_0123456789abcdeX",
        ))
        .await;
    reply.assert_problem(401, "X-Api-Key");
    assert_eq!(reply.json["errors"][0]["rule"], "valid");
    let mut binary = keyed("POST", "/v1/leads", "application/json", &ana(), ADMIN_KEY);
    binary.headers_mut().insert(
        "x-api-key",
        http::HeaderValue::from_bytes(&[0xff, 0xfe, b'k']).expect("obs-text header"),
    );
    app.send(binary).await.assert_problem(401, "X-Api-Key");
    assert_untouched(&app);
}

#[tokio::test]
async fn nothing_configured_refuses_everything() {
    let app = TestApp::with_auth(IngestAuth::new(None, Vec::new()));
    let reply = app
        .send(signed("POST", "/v1/leads", "application/json", &ana()))
        .await;
    reply.assert_problem(401, "X-Leadq-Signature");
    assert_eq!(reply.json["errors"][0]["rule"], "configured");
    app.send(keyed(
        "POST",
        "/v1/leads",
        "application/json",
        &ana(),
        ADMIN_KEY,
    ))
    .await
    .assert_problem(401, "X-Api-Key");
    assert_untouched(&app);
}

#[tokio::test]
async fn bodies_over_256_kib_are_413_without_being_buffered() {
    let app = TestApp::new();
    // exactly the limit is read (and refused later for what it says, not its size)
    let mut padded = br#"{"email":"ana@acme.io","note":""#.to_vec();
    padded.resize(MAX_BODY_BYTES - 2, b'x');
    padded.extend_from_slice(br#""}"#);
    assert_eq!(padded.len(), MAX_BODY_BYTES);
    let at_limit = app
        .send(keyed(
            "POST",
            "/v1/leads",
            "application/json",
            &padded,
            ADMIN_KEY,
        ))
        .await;
    assert_ne!(at_limit.status, 413, "{}", at_limit.json);

    let app = TestApp::new();
    let big = vec![b'a'; MAX_BODY_BYTES + 1];
    // signed: the body is read up to the limit and refused before the signature check
    app.send(signed("POST", "/v1/leads", "application/json", &big))
        .await
        .assert_problem(413, "body");
    app.send(keyed(
        "POST",
        "/v1/events",
        "application/json",
        &big,
        ADMIN_KEY,
    ))
    .await
    .assert_problem(413, "body");

    // an announced length over the limit is refused before reading; an endless stream
    // is cut at the limit (the stream below would never end if read to its end)
    let endless = futures_endless_body();
    let request = http::Request::builder()
        .method("POST")
        .uri("/v1/outcomes")
        .header("content-type", "application/json")
        .header("x-api-key", ADMIN_KEY)
        .body(endless)
        .expect("request");
    app.send(request).await.assert_problem(413, "body");
    let announced = http::Request::builder()
        .method("POST")
        .uri("/v1/leads")
        .header("content-type", "application/json")
        .header("content-length", "10000000")
        .header("x-api-key", ADMIN_KEY)
        .body(futures_endless_body())
        .expect("request");
    app.send(announced).await.assert_problem(413, "body");
    assert_untouched(&app);
}

/// A body that yields 64 KiB chunks forever.
fn futures_endless_body() -> Body {
    Body::new(Endless(axum::body::Bytes::from(vec![b' '; 64 * 1024])))
}

/// Yields the same chunk forever: reading it to its end would never return.
struct Endless(axum::body::Bytes);

impl http_body::Body for Endless {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(self.0.clone()))))
    }
}

#[tokio::test]
async fn wrong_content_types_are_415() {
    let app = TestApp::new();
    for content_type in ["text/plain", "multipart/form-data; boundary=x", ""] {
        app.send(signed("POST", "/v1/leads", content_type, &ana()))
            .await
            .assert_problem(415, "content-type");
    }
    // events and outcomes are JSON only
    let form = b"lead_id=lead_1&kind=page_view";
    app.send(signed(
        "POST",
        "/v1/events",
        "application/x-www-form-urlencoded",
        form,
    ))
    .await
    .assert_problem(415, "content-type");
    app.send(signed(
        "POST",
        "/v1/outcomes",
        "application/x-www-form-urlencoded",
        form,
    ))
    .await
    .assert_problem(415, "content-type");
    // Typeform webhooks are JSON
    app.send(signed(
        "POST",
        "/v1/leads?source=typeform",
        "application/x-www-form-urlencoded",
        b"email=ana%40acme.io",
    ))
    .await
    .assert_problem(415, "content-type");
    assert_untouched(&app);
}

#[tokio::test]
async fn invalid_email_source_and_timestamps_are_422_naming_the_field() {
    let app = TestApp::new();
    app.send(lead_json(&json!({"email": "ana at acme"})))
        .await
        .assert_problem(422, "email");
    app.send(signed(
        "POST",
        "/v1/leads",
        "application/x-www-form-urlencoded",
        b"work_email=ana%40&name=Ana",
    ))
    .await
    .assert_problem(422, "work_email");
    app.send(signed(
        "POST",
        "/v1/leads?source=marketo",
        "application/json",
        &ana(),
    ))
    .await
    .assert_problem(422, "source");
    let hubspot =
        json!({"submittedAt": "soon", "fields": [{"name": "email", "value": "ana@acme.io"}]});
    app.send(signed(
        "POST",
        "/v1/leads?source=hubspot",
        "application/json",
        hubspot.to_string().as_bytes(),
    ))
    .await
    .assert_problem(422, "submittedAt");
    let events = json!({"events": [
        {"lead_id": "lead_1", "kind": "page_view", "at": "2026-11-23T11:00:00Z"},
        {"lead_id": "lead_1", "kind": "page_view", "at": "yesterday"}
    ]});
    app.send(signed(
        "POST",
        "/v1/events",
        "application/json",
        events.to_string().as_bytes(),
    ))
    .await
    .assert_problem(422, "events[1].at");
    let outcome =
        json!({"lead_id": "lead_1", "status": "won", "closed_at": "2031-01-01T00:00:00Z"});
    app.send(signed(
        "POST",
        "/v1/outcomes",
        "application/json",
        outcome.to_string().as_bytes(),
    ))
    .await
    .assert_problem(422, "closed_at");
    let mut bad_key = lead_json(&json!({"email": "ana@acme.io"}));
    bad_key
        .headers_mut()
        .insert("idempotency-key", "has space".parse().expect("header"));
    app.send(bad_key)
        .await
        .assert_problem(422, "Idempotency-Key");
    // malformed JSON is 400, naming the body
    app.send(signed(
        "POST",
        "/v1/leads",
        "application/json",
        b"{\"email\":",
    ))
    .await
    .assert_problem(400, "body");
    assert_untouched(&app);
}

#[tokio::test]
async fn unknown_leads_refuse_the_whole_events_request() {
    let app = TestApp::new();
    let lead_id = app
        .send(lead_json(&json!({"email": "ana@acme.io"})))
        .await
        .lead_id();
    let writes = app.store.writes();
    let messages = app.queue.message_count();
    let events = json!({"events": [
        {"lead_id": lead_id, "kind": "page_view", "at": "2026-11-23T11:00:00Z"},
        {"lead_id": "lead_nobody", "kind": "page_view", "at": "2026-11-23T11:00:00Z"},
        {"email": "nobody@acme.io", "kind": "pricing_view", "at": "2026-11-23T11:00:00Z"}
    ]});
    let reply = app
        .send(signed(
            "POST",
            "/v1/events",
            "application/json",
            events.to_string().as_bytes(),
        ))
        .await;
    reply.assert_problem(422, "events[1].lead_id");
    reply.assert_problem(422, "events[2].email");
    assert_eq!(app.store.writes(), writes);
    assert_eq!(app.queue.message_count(), messages);
    assert_eq!(app.events(&lead_id).await.len(), 1);

    let outcome =
        json!({"email": "nobody@acme.io", "status": "lost", "closed_at": "2026-11-20T00:00:00Z"});
    app.send(signed(
        "POST",
        "/v1/outcomes",
        "application/json",
        outcome.to_string().as_bytes(),
    ))
    .await
    .assert_problem(422, "email");
    assert_eq!(app.store.writes(), writes);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = TestApp::new();
    for uri in ["/", "/v2/leads", "/v1/leads/a/b", "/v1/lead"] {
        app.send(signed("POST", uri, "application/json", &ana()))
            .await
            .assert_problem(404, "path");
    }
    for (method, uri) in [
        ("GET", "/v1/leads"),
        ("PUT", "/v1/leads"),
        ("GET", "/v1/events"),
        ("DELETE", "/v1/outcomes"),
        ("POST", "/v1/leads/lead_1"),
    ] {
        app.send(signed(method, uri, "application/json", &ana()))
            .await
            .assert_problem(405, "method");
    }
    // an unknown lead is 404 too, naming the id
    app.send(signed(
        "GET",
        "/v1/leads/lead_nobody",
        "application/json",
        b"",
    ))
    .await
    .assert_problem(404, "id");
    app.send(signed(
        "DELETE",
        "/v1/leads/lead_nobody",
        "application/json",
        b"",
    ))
    .await
    .assert_problem(404, "id");
    assert_eq!(app.queue.message_count(), 0);
    // the failed erase asked the store, nothing else was written
    assert_eq!(
        app.store.writes().keys().collect::<Vec<_>>(),
        vec![&"erase_lead"]
    );
}

#[tokio::test]
async fn store_failures_are_503_without_detail_and_a_retry_converges() {
    let app = TestApp::new();
    app.store.fail.store(true, Ordering::SeqCst);
    let reply = app.send(lead_json(&json!({"email": "ana@acme.io"}))).await;
    reply.assert_503();
    assert_untouched(&app);

    // the queue fails after the lead and its event were stored: 503, claim released
    app.store.fail.store(false, Ordering::SeqCst);
    app.queue.fail.store(true, Ordering::SeqCst);
    let with_key = || {
        let mut request = lead_json(&json!({"email": "ana@acme.io"}));
        request
            .headers_mut()
            .insert("idempotency-key", "k-1".parse().expect("header"));
        request
    };
    app.send(with_key()).await.assert_503();
    let writes = app.store.writes();
    assert_eq!(writes.get("create_lead"), Some(&1));
    assert_eq!(writes.get("release_idempotency"), Some(&1));

    // the retry finds the lead, adds no event, and queues the enrichment it missed
    app.queue.fail.store(false, Ordering::SeqCst);
    let retry = app.send(with_key()).await;
    assert_eq!(retry.status, 200, "{}", retry.json);
    let lead_id = retry.lead_id();
    assert_eq!(app.events(&lead_id).await.len(), 1);
    let enrich = app.queue.sent_to(Stage::Enrich);
    assert_eq!(enrich.len(), 1);
    assert_eq!(enrich[0].lead_id, lead_id);
}

trait Assert503 {
    fn assert_503(&self);
}

impl Assert503 for Reply {
    fn assert_503(&self) {
        assert_eq!(self.status, 503, "{}", self.json);
        assert_eq!(self.content_type(), "application/problem+json");
        let text = self.json.to_string();
        assert!(
            !text.contains("10.1.2.3") && !text.contains("secret-table") && !text.contains("sqs"),
            "leaks backend detail: {text}"
        );
    }
}
