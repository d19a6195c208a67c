//! `POST /v1/events` and `POST /v1/outcomes`: behavioural events and closed outcomes,
//! each tied to a lead by id or by email.

use super::problem::{IntakeError, Violation};
use super::{MAX_VIOLATIONS, check_body_size, check_time, parse_json};
use crate::enrich::email::{EmailError, analyse};
use crate::writes::NewEvent;
use chrono::{DateTime, Utc};
use leadq_scoring::{Event, EventKind, OutcomeStatus};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most events one `POST /v1/events` may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 500;

/// Longest lead id or event id accepted, in characters.
const MAX_ID_CHARS: usize = 128;

/// Most properties one event may carry.
const MAX_PROPERTIES: usize = 50;

/// Longest property value, in characters.
const MAX_PROPERTY_CHARS: usize = 1_000;

/// Longest session accepted, in minutes (a day).
const MAX_MINUTES: f64 = 1_440.0;

/// How a request names its lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadRef {
    /// By leadq's lead id.
    Id(String),
    /// By the deduplication key of the email (the address itself is not kept).
    EmailKey(String),
}

/// One event of `POST /v1/events`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSubmission {
    /// The lead the event belongs to.
    pub lead: LeadRef,
    /// The event, with the sender's id if it gave one.
    pub event: NewEvent,
}

/// `POST /v1/outcomes`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeSubmission {
    /// The lead the outcome belongs to.
    pub lead: LeadRef,
    /// Won or lost.
    pub status: OutcomeStatus,
    /// Deal amount, if given.
    pub amount: Option<f64>,
    /// When the deal closed.
    pub closed_at: DateTime<Utc>,
}

/// Reads `{"events": [{lead_id | email, kind, at, minutes?, id?, properties?}]}`.
///
/// Every event is checked; all violations (up to 50) are reported at once.
pub fn parse_events(body: &[u8], now: DateTime<Utc>) -> Result<Vec<EventSubmission>, IntakeError> {
    check_body_size(body)?;
    let value = parse_json(body)?;
    let object = value.as_object().ok_or_else(|| {
        IntakeError::invalid("body", "type", "must be a JSON object with `events`")
    })?;
    let items = match object.get("events") {
        None | Some(Value::Null) => {
            return Err(IntakeError::invalid(
                "events",
                "required",
                "`events` is required",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(_) => return Err(IntakeError::invalid("events", "type", "must be an array")),
    };
    if items.is_empty() {
        return Err(IntakeError::invalid(
            "events",
            "min_items",
            "must hold at least one event",
        ));
    }
    if items.len() > MAX_EVENTS_PER_REQUEST {
        return Err(IntakeError::invalid(
            "events",
            "max_items",
            format!(
                "holds {} events; at most {MAX_EVENTS_PER_REQUEST} per request",
                items.len()
            ),
        ));
    }
    let mut events = Vec::with_capacity(items.len());
    let mut violations = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match read_event(&format!("events[{i}]"), item, now) {
            Ok(event) => events.push(event),
            Err(mut found) => violations.append(&mut found),
        }
        if violations.len() >= MAX_VIOLATIONS {
            break;
        }
    }
    if violations.is_empty() {
        Ok(events)
    } else {
        violations.truncate(MAX_VIOLATIONS);
        Err(IntakeError::Invalid(violations))
    }
}

/// Reads `{lead_id | email, status: won|lost, amount?, closed_at}`; `closed_at` may not be
/// before 2000 nor more than five minutes after `now`.
pub fn parse_outcome(body: &[u8], now: DateTime<Utc>) -> Result<OutcomeSubmission, IntakeError> {
    check_body_size(body)?;
    let value = parse_json(body)?;
    let object = value
        .as_object()
        .ok_or_else(|| IntakeError::invalid("body", "type", "must be a JSON object"))?;
    let mut violations = Vec::new();
    let lead = read_lead_ref("", object, &mut violations);
    let status = match object.get("status") {
        None | Some(Value::Null) => {
            violations.push(Violation::new(
                "status",
                "required",
                "`status` is required: won or lost",
            ));
            None
        }
        Some(v) => match v.as_str() {
            Some("won") => Some(OutcomeStatus::Won),
            Some("lost") => Some(OutcomeStatus::Lost),
            _ => {
                violations.push(Violation::new(
                    "status",
                    "one_of",
                    "must be one of: won, lost",
                ));
                None
            }
        },
    };
    let amount = match object.get("amount") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(a) if a.is_finite() && a >= 0.0 => Some(a),
            Some(_) => {
                violations.push(Violation::new(
                    "amount",
                    "range",
                    "must be a number of at least 0",
                ));
                None
            }
            None => {
                violations.push(Violation::new("amount", "type", "must be a number"));
                None
            }
        },
    };
    let closed_at = read_time("closed_at", object, now, &mut violations);
    match (lead, status, closed_at) {
        (Some(lead), Some(status), Some(closed_at)) if violations.is_empty() => {
            Ok(OutcomeSubmission {
                lead,
                status,
                amount,
                closed_at,
            })
        }
        _ => Err(IntakeError::Invalid(violations)),
    }
}

fn field_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The lead named by `lead_id` or `email` (the id wins when both are given).
fn read_lead_ref(
    prefix: &str,
    object: &Map<String, Value>,
    violations: &mut Vec<Violation>,
) -> Option<LeadRef> {
    match object.get("lead_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(id))
            if !id.trim().is_empty() && id.trim().chars().count() <= MAX_ID_CHARS =>
        {
            return Some(LeadRef::Id(id.trim().to_owned()));
        }
        Some(_) => {
            violations.push(Violation::new(
                field_name(prefix, "lead_id"),
                "format",
                format!("must be a non-empty string of at most {MAX_ID_CHARS} characters"),
            ));
            return None;
        }
    }
    match object.get("email") {
        None | Some(Value::Null) => {
            violations.push(Violation::new(
                field_name(prefix, "lead_id"),
                "required",
                "name the lead by `lead_id` or `email`",
            ));
            None
        }
        Some(v) => match v.as_str().map(analyse) {
            Some(Ok(facts)) => Some(LeadRef::EmailKey(facts.key)),
            Some(Err(EmailError::TooLong)) => {
                violations.push(Violation::new(
                    field_name(prefix, "email"),
                    "max_length",
                    "email must be at most 254 characters",
                ));
                None
            }
            _ => {
                violations.push(Violation::new(
                    field_name(prefix, "email"),
                    "format",
                    "must be a valid email address like ana@acme.io",
                ));
                None
            }
        },
    }
}

/// A required RFC 3339 timestamp, not before 2000 nor more than five minutes ahead.
fn read_time(
    field: &str,
    object: &Map<String, Value>,
    now: DateTime<Utc>,
    violations: &mut Vec<Violation>,
) -> Option<DateTime<Utc>> {
    let name = field.rsplit('.').next().unwrap_or(field);
    let result = match object.get(name) {
        None | Some(Value::Null) => Err(Violation::new(
            field,
            "required",
            format!("`{name}` is required (RFC 3339 date-time)"),
        )),
        Some(v) => match v
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        {
            Some(at) => check_time(field, at.to_utc(), now),
            None => Err(Violation::new(
                field,
                "format",
                "must be an RFC 3339 date-time like 2026-03-01T12:00:00Z",
            )),
        },
    };
    result.map_err(|v| violations.push(v)).ok()
}

fn read_event(
    prefix: &str,
    item: &Value,
    now: DateTime<Utc>,
) -> Result<EventSubmission, Vec<Violation>> {
    let Some(object) = item.as_object() else {
        return Err(vec![Violation::new(
            prefix,
            "type",
            "each event must be a JSON object",
        )]);
    };
    let mut violations = Vec::new();
    let lead = read_lead_ref(prefix, object, &mut violations);
    let kind = match object.get("kind") {
        None | Some(Value::Null) => {
            violations.push(Violation::new(
                field_name(prefix, "kind"),
                "required",
                format!("`kind` is required; one of: {}", allowed_kinds()),
            ));
            None
        }
        Some(v) => match v.as_str().and_then(kind_by_name) {
            Some(kind) => Some(kind),
            None => {
                violations.push(Violation::new(
                    field_name(prefix, "kind"),
                    "one_of",
                    format!("unknown kind; one of: {}", allowed_kinds()),
                ));
                None
            }
        },
    };
    let at = read_time(&field_name(prefix, "at"), object, now, &mut violations);
    let minutes = match object.get("minutes") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(m) if m.is_finite() && (0.0..=MAX_MINUTES).contains(&m) => Some(m),
            _ => {
                violations.push(Violation::new(
                    field_name(prefix, "minutes"),
                    "range",
                    format!("must be a number from 0 to {MAX_MINUTES}"),
                ));
                None
            }
        },
    };
    let id = match object.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id))
            if !id.trim().is_empty() && id.trim().chars().count() <= MAX_ID_CHARS =>
        {
            Some(id.trim().to_owned())
        }
        Some(_) => {
            violations.push(Violation::new(
                field_name(prefix, "id"),
                "format",
                format!("must be a non-empty string of at most {MAX_ID_CHARS} characters"),
            ));
            None
        }
    };
    let properties = read_properties(prefix, object.get("properties"), &mut violations);
    match (lead, kind, at) {
        (Some(lead), Some(kind), Some(at)) if violations.is_empty() => Ok(EventSubmission {
            lead,
            event: NewEvent {
                id,
                event: Event {
                    kind,
                    at,
                    minutes,
                    properties,
                },
            },
        }),
        _ => Err(violations),
    }
}

/// An event kind by its snake_case name, or an alias the scoring crate accepts.
fn kind_by_name(name: &str) -> Option<EventKind> {
    EventKind::from_name(name).or(match name {
        "consultation_request" => Some(EventKind::DemoRequest),
        _ => None,
    })
}

fn allowed_kinds() -> String {
    EventKind::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Display properties: an object of scalars, kept as strings.
fn read_properties(
    prefix: &str,
    value: Option<&Value>,
    violations: &mut Vec<Violation>,
) -> BTreeMap<String, String> {
    let mut properties = BTreeMap::new();
    let field = field_name(prefix, "properties");
    let object = match value {
        None | Some(Value::Null) => return properties,
        Some(Value::Object(object)) => object,
        Some(_) => {
            violations.push(Violation::new(
                field,
                "type",
                "must be an object of text values",
            ));
            return properties;
        }
    };
    if object.len() > MAX_PROPERTIES {
        violations.push(Violation::new(
            field,
            "max_items",
            format!("at most {MAX_PROPERTIES} properties"),
        ));
        return properties;
    }
    for (key, value) in object {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Array(_) | Value::Object(_) => {
                violations.push(Violation::new(
                    format!(
                        "{field}.{}",
                        key.chars().take(MAX_ID_CHARS).collect::<String>()
                    ),
                    "type",
                    "must be text, a number or a boolean",
                ));
                continue;
            }
        };
        if text.chars().count() > MAX_PROPERTY_CHARS || key.chars().count() > MAX_ID_CHARS {
            violations.push(Violation::new(
                format!(
                    "{field}.{}",
                    key.chars().take(MAX_ID_CHARS).collect::<String>()
                ),
                "max_length",
                format!(
                    "keys at most {MAX_ID_CHARS} and values at most {MAX_PROPERTY_CHARS} characters"
                ),
            ));
            continue;
        }
        properties.insert(key.clone(), text);
    }
    properties
}
