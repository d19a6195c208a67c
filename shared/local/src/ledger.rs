//! [`SqliteLedger`]: reps' capacity in the store's SQLite file.
//!
//! `rep_holdings` holds one row per lead that holds a rep's slot (the lead id is the key,
//! so a lead holds one slot at most); `rep_days` counts the leads given to each rep per
//! day. A rep's open count is the number of its holdings, kept in `rep_open` by triggers on
//! `rep_holdings`, so a release or an erase that deletes a holding also counts. A take checks both caps and
//! writes the holding and the day's count in one savepoint of the connection's
//! `BEGIN IMMEDIATE` group transaction (see the crate's Concurrency section), so takes from
//! other tasks and processes are serialised and never overfill a rep.

use crate::db::{CachedSql, Db, Fail, SqliteOptions};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use leadq_pipeline::{RepCaps, RepLedger, RepLoad, StoreError, Take};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

/// A [`RepLedger`] in the `rep_holdings` and `rep_days` tables of a leadq SQLite file.
#[derive(Clone)]
pub struct SqliteLedger {
    db: Db,
}

impl SqliteLedger {
    /// Opens (creating if needed) the file at `path`, off the async runtime.
    pub async fn open(
        path: impl AsRef<Path>,
        options: &SqliteOptions,
    ) -> Result<SqliteLedger, StoreError> {
        let path = path.as_ref();
        let db = Db::open_async(path, options)
            .await
            .map_err(|e| StoreError::Backend {
                operation: "open",
                message: format!("{}: {e}", path.display()),
            })?;
        Ok(SqliteLedger { db })
    }

    /// The ledger on an already open connection (the store's).
    pub(crate) fn from_db(db: Db) -> SqliteLedger {
        SqliteLedger { db }
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

fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn load_in(conn: &Connection, rep: &str, day: &str) -> Result<RepLoad, Fail> {
    let open: Option<i64> = conn
        .row_cached("SELECT open FROM rep_open WHERE rep = ?1", [rep], |row| {
            row.get(0)
        })
        .optional()?;
    let given: Option<i64> = conn
        .row_cached(
            "SELECT given FROM rep_days WHERE rep = ?1 AND day = ?2",
            params![rep, day],
            |row| row.get(0),
        )
        .optional()?;
    Ok(RepLoad {
        open: count(open.unwrap_or(0)),
        new_today: count(given.unwrap_or(0)),
    })
}

fn holder_in(conn: &Connection, lead_id: &str) -> Result<Option<String>, Fail> {
    Ok(conn
        .row_cached(
            "SELECT rep FROM rep_holdings WHERE lead_id = ?1",
            [lead_id],
            |row| row.get(0),
        )
        .optional()?)
}

#[async_trait]
impl RepLedger for SqliteLedger {
    async fn take(
        &self,
        rep: &str,
        lead_id: &str,
        day: NaiveDate,
        caps: RepCaps,
        now: DateTime<Utc>,
    ) -> Result<Take, StoreError> {
        let (rep, lead_id, day) = (rep.to_string(), lead_id.to_string(), day_key(day));
        let taken_at = now.timestamp_millis();
        self.call("take_capacity", move |conn| {
            let tx = conn.savepoint()?;
            let load = load_in(&tx, &rep, &day)?;
            match holder_in(&tx, &lead_id)? {
                Some(holder) if holder == rep => return Ok(Take::AlreadyHeld(load)),
                Some(holder) => return Ok(Take::HeldByOther(holder)),
                None => {}
            }
            if load.open >= caps.max_open_leads || load.new_today >= caps.max_new_per_day {
                return Ok(Take::Full(load));
            }
            tx.exec_cached(
                "INSERT INTO rep_holdings (lead_id, rep, day, taken_at) VALUES (?1, ?2, ?3, ?4)",
                params![lead_id, rep, day, taken_at],
            )?;
            tx.exec_cached(
                "INSERT INTO rep_days (rep, day, given) VALUES (?1, ?2, 1)
                 ON CONFLICT (rep, day) DO UPDATE SET given = given + 1",
                params![rep, day],
            )?;
            let after = load_in(&tx, &rep, &day)?;
            tx.commit()?;
            Ok(Take::Taken(after))
        })
        .await
    }

    async fn release(&self, lead_id: &str) -> Result<Option<String>, StoreError> {
        let lead_id = lead_id.to_string();
        self.call("release_capacity", move |conn| {
            let tx = conn.savepoint()?;
            let holder = holder_in(&tx, &lead_id)?;
            if holder.is_some() {
                tx.exec_cached("DELETE FROM rep_holdings WHERE lead_id = ?1", [&lead_id])?;
                tx.commit()?;
            }
            Ok(holder)
        })
        .await
    }

    async fn holder(&self, lead_id: &str) -> Result<Option<String>, StoreError> {
        let lead_id = lead_id.to_string();
        self.read("capacity_holder", move |conn| holder_in(conn, &lead_id))
            .await
    }

    async fn load(&self, rep: &str, day: NaiveDate) -> Result<RepLoad, StoreError> {
        let (rep, day) = (rep.to_string(), day_key(day));
        self.read("rep_load", move |conn| load_in(conn, &rep, &day))
            .await
    }
}
