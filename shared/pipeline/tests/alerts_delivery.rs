//! The outbox over the in-memory store and a real HTTP receiver on 127.0.0.1: payloads,
//! signatures, retries with backoff, the failed state, timeouts and concurrent deliverers.

mod alerts_support;

use alerts_support::*;
use chrono::{DateTime, Duration as Span, Utc};
use leadq_pipeline::alerts::{
    AlertConfig, DeliveryError, DeliveryOutcome, HttpNotifier, Skip, alerts_for, deliver_alert,
    deliver_due_alerts, resend_alert,
};
use leadq_pipeline::memory::MemoryStore;
use leadq_pipeline::ports::{Alert, AlertState, LeadStore};
use leadq_pipeline::signature::{DEFAULT_TOLERANCE_SECS, SIGNATURE_HEADER, verify};
use std::time::{Duration, Instant};

/// Fast retries: 1 s backoff doubling to 4 s, so a run 10 s later always finds it due.
const QUICK: &str =
    "max_attempts = 5\ntimeout_ms = 2000\nbackoff_base_secs = 1\nbackoff_max_secs = 4";

fn notifier(config: &AlertConfig) -> HttpNotifier {
    HttpNotifier::new(&config.delivery).expect("HTTP client")
}

/// The alert of `hook` for `lead`, enqueued.
async fn enqueue(store: &MemoryStore, config: &AlertConfig, lead: &str, hook: &str) -> Alert {
    let alert = alerts_for(&hot_lead(lead), config, now())
        .into_iter()
        .find(|a| a.hook == hook)
        .expect("an alert for the hook");
    assert!(store.enqueue_alert(&alert).await.expect("enqueue"));
    alert
}

async fn in_state(store: &MemoryStore, state: AlertState) -> Vec<Alert> {
    store
        .alerts_in_state(state, 100)
        .await
        .expect("alerts_in_state")
}

/// Runs the deliverer every 10 s of test time from `start` until nothing is pending.
async fn deliver_until_settled(
    store: &MemoryStore,
    notifier: &HttpNotifier,
    config: &AlertConfig,
    start: DateTime<Utc>,
) -> DateTime<Utc> {
    let mut at = start;
    for _ in 0..20 {
        deliver_due_alerts(store, notifier, config, at, 10)
            .await
            .expect("deliver");
        if in_state(store, AlertState::Pending).await.is_empty() {
            return at;
        }
        at += Span::seconds(10);
    }
    panic!("alerts still pending after 20 runs");
}

#[tokio::test]
async fn five_hundred_three_times_then_200_is_one_delivery_after_four_attempts() {
    let receiver = Receiver::start(&[500, 500, 500]).await;
    let config = config("http://127.0.0.1:9/unused", &receiver.url(), QUICK);
    let notifier = notifier(&config);
    let store = MemoryStore::default();
    let alert = enqueue(&store, &config, "lead-1", "crm").await;

    deliver_until_settled(&store, &notifier, &config, now()).await;

    let received = receiver.received();
    let answered: Vec<u16> = received.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [500, 500, 500, 200]);
    assert_eq!(receiver.accepted().len(), 1);
    let sent = in_state(&store, AlertState::Sent).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, alert.id);
    assert_eq!(sent[0].attempts, 4);
    assert_eq!(sent[0].last_error, None);
    // every attempt is the same alert: same key, same body, each signed
    for request in &received {
        assert_eq!(request.header("idempotency-key"), Some(alert.id.as_str()));
        assert_eq!(request.body.as_ref(), alert.payload.as_bytes());
        assert_eq!(request.header("content-type"), Some("application/json"));
        verify(
            request.header(SIGNATURE_HEADER),
            &request.body,
            WEBHOOK_SECRET.as_bytes(),
            request.at.timestamp(),
            DEFAULT_TOLERANCE_SECS,
        )
        .expect("a valid signature on every attempt");
    }
    // nothing more is sent, however often the deliverer runs
    let later = now() + Span::hours(2);
    let report = deliver_due_alerts(&store, &notifier, &config, later, 10)
        .await
        .expect("deliver");
    assert_eq!((report.sent, report.retrying, report.skipped), (0, 0, 0));
    assert_eq!(receiver.received().len(), 4);
}

#[tokio::test]
async fn a_failed_attempt_waits_out_its_backoff() {
    let receiver = Receiver::start(&[503]).await;
    let config = config("http://127.0.0.1:9/unused", &receiver.url(), QUICK);
    let notifier = notifier(&config);
    let store = MemoryStore::default();
    let alert = enqueue(&store, &config, "lead-1", "crm").await;

    let outcome = deliver_alert(&store, &notifier, &config, &alert, now())
        .await
        .expect("deliver");
    let DeliveryOutcome::Retrying {
        attempts,
        next_attempt_at,
        error,
    } = outcome
    else {
        panic!("expected a retry, got {outcome:?}");
    };
    assert_eq!(attempts, 1);
    assert!(matches!(error, DeliveryError::Refused { status: 503, .. }));
    // full jitter: anywhere from now up to the first ceiling (1 s)
    assert!(next_attempt_at >= now() && next_attempt_at <= now() + Span::seconds(1));
    let pending = in_state(&store, AlertState::Pending).await;
    assert_eq!(pending[0].attempts, 1);
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("503"))
    );

    // a run before the next attempt is due sends nothing
    if next_attempt_at > now() {
        let early = next_attempt_at - Span::milliseconds(1);
        let report = deliver_due_alerts(&store, &notifier, &config, early, 10)
            .await
            .expect("deliver");
        assert_eq!(report, Default::default());
        assert_eq!(receiver.received().len(), 1);
    }
    let report = deliver_due_alerts(&store, &notifier, &config, next_attempt_at, 10)
        .await
        .expect("deliver");
    assert_eq!(report.sent, 1);
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_receiver_down_past_every_retry_fails_the_alert_and_resend_delivers_it() {
    let down = closed_port().await;
    let addr = down.addr;
    let url = format!("http://{addr}/hook");
    let config = config("http://127.0.0.1:9/unused", &url, QUICK);
    let notifier = notifier(&config);
    let store = MemoryStore::default();
    let alert = enqueue(&store, &config, "lead-1", "crm").await;

    let settled_at = deliver_until_settled(&store, &notifier, &config, now()).await;
    let failed = in_state(&store, AlertState::Failed).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, alert.id);
    assert_eq!(failed[0].attempts, 5, "max_attempts");
    let error = failed[0].last_error.as_deref().expect("last error");
    assert!(error.contains("cannot connect"), "{error}");
    assert!(
        !error.contains(&addr.port().to_string()),
        "no URL in the error: {error}"
    );

    // the receiver comes back; a person re-sends the alert
    let receiver = Receiver::start_on(down, &[]).await;
    let resent = resend_alert(&store, &alert.id, settled_at)
        .await
        .expect("resend");
    assert_eq!(resent.state, AlertState::Pending);
    assert_eq!(resent.attempts, 0);
    assert_eq!(resent.next_attempt_at, settled_at);
    assert!(in_state(&store, AlertState::Failed).await.is_empty());

    let report = deliver_due_alerts(&store, &notifier, &config, settled_at, 10)
        .await
        .expect("deliver");
    assert_eq!(report.sent, 1);
    assert_eq!(receiver.accepted().len(), 1);
    let sent = in_state(&store, AlertState::Sent).await;
    assert_eq!(sent[0].attempts, 1);
}

#[tokio::test]
async fn resend_refuses_an_unknown_or_not_failed_alert() {
    let store = MemoryStore::default();
    let config = config("http://127.0.0.1:9/a", "http://127.0.0.1:9/b", QUICK);
    let alert = enqueue(&store, &config, "lead-1", "crm").await;
    let error = resend_alert(&store, &alert.id, now())
        .await
        .expect_err("pending");
    assert_eq!(
        error.to_string(),
        format!(
            "alert {} is pending: only a failed alert can be re-sent",
            alert.id
        )
    );
    let error = resend_alert(&store, "alert_nope", now())
        .await
        .expect_err("unknown");
    assert_eq!(error.to_string(), "alert alert_nope not found");
    assert_eq!(in_state(&store, AlertState::Pending).await, vec![alert]);
}

#[tokio::test]
async fn a_slow_receiver_times_out_and_the_alert_is_retried() {
    let receiver = Receiver::start(&[]).await;
    receiver.set_delay(Duration::from_secs(3));
    let delivery =
        "max_attempts = 3\ntimeout_ms = 200\nbackoff_base_secs = 1\nbackoff_max_secs = 2";
    let config = config("http://127.0.0.1:9/unused", &receiver.url(), delivery);
    let notifier = notifier(&config);
    let store = MemoryStore::default();
    let alert = enqueue(&store, &config, "lead-1", "crm").await;

    let started = Instant::now();
    let outcome = deliver_alert(&store, &notifier, &config, &alert, now())
        .await
        .expect("deliver");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    match outcome {
        DeliveryOutcome::Retrying { error, .. } => assert_eq!(
            error,
            DeliveryError::Timeout {
                hook: "crm".into(),
                timeout_ms: 200
            }
        ),
        other => panic!("expected a retry after a timeout, got {other:?}"),
    }
    let pending = in_state(&store, AlertState::Pending).await;
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("200 ms"))
    );
}

#[tokio::test]
async fn a_4xx_answer_fails_the_alert_at_once_but_429_is_retried() {
    let receiver = Receiver::start(&[429, 410]).await;
    let config = config("http://127.0.0.1:9/unused", &receiver.url(), QUICK);
    let notifier = notifier(&config);
    let store = MemoryStore::default();
    let alert = enqueue(&store, &config, "lead-1", "crm").await;

    let first = deliver_alert(&store, &notifier, &config, &alert, now())
        .await
        .expect("deliver");
    // the receiver asked for 3 s, more than the 1 s backoff ceiling: it gets 3 s
    match first {
        DeliveryOutcome::Retrying {
            attempts: 1,
            next_attempt_at,
            ..
        } => assert_eq!(next_attempt_at, now() + Span::seconds(RETRY_AFTER_SECS)),
        other => panic!("expected a retry, got {other:?}"),
    }
    let report = deliver_due_alerts(&store, &notifier, &config, now() + Span::seconds(10), 10)
        .await
        .expect("deliver");
    assert_eq!(report.failed, 1);
    let failed = in_state(&store, AlertState::Failed).await;
    assert_eq!(failed[0].attempts, 2);
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("410"))
    );
}

#[tokio::test]
async fn two_deliverers_at_once_send_each_attempt_once() {
    let receiver = Receiver::start(&[500, 500, 500]).await;
    receiver.set_delay(Duration::from_millis(100));
    let config = config(&receiver.url(), &receiver.url(), QUICK);
    let notifier = notifier(&config);
    let store = MemoryStore::default();
    let mut ids = Vec::new();
    for lead in ["lead-1", "lead-2", "lead-3"] {
        for alert in alerts_for(&hot_lead(lead), &config, now()) {
            assert!(store.enqueue_alert(&alert).await.expect("enqueue"));
            ids.push(alert.id);
        }
    }
    assert_eq!(ids.len(), 6);

    let mut at = now();
    for _ in 0..20 {
        let (a, b) = tokio::join!(
            deliver_due_alerts(&store, &notifier, &config, at, 10),
            deliver_due_alerts(&store, &notifier, &config, at, 10),
        );
        let (a, b) = (a.expect("deliverer a"), b.expect("deliverer b"));
        assert!(a.errors.is_empty() && b.errors.is_empty());
        if in_state(&store, AlertState::Pending).await.is_empty() {
            break;
        }
        at += Span::seconds(10);
    }
    // 6 alerts, 3 of whose attempts were refused: 9 requests, 6 accepted, one per alert
    assert_eq!(receiver.received().len(), 9);
    let mut accepted: Vec<String> = receiver
        .accepted()
        .iter()
        .filter_map(|r| r.header("idempotency-key").map(str::to_owned))
        .collect();
    accepted.sort();
    ids.sort();
    assert_eq!(accepted, ids);
    let sent = in_state(&store, AlertState::Sent).await;
    assert_eq!(sent.len(), 6);
    assert_eq!(sent.iter().map(|a| a.attempts).sum::<u32>(), 9);
}

#[tokio::test]
async fn a_stale_copy_or_a_settled_alert_is_not_sent_again() {
    let receiver = Receiver::start(&[]).await;
    let config = config("http://127.0.0.1:9/unused", &receiver.url(), QUICK);
    let notifier = notifier(&config);
    let store = MemoryStore::default();
    let alert = enqueue(&store, &config, "lead-1", "crm").await;

    let first = deliver_alert(&store, &notifier, &config, &alert, now())
        .await
        .expect("deliver");
    assert_eq!(first, DeliveryOutcome::Sent { attempts: 1 });
    // a redelivered route message builds the same alert again: the outbox has it already,
    // and delivering the rebuilt copy loses the claim
    let again = alerts_for(&hot_lead("lead-1"), &config, now() + Span::minutes(5))
        .into_iter()
        .find(|a| a.hook == "crm")
        .expect("alert");
    assert_eq!(again.id, alert.id);
    assert!(!store.enqueue_alert(&again).await.expect("enqueue"));
    let second = deliver_alert(&store, &notifier, &config, &again, now() + Span::minutes(5))
        .await
        .expect("deliver");
    assert_eq!(second, DeliveryOutcome::Skipped(Skip::Claimed));
    let sent = in_state(&store, AlertState::Sent).await;
    let third = deliver_alert(&store, &notifier, &config, &sent[0], now())
        .await
        .expect("deliver");
    assert_eq!(
        third,
        DeliveryOutcome::Skipped(Skip::NotPending(AlertState::Sent))
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn an_alert_for_a_hook_no_longer_configured_fails_without_a_request() {
    let receiver = Receiver::start(&[]).await;
    let config = config(&receiver.url(), &receiver.url(), QUICK);
    let store = MemoryStore::default();
    let alert = enqueue(&store, &config, "lead-1", "crm").await;
    let mut without_crm = config.clone();
    without_crm.hooks.remove("crm");
    without_crm.subscriptions.retain(|s| s.hook != "crm");

    let outcome = deliver_alert(&store, &notifier(&config), &without_crm, &alert, now())
        .await
        .expect("deliver");
    assert!(
        matches!(outcome, DeliveryOutcome::Failed { attempts: 1, .. }),
        "{outcome:?}"
    );
    let failed = in_state(&store, AlertState::Failed).await;
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no hook of this name"))
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn slack_gets_a_block_kit_message_and_the_webhook_a_signed_json_body() {
    let slack = Receiver::start(&[]).await;
    let crm = Receiver::start(&[]).await;
    let config = config(&slack.url(), &crm.url(), QUICK);
    let notifier = notifier(&config);
    let store = MemoryStore::default();
    for alert in alerts_for(&hot_lead("lead-42"), &config, now()) {
        assert!(store.enqueue_alert(&alert).await.expect("enqueue"));
    }
    let report = deliver_due_alerts(&store, &notifier, &config, now(), 10)
        .await
        .expect("deliver");
    assert_eq!(report.sent, 2);

    let slack_request = &slack.received()[0];
    assert_eq!(
        slack_request.header(SIGNATURE_HEADER),
        None,
        "Slack is not signed"
    );
    let message = slack_request.json();
    let blocks = message["blocks"].as_array().expect("blocks");
    let types: Vec<&str> = blocks.iter().filter_map(|b| b["type"].as_str()).collect();
    assert_eq!(types, ["header", "section", "section", "actions"]);
    assert_eq!(
        blocks[0]["text"]["text"],
        "Hot lead: Ada Lovelace, VP Marketing, Acme (acme.io)"
    );
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["text"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "*Who*\nAda Lovelace, VP Marketing",
            "*Company*\nAcme (acme.io)",
            "*Score*\n87/100 (hot)",
            "*Next action*\nSales now",
        ]
    );
    assert_eq!(
        blocks[2]["text"]["text"],
        "*Why*\n• demo_request (+15.0 points, intent)\n• industry = software (+9.0 points, fit)\n• seniority = vp (+6.0 points, stakeholder)"
    );
    assert_eq!(
        blocks[3]["elements"][0]["url"],
        "https://leadq.example.com/v1/leads/lead-42"
    );
    assert!(
        message["text"]
            .as_str()
            .is_some_and(|t| t.contains("87/100"))
    );
    assert!(
        !slack_request.body.windows(11).any(|w| w == b"ada@acme.io"),
        "no email"
    );

    let crm_request = &crm.received()[0];
    verify(
        crm_request.header(SIGNATURE_HEADER),
        &crm_request.body,
        WEBHOOK_SECRET.as_bytes(),
        crm_request.at.timestamp(),
        DEFAULT_TOLERANCE_SECS,
    )
    .expect("valid signature");
    let body = crm_request.json();
    assert_eq!(body["type"], "lead.alert");
    assert_eq!(
        Some(body["alert_id"].as_str().expect("id")),
        crm_request.header("idempotency-key")
    );
    assert_eq!(body["lead_id"], "lead-42");
    assert_eq!(
        body["lead_url"],
        "https://leadq.example.com/v1/leads/lead-42"
    );
    assert_eq!(body["person"]["name"], "Ada Lovelace");
    assert_eq!(body["company"]["domain"], "acme.io");
    assert_eq!(body["verdict"]["composite"], 87);
    assert_eq!(body["verdict"]["band"], "hot");
    assert_eq!(body["verdict"]["next_action"], "sales_now");
    assert_eq!(body["verdict"]["model_version"], "default-2026.11");
    let reasons: Vec<&str> = body["verdict"]["top_reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert_eq!(
        reasons,
        ["demo_request", "industry = software", "seniority = vp"]
    );
    assert!(
        body["person"].get("email").is_none(),
        "no email in the outbox"
    );
    // a tampered body does not verify
    let mut tampered = crm_request.body.to_vec();
    tampered[0] = b' ';
    assert!(
        verify(
            crm_request.header(SIGNATURE_HEADER),
            &tampered,
            WEBHOOK_SECRET.as_bytes(),
            crm_request.at.timestamp(),
            DEFAULT_TOLERANCE_SECS,
        )
        .is_err()
    );
}
