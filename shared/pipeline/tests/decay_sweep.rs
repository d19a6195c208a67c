//! The decay sweep over the in-memory ports: due leads go back to scoring in bounded,
//! resumable pages, and the rescore they get says it was time decay.

mod stages_support;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use leadq_pipeline::envelope::Cause;
use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::stages::decay::MAX_PAGE_SIZE;
use leadq_pipeline::stages::{
    DECAY_CAUSE_PREFIX, ModelCache, StageError, StagePorts, SweepError, score_lead,
    score_stage_handler, sweep_decay, sweep_decay_from,
};
use leadq_pipeline::{
    Delivery, Envelope, FixedClock, LeadRecord, LeadStore, NewEvent, QueueError, Stage, WorkQueue,
};
use leadq_scoring::{Band, Event, EventKind};
use stages_support::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The half-life of every signal [`fortnight_signals`] sends, in the default model.
const HALF_LIFE_DAYS: i64 = 14;

/// Strong buying signals whose kinds all halve every 14 days in the default model.
fn fortnight_signals(when: DateTime<Utc>) -> Vec<NewEvent> {
    let kinds = [
        EventKind::DemoPageView,
        EventKind::DemoPageView,
        EventKind::PricingView,
        EventKind::PricingView,
        EventKind::PricingView,
        EventKind::EmailClick,
        EventKind::EmailClick,
        EventKind::EmailClick,
        EventKind::EmailClick,
        EventKind::EmailOpen,
        EventKind::EmailOpen,
        EventKind::EmailOpen,
        EventKind::EmailOpen,
        EventKind::EmailOpen,
    ];
    let usage = [EventKind::ProductUsage; 10];
    let kinds: Vec<EventKind> = kinds.into_iter().chain(usage).collect();
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| NewEvent::new(Event::new(*kind, when + TimeDelta::minutes(i as i64))))
        .collect()
}

/// Receives and acknowledges everything on a stage's queue.
async fn take(queue: &MemoryQueue, stage: Stage) -> Vec<Envelope> {
    let deliveries = queue
        .receive(stage, 10_000, Duration::from_secs(30))
        .await
        .expect("receive");
    for delivery in &deliveries {
        queue.ack(stage, &delivery.receipt).await.expect("ack");
    }
    deliveries
        .iter()
        .map(|d| Envelope::parse(&d.body).expect("an envelope"))
        .collect()
}

/// A lead whose `rescore_at` is set directly (the index is all the sweep reads).
async fn due_lead(store: &MemoryStore, id: &str, rescore_at: Option<DateTime<Utc>>) {
    let mut record = LeadRecord::new(
        bare_lead(id, &format!("{id}@example.com"), None),
        None,
        t0(),
    );
    record.rescore_at = rescore_at;
    store.create_lead(&record).await.expect("create");
}

#[tokio::test]
async fn a_hot_lead_with_events_three_half_lives_old_is_rescored_lower_by_the_sweep() {
    let store = MemoryStore::new();
    let queue = MemoryQueue::default();
    let models = ModelCache::default();
    put_lead(&store, ideal_lead("hot")).await;
    put_events(&store, "hot", &fortnight_signals(at(0)), at(0)).await;

    // scored hot while the events were fresh, through the queue like any new lead
    let scored_at = at(3_600);
    let clock = FixedClock::new(scored_at);
    let ports = StagePorts {
        store: &store,
        queue: &queue,
        clock: &clock,
        policy: quick(),
    };
    let first = Envelope::new(Stage::Score, "hot", "trace-form", scored_at);
    let handled = score_stage_handler(&ports, &models, &first)
        .await
        .expect("first score");
    assert_eq!(
        handled.outcome.card.band,
        Band::Hot,
        "{}",
        handled.outcome.card.explain()
    );
    take(&queue, Stage::Route).await;
    let rescore_at = handled.outcome.rescore_at.expect("these signals decay");

    // nothing is due before the decayed score crosses the band edge
    let early = sweep_decay(&store, &queue, rescore_at - TimeDelta::hours(1), 10, 5)
        .await
        .expect("sweep");
    assert_eq!((early.sent, early.pages, early.complete()), (0, 1, true));
    assert!(take(&queue, Stage::Score).await.is_empty());

    // three half-lives after the events, with no new event, the decay job runs
    // (the last event was sent at at(0) + 24 min, so every event is at least that old)
    let sweep_at = at(3_600) + TimeDelta::days(3 * HALF_LIFE_DAYS);
    assert!(sweep_at >= rescore_at);
    let events_before = store.list_events("hot").await.expect("events").len();
    let report = sweep_decay(&store, &queue, sweep_at, 10, 5)
        .await
        .expect("sweep");
    assert_eq!((report.sent, report.pages, report.complete()), (1, 1, true));
    let sent = take(&queue, Stage::Score).await;
    assert_eq!(sent.len(), 1);
    let decay = &sent[0];
    assert_eq!(
        (decay.lead_id.as_str(), decay.cause, decay.enqueued_at),
        ("hot", Some(Cause::Decay), sweep_at)
    );
    assert_eq!(decay.trace_id, report.trace_id);

    // the score Lambda receives it a moment later
    clock.set(sweep_at + TimeDelta::seconds(5));
    let rescored = score_stage_handler(&ports, &models, decay)
        .await
        .expect("rescore");
    let card = &rescored.outcome.card;
    assert_ne!(card.band, Band::Hot);
    assert!(card.composite < handled.outcome.card.composite);
    assert_eq!(rescored.outcome.previous.map(|(b, _)| b), Some(Band::Hot));
    assert_eq!(
        store.list_events("hot").await.expect("events").len(),
        events_before,
        "no new event"
    );

    let history = store.list_history("hot").await.expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
    let why = &history[1];
    assert_eq!((why.from_band, why.to_band), (Some(Band::Hot), card.band));
    assert!(why.cause.starts_with(DECAY_CAUSE_PREFIX), "{}", why.cause);
    assert!(
        why.cause
            .contains(&sweep_at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        "{}",
        why.cause
    );
    assert_eq!(history[0].cause, "new lead data or events");

    // a lower band is a changed verdict: routing hears of it, and why
    let routed = take(&queue, Stage::Route).await;
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].cause, Some(Cause::Decay));
    assert_eq!(routed[0].trace_id, report.trace_id);

    // rescored, the lead left the index (or moved past the sweep): the next sweep sends nothing
    let record = store.get_lead("hot").await.expect("get").expect("lead");
    assert!(
        record.rescore_at.is_none_or(|next| next > sweep_at),
        "{record:?}"
    );
    let again = sweep_decay(&store, &queue, sweep_at + TimeDelta::minutes(1), 10, 5)
        .await
        .expect("sweep");
    assert_eq!(again.sent, 0);

    // the same decay message delivered twice: no second history entry, no second route
    let redelivered = score_stage_handler(&ports, &models, decay)
        .await
        .expect("redelivery");
    assert!(!redelivered.outcome.verdict_changed);
    assert_eq!(store.list_history("hot").await.expect("history").len(), 2);
}

#[tokio::test]
async fn pages_are_bounded_and_the_cursor_resumes_where_the_sweep_stopped() {
    let store = MemoryStore::new();
    let queue = MemoryQueue::default();
    let now = at(86_400);
    let mut due = BTreeSet::new();
    for i in 0..25 {
        let id = format!("due-{i:02}");
        due_lead(&store, &id, Some(now - TimeDelta::minutes(i))).await;
        due.insert(id);
    }
    due_lead(&store, "exactly-now", Some(now)).await;
    due.insert("exactly-now".to_string());
    due_lead(&store, "later", Some(now + TimeDelta::seconds(1))).await;
    due_lead(&store, "never", None).await;

    let first = sweep_decay(&store, &queue, now, 10, 2)
        .await
        .expect("sweep");
    assert_eq!((first.pages, first.sent), (2, 20));
    let cursor = first.cursor.clone().expect("more to do");
    assert!(!first.complete());

    let rest = sweep_decay_from(&store, &queue, now, 10, 5, Some(cursor))
        .await
        .expect("resume");
    assert_eq!(
        (rest.pages, rest.sent, rest.cursor.as_deref()),
        (1, 6, None)
    );

    let sent = take(&queue, Stage::Score).await;
    assert_eq!(sent.len(), 26);
    let ids: BTreeSet<String> = sent.iter().map(|e| e.lead_id.clone()).collect();
    assert_eq!(
        ids, due,
        "each due lead once; not the later nor the unscheduled one"
    );
    assert!(
        sent.iter()
            .all(|e| e.cause == Some(Cause::Decay) && e.kind == Stage::Score)
    );
}

#[tokio::test]
async fn an_empty_index_reads_one_page_and_sends_nothing() {
    let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
    let report = sweep_decay(&store, &queue, at(0), 100, 50)
        .await
        .expect("sweep");
    assert_eq!((report.pages, report.sent, report.cursor), (1, 0, None));
    assert!(take(&queue, Stage::Score).await.is_empty());
}

#[tokio::test]
async fn refused_bounds_read_and_send_nothing() {
    let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
    due_lead(&store, "due", Some(at(0))).await;
    for (page_size, max_pages, field) in [
        (0, 5, "page_size"),
        (MAX_PAGE_SIZE + 1, 5, "page_size"),
        (10, 0, "max_pages"),
    ] {
        let err = sweep_decay(&store, &queue, at(60), page_size, max_pages)
            .await
            .expect_err("refused");
        assert!(
            matches!(&err, SweepError::InvalidBounds { field: f, .. } if *f == field),
            "{err}"
        );
        assert!(err.to_string().contains(field), "{err}");
    }
    assert!(take(&queue, Stage::Score).await.is_empty());
}

#[tokio::test]
async fn a_malformed_cursor_is_an_error_naming_it() {
    let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
    due_lead(&store, "due", Some(at(0))).await;
    let err = sweep_decay_from(&store, &queue, at(60), 10, 5, Some("not-a-cursor".into()))
        .await
        .expect_err("malformed cursor");
    let SweepError::Interrupted { sent, error, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(*sent, 0);
    assert!(matches!(error, StageError::Store(_)), "{error}");
    assert!(err.to_string().contains("not-a-cursor"), "{err}");
    assert!(take(&queue, Stage::Score).await.is_empty());
}

/// A queue whose sends fail after the first `ok_sends`.
struct FlakyQueue {
    inner: MemoryQueue,
    ok_sends: usize,
    sends: AtomicUsize,
}

#[async_trait]
impl WorkQueue for FlakyQueue {
    async fn send(&self, stage: Stage, envelopes: &[Envelope]) -> Result<(), QueueError> {
        if self.sends.fetch_add(1, Ordering::SeqCst) >= self.ok_sends {
            return Err(QueueError::Backend {
                operation: "send",
                message: "throttled".into(),
            });
        }
        self.inner.send(stage, envelopes).await
    }
    async fn send_raw(&self, stage: Stage, body: &str) -> Result<(), QueueError> {
        self.inner.send_raw(stage, body).await
    }
    async fn receive(
        &self,
        stage: Stage,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        self.inner.receive(stage, max, visibility).await
    }
    async fn ack(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(stage, receipt).await
    }
    async fn fail(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        self.inner.fail(stage, receipt).await
    }
    async fn dead_letters(&self, stage: Stage, max: usize) -> Result<Vec<Delivery>, QueueError> {
        self.inner.dead_letters(stage, max).await
    }
}

#[tokio::test]
async fn a_queue_failure_reports_what_was_sent_and_where_to_resume() {
    let store = MemoryStore::new();
    let now = at(3_600);
    for i in 0..7 {
        due_lead(
            &store,
            &format!("due-{i}"),
            Some(now - TimeDelta::minutes(i)),
        )
        .await;
    }
    let flaky = FlakyQueue {
        inner: MemoryQueue::default(),
        ok_sends: 1,
        sends: AtomicUsize::new(0),
    };
    let err = sweep_decay(&store, &flaky, now, 3, 10)
        .await
        .expect_err("the second page's send fails");
    let SweepError::Interrupted {
        sent,
        resume_from,
        error,
    } = err
    else {
        panic!("not interrupted");
    };
    assert_eq!(sent, 3);
    assert!(matches!(error, StageError::Queue(_)), "{error}");
    let resume_from = resume_from.expect("the first page was sent");

    // resuming after the first page sends the other four
    let healthy = MemoryQueue::default();
    let rest = sweep_decay_from(&store, &healthy, now, 3, 10, Some(resume_from))
        .await
        .expect("resume");
    assert_eq!(rest.sent, 4);
    let mut all: Vec<String> = take(&flaky.inner, Stage::Score)
        .await
        .into_iter()
        .chain(take(&healthy, Stage::Score).await)
        .map(|e| e.lead_id)
        .collect();
    all.sort();
    let expected: Vec<String> = (0..7).map(|i| format!("due-{i}")).collect();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn a_decay_envelope_for_an_unchanged_band_adds_no_history() {
    // a sweep that runs early (clock skew) finds the band unchanged: no entry, no route
    let store = MemoryStore::new();
    let queue = MemoryQueue::default();
    let models = ModelCache::default();
    put_lead(&store, ideal_lead("warm")).await;
    put_events(&store, "warm", &fortnight_signals(at(0)), at(0)).await;
    score_lead(&store, &models, "warm", "new lead", at(60), &quick())
        .await
        .expect("score");
    let clock = FixedClock::new(at(120));
    let ports = StagePorts {
        store: &store,
        queue: &queue,
        clock: &clock,
        policy: quick(),
    };
    let decay = Envelope::new(Stage::Score, "warm", "decay-early", at(90)).with_cause(Cause::Decay);
    let handled = score_stage_handler(&ports, &models, &decay)
        .await
        .expect("score");
    assert!(!handled.outcome.verdict_changed);
    assert!(handled.follow_up.is_none());
    assert_eq!(store.list_history("warm").await.expect("history").len(), 1);
    assert!(take(&queue, Stage::Route).await.is_empty());
}
