//! `leadq companies import`: loads a company CSV into the company directory of the local
//! SQLite file, where the enrich stage looks companies up by domain.

use leadq_local::{SqliteDirectory, SqliteOptions};
use leadq_pipeline::StoreError;
use leadq_pipeline::stages::{CompanyDirectory, DirectoryError, parse_company_csv};
use std::io;
use std::path::{Path, PathBuf};

/// The local store's file, which also holds the directory, unless `--db` names another.
pub const DEFAULT_DB: &str = "leadq.db";

/// Exit code of a file the user has to fix (unreadable, not a valid company CSV).
const EXIT_INPUT: u8 = 2;
/// Exit code of a database that could not be opened or written.
const EXIT_FAILURE: u8 = 1;

/// Options of `leadq companies`.
#[derive(Debug, clap::Args)]
pub struct CompaniesArgs {
    #[command(subcommand)]
    command: CompaniesCommand,
}

/// The `leadq companies` subcommands.
#[derive(Debug, clap::Subcommand)]
enum CompaniesCommand {
    /// Import companies from a CSV file (header `domain` plus any of name, industry,
    /// employees, revenue_band, country, tech_stack, business_model; tech_stack separated
    /// by `;`). A row replaces the company of its domain; a bad file imports nothing.
    Import(ImportArgs),
}

/// Options of `leadq companies import`.
#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The company CSV.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The SQLite file of the local store (created if missing).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_DB)]
    db: PathBuf,
}

/// Why `leadq companies` failed.
#[derive(Debug, thiserror::Error)]
pub enum CompaniesError {
    /// The CSV file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file as given.
        path: String,
        /// Why the read failed.
        source: io::Error,
    },
    /// The CSV was refused; the source names the line and the column. (Like every
    /// variant with a source, the message leaves it out: `main` prints the whole chain.)
    #[error("{path}")]
    Csv {
        /// The file as given.
        path: String,
        /// What is wrong and where.
        source: DirectoryError,
    },
    /// The database could not be opened or written; nothing was imported.
    #[error("{path}: nothing imported")]
    Store {
        /// The database file as given.
        path: String,
        /// What the store said.
        source: StoreError,
    },
    /// The async runtime could not start.
    #[error("cannot start the runtime")]
    Runtime(#[source] io::Error),
}

impl CompaniesError {
    /// The process exit code this error ends the command with.
    pub fn exit_code(&self) -> u8 {
        match self {
            CompaniesError::Read { .. } | CompaniesError::Csv { .. } => EXIT_INPUT,
            CompaniesError::Store { .. } | CompaniesError::Runtime(_) => EXIT_FAILURE,
        }
    }
}

/// Runs `leadq companies ...`, printing what it did to standard output.
pub fn run(args: &CompaniesArgs) -> Result<(), CompaniesError> {
    match &args.command {
        CompaniesCommand::Import(import) => {
            let imported = import_file(&import.file, &import.db)?;
            println!(
                "imported {} {} from {} into {} (the directory now holds {})",
                imported.rows,
                plural(imported.rows, "company", "companies"),
                import.file.display(),
                import.db.display(),
                imported.total
            );
            Ok(())
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Companies written (inserted or replaced).
    pub rows: usize,
    /// Companies the directory holds afterwards.
    pub total: u64,
}

/// Parses `file` whole, then upserts every company into the directory in `db` in one
/// transaction; the database is not even opened when the file is refused.
pub fn import_file(file: &Path, db: &Path) -> Result<Imported, CompaniesError> {
    let text = std::fs::read_to_string(file).map_err(|source| CompaniesError::Read {
        path: file.display().to_string(),
        source,
    })?;
    let companies = parse_company_csv(&text).map_err(|source| CompaniesError::Csv {
        path: file.display().to_string(),
        source,
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(CompaniesError::Runtime)?;
    let store_error = |source| CompaniesError::Store {
        path: db.display().to_string(),
        source,
    };
    runtime.block_on(async {
        let directory = SqliteDirectory::open(db, &SqliteOptions::default())
            .await
            .map_err(store_error)?;
        let rows = directory.upsert(&companies).await.map_err(store_error)?;
        let total = directory.count().await.map_err(store_error)?;
        Ok(Imported { rows, total })
    })
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
