//! `leadq score` end to end: the built binary on the shipped samples and on bad inputs.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const NOW: &str = "2026-11-23T12:00:00Z";

/// What one run of the binary gave.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn leadq(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_leadq"))
        .args(args)
        .output()
        .expect("the leadq binary runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn example(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "examples", name]
        .iter()
        .collect();
    path.to_str().expect("UTF-8 path").to_owned()
}

fn score(input: &str, extra: &[&str]) -> Run {
    let mut args = vec!["score", "--input", input, "--now", NOW];
    args.extend_from_slice(extra);
    leadq(&args)
}

/// Writes `text` to `name` in a fresh temporary directory.
fn temp_file(name: &str, text: &[u8]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp file");
    let path = path.to_str().expect("UTF-8 path").to_owned();
    (dir, path)
}

/// Asserts an input error: exit code 2, nothing on stdout, and a message containing
/// every one of `needles`.
fn assert_input_error(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "", "an error prints no verdicts");
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "stderr should contain {needle:?}: {}",
            run.stderr
        );
    }
}

/// The expected verdict of each sample lead: id, composite, band, next action.
const EXPECTED: [(&str, u64, &str, &str); 8] = [
    ("lead-001-vp-acme", 71, "warm", "sales_now"),
    ("lead-002-student", 0, "disqualified", "nurture"),
    ("lead-003-competitor", 19, "disqualified", "suppress"),
    ("lead-004-freemail-intent", 35, "cold", "enrich_again"),
    ("lead-005-unknown", 0, "disqualified", "nurture"),
    ("lead-006-passive-old", 21, "cold", "account_follow_up"),
    ("lead-007-weak-fit-usage", 51, "mql", "manual_review"),
    ("lead-008-mid-ops", 48, "mql", "nurture"),
];

fn json_cards(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON ScoreCard"))
        .collect()
}

#[test]
fn samples_score_as_expected_in_the_table() {
    for input in [example("leads.jsonl"), example("leads.csv")] {
        let run = score(&input, &[]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 1 + EXPECTED.len(), "{}", run.stdout);
        let header = lines[0];
        assert!(header.starts_with("lead "), "{header}");
        let band_at = header.find("band").expect("band column");
        let reasons_at = header.find("top reasons").expect("reasons column");
        for (line, (id, composite, band, action)) in lines[1..].iter().zip(EXPECTED) {
            let cells: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(
                cells[..4],
                [id, &composite.to_string(), band, action],
                "{line}"
            );
            // aligned: every band starts under the `band` header
            assert_eq!(line.find(band), Some(band_at), "{line}");
            if line.len() > reasons_at {
                assert!(line[..reasons_at].ends_with("  "), "{line}");
            }
        }
        let vp = lines[1];
        assert!(
            vp.ends_with("+9.0 employees 201-1000; +9.0 industry = software; +7.6 seniority = vp"),
            "{vp}"
        );
        let competitor = lines[3];
        assert!(
            competitor.contains("disqualified by competitor domain; "),
            "{competitor}"
        );
        let student = lines[2];
        assert!(student.contains("-30.0 student"), "{student}");
        // the unknown lead has no reasons at all
        assert!(lines[5].trim_end().ends_with("nurture"), "{}", lines[5]);
    }
}

#[test]
fn samples_score_as_expected_in_json() {
    let run = score(&example("leads.jsonl"), &["--format", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let cards = json_cards(&run.stdout);
    assert_eq!(cards.len(), EXPECTED.len());
    for (card, (id, composite, band, action)) in cards.iter().zip(EXPECTED) {
        assert_eq!(card["lead_id"], id);
        assert_eq!(card["composite"], composite, "{id}");
        assert_eq!(card["band"], band, "{id}");
        assert_eq!(card["next_action"], action, "{id}");
        assert_eq!(card["scored_at"], NOW);
        assert_eq!(card["model_version"], "rules-default-2026.11");
    }
    assert_eq!(cards[2]["disqualified_by"], "competitor domain");
    // unknown company data is reported as missing, not scored as "no"
    let missing: Vec<&str> = cards[3]["missing"]
        .as_array()
        .expect("missing is a list")
        .iter()
        .filter_map(|m| m["field"].as_str())
        .collect();
    assert!(missing.contains(&"company.industry"), "{missing:?}");
    assert_eq!(cards[3]["missing_span"]["best"], "warm");
}

#[test]
fn jsonl_and_csv_give_identical_score_cards() {
    let jsonl = score(&example("leads.jsonl"), &["--format", "json"]);
    let csv = score(&example("leads.csv"), &["--format", "json"]);
    assert_eq!(jsonl.code, Some(0), "{}", jsonl.stderr);
    assert_eq!(csv.code, Some(0), "{}", csv.stderr);
    assert!(!jsonl.stdout.is_empty());
    assert_eq!(jsonl.stdout, csv.stdout);
}

#[test]
fn explain_follows_the_table() {
    let run = score(&example("leads.jsonl"), &["--explain"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let (table, explanations) = run
        .stdout
        .split_once("\n\n")
        .expect("a blank line after the table");
    assert_eq!(table.lines().count(), 1 + EXPECTED.len());
    assert!(
        explanations.starts_with(
            "lead lead-001-vp-acme: 71 (warm), next action sales_now [model rules-default-2026.11]"
        ),
        "{explanations}"
    );
    assert!(explanations.contains("disqualified by: competitor domain"));
    assert!(explanations.contains("missing data could make it warm at best, cold at worst:"));
}

#[test]
fn explain_does_not_go_with_json() {
    let run = score(&example("leads.jsonl"), &["--format", "json", "--explain"]);
    assert_input_error(&run, &["--explain"]);
}

#[test]
fn standard_input_needs_a_format() {
    let text = std::fs::read(example("leads.jsonl")).expect("sample");
    let run_with = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadq"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        // A refusal exits before reading standard input, so the pipe may close under us.
        match std::io::Write::write_all(&mut stdin, &text) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {e}"),
            _ => {}
        }
        drop(stdin);
        child.wait_with_output().expect("wait")
    };
    let out = run_with(&["score", "--input", "-", "--now", NOW, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--input-format"));
    let out = run_with(&[
        "score",
        "--input",
        "-",
        "--input-format",
        "jsonl",
        "--now",
        NOW,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let file = score(&example("leads.jsonl"), &["--format", "json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), file.stdout);
}

#[test]
fn empty_input_prints_nothing() {
    for name in ["empty.jsonl", "empty.csv"] {
        let (_dir, path) = temp_file(name, b"");
        for format in ["table", "json"] {
            let run = score(&path, &["--format", format]);
            assert_eq!(run.code, Some(0), "{}", run.stderr);
            assert_eq!(run.stdout, "");
        }
    }
    let (_dir, path) = temp_file("header-only.csv", b"id,person.email\n");
    let run = score(&path, &[]);
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), ""));
}

#[test]
fn malformed_json_line_names_its_line() {
    let text = b"{\"lead\": {\"id\": \"a\"}}\n\n{\"lead\": {\"id\": \"b\",}\n";
    let (_dir, path) = temp_file("leads.jsonl", text);
    let run = score(&path, &[]);
    assert_input_error(&run, &["leads.jsonl:3: invalid JSON at column"]);
}

#[test]
fn bad_json_field_names_line_and_field() {
    let text = b"{\"lead\": {\"id\": \"a\"}}\n{\"lead\": {\"id\": \"b\", \"person\": {\"seniority\": \"senior\"}}}\n{\"lead\": {\"id\": \"c\"}, \"events\": [{\"kind\": \"demo\", \"at\": \"2026-11-20T00:00:00Z\"}]}\n";
    let (_dir, path) = temp_file("leads.jsonl", text);
    let run = score(&path, &["--format", "json"]);
    assert_input_error(
        &run,
        &["leads.jsonl:2: field lead.person.seniority: unknown variant `senior`"],
    );

    let text = b"{\"lead\": {\"id\": \"c\"}, \"events\": [{\"kind\": \"demo\", \"at\": \"2026-11-20T00:00:00Z\"}]}\n";
    let (_dir, path) = temp_file("leads.ndjson", text);
    let run = score(&path, &[]);
    assert_input_error(
        &run,
        &["leads.ndjson:1: field events[0].kind: unknown variant `demo`"],
    );
}

#[test]
fn csv_bad_enum_names_line_and_column() {
    let text = b"id,person.seniority,company.employees\nl1,vp,120\nl2,senior,40\n";
    let (_dir, path) = temp_file("leads.csv", text);
    let run = score(&path, &[]);
    assert_input_error(
        &run,
        &["leads.csv:3: field person.seniority: unknown variant `senior`"],
    );
}

#[test]
fn csv_non_numeric_employees_names_line_and_column() {
    let text = b"id,company.employees\nl1,120\nl2,\nl3,lots\n";
    let (_dir, path) = temp_file("leads.csv", text);
    let run = score(&path, &[]);
    assert_input_error(
        &run,
        &["leads.csv:4: field company.employees: invalid type: string \"lots\""],
    );
}

#[test]
fn csv_bad_events_cell_names_line() {
    let text = b"id,events\nl1,[{\"kind\":\n";
    let (_dir, path) = temp_file("leads.csv", text);
    let run = score(&path, &[]);
    // the quote opens a quoted field that never closes: still a clean error, no panic
    assert_eq!(run.code, Some(2), "{}", run.stderr);

    let text = b"id,events\nl1,\"[{\"\"kind\"\": \"\"demo_request\"\"}]\"\n";
    let (_dir, path) = temp_file("leads.csv", text);
    let run = score(&path, &[]);
    assert_input_error(&run, &["leads.csv:2: field events[0]: missing field `at`"]);
}

#[test]
fn csv_unknown_column_is_refused() {
    let text = b"id,person.age\nl1,41\n";
    let (_dir, path) = temp_file("leads.csv", text);
    let run = score(&path, &[]);
    assert_input_error(
        &run,
        &[
            "leads.csv:1: unknown column `person.age`",
            "person.seniority",
        ],
    );
}

#[test]
fn csv_empty_cells_are_unknown_not_no() {
    let text = b"id,person.seniority,company.employees,consent.email,company.tech_stack\nl1,,,,\n";
    let (_dir, csv_path) = temp_file("leads.csv", text);
    let (_dir2, jsonl_path) = temp_file("leads.jsonl", b"{\"lead\": {\"id\": \"l1\"}}\n");
    let csv = score(&csv_path, &["--format", "json"]);
    let jsonl = score(&jsonl_path, &["--format", "json"]);
    assert_eq!(csv.code, Some(0), "{}", csv.stderr);
    assert_eq!(csv.stdout, jsonl.stdout);
}

#[test]
fn bad_model_file_names_the_key() {
    let model = leadq_scoring::model::DEFAULT_MODEL_TOML;
    let block =
        "[signals.email_open]\npoints = 2\ndimension = \"behaviour\"\nhalf_life_days = 14\n";
    assert!(model.contains(block), "the default model changed");
    let bad = model.replace(
        block,
        "[signals.email_open]\npoints = 2\ndimension = \"behaviour\"\nhalf_life_days = -14\n",
    );
    let (_dir, path) = temp_file("bad.toml", bad.as_bytes());
    let run = score(&example("leads.jsonl"), &["--model", &path]);
    assert_input_error(
        &run,
        &[
            "bad.toml",
            "`signals.email_open.half_life_days`",
            "positive",
        ],
    );
}

#[test]
fn a_custom_model_is_used() {
    let model = leadq_scoring::model::DEFAULT_MODEL_TOML.replace(
        "version = \"rules-default-2026.11\"",
        "version = \"team-2026.12\"",
    );
    let (_dir, path) = temp_file("team.toml", model.as_bytes());
    let run = score(
        &example("leads.csv"),
        &["--model", &path, "--format", "json"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for card in json_cards(&run.stdout) {
        assert_eq!(card["model_version"], "team-2026.12");
    }
}

#[test]
fn missing_files_exit_2_with_their_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope.jsonl");
    let missing = missing.to_str().expect("UTF-8 path");
    let run = score(missing, &[]);
    assert_input_error(&run, &["cannot read", missing]);

    let model = Path::new(dir.path()).join("nope.toml");
    let model = model.to_str().expect("UTF-8 path");
    let run = score(&example("leads.jsonl"), &["--model", model]);
    assert_input_error(&run, &["cannot read", model]);
}

#[test]
fn unknown_extension_and_bad_now_exit_2() {
    let (_dir, path) = temp_file("leads.txt", b"{\"lead\": {\"id\": \"a\"}}\n");
    assert_input_error(&score(&path, &[]), &["--input-format"]);
    let run = score(&path, &["--input-format", "jsonl", "--format", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    let run = leadq(&["score", "--input", &path, "--now", "yesterday"]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("RFC 3339"), "{}", run.stderr);
}
