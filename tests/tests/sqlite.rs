//! The adapter contract suite against SQLite, plus what only SQLite has: failure paths,
//! durability across reopening, and several connections and processes on one file.

use leadq_local::{SqliteOptions, SqliteQueue, SqliteStore};
use leadq_pipeline::{Envelope, LeadStore, QueueError, Stage, StoreError, WorkQueue};
use leadq_tests::contract::{Harness, at, lead_record, receive_until};
use leadq_tests::shared_file::{MESSAGES, PER_WRITER, WRITERS, options, write_and_drain};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tempfile::TempDir;

use leadq_tests::shared_file::MAX_RECEIVE_COUNT;

/// A fresh file in a temporary directory per call.
struct Sqlite {
    dir: TempDir,
    files: AtomicUsize,
}

impl Sqlite {
    fn new() -> Sqlite {
        Sqlite {
            dir: tempfile::tempdir().expect("a temporary directory"),
            files: AtomicUsize::new(0),
        }
    }

    fn next_path(&self) -> PathBuf {
        let n = self.files.fetch_add(1, Ordering::SeqCst);
        self.dir.path().join(format!("leadq-{n}.db"))
    }
}

#[async_trait::async_trait]
impl Harness for Sqlite {
    async fn store(&self) -> Arc<dyn LeadStore> {
        Arc::new(
            SqliteStore::open(self.next_path(), &options())
                .await
                .expect("open store"),
        )
    }

    async fn queue(&self) -> Arc<dyn WorkQueue> {
        Arc::new(
            SqliteQueue::open(self.next_path(), &options())
                .await
                .expect("open queue"),
        )
    }

    fn max_receive_count(&self) -> u32 {
        MAX_RECEIVE_COUNT
    }
}

leadq_tests::contract_tests!(Sqlite::new());

fn assert_backend(err: StoreError, operation: &str) -> String {
    match err {
        StoreError::Backend {
            operation: op,
            message,
        } if op == operation => message,
        other => panic!("expected a Backend error of {operation}, got {other:?}"),
    }
}

#[tokio::test]
async fn unusable_files_fail_open_with_backend_errors() {
    let dir = tempfile::tempdir().expect("a temporary directory");

    // the path is a directory
    let err = SqliteStore::open(dir.path(), &options())
        .await
        .err()
        .expect("a directory");
    let message = assert_backend(err, "open");
    assert!(
        message.contains(&dir.path().display().to_string()),
        "names the path: {message}"
    );

    // the directory does not exist (removed)
    let gone = dir.path().join("removed");
    std::fs::create_dir(&gone).expect("mkdir");
    std::fs::remove_dir(&gone).expect("rmdir");
    let err = SqliteStore::open(gone.join("leadq.db"), &options())
        .await
        .err()
        .expect("no directory");
    assert_backend(err, "open");

    // not a database
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).expect("write");
    let err = SqliteStore::open(&garbage, &options())
        .await
        .err()
        .expect("garbage");
    let message = assert_backend(err, "open");
    assert!(message.contains("not a database"), "{message}");
    match SqliteQueue::open(&garbage, &options())
        .await
        .err()
        .expect("garbage")
    {
        QueueError::Backend {
            operation: "open", ..
        } => {}
        other => panic!("expected a Backend error of open, got {other:?}"),
    }

    // a file from a newer schema
    let newer = dir.path().join("newer.db");
    let conn = rusqlite::Connection::open(&newer).expect("open");
    conn.pragma_update(None, "user_version", 99)
        .expect("pragma");
    drop(conn);
    let message = assert_backend(
        SqliteStore::open(&newer, &options())
            .await
            .err()
            .expect("newer schema"),
        "open",
    );
    assert!(message.contains("newer"), "{message}");
}

#[tokio::test]
async fn a_file_locked_by_another_writer_fails_calls_with_backend_errors() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("locked.db");
    let quick = SqliteOptions {
        busy_timeout: Duration::from_millis(100),
        ..options()
    };
    let store = SqliteStore::open(&path, &quick).await.expect("open");
    let queue = store.queue();
    store
        .create_lead(&lead_record("before", None))
        .await
        .expect("create_lead");

    // another process holds the write lock longer than the busy timeout
    let mut other = rusqlite::Connection::open(&path).expect("open");
    let tx = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .expect("lock");
    let message = assert_backend(
        store
            .create_lead(&lead_record("during", None))
            .await
            .expect_err("locked"),
        "create_lead",
    );
    assert!(message.contains("locked"), "{message}");
    let mut update = lead_record("before", None);
    update.version = 2;
    assert_backend(
        store.update_lead(&update).await.expect_err("locked"),
        "update_lead",
    );
    match queue.send_raw(Stage::Score, "x").await.expect_err("locked") {
        QueueError::Backend {
            operation: "send_raw",
            ..
        } => {}
        other => panic!("expected a Backend error of send_raw, got {other:?}"),
    }
    // WAL readers are not blocked by a writer
    assert!(store.get_lead("before").await.expect("get_lead").is_some());
    drop(tx);

    assert_eq!(
        store
            .create_lead(&lead_record("after", None))
            .await
            .expect("create_lead"),
        leadq_pipeline::Created::New
    );
}

#[tokio::test]
async fn a_corrupt_item_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("corrupt.db");
    let store = SqliteStore::open(&path, &options()).await.expect("open");
    store
        .create_lead(&lead_record("bad", None))
        .await
        .expect("create_lead");
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute(
        "UPDATE leads SET record = '{\"not\": \"a lead\"}' WHERE id = 'bad'",
        [],
    )
    .expect("corrupt it");
    match store.get_lead("bad").await.expect_err("corrupt") {
        StoreError::Corrupt {
            operation: "get_lead",
            message,
        } => assert!(message.contains("bad"), "names the lead: {message}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn everything_survives_reopening_the_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("durable.db");
    {
        let store = SqliteStore::open(&path, &options()).await.expect("open");
        store
            .create_lead(&lead_record("kept", Some("kept@example.com")))
            .await
            .expect("create_lead");
        let queue = store.queue();
        let work: Vec<Envelope> = (0..3)
            .map(|i| Envelope::new(Stage::Enrich, format!("lead-{i}"), "trace", at(i)))
            .collect();
        queue.send(Stage::Enrich, &work).await.expect("send");
        let got = queue
            .receive(Stage::Enrich, 1, Duration::from_secs(60))
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
    }
    let store = SqliteStore::open(&path, &options()).await.expect("reopen");
    assert_eq!(
        store
            .find_lead_by_email("kept@example.com")
            .await
            .expect("find_lead_by_email"),
        Some("kept".into())
    );
    let queue = SqliteQueue::open(&path, &options())
        .await
        .expect("reopen queue");
    let got = queue
        .receive(Stage::Enrich, 10, Duration::from_secs(60))
        .await
        .expect("receive");
    let leads: Vec<String> = got
        .iter()
        .map(|d| Envelope::parse(&d.body).expect("envelope").lead_id)
        .collect();
    assert_eq!(
        leads,
        vec!["lead-1", "lead-2"],
        "the hidden message stays hidden, the rest wait"
    );
}

async fn prepare_shared_file(path: &Path) {
    let store = SqliteStore::open(path, &options()).await.expect("open");
    store
        .create_lead(&lead_record("shared", None))
        .await
        .expect("create_lead");
    let work: Vec<Envelope> = (0..MESSAGES)
        .map(|i| Envelope::new(Stage::Score, format!("lead-{i}"), "trace", at(i as i64)))
        .collect();
    store.queue().send(Stage::Score, &work).await.expect("send");
}

async fn check_shared_file(path: &Path, received: Vec<String>) {
    let store = SqliteStore::open(path, &options()).await.expect("open");
    let record = store
        .get_lead("shared")
        .await
        .expect("get_lead")
        .expect("the lead");
    assert_eq!(record.aggregates.count, (WRITERS * PER_WRITER) as u64);
    assert_eq!(
        store
            .list_events("shared")
            .await
            .expect("list_events")
            .len(),
        WRITERS * PER_WRITER
    );
    assert_eq!(record.version, 1 + (WRITERS * PER_WRITER / 25) as u64);
    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(received.len(), MESSAGES, "every message received");
    assert_eq!(unique.len(), MESSAGES, "no message received twice");
}

/// Several connections to one file in one process (each its own store), tasks in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_connections_share_one_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("shared.db");
    prepare_shared_file(&path).await;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let path = path.clone();
            tokio::spawn(async move { write_and_drain(&path, writer).await })
        })
        .collect();
    let mut received = Vec::new();
    for task in tasks {
        received.extend(task.await.expect("writer"));
    }
    check_shared_file(&path, received).await;
}

/// Several OS processes on one file: no event lost, no message delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_processes_share_one_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("processes.db");
    prepare_shared_file(&path).await;
    // the other writers are real processes: the `sqlite_writer` binary of this crate
    let exe = env!("CARGO_BIN_EXE_sqlite_writer");
    let children: Vec<tokio::process::Child> = (1..WRITERS)
        .map(|writer| {
            tokio::process::Command::new(exe)
                .arg(&path)
                .arg(writer.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn a child process")
        })
        .collect();
    // the children run meanwhile; their output (a few dozen lines) fits the pipes
    let mut received = write_and_drain(&path, 0).await;
    for child in children {
        let output = child.wait_with_output().await.expect("child ran");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("DONE"),
            "the child finished its share: {stdout}"
        );
        received.extend(stdout.lines().filter_map(|line| {
            line.split_once("RECEIVED ")
                .map(|(_, id)| id.trim().to_string())
        }));
    }
    check_shared_file(&path, received).await;
}

#[tokio::test]
async fn store_and_queue_share_one_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("both.db");
    let store = SqliteStore::open(&path, &options()).await.expect("open");
    assert_eq!(store.path(), path.as_path());
    store
        .queue()
        .send_raw(Stage::Route, "hello")
        .await
        .expect("send_raw");
    let other = SqliteQueue::open(&path, &options())
        .await
        .expect("open queue");
    assert_eq!(other.max_receive_count(), MAX_RECEIVE_COUNT);
    let got = receive_until(
        &other,
        Stage::Route,
        1,
        Duration::from_secs(1),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "hello");
}

/// A fresh file per ledger, the ledger sharing the store's connection.
struct SqliteLedgers(Sqlite);

#[async_trait::async_trait]
impl leadq_tests::contract::LedgerHarness for SqliteLedgers {
    async fn ledger(&self) -> Arc<dyn leadq_pipeline::RepLedger> {
        let store = SqliteStore::open(self.0.next_path(), &options())
            .await
            .expect("open store");
        Arc::new(store.ledger())
    }
}

mod ledger {
    use super::{Sqlite, SqliteLedgers};
    leadq_tests::ledger_contract_tests!(SqliteLedgers(Sqlite::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ledger_takes_through_two_connections_never_overfill() {
    use leadq_local::SqliteLedger;
    use leadq_pipeline::{RepCaps, RepLedger, Take};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("ledger.db");
    let ledgers = [
        Arc::new(SqliteLedger::open(&path, &options()).await.expect("open")),
        Arc::new(SqliteLedger::open(&path, &options()).await.expect("open")),
    ];
    let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("a day");
    let caps = RepCaps {
        max_open_leads: 10,
        max_new_per_day: 100,
    };
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let ledger = Arc::clone(&ledgers[i % 2]);
            tokio::spawn(async move {
                ledger
                    .take("ada", &format!("lead-{i}"), day, caps, at(0))
                    .await
            })
        })
        .collect();
    let mut taken = 0;
    for task in tasks {
        match task.await.expect("task").expect("take") {
            Take::Taken(_) => taken += 1,
            Take::Full(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(taken, 10);
    let load = ledgers[1].load("ada", day).await.expect("load");
    assert_eq!((load.open, load.new_today), (10, 10));
}

#[tokio::test]
async fn a_version_1_file_gets_its_reps_open_counts_from_their_holdings() {
    use leadq_local::SqliteLedger;
    use leadq_pipeline::{RepCaps, RepLedger, Take};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("v1.db");
    let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("a day");
    let caps = RepCaps {
        max_open_leads: 3,
        max_new_per_day: 100,
    };
    {
        let ledger = SqliteLedger::open(&path, &options()).await.expect("open");
        for (rep, lead) in [("ada", "a1"), ("ada", "a2"), ("ada", "a3"), ("bo", "b1")] {
            let taken = ledger
                .take(rep, lead, day, caps, at(0))
                .await
                .expect("take");
            assert!(matches!(taken, Take::Taken(_)), "{taken:?}");
        }
    }
    // the file as version 1 wrote it: holdings, no counts
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch(
        "DROP TRIGGER rep_open_on_insert; DROP TRIGGER rep_open_on_delete;
         DROP TRIGGER rep_open_on_update; DROP TABLE rep_open; PRAGMA user_version = 1;",
    )
    .expect("downgrade");
    drop(conn);

    let ledger = SqliteLedger::open(&path, &options()).await.expect("reopen");
    let load = |rep: &'static str| {
        let ledger = &ledger;
        async move { ledger.load(rep, day).await.expect("load").open }
    };
    assert_eq!((load("ada").await, load("bo").await), (3, 1));
    // the counts go on from there: ada is full until a release
    let full = ledger
        .take("ada", "a4", day, caps, at(0))
        .await
        .expect("take");
    assert!(matches!(full, Take::Full(_)), "{full:?}");
    ledger.release("a1").await.expect("release");
    assert_eq!(load("ada").await, 2);
    let version: i64 = rusqlite::Connection::open(&path)
        .expect("open")
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert_eq!(version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_routes_never_overfill_a_rep() {
    let files = Sqlite::new();
    let store = SqliteStore::open(files.next_path(), &options())
        .await
        .expect("open store");
    let ledger = Arc::new(store.ledger());
    leadq_tests::contract::check_concurrent_routes_never_overfill_a_rep(Arc::new(store), ledger)
        .await;
}

#[tokio::test]
async fn erase_frees_the_rep_slot() {
    let files = Sqlite::new();
    let store = SqliteStore::open(files.next_path(), &options())
        .await
        .expect("open store");
    let ledger = Arc::new(store.ledger());
    leadq_tests::contract::check_erase_frees_the_rep_slot(Arc::new(store), ledger).await;
}
