//! `leadq models list | show V | rollback V`: the model versions of the local SQLite store.
//!
//! `list` prints one line per stored version, newest first, the active one marked; `show`
//! prints one version in full as JSON (metrics, weight changes, calibration, rules);
//! `rollback` points the active model at an older stored version and records that as a
//! version entry of its own. `--format json` makes `list` print JSON too.

use crate::companies::DEFAULT_DB;
use chrono::Utc;
use leadq_local::{SqliteOptions, SqliteStore};
use leadq_pipeline::api::{MAX_ROLLBACK_REASON_CHARS, list_versions, show_version};
use leadq_pipeline::stages::{ModelJobError, rollback_model};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Exit code of something the user has to fix (unknown version, missing database).
const EXIT_INPUT: u8 = 2;
/// Exit code of a store that could not be read or written.
const EXIT_FAILURE: u8 = 1;

/// Options of `leadq models`.
#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

/// The `leadq models` subcommands.
#[derive(Debug, clap::Subcommand)]
enum ModelsCommand {
    /// List the stored model versions, newest first; `*` marks the active one.
    List(ListArgs),
    /// Show one version in full (JSON): metrics, weight changes, calibration, rules.
    Show(VersionArgs),
    /// Point the active model at an older stored version (recorded as a version entry).
    Rollback(RollbackArgs),
}

/// Where the store is.
#[derive(Debug, clap::Args)]
struct DbArg {
    /// The SQLite file of the local store.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_DB)]
    db: PathBuf,
}

/// Options of `leadq models list`.
#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    db: DbArg,
    /// `table` for people, `json` for machines.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// The output format of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Aligned columns.
    Table,
    /// One JSON document.
    Json,
}

/// Options of `leadq models show`.
#[derive(Debug, clap::Args)]
struct VersionArgs {
    /// The version label.
    #[arg(value_name = "VERSION")]
    version: String,
    #[command(flatten)]
    db: DbArg,
}

/// Options of `leadq models rollback`.
#[derive(Debug, clap::Args)]
struct RollbackArgs {
    /// The version to make active again.
    #[arg(value_name = "VERSION")]
    version: String,
    /// Why, kept with the rollback record.
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    db: DbArg,
}

/// Why `leadq models` failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    /// The database file does not exist (nothing is created by reading).
    #[error("{path}: no such database; pass --db with the local store's file")]
    NoDatabase {
        /// The file as given.
        path: String,
    },
    /// The rollback reason is too long.
    #[error("--reason: at most {MAX_ROLLBACK_REASON_CHARS} characters")]
    ReasonTooLong,
    /// The store refused or failed; nothing was changed. (The message leaves the source
    /// out: `main` prints the whole chain.)
    #[error("{path}")]
    Models {
        /// The database file as given.
        path: String,
        /// What went wrong.
        source: ModelJobError,
    },
    /// The async runtime could not start.
    #[error("cannot start the runtime")]
    Runtime(#[source] io::Error),
    /// The output could not be written or encoded.
    #[error("cannot write the output: {0}")]
    Output(String),
}

impl ModelsError {
    /// The process exit code this error ends the command with.
    pub fn exit_code(&self) -> u8 {
        match self {
            ModelsError::NoDatabase { .. } | ModelsError::ReasonTooLong => EXIT_INPUT,
            ModelsError::Models { source, .. } => match source {
                ModelJobError::UnknownVersion(_)
                | ModelJobError::AlreadyActive(_)
                | ModelJobError::NotAModel(_) => EXIT_INPUT,
                _ => EXIT_FAILURE,
            },
            ModelsError::Runtime(_) | ModelsError::Output(_) => EXIT_FAILURE,
        }
    }
}

/// Runs `leadq models ...`, printing to standard output.
pub fn run(args: &ModelsArgs) -> Result<(), ModelsError> {
    let db = match &args.command {
        ModelsCommand::List(a) => &a.db.db,
        ModelsCommand::Show(a) => &a.db.db,
        ModelsCommand::Rollback(a) => &a.db.db,
    };
    if let ModelsCommand::Rollback(a) = &args.command
        && a.reason.chars().count() > MAX_ROLLBACK_REASON_CHARS
    {
        return Err(ModelsError::ReasonTooLong);
    }
    // reading never creates a database: a mistyped path is an error, not an empty list
    if !db.is_file() {
        return Err(ModelsError::NoDatabase {
            path: db.display().to_string(),
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(ModelsError::Runtime)?;
    let failed = |source: ModelJobError| ModelsError::Models {
        path: db.display().to_string(),
        source,
    };
    let text = runtime.block_on(async {
        let store = open(db).await.map_err(failed)?;
        match &args.command {
            ModelsCommand::List(list) => {
                let versions = list_versions(&store).await.map_err(failed)?;
                match list.format {
                    Format::Json => to_json(&versions),
                    Format::Table => Ok(table(&versions)),
                }
            }
            ModelsCommand::Show(show) => {
                let detail = show_version(&store, &show.version).await.map_err(failed)?;
                to_json(&detail)
            }
            ModelsCommand::Rollback(rollback) => {
                let report =
                    rollback_model(&store, &rollback.version, &rollback.reason, Utc::now())
                        .await
                        .map_err(failed)?;
                Ok(format!(
                    "active model: {} (was {}); recorded as {}\n",
                    report.to,
                    report.from.as_deref().unwrap_or("the shipped rules"),
                    report.record
                ))
            }
        }
    })?;
    io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| ModelsError::Output(e.to_string()))
}

async fn open(db: &Path) -> Result<SqliteStore, ModelJobError> {
    Ok(SqliteStore::open(db, &SqliteOptions::default()).await?)
}

fn to_json(value: &impl serde::Serialize) -> Result<String, ModelsError> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|e| ModelsError::Output(e.to_string()))
}

/// One line per version: active mark, label, kind, promoted, created, AUC, ECE, reason.
fn table(list: &leadq_pipeline::api::VersionList) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let active = list.active.as_deref().unwrap_or("none (the shipped rules)");
    let _ = writeln!(out, "active: {active}");
    if list.versions.is_empty() {
        out.push_str("no stored versions\n");
        return out;
    }
    let width = list
        .versions
        .iter()
        .map(|v| v.version.chars().count())
        .max()
        .unwrap_or(0)
        .max("VERSION".len());
    let _ = writeln!(
        out,
        "  {:<width$}  {:<10} {:<8} {:<20} {:>6} {:>6}  REASON",
        "VERSION", "KIND", "PROMOTED", "CREATED", "AUC", "ECE"
    );
    let number = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"));
    for v in &list.versions {
        let _ = writeln!(
            out,
            "{} {:<width$}  {:<10} {:<8} {:<20} {:>6} {:>6}  {}",
            if v.active { "*" } else { " " },
            v.version,
            v.kind,
            if v.promoted { "yes" } else { "no" },
            v.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
            number(v.auc),
            number(v.ece),
            v.reason
        );
    }
    out
}
