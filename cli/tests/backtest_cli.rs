//! `leadq backtest` end to end: a small generated CSV, the real X Education export, and
//! every usage error (exit code 2, naming the column).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LEADS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/datasets/x-education/Leads.csv"
);

/// The README's leakage columns plus the second identifier.
const LEAKS: &str = "Tags,Lead Quality,Lead Profile,Asymmetrique Activity Index,\
Asymmetrique Profile Index,Asymmetrique Activity Score,Asymmetrique Profile Score,\
Last Notable Activity,Lead Number";

fn leadq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leadq"))
        .arg("backtest")
        .args(args)
        .output()
        .expect("run leadq")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "leadq failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout).expect("JSON output")
}

/// 600 leads in the X Education shape: CRLF endings, a trailing unnamed empty column,
/// `Select` for unset fields, blanks in a numeric column. Conversion follows minutes on site
/// and the source.
fn write_leads(dir: &Path, rows: usize) -> PathBuf {
    let mut state: u64 = 7;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut csv = String::from("Lead ID,Minutes,Source,City,Outcome,\r\n");
    for i in 0..rows {
        let minutes = (next() * 60.0).round();
        let source = ["Google", "Referral", "Olark Chat", "Select"][(next() * 4.0) as usize % 4];
        let city = ["Mumbai", "Pune", "Select", ""][(next() * 4.0) as usize % 4];
        let z = -2.0 + minutes / 15.0 + if source == "Referral" { 1.0 } else { 0.0 };
        let won = next() < 1.0 / (1.0 + (-z).exp());
        let minutes = if i % 17 == 0 {
            String::new()
        } else {
            minutes.to_string()
        };
        csv.push_str(&format!(
            "L{i:04},{minutes},{source},{city},{},\r\n",
            if won { "won" } else { "lost" }
        ));
    }
    let path = dir.join("leads.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn backtests_a_small_export_and_writes_a_self_contained_report() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_leads(dir.path(), 600);
    let report = dir.path().join("report.html");
    let args = [
        "--csv",
        csv.to_str().unwrap(),
        "--target",
        "Outcome",
        "--positive",
        "won",
        "--id",
        "Lead ID",
        "--missing",
        "Select",
        "--folds",
        "3",
        "--format",
        "json",
        "--report",
        report.to_str().unwrap(),
    ];
    let out = leadq(&args);
    let r = json(&out);
    assert_eq!(r["rows"], 600);
    assert_eq!(r["train_rows"], 480);
    assert_eq!(r["holdout"]["rows"], 120);
    assert_eq!(r["folds"], 3);
    assert_eq!(r["lambdas"].as_array().unwrap().len(), 5);
    let auc = r["holdout"]["auc"].as_f64().unwrap();
    assert!(auc > 0.75, "holdout AUC {auc}");
    assert!(r["cv_auc_mean"].as_f64().unwrap() > 0.75);
    let names: Vec<&str> = r["top_weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["feature"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Minutes"), "{names:?}");
    assert!(names.contains(&"Minutes (missing)"), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| !n.contains("Select") && !n.starts_with("Lead ID")),
        "{names:?}"
    );
    // The unnamed trailing column is reported, not used.
    let skipped = r["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["column"].as_str().unwrap().contains("unnamed")),
        "{skipped:?}"
    );

    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 4, "four charts");
    for banned in ["<script", "src=", "href=", "@import", "url("] {
        assert!(
            !html.contains(banned),
            "the report must be self-contained: found {banned}"
        );
    }
    assert!(html.contains("Minutes"));

    // Deterministic: the same run gives the same numbers.
    let again = json(&leadq(&args));
    assert_eq!(again["holdout"], r["holdout"]);
    assert_eq!(again["lambdas"], r["lambdas"]);

    // The table format names every metric.
    let table = leadq(&[
        "--csv",
        csv.to_str().unwrap(),
        "--target",
        "Outcome",
        "--positive",
        "won",
        "--drop",
        "Lead ID",
        "--missing",
        "Select",
        "--folds",
        "0",
    ]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = String::from_utf8(table.stdout).unwrap();
    for label in [
        "CV AUC",
        "holdout AUC",
        "log loss",
        "Brier",
        "ECE",
        "top-decile lift",
        "fit time",
    ] {
        assert!(text.contains(label), "missing {label} in\n{text}");
    }
}

#[test]
fn holds_out_exactly_the_listed_ids() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_leads(dir.path(), 400);
    let ids = dir.path().join("test-ids.txt");
    let listed: Vec<String> = (0..400).step_by(4).map(|i| format!("L{i:04}")).collect();
    std::fs::write(&ids, listed.join("\n") + "\n\n").unwrap();
    let out = leadq(&[
        "--csv",
        csv.to_str().unwrap(),
        "--target",
        "Outcome",
        "--positive",
        "won",
        "--id",
        "Lead ID",
        "--test-ids",
        ids.to_str().unwrap(),
        "--missing",
        "Select",
        "--folds",
        "2",
        "--lambda",
        "1",
        "--format",
        "json",
    ]);
    let r = json(&out);
    assert_eq!(r["holdout"]["rows"], 100);
    assert_eq!(r["train_rows"], 300);
    assert_eq!(r["lambda"], 1.0);

    std::fs::write(&ids, "L0001\nnope\n").unwrap();
    let out = leadq(&[
        "--csv",
        csv.to_str().unwrap(),
        "--target",
        "Outcome",
        "--positive",
        "won",
        "--id",
        "Lead ID",
        "--test-ids",
        ids.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`nope`"), "{}", stderr(&out));
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = leadq(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    assert!(
        stderr(&out).contains(needle),
        "{args:?}: expected {needle:?} in {}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_name_the_column_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_leads(dir.path(), 200);
    let csv = csv.to_str().unwrap();
    let base = ["--csv", csv, "--positive", "won"];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        base.iter().copied().chain(extra.iter().copied()).collect()
    };
    assert_usage_error(&with(&["--target", "Outcme"]), "unknown column `Outcme`");
    assert_usage_error(
        &with(&["--target", "Outcome", "--drop", "Minutes,Colour"]),
        "unknown column `Colour`",
    );
    assert_usage_error(
        &with(&["--target", "Outcome", "--id", "Lead Id"]),
        "unknown column `Lead Id`",
    );
    assert_usage_error(
        &["--csv", csv, "--target", "Outcome", "--positive", "yes"],
        "`yes` never occurs in target column `Outcome`",
    );
    // A target with one class.
    let one = dir.path().join("one.csv");
    std::fs::write(&one, "a,b\n1,won\n2,won\n3,won\n").unwrap();
    assert_usage_error(
        &[
            "--csv",
            one.to_str().unwrap(),
            "--target",
            "b",
            "--positive",
            "won",
        ],
        "target column `b` has only one class",
    );
    // Too few outcomes: the trainer's guard, with the counts.
    let few = dir.path().join("few.csv");
    let mut text = String::from("x,y\n");
    for i in 0..120 {
        text.push_str(&format!(
            "{i},{}\n",
            if i % 10 == 0 { "won" } else { "lost" }
        ));
    }
    std::fs::write(&few, text).unwrap();
    assert_usage_error(
        &[
            "--csv",
            few.to_str().unwrap(),
            "--target",
            "y",
            "--positive",
            "won",
            "--folds",
            "0",
        ],
        "positive",
    );
    assert_usage_error(&with(&["--target", "Outcome", "--folds", "1"]), "--folds");
    assert_usage_error(
        &with(&["--target", "Outcome", "--test-fraction", "1.5"]),
        "--test-fraction",
    );
    assert_usage_error(
        &[
            "--csv",
            "/nonexistent/leads.csv",
            "--target",
            "t",
            "--positive",
            "1",
        ],
        "/nonexistent/leads.csv",
    );
}

#[test]
fn x_education_holdout_auc_is_above_0_85() {
    assert!(
        Path::new(LEADS).exists(),
        "the X Education export must be at {LEADS} (the handbook folder beside the repository)"
    );
    let out = leadq(&[
        "--csv",
        LEADS,
        "--target",
        "Converted",
        "--positive",
        "1",
        "--id",
        "Prospect ID",
        "--drop",
        LEAKS,
        "--missing",
        "Select",
        "--folds",
        "3",
        "--lambda",
        "0.1,1,10",
        "--format",
        "json",
    ]);
    let r = json(&out);
    assert_eq!(r["rows"], 9240);
    assert_eq!(r["positives"], 3561);
    let auc = r["holdout"]["auc"].as_f64().unwrap();
    assert!(auc > 0.85, "holdout AUC {auc}");
    assert!(r["holdout"]["log_loss"].as_f64().unwrap() < 0.5);
    assert!(r["cv_auc_mean"].as_f64().unwrap() > 0.85);
}
