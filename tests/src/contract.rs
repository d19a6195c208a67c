//! The adapter contract suite, written once and run against every adapter: memory and
//! SQLite (`tests/tests/memory.rs`, `tests/tests/sqlite.rs`) and DynamoDB/SQS on the
//! emulator. The company-directory checks ([`DirectoryHarness`], [`directory_contract_tests!`])
//! run the same way from `tests/tests/directory_*.rs`, and the rep-ledger checks
//! ([`LedgerHarness`], [`ledger_contract_tests!`]) from the adapters' own test files.
//!
//! An adapter's test file implements [`Harness`] and expands [`contract_tests!`], which
//! makes one test per `check_*` function below. Waits are short (visibility timeouts of
//! one or two seconds) and the largest write load is the 1,000-event check, because the
//! emulator manages only about 500 writes per second.

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use leadq_pipeline::envelope::MAX_MESSAGE_BYTES;
use leadq_pipeline::stages::{CompanyDirectory, CompanyFacts};
use leadq_pipeline::{
    Alert, AlertState, Claim, Created, Delivery, Envelope, EventAggregates, HistoryEntry,
    LeadRecord, LeadStore, ModelVersion, NewEvent, Provenance, QueueError, RepCaps, RepLedger,
    RepLoad, RetryPolicy, Stage, StoreError, Take, Tombstone, WorkQueue, email_hash, record_events,
};
use leadq_scoring::{Band, Event, EventKind, Lead, NextAction, Outcome, OutcomeStatus, Person};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What an adapter's test file provides to run the contract checks.
#[async_trait::async_trait]
pub trait Harness: Send + Sync + 'static {
    /// A fresh, isolated store (its own table/file), empty.
    async fn store(&self) -> Arc<dyn LeadStore>;
    /// Fresh, isolated queues for every stage, empty.
    async fn queue(&self) -> Arc<dyn WorkQueue>;
    /// Receives after which a failed message moves to the dead-letter queue.
    fn max_receive_count(&self) -> u32;
}

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per
/// contract check, each evaluating `$harness` afresh (inside the test, so it may `.await`).
/// The calling crate needs tokio with `macros` and `rt-multi-thread`.
#[macro_export]
macro_rules! contract_tests {
    ($harness:expr) => {
        $crate::contract_tests!(@tests $harness;
            create_lead_is_create_if_absent => check_create_lead_is_create_if_absent,
            concurrent_creates_keep_one_lead_per_email => check_concurrent_creates_keep_one_lead_per_email,
            update_lead_is_version_checked => check_update_lead_is_version_checked,
            append_events_is_atomic => check_append_events_is_atomic,
            concurrent_writers_lose_no_event => check_concurrent_writers_lose_no_event,
            reappending_events_adds_no_duplicates => check_reappending_events_adds_no_duplicates,
            idempotency_in_progress_then_completed => check_idempotency_in_progress_then_completed,
            idempotency_expired_and_lapsed_claims => check_idempotency_expired_and_lapsed_claims,
            idempotency_release_then_claim => check_idempotency_release_then_claim,
            queue_acks_and_redelivers_failures => check_queue_acks_and_redelivers_failures,
            queue_dead_letters_after_max_receives => check_queue_dead_letters_after_max_receives,
            queue_rejects_oversized_batches => check_queue_rejects_oversized_batches,
            model_versions_newest_first_and_active => check_model_versions_newest_first_and_active,
            outbox_is_create_if_absent_and_versioned => check_outbox_is_create_if_absent_and_versioned,
            outcomes_replace_per_lead => check_outcomes_replace_per_lead,
            history_is_idempotent_on_at => check_history_is_idempotent_on_at,
            rescore_pages_cover_due_leads_once => check_rescore_pages_cover_due_leads_once,
            erase_removes_the_person_and_keeps_a_tombstone => check_erase_removes_the_person_and_keeps_a_tombstone,
            erased_email_can_come_back_as_a_new_lead => check_erased_email_can_come_back_as_a_new_lead,
            appends_racing_an_erase_leave_nothing_behind => check_appends_racing_an_erase_leave_nothing_behind,
            erase_deletes_the_leads_alerts_in_every_state => check_erase_deletes_the_leads_alerts_in_every_state,
        );
    };
    (@tests $harness:expr; $($name:ident => $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let harness = $harness;
                $crate::contract::$check(&harness).await;
            }
        )*
    };
}

/// What an adapter's test file provides to run the company-directory contract checks.
#[async_trait::async_trait]
pub trait DirectoryHarness: Send + Sync + 'static {
    /// A fresh, isolated directory (its own table/file), empty.
    async fn directory(&self) -> Arc<dyn CompanyDirectory>;
}

/// Expands to one test per company-directory contract check, as [`contract_tests!`] does.
#[macro_export]
macro_rules! directory_contract_tests {
    ($harness:expr) => {
        $crate::contract_tests!(@tests $harness;
            directory_lookup_of_unknown_is_none => check_directory_lookup_of_unknown_is_none,
            directory_upsert_replaces_and_normalises => check_directory_upsert_replaces_and_normalises,
            directory_unknown_fields_stay_unknown => check_directory_unknown_fields_stay_unknown,
            directory_imports_beyond_one_batch => check_directory_imports_beyond_one_batch,
        );
    };
}

/// What an adapter's test file provides to run the rep-ledger contract checks.
#[async_trait::async_trait]
pub trait LedgerHarness: Send + Sync + 'static {
    /// A fresh, isolated ledger (its own table/file), empty.
    async fn ledger(&self) -> Arc<dyn RepLedger>;
}

/// Expands to one test per rep-ledger contract check, as [`contract_tests!`] does.
#[macro_export]
macro_rules! ledger_contract_tests {
    ($harness:expr) => {
        $crate::contract_tests!(@tests $harness;
            ledger_take_is_idempotent_per_lead => check_ledger_take_is_idempotent_per_lead,
            ledger_caps_refuse_without_writing => check_ledger_caps_refuse_without_writing,
            ledger_release_frees_the_open_slot_only => check_ledger_release_frees_the_open_slot_only,
            ledger_concurrent_takes_never_overfill => check_ledger_concurrent_takes_never_overfill,
            ledger_concurrent_takes_of_one_lead_take_once => check_ledger_concurrent_takes_of_one_lead_take_once,
            ledger_loads_of_many_reps_equal_each_load => check_ledger_loads_of_many_reps_equal_each_load,
        );
    };
}

/// A fixed base time (2025-01-01T00:00:00Z) plus `secs`; whole seconds, so every backend
/// stores it exactly.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid base time")
        + TimeDelta::seconds(secs)
}

/// A lead record (version 1) with an optional email key and a little of every part.
pub fn lead_record(id: &str, email_key: Option<&str>) -> LeadRecord {
    let lead = Lead {
        id: id.to_string(),
        person: Person {
            email: email_key.map(str::to_string),
            name: Some("Ada Lovelace".into()),
            ..Person::default()
        },
        source: Some("website".into()),
        created_at: Some(at(0)),
        ..Lead::default()
    };
    let mut record = LeadRecord::new(lead, email_key.map(str::to_string), at(0));
    record.provenance.insert(
        "person.name".into(),
        Provenance {
            provider: "form".into(),
            confidence: 0.9,
            at: at(0),
        },
    );
    record
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 200,
        base: Duration::from_millis(2),
        max: Duration::from_millis(100),
    }
}

async fn create(store: &dyn LeadStore, record: &LeadRecord) {
    let created = store.create_lead(record).await.expect("create_lead");
    assert_eq!(created, Created::New, "lead {} is new", record.id());
}

/// create twice -> one lead; the same email key under another id -> the original id.
pub async fn check_create_lead_is_create_if_absent(h: &dyn Harness) {
    let store = h.store().await;
    let original = lead_record("lead-a", Some("ada@example.com"));
    create(&*store, &original).await;
    assert_eq!(
        store.get_lead("lead-a").await.expect("get_lead"),
        Some(original.clone())
    );

    let mut again = original.clone();
    again.lead.source = Some("changed".into());
    assert_eq!(
        store.create_lead(&again).await.expect("create_lead"),
        Created::Existing("lead-a".into())
    );
    let same_email = lead_record("lead-b", Some("ada@example.com"));
    assert_eq!(
        store.create_lead(&same_email).await.expect("create_lead"),
        Created::Existing("lead-a".into())
    );
    let same_id_other_email = lead_record("lead-a", Some("other@example.com"));
    assert_eq!(
        store
            .create_lead(&same_id_other_email)
            .await
            .expect("create_lead"),
        Created::Existing("lead-a".into())
    );

    assert_eq!(
        store.get_lead("lead-a").await.expect("get_lead"),
        Some(original),
        "nothing overwritten"
    );
    assert_eq!(store.get_lead("lead-b").await.expect("get_lead"), None);
    assert_eq!(
        store
            .find_lead_by_email("ada@example.com")
            .await
            .expect("find_lead_by_email"),
        Some("lead-a".into())
    );
    assert_eq!(
        store
            .find_lead_by_email("other@example.com")
            .await
            .expect("find_lead_by_email"),
        None
    );

    // leads without an email key never collide on it
    create(&*store, &lead_record("anon-1", None)).await;
    create(&*store, &lead_record("anon-2", None)).await;
}

/// 8 concurrent creates of different ids with one email key: exactly one wins.
pub async fn check_concurrent_creates_keep_one_lead_per_email(h: &dyn Harness) {
    let store = h.store().await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let record = lead_record(&format!("racer-{i}"), Some("race@example.com"));
                store.create_lead(&record).await.expect("create_lead")
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut answers = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("task") {
            Created::New => winners.push(format!("racer-{i}")),
            Created::Existing(owner) => answers.push(owner),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create wins: {winners:?}");
    assert!(
        answers.iter().all(|owner| *owner == winners[0]),
        "losers name the winner: {answers:?}"
    );
    assert_eq!(
        store
            .find_lead_by_email("race@example.com")
            .await
            .expect("find_lead_by_email"),
        Some(winners[0].clone())
    );
}

/// A write with a stale version is a `Conflict` and changes nothing.
pub async fn check_update_lead_is_version_checked(h: &dyn Harness) {
    let store = h.store().await;
    let original = lead_record("lead-v", Some("v@example.com"));
    create(&*store, &original).await;

    let mut next = original.clone();
    next.version = 2;
    next.lead.source = Some("partner".into());
    next.rescore_at = Some(at(3_600));
    next.updated_at = at(10);
    // a closed deal's mark round-trips like every other field
    next.closed = Some(leadq_pipeline::Closed {
        status: leadq_scoring::OutcomeStatus::Won,
        at: at(5),
    });
    store.update_lead(&next).await.expect("update_lead");

    let mut stale = original.clone();
    stale.version = 2;
    stale.lead.source = Some("stale".into());
    let err = store.update_lead(&stale).await.expect_err("stale write");
    assert_eq!(
        err,
        StoreError::Conflict {
            lead_id: "lead-v".into(),
            expected: 1
        }
    );
    let mut ahead = next.clone();
    ahead.version = 4;
    let err = store
        .update_lead(&ahead)
        .await
        .expect_err("version skipped");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(
        store.get_lead("lead-v").await.expect("get_lead"),
        Some(next)
    );

    let mut missing = lead_record("nobody", None);
    missing.version = 2;
    let err = store.update_lead(&missing).await.expect_err("missing lead");
    assert!(
        matches!(
            err,
            StoreError::NotFound { .. } | StoreError::Conflict { .. }
        ),
        "{err:?}"
    );
    assert_eq!(store.get_lead("nobody").await.expect("get_lead"), None);
}

fn stored(event_id: &str, kind: EventKind, secs: i64) -> leadq_pipeline::StoredEvent {
    leadq_pipeline::StoredEvent {
        event_id: event_id.to_string(),
        event: Event::new(kind, at(secs)),
        received_at: at(1_000),
    }
}

fn with_events(record: &LeadRecord, events: &[leadq_pipeline::StoredEvent]) -> LeadRecord {
    let mut next = record.clone();
    for event in events {
        next.aggregates.add(&event.event);
    }
    next.version += 1;
    next
}

/// append_events writes all events and the record, or nothing (stale version, duplicate).
pub async fn check_append_events_is_atomic(h: &dyn Harness) {
    let store = h.store().await;
    let original = lead_record("lead-e", None);
    create(&*store, &original).await;

    let first = vec![
        stored("e-2", EventKind::PricingView, 20),
        stored("e-1", EventKind::PageView, 10),
    ];
    let v2 = with_events(&original, &first);
    store
        .append_events(&v2, &first)
        .await
        .expect("append_events");
    let listed: Vec<String> = store
        .list_events("lead-e")
        .await
        .expect("list_events")
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(listed, vec!["e-1", "e-2"], "oldest first");

    // a stale version: nothing written
    let late = vec![stored("e-3", EventKind::Webinar, 30)];
    let err = store
        .append_events(&with_events(&original, &late), &late)
        .await
        .expect_err("stale append");
    assert_eq!(
        err,
        StoreError::Conflict {
            lead_id: "lead-e".into(),
            expected: 1
        }
    );

    // one duplicate among new events: nothing written, the duplicate named
    let mixed = vec![
        stored("e-4", EventKind::DemoRequest, 40),
        stored("e-1", EventKind::PageView, 10),
    ];
    let err = store
        .append_events(&with_events(&v2, &mixed), &mixed)
        .await
        .expect_err("duplicate append");
    assert_eq!(
        err,
        StoreError::DuplicateEvent {
            lead_id: "lead-e".into(),
            event_id: "e-1".into()
        }
    );

    assert_eq!(store.list_events("lead-e").await.expect("list_events"), {
        let mut expected = first.clone();
        expected.reverse();
        expected
    });
    assert_eq!(store.get_lead("lead-e").await.expect("get_lead"), Some(v2));
    let ids = vec!["e-1".to_string(), "e-3".to_string(), "e-4".to_string()];
    let existing = store
        .existing_event_ids("lead-e", &ids)
        .await
        .expect("existing_event_ids");
    assert_eq!(existing, HashSet::from(["e-1".to_string()]));
}

/// 8 concurrent writers append 1,000 events to one lead through `record_events`.
pub async fn check_concurrent_writers_lose_no_event(h: &dyn Harness) {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 125;
    const PER_CALL: usize = 25;
    let store = h.store().await;
    create(&*store, &lead_record("busy", None)).await;

    let event = |writer: usize, i: usize| {
        let n = writer * PER_WRITER + i;
        let mut event = Event::new(EventKind::ALL[n % EventKind::ALL.len()], at(n as i64));
        if event.kind == EventKind::Session {
            event.minutes = Some(1.5);
        }
        // half carry a sender id, half get a content id
        if n % 2 == 0 {
            NewEvent::with_id(format!("w{writer}-{i}"), event)
        } else {
            NewEvent::new(event)
        }
    };
    let mut expected = EventAggregates::default();
    for writer in 0..WRITERS {
        for i in 0..PER_WRITER {
            expected.add(&event(writer, i).event);
        }
    }

    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let events: Vec<NewEvent> = (0..PER_WRITER).map(|i| event(writer, i)).collect();
                let mut appended = 0;
                for chunk in events.chunks(PER_CALL) {
                    let report = record_events(&*store, "busy", chunk, at(5_000), &policy())
                        .await
                        .expect("record_events");
                    appended += report.appended;
                }
                appended
            })
        })
        .collect();
    let mut appended = 0;
    for task in tasks {
        appended += task.await.expect("writer task");
    }
    assert_eq!(appended, WRITERS * PER_WRITER);

    let events = store.list_events("busy").await.expect("list_events");
    assert_eq!(events.len(), WRITERS * PER_WRITER);
    let ids: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    assert!(
        events.windows(2).all(|w| w[0].event.at <= w[1].event.at),
        "oldest first"
    );

    let record = store
        .get_lead("busy")
        .await
        .expect("get_lead")
        .expect("the lead");
    assert_eq!(record.aggregates.count, 1_000);
    assert_eq!(record.aggregates, expected);
    let mut by_kind: BTreeMap<EventKind, u64> = BTreeMap::new();
    for stored in &events {
        *by_kind.entry(stored.event.kind).or_insert(0) += 1;
    }
    assert_eq!(record.aggregates.by_kind, by_kind);
    assert_eq!(record.version, 1 + (WRITERS * PER_WRITER / PER_CALL) as u64);
}

/// Recording the same events again stores nothing new.
pub async fn check_reappending_events_adds_no_duplicates(h: &dyn Harness) {
    let store = h.store().await;
    create(&*store, &lead_record("again", None)).await;
    let mut events: Vec<NewEvent> = (0..30)
        .map(|i| {
            let mut event = Event::new(EventKind::ALL[i % 4], at(i as i64));
            event.properties.insert("page".into(), format!("/p/{i}"));
            if i < 10 {
                NewEvent::with_id(format!("sender-{i}"), event)
            } else {
                NewEvent::new(event)
            }
        })
        .collect();
    let first = record_events(&*store, "again", &events, at(100), &policy())
        .await
        .expect("record_events");
    assert_eq!((first.appended, first.duplicates), (30, 0));

    events.reverse();
    events.push(events[0].clone());
    let second = record_events(&*store, "again", &events, at(200), &policy())
        .await
        .expect("record_events");
    assert_eq!((second.appended, second.duplicates), (0, 31));
    assert_eq!(
        store.list_events("again").await.expect("list_events").len(),
        30
    );
    let record = store
        .get_lead("again")
        .await
        .expect("get_lead")
        .expect("the lead");
    assert_eq!(record, first.record, "the lead is unchanged");
    assert_eq!(record.aggregates.count, 30);
}

/// A live claim blocks a second one; a completed key replays its response.
pub async fn check_idempotency_in_progress_then_completed(h: &dyn Harness) {
    let store = h.store().await;
    let claim = |key: &'static str, now: i64| {
        let store = Arc::clone(&store);
        async move {
            store
                .claim_idempotency(key, at(now), at(3_600), at(now + 60))
                .await
                .expect("claim_idempotency")
        }
    };
    assert_eq!(claim("req-1", 0).await, Claim::Claimed);
    assert_eq!(claim("req-1", 1).await, Claim::InProgress);
    store
        .complete_idempotency("req-1", Some(r#"{"status":202}"#.into()), at(3_600))
        .await
        .expect("complete_idempotency");
    assert_eq!(
        claim("req-1", 2).await,
        Claim::Completed(Some(r#"{"status":202}"#.into()))
    );
    // even long after the in-progress window, until the record expires
    assert_eq!(
        claim("req-1", 3_000).await,
        Claim::Completed(Some(r#"{"status":202}"#.into()))
    );

    assert_eq!(claim("req-2", 0).await, Claim::Claimed);
    store
        .complete_idempotency("req-2", None, at(3_600))
        .await
        .expect("complete_idempotency");
    assert_eq!(claim("req-2", 5).await, Claim::Completed(None));
    assert_eq!(
        claim("req-3", 5).await,
        Claim::Claimed,
        "keys are independent"
    );
}

/// An expired record, or a lapsed in-progress claim, can be claimed again.
pub async fn check_idempotency_expired_and_lapsed_claims(h: &dyn Harness) {
    let store = h.store().await;
    // completed, expiring at 200
    let claimed = store
        .claim_idempotency("done", at(0), at(200), at(60))
        .await
        .expect("claim_idempotency");
    assert_eq!(claimed, Claim::Claimed);
    store
        .complete_idempotency("done", Some("old".into()), at(200))
        .await
        .expect("complete_idempotency");
    let before = store
        .claim_idempotency("done", at(150), at(3_600), at(210))
        .await
        .expect("claim_idempotency");
    assert_eq!(before, Claim::Completed(Some("old".into())));
    let after = store
        .claim_idempotency("done", at(300), at(3_900), at(360))
        .await
        .expect("claim_idempotency");
    assert_eq!(
        after,
        Claim::Claimed,
        "an expired completed record is claimable"
    );
    let now_in_progress = store
        .claim_idempotency("done", at(301), at(3_900), at(361))
        .await
        .expect("claim_idempotency");
    assert_eq!(now_in_progress, Claim::InProgress);

    // in progress, the claim lapsing at 60 while the record lives to 3,600
    let claimed = store
        .claim_idempotency("stuck", at(0), at(3_600), at(60))
        .await
        .expect("claim_idempotency");
    assert_eq!(claimed, Claim::Claimed);
    let live = store
        .claim_idempotency("stuck", at(30), at(3_600), at(90))
        .await
        .expect("claim_idempotency");
    assert_eq!(live, Claim::InProgress);
    let lapsed = store
        .claim_idempotency("stuck", at(120), at(3_720), at(180))
        .await
        .expect("claim_idempotency");
    assert_eq!(
        lapsed,
        Claim::Claimed,
        "a lapsed in-progress claim is claimable"
    );
    let renewed = store
        .claim_idempotency("stuck", at(150), at(3_750), at(210))
        .await
        .expect("claim_idempotency");
    assert_eq!(
        renewed,
        Claim::InProgress,
        "the new claim holds its own window"
    );
}

/// A released claim can be claimed again at once.
pub async fn check_idempotency_release_then_claim(h: &dyn Harness) {
    let store = h.store().await;
    let claim = || store.claim_idempotency("retry-me", at(0), at(3_600), at(60));
    assert_eq!(claim().await.expect("claim_idempotency"), Claim::Claimed);
    assert_eq!(claim().await.expect("claim_idempotency"), Claim::InProgress);
    store
        .release_idempotency("retry-me")
        .await
        .expect("release_idempotency");
    assert_eq!(claim().await.expect("claim_idempotency"), Claim::Claimed);
    store
        .release_idempotency("never-claimed")
        .await
        .expect("releasing an unknown key is fine");
}

fn envelope(i: usize) -> Envelope {
    Envelope::new(
        Stage::Score,
        format!("lead-{i:02}"),
        format!("trace-{i}"),
        at(i as i64),
    )
}

/// Receives until `want` messages arrived or `patience` passed, at most 10 per receive.
pub async fn receive_until(
    queue: &dyn WorkQueue,
    stage: Stage,
    want: usize,
    visibility: Duration,
    patience: Duration,
) -> Vec<Delivery> {
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < want && start.elapsed() < patience {
        let batch = queue
            .receive(stage, (want - got.len()).min(10), visibility)
            .await
            .expect("receive");
        assert!(batch.len() <= 10, "at most the requested 10 messages");
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        got.extend(batch);
    }
    got
}

/// Send 25, receive them all, fail 3 (they come back), ack the rest (they never do).
pub async fn check_queue_acks_and_redelivers_failures(h: &dyn Harness) {
    // longer than the receive phase can take on a loaded machine (the emulator serves
    // one request at a time to every test of its binary): past it, a message not yet
    // acked would be received twice
    const VISIBILITY: Duration = Duration::from_secs(5);
    let queue = h.queue().await;
    let sent: Vec<Envelope> = (0..25).map(envelope).collect();
    queue.send(Stage::Score, &sent).await.expect("send");
    queue
        .send(Stage::Score, &[])
        .await
        .expect("sending nothing is fine");

    let first = receive_until(
        &*queue,
        Stage::Score,
        25,
        VISIBILITY,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(first.len(), 25, "every message received");
    let ids: HashSet<&str> = first.iter().map(|d| d.message_id.as_str()).collect();
    assert_eq!(
        ids.len(),
        25,
        "no message twice within its visibility timeout"
    );
    let mut bodies: Vec<Envelope> = first
        .iter()
        .map(|d| Envelope::parse(&d.body).expect("an envelope"))
        .collect();
    bodies.sort_by(|a, b| a.lead_id.cmp(&b.lead_id));
    assert_eq!(bodies, sent, "bodies arrive intact");
    assert!(
        first.iter().all(|d| d.receive_count == 1),
        "first receive counts 1"
    );
    assert!(
        queue
            .receive(Stage::Enrich, 10, VISIBILITY)
            .await
            .expect("receive")
            .is_empty(),
        "stages have their own queues"
    );

    let (failed, done) = first.split_at(3);
    for delivery in failed {
        queue
            .fail(Stage::Score, &delivery.receipt)
            .await
            .expect("fail");
    }
    // half one by one, half in one call
    let (one_by_one, together) = done.split_at(done.len() / 2);
    for delivery in one_by_one {
        queue
            .ack(Stage::Score, &delivery.receipt)
            .await
            .expect("ack");
    }
    let receipts: Vec<String> = together.iter().map(|d| d.receipt.clone()).collect();
    queue
        .ack_all(Stage::Score, &receipts)
        .await
        .expect("ack_all");
    queue
        .ack_all(Stage::Score, &[])
        .await
        .expect("acking nothing is fine");

    let again = receive_until(&*queue, Stage::Score, 3, VISIBILITY, Duration::from_secs(5)).await;
    let again_ids: BTreeSet<&str> = again.iter().map(|d| d.message_id.as_str()).collect();
    let failed_ids: BTreeSet<&str> = failed.iter().map(|d| d.message_id.as_str()).collect();
    assert_eq!(
        again_ids, failed_ids,
        "exactly the failed messages come back"
    );
    assert!(
        again.iter().all(|d| d.receive_count == 2),
        "second receive counts 2"
    );
    for delivery in &again {
        queue
            .ack(Stage::Score, &delivery.receipt)
            .await
            .expect("ack");
    }

    tokio::time::sleep(VISIBILITY + Duration::from_millis(500)).await;
    let late = receive_until(&*queue, Stage::Score, 1, VISIBILITY, Duration::from_secs(1)).await;
    assert!(late.is_empty(), "acked messages never return: {late:?}");
}

/// A message failed `max_receive_count` times moves to the dead-letter queue.
pub async fn check_queue_dead_letters_after_max_receives(h: &dyn Harness) {
    const VISIBILITY: Duration = Duration::from_secs(1);
    let queue = h.queue().await;
    let max = h.max_receive_count();
    queue
        .send_raw(Stage::Route, "this is not an envelope")
        .await
        .expect("send_raw");
    for round in 1..=max {
        let got = receive_until(&*queue, Stage::Route, 1, VISIBILITY, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 1, "receive {round} of {max}");
        assert_eq!(got[0].receive_count, round);
        assert_eq!(got[0].body, "this is not an envelope");
        queue
            .fail(Stage::Route, &got[0].receipt)
            .await
            .expect("fail");
    }
    let after = receive_until(
        &*queue,
        Stage::Route,
        1,
        VISIBILITY,
        Duration::from_millis(1_500),
    )
    .await;
    assert!(after.is_empty(), "no longer received: {after:?}");

    let start = Instant::now();
    let mut dead = Vec::new();
    while dead.is_empty() && start.elapsed() < Duration::from_secs(5) {
        dead = queue
            .dead_letters(Stage::Route, 10)
            .await
            .expect("dead_letters");
        if dead.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(dead.len(), 1, "one dead letter: {dead:?}");
    assert_eq!(dead[0].body, "this is not an envelope");
    assert!(
        queue
            .dead_letters(Stage::Score, 10)
            .await
            .expect("dead_letters")
            .is_empty(),
        "dead-letter queues are per stage"
    );
}

/// An oversized envelope fails the whole send with `TooLarge`.
pub async fn check_queue_rejects_oversized_batches(h: &dyn Harness) {
    let queue = h.queue().await;
    let huge = Envelope::new(Stage::Enrich, "x".repeat(MAX_MESSAGE_BYTES), "trace", at(0));
    let err = queue
        .send(Stage::Enrich, &[envelope(1), huge])
        .await
        .expect_err("too large");
    match err {
        QueueError::TooLarge {
            lead_id,
            size,
            limit,
        } => {
            assert_eq!(limit, MAX_MESSAGE_BYTES);
            assert!(size > limit);
            assert!(lead_id.starts_with("xxx"));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let got = receive_until(
        &*queue,
        Stage::Enrich,
        1,
        Duration::from_secs(1),
        Duration::from_millis(500),
    )
    .await;
    assert!(got.is_empty(), "nothing of the batch was sent: {got:?}");
}

fn model(version: &str, day: i64) -> ModelVersion {
    ModelVersion {
        version: version.to_string(),
        created_at: at(day * 86_400),
        model_toml: format!("version = \"{version}\"\n"),
        metrics_json: Some(r#"{"auc":0.81}"#.into()),
        promoted: day % 2 == 0,
        reason: "contract test".into(),
    }
}

/// Model versions are create-if-absent, listed newest first; the active pointer works.
pub async fn check_model_versions_newest_first_and_active(h: &dyn Harness) {
    let store = h.store().await;
    assert_eq!(store.active_model().await.expect("active_model"), None);
    for (version, day) in [("2025.01.01", 0), ("2025.01.03", 2), ("2025.01.02", 1)] {
        assert!(
            store
                .put_model_version(&model(version, day))
                .await
                .expect("put_model_version")
        );
    }
    let mut changed = model("2025.01.02", 1);
    changed.reason = "should not replace".into();
    assert!(
        !store
            .put_model_version(&changed)
            .await
            .expect("put_model_version")
    );

    let listed = store
        .list_model_versions()
        .await
        .expect("list_model_versions");
    assert_eq!(
        listed,
        vec![
            model("2025.01.03", 2),
            model("2025.01.02", 1),
            model("2025.01.01", 0)
        ]
    );

    store
        .set_active_model("2025.01.02")
        .await
        .expect("set_active_model");
    assert_eq!(
        store.active_model().await.expect("active_model"),
        Some(model("2025.01.02", 1))
    );
    let err = store
        .set_active_model("no-such-version")
        .await
        .expect_err("unknown version");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!(
        store.active_model().await.expect("active_model"),
        Some(model("2025.01.02", 1))
    );
    store
        .set_active_model("2025.01.03")
        .await
        .expect("set_active_model");
    assert_eq!(
        store.active_model().await.expect("active_model"),
        Some(model("2025.01.03", 2))
    );
}

fn alert(id: &str, secs: i64) -> Alert {
    Alert {
        id: id.to_string(),
        lead_id: format!("lead-of-{id}"),
        hook: "slack".into(),
        payload: format!(r#"{{"text":"{id} is hot"}}"#),
        state: AlertState::Pending,
        attempts: 0,
        next_attempt_at: at(secs),
        last_error: None,
        version: 1,
        created_at: at(secs),
    }
}

/// Alerts are create-if-absent, version-checked, and listed per state oldest first.
pub async fn check_outbox_is_create_if_absent_and_versioned(h: &dyn Harness) {
    let store = h.store().await;
    for (id, secs) in [("a-2", 20), ("a-1", 10), ("a-3", 30)] {
        assert!(
            store
                .enqueue_alert(&alert(id, secs))
                .await
                .expect("enqueue_alert")
        );
    }
    let mut twice = alert("a-1", 10);
    twice.payload = "a second enqueue".into();
    assert!(!store.enqueue_alert(&twice).await.expect("enqueue_alert"));

    let pending = store
        .alerts_in_state(AlertState::Pending, 10)
        .await
        .expect("alerts_in_state");
    assert_eq!(
        pending,
        vec![alert("a-1", 10), alert("a-2", 20), alert("a-3", 30)]
    );
    let first_two = store
        .alerts_in_state(AlertState::Pending, 2)
        .await
        .expect("alerts_in_state");
    assert_eq!(first_two, vec![alert("a-1", 10), alert("a-2", 20)]);

    let mut sent = alert("a-1", 10);
    sent.state = AlertState::Sent;
    sent.attempts = 1;
    sent.version = 2;
    store.update_alert(&sent).await.expect("update_alert");
    let mut stale = alert("a-1", 10);
    stale.state = AlertState::Failed;
    stale.version = 2;
    let err = store.update_alert(&stale).await.expect_err("stale alert");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");

    assert_eq!(
        store
            .alerts_in_state(AlertState::Sent, 10)
            .await
            .expect("alerts_in_state"),
        vec![sent]
    );
    assert_eq!(
        store
            .alerts_in_state(AlertState::Pending, 10)
            .await
            .expect("alerts_in_state"),
        vec![alert("a-2", 20), alert("a-3", 30)]
    );
    assert!(
        store
            .alerts_in_state(AlertState::Failed, 10)
            .await
            .expect("alerts_in_state")
            .is_empty()
    );
}

/// One outcome per lead; a later one replaces it.
pub async fn check_outcomes_replace_per_lead(h: &dyn Harness) {
    let store = h.store().await;
    let outcome = |lead: &str, status, amount, secs| Outcome {
        lead_id: lead.to_string(),
        status,
        amount,
        closed_at: at(secs),
    };
    store
        .put_outcome(&outcome("o-1", OutcomeStatus::Won, Some(12_000.0), 100))
        .await
        .expect("put_outcome");
    store
        .put_outcome(&outcome("o-2", OutcomeStatus::Lost, None, 200))
        .await
        .expect("put_outcome");
    store
        .put_outcome(&outcome("o-1", OutcomeStatus::Lost, None, 300))
        .await
        .expect("put_outcome");
    let mut listed = store.list_outcomes().await.expect("list_outcomes");
    listed.sort_by(|a, b| a.lead_id.cmp(&b.lead_id));
    assert_eq!(
        listed,
        vec![
            outcome("o-1", OutcomeStatus::Lost, None, 300),
            outcome("o-2", OutcomeStatus::Lost, None, 200)
        ]
    );
}

fn history(secs: i64, to_band: Band) -> HistoryEntry {
    HistoryEntry {
        at: at(secs),
        from_band: None,
        to_band,
        next_action: NextAction::Nurture,
        composite: 42,
        cause: "new events".into(),
        model_version: "2025.01.01".into(),
    }
}

/// History entries are listed oldest first, one per `at`.
pub async fn check_history_is_idempotent_on_at(h: &dyn Harness) {
    let store = h.store().await;
    create(&*store, &lead_record("h-1", None)).await;
    create(&*store, &lead_record("h-2", None)).await;
    let entries = [
        history(20, Band::Warm),
        history(0, Band::Cold),
        history(10, Band::Warm),
    ];
    for entry in &entries {
        store.add_history("h-1", entry).await.expect("add_history");
    }
    store
        .add_history("h-1", &entries[1])
        .await
        .expect("add_history again");
    store
        .add_history("h-2", &history(5, Band::Hot))
        .await
        .expect("add_history");
    assert_eq!(
        store.list_history("h-1").await.expect("list_history"),
        vec![
            history(0, Band::Cold),
            history(10, Band::Warm),
            history(20, Band::Warm)
        ]
    );
    assert_eq!(
        store.list_history("h-2").await.expect("list_history"),
        vec![history(5, Band::Hot)]
    );
    assert!(
        store
            .list_history("h-3")
            .await
            .expect("list_history")
            .is_empty()
    );
    // no history without its lead: nothing may outlive an erased lead
    let err = store
        .add_history("h-3", &history(1, Band::Hot))
        .await
        .expect_err("history of an unknown lead");
    assert_eq!(
        err,
        StoreError::NotFound {
            what: "lead",
            id: "h-3".into()
        }
    );
    assert!(
        store
            .list_history("h-3")
            .await
            .expect("list_history")
            .is_empty()
    );
}

/// 25 due leads in pages of 10: 3 pages, every due lead once, none that is not due.
pub async fn check_rescore_pages_cover_due_leads_once(h: &dyn Harness) {
    let store = h.store().await;
    let due = at(10_000);
    let mut expected = BTreeSet::new();
    for i in 0..35 {
        let id = format!("r-{i:02}");
        let mut record = lead_record(&id, None);
        record.rescore_at = match i {
            // ties on purpose: five leads share each time; one is due exactly now
            0..25 => Some(due - TimeDelta::seconds((i % 5) as i64 * 60)),
            25..30 => Some(due + TimeDelta::seconds(1 + i as i64)),
            _ => None,
        };
        if i < 25 {
            expected.insert(id);
        }
        create(&*store, &record).await;
    }

    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .leads_due_for_rescore(due, 10, cursor.take())
            .await
            .expect("leads_due_for_rescore");
        assert!(page.ids.len() <= 10, "a page holds at most the limit");
        pages.push(page.ids);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages.len() < 10, "paging terminates");
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 10, 5]);
    let all: Vec<String> = pages.into_iter().flatten().collect();
    let unique: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(unique.len(), all.len(), "no lead twice");
    assert_eq!(unique, expected);

    let none_due = store
        .leads_due_for_rescore(at(0), 10, None)
        .await
        .expect("leads_due_for_rescore");
    assert_eq!(none_due, leadq_pipeline::Page::default());
}

/// A lead with events, history, an outcome and an idempotency record, and another lead.
async fn person_with_everything(store: &dyn LeadStore, id: &str, email_key: &str) -> LeadRecord {
    let mut record = lead_record(id, Some(email_key));
    record.rescore_at = Some(at(60));
    create(store, &record).await;
    let events: Vec<leadq_pipeline::StoredEvent> = (0..30)
        .map(|i| stored(&format!("{id}-e{i}"), EventKind::ALL[i % 4], i as i64))
        .collect();
    let record = with_events(&record, &events);
    store
        .append_events(&record, &events)
        .await
        .expect("append_events");
    store
        .add_history(id, &history(0, Band::Cold))
        .await
        .expect("add_history");
    store
        .add_history(id, &history(10, Band::Warm))
        .await
        .expect("add_history");
    record
}

/// Erasing deletes the lead, its events, history and email lock; a tombstone of the hashed
/// email stays, and so do idempotency records and outcomes (no personal data); erasing
/// again, or an unknown lead, gives `false`.
pub async fn check_erase_removes_the_person_and_keeps_a_tombstone(h: &dyn Harness) {
    let store = h.store().await;
    person_with_everything(&*store, "erase-me", "erase@example.com").await;
    let kept = person_with_everything(&*store, "keep-me", "keep@example.com").await;
    let outcome = Outcome {
        lead_id: "erase-me".into(),
        status: OutcomeStatus::Won,
        amount: Some(5_000.0),
        closed_at: at(50),
    };
    store.put_outcome(&outcome).await.expect("put_outcome");
    assert_eq!(
        store
            .claim_idempotency("req-1", at(0), at(86_400), at(60))
            .await
            .expect("claim"),
        Claim::Claimed
    );
    store
        .complete_idempotency(
            "req-1",
            Some("{\"lead_id\":\"erase-me\"}".into()),
            at(86_400),
        )
        .await
        .expect("complete");

    assert!(
        store
            .erase_lead("erase-me", at(100))
            .await
            .expect("erase_lead"),
        "the lead existed"
    );

    assert_eq!(store.get_lead("erase-me").await.expect("get_lead"), None);
    assert!(
        store
            .list_events("erase-me")
            .await
            .expect("list_events")
            .is_empty()
    );
    assert!(
        store
            .existing_event_ids("erase-me", &["erase-me-e1".to_string()])
            .await
            .expect("existing_event_ids")
            .is_empty()
    );
    assert!(
        store
            .list_history("erase-me")
            .await
            .expect("list_history")
            .is_empty()
    );
    assert_eq!(
        store
            .find_lead_by_email("erase@example.com")
            .await
            .expect("find_lead_by_email"),
        None
    );
    let due = store
        .leads_due_for_rescore(at(1_000), 10, None)
        .await
        .expect("leads_due_for_rescore");
    assert_eq!(
        due.ids,
        vec!["keep-me".to_string()],
        "the erased lead is not due"
    );
    let hash = email_hash("erase@example.com");
    assert_eq!(
        store.find_tombstone(&hash).await.expect("find_tombstone"),
        Some(Tombstone {
            email_hash: hash.clone(),
            lead_id: "erase-me".into(),
            erased_at: at(100),
        })
    );
    assert_eq!(
        store
            .find_tombstone(&email_hash("keep@example.com"))
            .await
            .expect("find_tombstone"),
        None
    );
    assert_eq!(
        store.list_outcomes().await.expect("list_outcomes"),
        vec![outcome],
        "outcomes hold no personal data and stay as training data"
    );
    assert_eq!(
        store
            .claim_idempotency("req-1", at(1), at(86_400), at(60))
            .await
            .expect("claim"),
        Claim::Completed(Some("{\"lead_id\":\"erase-me\"}".into())),
        "idempotency records stay"
    );
    // nothing can be written beside the erased lead
    let err = store
        .add_history("erase-me", &history(20, Band::Hot))
        .await
        .expect_err("history after erasure");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let mut stale = kept.clone();
    stale.lead.id = "erase-me".into();
    stale.email_key = Some("erase@example.com".into());
    stale.version = 3;
    let err = store
        .update_lead(&stale)
        .await
        .expect_err("update after erasure");
    assert!(
        matches!(
            err,
            StoreError::NotFound { .. } | StoreError::Conflict { .. }
        ),
        "{err:?}"
    );
    assert_eq!(store.get_lead("erase-me").await.expect("get_lead"), None);

    // the other person is untouched
    assert_eq!(
        store.get_lead("keep-me").await.expect("get_lead"),
        Some(kept)
    );
    assert_eq!(
        store
            .list_events("keep-me")
            .await
            .expect("list_events")
            .len(),
        30
    );
    assert_eq!(
        store
            .list_history("keep-me")
            .await
            .expect("list_history")
            .len(),
        2
    );
    assert_eq!(
        store
            .find_lead_by_email("keep@example.com")
            .await
            .expect("find_lead_by_email"),
        Some("keep-me".into())
    );

    assert!(
        !store
            .erase_lead("erase-me", at(200))
            .await
            .expect("erase again"),
        "erasing twice gives false"
    );
    assert!(
        !store
            .erase_lead("nobody", at(200))
            .await
            .expect("erase unknown")
    );
    assert_eq!(
        store
            .find_tombstone(&hash)
            .await
            .expect("find_tombstone")
            .map(|t| t.erased_at),
        Some(at(100)),
        "a second erase changes nothing"
    );
    // a lead without an email leaves no tombstone, but is erased all the same
    create(&*store, &lead_record("anon", None)).await;
    assert!(store.erase_lead("anon", at(300)).await.expect("erase anon"));
    assert_eq!(store.get_lead("anon").await.expect("get_lead"), None);
}

/// An alert of `lead_id` in `state`, as the outbox holds it after one write per change.
fn alert_of(lead_id: &str, id: &str, secs: i64, state: AlertState) -> Alert {
    let mut alert = alert(id, secs);
    alert.lead_id = lead_id.to_string();
    alert.payload = format!(r#"{{"text":"{lead_id} of Acme is hot"}}"#);
    if state != AlertState::Pending {
        alert.state = state;
        alert.attempts = 1;
        alert.version = 2;
    }
    alert
}

/// Every alert of a store, all states, sorted by id.
async fn every_alert(store: &dyn LeadStore) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for state in [AlertState::Pending, AlertState::Sent, AlertState::Failed] {
        alerts.extend(
            store
                .alerts_in_state(state, 100)
                .await
                .expect("alerts_in_state"),
        );
    }
    alerts.sort_by(|a, b| a.id.cmp(&b.id));
    alerts
}

/// Erasing a lead deletes its alerts whatever their state (their payloads name the
/// person), leaves other leads' alerts alone, and a deleted alert cannot be written back;
/// an alert enqueued under an erased lead's id is deleted by erasing it again.
pub async fn check_erase_deletes_the_leads_alerts_in_every_state(h: &dyn Harness) {
    let store = h.store().await;
    person_with_everything(&*store, "alerted", "alerted@example.com").await;
    person_with_everything(&*store, "other", "other@example.com").await;
    let states = [AlertState::Pending, AlertState::Sent, AlertState::Failed];
    let mut kept = Vec::new();
    let mut erased = Vec::new();
    for (i, state) in states.into_iter().enumerate() {
        let secs = i as i64 * 10;
        for (lead, out) in [("alerted", &mut erased), ("other", &mut kept)] {
            let stored = alert_of(lead, &format!("{lead}-{i}"), secs, state);
            assert!(
                store
                    .enqueue_alert(&alert_of(lead, &stored.id, secs, AlertState::Pending))
                    .await
                    .expect("enqueue_alert")
            );
            if state != AlertState::Pending {
                store.update_alert(&stored).await.expect("update_alert");
            }
            out.push(stored);
        }
    }
    // an alert with no lead stored, whose id sorts between the two leads' alerts
    let orphan = alert_of("nobody", "nobody-0", 5, AlertState::Pending);
    assert!(store.enqueue_alert(&orphan).await.expect("enqueue_alert"));
    kept.push(orphan);
    kept.sort_by(|a, b| a.id.cmp(&b.id));
    let mut before = kept.clone();
    before.extend(erased.iter().cloned());
    before.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        every_alert(&*store).await,
        before,
        "one alert per state and lead"
    );

    assert!(
        store
            .erase_lead("alerted", at(100))
            .await
            .expect("erase_lead")
    );
    for state in states {
        let left = store
            .alerts_in_state(state, 100)
            .await
            .expect("alerts_in_state");
        assert!(
            left.iter().all(|alert| alert.lead_id != "alerted"),
            "no {state:?} alert of the erased lead: {left:?}"
        );
    }
    assert_eq!(every_alert(&*store).await, kept, "other leads' alerts stay");

    // a deliverer holding a copy cannot write an erased alert back
    for alert in &erased {
        let mut next = alert.clone();
        next.version += 1;
        next.attempts += 1;
        let err = store.update_alert(&next).await.expect_err("erased alert");
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    }
    assert_eq!(every_alert(&*store).await, kept);

    // an alert put under the erased id afterwards (a route that read the lead just
    // before the erase) goes with a second erase, which still finds no lead
    let late = alert_of("alerted", "alerted-late", 50, AlertState::Pending);
    assert!(store.enqueue_alert(&late).await.expect("enqueue_alert"));
    assert!(
        !store
            .erase_lead("alerted", at(200))
            .await
            .expect("erase again")
    );
    assert_eq!(every_alert(&*store).await, kept);
}

/// The erased email can be created again, as a new lead under a new id; erasing that one
/// replaces the tombstone.
pub async fn check_erased_email_can_come_back_as_a_new_lead(h: &dyn Harness) {
    let store = h.store().await;
    person_with_everything(&*store, "first", "back@example.com").await;
    assert!(
        store
            .erase_lead("first", at(100))
            .await
            .expect("erase_lead")
    );

    let again = lead_record("second", Some("back@example.com"));
    create(&*store, &again).await;
    assert_eq!(
        store
            .find_lead_by_email("back@example.com")
            .await
            .expect("find_lead_by_email"),
        Some("second".into())
    );
    assert!(
        store
            .list_events("second")
            .await
            .expect("list_events")
            .is_empty()
    );
    assert_eq!(
        store.get_lead("second").await.expect("get_lead"),
        Some(again)
    );
    // the same id can be used again too (an erased id is free)
    create(
        &*store,
        &lead_record("first", Some("first-again@example.com")),
    )
    .await;

    assert!(
        store
            .erase_lead("second", at(200))
            .await
            .expect("erase_lead")
    );
    let hash = email_hash("back@example.com");
    assert_eq!(
        store.find_tombstone(&hash).await.expect("find_tombstone"),
        Some(Tombstone {
            email_hash: hash,
            lead_id: "second".into(),
            erased_at: at(200),
        })
    );
    assert!(store.get_lead("first").await.expect("get_lead").is_some());
}

/// Writers appending events and history while the lead is erased: once the erase returns
/// and the writers stopped, nothing of the lead is left, and every writer stopped with
/// `NotFound` (none lost an error or wrote beside the erased lead).
pub async fn check_appends_racing_an_erase_leave_nothing_behind(h: &dyn Harness) {
    const WRITERS: usize = 4;
    const CALLS: usize = 12;
    let store = h.store().await;
    create(&*store, &lead_record("racing", Some("racing@example.com"))).await;

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for call in 0..CALLS {
                    let events: Vec<NewEvent> = (0..3)
                        .map(|i| {
                            let n = (writer * CALLS + call) * 3 + i;
                            NewEvent::with_id(
                                format!("w{writer}-{call}-{i}"),
                                Event::new(EventKind::PageView, at(n as i64)),
                            )
                        })
                        .collect();
                    let recorded =
                        record_events(&*store, "racing", &events, at(5_000), &policy()).await;
                    match recorded {
                        Ok(_) => {}
                        Err(StoreError::NotFound { .. }) => return call,
                        Err(other) => panic!("writer {writer}: {other:?}"),
                    }
                    let entry = history((writer * CALLS + call) as i64, Band::Warm);
                    match store.add_history("racing", &entry).await {
                        Ok(()) => {}
                        Err(StoreError::NotFound { .. }) => return call,
                        Err(other) => panic!("writer {writer}: {other:?}"),
                    }
                }
                CALLS
            })
        })
        .collect();

    // let the writers get going, then erase in the middle of their work
    let started = Instant::now();
    while store
        .list_events("racing")
        .await
        .expect("list_events")
        .len()
        < 6
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "writers never wrote"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        store
            .erase_lead("racing", at(6_000))
            .await
            .expect("erase_lead")
    );
    let mut stopped_early = 0;
    for writer in writers {
        if writer.await.expect("writer task") < CALLS {
            stopped_early += 1;
        }
    }

    assert_eq!(store.get_lead("racing").await.expect("get_lead"), None);
    assert_eq!(
        store.list_events("racing").await.expect("list_events"),
        Vec::new(),
        "no event outlives the erase"
    );
    assert_eq!(
        store.list_history("racing").await.expect("list_history"),
        Vec::new(),
        "no history outlives the erase"
    );
    assert_eq!(
        store
            .find_lead_by_email("racing@example.com")
            .await
            .expect("find_lead_by_email"),
        None
    );
    assert!(
        store
            .find_tombstone(&email_hash("racing@example.com"))
            .await
            .expect("find_tombstone")
            .is_some()
    );
    // how many writers the erase interrupted depends on timing; each stopped cleanly
    assert!(stopped_early <= WRITERS);
}

/// A company with every field known.
pub fn full_company(domain: &str, employees: u32) -> CompanyFacts {
    CompanyFacts {
        domain: domain.to_string(),
        name: Some(format!("Company {employees}")),
        industry: Some("software".into()),
        employees: Some(employees),
        revenue_band: Some("10m-50m".into()),
        country: Some("DE".into()),
        tech_stack: Some(vec!["aws".into(), "salesforce".into()]),
        business_model: Some("b2b".into()),
    }
}

/// An empty directory knows no domain, and a text that is no domain finds nothing.
pub async fn check_directory_lookup_of_unknown_is_none(h: &dyn DirectoryHarness) {
    let directory = h.directory().await;
    for domain in ["acme.com", "", "not a domain", "localhost", "https://"] {
        assert_eq!(
            directory.lookup(domain).await.expect("lookup"),
            None,
            "{domain:?}"
        );
    }
    assert_eq!(
        directory
            .upsert(&[full_company("acme.com", 10)])
            .await
            .expect("upsert"),
        1
    );
    assert_eq!(directory.lookup("other.com").await.expect("lookup"), None);
    assert_eq!(directory.lookup("acme.co").await.expect("lookup"), None);
}

/// Domains are normalised on write and on lookup; an upsert replaces the whole company,
/// so a field the new row does not know becomes unknown again.
pub async fn check_directory_upsert_replaces_and_normalises(h: &dyn DirectoryHarness) {
    let directory = h.directory().await;
    let written = directory
        .upsert(&[full_company(" HTTPS://WWW.Acme.com/about ", 250)])
        .await
        .expect("upsert");
    assert_eq!(written, 1);
    for asked in [
        "acme.com",
        "ACME.COM",
        "www.acme.com",
        "http://acme.com:8080/x",
    ] {
        assert_eq!(
            directory.lookup(asked).await.expect("lookup"),
            Some(full_company("acme.com", 250)),
            "{asked}"
        );
    }

    let replacement = CompanyFacts {
        domain: "acme.com".into(),
        name: Some("Acme Corp".into()),
        employees: Some(300),
        ..CompanyFacts::default()
    };
    assert_eq!(
        directory
            .upsert(std::slice::from_ref(&replacement))
            .await
            .expect("upsert"),
        1
    );
    assert_eq!(
        directory.lookup("www.acme.com").await.expect("lookup"),
        Some(replacement)
    );

    // within one batch, the last row of a domain wins; rows without a web domain are
    // left out and not counted
    let written = directory
        .upsert(&[
            full_company("beta.io", 1),
            CompanyFacts {
                domain: "not a domain".into(),
                ..CompanyFacts::default()
            },
            full_company("WWW.beta.io", 2),
        ])
        .await
        .expect("upsert");
    assert_eq!(written, 2);
    assert_eq!(
        directory.lookup("beta.io").await.expect("lookup"),
        Some(full_company("beta.io", 2))
    );
    assert_eq!(
        directory.lookup("not a domain").await.expect("lookup"),
        None
    );
}

/// A company with only its domain comes back with every other field unknown (`None`),
/// never as an empty or zero value; an empty tech stack stays known-empty.
pub async fn check_directory_unknown_fields_stay_unknown(h: &dyn DirectoryHarness) {
    let directory = h.directory().await;
    let bare = CompanyFacts {
        domain: "bare.example".into(),
        ..CompanyFacts::default()
    };
    let some = CompanyFacts {
        domain: "some.example".into(),
        industry: Some("retail".into()),
        employees: Some(0),
        tech_stack: Some(Vec::new()),
        ..CompanyFacts::default()
    };
    directory
        .upsert(&[bare.clone(), some.clone()])
        .await
        .expect("upsert");
    let found = directory
        .lookup("bare.example")
        .await
        .expect("lookup")
        .expect("stored");
    assert_eq!(found, bare);
    assert_eq!(
        (
            &found.name,
            &found.industry,
            found.employees,
            &found.tech_stack
        ),
        (&None, &None, None, &None)
    );
    assert_eq!(
        directory.lookup("some.example").await.expect("lookup"),
        Some(some)
    );
}

/// 60 companies in one upsert (more than two BatchWriteItem chunks of 25), then replaced
/// in part by a second import of 31: every one is found with its latest facts.
pub async fn check_directory_imports_beyond_one_batch(h: &dyn DirectoryHarness) {
    let directory = h.directory().await;
    let first: Vec<CompanyFacts> = (0..60)
        .map(|i| full_company(&format!("company-{i:02}.example"), i))
        .collect();
    assert_eq!(directory.upsert(&first).await.expect("upsert"), 60);
    let second: Vec<CompanyFacts> = (30..61)
        .map(|i| full_company(&format!("company-{i:02}.example"), 1_000 + i))
        .collect();
    assert_eq!(directory.upsert(&second).await.expect("upsert"), 31);
    for i in 0..61 {
        let employees = if i < 30 { i } else { 1_000 + i };
        let domain = format!("company-{i:02}.example");
        assert_eq!(
            directory.lookup(&domain).await.expect("lookup"),
            Some(full_company(&domain, employees)),
            "{domain}"
        );
    }
    assert_eq!(directory.upsert(&[]).await.expect("empty upsert"), 0);
}

// ---------------------------------------------------------------------------------------
// Rep ledger

fn day(n: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2025, 1, n).expect("a January day")
}

const ROOMY: RepCaps = RepCaps {
    max_open_leads: 100,
    max_new_per_day: 100,
};

fn load(open: u32, new_today: u32) -> RepLoad {
    RepLoad { open, new_today }
}

async fn take(
    ledger: &dyn RepLedger,
    rep: &str,
    lead: &str,
    on: chrono::NaiveDate,
    caps: RepCaps,
) -> Take {
    ledger
        .take(rep, lead, on, caps, at(0))
        .await
        .unwrap_or_else(|e| panic!("take {rep} for {lead}: {e}"))
}

/// Taking a slot for a lead twice changes nothing; a lead holds one rep's slot at most.
pub async fn check_ledger_take_is_idempotent_per_lead(h: &dyn LedgerHarness) {
    let ledger = h.ledger().await;
    let ledger = ledger.as_ref();
    assert_eq!(ledger.holder("lead-1").await, Ok(None));
    assert_eq!(ledger.load("ada", day(1)).await, Ok(load(0, 0)));
    assert_eq!(
        take(ledger, "ada", "lead-1", day(1), ROOMY).await,
        Take::Taken(load(1, 1))
    );
    assert_eq!(
        take(ledger, "ada", "lead-1", day(1), ROOMY).await,
        Take::AlreadyHeld(load(1, 1)),
        "a repeat is a no-op"
    );
    assert_eq!(
        take(ledger, "grace", "lead-1", day(1), ROOMY).await,
        Take::HeldByOther("ada".into()),
        "one slot per lead"
    );
    assert_eq!(ledger.load("grace", day(1)).await, Ok(load(0, 0)));
    assert_eq!(ledger.holder("lead-1").await, Ok(Some("ada".into())));
    assert_eq!(
        take(ledger, "ada", "lead-2", day(1), ROOMY).await,
        Take::Taken(load(2, 2))
    );
    // a new day counts new leads from zero; open leads carry over
    assert_eq!(
        take(ledger, "ada", "lead-3", day(2), ROOMY).await,
        Take::Taken(load(3, 1))
    );
    assert_eq!(ledger.load("ada", day(1)).await, Ok(load(3, 2)));
}

/// Reading many reps' loads at once gives each rep's own load on its own day, in the order
/// asked: repeats, reps never given a lead and an empty request included.
pub async fn check_ledger_loads_of_many_reps_equal_each_load(h: &dyn LedgerHarness) {
    let ledger = h.ledger().await;
    let ledger = ledger.as_ref();
    assert_eq!(ledger.loads(&[]).await, Ok(vec![]));
    take(ledger, "ada", "lead-1", day(1), ROOMY).await;
    take(ledger, "ada", "lead-2", day(2), ROOMY).await;
    take(ledger, "grace", "lead-3", day(2), ROOMY).await;
    let asked = [
        ("grace", day(2)),
        ("ada", day(1)),
        ("nobody", day(1)),
        ("ada", day(2)),
        ("ada", day(1)),
        ("grace", day(3)),
    ];
    let mut each = Vec::new();
    for (rep, on) in asked {
        each.push(ledger.load(rep, on).await.expect("one load"));
    }
    assert_eq!(
        each,
        vec![
            load(1, 1),
            load(2, 1),
            load(0, 0),
            load(2, 1),
            load(2, 1),
            load(1, 0)
        ]
    );
    assert_eq!(ledger.loads(&asked).await, Ok(each));
    // more keys than one BatchGetItem takes (100)
    let many: Vec<String> = (0..60).map(|i| format!("rep-{i}")).collect();
    take(ledger, "rep-59", "lead-4", day(1), ROOMY).await;
    let asked: Vec<(&str, chrono::NaiveDate)> = many.iter().map(|r| (r.as_str(), day(1))).collect();
    let loads = ledger.loads(&asked).await.expect("60 loads");
    assert_eq!(loads.len(), 60);
    assert_eq!(loads[59], load(1, 1));
    assert!(loads[..59].iter().all(|l| *l == load(0, 0)));
}

/// A rep at either cap refuses with its load and nothing is written.
pub async fn check_ledger_caps_refuse_without_writing(h: &dyn LedgerHarness) {
    let ledger = h.ledger().await;
    let ledger = ledger.as_ref();
    let open_cap = RepCaps {
        max_open_leads: 2,
        max_new_per_day: 100,
    };
    assert!(matches!(
        take(ledger, "ada", "a1", day(1), open_cap).await,
        Take::Taken(_)
    ));
    assert!(matches!(
        take(ledger, "ada", "a2", day(2), open_cap).await,
        Take::Taken(_)
    ));
    assert_eq!(
        take(ledger, "ada", "a3", day(3), open_cap).await,
        Take::Full(load(2, 0))
    );
    assert_eq!(
        ledger.holder("a3").await,
        Ok(None),
        "a refusal holds nothing"
    );

    let daily_cap = RepCaps {
        max_open_leads: 100,
        max_new_per_day: 1,
    };
    assert!(matches!(
        take(ledger, "grace", "g1", day(1), daily_cap).await,
        Take::Taken(_)
    ));
    assert_eq!(
        take(ledger, "grace", "g2", day(1), daily_cap).await,
        Take::Full(load(1, 1))
    );
    assert_eq!(ledger.load("grace", day(1)).await, Ok(load(1, 1)));
    assert_eq!(
        take(ledger, "grace", "g2", day(2), daily_cap).await,
        Take::Taken(load(2, 1)),
        "the next day has room"
    );

    // a cap of zero (a rep on leave) refuses from the start
    let closed = RepCaps {
        max_open_leads: 0,
        max_new_per_day: 10,
    };
    assert_eq!(
        take(ledger, "linus", "l1", day(1), closed).await,
        Take::Full(load(0, 0))
    );
    assert_eq!(ledger.load("linus", day(1)).await, Ok(load(0, 0)));
}

/// Releasing frees the rep's open slot (not the day's count), once.
pub async fn check_ledger_release_frees_the_open_slot_only(h: &dyn LedgerHarness) {
    let ledger = h.ledger().await;
    let ledger = ledger.as_ref();
    let caps = RepCaps {
        max_open_leads: 1,
        max_new_per_day: 5,
    };
    assert_eq!(ledger.release("nobody").await, Ok(None));
    assert!(matches!(
        take(ledger, "ada", "lead-1", day(1), caps).await,
        Take::Taken(_)
    ));
    assert_eq!(
        take(ledger, "ada", "lead-2", day(1), caps).await,
        Take::Full(load(1, 1))
    );
    assert_eq!(ledger.release("lead-1").await, Ok(Some("ada".into())));
    assert_eq!(ledger.release("lead-1").await, Ok(None), "released once");
    assert_eq!(ledger.holder("lead-1").await, Ok(None));
    assert_eq!(ledger.load("ada", day(1)).await, Ok(load(0, 1)));
    assert_eq!(
        take(ledger, "ada", "lead-2", day(1), caps).await,
        Take::Taken(load(1, 2))
    );
    // the released lead may be given to another rep
    assert_eq!(
        take(ledger, "grace", "lead-1", day(1), caps).await,
        Take::Taken(load(1, 1))
    );
}

/// 50 concurrent takes against a cap of 10: exactly 10 are taken, 40 refused.
pub async fn check_ledger_concurrent_takes_never_overfill(h: &dyn LedgerHarness) {
    let ledger = h.ledger().await;
    let caps = RepCaps {
        max_open_leads: 10,
        max_new_per_day: 100,
    };
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let ledger = Arc::clone(&ledger);
            tokio::spawn(async move {
                ledger
                    .take("ada", &format!("lead-{i}"), day(1), caps, at(0))
                    .await
            })
        })
        .collect();
    let mut taken = Vec::new();
    let mut full = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("task") {
            Ok(Take::Taken(l)) => {
                assert!(l.open <= 10 && l.new_today <= 10, "{l:?}");
                taken.push(format!("lead-{i}"));
            }
            Ok(Take::Full(l)) => {
                assert!(l.open <= 10, "{l:?}");
                full += 1;
            }
            other => panic!("lead-{i}: {other:?}"),
        }
    }
    assert_eq!((taken.len(), full), (10, 40));
    assert_eq!(ledger.load("ada", day(1)).await, Ok(load(10, 10)));
    for lead in &taken {
        assert_eq!(ledger.holder(lead).await, Ok(Some("ada".into())), "{lead}");
    }
}

/// Concurrent takes of one lead (a redelivered message racing itself) take one slot.
pub async fn check_ledger_concurrent_takes_of_one_lead_take_once(h: &dyn LedgerHarness) {
    let ledger = h.ledger().await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let ledger = Arc::clone(&ledger);
            tokio::spawn(async move { ledger.take("ada", "lead-1", day(1), ROOMY, at(0)).await })
        })
        .collect();
    let mut taken = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(Take::Taken(_)) => taken += 1,
            Ok(Take::AlreadyHeld(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(taken, 1);
    assert_eq!(ledger.load("ada", day(1)).await, Ok(load(1, 1)));
}

// ---------------------------------------------------------------------------------------
// The route stage over an adapter's store and ledger

/// Routing rules of [`check_concurrent_routes_never_overfill_a_rep`]: one team, ada
/// (10 open leads at most) and grace (15), least loaded, a fallback queue.
pub const ROUTE_RULES: &str = r#"
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
max_open_leads = 15
max_new_per_day = 100
"#;

/// A lead of a software company, scored hot with next action `sales_now`.
pub fn hot_software_lead(id: &str) -> LeadRecord {
    let email = format!("{id}@acme.example");
    let mut record = lead_record(id, Some(&email));
    record.lead.company.industry = Some("software".into());
    let mut card = leadq_scoring::ScoreCard::empty();
    card.lead_id = id.to_string();
    card.scored_at = at(0);
    card.composite = 90;
    card.band = Band::Hot;
    card.next_action = NextAction::SalesNow;
    record.card = Some(card);
    record
}

/// 50 hot leads routed at once: exactly 10 to ada (her cap), 15 to grace, 25 to the
/// fallback queue; a second pass (redelivery) changes nothing.
pub async fn check_concurrent_routes_never_overfill_a_rep(
    store: Arc<dyn LeadStore>,
    ledger: Arc<dyn RepLedger>,
) {
    use leadq_pipeline::alerts::{AlertConfig, HttpNotifier};
    use leadq_pipeline::routing::{Assignee, RoutingConfig};
    use leadq_pipeline::stages::{AssignmentChange, RouteContext, route_lead};

    for i in 0..50 {
        create(store.as_ref(), &hot_software_lead(&format!("hot-{i:02}"))).await;
    }
    let routing = Arc::new(RoutingConfig::from_toml(ROUTE_RULES).expect("valid rules"));
    let alerts = Arc::new(AlertConfig::default());
    let notifier = Arc::new(HttpNotifier::new(&alerts.delivery).expect("an HTTP client"));
    let route = |i: usize| {
        let (store, ledger, routing, alerts, notifier) = (
            Arc::clone(&store),
            Arc::clone(&ledger),
            Arc::clone(&routing),
            Arc::clone(&alerts),
            Arc::clone(&notifier),
        );
        tokio::spawn(async move {
            let context = RouteContext {
                ledger: ledger.as_ref(),
                routing: routing.as_ref(),
                alerts: alerts.as_ref(),
                notifier: notifier.as_ref(),
            };
            route_lead(
                store.as_ref(),
                &context,
                &format!("hot-{i:02}"),
                at(60),
                &policy(),
            )
            .await
        })
    };
    let mut counts: BTreeMap<Assignee, usize> = BTreeMap::new();
    let tasks: Vec<_> = (0..50).map(route).collect();
    for task in tasks {
        let outcome = task.await.expect("task").expect("route_lead");
        let assignee = outcome.assignment.expect("assigned somewhere").assignee;
        *counts.entry(assignee).or_insert(0) += 1;
    }
    let expected = BTreeMap::from([
        (Assignee::Rep("ada".into()), 10),
        (Assignee::Rep("grace".into()), 15),
        (Assignee::Queue("unassigned".into()), 25),
    ]);
    assert_eq!(counts, expected);
    let day = at(60).date_naive();
    assert_eq!(ledger.load("ada", day).await.expect("load").open, 10);
    assert_eq!(ledger.load("grace", day).await.expect("load").open, 15);

    // every message redelivered: nothing changes
    let tasks: Vec<_> = (0..50).map(route).collect();
    for task in tasks {
        let outcome = task.await.expect("task").expect("route_lead");
        assert_eq!(outcome.change, AssignmentChange::Kept);
    }
    assert_eq!(ledger.load("ada", day).await.expect("load").open, 10);
    assert_eq!(ledger.load("grace", day).await.expect("load").open, 15);
    // the stored assignments agree with the ledger
    for i in 0..50 {
        let id = format!("hot-{i:02}");
        let stored = store.get_lead(&id).await.expect("get_lead").expect("lead");
        let rep = stored
            .assignment
            .as_ref()
            .and_then(|a| a.rep().map(str::to_string));
        assert_eq!(ledger.holder(&id).await.expect("holder"), rep, "{id}");
    }
}

/// Erasing a lead frees the rep slot it held (store and ledger share the backend).
pub async fn check_erase_frees_the_rep_slot(store: Arc<dyn LeadStore>, ledger: Arc<dyn RepLedger>) {
    let record = hot_software_lead("erased");
    create(store.as_ref(), &record).await;
    let taken = take(ledger.as_ref(), "ada", "erased", day(1), ROOMY).await;
    assert_eq!(taken, Take::Taken(load(1, 1)));
    assert_eq!(store.erase_lead("erased", at(10)).await, Ok(true));
    assert_eq!(ledger.holder("erased").await, Ok(None));
    assert_eq!(
        ledger.load("ada", day(1)).await,
        Ok(load(0, 1)),
        "the slot is free; the day's count stays"
    );
    // erasing again finds nothing, frees nothing more
    assert_eq!(store.erase_lead("erased", at(11)).await, Ok(false));
    assert_eq!(ledger.load("ada", day(1)).await, Ok(load(0, 1)));
}
