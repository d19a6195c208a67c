//! The HTTP API as one axum [`Router`]: a thin shell over the ingest stage functions and
//! the alert outbox.
//!
//! The ingest Lambda runs it with `lambda_http::run(router(state))` (Function URL and
//! API Gateway payloads); the local server with `axum::serve`. The router only
//! authenticates, reads a bounded body, calls [`crate::stages::ingest`] (or
//! [`crate::alerts`] for `/v1/alerts`) and renders the answer; refusals are
//! `application/problem+json` naming the field and the rule. Re-sending an alert only
//! puts it back in the outbox, so the API needs no notifier: the next delivery run
//! (the recalibrate job `alerts`, or the route stage) sends it.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/leads[?source=generic\|hubspot\|typeform]` | 201 `{lead_id}`, 200 for a known person or a replayed `Idempotency-Key`, 202 `{status: suppressed}` |
//! | `POST /v1/events` | 200 with what was stored per lead |
//! | `POST /v1/outcomes` | 200 `{lead_id, status}` |
//! | `GET /v1/leads/{id}` | 200 with the lead, its ScoreCard, the explanation of its calibrated probability (per rule, in log-odds) and its history |
//! | `DELETE /v1/leads/{id}` | 204 |
//! | `GET /v1/alerts?state=pending\|sent\|failed[&limit=N]` | 200 `{state, alerts}`, oldest first |
//! | `POST /v1/alerts/{id}/resend` | 200 with the alert, pending again; 409 unless it was failed |
//! | `GET /v1/models`, `GET /v1/models/{version}` | 200 with the stored model versions / one in full; 404 unknown |
//! | `POST /v1/models/{version}/rollback` | 200 `{from, to, record}`: the active model points at that older version; 404 unknown, 409 already active |
//!
//! Every request is logged in one span carrying its request id (from `x-request-id` or
//! `lambda-runtime-aws-request-id`, else generated) and, once known, its lead id; the
//! request id is echoed in the `x-request-id` response header. Emails are never logged.

mod alerts;
mod auth;
mod models;

pub use alerts::{AlertView, DEFAULT_ALERT_LIMIT, MAX_ALERT_LIMIT};
pub use models::{
    MAX_ROLLBACK_REASON_CHARS, VersionDetail, VersionList, VersionSummary, list_versions,
    show_version,
};

pub use auth::{
    API_KEY_HEADER, API_KEYS_ENV, Access, ApiKey, AuthConfigError, AuthError, Caller, IngestAuth,
    MIN_SECRET_CHARS, SECRET_ENV, Scope, parse_api_keys,
};

use crate::intake::{
    FieldMapping, IntakeError, MAX_BODY_BYTES, PROBLEM_CONTENT_TYPE, Problem, Source, Violation,
};
use crate::ports::{Clock, LeadStore, WorkQueue};
use crate::retry::RetryPolicy;
use crate::signature::SIGNATURE_HEADER;
use crate::stages::handlers::StagePorts;
use crate::stages::ingest::{
    IngestError, LeadRequest, erase_lead, ingest_events, ingest_lead, ingest_outcome, lead_view,
    loggable,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;
use tracing::Instrument;

/// The header carrying the sender's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// The header a request id is read from and echoed in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The header the Lambda runtime puts the invocation's request id in.
pub const LAMBDA_REQUEST_ID_HEADER: &str = "lambda-runtime-aws-request-id";

/// Longest request id taken from a header; longer ones are replaced by a generated one.
const MAX_REQUEST_ID_CHARS: usize = 128;

/// What every route needs: the ports, the credentials, the field mapping, the retries.
#[derive(Clone)]
pub struct ApiState {
    /// The lead store.
    pub store: Arc<dyn LeadStore>,
    /// The work queues (enrich and score).
    pub queue: Arc<dyn WorkQueue>,
    /// The time (signature tolerance, timestamps, idempotency expiry).
    pub clock: Arc<dyn Clock>,
    /// Who may call.
    pub auth: IngestAuth,
    /// Which form field fills which lead attribute.
    pub mapping: FieldMapping,
    /// Retries of conflicting writes.
    pub policy: RetryPolicy,
}

impl ApiState {
    fn ports(&self) -> StagePorts<'_> {
        StagePorts {
            store: self.store.as_ref(),
            queue: self.queue.as_ref(),
            clock: self.clock.as_ref(),
            policy: self.policy,
        }
    }
}

/// The request id of a request, set by the tracing middleware.
#[derive(Debug, Clone)]
struct RequestId(String);

/// The API router, ready for `lambda_http::run` or `axum::serve`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/leads", post(post_lead))
        .route(
            "/v1/leads/{id}",
            axum::routing::get(get_lead).delete(delete_lead),
        )
        .route("/v1/events", post(post_events))
        .route("/v1/outcomes", post(post_outcome))
        .route("/v1/alerts", axum::routing::get(alerts::get_alerts))
        .route("/v1/alerts/{id}/resend", post(alerts::post_resend))
        .route("/v1/models", axum::routing::get(models::get_models))
        .route(
            "/v1/models/{version}",
            axum::routing::get(models::get_model),
        )
        .route("/v1/models/{version}/rollback", post(models::post_rollback))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(trace_request))
        .with_state(Arc::new(state))
}

/// One span per request with its request id; the lead id is recorded into it later.
async fn trace_request(mut request: Request, next: Next) -> Response {
    let request_id = [REQUEST_ID_HEADER, LAMBDA_REQUEST_ID_HEADER]
        .iter()
        .filter_map(|name| request.headers().get(*name))
        .filter_map(|value| value.to_str().ok())
        .map(str::trim)
        .find(|id| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_CHARS
                && id.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    // the matched route, not the path: a path may hold anything a caller typed
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        route = %route,
        lead_id = tracing::field::Empty,
    );
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    async move {
        let _timer = crate::metrics::time_stage(crate::metrics::MeteredStage::Ingest);
        let mut response = next.run(request).await;
        let status = response.status().as_u16();
        if response.status().is_server_error() {
            tracing::warn!(status, "request failed");
        } else {
            tracing::info!(status, "request done");
        }
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        response
    }
    .instrument(span)
    .await
}

fn request_id(request: &Request) -> String {
    request
        .extensions()
        .get::<RequestId>()
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), |id| id.0.clone())
}

/// A JSON response.
fn json(status: u16, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status_code(status),
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "response did not serialise");
            problem(
                &IngestError::Store(crate::ports::StoreError::Corrupt {
                    operation: "render",
                    message: error.to_string(),
                })
                .to_problem(),
            )
        }
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An `application/problem+json` response.
fn problem(problem: &Problem) -> Response {
    crate::metrics::refused(problem.status);
    let mut response = (
        status_code(problem.status),
        [(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)],
        problem.to_json(),
    )
        .into_response();
    if problem.status == 401 {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("LeadqSignature, ApiKey"),
        );
    }
    response
}

fn ingest_error(error: &IngestError) -> Response {
    let cause = loggable(&error.to_string());
    match error {
        IngestError::Store(_) => tracing::error!(error = %cause, "lead store failed"),
        IngestError::Queue(_) => tracing::error!(error = %cause, "work queue failed"),
        refusal => tracing::info!(status = refusal.status(), "refused: {cause}"),
    }
    let mut response = problem(&error.to_problem());
    if let IngestError::InProgress { retry_after_secs } = error
        && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Authenticates, then reads the body (at most [`MAX_BODY_BYTES`]).
///
/// An API key is checked before the body is read; with no credential header nothing is
/// read at all. A signature needs the raw body, so it is read (bounded) and then checked.
async fn authenticate(
    state: &ApiState,
    request: Request,
    access: Access,
) -> Result<(HeaderMap, Bytes), Response> {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let refuse = |error: AuthError| {
        tracing::info!(status = 401, "refused: {error}");
        problem(&error.to_problem())
    };
    if let Some(value) = headers.get(API_KEY_HEADER) {
        // a header that is not text cannot be a key: refuse it like a wrong key
        let presented = value.to_str().unwrap_or_default();
        if let Err(error) = state.auth.check_key(presented, access) {
            return Err(refuse(error));
        }
        let body = read_body(&headers, body).await?;
        return Ok((headers, body));
    }
    let Some(signature) = headers.get(SIGNATURE_HEADER) else {
        return Err(refuse(AuthError::Missing));
    };
    let signature = signature.to_str().unwrap_or_default().to_owned();
    let body = read_body(&headers, body).await?;
    let now = state.clock.now().timestamp();
    state
        .auth
        .check_signature(&signature, &body, now)
        .map_err(refuse)?;
    Ok((headers, body))
}

/// Reads at most [`MAX_BODY_BYTES`]; a larger body (announced or found) is 413 and
/// never buffered whole.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let too_large = |size: usize| {
        let refusal = IngestError::from(IntakeError::BodyTooLarge {
            size,
            limit: MAX_BODY_BYTES,
        });
        ingest_error(&refusal)
    };
    let announced = header_text(headers, header::CONTENT_LENGTH.as_str())
        .and_then(|length| length.trim().parse::<u64>().ok());
    if let Some(length) = announced
        && length > MAX_BODY_BYTES as u64
    {
        return Err(too_large(usize::try_from(length).unwrap_or(usize::MAX)));
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(too_large(MAX_BODY_BYTES + 1))
        }
        Err(error) => {
            let error = loggable(&error.to_string());
            tracing::info!(%error, "request body could not be read");
            let refusal = IntakeError::MalformedBody {
                format: "request body",
                detail: "the body could not be read to its end".into(),
            };
            Err(ingest_error(&refusal.into()))
        }
    }
}

/// The `source` query parameter; `generic` when absent.
fn source_param(request: &Request) -> String {
    request
        .uri()
        .query()
        .and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "source")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_else(|| Source::Generic.name().to_owned())
}

async fn post_lead(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    let trace_id = request_id(&request);
    let source = source_param(&request);
    let access = Access::SubmitLead(Source::from_name(&source));
    let (headers, body) = match authenticate(&state, request, access).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let lead_request = LeadRequest {
        source: &source,
        content_type: header_text(&headers, header::CONTENT_TYPE.as_str()),
        body: &body,
        idempotency_key: headers
            .get(IDEMPOTENCY_KEY_HEADER)
            .map(|value| value.to_str().unwrap_or("\u{fffd}")),
        trace_id: &trace_id,
    };
    match ingest_lead(&state.ports(), &state.mapping, &lead_request).await {
        Ok(accepted) => json(accepted.status(), &accepted.body()),
        Err(error) => ingest_error(&error),
    }
}

async fn post_events(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    let trace_id = request_id(&request);
    let (headers, body) = match authenticate(&state, request, Access::Events).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let content_type = header_text(&headers, header::CONTENT_TYPE.as_str());
    match ingest_events(&state.ports(), content_type, &body, &trace_id).await {
        Ok(accepted) => json(200, &accepted),
        Err(error) => ingest_error(&error),
    }
}

async fn post_outcome(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    let trace_id = request_id(&request);
    let (headers, body) = match authenticate(&state, request, Access::Outcomes).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let content_type = header_text(&headers, header::CONTENT_TYPE.as_str());
    match ingest_outcome(&state.ports(), content_type, &body, &trace_id).await {
        Ok(accepted) => json(200, &accepted),
        Err(error) => ingest_error(&error),
    }
}

async fn get_lead(
    State(state): State<Arc<ApiState>>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Response {
    if let Err(response) = authenticate(&state, request, Access::Read).await {
        return response;
    }
    let Ok(Path(lead_id)) = id else {
        return ingest_error(&IngestError::LeadNotFound {
            lead_id: String::new(),
        });
    };
    tracing::Span::current().record("lead_id", lead_id.as_str());
    match lead_view(state.store.as_ref(), &lead_id).await {
        Ok(view) => json(200, &view),
        Err(error) => ingest_error(&error),
    }
}

async fn delete_lead(
    State(state): State<Arc<ApiState>>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Response {
    if let Err(response) = authenticate(&state, request, Access::Erase).await {
        return response;
    }
    let Ok(Path(lead_id)) = id else {
        return ingest_error(&IngestError::LeadNotFound {
            lead_id: String::new(),
        });
    };
    tracing::Span::current().record("lead_id", lead_id.as_str());
    match erase_lead(&state.ports(), &lead_id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => ingest_error(&error),
    }
}

async fn not_found() -> Response {
    problem(&Problem {
        problem_type: "urn:leadq:problem:not-found".into(),
        title: "Not found".into(),
        status: 404,
        detail: "no such route; see /v1/leads, /v1/events, /v1/outcomes, /v1/alerts".into(),
        errors: vec![Violation::new("path", "route", "no such route")],
    })
}

async fn method_not_allowed() -> Response {
    problem(&Problem {
        problem_type: "urn:leadq:problem:method-not-allowed".into(),
        title: "Method not allowed".into(),
        status: 405,
        detail: "this route does not accept this method".into(),
        errors: vec![Violation::new(
            "method",
            "allowed",
            "method not allowed here",
        )],
    })
}
