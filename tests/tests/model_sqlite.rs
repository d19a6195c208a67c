//! Learning from outcomes on the SQLite store (the local mode and `leadq models`).

mod model_support;

use leadq_local::SqliteStore;
use leadq_tests::shared_file::options;

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("models.db"), &options())
        .await
        .expect("open store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_better_challenger_is_promoted_and_can_be_rolled_back() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    model_support::check_a_better_challenger_is_promoted_and_can_be_rolled_back(&open(&dir).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worse_challenger_is_refused_and_kept() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    model_support::check_a_worse_challenger_is_refused_and_kept(&open(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_outcomes_store_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    model_support::check_too_few_outcomes_store_nothing(&open(&dir).await).await;
}
