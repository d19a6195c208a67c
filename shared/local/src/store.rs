//! [`SqliteStore`]: the lead store on SQLite.

use crate::db::{CachedSql, Db, Fail, SqliteOptions, decode, encode};
use crate::directory::SqliteDirectory;
use crate::ledger::SqliteLedger;
use crate::queue::SqliteQueue;
use crate::settings::SqliteSettings;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadq_pipeline::embedded::{
    claim_blocked_by, encode_rescore_cursor, rescore_page_start, time_key,
};
use leadq_pipeline::{
    Alert, AlertState, Claim, Created, HistoryEntry, IdempotencyRecord, IdempotencyStatus,
    LeadRecord, LeadStore, ModelVersion, Page, StoreError, StoredEvent, Tombstone, email_hash,
};
use leadq_scoring::Outcome;
use rusqlite::{Connection, OptionalExtension, Savepoint, params};
use std::collections::HashSet;
use std::path::Path;

/// Most events one `append_events` call may carry.
const MAX_APPEND: usize = 99;

/// A [`LeadStore`] in one SQLite file (see the crate docs for the schema).
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) db: Db,
}

impl SqliteStore {
    /// Opens (creating if needed) the file at `path`, off the async runtime.
    pub async fn open(
        path: impl AsRef<Path>,
        options: &SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let db = Db::open_async(path, options)
            .await
            .map_err(|e| open_error(path, e))?;
        Ok(SqliteStore { db })
    }

    /// Opens (creating if needed) the file at `path`, blocking the calling thread.
    pub fn open_blocking(
        path: impl AsRef<Path>,
        options: &SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let db = Db::open(path, options).map_err(|e| open_error(path, e))?;
        Ok(SqliteStore { db })
    }

    /// The durable work queue in the same file, sharing this store's connection.
    pub fn queue(&self) -> SqliteQueue {
        SqliteQueue::from_db(self.db.clone())
    }

    /// The company directory in the same file, sharing this store's connection.
    pub fn directory(&self) -> SqliteDirectory {
        SqliteDirectory::from_db(self.db.clone())
    }

    /// Reps' capacity in the same file, sharing this store's connection.
    pub fn ledger(&self) -> SqliteLedger {
        SqliteLedger::from_db(self.db.clone())
    }

    /// Named settings in the same file, sharing this store's connection.
    pub fn settings(&self) -> SqliteSettings {
        SqliteSettings::from_db(self.db.clone())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.db.path
    }

    async fn call<T, F>(&self, operation: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Fail> + Send + 'static,
    {
        self.db.call(f).await.map_err(|e| e.store(operation))
    }

    async fn read<T, F>(&self, operation: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Fail> + Send + 'static,
    {
        self.db.read(f).await.map_err(|e| e.store(operation))
    }
}

fn open_error(path: &Path, error: Fail) -> StoreError {
    StoreError::Backend {
        operation: "open",
        message: format!("{}: {error}", path.display()),
    }
}

/// A savepoint in the connection's group transaction: this call's writes, all or nothing.
fn write_tx(conn: &mut Connection) -> Result<Savepoint<'_>, Fail> {
    Ok(conn.savepoint()?)
}

fn alert_state(state: AlertState) -> &'static str {
    match state {
        AlertState::Pending => "pending",
        AlertState::Sent => "sent",
        AlertState::Failed => "failed",
    }
}

fn store_error(error: StoreError) -> Fail {
    Fail::Store(error)
}

/// A lead's row, encoded before it goes to the connection's thread: that thread is the
/// store's bottleneck, so it does SQL and nothing else.
struct LeadRow {
    id: String,
    email_key: Option<String>,
    version: u64,
    rescore_at: Option<i64>,
    json: String,
}

impl LeadRow {
    fn of(record: &LeadRecord, operation: &'static str) -> Result<LeadRow, StoreError> {
        Ok(LeadRow {
            id: record.id().to_string(),
            email_key: record.email_key.clone(),
            version: record.version,
            rescore_at: record.rescore_at.map(time_key),
            json: encode("lead", record).map_err(|e| e.store(operation))?,
        })
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// Checks `record.version - 1` is stored and its email key is free, inside `tx`.
fn check_lead_version(
    tx: &Connection,
    operation: &'static str,
    record: &LeadRow,
) -> Result<(), Fail> {
    let stored: Option<i64> = tx
        .row_cached(
            "SELECT version FROM leads WHERE id = ?1",
            [record.id()],
            |row| row.get(0),
        )
        .optional()?;
    let Some(stored) = stored else {
        return Err(store_error(StoreError::NotFound {
            what: "lead",
            id: record.id().to_string(),
        }));
    };
    if stored.checked_add(1) != i64::try_from(record.version).ok() {
        return Err(store_error(StoreError::Conflict {
            lead_id: record.id().to_string(),
            expected: record.version.saturating_sub(1),
        }));
    }
    if let Some(key) = &record.email_key {
        let owner: Option<String> = tx
            .row_cached(
                "SELECT id FROM leads WHERE email_key = ?1 AND id <> ?2",
                params![key, record.id()],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(owner) = owner {
            return Err(store_error(StoreError::Backend {
                operation,
                message: format!("email key {key} already belongs to lead {owner}"),
            }));
        }
    }
    Ok(())
}

fn version_column(version: u64) -> Result<i64, Fail> {
    i64::try_from(version).map_err(|_| Fail::Corrupt(format!("version {version} is out of range")))
}

fn write_lead(tx: &Connection, record: &LeadRow) -> Result<(), Fail> {
    tx.exec_cached(
        "UPDATE leads SET email_key = ?2, version = ?3, rescore_at = ?4, record = ?5 WHERE id = ?1",
        params![
            record.id(),
            record.email_key,
            version_column(record.version)?,
            record.rescore_at,
            record.json
        ],
    )?;
    Ok(())
}

#[async_trait]
impl LeadStore for SqliteStore {
    async fn create_lead(&self, record: &LeadRecord) -> Result<Created, StoreError> {
        let record = LeadRow::of(record, "create_lead")?;
        self.call("create_lead", move |conn| {
            let tx = write_tx(conn)?;
            let existing: Option<String> = tx
                .row_cached("SELECT id FROM leads WHERE id = ?1", [record.id()], |row| row.get(0))
                .optional()?;
            if let Some(id) = existing {
                return Ok(Created::Existing(id));
            }
            if let Some(key) = &record.email_key {
                let owner: Option<String> = tx
                    .row_cached("SELECT id FROM leads WHERE email_key = ?1", [key], |row| row.get(0))
                    .optional()?;
                if let Some(owner) = owner {
                    return Ok(Created::Existing(owner));
                }
            }
            tx.exec_cached(
                "INSERT INTO leads (id, email_key, version, rescore_at, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    record.id(),
                    record.email_key,
                    version_column(record.version)?,
                    record.rescore_at,
                    record.json
                ],
            )?;
            tx.commit()?;
            Ok(Created::New)
        })
        .await
    }

    async fn get_lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError> {
        let lead_id = lead_id.to_string();
        let (lead_id, json) = self
            .read("get_lead", move |conn| {
                let json: Option<String> = conn
                    .row_cached(
                        "SELECT record FROM leads WHERE id = ?1",
                        [&lead_id],
                        |row| row.get(0),
                    )
                    .optional()?;
                Ok((lead_id, json))
            })
            .await?;
        // decoded here, off the connection's thread
        json.map(|json| decode("lead", &lead_id, &json))
            .transpose()
            .map_err(|e| e.store("get_lead"))
    }

    async fn find_lead_by_email(&self, email_key: &str) -> Result<Option<String>, StoreError> {
        let email_key = email_key.to_string();
        self.read("find_lead_by_email", move |conn| {
            Ok(conn
                .row_cached(
                    "SELECT id FROM leads WHERE email_key = ?1",
                    [&email_key],
                    |row| row.get(0),
                )
                .optional()?)
        })
        .await
    }

    async fn update_lead(&self, record: &LeadRecord) -> Result<(), StoreError> {
        let record = LeadRow::of(record, "update_lead")?;
        self.call("update_lead", move |conn| {
            let tx = write_tx(conn)?;
            check_lead_version(&tx, "update_lead", &record)?;
            write_lead(&tx, &record)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn append_events(
        &self,
        record: &LeadRecord,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        if events.len() > MAX_APPEND {
            return Err(StoreError::Backend {
                operation: "append_events",
                message: format!(
                    "{} events in one append, at most {MAX_APPEND}",
                    events.len()
                ),
            });
        }
        let record = LeadRow::of(record, "append_events")?;
        let events = events
            .iter()
            .map(|stored| {
                Ok((
                    stored.event_id.clone(),
                    time_key(stored.event.at),
                    encode("event", stored)?,
                ))
            })
            .collect::<Result<Vec<_>, Fail>>()
            .map_err(|e| e.store("append_events"))?;
        self.call("append_events", move |conn| {
            let tx = write_tx(conn)?;
            check_lead_version(&tx, "append_events", &record)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO events (lead_id, event_id, at, event) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (event_id, at, json) in &events {
                    let inserted = insert
                        .execute(params![record.id(), event_id, at, json])
                        .map_err(Fail::from);
                    match inserted {
                        Ok(_) => {}
                        // dropping `tx` rolls back the events inserted so far
                        Err(e) if e.is_constraint() => {
                            return Err(store_error(StoreError::DuplicateEvent {
                                lead_id: record.id().to_string(),
                                event_id: event_id.clone(),
                            }));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            write_lead(&tx, &record)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn list_events(&self, lead_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let lead_id = lead_id.to_string();
        let rows = self
            .read("list_events", move |conn| {
                let mut query = conn.prepare_cached(
                    "SELECT event_id, event FROM events WHERE lead_id = ?1 ORDER BY at, rowid",
                )?;
                let rows = query.query_map([&lead_id], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        // decoded here, off the connection's thread
        rows.iter()
            .map(|(event_id, json)| decode("event", event_id, json))
            .collect::<Result<_, _>>()
            .map_err(|e| e.store("list_events"))
    }

    async fn existing_event_ids(
        &self,
        lead_id: &str,
        event_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let lead_id = lead_id.to_string();
        let event_ids = event_ids.to_vec();
        self.read("existing_event_ids", move |conn| {
            let mut query =
                conn.prepare_cached("SELECT 1 FROM events WHERE lead_id = ?1 AND event_id = ?2")?;
            let mut found = HashSet::new();
            for event_id in event_ids {
                if query.exists(params![lead_id, event_id])? {
                    found.insert(event_id);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn add_history(&self, lead_id: &str, entry: &HistoryEntry) -> Result<(), StoreError> {
        let lead_id = lead_id.to_string();
        let at = time_key(entry.at);
        let json = encode("history entry", entry).map_err(|e| e.store("add_history"))?;
        self.call("add_history", move |conn| {
            let tx = write_tx(conn)?;
            // checked in the same transaction, so an erase cannot slip in between
            if !tx.row_cached(
                "SELECT EXISTS (SELECT 1 FROM leads WHERE id = ?1)",
                [&lead_id],
                |row| row.get::<_, bool>(0),
            )? {
                return Err(store_error(StoreError::NotFound {
                    what: "lead",
                    id: lead_id,
                }));
            }
            tx.exec_cached(
                "INSERT OR IGNORE INTO history (lead_id, at, entry) VALUES (?1, ?2, ?3)",
                params![lead_id, at, json],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn erase_lead(&self, lead_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let lead_id = lead_id.to_string();
        self.call("erase_lead", move |conn| {
            let tx = write_tx(conn)?;
            // alert payloads carry the person's name and company: none outlives the
            // erase, whatever its state (also when the lead is already gone, so a retry
            // cleans up); the expression is the one `alerts_by_lead` indexes
            let alerts = tx.exec_cached(
                "DELETE FROM alerts WHERE json_extract(alert, '$.lead_id') = ?1",
                [&lead_id],
            )?;
            let email_key: Option<Option<String>> = tx
                .row_cached(
                    "SELECT email_key FROM leads WHERE id = ?1",
                    [&lead_id],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(email_key) = email_key else {
                if alerts > 0 {
                    tx.commit()?;
                }
                return Ok(false);
            };
            tx.exec_cached("DELETE FROM events WHERE lead_id = ?1", [&lead_id])?;
            tx.exec_cached("DELETE FROM history WHERE lead_id = ?1", [&lead_id])?;
            // an erased lead keeps no rep busy (a rep's open count is its holdings)
            tx.exec_cached("DELETE FROM rep_holdings WHERE lead_id = ?1", [&lead_id])?;
            // the email lock is the lead row's UNIQUE email_key: deleting the row frees it
            tx.exec_cached("DELETE FROM leads WHERE id = ?1", [&lead_id])?;
            if let Some(email_key) = email_key {
                let tombstone = Tombstone {
                    email_hash: email_hash(&email_key),
                    lead_id,
                    erased_at: now,
                };
                tx.exec_cached(
                    "INSERT OR REPLACE INTO tombstones (email_hash, lead_id, erased_at, tombstone)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        tombstone.email_hash,
                        tombstone.lead_id,
                        time_key(now),
                        encode("tombstone", &tombstone)?
                    ],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn find_tombstone(&self, email_hash: &str) -> Result<Option<Tombstone>, StoreError> {
        let email_hash = email_hash.to_string();
        self.read("find_tombstone", move |conn| {
            let json: Option<String> = conn
                .row_cached(
                    "SELECT tombstone FROM tombstones WHERE email_hash = ?1",
                    [&email_hash],
                    |row| row.get(0),
                )
                .optional()?;
            json.map(|json| decode("tombstone", &email_hash, &json))
                .transpose()
        })
        .await
    }

    async fn list_history(&self, lead_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let lead_id = lead_id.to_string();
        self.read("list_history", move |conn| {
            let mut query =
                conn.prepare_cached("SELECT entry FROM history WHERE lead_id = ?1 ORDER BY at")?;
            let rows = query.query_map([&lead_id], |row| row.get::<_, String>(0))?;
            let mut entries = Vec::new();
            for row in rows {
                entries.push(decode("history entry of lead", &lead_id, &row?)?);
            }
            Ok(entries)
        })
        .await
    }

    async fn leads_due_for_rescore(
        &self,
        due: DateTime<Utc>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page, StoreError> {
        let after = rescore_page_start(cursor.as_deref())?;
        let limit = limit.max(1);
        self.read("leads_due_for_rescore", move |conn| {
            let (after_key, after_id) = match after {
                Some((key, id)) => (Some(key), id),
                None => (None, String::new()),
            };
            let mut query = conn.prepare_cached(
                "SELECT id, rescore_at FROM leads
                 WHERE rescore_at IS NOT NULL AND rescore_at <= ?1
                   AND (?2 IS NULL OR (rescore_at, id) > (?2, ?3))
                 ORDER BY rescore_at, id LIMIT ?4",
            )?;
            let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
            let rows = query
                .query_map(params![time_key(due), after_key, after_id, fetch], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })?;
            let mut due_leads = Vec::new();
            for row in rows {
                due_leads.push(row?);
            }
            let more = due_leads.len() > limit;
            due_leads.truncate(limit);
            let cursor = match due_leads.last() {
                Some((id, key)) if more => Some(encode_rescore_cursor(*key, id)),
                _ => None,
            };
            Ok(Page {
                ids: due_leads.into_iter().map(|(id, _)| id).collect(),
                cursor,
            })
        })
        .await
    }

    async fn claim_idempotency(
        &self,
        key: &str,
        now: DateTime<Utc>,
        expiration: DateTime<Utc>,
        in_progress_expiration: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let key = key.to_string();
        self.call("claim_idempotency", move |conn| {
            let tx = write_tx(conn)?;
            let stored = read_idempotency(&tx, &key)?;
            if let Some(found) = claim_blocked_by(stored.as_ref(), now) {
                return Ok(found);
            }
            let record = IdempotencyRecord {
                id: key,
                status: IdempotencyStatus::InProgress,
                expiration,
                in_progress_expiration,
                data: None,
            };
            write_idempotency(&tx, &record)?;
            tx.commit()?;
            Ok(Claim::Claimed)
        })
        .await
    }

    async fn complete_idempotency(
        &self,
        key: &str,
        data: Option<String>,
        expiration: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = key.to_string();
        self.call("complete_idempotency", move |conn| {
            let tx = write_tx(conn)?;
            let in_progress_expiration =
                read_idempotency(&tx, &key)?.map_or(expiration, |r| r.in_progress_expiration);
            let record = IdempotencyRecord {
                id: key,
                status: IdempotencyStatus::Completed,
                expiration,
                in_progress_expiration,
                data,
            };
            write_idempotency(&tx, &record)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.call("release_idempotency", move |conn| {
            conn.exec_cached("DELETE FROM idempotency WHERE id = ?1", [&key])?;
            Ok(())
        })
        .await
    }

    async fn enqueue_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        let alert = alert.clone();
        let json = encode("alert", &alert).map_err(|e| e.store("enqueue_alert"))?;
        self.call("enqueue_alert", move |conn| {
            let inserted = conn.exec_cached(
                "INSERT OR IGNORE INTO alerts (id, state, created_at, version, alert) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    alert.id,
                    alert_state(alert.state),
                    time_key(alert.created_at),
                    version_column(alert.version)?,
                    json
                ],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let alert = alert.clone();
        let json = encode("alert", &alert).map_err(|e| e.store("update_alert"))?;
        self.call("update_alert", move |conn| {
            let tx = write_tx(conn)?;
            let stored: Option<i64> = tx
                .row_cached("SELECT version FROM alerts WHERE id = ?1", [&alert.id], |row| row.get(0))
                .optional()?;
            let Some(stored) = stored else {
                return Err(store_error(StoreError::NotFound {
                    what: "alert",
                    id: alert.id.clone(),
                }));
            };
            if stored.checked_add(1) != i64::try_from(alert.version).ok() {
                return Err(store_error(StoreError::Conflict {
                    lead_id: alert.lead_id.clone(),
                    expected: alert.version.saturating_sub(1),
                }));
            }
            tx.exec_cached(
                "UPDATE alerts SET state = ?2, created_at = ?3, version = ?4, alert = ?5 WHERE id = ?1",
                params![
                    alert.id,
                    alert_state(alert.state),
                    time_key(alert.created_at),
                    version_column(alert.version)?,
                    json
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn alerts_in_state(
        &self,
        state: AlertState,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError> {
        self.read("alerts_in_state", move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT id, alert FROM alerts WHERE state = ?1 ORDER BY created_at, id LIMIT ?2",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = query.query_map(params![alert_state(state), limit], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut alerts = Vec::new();
            for row in rows {
                let (id, json) = row?;
                alerts.push(decode("alert", &id, &json)?);
            }
            Ok(alerts)
        })
        .await
    }

    async fn put_outcome(&self, outcome: &Outcome) -> Result<(), StoreError> {
        let outcome = outcome.clone();
        self.call("put_outcome", move |conn| {
            conn.exec_cached(
                "INSERT OR REPLACE INTO outcomes (lead_id, outcome) VALUES (?1, ?2)",
                params![outcome.lead_id, encode("outcome", &outcome)?],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_outcomes(&self) -> Result<Vec<Outcome>, StoreError> {
        self.read("list_outcomes", move |conn| {
            let mut query =
                conn.prepare_cached("SELECT lead_id, outcome FROM outcomes ORDER BY lead_id")?;
            let rows = query.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut outcomes = Vec::new();
            for row in rows {
                let (lead_id, json) = row?;
                outcomes.push(decode("outcome of lead", &lead_id, &json)?);
            }
            Ok(outcomes)
        })
        .await
    }

    async fn put_model_version(&self, version: &ModelVersion) -> Result<bool, StoreError> {
        let version = version.clone();
        self.call("put_model_version", move |conn| {
            let inserted = conn.exec_cached(
                "INSERT OR IGNORE INTO model_versions (version, created_at, model) VALUES (?1, ?2, ?3)",
                params![version.version, time_key(version.created_at), encode("model version", &version)?],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn list_model_versions(&self) -> Result<Vec<ModelVersion>, StoreError> {
        self.read("list_model_versions", move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT version, model FROM model_versions ORDER BY created_at DESC, version DESC",
            )?;
            let rows = query.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut versions = Vec::new();
            for row in rows {
                let (version, json) = row?;
                versions.push(decode("model version", &version, &json)?);
            }
            Ok(versions)
        })
        .await
    }

    async fn set_active_model(&self, version: &str) -> Result<(), StoreError> {
        let version = version.to_string();
        self.call("set_active_model", move |conn| {
            let tx = write_tx(conn)?;
            if !tx.row_cached(
                "SELECT EXISTS (SELECT 1 FROM model_versions WHERE version = ?1)",
                [&version],
                |row| row.get::<_, bool>(0),
            )? {
                return Err(store_error(StoreError::NotFound {
                    what: "model version",
                    id: version,
                }));
            }
            tx.exec_cached(
                "INSERT OR REPLACE INTO settings (key, value) VALUES ('active_model', ?1)",
                [&version],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn active_model(&self) -> Result<Option<ModelVersion>, StoreError> {
        self.read("active_model", move |conn| {
            let row: Option<(String, String)> = conn
                .row_cached(
                    "SELECT m.version, m.model FROM settings s JOIN model_versions m ON m.version = s.value
                     WHERE s.key = 'active_model'",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            row.map(|(version, json)| decode("model version", &version, &json))
                .transpose()
        })
        .await
    }
}

fn read_idempotency(tx: &Connection, key: &str) -> Result<Option<IdempotencyRecord>, Fail> {
    let json: Option<String> = tx
        .row_cached(
            "SELECT record FROM idempotency WHERE id = ?1",
            [key],
            |row| row.get(0),
        )
        .optional()?;
    json.map(|json| decode("idempotency record", key, &json))
        .transpose()
}

fn write_idempotency(tx: &Connection, record: &IdempotencyRecord) -> Result<(), Fail> {
    tx.exec_cached(
        "INSERT OR REPLACE INTO idempotency (id, expiration, record) VALUES (?1, ?2, ?3)",
        params![
            record.id,
            time_key(record.expiration),
            encode("idempotency record", record)?
        ],
    )?;
    Ok(())
}
