//! The company-directory contract suite against SQLite, plus what only SQLite has: the
//! directory shares the store's file and survives reopening it.

use leadq_local::{SqliteDirectory, SqliteOptions, SqliteStore};
use leadq_pipeline::LeadStore;
use leadq_pipeline::stages::CompanyDirectory;
use leadq_tests::contract::{DirectoryHarness, full_company, lead_record};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tempfile::TempDir;

/// A fresh file in a temporary directory per call.
struct Sqlite {
    dir: TempDir,
    files: AtomicUsize,
}

#[async_trait::async_trait]
impl DirectoryHarness for Sqlite {
    async fn directory(&self) -> Arc<dyn CompanyDirectory> {
        let n = self.files.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.path().join(format!("directory-{n}.db"));
        Arc::new(
            SqliteDirectory::open(path, &SqliteOptions::default())
                .await
                .expect("open directory"),
        )
    }
}

leadq_tests::directory_contract_tests!(Sqlite {
    dir: tempfile::tempdir().expect("a temporary directory"),
    files: AtomicUsize::new(0),
});

#[tokio::test]
async fn the_directory_lives_in_the_store_file_and_survives_reopening() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("leadq.db");
    let options = SqliteOptions::default();
    {
        let store = SqliteStore::open(&path, &options).await.expect("open");
        store
            .create_lead(&lead_record("lead-1", Some("ada@acme.com")))
            .await
            .expect("create_lead");
        let directory = store.directory();
        directory
            .upsert(&[full_company("acme.com", 250)])
            .await
            .expect("upsert");
        assert_eq!(directory.count().await.expect("count"), 1);
    }
    let directory = SqliteDirectory::open(&path, &options)
        .await
        .expect("reopen");
    assert_eq!(
        directory.lookup("acme.com").await.expect("lookup"),
        Some(full_company("acme.com", 250))
    );
    let store = SqliteStore::open(&path, &options).await.expect("reopen");
    assert!(store.get_lead("lead-1").await.expect("get_lead").is_some());
}

#[tokio::test]
async fn a_directory_on_an_unusable_path_fails_to_open() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let err = SqliteDirectory::open(dir.path(), &SqliteOptions::default())
        .await
        .err()
        .expect("a directory is no database file");
    assert!(err.to_string().contains("open"), "{err}");
}
