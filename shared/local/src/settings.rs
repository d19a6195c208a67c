//! [`SqliteSettings`]: named values kept in the SQLite file's `settings` table, such as
//! the ingest secret `leadq serve` generates on first start.

use crate::db::{Db, SqliteOptions};
use leadq_pipeline::StoreError;
use rusqlite::{OptionalExtension, params};
use std::path::Path;

/// The key the local server keeps its generated ingest secret under.
pub const INGEST_SECRET_KEY: &str = "ingest_secret";

/// The key the local server keeps the time of its last training run under (RFC 3339).
pub const LAST_TRAIN_KEY: &str = "schedule_train_last_run";

/// Keys the store itself manages; [`SqliteSettings`] refuses to write them.
const RESERVED_KEYS: [&str; 1] = ["active_model"];

/// The `settings` table of one SQLite file.
#[derive(Clone)]
pub struct SqliteSettings {
    db: Db,
}

/// What [`SqliteSettings::insert_if_absent`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The value stored under the key afterwards.
    pub value: String,
    /// Whether this call stored it (false: an earlier value was kept).
    pub inserted: bool,
}

impl SqliteSettings {
    /// Opens (creating if needed) the file at `path`, off the async runtime.
    pub async fn open(
        path: impl AsRef<Path>,
        options: &SqliteOptions,
    ) -> Result<SqliteSettings, StoreError> {
        let path = path.as_ref();
        let db = Db::open_async(path, options)
            .await
            .map_err(|e| StoreError::Backend {
                operation: "open",
                message: format!("{}: {e}", path.display()),
            })?;
        Ok(SqliteSettings { db })
    }

    /// Settings on a connection already open (the store's, see [`crate::SqliteStore::settings`]).
    pub(crate) fn from_db(db: Db) -> SqliteSettings {
        SqliteSettings { db }
    }

    /// The value stored under `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_string();
        self.db
            .read(move |conn| {
                Ok(conn
                    .query_row("SELECT value FROM settings WHERE key = ?1", [&key], |row| {
                        row.get(0)
                    })
                    .optional()?)
            })
            .await
            .map_err(|e| e.store("settings_get"))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        check_key(key, "settings_put")?;
        let (key, value) = (key.to_string(), value.to_string());
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
                    params![key, value],
                )?;
                Ok(())
            })
            .await
            .map_err(|e| e.store("settings_put"))
    }

    /// Stores `value` under `key` unless a value is there already, in one write
    /// transaction, so two processes starting at once agree on one value.
    pub async fn insert_if_absent(&self, key: &str, value: &str) -> Result<Kept, StoreError> {
        check_key(key, "settings_insert")?;
        let (key, value) = (key.to_string(), value.to_string());
        self.db
            .call(move |conn| {
                let tx = conn.savepoint()?;
                let inserted = tx.execute(
                    "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
                    params![key, value],
                )? == 1;
                let value: String =
                    tx.query_row("SELECT value FROM settings WHERE key = ?1", [&key], |row| {
                        row.get(0)
                    })?;
                tx.commit()?;
                Ok(Kept { value, inserted })
            })
            .await
            .map_err(|e| e.store("settings_insert"))
    }
}

/// Refuses the keys the store manages itself.
fn check_key(key: &str, operation: &'static str) -> Result<(), StoreError> {
    if RESERVED_KEYS.contains(&key) {
        return Err(StoreError::Backend {
            operation,
            message: format!("the key {key:?} is managed by the store"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_value_is_kept_across_opens() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.db");
        let settings = SqliteSettings::open(&path, &SqliteOptions::default())
            .await
            .expect("open");
        assert_eq!(settings.get(INGEST_SECRET_KEY).await, Ok(None));
        assert_eq!(
            settings.insert_if_absent(INGEST_SECRET_KEY, "first").await,
            Ok(Kept {
                value: "first".into(),
                inserted: true
            })
        );
        let reopened = SqliteSettings::open(&path, &SqliteOptions::default())
            .await
            .expect("reopen");
        assert_eq!(
            reopened.insert_if_absent(INGEST_SECRET_KEY, "second").await,
            Ok(Kept {
                value: "first".into(),
                inserted: false
            })
        );
        assert_eq!(
            reopened.get(INGEST_SECRET_KEY).await,
            Ok(Some("first".into()))
        );
    }

    #[tokio::test]
    async fn the_stores_settings_share_its_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.db");
        let store = crate::SqliteStore::open(&path, &SqliteOptions::default())
            .await
            .expect("open");
        let settings = store.settings();
        assert_eq!(settings.put(LAST_TRAIN_KEY, "a").await, Ok(()));
        assert_eq!(settings.get(LAST_TRAIN_KEY).await, Ok(Some("a".into())));
        drop((store, settings));
        let reopened = SqliteSettings::open(&path, &SqliteOptions::default())
            .await
            .expect("reopen");
        assert_eq!(reopened.get(LAST_TRAIN_KEY).await, Ok(Some("a".into())));
    }

    #[tokio::test]
    async fn put_replaces_the_value() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = SqliteSettings::open(dir.path().join("s.db"), &SqliteOptions::default())
            .await
            .expect("open");
        assert_eq!(settings.put(LAST_TRAIN_KEY, "a").await, Ok(()));
        assert_eq!(settings.put(LAST_TRAIN_KEY, "b").await, Ok(()));
        assert_eq!(settings.get(LAST_TRAIN_KEY).await, Ok(Some("b".into())));
    }

    #[tokio::test]
    async fn the_stores_own_keys_are_refused_and_unchanged() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = SqliteSettings::open(dir.path().join("s.db"), &SqliteOptions::default())
            .await
            .expect("open");
        let refused = settings.insert_if_absent("active_model", "x").await;
        assert!(
            matches!(&refused, Err(StoreError::Backend { message, .. }) if message.contains("active_model")),
            "{refused:?}"
        );
        assert!(settings.put("active_model", "x").await.is_err());
        assert_eq!(settings.get("active_model").await, Ok(None));
    }
}
