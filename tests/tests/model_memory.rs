//! Learning from outcomes on the in-memory store: promotion, refusal, rollback, the guard.

mod model_support;

use leadq_pipeline::memory::MemoryStore;

#[tokio::test]
async fn a_better_challenger_is_promoted_and_can_be_rolled_back() {
    model_support::check_a_better_challenger_is_promoted_and_can_be_rolled_back(
        &MemoryStore::new(),
    )
    .await;
}

#[tokio::test]
async fn a_worse_challenger_is_refused_and_kept() {
    model_support::check_a_worse_challenger_is_refused_and_kept(&MemoryStore::new()).await;
}

#[tokio::test]
async fn too_few_outcomes_store_nothing() {
    model_support::check_too_few_outcomes_store_nothing(&MemoryStore::new()).await;
}
