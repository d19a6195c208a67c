//! The adapter contract suite against DynamoDB and SQS on the emulator (moto_server).

leadq_tests::contract_tests!(leadq_tests::emulator::Moto::shared());

/// A fresh table per ledger, on the shared emulator.
struct MotoLedgers(leadq_tests::emulator::Moto);

#[async_trait::async_trait]
impl leadq_tests::contract::LedgerHarness for MotoLedgers {
    async fn ledger(&self) -> std::sync::Arc<dyn leadq_pipeline::RepLedger> {
        match self.0.dynamo_store().await {
            Ok(store) => std::sync::Arc::new(leadq_aws::DynamoLedger::for_store(&store)),
            Err(message) => panic!("emulator at {}: {message}", self.0.endpoint()),
        }
    }
}

mod ledger {
    use super::MotoLedgers;
    leadq_tests::ledger_contract_tests!(MotoLedgers(leadq_tests::emulator::Moto::shared()));
}
