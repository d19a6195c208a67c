//! The message envelope that carries work between stages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Current envelope format version.
pub const ENVELOPE_VERSION: u32 = 1;

/// Largest message body the queues accept (SQS's default MaximumMessageSize, 256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A stage that consumes a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Fill in the company and the person.
    Enrich,
    /// Compute the ScoreCard.
    Score,
    /// Decide the next action, assign a rep, alert.
    Route,
}

impl Stage {
    /// Every stage with a queue.
    pub const ALL: [Stage; 3] = [Stage::Enrich, Stage::Score, Stage::Route];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Enrich => "enrich",
            Stage::Score => "score",
            Stage::Route => "route",
        }
    }
}

/// A unit of work for a stage: versioned JSON `{v, kind, lead_id, trace_id, enqueued_at, attempt}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Format version ([`ENVELOPE_VERSION`]).
    pub v: u32,
    /// The stage the work is for.
    pub kind: Stage,
    /// The lead to work on.
    pub lead_id: String,
    /// Correlates the log lines of one submission across stages.
    pub trace_id: String,
    /// When the work was enqueued.
    pub enqueued_at: DateTime<Utc>,
    /// 0 on the first send; +1 each time a stage re-enqueues the same work.
    pub attempt: u32,
}

/// Why a message body is not a usable envelope.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnvelopeError {
    /// Not JSON, or not of the envelope's shape.
    #[error("message is not a valid envelope: {0}")]
    Malformed(String),
    /// A format version this build does not understand.
    #[error("envelope version {0} is not supported (this build reads version {ENVELOPE_VERSION})")]
    UnsupportedVersion(u32),
    /// The lead id is empty.
    #[error("envelope field lead_id: must not be empty")]
    EmptyLeadId,
}

impl Envelope {
    /// New work for `stage` on `lead_id`.
    pub fn new(
        kind: Stage,
        lead_id: impl Into<String>,
        trace_id: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Envelope {
        Envelope {
            v: ENVELOPE_VERSION,
            kind,
            lead_id: lead_id.into(),
            trace_id: trace_id.into(),
            enqueued_at: now,
            attempt: 0,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| unreachable!("an envelope always serialises"))
    }

    /// Parses and checks a message body.
    pub fn parse(body: &str) -> Result<Envelope, EnvelopeError> {
        let envelope: Envelope =
            serde_json::from_str(body).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(envelope.v));
        }
        if envelope.lead_id.trim().is_empty() {
            return Err(EnvelopeError::EmptyLeadId);
        }
        Ok(envelope)
    }
}
