//! DynamoDB/SQS adapter checks beyond the contract suite, on the emulator: the table's
//! schema, what the items look like, email-key moves, erasure (batched, resumable), SQS batching as calls,
//! failure paths (server gone, server stuck) and the cost of a new lead.

use chrono::Duration as TimeDelta;
use leadq_aws::table::{self, GSI1, GSI2, Item, TTL, item_size, write_units};
use leadq_aws::{DynamoStore, SqsQueue, StoreConfig, Timeouts};
use leadq_pipeline::envelope::MAX_MESSAGE_BYTES;
use leadq_pipeline::{
    Claim, Created, Envelope, HistoryEntry, LeadStore, QueueError, Stage, StoreError, StoredEvent,
    WorkQueue, email_hash,
};
use leadq_scoring::{Band, Event, EventKind, Model, NextAction, Outcome, OutcomeStatus};
use leadq_tests::contract::{at, lead_record};
use leadq_tests::emulator::{Moto, MotoProcess};
use std::time::{Duration, Instant};

fn count(calls: &std::collections::BTreeMap<String, usize>, operation: &str) -> usize {
    calls
        .iter()
        .filter(|(target, _)| target.ends_with(&format!(".{operation}")))
        .map(|(_, n)| n)
        .sum()
}

async fn store(moto: &Moto) -> DynamoStore {
    moto.dynamo_store().await.expect("a fresh table")
}

async fn raw_item(store: &DynamoStore, pk: &str, sk: &str) -> Option<Item> {
    store
        .client()
        .get_item()
        .table_name(store.table_name())
        .set_key(Some(table::key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .expect("get_item")
        .item
}

fn event(id: &str, kind: EventKind, secs: i64) -> StoredEvent {
    StoredEvent {
        event_id: id.to_string(),
        event: Event::new(kind, at(secs)),
        received_at: at(secs + 1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_has_the_designed_keys_indexes_and_ttl() {
    let moto = Moto::shared();
    let store = store(&moto).await;
    let client = store.client();
    let described = client
        .describe_table()
        .table_name(store.table_name())
        .send()
        .await
        .expect("describe_table")
        .table
        .expect("a table");
    let keys: Vec<(String, String)> = described
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_string(),
                k.key_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())]
    );
    let mut indexes: Vec<(String, Vec<String>, String)> = described
        .global_secondary_indexes()
        .iter()
        .map(|gsi| {
            (
                gsi.index_name().unwrap_or_default().to_string(),
                gsi.key_schema()
                    .iter()
                    .map(|k| k.attribute_name().to_string())
                    .collect(),
                gsi.projection()
                    .and_then(|p| p.projection_type())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    indexes.sort();
    assert_eq!(
        indexes,
        [
            (
                GSI1.into(),
                vec!["gsi1pk".into(), "gsi1sk".into()],
                "ALL".into()
            ),
            (
                GSI2.into(),
                vec!["gsi2pk".into(), "gsi2sk".into()],
                "KEYS_ONLY".into()
            ),
        ]
    );
    let ttl = client
        .describe_time_to_live()
        .table_name(store.table_name())
        .send()
        .await
        .expect("describe_time_to_live")
        .time_to_live_description
        .expect("a TTL description");
    assert_eq!(ttl.attribute_name(), Some(TTL));
    assert_eq!(
        ttl.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_laid_out_as_designed() {
    let moto = Moto::shared();
    let store = store(&moto).await;
    let mut record = lead_record("lead-1", Some("ada@example.com"));
    assert_eq!(
        store.create_lead(&record).await.expect("create_lead"),
        Created::New
    );
    let lock = raw_item(&store, "EMAIL#ada@example.com", "EMAIL")
        .await
        .expect("the email lock");
    assert_eq!(
        lock.get("lead_id")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some("lead-1")
    );
    let lead = raw_item(&store, "LEAD#lead-1", "LEAD")
        .await
        .expect("the lead item");
    assert!(
        !lead.contains_key("gsi2pk"),
        "not due for rescore: not in the index"
    );

    record.version = 2;
    record.rescore_at = Some(at(3_600));
    store.update_lead(&record).await.expect("update_lead");
    let lead = raw_item(&store, "LEAD#lead-1", "LEAD")
        .await
        .expect("the lead item");
    let shard = table::rescore_gsi_pk(table::rescore_shard("lead-1"));
    assert_eq!(lead.get("gsi2pk").and_then(|v| v.as_s().ok()), Some(&shard));
    assert_eq!(
        lead.get("gsi2sk")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some("2025-01-01T01:00:00.000000000Z#lead-1")
    );

    // idempotency records carry the TTL in epoch seconds and the times in nanoseconds
    let claimed = store
        .claim_idempotency("req", at(0), at(86_400), at(60))
        .await
        .expect("claim");
    assert_eq!(claimed, Claim::Claimed);
    let idem = raw_item(&store, "IDEM#req", "IDEM")
        .await
        .expect("the record");
    let number = |name: &str| idem.get(name).and_then(|v| v.as_n().ok()).cloned();
    assert_eq!(number(TTL), Some(at(86_400).timestamp().to_string()));
    assert_eq!(
        number("expiration"),
        Some((at(86_400).timestamp() * 1_000_000_000).to_string())
    );
    assert_eq!(
        idem.get("status")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some("IN_PROGRESS")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_refusals_map_to_the_port_errors() {
    let moto = Moto::shared();
    let store = store(&moto).await;

    // updating a lead that was never created: NotFound (the condition failed on no item)
    let mut ghost = lead_record("ghost", None);
    ghost.version = 2;
    let err = store.update_lead(&ghost).await.expect_err("no such lead");
    assert_eq!(
        err,
        StoreError::NotFound {
            what: "lead",
            id: "ghost".into()
        }
    );

    // a stale version and a duplicate event at once: the version is reported first
    let v1 = lead_record("lead-d", None);
    store.create_lead(&v1).await.expect("create_lead");
    let mut v2 = v1.clone();
    v2.version = 2;
    let first = [event("e-1", EventKind::PageView, 10)];
    store
        .append_events(&v2, &first)
        .await
        .expect("append_events");
    let both = [
        event("e-2", EventKind::Webinar, 20),
        event("e-1", EventKind::PageView, 10),
    ];
    let err = store
        .append_events(&v2, &both)
        .await
        .expect_err("stale and duplicate");
    assert_eq!(
        err,
        StoreError::Conflict {
            lead_id: "lead-d".into(),
            expected: 1
        }
    );
    let mut v3 = v2.clone();
    v3.version = 3;
    let err = store
        .append_events(&v3, &both)
        .await
        .expect_err("duplicate");
    assert_eq!(
        err,
        StoreError::DuplicateEvent {
            lead_id: "lead-d".into(),
            event_id: "e-1".into()
        }
    );
    // the same id twice in one call never reaches the service
    let twice = [
        event("e-9", EventKind::PageView, 1),
        event("e-9", EventKind::PageView, 2),
    ];
    let err = store
        .append_events(&v3, &twice)
        .await
        .expect_err("duplicate within the call");
    assert!(
        matches!(err, StoreError::DuplicateEvent { ref event_id, .. } if event_id == "e-9"),
        "{err:?}"
    );
    // more than a transaction holds
    let many: Vec<StoredEvent> = (0..100)
        .map(|i| event(&format!("m-{i}"), EventKind::PageView, i))
        .collect();
    let err = store.append_events(&v3, &many).await.expect_err("too many");
    assert!(
        matches!(&err, StoreError::Backend { operation: "append_events", message } if message.contains("99")),
        "{err:?}"
    );
    assert_eq!(
        store
            .list_events("lead-d")
            .await
            .expect("list_events")
            .len(),
        1
    );

    // set_active_model on an unknown version: the ConditionCheck cancels the transaction
    let err = store
        .set_active_model("nope")
        .await
        .expect_err("unknown version");
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "model version",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_email_key_moves_the_lock() {
    let moto = Moto::shared();
    let store = store(&moto).await;
    store
        .create_lead(&lead_record("a", Some("a@example.com")))
        .await
        .expect("create a");
    store
        .create_lead(&lead_record("b", Some("b@example.com")))
        .await
        .expect("create b");
    let no_email = lead_record("c", None);
    store.create_lead(&no_email).await.expect("create c");

    let mut a2 = lead_record("a", Some("a.new@example.com"));
    a2.version = 2;
    let events = [event("e-1", EventKind::PricingView, 5)];
    store
        .append_events(&a2, &events)
        .await
        .expect("append with a new email key");
    assert_eq!(
        store
            .find_lead_by_email("a.new@example.com")
            .await
            .expect("find"),
        Some("a".into())
    );
    assert_eq!(
        store
            .find_lead_by_email("a@example.com")
            .await
            .expect("find"),
        None
    );
    assert_eq!(store.list_events("a").await.expect("list_events").len(), 1);

    // taking a key another lead holds is refused, naming the holder; nothing changes
    let mut a3 = a2.clone();
    a3.version = 3;
    a3.email_key = Some("b@example.com".into());
    let err = store.update_lead(&a3).await.expect_err("b's key");
    assert!(
        matches!(&err, StoreError::Backend { operation: "update_lead", message } if message.contains("lead b")),
        "{err:?}"
    );
    assert_eq!(store.get_lead("a").await.expect("get_lead"), Some(a2));

    // a lead without a key gets one
    let mut c2 = no_email.clone();
    c2.version = 2;
    c2.email_key = Some("c@example.com".into());
    store.update_lead(&c2).await.expect("update_lead");
    assert_eq!(
        store
            .find_lead_by_email("c@example.com")
            .await
            .expect("find"),
        Some("c".into())
    );
    assert_eq!(
        store
            .create_lead(&lead_record("d", Some("c@example.com")))
            .await
            .expect("create"),
        Created::Existing("c".into())
    );
}

/// A lead with 60 events in three appends, one history entry and an outcome.
async fn lead_with_60_events(store: &DynamoStore, id: &str, email: &str) {
    let mut record = lead_record(id, Some(email));
    record.rescore_at = Some(at(3_600));
    store.create_lead(&record).await.expect("create_lead");
    for chunk in 0..3 {
        let events: Vec<StoredEvent> = (0..20)
            .map(|i| {
                event(
                    &format!("e-{chunk}-{i}"),
                    EventKind::PageView,
                    chunk * 100 + i,
                )
            })
            .collect();
        record.version += 1;
        store
            .append_events(&record, &events)
            .await
            .expect("append_events");
    }
    let entry = HistoryEntry {
        at: at(5),
        from_band: None,
        to_band: Band::Warm,
        next_action: NextAction::SdrReview,
        composite: 61,
        cause: "new lead".into(),
        model_version: "v1".into(),
    };
    store.add_history(id, &entry).await.expect("add_history");
    let outcome = Outcome {
        lead_id: id.into(),
        status: OutcomeStatus::Lost,
        amount: None,
        closed_at: at(9),
    };
    store.put_outcome(&outcome).await.expect("put_outcome");
}

async fn assert_erased(store: &DynamoStore, id: &str, email: &str) {
    assert_eq!(store.get_lead(id).await.expect("get_lead"), None);
    assert!(
        raw_item(store, &table::lead_pk(id), "LEAD").await.is_none(),
        "lead item deleted"
    );
    assert!(store.list_events(id).await.expect("list_events").is_empty());
    assert!(
        store
            .list_history(id)
            .await
            .expect("list_history")
            .is_empty()
    );
    assert_eq!(store.find_lead_by_email(email).await.expect("find"), None);
    assert!(
        raw_item(store, &table::email_pk(email), "EMAIL")
            .await
            .is_none(),
        "email lock deleted"
    );
    let tombstone = raw_item(
        store,
        &table::tombstone_pk(&email_hash(email)),
        table::TOMBSTONE_SK,
    )
    .await
    .expect("a tombstone item");
    assert_eq!(
        tombstone
            .get("lead_id")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some(id)
    );
    let text = format!("{tombstone:?}");
    assert!(!text.contains(email), "no email in clear: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_lead_deletes_in_batches_of_25_and_keeps_outcomes() {
    let moto = Moto::shared();
    let store = store(&moto).await;
    lead_with_60_events(&store, "gone", "gone@example.com").await;
    lead_with_60_events(&store, "kept", "kept@example.com").await;

    moto.calls().reset();
    assert!(store.erase_lead("gone", at(100)).await.expect("erase_lead"));
    let calls = moto.calls().snapshot();
    // 60 events + 1 history entry = 25 + 25 + 11
    assert_eq!(count(&calls, "BatchWriteItem"), 3, "{calls:?}");
    assert_eq!(
        count(&calls, "UpdateItem"),
        1,
        "the erasing mark: {calls:?}"
    );
    assert_eq!(
        count(&calls, "TransactWriteItems"),
        1,
        "lead + lock + tombstone: {calls:?}"
    );
    assert_erased(&store, "gone", "gone@example.com").await;
    assert_eq!(
        store.list_outcomes().await.expect("list_outcomes").len(),
        2,
        "outcomes stay"
    );
    assert!(
        store.get_lead("kept").await.expect("get_lead").is_some(),
        "other leads stay"
    );
    assert_eq!(
        store.list_events("kept").await.expect("list_events").len(),
        60
    );
    assert!(
        !store
            .erase_lead("gone", at(200))
            .await
            .expect("erasing again")
    );
}

/// The erasing mark as a crashed erase left it (step 1 done, nothing else).
async fn mark_as_crashed(store: &DynamoStore, id: &str) {
    store
        .client()
        .update_item()
        .table_name(store.table_name())
        .set_key(Some(table::key(table::lead_pk(id), "LEAD")))
        .update_expression("SET #erasing = :at, #version = #version + :one REMOVE #g2pk, #g2sk")
        .expression_attribute_names("#erasing", table::ERASING)
        .expression_attribute_names("#g2pk", table::GSI2_PK)
        .expression_attribute_names("#g2sk", table::GSI2_SK)
        .expression_attribute_names("#version", "version")
        .expression_attribute_values(":at", table::s(table::ts_key(at(50))))
        .expression_attribute_values(":one", table::n(1))
        .send()
        .await
        .expect("mark");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_erase_hides_the_lead_and_a_retry_finishes_it() {
    let moto = Moto::shared();
    let store = store(&moto).await;
    lead_with_60_events(&store, "half", "half@example.com").await;
    let before = store
        .get_lead("half")
        .await
        .expect("get_lead")
        .expect("lead");

    // crashed after step 1 and part of step 2: marked, 25 events deleted
    mark_as_crashed(&store, "half").await;
    let some: Vec<StoredEvent> = store.list_events("half").await.expect("list_events");
    for stored in some.iter().take(25) {
        store
            .client()
            .delete_item()
            .table_name(store.table_name())
            .set_key(Some(table::key(
                table::lead_pk("half"),
                table::event_sk(&stored.event_id),
            )))
            .send()
            .await
            .expect("delete_item");
    }
    assert_eq!(
        store.get_lead("half").await.expect("get_lead"),
        None,
        "marked = gone"
    );
    // a writer holding the lead from before the mark, or forging the marked version,
    // finds the lead gone and writes nothing; history cannot be added
    let mut late = before.clone();
    late.version += 1;
    let err = store
        .append_events(&late, &[event("late", EventKind::DemoRequest, 999)])
        .await
        .expect_err("append after the mark");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(
        raw_item(&store, &table::lead_pk("half"), &table::event_sk("late"))
            .await
            .is_none()
    );
    let mut forged = before.clone();
    forged.version += 2;
    let err = store
        .update_lead(&forged)
        .await
        .expect_err("write over the mark");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let err = store
        .add_history(
            "half",
            &HistoryEntry {
                at: at(77),
                from_band: None,
                to_band: Band::Hot,
                next_action: NextAction::SalesNow,
                composite: 90,
                cause: "late".into(),
                model_version: "v1".into(),
            },
        )
        .await
        .expect_err("history after the mark");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let due = store
        .leads_due_for_rescore(at(10_000), 10, None)
        .await
        .expect("due");
    assert!(due.ids.is_empty(), "a marked lead is not due: {due:?}");

    // the retry finishes the job
    assert!(store.erase_lead("half", at(100)).await.expect("retry"));
    assert_erased(&store, "half", "half@example.com").await;
    let due = store
        .leads_due_for_rescore(at(10_000), 10, None)
        .await
        .expect("due");
    assert!(due.ids.is_empty(), "{due:?}");
    assert_eq!(
        store
            .find_tombstone(&email_hash("half@example.com"))
            .await
            .expect("find_tombstone")
            .map(|t| t.erased_at),
        Some(at(100))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_event_ids_reads_only_the_asked_keys() {
    let moto = Moto::shared();
    let store = store(&moto).await;
    let mut record = lead_record("lead-x", None);
    store.create_lead(&record).await.expect("create_lead");
    record.version = 2;
    let events: Vec<StoredEvent> = (0..30)
        .map(|i| event(&format!("e-{i}"), EventKind::PageView, i))
        .collect();
    store
        .append_events(&record, &events)
        .await
        .expect("append_events");
    let asked: Vec<String> = (25..140).map(|i| format!("e-{i}")).collect();
    moto.calls().reset();
    let found = store
        .existing_event_ids("lead-x", &asked)
        .await
        .expect("existing_event_ids");
    let mut found: Vec<String> = found.into_iter().collect();
    found.sort();
    assert_eq!(found, ["e-25", "e-26", "e-27", "e-28", "e-29"]);
    let calls = moto.calls().snapshot();
    assert_eq!(
        count(&calls, "BatchGetItem"),
        2,
        "115 keys = 100 + 15: {calls:?}"
    );
    assert_eq!(
        count(&calls, "Query"),
        0,
        "no listing of every event: {calls:?}"
    );
}

fn envelope(i: usize) -> Envelope {
    Envelope::new(
        Stage::Enrich,
        format!("lead-{i}"),
        format!("trace-{i}"),
        at(i as i64),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_sends_in_batches_of_10_and_refuses_oversize_before_sending() {
    let moto = Moto::shared();
    let queue = moto.sqs_queue().await.expect("fresh queues");
    let sent: Vec<Envelope> = (0..25).map(envelope).collect();
    moto.calls().reset();
    queue.send(Stage::Enrich, &sent).await.expect("send");
    assert_eq!(
        count(&moto.calls().snapshot(), "SendMessageBatch"),
        3,
        "25 = 10 + 10 + 5"
    );

    moto.calls().reset();
    let got = queue
        .receive(Stage::Enrich, 25, Duration::from_secs(30))
        .await
        .expect("receive");
    assert_eq!(got.len(), 25, "receive loops past 10 per call");
    assert!(count(&moto.calls().snapshot(), "ReceiveMessage") >= 3);
    for delivery in &got {
        queue
            .ack(Stage::Enrich, &delivery.receipt)
            .await
            .expect("ack");
    }

    moto.calls().reset();
    let huge = Envelope::new(Stage::Enrich, "x".repeat(MAX_MESSAGE_BYTES), "t", at(0));
    let err = queue
        .send(Stage::Enrich, &[envelope(1), envelope(2), huge])
        .await
        .expect_err("too large");
    assert!(
        matches!(
            err,
            QueueError::TooLarge {
                limit: MAX_MESSAGE_BYTES,
                ..
            }
        ),
        "{err:?}"
    );
    let err = queue
        .send_raw(Stage::Enrich, &"y".repeat(MAX_MESSAGE_BYTES + 1))
        .await
        .expect_err("too large");
    assert!(matches!(err, QueueError::TooLarge { .. }), "{err:?}");
    let calls = moto.calls().snapshot();
    assert_eq!(
        count(&calls, "SendMessageBatch") + count(&calls, "SendMessage"),
        0,
        "{calls:?}"
    );

    // a body just under the limit goes through (alone in its batch)
    let big_id = "z".repeat(MAX_MESSAGE_BYTES - 200);
    let big = Envelope::new(Stage::Enrich, big_id.clone(), "t", at(0));
    assert!(big.to_json().len() <= MAX_MESSAGE_BYTES);
    queue
        .send(Stage::Enrich, &[envelope(3), big])
        .await
        .expect("send");
    let got = queue
        .receive(Stage::Enrich, 10, Duration::from_secs(30))
        .await
        .expect("receive");
    assert_eq!(got.len(), 2);
    assert!(got.iter().any(|d| d.body.contains(&big_id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_inspected_without_taking_them() {
    let moto = Moto::shared();
    let queue = moto.sqs_queue().await.expect("fresh queues");
    queue
        .send_raw(Stage::Score, "poison")
        .await
        .expect("send_raw");
    for round in 1..=leadq_tests::emulator::MAX_RECEIVE_COUNT {
        let got = queue
            .receive(Stage::Score, 1, Duration::from_secs(30))
            .await
            .expect("receive");
        assert_eq!(got.len(), 1, "round {round}");
        assert_eq!(got[0].receive_count, round);
        queue
            .fail(Stage::Score, &got[0].receipt)
            .await
            .expect("fail");
    }
    // the next receive finds the count exhausted and redrives it to the DLQ
    assert!(
        queue
            .receive(Stage::Score, 1, Duration::from_secs(30))
            .await
            .expect("receive")
            .is_empty()
    );
    let first = queue
        .dead_letters(Stage::Score, 10)
        .await
        .expect("dead_letters");
    let second = queue
        .dead_letters(Stage::Score, 10)
        .await
        .expect("dead_letters");
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1, "inspection leaves the message in the DLQ");
    assert_eq!(first[0].message_id, second[0].message_id);
    assert_eq!(first[0].body, "poison");
}

/// Timeouts a test of a failing endpoint can wait out.
fn fail_fast() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        attempt: Duration::from_secs(1),
        operation: Duration::from_secs(3),
        max_attempts: 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_emulator_fails_calls_fast_naming_the_operation() {
    let mut private = MotoProcess::start().expect("a private moto_server");
    // set up with the usual timeouts (a fresh moto's first calls of a service can be
    // slow under load, and a creation retried after a slow first attempt would find its
    // own table and fail); only the calls after the stop need failing fast
    let usual = Moto::on(private.endpoint());
    let setup = usual.dynamo_store().await.expect("a table");
    let queues = usual.queue_config(&usual.sqs()).await.expect("queues");
    setup
        .create_lead(&lead_record("lead-1", None))
        .await
        .expect("create_lead while up");
    let moto = Moto::on(private.endpoint()).with_timeouts(fail_fast());
    let store = DynamoStore::new(
        moto.dynamodb(),
        StoreConfig {
            table_name: setup.table_name().to_string(),
            event_retention: None,
        },
    );
    let queue = SqsQueue::new(moto.sqs(), queues);

    private.stop();

    let started = Instant::now();
    let err = store.get_lead("lead-1").await.expect_err("server gone");
    let elapsed = started.elapsed();
    println!("server gone after {elapsed:?}: {err}");
    assert!(
        elapsed < fail_fast().operation + Duration::from_secs(2),
        "took {elapsed:?}"
    );
    match &err {
        StoreError::Backend { operation, message } => {
            assert_eq!(*operation, "get_lead");
            assert!(
                message.contains("dispatch failure") || message.contains("connect"),
                "{message}"
            );
        }
        other => panic!("expected Backend, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("get_lead: storage backend failed"),
        "{err}"
    );

    let mut record = lead_record("lead-1", None);
    record.version = 2;
    let err = store
        .append_events(&record, &[event("e", EventKind::PageView, 1)])
        .await
        .expect_err("server gone");
    assert!(
        matches!(
            err,
            StoreError::Backend {
                operation: "append_events",
                ..
            }
        ),
        "{err:?}"
    );

    let started = Instant::now();
    let err = queue
        .send(Stage::Enrich, &[envelope(1)])
        .await
        .expect_err("server gone");
    assert!(started.elapsed() < fail_fast().operation + Duration::from_secs(2));
    assert!(
        matches!(
            err,
            QueueError::Backend {
                operation: "send",
                ..
            }
        ),
        "{err:?}"
    );
    let err = queue
        .receive(Stage::Enrich, 1, Duration::from_secs(1))
        .await
        .expect_err("server gone");
    assert!(
        matches!(
            err,
            QueueError::Backend {
                operation: "receive",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_endpoint_times_out_instead_of_hanging() {
    // accepts connections and never answers
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
    let holder = std::thread::spawn(move || {
        let mut open = Vec::new();
        let _ = listener.set_nonblocking(true);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            match listener.accept() {
                Ok((stream, _)) => open.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let moto = Moto::on(&endpoint).with_timeouts(fail_fast());
    let store = DynamoStore::new(
        moto.dynamodb(),
        leadq_aws::StoreConfig {
            table_name: "never".into(),
            event_retention: None,
        },
    );
    let started = Instant::now();
    let err = store.get_lead("x").await.expect_err("no answer");
    let elapsed = started.elapsed();
    println!("stuck endpoint after {elapsed:?}: {err}");
    assert!(
        elapsed < fail_fast().operation + Duration::from_secs(2),
        "took {elapsed:?}"
    );
    match &err {
        StoreError::Backend { operation, message } => {
            assert_eq!(*operation, "get_lead");
            assert!(
                message.contains("timeout") || message.contains("timed out"),
                "{message}"
            );
        }
        other => panic!("expected Backend, got {other:?}"),
    }
    drop(holder);
}

/// Calls and write units of a new lead: create, append N events, update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_of_a_new_lead() {
    const N: usize = 10;
    let moto = Moto::shared();
    let store = store(&moto).await;
    let mut record = lead_record("cost-1", Some("cost@example.com"));

    moto.calls().reset();
    assert_eq!(
        store.create_lead(&record).await.expect("create_lead"),
        Created::New
    );
    let create_calls = moto.calls().snapshot();

    let events: Vec<StoredEvent> = (0..N)
        .map(|i| {
            let mut e = event(
                &format!("evt-{i:03}"),
                EventKind::ALL[i % EventKind::ALL.len()],
                i as i64 * 60,
            );
            e.event
                .properties
                .insert("page".into(), format!("/pricing?ref={i}"));
            e
        })
        .collect();
    record.version = 2;
    for e in &events {
        record.aggregates.add(&e.event);
    }
    moto.calls().reset();
    store
        .append_events(&record, &events)
        .await
        .expect("append_events");
    let append_calls = moto.calls().snapshot();

    let now = at(3_600);
    let stored: Vec<Event> = events.iter().map(|e| e.event.clone()).collect();
    record.version = 3;
    record.card = Some(leadq_scoring::score(
        &record.lead,
        &stored,
        &Model::default_model(),
        now,
    ));
    record.rescore_at = Some(now + TimeDelta::days(7));
    record.updated_at = now;
    moto.calls().reset();
    store.update_lead(&record).await.expect("update_lead");
    let update_calls = moto.calls().snapshot();

    let fresh = lead_record("cost-1", Some("cost@example.com"));
    let lead_item = store.lead_item(&fresh).expect("lead item");
    let lock_item = DynamoStore::email_lock_item("cost@example.com", "cost-1");
    let event_items: Vec<Item> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            store
                .event_item("cost-1", e, 2_000 + i as u64)
                .expect("event item")
        })
        .collect();
    let mut appended = record.clone();
    appended.card = None;
    appended.rescore_at = None;
    appended.version = 2;
    let lead_after_append = store.lead_item(&appended).expect("lead item");
    let scored_item = store.lead_item(&record).expect("lead item");

    let create_wcu = write_units(&lead_item, true) + write_units(&lock_item, true);
    let append_wcu: usize = event_items
        .iter()
        .map(|i| write_units(i, true))
        .sum::<usize>()
        + write_units(&lead_after_append, true);
    // the update also writes the lead into the KEYS_ONLY rescore index: 1 WCU
    let update_wcu = write_units(&scored_item, false) + 1;
    let event_sizes: Vec<usize> = event_items.iter().map(item_size).collect();
    println!(
        "cost of a new lead with {N} events:\n\
         create_lead:   {create_calls:?}, items {} B (lead) + {} B (lock) -> {create_wcu} WCU\n\
         append_events: {append_calls:?}, events {}-{} B each + lead {} B -> {append_wcu} WCU\n\
         update_lead:   {update_calls:?}, scored lead {} B -> {update_wcu} WCU (incl. 1 for gsi2)\n\
         total: {} calls, {} WCU",
        item_size(&lead_item),
        item_size(&lock_item),
        event_sizes.iter().min().unwrap_or(&0),
        event_sizes.iter().max().unwrap_or(&0),
        item_size(&lead_after_append),
        item_size(&scored_item),
        [&create_calls, &append_calls, &update_calls]
            .iter()
            .map(|c| c.values().sum::<usize>())
            .sum::<usize>(),
        create_wcu + append_wcu + update_wcu,
    );
    assert_eq!(count(&create_calls, "TransactWriteItems"), 1);
    assert_eq!(create_calls.values().sum::<usize>(), 1, "{create_calls:?}");
    assert_eq!(count(&append_calls, "TransactWriteItems"), 1);
    assert_eq!(append_calls.values().sum::<usize>(), 1, "{append_calls:?}");
    assert_eq!(count(&update_calls, "PutItem"), 1);
    assert_eq!(update_calls.values().sum::<usize>(), 1, "{update_calls:?}");
    assert!(
        item_size(&scored_item) < 10 * 1024,
        "the lead item stays small"
    );
    assert_eq!(
        store.get_lead("cost-1").await.expect("get_lead"),
        Some(record)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capacity_take_is_one_transaction_of_three_items() {
    use leadq_aws::DynamoLedger;
    use leadq_aws::ledger::{HOLD_SK, REP_SK, day_sk, holding_pk, rep_pk};
    use leadq_pipeline::{RepCaps, RepLedger, RepLoad, Take};
    let moto = Moto::shared();
    let store = store(&moto).await;
    let ledger = DynamoLedger::for_store(&store);
    let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("a day");
    let caps = RepCaps {
        max_open_leads: 5,
        max_new_per_day: 5,
    };
    moto.calls().reset();
    let taken = ledger.take("ada", "lead-1", day, caps, at(0)).await;
    assert_eq!(
        taken,
        Ok(Take::Taken(RepLoad {
            open: 1,
            new_today: 1
        }))
    );
    let calls = moto.calls().snapshot();
    assert_eq!(count(&calls, "TransactWriteItems"), 1, "{calls:?}");

    let text = |item: &Item, name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let number = |item: &Item, name: &str| item.get(name).and_then(|v| v.as_n().ok()).cloned();
    let holding = raw_item(&store, &holding_pk("lead-1"), HOLD_SK)
        .await
        .expect("the holding");
    assert_eq!(text(&holding, "type").as_deref(), Some("rep_holding"));
    assert_eq!(text(&holding, "rep").as_deref(), Some("ada"));
    assert_eq!(text(&holding, "day").as_deref(), Some("2025-01-01"));
    let rep = raw_item(&store, &rep_pk("ada"), REP_SK)
        .await
        .expect("the rep's load");
    assert_eq!(text(&rep, "type").as_deref(), Some("rep_load"));
    assert_eq!(number(&rep, "open").as_deref(), Some("1"));
    let given = raw_item(&store, &rep_pk("ada"), &day_sk(day))
        .await
        .expect("the day's count");
    assert_eq!(text(&given, "type").as_deref(), Some("rep_day"));
    assert_eq!(number(&given, "given").as_deref(), Some("1"));
    // kept 35 days from the day's start (2025-02-05T00:00:00Z), then expired by TTL
    assert_eq!(number(&given, TTL).as_deref(), Some("1738713600"));

    // a repeat writes nothing: the transaction is refused by the holding's condition
    assert_eq!(
        ledger.take("ada", "lead-1", day, caps, at(0)).await,
        Ok(Take::AlreadyHeld(RepLoad {
            open: 1,
            new_today: 1
        }))
    );
    assert_eq!(ledger.release("lead-1").await, Ok(Some("ada".into())));
    assert!(
        raw_item(&store, &holding_pk("lead-1"), HOLD_SK)
            .await
            .is_none()
    );
    let rep = raw_item(&store, &rep_pk("ada"), REP_SK)
        .await
        .expect("the rep's load");
    assert_eq!(number(&rep, "open").as_deref(), Some("0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_routes_never_overfill_a_rep() {
    let store = store(&Moto::shared()).await;
    let ledger = std::sync::Arc::new(leadq_aws::DynamoLedger::for_store(&store));
    leadq_tests::contract::check_concurrent_routes_never_overfill_a_rep(
        std::sync::Arc::new(store),
        ledger,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_frees_the_rep_slot() {
    let store = store(&Moto::shared()).await;
    let ledger = std::sync::Arc::new(leadq_aws::DynamoLedger::for_store(&store));
    leadq_tests::contract::check_erase_frees_the_rep_slot(std::sync::Arc::new(store), ledger).await;
}
