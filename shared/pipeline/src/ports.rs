//! The ports: small traits the stages talk to, and the records that cross them.
//!
//! Adapters (memory here, SQLite in `leadq-local`, DynamoDB/SQS in `leadq-aws`) only
//! translate these calls; every decision lives in the stage functions. Every write is
//! create-if-absent or conditional, so at-least-once delivery never applies anything
//! twice and concurrent writers never lose an update.

use crate::envelope::{Envelope, Stage};
use crate::routing::Assignment;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use leadq_scoring::{Band, Event, EventKind, Lead, NextAction, Outcome, ScoreCard};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// Why a store call failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum StoreError {
    /// A conditional write found another version than expected: reload and retry.
    #[error("lead {lead_id}: version conflict (expected {expected})")]
    Conflict {
        /// The lead written.
        lead_id: String,
        /// The version the writer expected.
        expected: u64,
    },
    /// The item does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// What kind of item (lead, alert, model version, ...).
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// An event with this id is already stored (the append wrote nothing).
    #[error("event {event_id} of lead {lead_id} already stored")]
    DuplicateEvent {
        /// The lead.
        lead_id: String,
        /// The duplicate event id.
        event_id: String,
    },
    /// Optimistic concurrency gave up after its bounded retries.
    #[error("{operation}: gave up after {attempts} attempts because of concurrent writes")]
    RetriesExhausted {
        /// The operation retried.
        operation: &'static str,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The backend failed or could not be reached (network, throttling, timeout).
    #[error("{operation}: storage backend failed: {message}")]
    Backend {
        /// The store operation, for example `get_lead` or `append_events`.
        operation: &'static str,
        /// What the backend said.
        message: String,
    },
    /// A stored item could not be decoded.
    #[error("{operation}: stored item is corrupt: {message}")]
    Corrupt {
        /// The store operation.
        operation: &'static str,
        /// What was wrong.
        message: String,
    },
}

/// Compact event aggregates kept on the lead item, so it never nears item size limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventAggregates {
    /// Number of events stored for the lead.
    pub count: u64,
    /// Time of the earliest event.
    pub first_event_at: Option<DateTime<Utc>>,
    /// Time of the latest event.
    pub last_event_at: Option<DateTime<Utc>>,
    /// Number of events by kind.
    pub by_kind: BTreeMap<EventKind, u64>,
}

impl EventAggregates {
    /// Counts one more event.
    pub fn add(&mut self, event: &Event) {
        self.count += 1;
        self.first_event_at = Some(self.first_event_at.map_or(event.at, |t| t.min(event.at)));
        self.last_event_at = Some(self.last_event_at.map_or(event.at, |t| t.max(event.at)));
        *self.by_kind.entry(event.kind).or_insert(0) += 1;
    }
}

/// Where an enriched field's value came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The provider (`form`, `email_analysis`, `title_parser`, `company_directory`, ...).
    pub provider: String,
    /// How sure the provider is, 0-1.
    pub confidence: f64,
    /// When the value was set.
    pub at: DateTime<Utc>,
}

/// A lead as stored: the lead, its version and its state in the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadRecord {
    /// The lead (its `id` is the record's key).
    pub lead: Lead,
    /// Optimistic-concurrency version; 1 on creation, +1 on every write.
    pub version: u64,
    /// Normalised email (lower case, plus-tag removed), unique across leads.
    pub email_key: Option<String>,
    /// Event aggregates.
    pub aggregates: EventAggregates,
    /// Provenance of enriched fields, by field path (for example `company.industry`).
    pub provenance: BTreeMap<String, Provenance>,
    /// The current verdict, once scored.
    pub card: Option<ScoreCard>,
    /// When the decayed score may next cross a band edge (the decay sweep's index).
    pub rescore_at: Option<DateTime<Utc>>,
    /// Who works the lead and why, once routed (records stored before routing have none).
    #[serde(default)]
    pub assignment: Option<Assignment>,
    /// How and when its deal closed, once an outcome arrived: a closed lead keeps no rep
    /// busy and raises no sales alert.
    #[serde(default)]
    pub closed: Option<Closed>,
    /// When the record was created.
    pub created_at: DateTime<Utc>,
    /// When the record was last written.
    pub updated_at: DateTime<Utc>,
}

impl LeadRecord {
    /// A new record (version 1) for a lead first seen at `now`.
    pub fn new(lead: Lead, email_key: Option<String>, now: DateTime<Utc>) -> LeadRecord {
        LeadRecord {
            lead,
            version: 1,
            email_key,
            aggregates: EventAggregates::default(),
            provenance: BTreeMap::new(),
            card: None,
            rescore_at: None,
            assignment: None,
            closed: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The lead's id.
    pub fn id(&self) -> &str {
        &self.lead.id
    }
}

/// How and when a lead's deal closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    /// Won or lost.
    pub status: leadq_scoring::OutcomeStatus,
    /// When the deal closed.
    pub at: DateTime<Utc>,
}

/// What `create_lead` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// The lead was new and is now stored.
    New,
    /// A lead with the same id or the same email key exists; nothing was written.
    Existing(String),
}

/// An event as stored, with the id that makes appending it idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Unique per lead: the sender's id, or a hash of the event's content.
    pub event_id: String,
    /// The event.
    pub event: Event,
    /// When leadq received it.
    pub received_at: DateTime<Utc>,
}

/// One entry of a lead's score history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When the lead was scored.
    pub at: DateTime<Utc>,
    /// Band before (none on the first score).
    pub from_band: Option<Band>,
    /// Band after.
    pub to_band: Band,
    /// Next action after.
    pub next_action: NextAction,
    /// Composite after.
    pub composite: u8,
    /// Why it was rescored (new lead, new events, decay, model change).
    pub cause: String,
    /// Model version that scored it.
    pub model_version: String,
}

/// State of an idempotency record (the Powertools semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdempotencyStatus {
    /// Someone is processing the request now.
    InProgress,
    /// Done; `data` holds the response to replay.
    Completed,
}

/// An idempotency record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The idempotency key.
    pub id: String,
    /// In progress or completed.
    pub status: IdempotencyStatus,
    /// When the record expires altogether (TTL).
    pub expiration: DateTime<Utc>,
    /// When an in-progress claim lapses (the holder is presumed dead).
    pub in_progress_expiration: DateTime<Utc>,
    /// The stored response, once completed.
    pub data: Option<String>,
}

/// What `claim_idempotency` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The caller holds the key now and must complete or release it.
    Claimed,
    /// Another caller holds a live claim.
    InProgress,
    /// Already done: replay this response.
    Completed(Option<String>),
}

/// State of an alert in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Waiting to be sent (or re-sent after a failed attempt).
    Pending,
    /// Delivered.
    Sent,
    /// Gave up after the last attempt; can be re-sent by hand.
    Failed,
}

/// A sales alert waiting in, or recorded by, the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Idempotency key: the same verdict of the same lead to the same hook gives the same id.
    pub id: String,
    /// The lead alerted about.
    pub lead_id: String,
    /// The notification hook's name.
    pub hook: String,
    /// The message body to send.
    pub payload: String,
    /// Pending, sent or failed.
    pub state: AlertState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Optimistic-concurrency version.
    pub version: u64,
    /// When the alert was created.
    pub created_at: DateTime<Utc>,
}

/// A stored model version, promoted or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// Version label, unique.
    pub version: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The model document (TOML).
    pub model_toml: String,
    /// Trained parameters and metrics (JSON), if trained.
    pub metrics_json: Option<String>,
    /// Whether it was promoted to active.
    pub promoted: bool,
    /// Why it was (or was not) promoted, in words.
    pub reason: String,
}

/// A page of ids and where to continue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The ids of this page.
    pub ids: Vec<String>,
    /// Pass back to get the next page; `None` when done.
    pub cursor: Option<String>,
}

/// What erasing a person leaves behind: the hashed email key, so the same person can be
/// recognised (and suppressed) if they come back without consent, but not read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// [`email_hash`] of the erased lead's normalised email.
    pub email_hash: String,
    /// The id the erased lead had.
    pub lead_id: String,
    /// When the lead was erased.
    pub erased_at: DateTime<Utc>,
}

/// The hashed form of a normalised email key kept in tombstones: hex SHA-256.
pub fn email_hash(email_key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(email_key.as_bytes()))
}

/// Lead state: leads, events, history, idempotency, outbox, outcomes, model versions.
#[async_trait]
pub trait LeadStore: Send + Sync {
    /// Stores a new lead unless one with the same id or email key exists.
    async fn create_lead(&self, record: &LeadRecord) -> Result<Created, StoreError>;
    /// Reads a lead.
    async fn get_lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError>;
    /// Finds the lead holding a normalised email.
    async fn find_lead_by_email(&self, email_key: &str) -> Result<Option<String>, StoreError>;
    /// Writes `record` if the stored version is `record.version - 1`; otherwise `Conflict`.
    async fn update_lead(&self, record: &LeadRecord) -> Result<(), StoreError>;
    /// Atomically stores `events` (each create-if-absent) and writes `record` (version
    /// checked as in `update_lead`). A duplicate event id fails the whole call with
    /// `DuplicateEvent` naming it; a stale version with `Conflict`. At most 99 events.
    async fn append_events(
        &self,
        record: &LeadRecord,
        events: &[StoredEvent],
    ) -> Result<(), StoreError>;
    /// All events of a lead, oldest first.
    async fn list_events(&self, lead_id: &str) -> Result<Vec<StoredEvent>, StoreError>;
    /// Which of `event_ids` are already stored for the lead, so writers can drop them
    /// before appending. The default reads every event; adapters may look up just these.
    async fn existing_event_ids(
        &self,
        lead_id: &str,
        event_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let wanted: HashSet<&str> = event_ids.iter().map(String::as_str).collect();
        Ok(self
            .list_events(lead_id)
            .await?
            .into_iter()
            .filter(|stored| wanted.contains(stored.event_id.as_str()))
            .map(|stored| stored.event_id)
            .collect())
    }
    /// Adds an entry to a lead's score history (idempotent on `at`); `NotFound` and nothing
    /// written if the lead is not stored (or is being erased), so no history outlives it.
    async fn add_history(&self, lead_id: &str, entry: &HistoryEntry) -> Result<(), StoreError>;
    /// A lead's score history, oldest first.
    async fn list_history(&self, lead_id: &str) -> Result<Vec<HistoryEntry>, StoreError>;
    /// Erases a person: the lead, its events, score history, alerts (every state) and email
    /// lock, and frees its rep's slot; keeps a tombstone of the hashed email key. Ok(true)
    /// if the lead existed; erasing again removes anything written for it meanwhile.
    async fn erase_lead(&self, lead_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The tombstone left by erasing the person with this hashed email key.
    async fn find_tombstone(&self, email_hash: &str) -> Result<Option<Tombstone>, StoreError>;
    /// Leads whose `rescore_at` is at or before `due`, a page at a time.
    async fn leads_due_for_rescore(
        &self,
        due: DateTime<Utc>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page, StoreError>;

    /// Claims an idempotency key: succeeds if absent, expired, or an in-progress claim lapsed.
    async fn claim_idempotency(
        &self,
        key: &str,
        now: DateTime<Utc>,
        expiration: DateTime<Utc>,
        in_progress_expiration: DateTime<Utc>,
    ) -> Result<Claim, StoreError>;
    /// Marks a claimed key completed with the response to replay.
    async fn complete_idempotency(
        &self,
        key: &str,
        data: Option<String>,
        expiration: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Drops a claim after a failure, so a retry can claim it again.
    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError>;

    /// Stores an alert unless one with the same id exists (`false` then).
    async fn enqueue_alert(&self, alert: &Alert) -> Result<bool, StoreError>;
    /// Writes an alert if the stored version is `alert.version - 1`; otherwise `Conflict`.
    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError>;
    /// Alerts in a state, oldest first.
    async fn alerts_in_state(
        &self,
        state: AlertState,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError>;

    /// Stores an outcome (one per lead; a later one replaces it).
    async fn put_outcome(&self, outcome: &Outcome) -> Result<(), StoreError>;
    /// Every stored outcome.
    async fn list_outcomes(&self) -> Result<Vec<Outcome>, StoreError>;

    /// Stores a model version (create-if-absent: `false` if the label exists).
    async fn put_model_version(&self, version: &ModelVersion) -> Result<bool, StoreError>;
    /// Model versions, newest first.
    async fn list_model_versions(&self) -> Result<Vec<ModelVersion>, StoreError>;
    /// Points the active-model pointer at a stored version.
    async fn set_active_model(&self, version: &str) -> Result<(), StoreError>;
    /// The active model version, if one was set.
    async fn active_model(&self) -> Result<Option<ModelVersion>, StoreError>;
}

/// How much of a rep's capacity is in use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepLoad {
    /// Leads the rep holds now (counted against `max_open_leads`).
    pub open: u32,
    /// Leads given to the rep on the day asked about (counted against `max_new_per_day`).
    pub new_today: u32,
}

/// The caps a take is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepCaps {
    /// Most leads the rep may hold at once.
    pub max_open_leads: u32,
    /// Most leads the rep may be given in one day.
    pub max_new_per_day: u32,
}

/// What [`RepLedger::take`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// The slot was taken for the lead; the rep's load right after.
    Taken(RepLoad),
    /// The lead already held a slot of this rep (a repeat): nothing changed.
    AlreadyHeld(RepLoad),
    /// The lead holds a slot of another rep: nothing changed (release it first).
    HeldByOther(String),
    /// A cap is reached: nothing changed; the load as found.
    Full(RepLoad),
}

/// Reps' capacity: which rep holds which lead, and how many leads each was given per day.
///
/// A lead holds at most one rep's slot. Taking one is a single conditional write of the
/// holding and both counters, so concurrent takes never push a rep past a cap and taking
/// twice for the same lead changes nothing.
#[async_trait]
pub trait RepLedger: Send + Sync {
    /// Gives `lead_id` a slot of `rep` on `day` (the rep's local day) if both caps allow.
    async fn take(
        &self,
        rep: &str,
        lead_id: &str,
        day: NaiveDate,
        caps: RepCaps,
        now: DateTime<Utc>,
    ) -> Result<Take, StoreError>;
    /// Frees the slot the lead holds (its rep's open count drops by one; the day's count
    /// stays, as the lead was given that day). Returns the rep released, `None` if the lead
    /// held none.
    async fn release(&self, lead_id: &str) -> Result<Option<String>, StoreError>;
    /// The rep whose slot the lead holds.
    async fn holder(&self, lead_id: &str) -> Result<Option<String>, StoreError>;
    /// A rep's load on `day`.
    async fn load(&self, rep: &str, day: NaiveDate) -> Result<RepLoad, StoreError>;
    /// Several reps' loads, each on its own day, in the order asked. Backends that can
    /// read many items in one round trip (DynamoDB's BatchGetItem) override this.
    async fn loads(&self, reps: &[(&str, NaiveDate)]) -> Result<Vec<RepLoad>, StoreError> {
        let mut loads = Vec::with_capacity(reps.len());
        for (rep, day) in reps {
            loads.push(self.load(rep, *day).await?);
        }
        Ok(loads)
    }
}

/// Why a queue call failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum QueueError {
    /// An envelope is larger than the queue accepts; nothing of the batch was sent.
    #[error("message for lead {lead_id} is {size} bytes, above the {limit}-byte limit")]
    TooLarge {
        /// The lead of the oversized message.
        lead_id: String,
        /// Its size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The backend failed or could not be reached.
    #[error("{operation}: queue backend failed: {message}")]
    Backend {
        /// The queue operation, for example `send` or `receive`.
        operation: &'static str,
        /// What the backend said.
        message: String,
    },
}

/// A message received from a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The message id.
    pub message_id: String,
    /// The handle to ack or fail it with.
    pub receipt: String,
    /// The raw body (an [`Envelope`] in JSON, unless poisoned).
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// Work queues between the stages.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Sends envelopes to a stage's queue (any number; adapters chunk as needed).
    async fn send(&self, stage: Stage, envelopes: &[Envelope]) -> Result<(), QueueError>;
    /// Sends a raw body (tests use it to send poison messages).
    async fn send_raw(&self, stage: Stage, body: &str) -> Result<(), QueueError>;
    /// Receives up to `max` visible messages, hiding them for `visibility`.
    async fn receive(
        &self,
        stage: Stage,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError>;
    /// Deletes a processed message.
    async fn ack(&self, stage: Stage, receipt: &str) -> Result<(), QueueError>;
    /// Deletes several processed messages, stopping at the first error (the rest come back
    /// after their visibility timeout). Backends that can delete many in one write
    /// override it.
    async fn ack_all(&self, stage: Stage, receipts: &[String]) -> Result<(), QueueError> {
        for receipt in receipts {
            self.ack(stage, receipt).await?;
        }
        Ok(())
    }
    /// Makes a failed message visible again at once; after the queue's maximum receive
    /// count it moves to the dead-letter queue.
    async fn fail(&self, stage: Stage, receipt: &str) -> Result<(), QueueError>;
    /// Bodies in a stage's dead-letter queue (inspection and redrive).
    async fn dead_letters(&self, stage: Stage, max: usize) -> Result<Vec<Delivery>, QueueError>;
}

/// The time, as a port so tests can hold it still.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that says what it is told (tests).
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::Mutex<DateTime<Utc>>);

impl FixedClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> FixedClock {
        FixedClock(std::sync::Mutex::new(at))
    }

    /// Moves the clock.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_hash_is_hex_sha256() {
        // the FIPS 180-2 test vector of "abc"
        assert_eq!(
            email_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(email_hash("ada@example.com").len(), 64);
        assert_ne!(email_hash("ada@example.com"), email_hash("bob@example.com"));
    }
}
