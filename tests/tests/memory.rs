//! The adapter contract suite against the in-memory adapters.

use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::{LeadStore, WorkQueue};
use leadq_tests::contract::Harness;
use std::sync::Arc;

/// Fresh in-memory adapters per call.
struct Memory;

const MAX_RECEIVE_COUNT: u32 = 3;

#[async_trait::async_trait]
impl Harness for Memory {
    async fn store(&self) -> Arc<dyn LeadStore> {
        Arc::new(MemoryStore::new())
    }

    async fn queue(&self) -> Arc<dyn WorkQueue> {
        Arc::new(MemoryQueue::new(MAX_RECEIVE_COUNT))
    }

    fn max_receive_count(&self) -> u32 {
        MAX_RECEIVE_COUNT
    }
}

leadq_tests::contract_tests!(Memory);

/// A fresh in-memory ledger per call.
struct MemoryLedgers;

#[async_trait::async_trait]
impl leadq_tests::contract::LedgerHarness for MemoryLedgers {
    async fn ledger(&self) -> Arc<dyn leadq_pipeline::RepLedger> {
        Arc::new(leadq_pipeline::memory::MemoryLedger::new())
    }
}

mod ledger {
    use super::MemoryLedgers;
    leadq_tests::ledger_contract_tests!(MemoryLedgers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_routes_never_overfill_a_rep() {
    leadq_tests::contract::check_concurrent_routes_never_overfill_a_rep(
        Arc::new(leadq_pipeline::memory::MemoryStore::new()),
        Arc::new(leadq_pipeline::memory::MemoryLedger::new()),
    )
    .await;
}

#[tokio::test]
async fn erase_frees_the_rep_slot() {
    let store = leadq_pipeline::memory::MemoryStore::new();
    let ledger = Arc::new(store.ledger());
    leadq_tests::contract::check_erase_frees_the_rep_slot(Arc::new(store), ledger).await;
}
