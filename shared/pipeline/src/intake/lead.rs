//! `POST /v1/leads`: a form submission from a generic form, a HubSpot form submission
//! or a Typeform webhook, read into a [`Lead`] through the [`FieldMapping`].

use super::mapping::{Draft, FieldMapping, FieldValue, LeadField};
use super::problem::{IntakeError, Violation};
use super::{BodyFormat, MAX_VIOLATIONS, body_format, check_body_size, check_time, parse_json};
use crate::enrich::email::{EmailError, analyse};
use chrono::{DateTime, TimeZone, Utc};
use leadq_scoring::{Event, EventKind, Lead};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Longest `Idempotency-Key` header value accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// Where a form submission comes from; each has its own payload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A website form: flat JSON object or form-encoded fields.
    Generic,
    /// A HubSpot form submission (`fields`/`values` of `{name, value}`, `context`).
    Hubspot,
    /// A Typeform `form_response` webhook.
    Typeform,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 3] = [Source::Generic, Source::Hubspot, Source::Typeform];

    /// The name used in the API and stored as the lead's source.
    pub fn name(self) -> &'static str {
        match self {
            Source::Generic => "generic",
            Source::Hubspot => "hubspot",
            Source::Typeform => "typeform",
        }
    }

    /// Looks a source up by its name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Source> {
        Source::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// A form submission read and checked: ready to store, nothing else kept.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadSubmission {
    /// The lead; `id` is empty (assigned when stored), `created_at` is `now`.
    pub lead: Lead,
    /// The deduplication key of the email (see [`crate::enrich::email_key`]).
    pub email_key: String,
    /// The `Idempotency-Key` header, trimmed, if one was sent.
    pub idempotency_key: Option<String>,
    /// Events the submission implies: one `form_submit` at the submission time.
    pub events: Vec<Event>,
}

/// Reads a form submission from `source` (`generic`, `hubspot`, `typeform`).
///
/// Checks, in order: body size (413), source (422 `source`), content type (415), syntax
/// (400), then every mapped field (422, all violations at once).
pub fn parse_lead_submission(
    source: &str,
    content_type: Option<&str>,
    body: &[u8],
    idempotency_key: Option<&str>,
    mapping: &FieldMapping,
    now: DateTime<Utc>,
) -> Result<LeadSubmission, IntakeError> {
    check_body_size(body)?;
    let source = Source::from_name(source).ok_or_else(|| {
        IntakeError::invalid(
            "source",
            "one_of",
            format!(
                "unknown source `{}`; one of: generic, hubspot, typeform",
                truncate(source, 64)
            ),
        )
    })?;
    let format = body_format(content_type)?;
    let idempotency_key = check_idempotency_key(idempotency_key)?;
    let form = match (source, format) {
        (Source::Generic, BodyFormat::Form) | (Source::Hubspot, BodyFormat::Form) => {
            read_form_encoded(body)
        }
        (Source::Generic, BodyFormat::Json) => read_generic_json(&parse_json(body)?)?,
        (Source::Hubspot, BodyFormat::Json) => read_hubspot(&parse_json(body)?, now)?,
        (Source::Typeform, BodyFormat::Json) => read_typeform(&parse_json(body)?, mapping, now)?,
        (Source::Typeform, BodyFormat::Form) => {
            return Err(IntakeError::UnsupportedContentType {
                content_type: truncate(content_type.unwrap_or_default(), 100),
                supported: "application/json (Typeform webhooks are JSON)",
            });
        }
    };
    build_submission(source, form, mapping, idempotency_key, now)
}

/// A form read from its payload, before mapping.
#[derive(Debug, Default)]
struct RawForm {
    /// Field name (or Typeform ref/title) and value, in payload order.
    fields: Vec<(String, FieldValue)>,
    /// Fields the adapter already mapped (Typeform answers by type).
    typed: Vec<(String, LeadField, FieldValue)>,
    /// Marketing consent from the payload's own consent block.
    consent_email: Option<bool>,
    /// When the form was submitted, if the payload says.
    submitted_at: Option<DateTime<Utc>>,
    /// UTM parameters found in the page's query string.
    page_utm: Vec<(String, String)>,
    /// Display properties for the `form_submit` event.
    properties: BTreeMap<String, String>,
    /// Broken rules found while reading.
    violations: Vec<Violation>,
}

impl RawForm {
    fn set_page(&mut self, uri: &str) {
        let uri = uri.trim();
        if uri.is_empty() {
            return;
        }
        let (page, query) = match uri.split_once('?') {
            Some((page, query)) => (page, query.split('#').next().unwrap_or("")),
            None => (uri.split('#').next().unwrap_or(""), ""),
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if key.starts_with("utm_") {
                self.page_utm.push((key.into_owned(), value.into_owned()));
            }
        }
        self.properties
            .insert("page_uri".into(), truncate(page, 2_000));
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

fn check_idempotency_key(key: Option<&str>) -> Result<Option<String>, IntakeError> {
    let Some(key) = key.map(str::trim).filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    if key.len() > MAX_IDEMPOTENCY_KEY_CHARS || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(IntakeError::invalid(
            "Idempotency-Key",
            "format",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// `application/x-www-form-urlencoded`: repeated names (checkbox lists) become a list.
fn read_form_encoded(body: &[u8]) -> RawForm {
    let mut form = RawForm::default();
    for (name, value) in form_urlencoded::parse(body) {
        let value = value.into_owned();
        match form.fields.iter_mut().find(|(n, _)| *n == name) {
            Some((_, FieldValue::List(items))) => items.push(value),
            Some((_, existing)) => {
                let first = match existing {
                    FieldValue::Text(s) => std::mem::take(s),
                    _ => String::new(),
                };
                *existing = FieldValue::List(vec![first, value]);
            }
            None => form
                .fields
                .push((name.into_owned(), FieldValue::Text(value))),
        }
    }
    form
}

fn expect_object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, IntakeError> {
    value.as_object().ok_or_else(|| {
        IntakeError::invalid(field, "type", format!("`{field}` must be a JSON object"))
    })
}

/// A generic form as JSON: one flat object of field name to value.
fn read_generic_json(value: &Value) -> Result<RawForm, IntakeError> {
    let object = expect_object(value, "body")?;
    let mut form = RawForm::default();
    for (name, value) in object {
        if let Some(value) = FieldValue::from_json(value) {
            form.fields.push((name.clone(), value));
        }
    }
    Ok(form)
}

/// A HubSpot form submission: `fields` (v3 submit) or `values` (v1 submissions list) of
/// `{objectTypeId, name, value}` (company properties, objectTypeId `0-2`, are read as
/// `company_<name>`), `submittedAt` in epoch milliseconds, `context.pageUri` or `pageUrl`,
/// and `legalConsentOptions.consent.communications[].value`.
fn read_hubspot(value: &Value, now: DateTime<Utc>) -> Result<RawForm, IntakeError> {
    let object = expect_object(value, "body")?;
    let mut form = RawForm::default();
    let (list_name, list) = match (object.get("fields"), object.get("values")) {
        (Some(list), _) => ("fields", list),
        (None, Some(list)) => ("values", list),
        (None, None) => {
            return Err(IntakeError::invalid(
                "fields",
                "required",
                "a HubSpot submission carries `fields`: [{name, value}]",
            ));
        }
    };
    let items = list.as_array().ok_or_else(|| {
        IntakeError::invalid(list_name, "type", "must be an array of {name, value}")
    })?;
    for (i, item) in items.iter().enumerate() {
        let name = item.get("name").and_then(Value::as_str);
        match (name, item.get("value")) {
            (Some(name), value) => {
                // objectTypeId 0-2 is a company property (`name`, `domain`, `industry`)
                let name = if item.get("objectTypeId").and_then(Value::as_str) == Some("0-2") {
                    format!("company_{name}")
                } else {
                    name.to_owned()
                };
                if let Some(value) = value.and_then(FieldValue::from_json) {
                    form.fields.push((name, value));
                }
            }
            _ => form.violations.push(Violation::new(
                format!("{list_name}[{i}].name"),
                "required",
                "each field needs a `name` string",
            )),
        }
    }
    if let Some(at) = object.get("submittedAt") {
        match hubspot_time(at) {
            Some(at) => match check_time("submittedAt", at, now) {
                Ok(at) => form.submitted_at = Some(at),
                Err(v) => form.violations.push(v),
            },
            None => form.violations.push(Violation::new(
                "submittedAt",
                "format",
                "must be epoch milliseconds or an RFC 3339 date-time",
            )),
        }
    }
    let context = object.get("context");
    let page = context
        .and_then(|c| c.get("pageUri"))
        .or_else(|| object.get("pageUrl"))
        .and_then(Value::as_str);
    if let Some(page) = page {
        form.set_page(page);
    }
    if let Some(name) = context
        .and_then(|c| c.get("pageName"))
        .and_then(Value::as_str)
    {
        form.properties
            .insert("page_name".into(), truncate(name, 500));
    }
    if let Some(communications) = object
        .get("legalConsentOptions")
        .and_then(|l| l.get("consent"))
        .and_then(|c| c.get("communications"))
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    {
        let subscribed = communications
            .iter()
            .any(|c| c.get("value").and_then(Value::as_bool) == Some(true));
        form.consent_email = Some(subscribed);
    }
    Ok(form)
}

/// `submittedAt`: epoch milliseconds as a number or digits, or RFC 3339.
fn hubspot_time(value: &Value) -> Option<DateTime<Utc>> {
    let millis = match value {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()?
        }
        Value::String(s) => return DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc()),
        _ => return None,
    };
    Utc.timestamp_millis_opt(millis).single()
}

/// A Typeform webhook: `event_type: form_response`, `form_response.answers[]` typed by
/// `type` with the value under the key of that name, fields named by `ref` or by the
/// `definition.fields[].title`, and `hidden` fields (often UTM parameters).
fn read_typeform(
    value: &Value,
    mapping: &FieldMapping,
    now: DateTime<Utc>,
) -> Result<RawForm, IntakeError> {
    let object = expect_object(value, "body")?;
    if let Some(kind) = object.get("event_type") {
        if kind.as_str() != Some("form_response") {
            return Err(IntakeError::invalid(
                "event_type",
                "one_of",
                "only `form_response` webhooks carry a lead",
            ));
        }
    }
    let response = object.get("form_response").ok_or_else(|| {
        IntakeError::invalid(
            "form_response",
            "required",
            "a Typeform webhook carries `form_response`",
        )
    })?;
    let response = expect_object(response, "form_response")?;
    let mut form = RawForm::default();

    // field id -> title, from the definition
    let mut titles: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(fields) = response
        .get("definition")
        .and_then(|d| d.get("fields"))
        .and_then(Value::as_array)
    {
        for field in fields {
            if let (Some(id), Some(title)) = (
                field.get("id").and_then(Value::as_str),
                field.get("title").and_then(Value::as_str),
            ) {
                titles.insert(id, title);
            }
        }
    }

    let answers = match response.get("answers") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(answers)) => answers.as_slice(),
        Some(_) => {
            return Err(IntakeError::invalid(
                "form_response.answers",
                "type",
                "must be an array",
            ));
        }
    };
    for (i, answer) in answers.iter().enumerate() {
        let field = answer.get("field");
        let reference = field
            .and_then(|f| f.get("ref"))
            .and_then(Value::as_str)
            .filter(|r| !r.trim().is_empty());
        let title = field
            .and_then(|f| f.get("id"))
            .and_then(Value::as_str)
            .and_then(|id| titles.get(id).copied())
            .filter(|t| !t.trim().is_empty());
        let kind = answer.get("type").and_then(Value::as_str).unwrap_or("");
        let Some(value) = typeform_value(answer, kind) else {
            continue;
        };
        // named by ref if the mapping knows it, else by title, else by the answer's type
        let named = [reference, title]
            .into_iter()
            .flatten()
            .find(|name| mapping.resolve(name).is_some());
        match named {
            Some(name) => form.fields.push((name.to_owned(), value)),
            None => {
                let target = match kind {
                    "email" => Some(LeadField::Email),
                    "phone_number" => Some(LeadField::Phone),
                    _ => None,
                };
                if let Some(target) = target {
                    let name = reference
                        .or(title)
                        .map_or_else(|| format!("form_response.answers[{i}]"), str::to_owned);
                    form.typed.push((name, target, value));
                }
            }
        }
    }
    if let Some(hidden) = response.get("hidden").and_then(Value::as_object) {
        for (name, value) in hidden {
            if let Some(value) = FieldValue::from_json(value) {
                form.fields.push((name.clone(), value));
            }
        }
    }
    if let Some(at) = response.get("submitted_at") {
        match at
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        {
            Some(at) => match check_time("form_response.submitted_at", at.to_utc(), now) {
                Ok(at) => form.submitted_at = Some(at),
                Err(v) => form.violations.push(v),
            },
            None => form.violations.push(Violation::new(
                "form_response.submitted_at",
                "format",
                "must be an RFC 3339 date-time",
            )),
        }
    }
    if let Some(id) = response.get("form_id").and_then(Value::as_str) {
        form.properties.insert("form_id".into(), truncate(id, 200));
    }
    if let Some(referer) = response
        .get("metadata")
        .and_then(|m| m.get("referer"))
        .and_then(Value::as_str)
    {
        form.set_page(referer);
    }
    Ok(form)
}

/// The value of a Typeform answer: under the key named by its `type`.
fn typeform_value(answer: &Value, kind: &str) -> Option<FieldValue> {
    match kind {
        "choice" => {
            let choice = answer.get("choice")?;
            let label = choice
                .get("label")
                .or_else(|| choice.get("other"))
                .and_then(Value::as_str)?;
            Some(FieldValue::Text(label.to_owned()))
        }
        "choices" => {
            let choices = answer.get("choices")?;
            let mut labels: Vec<String> = choices
                .get("labels")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(other) = choices.get("other").and_then(Value::as_str) {
                labels.push(other.to_owned());
            }
            Some(FieldValue::List(labels))
        }
        "" => None,
        other => FieldValue::from_json(answer.get(other)?),
    }
}

fn build_submission(
    source: Source,
    form: RawForm,
    mapping: &FieldMapping,
    idempotency_key: Option<String>,
    now: DateTime<Utc>,
) -> Result<LeadSubmission, IntakeError> {
    let mut draft = Draft::default();
    draft.violations = form.violations;
    for (name, value) in &form.fields {
        if let Some(target) = mapping.resolve(name) {
            draft.apply(name, target, value);
        }
    }
    for (name, target, value) in &form.typed {
        draft.apply(name, *target, value);
    }
    for (name, value) in &form.page_utm {
        if let Some(target) = LeadField::default_for(name) {
            draft.apply(name, target, &FieldValue::Text(value.clone()));
        }
    }
    draft.finish_name();
    if draft.lead.consent.email.is_none() {
        draft.lead.consent.email = form.consent_email;
    }

    let mut email_key = String::new();
    match draft.email.take() {
        None => draft.violations.insert(
            0,
            Violation::new("email", "required", "an email address is required"),
        ),
        Some((field, address)) => match analyse(&address) {
            Ok(facts) => {
                if draft.lead.company.domain.is_none() && !facts.free_mail && !facts.disposable {
                    draft.lead.company.domain = Some(facts.domain.clone());
                }
                draft.lead.person.email = Some(facts.address);
                email_key = facts.key;
            }
            Err(EmailError::TooLong) => draft.violations.insert(
                0,
                Violation::new(field, "max_length", "email must be at most 254 characters"),
            ),
            Err(EmailError::Invalid(_)) => draft.violations.insert(
                0,
                Violation::new(
                    field,
                    "format",
                    "must be a valid email address like ana@acme.io",
                ),
            ),
        },
    }
    if !draft.violations.is_empty() {
        draft.violations.truncate(MAX_VIOLATIONS);
        return Err(IntakeError::Invalid(draft.violations));
    }

    let mut lead = draft.lead;
    lead.source = Some(source.name().to_owned());
    lead.created_at = Some(now);
    let mut properties = form.properties;
    properties.insert("source".into(), source.name().to_owned());
    let event = Event {
        kind: EventKind::FormSubmit,
        at: form.submitted_at.unwrap_or(now),
        minutes: None,
        properties,
    };
    Ok(LeadSubmission {
        lead,
        email_key,
        idempotency_key,
        events: vec![event],
    })
}
