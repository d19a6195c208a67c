//! The operational metrics the stages record, by name, through the `metrics` facade.
//!
//! Without an installed recorder (tests, `leadq score`, the local mode) every call here
//! is a no-op. The Lambdas install a CloudWatch Embedded Metric Format recorder at start
//! (`leadq_aws::metrics`) that adds the `Function` dimension and flushes once per
//! invocation; the template's alarms and dashboard name exactly these metrics.
//!
//! | metric | unit | dimensions | recorded when |
//! |---|---|---|---|
//! | `LeadsIngested` | Count | | a form submission is stored and its work queued (new or known person; not a replay) |
//! | `Refusals` | Count | `Reason` | the API answers 4xx (see [`refusal_reason`]) |
//! | `LeadsScored` | Count | `Band` | a lead is scored |
//! | `VerdictChanges` | Count | | a score changed band or next action |
//! | `AlertsSent` | Count | | a receiver accepted an alert |
//! | `AlertsFailed` | Count | | an alert failed for good (no attempts left, or not retryable) |
//! | `StageLatency` | Milliseconds | `Stage` | a stage finished one unit of work (request, record, job), failed or not |
//!
//! No value recorded here carries lead data: dimension values come from fixed sets.

use leadq_scoring::Band;
use std::time::{Duration, Instant};

/// The CloudWatch namespace of every leadq metric.
pub const NAMESPACE: &str = "leadq";

/// Form submissions stored (new or known person).
pub const LEADS_INGESTED: &str = "LeadsIngested";
/// API requests refused, by [`REASON`].
pub const REFUSALS: &str = "Refusals";
/// Leads scored, by [`BAND`].
pub const LEADS_SCORED: &str = "LeadsScored";
/// Scores that changed band or next action.
pub const VERDICT_CHANGES: &str = "VerdictChanges";
/// Alerts a receiver accepted.
pub const ALERTS_SENT: &str = "AlertsSent";
/// Alerts that failed for good.
pub const ALERTS_FAILED: &str = "AlertsFailed";
/// Milliseconds one unit of a stage's work took, by [`STAGE`].
pub const STAGE_LATENCY: &str = "StageLatency";

/// Dimension of [`REFUSALS`]: the rule class of the refusal.
pub const REASON: &str = "Reason";
/// Dimension of [`LEADS_SCORED`]: the band's snake_case name.
pub const BAND: &str = "Band";
/// Dimension of [`STAGE_LATENCY`]: the stage's name.
pub const STAGE: &str = "Stage";
/// Dimension every Lambda adds to every metric: the function's name.
pub const FUNCTION: &str = "Function";

/// A stage whose latency is measured; [`Self::name`] is the `Stage` dimension's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeteredStage {
    /// One API request.
    Ingest,
    /// One enrich record.
    Enrich,
    /// One score record.
    Score,
    /// One route record.
    Route,
    /// One scheduled job.
    Recalibrate,
}

impl MeteredStage {
    /// Every metered stage.
    pub const ALL: [MeteredStage; 5] = [
        MeteredStage::Ingest,
        MeteredStage::Enrich,
        MeteredStage::Score,
        MeteredStage::Route,
        MeteredStage::Recalibrate,
    ];

    /// The `Stage` dimension's value.
    pub fn name(self) -> &'static str {
        match self {
            MeteredStage::Ingest => "ingest",
            MeteredStage::Enrich => "enrich",
            MeteredStage::Score => "score",
            MeteredStage::Route => "route",
            MeteredStage::Recalibrate => "recalibrate",
        }
    }
}

/// Declares the units, so the EMF document says Count and Milliseconds; a recorder
/// installer calls it once after installing.
pub fn describe() {
    let counters = [
        (LEADS_INGESTED, "form submissions stored"),
        (REFUSALS, "API requests refused, by reason"),
        (LEADS_SCORED, "leads scored, by band"),
        (VERDICT_CHANGES, "scores that changed band or next action"),
        (ALERTS_SENT, "alerts a receiver accepted"),
        (ALERTS_FAILED, "alerts that failed for good"),
    ];
    for (name, description) in counters {
        metrics::describe_counter!(name, metrics::Unit::Count, description);
    }
    metrics::describe_histogram!(
        STAGE_LATENCY,
        metrics::Unit::Milliseconds,
        "milliseconds one unit of a stage's work took"
    );
}

/// Counts one stored form submission.
pub fn lead_ingested() {
    metrics::counter!(LEADS_INGESTED).increment(1);
}

/// The `Reason` of a refusal with HTTP `status`: a fixed set, so the dimension cannot
/// grow with what callers send; `None` for a status that is not a refusal (2xx, 5xx).
pub fn refusal_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "malformed_body",
        401 | 403 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "invalid_field",
        429 => "rate_limited",
        other if (400..500).contains(&other) => "other",
        _ => return None,
    })
}

/// Counts one refusal with HTTP `status`; other statuses are not refusals and count nothing.
pub fn refused(status: u16) {
    if let Some(reason) = refusal_reason(status) {
        metrics::counter!(REFUSALS, REASON => reason).increment(1);
    }
}

/// Counts one scored lead in `band`, and a verdict change when `verdict_changed`.
pub fn lead_scored(band: Band, verdict_changed: bool) {
    metrics::counter!(LEADS_SCORED, BAND => band.name()).increment(1);
    if verdict_changed {
        metrics::counter!(VERDICT_CHANGES).increment(1);
    }
}

/// Counts one alert a receiver accepted.
pub fn alert_sent() {
    metrics::counter!(ALERTS_SENT).increment(1);
}

/// Counts one alert that failed for good.
pub fn alert_failed() {
    metrics::counter!(ALERTS_FAILED).increment(1);
}

/// Records that one unit of `stage`'s work took `elapsed`.
pub fn stage_latency(stage: MeteredStage, elapsed: Duration) {
    metrics::histogram!(STAGE_LATENCY, STAGE => stage.name())
        .record(elapsed.as_secs_f64() * 1000.0);
}

/// Measures a stage from now until dropped, so every way out (`?` included) is timed.
#[must_use = "the latency is recorded when the timer is dropped"]
#[derive(Debug)]
pub struct StageTimer {
    stage: MeteredStage,
    started: Instant,
}

/// Starts timing one unit of `stage`'s work: `let _timer = time_stage(MeteredStage::Score);`.
pub fn time_stage(stage: MeteredStage) -> StageTimer {
    StageTimer {
        stage,
        started: Instant::now(),
    }
}

impl Drop for StageTimer {
    fn drop(&mut self) {
        stage_latency(self.stage, self.started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::{CompositeKey, MetricKind};

    /// What was recorded: (kind, name, labels, value), sorted.
    type Recorded = Vec<(MetricKind, String, Vec<(String, String)>, DebugValue)>;

    fn record(run: impl FnOnce()) -> Recorded {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            describe();
            run();
        });
        let mut recorded: Recorded = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(
                |(key, _unit, _description, value): (CompositeKey, _, _, _)| {
                    let (kind, key) = key.into_parts();
                    let labels = key
                        .labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect();
                    (kind, key.name().to_owned(), labels, value)
                },
            )
            .collect();
        recorded.sort_by(|a, b| (a.1.as_str(), &a.2).cmp(&(b.1.as_str(), &b.2)));
        recorded
    }

    fn counter(name: &str, labels: &[(&str, &str)], value: u64) -> Recorded {
        vec![(
            MetricKind::Counter,
            name.to_owned(),
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            DebugValue::Counter(value),
        )]
    }

    #[test]
    fn counters_carry_their_names_and_dimensions() {
        assert_eq!(record(lead_ingested), counter("LeadsIngested", &[], 1));
        assert_eq!(record(alert_sent), counter("AlertsSent", &[], 1));
        assert_eq!(record(alert_failed), counter("AlertsFailed", &[], 1));
        assert_eq!(
            record(|| lead_scored(Band::Hot, false)),
            counter("LeadsScored", &[("Band", "hot")], 1)
        );
        let mut changed = counter("LeadsScored", &[("Band", "disqualified")], 1);
        changed.extend(counter("VerdictChanges", &[], 1));
        assert_eq!(record(|| lead_scored(Band::Disqualified, true)), changed);
    }

    #[test]
    fn refusals_are_counted_by_reason() {
        let recorded = record(|| {
            for status in [401, 401, 413, 415, 422, 200, 201, 500, 503] {
                refused(status);
            }
        });
        let mut expected = counter("Refusals", &[("Reason", "invalid_field")], 1);
        expected.extend(counter("Refusals", &[("Reason", "too_large")], 1));
        expected.extend(counter("Refusals", &[("Reason", "unauthorized")], 2));
        expected.extend(counter(
            "Refusals",
            &[("Reason", "unsupported_media_type")],
            1,
        ));
        assert_eq!(
            recorded, expected,
            "successes and server errors are not refusals"
        );
    }

    #[test]
    fn every_client_error_has_a_reason_and_nothing_else_does() {
        for status in 0..=u16::MAX {
            let reason = refusal_reason(status);
            assert_eq!(reason.is_some(), (400..500).contains(&status), "{status}");
            if let Some(reason) = reason {
                assert!(
                    reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{reason}"
                );
            }
        }
    }

    #[test]
    fn stage_latency_is_recorded_in_milliseconds_by_stage() {
        let recorded = record(|| {
            stage_latency(MeteredStage::Score, Duration::from_micros(12_500));
            drop(time_stage(MeteredStage::Ingest));
        });
        assert_eq!(recorded.len(), 2, "{recorded:?}");
        let (kind, name, labels, value) = &recorded[0];
        assert_eq!(
            (kind, name.as_str()),
            (&MetricKind::Histogram, "StageLatency")
        );
        assert_eq!(labels, &[("Stage".to_owned(), "ingest".to_owned())]);
        let DebugValue::Histogram(values) = value else {
            panic!("a histogram: {value:?}");
        };
        assert_eq!(values.len(), 1);
        assert!(values[0].into_inner() >= 0.0 && values[0].into_inner() < 60_000.0);
        assert_eq!(
            recorded[1].2,
            [("Stage".to_owned(), "score".to_owned())],
            "{recorded:?}"
        );
        let DebugValue::Histogram(values) = &recorded[1].3 else {
            panic!("a histogram: {recorded:?}");
        };
        let values: Vec<f64> = values.iter().map(|v| v.into_inner()).collect();
        assert_eq!(values, [12.5]);
    }

    #[test]
    fn stage_names_are_the_dimension_values() {
        let names: Vec<_> = MeteredStage::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["ingest", "enrich", "score", "route", "recalibrate"]);
    }
}
