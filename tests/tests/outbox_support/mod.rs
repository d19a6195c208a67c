//! The outbox delivery checks, written once and run against every lead store
//! (`outbox_memory.rs`, `outbox_sqlite.rs`, `outbox_emulator.rs`): `deliver_alert`,
//! `deliver_due_alerts` and `resend_alert` over the store's real outbox, to a real HTTP
//! receiver on 127.0.0.1 started by the test, with a [`FixedClock`] moved past each
//! `next_attempt_at` (the in-memory original is `shared/pipeline/tests/alerts_delivery.rs`).
#![allow(dead_code)] // each test binary runs every check, but not every helper directly

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration as Span, Utc};
use leadq_pipeline::alerts::{
    AlertConfig, DeliveryOutcome, HttpNotifier, alerts_for, deliver_alert, deliver_due_alerts,
    resend_alert,
};
use leadq_pipeline::signature::{DEFAULT_TOLERANCE_SECS, SIGNATURE_HEADER, verify};
use leadq_pipeline::{Alert, AlertState, Clock, Created, FixedClock, LeadStore};
use leadq_tests::contract::{at, hot_software_lead};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The generic webhook's signing secret.
pub const WEBHOOK_SECRET: &str = "whsec_outbox_0123456789abcdef";

/// Fast retries: 5 attempts, 1 s backoff doubling to 4 s.
pub const QUICK: &str =
    "max_attempts = 5\ntimeout_ms = 2000\nbackoff_base_secs = 1\nbackoff_max_secs = 4";

/// Attempts [`QUICK`] allows.
pub const MAX_ATTEMPTS: u32 = 5;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its headers.
    pub headers: HeaderMap,
    /// Its raw body.
    pub body: Bytes,
    /// The status answered.
    pub answered: u16,
    /// When it arrived (system time: the signature is checked against it).
    pub at: DateTime<Utc>,
}

impl Received {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Script {
    answers: VecDeque<u16>,
    delay: Duration,
    received: Vec<Received>,
}

/// An HTTP receiver on 127.0.0.1: answers the scripted statuses in order, then 200.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Starts a receiver on a free port.
    pub async fn start(answers: &[u16]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        Receiver::serve(listener, answers)
    }

    /// Starts a receiver on a port held closed until now (a receiver that was down comes
    /// back).
    pub async fn start_on(port: ClosedPort) -> Receiver {
        let listener = port.socket.listen(1024).expect("listen on the held port");
        Receiver::serve(listener, &[])
    }

    fn serve(listener: tokio::net::TcpListener, answers: &[u16]) -> Receiver {
        let addr = listener.local_addr().expect("local addr");
        let script = Arc::new(Mutex::new(Script {
            answers: answers.iter().copied().collect(),
            ..Script::default()
        }));
        let app = Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&script));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Receiver { addr, script, task }
    }

    /// The URL of its `/hook` path.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Makes every answer wait this long first (so concurrent deliverers overlap).
    pub fn set_delay(&self, delay: Duration) {
        self.script.lock().expect("script").delay = delay;
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.script.lock().expect("script").received.clone()
    }

    /// Requests answered 2xx so far.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }
}

async fn receive(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (answer, delay) = {
        let mut script = script.lock().expect("script");
        (script.answers.pop_front().unwrap_or(200), script.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    script.lock().expect("script").received.push(Received {
        headers,
        body,
        answered: answer,
        at: Utc::now(),
    });
    StatusCode::from_u16(answer).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A loopback port bound but not listening: connecting is refused, and no other socket
/// can take the port meanwhile (a released port could be, by another test's `bind`).
pub struct ClosedPort {
    /// Its address.
    pub addr: SocketAddr,
    socket: tokio::net::TcpSocket,
}

/// A port nothing listens on, held until [`Receiver::start_on`] listens on it.
pub async fn closed_port() -> ClosedPort {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind 127.0.0.1");
    let addr = socket.local_addr().expect("local addr");
    ClosedPort { addr, socket }
}

/// A Slack hook `sales` (hot leads) and a signed webhook `crm` (sales_now) at the given
/// URLs, with [`QUICK`] retries.
pub fn config(slack_url: &str, webhook_url: &str) -> AlertConfig {
    let text = format!(
        "lead_url = \"https://leadq.example.com/v1/leads/{{lead_id}}\"\n\
         [delivery]\n{QUICK}\n\
         [hooks.sales]\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n\
         [hooks.crm]\nkind = \"webhook\"\nurl_env = \"CRM_URL\"\nsecret_env = \"CRM_SECRET\"\n\
         [[subscriptions]]\nhook = \"sales\"\nbands = [\"hot\"]\n\
         [[subscriptions]]\nhook = \"crm\"\nnext_actions = [\"sales_now\"]\n"
    );
    let (slack_url, webhook_url) = (slack_url.to_owned(), webhook_url.to_owned());
    AlertConfig::from_toml_with_env(&text, move |name| match name {
        "SLACK_URL" => Some(slack_url.clone()),
        "CRM_URL" => Some(webhook_url.clone()),
        "CRM_SECRET" => Some(WEBHOOK_SECRET.to_owned()),
        _ => None,
    })
    .expect("valid alert config")
}

/// Where the test's clock starts.
pub fn start() -> DateTime<Utc> {
    at(3_600)
}

fn notifier(config: &AlertConfig) -> HttpNotifier {
    HttpNotifier::new(&config.delivery).expect("an HTTP client")
}

/// Stores a hot lead and enqueues its verdict's alerts to `hooks` (of the two its verdict
/// calls for); returns them.
async fn hot_lead_with_alerts(
    store: &dyn LeadStore,
    config: &AlertConfig,
    lead_id: &str,
    hooks: &[&str],
) -> Vec<Alert> {
    let record = hot_software_lead(lead_id);
    assert_eq!(
        store.create_lead(&record).await.expect("create_lead"),
        Created::New
    );
    let all = alerts_for(&record, config, start());
    assert_eq!(all.len(), 2, "one alert per hook");
    let alerts: Vec<Alert> = all
        .into_iter()
        .filter(|alert| hooks.contains(&alert.hook.as_str()))
        .collect();
    assert_eq!(alerts.len(), hooks.len());
    for alert in &alerts {
        assert!(store.enqueue_alert(alert).await.expect("enqueue_alert"));
    }
    alerts
}

/// The one alert of a lead whose only enqueued alert goes to the webhook `crm`.
async fn webhook_alert(store: &dyn LeadStore, config: &AlertConfig, lead_id: &str) -> Alert {
    let mut alerts = hot_lead_with_alerts(store, config, lead_id, &["crm"]).await;
    alerts.pop().expect("the webhook's alert")
}

async fn in_state(store: &dyn LeadStore, state: AlertState) -> Vec<Alert> {
    store
        .alerts_in_state(state, 100)
        .await
        .expect("alerts_in_state")
}

/// A pending alert as stored now.
async fn pending(store: &dyn LeadStore, alert_id: &str) -> Option<Alert> {
    in_state(store, AlertState::Pending)
        .await
        .into_iter()
        .find(|alert| alert.id == alert_id)
}

/// A receiver answering 500 three times, then 200: the alert is tried at each
/// `next_attempt_at` (never before), delivered once, recorded as sent after 4 attempts,
/// each attempt the same signed body with the same Idempotency-Key.
pub async fn check_500_three_times_then_200_is_one_delivery_after_four_attempts(
    store: Arc<dyn LeadStore>,
) {
    let store = store.as_ref();
    let receiver = Receiver::start(&[500, 500, 500]).await;
    let config = config("http://127.0.0.1:9/unused", &receiver.url());
    let notifier = notifier(&config);
    let alert = webhook_alert(store, &config, "flaky").await;
    let clock = FixedClock::new(start());

    let first = deliver_alert(store, &notifier, &config, &alert, clock.now())
        .await
        .expect("deliver_alert");
    assert!(
        matches!(first, DeliveryOutcome::Retrying { attempts: 1, .. }),
        "{first:?}"
    );
    for attempt in 2..=4u32 {
        let waiting = pending(store, &alert.id).await.expect("still pending");
        assert_eq!(waiting.attempts, attempt - 1);
        assert!(
            waiting
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("500")),
            "{waiting:?}"
        );
        // a run before the attempt is due sends nothing
        if waiting.next_attempt_at > clock.now() {
            clock.set(waiting.next_attempt_at - Span::milliseconds(1));
            let early = deliver_due_alerts(store, &notifier, &config, clock.now(), 10)
                .await
                .expect("deliver_due_alerts");
            assert_eq!(early, Default::default(), "nothing due yet");
            assert_eq!(receiver.received().len() as u32, attempt - 1);
        }
        clock.set(waiting.next_attempt_at + Span::milliseconds(1));
        let report = deliver_due_alerts(store, &notifier, &config, clock.now(), 10)
            .await
            .expect("deliver_due_alerts");
        assert!(report.errors.is_empty(), "{report:?}");
        if attempt < 4 {
            assert_eq!(report.retrying, 1, "{report:?}");
        } else {
            assert_eq!(report.sent, 1, "{report:?}");
        }
    }

    let received = receiver.received();
    let answered: Vec<u16> = received.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [500, 500, 500, 200]);
    assert_eq!(receiver.accepted().len(), 1, "exactly one delivery");
    for request in &received {
        assert_eq!(request.header("idempotency-key"), Some(alert.id.as_str()));
        assert_eq!(request.body.as_ref(), alert.payload.as_bytes());
        verify(
            request.header(SIGNATURE_HEADER),
            &request.body,
            WEBHOOK_SECRET.as_bytes(),
            request.at.timestamp(),
            DEFAULT_TOLERANCE_SECS,
        )
        .expect("a valid signature on every attempt");
    }
    let sent = in_state(store, AlertState::Sent).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, alert.id);
    assert_eq!(sent[0].attempts, 4);
    assert_eq!(sent[0].last_error, None);
    assert!(in_state(store, AlertState::Failed).await.is_empty());

    // nothing more is sent, however often and late the deliverer runs
    clock.set(clock.now() + Span::hours(2));
    let later = deliver_due_alerts(store, &notifier, &config, clock.now(), 10)
        .await
        .expect("deliver_due_alerts");
    assert_eq!((later.sent, later.retrying, later.failed), (0, 0, 0));
    assert_eq!(receiver.received().len(), 4);
}

/// Two deliverers (each its own store handle on the same backend) running at once over
/// six alerts, three of whose first attempts are refused: every attempt reaches the
/// receiver exactly once (9 requests), each alert is accepted once and recorded as sent.
pub async fn check_two_deliverers_at_once_send_each_attempt_once(
    a: Arc<dyn LeadStore>,
    b: Arc<dyn LeadStore>,
) {
    let receiver = Receiver::start(&[500, 500, 500]).await;
    // slow answers, so the two deliverers' attempts overlap
    receiver.set_delay(Duration::from_millis(100));
    let config = config(&receiver.url(), &receiver.url());
    let notifier = notifier(&config);
    let mut ids = Vec::new();
    for lead in ["pair-1", "pair-2", "pair-3"] {
        for alert in hot_lead_with_alerts(a.as_ref(), &config, lead, &["sales", "crm"]).await {
            ids.push(alert.id);
        }
    }
    assert_eq!(ids.len(), 6);

    let clock = FixedClock::new(start());
    let mut runs = 0;
    while !in_state(a.as_ref(), AlertState::Pending).await.is_empty() {
        runs += 1;
        assert!(runs <= 10, "alerts still pending after 10 rounds");
        let (ra, rb) = tokio::join!(
            deliver_due_alerts(a.as_ref(), &notifier, &config, clock.now(), 10),
            deliver_due_alerts(b.as_ref(), &notifier, &config, clock.now(), 10),
        );
        let (ra, rb) = (ra.expect("deliverer a"), rb.expect("deliverer b"));
        assert!(
            ra.errors.is_empty() && rb.errors.is_empty(),
            "{ra:?} {rb:?}"
        );
        assert_eq!(ra.failed + rb.failed, 0);
        // past every retry's next_attempt_at (backoff at most 4 s)
        let latest = in_state(a.as_ref(), AlertState::Pending)
            .await
            .iter()
            .map(|alert| alert.next_attempt_at)
            .max();
        if let Some(latest) = latest {
            clock.set(latest.max(clock.now()) + Span::seconds(1));
        }
    }
    assert_eq!(receiver.received().len(), 9, "each attempt sent once");
    let mut accepted: Vec<String> = receiver
        .accepted()
        .iter()
        .filter_map(|r| r.header("idempotency-key").map(str::to_owned))
        .collect();
    accepted.sort();
    ids.sort();
    assert_eq!(accepted, ids, "each alert accepted once");
    let sent = in_state(b.as_ref(), AlertState::Sent).await;
    assert_eq!(sent.len(), 6);
    assert_eq!(sent.iter().map(|alert| alert.attempts).sum::<u32>(), 9);
}

/// A receiver down past every retry: the alert is `failed` after the last attempt (and
/// listed so); once the receiver is back, a re-send puts it back pending and it is sent.
pub async fn check_a_receiver_down_past_every_retry_fails_and_resend_delivers(
    store: Arc<dyn LeadStore>,
) {
    let store = store.as_ref();
    let down = closed_port().await;
    let addr = down.addr;
    let config = config("http://127.0.0.1:9/unused", &format!("http://{addr}/hook"));
    let notifier = notifier(&config);
    let alert = webhook_alert(store, &config, "down").await;
    let clock = FixedClock::new(start());

    for attempt in 1..=MAX_ATTEMPTS {
        let report = deliver_due_alerts(store, &notifier, &config, clock.now(), 10)
            .await
            .expect("deliver_due_alerts");
        assert!(report.errors.is_empty(), "{report:?}");
        match pending(store, &alert.id).await {
            Some(waiting) => {
                assert!(attempt < MAX_ATTEMPTS, "pending after the last attempt");
                assert_eq!(waiting.attempts, attempt);
                clock.set(waiting.next_attempt_at.max(clock.now()) + Span::milliseconds(1));
            }
            None => assert_eq!(attempt, MAX_ATTEMPTS, "failed before the last attempt"),
        }
    }
    let failed = in_state(store, AlertState::Failed).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, alert.id);
    assert_eq!(failed[0].attempts, MAX_ATTEMPTS);
    let error = failed[0].last_error.as_deref().expect("the last error");
    assert!(error.contains("cannot connect"), "{error}");
    // a failed alert is not retried by the deliverer
    let idle = deliver_due_alerts(store, &notifier, &config, clock.now() + Span::hours(1), 10)
        .await
        .expect("deliver_due_alerts");
    assert_eq!(idle, Default::default());

    // the receiver comes back; a person re-sends the alert
    let receiver = Receiver::start_on(down).await;
    let resent = resend_alert(store, &alert.id, clock.now())
        .await
        .expect("resend_alert");
    assert_eq!(resent.state, AlertState::Pending);
    assert_eq!(resent.attempts, 0);
    assert!(in_state(store, AlertState::Failed).await.is_empty());
    let report = deliver_due_alerts(store, &notifier, &config, clock.now(), 10)
        .await
        .expect("deliver_due_alerts");
    assert_eq!(report.sent, 1, "{report:?}");
    assert_eq!(receiver.accepted().len(), 1);
    assert_eq!(
        receiver.accepted()[0].header("idempotency-key"),
        Some(alert.id.as_str())
    );
    let sent = in_state(store, AlertState::Sent).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].attempts, 1);
    assert!(in_state(store, AlertState::Pending).await.is_empty());
}
