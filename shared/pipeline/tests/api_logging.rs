//! The request logs: one span per request carrying its request id and lead id, and no
//! email address in clear on any line, whatever the request.

mod api_support;

use api_support::*;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A log sink the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

#[test]
fn logs_carry_request_and_lead_ids_and_never_an_email() {
    let sink = Captured::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let lead_id = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let app = TestApp::new();
            let mut first = lead_json(&json!({"email": "Ana.Lopez@Acme-Robotics.io", "name": "Ana"}));
            first
                .headers_mut()
                .insert("x-request-id", "req-from-the-edge".parse().expect("header"));
            let created = app.send(first).await;
            assert_eq!(created.status, 201);
            assert_eq!(created.headers["x-request-id"], "req-from-the-edge");
            let lead_id = created.lead_id();
            // refusals and lookups by email log too
            app.send(lead_json(&json!({"email": "ana.lopez@acme-robotics"}))).await;
            let events = json!({"events": [
                {"email": "ana.lopez@acme-robotics.io", "kind": "page_view", "at": "2026-11-23T11:00:00Z"},
                {"email": "nobody@acme-robotics.io", "kind": "page_view", "at": "2026-11-23T11:00:00Z"}
            ]});
            app.send(signed("POST", "/v1/events", "application/json", events.to_string().as_bytes()))
                .await;
            app.send(signed("DELETE", &format!("/v1/leads/{lead_id}"), "application/json", b""))
                .await;
            let suppressed = app
                .send(lead_json(&json!({"email": "ana.lopez@acme-robotics.io"})))
                .await;
            assert_eq!(suppressed.status, 202);
            app.store.fail.store(true, std::sync::atomic::Ordering::SeqCst);
            app.send(lead_json(&json!({"email": "ana.lopez@acme-robotics.io"}))).await;
            lead_id
        })
    });
    let logs = sink.text();
    assert!(!logs.is_empty());
    assert!(
        !logs.to_lowercase().contains("acme-robotics"),
        "an address reached the logs:\n{logs}"
    );
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    // every line is inside a request span with a request id
    for line in &lines {
        assert!(line["span"]["request_id"].is_string(), "{line}");
    }
    let created = lines
        .iter()
        .find(|line| line["fields"]["message"] == "lead submission stored")
        .expect("the submission is logged");
    assert_eq!(created["span"]["request_id"], "req-from-the-edge");
    assert_eq!(created["span"]["lead_id"], lead_id.as_str());
    assert!(
        created["fields"]["email"]
            .as_str()
            .is_some_and(|e| e.starts_with("email:"))
    );
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "lead store failed")
    );
}
