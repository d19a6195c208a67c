//! Model versions over the HTTP API: list, show, roll back (scope `models` or `*`), with
//! problem+json refusals that change nothing.

#[allow(dead_code)]
mod model_support;

use axum::body::Body;
use http_body_util::BodyExt;
use leadq_pipeline::api::{ApiState, IngestAuth, router};
use leadq_pipeline::intake::FieldMapping;
use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::stages::{TrainSettings, train_model};
use leadq_pipeline::{FixedClock, LeadStore, RetryPolicy};
use model_support::{LEADS, rules_version, seed, start, training_time};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const MODELS_KEY: &str = "models-key-0123456789abcdef";
const ALL_KEY: &str = "all-key-0123456789abcdef";
const READ_KEY: &str = "read-key-0123456789abcdef";

struct App {
    store: Arc<MemoryStore>,
    router: axum::Router,
}

/// Rules `rules-v1` stored and active, outcomes seeded, a trained version promoted.
async fn app() -> (App, String) {
    let store = Arc::new(MemoryStore::new());
    store
        .put_model_version(&rules_version("rules-v1", start()))
        .await
        .expect("put");
    store.set_active_model("rules-v1").await.expect("activate");
    seed(store.as_ref(), LEADS, 1).await;
    let report = train_model(store.as_ref(), training_time(), &TrainSettings::default())
        .await
        .expect("train");
    assert!(report.promoted, "{}", report.reason);
    let keys = format!("admin:models:{MODELS_KEY},root:*:{ALL_KEY},reader:read:{READ_KEY}");
    let state = ApiState {
        store: store.clone(),
        queue: Arc::new(MemoryQueue::default()),
        clock: Arc::new(FixedClock::new(training_time())),
        auth: IngestAuth::from_config(None, &keys).expect("keys"),
        mapping: FieldMapping::default(),
        policy: RetryPolicy::default(),
    };
    let label = report.version.expect("a version");
    (
        App {
            store,
            router: router(state),
        },
        label,
    )
}

struct Reply {
    status: u16,
    content_type: String,
    json: Value,
}

async fn send(app: &App, method: &str, uri: &str, key: &str, body: &str) -> Reply {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("a request");
    let response = app
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("a response");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        content_type,
        json,
    }
}

async fn active(app: &App) -> String {
    app.store
        .active_model()
        .await
        .expect("active")
        .expect("set")
        .version
}

#[tokio::test]
async fn lists_and_shows_versions() {
    let (app, label) = app().await;
    let list = send(&app, "GET", "/v1/models", MODELS_KEY, "").await;
    assert_eq!(list.status, 200, "{}", list.json);
    assert_eq!(list.json["active"], label.as_str());
    let versions = list.json["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], label.as_str(), "newest first");
    assert_eq!(versions[0]["kind"], "trained");
    assert_eq!(versions[0]["active"], true);
    assert!(versions[0]["auc"].as_f64().is_some());
    assert_eq!(versions[1]["version"], "rules-v1");
    assert_eq!(versions[1]["kind"], "rules");
    assert_eq!(versions[1]["active"], false);

    let shown = send(&app, "GET", &format!("/v1/models/{label}"), ALL_KEY, "").await;
    assert_eq!(shown.status, 200, "{}", shown.json);
    assert_eq!(shown.json["version"], label.as_str());
    assert_eq!(shown.json["based_on"], "rules-v1");
    assert!(
        shown.json["reason"]
            .as_str()
            .expect("reason")
            .starts_with("promoted")
    );
    assert!(
        !shown.json["weight_changes"]
            .as_array()
            .expect("changes")
            .is_empty()
    );
    assert!(shown.json["calibration"]["features"].is_array());
    assert!(
        shown.json["model_toml"]
            .as_str()
            .expect("toml")
            .contains(&label)
    );
    assert!(shown.json["challenger"]["ece"].as_f64().is_some());
    assert!(shown.json["compared_with"]["auc"].as_f64().is_some());
}

#[tokio::test]
async fn unknown_versions_are_problems_naming_the_version() {
    let (app, label) = app().await;
    for (method, uri) in [
        ("GET", "/v1/models/rules-v9"),
        ("POST", "/v1/models/rules-v9/rollback"),
    ] {
        let reply = send(&app, method, uri, MODELS_KEY, "").await;
        assert_eq!(reply.status, 404, "{uri}: {}", reply.json);
        assert_eq!(reply.content_type, "application/problem+json");
        assert_eq!(reply.json["type"], "urn:leadq:problem:not-found");
        assert_eq!(reply.json["errors"][0]["field"], "version");
        assert!(
            reply.json["detail"]
                .as_str()
                .is_some_and(|d| d.contains("rules-v9")),
            "{}",
            reply.json
        );
    }
    assert_eq!(active(&app).await, label);
}

#[tokio::test]
async fn rollback_points_the_active_model_back_and_is_recorded() {
    let (app, label) = app().await;
    let body = json!({"reason": "conversion dropped after the release"}).to_string();
    let reply = send(
        &app,
        "POST",
        "/v1/models/rules-v1/rollback",
        MODELS_KEY,
        &body,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["from"], label.as_str());
    assert_eq!(reply.json["to"], "rules-v1");
    let record = reply.json["record"].as_str().expect("record").to_string();
    assert_eq!(active(&app).await, "rules-v1");

    let list = send(&app, "GET", "/v1/models", MODELS_KEY, "").await;
    assert_eq!(list.json["active"], "rules-v1");
    let versions = list.json["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 3);
    let recorded = versions
        .iter()
        .find(|v| v["version"] == record.as_str())
        .expect("recorded");
    assert_eq!(recorded["kind"], "rollback");
    let reason = recorded["reason"].as_str().expect("reason");
    assert!(reason.contains("conversion dropped"), "{reason}");
    assert!(reason.contains(&label), "{reason}");

    // again: already active, 409, nothing recorded
    let again = send(&app, "POST", "/v1/models/rules-v1/rollback", ALL_KEY, "").await;
    assert_eq!(again.status, 409, "{}", again.json);
    assert_eq!(again.content_type, "application/problem+json");
    // a rollback record is not a model
    let record_uri = format!("/v1/models/{record}/rollback");
    let not_model = send(&app, "POST", &record_uri, ALL_KEY, "").await;
    assert_eq!(not_model.status, 409, "{}", not_model.json);
    assert_eq!(
        app.store.list_model_versions().await.expect("list").len(),
        3
    );

    // and forward again to the trained version
    let forward = format!("/v1/models/{label}/rollback");
    let reply = send(&app, "POST", &forward, ALL_KEY, "").await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(active(&app).await, label);
}

#[tokio::test]
async fn refusals_change_nothing() {
    let (app, label) = app().await;
    let rollback = "/v1/models/rules-v1/rollback";
    for (key, body, status) in [
        (READ_KEY, "", 401),
        ("not-a-key-0123456789abcdef", "", 401),
        (MODELS_KEY, "{\"reason\": 7}", 422),
        (MODELS_KEY, "{\"why\": \"x\"}", 422),
        (MODELS_KEY, "not json", 422),
    ] {
        let reply = send(&app, "POST", rollback, key, body).await;
        assert_eq!(reply.status, status, "{key} {body}: {}", reply.json);
        assert_eq!(reply.content_type, "application/problem+json");
    }
    let long = json!({"reason": "x".repeat(501)}).to_string();
    let reply = send(&app, "POST", rollback, MODELS_KEY, &long).await;
    assert_eq!(reply.status, 422, "{}", reply.json);
    let listed = send(&app, "GET", "/v1/models", READ_KEY, "").await;
    assert_eq!(listed.status, 401, "read does not cover models");
    assert_eq!(active(&app).await, label);
    assert_eq!(
        app.store.list_model_versions().await.expect("list").len(),
        2
    );
}
