//! `leadq demo` through the real binary: deterministic (two runs print the same queue),
//! the whole local mode exercised (leads enriched, scored, routed, alerted; outcomes
//! closing deals; a trained version promoted), an earlier demo file replaced and any
//! other file left alone.

use leadq_local::{SqliteOptions, SqliteStore};
use leadq_pipeline::{AlertState, LeadStore, RepLedger};
use std::path::Path;
use std::process::{Command, Output};

const NOW: &str = "2026-11-23T12:00:00Z";

fn demo(db: &Path, leads: u32) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leadq"))
        .args([
            "demo",
            "--exit",
            "--now",
            NOW,
            "--leads",
            &leads.to_string(),
            "--db",
        ])
        .arg(db)
        .output()
        .expect("leadq runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The printed lines that describe the replay, the model and the queue (not the file name).
fn queue_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| !line.starts_with("database:") && !line.contains("replaying 60 days"))
        .collect()
}

#[test]
fn two_runs_print_the_same_queue() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let first = demo(&a, 300);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = demo(&b, 300);
    assert!(second.status.success());
    let (first, second) = (stdout(&first), stdout(&second));
    assert_eq!(queue_lines(&first), queue_lines(&second));
    // the queue itself: a header and its rows, each with a band and a next action
    let header = first
        .lines()
        .position(|line| line.starts_with("lead ") && line.contains("next action"))
        .expect("a queue header");
    let rows = &first.lines().collect::<Vec<_>>()[header + 1..];
    let rows: Vec<&&str> = rows
        .iter()
        .filter(|line| !line.starts_with("database:"))
        .collect();
    assert_eq!(rows.len(), 15, "{first}");
    assert!(
        rows.iter()
            .all(|row| ["hot", "warm", "mql", "cold", "disqualified"]
                .iter()
                .any(|band| row.contains(band))),
        "{first}"
    );
    assert!(first.contains("replayed: 300 leads"), "{first}");
}

#[test]
fn the_full_demo_routes_alerts_closes_deals_and_promotes_a_trained_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("demo.db");
    let output = demo(&db, 1_000);
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("replayed: 1000 leads"), "{text}");
    assert!(text.contains("training: promoted"), "{text}");
    // every band but hot is common; hot is rare by design, yet present
    let bands = text
        .lines()
        .find(|line| line.starts_with("bands:"))
        .expect("bands line");
    assert!(!bands.contains("hot 0,"), "{bands}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(&db, &SqliteOptions::default())
            .await
            .expect("open");
        let versions = store.list_model_versions().await.expect("versions");
        assert!(versions.iter().any(|v| v.promoted), "{versions:?}");
        let active = store.active_model().await.expect("active").expect("one");
        assert!(
            active.metrics_json.is_some(),
            "the active version was trained"
        );
        let outcomes = store.list_outcomes().await.expect("outcomes");
        assert!(outcomes.len() > 200, "{} outcomes", outcomes.len());
        let sent = store
            .alerts_in_state(AlertState::Sent, 10_000)
            .await
            .expect("alerts");
        assert!(!sent.is_empty(), "alerts reached the demo's hooks");
        // no closed deal holds a rep's slot
        let ledger = store.ledger();
        for outcome in &outcomes {
            assert_eq!(
                ledger.holder(&outcome.lead_id).await.expect("holder"),
                None,
                "closed lead {} still holds a rep",
                outcome.lead_id
            );
        }
        // a closed deal holds no rep and was rescored with the cause recorded
        let closed = store
            .get_lead(&outcomes[0].lead_id)
            .await
            .expect("get")
            .expect("lead");
        assert!(closed.closed.is_some());
        assert!(
            closed.assignment.as_ref().and_then(|a| a.rep()).is_none(),
            "{:?}",
            closed.assignment
        );
        // every lead was rescored with the promoted version: its card has a probability
        let card = closed.card.expect("scored");
        assert!(
            card.probability.is_some_and(|p| (0.0..=1.0).contains(&p)),
            "{card:?}"
        );
    });
}

#[test]
fn an_earlier_demo_is_replaced_and_any_other_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("demo.db");
    assert!(demo(&db, 50).status.success());
    let again = demo(&db, 50);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(stdout(&again).contains("replayed: 50 leads"));
    // the demo's teams are written beside it, for `leadq serve --config`
    let routing = std::fs::read_to_string(dir.path().join("demo.config/routing.toml"))
        .expect("the demo's routing beside its database");
    assert!(routing.contains("[[teams]]"));
    assert!(stdout(&again).contains("--config"), "{}", stdout(&again));

    let other = dir.path().join("mine.db");
    std::fs::write(&other, b"my notes, not a database").expect("write");
    let refused = demo(&other, 50);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("mine.db"), "{stderr}");
    assert_eq!(
        std::fs::read(&other).expect("read"),
        b"my notes, not a database",
        "the file is left alone"
    );
}
