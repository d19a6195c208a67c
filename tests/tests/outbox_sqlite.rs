//! Outbox delivery over SQLite, to a real HTTP receiver on 127.0.0.1; the two concurrent
//! deliverers each have their own connection to the file.

mod outbox_support;

use leadq_local::SqliteStore;
use leadq_pipeline::LeadStore;
use leadq_tests::shared_file::options;
use std::path::Path;
use std::sync::Arc;

async fn open(path: &Path) -> Arc<dyn LeadStore> {
    Arc::new(
        SqliteStore::open(path, &options())
            .await
            .expect("open store"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_three_times_then_200_is_one_delivery_after_four_attempts() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    outbox_support::check_500_three_times_then_200_is_one_delivery_after_four_attempts(
        open(&dir.path().join("outbox.db")).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_deliverers_at_once_send_each_attempt_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("outbox.db");
    outbox_support::check_two_deliverers_at_once_send_each_attempt_once(
        open(&path).await,
        open(&path).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_past_every_retry_fails_and_resend_delivers() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    outbox_support::check_a_receiver_down_past_every_retry_fails_and_resend_delivers(
        open(&dir.path().join("outbox.db")).await,
    )
    .await;
}
