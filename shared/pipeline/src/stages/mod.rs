//! The stages as plain async functions over the ports, and the batch driver that the
//! Lambdas and the local runtime share.
//!
//! - [`enrich_lead`]: offline providers (email analysis, title parser, company directory)
//!   fill unknown fields and record their provenance;
//! - [`score_lead`]: the ScoreCard, its history and the next decay rescore time;
//! - [`route_lead`]: the assignment (a rep or the fallback queue) and the verdict's alerts;
//! - [`process_batch`]: one queue batch with per-record failure;
//! - [`train_model`] / [`rollback_model`]: learning from outcomes, guarded promotion, rollback;
//! - [`sweep_decay`]: leads whose decayed score is due to cross a band edge, back to scoring;
//! - [`enrich_stage_handler`] / [`score_stage_handler`]: one envelope, then the follow-up.

pub mod batch;
pub mod decay;
pub mod directory;
pub mod enrich;
pub mod handlers;
pub mod ingest;
pub mod route;
pub mod score;
pub mod train;

pub use batch::{
    BatchReport, DEFAULT_BATCH_CONCURRENCY, RecordFailure, process_batch, process_batch_bounded,
};
pub use decay::{SweepError, SweepReport, sweep_decay, sweep_decay_from};
pub use directory::{
    CompanyDirectory, CompanyFacts, DirectoryError, MemoryDirectory, normalise_domain,
    parse_company_csv,
};
pub use enrich::{EnrichOutcome, enrich_lead};
pub use handlers::{DECAY_CAUSE_PREFIX, history_cause};
pub use handlers::{Handled, QUEUED_CAUSE, StagePorts, enrich_stage_handler, score_stage_handler};
pub use ingest::{
    EventsAccepted, IngestError, LeadAccepted, LeadRequest, LeadView, OutcomeAccepted, erase_lead,
    ingest_events, ingest_lead, ingest_outcome, lead_view,
};
pub use route::{
    AlertAttempt, AssignmentChange, RouteContext, RouteOutcome, route_lead, route_stage_handler,
};
pub use score::{ActiveModel, ModelCache, ScoreOutcome, next_band_change, score_lead};
pub use train::{
    ModelJobError, RollbackReport, TrainReport, TrainSettings, VersionKind, VersionMetrics,
    rollback_model, train_model, version_kind, version_metrics,
};

use crate::envelope::Stage;
use crate::ports::{QueueError, StoreError};
use leadq_scoring::ModelError;

/// Why a stage could not finish its work on a lead (the message is then retried).
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum StageError {
    /// The lead store failed.
    #[error("lead store: {0}")]
    Store(StoreError),
    /// Sending the follow-up work failed.
    #[error("work queue: {0}")]
    Queue(#[from] QueueError),
    /// The lead does not exist (never stored, or erased).
    #[error("lead {lead_id} not found")]
    LeadNotFound {
        /// The lead asked for.
        lead_id: String,
    },
    /// The company directory failed.
    #[error("company directory lookup of {domain}: {error}")]
    Directory {
        /// The domain looked up.
        domain: String,
        /// What the directory said.
        error: StoreError,
    },
    /// The active model version does not compile.
    #[error("model version {version} cannot be used: {error}")]
    Model {
        /// The stored version label.
        version: String,
        /// Why it was refused.
        error: ModelError,
    },
    /// The active model version's stored calibration is unreadable.
    #[error("model version {version}: its calibration cannot be used: {error}")]
    Calibration {
        /// The stored version label.
        version: String,
        /// Why it was refused.
        error: String,
    },
    /// An envelope reached the wrong stage's handler.
    #[error("lead {lead_id}: a {got} envelope reached the {expected} stage")]
    WrongStage {
        /// The stage that handled it.
        expected: &'static str,
        /// The stage the envelope is for.
        got: &'static str,
        /// The lead of the envelope.
        lead_id: String,
    },
}

impl From<StoreError> for StageError {
    fn from(error: StoreError) -> StageError {
        match error {
            StoreError::NotFound { what: "lead", id } => StageError::LeadNotFound { lead_id: id },
            other => StageError::Store(other),
        }
    }
}

impl StageError {
    /// A [`StageError::WrongStage`] for an envelope of `got` handled by `expected`.
    pub(crate) fn wrong_stage(expected: Stage, got: Stage, lead_id: &str) -> StageError {
        StageError::WrongStage {
            expected: expected.name(),
            got: got.name(),
            lead_id: lead_id.to_string(),
        }
    }
}
