//! The score stage: the ScoreCard (with the active version's calibrated probability, once
//! a version has learned from outcomes), its history, and when decay will next change the band.

use super::StageError;
use super::train::version_metrics;
use crate::ports::{HistoryEntry, LeadRecord, LeadStore, StoreError};
use crate::retry::RetryPolicy;
use chrono::{DateTime, TimeDelta, Utc};
use leadq_scoring::{
    Band, Calibration, Event, Lead, Model, NextAction, ScoreCard, score, score_into,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The active model, loaded from the store and kept for a while.
///
/// Within the TTL the store is not asked at all; after it, the active version is read
/// again and recompiled only if its label changed. Without an active version the
/// shipped default model is used.
#[derive(Debug)]
pub struct ModelCache {
    ttl: TimeDelta,
    cached: Mutex<Option<CachedModel>>,
}

#[derive(Debug, Clone)]
struct CachedModel {
    /// The stored version label; `None` for the shipped default.
    label: Option<String>,
    active: ActiveModel,
    checked_at: DateTime<Utc>,
}

/// The rules to score with and, for a trained version, the calibration that turns a card
/// into a conversion probability.
#[derive(Debug, Clone)]
pub struct ActiveModel {
    /// The rules.
    pub model: Arc<Model>,
    /// The learned calibration (`None`: rules only, cards carry no probability).
    pub calibration: Option<Arc<Calibration>>,
}

impl Default for ModelCache {
    fn default() -> Self {
        ModelCache::new(ModelCache::DEFAULT_TTL)
    }
}

impl ModelCache {
    /// How long a model is used before the active version is checked again.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

    /// An empty cache that checks the active version at most once per `ttl`.
    pub fn new(ttl: Duration) -> ModelCache {
        ModelCache {
            ttl: TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX),
            cached: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<CachedModel>> {
        self.cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets the cached model: the next score reads the active version again (for a
    /// process that has just promoted or rolled back a version itself).
    pub fn invalidate(&self) {
        *self.lock() = None;
    }

    /// The model to score with at `now`.
    pub async fn get(
        &self,
        store: &dyn LeadStore,
        now: DateTime<Utc>,
    ) -> Result<Arc<Model>, StageError> {
        Ok(self.get_active(store, now).await?.model)
    }

    /// The model and calibration to score with at `now`.
    pub async fn get_active(
        &self,
        store: &dyn LeadStore,
        now: DateTime<Utc>,
    ) -> Result<ActiveModel, StageError> {
        if let Some(cached) = self.lock().as_ref()
            && now >= cached.checked_at
            && now - cached.checked_at < self.ttl
        {
            return Ok(cached.active.clone());
        }
        let active = store.active_model().await?;
        let label = active.as_ref().map(|version| version.version.clone());
        if let Some(cached) = self.lock().as_mut()
            && cached.label == label
        {
            cached.checked_at = now;
            return Ok(cached.active.clone());
        }
        let loaded = match active {
            Some(version) => {
                let model = Model::from_toml_str(&version.model_toml).map_err(|error| {
                    StageError::Model {
                        version: version.version.clone(),
                        error,
                    }
                })?;
                let calibration = version_metrics(&version)
                    .map_err(|error| StageError::Calibration {
                        version: version.version.clone(),
                        error: error.to_string(),
                    })?
                    .calibration;
                ActiveModel {
                    model: Arc::new(model),
                    calibration: calibration.map(Arc::new),
                }
            }
            None => ActiveModel {
                model: Arc::new(Model::default_model()),
                calibration: None,
            },
        };
        *self.lock() = Some(CachedModel {
            label,
            active: loaded.clone(),
            checked_at: now,
        });
        Ok(loaded)
    }
}

/// What [`score_lead`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreOutcome {
    /// The verdict as stored.
    pub card: ScoreCard,
    /// Band and next action before, if the lead was scored before.
    pub previous: Option<(Band, NextAction)>,
    /// Whether band or next action changed (always on the first score): route the lead.
    pub verdict_changed: bool,
    /// When the current verdict was first recorded in the history.
    pub verdict_since: Option<DateTime<Utc>>,
    /// When decay will next change the band, if within 90 days.
    pub rescore_at: Option<DateTime<Utc>>,
    /// Whether the lead was written (`false` when card and rescore time were unchanged).
    pub written: bool,
}

/// Scores a lead with its events as of `now` and stores the card, its rescore time and,
/// when the verdict changed, a history entry with `cause`.
///
/// Optimistic: the card is computed from the lead and events as read and written only if
/// the lead's version is still the one read; a conflict (new events meanwhile) scores
/// again. Nothing is written when the card (but for its time) and the rescore time are
/// unchanged. If a previous run stored a card but not its history entry, the entry is
/// added now and the verdict reported as changed, so the route is not lost.
pub async fn score_lead(
    store: &dyn LeadStore,
    models: &ModelCache,
    lead_id: &str,
    cause: &str,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
) -> Result<ScoreOutcome, StageError> {
    let active = models.get_active(store, now).await?;
    let model = &active.model;
    let mut attempt = 0;
    let (card, previous, rescore_at, written) = loop {
        attempt += 1;
        let record = load(store, lead_id).await?;
        let events: Vec<Event> = store
            .list_events(lead_id)
            .await?
            .into_iter()
            .map(|stored| stored.event)
            .collect();
        let mut card = score(&record.lead, &events, model, now);
        if let Some(calibration) = &active.calibration {
            calibration.apply(&mut card);
        }
        let rescore_at = next_band_change(&record.lead, &events, model, now);
        let previous = record.card.as_ref().map(|c| (c.band, c.next_action));
        if let Some(stored) = &record.card
            && record.rescore_at == rescore_at
            && same_but_time(stored, &card)
        {
            break (stored.clone(), previous, rescore_at, false);
        }
        let mut next = record;
        next.card = Some(card.clone());
        next.rescore_at = rescore_at;
        next.version += 1;
        next.updated_at = now;
        match store.update_lead(&next).await {
            Ok(()) => break (card, previous, rescore_at, true),
            Err(StoreError::Conflict { .. }) if attempt < policy.max_attempts => {
                policy.wait(attempt).await
            }
            Err(StoreError::Conflict { .. }) => {
                return Err(StoreError::RetriesExhausted {
                    operation: "score_lead",
                    attempts: attempt,
                }
                .into());
            }
            Err(other) => return Err(other.into()),
        }
    };

    let verdict = (card.band, card.next_action);
    let entry = |at: DateTime<Utc>, from_band: Option<Band>| HistoryEntry {
        at,
        from_band,
        to_band: card.band,
        next_action: card.next_action,
        composite: card.composite,
        cause: cause.to_string(),
        model_version: card.model_version.to_string(),
    };
    let mut verdict_changed = previous != Some(verdict);
    let verdict_since = if verdict_changed {
        store
            .add_history(lead_id, &entry(now, previous.map(|(band, _)| band)))
            .await?;
        Some(now)
    } else {
        let history = store.list_history(lead_id).await?;
        match history.last() {
            Some(last) if (last.to_band, last.next_action) == verdict => Some(last.at),
            Some(last) if last.at == card.scored_at => Some(last.at),
            last => {
                // a previous run stored this card but not its history entry: repair it
                store
                    .add_history(lead_id, &entry(card.scored_at, last.map(|e| e.to_band)))
                    .await?;
                verdict_changed = true;
                Some(card.scored_at)
            }
        }
    };
    Ok(ScoreOutcome {
        card,
        previous,
        verdict_changed,
        verdict_since,
        rescore_at,
        written,
    })
}

async fn load(store: &dyn LeadStore, lead_id: &str) -> Result<LeadRecord, StageError> {
    store
        .get_lead(lead_id)
        .await?
        .ok_or_else(|| StageError::LeadNotFound {
            lead_id: lead_id.to_string(),
        })
}

/// Whether two cards say the same apart from the time they were computed for.
fn same_but_time(stored: &ScoreCard, fresh: &ScoreCard) -> bool {
    if stored.scored_at == fresh.scored_at {
        return stored == fresh;
    }
    let mut stored = stored.clone();
    stored.scored_at = fresh.scored_at;
    stored == *fresh
}

/// Offsets from `now` (in whole hours) probed for a band change, up to 90 days.
const PROBE_HOURS: [i64; 10] = [1, 6, 24, 48, 96, 192, 384, 768, 1536, 2160];

/// The earliest whole hour after `now`, within 90 days, at which the lead's decayed
/// score falls in another band than at `now`; `None` if it never does.
///
/// Probes +1h, +6h, +1d, +2d, +4d, ... +90d, then bisects to the hour between the last
/// probe with the same band and the first with another. Hours are whole UTC hours, so
/// scoring the same lead at different times gives the same answer.
pub fn next_band_change(
    lead: &Lead,
    events: &[Event],
    model: &Model,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut card = ScoreCard::empty();
    let mut band_at = |at: DateTime<Utc>| {
        score_into(&mut card, lead, events, model, at);
        card.band
    };
    let current = band_at(now);
    let hour = DateTime::<Utc>::from_timestamp(now.timestamp().div_euclid(3600) * 3600, 0)?;
    let tick = |k: i64| hour + TimeDelta::hours(k);
    // invariant: the band at `tick(low)` (or at `now`, for 0) is the current band
    let mut low = 0;
    for high in PROBE_HOURS {
        if band_at(tick(high)) == current {
            low = high;
            continue;
        }
        let mut high = high;
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if band_at(tick(mid)) == current {
                low = mid;
            } else {
                high = mid;
            }
        }
        return Some(tick(high));
    }
    None
}
