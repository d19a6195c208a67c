//! The shared connection: opening, the schema, and running calls off the async runtime.

use leadq_pipeline::{QueueError, StoreError};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

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

/// One connection to the file, shared by a store and a queue, used off the runtime.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
    pub(crate) options: SqliteOptions,
    pub(crate) path: PathBuf,
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
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            options: options.clone(),
            path: path.to_path_buf(),
        })
    }

    /// [`Db::open`] on the blocking pool.
    pub(crate) async fn open_async(path: &Path, options: &SqliteOptions) -> Result<Db, Fail> {
        let (path, options) = (path.to_path_buf(), options.clone());
        tokio::task::spawn_blocking(move || Db::open(&path, &options))
            .await
            .map_err(|e| Fail::Task(e.to_string()))?
    }

    /// Runs `f` with the connection on tokio's blocking pool.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, Fail>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Fail> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let run = move || {
            // a panic inside `f` rolled its transaction back (dropped), so the
            // connection is usable even if the mutex is poisoned
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut conn)
        };
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread {
            // on the calling worker: no hand-off to the blocking pool and back per call
            return tokio::task::block_in_place(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
                    .map_err(|_| Fail::Task("a store call panicked".into()))
            })?;
        }
        tokio::task::spawn_blocking(run)
            .await
            .map_err(|e| Fail::Task(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn panics_then_answers(db: &Db) {
        let panicked = db
            .call(|_conn| -> Result<(), Fail> { panic!("a bug inside a store call") })
            .await;
        assert!(matches!(panicked, Err(Fail::Task(_))), "{panicked:?}");
        // the connection (its mutex poisoned by the panic) still answers
        let one: i64 = db
            .call(|conn| Ok(conn.query_row("SELECT 1", [], |row| row.get(0))?))
            .await
            .expect("the next call");
        assert_eq!(one, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_call_is_an_error_on_the_calling_worker() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("t.db"), &SqliteOptions::default()).expect("open");
        panics_then_answers(&db).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_call_is_an_error_on_the_blocking_pool() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("t.db"), &SqliteOptions::default()).expect("open");
        panics_then_answers(&db).await;
    }
}
