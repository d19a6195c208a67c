//! Request parsing for the HTTP API: pure functions from (content type, body, now) to
//! domain values or a refusal naming the field and the rule. No I/O, no HTTP framework:
//! the router is a thin shell over these.
//!
//! - [`parse_lead_submission`]: `POST /v1/leads` (generic form, HubSpot, Typeform).
//! - [`parse_events`]: `POST /v1/events`, at most [`MAX_EVENTS_PER_REQUEST`].
//! - [`parse_outcome`]: `POST /v1/outcomes`.
//!
//! Every refusal is an [`IntakeError`], rendered as RFC 9457 problem details by
//! [`IntakeError::to_problem`].

mod events;
mod lead;
mod mapping;
mod problem;

pub use events::{
    EventSubmission, LeadRef, MAX_EVENTS_PER_REQUEST, OutcomeSubmission, parse_events,
    parse_outcome,
};
pub use lead::{LeadSubmission, MAX_IDEMPOTENCY_KEY_CHARS, Source, parse_lead_submission};
pub use mapping::{
    FieldMapping, LeadField, MAX_FIELD_CHARS, country_code, normalise_name, parse_domain,
    parse_employees,
};
pub use problem::{IntakeError, PROBLEM_CONTENT_TYPE, Problem, Violation};

use chrono::{DateTime, Duration, TimeZone, Utc};

/// Largest request body accepted, in bytes (256 KiB, the SQS message limit too).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How far in the future a timestamp may be, in seconds (clock skew of the sender).
pub const MAX_FUTURE_SKEW_SECS: i64 = 300;

/// Most violations one refusal lists.
pub const MAX_VIOLATIONS: usize = 50;

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// The body format named by a `Content-Type` header; charset UTF-8 (or US-ASCII) only.
pub fn body_format(content_type: Option<&str>) -> Result<BodyFormat, IntakeError> {
    const SUPPORTED: &str = "application/json or application/x-www-form-urlencoded (UTF-8)";
    let unsupported = || IntakeError::UnsupportedContentType {
        content_type: content_type.unwrap_or_default().chars().take(100).collect(),
        supported: SUPPORTED,
    };
    let header = content_type.ok_or_else(unsupported)?;
    let mut parts = header.split(';');
    let media_type = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    for parameter in parts {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("charset") {
            let charset = value.trim().trim_matches('"').to_ascii_lowercase();
            if !matches!(charset.as_str(), "utf-8" | "utf8" | "us-ascii") {
                return Err(unsupported());
            }
        }
    }
    match media_type.as_str() {
        "application/json" => Ok(BodyFormat::Json),
        "application/x-www-form-urlencoded" => Ok(BodyFormat::Form),
        _ => Err(unsupported()),
    }
}

/// Refuses (415) anything but a JSON content type: for `/v1/events` and `/v1/outcomes`.
pub fn require_json(content_type: Option<&str>) -> Result<(), IntakeError> {
    match body_format(content_type) {
        Ok(BodyFormat::Json) => Ok(()),
        _ => Err(IntakeError::UnsupportedContentType {
            content_type: content_type.unwrap_or_default().chars().take(100).collect(),
            supported: "application/json",
        }),
    }
}

/// Refuses (413) a body over [`MAX_BODY_BYTES`].
pub fn check_body_size(body: &[u8]) -> Result<(), IntakeError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(IntakeError::BodyTooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(())
}

fn parse_json(body: &[u8]) -> Result<serde_json::Value, IntakeError> {
    serde_json::from_slice(body).map_err(|e| IntakeError::MalformedBody {
        format: "JSON",
        detail: e.to_string(),
    })
}

/// The earliest timestamp accepted: 2000-01-01T00:00:00Z.
fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Checks a timestamp is not before 2000 nor more than five minutes after `now`.
fn check_time(
    field: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Violation> {
    if at < earliest() {
        return Err(Violation::new(
            field,
            "min",
            "must not be before 2000-01-01T00:00:00Z",
        ));
    }
    let latest = now
        .checked_add_signed(Duration::seconds(MAX_FUTURE_SKEW_SECS))
        .unwrap_or(now);
    if at > latest {
        return Err(Violation::new(
            field,
            "not_in_future",
            format!("must not be more than {MAX_FUTURE_SKEW_SECS} s in the future"),
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_with_charset() {
        assert_eq!(body_format(Some("application/json")), Ok(BodyFormat::Json));
        assert_eq!(
            body_format(Some("Application/JSON; charset=\"UTF-8\"")),
            Ok(BodyFormat::Json)
        );
        assert_eq!(
            body_format(Some("application/x-www-form-urlencoded;charset=utf-8")),
            Ok(BodyFormat::Form)
        );
        for bad in [
            None,
            Some(""),
            Some("text/plain"),
            Some("multipart/form-data; boundary=x"),
            Some("application/json; charset=latin1"),
        ] {
            assert_eq!(
                body_format(bad).map_err(|e| e.status()),
                Err(415),
                "{bad:?}"
            );
        }
        assert!(require_json(Some("application/x-www-form-urlencoded")).is_err());
    }
}
