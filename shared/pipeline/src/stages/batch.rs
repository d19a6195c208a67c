//! One queue batch with per-record failure, shared by the Lambdas and the local runtime.
//!
//! A malformed body fails alone; every other record is handled, a few leads at a time
//! (one lead's records in turn), and only those whose handler failed are reported, so the
//! queue redelivers just them (SQS `ReportBatchItemFailures`, or the local queue's `fail`).

use crate::envelope::Envelope;
use futures_util::FutureExt;
use std::any::Any;
use std::fmt::Display;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::Poll;

/// Leads whose records [`process_batch`] handles at once.
pub const DEFAULT_BATCH_CONCURRENCY: usize = 8;

/// A record that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    /// The message id.
    pub message_id: String,
    /// Why it failed (a malformed envelope or the handler's error), for the logs.
    pub reason: String,
}

/// What [`process_batch`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// The ids of the records to redeliver, in batch order.
    pub failed_ids: Vec<String>,
    /// The same records with the reason each failed.
    pub failures: Vec<RecordFailure>,
    /// Records handled successfully.
    pub succeeded: usize,
}

/// Handles a batch of `(message_id, body)` deliveries, [`DEFAULT_BATCH_CONCURRENCY`] leads at a time.
pub async fn process_batch<M, B, H, Fut, T, E>(deliveries: &[(M, B)], handler: H) -> BatchReport
where
    M: AsRef<str>,
    B: AsRef<str>,
    H: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    process_batch_bounded(deliveries, DEFAULT_BATCH_CONCURRENCY, handler).await
}

/// Handles a batch with at most `concurrency` (at least 1) leads' records running at once.
///
/// Each body is parsed as an [`Envelope`]; a malformed one is reported without calling
/// the handler, and a handler that panics fails only its record. The records of one lead
/// run one after another, in batch order: run together they would race for the lead's
/// item, and all but one would lose its conditional write and read and write it again.
/// Different leads run interleaved on the caller's task (no spawning), so handlers may
/// borrow the caller's ports.
pub async fn process_batch_bounded<M, B, H, Fut, T, E>(
    deliveries: &[(M, B)],
    concurrency: usize,
    handler: H,
) -> BatchReport
where
    M: AsRef<str>,
    B: AsRef<str>,
    H: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    let mut outcomes: Vec<Option<Result<(), String>>> = vec![None; deliveries.len()];
    // per lead, in order of first appearance: (lead id, its records' indexes and futures)
    let mut leads: Vec<(String, Vec<(usize, Fut)>)> = Vec::new();
    for (index, (_, body)) in deliveries.iter().enumerate() {
        match Envelope::parse(body.as_ref()) {
            Ok(envelope) => {
                let lead = envelope.lead_id.clone();
                let record = (index, handler(envelope));
                match leads.iter_mut().find(|(id, _)| *id == lead) {
                    Some((_, records)) => records.push(record),
                    None => leads.push((lead, vec![record])),
                }
            }
            Err(error) => outcomes[index] = Some(Err(error.to_string())),
        }
    }
    let work = leads.into_iter().enumerate().map(|(key, (_, records))| {
        (key, async move {
            let mut results = Vec::with_capacity(records.len());
            for (index, record) in records {
                let result = AssertUnwindSafe(record).catch_unwind().await;
                results.push((index, result.map_err(|panic| panic_message(panic.as_ref()))));
            }
            results
        })
    });
    for (_, lead) in run_bounded(work.collect(), concurrency.max(1)).await {
        // each record's panic is caught above: a lead's future itself cannot panic
        for (index, result) in lead.unwrap_or_default() {
            outcomes[index] = Some(match result {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(panicked) => Err(panicked),
            });
        }
    }

    let mut report = BatchReport::default();
    for ((message_id, _), outcome) in deliveries.iter().zip(outcomes) {
        match outcome {
            Some(Ok(())) => report.succeeded += 1,
            failed => {
                let reason = match failed {
                    Some(Err(reason)) => reason,
                    _ => "record was not handled".to_string(),
                };
                report.failed_ids.push(message_id.as_ref().to_string());
                report.failures.push(RecordFailure {
                    message_id: message_id.as_ref().to_string(),
                    reason,
                });
            }
        }
    }
    report
}

/// Polls the futures with at most `limit` in flight; returns each output with its key.
/// A future that panics yields `Err` with the panic message instead of unwinding the
/// batch, so one bad record cannot fail the others.
async fn run_bounded<K, F>(work: Vec<(K, F)>, limit: usize) -> Vec<(K, Result<F::Output, String>)>
where
    K: Copy,
    F: Future,
{
    let mut waiting = work.into_iter();
    let mut running: Vec<(K, Pin<Box<F>>)> = Vec::with_capacity(limit);
    let mut done = Vec::new();
    poll_fn(|cx| {
        loop {
            while running.len() < limit {
                match waiting.next() {
                    Some((key, future)) => running.push((key, Box::pin(future))),
                    None => break,
                }
            }
            let before = done.len();
            running.retain_mut(|(key, future)| {
                match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                    Ok(Poll::Ready(output)) => {
                        done.push((*key, Ok(output)));
                        false
                    }
                    Ok(Poll::Pending) => true,
                    Err(panic) => {
                        done.push((*key, Err(panic_message(panic.as_ref()))));
                        false
                    }
                }
            });
            if running.is_empty() && waiting.len() == 0 {
                return Poll::Ready(());
            }
            if done.len() == before {
                return Poll::Pending;
            }
        }
    })
    .await;
    done
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    format!("handler panicked: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Stage;
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn one_leads_records_run_in_order_one_at_a_time_and_other_leads_beside_them() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("a time");
        // a, b, a, c, a, b: three leads; a's second record panics
        let deliveries: Vec<(String, String)> = ["a", "b", "a", "c", "a", "b"]
            .iter()
            .enumerate()
            .map(|(i, lead)| {
                let envelope = Envelope::new(Stage::Score, *lead, format!("t{i}"), at);
                (format!("msg-{i}"), envelope.to_json())
            })
            .collect();
        let in_flight: Mutex<BTreeMap<String, usize>> = Mutex::default();
        let order: Mutex<Vec<String>> = Mutex::default();
        let (running, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let report = process_batch_bounded(&deliveries, 8, |envelope: Envelope| {
            let (in_flight, order, running, peak) = (&in_flight, &order, &running, &peak);
            async move {
                let lead = envelope.lead_id.clone();
                let same_lead = {
                    let mut in_flight = in_flight.lock().expect("lock");
                    let count = in_flight.entry(lead.clone()).or_default();
                    *count += 1;
                    *count
                };
                assert_eq!(same_lead, 1, "two records of lead {lead} ran at once");
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                *in_flight
                    .lock()
                    .expect("lock")
                    .get_mut(&lead)
                    .expect("lead") -= 1;
                order.lock().expect("lock").push(envelope.trace_id.clone());
                if envelope.trace_id == "t2" {
                    panic!("a bug in the second record of a");
                }
                Ok::<(), String>(())
            }
        })
        .await;
        assert_eq!(report.failed_ids, ["msg-2"], "{report:?}");
        assert!(report.failures[0].reason.contains("panicked"), "{report:?}");
        assert_eq!(report.succeeded, 5, "the panic failed only its record");
        let order = order.into_inner().expect("lock");
        let of = |traces: &[&str]| -> Vec<String> {
            order
                .iter()
                .filter(|t| traces.contains(&t.as_str()))
                .cloned()
                .collect()
        };
        assert_eq!(
            of(&["t0", "t2", "t4"]),
            ["t0", "t2", "t4"],
            "a in batch order"
        );
        assert_eq!(of(&["t1", "t5"]), ["t1", "t5"], "b in batch order");
        assert_eq!(
            peak.load(Ordering::SeqCst),
            3,
            "the three leads ran side by side"
        );
    }

    #[tokio::test]
    async fn runs_at_most_the_bound_at_once() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let work: Vec<(usize, _)> = (0..20)
            .map(|i| {
                let (running, peak) = (&running, &peak);
                (i, async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    i * 2
                })
            })
            .collect();
        let mut out = run_bounded(work, 3).await;
        out.sort();
        assert_eq!(out.len(), 20);
        assert!(out.iter().all(|(i, doubled)| *doubled == Ok(i * 2)));
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}
