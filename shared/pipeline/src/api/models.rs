//! Model versions over HTTP (and the views `leadq models` prints): list them, show one,
//! roll the active model back to an older one. Needs an API key with scope `models` or `*`.
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/models` | 200 `{active, versions}`, newest first |
//! | `GET /v1/models/{version}` | 200 with the version's metrics, weight changes, calibration and rules; 404 if not stored |
//! | `POST /v1/models/{version}/rollback` | 200 `{from, to, record}`; optional body `{"reason": "..."}`; 404 unknown, 409 already active or a rollback record |

use super::auth::Access;
use super::{ApiState, authenticate, json, problem};
use crate::intake::{Problem, Violation};
use crate::ports::{LeadStore, ModelVersion};
use crate::stages::train::{
    HoldoutMetrics, ModelJobError, RollbackRecord, TrainingData, WeightChange, rollback_model,
    version_kind, version_metrics,
};
use axum::extract::{Path, Request, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use leadq_scoring::Calibration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Longest version label echoed back in an error.
const MAX_LABEL_CHARS: usize = 128;

/// Longest rollback reason kept.
pub const MAX_ROLLBACK_REASON_CHARS: usize = 500;

/// One stored version in a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionSummary {
    /// The version label.
    pub version: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// `rules`, `trained`, `rollback` (a record), or `unreadable` (its metrics do not parse).
    pub kind: &'static str,
    /// Whether it is the active version now.
    pub active: bool,
    /// Whether it was promoted when stored.
    pub promoted: bool,
    /// Why, in words.
    pub reason: String,
    /// Its holdout AUC when trained.
    pub auc: Option<f64>,
    /// Its holdout calibration error when trained.
    pub ece: Option<f64>,
}

/// Every version, newest first, and which is active.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionList {
    /// The active version (`None`: the shipped rules).
    pub active: Option<String>,
    /// The stored versions, newest first.
    pub versions: Vec<VersionSummary>,
}

/// One version in full.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionDetail {
    /// What the list shows.
    #[serde(flatten)]
    pub summary: VersionSummary,
    /// The version active when it was trained.
    pub based_on: Option<String>,
    /// The outcomes it was trained and judged on.
    pub data: Option<TrainingData>,
    /// Its metrics on the holdout.
    pub challenger: Option<HoldoutMetrics>,
    /// The then active version's metrics on the same holdout.
    pub compared_with: Option<HoldoutMetrics>,
    /// Weight changes against the then active version, largest first.
    pub weight_changes: Vec<WeightChange>,
    /// The learned calibration.
    pub calibration: Option<Calibration>,
    /// For a rollback record: from which version to which.
    pub rollback: Option<RollbackRecord>,
    /// The rules (TOML).
    pub model_toml: String,
}

fn summary(version: &ModelVersion, active: Option<&str>) -> VersionSummary {
    let metrics = version_metrics(version).ok();
    let trained = metrics.as_ref().and_then(|m| m.challenger);
    VersionSummary {
        version: version.version.clone(),
        created_at: version.created_at,
        kind: metrics
            .as_ref()
            .map_or("unreadable", |m| version_kind(m).name()),
        active: active == Some(version.version.as_str()),
        promoted: version.promoted,
        reason: version.reason.clone(),
        auc: trained.map(|m| m.auc),
        ece: trained.map(|m| m.ece),
    }
}

/// Every stored version, newest first, and the active one.
pub async fn list_versions(store: &dyn LeadStore) -> Result<VersionList, ModelJobError> {
    let active = store.active_model().await?.map(|v| v.version);
    let versions = store.list_model_versions().await?;
    Ok(VersionList {
        versions: versions
            .iter()
            .map(|v| summary(v, active.as_deref()))
            .collect(),
        active,
    })
}

/// One stored version in full; [`ModelJobError::UnknownVersion`] if not stored.
pub async fn show_version(
    store: &dyn LeadStore,
    label: &str,
) -> Result<VersionDetail, ModelJobError> {
    let active = store.active_model().await?.map(|v| v.version);
    let versions = store.list_model_versions().await?;
    let version = versions
        .iter()
        .find(|v| v.version == label)
        .ok_or_else(|| ModelJobError::UnknownVersion(label.to_string()))?;
    let metrics = version_metrics(version)?;
    Ok(VersionDetail {
        summary: summary(version, active.as_deref()),
        based_on: metrics.based_on,
        data: metrics.data,
        challenger: metrics.challenger,
        compared_with: metrics.active,
        weight_changes: metrics.weight_changes,
        calibration: metrics.calibration,
        rollback: metrics.rollback,
        model_toml: version.model_toml.clone(),
    })
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_LABEL_CHARS).collect()
}

/// The problem a model error answers with; store failures say nothing about the store.
fn model_problem(error: &ModelJobError) -> Response {
    let (status, kind, title, rule) = match error {
        ModelJobError::UnknownVersion(_) => (404, "not-found", "Not found", "exists"),
        ModelJobError::AlreadyActive(_) => (409, "already-active", "Already active", "not_active"),
        ModelJobError::NotAModel(_) => (409, "not-a-model", "Not a model", "model"),
        ModelJobError::Store(store) => {
            tracing::error!(error = %super::loggable(&store.to_string()), "lead store failed");
            return problem(&Problem {
                problem_type: "urn:leadq:problem:unavailable".into(),
                title: "Service unavailable".into(),
                status: 503,
                detail: "storage is unavailable; nothing was changed, retry the same request"
                    .into(),
                errors: Vec::new(),
            });
        }
        ModelJobError::Model { .. }
        | ModelJobError::Metrics { .. }
        | ModelJobError::Training(_) => (500, "model-unusable", "Model version unusable", "usable"),
    };
    let detail = clip_detail(&error.to_string());
    tracing::info!(status, "refused: {detail}");
    problem(&Problem {
        problem_type: format!("urn:leadq:problem:{kind}"),
        title: title.into(),
        status,
        detail: detail.clone(),
        errors: vec![Violation::new("version", rule, detail)],
    })
}

/// Error texts echo the label a caller typed: keep them short.
fn clip_detail(text: &str) -> String {
    text.chars().take(2 * MAX_LABEL_CHARS + 200).collect()
}

/// `GET /v1/models`.
pub(super) async fn get_models(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    if let Err(response) = authenticate(&state, request, Access::Models).await {
        return response;
    }
    match list_versions(state.store.as_ref()).await {
        Ok(list) => json(200, &list),
        Err(error) => model_problem(&error),
    }
}

/// `GET /v1/models/{version}`.
pub(super) async fn get_model(
    State(state): State<Arc<ApiState>>,
    label: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Response {
    if let Err(response) = authenticate(&state, request, Access::Models).await {
        return response;
    }
    let Ok(Path(label)) = label else {
        return model_problem(&ModelJobError::UnknownVersion(String::new()));
    };
    match show_version(state.store.as_ref(), &label).await {
        Ok(detail) => json(200, &detail),
        Err(ModelJobError::UnknownVersion(_)) => {
            model_problem(&ModelJobError::UnknownVersion(clip(&label)))
        }
        Err(error) => model_problem(&error),
    }
}

/// The optional body of a rollback.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /v1/models/{version}/rollback`.
pub(super) async fn post_rollback(
    State(state): State<Arc<ApiState>>,
    label: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Response {
    let (_, body) = match authenticate(&state, request, Access::Models).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let Ok(Path(label)) = label else {
        return model_problem(&ModelJobError::UnknownVersion(String::new()));
    };
    let body: RollbackBody = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(parsed) => parsed,
            Err(error) => {
                let detail = format!(
                    "the body must be empty or {{\"reason\": \"...\"}}: {}",
                    clip(&error.to_string())
                );
                tracing::info!(status = 422, "refused: {detail}");
                return problem(&Problem {
                    problem_type: "urn:leadq:problem:invalid-body".into(),
                    title: "Invalid body".into(),
                    status: 422,
                    detail: detail.clone(),
                    errors: vec![Violation::new("reason", "type", detail)],
                });
            }
        }
    };
    let reason = body.reason.unwrap_or_default();
    if reason.chars().count() > MAX_ROLLBACK_REASON_CHARS {
        let detail = format!("reason must be at most {MAX_ROLLBACK_REASON_CHARS} characters");
        return problem(&Problem {
            problem_type: "urn:leadq:problem:invalid-body".into(),
            title: "Invalid body".into(),
            status: 422,
            detail: detail.clone(),
            errors: vec![Violation::new("reason", "max_length", detail)],
        });
    }
    let now = state.clock.now();
    match rollback_model(state.store.as_ref(), &label, &reason, now).await {
        Ok(report) => json(200, &report),
        Err(ModelJobError::UnknownVersion(_)) => {
            model_problem(&ModelJobError::UnknownVersion(clip(&label)))
        }
        Err(error) => model_problem(&error),
    }
}
