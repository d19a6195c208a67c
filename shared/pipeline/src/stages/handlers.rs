//! Stage handlers: run a stage for one envelope, then send the follow-up work.
//!
//! The Lambdas and the local runtime call these through [`super::process_batch`]; the
//! follow-up envelope keeps the trace id so one submission's log lines stay together.
//! Queue consumers pass each result through [`done_if_lead_gone`], so work on an erased
//! lead is acknowledged instead of cycling to the dead-letter queue.

use super::StageError;
use super::directory::CompanyDirectory;
use super::enrich::{EnrichOutcome, enrich_lead};
use super::score::{ModelCache, ScoreOutcome, score_lead};
use crate::envelope::{Cause, Envelope, Stage};
use crate::ports::{Clock, LeadStore, WorkQueue};
use crate::retry::RetryPolicy;

/// History cause recorded for a score triggered through the queue.
pub const QUEUED_CAUSE: &str = "new lead data or events";

/// How a history cause recorded for a decay rescore begins.
pub const DECAY_CAUSE_PREFIX: &str = "time decay";

/// The history cause of a score for `envelope`: its [`Cause`] in words, else [`QUEUED_CAUSE`].
pub fn history_cause(envelope: &Envelope) -> String {
    match envelope.cause {
        None => QUEUED_CAUSE.to_string(),
        Some(Cause::Decay) => format!(
            "{DECAY_CAUSE_PREFIX}: no new events, the decayed score was due to cross a band edge \
             (decay sweep of {})",
            envelope
                .enqueued_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        Some(Cause::ModelChange) => {
            "model change: rescored with the version training promoted".into()
        }
        Some(Cause::Closed) => "deal closed: an outcome arrived".into(),
    }
}

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

/// Treats work on a lead that no longer exists as done: `Ok(None)` instead of
/// [`StageError::LeadNotFound`] for the envelope's own lead.
///
/// A lead erased after its work was queued will never come back, so retrying the message
/// would only carry it to the dead-letter queue and raise an alarm for nothing. The stage
/// handlers themselves still report the error, because a direct caller (an API request)
/// must tell "not found" from "done". Logged at info: it is expected, not an incident.
pub fn done_if_lead_gone<T>(
    envelope: &Envelope,
    result: Result<Handled<T>, StageError>,
) -> Result<Option<Handled<T>>, StageError> {
    match result {
        Err(StageError::LeadNotFound { lead_id }) if lead_id == envelope.lead_id => {
            tracing::info!(
                stage = envelope.kind.name(),
                lead_id = %lead_id,
                "lead no longer exists (erased): its work is done"
            );
            Ok(None)
        }
        other => other.map(Some),
    }
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
    let _timer = crate::metrics::time_stage(crate::metrics::MeteredStage::Enrich);
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
/// The history entry of a changed verdict says why ([`history_cause`]: a decay sweep, or
/// new lead data or events); the route envelope keeps the cause.
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
    let _timer = crate::metrics::time_stage(crate::metrics::MeteredStage::Score);
    let now = ports.clock.now();
    let outcome = score_lead(
        ports.store,
        models,
        &envelope.lead_id,
        &history_cause(envelope),
        now,
        &ports.policy,
    )
    .await?;
    crate::metrics::lead_scored(outcome.card.band, outcome.verdict_changed);
    // a closed deal is routed whatever its verdict: routing frees its rep
    let route = outcome.verdict_changed
        || envelope.cause == Some(Cause::Closed)
        || outcome
            .verdict_since
            .is_some_and(|since| since >= envelope.enqueued_at);
    let follow_up = if route {
        let mut next = Envelope::new(Stage::Route, &envelope.lead_id, &envelope.trace_id, now);
        next.cause = envelope.cause;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryQueue, MemoryStore};
    use crate::ports::FixedClock;
    use crate::stages::MemoryDirectory;
    use chrono::{TimeZone, Utc};
    use std::time::Duration;

    fn at(seconds: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, seconds)
            .single()
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn work_on_an_erased_lead_is_done_not_failed() {
        let (store, queue, clock) = (
            MemoryStore::new(),
            MemoryQueue::default(),
            FixedClock::new(at(5)),
        );
        let ports = StagePorts {
            store: &store,
            queue: &queue,
            clock: &clock,
            policy: RetryPolicy::default(),
        };
        let enrich = Envelope::new(Stage::Enrich, "erased", "trace-1", at(0));
        let raw = enrich_stage_handler(&ports, &MemoryDirectory::new(), &enrich).await;
        assert_eq!(
            raw,
            Err(StageError::LeadNotFound {
                lead_id: "erased".into()
            }),
            "the handler itself still tells"
        );
        assert_eq!(done_if_lead_gone(&enrich, raw), Ok(None));

        let score = Envelope::new(Stage::Score, "erased", "trace-1", at(0));
        let raw = score_stage_handler(&ports, &ModelCache::default(), &score).await;
        assert_eq!(done_if_lead_gone(&score, raw), Ok(None));
        // nothing was sent on for a lead that is gone
        for stage in Stage::ALL {
            let sent = queue.receive(stage, 10, Duration::from_secs(1)).await;
            assert_eq!(sent, Ok(Vec::new()), "{stage:?}");
        }
    }

    #[test]
    fn other_failures_stay_failures() {
        let envelope = Envelope::new(Stage::Score, "lead-1", "trace-1", at(0));
        let other_lead = || StageError::LeadNotFound {
            lead_id: "lead-2".into(),
        };
        assert_eq!(
            done_if_lead_gone::<()>(&envelope, Err(other_lead())),
            Err(other_lead())
        );
        let queue_down: Result<Handled<()>, StageError> =
            Err(StageError::Queue(crate::ports::QueueError::Backend {
                operation: "send",
                message: "unreachable".into(),
            }));
        assert!(done_if_lead_gone(&envelope, queue_down).is_err());
        let handled = Handled {
            outcome: 7,
            follow_up: None,
        };
        assert_eq!(
            done_if_lead_gone(&envelope, Ok(handled.clone())),
            Ok(Some(handled))
        );
    }
}
