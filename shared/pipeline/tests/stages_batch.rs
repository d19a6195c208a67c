//! The batch driver and the stage handlers over the in-memory store and queue.

mod stages_support;

use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::stages::{
    ModelCache, StageError, StagePorts, enrich_stage_handler, process_batch, score_stage_handler,
};
use leadq_pipeline::{Delivery, Envelope, FixedClock, LeadStore, Stage, WorkQueue};
use leadq_scoring::Band;
use stages_support::*;
use std::time::Duration;

async fn drain(queue: &MemoryQueue, stage: Stage) -> Vec<Envelope> {
    let deliveries: Vec<Delivery> = queue
        .receive(stage, 100, Duration::from_secs(30))
        .await
        .expect("receive");
    for delivery in &deliveries {
        queue.ack(stage, &delivery.receipt).await.expect("ack");
    }
    deliveries
        .iter()
        .map(|d| Envelope::parse(&d.body).expect("envelope"))
        .collect()
}

fn body(stage: Stage, lead_id: &str, trace: &str, enqueued: i64) -> String {
    Envelope::new(stage, lead_id, trace, at(enqueued)).to_json()
}

#[tokio::test]
async fn a_poison_record_fails_alone() {
    let store = MemoryStore::new();
    let queue = MemoryQueue::default();
    let clock = FixedClock::new(at(60));
    let directory = acme_directory();
    let mut deliveries = Vec::new();
    for i in 0..10 {
        let id = format!("msg-{i}");
        if i == 4 {
            deliveries.push((id, "{\"v\":1,\"kind\":\"enrich\"".to_string()));
            continue;
        }
        let lead_id = format!("lead-{i}");
        put_lead(
            &store,
            bare_lead(&lead_id, &format!("p{i}@acme.com"), Some("CTO")),
        )
        .await;
        deliveries.push((id, body(Stage::Enrich, &lead_id, &format!("trace-{i}"), 0)));
    }
    let ports = StagePorts {
        store: &store,
        queue: &queue,
        clock: &clock,
        policy: quick(),
    };
    let (ports, directory) = (&ports, &directory);
    let report = process_batch(&deliveries, |envelope| async move {
        enrich_stage_handler(ports, directory, &envelope).await
    })
    .await;
    assert_eq!(report.failed_ids, vec!["msg-4".to_string()]);
    assert_eq!(report.succeeded, 9);
    assert!(report.failures[0].reason.contains("not a valid envelope"));

    let mut sent = drain(&queue, Stage::Score).await;
    sent.sort_by(|a, b| a.lead_id.cmp(&b.lead_id));
    assert_eq!(sent.len(), 9);
    for envelope in &sent {
        let i = envelope.lead_id.trim_start_matches("lead-");
        assert_eq!(envelope.trace_id, format!("trace-{i}"), "same trace id");
        assert_eq!(envelope.kind, Stage::Score);
        let record = store
            .get_lead(&envelope.lead_id)
            .await
            .expect("get")
            .expect("lead");
        assert_eq!(record.lead.company.industry.as_deref(), Some("software"));
    }
}

#[tokio::test]
async fn a_handler_error_fails_only_its_record() {
    let store = MemoryStore::new();
    let queue = MemoryQueue::default();
    let clock = FixedClock::new(at(60));
    put_lead(&store, ideal_lead("a")).await;
    put_lead(&store, ideal_lead("c")).await;
    let deliveries = vec![
        ("m-a", body(Stage::Score, "a", "t-a", 0)),
        ("m-b", body(Stage::Score, "missing", "t-b", 0)),
        ("m-c", body(Stage::Score, "c", "t-c", 0)),
        ("m-d", body(Stage::Enrich, "a", "t-d", 0)),
    ];
    let ports = StagePorts {
        store: &store,
        queue: &queue,
        clock: &clock,
        policy: quick(),
    };
    let models = ModelCache::default();
    let (ports, models) = (&ports, &models);
    let report = process_batch(&deliveries, |envelope| async move {
        score_stage_handler(ports, models, &envelope).await
    })
    .await;
    assert_eq!(
        report.failed_ids,
        vec!["m-b".to_string(), "m-d".to_string()]
    );
    assert_eq!(report.failures[0].reason, "lead missing not found");
    assert_eq!(
        report.failures[1].reason,
        "lead a: a enrich envelope reached the score stage"
    );
    assert_eq!(report.succeeded, 2);
    // first scores: both routed
    assert_eq!(drain(&queue, Stage::Route).await.len(), 2);
}

#[tokio::test]
async fn routes_only_when_the_verdict_changed() {
    let store = MemoryStore::new();
    let queue = MemoryQueue::default();
    let clock = FixedClock::new(at(10));
    put_lead(&store, ideal_lead("l")).await;
    let ports = StagePorts {
        store: &store,
        queue: &queue,
        clock: &clock,
        policy: quick(),
    };
    let models = ModelCache::default();
    let score = |enqueued: i64| {
        let envelope = Envelope::new(Stage::Score, "l", "trace-l", at(enqueued));
        let (ports, models) = (&ports, &models);
        async move { score_stage_handler(ports, models, &envelope).await }
    };

    // first score: routed, same trace id
    let first = score(0).await.expect("first");
    assert!(first.outcome.verdict_changed);
    let routed = drain(&queue, Stage::Route).await;
    assert_eq!(routed.len(), 1);
    assert_eq!(
        (routed[0].lead_id.as_str(), routed[0].trace_id.as_str()),
        ("l", "trace-l")
    );
    assert_eq!(first.follow_up.as_ref(), routed.first());

    // later work, nothing new: no route
    clock.set(at(30));
    let second = score(20).await.expect("second");
    assert_eq!(second.follow_up, None);
    assert!(drain(&queue, Stage::Route).await.is_empty());

    // a redelivery of the first envelope: its verdict may not have been routed, so again
    clock.set(at(40));
    let redelivered = score(0).await.expect("redelivered");
    assert!(redelivered.follow_up.is_some());
    assert_eq!(drain(&queue, Stage::Route).await.len(), 1);

    // new events raise the band: routed
    put_events(&store, "l", &buying_signals(at(45)), at(50)).await;
    clock.set(at(70));
    let raised = score(50).await.expect("raised");
    assert_eq!(raised.outcome.card.band, Band::Hot);
    assert!(raised.outcome.verdict_changed);
    assert_eq!(drain(&queue, Stage::Route).await.len(), 1);
}

#[tokio::test]
async fn enrich_hands_over_to_score_which_hands_over_to_route() {
    let store = MemoryStore::new();
    let queue = MemoryQueue::default();
    let clock = FixedClock::new(at(10));
    put_lead(
        &store,
        bare_lead("l", "kim@acme.com", Some("Chief Executive Officer")),
    )
    .await;
    let ports = StagePorts {
        store: &store,
        queue: &queue,
        clock: &clock,
        policy: quick(),
    };
    let directory = acme_directory();
    let start = Envelope::new(Stage::Enrich, "l", "trace-9", at(0));
    let enriched = enrich_stage_handler(&ports, &directory, &start)
        .await
        .expect("enrich");
    assert!(enriched.outcome.written);
    let to_score = drain(&queue, Stage::Score).await;
    assert_eq!(to_score.len(), 1);
    clock.set(at(20));
    let scored = score_stage_handler(&ports, &ModelCache::default(), &to_score[0])
        .await
        .expect("score");
    assert!(
        scored
            .outcome
            .card
            .reasons
            .iter()
            .any(|r| &*r.rule == "industry = software")
    );
    let to_route = drain(&queue, Stage::Route).await;
    assert_eq!(to_route.len(), 1);
    assert_eq!(to_route[0].trace_id, "trace-9");

    let wrong = enrich_stage_handler(&ports, &directory, &to_route[0]).await;
    assert!(
        matches!(wrong, Err(StageError::WrongStage { .. })),
        "{wrong:?}"
    );
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_record() {
    let deliveries: Vec<(String, String)> = (0..5)
        .map(|i| {
            (
                format!("m{i}"),
                body(Stage::Score, &format!("l{i}"), "t", 0),
            )
        })
        .collect();
    let report = process_batch(&deliveries, |envelope| async move {
        if envelope.lead_id == "l2" {
            panic!("boom on {}", envelope.lead_id);
        }
        Ok::<(), StageError>(())
    })
    .await;
    assert_eq!(report.failed_ids, vec!["m2".to_string()]);
    assert_eq!(report.failures[0].reason, "handler panicked: boom on l2");
    assert_eq!(report.succeeded, 4);
}
