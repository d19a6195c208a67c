//! The company-directory contract suite against DynamoDB on the emulator, plus the item
//! layout and the BatchWriteItem chunking (the emulator accepts batches AWS refuses, so
//! the chunks are counted).

use leadq_aws::directory::DynamoDirectory;
use leadq_aws::table;
use leadq_pipeline::stages::CompanyDirectory;
use leadq_tests::contract::full_company;
use leadq_tests::emulator::Moto;

leadq_tests::directory_contract_tests!(Moto::shared());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn companies_are_items_of_the_single_table_written_25_at_a_time() {
    let moto = Moto::shared();
    let store = moto.dynamo_store().await.expect("a fresh table");
    let directory = DynamoDirectory::for_store(&store);
    let companies: Vec<_> = (0..60)
        .map(|i| full_company(&format!("c{i}.example"), i))
        .collect();
    moto.calls().reset();
    assert_eq!(directory.upsert(&companies).await.expect("upsert"), 60);
    let calls = moto.calls().snapshot();
    let batches: usize = calls
        .iter()
        .filter(|(target, _)| target.ends_with(".BatchWriteItem"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(batches, 3, "60 = 25 + 25 + 10: {calls:?}");

    let item = store
        .client()
        .get_item()
        .table_name(store.table_name())
        .set_key(Some(table::key("COMPANY#c7.example", table::COMPANY_SK)))
        .send()
        .await
        .expect("get_item")
        .item
        .expect("the company item");
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    assert_eq!(text("type").as_deref(), Some("company"));
    assert_eq!(text("domain").as_deref(), Some("c7.example"));
    assert_eq!(text("industry").as_deref(), Some("software"));
}
