//! The signing secret from an SSM SecureString, on the emulator (moto emulates SSM).
//!
//! Needs `moto_server` like every emulator test: missing, the test fails and says how to
//! install it; it never skips.

#[allow(dead_code)] // the table also serves the generator
#[path = "../src/fixtures.rs"]
mod fixtures;

use chrono::DateTime;
use fixtures::{FIXTURE_SECRET, SIGNED_AT, fixture_specs};
use leadq_ingest::{SECRET_PARAM_VAR, SecretError, resolve_ingest_secret, service};
use leadq_pipeline::api::{ApiState, IngestAuth, SECRET_ENV};
use leadq_pipeline::intake::FieldMapping;
use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::{FixedClock, RetryPolicy};
use leadq_tests::emulator::{Moto, put_secure_string, unique_name};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

fn ssm() -> aws_sdk_ssm::Client {
    Moto::shared().ssm()
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |var| map.get(var).cloned()
}

async fn put_secret(client: &aws_sdk_ssm::Client, value: &str) -> String {
    let name = format!("/leadq/{}/ingest-secret", unique_name("ssm"));
    put_secure_string(client, &name, value).await;
    name
}

#[tokio::test]
async fn the_secret_comes_from_the_secure_string_and_verifies_a_signed_request() {
    let client = ssm();
    let name = put_secret(&client, FIXTURE_SECRET).await;
    let secret = resolve_ingest_secret(env(&[(SECRET_PARAM_VAR, &name)]), || client.clone())
        .await
        .expect("read from SSM");
    // decrypted: without WithDecryption the emulator, like SSM, hands back ciphertext
    assert_eq!(secret.as_deref(), Some(FIXTURE_SECRET));

    // the resolved secret is what the API verifies signatures with
    let at = DateTime::from_timestamp(SIGNED_AT, 0).unwrap_or_default();
    let app = service(ApiState {
        store: Arc::new(MemoryStore::new()),
        queue: Arc::new(MemoryQueue::default()),
        clock: Arc::new(FixedClock::new(at)),
        auth: IngestAuth::from_config(secret, "").expect("a strong secret"),
        mapping: FieldMapping::default(),
        policy: RetryPolicy::default(),
    });
    let spec = fixture_specs()
        .into_iter()
        .find(|s| s.file == "leads-generic-signed.json")
        .expect("fixture");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/http");
    let text = std::fs::read_to_string(root.join(spec.file)).expect("fixture");
    let request = lambda_http::request::from_str(&text).expect("a Function URL event");
    let response = app
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    assert_eq!(response.status().as_u16(), 201);
}

#[tokio::test]
async fn the_environment_wins_and_ssm_is_not_asked() {
    // a parameter that does not exist: asking SSM would fail; and no client is even built
    let missing = format!("/leadq/{}/absent", unique_name("ssm"));
    let no_client = || -> aws_sdk_ssm::Client { panic!("an SSM client was built") };
    let secret = resolve_ingest_secret(
        env(&[
            (SECRET_ENV, "from-the-environment-0123"),
            (SECRET_PARAM_VAR, &missing),
        ]),
        no_client,
    )
    .await
    .expect("no SSM call");
    assert_eq!(secret.as_deref(), Some("from-the-environment-0123"));

    let none = resolve_ingest_secret(env(&[(SECRET_PARAM_VAR, " ")]), no_client)
        .await
        .expect("nothing configured");
    assert_eq!(none, None, "API keys only");
}

#[tokio::test]
async fn a_missing_parameter_is_a_clear_error() {
    let client = ssm();
    let missing = format!("/leadq/{}/absent", unique_name("ssm"));
    let err = resolve_ingest_secret(env(&[(SECRET_PARAM_VAR, &missing)]), || client.clone())
        .await
        .expect_err("no such parameter");
    let SecretError::Ssm { name, message } = &err else {
        panic!("expected an SSM error, got {err:?}");
    };
    assert_eq!(name, &missing);
    assert!(message.contains("ParameterNotFound"), "{message}");
    assert!(err.to_string().starts_with(SECRET_PARAM_VAR), "{err}");
}
