//! The in-process worker runtime: a stage's queue polled and handled by the same stage
//! functions the Lambdas run, acking only what succeeded.
//!
//! A failed record is handed back with `fail`, so it is visible again at once and moves
//! to the dead-letter table after the queue's maximum receive count; a record of a
//! process that died is visible again after the visibility timeout. Either way nothing
//! acked was unfinished and nothing unfinished is lost.

use async_trait::async_trait;
use leadq_pipeline::stages::process_batch_bounded;
use leadq_pipeline::{Delivery, Envelope, QueueError, Stage, WorkQueue};
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// One wake-up per stage: a send in this process wakes that stage's idle worker at once
/// instead of after its idle wait.
#[derive(Debug, Default)]
pub struct Wakeups {
    enrich: Notify,
    score: Notify,
    route: Notify,
}

impl Wakeups {
    /// The wake-up of `stage`'s worker.
    pub fn of(&self, stage: Stage) -> &Notify {
        match stage {
            Stage::Enrich => &self.enrich,
            Stage::Score => &self.score,
            Stage::Route => &self.route,
        }
    }
}

/// A [`WorkQueue`] that wakes the stage's worker after each successful send; everything
/// else passes straight through.
#[derive(Clone)]
pub struct WakingQueue<Q> {
    queue: Q,
    wakeups: Arc<Wakeups>,
}

impl<Q> WakingQueue<Q> {
    /// Wraps `queue`, signalling `wakeups`.
    pub fn new(queue: Q, wakeups: Arc<Wakeups>) -> WakingQueue<Q> {
        WakingQueue { queue, wakeups }
    }

    /// The wake-ups it signals.
    pub fn wakeups(&self) -> &Arc<Wakeups> {
        &self.wakeups
    }
}

#[async_trait]
impl<Q: WorkQueue> WorkQueue for WakingQueue<Q> {
    async fn send(&self, stage: Stage, envelopes: &[Envelope]) -> Result<(), QueueError> {
        self.queue.send(stage, envelopes).await?;
        // a permit is kept if the worker is busy, so the wake-up is never lost
        self.wakeups.of(stage).notify_one();
        Ok(())
    }

    async fn send_raw(&self, stage: Stage, body: &str) -> Result<(), QueueError> {
        self.queue.send_raw(stage, body).await?;
        self.wakeups.of(stage).notify_one();
        Ok(())
    }

    async fn receive(
        &self,
        stage: Stage,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        self.queue.receive(stage, max, visibility).await
    }

    async fn ack(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        self.queue.ack(stage, receipt).await
    }

    async fn ack_all(&self, stage: Stage, receipts: &[String]) -> Result<(), QueueError> {
        self.queue.ack_all(stage, receipts).await
    }

    async fn fail(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        self.queue.fail(stage, receipt).await
    }

    async fn dead_letters(&self, stage: Stage, max: usize) -> Result<Vec<Delivery>, QueueError> {
        self.queue.dead_letters(stage, max).await
    }
}

/// How a worker polls and handles its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// Messages received at once.
    pub batch_size: usize,
    /// How long a received message stays hidden; a crashed worker's messages come back
    /// after it.
    pub visibility: Duration,
    /// Leads of a batch handled at once (one lead's records in turn).
    pub concurrency: usize,
    /// Wait before polling again when the queue was empty (or failed), unless woken
    /// earlier: the bound for work sent by other processes or returning after its
    /// visibility timeout.
    pub idle_wait: Duration,
}

impl Default for WorkerSettings {
    /// 10 messages, 30 s visibility, 8 at once, 50 ms idle wait.
    fn default() -> Self {
        WorkerSettings {
            batch_size: 10,
            visibility: Duration::from_secs(30),
            concurrency: 8,
            idle_wait: Duration::from_millis(50),
        }
    }
}

/// What one poll of a queue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Messages handled and acked.
    pub acked: usize,
    /// Messages handed back (visible again, or dead-lettered after the maximum receives).
    pub failed: usize,
}

impl Pass {
    /// Messages received in this pass.
    pub fn received(&self) -> usize {
        self.acked + self.failed
    }
}

/// Totals of a worker's run, reported when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerTotals {
    /// Messages acked.
    pub acked: usize,
    /// Messages handed back.
    pub failed: usize,
    /// Polls that failed on the queue itself (retried after the idle wait).
    pub queue_errors: usize,
}

/// Receives one batch of `stage`, handles it with `handler`, acks the records that
/// succeeded and fails the others.
///
/// An ack or fail that itself fails is logged and left to the visibility timeout: the
/// message comes back and, the stages being idempotent, is handled again harmlessly.
pub async fn work_once<H, Fut, T, E>(
    queue: &dyn WorkQueue,
    stage: Stage,
    settings: &WorkerSettings,
    handler: H,
) -> Result<Pass, QueueError>
where
    H: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    let deliveries = queue
        .receive(stage, settings.batch_size.max(1), settings.visibility)
        .await?;
    if deliveries.is_empty() {
        return Ok(Pass::default());
    }
    let records: Vec<(&str, &str)> = deliveries
        .iter()
        .map(|d| (d.message_id.as_str(), d.body.as_str()))
        .collect();
    let report = process_batch_bounded(&records, settings.concurrency, handler).await;
    let mut pass = Pass::default();
    let mut done = Vec::with_capacity(deliveries.len());
    for delivery in &deliveries {
        let failure = report
            .failures
            .iter()
            .find(|f| f.message_id == delivery.message_id);
        let Some(failure) = failure else {
            done.push(delivery.receipt.clone());
            continue;
        };
        pass.failed += 1;
        tracing::warn!(
            stage = stage.name(),
            message_id = %delivery.message_id,
            receive_count = delivery.receive_count,
            reason = %failure.reason,
            "record failed; handed back to the queue"
        );
        if let Err(error) = queue.fail(stage, &delivery.receipt).await {
            tracing::warn!(stage = stage.name(), message_id = %delivery.message_id, %error,
                "fail did not reach the queue; the message comes back after its visibility timeout");
        }
    }
    pass.acked = done.len();
    // one write for the batch's successes
    if let Err(error) = queue.ack_all(stage, &done).await {
        tracing::warn!(stage = stage.name(), messages = done.len(), %error,
            "ack did not reach the queue; the messages come back after their visibility timeout");
    }
    Ok(pass)
}

/// Polls `stage` until `shutdown` turns true (or its sender is gone), handling each batch
/// with [`work_once`]; when idle it waits for `wakeup` (if any) or the idle wait. A batch
/// being handled when shutdown comes is finished and acked first; nothing new is
/// received after it.
pub async fn run_worker<H, Fut, T, E>(
    queue: &dyn WorkQueue,
    stage: Stage,
    settings: WorkerSettings,
    wakeup: Option<&Notify>,
    mut shutdown: watch::Receiver<bool>,
    handler: H,
) -> WorkerTotals
where
    H: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    let mut totals = WorkerTotals::default();
    while !*shutdown.borrow() {
        let idle = match work_once(queue, stage, &settings, &handler).await {
            Ok(pass) => {
                totals.acked += pass.acked;
                totals.failed += pass.failed;
                pass.received() == 0
            }
            Err(error) => {
                totals.queue_errors += 1;
                tracing::warn!(stage = stage.name(), %error, "cannot poll the queue; retrying");
                true
            }
        };
        if idle {
            let woken = async {
                match wakeup {
                    Some(notify) => notify.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = tokio::time::sleep(settings.idle_wait) => {}
                () = woken => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqliteOptions, SqliteQueue};
    use chrono::Utc;
    use std::sync::Mutex;

    async fn queue(max_receive_count: u32) -> (tempfile::TempDir, SqliteQueue) {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = SqliteOptions {
            max_receive_count,
            ..SqliteOptions::default()
        };
        let queue = SqliteQueue::open(dir.path().join("w.db"), &options)
            .await
            .expect("queue");
        (dir, queue)
    }

    fn envelope(lead: &str) -> Envelope {
        Envelope::new(Stage::Score, lead, "trace", Utc::now())
    }

    #[tokio::test]
    async fn successes_are_acked_and_failures_come_back_then_dead_letter() {
        let (_dir, queue) = queue(2).await;
        queue
            .send(Stage::Score, &[envelope("good"), envelope("bad")])
            .await
            .expect("send");
        queue.send_raw(Stage::Score, "not json").await.expect("raw");
        let settings = WorkerSettings::default();
        let seen = Mutex::new(Vec::new());
        let handler = |e: Envelope| {
            seen.lock().expect("lock").push(e.lead_id.clone());
            async move {
                if e.lead_id == "bad" {
                    Err("refused")
                } else {
                    Ok(())
                }
            }
        };
        let pass = work_once(&queue, Stage::Score, &settings, &handler).await;
        assert_eq!(
            pass,
            Ok(Pass {
                acked: 1,
                failed: 2
            })
        );
        // the failures are visible again at once; the success is gone
        let pass = work_once(&queue, Stage::Score, &settings, &handler).await;
        assert_eq!(
            pass,
            Ok(Pass {
                acked: 0,
                failed: 2
            })
        );
        assert_eq!(
            *seen.lock().expect("lock"),
            vec!["good", "bad", "bad"],
            "the acked record was not handled again"
        );
        // two receives, two failures: both are dead letters now and the queue is empty
        let pass = work_once(&queue, Stage::Score, &settings, &handler).await;
        assert_eq!(pass, Ok(Pass::default()));
        let dead = queue.dead_letters(Stage::Score, 10).await.expect("dead");
        assert_eq!(dead.len(), 2);
        assert!(dead.iter().any(|d| d.body == "not json"));
    }

    #[tokio::test]
    async fn an_unfinished_record_of_a_dead_worker_comes_back_after_the_visibility_timeout() {
        let (_dir, queue) = queue(5).await;
        queue
            .send(
                Stage::Enrich,
                &[Envelope::new(Stage::Enrich, "l1", "t", Utc::now())],
            )
            .await
            .expect("send");
        // a worker that received and then died: no ack, no fail. The timeout is long
        // enough that a stall of the test (a loaded CI machine) cannot outlast it before
        // the "hidden" check below
        let hidden_for = Duration::from_secs(3);
        let taken = queue
            .receive(Stage::Enrich, 10, hidden_for)
            .await
            .expect("receive");
        assert_eq!(taken.len(), 1);
        let settings = WorkerSettings {
            visibility: hidden_for,
            ..WorkerSettings::default()
        };
        let ok = |_e: Envelope| async { Ok::<(), String>(()) };
        assert_eq!(
            work_once(&queue, Stage::Enrich, &settings, ok).await,
            Ok(Pass::default()),
            "hidden while the first receive's timeout runs"
        );
        let deadline = std::time::Instant::now() + hidden_for + Duration::from_secs(15);
        loop {
            let pass = work_once(&queue, Stage::Enrich, &settings, ok).await;
            if pass
                == Ok(Pass {
                    acked: 1,
                    failed: 0,
                })
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never came back: {pass:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_send_wakes_the_idle_worker_before_its_idle_wait() {
        let (_dir, queue) = queue(5).await;
        let queue = WakingQueue::new(queue, Arc::new(Wakeups::default()));
        let (stop, shutdown) = watch::channel(false);
        let settings = WorkerSettings {
            idle_wait: Duration::from_secs(3600),
            ..WorkerSettings::default()
        };
        let (handled, wait_handled) = tokio::sync::oneshot::channel();
        let handled = Mutex::new(Some(handled));
        let worker = run_worker(
            &queue,
            Stage::Route,
            settings,
            Some(queue.wakeups().of(Stage::Route)),
            shutdown,
            |e: Envelope| {
                if let Some(tell) = handled.lock().expect("lock").take() {
                    let _ = tell.send(e.lead_id.clone());
                }
                async { Ok::<(), String>(()) }
            },
        );
        let sender = async {
            // the worker has polled the empty queue and sleeps for an hour by now
            tokio::time::sleep(Duration::from_millis(100)).await;
            let route = Envelope::new(Stage::Route, "woken", "t", Utc::now());
            queue.send(Stage::Route, &[route]).await.expect("send");
            let lead = tokio::time::timeout(Duration::from_secs(10), wait_handled)
                .await
                .expect("handled well before the idle wait")
                .expect("told");
            let _ = stop.send(true);
            lead
        };
        let (totals, lead) = tokio::join!(worker, sender);
        assert_eq!(lead, "woken");
        assert_eq!(totals.acked, 1);
    }

    #[tokio::test]
    async fn a_worker_drains_its_queue_and_stops_on_shutdown() {
        let (_dir, queue) = queue(5).await;
        let envelopes: Vec<Envelope> = (0..25).map(|i| envelope(&format!("l{i}"))).collect();
        queue.send(Stage::Score, &envelopes).await.expect("send");
        let (stop, shutdown) = watch::channel(false);
        let handled = Mutex::new(0usize);
        let worker = run_worker(
            &queue,
            Stage::Score,
            WorkerSettings::default(),
            None,
            shutdown,
            |_e: Envelope| {
                let mut n = handled.lock().expect("lock");
                *n += 1;
                let done = *n;
                drop(n);
                if done == 25 {
                    let _ = stop.send(true);
                }
                async { Ok::<(), String>(()) }
            },
        );
        let totals = tokio::time::timeout(Duration::from_secs(20), worker)
            .await
            .expect("the worker stopped after shutdown");
        assert_eq!(totals.acked, 25);
        assert_eq!(totals.failed, 0);
        let left = queue
            .receive(Stage::Score, 10, Duration::from_secs(1))
            .await
            .expect("receive");
        assert!(left.is_empty(), "everything handled was acked");
    }
}
