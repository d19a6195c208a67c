//! The shared connection: opening, the schema, and running calls off the async runtime.

use leadq_pipeline::{QueueError, StoreError};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tokio::sync::oneshot;

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS leads (
    id         TEXT PRIMARY KEY,
    email_key  TEXT UNIQUE,
    version    INTEGER NOT NULL,
    rescore_at INTEGER,
    record     TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS leads_by_rescore ON leads (rescore_at, id) WHERE rescore_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    lead_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at       INTEGER NOT NULL,
    event    TEXT NOT NULL,
    PRIMARY KEY (lead_id, event_id)
) STRICT;
CREATE INDEX IF NOT EXISTS events_by_time ON events (lead_id, at);
CREATE TABLE IF NOT EXISTS history (
    lead_id TEXT NOT NULL,
    at      INTEGER NOT NULL,
    entry   TEXT NOT NULL,
    PRIMARY KEY (lead_id, at)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
    id         TEXT PRIMARY KEY,
    expiration INTEGER NOT NULL,
    record     TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS alerts (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    alert      TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS alerts_by_state ON alerts (state, created_at, id);
-- a lead's alerts, for erasure; on the JSON, so files written before it need no migration
CREATE INDEX IF NOT EXISTS alerts_by_lead ON alerts (json_extract(alert, '$.lead_id'));
CREATE TABLE IF NOT EXISTS outcomes (
    lead_id TEXT PRIMARY KEY,
    outcome TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS model_versions (
    version    TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    model      TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS tombstones (
    email_hash TEXT PRIMARY KEY,
    lead_id    TEXT NOT NULL,
    erased_at  INTEGER NOT NULL,
    tombstone  TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS companies (
    domain TEXT PRIMARY KEY,
    facts  TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rep_holdings (
    lead_id  TEXT PRIMARY KEY,
    rep      TEXT NOT NULL,
    day      TEXT NOT NULL,
    taken_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS rep_holdings_by_rep ON rep_holdings (rep);
-- a rep's open count, kept by triggers whatever removes a holding (a release, an erase),
-- so reading a load does not count a rep's holdings one by one (version 2)
CREATE TABLE IF NOT EXISTS rep_open (
    rep  TEXT PRIMARY KEY,
    open INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS rep_open_on_insert AFTER INSERT ON rep_holdings BEGIN
    INSERT INTO rep_open (rep, open) VALUES (NEW.rep, 1)
        ON CONFLICT (rep) DO UPDATE SET open = open + 1;
END;
CREATE TRIGGER IF NOT EXISTS rep_open_on_delete AFTER DELETE ON rep_holdings BEGIN
    UPDATE rep_open SET open = open - 1 WHERE rep = OLD.rep;
END;
CREATE TRIGGER IF NOT EXISTS rep_open_on_update AFTER UPDATE OF rep ON rep_holdings BEGIN
    UPDATE rep_open SET open = open - 1 WHERE rep = OLD.rep;
    INSERT INTO rep_open (rep, open) VALUES (NEW.rep, 1)
        ON CONFLICT (rep) DO UPDATE SET open = open + 1;
END;
CREATE TABLE IF NOT EXISTS rep_days (
    rep   TEXT NOT NULL,
    day   TEXT NOT NULL,
    given INTEGER NOT NULL,
    PRIMARY KEY (rep, day)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS queue_messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    TEXT NOT NULL UNIQUE,
    stage         TEXT NOT NULL,
    body          TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    receipt       TEXT UNIQUE,
    sent_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS queue_ready ON queue_messages (stage, visible_at, seq);
CREATE TABLE IF NOT EXISTS queue_dead_letters (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    TEXT NOT NULL,
    stage         TEXT NOT NULL,
    body          TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    sent_at       INTEGER NOT NULL,
    dead_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS queue_dead_by_stage ON queue_dead_letters (stage, seq);
";

/// How to open the SQLite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How long a writer waits for another connection's write lock before failing.
    pub busy_timeout: Duration,
    /// Receives after which a failed queue message moves to the dead-letter table.
    pub max_receive_count: u32,
    /// `synchronous = FULL` (survives power loss) instead of `NORMAL` (survives a crash
    /// of the process, the WAL default; much faster).
    pub synchronous_full: bool,
}

impl Default for SqliteOptions {
    /// 5 s busy timeout, 5 receives, `synchronous = NORMAL`.
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            max_receive_count: 5,
            synchronous_full: false,
        }
    }
}

/// Why a call on the connection failed, before it is named for the port.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fail {
    /// SQLite said no.
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored value could not be decoded.
    #[error("{0}")]
    Corrupt(String),
    /// A port-level answer (conflict, not found, duplicate, ...), passed through.
    #[error("{0}")]
    Store(StoreError),
    /// The blocking task panicked or was cancelled.
    #[error("the database task did not finish: {0}")]
    Task(String),
    /// The group of calls this one was committed with failed to commit.
    #[error("{0}")]
    Commit(String),
}

impl Fail {
    /// Names the failure for the store port.
    pub(crate) fn store(self, operation: &'static str) -> StoreError {
        match self {
            Fail::Store(error) => error,
            Fail::Corrupt(message) => StoreError::Corrupt { operation, message },
            other => StoreError::Backend {
                operation,
                message: other.to_string(),
            },
        }
    }

    /// Names the failure for the queue port.
    pub(crate) fn queue(self, operation: &'static str) -> QueueError {
        QueueError::Backend {
            operation,
            message: self.to_string(),
        }
    }

    /// Whether SQLite refused a write because of a uniqueness constraint.
    pub(crate) fn is_constraint(&self) -> bool {
        matches!(self, Fail::Sql(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation))
    }
}

/// Decodes a JSON column, naming what it is on failure.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    key: &str,
    json: &str,
) -> Result<T, Fail> {
    serde_json::from_str(json).map_err(|e| Fail::Corrupt(format!("{what} {key}: {e}")))
}

/// Encodes a value as a JSON column.
pub(crate) fn encode<T: serde::Serialize>(what: &str, value: &T) -> Result<String, Fail> {
    serde_json::to_string(value)
        .map_err(|e| Fail::Corrupt(format!("{what} cannot be encoded: {e}")))
}

/// One connection to the file, shared by a store, a queue and the rest, owned by a thread
/// of its own that runs their calls in order.
///
/// The thread commits in groups: it takes every call waiting (up to [`MAX_GROUP`]), runs
/// them in one `BEGIN IMMEDIATE` transaction and answers them after its commit. Under
/// load one commit (one WAL append, one round of file locks) serves many calls; a call
/// alone commits at once. A call is answered only once what it wrote is committed, and a
/// failed group commit fails every call in it. The async callers only wait on a channel:
/// no runtime thread blocks on SQLite or on the connection.
#[derive(Clone)]
pub(crate) struct Db {
    calls: mpsc::Sender<Box<dyn Call>>,
    pub(crate) options: SqliteOptions,
    pub(crate) path: PathBuf,
    // declared after `calls`: the last handle drops its sender, ending the threads' loops,
    // before it joins them
    _threads: Arc<DbThreads>,
}

/// The connection's thread and the checkpointer's, joined when the last [`Db`] handle is
/// dropped: both connections are then closed, and the last to close has checkpointed and
/// removed the `-wal` and `-shm` files, before the process can exit (`leadq serve` left
/// them behind when its threads were still closing as it exited).
struct DbThreads {
    writer: Option<std::thread::JoinHandle<()>>,
    checkpointer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for DbThreads {
    fn drop(&mut self) {
        // the writer first: its end is what ends the checkpointer
        for handle in [self.writer.take(), self.checkpointer.take()]
            .into_iter()
            .flatten()
        {
            // never join the thread this runs on (a handle dropped by a call running there)
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

/// At most this many calls share one commit, so a steady stream of calls still commits
/// (and lets other processes write) every so often.
const MAX_GROUP: usize = 64;

/// Whether a call writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// A call waiting for the connection's thread: run it, then answer it once its group's
/// fate is known.
trait Call: Send {
    fn access(&self) -> Access;
    /// Runs the call on the connection, keeping its result for [`Call::answer`].
    fn run(&mut self, conn: &mut Connection);
    /// Answers the caller: its result, or `commit_failure` if its group did not commit.
    fn answer(self: Box<Self>, commit_failure: Option<&str>);
}

/// A closure with its answer channel.
struct Pending<T, F> {
    access: Access,
    f: Option<F>,
    result: Option<Result<T, Fail>>,
    reply: oneshot::Sender<Result<T, Fail>>,
}

impl<T, F> Call for Pending<T, F>
where
    T: Send,
    F: FnOnce(&mut Connection) -> Result<T, Fail> + Send,
{
    fn access(&self) -> Access {
        self.access
    }

    fn run(&mut self, conn: &mut Connection) {
        if let Some(f) = self.f.take() {
            // a panic unwinds through `f`'s savepoints, which roll back what it wrote
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(Fail::Task("a store call panicked".into())));
            self.result = Some(result);
        }
    }

    fn answer(self: Box<Self>, commit_failure: Option<&str>) {
        let result = match (self.result, commit_failure) {
            (Some(result), None) => result,
            (Some(result), Some(reason)) => result.and(Err(Fail::Commit(reason.to_string()))),
            // not run: its group could not begin, or was lost before its turn
            (None, Some(reason)) => Err(Fail::Commit(reason.to_string())),
            (None, None) => Err(Fail::Task("the call was not run".into())),
        };
        // a caller that stopped waiting does not need the answer
        let _ = self.reply.send(result);
    }
}

/// The connection's thread: runs calls in groups until every [`Db`] handle is gone, and
/// nudges the checkpointer after each commit.
fn serve_calls(
    mut conn: Connection,
    calls: mpsc::Receiver<Box<dyn Call>>,
    checkpoint: mpsc::SyncSender<()>,
) {
    let mut group: Vec<Box<dyn Call>> = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = calls.recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match calls.try_recv() {
                Ok(call) => group.push(call),
                Err(_) => break,
            }
        }
        if run_group(&mut conn, &mut group) {
            // a nudge already waiting covers this commit too
            let _ = checkpoint.try_send(());
        }
    }
    // close before the checkpointer is told to end (by dropping `checkpoint`): closing
    // together, each connection would see the other's lock and neither would fold the WAL
    // back in and remove it
    drop(conn);
    drop(checkpoint);
}

/// Pause after each checkpoint: every checkpoint ends in an fsync, so they are kept few.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(50);

/// WAL pages after which the writing connection checkpoints by itself: a backstop, should
/// the checkpointer fall behind. SQLite's default is 1,000.
const WAL_BACKSTOP_PAGES: i64 = 10_000;

/// The checkpointer's thread: copies committed WAL pages into the database file on a
/// connection of its own after commits, so the writing thread does not. Passive: it
/// neither waits for nor blocks the writer or readers. Ends when the writing thread does.
fn run_checkpoints(conn: Connection, nudges: mpsc::Receiver<()>) {
    while nudges.recv().is_ok() {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; the writer's backstop remains");
        }
        std::thread::sleep(CHECKPOINT_PAUSE);
    }
}

/// Runs `group` (emptying it): reads alone in autocommit mode; otherwise everything in one
/// write transaction, answered after its commit. True if it committed writes.
fn run_group(conn: &mut Connection, group: &mut Vec<Box<dyn Call>>) -> bool {
    let writes = group.iter().any(|call| call.access() == Access::Write);
    let began = if writes {
        run_cached(conn, "BEGIN IMMEDIATE").map_err(|e| e.to_string())
    } else {
        Ok(())
    };
    if let Err(reason) = began {
        // the write lock is not to be had (another process holds it past the busy
        // timeout): writes fail, reads go on beside the other writer as WAL allows
        for mut call in group.drain(..) {
            if call.access() == Access::Read {
                call.run(conn);
                call.answer(None);
            } else {
                call.answer(Some(&reason));
            }
        }
        return false;
    }
    for call in group.iter_mut() {
        call.run(conn);
        if writes && conn.is_autocommit() {
            // some errors (a full disk, an I/O error) make SQLite roll the whole
            // transaction back: the group is lost; the rest of it is not run
            break;
        }
    }
    let failure = if !writes {
        None
    } else if conn.is_autocommit() {
        Some("SQLite rolled the transaction back after an error".to_string())
    } else {
        run_cached(conn, "COMMIT")
            .err()
            .map(|e| format!("the commit failed: {e}"))
    };
    if failure.is_some() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let committed = writes && failure.is_none();
    for call in group.drain(..) {
        call.answer(failure.as_deref());
    }
    committed
}

/// Runs a statement without parameters, compiled once.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Compiled statements kept per connection: more than the distinct SQL texts of the
/// store, the queue and the ledger (about 60), so none is compiled twice.
const STATEMENT_CACHE: usize = 128;

/// `execute` and `query_row` through the connection's statement cache: compiling the same
/// SQL again on every call was an eighth of `leadq serve`'s time under load.
pub(crate) trait CachedSql {
    /// [`Connection::execute`] with the statement compiled once.
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    /// [`Connection::query_row`] with the statement compiled once.
    fn row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl CachedSql for Connection {
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

impl Db {
    /// Opens (creating if needed) the file and its schema. Blocking: call it at startup
    /// or from [`Db::open_async`].
    pub(crate) fn open(path: &Path, options: &SqliteOptions) -> Result<Db, Fail> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(options.busy_timeout)?;
        // every statement of the store, the queue and the ledger stays compiled
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Fail::Corrupt(format!(
                "journal mode is {mode}, WAL could not be set"
            )));
        }
        let synchronous = if options.synchronous_full {
            "FULL"
        } else {
            "NORMAL"
        };
        conn.pragma_update(None, "synchronous", synchronous)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(Fail::Corrupt(format!(
                "schema version {version} was written by a newer leadq (this build knows {SCHEMA_VERSION})"
            )));
        }
        tx.execute_batch(SCHEMA)?;
        if version < 2 {
            // files of version 1 held slots before the counts existed
            tx.execute(
                "INSERT OR REPLACE INTO rep_open (rep, open)
                 SELECT rep, COUNT(*) FROM rep_holdings GROUP BY rep",
                [],
            )?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES)?;
        let checkpointer = Connection::open(path)?;
        checkpointer.busy_timeout(options.busy_timeout)?;
        checkpointer.pragma_update(None, "synchronous", synchronous)?;
        let (checkpoint, nudges) = mpsc::sync_channel(1);
        let checkpointer = std::thread::Builder::new()
            .name("leadq-checkpoint".into())
            .spawn(move || run_checkpoints(checkpointer, nudges))
            .map_err(|e| Fail::Task(format!("cannot start the checkpoint thread: {e}")))?;
        let (calls, receiver) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("leadq-sqlite".into())
            .spawn(move || serve_calls(conn, receiver, checkpoint))
            .map_err(|e| Fail::Task(format!("cannot start the database thread: {e}")))?;
        Ok(Db {
            calls,
            options: options.clone(),
            path: path.to_path_buf(),
            _threads: Arc::new(DbThreads {
                writer: Some(writer),
                checkpointer: Some(checkpointer),
            }),
        })
    }

    /// [`Db::open`] on the blocking pool.
    pub(crate) async fn open_async(path: &Path, options: &SqliteOptions) -> Result<Db, Fail> {
        let (path, options) = (path.to_path_buf(), options.clone());
        tokio::task::spawn_blocking(move || Db::open(&path, &options))
            .await
            .map_err(|e| Fail::Task(e.to_string()))?
    }

    /// Runs `f` with the connection on its thread, inside a group's write transaction,
    /// and returns once that group is committed. `f` takes a savepoint
    /// ([`Connection::savepoint`]) where its writes must be all or nothing; it must not
    /// begin or commit a transaction itself.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, Fail>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Fail> + Send + 'static,
    {
        self.submit(Access::Write, f).await
    }

    /// Runs `f`, which only reads, with the connection on its thread: in autocommit mode
    /// when no write shares its group (so it does not take the file's write lock), else
    /// inside the group's transaction as [`Db::call`] does.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, Fail>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Fail> + Send + 'static,
    {
        self.submit(Access::Read, move |conn: &mut Connection| f(conn))
            .await
    }

    async fn submit<T, F>(&self, access: Access, f: F) -> Result<T, Fail>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Fail> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let call = Box::new(Pending {
            access,
            f: Some(f),
            result: None,
            reply,
        });
        self.calls
            .send(call)
            .map_err(|_| Fail::Task("the database thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| Fail::Task("the database thread dropped the call".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;

    async fn panics_then_answers(db: &Db) {
        let panicked = db
            .call(|_conn| -> Result<(), Fail> { panic!("a bug inside a store call") })
            .await;
        assert!(matches!(panicked, Err(Fail::Task(_))), "{panicked:?}");
        // the connection's thread caught the panic and still answers
        let one: i64 = db
            .call(|conn| Ok(conn.query_row("SELECT 1", [], |row| row.get(0))?))
            .await
            .expect("the next call");
        assert_eq!(one, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_call_is_an_error_on_a_multi_thread_runtime() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("t.db"), &SqliteOptions::default()).expect("open");
        panics_then_answers(&db).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_call_is_an_error_on_a_current_thread_runtime() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("t.db"), &SqliteOptions::default()).expect("open");
        panics_then_answers(&db).await;
    }

    /// Polls `future` once, so a call is handed to the connection's thread.
    async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
    }

    /// A database with `parent` and `child` tables (a deferred foreign key, checked at
    /// commit), and a first call holding the connection's thread until the returned
    /// sender is used, so the calls made meanwhile wait together and form one group.
    async fn held_database(
        dir: &Path,
    ) -> (
        Db,
        std::sync::mpsc::Sender<()>,
        Pin<Box<impl Future<Output = Result<(), Fail>>>>,
    ) {
        let db = Db::open(&dir.join("t.db"), &SqliteOptions::default()).expect("open");
        db.read(|conn| Ok(conn.pragma_update(None, "foreign_keys", true)?))
            .await
            .expect("foreign keys on");
        db.call(|conn| {
            conn.execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (id INTEGER PRIMARY KEY,
                    parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
            )?;
            Ok(())
        })
        .await
        .expect("schema");
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel::<()>();
        let holding = db.clone();
        let mut holder = Box::pin(async move {
            holding
                .call(move |_conn| {
                    let _ = started.send(());
                    let _ = gate.recv();
                    Ok(())
                })
                .await
        });
        assert!(poll_once(&mut holder).await.is_pending());
        running.await.expect("the holding call runs");
        (db, release, holder)
    }

    fn committed_ids(path: &Path, table: &str) -> Vec<i64> {
        let other = Connection::open(path).expect("a second connection");
        let mut query = other
            .prepare(&format!("SELECT id FROM {table} ORDER BY id"))
            .expect("query");
        query
            .query_map([], |row| row.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("ids")
    }

    fn insert(table: &'static str, id: i64) -> impl FnOnce(&mut Connection) -> Result<(), Fail> {
        move |conn| {
            let savepoint = conn.savepoint()?;
            savepoint.execute(&format!("INSERT INTO {table} (id) VALUES (?1)"), [id])?;
            savepoint.commit()?;
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_waiting_together_commit_together_and_a_failed_one_undoes_only_itself() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let (db, release, holder) = held_database(dir.path()).await;
        let mut first = Box::pin(db.call(insert("parent", 1)));
        let mut failing = Box::pin(db.call(|conn| -> Result<(), Fail> {
            let savepoint = conn.savepoint()?;
            savepoint.execute("INSERT INTO parent (id) VALUES (2)", [])?;
            // a conflict found after writing: the savepoint is dropped, rolled back
            Err(Fail::Corrupt("refused after writing".into()))
        }));
        let mut second = Box::pin(db.call(insert("parent", 3)));
        let mut reading = Box::pin(db.read(|conn| {
            // inside the group it sees the writes made before it
            let n: i64 = conn.query_row("SELECT COUNT(*) FROM parent", [], |row| row.get(0))?;
            Ok(n)
        }));
        assert!(poll_once(&mut first).await.is_pending());
        assert!(poll_once(&mut failing).await.is_pending());
        assert!(poll_once(&mut second).await.is_pending());
        assert!(poll_once(&mut reading).await.is_pending());
        assert!(
            committed_ids(&path, "parent").is_empty(),
            "nothing committed yet"
        );
        release.send(()).expect("release");
        holder.await.expect("the holding call");

        first.await.expect("first");
        // answered only once committed: a second connection sees both successes
        assert_eq!(committed_ids(&path, "parent"), vec![1, 3]);
        match failing.await {
            Err(Fail::Corrupt(message)) => assert_eq!(message, "refused after writing"),
            other => panic!("expected the call's own error, got {other:?}"),
        }
        second.await.expect("second");
        assert_eq!(reading.await.expect("read"), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_that_fails_to_commit_fails_every_call_in_it_and_keeps_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let (db, release, holder) = held_database(dir.path()).await;
        let mut fine = Box::pin(db.call(insert("parent", 1)));
        // a child of no parent: the statement passes, the deferred key fails the commit
        let mut orphan = Box::pin(db.call(|conn| {
            conn.execute("INSERT INTO child (id, parent) VALUES (1, 99)", [])?;
            Ok(())
        }));
        assert!(poll_once(&mut fine).await.is_pending());
        assert!(poll_once(&mut orphan).await.is_pending());
        release.send(()).expect("release");
        holder.await.expect("the holding call");

        for (name, answer) in [("fine", fine.await), ("orphan", orphan.await)] {
            match answer {
                Err(Fail::Commit(reason)) => {
                    assert!(reason.contains("FOREIGN KEY"), "{name}: {reason}")
                }
                other => panic!("{name}: expected a commit failure, got {other:?}"),
            }
        }
        assert!(committed_ids(&path, "parent").is_empty());
        assert!(committed_ids(&path, "child").is_empty());
        // the connection goes on with the next group
        db.call(insert("parent", 5)).await.expect("after");
        assert_eq!(committed_ids(&path, "parent"), vec![5]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn committed_pages_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let db = Db::open(&path, &SqliteOptions::default()).expect("open");
        db.call(|conn| {
            Ok(conn.execute_batch("CREATE TABLE blob (id INTEGER PRIMARY KEY, data BLOB)")?)
        })
        .await
        .expect("schema");
        let before = std::fs::metadata(&path).expect("file").len();
        // about 400 pages, far below the writer's backstop of 10,000: only the
        // checkpointer copies them into the database file
        for id in 0..100 {
            db.call(move |conn| {
                conn.execute(
                    "INSERT INTO blob (id, data) VALUES (?1, zeroblob(16000))",
                    [id],
                )?;
                Ok(())
            })
            .await
            .expect("insert");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let size = std::fs::metadata(&path).expect("file").len();
            if size >= before + 100 * 16_000 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the database file is {size} bytes after 10 s (was {before}): no checkpoint"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A new file in a temp dir with a `parent` table, and its handle.
    async fn parent_table() -> (tempfile::TempDir, std::path::PathBuf, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let db = Db::open(&path, &SqliteOptions::default()).expect("open");
        db.call(|conn| Ok(conn.execute_batch("CREATE TABLE parent (id INTEGER PRIMARY KEY)")?))
            .await
            .expect("schema");
        (dir, path, db)
    }

    #[tokio::test]
    async fn the_last_handle_dropped_closes_the_file_and_leaves_no_wal_behind() {
        let (dir, path, db) = parent_table().await;
        let clone = db.clone();
        clone.call(insert("parent", 1)).await.expect("insert");
        let side = |suffix: &str| dir.path().join(format!("t.db{suffix}"));
        drop(db);
        // another handle keeps the threads and their connections
        assert!(
            side("-wal").exists(),
            "the WAL went while a handle remained"
        );
        clone.call(insert("parent", 2)).await.expect("insert");
        drop(clone);
        // no waiting: the drop itself joined the threads, whose connections closed
        for suffix in ["-wal", "-shm"] {
            assert!(!side(suffix).exists(), "t.db{suffix} is left behind");
        }
        let rows: i64 = Connection::open(&path)
            .expect("reopen")
            .query_row("SELECT COUNT(*) FROM parent", [], |row| row.get(0))
            .expect("count");
        assert_eq!(rows, 2, "every committed row is in the file");
    }

    #[tokio::test]
    async fn the_last_handle_dropped_after_a_checkpoint_leaves_no_wal_behind() {
        // once the checkpointer has read the file it holds a shared lock: the two
        // connections closing at once each saw the other's and left the WAL (CI saw it
        // after `leadq serve` stopped, one run in a few); ten rounds make the race
        // near-certain to show if the closes overlap again
        for round in 0..10 {
            let (dir, _path, db) = parent_table().await;
            db.call(insert("parent", 1)).await.expect("insert");
            // the commit's nudge has been taken and its checkpoint run
            tokio::time::sleep(CHECKPOINT_PAUSE * 2).await;
            drop(db);
            for suffix in ["-wal", "-shm"] {
                let side = dir.path().join(format!("t.db{suffix}"));
                assert!(!side.exists(), "round {round}: t.db{suffix} is left behind");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_calls_are_each_answered_once_committed() {
        let (_dir, path, db) = parent_table().await;
        let mut tasks = tokio::task::JoinSet::new();
        for id in 0..300 {
            let (db, path) = (db.clone(), path.clone());
            tasks.spawn(async move {
                db.call(insert("parent", id)).await.expect("insert");
                let seen = Connection::open(&path)
                    .expect("a second connection")
                    .query_row("SELECT COUNT(*) FROM parent WHERE id = ?1", [id], |row| {
                        row.get::<_, i64>(0)
                    })
                    .expect("count");
                assert_eq!(seen, 1, "row {id} answered before it was committed");
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("task");
        }
        assert_eq!(committed_ids(&path, "parent").len(), 300);
    }
}
