//! Issue 5 end to end on the emulator: score, route, alerts and the decay job, driven the
//! way AWS drives them (SQS queues fed to each Lambda's handler by an event source mapping
//! that deletes only what succeeded, the schedule's event handed to the recalibrate Lambda).
//!
//! Requires the moto server (`scripts/test` installs it); without it these tests fail.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use leadq_aws::{DynamoStore, QueueConfig, SqsQueue};
use leadq_pipeline::envelope::Cause;
use leadq_pipeline::stages::{DECAY_CAUSE_PREFIX, ModelCache};
use leadq_pipeline::{
    Envelope, FixedClock, LeadRecord, LeadStore, NewEvent, RetryPolicy, Stage, WorkQueue,
    record_events,
};
use leadq_recalibrate::{JobReport, JobSettings, RecalibrateFunction};
use leadq_score::ScoreFunction;
use leadq_scoring::{
    Authority, Band, Company, Event, EventKind, JobFunction, Lead, Person, Seniority,
};
use leadq_tests::emulator::{Moto, workspace_root};
use leadq_tests::event_source::{EventSource, Polled};
use serde_json::Value;
use std::sync::Arc;

/// 2026-11-23T12:00:00Z, when the fixtures were made.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

/// The Lambdas of the pipeline on one fresh table and fresh queues of the emulator.
struct Pipeline {
    store: Arc<DynamoStore>,
    sqs: aws_sdk_sqs::Client,
    queues: QueueConfig,
    clock: Arc<FixedClock>,
    score: ScoreFunction,
    recalibrate: RecalibrateFunction,
}

impl Pipeline {
    async fn start() -> Pipeline {
        let moto = Moto::shared();
        let store = Arc::new(moto.dynamo_store().await.expect("table"));
        let sqs = moto.sqs();
        let queues = moto.queue_config(&sqs).await.expect("queues");
        let queue: Arc<dyn WorkQueue> = Arc::new(SqsQueue::new(sqs.clone(), queues.clone()));
        let clock = Arc::new(FixedClock::new(t0()));
        let score = ScoreFunction {
            store: store.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            models: Arc::new(ModelCache::default()),
            policy: RetryPolicy::default(),
            concurrency: 4,
        };
        let recalibrate = RecalibrateFunction {
            store: store.clone(),
            queue,
            clock: clock.clone(),
            alerts: None,
            settings: JobSettings::default(),
        };
        Pipeline {
            store,
            sqs,
            queues,
            clock,
            score,
            recalibrate,
        }
    }

    fn source(&self, stage: Stage) -> EventSource {
        EventSource::new(self.sqs.clone(), self.queues.queues[&stage].url.clone())
    }

    async fn drain_score(&self) -> Vec<Polled> {
        let function = &self.score;
        self.source(Stage::Score)
            .drain(20, |event| async move {
                function.handle(&event).await.expect("a batch response")
            })
            .await
            .expect("score event source")
    }

    /// Takes every message off a stage's queue and returns the envelopes.
    async fn take(&self, stage: Stage) -> Vec<Envelope> {
        let taken = std::sync::Mutex::new(Vec::new());
        let taken_ref = &taken;
        self.source(stage)
            .drain(20, |event| async move {
                let mut taken = taken_ref.lock().expect("lock");
                for record in &event.records {
                    let body = record.body.as_deref().unwrap_or("");
                    taken.push(Envelope::parse(body).expect("an envelope"));
                }
                Default::default()
            })
            .await
            .expect("drain");
        taken.into_inner().expect("lock")
    }
}

fn schedule(file: &str) -> Value {
    let path = workspace_root().join("events/schedule").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("a schedule event")
}

fn total(polls: &[Polled]) -> (usize, usize, usize) {
    polls.iter().fold((0, 0, 0), |(r, f, d), p| {
        (r + p.received, f + p.failed.len(), d + p.deleted)
    })
}

/// A decision maker at a company that fits the default model well.
fn ideal_lead(id: &str) -> Lead {
    Lead {
        id: id.into(),
        person: Person {
            email: Some(format!("{id}@acme.com")),
            title: Some("CEO".into()),
            seniority: Some(Seniority::CLevel),
            function: Some(JobFunction::Executive),
            authority: Some(Authority::DecisionMaker),
            ..Person::default()
        },
        company: Company {
            domain: Some("acme.com".into()),
            industry: Some("software".into()),
            employees: Some(500),
            country: Some("US".into()),
            tech_stack: Some(vec!["salesforce".into(), "hubspot".into()]),
            business_model: Some("b2b".into()),
            revenue_band: Some("50m-250m".into()),
            name: Some("Acme".into()),
        },
        ..Lead::default()
    }
}

/// The half-life of every signal [`fortnight_signals`] sends, in the default model.
const HALF_LIFE_DAYS: i64 = 14;

/// Strong buying signals whose kinds all halve every 14 days in the default model.
fn fortnight_signals(when: DateTime<Utc>) -> Vec<NewEvent> {
    let mut kinds = vec![
        EventKind::DemoPageView,
        EventKind::DemoPageView,
        EventKind::PricingView,
        EventKind::PricingView,
        EventKind::PricingView,
    ];
    kinds.extend([EventKind::EmailClick; 4]);
    kinds.extend([EventKind::EmailOpen; 5]);
    kinds.extend([EventKind::ProductUsage; 10]);
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| NewEvent::new(Event::new(*kind, when + TimeDelta::minutes(i as i64))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_decay_job_rescores_a_hot_lead_lower_three_half_lives_later_and_says_why() {
    let pipeline = Pipeline::start().await;
    let store = pipeline.store.as_ref();
    let events_at = t0() - TimeDelta::hours(2);
    for id in ["cooling", "fresh"] {
        let record = LeadRecord::new(ideal_lead(id), None, events_at);
        store.create_lead(&record).await.expect("create");
    }
    record_events(
        store,
        "cooling",
        &fortnight_signals(events_at),
        t0(),
        &RetryPolicy::default(),
    )
    .await
    .expect("events");

    // scored through the score Lambda as the form's work arrives
    let queue = SqsQueue::new(pipeline.sqs.clone(), pipeline.queues.clone());
    let work: Vec<Envelope> = ["cooling", "fresh"]
        .iter()
        .map(|id| Envelope::new(Stage::Score, *id, format!("form-{id}"), t0()))
        .collect();
    queue.send(Stage::Score, &work).await.expect("send");
    assert_eq!(total(&pipeline.drain_score().await), (2, 0, 2));
    let first = store.get_lead("cooling").await.expect("get").expect("lead");
    let hot = first.card.clone().expect("scored");
    assert_eq!(hot.band, Band::Hot, "{}", hot.explain());
    let rescore_at = first.rescore_at.expect("these signals decay");
    assert_eq!(
        pipeline.take(Stage::Route).await.len(),
        2,
        "first scores route"
    );

    // three half-lives later, no new event: EventBridge fires the decay schedule
    let sweep_at = t0() + TimeDelta::days(3 * HALF_LIFE_DAYS);
    assert!(sweep_at >= rescore_at);
    pipeline.clock.set(sweep_at);
    let report = pipeline
        .recalibrate
        .handle(&schedule("decay.json"))
        .await
        .expect("the decay job");
    let JobReport::Decay {
        sent,
        complete,
        trace_id,
        ..
    } = &report
    else {
        panic!("{report:?}");
    };
    assert_eq!(
        (*sent, *complete),
        (1, true),
        "only the lead whose band decays"
    );

    // the score Lambda takes the decay work off the queue a few seconds later
    pipeline.clock.set(sweep_at + TimeDelta::seconds(3));
    assert_eq!(total(&pipeline.drain_score().await), (1, 0, 1));
    let record = store.get_lead("cooling").await.expect("get").expect("lead");
    let card = record.card.expect("rescored");
    assert_ne!(card.band, Band::Hot);
    assert!(card.composite < hot.composite);
    assert!(record.rescore_at.is_none_or(|next| next > sweep_at));
    assert_eq!(
        store.list_events("cooling").await.expect("events").len(),
        fortnight_signals(events_at).len(),
        "no new event"
    );
    let history = store.list_history("cooling").await.expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(
        (history[1].from_band, history[1].to_band),
        (Some(Band::Hot), card.band)
    );
    assert!(
        history[1].cause.starts_with(DECAY_CAUSE_PREFIX),
        "{}",
        history[1].cause
    );

    // the changed verdict goes on to routing, carrying why
    let routed = pipeline.take(Stage::Route).await;
    assert_eq!(routed.len(), 1);
    assert_eq!(
        (routed[0].lead_id.as_str(), routed[0].cause),
        ("cooling", Some(Cause::Decay))
    );
    assert_eq!(&routed[0].trace_id, trace_id);

    // the next run finds nothing due
    pipeline.clock.set(sweep_at + TimeDelta::minutes(1));
    let again = pipeline
        .recalibrate
        .handle(&schedule("decay.json"))
        .await
        .expect("the decay job");
    assert!(
        matches!(
            again,
            JobReport::Decay {
                sent: 0,
                complete: true,
                ..
            }
        ),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn train_and_unknown_jobs_fail_the_invocation_and_do_nothing() {
    let pipeline = Pipeline::start().await;
    let mut record = LeadRecord::new(ideal_lead("due"), None, t0());
    record.rescore_at = Some(t0() - TimeDelta::hours(1));
    pipeline.store.create_lead(&record).await.expect("create");
    for file in ["train.json", "unknown-job.json"] {
        let err = pipeline
            .recalibrate
            .handle(&schedule(file))
            .await
            .expect_err(file);
        assert!(!err.to_string().is_empty());
    }
    assert!(pipeline.take(Stage::Score).await.is_empty());
}
