//! The SQS glue of the stage Lambdas: an SQS event in, a partial batch response out.
//!
//! Each record's body is decoded as an [`Envelope`] and handed to the stage handler
//! through [`process_batch_bounded`]; the response names only the records that failed
//! (`ReportBatchItemFailures`), so SQS deletes the others and redelivers just those, and
//! after the queue's maxReceiveCount moves them to the dead-letter queue. A malformed
//! body or a failing handler never fails the invocation: an `Err` from the Lambda, like
//! an empty or unknown id in the response, would make SQS retry the whole batch.
//!
//! Every record is handled inside a `record` span with `stage`, `lead_id`, `trace_id`,
//! `message_id` and `receive_count`, so each log line of its handler carries them.

use leadq_pipeline::stages::process_batch_bounded;
use leadq_pipeline::{Envelope, Stage};
use std::collections::HashSet;
use std::fmt::Display;
use std::future::Future;
use std::sync::Mutex;
use tracing::{Instrument, info, info_span, warn};

pub use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

/// Why a batch could not be answered record by record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqsBatchError {
    /// A record failed but carries no messageId, so the response cannot name it; only
    /// failing the whole invocation gets it redelivered (the rest are idempotent).
    #[error("record {index} of the batch failed ({reason}) and has no messageId to report")]
    FailedWithoutMessageId {
        /// Its position in the batch.
        index: usize,
        /// Why it failed.
        reason: String,
    },
}

/// One record waiting for its handler: which message an envelope came from.
struct Pending {
    message_id: String,
    receive_count: Option<u32>,
    envelope: Envelope,
}

/// Handles an SQS batch for `stage`, at most `concurrency` leads at once (one lead's
/// records in turn), and returns the ids of the records to redeliver.
pub async fn handle_sqs_batch<H, Fut, T, E>(
    stage: Stage,
    event: &SqsEvent,
    concurrency: usize,
    handler: H,
) -> Result<SqsBatchResponse, SqsBatchError>
where
    H: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    // SQS always sends a messageId; a record without one gets a placeholder that cannot
    // collide with a real id, and is refused below if it fails.
    let deliveries: Vec<(String, &str)> = event
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let id = match record.message_id.as_deref() {
                Some(id) if !id.trim().is_empty() => id.to_string(),
                _ => format!("\u{0}record-{index}"),
            };
            (id, record.body.as_deref().unwrap_or(""))
        })
        .collect();

    // process_batch_bounded hands the handler only the envelope; this maps it back to its
    // message (first unclaimed record with an equal envelope, so even identical bodies
    // each get a message id) for the record's span.
    let pending: Mutex<Vec<Option<Pending>>> = Mutex::new(
        event
            .records
            .iter()
            .zip(&deliveries)
            .map(|(record, (message_id, body))| {
                Envelope::parse(body).ok().map(|envelope| Pending {
                    message_id: message_id.clone(),
                    receive_count: record
                        .attributes
                        .get("ApproximateReceiveCount")
                        .and_then(|count| count.parse().ok()),
                    envelope,
                })
            })
            .collect(),
    );
    // records whose outcome their own span already logged
    let logged: Mutex<HashSet<String>> = Mutex::new(HashSet::new());

    let report = process_batch_bounded(&deliveries, concurrency, |envelope: Envelope| {
        let claimed = claim(&pending, &envelope);
        let (message_id, receive_count) = claimed.unwrap_or_default();
        let span = info_span!(
            "record",
            stage = stage.name(),
            lead_id = %envelope.lead_id,
            trace_id = %envelope.trace_id,
            message_id = %message_id,
            receive_count = receive_count,
        );
        let logged = &logged;
        let run = handler(envelope);
        async move {
            let result = run.await;
            match &result {
                Ok(_) => info!("record handled"),
                Err(error) => warn!(error = %error, "record failed; SQS will redeliver it"),
            }
            logged
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(message_id);
            result
        }
        .instrument(span)
    })
    .await;

    let logged = logged
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut response = SqsBatchResponse::default();
    for failure in &report.failures {
        if let Some(index) = failure.message_id.strip_prefix("\u{0}record-") {
            return Err(SqsBatchError::FailedWithoutMessageId {
                index: index.parse().unwrap_or_default(),
                reason: failure.reason.clone(),
            });
        }
        if !logged.contains(&failure.message_id) {
            // a malformed body (no envelope, so no lead) or a handler that panicked
            warn!(
                stage = stage.name(),
                message_id = %failure.message_id,
                reason = %failure.reason,
                "record failed; SQS will redeliver it"
            );
        }
        response.add_failure(failure.message_id.clone());
    }
    info!(
        stage = stage.name(),
        records = event.records.len(),
        succeeded = report.succeeded,
        failed = report.failures.len(),
        "batch handled"
    );
    Ok(response)
}

/// Takes the first pending record whose envelope equals `envelope`.
fn claim(
    pending: &Mutex<Vec<Option<Pending>>>,
    envelope: &Envelope,
) -> Option<(String, Option<u32>)> {
    let mut pending = pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let slot = pending
        .iter_mut()
        .find(|slot| slot.as_ref().is_some_and(|p| &p.envelope == envelope))?;
    slot.take().map(|p| (p.message_id, p.receive_count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn event(bodies: &[(&str, &str)]) -> SqsEvent {
        let records: Vec<_> = bodies
            .iter()
            .map(|(id, body)| {
                json!({
                    "messageId": id,
                    "receiptHandle": format!("rh-{id}"),
                    "body": body,
                    "attributes": {"ApproximateReceiveCount": "2"},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:leadq-score",
                    "awsRegion": "eu-west-1"
                })
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
    }

    fn envelope(lead_id: &str) -> String {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .unwrap_or_default();
        Envelope::new(Stage::Score, lead_id, format!("trace-{lead_id}"), at).to_json()
    }

    fn ids(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn reports_only_the_records_that_failed() {
        let bodies = [
            ("m1", envelope("a")),
            ("m2", "not json".to_string()),
            ("m3", envelope("refused")),
            ("m4", envelope("b")),
        ];
        let pairs: Vec<(&str, &str)> = bodies.iter().map(|(i, b)| (*i, b.as_str())).collect();
        let handled = Mutex::new(Vec::new());
        let response = handle_sqs_batch(Stage::Score, &event(&pairs), 2, |e: Envelope| {
            let handled = &handled;
            async move {
                if e.lead_id == "refused" {
                    return Err("store unavailable");
                }
                handled.lock().expect("lock").push(e.lead_id);
                Ok(())
            }
        })
        .await
        .expect("answered record by record");
        assert_eq!(ids(&response), ["m2", "m3"]);
        let mut handled = handled.into_inner().expect("lock");
        handled.sort();
        assert_eq!(handled, ["a", "b"]);
    }

    #[tokio::test]
    async fn an_empty_batch_has_no_failures() {
        let response = handle_sqs_batch(Stage::Enrich, &event(&[]), 8, |_e: Envelope| async {
            Ok::<(), String>(())
        })
        .await
        .expect("empty batch");
        assert!(response.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn a_failed_record_without_message_id_fails_the_invocation() {
        let mut batch = event(&[("m1", "{}"), ("m2", "{}")]);
        batch.records[1].message_id = None;
        let err = handle_sqs_batch(Stage::Route, &batch, 8, |_e: Envelope| async {
            Ok::<(), String>(())
        })
        .await
        .expect_err("cannot name the failed record");
        assert!(
            matches!(err, SqsBatchError::FailedWithoutMessageId { index: 1, .. }),
            "{err}"
        );

        // succeeding without an id is fine: nothing needs naming
        let good = envelope("c");
        let mut batch = event(&[("m1", good.as_str())]);
        batch.records[0].message_id = Some(" ".into());
        let response = handle_sqs_batch(Stage::Score, &batch, 8, |_e: Envelope| async {
            Ok::<(), String>(())
        })
        .await
        .expect("nothing failed");
        assert!(response.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn identical_bodies_each_get_their_own_message_id() {
        let same = envelope("twin");
        let batch = event(&[("m1", same.as_str()), ("m2", same.as_str())]);
        let pending = Mutex::new(
            batch
                .records
                .iter()
                .map(|r| {
                    Some(Pending {
                        message_id: r.message_id.clone().unwrap_or_default(),
                        receive_count: None,
                        envelope: Envelope::parse(r.body.as_deref().unwrap_or("")).expect("ok"),
                    })
                })
                .collect(),
        );
        let parsed = Envelope::parse(&same).expect("envelope");
        assert_eq!(claim(&pending, &parsed).map(|c| c.0).as_deref(), Some("m1"));
        assert_eq!(claim(&pending, &parsed).map(|c| c.0).as_deref(), Some("m2"));
        assert_eq!(claim(&pending, &parsed), None);
    }
}
