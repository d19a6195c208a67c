//! `leadq backtest`: how well would a model trained on a lead export have predicted the
//! outcome? Reads any CSV, encodes it generically (`leadq_scoring::dataset`), picks the
//! penalty by stratified k-fold cross-validation on the training part, refits, and measures
//! the holdout: AUC, log loss, Brier score, calibration, deciles. Prints a table or JSON and
//! can write a self-contained HTML report.

use crate::error::CliError;
use crate::report;
use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use leadq_scoring::dataset::{
    Encoder, EncoderOptions, Skipped, Table, stratified_kfold, stratified_split,
};
use leadq_scoring::metrics::{
    CalibrationTable, Confusion, DecileTable, brier_score, calibration, confusion, deciles,
    log_loss, mean_sd, roc_auc,
};
use leadq_scoring::train::{LogisticModel, TrainOptions, train};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The penalties tried by cross-validation when `--lambda` is not given.
pub const DEFAULT_LAMBDAS: [f64; 5] = [0.01, 0.1, 1.0, 10.0, 100.0];

/// Output format of the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A human-readable table.
    Table,
    /// One JSON document.
    Json,
}

/// Train and evaluate a logistic model on a CSV export of leads with known outcomes.
#[derive(Debug, Clone, Args)]
pub struct BacktestArgs {
    /// The CSV file (header row first).
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// The outcome column.
    #[arg(long, value_name = "COLUMN")]
    pub target: String,
    /// The value of the outcome column that counts as positive (converted, won).
    #[arg(long, value_name = "VALUE")]
    pub positive: String,
    /// Columns to leave out (comma-separated or repeated), for example leakage columns.
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',')]
    pub drop: Vec<String>,
    /// Values that mean missing besides the empty string (comma-separated), for example `Select`.
    #[arg(long, value_name = "TOKENS", value_delimiter = ',')]
    pub missing: Vec<String>,
    /// The identifier column: never used as a feature; needed by --test-ids.
    #[arg(long, value_name = "COLUMN")]
    pub id: Option<String>,
    /// A file of ids (one per line) that form the holdout, instead of a random stratified split.
    #[arg(long, value_name = "FILE", requires = "id")]
    pub test_ids: Option<PathBuf>,
    /// Cross-validation folds on the training part (0 skips cross-validation).
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub folds: usize,
    /// Seed of the split and the folds.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// Share of rows held out when --test-ids is not given.
    #[arg(long, value_name = "F", default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Penalty strength(s): one value is used as is, several are chosen from by
    /// cross-validated log loss [default: 0.01,0.1,1,10,100; 1 when --folds is 0].
    #[arg(long, value_name = "LAMBDAS", value_delimiter = ',')]
    pub lambda: Vec<f64>,
    /// Categories seen fewer times than this in the training rows are pooled into `(other)`.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub min_category_count: usize,
    /// Write a self-contained HTML report here.
    #[arg(long, value_name = "OUT.html")]
    pub report: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Cross-validation results of one penalty.
#[derive(Debug, Clone, Serialize)]
pub struct LambdaResult {
    /// The penalty.
    pub lambda: f64,
    /// Mean validation AUC over the folds.
    pub auc_mean: f64,
    /// Sample standard deviation of the validation AUC.
    pub auc_sd: f64,
    /// Mean validation log loss.
    pub log_loss_mean: f64,
}

/// One feature's weight.
#[derive(Debug, Clone, Serialize)]
pub struct Weight {
    /// Feature name.
    pub feature: String,
    /// Weight per standard deviation (one-hot: per presence).
    pub weight: f64,
}

/// Holdout metrics.
#[derive(Debug, Clone, Serialize)]
pub struct Holdout {
    /// Rows in the holdout.
    pub rows: usize,
    /// Positives among them.
    pub positives: usize,
    /// ROC AUC.
    pub auc: f64,
    /// Mean log loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Calibration table (10 bins) with its ECE.
    pub calibration: CalibrationTable,
    /// Decile table.
    pub deciles: DecileTable,
    /// Confusion counts at probability 0.5.
    pub confusion: Confusion,
}

/// Everything a backtest measured.
#[derive(Debug, Clone, Serialize)]
pub struct BacktestReport {
    /// The CSV path as given.
    pub csv: String,
    /// Target column.
    pub target: String,
    /// Positive value.
    pub positive: String,
    /// Rows used (rows with a missing target are left out).
    pub rows: usize,
    /// Rows left out for a missing target.
    pub rows_without_target: usize,
    /// Positives among the rows used.
    pub positives: usize,
    /// Training rows.
    pub train_rows: usize,
    /// How the holdout was chosen.
    pub split: String,
    /// Table columns used as inputs.
    pub input_columns: usize,
    /// Features after encoding.
    pub features: usize,
    /// Columns the encoder left out, and why.
    pub skipped: Vec<Skipped>,
    /// Cross-validation folds (0 = none).
    pub folds: usize,
    /// Cross-validation results per penalty.
    pub lambdas: Vec<LambdaResult>,
    /// The penalty of the final model.
    pub lambda: f64,
    /// Cross-validated AUC mean at the chosen penalty (absent without cross-validation).
    pub cv_auc_mean: Option<f64>,
    /// Cross-validated AUC standard deviation at the chosen penalty.
    pub cv_auc_sd: Option<f64>,
    /// Holdout metrics.
    pub holdout: Holdout,
    /// AUC on the training rows.
    pub train_auc: f64,
    /// Seconds the final fit took (the solver only, single thread).
    pub fit_seconds: f64,
    /// Seconds encoding the final training and holdout rows took.
    pub encode_seconds: f64,
    /// Seconds the whole backtest took, reading included.
    pub total_seconds: f64,
    /// Solver of the final fit.
    pub solver: String,
    /// Its iterations.
    pub iterations: usize,
    /// The largest weights by magnitude (at most 15).
    pub top_weights: Vec<Weight>,
    /// Holdout probabilities of the positives and negatives in 20 bins of width 0.05.
    pub histogram_positive: Vec<usize>,
    /// As `histogram_positive`, for the negatives.
    pub histogram_negative: Vec<usize>,
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    CliError::Usage(message.into()).into()
}

/// The CSV read into a table of input columns, labels and ids.
struct Loaded {
    table: Table,
    labels: Vec<bool>,
    ids: Vec<String>,
    without_target: usize,
}

fn quote_list(items: &[String]) -> String {
    items
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn load(args: &BacktestArgs) -> anyhow::Result<Loaded> {
    let path = args.csv.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&args.csv)
        .map_err(|e| usage(format!("cannot read {path}: {e}")))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| usage(format!("{path}: cannot read the header: {e}")))?
        .iter()
        .enumerate()
        .map(|(j, h)| {
            let h = h.trim().trim_start_matches('\u{feff}');
            if h.is_empty() {
                format!("(unnamed column {})", j + 1)
            } else {
                h.to_string()
            }
        })
        .collect();
    let mut seen = HashSet::new();
    for h in &header {
        if !seen.insert(h.as_str()) {
            return Err(usage(format!(
                "{path}: column `{h}` appears twice in the header"
            )));
        }
    }
    let find = |name: &str, option: &str| -> anyhow::Result<usize> {
        header.iter().position(|h| h == name.trim()).ok_or_else(|| {
            usage(format!(
                "{option}: unknown column `{name}`; the columns are {}",
                quote_list(&header)
            ))
        })
    };
    let target = find(&args.target, "--target")?;
    let id = args.id.as_deref().map(|c| find(c, "--id")).transpose()?;
    let mut dropped = HashSet::new();
    for d in &args.drop {
        dropped.insert(find(d, "--drop")?);
    }
    if dropped.contains(&target) {
        return Err(usage(format!(
            "--drop: `{}` is the --target column",
            args.target
        )));
    }
    if id == Some(target) {
        return Err(usage(format!(
            "--id: `{}` is the --target column",
            args.target
        )));
    }
    let inputs: Vec<usize> = (0..header.len())
        .filter(|j| *j != target && Some(*j) != id && !dropped.contains(j))
        .collect();
    let names = inputs.iter().map(|&j| header[j].clone()).collect();
    let mut table = Table::new(names, &args.missing);
    let missing: Vec<&str> = args.missing.iter().map(|s| s.trim()).collect();
    let positive = args.positive.trim();
    let mut labels = Vec::new();
    let mut ids = Vec::new();
    let mut without_target = 0;
    let mut target_values: Vec<String> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(usage(format!("{path}: {e}"))),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() > header.len()
            && record
                .iter()
                .skip(header.len())
                .any(|v| !v.trim().is_empty())
        {
            return Err(usage(format!(
                "{path}:{line}: {} values but the header has {} columns",
                record.len(),
                header.len()
            )));
        }
        let value = |j: usize| record.get(j).unwrap_or("");
        let t = value(target).trim();
        if t.is_empty() || missing.contains(&t) {
            without_target += 1;
            continue;
        }
        if target_values.len() < 20 && !target_values.iter().any(|v| v == t) {
            target_values.push(t.to_string());
        }
        labels.push(t == positive);
        if let Some(id) = id {
            ids.push(value(id).trim().to_string());
        }
        let row: Vec<&str> = inputs.iter().map(|&j| value(j)).collect();
        table
            .push_row(&row)
            .map_err(|e| usage(format!("{path}:{line}: {e}")))?;
    }
    table.finish();
    let positives = labels.iter().filter(|&&y| y).count();
    if positives == 0 {
        return Err(usage(format!(
            "--positive: the value `{}` never occurs in target column `{}` (values seen: {})",
            args.positive,
            args.target,
            quote_list(&target_values)
        )));
    }
    if positives == labels.len() {
        return Err(usage(format!(
            "target column `{}` has only one class: every row with a value is `{}`",
            args.target, args.positive
        )));
    }
    Ok(Loaded {
        table,
        labels,
        ids,
        without_target,
    })
}

/// Holdout rows from a file of ids, one per line.
fn holdout_from_ids(
    args: &BacktestArgs,
    file: &std::path::Path,
    ids: &[String],
) -> anyhow::Result<Vec<bool>> {
    let path = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .map_err(|e| usage(format!("--test-ids: cannot read {path}: {e}")))?;
    let column = args.id.as_deref().unwrap_or_default();
    let mut position: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if position.insert(id.as_str(), i).is_some() {
            return Err(usage(format!(
                "--id: the value `{id}` appears twice in column `{column}`, so it cannot identify the holdout"
            )));
        }
    }
    let mut holdout = vec![false; ids.len()];
    let mut unknown = Vec::new();
    for line in text.lines() {
        let id = line.trim();
        if id.is_empty() {
            continue;
        }
        match position.get(id) {
            Some(&i) => holdout[i] = true,
            None => unknown.push(id.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(usage(format!(
            "--test-ids {path}: {} ids are not in column `{column}` (first: `{}`)",
            unknown.len(),
            unknown[0]
        )));
    }
    Ok(holdout)
}

fn pick<T: Copy>(values: &[T], rows: &[usize]) -> Vec<T> {
    rows.iter().map(|&r| values[r]).collect()
}

/// Progress on stderr, drawn only on a terminal and only once the job has taken a second.
pub(crate) struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
}

impl Progress {
    /// A bar of `total` steps counted in `unit`, hidden until a second has passed.
    pub(crate) fn new(total: u64, unit: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        let template = format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress {
            bar,
            started: Instant::now(),
            shown: false,
        }
    }

    /// One step done.
    pub(crate) fn tick(&mut self, message: &str) {
        if !self.shown
            && self.started.elapsed() > Duration::from_secs(1)
            && std::io::stderr().is_terminal()
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_message(message.to_string());
        self.bar.inc(1);
    }

    /// Clears the bar.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn fit(
    x: &leadq_scoring::train::FeatureMatrix,
    y: &[bool],
    lambda: f64,
) -> anyhow::Result<LogisticModel> {
    let options = TrainOptions {
        lambda,
        ..TrainOptions::default()
    };
    train(x, y, &options).map_err(|e| usage(e.to_string()))
}

fn data_error(e: leadq_scoring::dataset::DatasetError) -> anyhow::Error {
    usage(e.to_string())
}

/// Runs the backtest and returns what it measured.
pub fn backtest(args: &BacktestArgs) -> anyhow::Result<BacktestReport> {
    let started = Instant::now();
    if !(args.test_fraction > 0.0 && args.test_fraction < 1.0) {
        return Err(usage(format!(
            "--test-fraction must be between 0 and 1, got {}",
            args.test_fraction
        )));
    }
    if args.folds == 1 {
        return Err(usage(
            "--folds must be 0 (no cross-validation) or at least 2",
        ));
    }
    if let Some(l) = args.lambda.iter().find(|l| !(l.is_finite() && **l >= 0.0)) {
        return Err(usage(format!("--lambda must be finite and >= 0, got {l}")));
    }
    let loaded = load(args)?;
    let Loaded {
        table,
        labels,
        ids,
        without_target,
    } = loaded;
    let n = labels.len();
    let (train_rows, test_rows, split) = match &args.test_ids {
        Some(path) => {
            let holdout = holdout_from_ids(args, path, &ids)?;
            let (test, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| holdout[i]);
            (train, test, format!("the ids listed in {}", path.display()))
        }
        None => {
            let (train, test) = stratified_split(&labels, args.test_fraction, args.seed)
                .map_err(|e| usage(e.to_string()))?;
            (
                train,
                test,
                format!(
                    "stratified random {:.0}% (seed {})",
                    args.test_fraction * 100.0,
                    args.seed
                ),
            )
        }
    };
    for (part, rows) in [("training", &train_rows), ("holdout", &test_rows)] {
        let pos = rows.iter().filter(|&&r| labels[r]).count();
        if pos == 0 || pos == rows.len() {
            return Err(usage(format!(
                "the {part} part ({} rows) holds only one class of `{}`",
                rows.len(),
                args.target
            )));
        }
    }
    let encoder_options = EncoderOptions {
        min_category_count: args.min_category_count,
        ..EncoderOptions::default()
    };

    let lambdas: Vec<f64> = match (args.lambda.is_empty(), args.folds) {
        (false, _) => args.lambda.clone(),
        (true, 0) => vec![1.0],
        (true, _) => DEFAULT_LAMBDAS.to_vec(),
    };
    let mut results = Vec::new();
    let mut chosen = lambdas[0];
    let mut progress = Progress::new((args.folds * lambdas.len() + 1) as u64, "fits");
    if args.folds >= 2 {
        let train_labels = pick(&labels, &train_rows);
        let folds = stratified_kfold(&train_labels, args.folds, args.seed)
            .map_err(|e| usage(format!("--folds: {e}")))?;
        let mut aucs = vec![Vec::new(); lambdas.len()];
        let mut losses = vec![Vec::new(); lambdas.len()];
        for (f, fold) in folds.iter().enumerate() {
            let fit_rows: Vec<usize> = fold.train.iter().map(|&i| train_rows[i]).collect();
            let val_rows: Vec<usize> = fold.validate.iter().map(|&i| train_rows[i]).collect();
            let encoder = Encoder::fit(&table, &fit_rows, &encoder_options).map_err(data_error)?;
            let x_fit = encoder.transform(&table, &fit_rows).map_err(data_error)?;
            let y_fit = pick(&labels, &fit_rows);
            let x_val = encoder.transform(&table, &val_rows).map_err(data_error)?;
            let y_val = pick(&labels, &val_rows);
            for (l, &lambda) in lambdas.iter().enumerate() {
                let model = fit(&x_fit, &y_fit, lambda).with_context(|| {
                    format!("cross-validation fold {} of {}", f + 1, args.folds)
                })?;
                let p = model.predict(&x_val);
                aucs[l].push(roc_auc(&p, &y_val)?);
                losses[l].push(log_loss(&p, &y_val)?);
                progress.tick(&format!("fold {}/{}", f + 1, args.folds));
            }
        }
        for (l, &lambda) in lambdas.iter().enumerate() {
            let (auc_mean, auc_sd) = mean_sd(&aucs[l]);
            let (log_loss_mean, _) = mean_sd(&losses[l]);
            results.push(LambdaResult {
                lambda,
                auc_mean,
                auc_sd,
                log_loss_mean,
            });
        }
        // Lowest mean log loss; ties go to the stronger penalty.
        let best = results
            .iter()
            .fold(None::<&LambdaResult>, |best, r| match best {
                Some(b)
                    if b.log_loss_mean < r.log_loss_mean
                        || (b.log_loss_mean == r.log_loss_mean && b.lambda >= r.lambda) =>
                {
                    Some(b)
                }
                _ => Some(r),
            });
        if let Some(b) = best {
            chosen = b.lambda;
        }
    }

    let encode_start = Instant::now();
    let encoder = Encoder::fit(&table, &train_rows, &encoder_options).map_err(data_error)?;
    let x_train = encoder.transform(&table, &train_rows).map_err(data_error)?;
    let x_test = encoder.transform(&table, &test_rows).map_err(data_error)?;
    let encode_seconds = encode_start.elapsed().as_secs_f64();
    drop(table);
    let y_train = pick(&labels, &train_rows);
    let y_test = pick(&labels, &test_rows);
    let fit_start = Instant::now();
    let model = fit(&x_train, &y_train, chosen).context("final fit on the training part")?;
    let fit_seconds = fit_start.elapsed().as_secs_f64();
    progress.tick("final fit");
    progress.finish();
    let train_auc = roc_auc(&model.predict(&x_train), &y_train)?;
    drop(x_train);
    let p = model.predict(&x_test);
    let holdout = Holdout {
        rows: y_test.len(),
        positives: y_test.iter().filter(|&&y| y).count(),
        auc: roc_auc(&p, &y_test)?,
        log_loss: log_loss(&p, &y_test)?,
        brier: brier_score(&p, &y_test)?,
        calibration: calibration(&p, &y_test, 10)?,
        deciles: deciles(&p, &y_test)?,
        confusion: confusion(&p, &y_test, 0.5)?,
    };
    let mut histogram_positive = vec![0usize; 20];
    let mut histogram_negative = vec![0usize; 20];
    for (&prob, &y) in p.iter().zip(&y_test) {
        let b = ((prob * 20.0) as usize).min(19);
        if y {
            histogram_positive[b] += 1;
        } else {
            histogram_negative[b] += 1;
        }
    }
    let mut order: Vec<usize> = (0..model.features.len()).collect();
    order.sort_by(|&a, &b| {
        model.standardized_weights[b]
            .abs()
            .total_cmp(&model.standardized_weights[a].abs())
            .then(a.cmp(&b))
    });
    let top_weights = order
        .iter()
        .take(15)
        .map(|&j| Weight {
            feature: model.features[j].clone(),
            weight: model.standardized_weights[j],
        })
        .collect();
    let at_chosen = results.iter().find(|r| r.lambda == chosen);
    Ok(BacktestReport {
        csv: args.csv.display().to_string(),
        target: args.target.clone(),
        positive: args.positive.clone(),
        rows: n,
        rows_without_target: without_target,
        positives: labels.iter().filter(|&&y| y).count(),
        train_rows: train_rows.len(),
        split,
        input_columns: encoder.encodings.len() + encoder.skipped.len(),
        features: model.features.len(),
        skipped: encoder.skipped.clone(),
        folds: if args.folds >= 2 { args.folds } else { 0 },
        lambdas: results.clone(),
        lambda: chosen,
        cv_auc_mean: at_chosen.map(|r| r.auc_mean),
        cv_auc_sd: at_chosen.map(|r| r.auc_sd),
        holdout,
        train_auc,
        fit_seconds,
        encode_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        solver: format!("{:?}", model.fit.solver).to_lowercase(),
        iterations: model.fit.iterations,
        top_weights,
        histogram_positive,
        histogram_negative,
    })
}

/// Renders the metrics table.
pub fn render_table(r: &BacktestReport) -> String {
    let mut s = String::new();
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    s.push_str(&format!(
        "backtest of {}: target `{}` = `{}`\n",
        r.csv, r.target, r.positive
    ));
    let mut line = |k: &str, v: String| s.push_str(&format!("  {k:<18}{v}\n"));
    line(
        "rows",
        format!(
            "{} ({:.1}% positive){}",
            r.rows,
            pct(r.positives, r.rows),
            if r.rows_without_target > 0 {
                format!(", {} without a target left out", r.rows_without_target)
            } else {
                String::new()
            }
        ),
    );
    line(
        "split",
        format!(
            "{} training, {} holdout ({})",
            r.train_rows, r.holdout.rows, r.split
        ),
    );
    line(
        "features",
        format!(
            "{} from {} columns ({} skipped)",
            r.features,
            r.input_columns,
            r.skipped.len()
        ),
    );
    let lambda_note = if r.lambdas.len() > 1 {
        format!(
            " (chosen by {}-fold CV log loss from {})",
            r.folds,
            r.lambdas
                .iter()
                .map(|l| format!("{}", l.lambda))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        String::new()
    };
    line("lambda", format!("{}{lambda_note}", r.lambda));
    match (r.cv_auc_mean, r.cv_auc_sd) {
        (Some(m), Some(sd)) => line("CV AUC", format!("{m:.4} ± {sd:.4} ({} folds)", r.folds)),
        _ => line("CV AUC", "not run (--folds 0)".into()),
    }
    line("holdout AUC", format!("{:.4}", r.holdout.auc));
    line("log loss", format!("{:.4}", r.holdout.log_loss));
    line("Brier", format!("{:.4}", r.holdout.brier));
    line("ECE", format!("{:.4}", r.holdout.calibration.ece));
    line(
        "top-decile lift",
        format!(
            "{:.2}x over the base rate{}",
            r.holdout.deciles.top_lift,
            r.holdout
                .deciles
                .top_over_bottom
                .map(|t| format!(", {t:.1}x over the bottom decile"))
                .unwrap_or_default()
        ),
    );
    line(
        "fit time",
        format!(
            "{:.3} s ({}, {} iterations; encoding {:.3} s, total {:.2} s)",
            r.fit_seconds, r.solver, r.iterations, r.encode_seconds, r.total_seconds
        ),
    );
    s.push_str("\n  decile  rows  converted  rate    lift\n");
    for d in &r.holdout.deciles.rows {
        s.push_str(&format!(
            "  {:>6}  {:>4}  {:>9}  {:>5.1}%  {:.2}x\n",
            d.decile,
            d.count,
            d.positives,
            d.rate * 100.0,
            d.lift
        ));
    }
    s
}

/// `leadq backtest`.
pub fn run(args: &BacktestArgs) -> anyhow::Result<()> {
    let report = backtest(args)?;
    if let Some(path) = &args.report {
        std::fs::write(path, report::html(&report))
            .map_err(CliError::Output)
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Table => out.write_all(render_table(&report).as_bytes()),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&report)?;
            text.push('\n');
            out.write_all(text.as_bytes())
        }
    }
    .map_err(CliError::Output)?;
    Ok(())
}
