//! One queue batch with per-record failure, shared by the Lambdas and the local runtime.
//!
//! A malformed body fails alone; every other record is handled, a few at a time, and
//! only those whose handler failed are reported, so the queue redelivers just them (SQS
//! `ReportBatchItemFailures`, or the local queue's `fail`).

use crate::envelope::Envelope;
use std::any::Any;
use std::fmt::Display;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::Poll;

/// Records handled at once by [`process_batch`].
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

/// Handles a batch of `(message_id, body)` deliveries, [`DEFAULT_BATCH_CONCURRENCY`] at a time.
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

/// Handles a batch with at most `concurrency` (at least 1) handlers running at once.
///
/// Each body is parsed as an [`Envelope`]; a malformed one is reported without calling
/// the handler, and a handler that panics fails only its record. Handlers run interleaved on the caller's task (no spawning), so they may
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
    let mut work = Vec::new();
    for (index, (_, body)) in deliveries.iter().enumerate() {
        match Envelope::parse(body.as_ref()) {
            Ok(envelope) => work.push((index, handler(envelope))),
            Err(error) => outcomes[index] = Some(Err(error.to_string())),
        }
    }
    for (index, result) in run_bounded(work, concurrency.max(1)).await {
        outcomes[index] = Some(match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(panicked) => Err(panicked),
        });
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

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
