//! [`SqliteQueue`]: durable work queues in the SQLite file.

use crate::db::{CachedSql, Db, Fail, SqliteOptions};
use async_trait::async_trait;
use leadq_pipeline::envelope::MAX_MESSAGE_BYTES;
use leadq_pipeline::{Delivery, Envelope, QueueError, Stage, WorkQueue};
use rusqlite::{Connection, OptionalExtension, Savepoint, params};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest visibility timeout (SQS's limit, 12 hours); longer requests are capped.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// A [`WorkQueue`] in one SQLite file: one queue and one dead-letter table per stage.
#[derive(Clone)]
pub struct SqliteQueue {
    db: Db,
}

impl SqliteQueue {
    /// Opens (creating if needed) the file at `path`, off the async runtime.
    pub async fn open(
        path: impl AsRef<Path>,
        options: &SqliteOptions,
    ) -> Result<SqliteQueue, QueueError> {
        let path = path.as_ref();
        let db = Db::open_async(path, options)
            .await
            .map_err(|e| open_error(path, e))?;
        Ok(SqliteQueue { db })
    }

    /// Opens (creating if needed) the file at `path`, blocking the calling thread.
    pub fn open_blocking(
        path: impl AsRef<Path>,
        options: &SqliteOptions,
    ) -> Result<SqliteQueue, QueueError> {
        let path = path.as_ref();
        let db = Db::open(path, options).map_err(|e| open_error(path, e))?;
        Ok(SqliteQueue { db })
    }

    pub(crate) fn from_db(db: Db) -> SqliteQueue {
        SqliteQueue { db }
    }

    /// Receives after which a failed message moves to the dead-letter table.
    pub fn max_receive_count(&self) -> u32 {
        self.db.options.max_receive_count.max(1)
    }

    /// Messages waiting or in flight on every stage's queue (dead letters not counted):
    /// 0 when every piece of work sent has been handled and acked.
    pub async fn pending(&self) -> Result<u64, QueueError> {
        self.read("pending", |conn| {
            let count: i64 =
                conn.row_cached("SELECT COUNT(*) FROM queue_messages", [], |row| row.get(0))?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn call<T, F>(&self, operation: &'static str, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Fail> + Send + 'static,
    {
        self.db.call(f).await.map_err(|e| e.queue(operation))
    }

    async fn read<T, F>(&self, operation: &'static str, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Fail> + Send + 'static,
    {
        self.db.read(f).await.map_err(|e| e.queue(operation))
    }
}

fn open_error(path: &Path, error: Fail) -> QueueError {
    QueueError::Backend {
        operation: "open",
        message: format!("{}: {error}", path.display()),
    }
}

/// Milliseconds since the epoch: the queue's clock, shared by every process on the file.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn check_size(lead_id: &str, body: &str) -> Result<(), QueueError> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(QueueError::TooLarge {
            lead_id: lead_id.to_string(),
            size: body.len(),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    Ok(())
}

/// A savepoint in the connection's group transaction: this call's writes, all or nothing.
fn write_tx(conn: &mut Connection) -> Result<Savepoint<'_>, Fail> {
    Ok(conn.savepoint()?)
}

/// Moves one message to the dead-letter table.
fn dead_letter(tx: &Connection, seq: i64, now: i64) -> Result<(), Fail> {
    tx.exec_cached(
        "INSERT INTO queue_dead_letters (message_id, stage, body, receive_count, sent_at, dead_at)
         SELECT message_id, stage, body, receive_count, sent_at, ?2 FROM queue_messages WHERE seq = ?1",
        params![seq, now],
    )?;
    tx.exec_cached("DELETE FROM queue_messages WHERE seq = ?1", [seq])?;
    Ok(())
}

fn insert_all(conn: &mut Connection, stage: Stage, bodies: Vec<String>) -> Result<(), Fail> {
    let tx = write_tx(conn)?;
    let now = now_ms();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO queue_messages (message_id, stage, body, receive_count, visible_at, receipt, sent_at)
             VALUES (?1, ?2, ?3, 0, ?4, NULL, ?4)",
        )?;
        for body in bodies {
            insert.execute(params![
                uuid::Uuid::new_v4().to_string(),
                stage.name(),
                body,
                now
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[async_trait]
impl WorkQueue for SqliteQueue {
    async fn send(&self, stage: Stage, envelopes: &[Envelope]) -> Result<(), QueueError> {
        let mut bodies = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let body = envelope.to_json();
            check_size(&envelope.lead_id, &body)?;
            bodies.push(body);
        }
        if bodies.is_empty() {
            return Ok(());
        }
        self.call("send", move |conn| insert_all(conn, stage, bodies))
            .await
    }

    async fn send_raw(&self, stage: Stage, body: &str) -> Result<(), QueueError> {
        check_size("(raw)", body)?;
        let body = body.to_string();
        self.call("send_raw", move |conn| insert_all(conn, stage, vec![body]))
            .await
    }

    async fn receive(
        &self,
        stage: Stage,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let max_receive_count = i64::from(self.max_receive_count());
        let visibility_ms =
            i64::try_from(visibility.min(MAX_VISIBILITY).as_millis()).unwrap_or(i64::MAX);
        self.call("receive", move |conn| {
            let tx = write_tx(conn)?;
            let now = now_ms();
            let mut out = Vec::new();
            loop {
                let want = i64::try_from(max - out.len()).unwrap_or(i64::MAX);
                let ready: Vec<(i64, String, String, i64)> = {
                    let mut query = tx.prepare_cached(
                        "SELECT seq, message_id, body, receive_count FROM queue_messages
                         WHERE stage = ?1 AND visible_at <= ?2 ORDER BY seq LIMIT ?3",
                    )?;
                    let rows = query.query_map(params![stage.name(), now, want], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                    })?;
                    rows.collect::<Result<_, _>>()?
                };
                if ready.is_empty() {
                    break;
                }
                for (seq, message_id, body, receive_count) in ready {
                    if receive_count >= max_receive_count {
                        // received too often without an ack: redrive, as SQS does on receive
                        dead_letter(&tx, seq, now)?;
                        continue;
                    }
                    let receipt = uuid::Uuid::new_v4().to_string();
                    tx.exec_cached(
                        "UPDATE queue_messages SET receive_count = receive_count + 1, visible_at = ?2, receipt = ?3
                         WHERE seq = ?1",
                        params![seq, now.saturating_add(visibility_ms), receipt],
                    )?;
                    out.push(Delivery {
                        message_id,
                        receipt,
                        body,
                        receive_count: u32::try_from(receive_count + 1).unwrap_or(u32::MAX),
                    });
                }
                if out.len() >= max {
                    break;
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn ack(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_string();
        self.call("ack", move |conn| {
            // an unknown or outdated receipt is a no-op: the message was acked or re-received
            conn.exec_cached(
                "DELETE FROM queue_messages WHERE stage = ?1 AND receipt = ?2",
                params![stage.name(), receipt],
            )?;
            Ok(())
        })
        .await
    }

    /// One transaction for the whole batch instead of one per message.
    async fn ack_all(&self, stage: Stage, receipts: &[String]) -> Result<(), QueueError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let receipts = receipts.to_vec();
        self.call("ack_all", move |conn| {
            let tx = write_tx(conn)?;
            for receipt in &receipts {
                tx.exec_cached(
                    "DELETE FROM queue_messages WHERE stage = ?1 AND receipt = ?2",
                    params![stage.name(), receipt],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn fail(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_string();
        let max_receive_count = i64::from(self.max_receive_count());
        self.call("fail", move |conn| {
            let tx = write_tx(conn)?;
            let found: Option<(i64, i64)> = tx
                .row_cached(
                    "SELECT seq, receive_count FROM queue_messages WHERE stage = ?1 AND receipt = ?2",
                    params![stage.name(), receipt],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let Some((seq, receive_count)) = found else {
                return Ok(());
            };
            let now = now_ms();
            if receive_count >= max_receive_count {
                dead_letter(&tx, seq, now)?;
            } else {
                tx.exec_cached("UPDATE queue_messages SET visible_at = ?2 WHERE seq = ?1", params![seq, now])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn dead_letters(&self, stage: Stage, max: usize) -> Result<Vec<Delivery>, QueueError> {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.read("dead_letters", move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT message_id, body, receive_count FROM queue_dead_letters WHERE stage = ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = query.query_map(params![stage.name(), limit], |row| {
                let message_id: String = row.get(0)?;
                Ok(Delivery {
                    receipt: format!("dead:{message_id}"),
                    message_id,
                    body: row.get(1)?,
                    receive_count: row.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}
