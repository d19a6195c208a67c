//! Outbox delivery over the in-memory store, to a real HTTP receiver on 127.0.0.1.

mod outbox_support;

use leadq_pipeline::LeadStore;
use leadq_pipeline::memory::MemoryStore;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_three_times_then_200_is_one_delivery_after_four_attempts() {
    outbox_support::check_500_three_times_then_200_is_one_delivery_after_four_attempts(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_deliverers_at_once_send_each_attempt_once() {
    let store: Arc<dyn LeadStore> = Arc::new(MemoryStore::new());
    outbox_support::check_two_deliverers_at_once_send_each_attempt_once(Arc::clone(&store), store)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_past_every_retry_fails_and_resend_delivers() {
    outbox_support::check_a_receiver_down_past_every_retry_fails_and_resend_delivers(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}
