//! The score stage: card, history, rescore time, verdict changes and the model cache.

mod stages_support;

use chrono::{TimeDelta, Utc};
use leadq_pipeline::memory::{HookedStore, MemoryStore, WriteHook};
use leadq_pipeline::stages::{ModelCache, StageError, next_band_change, score_lead};
use leadq_pipeline::{LeadRecord, LeadStore, ModelVersion, StoreError};
use leadq_scoring::model::DEFAULT_MODEL_TOML;
use leadq_scoring::{Band, Event, Model, score};
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
async fn an_invalidated_cache_reads_the_active_version_at_once() {
    let store = MemoryStore::new();
    activate(&store, "v1", model_toml("custom-1")).await;
    let models = ModelCache::new(Duration::from_secs(60));
    assert_eq!(
        models.get(&store, at(0)).await.expect("get").version(),
        "custom-1"
    );
    activate(&store, "v2", model_toml("custom-2")).await;
    assert_eq!(
        models.get(&store, at(1)).await.expect("get").version(),
        "custom-1"
    );
    models.invalidate();
    assert_eq!(
        models.get(&store, at(2)).await.expect("get").version(),
        "custom-2",
        "a process that promoted a version scores with it from the next lead on"
    );
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

/// Another writer appends a demo request just before the first lead write.
#[derive(Default)]
struct RaceFirstUpdate {
    raced: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl WriteHook for RaceFirstUpdate {
    async fn before_update(
        &self,
        store: &MemoryStore,
        record: &LeadRecord,
    ) -> Result<(), StoreError> {
        if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
            put_events(store, record.id(), &buying_signals(at(5)), at(6)).await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn events_stored_during_scoring_are_scored_not_lost() {
    let store = HookedStore::new(RaceFirstUpdate::default());
    put_lead(&store.store, ideal_lead("l")).await;
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
