//! [`SqliteDirectory`]: the company directory in the store's SQLite file.

use crate::db::{Db, Fail, SqliteOptions, decode, encode};
use async_trait::async_trait;
use leadq_pipeline::StoreError;
use leadq_pipeline::stages::{CompanyDirectory, CompanyFacts, normalise_domain};
use rusqlite::{OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::Path;

/// A [`CompanyDirectory`] in the `companies` table of a leadq SQLite file.
#[derive(Clone)]
pub struct SqliteDirectory {
    db: Db,
}

impl SqliteDirectory {
    /// Opens (creating if needed) the file at `path`, off the async runtime.
    pub async fn open(
        path: impl AsRef<Path>,
        options: &SqliteOptions,
    ) -> Result<SqliteDirectory, StoreError> {
        let path = path.as_ref();
        let db = Db::open_async(path, options)
            .await
            .map_err(|e| open_error(path, e))?;
        Ok(SqliteDirectory { db })
    }

    /// The directory on an already open connection (the store's).
    pub(crate) fn from_db(db: Db) -> SqliteDirectory {
        SqliteDirectory { db }
    }

    /// How many companies the directory holds.
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.db
            .read(|conn| {
                let n: i64 =
                    conn.query_row("SELECT COUNT(*) FROM companies", [], |row| row.get(0))?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
            .map_err(|e| e.store("count_companies"))
    }
}

fn open_error(path: &Path, error: Fail) -> StoreError {
    StoreError::Backend {
        operation: "open",
        message: format!("{}: {error}", path.display()),
    }
}

/// The companies keyed by their normalised domain, the last of a repeated domain winning;
/// those whose domain does not normalise are left out (they could never be looked up).
pub(crate) fn by_domain(companies: &[CompanyFacts]) -> BTreeMap<String, CompanyFacts> {
    let mut keyed = BTreeMap::new();
    for company in companies {
        if let Some(domain) = normalise_domain(&company.domain) {
            let mut stored = company.clone();
            stored.domain = domain.clone();
            keyed.insert(domain, stored);
        }
    }
    keyed
}

#[async_trait]
impl CompanyDirectory for SqliteDirectory {
    async fn lookup(&self, domain: &str) -> Result<Option<CompanyFacts>, StoreError> {
        let Some(domain) = normalise_domain(domain) else {
            return Ok(None);
        };
        self.db
            .read(move |conn| {
                let json: Option<String> = conn
                    .query_row(
                        "SELECT facts FROM companies WHERE domain = ?1",
                        [&domain],
                        |row| row.get(0),
                    )
                    .optional()?;
                json.map(|json| decode("company", &domain, &json))
                    .transpose()
            })
            .await
            .map_err(|e| e.store("lookup_company"))
    }

    async fn upsert(&self, companies: &[CompanyFacts]) -> Result<usize, StoreError> {
        let keyed = by_domain(companies);
        let written = companies
            .iter()
            .filter(|c| normalise_domain(&c.domain).is_some())
            .count();
        self.db
            .call(move |conn| {
                // one transaction: an import is stored whole or not at all
                let tx = conn.savepoint()?;
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT OR REPLACE INTO companies (domain, facts) VALUES (?1, ?2)",
                    )?;
                    for (domain, facts) in &keyed {
                        insert.execute(params![domain, encode("company", facts)?])?;
                    }
                }
                tx.commit()?;
                Ok(written)
            })
            .await
            .map_err(|e| e.store("upsert_companies"))
    }
}
