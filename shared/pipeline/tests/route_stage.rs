//! The route stage in memory: assignment, re-routing, release, capacity under
//! concurrency, redelivery, and the alerts to a real receiver on 127.0.0.1.

#[path = "alerts_support/mod.rs"]
mod alerts_support;

use alerts_support::{Receiver, config, hot_lead, now};
use leadq_pipeline::alerts::{AlertConfig, DeliveryOutcome, HttpNotifier};
use leadq_pipeline::envelope::Cause;
use leadq_pipeline::memory::{HookedStore, MemoryLedger, MemoryQueue, MemoryStore, WriteHook};
use leadq_pipeline::routing::{Assignee, RoutingConfig, Strategy};
use leadq_pipeline::stages::{
    AlertAttempt, AssignmentChange, ModelCache, RouteContext, RouteOutcome, StageError, StagePorts,
    ingest_outcome, lead_view, route_lead, route_stage_handler, score_stage_handler,
};
use leadq_pipeline::{
    Alert, AlertState, Envelope, FixedClock, LeadRecord, LeadStore, RepCaps, RepLedger, RepLoad,
    RetryPolicy, Stage, Take, WorkQueue, update_lead_with_retry,
};
use leadq_scoring::{Band, NextAction};
use std::sync::Arc;

const RULES: &str = r#"
fallback_queue = "unassigned"

[[teams]]
name = "software"
strategy = "least_loaded"
industries = ["software"]

[[teams.reps]]
id = "ada"
max_open_leads = 10
max_new_per_day = 100

[[teams.reps]]
id = "grace"
max_open_leads = 10
max_new_per_day = 100
"#;

fn routing() -> RoutingConfig {
    RoutingConfig::from_toml(RULES).expect("valid rules")
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 100,
        base: std::time::Duration::from_millis(1),
        max: std::time::Duration::from_millis(20),
    }
}

/// The ports of one test: memory store and ledger, alerts to a receiver.
struct World {
    store: MemoryStore,
    ledger: MemoryLedger,
    routing: RoutingConfig,
    alerts: AlertConfig,
    notifier: HttpNotifier,
    receiver: Receiver,
}

impl World {
    async fn new() -> World {
        let receiver = Receiver::start(&[]).await;
        let alerts = config(&receiver.url(), &receiver.url(), "max_attempts = 3");
        let notifier = HttpNotifier::new(&alerts.delivery).expect("an HTTP client");
        World {
            store: MemoryStore::new(),
            ledger: MemoryLedger::new(),
            routing: routing(),
            alerts,
            notifier,
            receiver,
        }
    }

    fn context(&self) -> RouteContext<'_> {
        RouteContext {
            ledger: &self.ledger,
            routing: &self.routing,
            alerts: &self.alerts,
            notifier: &self.notifier,
        }
    }

    async fn route(&self, lead_id: &str) -> RouteOutcome {
        route_lead(&self.store, &self.context(), lead_id, now(), &policy())
            .await
            .expect("route_lead")
    }

    async fn add(&self, record: &LeadRecord) {
        self.store.create_lead(record).await.expect("create_lead");
    }

    async fn rescore(&self, lead_id: &str, band: Band, action: NextAction) {
        update_lead_with_retry(&self.store, lead_id, now(), &policy(), |record| {
            if let Some(card) = record.card.as_mut() {
                card.band = band;
                card.next_action = action;
            }
            true
        })
        .await
        .expect("rescore");
    }

    async fn stored(&self, lead_id: &str) -> LeadRecord {
        self.store
            .get_lead(lead_id)
            .await
            .expect("get_lead")
            .expect("the lead")
    }

    async fn load(&self, rep: &str) -> RepLoad {
        self.ledger
            .load(rep, now().date_naive())
            .await
            .expect("load")
    }
}

fn unique(lead_id: &str) -> LeadRecord {
    let mut record = hot_lead(lead_id);
    // each lead its own email key, so many can be stored
    let email = format!("{lead_id}@acme.io");
    record.lead.person.email = Some(email.clone());
    record.email_key = Some(email);
    record
}

#[tokio::test]
async fn a_hot_lead_is_assigned_with_why_and_alerted() {
    let world = World::new().await;
    world.add(&unique("lead-1")).await;
    let outcome = world.route("lead-1").await;
    assert_eq!(outcome.change, AssignmentChange::Assigned);
    assert_eq!(outcome.verdict, Some((Band::Hot, NextAction::SalesNow)));
    let assignment = outcome.assignment.clone().expect("an assignment");
    assert_eq!(assignment.assignee, Assignee::Rep("ada".into()));
    assert_eq!(assignment.team.as_deref(), Some("software"));
    assert_eq!(assignment.strategy, Some(Strategy::LeastLoaded));
    assert_eq!(
        assignment.rep_load,
        Some(RepLoad {
            open: 1,
            new_today: 1
        })
    );
    assert_eq!((assignment.band, assignment.composite), (Band::Hot, 87));
    assert_eq!(
        assignment.why,
        "sales_now lead matched teams[0] software: industry software; \
         least_loaded picked ada (1 of 10 open leads, 1 of 100 new today)"
    );

    // both hooks (Slack for hot, the CRM for sales_now) got it at once
    assert_eq!(outcome.alerts.len(), 2);
    for attempt in outcome.alerts.values() {
        assert_eq!(
            attempt,
            &AlertAttempt::Delivered(DeliveryOutcome::Sent { attempts: 1 })
        );
    }
    assert_eq!(world.receiver.accepted().len(), 2);

    // GET /v1/leads/{id} shows the assignment and why
    let view = lead_view(&world.store, "lead-1").await.expect("lead_view");
    assert_eq!(view.assignment, Some(assignment));
    let json = serde_json::to_value(&view).expect("json");
    assert_eq!(json["assignment"]["assignee"]["rep"], "ada");
    assert!(
        json["assignment"]["why"]
            .as_str()
            .is_some_and(|why| why.contains("least_loaded picked ada"))
    );
}

#[tokio::test]
async fn a_redelivered_route_message_makes_one_assignment_and_one_alert() {
    let world = World::new().await;
    world.add(&unique("lead-1")).await;
    let (queue, clock) = (MemoryQueue::default(), FixedClock::new(now()));
    let ports = StagePorts {
        store: &world.store,
        queue: &queue,
        clock: &clock,
        policy: policy(),
    };
    let envelope = Envelope::new(Stage::Route, "lead-1", "trace-1", now());
    let context = world.context();
    let first = route_stage_handler(&ports, &context, &envelope)
        .await
        .expect("first delivery");
    assert_eq!(first.follow_up, None, "route is the last stage");
    assert_eq!(first.outcome.change, AssignmentChange::Assigned);
    let version = world.stored("lead-1").await.version;

    let second = route_stage_handler(&ports, &context, &envelope)
        .await
        .expect("second delivery");
    assert_eq!(second.outcome.change, AssignmentChange::Kept);
    assert_eq!(second.outcome.assignment, first.outcome.assignment);
    assert!(
        second
            .outcome
            .alerts
            .values()
            .all(|a| *a == AlertAttempt::AlreadyQueued),
        "{:?}",
        second.outcome.alerts
    );
    assert_eq!(
        world.stored("lead-1").await.version,
        version,
        "nothing written"
    );
    assert_eq!(
        world.load("ada").await,
        RepLoad {
            open: 1,
            new_today: 1
        }
    );
    assert_eq!(world.load("grace").await, RepLoad::default());
    // one request per hook, in all
    assert_eq!(world.receiver.received().len(), 2);
    let sent = world
        .store
        .alerts_in_state(AlertState::Sent, 10)
        .await
        .expect("alerts");
    assert_eq!(sent.len(), 2);

    // a route envelope reaching another stage's handler, and the reverse, are refused
    let wrong = Envelope::new(Stage::Score, "lead-1", "trace-1", now());
    assert!(matches!(
        route_stage_handler(&ports, &context, &wrong).await,
        Err(StageError::WrongStage { .. })
    ));
}

#[tokio::test]
async fn a_re_routed_lead_keeps_its_rep_and_dropping_to_nurture_releases_it() {
    let world = World::new().await;
    world.add(&unique("lead-1")).await;
    let first = world.route("lead-1").await;
    let assigned = first.assignment.expect("assigned");

    // grace now holds fewer leads, so least loaded would pick her for a new lead; the
    // re-scored lead stays with ada
    world
        .rescore("lead-1", Band::Warm, NextAction::AccountFollowUp)
        .await;
    let again = world.route("lead-1").await;
    assert_eq!(again.change, AssignmentChange::Kept);
    assert_eq!(again.assignment, Some(assigned.clone()));
    assert_eq!(again.why, "already assigned to ada of team software");
    assert_eq!(world.load("ada").await.open, 1);

    world
        .rescore("lead-1", Band::Cold, NextAction::Nurture)
        .await;
    let dropped = world.route("lead-1").await;
    assert_eq!(dropped.change, AssignmentChange::Released);
    assert_eq!(dropped.assignment, None);
    assert_eq!(
        dropped.why,
        "next action nurture takes the lead from rep ada"
    );
    assert_eq!(world.stored("lead-1").await.assignment, None);
    assert_eq!(world.ledger.holder("lead-1").await, Ok(None));
    assert_eq!(
        world.load("ada").await,
        RepLoad {
            open: 0,
            new_today: 1
        },
        "the slot is free; the day's count stays"
    );
    // again: nothing more to do
    let repeat = world.route("lead-1").await;
    assert_eq!(repeat.change, AssignmentChange::Unassigned);

    // hot again: assigned afresh, to the least loaded rep
    world
        .rescore("lead-1", Band::Hot, NextAction::SalesNow)
        .await;
    let back = world.route("lead-1").await;
    assert_eq!(back.change, AssignmentChange::Assigned);
    assert_eq!(
        back.assignment.and_then(|a| a.rep().map(str::to_string)),
        Some("ada".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_hot_leads_never_overfill_a_rep() {
    let world = Arc::new(World::new().await);
    for i in 0..50 {
        world.add(&unique(&format!("lead-{i:02}"))).await;
    }
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let world = Arc::clone(&world);
            tokio::spawn(async move { world.route(&format!("lead-{i:02}")).await })
        })
        .collect();
    let mut by_assignee = std::collections::BTreeMap::new();
    let mut queued_why = None;
    for task in tasks {
        let assignment = task
            .await
            .expect("task")
            .assignment
            .expect("assigned somewhere");
        if assignment.rep().is_none() {
            queued_why = Some(assignment.why.clone());
        }
        *by_assignee.entry(assignment.assignee).or_insert(0) += 1;
    }
    assert_eq!(by_assignee.get(&Assignee::Rep("ada".into())), Some(&10));
    assert_eq!(by_assignee.get(&Assignee::Rep("grace".into())), Some(&10));
    assert_eq!(
        by_assignee.get(&Assignee::Queue("unassigned".into())),
        Some(&30)
    );
    assert_eq!(world.load("ada").await.open, 10);
    assert_eq!(world.load("grace").await.open, 10);
    // a queued lead says why
    let why = queued_why.expect("30 queued leads");
    assert!(why.contains("no rep of team software can take it"), "{why}");
}

#[tokio::test]
async fn a_queued_lead_stays_queued_until_a_rep_has_room() {
    let world = World::new().await;
    let caps = RepCaps {
        max_open_leads: 10,
        max_new_per_day: 100,
    };
    for i in 0..10 {
        for rep in ["ada", "grace"] {
            let taken = world
                .ledger
                .take(
                    rep,
                    &format!("other-{rep}-{i}"),
                    now().date_naive(),
                    caps,
                    now(),
                )
                .await;
            assert!(matches!(taken, Ok(Take::Taken(_))));
        }
    }
    world.add(&unique("lead-1")).await;
    let queued = world.route("lead-1").await;
    assert_eq!(queued.change, AssignmentChange::Queued);
    let assignment = queued.assignment.expect("queued");
    assert_eq!(assignment.assignee, Assignee::Queue("unassigned".into()));
    assert!(
        assignment
            .why
            .contains("passed over: ada: 10 of 10 open leads, grace: 10 of 10 open leads"),
        "{}",
        assignment.why
    );
    let version = world.stored("lead-1").await.version;
    let still = world.route("lead-1").await;
    assert_eq!(still.change, AssignmentChange::Kept);
    assert_eq!(
        world.stored("lead-1").await.version,
        version,
        "not rewritten"
    );

    assert_eq!(
        world.ledger.release("other-grace-3").await,
        Ok(Some("grace".into()))
    );
    let moved = world.route("lead-1").await;
    assert_eq!(moved.change, AssignmentChange::Assigned);
    assert_eq!(
        moved.assignment.and_then(|a| a.rep().map(str::to_string)),
        Some("grace".into())
    );
}

#[tokio::test]
async fn a_slot_left_by_a_failed_run_is_adopted_not_doubled() {
    let world = World::new().await;
    world.add(&unique("lead-1")).await;
    // a previous run took grace's slot and died before recording it
    let caps = RepCaps {
        max_open_leads: 10,
        max_new_per_day: 100,
    };
    let taken = world
        .ledger
        .take("grace", "lead-1", now().date_naive(), caps, now())
        .await;
    assert!(matches!(taken, Ok(Take::Taken(_))));
    let outcome = world.route("lead-1").await;
    assert_eq!(outcome.change, AssignmentChange::Assigned);
    assert_eq!(
        outcome.assignment.and_then(|a| a.rep().map(str::to_string)),
        Some("grace".into())
    );
    assert_eq!(world.load("grace").await.open, 1);
    assert_eq!(world.load("ada").await.open, 0, "no second slot");
}

#[tokio::test]
async fn unscored_and_erased_leads_route_to_nobody() {
    let world = World::new().await;
    let mut unscored = unique("lead-1");
    unscored.card = None;
    world.add(&unscored).await;
    let outcome = world.route("lead-1").await;
    assert_eq!(outcome.change, AssignmentChange::NotScored);
    assert!(outcome.alerts.is_empty());

    world.add(&unique("lead-2")).await;
    world.route("lead-2").await;
    assert_eq!(world.load("ada").await.open, 1);
    assert_eq!(world.store.erase_lead("lead-2", now()).await, Ok(true));
    let gone = route_lead(&world.store, &world.context(), "lead-2", now(), &policy()).await;
    assert_eq!(
        gone,
        Err(StageError::LeadNotFound {
            lead_id: "lead-2".into()
        })
    );
    assert_eq!(
        world.load("ada").await.open,
        0,
        "an erased lead frees its rep"
    );
}

/// Erases the alert's lead just before its alert is enqueued: an erase that finishes
/// between the route reading the lead and writing to the outbox.
struct EraseFirst;

#[async_trait::async_trait]
impl WriteHook for EraseFirst {
    async fn before_enqueue_alert(
        &self,
        store: &MemoryStore,
        alert: &Alert,
    ) -> Result<(), leadq_pipeline::StoreError> {
        store.erase_lead(&alert.lead_id, now()).await.map(|_| ())
    }
}

#[tokio::test]
async fn an_erase_racing_the_alert_leaves_no_alert_and_sends_nothing() {
    let world = World::new().await;
    let store = HookedStore::new(EraseFirst);
    store.create_lead(&unique("lead-1")).await.expect("create");
    let raced = route_lead(&store, &world.context(), "lead-1", now(), &policy()).await;
    assert_eq!(
        raced,
        Err(StageError::LeadNotFound {
            lead_id: "lead-1".into()
        })
    );
    for state in [AlertState::Pending, AlertState::Sent, AlertState::Failed] {
        let left = store.alerts_in_state(state, 100).await.expect("alerts");
        assert!(left.is_empty(), "{state:?}: {left:?}");
    }
    assert_eq!(world.receiver.received().len(), 0, "nothing was sent");
}

#[tokio::test]
async fn a_closing_outcome_frees_the_rep_and_silences_the_lead() {
    let mut world = World::new().await;
    // whatever the default model makes of the lead, a person works it
    world.routing = RoutingConfig::from_toml(&RULES.replace(
        "fallback_queue = \"unassigned\"",
        "fallback_queue = \"unassigned\"\nassign_actions = [\"sales_now\", \"account_follow_up\", \"sdr_review\", \"manual_review\", \"enrich_again\", \"nurture\"]\nrelease_actions = [\"suppress\"]",
    ))
    .expect("rules");
    world.add(&unique("lead-1")).await;
    let (queue, clock) = (MemoryQueue::default(), FixedClock::new(now()));
    let ports = StagePorts {
        store: &world.store,
        queue: &queue,
        clock: &clock,
        policy: policy(),
    };
    let models = ModelCache::default();
    // scored and routed as the pipeline does
    let scored = score_stage_handler(
        &ports,
        &models,
        &Envelope::new(Stage::Score, "lead-1", "trace-0", now()),
    )
    .await
    .expect("score");
    let route = scored.follow_up.expect("a new verdict is routed");
    let context = world.context();
    let routed = route_stage_handler(&ports, &context, &route)
        .await
        .expect("route");
    let rep = routed
        .outcome
        .assignment
        .as_ref()
        .and_then(|a| a.rep().map(str::to_string))
        .expect("a rep works the lead");
    assert_eq!(world.load(&rep).await.open, 1);
    let alerted = world.receiver.accepted().len();
    let _ = queue
        .receive(Stage::Route, 10, std::time::Duration::from_secs(30))
        .await
        .expect("drain");

    // the deal closes an hour later: the verdict has stood since before the outcome
    clock.set(now() + chrono::TimeDelta::hours(1));
    let body = br#"{"lead_id": "lead-1", "status": "won", "amount": 24000, "closed_at": "2026-11-23T12:30:00Z"}"#;
    let accepted = ingest_outcome(&ports, Some("application/json"), body, "trace-1")
        .await
        .expect("outcome");
    assert_eq!(accepted.lead_id, "lead-1");
    let record = world.stored("lead-1").await;
    assert_eq!(
        record.closed.map(|c| c.status),
        Some(leadq_scoring::OutcomeStatus::Won)
    );
    // the lead goes back through scoring, which hands it to routing even though its
    // verdict did not change
    let sent = queue
        .receive(Stage::Score, 10, std::time::Duration::from_secs(30))
        .await
        .expect("receive");
    assert_eq!(sent.len(), 1);
    let envelope = Envelope::parse(&sent[0].body).expect("an envelope");
    assert_eq!(envelope.cause, Some(Cause::Closed));
    let rescored = score_stage_handler(&ports, &models, &envelope)
        .await
        .expect("rescore");
    assert!(!rescored.outcome.verdict_changed);
    let route = rescored.follow_up.expect("a closed deal is routed");
    let released = route_stage_handler(&ports, &context, &route)
        .await
        .expect("route");
    assert_eq!(released.outcome.change, AssignmentChange::Released);
    assert!(
        released.outcome.why.contains("closed won"),
        "{}",
        released.outcome.why
    );
    assert_eq!(
        world.load(&rep).await.open,
        0,
        "the rep is free for new leads"
    );
    assert_eq!(world.stored("lead-1").await.assignment, None);

    // a closed lead raises no alert, whatever its verdict becomes
    world
        .rescore("lead-1", Band::Hot, NextAction::AccountFollowUp)
        .await;
    let again = world.route("lead-1").await;
    assert!(again.alerts.is_empty());
    assert_eq!(world.receiver.accepted().len(), alerted);

    // the same outcome again (at-least-once) writes nothing new
    let version = world.stored("lead-1").await.version;
    ingest_outcome(&ports, Some("application/json"), body, "trace-2")
        .await
        .expect("replayed outcome");
    assert_eq!(world.stored("lead-1").await.version, version);
}
