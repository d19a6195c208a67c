//! `leadq models list | show | rollback` end to end: the built binary on a SQLite store
//! holding rules and a trained version, then what the store holds.

use chrono::{TimeZone, Utc};
use leadq_local::{SqliteOptions, SqliteStore};
use leadq_pipeline::stages::train::{HoldoutMetrics, VersionMetrics, WeightChange};
use leadq_pipeline::{LeadStore, ModelVersion};
use leadq_scoring::Calibration;
use leadq_scoring::calibration::{CalibratedFeature, FeatureKind};
use leadq_scoring::model::DEFAULT_MODEL_TOML;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn leadq(args: &[&str], dir: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_leadq"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the leadq binary runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

fn version(label: &str, day: u32, metrics: Option<&VersionMetrics>, reason: &str) -> ModelVersion {
    ModelVersion {
        version: label.to_string(),
        created_at: Utc
            .with_ymd_and_hms(2026, 11, day, 3, 0, 0)
            .single()
            .expect("a time"),
        model_toml: DEFAULT_MODEL_TOML.replacen(
            "version = \"rules-default-2026.11\"",
            &format!("version = \"{label}\""),
            1,
        ),
        metrics_json: metrics.map(|m| serde_json::to_string(m).expect("json")),
        promoted: true,
        reason: reason.to_string(),
    }
}

fn trained_metrics() -> VersionMetrics {
    let calibration = Calibration {
        intercept: -2.0,
        prior_intercept: -2.5,
        prior_slope: 0.05,
        features: vec![CalibratedFeature {
            name: "industry = software".into(),
            kind: FeatureKind::Rule,
            weight: 0.08,
            prior_weight: 0.05,
            support: 120,
        }],
        rows: 400,
        won: 120,
        prior_strength: 50.0,
    };
    let metrics = |auc, ece| HoldoutMetrics {
        auc,
        log_loss: 0.5,
        brier: 0.17,
        ece,
    };
    VersionMetrics {
        calibration: Some(calibration),
        based_on: Some("rules-v1".into()),
        challenger: Some(metrics(0.81, 0.03)),
        active: Some(metrics(0.79, 0.21)),
        weight_changes: vec![WeightChange {
            name: "industry = software".into(),
            kind: FeatureKind::Rule,
            before: 0.05,
            after: 0.08,
            change: 0.03,
        }],
        ..VersionMetrics::default()
    }
}

/// A store with `rules-v1` (day 1) and `trained-x` (day 2, active).
fn store(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("leadq.db");
    runtime().block_on(async {
        let store = SqliteStore::open(&db, &SqliteOptions::default())
            .await
            .expect("open");
        let rules = version("rules-v1", 1, None, "hand-written rules");
        let trained = version("trained-x", 2, Some(&trained_metrics()), "promoted: better");
        assert!(store.put_model_version(&rules).await.expect("put"));
        assert!(store.put_model_version(&trained).await.expect("put"));
        store.set_active_model("trained-x").await.expect("activate");
    });
    db
}

fn active(db: &Path) -> Option<String> {
    runtime().block_on(async {
        let store = SqliteStore::open(db, &SqliteOptions::default())
            .await
            .expect("open");
        store
            .active_model()
            .await
            .expect("active")
            .map(|v| v.version)
    })
}

fn count(db: &Path) -> usize {
    runtime().block_on(async {
        let store = SqliteStore::open(db, &SqliteOptions::default())
            .await
            .expect("open");
        store.list_model_versions().await.expect("list").len()
    })
}

#[test]
fn list_shows_every_version_newest_first_with_the_active_one_marked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = store(dir.path());
    let db = db.to_str().expect("UTF-8");
    let run = leadq(&["models", "list", "--db", db], dir.path());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "active: trained-x");
    assert!(lines[1].contains("VERSION") && lines[1].contains("REASON"));
    assert!(lines[2].starts_with("* trained-x"), "{}", run.stdout);
    assert!(lines[2].contains("trained") && lines[2].contains("0.810"));
    assert!(lines[2].contains("0.030") && lines[2].contains("promoted: better"));
    assert!(lines[3].starts_with("  rules-v1"), "{}", run.stdout);
    assert!(lines[3].contains("rules") && lines[3].contains(" - "));

    let run = leadq(
        &["models", "list", "--db", db, "--format", "json"],
        dir.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["active"], "trained-x");
    assert_eq!(json["versions"][0]["version"], "trained-x");
    assert_eq!(json["versions"][1]["kind"], "rules");
}

#[test]
fn show_prints_a_version_in_full_and_names_an_unknown_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = store(dir.path());
    let db = db.to_str().expect("UTF-8");
    let run = leadq(&["models", "show", "trained-x", "--db", db], dir.path());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["version"], "trained-x");
    assert_eq!(json["active"], true);
    assert_eq!(json["based_on"], "rules-v1");
    assert_eq!(json["weight_changes"][0]["name"], "industry = software");
    assert_eq!(json["calibration"]["prior_slope"], 0.05);
    assert_eq!(json["compared_with"]["auc"], 0.79);
    assert!(
        json["model_toml"]
            .as_str()
            .expect("toml")
            .contains("trained-x")
    );

    let run = leadq(&["models", "show", "trained-y", "--db", db], dir.path());
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("\"trained-y\" is not stored"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn rollback_points_the_active_model_back_and_records_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = store(dir.path());
    let db = db_path.to_str().expect("UTF-8");
    let run = leadq(
        &[
            "models", "rollback", "rules-v1", "--db", db, "--reason", "bad week",
        ],
        dir.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("active model: rules-v1 (was trained-x); recorded as rollback-"),
        "{}",
        run.stdout
    );
    assert_eq!(active(&db_path).as_deref(), Some("rules-v1"));
    assert_eq!(count(&db_path), 3);

    let run = leadq(
        &["models", "list", "--db", db, "--format", "json"],
        dir.path(),
    );
    let json: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let record = json["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .find(|v| v["kind"] == "rollback")
        .expect("the rollback is listed");
    let reason = record["reason"].as_str().expect("reason");
    assert!(
        reason.contains("trained-x") && reason.contains("rules-v1"),
        "{reason}"
    );
    assert!(reason.contains("bad week"), "{reason}");

    // refusals: exit 2, a message naming the version, nothing changed
    for (args, named) in [
        (
            vec!["models", "rollback", "rules-v1", "--db", db],
            "already active",
        ),
        (
            vec!["models", "rollback", "rules-v7", "--db", db],
            "\"rules-v7\" is not stored",
        ),
    ] {
        let run = leadq(&args, dir.path());
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(named), "{}", run.stderr);
    }
    let long = "x".repeat(501);
    let run = leadq(
        &[
            "models",
            "rollback",
            "trained-x",
            "--db",
            db,
            "--reason",
            &long,
        ],
        dir.path(),
    );
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("--reason"), "{}", run.stderr);
    assert_eq!(active(&db_path).as_deref(), Some("rules-v1"));
    assert_eq!(count(&db_path), 3);
}

#[test]
fn a_missing_database_is_an_error_and_is_not_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [
        vec!["models", "list", "--db", "nope.db"],
        vec!["models", "show", "v1", "--db", "nope.db"],
        vec!["models", "rollback", "v1", "--db", "nope.db"],
    ] {
        let run = leadq(&args, dir.path());
        assert_eq!(run.code, Some(2), "{args:?}");
        assert!(
            run.stderr.contains("nope.db: no such database"),
            "{}",
            run.stderr
        );
    }
    assert!(!dir.path().join("nope.db").exists());
}
