//! Shared helpers of the API tests: an app over in-memory ports that counts every write,
//! and request builders (signed, API key, unsigned).
#![allow(dead_code)] // each test binary uses a different subset

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use leadq_pipeline::RetryPolicy;
use leadq_pipeline::api::{ApiState, IngestAuth, router};
use leadq_pipeline::envelope::{Envelope, Stage};
use leadq_pipeline::intake::FieldMapping;
use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::ports::*;
use leadq_pipeline::signature::sign;
use leadq_scoring::Outcome;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

/// The signing secret of the test app.
pub const SECRET: &str = "whsec_test_0123456789abcdef";
/// A key allowed everything.
pub const ADMIN_KEY: &str = "key_admin_0123456789abcdef";
/// A key allowed only HubSpot submissions.
pub const HUBSPOT_KEY: &str = "key_hubspot_0123456789abcdef";
/// A key allowed only events.
pub const TRACKER_KEY: &str = "key_tracker_0123456789abcdef";

/// The test clock's time: 2026-11-23T12:00:00Z.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .expect("valid time")
}

/// A fixture of `events/payloads/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../events/payloads/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A [`MemoryStore`] that counts every call that may write, and can be made to fail.
#[derive(Default)]
pub struct CountingStore {
    pub inner: MemoryStore,
    writes: Mutex<BTreeMap<&'static str, usize>>,
    pub fail: AtomicBool,
}

impl CountingStore {
    fn write(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Backend {
                operation,
                message: "table leadq-secret-table unreachable at 10.1.2.3".into(),
            });
        }
        *self
            .writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(operation)
            .or_default() += 1;
        Ok(())
    }

    fn read(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Backend {
                operation,
                message: "table leadq-secret-table unreachable at 10.1.2.3".into(),
            });
        }
        Ok(())
    }

    /// Write calls made so far, by operation.
    pub fn writes(&self) -> BTreeMap<&'static str, usize> {
        self.writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Write calls made so far, in total.
    pub fn write_count(&self) -> usize {
        self.writes().values().sum()
    }
}

#[async_trait]
impl LeadStore for CountingStore {
    async fn create_lead(&self, record: &LeadRecord) -> Result<Created, StoreError> {
        self.write("create_lead")?;
        self.inner.create_lead(record).await
    }
    async fn get_lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError> {
        self.read("get_lead")?;
        self.inner.get_lead(lead_id).await
    }
    async fn find_lead_by_email(&self, email_key: &str) -> Result<Option<String>, StoreError> {
        self.read("find_lead_by_email")?;
        self.inner.find_lead_by_email(email_key).await
    }
    async fn update_lead(&self, record: &LeadRecord) -> Result<(), StoreError> {
        self.write("update_lead")?;
        self.inner.update_lead(record).await
    }
    async fn append_events(
        &self,
        record: &LeadRecord,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        self.write("append_events")?;
        self.inner.append_events(record, events).await
    }
    async fn list_events(&self, lead_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.read("list_events")?;
        self.inner.list_events(lead_id).await
    }
    async fn existing_event_ids(
        &self,
        lead_id: &str,
        event_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        self.read("existing_event_ids")?;
        self.inner.existing_event_ids(lead_id, event_ids).await
    }
    async fn add_history(&self, lead_id: &str, entry: &HistoryEntry) -> Result<(), StoreError> {
        self.write("add_history")?;
        self.inner.add_history(lead_id, entry).await
    }
    async fn list_history(&self, lead_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        self.read("list_history")?;
        self.inner.list_history(lead_id).await
    }
    async fn erase_lead(&self, lead_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.write("erase_lead")?;
        self.inner.erase_lead(lead_id, now).await
    }
    async fn find_tombstone(&self, email_hash: &str) -> Result<Option<Tombstone>, StoreError> {
        self.read("find_tombstone")?;
        self.inner.find_tombstone(email_hash).await
    }
    async fn leads_due_for_rescore(
        &self,
        due: DateTime<Utc>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page, StoreError> {
        self.read("leads_due_for_rescore")?;
        self.inner.leads_due_for_rescore(due, limit, cursor).await
    }
    async fn claim_idempotency(
        &self,
        key: &str,
        now: DateTime<Utc>,
        expiration: DateTime<Utc>,
        in_progress_expiration: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        self.write("claim_idempotency")?;
        self.inner
            .claim_idempotency(key, now, expiration, in_progress_expiration)
            .await
    }
    async fn complete_idempotency(
        &self,
        key: &str,
        data: Option<String>,
        expiration: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write("complete_idempotency")?;
        self.inner.complete_idempotency(key, data, expiration).await
    }
    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        self.write("release_idempotency")?;
        self.inner.release_idempotency(key).await
    }
    async fn enqueue_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        self.write("enqueue_alert")?;
        self.inner.enqueue_alert(alert).await
    }
    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        self.write("update_alert")?;
        self.inner.update_alert(alert).await
    }
    async fn alerts_in_state(
        &self,
        state: AlertState,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError> {
        self.read("alerts_in_state")?;
        self.inner.alerts_in_state(state, limit).await
    }
    async fn put_outcome(&self, outcome: &Outcome) -> Result<(), StoreError> {
        self.write("put_outcome")?;
        self.inner.put_outcome(outcome).await
    }
    async fn list_outcomes(&self) -> Result<Vec<Outcome>, StoreError> {
        self.read("list_outcomes")?;
        self.inner.list_outcomes().await
    }
    async fn put_model_version(&self, version: &ModelVersion) -> Result<bool, StoreError> {
        self.write("put_model_version")?;
        self.inner.put_model_version(version).await
    }
    async fn list_model_versions(&self) -> Result<Vec<ModelVersion>, StoreError> {
        self.read("list_model_versions")?;
        self.inner.list_model_versions().await
    }
    async fn set_active_model(&self, version: &str) -> Result<(), StoreError> {
        self.write("set_active_model")?;
        self.inner.set_active_model(version).await
    }
    async fn active_model(&self) -> Result<Option<ModelVersion>, StoreError> {
        self.read("active_model")?;
        self.inner.active_model().await
    }
}

/// A [`MemoryQueue`] that records every envelope sent, and can be made to fail.
#[derive(Default)]
pub struct CountingQueue {
    pub inner: MemoryQueue,
    sent: Mutex<Vec<Envelope>>,
    raw: AtomicUsize,
    pub fail: AtomicBool,
}

impl CountingQueue {
    /// Every envelope sent so far, in order.
    pub fn sent(&self) -> Vec<Envelope> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Envelopes sent to `stage` so far.
    pub fn sent_to(&self, stage: Stage) -> Vec<Envelope> {
        self.sent()
            .into_iter()
            .filter(|e| e.kind == stage)
            .collect()
    }

    /// Messages sent so far, envelopes and raw bodies.
    pub fn message_count(&self) -> usize {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).len() + self.raw.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl WorkQueue for CountingQueue {
    async fn send(&self, stage: Stage, envelopes: &[Envelope]) -> Result<(), QueueError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(QueueError::Backend {
                operation: "send",
                message: "https://sqs.internal/123456789/leadq-enrich refused".into(),
            });
        }
        self.inner.send(stage, envelopes).await?;
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(envelopes.iter().cloned());
        Ok(())
    }
    async fn send_raw(&self, stage: Stage, body: &str) -> Result<(), QueueError> {
        self.raw.fetch_add(1, Ordering::SeqCst);
        self.inner.send_raw(stage, body).await
    }
    async fn receive(
        &self,
        stage: Stage,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        self.inner.receive(stage, max, visibility).await
    }
    async fn ack(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(stage, receipt).await
    }
    async fn fail(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        self.inner.fail(stage, receipt).await
    }
    async fn dead_letters(&self, stage: Stage, max: usize) -> Result<Vec<Delivery>, QueueError> {
        self.inner.dead_letters(stage, max).await
    }
}

/// The router over counting in-memory ports, with the secret and three keys.
pub struct TestApp {
    pub store: Arc<CountingStore>,
    pub queue: Arc<CountingQueue>,
    pub clock: Arc<FixedClock>,
    pub router: Router,
}

/// The test app's credentials.
pub fn test_auth() -> IngestAuth {
    IngestAuth::from_config(
        Some(SECRET.into()),
        &format!("admin:*:{ADMIN_KEY},hubspot:hubspot:{HUBSPOT_KEY},tracker:events:{TRACKER_KEY}"),
    )
    .expect("valid test credentials")
}

impl TestApp {
    /// A fresh app with empty ports and the clock at [`now`].
    pub fn new() -> TestApp {
        TestApp::with_auth(test_auth())
    }

    /// A fresh app with the given credentials.
    pub fn with_auth(auth: IngestAuth) -> TestApp {
        let store = Arc::new(CountingStore::default());
        let queue = Arc::new(CountingQueue::default());
        let clock = Arc::new(FixedClock::new(now()));
        let state = ApiState {
            store: store.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            auth,
            mapping: FieldMapping::default(),
            policy: RetryPolicy {
                max_attempts: 20,
                base: Duration::from_millis(1),
                max: Duration::from_millis(5),
            },
        };
        TestApp {
            store,
            queue,
            clock,
            router: router(state),
        }
    }

    /// Sends one request through the router.
    pub async fn send(&self, request: http::Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router never fails");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Reply {
            status,
            headers,
            json,
        }
    }

    /// A lead as stored.
    pub async fn lead(&self, lead_id: &str) -> Option<LeadRecord> {
        self.store.inner.get_lead(lead_id).await.expect("get")
    }

    /// A lead's stored events.
    pub async fn events(&self, lead_id: &str) -> Vec<StoredEvent> {
        self.store.inner.list_events(lead_id).await.expect("events")
    }
}

/// A response: status, headers and the body as JSON (`Null` if not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub json: serde_json::Value,
}

impl Reply {
    /// The content type.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem body of `status` naming `field`.
    pub fn assert_problem(&self, status: u16, field: &str) {
        assert_eq!(self.status, status, "{:?}", self.json);
        assert_eq!(self.content_type(), "application/problem+json");
        assert_eq!(self.json["status"], status);
        let errors = self.json["errors"].as_array().cloned().unwrap_or_default();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["rule"].is_string()),
            "no error names {field}: {}",
            self.json
        );
    }

    /// The `lead_id` of the body.
    pub fn lead_id(&self) -> String {
        self.json["lead_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no lead_id in {}", self.json))
            .to_owned()
    }
}

/// A request with a body, signed with [`SECRET`] at the test clock's time.
pub fn signed(method: &str, uri: &str, content_type: &str, body: &[u8]) -> http::Request<Body> {
    signed_at(method, uri, content_type, body, now().timestamp())
}

/// A request signed at `timestamp`.
pub fn signed_at(
    method: &str,
    uri: &str,
    content_type: &str,
    body: &[u8],
    timestamp: i64,
) -> http::Request<Body> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .header(
            "x-leadq-signature",
            sign(SECRET.as_bytes(), timestamp, body),
        )
        .body(Body::from(body.to_vec()))
        .expect("valid request")
}

/// A request with an API key.
pub fn keyed(
    method: &str,
    uri: &str,
    content_type: &str,
    body: &[u8],
    key: &str,
) -> http::Request<Body> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .header("x-api-key", key)
        .body(Body::from(body.to_vec()))
        .expect("valid request")
}

/// A request without credentials.
pub fn unsigned(method: &str, uri: &str, content_type: &str, body: &[u8]) -> http::Request<Body> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(Body::from(body.to_vec()))
        .expect("valid request")
}

/// A signed generic JSON submission of `body`.
pub fn lead_json(body: &serde_json::Value) -> http::Request<Body> {
    signed(
        "POST",
        "/v1/leads",
        "application/json",
        body.to_string().as_bytes(),
    )
}
