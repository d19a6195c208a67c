//! Outbox delivery over DynamoDB on the emulator (moto_server), to a real HTTP receiver
//! on 127.0.0.1; the two concurrent deliverers each have their own client to the table.

mod outbox_support;

use leadq_aws::DynamoStore;
use leadq_pipeline::LeadStore;
use leadq_tests::emulator::Moto;
use std::sync::Arc;

/// A fresh table on the shared emulator.
async fn table(moto: &Moto) -> DynamoStore {
    match moto.dynamo_store().await {
        Ok(store) => store,
        Err(message) => panic!("emulator at {}: {message}", moto.endpoint()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_three_times_then_200_is_one_delivery_after_four_attempts() {
    let moto = Moto::shared();
    outbox_support::check_500_three_times_then_200_is_one_delivery_after_four_attempts(Arc::new(
        table(&moto).await,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_deliverers_at_once_send_each_attempt_once() {
    let moto = Moto::shared();
    let store = table(&moto).await;
    // a second client on the same table, as a second Lambda would have
    let other = DynamoStore::new(
        moto.dynamodb(),
        leadq_aws::StoreConfig {
            table_name: store.table_name().to_string(),
            event_retention: None,
        },
    );
    outbox_support::check_two_deliverers_at_once_send_each_attempt_once(
        Arc::new(store) as Arc<dyn LeadStore>,
        Arc::new(other),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_past_every_retry_fails_and_resend_delivers() {
    let moto = Moto::shared();
    outbox_support::check_a_receiver_down_past_every_retry_fails_and_resend_delivers(Arc::new(
        table(&moto).await,
    ))
    .await;
}
