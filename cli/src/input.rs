//! Reading leads and their events from JSON lines or CSV.
//!
//! JSON lines: one object per line, `{"lead": {...}, "events": [...]}` (`events` is
//! optional); blank lines are skipped.
//!
//! CSV: one lead per row. Headers are the dotted paths of the lead's fields
//! (`person.seniority`, `company.employees`, ...; see [`csv_columns`]), plus an optional
//! `events` column holding a JSON array of events. An empty cell is unknown (`None`),
//! never "no" or 0. `company.tech_stack` is a `;`-separated list (a lone `;` is the
//! known-empty list); the consent columns take `true`/`false` (or `yes`/`no`).
//!
//! Both formats are validated by serde against the scoring crate's types, so enum
//! vocabularies, numbers and dates are checked the same way; every error names the line
//! and the field.

use crate::error::CliError;
use leadq_scoring::{Event, Lead};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// One lead with its behavioural events, as read from the input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadInput {
    /// The lead.
    pub lead: Lead,
    /// Its events, in any order.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// The formats leads can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// JSON lines: one `{"lead": ..., "events": [...]}` object per line.
    Jsonl,
    /// CSV with dotted headers, one lead per row.
    Csv,
}

impl InputFormat {
    /// The format a file name's extension implies (`.jsonl`/`.ndjson` or `.csv`).
    pub fn from_path(path: &Path) -> Option<InputFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(InputFormat::Jsonl),
            "csv" => Some(InputFormat::Csv),
            _ => None,
        }
    }
}

/// Reads every lead of `path` (`-` is standard input), all or nothing: the first invalid
/// record is an error and no lead is returned.
pub fn read_leads(path: &Path, format: Option<InputFormat>) -> Result<Vec<LeadInput>, CliError> {
    let name = path.display().to_string();
    let stdin = path == Path::new("-");
    let format = match format.or_else(|| InputFormat::from_path(path)) {
        Some(f) => f,
        None if stdin => {
            return Err(CliError::Usage(
                "reading standard input needs --input-format jsonl or --input-format csv".into(),
            ));
        }
        None => return Err(CliError::UnknownFormat { path: name }),
    };
    let reader: Box<dyn Read> = if stdin {
        Box::new(io::stdin().lock())
    } else {
        let file = File::open(path).map_err(|source| CliError::Read {
            path: name.clone(),
            source,
        })?;
        Box::new(file)
    };
    match format {
        InputFormat::Jsonl => read_jsonl(&name, BufReader::new(reader)),
        InputFormat::Csv => read_csv(&name, reader),
    }
}

/// Reads JSON lines; `name` is used in error messages.
pub fn read_jsonl(name: &str, reader: impl BufRead) -> Result<Vec<LeadInput>, CliError> {
    let mut leads = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line_no = index as u64 + 1;
        let record_error = |field: Option<String>, message: String| CliError::Record {
            file: name.to_owned(),
            line: line_no,
            field,
            message,
        };
        let line = match line {
            Ok(line) => line,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(record_error(None, "not valid UTF-8".into()));
            }
            Err(source) => {
                return Err(CliError::Read {
                    path: name.to_owned(),
                    source,
                });
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let mut de = serde_json::Deserializer::from_str(&line);
        let parsed = serde_path_to_error::deserialize::<_, LeadInput>(&mut de)
            .map_err(|e| {
                let field = field_of(e.path());
                json_error(e.into_inner(), field)
            })
            .and_then(|record| de.end().map(|()| record).map_err(|e| json_error(e, None)));
        match parsed {
            Ok(record) => leads.push(record),
            Err((field, message)) => return Err(record_error(field, message)),
        }
    }
    Ok(leads)
}

/// A JSON error as (field, message): syntax errors give the column, data errors the field.
fn json_error(e: serde_json::Error, field: Option<String>) -> (Option<String>, String) {
    let message = strip_position(&e);
    if e.is_data() {
        (field, message)
    } else {
        (
            None,
            format!("invalid JSON at column {}: {message}", e.column()),
        )
    }
}

/// serde_json's message without its " at line L column C" suffix (each line is parsed
/// on its own, so serde_json's line is always 1).
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// The field a path names, if it names one.
fn field_of(path: &serde_path_to_error::Path) -> Option<String> {
    // an empty path, or one the deserializer could not follow, names no field
    if path
        .iter()
        .all(|s| matches!(s, serde_path_to_error::Segment::Unknown))
    {
        None
    } else {
        Some(path.to_string())
    }
}

/// How a CSV cell is turned into a JSON value before serde checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellKind {
    /// A string (also enums and dates, which serde parses from strings).
    Text,
    /// A number.
    Number,
    /// `true`/`false` (or `yes`/`no`).
    Flag,
    /// A `;`-separated list of strings.
    List,
}

/// Columns that are not plain text; every other lead column is a string.
const TYPED_COLUMNS: [(&str, CellKind); 4] = [
    ("company.employees", CellKind::Number),
    ("company.tech_stack", CellKind::List),
    ("consent.email", CellKind::Flag),
    ("consent.phone", CellKind::Flag),
];

/// The CSV column that holds a JSON array of events.
const EVENTS_COLUMN: &str = "events";

/// Every column a leads CSV may have: the dotted paths of all of [`Lead`]'s fields, taken
/// from the type itself, then `events`.
pub fn csv_columns() -> Vec<String> {
    fn leaves(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    leaves(&path, v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    // a default lead serializes every field (unknown ones as null), so its leaves are
    // exactly the columns
    if let Ok(value) = serde_json::to_value(Lead::default()) {
        leaves("", &value, &mut out);
    }
    out.push(EVENTS_COLUMN.to_owned());
    out
}

/// Where a CSV column's cells go.
enum Column {
    /// A field of the lead, by path segments.
    Lead { path: Vec<String>, kind: CellKind },
    /// The JSON array of events.
    Events,
}

/// Reads a leads CSV; `name` is used in error messages.
pub fn read_csv(name: &str, reader: impl Read) -> Result<Vec<LeadInput>, CliError> {
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = csv.headers().map_err(|e| csv_error(name, e))?.clone();
    if headers.is_empty() {
        return Ok(Vec::new());
    }
    let header_line = headers.position().map_or(1, |p| p.line());
    let known = csv_columns();
    let mut columns = Vec::with_capacity(headers.len());
    for (i, header) in headers.iter().enumerate() {
        if headers.iter().take(i).any(|h| h == header) {
            return Err(CliError::Header {
                file: name.to_owned(),
                line: header_line,
                message: format!("column `{header}` appears twice"),
            });
        }
        if header == EVENTS_COLUMN {
            columns.push(Column::Events);
        } else if known.iter().any(|k| k == header) {
            let kind = TYPED_COLUMNS
                .iter()
                .find(|(c, _)| *c == header)
                .map_or(CellKind::Text, |(_, k)| *k);
            columns.push(Column::Lead {
                path: header.split('.').map(str::to_owned).collect(),
                kind,
            });
        } else {
            return Err(CliError::UnknownColumn {
                file: name.to_owned(),
                line: header_line,
                column: header.to_owned(),
                known: known.join(", "),
            });
        }
    }
    if !headers.iter().any(|h| h == "id") {
        return Err(CliError::Header {
            file: name.to_owned(),
            line: header_line,
            message: "no `id` column: every lead needs an id".into(),
        });
    }

    let mut leads = Vec::new();
    let mut row = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut row) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(name, e)),
        }
        let line = row.position().map_or(0, |p| p.line());
        let record_error = |field: Option<String>, message: String| CliError::Record {
            file: name.to_owned(),
            line,
            field,
            message,
        };
        let mut lead = Map::new();
        let mut events = Value::Array(Vec::new());
        for (column, cell) in columns.iter().zip(row.iter()) {
            if cell.is_empty() {
                continue; // unknown stays unknown
            }
            match column {
                Column::Events => {
                    events = serde_json::from_str(cell).map_err(|e| {
                        record_error(
                            Some(EVENTS_COLUMN.into()),
                            format!("not a JSON array of events: {}", strip_position(&e)),
                        )
                    })?;
                }
                Column::Lead { path, kind } => insert(&mut lead, path, cell_value(cell, *kind)),
            }
        }
        let mut record = Map::new();
        record.insert("lead".into(), Value::Object(lead));
        record.insert(EVENTS_COLUMN.into(), events);
        let parsed: LeadInput =
            serde_path_to_error::deserialize(Value::Object(record)).map_err(|e| {
                // lead fields are named by their column, without the `lead.` of the record
                let field = field_of(e.path()).and_then(|f| match f.strip_prefix("lead") {
                    None => Some(f),
                    Some("") => None,
                    Some(rest) => rest.strip_prefix('.').map(str::to_owned),
                });
                record_error(field, e.into_inner().to_string())
            })?;
        leads.push(parsed);
    }
    Ok(leads)
}

/// The JSON value of a non-empty cell. A cell that does not fit its kind is passed on as
/// a string, so serde refuses it with a message naming the expected type.
fn cell_value(cell: &str, kind: CellKind) -> Value {
    match kind {
        CellKind::Text => Value::String(cell.to_owned()),
        CellKind::Number => cell
            .parse::<serde_json::Number>()
            .map_or_else(|_| Value::String(cell.to_owned()), Value::Number),
        CellKind::Flag => match cell.to_ascii_lowercase().as_str() {
            "true" | "yes" => Value::Bool(true),
            "false" | "no" => Value::Bool(false),
            _ => Value::String(cell.to_owned()),
        },
        CellKind::List => Value::Array(
            cell.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
    }
}

/// Puts `value` at the dotted `path` of `map`, creating the objects on the way.
fn insert(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = map;
    for key in parents {
        let slot = here
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            return;
        };
        here = next;
    }
    here.insert(last.clone(), value);
}

/// A CSV reader error, with the line it happened on.
fn csv_error(name: &str, e: csv::Error) -> CliError {
    let line = e.position().map_or(0, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the row has {len} fields but the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
        _ => e.to_string(),
    };
    if let csv::ErrorKind::Io(_) = e.kind() {
        return match e.into_kind() {
            csv::ErrorKind::Io(source) => CliError::Read {
                path: name.to_owned(),
                source,
            },
            _ => CliError::Usage(message),
        };
    }
    CliError::Record {
        file: name.to_owned(),
        line,
        field: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadq_scoring::{Authority, Company, Consent, JobFunction, Occupation, Person, Seniority};
    use leadq_scoring::{EventKind, Utm};

    /// A lead with every field known. Struct literals without `..Default::default()` on
    /// purpose: a new field of the scoring crate's types breaks this test until the CSV
    /// mapping has been checked for it.
    fn full_lead() -> Lead {
        Lead {
            id: "00042".into(),
            person: Person {
                email: Some("ana@acme.example".into()),
                name: Some("Ana Díaz, PhD".into()),
                title: Some("VP \"Growth\"".into()),
                phone: Some("+1 555 0100".into()),
                country: Some("US".into()),
                seniority: Some(Seniority::Vp),
                function: Some(JobFunction::Marketing),
                authority: Some(Authority::DecisionMaker),
                occupation: Some(Occupation::Employed),
            },
            company: Company {
                domain: Some("acme.example".into()),
                name: Some("Acme; Inc".into()),
                industry: Some("software".into()),
                employees: Some(350),
                revenue_band: Some("50m-250m".into()),
                country: Some("US".into()),
                tech_stack: Some(vec!["salesforce".into(), "segment".into()]),
                business_model: Some("b2b".into()),
            },
            source: Some("website".into()),
            utm: Utm {
                source: Some("google".into()),
                medium: Some("cpc".into()),
                campaign: Some("q4".into()),
            },
            consent: Consent {
                email: Some(true),
                phone: Some(false),
            },
            created_at: Some("2026-11-20T09:00:00Z".parse().expect("valid date")),
        }
    }

    /// Writes a lead as one CSV row under the given headers, the way a person would.
    fn to_csv(lead: &Lead, events: &[Event]) -> String {
        let value = serde_json::to_value(lead).expect("serializable");
        let columns = csv_columns();
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&columns).expect("header");
        let cells: Vec<String> = columns
            .iter()
            .map(|c| {
                if c == EVENTS_COLUMN {
                    return serde_json::to_string(events).expect("events");
                }
                let mut v = &value;
                for key in c.split('.') {
                    v = &v[key];
                }
                match v {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(";"),
                    other => other.to_string(),
                }
            })
            .collect();
        w.write_record(&cells).expect("row");
        String::from_utf8(w.into_inner().expect("flush")).expect("utf-8")
    }

    #[test]
    fn every_field_round_trips_through_csv() {
        let lead = full_lead();
        let events = vec![Event::new(
            EventKind::DemoRequest,
            "2026-11-22T09:00:00Z".parse().expect("valid date"),
        )];
        let text = to_csv(&lead, &events);
        let read = read_csv("t.csv", text.as_bytes()).expect("valid csv");
        assert_eq!(read, vec![LeadInput { lead, events }]);
    }

    #[test]
    fn empty_cells_stay_unknown() {
        let text =
            "id,person.seniority,company.employees,company.tech_stack,consent.email\nl1,,,,\n";
        let read = read_csv("t.csv", text.as_bytes()).expect("valid csv");
        assert_eq!(
            read[0].lead,
            Lead {
                id: "l1".into(),
                ..Lead::default()
            }
        );
    }

    #[test]
    fn a_lone_semicolon_is_a_known_empty_tech_stack() {
        let text = "id,company.tech_stack\nl1,;\n";
        let read = read_csv("t.csv", text.as_bytes()).expect("valid csv");
        assert_eq!(read[0].lead.company.tech_stack, Some(vec![]));
    }

    #[test]
    fn typed_columns_exist() {
        let columns = csv_columns();
        for (c, _) in TYPED_COLUMNS {
            assert!(columns.iter().any(|k| k == c), "{c} is not a lead field");
        }
    }

    #[test]
    fn jsonl_names_line_and_field() {
        let text = "{\"lead\":{\"id\":\"a\"}}\n\n{\"lead\":{\"id\":\"b\",\"person\":{\"seniority\":\"boss\"}}}\n";
        let err = read_jsonl("x.jsonl", text.as_bytes()).expect_err("bad seniority");
        let msg = err.to_string();
        assert!(
            msg.starts_with("x.jsonl:3: field lead.person.seniority: unknown variant `boss`"),
            "{msg}"
        );
    }

    #[test]
    fn jsonl_trailing_garbage_is_refused() {
        let err = read_jsonl("x.jsonl", "{\"lead\":{\"id\":\"a\"}} x\n".as_bytes())
            .expect_err("trailing characters");
        assert!(
            err.to_string().starts_with("x.jsonl:1: invalid JSON"),
            "{err}"
        );
    }

    #[test]
    fn csv_with_a_bom_and_crlf_reads() {
        let text = "\u{feff}id,person.seniority\r\nl1,vp\r\n";
        let read = read_csv("t.csv", text.as_bytes()).expect("valid csv");
        assert_eq!(read[0].lead.person.seniority, Some(Seniority::Vp));
    }

    #[test]
    fn short_rows_name_their_line() {
        let err = read_csv("t.csv", "id,source\nl1,web\nl2\n".as_bytes()).expect_err("short");
        assert_eq!(
            err.to_string(),
            "t.csv:3: the row has 1 fields but the header has 2"
        );
    }
}
