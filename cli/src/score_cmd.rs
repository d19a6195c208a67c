//! `leadq score`: score leads from a file and print their verdicts.

use crate::error::CliError;
use crate::input::{self, InputFormat};
use chrono::{DateTime, Utc};
use leadq_scoring::{Model, ScoreCard, score};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// How many reasons the table shows per lead.
const TOP_REASONS: usize = 3;

/// Options of `leadq score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// Scoring model (TOML); defaults to the model shipped with leadq.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Leads to score: JSON lines (.jsonl, .ndjson) or CSV (.csv); `-` reads standard input.
    #[arg(long, short, value_name = "FILE")]
    pub input: PathBuf,
    /// Format of the input; by default taken from the file extension.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,
    /// Output: an aligned table, or JSON lines (one ScoreCard object per line).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Score as of this time (RFC 3339, e.g. 2026-11-23T12:00:00Z); defaults to now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
    /// After the table, print every lead's full explanation.
    #[arg(long)]
    pub explain: bool,
}

/// Output formats of `leadq score`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One aligned row per lead: composite, band, next action, top reasons.
    Table,
    /// JSON lines: one ScoreCard object per line.
    Json,
}

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}); example: 2026-11-23T12:00:00Z"))
}

/// Runs `leadq score`, writing to standard output.
pub fn run(args: &ScoreArgs) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match run_to(args, &mut out).and_then(|()| out.flush().map_err(CliError::Output)) {
        // a closed pipe (`leadq score ... | head`) is not a failure
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Runs `leadq score`, writing to `out`. Reads and checks the whole input before writing
/// anything, so an invalid record leaves the output empty.
pub fn run_to(args: &ScoreArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.explain && args.format == OutputFormat::Json {
        return Err(CliError::Usage(
            "--explain goes with --format table; JSON ScoreCards already carry every reason".into(),
        ));
    }
    let model = load_model(args.model.as_deref())?;
    let leads = input::read_leads(&args.input, args.input_format)?;
    let now = args.now.unwrap_or_else(Utc::now);
    let cards: Vec<ScoreCard> = leads
        .iter()
        .map(|l| score(&l.lead, &l.events, &model, now))
        .collect();
    match args.format {
        OutputFormat::Json => write_json(&cards, out),
        OutputFormat::Table => {
            write_table(&cards, out)?;
            if args.explain {
                for card in &cards {
                    write!(out, "\n{}", card.explain()).map_err(CliError::Output)?;
                }
            }
            Ok(())
        }
    }
}

/// The model at `path`, or the shipped default.
fn load_model(path: Option<&std::path::Path>) -> Result<Model, CliError> {
    let Some(path) = path else {
        return Ok(Model::default_model());
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: name.clone(),
        source,
    })?;
    Model::from_toml_str(&text).map_err(|source| CliError::Model { path: name, source })
}

fn write_json(cards: &[ScoreCard], out: &mut dyn Write) -> Result<(), CliError> {
    for card in cards {
        serde_json::to_writer(&mut *out, card).map_err(|e| CliError::Output(e.into()))?;
        out.write_all(b"\n").map_err(CliError::Output)?;
    }
    Ok(())
}

/// The top reasons of a card, as `+9.0 industry = software; ...` (composite points),
/// led by `disqualified by ...` when a negative signal disqualified the lead.
pub fn top_reasons(card: &ScoreCard) -> String {
    let disqualifier = card
        .disqualified_by
        .as_ref()
        .map(|d| format!("disqualified by {d}"));
    let reasons = card
        .reasons
        .iter()
        // reasons are sorted by composite effect already; skip those that moved nothing
        .filter(|r| r.composite_points.abs() >= 0.05)
        .take(TOP_REASONS)
        .map(|r| format!("{:+.1} {}", r.composite_points, r.rule));
    disqualifier
        .into_iter()
        .chain(reasons)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `text` with control characters (newlines, tabs, ...) replaced by spaces, so one lead
/// stays on one row.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn write_table(cards: &[ScoreCard], out: &mut dyn Write) -> Result<(), CliError> {
    if cards.is_empty() {
        return Ok(());
    }
    let header = ["lead", "composite", "band", "next action", "top reasons"];
    let rows: Vec<[String; 5]> = cards
        .iter()
        .map(|c| {
            [
                printable(&c.lead_id),
                c.composite.to_string(),
                c.band.to_string(),
                c.next_action.to_string(),
                top_reasons(c),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let [lead, composite, band, action, reasons] = row;
        let line = format!(
            "{lead:<w0$}  {composite:>w1$}  {band:<w2$}  {action:<w3$}  {reasons}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        writeln!(out, "{}", line.trim_end()).map_err(CliError::Output)?;
    }
    Ok(())
}
