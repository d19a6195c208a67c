//! The ingest stage: what the HTTP API does with a request once it is authenticated.
//!
//! Plain async functions over the ports, free of any HTTP framework, so the Lambda's
//! router and the local server share them:
//!
//! - [`ingest_lead`]: `POST /v1/leads`, idempotent per `Idempotency-Key` and per person;
//! - [`ingest_events`]: `POST /v1/events`, all-or-nothing on unknown leads;
//! - [`ingest_outcome`]: `POST /v1/outcomes`;
//! - [`lead_view`]: `GET /v1/leads/{id}`;
//! - [`erase_lead`]: `DELETE /v1/leads/{id}`.
//!
//! Every refusal happens before the first write. The writes of a submission are ordered
//! so that a crash at any point followed by a retry converges to one lead, one
//! `form_submit` event and its work queued: the email lock makes the lead unique, the
//! event id is derived from the raw body, and the follow-up work is sent on every retry.

use super::handlers::StagePorts;
use crate::enrich::email::redact;
use crate::envelope::{Cause, Envelope, Stage};
use crate::intake::{
    EventSubmission, FieldMapping, IntakeError, LeadRef, LeadSubmission, Problem, Source,
    Violation, parse_events, parse_lead_submission, parse_outcome, require_json,
};
use crate::ports::{
    Claim, Closed, Created, EventAggregates, HistoryEntry, LeadRecord, LeadStore, Provenance,
    QueueError, StoreError, email_hash,
};
use crate::routing::Assignment;
use crate::writes::{NewEvent, record_events, update_lead_with_retry};
use chrono::{DateTime, TimeDelta, Utc};
use leadq_scoring::{Lead, Outcome, OutcomeStatus, ScoreCard};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// How long a completed `Idempotency-Key` is remembered and its response replayed.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long an in-progress claim holds before it is presumed dead and may be taken over
/// (longer than the ingest Lambda's timeout, so a live holder is never overtaken).
pub const IN_PROGRESS_TTL: Duration = Duration::from_secs(30);

/// How long a request waits for another holder of its `Idempotency-Key` before 409.
pub const IN_PROGRESS_WAIT: Duration = Duration::from_millis(1_500);

/// Pause between two looks at an in-progress claim.
const IN_PROGRESS_POLL: Duration = Duration::from_millis(50);

/// `Retry-After` seconds suggested with a 409 for an in-progress key.
pub const IN_PROGRESS_RETRY_AFTER_SECS: u64 = 2;

/// Longest lead id looked up; longer ones cannot exist and are 404 without a store call.
pub const MAX_LEAD_ID_CHARS: usize = 128;

/// Why an ingest request failed; every variant maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    /// The request broke a rule (400, 413, 415 or 422); nothing was stored.
    #[error(transparent)]
    Refused(#[from] IntakeError),
    /// The lead does not exist, or was erased (404).
    #[error("lead {lead_id} not found")]
    LeadNotFound {
        /// The lead asked for.
        lead_id: String,
    },
    /// Another request with the same `Idempotency-Key` is still being processed (409).
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    InProgress {
        /// Seconds the client should wait before retrying.
        retry_after_secs: u64,
    },
    /// The lead store failed (503); the request may be retried as is.
    #[error("lead store: {0}")]
    Store(#[from] StoreError),
    /// The work queue failed (503); the request may be retried as is.
    #[error("work queue: {0}")]
    Queue(#[from] QueueError),
}

impl IngestError {
    /// The HTTP status code of the failure.
    pub fn status(&self) -> u16 {
        match self {
            IngestError::Refused(refusal) => refusal.status(),
            IngestError::LeadNotFound { .. } => 404,
            IngestError::InProgress { .. } => 409,
            IngestError::Store(_) | IngestError::Queue(_) => 503,
        }
    }

    /// The problem details body; backend failures say nothing about the backend.
    pub fn to_problem(&self) -> Problem {
        match self {
            IngestError::Refused(refusal) => refusal.to_problem(),
            IngestError::LeadNotFound { lead_id } => Problem {
                problem_type: "urn:leadq:problem:not-found".into(),
                title: "Not found".into(),
                status: 404,
                detail: format!("lead {} not found", clip(lead_id, MAX_LEAD_ID_CHARS)),
                errors: vec![Violation::new("id", "exists", "no lead has this id")],
            },
            IngestError::InProgress { retry_after_secs } => Problem {
                problem_type: "urn:leadq:problem:in-progress".into(),
                title: "Request in progress".into(),
                status: 409,
                detail: self.to_string(),
                errors: vec![Violation::new(
                    "Idempotency-Key",
                    "in_progress",
                    format!(
                        "another request with this key is being processed; retry in {retry_after_secs} s"
                    ),
                )],
            },
            // the backend's words stay in the logs: they may name tables, hosts or items
            IngestError::Store(_) | IngestError::Queue(_) => Problem {
                problem_type: "urn:leadq:problem:unavailable".into(),
                title: "Service unavailable".into(),
                status: 503,
                detail: "storage is unavailable; nothing was lost, retry the same request".into(),
                errors: Vec::new(),
            },
        }
    }
}

/// `text` fit for a log line: every token holding an `@` (an address, wherever a backend
/// or a sender put one) is replaced by its [`redact`]ed stand-in.
pub(crate) fn loggable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if token.contains('@') {
            out.push_str(&redact(token));
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || "\"'`<>()[]{},;".contains(c) {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

fn clip(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// A `POST /v1/leads` request as received, before parsing.
#[derive(Debug, Clone, Copy)]
pub struct LeadRequest<'a> {
    /// The `source` query parameter (`generic` when absent).
    pub source: &'a str,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The raw body.
    pub body: &'a [u8],
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<&'a str>,
    /// The request id, carried as the trace id of the work it queues.
    pub trace_id: &'a str,
}

/// What `POST /v1/leads` answered.
#[derive(Debug, Clone, PartialEq)]
pub enum LeadAccepted {
    /// A new lead was stored (201).
    Created {
        /// Its id.
        lead_id: String,
    },
    /// The same person was already known (200).
    Existing {
        /// Their lead's id.
        lead_id: String,
    },
    /// The email was erased before and came back without marketing consent (202):
    /// nothing was stored.
    Suppressed,
    /// The `Idempotency-Key` was completed before: its response, replayed.
    Replayed {
        /// The status to answer with (200 for an earlier 201).
        status: u16,
        /// The earlier response body.
        body: serde_json::Value,
    },
}

impl LeadAccepted {
    /// The HTTP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            LeadAccepted::Created { .. } => 201,
            LeadAccepted::Existing { .. } => 200,
            LeadAccepted::Suppressed => 202,
            LeadAccepted::Replayed { status, .. } => *status,
        }
    }

    /// The JSON response body.
    pub fn body(&self) -> serde_json::Value {
        match self {
            LeadAccepted::Created { lead_id } | LeadAccepted::Existing { lead_id } => {
                serde_json::json!({ "lead_id": lead_id })
            }
            LeadAccepted::Suppressed => serde_json::json!({ "status": "suppressed" }),
            LeadAccepted::Replayed { body, .. } => body.clone(),
        }
    }

    /// The lead's id, when one was stored or found.
    pub fn lead_id(&self) -> Option<&str> {
        match self {
            LeadAccepted::Created { lead_id } | LeadAccepted::Existing { lead_id } => Some(lead_id),
            LeadAccepted::Replayed { body, .. } => body.get("lead_id")?.as_str(),
            LeadAccepted::Suppressed => None,
        }
    }
}

/// What an idempotency record keeps: the response and a hash of the request it answered.
#[derive(Debug, Serialize, Deserialize)]
struct StoredReply {
    status: u16,
    body: serde_json::Value,
    request_hash: String,
}

/// Hex SHA-256 of length-prefixed parts: no two part lists hash alike by concatenation.
fn hash_parts(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// The id of the `form_submit` event of a submission: the source and the raw body
/// hashed, so a redelivered webhook adds nothing while a new submission counts.
///
/// The body's ASCII letters are case-folded first: a resend that differs only in case
/// (a sender re-casing the address, `Ana@Acme.io` for `ana@acme.io`) is the same
/// submission, while any other change (a page, a message, a time) is a new one.
pub fn form_event_id(source: Source, body: &[u8]) -> String {
    let folded = body.to_ascii_lowercase();
    let digest = hash_parts(&[b"leadq.form_submit.v1", source.name().as_bytes(), &folded]);
    format!("form-{}", &digest[..32])
}

/// The idempotency record key of a submission: scoped per source, so two senders
/// choosing the same key never see each other's responses.
pub fn lead_idempotency_key(source: Source, key: &str) -> String {
    format!("leads:{}:{key}", source.name())
}

fn at_offset(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(span)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `POST /v1/leads`: reads the submission, then stores the lead once and queues its work.
///
/// Refusals (400/413/415/422) happen before anything is read from or written to the
/// store. With an `Idempotency-Key`, the key (scoped per source) is claimed first: a
/// completed key replays its response (an earlier 201 as 200), one in progress is
/// waited for briefly and then refused with 409, and a key reused for another body is
/// refused with 422. On failure the claim is released so the sender can retry.
pub async fn ingest_lead(
    ports: &StagePorts<'_>,
    mapping: &FieldMapping,
    request: &LeadRequest<'_>,
) -> Result<LeadAccepted, IngestError> {
    let now = ports.clock.now();
    let submission = parse_lead_submission(
        request.source,
        request.content_type,
        request.body,
        request.idempotency_key,
        mapping,
        now,
    )?;
    // the parser accepted the name, so this lookup cannot fail; generic is the fallback
    let source = Source::from_name(request.source).unwrap_or(Source::Generic);
    let Some(key) = submission.idempotency_key.as_deref() else {
        return store_submission(ports, source, &submission, request).await;
    };

    let scoped = lead_idempotency_key(source, key);
    let request_hash = hash_parts(&[
        source.name().as_bytes(),
        request.content_type.unwrap_or_default().as_bytes(),
        request.body,
    ]);
    let deadline = std::time::Instant::now() + IN_PROGRESS_WAIT;
    loop {
        let now = ports.clock.now();
        let claim = ports
            .store
            .claim_idempotency(
                &scoped,
                now,
                at_offset(now, IDEMPOTENCY_TTL),
                at_offset(now, IN_PROGRESS_TTL),
            )
            .await?;
        match claim {
            Claim::Claimed => break,
            Claim::Completed(data) => return replay(data.as_deref(), &request_hash),
            Claim::InProgress if std::time::Instant::now() < deadline => {
                tokio::time::sleep(IN_PROGRESS_POLL).await;
            }
            Claim::InProgress => {
                return Err(IngestError::InProgress {
                    retry_after_secs: IN_PROGRESS_RETRY_AFTER_SECS,
                });
            }
        }
    }

    match store_submission(ports, source, &submission, request).await {
        Ok(accepted) => {
            let reply = StoredReply {
                status: accepted.status(),
                body: accepted.body(),
                request_hash,
            };
            let data = serde_json::to_string(&reply).ok();
            let now = ports.clock.now();
            if let Err(error) = ports
                .store
                .complete_idempotency(&scoped, data, at_offset(now, IDEMPOTENCY_TTL))
                .await
            {
                // the work is done and converges on retry (the claim lapses, the lead and
                // its event are found again), so the sender still gets its answer
                let error = loggable(&error.to_string());
                tracing::warn!(%error, "could not complete the idempotency record");
            }
            Ok(accepted)
        }
        Err(error) => {
            if let Err(release) = ports.store.release_idempotency(&scoped).await {
                // the claim lapses after IN_PROGRESS_TTL by itself
                let error = loggable(&release.to_string());
                tracing::warn!(%error, "could not release the idempotency claim");
            }
            Err(error)
        }
    }
}

/// The response of a completed key; an earlier 201 becomes 200 (nothing new was made).
fn replay(data: Option<&str>, request_hash: &str) -> Result<LeadAccepted, IngestError> {
    let stored = data.and_then(|d| serde_json::from_str::<StoredReply>(d).ok());
    let Some(stored) = stored else {
        return Err(IngestError::Store(StoreError::Corrupt {
            operation: "claim_idempotency",
            message: "completed idempotency record holds no readable response".into(),
        }));
    };
    if stored.request_hash != request_hash {
        return Err(IntakeError::invalid(
            "Idempotency-Key",
            "reused",
            "this key was already used for a different request; use a new key per submission",
        )
        .into());
    }
    let status = if stored.status == 201 {
        200
    } else {
        stored.status
    };
    Ok(LeadAccepted::Replayed {
        status,
        body: stored.body,
    })
}

/// The writes of a submission, in the order that makes a retry after a crash converge:
/// tombstone check, create (or find) the lead, record the `form_submit` event, queue work.
async fn store_submission(
    ports: &StagePorts<'_>,
    source: Source,
    submission: &LeadSubmission,
    request: &LeadRequest<'_>,
) -> Result<LeadAccepted, IngestError> {
    let store = ports.store;
    let now = ports.clock.now();
    let email_key = submission.email_key.as_str();

    if submission.lead.consent.email != Some(true)
        && store
            .find_tombstone(&email_hash(email_key))
            .await?
            .is_some()
        && store.find_lead_by_email(email_key).await?.is_none()
    {
        tracing::info!(
            email = %redact(email_key),
            "erased person came back without marketing consent: suppressed"
        );
        return Ok(LeadAccepted::Suppressed);
    }

    let mut lead = submission.lead.clone();
    lead.id = format!("lead_{}", uuid::Uuid::new_v4().simple());
    let mut record = LeadRecord::new(lead, Some(email_key.to_owned()), now);
    record.provenance = form_provenance(&record.lead, now);
    let (lead_id, created) = match store.create_lead(&record).await? {
        Created::New => (record.lead.id.clone(), true),
        Created::Existing(existing) => (existing, false),
    };
    tracing::Span::current().record("lead_id", lead_id.as_str());

    let event_id = form_event_id(source, request.body);
    let events: Vec<NewEvent> = submission
        .events
        .iter()
        .map(|event| NewEvent::with_id(event_id.clone(), event.clone()))
        .collect();
    let report = record_events(store, &lead_id, &events, now, &ports.policy).await?;

    // Enrich until the lead has been scored once: covers a crash between create and send.
    // A scored lead is rescored even when the event was a duplicate, because the crash
    // may have come between storing the event and queueing its rescore; scoring twice
    // is harmless, missing a rescore is not.
    let stage = if created || report.record.card.is_none() {
        Stage::Enrich
    } else {
        Stage::Score
    };
    let envelope = Envelope::new(stage, &lead_id, request.trace_id, now);
    ports
        .queue
        .send(stage, std::slice::from_ref(&envelope))
        .await?;
    tracing::info!(
        email = %redact(email_key),
        created,
        new_events = report.appended,
        queued = stage.name(),
        "lead submission stored"
    );
    crate::metrics::lead_ingested();
    Ok(if created {
        LeadAccepted::Created { lead_id }
    } else {
        LeadAccepted::Existing { lead_id }
    })
}

/// Provenance `form` (confidence 1) for every field the sender filled.
fn form_provenance(lead: &Lead, now: DateTime<Utc>) -> BTreeMap<String, Provenance> {
    let person = &lead.person;
    let company = &lead.company;
    let filled = [
        ("person.email", person.email.is_some()),
        ("person.name", person.name.is_some()),
        ("person.title", person.title.is_some()),
        ("person.phone", person.phone.is_some()),
        ("person.country", person.country.is_some()),
        ("company.name", company.name.is_some()),
        ("company.domain", company.domain.is_some()),
        ("company.employees", company.employees.is_some()),
        ("company.industry", company.industry.is_some()),
        ("company.country", company.country.is_some()),
        ("company.revenue_band", company.revenue_band.is_some()),
    ];
    filled
        .into_iter()
        .filter(|(_, known)| *known)
        .map(|(path, _)| {
            (
                path.to_owned(),
                Provenance {
                    provider: "form".into(),
                    confidence: 1.0,
                    at: now,
                },
            )
        })
        .collect()
}

/// What `POST /v1/events` stored for one lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadEvents {
    /// The lead.
    pub lead_id: String,
    /// Events newly stored.
    pub stored: usize,
    /// Events already stored before (redeliveries).
    pub duplicates: usize,
}

/// What `POST /v1/events` did (200).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventsAccepted {
    /// Events newly stored, over all leads.
    pub stored: usize,
    /// Events already stored before.
    pub duplicates: usize,
    /// Per lead, in the order the leads first appear in the request.
    pub leads: Vec<LeadEvents>,
}

/// A lead reference as a map key: (by id, the id or email key).
fn ref_key(lead: &LeadRef) -> (bool, &str) {
    match lead {
        LeadRef::Id(id) => (true, id),
        LeadRef::EmailKey(key) => (false, key),
    }
}

/// Finds the lead a reference names, or `None`.
async fn resolve(store: &dyn LeadStore, lead: &LeadRef) -> Result<Option<String>, StoreError> {
    match lead {
        LeadRef::Id(id) => Ok(store.get_lead(id).await?.map(|r| r.lead.id)),
        LeadRef::EmailKey(key) => store.find_lead_by_email(key).await,
    }
}

/// The violation for an unknown lead reference, naming the field it came from.
fn unknown_lead(prefix: &str, lead: &LeadRef) -> Violation {
    let (field, message) = match lead {
        LeadRef::Id(_) => ("lead_id", "no lead has this id"),
        LeadRef::EmailKey(_) => ("email", "no lead has this email"),
    };
    let field = if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    };
    Violation::new(field, "exists", message)
}

/// `POST /v1/events`: stores up to 500 events (JSON only) and queues one rescore per lead.
///
/// Every lead reference is resolved before anything is written: one unknown lead
/// refuses the whole request (422 naming `events[i].lead_id` or `events[i].email`).
/// A Score envelope is sent for every lead touched, even if all its events were
/// duplicates, so a retry after a crash still gets the rescore queued.
pub async fn ingest_events(
    ports: &StagePorts<'_>,
    content_type: Option<&str>,
    body: &[u8],
    trace_id: &str,
) -> Result<EventsAccepted, IngestError> {
    crate::intake::check_body_size(body)?;
    require_json(content_type)?;
    let now = ports.clock.now();
    let submissions = parse_events(body, now)?;

    let mut resolved: HashMap<(bool, &str), Option<String>> = HashMap::new();
    let mut violations = Vec::new();
    for (i, EventSubmission { lead, .. }) in submissions.iter().enumerate() {
        if let Entry::Vacant(slot) = resolved.entry(ref_key(lead)) {
            slot.insert(resolve(ports.store, lead).await?);
        }
        if resolved.get(&ref_key(lead)).is_some_and(Option::is_none)
            && violations.len() < crate::intake::MAX_VIOLATIONS
        {
            violations.push(unknown_lead(&format!("events[{i}]"), lead));
        }
    }
    if !violations.is_empty() {
        return Err(IntakeError::Invalid(violations).into());
    }

    // group by lead, keeping the order in which leads first appear
    let mut order: Vec<String> = Vec::new();
    let mut by_lead: HashMap<String, Vec<NewEvent>> = HashMap::new();
    for submission in &submissions {
        let Some(Some(lead_id)) = resolved.get(&ref_key(&submission.lead)) else {
            continue;
        };
        if !by_lead.contains_key(lead_id) {
            order.push(lead_id.clone());
        }
        by_lead
            .entry(lead_id.clone())
            .or_default()
            .push(submission.event.clone());
    }

    let mut accepted = EventsAccepted {
        stored: 0,
        duplicates: 0,
        leads: Vec::with_capacity(order.len()),
    };
    for lead_id in &order {
        let events = by_lead.get(lead_id).map(Vec::as_slice).unwrap_or_default();
        let report = record_events(ports.store, lead_id, events, now, &ports.policy).await?;
        accepted.stored += report.appended;
        accepted.duplicates += report.duplicates;
        accepted.leads.push(LeadEvents {
            lead_id: lead_id.clone(),
            stored: report.appended,
            duplicates: report.duplicates,
        });
    }
    let envelopes: Vec<Envelope> = order
        .iter()
        .map(|lead_id| Envelope::new(Stage::Score, lead_id, trace_id, now))
        .collect();
    ports.queue.send(Stage::Score, &envelopes).await?;
    tracing::info!(
        leads = order.len(),
        stored = accepted.stored,
        duplicates = accepted.duplicates,
        "events stored"
    );
    Ok(accepted)
}

/// What `POST /v1/outcomes` stored (200).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeAccepted {
    /// The lead the outcome belongs to.
    pub lead_id: String,
    /// Won or lost.
    pub status: OutcomeStatus,
}

/// `POST /v1/outcomes`: stores a closed outcome (training data); the lead must exist.
///
/// Idempotent: a lead has one outcome and a later one replaces it.
pub async fn ingest_outcome(
    ports: &StagePorts<'_>,
    content_type: Option<&str>,
    body: &[u8],
    trace_id: &str,
) -> Result<OutcomeAccepted, IngestError> {
    crate::intake::check_body_size(body)?;
    require_json(content_type)?;
    let now = ports.clock.now();
    let submission = parse_outcome(body, now)?;
    let Some(lead_id) = resolve(ports.store, &submission.lead).await? else {
        return Err(IntakeError::Invalid(vec![unknown_lead("", &submission.lead)]).into());
    };
    tracing::Span::current().record("lead_id", lead_id.as_str());
    let outcome = Outcome {
        lead_id: lead_id.clone(),
        status: submission.status,
        amount: submission.amount,
        closed_at: submission.closed_at,
    };
    ports.store.put_outcome(&outcome).await?;
    // the lead is marked closed and rescored, so the route stage frees its rep and it
    // raises no more sales alerts; a replay writes nothing new but sends again, harmlessly
    let closed = Closed {
        status: submission.status,
        at: submission.closed_at,
    };
    update_lead_with_retry(ports.store, &lead_id, now, &ports.policy, |record| {
        if record.closed == Some(closed) {
            return false;
        }
        record.closed = Some(closed);
        true
    })
    .await?;
    let envelope = Envelope::new(Stage::Score, &lead_id, trace_id, now).with_cause(Cause::Closed);
    ports
        .queue
        .send(Stage::Score, std::slice::from_ref(&envelope))
        .await?;
    tracing::info!(status = ?submission.status, "outcome stored");
    Ok(OutcomeAccepted {
        lead_id,
        status: submission.status,
    })
}

/// A lead as `GET /v1/leads/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadView {
    /// The lead's id.
    pub lead_id: String,
    /// Its optimistic-concurrency version.
    pub version: u64,
    /// The lead as known now (form data and enrichment).
    pub lead: Lead,
    /// Where each enriched field came from, by field path.
    pub provenance: BTreeMap<String, Provenance>,
    /// Event counts and times.
    pub aggregates: EventAggregates,
    /// The current verdict with its reasons and missing data; `null` until scored.
    pub card: Option<ScoreCard>,
    /// Why the card's calibrated probability is what it is: each rule's and missing field's
    /// log-odds under the trained version that scored it; `null` for a rules-only card.
    pub probability_explained: Option<leadq_scoring::calibration::Explanation>,
    /// Every score change, oldest first.
    pub history: Vec<HistoryEntry>,
    /// When the decayed score may next cross a band edge.
    pub rescore_at: Option<DateTime<Utc>>,
    /// Who works the lead and why; `null` until routed to someone.
    pub assignment: Option<Assignment>,
    /// When the lead was first stored.
    pub created_at: DateTime<Utc>,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// `GET /v1/leads/{id}`: the lead, its current ScoreCard and its score history.
pub async fn lead_view(store: &dyn LeadStore, lead_id: &str) -> Result<LeadView, IngestError> {
    let not_found = || IngestError::LeadNotFound {
        lead_id: clip(lead_id, MAX_LEAD_ID_CHARS),
    };
    if lead_id.is_empty() || lead_id.chars().count() > MAX_LEAD_ID_CHARS {
        return Err(not_found());
    }
    let record = store.get_lead(lead_id).await?.ok_or_else(not_found)?;
    let history = store.list_history(lead_id).await?;
    let probability_explained = match &record.card {
        Some(card) if card.probability.is_some() => explain_probability(store, card).await?,
        _ => None,
    };
    Ok(LeadView {
        probability_explained,
        lead_id: record.lead.id.clone(),
        version: record.version,
        provenance: record.provenance,
        aggregates: record.aggregates,
        card: record.card,
        history,
        rescore_at: record.rescore_at,
        assignment: record.assignment,
        created_at: record.created_at,
        updated_at: record.updated_at,
        lead: record.lead,
    })
}

/// The calibration of the version that scored `card`, explaining its probability; `None`
/// when that version is gone or carries none (a view still answers without it).
async fn explain_probability(
    store: &dyn LeadStore,
    card: &ScoreCard,
) -> Result<Option<leadq_scoring::calibration::Explanation>, IngestError> {
    let versions = store.list_model_versions().await?;
    let Some(version) = versions
        .iter()
        .find(|v| v.version.as_str() == &*card.model_version)
    else {
        return Ok(None);
    };
    match super::train::version_metrics(version) {
        Ok(metrics) => Ok(metrics.calibration.map(|c| c.explain(card))),
        Err(error) => {
            tracing::warn!(%error, "the scoring version's calibration is unreadable");
            Ok(None)
        }
    }
}

/// `DELETE /v1/leads/{id}`: erases the person (lead, events, history, email lock) and
/// keeps a hashed tombstone; `LeadNotFound` when there was no such lead.
pub async fn erase_lead(ports: &StagePorts<'_>, lead_id: &str) -> Result<(), IngestError> {
    if lead_id.is_empty() || lead_id.chars().count() > MAX_LEAD_ID_CHARS {
        return Err(IngestError::LeadNotFound {
            lead_id: clip(lead_id, MAX_LEAD_ID_CHARS),
        });
    }
    if ports.store.erase_lead(lead_id, ports.clock.now()).await? {
        tracing::info!("lead erased");
        Ok(())
    } else {
        Err(IngestError::LeadNotFound {
            lead_id: lead_id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loggable_text_holds_no_address() {
        let text = "put_item: condition failed on EMAIL#Ana@Acme.io (key 'ana@acme.io'), retry";
        let logged = loggable(text);
        assert!(!logged.to_lowercase().contains("acme"), "{logged}");
        assert!(logged.starts_with("put_item: condition failed on email:"));
        assert!(logged.ends_with(", retry"));
        assert_eq!(loggable("no address here"), "no address here");
    }

    #[test]
    fn form_event_ids_fold_case_only() {
        let a = form_event_id(Source::Generic, br#"{"email":"Ana@Acme.io"}"#);
        assert_eq!(
            a,
            form_event_id(Source::Generic, br#"{"email":"ana@acme.io"}"#)
        );
        assert_ne!(
            a,
            form_event_id(Source::Hubspot, br#"{"email":"ana@acme.io"}"#)
        );
        assert_ne!(
            a,
            form_event_id(Source::Generic, br#"{"email":"ana@acme.io" }"#)
        );
        assert!(a.starts_with("form-") && a.len() == 37);
    }

    #[test]
    fn backend_failures_are_503_without_their_words() {
        let error = IngestError::Store(StoreError::Backend {
            operation: "put_item",
            message: "arn:aws:dynamodb:eu-west-1:123:table/leads".into(),
        });
        let problem = error.to_problem();
        assert_eq!((error.status(), problem.status), (503, 503));
        assert!(!problem.to_json().contains("arn:aws"));
        let in_progress = IngestError::InProgress {
            retry_after_secs: 2,
        };
        assert_eq!(in_progress.to_problem().errors[0].field, "Idempotency-Key");
    }
}
