//! The ingest Lambda: the HTTP API of `leadq_pipeline::api` behind a Function URL (or an
//! API Gateway HTTP API), run by `lambda_http`.
//!
//! The router does all the work (authentication, bounded body, intake, idempotent store,
//! problem bodies); this crate only adapts it to Lambda: the invocation's request id
//! becomes the API's request id (so the `requestId` of the log lines, the `x-request-id`
//! response header and the trace id of the queued work are one id), and the field mapping
//! and credentials come from the environment. `main.rs` only wires.
//!
//! | variable | meaning |
//! |---|---|
//! | `LEADQ_INGEST_SECRET` | the signing secret (at least 16 characters) |
//! | `LEADQ_INGEST_SECRET_PARAM` | in AWS: the SSM SecureString parameter holding the secret, read once at cold start (`LEADQ_INGEST_SECRET`, when set, wins) |
//! | `LEADQ_API_KEYS` | per-source API keys, `name:scopes:key,...` (see `IngestAuth::from_env`) |
//! | `LEADQ_FIELD_MAPPING_FILE` | optional: a TOML field mapping shipped with the function |
//! | the store's and queues' variables | see `leadq_aws::config` |

use lambda_http::ext::RequestExt;
use lambda_http::http::HeaderValue;
use leadq_pipeline::api::{ApiState, LAMBDA_REQUEST_ID_HEADER, router};
use leadq_pipeline::intake::FieldMapping;
use std::path::PathBuf;
use tower::ServiceExt;
use tower::util::{MapRequest, MapResponse};

#[cfg(test)]
mod fixtures;

/// The variable naming the SSM parameter that holds the signing secret.
pub const SECRET_PARAM_VAR: &str = "LEADQ_INGEST_SECRET_PARAM";

/// Why the signing secret could not be read from SSM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// SSM refused or failed the read (no such parameter, no permission, unreachable).
    #[error("{SECRET_PARAM_VAR}={name}: the SSM parameter could not be read: {message}")]
    Ssm {
        /// The parameter.
        name: String,
        /// What SSM said.
        message: String,
    },
    /// The parameter exists but holds nothing.
    #[error("{SECRET_PARAM_VAR}={name}: the SSM parameter is empty")]
    Empty {
        /// The parameter.
        name: String,
    },
}

/// The signing secret: `LEADQ_INGEST_SECRET` if set, else the value of the SSM parameter
/// named by [`SECRET_PARAM_VAR`] (decrypted), else none (API keys only).
///
/// Variables are read through `lookup`; the SSM client is built by `ssm`, and SSM asked,
/// only when the parameter is the source (a client costs a cold start about 0.2 ms).
pub async fn resolve_ingest_secret(
    lookup: impl Fn(&str) -> Option<String>,
    ssm: impl FnOnce() -> aws_sdk_ssm::Client,
) -> Result<Option<String>, SecretError> {
    let set = |var: &str| lookup(var).filter(|value| !value.trim().is_empty());
    if let Some(secret) = set(leadq_pipeline::api::SECRET_ENV) {
        return Ok(Some(secret));
    }
    let Some(name) = set(SECRET_PARAM_VAR).map(|name| name.trim().to_string()) else {
        return Ok(None);
    };
    let output = ssm()
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|error| SecretError::Ssm {
            name: name.clone(),
            // the service's own message (ParameterNotFound, AccessDenied), not the
            // SDK's generic "service error"
            message: aws_sdk_ssm::error::DisplayErrorContext(&error).to_string(),
        })?;
    match output.parameter.and_then(|parameter| parameter.value) {
        Some(value) if !value.is_empty() => Ok(Some(value)),
        _ => Err(SecretError::Empty { name }),
    }
}

/// The variable naming the field mapping file.
pub const FIELD_MAPPING_FILE_VAR: &str = "LEADQ_FIELD_MAPPING_FILE";

/// Why the field mapping could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum MappingLoadError {
    /// The file could not be read.
    #[error("{FIELD_MAPPING_FILE_VAR}={path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        error: std::io::Error,
    },
    /// The file is not a valid field mapping.
    #[error("{FIELD_MAPPING_FILE_VAR}={path}: {error}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The field mapping named by [`FIELD_MAPPING_FILE_VAR`] (read through `lookup`); the
/// default mapping when unset.
pub fn mapping_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<FieldMapping, MappingLoadError> {
    let Some(path) = lookup(FIELD_MAPPING_FILE_VAR).filter(|p| !p.trim().is_empty()) else {
        return Ok(FieldMapping::default());
    };
    let path = PathBuf::from(path.trim());
    let text = std::fs::read_to_string(&path).map_err(|error| MappingLoadError::Read {
        path: path.clone(),
        error,
    })?;
    FieldMapping::from_toml(&text).map_err(|error| MappingLoadError::Parse {
        path,
        error: Box::new(error),
    })
}

/// Puts the Lambda invocation's request id where the API reads it (replacing whatever a
/// caller sent under that name); requests outside Lambda pass unchanged.
pub fn with_lambda_request_id(mut request: lambda_http::Request) -> lambda_http::Request {
    let id = request
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .and_then(|id| HeaderValue::from_str(&id).ok());
    if let Some(id) = id {
        request.headers_mut().insert(LAMBDA_REQUEST_ID_HEADER, id);
    }
    request
}

/// Flushes the invocation's metrics once its response is ready (the router's bodies are
/// complete by then), before Lambda can freeze the process; the response is unchanged.
pub fn flush_metrics(response: axum::response::Response) -> axum::response::Response {
    leadq_aws::metrics::flush();
    response
}

/// The ingest service: the API router behind [`with_lambda_request_id`], then
/// [`flush_metrics`].
pub type IngestService = MapResponse<
    MapRequest<axum::Router, fn(lambda_http::Request) -> lambda_http::Request>,
    fn(axum::response::Response) -> axum::response::Response,
>;

/// The service `lambda_http` runs.
pub fn service(state: ApiState) -> IngestService {
    router(state)
        .map_request(with_lambda_request_id as fn(_) -> _)
        .map_response(flush_metrics as fn(_) -> _)
}

/// Serves invocations until the Lambda runtime stops the process.
pub async fn run(state: ApiState) -> Result<(), lambda_http::Error> {
    lambda_http::run(service(state)).await
}

#[cfg(test)]
mod tests {
    use super::fixtures::{
        FIXTURE_SECRET, FixtureSpec, SIGNED_AT, Signing, fixture_specs, function_url_request,
        oversized_body,
    };
    use super::*;
    use chrono::{DateTime, TimeDelta, Utc};
    use http_body_util::BodyExt;
    use lambda_http::Context;
    use leadq_pipeline::api::IngestAuth;
    use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
    use leadq_pipeline::{
        Envelope, FixedClock, LeadRecord, LeadStore, RetryPolicy, Stage, WorkQueue,
    };
    use leadq_scoring::Lead;
    use serde_json::Value;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn signed_at() -> DateTime<Utc> {
        DateTime::from_timestamp(SIGNED_AT, 0).unwrap_or_default()
    }

    fn body_of(spec: &FixtureSpec) -> Vec<u8> {
        match spec.payload {
            Some(name) => {
                let path = root().join("events/payloads").join(name);
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            }
            None => oversized_body(),
        }
    }

    fn fixture_text(spec: &FixtureSpec) -> String {
        let path = root().join("events/http").join(spec.file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    struct App {
        store: Arc<MemoryStore>,
        queue: Arc<MemoryQueue>,
        clock: Arc<FixedClock>,
        service: IngestService,
    }

    /// The API over in-memory ports, the clock at the fixtures' signing time, and the lead
    /// the events and outcome fixtures name by id.
    async fn app() -> App {
        let store = Arc::new(MemoryStore::new());
        let known = Lead {
            id: "lead_7f3c2a91".into(),
            ..Lead::default()
        };
        store
            .create_lead(&LeadRecord::new(known, None, signed_at()))
            .await
            .expect("store lead");
        let queue = Arc::new(MemoryQueue::default());
        let clock = Arc::new(FixedClock::new(signed_at()));
        let state = ApiState {
            store: store.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            auth: IngestAuth::new(Some(FIXTURE_SECRET.into()), Vec::new()),
            mapping: FieldMapping::default(),
            policy: RetryPolicy::default(),
        };
        App {
            store,
            queue,
            clock,
            service: service(state),
        }
    }

    struct Answer {
        status: u16,
        content_type: String,
        request_id: String,
        json: Value,
    }

    /// Replays a fixture the way `lambda_http` hands it over: parsed from the event JSON,
    /// with the invocation's context in the extensions.
    async fn replay(app: &App, spec: &FixtureSpec) -> Answer {
        let request = lambda_http::request::from_str(&fixture_text(spec))
            .unwrap_or_else(|e| panic!("{}: not a Function URL event: {e}", spec.file));
        let mut context = Context::default();
        context.request_id = spec.request_id.into();
        let request = request.with_lambda_context(context);
        let response = app
            .service
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let (status, content_type, request_id) = (
            response.status().as_u16(),
            header("content-type"),
            header("x-request-id"),
        );
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            request_id,
            json,
        }
    }

    async fn queued(queue: &MemoryQueue, stage: Stage) -> Vec<Envelope> {
        let deliveries = queue
            .receive(stage, 100, Duration::from_secs(30))
            .await
            .expect("receive");
        for delivery in &deliveries {
            queue.ack(stage, &delivery.receipt).await.expect("ack");
        }
        deliveries
            .iter()
            .map(|d| Envelope::parse(&d.body).expect("envelope"))
            .collect()
    }

    #[test]
    fn fixtures_are_what_the_generator_writes() {
        for spec in fixture_specs() {
            let committed: Value =
                serde_json::from_str(&fixture_text(&spec)).expect("fixture is JSON");
            assert_eq!(
                committed,
                function_url_request(&spec, &body_of(&spec)),
                "{} is stale: run `cargo run -p leadq-ingest --example sign_fixtures`",
                spec.file
            );
        }
    }

    #[tokio::test]
    async fn every_fixture_gets_its_documented_answer() {
        let app = app().await;
        for spec in fixture_specs() {
            let answer = replay(&app, &spec).await;
            assert_eq!(answer.status, spec.status, "{}: {}", spec.file, answer.json);
            assert_eq!(answer.request_id, spec.request_id, "{}", spec.file);
            match spec.problem_field {
                Some(field) => {
                    assert_eq!(
                        answer.content_type, "application/problem+json",
                        "{}",
                        spec.file
                    );
                    assert_eq!(answer.json["status"], spec.status, "{}", spec.file);
                    assert_eq!(
                        answer.json["errors"][0]["field"], field,
                        "{}: {}",
                        spec.file, answer.json
                    );
                }
                None if spec.status == 201 => {
                    let lead_id = answer.json["lead_id"].as_str().unwrap_or_default();
                    let stored = app.store.get_lead(lead_id).await.expect("get");
                    assert!(stored.is_some(), "{}: lead {lead_id} stored", spec.file);
                }
                None => {}
            }
        }
        // four new leads went to enrichment, each under the id of the request that made it
        let mut traces: Vec<String> = queued(&app.queue, Stage::Enrich)
            .await
            .into_iter()
            .map(|e| e.trace_id)
            .collect();
        traces.sort();
        let mut created: Vec<String> = fixture_specs()
            .iter()
            .filter(|s| s.status == 201)
            .map(|s| s.request_id.to_string())
            .collect();
        created.sort();
        assert_eq!(traces, created);
    }

    #[tokio::test]
    async fn a_refused_fixture_stores_nothing() {
        let app = app().await;
        let specs = fixture_specs();
        for spec in specs.iter().filter(|s| s.problem_field.is_some()) {
            replay(&app, spec).await;
        }
        assert!(queued(&app.queue, Stage::Enrich).await.is_empty());
        // the refused generic submissions did not store their person: it is new now
        let valid = specs
            .iter()
            .find(|s| s.file == "leads-generic-signed.json")
            .expect("valid fixture");
        assert_eq!(replay(&app, valid).await.status, 201);
    }

    #[tokio::test]
    async fn a_redelivered_submission_finds_the_same_lead() {
        let app = app().await;
        let spec = fixture_specs()
            .into_iter()
            .find(|s| s.file == "leads-hubspot-signed.json")
            .expect("fixture");
        let first = replay(&app, &spec).await;
        let lead_id = first.json["lead_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let events = app.store.list_events(&lead_id).await.expect("events");
        app.clock.set(signed_at() + TimeDelta::seconds(30));
        let again = replay(&app, &spec).await;
        assert_eq!((first.status, again.status), (201, 200));
        assert_eq!(again.json["lead_id"], lead_id.as_str());
        // the form submission is one event however often it is delivered
        assert_eq!(
            app.store.list_events(&lead_id).await.expect("events"),
            events
        );
    }

    #[tokio::test]
    async fn a_signature_older_than_five_minutes_is_refused() {
        let app = app().await;
        let spec = fixture_specs()
            .into_iter()
            .find(|s| s.signing == Signing::Signed && s.status == 201)
            .expect("fixture");
        app.clock.set(signed_at() + TimeDelta::minutes(6));
        let answer = replay(&app, &spec).await;
        assert_eq!(answer.status, 401, "{}", answer.json);
        assert!(queued(&app.queue, Stage::Enrich).await.is_empty());
    }

    #[test]
    fn the_lambda_request_id_replaces_a_callers() {
        let mut request = lambda_http::Request::default();
        request.headers_mut().insert(
            LAMBDA_REQUEST_ID_HEADER,
            HeaderValue::from_static("spoofed"),
        );
        let untouched = with_lambda_request_id(request);
        assert_eq!(untouched.headers()[LAMBDA_REQUEST_ID_HEADER], "spoofed");
        let mut context = Context::default();
        context.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into();
        let request = with_lambda_request_id(untouched.with_lambda_context(context));
        assert_eq!(
            request.headers()[LAMBDA_REQUEST_ID_HEADER],
            "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
        );
    }

    #[test]
    fn loads_the_field_mapping_named_by_the_environment() {
        let dir = std::env::temp_dir().join(format!("leadq-ingest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "fields = [").expect("write");
        let lookup = |path: &Path| {
            let path = path.display().to_string();
            move |var: &str| (var == FIELD_MAPPING_FILE_VAR).then(|| path.clone())
        };
        let err = mapping_from_lookup(lookup(&bad)).expect_err("not TOML");
        assert!(matches!(err, MappingLoadError::Parse { .. }), "{err}");
        assert!(err.to_string().contains(FIELD_MAPPING_FILE_VAR), "{err}");
        let err = mapping_from_lookup(lookup(&dir.join("missing.toml"))).expect_err("no file");
        assert!(matches!(err, MappingLoadError::Read { .. }), "{err}");
        assert!(
            mapping_from_lookup(|_| None).is_ok(),
            "unset: the default mapping"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
