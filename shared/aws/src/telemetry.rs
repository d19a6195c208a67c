//! Structured logs for the Lambdas: one JSON object per line on standard output.
//!
//! Every line carries the event's own fields and, flattened into the same object, the
//! fields of every span it happened in, outermost first: the Lambda runtime's invocation
//! span gives `requestId` (and `xrayTraceId`), the SQS glue's record span gives `stage`,
//! `lead_id`, `trace_id` and `message_id`. CloudWatch Logs Insights can then filter on any
//! of them without parsing nested objects.
//!
//! Email addresses never reach the log in clear: the finished line is scanned and every
//! address (also URL-encoded, `jane%40acme.com`) is replaced by [`REDACTED_EMAIL`], so a
//! careless `debug!(?lead)` anywhere in the code cannot leak one.
//!
//! The level comes from `RUST_LOG` (full `EnvFilter` syntax) or else from Lambda's own
//! `AWS_LAMBDA_LOG_LEVEL` (`TRACE` .. `FATAL`), default `info`.

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// What an email address is replaced with in a log line.
pub const REDACTED_EMAIL: &str = "<email>";

/// Why logging could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL` holds something unusable.
    #[error("environment variable {var}: {message}")]
    InvalidLevel {
        /// The variable.
        var: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A global subscriber was already installed.
    #[error("logging was already initialised: {0}")]
    AlreadyInitialised(String),
}

/// Installs the JSON log subscriber on standard output, level from the environment.
pub fn init() -> Result<(), TelemetryError> {
    let filter = level_filter(|var| std::env::var(var).ok())?;
    tracing_subscriber::registry()
        .with(json_layer(std::io::stdout).with_filter(filter))
        .try_init()
        .map_err(|error| TelemetryError::AlreadyInitialised(error.to_string()))
}

/// The level filter: `RUST_LOG` if set, else `AWS_LAMBDA_LOG_LEVEL`, else `info`.
///
/// Variables are read through `lookup` so tests can pass a map.
pub fn level_filter(lookup: impl Fn(&str) -> Option<String>) -> Result<EnvFilter, TelemetryError> {
    let set = |var: &str| lookup(var).filter(|value| !value.trim().is_empty());
    if let Some(directives) = set("RUST_LOG") {
        return EnvFilter::builder()
            .parse(directives.trim())
            .map_err(|error| TelemetryError::InvalidLevel {
                var: "RUST_LOG",
                message: error.to_string(),
            });
    }
    let level = match set("AWS_LAMBDA_LOG_LEVEL") {
        None => "info",
        Some(level) => match level.trim().to_ascii_uppercase().as_str() {
            "TRACE" => "trace",
            "DEBUG" => "debug",
            "INFO" => "info",
            "WARN" => "warn",
            // tracing has no level above error
            "ERROR" | "FATAL" => "error",
            other => {
                return Err(TelemetryError::InvalidLevel {
                    var: "AWS_LAMBDA_LOG_LEVEL",
                    message: format!(
                        "expected TRACE, DEBUG, INFO, WARN, ERROR or FATAL, got {other:?}"
                    ),
                });
            }
        },
    };
    Ok(EnvFilter::new(level))
}

/// The formatting layer: flat JSON lines, no colours, written to `writer`.
///
/// Tests pass an in-memory writer and install it with `tracing::subscriber::set_default`.
pub fn json_layer<S, W>(writer: W) -> tracing_subscriber::fmt::Layer<S, JsonFields, FlatJson, W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(FlatJson)
        .with_ansi(false)
        .with_writer(writer)
}

/// Formats an event as one JSON object with its spans' fields flattened in.
///
/// Keys: `timestamp` (RFC 3339, UTC), `level`, `target`, `span` (the innermost span's
/// name), then the spans' fields from the outermost in, then the event's own fields
/// (`message` among them). A later key wins over an earlier one of the same name.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatJson;

impl<S> FormatEvent<S, JsonFields> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        line.insert("level".into(), Value::String(metadata.level().to_string()));
        line.insert(
            "target".into(),
            Value::String(metadata.target().to_string()),
        );
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                line.insert("span".into(), Value::String(span.name().to_string()));
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                // JsonFields stores a span's fields as a JSON object (empty if it has none)
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&fields.fields) {
                    line.extend(map);
                }
            }
        }
        event.record(&mut FieldVisitor(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{}", redact_emails(&text))
    }
}

/// Collects an event's fields into a JSON map.
struct FieldVisitor<'a>(&'a mut Map<String, Value>);

impl FieldVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_string(), value);
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, serde_json::json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

fn is_local_byte(byte: u8) -> bool {
    // RFC 5322 atext plus '.', but without the '=', '&', '/' and '?' that delimit URL
    // and form fields (`email=jane%40acme.com&...`); '%' so encoded local parts match whole
    byte.is_ascii_alphanumeric() || b".!#$%'*+^_`{|}~-".contains(&byte)
}

fn is_domain_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'-'
}

/// Replaces every email address in `text` (also with `@` URL-encoded as `%40`) by
/// [`REDACTED_EMAIL`]; borrows when there is none.
pub fn redact_emails(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    // end of the text already copied to `out`
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let at_len = if bytes[i] == b'@' {
            1
        } else if bytes[i..].len() >= 3 && bytes[i..i + 3].eq_ignore_ascii_case(b"%40") {
            3
        } else {
            i += 1;
            continue;
        };
        let mut start = i;
        while start > copied && is_local_byte(bytes[start - 1]) {
            start -= 1;
        }
        let domain_start = i + at_len;
        let mut end = domain_start;
        while end < bytes.len() && is_domain_byte(bytes[end]) {
            end += 1;
        }
        // a sentence's full stop or a dash after the address is not part of it
        while end > domain_start && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &text[domain_start..end];
        let is_address = start < i
            && domain
                .split_once('.')
                .is_some_and(|(host, rest)| !host.is_empty() && !rest.is_empty());
        if is_address {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED_EMAIL);
            copied = end;
            i = end;
        } else {
            i += at_len;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Log lines kept in memory, for tests that assert what a handler logged.
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Each line parsed as JSON (a line that is not JSON becomes a JSON string).
    pub fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|_| Value::String(line.to_string()))
            })
            .collect()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'w self) -> CapturedLogs {
        self.clone()
    }
}

/// Sends this thread's logs at `filter` (`EnvFilter` syntax) through [`json_layer`] into
/// memory until the guard is dropped (tests on a current-thread runtime).
pub fn capture(filter: &str) -> (tracing::subscriber::DefaultGuard, CapturedLogs) {
    let captured = CapturedLogs::default();
    let subscriber = tracing_subscriber::registry()
        .with(json_layer(captured.clone()).with_filter(EnvFilter::new(filter)));
    let guard = tracing::subscriber::set_default(subscriber);
    // Another test thread may have cached "no interest" in a call site while no
    // subscriber was listening; ask every call site again now that this one is.
    tracing::callsite::rebuild_interest_cache();
    (guard, captured)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tracing::{info, info_span, warn};

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |var| map.get(var).cloned()
    }

    #[test]
    fn flattens_every_span_into_each_line() {
        let captured = CapturedLogs::default();
        let subscriber = tracing_subscriber::registry().with(json_layer(captured.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let invoke = info_span!("Lambda runtime invoke", requestId = "req-1");
            let _invoke = invoke.enter();
            let record = info_span!("record", stage = "enrich", lead_id = "lead-7");
            let _record = record.enter();
            info!(filled = 3_u64, written = true, "lead enriched");
        });
        let lines = captured.lines();
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["requestId"], "req-1");
        assert_eq!(line["stage"], "enrich");
        assert_eq!(line["lead_id"], "lead-7");
        assert_eq!(line["span"], "record");
        assert_eq!(line["message"], "lead enriched");
        assert_eq!(line["filled"], 3);
        assert_eq!(line["written"], true);
        assert_eq!(line["level"], "INFO");
        assert!(line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn never_writes_an_email_in_clear() {
        let captured = CapturedLogs::default();
        let subscriber = tracing_subscriber::registry().with(json_layer(captured.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = info_span!("record", email = "Jane.Doe+trial@Acme.com");
            let _span = span.enter();
            warn!(
                body = "email=jane.doe%40acme.com&x=1",
                "refused {}", "kim@acme.co.uk."
            );
        });
        let text = captured.text();
        assert!(!text.to_ascii_lowercase().contains("acme.com"), "{text}");
        assert!(!text.contains("kim@"), "{text}");
        let line = &captured.lines()[0];
        assert_eq!(line["email"], REDACTED_EMAIL);
        assert_eq!(line["body"], "email=<email>&x=1");
        assert_eq!(line["message"], "refused <email>.");
    }

    #[test]
    fn redaction_leaves_other_text_alone() {
        for text in [
            "no address here",
            "user @ host",
            "@acme.com",
            "x@localhost",
            "price 5%40 off",
            "trailing@",
            "héllo wörld @ ünï",
        ] {
            assert!(
                matches!(redact_emails(text), Cow::Borrowed(_)),
                "{text} was changed"
            );
        }
        assert_eq!(
            redact_emails("a@b.co and c.d@e-f.org, é x@y.z"),
            "<email> and <email>, é <email>"
        );
        assert_eq!(redact_emails("a@b.co@c.io"), "<email>@c.io");
    }

    #[test]
    fn level_comes_from_rust_log_then_lambda() {
        let from_rust_log = level_filter(env(&[
            ("RUST_LOG", "warn,leadq=debug"),
            ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
        ]))
        .expect("valid");
        // EnvFilter lists the most specific directive first
        assert_eq!(from_rust_log.to_string(), "leadq=debug,warn");
        let from_lambda = level_filter(env(&[("AWS_LAMBDA_LOG_LEVEL", "fatal")])).expect("valid");
        assert_eq!(from_lambda.to_string(), "error");
        let default = level_filter(env(&[("RUST_LOG", " ")])).expect("valid");
        assert_eq!(default.to_string(), "info");
        let bad = level_filter(env(&[("AWS_LAMBDA_LOG_LEVEL", "LOUD")])).expect_err("invalid");
        assert!(
            matches!(
                bad,
                TelemetryError::InvalidLevel {
                    var: "AWS_LAMBDA_LOG_LEVEL",
                    ..
                }
            ),
            "{bad}"
        );
        let bad = level_filter(env(&[("RUST_LOG", "leadq=[")])).expect_err("invalid");
        assert!(
            matches!(
                bad,
                TelemetryError::InvalidLevel {
                    var: "RUST_LOG",
                    ..
                }
            ),
            "{bad}"
        );
    }
}
