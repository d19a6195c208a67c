//! `leadq submit` against the real ingest router served on loopback: signed as ingest
//! verifies, refusals printed and mapped to exit codes.

use leadq_pipeline::api::{ApiState, IngestAuth, router};
use leadq_pipeline::intake::FieldMapping;
use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
use leadq_pipeline::{LeadStore, RetryPolicy, SystemClock};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

const SECRET: &str = "submit-test-secret-0123456789";
const SECRET_VAR: &str = "LEADQ_SUBMIT_TEST_SECRET";

/// An ingest API on a loopback port, served from its own thread for the test's life.
struct Ingest {
    url: String,
    store: Arc<MemoryStore>,
    runtime: tokio::runtime::Runtime,
}

impl Ingest {
    fn start() -> Ingest {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let store = Arc::new(MemoryStore::new());
        let state = ApiState {
            store: store.clone(),
            queue: Arc::new(MemoryQueue::default()),
            clock: Arc::new(SystemClock),
            auth: IngestAuth::from_config(Some(SECRET.into()), "").expect("a strong secret"),
            mapping: FieldMapping::default(),
            policy: RetryPolicy::default(),
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        runtime.spawn(async move { axum::serve(listener, router(state)).await });
        Ingest {
            url,
            store,
            runtime,
        }
    }

    fn lead_exists(&self, id: &str) -> bool {
        self.runtime
            .block_on(self.store.get_lead(id))
            .expect("memory store")
            .is_some()
    }
}

fn payload(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/payloads")
        .join(name)
}

fn submit(args: &[&str], secret: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadq"));
    command.arg("submit").args(args).env_remove(SECRET_VAR);
    if let Some(secret) = secret {
        command.env(SECRET_VAR, secret);
    }
    command.output().expect("run leadq")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn lead_id(output: &Output) -> String {
    let text = stdout(output);
    let body = text.lines().nth(1).expect("the answer's body");
    let answer: serde_json::Value = serde_json::from_str(body).expect("JSON answer");
    answer["lead_id"].as_str().expect("a lead id").to_string()
}

#[test]
fn a_signed_json_lead_is_accepted_and_stored() {
    let ingest = Ingest::start();
    let file = payload("generic-form.json");
    let file = file.to_str().expect("utf-8 path");
    let args = ["--url", &ingest.url, "--secret-env", SECRET_VAR, file];

    let wrong = submit(&args, Some("not-the-secret-0123456789"));
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
    let printed = stdout(&wrong);
    assert!(printed.starts_with("401"), "{printed}");
    assert!(printed.contains("signature"), "the problem body: {printed}");
    assert!(
        stderr(&wrong).contains("refused with 401"),
        "{}",
        stderr(&wrong)
    );

    let accepted = submit(&args, Some(SECRET));
    assert_eq!(accepted.status.code(), Some(0), "{}", stderr(&accepted));
    assert!(
        stdout(&accepted).starts_with("201"),
        "{}",
        stdout(&accepted)
    );
    let id = lead_id(&accepted);
    assert!(ingest.lead_exists(&id), "lead {id} stored");
}

#[test]
fn a_form_encoded_lead_and_an_idempotent_replay() {
    let ingest = Ingest::start();
    let file = payload("generic-form.txt");
    let file = file.to_str().expect("utf-8 path");
    let args = [
        "--url",
        &ingest.url,
        "--secret-env",
        SECRET_VAR,
        "--form",
        "--idempotency-key",
        "submit-test-1",
        file,
    ];
    let first = submit(&args, Some(SECRET));
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stdout(&first).starts_with("201"), "{}", stdout(&first));
    let again = submit(&args, Some(SECRET));
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stdout(&again).starts_with("200"),
        "replayed: {}",
        stdout(&again)
    );
    assert_eq!(lead_id(&first), lead_id(&again));
}

#[test]
fn events_and_outcomes_go_to_their_routes() {
    let ingest = Ingest::start();
    let lead = payload("generic-form.json");
    let base = ["--url", &ingest.url, "--secret-env", SECRET_VAR];
    let lead = submit(
        &[&base[..], &[lead.to_str().expect("path")]].concat(),
        Some(SECRET),
    );
    assert_eq!(lead.status.code(), Some(0), "{}", stderr(&lead));
    let id = lead_id(&lead);

    let dir = tempfile::tempdir().expect("temp dir");
    let events = dir.path().join("events.json");
    let at = chrono::Utc::now().to_rfc3339();
    let body = serde_json::json!({"events": [{"lead_id": id, "kind": "pricing_view", "at": at}]});
    std::fs::write(&events, body.to_string()).expect("write");
    let sent = submit(
        &[
            &base[..],
            &["--to", "events", events.to_str().expect("path")],
        ]
        .concat(),
        Some(SECRET),
    );
    assert_eq!(sent.status.code(), Some(0), "{}", stderr(&sent));
    assert!(stdout(&sent).starts_with("200"), "{}", stdout(&sent));
    assert!(
        stdout(&sent).contains(&id),
        "stored for the lead: {}",
        stdout(&sent)
    );

    let outcome = dir.path().join("outcome.json");
    let body = serde_json::json!({"lead_id": id, "status": "won", "closed_at": at});
    std::fs::write(&outcome, body.to_string()).expect("write");
    let sent = submit(
        &[
            &base[..],
            &["--to", "outcome", outcome.to_str().expect("path")],
        ]
        .concat(),
        Some(SECRET),
    );
    assert_eq!(sent.status.code(), Some(0), "{}", stderr(&sent));
    assert!(stdout(&sent).starts_with("200"), "{}", stdout(&sent));
    assert!(stdout(&sent).contains("won"), "{}", stdout(&sent));
}

#[test]
fn what_must_be_fixed_before_sending_exits_2_and_sends_nothing() {
    let ingest = Ingest::start();
    let file = payload("generic-form.json");
    let file = file.to_str().expect("utf-8 path");

    let unset = submit(
        &["--url", &ingest.url, "--secret-env", SECRET_VAR, file],
        None,
    );
    assert_eq!(unset.status.code(), Some(2));
    assert!(
        stderr(&unset).contains(&format!("--secret-env {SECRET_VAR}")),
        "{}",
        stderr(&unset)
    );

    let short = submit(
        &["--url", &ingest.url, "--secret-env", SECRET_VAR, file],
        Some("short"),
    );
    assert_eq!(short.status.code(), Some(2));
    assert!(stderr(&short).contains("at least 16"), "{}", stderr(&short));

    let missing = submit(
        &[
            "--url",
            &ingest.url,
            "--secret-env",
            SECRET_VAR,
            "no-such-file.json",
        ],
        Some(SECRET),
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("cannot read no-such-file.json"),
        "{}",
        stderr(&missing)
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; 256 * 1024 + 1]).expect("write");
    let too_large = submit(
        &[
            "--url",
            &ingest.url,
            "--secret-env",
            SECRET_VAR,
            big.to_str().expect("path"),
        ],
        Some(SECRET),
    );
    assert_eq!(too_large.status.code(), Some(2));
    assert!(
        stderr(&too_large).contains("at most 262144"),
        "{}",
        stderr(&too_large)
    );

    let bad_url = submit(
        &["--url", "ftp://x", "--secret-env", SECRET_VAR, file],
        Some(SECRET),
    );
    assert_eq!(bad_url.status.code(), Some(2));
    assert!(
        stderr(&bad_url).contains("http or https"),
        "{}",
        stderr(&bad_url)
    );
}

#[test]
fn an_endpoint_that_does_not_answer_is_exit_1_naming_it() {
    // a port bound but not listening: connecting is refused, and the socket holds the
    // port so that no other test's listener can take it meanwhile
    let held = tokio::net::TcpSocket::new_v4().expect("a socket");
    held.bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind 127.0.0.1");
    let port = held.local_addr().expect("local addr").port();
    let url = format!("http://127.0.0.1:{port}");
    let file = payload("generic-form.json");
    let output = submit(
        &[
            "--url",
            &url,
            "--secret-env",
            SECRET_VAR,
            file.to_str().expect("path"),
        ],
        Some(SECRET),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!("POST {url}/v1/leads: no answer")),
        "{}",
        stderr(&output)
    );
}
