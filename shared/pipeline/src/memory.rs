//! In-memory adapters for tests and demos: [`MemoryStore`] and [`MemoryQueue`].
//!
//! They keep the exact semantics of the port docs (create-if-absent, version checks,
//! atomic appends, the Powertools idempotency condition, visibility timeouts and
//! dead-lettering), each call under one lock, so a call is atomic.

use crate::embedded::{claim_blocked_by, encode_rescore_cursor, rescore_page_start, time_key};
use crate::envelope::{Envelope, MAX_MESSAGE_BYTES, Stage};
use crate::ports::*;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use leadq_scoring::Outcome;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Default receives after which a failed message moves to the dead-letter queue.
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;

/// Longest visibility timeout (SQS's limit, 12 hours); longer requests are capped.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// Most events one `append_events` call may carry.
const MAX_APPEND: usize = 99;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // every write below is validated before it mutates, so a poisoned state is consistent
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct StoreState {
    leads: HashMap<String, LeadRecord>,
    emails: HashMap<String, String>,
    events: HashMap<String, Vec<StoredEvent>>,
    event_ids: HashMap<String, HashSet<String>>,
    history: HashMap<String, BTreeMap<i64, HistoryEntry>>,
    idempotency: HashMap<String, IdempotencyRecord>,
    alerts: HashMap<String, Alert>,
    outcomes: BTreeMap<String, Outcome>,
    models: HashMap<String, ModelVersion>,
    active_model: Option<String>,
    tombstones: HashMap<String, Tombstone>,
}

impl StoreState {
    fn check_version(
        &self,
        operation: &'static str,
        record: &LeadRecord,
    ) -> Result<(), StoreError> {
        let stored = self
            .leads
            .get(record.id())
            .ok_or_else(|| StoreError::NotFound {
                what: "lead",
                id: record.id().to_string(),
            })?;
        if stored.version + 1 != record.version {
            return Err(StoreError::Conflict {
                lead_id: record.id().to_string(),
                expected: record.version.saturating_sub(1),
            });
        }
        if let Some(key) = &record.email_key
            && let Some(owner) = self.emails.get(key)
            && owner != record.id()
        {
            return Err(StoreError::Backend {
                operation,
                message: format!("email key {key} already belongs to lead {owner}"),
            });
        }
        Ok(())
    }

    /// Writes a record whose version was checked, moving its email claim if it changed.
    fn put_checked(&mut self, record: &LeadRecord) {
        if let Some(old) = self.leads.get(record.id())
            && old.email_key != record.email_key
            && let Some(key) = &old.email_key
        {
            self.emails.remove(key);
        }
        if let Some(key) = &record.email_key {
            self.emails.insert(key.clone(), record.id().to_string());
        }
        self.leads.insert(record.id().to_string(), record.clone());
    }
}

/// A [`LeadStore`] in memory.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<StoreState>,
    ledger: Arc<Mutex<LedgerState>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Reps' capacity kept with this store, so erasing a lead frees its rep's slot (as
    /// the SQLite and DynamoDB stores do with the ledger in their file or table).
    pub fn ledger(&self) -> MemoryLedger {
        MemoryLedger {
            state: Arc::clone(&self.ledger),
        }
    }
}

#[async_trait]
impl LeadStore for MemoryStore {
    async fn create_lead(&self, record: &LeadRecord) -> Result<Created, StoreError> {
        let mut state = lock(&self.state);
        if state.leads.contains_key(record.id()) {
            return Ok(Created::Existing(record.id().to_string()));
        }
        if let Some(owner) = record
            .email_key
            .as_ref()
            .and_then(|key| state.emails.get(key))
        {
            return Ok(Created::Existing(owner.clone()));
        }
        state.put_checked(record);
        Ok(Created::New)
    }

    async fn get_lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError> {
        Ok(lock(&self.state).leads.get(lead_id).cloned())
    }

    async fn find_lead_by_email(&self, email_key: &str) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.state).emails.get(email_key).cloned())
    }

    async fn update_lead(&self, record: &LeadRecord) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state.check_version("update_lead", record)?;
        state.put_checked(record);
        Ok(())
    }

    async fn append_events(
        &self,
        record: &LeadRecord,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        if events.len() > MAX_APPEND {
            return Err(StoreError::Backend {
                operation: "append_events",
                message: format!(
                    "{} events in one append, at most {MAX_APPEND}",
                    events.len()
                ),
            });
        }
        let mut state = lock(&self.state);
        state.check_version("append_events", record)?;
        let stored = state.event_ids.get(record.id());
        let mut batch = HashSet::with_capacity(events.len());
        for event in events {
            let known = stored.is_some_and(|ids| ids.contains(&event.event_id));
            if known || !batch.insert(event.event_id.as_str()) {
                return Err(StoreError::DuplicateEvent {
                    lead_id: record.id().to_string(),
                    event_id: event.event_id.clone(),
                });
            }
        }
        let lead_id = record.id().to_string();
        let ids = state.event_ids.entry(lead_id.clone()).or_default();
        ids.extend(events.iter().map(|e| e.event_id.clone()));
        state
            .events
            .entry(lead_id)
            .or_default()
            .extend_from_slice(events);
        state.put_checked(record);
        Ok(())
    }

    async fn list_events(&self, lead_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = lock(&self.state)
            .events
            .get(lead_id)
            .cloned()
            .unwrap_or_default();
        // stable: events at the same time stay in the order they were stored
        events.sort_by_key(|e| e.event.at);
        Ok(events)
    }

    async fn existing_event_ids(
        &self,
        lead_id: &str,
        event_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let state = lock(&self.state);
        let Some(stored) = state.event_ids.get(lead_id) else {
            return Ok(HashSet::new());
        };
        Ok(event_ids
            .iter()
            .filter(|id| stored.contains(*id))
            .cloned()
            .collect())
    }

    async fn add_history(&self, lead_id: &str, entry: &HistoryEntry) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if !state.leads.contains_key(lead_id) {
            return Err(StoreError::NotFound {
                what: "lead",
                id: lead_id.to_string(),
            });
        }
        let history = state.history.entry(lead_id.to_string()).or_default();
        history
            .entry(time_key(entry.at))
            .or_insert_with(|| entry.clone());
        Ok(())
    }

    async fn list_history(&self, lead_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .history
            .get(lead_id)
            .map(|history| history.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn erase_lead(&self, lead_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        // an erased lead keeps no rep busy
        lock(&self.ledger).release(lead_id);
        // alert payloads carry the person's name and company: none outlives the erase,
        // whatever its state (also when the lead is already gone, so a retry cleans up)
        state.alerts.retain(|_, alert| alert.lead_id != lead_id);
        let Some(record) = state.leads.remove(lead_id) else {
            return Ok(false);
        };
        state.events.remove(lead_id);
        state.event_ids.remove(lead_id);
        state.history.remove(lead_id);
        if let Some(key) = &record.email_key {
            if state.emails.get(key).map(String::as_str) == Some(lead_id) {
                state.emails.remove(key);
            }
            let tombstone = Tombstone {
                email_hash: email_hash(key),
                lead_id: lead_id.to_string(),
                erased_at: now,
            };
            state
                .tombstones
                .insert(tombstone.email_hash.clone(), tombstone);
        }
        Ok(true)
    }

    async fn find_tombstone(&self, email_hash: &str) -> Result<Option<Tombstone>, StoreError> {
        Ok(lock(&self.state).tombstones.get(email_hash).cloned())
    }

    async fn leads_due_for_rescore(
        &self,
        due: DateTime<Utc>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page, StoreError> {
        let after = rescore_page_start(cursor.as_deref())?;
        let state = lock(&self.state);
        let mut due_leads: Vec<(i64, &str)> = state
            .leads
            .values()
            .filter_map(|record| {
                let at = record.rescore_at.filter(|at| *at <= due)?;
                Some((time_key(at), record.id()))
            })
            .filter(|(key, id)| {
                after.as_ref().is_none_or(|(after_key, after_id)| {
                    (*key, *id) > (*after_key, after_id.as_str())
                })
            })
            .collect();
        due_leads.sort_unstable();
        let limit = limit.max(1);
        let more = due_leads.len() > limit;
        due_leads.truncate(limit);
        let cursor = match due_leads.last() {
            Some((key, id)) if more => Some(encode_rescore_cursor(*key, id)),
            _ => None,
        };
        Ok(Page {
            ids: due_leads
                .into_iter()
                .map(|(_, id)| id.to_string())
                .collect(),
            cursor,
        })
    }

    async fn claim_idempotency(
        &self,
        key: &str,
        now: DateTime<Utc>,
        expiration: DateTime<Utc>,
        in_progress_expiration: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mut state = lock(&self.state);
        if let Some(found) = claim_blocked_by(state.idempotency.get(key), now) {
            return Ok(found);
        }
        state.idempotency.insert(
            key.to_string(),
            IdempotencyRecord {
                id: key.to_string(),
                status: IdempotencyStatus::InProgress,
                expiration,
                in_progress_expiration,
                data: None,
            },
        );
        Ok(Claim::Claimed)
    }

    async fn complete_idempotency(
        &self,
        key: &str,
        data: Option<String>,
        expiration: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let record =
            state
                .idempotency
                .entry(key.to_string())
                .or_insert_with(|| IdempotencyRecord {
                    id: key.to_string(),
                    status: IdempotencyStatus::Completed,
                    expiration,
                    in_progress_expiration: expiration,
                    data: None,
                });
        record.status = IdempotencyStatus::Completed;
        record.expiration = expiration;
        record.data = data;
        Ok(())
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.state).idempotency.remove(key);
        Ok(())
    }

    async fn enqueue_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if state.alerts.contains_key(&alert.id) {
            return Ok(false);
        }
        state.alerts.insert(alert.id.clone(), alert.clone());
        Ok(true)
    }

    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .alerts
            .get_mut(&alert.id)
            .ok_or_else(|| StoreError::NotFound {
                what: "alert",
                id: alert.id.clone(),
            })?;
        if stored.version + 1 != alert.version {
            return Err(StoreError::Conflict {
                lead_id: alert.lead_id.clone(),
                expected: alert.version.saturating_sub(1),
            });
        }
        *stored = alert.clone();
        Ok(())
    }

    async fn alerts_in_state(
        &self,
        state: AlertState,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError> {
        let store = lock(&self.state);
        let mut alerts: Vec<&Alert> = store.alerts.values().filter(|a| a.state == state).collect();
        alerts.sort_unstable_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(alerts.into_iter().take(limit).cloned().collect())
    }

    async fn put_outcome(&self, outcome: &Outcome) -> Result<(), StoreError> {
        lock(&self.state)
            .outcomes
            .insert(outcome.lead_id.clone(), outcome.clone());
        Ok(())
    }

    async fn list_outcomes(&self) -> Result<Vec<Outcome>, StoreError> {
        Ok(lock(&self.state).outcomes.values().cloned().collect())
    }

    async fn put_model_version(&self, version: &ModelVersion) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if state.models.contains_key(&version.version) {
            return Ok(false);
        }
        state
            .models
            .insert(version.version.clone(), version.clone());
        Ok(true)
    }

    async fn list_model_versions(&self) -> Result<Vec<ModelVersion>, StoreError> {
        let state = lock(&self.state);
        let mut versions: Vec<ModelVersion> = state.models.values().cloned().collect();
        versions
            .sort_unstable_by(|a, b| (b.created_at, &b.version).cmp(&(a.created_at, &a.version)));
        Ok(versions)
    }

    async fn set_active_model(&self, version: &str) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if !state.models.contains_key(version) {
            return Err(StoreError::NotFound {
                what: "model version",
                id: version.to_string(),
            });
        }
        state.active_model = Some(version.to_string());
        Ok(())
    }

    async fn active_model(&self) -> Result<Option<ModelVersion>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .active_model
            .as_ref()
            .and_then(|version| state.models.get(version))
            .cloned())
    }
}

/// A test seam: what a [`HookedStore`] runs before it forwards a lead write.
///
/// Each method may write to the store itself (to stage a race) or return an error, which
/// the write then returns without writing. The defaults do nothing.
#[async_trait]
pub trait WriteHook: Send + Sync {
    /// Runs before `update_lead`.
    async fn before_update(
        &self,
        _store: &MemoryStore,
        _record: &LeadRecord,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Runs before `append_events`.
    async fn before_append(
        &self,
        _store: &MemoryStore,
        _record: &LeadRecord,
        _events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Runs before `erase_lead`.
    async fn before_erase(&self, _store: &MemoryStore, _lead_id: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Runs before `enqueue_alert`.
    async fn before_enqueue_alert(
        &self,
        _store: &MemoryStore,
        _alert: &Alert,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A [`MemoryStore`] that runs a [`WriteHook`] before each lead write and forwards every
/// call, so a test double states only what it changes.
#[derive(Default)]
pub struct HookedStore<H> {
    /// The store every call is forwarded to.
    pub store: MemoryStore,
    /// What runs before the lead writes.
    pub hook: H,
}

impl<H: WriteHook> HookedStore<H> {
    /// An empty store with `hook`.
    pub fn new(hook: H) -> HookedStore<H> {
        HookedStore {
            store: MemoryStore::new(),
            hook,
        }
    }
}

#[async_trait]
impl<H: WriteHook> LeadStore for HookedStore<H> {
    async fn create_lead(&self, record: &LeadRecord) -> Result<Created, StoreError> {
        self.store.create_lead(record).await
    }
    async fn get_lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError> {
        self.store.get_lead(lead_id).await
    }
    async fn find_lead_by_email(&self, email_key: &str) -> Result<Option<String>, StoreError> {
        self.store.find_lead_by_email(email_key).await
    }
    async fn update_lead(&self, record: &LeadRecord) -> Result<(), StoreError> {
        self.hook.before_update(&self.store, record).await?;
        self.store.update_lead(record).await
    }
    async fn append_events(
        &self,
        record: &LeadRecord,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        self.hook.before_append(&self.store, record, events).await?;
        self.store.append_events(record, events).await
    }
    async fn list_events(&self, lead_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.store.list_events(lead_id).await
    }
    async fn existing_event_ids(
        &self,
        lead_id: &str,
        event_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        self.store.existing_event_ids(lead_id, event_ids).await
    }
    async fn add_history(&self, lead_id: &str, entry: &HistoryEntry) -> Result<(), StoreError> {
        self.store.add_history(lead_id, entry).await
    }
    async fn list_history(&self, lead_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        self.store.list_history(lead_id).await
    }
    async fn erase_lead(&self, lead_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.hook.before_erase(&self.store, lead_id).await?;
        self.store.erase_lead(lead_id, now).await
    }
    async fn find_tombstone(&self, email_hash: &str) -> Result<Option<Tombstone>, StoreError> {
        self.store.find_tombstone(email_hash).await
    }
    async fn leads_due_for_rescore(
        &self,
        due: DateTime<Utc>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page, StoreError> {
        self.store.leads_due_for_rescore(due, limit, cursor).await
    }
    async fn claim_idempotency(
        &self,
        key: &str,
        now: DateTime<Utc>,
        expiration: DateTime<Utc>,
        in_progress_expiration: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        self.store
            .claim_idempotency(key, now, expiration, in_progress_expiration)
            .await
    }
    async fn complete_idempotency(
        &self,
        key: &str,
        data: Option<String>,
        expiration: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store.complete_idempotency(key, data, expiration).await
    }
    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        self.store.release_idempotency(key).await
    }
    async fn enqueue_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        self.hook.before_enqueue_alert(&self.store, alert).await?;
        self.store.enqueue_alert(alert).await
    }
    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        self.store.update_alert(alert).await
    }
    async fn alerts_in_state(
        &self,
        state: AlertState,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError> {
        self.store.alerts_in_state(state, limit).await
    }
    async fn put_outcome(&self, outcome: &Outcome) -> Result<(), StoreError> {
        self.store.put_outcome(outcome).await
    }
    async fn list_outcomes(&self) -> Result<Vec<Outcome>, StoreError> {
        self.store.list_outcomes().await
    }
    async fn put_model_version(&self, version: &ModelVersion) -> Result<bool, StoreError> {
        self.store.put_model_version(version).await
    }
    async fn list_model_versions(&self) -> Result<Vec<ModelVersion>, StoreError> {
        self.store.list_model_versions().await
    }
    async fn set_active_model(&self, version: &str) -> Result<(), StoreError> {
        self.store.set_active_model(version).await
    }
    async fn active_model(&self) -> Result<Option<ModelVersion>, StoreError> {
        self.store.active_model().await
    }
}

struct Message {
    message_id: String,
    body: String,
    receive_count: u32,
    visible_at: Instant,
    receipt: Option<String>,
}

impl Message {
    fn delivery(&self, receipt: String) -> Delivery {
        Delivery {
            message_id: self.message_id.clone(),
            receipt,
            body: self.body.clone(),
            receive_count: self.receive_count,
        }
    }
}

#[derive(Default)]
struct StageQueue {
    messages: Vec<Message>,
    dead: Vec<Message>,
}

#[derive(Default)]
struct QueueState {
    sent: u64,
    stages: HashMap<Stage, StageQueue>,
}

/// A [`WorkQueue`] in memory: one queue and one dead-letter queue per stage.
pub struct MemoryQueue {
    max_receive_count: u32,
    state: Mutex<QueueState>,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        MemoryQueue::new(DEFAULT_MAX_RECEIVE_COUNT)
    }
}

impl MemoryQueue {
    /// Empty queues that dead-letter a message once it failed `max_receive_count` receives.
    pub fn new(max_receive_count: u32) -> MemoryQueue {
        MemoryQueue {
            max_receive_count: max_receive_count.max(1),
            state: Mutex::new(QueueState::default()),
        }
    }

    /// Receives after which a failed message moves to the dead-letter queue.
    pub fn max_receive_count(&self) -> u32 {
        self.max_receive_count
    }

    fn push(&self, stage: Stage, bodies: Vec<String>) {
        let mut state = lock(&self.state);
        let now = Instant::now();
        for body in bodies {
            state.sent += 1;
            let message_id = format!("{}-{:08}", stage.name(), state.sent);
            state
                .stages
                .entry(stage)
                .or_default()
                .messages
                .push(Message {
                    message_id,
                    body,
                    receive_count: 0,
                    visible_at: now,
                    receipt: None,
                });
        }
    }
}

fn check_size(lead_id: &str, body: &str) -> Result<(), QueueError> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(QueueError::TooLarge {
            lead_id: lead_id.to_string(),
            size: body.len(),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    Ok(())
}

#[async_trait]
impl WorkQueue for MemoryQueue {
    async fn send(&self, stage: Stage, envelopes: &[Envelope]) -> Result<(), QueueError> {
        let mut bodies = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let body = envelope.to_json();
            check_size(&envelope.lead_id, &body)?;
            bodies.push(body);
        }
        self.push(stage, bodies);
        Ok(())
    }

    async fn send_raw(&self, stage: Stage, body: &str) -> Result<(), QueueError> {
        check_size("(raw)", body)?;
        self.push(stage, vec![body.to_string()]);
        Ok(())
    }

    async fn receive(
        &self,
        stage: Stage,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let mut state = lock(&self.state);
        let queue = state.stages.entry(stage).or_default();
        let now = Instant::now();
        let hidden_until = now + visibility.min(MAX_VISIBILITY);
        let mut out = Vec::new();
        let mut i = 0;
        while i < queue.messages.len() && out.len() < max {
            let message = &mut queue.messages[i];
            if message.visible_at > now {
                i += 1;
                continue;
            }
            if message.receive_count >= self.max_receive_count {
                // received too often without an ack: redrive, as SQS does on receive
                let mut dead = queue.messages.remove(i);
                dead.receipt = None;
                queue.dead.push(dead);
                continue;
            }
            message.receive_count += 1;
            message.visible_at = hidden_until;
            let receipt = format!("{}#{}", message.message_id, message.receive_count);
            message.receipt = Some(receipt.clone());
            out.push(message.delivery(receipt));
            i += 1;
        }
        Ok(out)
    }

    async fn ack(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        let mut state = lock(&self.state);
        let queue = state.stages.entry(stage).or_default();
        // an unknown or outdated receipt is a no-op: the message was acked or re-received
        queue
            .messages
            .retain(|m| m.receipt.as_deref() != Some(receipt));
        Ok(())
    }

    async fn fail(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        let mut state = lock(&self.state);
        let queue = state.stages.entry(stage).or_default();
        let Some(i) = queue
            .messages
            .iter()
            .position(|m| m.receipt.as_deref() == Some(receipt))
        else {
            return Ok(());
        };
        if queue.messages[i].receive_count >= self.max_receive_count {
            let mut dead = queue.messages.remove(i);
            dead.receipt = None;
            queue.dead.push(dead);
        } else {
            queue.messages[i].visible_at = Instant::now();
        }
        Ok(())
    }

    async fn dead_letters(&self, stage: Stage, max: usize) -> Result<Vec<Delivery>, QueueError> {
        let state = lock(&self.state);
        Ok(state
            .stages
            .get(&stage)
            .map(|queue| {
                queue
                    .dead
                    .iter()
                    .take(max)
                    .map(|m| m.delivery(format!("dead:{}", m.message_id)))
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[derive(Default)]
struct LedgerState {
    /// The rep whose slot each lead holds.
    holdings: HashMap<String, String>,
    /// Leads held, by rep.
    open: HashMap<String, u32>,
    /// Leads given, by rep and day.
    given: HashMap<(String, NaiveDate), u32>,
}

impl LedgerState {
    fn release(&mut self, lead_id: &str) -> Option<String> {
        let rep = self.holdings.remove(lead_id)?;
        if let Some(open) = self.open.get_mut(&rep) {
            *open = open.saturating_sub(1);
        }
        Some(rep)
    }

    fn load(&self, rep: &str, day: NaiveDate) -> RepLoad {
        RepLoad {
            open: self.open.get(rep).copied().unwrap_or(0),
            new_today: self
                .given
                .get(&(rep.to_string(), day))
                .copied()
                .unwrap_or(0),
        }
    }
}

/// A [`RepLedger`] in memory; each call under one lock, so a take is atomic.
#[derive(Default)]
pub struct MemoryLedger {
    state: Arc<Mutex<LedgerState>>,
}

impl MemoryLedger {
    /// An empty ledger: every rep has a load of zero.
    pub fn new() -> MemoryLedger {
        MemoryLedger::default()
    }
}

#[async_trait]
impl RepLedger for MemoryLedger {
    async fn take(
        &self,
        rep: &str,
        lead_id: &str,
        day: NaiveDate,
        caps: RepCaps,
        _now: DateTime<Utc>,
    ) -> Result<Take, StoreError> {
        let mut state = lock(&self.state);
        let load = state.load(rep, day);
        match state.holdings.get(lead_id) {
            Some(holder) if holder == rep => return Ok(Take::AlreadyHeld(load)),
            Some(holder) => return Ok(Take::HeldByOther(holder.clone())),
            None => {}
        }
        if load.open >= caps.max_open_leads || load.new_today >= caps.max_new_per_day {
            return Ok(Take::Full(load));
        }
        state.holdings.insert(lead_id.to_string(), rep.to_string());
        *state.open.entry(rep.to_string()).or_insert(0) += 1;
        *state.given.entry((rep.to_string(), day)).or_insert(0) += 1;
        Ok(Take::Taken(state.load(rep, day)))
    }

    async fn release(&self, lead_id: &str) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.state).release(lead_id))
    }

    async fn holder(&self, lead_id: &str) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.state).holdings.get(lead_id).cloned())
    }

    async fn load(&self, rep: &str, day: NaiveDate) -> Result<RepLoad, StoreError> {
        Ok(lock(&self.state).load(rep, day))
    }
}
