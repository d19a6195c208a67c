//! Hook URLs and signing secrets from SSM SecureStrings, on the emulator (moto emulates
//! SSM), as the template deploys them: the alert file names `X`, the function's
//! environment sets `X_PARAM`.
//!
//! Needs `moto_server` like every emulator test: missing, the test fails and says how to
//! install it; it never skips.

use leadq_aws::{ParamEnv, ParamError};
use leadq_route::{ALERTS_FILE_VAR, ROUTING_FILE_VAR, config_from_lookup};
use leadq_tests::emulator::{Moto, put_secure_string, unique_name};
use std::path::Path;

const SLACK_URL: &str = "https://hooks.slack.com/services/T000/B000/from-ssm";
const CRM_URL: &str = "https://crm.example.com/leadq/from-ssm";
const CRM_SECRET: &str = "crm-secret-from-ssm-0123456789";

fn ssm() -> aws_sdk_ssm::Client {
    Moto::shared().ssm()
}

async fn put(client: &aws_sdk_ssm::Client, prefix: &str, leaf: &str, value: &str) -> String {
    let name = format!("/{prefix}/hooks/{leaf}");
    put_secure_string(client, &name, value).await;
    name
}

fn example(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(file)
        .display()
        .to_string()
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn the_example_alert_file_gets_its_hooks_from_secure_strings() {
    let client = ssm();
    let prefix = unique_name("hooks");
    let slack = put(&client, &prefix, "slack-sales-url", SLACK_URL).await;
    let crm = put(&client, &prefix, "crm-webhook-url", CRM_URL).await;
    let secret = put(&client, &prefix, "crm-webhook-secret", CRM_SECRET).await;
    let (routing, alerts) = (example("routing.toml"), example("alerts.toml"));
    let env = ParamEnv::resolve(
        vars(&[
            (ROUTING_FILE_VAR, &routing),
            (ALERTS_FILE_VAR, &alerts),
            ("LEADQ_SLACK_SALES_URL_PARAM", &slack),
            ("LEADQ_CRM_WEBHOOK_URL_PARAM", &crm),
            ("LEADQ_CRM_WEBHOOK_SECRET_PARAM", &secret),
        ]),
        &client,
    )
    .await
    .expect("read from SSM");

    let config = config_from_lookup(|var| env.get(var)).expect("a usable configuration");
    let hooks = config.alerts.expect("alerts configured").hooks;
    assert_eq!(hooks["sales_slack"].url(), SLACK_URL);
    assert_eq!(hooks["crm"].url(), CRM_URL);
    // decrypted: without WithDecryption the emulator, like SSM, hands back ciphertext
    assert_eq!(hooks["crm"].secret(), Some(CRM_SECRET.as_bytes()));
    let shown = format!("{env:?}");
    assert!(
        !shown.contains(CRM_SECRET) && !shown.contains(SLACK_URL),
        "credentials never printed: {shown}"
    );
}

#[tokio::test]
async fn a_variable_set_in_the_environment_wins_and_its_parameter_is_not_read() {
    let client = ssm();
    // a parameter that does not exist: reading it would fail
    let absent = format!("/{}/hooks/absent", unique_name("hooks"));
    let env = ParamEnv::resolve(
        vars(&[
            ("LEADQ_SLACK_SALES_URL", SLACK_URL),
            ("LEADQ_SLACK_SALES_URL_PARAM", &absent),
            ("BLANK_PARAM", "  "),
        ]),
        &client,
    )
    .await
    .expect("SSM not asked");
    assert_eq!(env.get("LEADQ_SLACK_SALES_URL").as_deref(), Some(SLACK_URL));
    assert_eq!(
        env.get("BLANK"),
        None,
        "a blank parameter name names nothing"
    );
}

#[tokio::test]
async fn a_missing_parameter_is_an_error_naming_the_variable_and_the_parameter() {
    let client = ssm();
    let prefix = unique_name("hooks");
    let present = put(&client, &prefix, "crm-webhook-url", CRM_URL).await;
    let absent = format!("/{prefix}/hooks/crm-webhook-secret");
    let err = ParamEnv::resolve(
        vars(&[
            ("LEADQ_CRM_WEBHOOK_URL_PARAM", &present),
            ("LEADQ_CRM_WEBHOOK_SECRET_PARAM", &absent),
        ]),
        &client,
    )
    .await
    .expect_err("no such parameter");
    assert_eq!(
        err,
        ParamError::NotFound {
            var: "LEADQ_CRM_WEBHOOK_SECRET_PARAM".into(),
            name: absent.clone(),
        }
    );
    let message = err.to_string();
    assert!(
        message.starts_with("LEADQ_CRM_WEBHOOK_SECRET_PARAM="),
        "{message}"
    );
    assert!(message.contains(&absent), "{message}");
}

#[tokio::test]
async fn more_parameters_than_one_call_reads_are_all_resolved() {
    let client = ssm();
    let prefix = unique_name("many");
    let mut pairs = Vec::new();
    for i in 0..23 {
        let name = put(&client, &prefix, &format!("p{i}"), &format!("value-{i}")).await;
        pairs.push((format!("VAR_{i}_PARAM"), name));
    }
    let env = ParamEnv::resolve(pairs, &client).await.expect("read all");
    for i in 0..23 {
        assert_eq!(env.get(&format!("VAR_{i}")), Some(format!("value-{i}")));
    }
}
