//! `leadq serve` end to end: the real binary on a free loopback port and a temporary
//! database, fed a signed form through its API, alerting a webhook receiver served by
//! the test; killed (SIGKILL) mid-pipeline and restarted on the same database; stopped
//! with SIGTERM.

mod support;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use leadq_local::settings::LAST_TRAIN_KEY;
use leadq_local::{SqliteOptions, SqliteQueue, SqliteSettings, SqliteStore};
use leadq_pipeline::AlertState;
use leadq_pipeline::signature::sign;
use leadq_pipeline::{LeadStore, Stage, WorkQueue};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Process, listening_url, serve_command};

const HOOK_SECRET: &str = "serve-test-hook-secret-0123456789";
/// How long the pipeline may take before a test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// A webhook receiver on a loopback port, recording each alert's Idempotency-Key.
struct Hook {
    url: String,
    received: Arc<Mutex<Vec<String>>>,
}

/// With `hang_first`, the first delivery is recorded and then never answered (the
/// sender's attempt times out), so the server can be killed in the middle of it.
fn start_receiver(runtime: &tokio::runtime::Runtime, hang_first: bool) -> Hook {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, _body: String| {
            let sink = Arc::clone(&sink);
            async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let first = {
                    let mut sink = sink.lock().expect("lock");
                    sink.push(key);
                    sink.len() == 1
                };
                if hang_first && first {
                    std::future::pending::<()>().await;
                }
                StatusCode::OK
            }
        }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    runtime.spawn(async move { axum::serve(listener, app).await });
    Hook { url, received }
}

impl Hook {
    fn count(&self) -> usize {
        self.received.lock().expect("lock").len()
    }

    fn keys(&self) -> Vec<String> {
        self.received.lock().expect("lock").clone()
    }
}

/// A config directory: one team taking every lead, one webhook hearing every verdict.
/// The delivery timeout is ample for a loopback receiver on a loaded machine (an attempt
/// timing out would be retried and counted twice), and short enough that a killed
/// attempt's lease (twice it plus 10 s) lapses well within [`DEADLINE`].
fn config_dir(dir: &Path) -> PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(
        config.join("routing.toml"),
        r#"fallback_queue = "unassigned"
[[teams]]
name = "all"
strategy = "least_loaded"
[[teams.reps]]
id = "ada"
max_open_leads = 100
max_new_per_day = 100
"#,
    )
    .expect("routing.toml");
    std::fs::write(
        config.join("alerts.toml"),
        r#"lead_url = "http://127.0.0.1/leads/{lead_id}"
[delivery]
timeout_ms = 5000
backoff_base_secs = 1
backoff_max_secs = 2
[hooks.test]
kind = "webhook"
url_env = "LEADQ_SERVE_TEST_HOOK_URL"
secret_env = "LEADQ_SERVE_TEST_HOOK_SECRET"
[[subscriptions]]
hook = "test"
bands = ["hot", "warm", "mql", "cold", "disqualified"]
"#,
    )
    .expect("alerts.toml");
    config
}

/// A running `leadq serve` and its standard output, line by line.
type Server = Process;

/// Starts `leadq serve` on `db` with the test's config and hook.
fn start_server(db: &Path, config: &Path, hook_url: &str) -> Server {
    start_server_with(db, config, hook_url, &[])
}

/// [`start_server`] with more options.
fn start_server_with(db: &Path, config: &Path, hook_url: &str, options: &[&str]) -> Server {
    let mut command = serve_command(db, config);
    command
        .args(["--visibility-timeout", "2", "--alert-interval", "1"])
        .args(options)
        .env("LEADQ_SERVE_TEST_HOOK_URL", hook_url)
        .env("LEADQ_SERVE_TEST_HOOK_SECRET", HOOK_SECRET);
    Process::start(command, DEADLINE, listening_url)
}

/// POSTs a signed JSON form; returns the status and the lead id.
fn post_lead(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    secret: &str,
    email: &str,
) -> (u16, String) {
    let body = serde_json::json!({
        "email": email,
        "name": "Ada Stone",
        "job_title": "VP of Sales",
        "company": "Stone Software",
        "website": "https://stonesoftware.example/",
        "company_size": "201-500",
        "industry": "Software",
        "country": "GB",
        "gdpr_consent": true
    })
    .to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = sign(secret.as_bytes(), timestamp, body.as_bytes());
    runtime.block_on(async {
        let response = leadq_pipeline::tls::http_client_builder()
            .expect("TLS configuration")
            .build()
            .expect("client")
            .post(format!("{url}/v1/leads"))
            .header("content-type", "application/json")
            .header("x-leadq-signature", signature)
            .body(body)
            .send()
            .await
            .expect("POST /v1/leads");
        let status = response.status().as_u16();
        let json: serde_json::Value = response.json().await.expect("a JSON answer");
        let id = json["lead_id"]
            .as_str()
            .or_else(|| json["id"].as_str())
            .unwrap_or_default()
            .to_string();
        (status, id)
    })
}

/// Polls until `done` holds, failing the test at the deadline with `what`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Checks the database after the pipeline ran: one lead, scored and routed, one alert
/// sent, every queue empty and no dead letters.
fn assert_done_once(runtime: &tokio::runtime::Runtime, db: &Path, lead_id: &str) {
    runtime.block_on(async {
        let store = SqliteStore::open(db, &SqliteOptions::default())
            .await
            .expect("open the database");
        let record = store
            .get_lead(lead_id)
            .await
            .expect("read the lead")
            .expect("the lead is stored");
        assert!(record.card.is_some(), "the lead was scored");
        let sent = store
            .alerts_in_state(AlertState::Sent, 100)
            .await
            .expect("outbox");
        assert_eq!(sent.len(), 1, "one alert in the outbox, sent: {sent:?}");
        for state in [AlertState::Pending, AlertState::Failed] {
            let other = store.alerts_in_state(state, 100).await.expect("outbox");
            assert!(other.is_empty(), "{state:?}: {other:?}");
        }
        let queue: SqliteQueue = store.queue();
        for stage in Stage::ALL {
            let dead = queue.dead_letters(stage, 10).await.expect("dead letters");
            assert!(dead.is_empty(), "{stage:?} dead letters: {dead:?}");
        }
    });
    assert_eq!(queued_messages(db), 0, "no work left in any queue");
}

/// Messages waiting or in flight in every queue, read without receiving them (a receive
/// would count towards their dead-lettering).
fn queued_messages(db: &Path) -> i64 {
    queued_where(db, "1 = 1")
}

/// Messages waiting or in flight in one stage's queue.
fn queued_for(db: &Path, stage: &str) -> i64 {
    queued_where(db, &format!("stage = '{stage}'"))
}

fn queued_where(db: &Path, condition: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn.query_row(
        &format!("SELECT COUNT(*) FROM queue_messages WHERE {condition}"),
        [],
        |row| row.get(0),
    )
    .expect("count the queue")
}

#[test]
fn a_signed_form_is_enriched_scored_routed_and_alerted_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, config) = (dir.path().join("leadq.db"), config_dir(dir.path()));
    let runtime = runtime();
    let receiver = start_receiver(&runtime, false);
    let server = start_server(&db, &config, &receiver.url);
    let secret = server
        .printed_secret()
        .unwrap_or_else(|| panic!("a first start prints the secret: {:?}", server.lines));
    assert!(secret.len() >= 32 && secret.chars().all(|c| c.is_ascii_hexdigit()));

    let (status, lead_id) = post_lead(&runtime, &server.url, &secret, "ada@stonesoftware.example");
    assert_eq!(status, 201);
    assert!(!lead_id.is_empty());
    wait_until("the alert reaches the webhook", || receiver.count() >= 1);
    // let any duplicate show itself, then check the whole state
    wait_until("every queue is drained", || queued_messages(&db) == 0);
    assert_done_once(&runtime, &db, &lead_id);
    assert_eq!(
        receiver.count(),
        1,
        "exactly one alert: {:?}",
        receiver.keys()
    );
    // the daily training ran at the first start (no outcomes: it keeps the rules) and
    // recorded when, so a restart does not train again before a day is over
    wait_until("the training run is recorded", || {
        runtime.block_on(async {
            let settings = SqliteSettings::open(&db, &SqliteOptions::default())
                .await
                .expect("settings");
            settings.get(LAST_TRAIN_KEY).await.expect("read").is_some()
        })
    });

    // a later start keeps the secret and does not print it again
    server.kill();
    let again = start_server(&db, &config, &receiver.url);
    assert_eq!(again.printed_secret(), None, "{:?}", again.lines);
    assert!(
        again.lines.iter().all(|line| !line.contains(&secret)),
        "{:?}",
        again.lines
    );
    let (status, same) = post_lead(&runtime, &again.url, &secret, "ada@stonesoftware.example");
    assert_eq!(
        (status, same.as_str()),
        (200, lead_id.as_str()),
        "the stored secret still signs"
    );
}

#[test]
fn killed_between_stages_and_restarted_the_work_completes_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, config) = (dir.path().join("leadq.db"), config_dir(dir.path()));
    let runtime = runtime();
    let receiver = start_receiver(&runtime, false);
    // a first process that works enrich and score only: the kill lands between score
    // and route every time (killing right after the 201 raced the pipeline, which can
    // finish before the signal)
    let server = start_server_with(&db, &config, &receiver.url, &["--stages", "enrich,score"]);
    assert!(
        server.lines.iter().any(|line| line
            == "workers: enrich, score; not worked here: route (its messages wait in the queue)"),
        "{:?}",
        server.lines
    );
    let secret = server.printed_secret().expect("the secret");
    let (status, lead_id) = post_lead(
        &runtime,
        &server.url,
        &secret,
        "grace@stonesoftware.example",
    );
    assert_eq!(status, 201);
    wait_until(
        "enrich and score are done and route's message waits",
        || queued_messages(&db) == 1 && queued_for(&db, "route") == 1,
    );
    server.kill();
    assert_eq!(receiver.count(), 0, "no route worker ran: nothing alerted");

    let again = start_server(&db, &config, &receiver.url);
    wait_until("the alert reaches the webhook after the restart", || {
        receiver.count() >= 1
    });
    wait_until("the route stage is done", || {
        sent_alerts(&runtime, &db) == 1
    });
    // the queue may still hold a redelivery of the killed process's message: wait for it
    wait_until("every queue is drained", || queued_messages(&db) == 0);
    assert_done_once(&runtime, &db, &lead_id);
    assert_eq!(
        receiver.count(),
        1,
        "exactly one alert: {:?}",
        receiver.keys()
    );
    let (status, same) = post_lead(&runtime, &again.url, &secret, "grace@stonesoftware.example");
    assert_eq!((status, same), (200, lead_id), "still one lead");
}

#[test]
fn killed_while_delivering_the_alert_and_restarted_the_alert_is_sent_once_by_its_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, config) = (dir.path().join("leadq.db"), config_dir(dir.path()));
    let runtime = runtime();
    let receiver = start_receiver(&runtime, true);
    let server = start_server(&db, &config, &receiver.url);
    let secret = server.printed_secret().expect("the secret");
    let (status, lead_id) = post_lead(&runtime, &server.url, &secret, "alan@stonesoftware.example");
    assert_eq!(status, 201);
    // the route stage is inside its delivery attempt: its message is received, not acked
    wait_until(
        "the route stage's delivery attempt reaches the webhook",
        || receiver.count() == 1,
    );
    server.kill();
    assert_eq!(queued_messages(&db), 1, "the route message is still queued");

    let _again = start_server(&db, &config, &receiver.url);
    // the route message comes back after its visibility timeout and finds the alert
    // queued; the outbox delivers it once the killed attempt's lease lapses
    wait_until("the alert is sent", || sent_alerts(&runtime, &db) == 1);
    wait_until("every queue is drained", || queued_messages(&db) == 0);
    assert_done_once(&runtime, &db, &lead_id);
    let keys = receiver.keys();
    assert_eq!(
        keys.len(),
        2,
        "the killed attempt and the outbox's: {keys:?}"
    );
    assert!(
        keys[0].starts_with("alert_") && keys[0] == keys[1],
        "one alert, one Idempotency-Key for the receiver to drop the repeat by: {keys:?}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_stops_cleanly_and_a_restart_finishes_what_was_left() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, config) = (dir.path().join("leadq.db"), config_dir(dir.path()));
    let runtime = runtime();
    let receiver = start_receiver(&runtime, false);
    let mut server = start_server(&db, &config, &receiver.url);
    let secret = server.printed_secret().expect("the secret");
    let (status, lead_id) = post_lead(&runtime, &server.url, &secret, "kate@stonesoftware.example");
    assert_eq!(status, 201);
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let deadline = Instant::now() + DEADLINE;
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    drop(server);
    // the store's connections were closed before the exit, which folds the WAL back in
    for side in ["leadq.db-wal", "leadq.db-shm"] {
        assert!(!dir.path().join(side).exists(), "{side} is left behind");
    }

    // whatever the stop left is queued (nothing in flight: a clean stop acks or hands back)
    // and a restart finishes it
    let _again = start_server(&db, &config, &receiver.url);
    wait_until("the alert reaches the webhook", || receiver.count() >= 1);
    wait_until("every queue is drained", || queued_messages(&db) == 0);
    assert_done_once(&runtime, &db, &lead_id);
    assert_eq!(
        receiver.count(),
        1,
        "exactly one alert: {:?}",
        receiver.keys()
    );
}

#[test]
fn a_config_directory_without_routing_is_refused_and_creates_no_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("leadq.db");
    let output = Command::new(env!("CARGO_BIN_EXE_leadq"))
        .arg("serve")
        .arg("--db")
        .arg(&db)
        .arg("--config")
        .arg(dir.path())
        .args(["--port", "0"])
        .output()
        .expect("run leadq serve");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("routing.toml"), "{stderr}");
    assert!(!db.exists(), "nothing was created");
}

#[test]
fn a_short_ingest_secret_or_a_taken_port_is_refused_and_creates_no_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("leadq.db");
    let serve = |port: &str, secret: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_leadq"));
        command
            .arg("serve")
            .arg("--db")
            .arg(&db)
            .args(["--port", port])
            .env_remove("LEADQ_API_KEYS")
            .env_remove("LEADQ_INGEST_SECRET");
        if let Some(secret) = secret {
            command.env("LEADQ_INGEST_SECRET", secret);
        }
        command.output().expect("run leadq serve")
    };
    let output = serve("0", Some("tiny-s3cret"));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("credentials"), "{stderr}");
    assert!(
        !stderr.contains("short"),
        "the secret is not echoed: {stderr}"
    );
    assert!(!db.exists(), "nothing was created");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = taken.local_addr().expect("address").port().to_string();
    let output = serve(&port, None);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(!db.exists(), "nothing was created");
}

/// Alerts the outbox of the database at `db` marks sent.
fn sent_alerts(runtime: &tokio::runtime::Runtime, db: &std::path::Path) -> usize {
    runtime.block_on(async {
        let store = SqliteStore::open(db, &SqliteOptions::default())
            .await
            .expect("store");
        store
            .alerts_in_state(AlertState::Sent, 10)
            .await
            .expect("outbox")
            .len()
    })
}
