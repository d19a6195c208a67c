//! The Lambdas' metrics: CloudWatch Embedded Metric Format (EMF) documents on standard
//! output, one JSON object per line, which CloudWatch Logs turns into metrics.
//!
//! The stages record through the `metrics` facade (`leadq_pipeline::metrics` names every
//! metric); each Lambda's `main` calls [`install`] once with its function name, which
//! installs the `metrics_cloudwatch_embedded` recorder with namespace
//! [`NAMESPACE`] and the `Function` dimension on every metric. Each handler calls
//! [`flush`] at the end of every invocation: Lambda may freeze the process right after
//! the response, so anything left unflushed could be lost or land in a later invocation.
//! Without [`install`] (tests, local mode) recording and [`flush`] do nothing.
//!
//! A failed flush is logged and never fails the invocation: metrics must not cost a lead.

use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

pub use leadq_pipeline::metrics::{FUNCTION, NAMESPACE};

/// Longest function name accepted as the `Function` dimension's value.
const MAX_FUNCTION_CHARS: usize = 255;

/// Why the metrics recorder could not be installed, or a document is not valid EMF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// The function name cannot be a CloudWatch dimension value.
    #[error(
        "function name {0:?} cannot be the {FUNCTION} dimension: expected 1 to {MAX_FUNCTION_CHARS} printable ASCII characters"
    )]
    InvalidFunction(String),
    /// [`install`] or [`capture`] already ran in this process.
    #[error("a metrics recorder is already installed in this process")]
    AlreadyInstalled,
    /// The `metrics` facade refused the recorder (another one was installed directly).
    #[error("the metrics recorder could not be installed: {0}")]
    Install(String),
    /// A document breaks the Embedded Metric Format specification.
    #[error("not a valid Embedded Metric Format document: {0}")]
    InvalidEmf(String),
}

/// Where flushed documents go.
enum Sink {
    /// Standard output, which Lambda ships to CloudWatch Logs.
    Stdout,
    /// A buffer, for tests.
    Memory(Arc<Mutex<Vec<u8>>>),
}

struct Installed {
    collector: &'static metrics_cloudwatch_embedded::Collector,
    sink: Sink,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Serialises installs, so two racing calls cannot both pass the "not yet" check.
static INSTALLING: Mutex<()> = Mutex::new(());

/// Installs the EMF recorder for `function` (the `Function` dimension's value, e.g.
/// `score`), writing to standard output at each [`flush`].
pub fn install(function: &str) -> Result<(), MetricsError> {
    install_with(function, Sink::Stdout)
}

/// Installs the EMF recorder for `function` writing into memory instead of standard
/// output, for tests of a whole handler; like [`install`], once per process.
pub fn capture(function: &str) -> Result<CapturedMetrics, MetricsError> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    install_with(function, Sink::Memory(Arc::clone(&buffer)))?;
    Ok(CapturedMetrics(buffer))
}

fn install_with(function: &str, sink: Sink) -> Result<(), MetricsError> {
    let valid = !function.is_empty()
        && function.len() <= MAX_FUNCTION_CHARS
        && function.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(MetricsError::InvalidFunction(function.to_owned()));
    }
    let _installing = INSTALLING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if INSTALLED.get().is_some() {
        return Err(MetricsError::AlreadyInstalled);
    }
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension(FUNCTION, function.to_owned())
        .init()
        .map_err(|error| MetricsError::Install(error.to_string()))?;
    // the lock above makes this the only set
    let _ = INSTALLED.set(Installed { collector, sink });
    leadq_pipeline::metrics::describe();
    Ok(())
}

/// Writes what was recorded since the last flush as EMF documents (one per dimension
/// set) and starts over; does nothing when no recorder is installed.
pub fn flush() {
    let Some(installed) = INSTALLED.get() else {
        return;
    };
    let result = match &installed.sink {
        Sink::Stdout => {
            // one lock for the whole flush, so no log line lands inside a document
            let mut out = std::io::stdout().lock();
            installed
                .collector
                .flush(&mut out)
                .and_then(|()| out.flush())
        }
        Sink::Memory(buffer) => {
            let mut written = Vec::new();
            let result = installed.collector.flush(&mut written);
            buffer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .extend_from_slice(&written);
            result
        }
    };
    if let Err(error) = result {
        tracing::warn!(%error, "metrics could not be written; this invocation's are lost");
    }
}

/// The EMF documents flushed by a recorder installed with [`capture`].
#[derive(Debug, Clone)]
pub struct CapturedMetrics(Arc<Mutex<Vec<u8>>>);

impl CapturedMetrics {
    /// Everything flushed so far, as written.
    pub fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Each flushed line parsed as JSON (a line that is not JSON becomes a string value,
    /// which [`validate_emf`] then refuses).
    pub fn documents(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|_| Value::String(line.to_owned()))
            })
            .collect()
    }

    /// Checks every flushed document: valid EMF ([`validate_emf`]), in namespace
    /// [`NAMESPACE`], with the `Function` dimension `function` in every dimension set;
    /// returns how many documents there are.
    pub fn validate(&self, function: &str) -> Result<usize, MetricsError> {
        let documents = self.documents();
        for doc in &documents {
            validate_emf(doc)?;
            if doc[FUNCTION] != function {
                return Err(MetricsError::InvalidEmf(format!(
                    "{FUNCTION} is not {function:?}: {doc}"
                )));
            }
            for directive in directives(doc) {
                if directive["Namespace"] != NAMESPACE {
                    return Err(MetricsError::InvalidEmf(format!(
                        "namespace is not {NAMESPACE}: {doc}"
                    )));
                }
                let sets = directive["Dimensions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if !sets.iter().all(|set| {
                    set.as_array()
                        .is_some_and(|keys| keys.iter().any(|key| key == FUNCTION))
                }) {
                    return Err(MetricsError::InvalidEmf(format!(
                        "a dimension set without {FUNCTION}: {doc}"
                    )));
                }
            }
        }
        Ok(documents.len())
    }

    /// The values of metric `name` over every document whose dimensions include
    /// `dimensions` (name, value), each document's value or values in order.
    pub fn values(&self, name: &str, dimensions: &[(&str, &str)]) -> Vec<f64> {
        self.documents()
            .iter()
            .filter(|doc| declares(doc, name))
            .filter(|doc| {
                dimensions
                    .iter()
                    .all(|(key, value)| doc.get(*key).and_then(Value::as_str) == Some(*value))
            })
            .flat_map(|doc| match doc.get(name) {
                Some(Value::Array(values)) => values.iter().filter_map(Value::as_f64).collect(),
                Some(value) => value.as_f64().into_iter().collect(),
                None => Vec::new(),
            })
            .collect()
    }
}

/// Whether `doc` declares metric `name` in one of its directives.
fn declares(doc: &Value, name: &str) -> bool {
    directives(doc).iter().any(|directive| {
        directive["Metrics"]
            .as_array()
            .is_some_and(|metrics| metrics.iter().any(|m| m["Name"] == name))
    })
}

fn directives(doc: &Value) -> Vec<Value> {
    doc.pointer("/_aws/CloudWatchMetrics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The units CloudWatch accepts in a metric definition.
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks `doc` against the Embedded Metric Format specification: an `_aws` object with
/// a millisecond `Timestamp` and at least one `CloudWatchMetrics` directive, each naming
/// a `Namespace`, `Dimensions` (at most 30 per set) that are string members of the
/// document, and `Metrics` whose names are number (or array of at most 100 numbers)
/// members, with a known `Unit` if any.
pub fn validate_emf(doc: &Value) -> Result<(), MetricsError> {
    let invalid = |what: String| Err(MetricsError::InvalidEmf(what));
    let Some(root) = doc.as_object() else {
        return invalid(format!("not a JSON object: {doc}"));
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return invalid("no _aws object".into());
    };
    if !aws.get("Timestamp").is_some_and(Value::is_u64) {
        return invalid("_aws.Timestamp is not a whole number of milliseconds".into());
    }
    let directives = match aws.get("CloudWatchMetrics").and_then(Value::as_array) {
        Some(directives) if !directives.is_empty() => directives,
        _ => return invalid("_aws.CloudWatchMetrics is not a non-empty array".into()),
    };
    for directive in directives {
        let namespace = directive["Namespace"].as_str().unwrap_or_default();
        if namespace.is_empty() {
            return invalid("a directive without a Namespace".into());
        }
        let Some(sets) = directive["Dimensions"].as_array() else {
            return invalid("a directive without a Dimensions array".into());
        };
        for set in sets {
            let Some(keys) = set.as_array().filter(|keys| keys.len() <= 30) else {
                return invalid(format!("dimension set {set} is not an array of at most 30"));
            };
            for key in keys {
                let member = key.as_str().and_then(|key| root.get(key));
                if !member.is_some_and(Value::is_string) {
                    return invalid(format!("dimension {key} is not a string member"));
                }
            }
        }
        let Some(metrics) = directive["Metrics"].as_array().filter(|m| !m.is_empty()) else {
            return invalid("a directive without Metrics".into());
        };
        for metric in metrics {
            let Some(name) = metric["Name"].as_str() else {
                return invalid(format!("metric {metric} has no Name"));
            };
            let value_ok = match root.get(name) {
                Some(Value::Number(_)) => true,
                Some(Value::Array(values)) => {
                    !values.is_empty() && values.len() <= 100 && values.iter().all(Value::is_number)
                }
                _ => false,
            };
            if !value_ok {
                return invalid(format!("metric {name} has no number value member"));
            }
            if let Some(unit) = metric.get("Unit")
                && !unit.as_str().is_some_and(|unit| UNITS.contains(&unit))
            {
                return invalid(format!("metric {name} has unit {unit}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "_aws": {
                "Timestamp": 1_795_000_000_000_u64,
                "CloudWatchMetrics": [{
                    "Namespace": "leadq",
                    "Dimensions": [["Function", "Band"]],
                    "Metrics": [{"Name": "LeadsScored", "Unit": "Count"}]
                }]
            },
            "Function": "score",
            "Band": "hot",
            "LeadsScored": 3
        })
    }

    #[test]
    fn a_well_formed_document_is_valid() {
        assert_eq!(validate_emf(&valid()), Ok(()));
        let mut latency = valid();
        latency["_aws"]["CloudWatchMetrics"][0]["Metrics"] =
            json!([{"Name": "StageLatency", "Unit": "Milliseconds"}]);
        latency["StageLatency"] = json!([1.5, 2.0]);
        assert_eq!(validate_emf(&latency), Ok(()));
    }

    /// A rule a document can break, and how to break it.
    type Breakage = (&'static str, fn(&mut Value));

    #[test]
    fn each_broken_rule_is_named() {
        let cases: [Breakage; 8] = [
            ("_aws", |d| d["_aws"] = json!(null)),
            ("Timestamp", |d| d["_aws"]["Timestamp"] = json!("now")),
            ("CloudWatchMetrics", |d| {
                d["_aws"]["CloudWatchMetrics"] = json!([]);
            }),
            ("Namespace", |d| {
                d["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!("");
            }),
            ("dimension", |d| d["Band"] = json!(1)),
            ("no number value", |d| d["LeadsScored"] = json!("3")),
            ("unit", |d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Leads");
            }),
            ("Metrics", |d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"] = json!([]);
            }),
        ];
        for (rule, breaks) in cases {
            let mut doc = valid();
            breaks(&mut doc);
            let error = validate_emf(&doc).expect_err(rule).to_string();
            assert!(error.contains(rule), "{rule}: {error}");
        }
        assert!(validate_emf(&json!("a log line")).is_err());
    }

    #[test]
    fn a_function_name_must_be_a_dimension_value() {
        for name in ["", "has space", "new\nline", &"x".repeat(256)] {
            assert_eq!(
                install(name),
                Err(MetricsError::InvalidFunction(name.to_owned())),
                "{name:?}"
            );
        }
    }

    #[test]
    fn flush_without_a_recorder_does_nothing() {
        // this test binary never installs one
        flush();
        assert!(INSTALLED.get().is_none());
    }

    #[test]
    fn captured_values_are_found_by_name_and_dimension() {
        let captured = CapturedMetrics(Arc::new(Mutex::new(Vec::new())));
        let mut other_band = valid();
        other_band["Band"] = json!("cold");
        other_band["LeadsScored"] = json!(2);
        let text = format!("{}\n{}\nnot json\n", valid(), other_band);
        captured
            .0
            .lock()
            .expect("lock")
            .extend_from_slice(text.as_bytes());
        assert_eq!(captured.values("LeadsScored", &[("Band", "hot")]), [3.0]);
        assert_eq!(captured.values("LeadsScored", &[]), [3.0, 2.0]);
        assert!(captured.values("AlertsSent", &[]).is_empty());
        assert_eq!(captured.documents().len(), 3);
        assert_eq!(captured.documents()[2], json!("not json"));
        assert!(
            captured.validate("score").is_err(),
            "a line that is not EMF"
        );
        let valid_only = CapturedMetrics(Arc::new(Mutex::new(
            format!("{}\n{}\n", valid(), other_band).into_bytes(),
        )));
        assert_eq!(valid_only.validate("score"), Ok(2));
        assert!(valid_only.validate("route").is_err(), "another function's");
    }
}
