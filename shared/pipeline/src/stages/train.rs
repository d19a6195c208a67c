//! Learning from outcomes: train a challenger calibration, compare it with the active model
//! on the newest outcomes, promote it only if it is not worse, and keep every version.
//!
//! - [`train_model`]: the `train` job. Each stored outcome is paired with the lead's card as
//!   it was when last scored before the deal closed (the latest history entry at or before
//!   `closed_at`; the lead rescored as of that time with only the events received by then,
//!   so nothing that happened later leaks in; the history keeps verdicts, not cards, so the
//!   lead's own fields are read as stored now). The oldest 80% train the challenger, the
//!   newest 20% judge it against the active version. The challenger is promoted only if its
//!   holdout AUC is at most [`MAX_AUC_DROP`] lower and its calibration error at most
//!   [`MAX_ECE_RISE`] higher. Every trained version is stored, promoted or not, with its
//!   metrics, its weight changes and the reason in words.
//! - [`rollback_model`]: points the active model back at an older stored version and
//!   records the rollback as a version entry of its own.
//! - [`version_metrics`] / [`version_kind`]: what a stored version's `metrics_json` says.

use crate::ports::{LeadStore, ModelVersion, StoreError};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use leadq_scoring::calibration::{Calibration, CalibrationError, CalibrationOptions, FeatureKind};
use leadq_scoring::metrics::{
    CalibrationTable, DecileTable, MetricsError, brier_score, calibration, deciles, log_loss,
    roc_auc,
};
use leadq_scoring::model::DEFAULT_MODEL_TOML;
use leadq_scoring::{
    Event, Model, ModelConfig, ModelError, Outcome, OutcomeStatus, ScoreCard, score,
};
use serde::{Deserialize, Serialize};

/// A challenger may have an AUC at most this much lower than the active model's.
pub const MAX_AUC_DROP: f64 = 0.005;
/// A challenger may have an expected calibration error at most this much higher.
pub const MAX_ECE_RISE: f64 = 0.02;
/// Share of the outcomes, the newest, held out to compare challenger and active model.
pub const HOLDOUT_FRACTION: f64 = 0.2;
/// Bins of the calibration table whose expected calibration error is compared.
pub const CALIBRATION_BINS: usize = 10;

/// Why training or a rollback could not be done (nothing was written).
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ModelJobError {
    /// The lead store failed.
    #[error("lead store: {0}")]
    Store(#[from] StoreError),
    /// The active model's rules do not compile.
    #[error("model version {version} cannot be used: {error}")]
    Model {
        /// The version label.
        version: String,
        /// Why.
        error: ModelError,
    },
    /// A stored version's metrics are not readable.
    #[error("model version {version}: stored metrics are unreadable: {error}")]
    Metrics {
        /// The version label.
        version: String,
        /// Why.
        error: String,
    },
    /// The trainer failed for another reason than too little data.
    #[error("training failed: {0}")]
    Training(String),
    /// No stored version has this label.
    #[error("model version {0:?} is not stored")]
    UnknownVersion(String),
    /// The version is the active one already.
    #[error("model version {0} is already active; nothing to roll back")]
    AlreadyActive(String),
    /// The version is a rollback record, not a model.
    #[error("{0} records a rollback, it is not a model; roll back to the version it names")]
    NotAModel(String),
}

/// How a stored version came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionKind {
    /// Hand-written rules, no learned calibration.
    Rules,
    /// Trained from outcomes by the `train` job.
    Trained,
    /// A record of a rollback (not a model).
    Rollback,
}

impl VersionKind {
    /// The kind's name.
    pub fn name(self) -> &'static str {
        match self {
            VersionKind::Rules => "rules",
            VersionKind::Trained => "trained",
            VersionKind::Rollback => "rollback",
        }
    }
}

/// Metrics on the holdout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HoldoutMetrics {
    /// ROC AUC.
    pub auc: f64,
    /// Log loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Expected calibration error over [`CALIBRATION_BINS`] bins.
    pub ece: f64,
}

/// How a rule's weight moved from the active version to the challenger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightChange {
    /// Rule label or missing field.
    pub name: String,
    /// Rule or missing-field indicator.
    pub kind: FeatureKind,
    /// Log-odds per unit in the active version (the rules' calibrated slope if it has none).
    pub before: f64,
    /// Log-odds per unit in the challenger.
    pub after: f64,
    /// `after - before`.
    pub change: f64,
}

/// The data a training run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    /// Outcomes stored.
    pub outcomes: usize,
    /// Outcomes used (the lead was scored before the deal closed).
    pub examples: usize,
    /// Outcomes left out because the lead is gone or was never scored before closing.
    pub skipped: usize,
    /// Examples trained on (the older ones).
    pub train_rows: usize,
    /// Won among them.
    pub train_won: usize,
    /// Examples held out (the newest).
    pub holdout_rows: usize,
    /// Won among them.
    pub holdout_won: usize,
    /// The holdout holds the outcomes closed at or after this time.
    pub holdout_from: Option<DateTime<Utc>>,
}

/// A rollback, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackRecord {
    /// The version active before.
    pub from: Option<String>,
    /// The version made active.
    pub to: String,
}

/// What a stored version's `metrics_json` holds (every field optional, so older and
/// hand-made entries read too).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionMetrics {
    /// The learned calibration applied at scoring time.
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// The version that was active when this one was trained.
    #[serde(default)]
    pub based_on: Option<String>,
    /// The data it was trained and judged on.
    #[serde(default)]
    pub data: Option<TrainingData>,
    /// The challenger's metrics on the holdout.
    #[serde(default)]
    pub challenger: Option<HoldoutMetrics>,
    /// The active version's metrics on the same holdout.
    #[serde(default)]
    pub active: Option<HoldoutMetrics>,
    /// Weight changes against the active version, largest first.
    #[serde(default)]
    pub weight_changes: Vec<WeightChange>,
    /// Set on a rollback record.
    #[serde(default)]
    pub rollback: Option<RollbackRecord>,
    /// The challenger's calibration table on the holdout (predicted against observed
    /// rates in [`CALIBRATION_BINS`] bins), for the dashboard's calibration chart.
    #[serde(default)]
    pub holdout_calibration: Option<CalibrationTable>,
    /// The challenger's conversion rate per probability decile on the holdout (the lift chart).
    #[serde(default)]
    pub holdout_deciles: Option<DecileTable>,
}

/// The metrics a stored version carries (empty when it has none); an error names the version.
pub fn version_metrics(version: &ModelVersion) -> Result<VersionMetrics, ModelJobError> {
    let Some(json) = version.metrics_json.as_deref() else {
        return Ok(VersionMetrics::default());
    };
    let metrics: VersionMetrics =
        serde_json::from_str(json).map_err(|e| ModelJobError::Metrics {
            version: version.version.clone(),
            error: e.to_string(),
        })?;
    if let Some(calibration) = &metrics.calibration {
        calibration.validate().map_err(|e| ModelJobError::Metrics {
            version: version.version.clone(),
            error: e.to_string(),
        })?;
    }
    Ok(metrics)
}

/// How a stored version came about, from its metrics.
pub fn version_kind(metrics: &VersionMetrics) -> VersionKind {
    if metrics.rollback.is_some() {
        VersionKind::Rollback
    } else if metrics.calibration.is_some() {
        VersionKind::Trained
    } else {
        VersionKind::Rules
    }
}

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSettings {
    /// The calibration's options (pull towards the rules, minimum data).
    pub calibration: CalibrationOptions,
    /// Share of the newest examples held out.
    pub holdout_fraction: f64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            calibration: CalibrationOptions::default(),
            holdout_fraction: HOLDOUT_FRACTION,
        }
    }
}

/// What a training run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    /// The version stored, `None` when nothing was trained (see `reason`).
    pub version: Option<String>,
    /// Whether it was promoted to active.
    pub promoted: bool,
    /// Why, in words.
    pub reason: String,
    /// The data used.
    pub data: TrainingData,
    /// The challenger's holdout metrics.
    pub challenger: Option<HoldoutMetrics>,
    /// The active version's holdout metrics.
    pub active: Option<HoldoutMetrics>,
}

/// One outcome with the card the lead had when last scored before the deal closed.
struct Example {
    closed_at: DateTime<Utc>,
    lead_id: String,
    card: ScoreCard,
    won: bool,
}

/// The active version (if any), its rules and its calibration.
struct Active {
    version: Option<ModelVersion>,
    model: Model,
    config_toml: String,
    calibration: Option<Calibration>,
}

async fn active(store: &dyn LeadStore) -> Result<Active, ModelJobError> {
    match store.active_model().await? {
        Some(version) => {
            let model = Model::from_toml_str(&version.model_toml).map_err(|error| {
                ModelJobError::Model {
                    version: version.version.clone(),
                    error,
                }
            })?;
            let calibration = version_metrics(&version)?.calibration;
            Ok(Active {
                config_toml: version.model_toml.clone(),
                version: Some(version),
                model,
                calibration,
            })
        }
        None => Ok(Active {
            version: None,
            model: Model::default_model(),
            config_toml: DEFAULT_MODEL_TOML.to_string(),
            calibration: None,
        }),
    }
}

/// Leads read at once while building the training set (each is three store reads).
const READ_CONCURRENCY: usize = 16;

/// Pairs each stored outcome with the lead's card as of its last scoring before closing,
/// oldest first. Returns the examples and how many outcomes were left out.
async fn examples(
    store: &dyn LeadStore,
    model: &Model,
) -> Result<(usize, Vec<Example>), ModelJobError> {
    let outcomes = store.list_outcomes().await?;
    let total = outcomes.len();
    let found: Vec<Result<Option<Example>, StoreError>> = futures_util::stream::iter(
        outcomes
            .into_iter()
            .map(|outcome| example(store, model, outcome)),
    )
    .buffer_unordered(READ_CONCURRENCY)
    .collect()
    .await;
    let mut out = Vec::with_capacity(total);
    for example in found {
        out.extend(example?);
    }
    out.sort_by(|a, b| {
        a.closed_at
            .cmp(&b.closed_at)
            .then_with(|| a.lead_id.cmp(&b.lead_id))
    });
    let skipped = total - out.len();
    Ok((skipped, out))
}

/// One outcome with the lead's card as of its last scoring at or before `closed_at`;
/// `None` if the lead is gone or was never scored before the deal closed.
async fn example(
    store: &dyn LeadStore,
    model: &Model,
    outcome: Outcome,
) -> Result<Option<Example>, StoreError> {
    let Some(record) = store.get_lead(&outcome.lead_id).await? else {
        return Ok(None); // erased since
    };
    let history = store.list_history(&outcome.lead_id).await?;
    let Some(scored_at) = history
        .iter()
        .map(|entry| entry.at)
        .filter(|&at| at <= outcome.closed_at)
        .max()
    else {
        return Ok(None); // nothing to learn from
    };
    // only what the score stage could have seen then
    let events: Vec<Event> = store
        .list_events(&outcome.lead_id)
        .await?
        .into_iter()
        .filter(|stored| stored.received_at <= scored_at && stored.event.at <= scored_at)
        .map(|stored| stored.event)
        .collect();
    Ok(Some(Example {
        closed_at: outcome.closed_at,
        card: score(&record.lead, &events, model, scored_at),
        won: outcome.status == OutcomeStatus::Won,
        lead_id: outcome.lead_id,
    }))
}

/// AUC, log loss, Brier score and ECE of probabilities (with `ranking` for the AUC).
fn holdout_metrics(
    probabilities: &[f64],
    ranking: &[f64],
    won: &[bool],
) -> Result<HoldoutMetrics, MetricsError> {
    Ok(HoldoutMetrics {
        auc: roc_auc(ranking, won)?,
        log_loss: log_loss(probabilities, won)?,
        brier: brier_score(probabilities, won)?,
        ece: calibration(probabilities, won, CALIBRATION_BINS)?.ece,
    })
}

/// The active version's probability for a card: its calibration's, or for rules without
/// one the composite read as a percentage (the only probability the rules state).
fn active_probability(active: &Active, card: &ScoreCard) -> f64 {
    match &active.calibration {
        Some(calibration) => calibration
            .probability(card)
            .unwrap_or(f64::from(card.composite) / 100.0),
        None => f64::from(card.composite) / 100.0,
    }
}

/// A label not yet stored: `trained-<UTC time>`, with `-2`, `-3`, ... if taken.
fn fresh_label(prefix: &str, now: DateTime<Utc>, taken: &[ModelVersion]) -> String {
    let base = format!("{prefix}-{}", now.format("%Y%m%dT%H%M%SZ"));
    let exists = |label: &str| taken.iter().any(|v| v.version == label);
    if !exists(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|label| !exists(label))
        .unwrap_or(base)
}

/// The rules document with its `version` set to `label`, so cards name the version.
fn relabelled(config_toml: &str, label: &str) -> Result<String, ModelJobError> {
    let training = |e: String| ModelJobError::Training(format!("relabelling the rules: {e}"));
    let mut config: ModelConfig =
        toml::from_str(config_toml).map_err(|e| training(e.to_string()))?;
    config.version = label.to_string();
    let text = toml::to_string(&config).map_err(|e| training(e.to_string()))?;
    // the relabelled document must compile exactly as the original did
    Model::from_toml_str(&text).map_err(|e| training(e.to_string()))?;
    Ok(text)
}

/// The `train` job: trains a challenger on the older outcomes, compares it with the active
/// version on the newest, stores it with its metrics and promotes it if it is not worse.
///
/// With too little data, or a holdout without both outcomes, nothing is stored and the
/// report says why.
pub async fn train_model(
    store: &dyn LeadStore,
    now: DateTime<Utc>,
    settings: &TrainSettings,
) -> Result<TrainReport, ModelJobError> {
    let active = active(store).await?;
    let (skipped, examples) = examples(store, &active.model).await?;
    let fraction = settings.holdout_fraction.clamp(0.0, 1.0);
    let holdout_rows = ((examples.len() as f64) * fraction).ceil() as usize;
    let split = examples.len() - holdout_rows.min(examples.len());
    let (train, holdout) = examples.split_at(split);
    let won = |rows: &[Example]| rows.iter().filter(|e| e.won).count();
    let data = TrainingData {
        outcomes: examples.len() + skipped,
        examples: examples.len(),
        skipped,
        train_rows: train.len(),
        train_won: won(train),
        holdout_rows: holdout.len(),
        holdout_won: won(holdout),
        holdout_from: holdout.first().map(|e| e.closed_at),
    };
    let not_trained = |reason: String| TrainReport {
        version: None,
        promoted: false,
        reason,
        data: data.clone(),
        challenger: None,
        active: None,
    };

    let cards: Vec<ScoreCard> = train.iter().map(|e| e.card.clone()).collect();
    let labels: Vec<bool> = train.iter().map(|e| e.won).collect();
    let challenger = match Calibration::fit(&cards, &labels, &settings.calibration) {
        Ok(c) => c,
        Err(CalibrationError::NotEnoughData { won, lost, min }) => {
            // the guard keeps whatever is active: name it when it is a stored version
            let keeping = match &active.version {
                Some(version) => format!("active version {}", version.version),
                None => "the hand-written rules".to_string(),
            };
            return Ok(not_trained(format!(
                "keeping {keeping}: {won} won and {lost} lost outcomes among the {} older \
                 ones, at least {min} of each are needed to learn from them (the newest {} \
                 are held out to judge a challenger)",
                train.len(),
                holdout.len()
            )));
        }
        Err(other) => return Err(ModelJobError::Training(other.to_string())),
    };

    let holdout_won: Vec<bool> = holdout.iter().map(|e| e.won).collect();
    let positives = data.holdout_won;
    if positives == 0 || positives == holdout.len() {
        return Ok(not_trained(format!(
            "keeping the active model: the newest {} outcomes (the holdout) are all {}, so \
             the challenger cannot be compared with it",
            holdout.len(),
            if positives == 0 { "lost" } else { "won" }
        )));
    }
    let challenger_p: Vec<f64> = holdout
        .iter()
        .map(|e| challenger.probability(&e.card).unwrap_or(0.5))
        .collect();
    let active_p: Vec<f64> = holdout
        .iter()
        .map(|e| active_probability(&active, &e.card))
        .collect();
    let metrics_error = |e: MetricsError| ModelJobError::Training(format!("holdout metrics: {e}"));
    let challenger_metrics =
        holdout_metrics(&challenger_p, &challenger_p, &holdout_won).map_err(metrics_error)?;
    let active_metrics =
        holdout_metrics(&active_p, &active_p, &holdout_won).map_err(metrics_error)?;

    let active_label = active.version.as_ref().map(|v| v.version.clone());
    let active_name = match &active_label {
        Some(label) => format!("active version {label}"),
        None => "the shipped rules".to_string(),
    };
    let auc_floor = active_metrics.auc - MAX_AUC_DROP;
    let ece_ceiling = active_metrics.ece + MAX_ECE_RISE;
    let auc_ok = challenger_metrics.auc >= auc_floor;
    let ece_ok = challenger_metrics.ece <= ece_ceiling;
    let promoted = auc_ok && ece_ok;
    let comparison = format!(
        "holdout of the newest {} outcomes ({} won): AUC {:.4} vs {:.4} of {active_name} \
         (at most {MAX_AUC_DROP} lower allowed), calibration error {:.4} vs {:.4} \
         (at most {MAX_ECE_RISE} higher allowed); trained on {} older outcomes ({} won)",
        holdout.len(),
        positives,
        challenger_metrics.auc,
        active_metrics.auc,
        challenger_metrics.ece,
        active_metrics.ece,
        train.len(),
        data.train_won,
    );
    let reason = if promoted {
        format!("promoted: not worse than {active_name} on the {comparison}")
    } else {
        let mut why = Vec::new();
        if !auc_ok {
            why.push(format!(
                "its AUC is {:.4} lower",
                active_metrics.auc - challenger_metrics.auc
            ));
        }
        if !ece_ok {
            why.push(format!(
                "its calibration error is {:.4} higher",
                challenger_metrics.ece - active_metrics.ece
            ));
        }
        format!(
            "not promoted: {} than {active_name} on the {comparison}",
            why.join(" and ")
        )
    };

    let mut weight_changes: Vec<WeightChange> = challenger
        .features
        .iter()
        .map(|f| {
            let before = match &active.calibration {
                Some(c) => c.weight(f.kind, &f.name),
                None => f.prior_weight,
            };
            WeightChange {
                name: f.name.clone(),
                kind: f.kind,
                before,
                after: f.weight,
                change: f.weight - before,
            }
        })
        .collect();
    weight_changes.sort_by(|a, b| {
        b.change
            .abs()
            .total_cmp(&a.change.abs())
            .then_with(|| a.name.cmp(&b.name))
    });

    let existing = store.list_model_versions().await?;
    let label = fresh_label("trained", now, &existing);
    let metrics = VersionMetrics {
        calibration: Some(challenger),
        based_on: active_label,
        data: Some(data.clone()),
        challenger: Some(challenger_metrics),
        active: Some(active_metrics),
        weight_changes,
        rollback: None,
        // both only describe the holdout: a failure leaves the chart out, not the version
        holdout_calibration: calibration(&challenger_p, &holdout_won, CALIBRATION_BINS).ok(),
        holdout_deciles: deciles(&challenger_p, &holdout_won).ok(),
    };
    let version = ModelVersion {
        version: label.clone(),
        created_at: now,
        model_toml: relabelled(&active.config_toml, &label)?,
        metrics_json: Some(
            serde_json::to_string(&metrics)
                .map_err(|e| ModelJobError::Training(format!("encoding metrics: {e}")))?,
        ),
        promoted,
        reason: reason.clone(),
    };
    if !store.put_model_version(&version).await? {
        return Err(ModelJobError::Training(format!(
            "model version {label} was stored meanwhile by another run; nothing promoted"
        )));
    }
    if promoted {
        store.set_active_model(&label).await?;
    }
    Ok(TrainReport {
        version: Some(label),
        promoted,
        reason,
        data,
        challenger: Some(challenger_metrics),
        active: Some(active_metrics),
    })
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackReport {
    /// The version active before (none: the shipped rules).
    pub from: Option<String>,
    /// The version active now.
    pub to: String,
    /// The version entry recording the rollback.
    pub record: String,
}

/// Points the active model at an older stored version, and records that as a version
/// entry (`rollback-<time>`, promoted = false) naming both ends and `why`.
pub async fn rollback_model(
    store: &dyn LeadStore,
    to: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<RollbackReport, ModelJobError> {
    let versions = store.list_model_versions().await?;
    let target = versions
        .iter()
        .find(|v| v.version == to)
        .ok_or_else(|| ModelJobError::UnknownVersion(to.to_string()))?;
    if version_kind(&version_metrics(target)?) == VersionKind::Rollback {
        return Err(ModelJobError::NotAModel(to.to_string()));
    }
    Model::from_toml_str(&target.model_toml).map_err(|error| ModelJobError::Model {
        version: to.to_string(),
        error,
    })?;
    let from = store.active_model().await?.map(|v| v.version);
    if from.as_deref() == Some(to) {
        return Err(ModelJobError::AlreadyActive(to.to_string()));
    }
    let record = fresh_label("rollback", now, &versions);
    let why = why.trim();
    let reason = format!(
        "rollback: active model moved from {} back to {to}{}",
        from.as_deref().unwrap_or("the shipped rules"),
        if why.is_empty() {
            String::new()
        } else {
            format!(" ({why})")
        }
    );
    let metrics = VersionMetrics {
        rollback: Some(RollbackRecord {
            from: from.clone(),
            to: to.to_string(),
        }),
        ..VersionMetrics::default()
    };
    let entry = ModelVersion {
        version: record.clone(),
        created_at: now,
        model_toml: target.model_toml.clone(),
        metrics_json: Some(
            serde_json::to_string(&metrics)
                .map_err(|e| ModelJobError::Training(format!("encoding the record: {e}")))?,
        ),
        promoted: false,
        reason,
    };
    if !store.put_model_version(&entry).await? {
        return Err(ModelJobError::Training(format!(
            "rollback record {record} was stored meanwhile; nothing changed"
        )));
    }
    store.set_active_model(to).await?;
    Ok(RollbackReport {
        from,
        to: to.to_string(),
        record,
    })
}
