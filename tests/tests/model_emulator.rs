//! Learning from outcomes on DynamoDB (the emulator, moto_server): the train job promotes a
//! better challenger and refuses a worse one, every version is kept, a rollback is
//! recorded. Without the emulator these tests fail (never skip).

mod model_support;

use leadq_aws::DynamoStore;
use leadq_tests::emulator::Moto;

/// A fresh table on the shared emulator.
async fn table(moto: &Moto) -> DynamoStore {
    match moto.dynamo_store().await {
        Ok(store) => store,
        Err(message) => panic!("emulator at {}: {message}", moto.endpoint()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_better_challenger_is_promoted_and_can_be_rolled_back() {
    let moto = Moto::shared();
    model_support::check_a_better_challenger_is_promoted_and_can_be_rolled_back(
        &table(&moto).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worse_challenger_is_refused_and_kept() {
    let moto = Moto::shared();
    model_support::check_a_worse_challenger_is_refused_and_kept(&table(&moto).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_outcomes_store_nothing() {
    let moto = Moto::shared();
    model_support::check_too_few_outcomes_store_nothing(&table(&moto).await).await;
}
