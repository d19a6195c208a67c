//! The recalibrate Lambda's metrics, captured as EMF while it runs scheduled jobs.
//!
//! Alone in its own test binary: the metrics recorder is global to the process, and
//! another test's jobs would add to the counts checked here.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use leadq_aws::metrics::CapturedMetrics;
use leadq_pipeline::alerts::{AlertConfig, DeliveryError, Hook, Notifier};
use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::{Alert, AlertState, FixedClock, LeadStore};
use leadq_recalibrate::{AlertDelivery, JobSettings, RecalibrateFunction};
use serde_json::Value;
use std::sync::Arc;

const ALERTS: &str = include_str!("../../../events/schedule/alerts.json");
const DECAY: &str = include_str!("../../../events/schedule/decay.json");

/// When the fixtures were scheduled: 2026-11-23T12:00:00Z.
fn scheduled() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Accepts every delivery.
struct Receiver;

#[async_trait]
impl Notifier for Receiver {
    async fn deliver(&self, _hook: &Hook, _alert: &Alert) -> Result<(), DeliveryError> {
        Ok(())
    }
}

fn alert(id: &str, hook: &str) -> Alert {
    Alert {
        id: id.into(),
        lead_id: "lead-1".into(),
        hook: hook.into(),
        payload: r#"{"lead_id":"lead-1"}"#.into(),
        state: AlertState::Pending,
        attempts: 0,
        next_attempt_at: scheduled(),
        last_error: None,
        version: 1,
        created_at: scheduled() - TimeDelta::minutes(5),
    }
}

fn latencies(captured: &CapturedMetrics) -> usize {
    captured
        .values("StageLatency", &[("Stage", "recalibrate")])
        .len()
}

#[tokio::test]
async fn each_job_flushes_valid_emf_counting_alerts_and_latency() {
    let captured = leadq_aws::metrics::capture("recalibrate").expect("the only recorder");
    let toml = r#"
        lead_url = "https://app.example.com/leads/{lead_id}"
        [hooks.sales]
        kind = "webhook"
        url_env = "SALES_HOOK_URL"
        secret_env = "SALES_HOOK_SECRET"
        [[subscriptions]]
        hook = "sales"
        bands = ["hot"]
    "#;
    let env = |name: &str| match name {
        "SALES_HOOK_URL" => Some("https://hooks.example.com/leadq".to_string()),
        "SALES_HOOK_SECRET" => Some("a-webhook-secret-of-some-length".to_string()),
        _ => None,
    };
    let config = AlertConfig::from_toml_with_env(toml, env).expect("alert config");
    let store = Arc::new(MemoryStore::new());
    // one to the configured hook, one to a hook since removed (which fails at once)
    for (id, hook) in [("to-sales", "sales"), ("to-removed", "removed")] {
        assert!(
            store
                .enqueue_alert(&alert(id, hook))
                .await
                .expect("enqueue")
        );
    }
    let function = RecalibrateFunction {
        store: store.clone(),
        queue: Arc::new(MemoryQueue::default()),
        clock: Arc::new(FixedClock::new(scheduled() + TimeDelta::seconds(2))),
        alerts: Some(AlertDelivery {
            config: Arc::new(config),
            notifier: Arc::new(Receiver),
        }),
        settings: JobSettings::default(),
    };
    let event = |text: &str| -> Value { serde_json::from_str(text).expect("a fixture") };
    let sum = |name: &str| -> f64 { captured.values(name, &[]).iter().sum() };

    function.handle(&event(ALERTS)).await.expect("alerts job");
    let after_alerts = captured.validate("recalibrate").expect("valid EMF");
    assert!(
        after_alerts >= 2,
        "flushed by the invocation: {}",
        captured.text()
    );
    assert_eq!(sum("AlertsSent"), 1.0);
    assert_eq!(sum("AlertsFailed"), 1.0);
    assert_eq!(latencies(&captured), 1);

    function.handle(&event(DECAY)).await.expect("decay job");
    assert!(captured.validate("recalibrate").expect("valid EMF") > after_alerts);
    assert_eq!(latencies(&captured), 2, "one per job");
    assert_eq!(
        sum("AlertsSent"),
        1.0,
        "counted once, not again at the next flush"
    );
    assert_eq!(sum("AlertsFailed"), 1.0);

    // a refused event runs no job, so it records no latency
    let refused = function.handle(&serde_json::json!({"detail": {}})).await;
    assert!(refused.is_err());
    assert_eq!(latencies(&captured), 2);
    assert!(!captured.text().contains('@'));
}
