//! The alert outbox over HTTP: list alerts by state, put a failed one back in the outbox.

use super::{ApiState, authenticate, json, problem};
use crate::alerts::{AlertError, list_alerts, resend_alert, state_from_name, state_name};
use crate::intake::{Problem, Violation};
use crate::ports::Alert;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

use super::auth::Access;

/// Alerts listed when the request names no `limit`.
pub const DEFAULT_ALERT_LIMIT: usize = 100;

/// Most alerts one request may list.
pub const MAX_ALERT_LIMIT: usize = 1000;

/// Longest alert id echoed back in an error.
const MAX_ALERT_ID_CHARS: usize = 128;

/// An alert as the API shows it: its state and delivery record, not its payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    /// The alert's id (its idempotency key).
    pub id: String,
    /// The lead alerted about.
    pub lead_id: String,
    /// The hook it goes to.
    pub hook: String,
    /// `pending`, `sent` or `failed`.
    pub state: &'static str,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (meaningful while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the alert was created.
    pub created_at: DateTime<Utc>,
}

impl From<&Alert> for AlertView {
    fn from(alert: &Alert) -> Self {
        AlertView {
            id: alert.id.clone(),
            lead_id: alert.lead_id.clone(),
            hook: alert.hook.clone(),
            state: state_name(alert.state),
            attempts: alert.attempts,
            next_attempt_at: alert.next_attempt_at,
            last_error: alert.last_error.clone(),
            created_at: alert.created_at,
        }
    }
}

#[derive(Serialize)]
struct AlertList {
    state: &'static str,
    alerts: Vec<AlertView>,
}

fn bad_query(field: &str, rule: &str, message: String) -> Response {
    tracing::info!(status = 400, "refused: {message}");
    problem(&Problem {
        problem_type: "urn:leadq:problem:invalid-query".into(),
        title: "Invalid query".into(),
        status: 400,
        detail: message.clone(),
        errors: vec![Violation::new(field, rule, message)],
    })
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_ALERT_ID_CHARS).collect()
}

/// The problem an outbox error answers with; store failures say nothing about the store.
fn alert_problem(error: &AlertError) -> Response {
    let (status, problem_type, title, field, rule, detail) = match error {
        AlertError::NotFound { alert_id } => (
            404,
            "not-found",
            "Not found",
            "id",
            "exists",
            format!("alert {} not found", clip(alert_id)),
        ),
        AlertError::NotFailed { alert_id, state } => (
            409,
            "not-failed",
            "Alert not failed",
            "id",
            "failed",
            format!(
                "alert {} is {state}: only a failed alert can be re-sent",
                clip(alert_id)
            ),
        ),
        AlertError::Busy { alert_id } => (
            409,
            "in-progress",
            "Alert changed meanwhile",
            "id",
            "in_progress",
            format!(
                "alert {} was changed by another request at the same time; retry",
                clip(alert_id)
            ),
        ),
        AlertError::Store(store) => {
            tracing::error!(error = %super::loggable(&store.to_string()), "lead store failed");
            return problem(&Problem {
                problem_type: "urn:leadq:problem:unavailable".into(),
                title: "Service unavailable".into(),
                status: 503,
                detail: "storage is unavailable; nothing was changed, retry the same request"
                    .into(),
                errors: Vec::new(),
            });
        }
    };
    tracing::info!(status, "refused: {detail}");
    let mut response = problem(&Problem {
        problem_type: format!("urn:leadq:problem:{problem_type}"),
        title: title.into(),
        status,
        detail: detail.clone(),
        errors: vec![Violation::new(field, rule, detail)],
    });
    if matches!(error, AlertError::Busy { .. }) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// `GET /v1/alerts?state=pending|sent|failed[&limit=N]`: the alerts in that state,
/// oldest first.
pub(super) async fn get_alerts(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    let query = request.uri().query().unwrap_or_default().to_owned();
    if let Err(response) = authenticate(&state, request, Access::ListAlerts).await {
        return response;
    }
    let mut wanted = None;
    let mut limit = DEFAULT_ALERT_LIMIT;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "state" => match state_from_name(&value) {
                Some(parsed) => wanted = Some(parsed),
                None => {
                    return bad_query(
                        "state",
                        "one_of",
                        "state must be one of pending, sent, failed".into(),
                    );
                }
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_ALERT_LIMIT).contains(&n) => limit = n,
                _ => {
                    return bad_query(
                        "limit",
                        "range",
                        format!("limit must be a whole number from 1 to {MAX_ALERT_LIMIT}"),
                    );
                }
            },
            other => {
                return bad_query(
                    other,
                    "unknown",
                    format!(
                        "unknown query parameter `{}`; use state and limit",
                        clip(other)
                    ),
                );
            }
        }
    }
    let Some(wanted) = wanted else {
        return bad_query(
            "state",
            "required",
            "state is required: pending, sent or failed".into(),
        );
    };
    match list_alerts(state.store.as_ref(), wanted, limit).await {
        Ok(alerts) => json(
            200,
            &AlertList {
                state: state_name(wanted),
                alerts: alerts.iter().map(AlertView::from).collect(),
            },
        ),
        Err(error) => alert_problem(&error),
    }
}

/// `POST /v1/alerts/{id}/resend`: a failed alert back to pending, attempts reset; the
/// next delivery run sends it.
pub(super) async fn post_resend(
    State(state): State<Arc<ApiState>>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Response {
    if let Err(response) = authenticate(&state, request, Access::ResendAlert).await {
        return response;
    }
    let Ok(Path(alert_id)) = id else {
        return alert_problem(&AlertError::NotFound {
            alert_id: String::new(),
        });
    };
    let now = state.clock.now();
    match resend_alert(state.store.as_ref(), &alert_id, now).await {
        Ok(alert) => json(200, &AlertView::from(&alert)),
        Err(error) => alert_problem(&error),
    }
}
