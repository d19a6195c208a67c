//! Stage handlers: run a stage for one envelope, then send the follow-up work.
//!
//! The Lambdas and the local runtime call these through [`super::process_batch`]; the
//! follow-up envelope keeps the trace id so one submission's log lines stay together.

use super::StageError;
use super::directory::CompanyDirectory;
use super::enrich::{EnrichOutcome, enrich_lead};
use super::score::{ModelCache, ScoreOutcome, score_lead};
use crate::envelope::{Envelope, Stage};
use crate::ports::{Clock, LeadStore, WorkQueue};
use crate::retry::RetryPolicy;

/// History cause recorded for a score triggered through the queue.
pub const QUEUED_CAUSE: &str = "new lead data or events";

/// The ports every stage handler uses.
#[derive(Clone, Copy)]
pub struct StagePorts<'a> {
    /// The lead store.
    pub store: &'a dyn LeadStore,
    /// The work queues, for the follow-up envelope.
    pub queue: &'a dyn WorkQueue,
    /// The time.
    pub clock: &'a dyn Clock,
    /// Retries of conflicting writes.
    pub policy: RetryPolicy,
}

/// What a handler did: the stage's outcome and the follow-up it sent, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled<T> {
    /// The stage's outcome.
    pub outcome: T,
    /// The envelope sent to the next stage.
    pub follow_up: Option<Envelope>,
}

/// Enriches the envelope's lead, then always sends it on to scoring.
pub async fn enrich_stage_handler(
    ports: &StagePorts<'_>,
    directory: &dyn CompanyDirectory,
    envelope: &Envelope,
) -> Result<Handled<EnrichOutcome>, StageError> {
    if envelope.kind != Stage::Enrich {
        return Err(StageError::wrong_stage(
            Stage::Enrich,
            envelope.kind,
            &envelope.lead_id,
        ));
    }
    let now = ports.clock.now();
    let outcome = enrich_lead(
        ports.store,
        directory,
        &envelope.lead_id,
        now,
        &ports.policy,
    )
    .await?;
    let next = Envelope::new(Stage::Score, &envelope.lead_id, &envelope.trace_id, now);
    ports
        .queue
        .send(Stage::Score, std::slice::from_ref(&next))
        .await?;
    Ok(Handled {
        outcome,
        follow_up: Some(next),
    })
}

/// Scores the envelope's lead, then sends it to routing if its verdict changed.
///
/// Also routes when the current verdict was recorded after this envelope was enqueued:
/// a previous delivery of the same work changed it and may have failed before sending.
/// The route stage is idempotent per verdict, so that repeat is harmless.
pub async fn score_stage_handler(
    ports: &StagePorts<'_>,
    models: &ModelCache,
    envelope: &Envelope,
) -> Result<Handled<ScoreOutcome>, StageError> {
    if envelope.kind != Stage::Score {
        return Err(StageError::wrong_stage(
            Stage::Score,
            envelope.kind,
            &envelope.lead_id,
        ));
    }
    let now = ports.clock.now();
    let outcome = score_lead(
        ports.store,
        models,
        &envelope.lead_id,
        QUEUED_CAUSE,
        now,
        &ports.policy,
    )
    .await?;
    let route = outcome.verdict_changed
        || outcome
            .verdict_since
            .is_some_and(|since| since >= envelope.enqueued_at);
    let follow_up = if route {
        let next = Envelope::new(Stage::Route, &envelope.lead_id, &envelope.trace_id, now);
        ports
            .queue
            .send(Stage::Route, std::slice::from_ref(&next))
            .await?;
        Some(next)
    } else {
        None
    };
    Ok(Handled { outcome, follow_up })
}
