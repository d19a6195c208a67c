//! The decay sweep: leads whose decayed score may have crossed a band edge go back to
//! the score queue, so a week-old hot lead cools down without any new event.
//!
//! The score stage stores, with every card, the hour at which the lead's decayed score
//! next falls in another band (`rescore_at`, the store's due-for-rescore index). The
//! sweep reads that index a bounded page at a time and sends each due lead a score
//! envelope with [`Cause::Decay`], which the score stage records in the history. Scoring
//! moves `rescore_at` past the sweep's time (or clears it), so a lead leaves the index
//! once its rescore is done; sending one twice is harmless, since scoring the same lead
//! at the same state changes nothing.

use super::StageError;
use crate::envelope::{Cause, Envelope, Stage};
use crate::ports::{LeadStore, WorkQueue};
use chrono::{DateTime, SecondsFormat, Utc};

/// Leads read from the index, and sent, per page when the caller has no preference.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// Pages one sweep reads at most when the caller has no preference.
pub const DEFAULT_MAX_PAGES: usize = 50;

/// Largest page accepted: the index query and the queue batches stay small.
pub const MAX_PAGE_SIZE: usize = 1_000;

/// What a sweep did.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepReport {
    /// Leads due at or before this time were swept.
    pub due: DateTime<Utc>,
    /// Pages read from the index.
    pub pages: usize,
    /// Leads sent to the score queue.
    pub sent: usize,
    /// Where to resume when `max_pages` ran out before the index did; `None` when done.
    pub cursor: Option<String>,
    /// The trace id carried by every envelope of this sweep.
    pub trace_id: String,
}

impl SweepReport {
    /// Whether every due lead was sent (no page left over).
    pub fn complete(&self) -> bool {
        self.cursor.is_none()
    }
}

/// Why a sweep stopped.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum SweepError {
    /// A page size or page count the sweep refuses; nothing was read or sent.
    #[error("decay sweep {field}: {message}")]
    InvalidBounds {
        /// The refused argument (`page_size` or `max_pages`).
        field: &'static str,
        /// What is allowed.
        message: String,
    },
    /// The index or the queue failed after `sent` leads were sent; rerun from `resume_from`
    /// (`None`: from the start), leads sent twice are only scored again.
    #[error("decay sweep stopped after sending {sent} leads: {error}")]
    Interrupted {
        /// Leads sent before the failure.
        sent: usize,
        /// The cursor of the last page fully sent.
        resume_from: Option<String>,
        /// What failed.
        error: StageError,
    },
}

/// Sends every lead due for rescore at `now` to the score queue, `page_size` leads per page
/// and at most `max_pages` pages, starting at the beginning of the index.
pub async fn sweep_decay(
    store: &dyn LeadStore,
    queue: &dyn WorkQueue,
    now: DateTime<Utc>,
    page_size: usize,
    max_pages: usize,
) -> Result<SweepReport, SweepError> {
    sweep_decay_from(store, queue, now, page_size, max_pages, None).await
}

/// [`sweep_decay`] resumed at `cursor` (a [`SweepReport::cursor`] of an earlier sweep).
pub async fn sweep_decay_from(
    store: &dyn LeadStore,
    queue: &dyn WorkQueue,
    now: DateTime<Utc>,
    page_size: usize,
    max_pages: usize,
    cursor: Option<String>,
) -> Result<SweepReport, SweepError> {
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(SweepError::InvalidBounds {
            field: "page_size",
            message: format!("must be from 1 to {MAX_PAGE_SIZE}, got {page_size}"),
        });
    }
    if max_pages == 0 {
        return Err(SweepError::InvalidBounds {
            field: "max_pages",
            message: "must be at least 1, got 0".into(),
        });
    }
    // one trace per sweep: the rescore of every lead it sent can be found by it
    let trace_id = format!("decay-{}", now.to_rfc3339_opts(SecondsFormat::Secs, true));
    let mut report = SweepReport {
        due: now,
        pages: 0,
        sent: 0,
        cursor,
        trace_id,
    };
    while report.pages < max_pages {
        let page = store
            .leads_due_for_rescore(now, page_size, report.cursor.clone())
            .await
            .map_err(|error| interrupted(&report, error.into()))?;
        report.pages += 1;
        let envelopes: Vec<Envelope> = page
            .ids
            .iter()
            .map(|id| {
                Envelope::new(Stage::Score, id, &report.trace_id, now).with_cause(Cause::Decay)
            })
            .collect();
        if !envelopes.is_empty() {
            queue
                .send(Stage::Score, &envelopes)
                .await
                .map_err(|error| interrupted(&report, error.into()))?;
        }
        report.sent += envelopes.len();
        report.cursor = page.cursor;
        if report.cursor.is_none() {
            break;
        }
    }
    tracing::info!(
        due = %now,
        pages = report.pages,
        sent = report.sent,
        complete = report.complete(),
        trace_id = %report.trace_id,
        "decay sweep done"
    );
    Ok(report)
}

fn interrupted(report: &SweepReport, error: StageError) -> SweepError {
    SweepError::Interrupted {
        sent: report.sent,
        resume_from: report.cursor.clone(),
        error,
    }
}
