//! The local dashboard of `leadq serve`: server-rendered HTML pages with inline SVG, no
//! JavaScript, over the SQLite store.
//!
//! | route | page |
//! |---|---|
//! | `GET /` | the lead queue: counts by band x next action, leads by band then composite, rep, ages, SLA; `?band=&action=` filters |
//! | `GET /leads/{id}` | one lead's ScoreCard, assignment, score changes, events, provenance |
//! | `GET /reps` | each rep's open leads against its caps; the fallback queue |
//! | `GET /model` | model versions, metrics, calibration and lift charts, weight changes |
//! | `GET /alerts` | the alert outbox by state; failed alerts can be re-sent |
//! | `POST /alerts/{id}/resend` | puts a failed alert back in the outbox (as `POST /v1/alerts/{id}/resend`), then 303 to `/alerts` |
//!
//! It has no login, and shows personal data: `leadq serve` mounts it only on a loopback
//! address. A POST whose `Origin` (or else `Referer`) names another host than `Host` is
//! refused (403), so another site open in the same browser cannot re-send alerts. Every
//! page is sent with a Content-Security-Policy that allows no script at all, as a second
//! wall behind the escaping.

mod alerts;
mod html;
mod lead;
mod model;
mod queue;
mod reps;
mod svg;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use html::{Nav, esc, page};
use leadq_local::SqliteStore;
use leadq_pipeline::Clock;
use leadq_pipeline::routing::RoutingConfig;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the pages read: the local store, the routing rules serve runs with, the clock.
#[derive(Clone)]
pub struct DashboardState {
    /// The SQLite store (`views` for tables, the `LeadStore` port for one lead).
    pub store: SqliteStore,
    /// Teams, reps and the fallback queue.
    pub routing: Arc<RoutingConfig>,
    /// The time ages and SLAs are measured against.
    pub clock: Arc<dyn Clock>,
}

impl DashboardState {
    /// The state over `store`, with the routing rules serve runs with and its clock.
    pub fn new(store: SqliteStore, routing: RoutingConfig, clock: Arc<dyn Clock>) -> Self {
        DashboardState {
            store,
            routing: Arc::new(routing),
            clock,
        }
    }
}

/// `api` with the dashboard merged in when the server listens on a loopback address;
/// on any other address `api` alone, and a line on standard output saying why.
pub fn mount(api: Router, address: SocketAddr, state: DashboardState) -> Router {
    if address.ip().is_loopback() {
        api.merge(router(state))
    } else {
        println!(
            "dashboard: not served on {} (it shows personal data and has no login, so only a \
             loopback address such as 127.0.0.1 serves it)",
            address.ip()
        );
        api
    }
}

/// The dashboard's routes (no fallback: merged into the API router, whose fallback
/// answers unknown paths).
pub fn router(state: DashboardState) -> Router {
    Router::new()
        .route("/", get(queue::queue_page))
        .route("/leads/{id}", get(lead::lead_page))
        .route("/reps", get(reps::reps_page))
        .route("/model", get(model::model_page))
        .route("/alerts", get(alerts::alerts_page))
        .route("/alerts/{id}/resend", post(alerts::resend))
        .with_state(Arc::new(state))
}

/// Headers every dashboard answer carries: no script may run, nothing is cached (the
/// pages hold personal data), no framing.
fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// An HTML answer.
fn html_response(status: StatusCode, body: String) -> Response {
    harden(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}

/// A page in the layout, 200.
fn ok_page(title: &str, nav: Nav, body: &str) -> Response {
    html_response(StatusCode::OK, page(title, nav, body))
}

/// A plain error page: the status, a heading and one sentence of what to do.
fn error_page(status: StatusCode, heading: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"lede\">{}</p><p><a href=\"/\">Back to the lead queue</a></p>",
        esc(heading),
        esc(message)
    );
    html_response(status, page(heading, Nav::None, &body))
}

/// The store failed: logged (addresses redacted) and answered with a 503 page.
fn store_failed(operation: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(
        operation,
        error = %redacted(&error.to_string()),
        "dashboard: the store failed"
    );
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The database could not be read",
        "The local database did not answer; reload the page in a moment.",
    )
}

/// `text` with every token holding an `@` replaced, so no email reaches a log line.
fn redacted(text: &str) -> String {
    text.split(' ')
        .map(|token| {
            if token.contains('@') {
                "[redacted]"
            } else {
                token
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a POST comes from a page of this server: its `Origin` header, or else its
/// `Referer`, must name the host of the `Host` header when present. A request with
/// neither passes (curl, or a browser that sends none), as it cannot be a page of
/// another site acting in the user's browser; `Origin: null` is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
    else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER));
    let Some(source) = source else {
        return true;
    };
    let Ok(source) = source.to_str() else {
        return false;
    };
    // scheme://authority[/path...]: compare the authority only (scheme is always http here)
    let authority = source
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(&host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    #[test]
    fn origin_must_match_the_host() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("referer", "http://127.0.0.1:8080/alerts?x=1")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("referer", "http://127.0.0.1:8080.evil.example/")
        ])));
        assert!(!same_origin(&headers(&[(
            "origin",
            "http://127.0.0.1:8080"
        )])));
    }

    #[test]
    fn addresses_are_redacted() {
        assert_eq!(
            redacted("lead ana@acme.io failed"),
            "lead [redacted] failed"
        );
    }
}
