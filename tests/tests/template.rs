//! The SAM template (`infra/template.yaml`) against the code it deploys.
//!
//! - every `functions/*` crate has exactly one `AWS::Serverless::Function`, built by
//!   cargo lambda from a `Binary` that is a `[[bin]]` of that crate;
//! - the table's keys, indexes and TTL are what `leadq_aws::table::create_table` builds on
//!   the emulator (the table every emulator test runs on);
//! - each stage's queue redrives to its own dead-letter queue after as many receives as the
//!   local queues allow, outlives its consumer's timeout six times, and is consumed with
//!   ReportBatchItemFailures and a batching window; the queue variables of `config.rs`
//!   point at the right queues;
//! - the shipped routing and alert files load, every hook variable they name is passed as
//!   an SSM parameter name, the schedules' inputs are jobs recalibrate takes, and every
//!   checkov suppression says why.
//!
//! The YAML is read with saphyr, which keeps CloudFormation's short tags; they are turned
//! into the long JSON form (`!Ref X` is `{"Ref": "X"}`, `!GetAtt A.B` is
//! `{"Fn::GetAtt": ["A", "B"]}`) so the checks below see one shape.

use aws_sdk_dynamodb::types::{KeyType, ProjectionType, TimeToLiveStatus};
use leadq_aws::config::{dlq_var, queue_var};
use leadq_pipeline::Stage;
use leadq_pipeline::memory::DEFAULT_MAX_RECEIVE_COUNT;
use leadq_pipeline::metrics;
use leadq_tests::emulator::{Moto, unique_name, workspace_root};
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The metric names the functions emit (namespace `leadq`); alarms and the dashboard use no other.
const METRICS: [&str; 7] = [
    metrics::LEADS_INGESTED,
    metrics::REFUSALS,
    metrics::LEADS_SCORED,
    metrics::VERDICT_CHANGES,
    metrics::ALERTS_SENT,
    metrics::ALERTS_FAILED,
    metrics::STAGE_LATENCY,
];

fn infra_dir() -> PathBuf {
    workspace_root().join("infra")
}

/// A YAML node as CloudFormation's JSON form.
fn to_json(node: &Yaml) -> Result<Value, String> {
    Ok(match node {
        Yaml::Value(Scalar::Null) => Value::Null,
        Yaml::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        Yaml::Value(Scalar::Integer(i)) => json!(i),
        Yaml::Value(Scalar::FloatingPoint(f)) => json!(f.into_inner()),
        Yaml::Value(Scalar::String(s)) => Value::String(s.to_string()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Mapping(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let key = match to_json(key)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                if map.insert(key.clone(), to_json(value)?).is_some() {
                    return Err(format!("duplicate key {key}"));
                }
            }
            Value::Object(map)
        }
        Yaml::Tagged(tag, inner) => {
            let inner = to_json(inner)?;
            let name = tag.suffix.as_str();
            match (tag.handle.as_str(), name) {
                ("!", "Ref") => json!({ "Ref": inner }),
                ("!", "Condition") => json!({ "Condition": inner }),
                ("!", "GetAtt") => match inner {
                    Value::String(path) => match path.split_once('.') {
                        Some((resource, attribute)) => {
                            json!({ "Fn::GetAtt": [resource, attribute] })
                        }
                        None => return Err(format!("!GetAtt {path}: expected Resource.Attribute")),
                    },
                    other => json!({ "Fn::GetAtt": other }),
                },
                ("!", _) => json!({ format!("Fn::{name}"): inner }),
                (handle, _) => return Err(format!("unknown tag {handle}{name}")),
            }
        }
        other => return Err(format!("unexpected YAML node {other:?}")),
    })
}

fn template() -> Value {
    let path = infra_dir().join("template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let docs = Yaml::load_from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    assert_eq!(docs.len(), 1, "one YAML document");
    to_json(&docs[0]).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn resources(template: &Value) -> &Map<String, Value> {
    template["Resources"].as_object().expect("Resources")
}

fn of_type<'a>(template: &'a Value, kind: &str) -> BTreeMap<&'a str, &'a Value> {
    resources(template)
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str(), r))
        .collect()
}

fn reference(name: &str) -> Value {
    json!({ "Ref": name })
}

fn get_att(name: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [name, attribute] })
}

/// The function's property, else the Globals' one.
fn function_property<'a>(template: &'a Value, function: &'a Value, key: &str) -> &'a Value {
    match &function["Properties"][key] {
        Value::Null => &template["Globals"]["Function"][key],
        own => own,
    }
}

/// The function's environment: the Globals' variables, then its own.
fn environment(template: &Value, function: &Value) -> Map<String, Value> {
    let mut vars = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if let Some(own) = function["Properties"]["Environment"]["Variables"].as_object() {
        vars.extend(own.clone());
    }
    vars
}

/// The `[[bin]]` names of a crate.
fn binaries(crate_dir: &Path) -> Vec<String> {
    let path = crate_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let manifest: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    manifest
        .get("bin")
        .and_then(|bins| bins.as_array())
        .map(|bins| {
            bins.iter()
                .filter_map(|bin| bin.get("name").and_then(|n| n.as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The template's functions by Binary, with their resource names.
fn functions_by_binary(template: &Value) -> BTreeMap<String, (&str, &Value)> {
    let mut by_binary = BTreeMap::new();
    for (name, function) in of_type(template, "AWS::Serverless::Function") {
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name} is built by cargo lambda"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names its Binary"));
        let previous = by_binary.insert(binary.to_string(), (name, function));
        assert!(previous.is_none(), "two functions build {binary}");
    }
    by_binary
}

#[test]
fn every_function_crate_has_exactly_one_function_and_its_binary_exists() {
    let template = template();
    let by_binary = functions_by_binary(&template);
    let functions_dir = workspace_root().join("functions");
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(&functions_dir).expect("functions/") {
        let dir = entry.expect("an entry").path();
        if dir.join("Cargo.toml").is_file() {
            crates.push(dir);
        }
    }
    assert_eq!(crates.len(), 5, "five function crates: {crates:?}");
    let mut deployed = BTreeSet::new();
    for dir in &crates {
        let in_template: Vec<String> = binaries(dir)
            .into_iter()
            .filter(|bin| by_binary.contains_key(bin))
            .collect();
        assert_eq!(
            in_template.len(),
            1,
            "{dir:?}: exactly one of its binaries is a template function, got {in_template:?}"
        );
        deployed.extend(in_template);
    }
    let all: BTreeSet<String> = by_binary.keys().cloned().collect();
    assert_eq!(
        all, deployed,
        "every template function builds a binary of a function crate"
    );

    // cargo lambda builds each Binary from the workspace root that holds the crates
    for (binary, (name, function)) in &by_binary {
        let code_uri = function_property(&template, function, "CodeUri")
            .as_str()
            .unwrap_or_else(|| panic!("{name}: CodeUri"));
        let root = infra_dir().join(code_uri);
        let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{name} ({binary}): CodeUri {code_uri}: {e}"));
        assert!(
            manifest.contains("[workspace]"),
            "{name}: CodeUri is the workspace root"
        );
        assert_eq!(
            function_property(&template, function, "Runtime"),
            "provided.al2023"
        );
        assert_eq!(
            function_property(&template, function, "Handler"),
            "bootstrap"
        );
        assert_eq!(
            function_property(&template, function, "Architectures"),
            &json!([reference("Architecture")]),
            "{name}"
        );
    }
    let architecture = &template["Parameters"]["Architecture"];
    assert_eq!(architecture["Default"], "arm64");
    assert_eq!(architecture["AllowedValues"], json!(["arm64", "x86_64"]));
}

#[test]
fn the_table_is_the_one_the_emulator_tests_create() {
    let template = template();
    let table = &resources(&template)["LeadsTable"];
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    let props = &table["Properties"];
    assert_eq!(props["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(props["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(table["DeletionPolicy"], "Retain");

    let moto = Moto::shared();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (description, ttl) = runtime.block_on(async {
        let client = moto.dynamodb();
        let name = unique_name("leadq-template");
        leadq_aws::table::create_table(&client, &name)
            .await
            .expect("create_table");
        let table = client
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .expect("DescribeTable")
            .table
            .expect("a table");
        let ttl = client
            .describe_time_to_live()
            .table_name(&name)
            .send()
            .await
            .expect("DescribeTimeToLive")
            .time_to_live_description
            .expect("a TTL description");
        (table, ttl)
    });

    let key_schema = |elements: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Value {
        Value::Array(
            elements
                .iter()
                .map(|e| {
                    let kind = match e.key_type() {
                        KeyType::Hash => "HASH",
                        KeyType::Range => "RANGE",
                        other => panic!("key type {other:?}"),
                    };
                    json!({ "AttributeName": e.attribute_name(), "KeyType": kind })
                })
                .collect(),
        )
    };
    assert_eq!(props["KeySchema"], key_schema(description.key_schema()));

    let attributes: BTreeSet<(String, String)> = description
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_string(),
                a.attribute_type().as_str().to_string(),
            )
        })
        .collect();
    let declared: BTreeSet<(String, String)> = props["AttributeDefinitions"]
        .as_array()
        .expect("AttributeDefinitions")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap_or_default().to_string(),
                a["AttributeType"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(declared, attributes);

    let built: BTreeMap<String, Value> = description
        .global_secondary_indexes()
        .iter()
        .map(|index| {
            let projection = match index.projection().and_then(|p| p.projection_type()) {
                Some(ProjectionType::All) => "ALL",
                Some(ProjectionType::KeysOnly) => "KEYS_ONLY",
                Some(ProjectionType::Include) => "INCLUDE",
                other => panic!("projection {other:?}"),
            };
            let name = index.index_name().unwrap_or_default().to_string();
            let shape = json!({
                "IndexName": name,
                "KeySchema": key_schema(index.key_schema()),
                "Projection": { "ProjectionType": projection },
            });
            (name, shape)
        })
        .collect();
    let declared: BTreeMap<String, Value> = props["GlobalSecondaryIndexes"]
        .as_array()
        .expect("GlobalSecondaryIndexes")
        .iter()
        .map(|index| {
            (
                index["IndexName"].as_str().unwrap_or_default().to_string(),
                index.clone(),
            )
        })
        .collect();
    assert_eq!(declared, built);

    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(
        props["TimeToLiveSpecification"],
        json!({ "AttributeName": ttl.attribute_name().unwrap_or_default(), "Enabled": true })
    );
    assert_eq!(
        leadq_aws::table::TTL,
        ttl.attribute_name().unwrap_or_default()
    );
}

#[test]
fn each_stage_queue_redrives_outlives_its_consumer_and_reports_item_failures() {
    let template = template();
    let by_binary = functions_by_binary(&template);
    let queues = of_type(&template, "AWS::SQS::Queue");
    let mut dead_letter_queues = BTreeSet::new();
    for stage in Stage::ALL {
        let (name, consumer) = by_binary[stage.name()];
        // the consumer is fed by exactly one SQS event source
        let sources: Vec<&Value> = consumer["Properties"]["Events"]
            .as_object()
            .map(|events| events.values().filter(|e| e["Type"] == "SQS").collect())
            .unwrap_or_default();
        assert_eq!(sources.len(), 1, "{name}: one SQS event source");
        let source = &sources[0]["Properties"];
        let queue_name = source["Queue"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: Queue is !GetAtt <queue>.Arn"));
        assert_eq!(source["Queue"], get_att(queue_name, "Arn"));
        assert_eq!(
            source["FunctionResponseTypes"],
            json!(["ReportBatchItemFailures"]),
            "{name}: a failed record alone is redelivered"
        );
        let window = source["MaximumBatchingWindowInSeconds"]
            .as_u64()
            .unwrap_or(0);
        assert!(
            (1..=300).contains(&window),
            "{name}: a batching window, got {window}"
        );
        let batch = source["BatchSize"].as_u64().unwrap_or(0);
        assert!((1..=10).contains(&batch), "{name}: batch size {batch}");

        let queue = queues[queue_name];
        let timeout = function_property(&template, consumer, "Timeout")
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: Timeout"));
        let visibility = queue["Properties"]["VisibilityTimeout"]
            .as_u64()
            .unwrap_or(30);
        assert!(
            visibility >= 6 * timeout,
            "{queue_name}: visibility {visibility} s < 6 x {name}'s timeout {timeout} s"
        );
        let redrive = &queue["Properties"]["RedrivePolicy"];
        assert_eq!(
            redrive["maxReceiveCount"],
            json!(DEFAULT_MAX_RECEIVE_COUNT),
            "{queue_name}: dead-letters after as many receives as the local queues"
        );
        assert_eq!(
            redrive["maxReceiveCount"],
            json!(leadq_tests::emulator::MAX_RECEIVE_COUNT),
            "{queue_name}: dead-letters after as many receives as the emulator tests' queues"
        );
        let dlq_name = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{queue_name}: deadLetterTargetArn is !GetAtt <dlq>.Arn"));
        assert!(queues.contains_key(dlq_name), "{dlq_name} is a queue");
        assert!(
            dead_letter_queues.insert(dlq_name),
            "{dlq_name}: one DLQ per stage"
        );
        let dlq_retention = queues[dlq_name]["Properties"]["MessageRetentionPeriod"]
            .as_u64()
            .unwrap_or(345_600);
        let retention = queue["Properties"]["MessageRetentionPeriod"]
            .as_u64()
            .unwrap_or(345_600);
        assert!(
            dlq_retention > retention,
            "{dlq_name} keeps messages longer than {queue_name}"
        );

        // every function finds this stage's queue and DLQ through config.rs's variables
        for (binary, (function_name, function)) in &by_binary {
            let vars = environment(&template, function);
            assert_eq!(vars[queue_var(stage)], reference(queue_name), "{binary}");
            assert_eq!(vars[dlq_var(stage)], reference(dlq_name), "{function_name}");
            assert_eq!(
                vars["TABLE_NAME"],
                reference("LeadsTable"),
                "{function_name}"
            );
        }

        // alarms: dead letters and the age of the oldest message
        let alarms = of_type(&template, "AWS::CloudWatch::Alarm");
        let watched = |metric: &str, queue: &str| {
            alarms.values().any(|a| {
                a["Properties"]["MetricName"] == metric
                    && a["Properties"]["Dimensions"]
                        == json!([{ "Name": "QueueName", "Value": get_att(queue, "QueueName") }])
            })
        };
        assert!(
            watched("ApproximateNumberOfMessagesVisible", dlq_name),
            "{dlq_name}"
        );
        assert!(
            watched("ApproximateAgeOfOldestMessage", queue_name),
            "{queue_name}"
        );
    }
}

#[test]
fn every_function_has_an_error_alarm_and_metric_alarms_use_the_issue_names() {
    let template = template();
    let alarms = of_type(&template, "AWS::CloudWatch::Alarm");
    for (binary, (name, _)) in functions_by_binary(&template) {
        assert!(
            alarms
                .values()
                .any(|a| a["Properties"]["MetricName"] == "Errors"
                    && a["Properties"]["Dimensions"]
                        == json!([{ "Name": "FunctionName", "Value": reference(name) }])),
            "{binary}: an Errors alarm"
        );
    }
    let binaries: BTreeSet<String> = functions_by_binary(&template).into_keys().collect();
    for (alarm, body) in &alarms {
        if body["Properties"]["Namespace"] == metrics::NAMESPACE {
            let metric = body["Properties"]["MetricName"]
                .as_str()
                .unwrap_or_default();
            assert!(
                METRICS.contains(&metric),
                "{alarm}: unknown metric {metric}"
            );
            let dimensions = body["Properties"]["Dimensions"]
                .as_array()
                .expect("dimensions");
            // each main installs its recorder with its binary's name as the Function value
            assert_eq!(dimensions[0]["Name"], metrics::FUNCTION, "{alarm}");
            let function = dimensions[0]["Value"].as_str().unwrap_or_default();
            assert!(
                binaries.contains(function),
                "{alarm}: Function {function:?}"
            );
        }
    }
    // the dashboard names only the issue's metrics in its leadq namespace
    let dashboard = &resources(&template)["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0];
    let body = dashboard.as_str().expect("a dashboard body");
    for line in body.lines().filter(|l| l.contains("\"leadq\", \"")) {
        let metric = line.split('"').nth(3).unwrap_or_default();
        assert!(
            METRICS.contains(&metric),
            "dashboard: unknown metric {metric}"
        );
    }
    for metric in METRICS {
        assert!(body.contains(metric), "the dashboard shows {metric}");
    }
}

#[test]
fn shipped_configuration_loads_and_every_secret_is_an_ssm_parameter_name() {
    let template = template();
    let by_binary = functions_by_binary(&template);
    let config_dir = infra_dir().join("config");
    let layer = &resources(&template)["ConfigLayer"];
    assert_eq!(layer["Properties"]["ContentUri"], "config/");

    // the files route reads under /opt are the ones in infra/config, and they load
    let (_, route) = by_binary["route"];
    let route_env = environment(&template, route);
    assert_eq!(
        route["Properties"]["Layers"],
        json!([reference("ConfigLayer")])
    );
    let on_layer = |value: &Value| -> PathBuf {
        let path = value.as_str().unwrap_or_else(|| panic!("{value}: a path"));
        config_dir.join(
            path.strip_prefix("/opt/")
                .unwrap_or_else(|| panic!("{path} is under /opt")),
        )
    };
    let routing_file = on_layer(&route_env["LEADQ_ROUTING_FILE"]);
    let alerts_file = on_layer(&route_env["LEADQ_ALERTS_FILE"]["Fn::If"][1]);
    assert_eq!(route_env["LEADQ_ALERTS_FILE"]["Fn::If"][0], "AlertsOn");

    let alerts: toml::Table =
        toml::from_str(&std::fs::read_to_string(&alerts_file).expect("alerts.toml")).expect("TOML");
    let mut hook_vars = BTreeSet::new();
    for hook in alerts["hooks"].as_table().expect("hooks").values() {
        for key in ["url_env", "secret_env"] {
            if let Some(var) = hook.get(key).and_then(|v| v.as_str()) {
                hook_vars.insert(var.to_string());
            }
        }
    }
    assert!(!hook_vars.is_empty());
    let secrets: BTreeMap<String, String> = hook_vars
        .iter()
        .map(|var| {
            (
                var.clone(),
                "https://hooks.example.com/0123456789abcdef".to_string(),
            )
        })
        .collect();
    let loaded = leadq_route::config_from_lookup(|var| match var {
        "LEADQ_ROUTING_FILE" => Some(routing_file.display().to_string()),
        "LEADQ_ALERTS_FILE" => Some(alerts_file.display().to_string()),
        other => secrets.get(other).cloned(),
    });
    assert!(loaded.is_ok(), "infra/config loads: {:?}", loaded.err());

    // each hook variable reaches route and recalibrate as an SSM parameter name (no value)
    for binary in ["route", "recalibrate"] {
        let (name, function) = by_binary[binary];
        let vars = environment(&template, function);
        for var in &hook_vars {
            assert!(
                !vars.contains_key(var),
                "{name}: {var} itself holds no secret"
            );
            let param = &vars[&format!("{var}_PARAM")];
            assert_eq!(param["Fn::If"][0], "AlertsOn", "{name}: {var}_PARAM");
            let sub = param["Fn::If"][1]["Fn::Sub"].as_str().unwrap_or_default();
            assert!(
                sub.starts_with("/${SecretsPrefix}/hooks/"),
                "{name}: {var}_PARAM = {sub}"
            );
        }
    }
    let (_, ingest) = by_binary["ingest"];
    let ingest_env = environment(&template, ingest);
    assert!(!ingest_env.contains_key(leadq_pipeline::api::SECRET_ENV));
    assert_eq!(
        ingest_env[leadq_ingest::SECRET_PARAM_VAR],
        json!({ "Fn::Sub": "/${SecretsPrefix}/ingest-secret" })
    );
    // and only the functions that read secrets may read the parameters and the key
    for (binary, (name, function)) in &by_binary {
        let policies = function["Properties"]["Policies"]
            .as_array()
            .expect("Policies");
        let reads_ssm = policies
            .iter()
            .any(|p| p.get("SSMParameterReadPolicy").is_some());
        let decrypts = policies.iter().any(|p| p.get("KMSDecryptPolicy").is_some());
        let needs = matches!(binary.as_str(), "ingest" | "route" | "recalibrate");
        assert_eq!(reads_ssm, needs, "{name}: SSMParameterReadPolicy");
        assert_eq!(decrypts, needs, "{name}: KMSDecryptPolicy");
        assert!(
            policies.iter().all(|p| p.is_object()),
            "{name}: SAM policy templates only, no managed policy names"
        );
    }
}

#[test]
fn schedules_ask_for_jobs_recalibrate_takes() {
    let template = template();
    let by_binary = functions_by_binary(&template);
    let (_, recalibrate) = by_binary["recalibrate"];
    let events = recalibrate["Properties"]["Events"]
        .as_object()
        .expect("Events");
    let mut jobs = BTreeMap::new();
    for (name, event) in events {
        assert_eq!(event["Type"], "ScheduleV2", "{name}");
        let input: Value =
            serde_json::from_str(event["Properties"]["Input"].as_str().unwrap_or("?"))
                .unwrap_or_else(|e| panic!("{name}: Input is JSON: {e}"));
        let request = leadq_recalibrate::JobRequest::from_event(&input)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            event["Properties"]["DeadLetterConfig"].is_object(),
            "{name}: failed invocations land in a DLQ"
        );
        jobs.insert(
            request.job.name().to_string(),
            event["Properties"]["ScheduleExpression"].clone(),
        );
    }
    assert_eq!(jobs["decay"], "rate(1 hour)");
    assert_eq!(jobs["train"], "cron(0 3 * * ? *)");
    assert!(jobs.contains_key("alerts"));
}

#[test]
fn every_policy_suppression_gives_its_reason() {
    let template = template();
    let mut skipped = 0;
    for (name, resource) in resources(&template) {
        let Some(skips) = resource["Metadata"]["checkov"]["skip"].as_array() else {
            continue;
        };
        for skip in skips {
            let id = skip["id"].as_str().unwrap_or_default();
            assert!(id.starts_with("CKV_"), "{name}: a checkov id, got {id:?}");
            let reason = skip["comment"].as_str().unwrap_or_default();
            assert!(
                reason.split_whitespace().count() >= 12,
                "{name}: {id} needs a reason"
            );
            skipped += 1;
        }
    }
    assert!(skipped > 0);
    // nothing is skipped outside the template: no checkov config file next to it
    for config in [".checkov.yaml", ".checkov.yml"] {
        assert!(!infra_dir().join(config).exists(), "infra/{config}");
        assert!(!workspace_root().join(config).exists(), "{config}");
    }
}

#[test]
fn short_tags_become_cloudformation_json() {
    let docs = Yaml::load_from_str(
        "a: !Ref Table\nb: !GetAtt Queue.Arn\nc: !Sub '${X}-y'\nd: !If [On, 1, !Ref AWS::NoValue]\n",
    )
    .expect("YAML");
    let value = to_json(&docs[0]).expect("converted");
    assert_eq!(
        value,
        json!({
            "a": { "Ref": "Table" },
            "b": { "Fn::GetAtt": ["Queue", "Arn"] },
            "c": { "Fn::Sub": "${X}-y" },
            "d": { "Fn::If": ["On", 1, { "Ref": "AWS::NoValue" }] },
        })
    );
    let bad = Yaml::load_from_str("a: !GetAtt NoAttribute\n").expect("YAML");
    assert!(to_json(&bad[0]).is_err());
}
