//! Generic tabular encoding for any lead export: column names and rows of strings in, a
//! [`FeatureMatrix`] out.
//!
//! A [`Table`] detects each column's kind while rows are pushed: a column is numeric while
//! every present value parses as a finite number, categorical from its first value that does
//! not. Values equal to a missing token (always the empty string, plus any given, such as
//! `Select`) are missing. An [`Encoder`] is fitted on training rows only and then applied to
//! any rows, so nothing of the test rows leaks into the encoding: numerics are median-imputed,
//! get a missing-indicator column when the training rows had gaps, and are standardised;
//! categoricals are one-hot encoded with rare levels pooled into `(other)`, which is also where
//! levels never seen in training go. Column order is deterministic.
//!
//! Also here: a seeded stratified train/test split and stratified k-fold, with a small
//! splitmix64 generator so the crate needs no random-number dependency.

use crate::train::{FeatureMatrix, TrainError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Name of the level that pools rare and unseen categories.
pub const OTHER: &str = "(other)";

/// Name of the level of a missing categorical value.
pub const MISSING: &str = "(missing)";

/// Code of a missing value in a categorical column.
const MISSING_CODE: u32 = u32::MAX;

/// Why a table could not be built, encoded or split.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatasetError {
    /// A row has a different number of values than there are columns.
    #[error("row {row} has {got} values, expected {expected}")]
    RowLength {
        /// The row (0-based, header not counted).
        row: usize,
        /// Values it has.
        got: usize,
        /// Values expected.
        expected: usize,
    },
    /// A column the encoder needs is not in the table.
    #[error("column `{0}` is not in the table")]
    UnknownColumn(String),
    /// A column has more distinct values than can be indexed.
    #[error("column `{0}` has too many distinct values")]
    TooManyLevels(String),
    /// A row index is past the end of the table.
    #[error("row {row} is out of range (the table has {rows} rows)")]
    RowOutOfRange {
        /// The index given.
        row: usize,
        /// Rows in the table.
        rows: usize,
    },
    /// There are no rows to fit on.
    #[error("no rows to fit the encoder on")]
    NoRows,
    /// A split or fold request cannot be met.
    #[error("{0}")]
    Split(String),
    /// Building the feature matrix failed.
    #[error(transparent)]
    Matrix(#[from] TrainError),
}

/// One column's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Numbers; NaN marks a missing value.
    Numeric(Vec<f64>),
    /// Codes into `levels`; `u32::MAX` marks a missing value.
    Categorical {
        /// One code per row.
        codes: Vec<u32>,
        /// The distinct values, in order of first appearance.
        levels: Vec<String>,
    },
}

impl Column {
    /// True for a numeric column.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Column::Numeric(_))
    }

    /// Whether the value of row `i` is missing (true past the end).
    pub fn is_missing(&self, i: usize) -> bool {
        match self {
            Column::Numeric(v) => v.get(i).is_none_or(|x| x.is_nan()),
            Column::Categorical { codes, .. } => codes.get(i).is_none_or(|&c| c == MISSING_CODE),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Numeric(v) => v.len(),
            Column::Categorical { codes, .. } => codes.len(),
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds a column while detecting its kind.
#[derive(Debug)]
enum Builder {
    Numeric(Vec<f64>),
    Categorical {
        codes: Vec<u32>,
        levels: Vec<String>,
        index: HashMap<String, u32>,
    },
}

/// A table of named columns whose kinds were detected from the values.
#[derive(Debug)]
pub struct Table {
    names: Vec<String>,
    builders: Vec<Builder>,
    columns: Vec<Column>,
    missing: Vec<String>,
    rows: usize,
}

/// Canonical text of a number, so `1.50` and `1.5` are one category.
fn number_text(v: f64) -> String {
    format!("{v}")
}

fn parse_number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

impl Table {
    /// An empty table with these column names; the empty string and `missing_tokens` (compared
    /// after trimming spaces) mean a missing value.
    pub fn new<S: AsRef<str>>(names: Vec<String>, missing_tokens: &[S]) -> Self {
        let builders = names.iter().map(|_| Builder::Numeric(Vec::new())).collect();
        Table {
            names,
            builders,
            columns: Vec::new(),
            missing: missing_tokens
                .iter()
                .map(|t| t.as_ref().trim().to_string())
                .collect(),
            rows: 0,
        }
    }

    /// A table from rows of strings.
    pub fn from_rows<S: AsRef<str>, T: AsRef<str>>(
        names: Vec<String>,
        rows: &[Vec<S>],
        missing_tokens: &[T],
    ) -> Result<Self, DatasetError> {
        let mut table = Table::new(names, missing_tokens);
        for row in rows {
            table.push_row(row)?;
        }
        table.finish();
        Ok(table)
    }

    /// Appends a row of values, one per column.
    pub fn push_row<S: AsRef<str>>(&mut self, row: &[S]) -> Result<(), DatasetError> {
        if row.len() != self.names.len() {
            return Err(DatasetError::RowLength {
                row: self.rows,
                got: row.len(),
                expected: self.names.len(),
            });
        }
        self.thaw();
        for (j, value) in row.iter().enumerate() {
            let value = value.as_ref().trim();
            let missing = value.is_empty() || self.missing.iter().any(|t| t == value);
            let builder = &mut self.builders[j];
            if let Builder::Numeric(values) = builder {
                if missing {
                    values.push(f64::NAN);
                    continue;
                }
                if let Some(v) = parse_number(value) {
                    values.push(v);
                    continue;
                }
                // First non-numeric value: the column is categorical from now on.
                let mut codes = Vec::with_capacity(values.capacity());
                let mut levels = Vec::new();
                let mut index = HashMap::new();
                for &v in values.iter() {
                    codes.push(if v.is_nan() {
                        MISSING_CODE
                    } else {
                        intern(&mut levels, &mut index, number_text(v))
                    });
                }
                *builder = Builder::Categorical {
                    codes,
                    levels,
                    index,
                };
            }
            if let Builder::Categorical {
                codes,
                levels,
                index,
            } = builder
            {
                if missing {
                    codes.push(MISSING_CODE);
                } else {
                    let text = match parse_number(value) {
                        Some(v) => number_text(v),
                        None => value.to_string(),
                    };
                    if levels.len() >= (MISSING_CODE - 1) as usize && !index.contains_key(&text) {
                        return Err(DatasetError::TooManyLevels(self.names[j].clone()));
                    }
                    codes.push(intern(levels, index, text));
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Freezes the columns after the last row (pushing again later is allowed).
    pub fn finish(&mut self) {
        if !self.columns.is_empty() || self.names.is_empty() {
            return;
        }
        self.columns = self
            .builders
            .drain(..)
            .map(|b| match b {
                Builder::Numeric(mut v) => {
                    v.shrink_to_fit();
                    Column::Numeric(v)
                }
                Builder::Categorical {
                    mut codes, levels, ..
                } => {
                    codes.shrink_to_fit();
                    Column::Categorical { codes, levels }
                }
            })
            .collect();
    }

    /// Turns frozen columns back into builders.
    fn thaw(&mut self) {
        if self.columns.is_empty() {
            return;
        }
        self.builders = self
            .columns
            .drain(..)
            .map(|c| match c {
                Column::Numeric(v) => Builder::Numeric(v),
                Column::Categorical { codes, levels } => {
                    let index = levels
                        .iter()
                        .enumerate()
                        .map(|(i, l)| (l.clone(), i as u32))
                        .collect();
                    Builder::Categorical {
                        codes,
                        levels,
                        index,
                    }
                }
            })
            .collect();
    }

    /// Column names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// A column by position (`None` before [`Table::finish`] or past the end).
    pub fn column(&self, j: usize) -> Option<&Column> {
        self.columns.get(j)
    }

    /// A column by name (`None` before [`Table::finish`] or when absent).
    pub fn column_by_name(&self, name: &str) -> Option<&Column> {
        let j = self.names.iter().position(|n| n == name)?;
        self.column(j)
    }
}

fn intern(levels: &mut Vec<String>, index: &mut HashMap<String, u32>, text: String) -> u32 {
    if let Some(&c) = index.get(&text) {
        return c;
    }
    let c = levels.len() as u32;
    levels.push(text.clone());
    index.insert(text, c);
    c
}

/// How to encode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderOptions {
    /// Categories seen fewer times than this in the training rows are pooled into `(other)`.
    pub min_category_count: usize,
    /// At most this many categories per column keep their own column (the most frequent).
    pub max_categories: usize,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            min_category_count: 10,
            max_categories: 100,
        }
    }
}

/// How one table column becomes features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnEncoding {
    /// A number: imputed, standardised, maybe with a missing indicator.
    Numeric {
        /// Table column name.
        column: String,
        /// Median of the training values, used for missing values.
        median: f64,
        /// Mean of the imputed training values.
        mean: f64,
        /// Standard deviation of the imputed training values; 0 means the value column is left out.
        sd: f64,
        /// Whether a `(missing)` indicator column follows.
        indicator: bool,
    },
    /// One-hot levels.
    Categorical {
        /// Table column name.
        column: String,
        /// Levels that have their own column, in column order (may include `(missing)`).
        levels: Vec<String>,
        /// Whether an `(other)` column follows for pooled and unseen levels.
        other: bool,
    },
}

/// A column the encoder left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// Table column name.
    pub column: String,
    /// Why, in words.
    pub reason: String,
}

/// An encoding fitted on training rows, applicable to any table with the same column names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoder {
    /// Per used column, in feature order (numerics first, then categoricals, each in table order).
    pub encodings: Vec<ColumnEncoding>,
    /// Columns left out.
    pub skipped: Vec<Skipped>,
    feature_names: Vec<String>,
    dense_width: usize,
}

impl Encoder {
    /// Fits the encoding on the given rows of the table (the training rows).
    pub fn fit(
        table: &Table,
        rows: &[usize],
        options: &EncoderOptions,
    ) -> Result<Self, DatasetError> {
        if rows.is_empty() {
            return Err(DatasetError::NoRows);
        }
        if let Some(&row) = rows.iter().find(|&&r| r >= table.rows()) {
            return Err(DatasetError::RowOutOfRange {
                row,
                rows: table.rows(),
            });
        }
        let mut numeric = Vec::new();
        let mut categorical = Vec::new();
        let mut skipped = Vec::new();
        for (j, name) in table.names().iter().enumerate() {
            let Some(column) = table.column(j) else {
                return Err(DatasetError::UnknownColumn(name.clone()));
            };
            let skip = |reason: &str| Skipped {
                column: name.clone(),
                reason: reason.to_string(),
            };
            match column {
                Column::Numeric(values) => {
                    let mut present: Vec<f64> = rows
                        .iter()
                        .map(|&r| values[r])
                        .filter(|v| !v.is_nan())
                        .collect();
                    if present.is_empty() {
                        skipped.push(skip("no values in the training rows"));
                        continue;
                    }
                    let median = median(&mut present);
                    let missing = rows.len() - present.len();
                    let n = rows.len() as f64;
                    let mean = (present.iter().sum::<f64>() + median * missing as f64) / n;
                    let var = (present.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()
                        + (median - mean) * (median - mean) * missing as f64)
                        / n;
                    let sd = var.sqrt();
                    let sd = if sd.is_finite() && sd > 1e-12 * mean.abs().max(1.0) {
                        sd
                    } else {
                        0.0
                    };
                    if sd == 0.0 && missing == 0 {
                        skipped.push(skip("the same value in every training row"));
                        continue;
                    }
                    numeric.push(ColumnEncoding::Numeric {
                        column: name.clone(),
                        median,
                        mean,
                        sd,
                        indicator: missing > 0,
                    });
                }
                Column::Categorical { codes, levels } => {
                    let mut counts = vec![0usize; levels.len()];
                    let mut missing = 0usize;
                    for &r in rows {
                        match codes[r] {
                            MISSING_CODE => missing += 1,
                            c => counts[c as usize] += 1,
                        }
                    }
                    let mut seen: Vec<(&str, usize)> = levels
                        .iter()
                        .map(String::as_str)
                        .zip(counts.iter().copied())
                        .filter(|&(_, c)| c > 0)
                        .collect();
                    if missing > 0 {
                        seen.push((MISSING, missing));
                    }
                    // Most frequent first, ties by name, to apply the cap deterministically.
                    seen.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                    let min = options.min_category_count.max(1);
                    let keep_n = seen
                        .iter()
                        .take(options.max_categories)
                        .take_while(|&&(_, c)| c >= min)
                        .count();
                    let pooled: usize = seen[keep_n..].iter().map(|&(_, c)| c).sum();
                    let mut kept: Vec<String> =
                        seen[..keep_n].iter().map(|&(l, _)| l.to_string()).collect();
                    kept.sort_by(|a, b| (a == MISSING).cmp(&(b == MISSING)).then(a.cmp(b)));
                    let other = pooled > 0;
                    if kept.len() + usize::from(other) < 2 {
                        skipped.push(skip(if kept.is_empty() {
                            "every level is rare in the training rows"
                        } else {
                            "one level in every training row"
                        }));
                        continue;
                    }
                    categorical.push(ColumnEncoding::Categorical {
                        column: name.clone(),
                        levels: kept,
                        other,
                    });
                }
            }
        }
        let mut feature_names = Vec::new();
        for e in &numeric {
            if let ColumnEncoding::Numeric {
                column,
                sd,
                indicator,
                ..
            } = e
            {
                if *sd > 0.0 {
                    feature_names.push(column.clone());
                }
                if *indicator {
                    feature_names.push(format!("{column} {MISSING}"));
                }
            }
        }
        let dense_width = feature_names.len();
        for e in &categorical {
            if let ColumnEncoding::Categorical {
                column,
                levels,
                other,
            } = e
            {
                feature_names.extend(levels.iter().map(|l| format!("{column}={l}")));
                if *other {
                    feature_names.push(format!("{column}={OTHER}"));
                }
            }
        }
        numeric.extend(categorical);
        Ok(Encoder {
            encodings: numeric,
            skipped,
            feature_names,
            dense_width,
        })
    }

    /// Names of the features, in column order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Number of dense (numeric) features; they come first.
    pub fn dense_width(&self) -> usize {
        self.dense_width
    }

    /// Encodes the given rows of a table (any table holding the fitted columns by name).
    pub fn transform(&self, table: &Table, rows: &[usize]) -> Result<FeatureMatrix, DatasetError> {
        if let Some(&row) = rows.iter().find(|&&r| r >= table.rows()) {
            return Err(DatasetError::RowOutOfRange {
                row,
                rows: table.rows(),
            });
        }
        // Resolve every encoding against this table once.
        enum Plan<'t> {
            Numeric {
                column: &'t Column,
                median: f64,
                mean: f64,
                sd: f64,
                indicator: bool,
                /// For a table where the column came out categorical: each level parsed.
                parsed: Vec<f64>,
            },
            Categorical {
                column: &'t Column,
                /// Slot (absolute feature column) per table code.
                slots: Vec<Option<usize>>,
                missing: Option<usize>,
                /// For a table where the column came out numeric.
                by_text: HashMap<String, usize>,
                other: Option<usize>,
            },
        }
        let mut plans = Vec::with_capacity(self.encodings.len());
        let mut next = self.dense_width;
        for e in &self.encodings {
            let name = match e {
                ColumnEncoding::Numeric { column, .. }
                | ColumnEncoding::Categorical { column, .. } => column,
            };
            let column = table
                .column_by_name(name)
                .ok_or_else(|| DatasetError::UnknownColumn(name.clone()))?;
            match e {
                ColumnEncoding::Numeric {
                    median,
                    mean,
                    sd,
                    indicator,
                    ..
                } => {
                    let parsed = match column {
                        Column::Categorical { levels, .. } => levels
                            .iter()
                            .map(|l| parse_number(l).unwrap_or(f64::NAN))
                            .collect(),
                        Column::Numeric(_) => Vec::new(),
                    };
                    plans.push(Plan::Numeric {
                        column,
                        median: *median,
                        mean: *mean,
                        sd: *sd,
                        indicator: *indicator,
                        parsed,
                    });
                }
                ColumnEncoding::Categorical { levels, other, .. } => {
                    let mut by_text: HashMap<String, usize> = HashMap::new();
                    let mut missing = None;
                    for l in levels {
                        if l == MISSING {
                            missing = Some(next);
                        } else {
                            by_text.insert(l.clone(), next);
                        }
                        next += 1;
                    }
                    let other = other.then(|| {
                        next += 1;
                        next - 1
                    });
                    let slots = match column {
                        Column::Categorical { levels, .. } => levels
                            .iter()
                            .map(|l| by_text.get(l).copied().or(other))
                            .collect(),
                        Column::Numeric(_) => Vec::new(),
                    };
                    plans.push(Plan::Categorical {
                        column,
                        slots,
                        missing: missing.or(other),
                        by_text,
                        other,
                    });
                }
            }
        }
        let groups = plans
            .iter()
            .filter(|p| matches!(p, Plan::Categorical { .. }))
            .count();
        let mut m = FeatureMatrix::new(self.feature_names.clone(), self.dense_width, groups)?;
        m.reserve(rows.len());
        let mut dense = Vec::with_capacity(self.dense_width);
        let mut active = Vec::with_capacity(groups);
        for &r in rows {
            dense.clear();
            active.clear();
            for plan in &plans {
                match plan {
                    Plan::Numeric {
                        column,
                        median,
                        mean,
                        sd,
                        indicator,
                        parsed,
                    } => {
                        let v = match column {
                            Column::Numeric(values) => values[r],
                            Column::Categorical { codes, .. } => match codes[r] {
                                MISSING_CODE => f64::NAN,
                                c => parsed[c as usize],
                            },
                        };
                        let missing = v.is_nan();
                        if *sd > 0.0 {
                            let v = if missing { *median } else { v };
                            dense.push((v - mean) / sd);
                        }
                        if *indicator {
                            dense.push(if missing { 1.0 } else { 0.0 });
                        }
                    }
                    Plan::Categorical {
                        column,
                        slots,
                        missing,
                        by_text,
                        other,
                    } => {
                        let slot = match column {
                            Column::Categorical { codes, .. } => match codes[r] {
                                MISSING_CODE => *missing,
                                c => slots[c as usize],
                            },
                            Column::Numeric(values) => {
                                let v = values[r];
                                if v.is_nan() {
                                    *missing
                                } else {
                                    by_text.get(&number_text(v)).copied().or(*other)
                                }
                            }
                        };
                        active.push(slot);
                    }
                }
            }
            m.push_row(&dense, &active)?;
        }
        Ok(m)
    }
}

/// Median of a non-empty list (reorders it; linear time).
fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    let (left, upper, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let lower = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// A small seeded pseudo-random generator (splitmix64): deterministic, not cryptographic.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // Multiply-shift; the bias is below 2^-32 for any n that fits in memory.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Shuffles a slice (Fisher-Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }

    /// A standard normal number (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

fn class_indices(labels: &[bool]) -> [Vec<usize>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    for (i, &y) in labels.iter().enumerate() {
        out[usize::from(y)].push(i);
    }
    out
}

/// A seeded stratified split into `(train, test)` row positions, each ascending: of each class,
/// `round(test_fraction * count)` rows go to the test part.
pub fn stratified_split(
    labels: &[bool],
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), DatasetError> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(DatasetError::Split(format!(
            "the test fraction must be between 0 and 1, got {test_fraction}"
        )));
    }
    let mut rng = SplitMix64::new(seed);
    let mut train = Vec::new();
    let mut test = Vec::new();
    for mut class in class_indices(labels) {
        rng.shuffle(&mut class);
        let k = (test_fraction * class.len() as f64).round() as usize;
        test.extend_from_slice(&class[..k]);
        train.extend_from_slice(&class[k..]);
    }
    if train.is_empty() || test.is_empty() {
        return Err(DatasetError::Split(format!(
            "a test fraction of {test_fraction} of {} rows leaves one part empty",
            labels.len()
        )));
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

/// One fold of a k-fold split: row positions to fit on and to validate on, each ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// Rows to fit on.
    pub train: Vec<usize>,
    /// Rows to validate on.
    pub validate: Vec<usize>,
}

/// Seeded stratified k-fold: each class is shuffled and dealt to the folds in turn, so every
/// fold holds both classes in nearly the overall proportion.
pub fn stratified_kfold(labels: &[bool], k: usize, seed: u64) -> Result<Vec<Fold>, DatasetError> {
    if k < 2 {
        return Err(DatasetError::Split(format!(
            "k-fold needs at least 2 folds, got {k}"
        )));
    }
    let classes = class_indices(labels);
    let smallest = classes[0].len().min(classes[1].len());
    if smallest < k {
        return Err(DatasetError::Split(format!(
            "{k} folds need at least {k} rows of each class, the smaller class has {smallest}"
        )));
    }
    let mut rng = SplitMix64::new(seed);
    let mut fold_of = vec![0usize; labels.len()];
    let mut next = 0;
    for mut class in classes {
        rng.shuffle(&mut class);
        for i in class {
            fold_of[i] = next % k;
            next += 1;
        }
    }
    Ok((0..k)
        .map(|f| {
            let (validate, train): (Vec<usize>, Vec<usize>) =
                (0..labels.len()).partition(|&i| fold_of[i] == f);
            Fold { train, validate }
        })
        .collect())
}
