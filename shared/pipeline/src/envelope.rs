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

/// Why work was sent when it was not new lead data or events; the receiving stage records it.
///
/// Absent from an envelope (the common case) it means new lead data or events, so
/// envelopes written before the field existed still read the same (format version 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The decay sweep found the lead due for rescore: its events aged, nothing new arrived.
    Decay,
    /// Training promoted a new model version: the lead is rescored with it.
    ModelChange,
    /// The lead's deal closed (an outcome arrived): rescored so routing frees its rep.
    Closed,
}

impl Cause {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Decay => "decay",
            Cause::ModelChange => "model_change",
            Cause::Closed => "closed",
        }
    }
}

/// A unit of work for a stage: versioned JSON
/// `{v, kind, lead_id, trace_id, enqueued_at, attempt, cause?}`.
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
    /// Why the work was sent, if not new lead data or events (omitted from the JSON then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
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
            cause: None,
        }
    }

    /// The same work, sent because of `cause`.
    pub fn with_cause(mut self, cause: Cause) -> Envelope {
        self.cause = Some(cause);
        self
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn an_envelope_without_a_cause_reads_and_writes_as_before() {
        let body = r#"{"v":1,"kind":"score","lead_id":"l-1","trace_id":"t-1","enqueued_at":"2026-11-23T12:00:00Z","attempt":0}"#;
        let envelope = Envelope::parse(body).expect("a version 1 envelope");
        assert_eq!(envelope, Envelope::new(Stage::Score, "l-1", "t-1", at()));
        assert_eq!(envelope.cause, None);
        assert_eq!(envelope.to_json(), body, "no cause key is written");
    }

    #[test]
    fn a_cause_round_trips_in_version_1() {
        let envelope = Envelope::new(Stage::Score, "l-1", "t-1", at()).with_cause(Cause::Decay);
        let body = envelope.to_json();
        assert!(body.contains(r#""cause":"decay""#), "{body}");
        assert!(body.contains(r#""v":1"#), "{body}");
        assert_eq!(Envelope::parse(&body), Ok(envelope));
        assert_eq!(Cause::Decay.name(), "decay");
    }

    #[test]
    fn an_unknown_cause_is_malformed() {
        let body = r#"{"v":1,"kind":"score","lead_id":"l-1","trace_id":"t-1","enqueued_at":"2026-11-23T12:00:00Z","attempt":0,"cause":"boredom"}"#;
        let err = Envelope::parse(body).expect_err("unknown cause");
        assert!(
            matches!(&err, EnvelopeError::Malformed(m) if m.contains("boredom")),
            "{err}"
        );
    }
}
