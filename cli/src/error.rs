//! The errors of the `leadq` command and the exit code each one ends the process with.

use leadq_scoring::ModelError;
use std::io;

/// Exit code of a usage, input or model error: the user has something to fix.
pub const EXIT_INPUT: u8 = 2;
/// Exit code of any other failure (for example the output could not be written).
pub const EXIT_FAILURE: u8 = 1;

/// Everything that can go wrong in a `leadq` command, each with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be opened or read. (Like every variant with a source, the message
    /// leaves the source out: `main` prints the whole chain.)
    #[error("cannot read {path}")]
    Read {
        /// The path as given on the command line.
        path: String,
        /// Why the read failed.
        source: io::Error,
    },
    /// The input format could not be told from the file name.
    #[error(
        "{path}: cannot tell the input format from the file name (expected .jsonl, .ndjson or .csv); pass --input-format jsonl or --input-format csv"
    )]
    UnknownFormat {
        /// The input path as given.
        path: String,
    },
    /// One record (a JSON line or a CSV row) is invalid.
    #[error("{file}:{line}: {}{message}", field_prefix(.field.as_deref()))]
    Record {
        /// The input path as given.
        file: String,
        /// 1-based line the record starts on.
        line: u64,
        /// Dotted path of the offending field, when one is to blame.
        field: Option<String>,
        /// What is wrong, in words.
        message: String,
    },
    /// The CSV header names a column leadq does not know.
    #[error("{file}:{line}: unknown column `{column}`; known columns: {known}")]
    UnknownColumn {
        /// The input path as given.
        file: String,
        /// Line of the header.
        line: u64,
        /// The column as written.
        column: String,
        /// The accepted columns, comma separated.
        known: String,
    },
    /// The CSV header is unusable for another reason (duplicate or missing column).
    #[error("{file}:{line}: {message}")]
    Header {
        /// The input path as given.
        file: String,
        /// Line of the header.
        line: u64,
        /// What is wrong, in words.
        message: String,
    },
    /// The model file was refused; the message names the key.
    #[error("{path}")]
    Model {
        /// The model path as given.
        path: String,
        /// Why the model was refused.
        source: ModelError,
    },
    /// Options that do not go together.
    #[error("{0}")]
    Usage(String),
    /// The output could not be written.
    #[error("cannot write the output")]
    Output(#[source] io::Error),
}

impl CliError {
    /// The process exit code this error ends the command with.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Output(_) => EXIT_FAILURE,
            _ => EXIT_INPUT,
        }
    }
}

fn field_prefix(field: Option<&str>) -> String {
    field.map(|f| format!("field {f}: ")).unwrap_or_default()
}
