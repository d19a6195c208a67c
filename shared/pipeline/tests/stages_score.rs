//! The score stage: card, history, rescore time, verdict changes and the model cache.

mod stages_support;

use chrono::{DateTime, TimeDelta, Utc};
use leadq_pipeline::memory::MemoryStore;
use leadq_pipeline::stages::{ModelCache, StageError, next_band_change, score_lead};
use leadq_pipeline::{
    Alert, AlertState, Claim, Created, HistoryEntry, LeadRecord, LeadStore, ModelVersion, Page,
    StoreError, StoredEvent,
};
use leadq_scoring::model::DEFAULT_MODEL_TOML;
use leadq_scoring::{Band, Event, Model, Outcome, score};
use stages_support::*;
use std::time::Duration;

fn model_toml(label: &str) -> String {
    DEFAULT_MODEL_TOML
        .lines()
        .map(|line| {
            if line.starts_with("version = ") {
                format!("version = \"{label}\"")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn activate(store: &MemoryStore, version: &str, toml: String) {
    let stored = ModelVersion {
        version: version.into(),
        created_at: t0(),
        model_toml: toml,
        metrics_json: None,
        promoted: true,
        reason: "test".into(),
    };
    assert!(store.put_model_version(&stored).await.expect("put model"));
    store.set_active_model(version).await.expect("activate");
}

async fn events_of(store: &MemoryStore, lead_id: &str) -> Vec<Event> {
    store
        .list_events(lead_id)
        .await
        .expect("events")
        .into_iter()
        .map(|stored| stored.event)
        .collect()
}

#[tokio::test]
async fn stores_card_history_and_a_real_rescore_time() {
    let store = MemoryStore::new();
    put_lead(&store, ideal_lead("hot")).await;
    put_events(&store, "hot", &buying_signals(at(-86_400)), at(0)).await;
    let models = ModelCache::default();
    let now = at(600);
    let outcome = score_lead(&store, &models, "hot", "new lead", now, &quick())
        .await
        .expect("score");
    assert_eq!(outcome.card.band, Band::Hot, "{}", outcome.card.explain());
    assert!(outcome.verdict_changed && outcome.written);
    assert_eq!(outcome.previous, None);

    let record = store.get_lead("hot").await.expect("get").expect("stored");
    assert_eq!(record.card.as_ref(), Some(&outcome.card));
    assert_eq!(record.rescore_at, outcome.rescore_at);
    let history = store.list_history("hot").await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].from_band, history[0].to_band),
        (None, Band::Hot)
    );
    assert_eq!(history[0].cause, "new lead");
    assert_eq!(history[0].model_version, Model::default_model().version());

    // the band really is lower at rescore_at, and not an hour before
    let rescore_at = outcome.rescore_at.expect("a demo request decays");
    assert!(rescore_at > now && rescore_at <= now + TimeDelta::days(90));
    assert_eq!(rescore_at.timestamp() % 3600, 0, "whole hours");
    let model = Model::default_model();
    let events = events_of(&store, "hot").await;
    let later = score(&record.lead, &events, &model, rescore_at);
    assert_ne!(later.band, Band::Hot);
    assert!(later.composite < outcome.card.composite);
    let before = score(
        &record.lead,
        &events,
        &model,
        rescore_at - TimeDelta::hours(1),
    );
    assert_eq!(before.band, Band::Hot);
    // the same answer whenever it is computed before then
    assert_eq!(
        next_band_change(&record.lead, &events, &model, now + TimeDelta::hours(30)),
        Some(rescore_at)
    );

    // the decay sweep at rescore_at: a lower band, a second history entry
    let decayed = score_lead(&store, &models, "hot", "decay", rescore_at, &quick())
        .await
        .expect("rescore");
    assert!(decayed.verdict_changed);
    assert_eq!(decayed.card.band, later.band);
    assert_eq!(decayed.previous.map(|(band, _)| band), Some(Band::Hot));
    let history = store.list_history("hot").await.expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(
        (
            history[1].from_band,
            history[1].to_band,
            history[1].cause.as_str()
        ),
        (Some(Band::Hot), later.band, "decay")
    );
}

#[tokio::test]
async fn a_lead_without_decaying_signals_has_no_rescore_time() {
    let store = MemoryStore::new();
    put_lead(&store, ideal_lead("steady")).await;
    let outcome = score_lead(
        &store,
        &ModelCache::default(),
        "steady",
        "new lead",
        at(0),
        &quick(),
    )
    .await
    .expect("score");
    assert_eq!(outcome.rescore_at, None);
}

#[tokio::test]
async fn scoring_again_without_change_writes_nothing() {
    let store = MemoryStore::new();
    put_lead(&store, ideal_lead("l")).await;
    put_events(&store, "l", &buying_signals(at(-3600)), at(0)).await;
    let models = ModelCache::default();
    let first = score_lead(&store, &models, "l", "new lead", at(60), &quick())
        .await
        .expect("first");
    let version = store
        .get_lead("l")
        .await
        .expect("get")
        .expect("lead")
        .version;
    // redelivery at the same time
    let again = score_lead(&store, &models, "l", "new lead", at(60), &quick())
        .await
        .expect("again");
    assert!(!again.written && !again.verdict_changed);
    assert_eq!(again.card, first.card);
    assert_eq!(again.verdict_since, Some(at(60)));
    let record = store.get_lead("l").await.expect("get").expect("lead");
    assert_eq!(record.version, version);
    assert_eq!(store.list_history("l").await.expect("history").len(), 1);

    // a minute later the decay numbers move but the verdict does not: no history entry
    let later = score_lead(&store, &models, "l", "new events", at(120), &quick())
        .await
        .expect("later");
    assert!(!later.verdict_changed);
    assert_eq!(later.verdict_since, Some(at(60)));
    assert_eq!(store.list_history("l").await.expect("history").len(), 1);
}

#[tokio::test]
async fn new_events_that_raise_the_band_change_the_verdict() {
    let store = MemoryStore::new();
    put_lead(&store, ideal_lead("l")).await;
    let models = ModelCache::default();
    let first = score_lead(&store, &models, "l", "new lead", at(60), &quick())
        .await
        .expect("first");
    assert_ne!(first.card.band, Band::Hot);
    put_events(&store, "l", &buying_signals(at(100)), at(200)).await;
    let second = score_lead(&store, &models, "l", "new events", at(300), &quick())
        .await
        .expect("second");
    assert!(second.verdict_changed);
    assert_eq!(second.card.band, Band::Hot);
    assert_eq!(second.previous.map(|(band, _)| band), Some(first.card.band));
    let history = store.list_history("l").await.expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].from_band, Some(first.card.band));
}

#[tokio::test]
async fn a_lost_history_entry_is_repaired() {
    let store = MemoryStore::new();
    put_lead(&store, ideal_lead("l")).await;
    // a card stored by a run that died before its history entry
    let model = Model::default_model();
    let mut record = store.get_lead("l").await.expect("get").expect("lead");
    record.card = Some(score(&record.lead, &[], &model, at(10)));
    record.version += 1;
    store.update_lead(&record).await.expect("update");
    let outcome = score_lead(
        &store,
        &ModelCache::default(),
        "l",
        "new lead",
        at(20),
        &quick(),
    )
    .await
    .expect("score");
    assert!(!outcome.written);
    assert!(outcome.verdict_changed, "the lost verdict must be routed");
    let history = store.list_history("l").await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].at, at(10));
}

#[tokio::test]
async fn uses_and_caches_the_active_model() {
    let store = MemoryStore::new();
    put_lead(&store, ideal_lead("l")).await;
    activate(&store, "v1", model_toml("custom-1")).await;
    let models = ModelCache::new(Duration::from_secs(60));
    let first = score_lead(&store, &models, "l", "new lead", at(0), &quick())
        .await
        .expect("score");
    assert_eq!(&*first.card.model_version, "custom-1");

    activate(&store, "v2", model_toml("custom-2")).await;
    let cached = models.get(&store, at(30)).await.expect("cached");
    assert_eq!(
        cached.version(),
        "custom-1",
        "within the TTL the store is not asked"
    );
    let refreshed = score_lead(&store, &models, "l", "model change", at(61), &quick())
        .await
        .expect("score");
    assert_eq!(&*refreshed.card.model_version, "custom-2");
    assert!(refreshed.written);
    let record = store.get_lead("l").await.expect("get").expect("lead");
    assert_eq!(
        record.card.map(|card| card.model_version.to_string()),
        Some("custom-2".to_string())
    );
    // the same version is not recompiled: the cached Arc is reused after the TTL
    let a = models.get(&store, at(62)).await.expect("get");
    let b = models.get(&store, at(200)).await.expect("get");
    assert!(std::sync::Arc::ptr_eq(&a, &b));
}

#[tokio::test]
async fn a_broken_active_model_is_reported_with_its_version() {
    let store = MemoryStore::new();
    put_lead(&store, ideal_lead("l")).await;
    activate(
        &store,
        "broken-7",
        "version = \"x\"\n[weights]\nfit = \"lots\"\n".into(),
    )
    .await;
    let err = score_lead(
        &store,
        &ModelCache::default(),
        "l",
        "new lead",
        Utc::now(),
        &quick(),
    )
    .await
    .expect_err("broken model");
    assert!(
        matches!(&err, StageError::Model { version, .. } if version == "broken-7"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("model version broken-7 cannot be used"),
        "{err}"
    );
    let missing = score_lead(
        &store,
        &ModelCache::default(),
        "ghost",
        "x",
        Utc::now(),
        &quick(),
    )
    .await;
    assert!(missing.is_err());
}

/// A store where another writer appends a demo request just before the first lead write.
struct RacingStore {
    inner: MemoryStore,
    raced: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl LeadStore for RacingStore {
    async fn create_lead(&self, record: &LeadRecord) -> Result<Created, StoreError> {
        self.inner.create_lead(record).await
    }
    async fn get_lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError> {
        self.inner.get_lead(lead_id).await
    }
    async fn find_lead_by_email(&self, email_key: &str) -> Result<Option<String>, StoreError> {
        self.inner.find_lead_by_email(email_key).await
    }
    async fn update_lead(&self, record: &LeadRecord) -> Result<(), StoreError> {
        if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
            put_events(&self.inner, record.id(), &buying_signals(at(5)), at(6)).await;
        }
        self.inner.update_lead(record).await
    }
    async fn append_events(
        &self,
        record: &LeadRecord,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        self.inner.append_events(record, events).await
    }
    async fn list_events(&self, lead_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.list_events(lead_id).await
    }
    async fn add_history(&self, lead_id: &str, entry: &HistoryEntry) -> Result<(), StoreError> {
        self.inner.add_history(lead_id, entry).await
    }
    async fn list_history(&self, lead_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.list_history(lead_id).await
    }
    async fn leads_due_for_rescore(
        &self,
        due: DateTime<Utc>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page, StoreError> {
        self.inner.leads_due_for_rescore(due, limit, cursor).await
    }
    async fn claim_idempotency(
        &self,
        key: &str,
        now: DateTime<Utc>,
        expiration: DateTime<Utc>,
        in_progress_expiration: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        self.inner
            .claim_idempotency(key, now, expiration, in_progress_expiration)
            .await
    }
    async fn complete_idempotency(
        &self,
        key: &str,
        data: Option<String>,
        expiration: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.complete_idempotency(key, data, expiration).await
    }
    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        self.inner.release_idempotency(key).await
    }
    async fn enqueue_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        self.inner.enqueue_alert(alert).await
    }
    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        self.inner.update_alert(alert).await
    }
    async fn alerts_in_state(
        &self,
        state: AlertState,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError> {
        self.inner.alerts_in_state(state, limit).await
    }
    async fn put_outcome(&self, outcome: &Outcome) -> Result<(), StoreError> {
        self.inner.put_outcome(outcome).await
    }
    async fn list_outcomes(&self) -> Result<Vec<Outcome>, StoreError> {
        self.inner.list_outcomes().await
    }
    async fn put_model_version(&self, version: &ModelVersion) -> Result<bool, StoreError> {
        self.inner.put_model_version(version).await
    }
    async fn list_model_versions(&self) -> Result<Vec<ModelVersion>, StoreError> {
        self.inner.list_model_versions().await
    }
    async fn set_active_model(&self, version: &str) -> Result<(), StoreError> {
        self.inner.set_active_model(version).await
    }
    async fn active_model(&self) -> Result<Option<ModelVersion>, StoreError> {
        self.inner.active_model().await
    }
}

#[tokio::test]
async fn events_stored_during_scoring_are_scored_not_lost() {
    let store = RacingStore {
        inner: MemoryStore::new(),
        raced: std::sync::atomic::AtomicBool::new(false),
    };
    put_lead(&store.inner, ideal_lead("l")).await;
    let outcome = score_lead(
        &store,
        &ModelCache::default(),
        "l",
        "new lead",
        at(60),
        &quick(),
    )
    .await
    .expect("score");
    // the first write conflicted with the racing append: the retry scored the new events
    assert_eq!(outcome.card.band, Band::Hot, "{}", outcome.card.explain());
    let record = store.get_lead("l").await.expect("get").expect("lead");
    assert_eq!(record.aggregates.count, 13);
    assert_eq!(record.card.map(|card| card.band), Some(Band::Hot));
    let history = store.list_history("l").await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].to_band, Band::Hot);
}
