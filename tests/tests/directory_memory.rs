//! The company-directory contract suite against the in-memory directory.

use leadq_pipeline::stages::{CompanyDirectory, MemoryDirectory};
use leadq_tests::contract::DirectoryHarness;
use std::sync::Arc;

/// A fresh in-memory directory per call.
struct Memory;

#[async_trait::async_trait]
impl DirectoryHarness for Memory {
    async fn directory(&self) -> Arc<dyn CompanyDirectory> {
        Arc::new(MemoryDirectory::new())
    }
}

leadq_tests::directory_contract_tests!(Memory);
