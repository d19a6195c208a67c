//! The production wiring reaches the emulator through the environment alone:
//! `Config::from_env` and `load_sdk_config` (which honours `AWS_ENDPOINT_URL`).
//!
//! This binary holds a single test because it sets process environment variables.

use leadq_aws::{Config, DynamoStore, SqsQueue, Timeouts, load_sdk_config};
use leadq_pipeline::{Created, Envelope, LeadStore, Stage, WorkQueue};
use leadq_tests::contract::{at, lead_record};
use leadq_tests::emulator::Moto;
use std::time::Duration;

#[test]
fn from_env_wiring_reaches_the_emulator() {
    let moto = Moto::shared();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // Resources made by the harness; only their names and the endpoint go through the env.
    let (table_name, queues) = runtime.block_on(async {
        let store = moto.dynamo_store().await.expect("a table");
        let queues = moto.queue_config(&moto.sqs()).await.expect("queues");
        (store.table_name().to_string(), queues)
    });
    let mut vars: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL", moto.endpoint().to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_CONFIG_FILE", "/nonexistent/leadq-test-config".into()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/leadq-test-credentials".into(),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("TABLE_NAME", table_name.clone()),
    ];
    for stage in Stage::ALL {
        let urls = &queues.queues[&stage];
        vars.push((leadq_aws::config::queue_var(stage), urls.url.clone()));
        if let Some(dlq) = &urls.dlq_url {
            vars.push((leadq_aws::config::dlq_var(stage), dlq.clone()));
        }
    }
    for (name, value) in &vars {
        // SAFETY: this binary runs this one test; no other thread reads or writes the
        // environment while it is set (the runtime's workers are idle between block_ons).
        unsafe { std::env::set_var(name, value) };
    }

    runtime.block_on(async {
        let config = Config::from_env().expect("every variable set");
        assert_eq!(config.store.table_name, table_name);
        let sdk = load_sdk_config(Timeouts::default()).await;
        let store = DynamoStore::from_sdk_config(&sdk, config.store);
        let queue = SqsQueue::from_sdk_config(&sdk, config.queues);

        let record = lead_record("env-1", Some("env@example.com"));
        assert_eq!(
            store.create_lead(&record).await.expect("create_lead"),
            Created::New
        );
        assert_eq!(
            store.get_lead("env-1").await.expect("get_lead"),
            Some(record)
        );

        let envelope = Envelope::new(Stage::Route, "env-1", "trace", at(0));
        queue
            .send(Stage::Route, std::slice::from_ref(&envelope))
            .await
            .expect("send");
        let got = queue
            .receive(Stage::Route, 1, Duration::from_secs(30))
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
        assert_eq!(Envelope::parse(&got[0].body), Ok(envelope));
    });
}
