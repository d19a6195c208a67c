//! `GET /alerts`: the alert outbox by state; `POST /alerts/{id}/resend` puts a failed
//! alert back in it through the same outbox function as `POST /v1/alerts/{id}/resend`.

use super::html::{Nav, esc, path_segment, when};
use super::lead::lead_link;
use super::{DashboardState, error_page, ok_page, same_origin, store_failed};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use leadq_pipeline::alerts::{AlertError, list_alerts, resend_alert};
use leadq_pipeline::{Alert, AlertState};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

/// Most alerts listed per state.
const ALERTS_PER_STATE: usize = 200;

/// What the page says after a re-send, from the redirect's `?done=`.
fn notice(done: &str) -> Option<&'static str> {
    match done {
        "resent" => Some("The alert is back in the outbox; the next delivery run sends it."),
        "not_failed" => {
            Some("That alert is not failed any more (sent, or already re-sent): nothing changed.")
        }
        "not_found" => {
            Some("That alert no longer exists (its lead may have been erased): nothing changed.")
        }
        "busy" => Some("The alert was changed at the same moment by something else; try again."),
        _ => None,
    }
}

/// `GET /alerts[?done=...]`.
pub async fn alerts_page(
    State(state): State<Arc<DashboardState>>,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Response {
    let done = query
        .ok()
        .and_then(|Query(q)| q.get("done").and_then(|d| notice(d)));
    let mut sections = Vec::new();
    for wanted in [AlertState::Failed, AlertState::Pending, AlertState::Sent] {
        match list_alerts(&state.store, wanted, ALERTS_PER_STATE).await {
            Ok(alerts) => sections.push((wanted, alerts)),
            Err(e) => return store_failed("alerts_in_state", &e),
        }
    }
    let ids: Vec<String> = sections
        .iter()
        .flat_map(|(_, alerts)| alerts.iter().map(|a| a.lead_id.clone()))
        .collect();
    let names = match state.store.lead_names(&ids).await {
        Ok(names) => names,
        Err(e) => return store_failed("lead_names", &e),
    };
    let now = state.clock.now();
    let mut body = String::new();
    body.push_str(
        "<h1>Alerts</h1><p class=\"lede\">The outbox of sales alerts (Slack, webhooks). \
         Pending alerts are sent by the next delivery run; failed ones gave up after their \
         last attempt and can be re-sent.</p>",
    );
    if let Some(done) = done {
        let _ = write!(body, "<p class=\"notice\">{}</p>", esc(done));
    }
    if sections.iter().all(|(_, alerts)| alerts.is_empty()) {
        body.push_str(
            "<div class=\"empty\">No alerts yet. Alerts are sent when a lead's verdict matches a \
             subscription in alerts.toml (in the <code>--config</code> directory of \
             <code>leadq serve</code>).</div>",
        );
        return ok_page("Alerts", Nav::Alerts, &body);
    }
    for (wanted, alerts) in &sections {
        let (title, empty) = match wanted {
            AlertState::Failed => ("Failed", "No failed alert."),
            AlertState::Pending => ("Pending", "Nothing waiting to be sent."),
            AlertState::Sent => ("Sent", "Nothing sent yet."),
        };
        let _ = write!(body, "<h2>{title} ({})</h2>", alerts.len());
        if alerts.is_empty() {
            let _ = write!(body, "<p class=\"muted\">{empty}</p>");
            continue;
        }
        if alerts.len() == ALERTS_PER_STATE {
            let _ = write!(
                body,
                "<p class=\"muted\">The oldest {ALERTS_PER_STATE} are listed.</p>"
            );
        }
        body.push_str(
            "<table><tr><th>created</th><th>lead</th><th>hook</th><th class=\"num\">attempts</th>\
             <th>next attempt</th><th>last error</th><th></th></tr>",
        );
        for alert in alerts {
            row(&mut body, alert, names.get(&alert.lead_id), now);
        }
        body.push_str("</table>");
    }
    ok_page("Alerts", Nav::Alerts, &body)
}

fn row(
    body: &mut String,
    alert: &Alert,
    name: Option<&String>,
    now: chrono::DateTime<chrono::Utc>,
) {
    let next = match alert.state {
        AlertState::Pending if alert.next_attempt_at <= now => "due now".to_string(),
        AlertState::Pending => when(alert.next_attempt_at),
        _ => "–".to_string(),
    };
    let action = if alert.state == AlertState::Failed {
        format!(
            "<form method=\"post\" action=\"/alerts/{}/resend\"><button type=\"submit\">Re-send</button></form>",
            path_segment(&alert.id)
        )
    } else {
        String::new()
    };
    let _ = write!(
        body,
        "<tr><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{next}</td><td>{}</td><td>{action}</td></tr>",
        when(alert.created_at),
        lead_link(&alert.lead_id, name.map_or(&alert.lead_id, |n| n)),
        esc(&alert.hook),
        alert.attempts,
        alert
            .last_error
            .as_deref()
            .map_or_else(String::new, |e| format!(
                "<span class=\"state-failed\">{}</span>",
                esc(e)
            )),
    );
}

/// `POST /alerts/{id}/resend`: 403 from another site; else the outbox's `resend_alert`
/// and a 303 back to `/alerts` saying what happened.
pub async fn resend(
    State(state): State<Arc<DashboardState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !same_origin(&headers) {
        tracing::info!(status = 403, "dashboard: cross-site re-send refused");
        return error_page(
            StatusCode::FORBIDDEN,
            "Refused",
            "This request came from another site. Re-send alerts from the Alerts page of this dashboard.",
        );
    }
    let done = match resend_alert(&state.store, &id, state.clock.now()).await {
        Ok(_) => "resent",
        Err(AlertError::NotFound { .. }) => "not_found",
        Err(AlertError::NotFailed { .. }) => "not_failed",
        Err(AlertError::Busy { .. }) => "busy",
        Err(AlertError::Store(e)) => return store_failed("resend_alert", &e),
    };
    super::harden(
        (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/alerts?done={done}"))],
        )
            .into_response(),
    )
}
