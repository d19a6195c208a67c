//! `leadq companies import` end to end: the built binary on the shipped example and on bad
//! files, then what the SQLite file holds.

use leadq_local::{SqliteDirectory, SqliteOptions};
use leadq_pipeline::stages::{CompanyDirectory, CompanyFacts};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What one run of the binary gave.
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

fn example(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "examples", name]
        .iter()
        .collect();
    path.to_str().expect("UTF-8 path").to_owned()
}

fn write(dir: &Path, name: &str, text: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the file");
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Reads the directory in `db` as the local mode will.
fn directory(db: &Path) -> (tokio::runtime::Runtime, SqliteDirectory) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let directory = runtime
        .block_on(SqliteDirectory::open(db, &SqliteOptions::default()))
        .expect("open the directory");
    (runtime, directory)
}

fn lookup(db: &Path, domain: &str) -> Option<CompanyFacts> {
    let (runtime, directory) = directory(db);
    runtime.block_on(directory.lookup(domain)).expect("lookup")
}

fn count(db: &Path) -> u64 {
    let (runtime, directory) = directory(db);
    runtime.block_on(directory.count()).expect("count")
}

#[test]
fn imports_the_example_into_the_default_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = leadq(
        &["companies", "import", &example("companies.csv")],
        dir.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.starts_with("imported 8 companies from "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .trim_end()
            .ends_with("into leadq.db (the directory now holds 8)"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stderr, "");

    let db = dir.path().join("leadq.db");
    assert_eq!(count(&db), 8);
    assert_eq!(
        lookup(&db, "https://www.AcmeAnalytics.io/pricing"),
        Some(CompanyFacts {
            domain: "acmeanalytics.io".into(),
            name: Some("Acme Analytics".into()),
            industry: Some("software".into()),
            employees: Some(420),
            revenue_band: Some("50m-250m".into()),
            country: Some("US".into()),
            tech_stack: Some(vec![
                "salesforce".into(),
                "segment".into(),
                "snowflake".into()
            ]),
            business_model: Some("b2b".into()),
        })
    );
    // empty cells stay unknown
    let initech = lookup(&db, "initech.example").expect("imported");
    assert_eq!(
        (
            initech.employees,
            initech.tech_stack,
            initech.business_model
        ),
        (None, None, None)
    );
    assert_eq!(lookup(&db, "unknown.example"), None);
}

#[test]
fn a_second_import_replaces_companies_by_domain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("custom.db");
    let db_arg = db.to_str().expect("UTF-8 path");
    let first = write(
        dir.path(),
        "first.csv",
        b"domain,industry,employees\nacme.com,software,10\nbeta.io,retail,20\n",
    );
    let run = leadq(&["companies", "import", &first, "--db", db_arg], dir.path());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.starts_with("imported 2 companies"),
        "{}",
        run.stdout
    );

    let second = write(
        dir.path(),
        "second.csv",
        b"employees,domain\n15,WWW.ACME.COM\n",
    );
    let run = leadq(
        &["companies", "import", &second, "--db", db_arg],
        dir.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.starts_with("imported 1 company from "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("(the directory now holds 2)"),
        "{}",
        run.stdout
    );
    let acme = lookup(&db, "acme.com").expect("imported");
    assert_eq!(acme.employees, Some(15));
    assert_eq!(acme.industry, None, "a row replaces the whole company");
    assert!(!dir.path().join("leadq.db").exists(), "--db was used");
}

#[test]
fn a_bad_file_names_line_and_column_and_imports_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("leadq.db");
    let good = write(dir.path(), "good.csv", b"domain,name\nacme.com,Acme\n");
    assert_eq!(
        leadq(&["companies", "import", &good], dir.path()).code,
        Some(0)
    );

    let cases: [(&str, &[u8], &str); 6] = [
        (
            "employees.csv",
            b"domain,employees\nbeta.io,12\ngamma.io,many\n",
            "company CSV line 3, column `employees`: `many` is not a whole number",
        ),
        (
            "country.csv",
            b"domain,country\nbeta.io,USA\n",
            "company CSV line 2, column `country`: `USA` is not an ISO 3166-1 alpha-2 code",
        ),
        (
            "domain.csv",
            b"domain,name\nbeta.io,Beta\nnot a domain,Gamma\n",
            "company CSV line 3, column `domain`: `not a domain` is not a web domain",
        ),
        (
            "column.csv",
            b"domain,staff\nbeta.io,12\n",
            "company CSV line 1, column `staff`: is not a known column",
        ),
        (
            "duplicate.csv",
            b"domain\nbeta.io\nBETA.io\n",
            "company CSV line 3, column `domain`: beta.io was already given on line 2",
        ),
        ("empty.csv", b"", "missing column `domain`"),
    ];
    for (name, text, expected) in cases {
        let path = write(dir.path(), name, text);
        let run = leadq(&["companies", "import", &path], dir.path());
        assert_eq!(run.code, Some(2), "{name}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{name}");
        assert!(
            run.stderr.starts_with("leadq: ") && run.stderr.contains(&path),
            "{name}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(expected), "{name}: {}", run.stderr);
    }
    assert_eq!(count(&db), 1, "no bad file imported anything");
    assert_eq!(lookup(&db, "beta.io"), None);
}

#[test]
fn a_bad_file_does_not_create_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = write(dir.path(), "bad.csv", b"domain,employees\nacme.com,-3\n");
    let run = leadq(&["companies", "import", &bad], dir.path());
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("line 2, column `employees`"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("leadq.db").exists());
}

#[test]
fn unreadable_files_and_databases_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = leadq(&["companies", "import", "missing.csv"], dir.path());
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.starts_with("leadq: cannot read missing.csv: "),
        "{}",
        run.stderr
    );
    let not_utf8 = write(
        dir.path(),
        "latin1.csv",
        b"domain,name\nacme.com,M\xfcller\n",
    );
    let run = leadq(&["companies", "import", &not_utf8], dir.path());
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);

    // the database path is a directory
    let good = write(dir.path(), "good.csv", b"domain\nacme.com\n");
    let db_dir = dir.path().to_str().expect("UTF-8 path");
    let run = leadq(&["companies", "import", &good, "--db", db_dir], dir.path());
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("nothing imported"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

#[test]
fn the_command_is_documented_in_its_help() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = leadq(&["companies", "import", "--help"], dir.path());
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.contains("--db <PATH>"), "{}", run.stdout);
    assert!(run.stdout.contains("[default: leadq.db]"), "{}", run.stdout);
}
