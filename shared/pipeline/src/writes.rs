//! Lead writes over the store port: recording events and read-modify-write of a lead.
//!
//! This is stage logic, written once: adapters only store what these functions decide.
//! Both functions reload and retry on a version conflict with bounded exponential
//! backoff and full jitter ([`RetryPolicy`]), so concurrent writers never lose an update.

use crate::ports::{LeadRecord, LeadStore, StoreError, StoredEvent};
use crate::retry::RetryPolicy;
use chrono::{DateTime, SecondsFormat, Utc};
use leadq_scoring::Event;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Most events one `append_events` call may carry (a DynamoDB transaction holds 100
/// actions: the events and the lead record).
pub const MAX_EVENTS_PER_APPEND: usize = 99;

/// An event as received, with the sender's id if it gave one.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The sender's event id; `None` (or blank) to derive one from the content.
    pub id: Option<String>,
    /// The event.
    pub event: Event,
}

impl NewEvent {
    /// An event without a sender id.
    pub fn new(event: Event) -> NewEvent {
        NewEvent { id: None, event }
    }

    /// An event with the sender's id.
    pub fn with_id(id: impl Into<String>, event: Event) -> NewEvent {
        NewEvent {
            id: Some(id.into()),
            event,
        }
    }

    /// The id the event is stored under: the sender's, else [`content_event_id`].
    pub fn event_id(&self) -> String {
        match self.id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => content_event_id(&self.event),
        }
    }
}

/// A stable id derived from an event's content (kind, time, minutes, properties):
/// `ev-` and the first 128 bits of a SHA-256, the same on every run and platform.
pub fn content_event_id(event: &Event) -> String {
    fn field(hasher: &mut Sha256, bytes: &[u8]) {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    let mut hasher = Sha256::new();
    field(&mut hasher, b"leadq.event.v1");
    field(&mut hasher, event.kind.name().as_bytes());
    field(
        &mut hasher,
        event
            .at
            .to_rfc3339_opts(SecondsFormat::Nanos, true)
            .as_bytes(),
    );
    match event.minutes {
        Some(minutes) => {
            // -0.0 and 0.0 are the same duration
            let minutes = if minutes == 0.0 { 0.0 } else { minutes };
            field(&mut hasher, &minutes.to_bits().to_be_bytes());
        }
        None => field(&mut hasher, b""),
    }
    hasher.update((event.properties.len() as u64).to_be_bytes());
    for (key, value) in &event.properties {
        field(&mut hasher, key.as_bytes());
        field(&mut hasher, value.as_bytes());
    }
    let digest = hasher.finalize();
    format!("ev-{}", hex::encode(&digest[..16]))
}

/// What [`record_events`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendReport {
    /// Events newly stored.
    pub appended: usize,
    /// Events dropped because their id was already stored (or repeated in the input).
    pub duplicates: usize,
    /// Store round trips of the append loop (one per attempt).
    pub attempts: u32,
    /// The lead as stored after the last write (or as read, if nothing was written).
    pub record: LeadRecord,
}

/// Stores a lead's new events and updates its aggregates, exactly once per event id.
///
/// Loads the lead, drops events whose id is already stored, adds the rest to the
/// aggregates and appends them with the record (at most [`MAX_EVENTS_PER_APPEND`] per
/// call). On `Conflict` it reloads and retries after a backoff; on `DuplicateEvent` it
/// drops that event and retries. `RetriesExhausted` when a chunk runs out of attempts.
pub async fn record_events(
    store: &dyn LeadStore,
    lead_id: &str,
    events: &[NewEvent],
    now: DateTime<Utc>,
    policy: &RetryPolicy,
) -> Result<AppendReport, StoreError> {
    let mut seen = HashSet::with_capacity(events.len());
    let mut pending = Vec::with_capacity(events.len());
    let mut duplicates = 0;
    for new in events {
        let event_id = new.event_id();
        if seen.insert(event_id.clone()) {
            pending.push(StoredEvent {
                event_id,
                event: new.event.clone(),
                received_at: now,
            });
        } else {
            duplicates += 1;
        }
    }

    let mut progress = Progress {
        appended: 0,
        duplicates,
        attempts: 0,
        record: None,
    };
    for chunk in pending.chunks(MAX_EVENTS_PER_APPEND) {
        append_chunk(store, lead_id, chunk.to_vec(), now, policy, &mut progress).await?;
    }
    let record = match progress.record {
        Some(record) => record,
        None => load(store, lead_id).await?,
    };
    Ok(AppendReport {
        appended: progress.appended,
        duplicates: progress.duplicates,
        attempts: progress.attempts,
        record,
    })
}

struct Progress {
    appended: usize,
    duplicates: usize,
    attempts: u32,
    record: Option<LeadRecord>,
}

async fn load(store: &dyn LeadStore, lead_id: &str) -> Result<LeadRecord, StoreError> {
    store
        .get_lead(lead_id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "lead",
            id: lead_id.to_string(),
        })
}

async fn append_chunk(
    store: &dyn LeadStore,
    lead_id: &str,
    mut chunk: Vec<StoredEvent>,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
    progress: &mut Progress,
) -> Result<(), StoreError> {
    let mut check_stored = true;
    let mut attempt = 0;
    loop {
        attempt += 1;
        progress.attempts += 1;
        let record = load(store, lead_id).await?;
        if check_stored {
            let ids: Vec<String> = chunk.iter().map(|e| e.event_id.clone()).collect();
            let stored = store.existing_event_ids(lead_id, &ids).await?;
            let before = chunk.len();
            chunk.retain(|e| !stored.contains(&e.event_id));
            progress.duplicates += before - chunk.len();
            check_stored = false;
        }
        if chunk.is_empty() {
            progress.record = Some(record);
            return Ok(());
        }

        let mut next = record;
        for stored in &chunk {
            next.aggregates.add(&stored.event);
        }
        next.version += 1;
        next.updated_at = now;
        let backoff = match store.append_events(&next, &chunk).await {
            Ok(()) => {
                progress.appended += chunk.len();
                progress.record = Some(next);
                return Ok(());
            }
            Err(StoreError::Conflict { .. }) => true,
            Err(StoreError::DuplicateEvent { event_id, .. }) => {
                // someone stored (some of) the same events meanwhile: look again
                let before = chunk.len();
                chunk.retain(|e| e.event_id != event_id);
                progress.duplicates += before - chunk.len();
                check_stored = true;
                false
            }
            Err(other) => return Err(other),
        };
        if attempt >= policy.max_attempts {
            return Err(StoreError::RetriesExhausted {
                operation: "record_events",
                attempts: attempt,
            });
        }
        if backoff {
            policy.wait(attempt).await;
        }
    }
}

/// What [`update_lead_with_retry`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The lead as stored afterwards.
    pub record: LeadRecord,
    /// Whether a write happened (`false` when the change function declined).
    pub written: bool,
    /// Attempts made.
    pub attempts: u32,
}

/// Read-modify-write of a lead: loads it, lets `change` edit it (returning `false` to
/// write nothing) and writes it version-checked, retrying on `Conflict` with backoff.
///
/// `change` may run several times, each time on a freshly loaded record; the version and
/// `updated_at` are set here.
pub async fn update_lead_with_retry<F>(
    store: &dyn LeadStore,
    lead_id: &str,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
    mut change: F,
) -> Result<Updated, StoreError>
where
    F: FnMut(&mut LeadRecord) -> bool + Send,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let loaded = load(store, lead_id).await?;
        let version = loaded.version;
        let mut next = loaded.clone();
        if !change(&mut next) {
            return Ok(Updated {
                record: loaded,
                written: false,
                attempts: attempt,
            });
        }
        next.version = version + 1;
        next.updated_at = now;
        match store.update_lead(&next).await {
            Ok(()) => {
                return Ok(Updated {
                    record: next,
                    written: true,
                    attempts: attempt,
                });
            }
            Err(StoreError::Conflict { .. }) if attempt < policy.max_attempts => {
                policy.wait(attempt).await
            }
            Err(StoreError::Conflict { .. }) => {
                return Err(StoreError::RetriesExhausted {
                    operation: "update_lead",
                    attempts: attempt,
                });
            }
            Err(other) => return Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{HookedStore, MemoryStore, WriteHook};
    use crate::ports::*;
    use async_trait::async_trait;
    use chrono::TimeZone;
    use leadq_scoring::{EventKind, Lead};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0)
            .single()
            .unwrap_or_default()
    }

    fn lead(id: &str) -> LeadRecord {
        LeadRecord::new(
            Lead {
                id: id.into(),
                ..Lead::default()
            },
            None,
            t(0),
        )
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(1),
            max: Duration::from_millis(2),
        }
    }

    #[test]
    fn content_ids_are_stable_and_sensitive() {
        let mut event = Event::new(EventKind::Session, t(0));
        event.minutes = Some(3.5);
        event.properties.insert("page".into(), "/pricing".into());
        // pinned (recomputed independently in Python): must never change across runs or platforms
        assert_eq!(
            content_event_id(&event),
            "ev-4b624828e5d3b58e599909cfb0bbb523"
        );
        let mut other = event.clone();
        other.minutes = Some(3.25);
        assert_ne!(content_event_id(&event), content_event_id(&other));
        let mut zero = event.clone();
        zero.minutes = Some(0.0);
        let mut negative_zero = event.clone();
        negative_zero.minutes = Some(-0.0);
        assert_eq!(content_event_id(&zero), content_event_id(&negative_zero));
        let mut shifted = Event::new(EventKind::Session, t(0));
        shifted.minutes = Some(3.5);
        shifted.properties.insert("pag".into(), "e/pricing".into());
        assert_ne!(content_event_id(&event), content_event_id(&shifted));
        assert_eq!(
            NewEvent::with_id("  ", event.clone()).event_id(),
            content_event_id(&event)
        );
        assert_eq!(NewEvent::with_id("abc", event).event_id(), "abc");
    }

    fn views(n: usize) -> Vec<NewEvent> {
        (0..n)
            .map(|i| NewEvent::new(Event::new(EventKind::PageView, t(i as i64))))
            .collect()
    }

    /// Counts append sizes, and can inject conflicts.
    #[derive(Default)]
    struct SpyHook {
        appends: Mutex<Vec<usize>>,
        conflicts_left: AtomicU32,
    }

    impl SpyHook {
        fn conflict(&self, record: &LeadRecord) -> Result<(), StoreError> {
            if self.conflicts_left.load(Ordering::SeqCst) > 0 {
                self.conflicts_left.fetch_sub(1, Ordering::SeqCst);
                return Err(StoreError::Conflict {
                    lead_id: record.id().into(),
                    expected: record.version - 1,
                });
            }
            Ok(())
        }
    }

    #[async_trait]
    impl WriteHook for SpyHook {
        async fn before_update(
            &self,
            _store: &MemoryStore,
            record: &LeadRecord,
        ) -> Result<(), StoreError> {
            self.conflict(record)
        }
        async fn before_append(
            &self,
            _store: &MemoryStore,
            record: &LeadRecord,
            events: &[StoredEvent],
        ) -> Result<(), StoreError> {
            self.conflict(record)?;
            self.appends
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(events.len());
            Ok(())
        }
    }

    type Spy = HookedStore<SpyHook>;

    #[tokio::test]
    async fn chunks_appends_to_at_most_99_events() {
        let spy = Spy::default();
        spy.create_lead(&lead("l")).await.expect("create");
        let report = record_events(&spy, "l", &views(250), t(1), &quick())
            .await
            .expect("record");
        assert_eq!(report.appended, 250);
        assert_eq!(
            *spy.hook.appends.lock().unwrap_or_else(|e| e.into_inner()),
            vec![99, 99, 52]
        );
        assert_eq!(report.record.aggregates.count, 250);
        assert_eq!(report.record.version, 4);
        assert_eq!(report.record.aggregates.first_event_at, Some(t(0)));
        assert_eq!(report.record.aggregates.last_event_at, Some(t(249)));
        assert_eq!(spy.get_lead("l").await.expect("get"), Some(report.record));
    }

    #[tokio::test]
    async fn drops_stored_and_repeated_events() {
        let store = MemoryStore::new();
        store.create_lead(&lead("l")).await.expect("create");
        let mut batch = views(5);
        batch.push(batch[0].clone());
        let first = record_events(&store, "l", &batch, t(1), &quick())
            .await
            .expect("record");
        assert_eq!((first.appended, first.duplicates), (5, 1));
        let again = record_events(&store, "l", &views(7), t(2), &quick())
            .await
            .expect("record");
        assert_eq!((again.appended, again.duplicates), (2, 5));
        assert_eq!(again.record.aggregates.count, 7);
        assert_eq!(store.list_events("l").await.expect("list").len(), 7);
        let nothing = record_events(&store, "l", &views(7), t(3), &quick())
            .await
            .expect("record");
        assert_eq!((nothing.appended, nothing.duplicates), (0, 7));
        assert_eq!(nothing.record.version, again.record.version);
    }

    #[tokio::test]
    async fn retries_conflicts_then_gives_up() {
        let spy = Spy::default();
        spy.create_lead(&lead("l")).await.expect("create");
        spy.hook.conflicts_left.store(3, Ordering::SeqCst);
        let report = record_events(&spy, "l", &views(3), t(1), &quick())
            .await
            .expect("record");
        assert_eq!((report.appended, report.attempts), (3, 4));

        spy.hook.conflicts_left.store(10, Ordering::SeqCst);
        let err = record_events(&spy, "l", &views(4), t(1), &quick())
            .await
            .expect_err("gives up");
        assert_eq!(
            err,
            StoreError::RetriesExhausted {
                operation: "record_events",
                attempts: 4
            }
        );
        spy.hook.conflicts_left.store(10, Ordering::SeqCst);
        let err = update_lead_with_retry(&spy, "l", t(2), &quick(), |_| true)
            .await
            .expect_err("gives up");
        assert_eq!(
            err,
            StoreError::RetriesExhausted {
                operation: "update_lead",
                attempts: 4
            }
        );
    }

    #[tokio::test]
    async fn missing_lead_is_not_found() {
        let store = MemoryStore::new();
        let err = record_events(&store, "nope", &views(1), t(1), &quick())
            .await
            .expect_err("missing");
        assert!(
            matches!(err, StoreError::NotFound { what: "lead", .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn update_with_retry_writes_or_declines() {
        let spy = Spy::default();
        spy.create_lead(&lead("l")).await.expect("create");
        spy.hook.conflicts_left.store(2, Ordering::SeqCst);
        let updated = update_lead_with_retry(&spy, "l", t(5), &quick(), |r| {
            r.lead.source = Some("web".into());
            true
        })
        .await
        .expect("update");
        assert!(updated.written);
        assert_eq!((updated.record.version, updated.attempts), (2, 3));
        assert_eq!(updated.record.updated_at, t(5));
        let declined = update_lead_with_retry(&spy, "l", t(6), &quick(), |_| false)
            .await
            .expect("no-op");
        assert!(!declined.written);
        assert_eq!(declined.record, updated.record);
    }
}
