//! The dashboard in a real browser: `leadq demo` builds its demo database and then serves
//! it (the dashboard with the demo's two teams), Debian's headless chromium loads every
//! page, the test checks what the rendered DOM shows against the database (the top
//! lead's band and top reason on its page, the queue listing it, the reps holding leads,
//! the stored model versions, the sent alerts) and saves a screenshot of each page in
//! `artifacts/dashboard/` at the repository root.
//!
//! chromium comes from `scripts/install-chromium.sh` (run by `scripts/test`); without it
//! this test fails, in CI and locally alike, saying to run that script.

mod support;

use leadq_local::views::QueueFilter;
use leadq_local::{SqliteOptions, SqliteStore};
use leadq_pipeline::{AlertState, LeadStore};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::Process;

const CHROMIUM: &str = "/usr/bin/chromium";
/// The demo replays its whole history before serving: minutes on a busy 2-core machine.
const DEMO_DEADLINE: Duration = Duration::from_secs(600);
/// One page load in chromium.
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository root")
        .to_path_buf()
}

/// The browser, or a failure that says how to get it (never a silent pass).
fn chromium() -> PathBuf {
    let path = PathBuf::from(CHROMIUM);
    if !path.exists() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        panic!(
            "{CHROMIUM} is missing{}: run scripts/install-chromium.sh (scripts/test runs it) \
             to install Debian's chromium for the dashboard browser test",
            if ci { " in CI" } else { "" }
        );
    }
    path
}

/// A running `leadq demo` serving its dashboard; killed when dropped.
type Demo = Process;

/// Runs `leadq demo` on `db` and waits until it serves its dashboard.
fn start_demo(db: &Path) -> Demo {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadq"));
    command
        .arg("demo")
        .arg("--db")
        .arg(db)
        .args(["--port", "0"])
        .env("RUST_LOG", "warn");
    Process::start(command, DEMO_DEADLINE, |line| {
        line.strip_prefix("dashboard: ")
            .filter(|rest| rest.starts_with("http://"))
            .map(|rest| rest.trim().trim_end_matches('/').to_string())
    })
}

/// Runs chromium headless with `args` then `url`; its standard output.
fn browse(browser: &Path, args: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().expect("a fresh profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + BROWSER_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish loading {url} within {BROWSER_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (
        out.join().expect("stdout reader"),
        err.join().expect("stderr reader"),
    );
    assert!(
        status.success(),
        "chromium failed on {url}: {status}; {err}"
    );
    out
}

/// The rendered DOM of a page.
fn dom(browser: &Path, url: &str) -> String {
    let dom = browse(browser, &["--dump-dom".to_string()], url);
    assert!(
        dom.contains("<nav>"),
        "{url} did not render the dashboard: {dom}"
    );
    dom
}

/// A 1280x900 screenshot of a page at `path`.
fn screenshot(browser: &Path, url: &str, path: &Path) {
    let _ = std::fs::remove_file(path);
    browse(
        browser,
        &[
            format!("--screenshot={}", path.display()),
            "--window-size=1280,900".to_string(),
            "--hide-scrollbars".to_string(),
        ],
        url,
    );
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("no screenshot {path:?}: {e}"));
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{path:?} is not a page screenshot ({} bytes)",
        bytes.len()
    );
}

/// Text as the DOM serialises it in element content.
fn text(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What the database says the pages must show.
struct Expected {
    lead_id: String,
    reps: Vec<String>,
    versions: Vec<String>,
    sent_alerts: usize,
}

/// A lead's band and top reason as stored now.
fn verdict(db: &Path, lead_id: &str) -> (&'static str, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(db, &SqliteOptions::default())
            .await
            .expect("open the demo database");
        let card = store
            .get_lead(lead_id)
            .await
            .expect("read")
            .and_then(|record| record.card)
            .expect("a scored lead");
        let top = card
            .reasons
            .iter()
            .max_by(|a, b| {
                a.composite_points
                    .abs()
                    .total_cmp(&b.composite_points.abs())
            })
            .expect("a reason")
            .rule
            .to_string();
        (card.band.name(), top)
    })
}

fn expected(db: &Path) -> Expected {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(db, &SqliteOptions::default())
            .await
            .expect("open the demo database");
        let top = store
            .queue_page(QueueFilter::default(), 1)
            .await
            .expect("the queue");
        let top = top.rows.first().expect("the demo scored leads");
        let connection = rusqlite::Connection::open(db).expect("open");
        let reps = connection
            .prepare("SELECT DISTINCT rep FROM rep_holdings ORDER BY rep")
            .expect("query")
            .query_map([], |row| row.get::<_, String>(0))
            .expect("rows")
            .collect::<Result<Vec<_>, _>>()
            .expect("reps");
        Expected {
            lead_id: top.id.clone(),
            reps,
            versions: store
                .list_model_versions()
                .await
                .expect("versions")
                .into_iter()
                .map(|v| v.version)
                .collect(),
            sent_alerts: store
                .alerts_in_state(AlertState::Sent, 200)
                .await
                .expect("alerts")
                .len(),
        }
    })
}

#[test]
fn chromium_renders_every_page_of_the_demo() {
    let browser = chromium();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("demo.db");
    let demo = start_demo(&db);
    let want = expected(&db);
    let before = verdict(&db, &want.lead_id);
    let shots = repo_root().join("artifacts").join("dashboard");
    std::fs::create_dir_all(&shots).expect("artifacts/dashboard");
    let base = &demo.url;
    let lead_path = format!("/leads/{}", want.lead_id);

    let queue = dom(&browser, &format!("{base}/"));
    assert!(queue.contains("Lead queue"));
    assert!(queue.contains("By band and next action"));
    assert!(
        queue.contains(&format!("href=\"{lead_path}\"")),
        "the queue lists the top lead {}",
        want.lead_id
    );

    // the live server's decay sweep may rescore the lead while the page loads: the page
    // must show its verdict as read just before or just after
    let lead = dom(&browser, &format!("{base}{lead_path}"));
    let after = verdict(&db, &want.lead_id);
    let shows = |(band, reason): &(&str, String)| {
        lead.contains(&format!("band-{band}\">{band}</span>")) && lead.contains(&text(reason))
    };
    assert!(
        shows(&before) || shows(&after),
        "the lead's band and top reason {before:?} (or {after:?}) on its page"
    );
    assert!(lead.contains("Why: the reasons"));
    assert!(lead.contains("Score changes"));

    let reps = dom(&browser, &format!("{base}/reps"));
    assert!(reps.contains("Team "), "the demo's teams");
    assert!(!want.reps.is_empty(), "the demo gave leads to reps");
    for rep in &want.reps {
        assert!(reps.contains(&text(rep)), "rep {rep} on the reps page");
    }
    assert!(reps.contains("<svg"), "capacity bars");

    let model = dom(&browser, &format!("{base}/model"));
    assert!(!want.versions.is_empty(), "the demo trained a version");
    for version in &want.versions {
        assert!(model.contains(&text(version)), "version {version} listed");
    }
    assert!(model.contains("aria-label=\"calibration chart\""));
    assert!(model.contains("aria-label=\"lift chart\""));

    // the delivery timer may send more meanwhile, never fewer
    let alerts = dom(&browser, &format!("{base}/alerts"));
    let shown: usize = alerts
        .split_once("Sent (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(n, _)| n.parse().ok())
        .expect("the sent alerts' heading");
    assert!(
        shown >= want.sent_alerts && shown > 0,
        "{shown} sent alerts shown, {} stored before",
        want.sent_alerts
    );

    for (name, path) in [
        ("queue", "/"),
        ("lead", lead_path.as_str()),
        ("reps", "/reps"),
        ("model", "/model"),
        ("alerts", "/alerts"),
    ] {
        screenshot(
            &browser,
            &format!("{base}{path}"),
            &shots.join(format!("{name}.png")),
        );
    }
    drop(demo);
}
