//! How good a model's scores are: ROC AUC, log loss, Brier score, calibration, deciles,
//! band shares and confusion counts, each computed here and tested against hand-worked values.
//!
//! Every function takes scores (or probabilities) and labels as parallel slices and
//! refuses, with a [`MetricsError`], inputs it cannot measure: mismatched lengths, no
//! rows, non-finite scores, or (where the metric needs both) a single class.

use crate::verdict::Band;
use serde::{Deserialize, Serialize};

/// Probabilities are clipped to `[EPS, 1 - EPS]` before taking logarithms in [`log_loss`].
pub const LOG_LOSS_EPS: f64 = 1e-15;

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// The scores and the labels have different lengths.
    #[error("{scores} scores but {labels} labels")]
    LengthMismatch {
        /// Number of scores.
        scores: usize,
        /// Number of labels.
        labels: usize,
    },
    /// There is nothing to measure.
    #[error("no examples")]
    Empty,
    /// The metric needs both classes and the labels hold only one.
    #[error("the labels hold only one class ({positives} positive, {negatives} negative)")]
    OneClass {
        /// Number of positive labels.
        positives: usize,
        /// Number of negative labels.
        negatives: usize,
    },
    /// A score is NaN or infinite.
    #[error("score {index} is not a finite number")]
    NonFinite {
        /// Position of the offending score.
        index: usize,
    },
    /// A probability lies outside `[0, 1]`.
    #[error("probability {index} is {value}, outside [0, 1]")]
    NotProbability {
        /// Position of the offending probability.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// An argument other than the data is unusable (for example zero bins).
    #[error("{0}")]
    Invalid(String),
}

fn check(scores: &[f64], labels: &[bool]) -> Result<(), MetricsError> {
    if scores.len() != labels.len() {
        return Err(MetricsError::LengthMismatch {
            scores: scores.len(),
            labels: labels.len(),
        });
    }
    if scores.is_empty() {
        return Err(MetricsError::Empty);
    }
    if let Some(index) = scores.iter().position(|s| !s.is_finite()) {
        return Err(MetricsError::NonFinite { index });
    }
    Ok(())
}

fn check_probabilities(probs: &[f64], labels: &[bool]) -> Result<(), MetricsError> {
    check(probs, labels)?;
    if let Some(index) = probs.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(MetricsError::NotProbability {
            index,
            value: probs[index],
        });
    }
    Ok(())
}

fn class_counts(labels: &[bool]) -> (usize, usize) {
    let positives = labels.iter().filter(|&&y| y).count();
    (positives, labels.len() - positives)
}

/// Row order from the highest score to the lowest; ties keep their input order.
fn order_descending(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// Area under the ROC curve: the chance a random positive outscores a random negative,
/// ties counting one half (the Mann-Whitney statistic with average ranks).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<f64, MetricsError> {
    check(scores, labels)?;
    let (positives, negatives) = class_counts(labels);
    if positives == 0 || negatives == 0 {
        return Err(MetricsError::OneClass {
            positives,
            negatives,
        });
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (average, 1-based) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start+1 ..= end share their average.
        let average = (start + 1 + end) as f64 / 2.0;
        let tied_positives = order[start..end].iter().filter(|&&i| labels[i]).count();
        rank_sum += average * tied_positives as f64;
        start = end;
    }
    let p = positives as f64;
    let n = negatives as f64;
    Ok((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Mean negative log-likelihood of the labels, probabilities clipped to
/// `[LOG_LOSS_EPS, 1 - LOG_LOSS_EPS]`.
pub fn log_loss(probs: &[f64], labels: &[bool]) -> Result<f64, MetricsError> {
    check_probabilities(probs, labels)?;
    let total: f64 = probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
            if y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    Ok(total / probs.len() as f64)
}

/// Mean squared difference between the probability and the outcome (1 or 0).
pub fn brier_score(probs: &[f64], labels: &[bool]) -> Result<f64, MetricsError> {
    check_probabilities(probs, labels)?;
    let total: f64 = probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let d = p - if y { 1.0 } else { 0.0 };
            d * d
        })
        .sum();
    Ok(total / probs.len() as f64)
}

/// One bin of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lowest probability of the bin (inclusive).
    pub lower: f64,
    /// Highest probability of the bin (exclusive, except 1.0 in the last bin).
    pub upper: f64,
    /// Examples whose probability falls in the bin.
    pub count: usize,
    /// Positives among them.
    pub positives: usize,
    /// Mean predicted probability of the bin (0 when empty).
    pub mean_predicted: f64,
    /// Observed positive rate of the bin (0 when empty).
    pub observed_rate: f64,
}

/// Predicted against observed rates in equal-width probability bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationTable {
    /// The bins from the lowest probability to the highest.
    pub bins: Vec<CalibrationBin>,
    /// Expected calibration error: the count-weighted mean of |predicted - observed|.
    pub ece: f64,
}

/// Calibration table with `bins` equal-width bins over `[0, 1]` and its expected calibration
/// error; a probability `p` goes to bin `floor(p * bins)`, 1.0 to the last bin.
pub fn calibration(
    probs: &[f64],
    labels: &[bool],
    bins: usize,
) -> Result<CalibrationTable, MetricsError> {
    check_probabilities(probs, labels)?;
    if bins == 0 {
        return Err(MetricsError::Invalid(
            "calibration needs at least one bin".into(),
        ));
    }
    let mut count = vec![0usize; bins];
    let mut positives = vec![0usize; bins];
    let mut sum = vec![0.0f64; bins];
    for (&p, &y) in probs.iter().zip(labels) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        positives[b] += usize::from(y);
        sum[b] += p;
    }
    let n = probs.len() as f64;
    let mut ece = 0.0;
    let bins: Vec<CalibrationBin> = (0..bins)
        .map(|b| {
            let (mean_predicted, observed_rate) = if count[b] == 0 {
                (0.0, 0.0)
            } else {
                (
                    sum[b] / count[b] as f64,
                    positives[b] as f64 / count[b] as f64,
                )
            };
            ece += count[b] as f64 / n * (mean_predicted - observed_rate).abs();
            CalibrationBin {
                lower: b as f64 / bins as f64,
                upper: (b + 1) as f64 / bins as f64,
                count: count[b],
                positives: positives[b],
                mean_predicted,
                observed_rate,
            }
        })
        .collect();
    Ok(CalibrationTable { bins, ece })
}

/// One score decile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecileRow {
    /// 1 for the highest-scoring tenth, 10 for the lowest.
    pub decile: u8,
    /// Examples in the decile.
    pub count: usize,
    /// Positives among them.
    pub positives: usize,
    /// Positive (conversion) rate of the decile.
    pub rate: f64,
    /// Lowest score in the decile.
    pub min_score: f64,
    /// Highest score in the decile.
    pub max_score: f64,
    /// The decile's rate over the overall rate.
    pub lift: f64,
}

/// Conversion rate per score decile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecileTable {
    /// Deciles from the top (1) to the bottom (10); fewer when there are under ten examples.
    pub rows: Vec<DecileRow>,
    /// Overall positive rate.
    pub base_rate: f64,
    /// Rate of the top decile over the overall rate.
    pub top_lift: f64,
    /// Rate of the top decile over that of the bottom decile; `None` when the bottom has none.
    pub top_over_bottom: Option<f64>,
}

/// Decile table: examples sorted by score (highest first, ties in input order), cut into ten
/// groups whose sizes differ by at most one.
pub fn deciles(scores: &[f64], labels: &[bool]) -> Result<DecileTable, MetricsError> {
    check(scores, labels)?;
    let (positives, negatives) = class_counts(labels);
    if positives == 0 {
        return Err(MetricsError::OneClass {
            positives,
            negatives,
        });
    }
    let order = order_descending(scores);
    let n = order.len();
    let base_rate = positives as f64 / n as f64;
    let groups = n.min(10);
    let rows: Vec<DecileRow> = (0..groups)
        .map(|g| {
            let slice = &order[g * n / groups..(g + 1) * n / groups];
            let pos = slice.iter().filter(|&&i| labels[i]).count();
            let rate = pos as f64 / slice.len() as f64;
            DecileRow {
                decile: (g + 1) as u8,
                count: slice.len(),
                positives: pos,
                rate,
                min_score: slice
                    .iter()
                    .map(|&i| scores[i])
                    .fold(f64::INFINITY, f64::min),
                max_score: slice
                    .iter()
                    .map(|&i| scores[i])
                    .fold(f64::NEG_INFINITY, f64::max),
                lift: rate / base_rate,
            }
        })
        .collect();
    let top = rows.first().map_or(0.0, |r| r.rate);
    let bottom = rows.last().map_or(0.0, |r| r.rate);
    Ok(DecileTable {
        top_lift: top / base_rate,
        top_over_bottom: (bottom > 0.0).then(|| top / bottom),
        base_rate,
        rows,
    })
}

/// How many examples landed in one band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandShare {
    /// The band.
    pub band: Band,
    /// Examples in it.
    pub count: usize,
    /// Its share of all examples (0 when there are none).
    pub share: f64,
}

/// Share of each band, hot to disqualified, bands with no examples included.
pub fn band_distribution(bands: &[Band]) -> Vec<BandShare> {
    let all = [
        Band::Hot,
        Band::Warm,
        Band::Mql,
        Band::Cold,
        Band::Disqualified,
    ];
    all.iter()
        .map(|&band| {
            let count = bands.iter().filter(|&&b| b == band).count();
            BandShare {
                band,
                count,
                share: if bands.is_empty() {
                    0.0
                } else {
                    count as f64 / bands.len() as f64
                },
            }
        })
        .collect()
}

/// Confusion counts at a threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Predicted positive, was positive.
    pub true_positives: usize,
    /// Predicted positive, was negative.
    pub false_positives: usize,
    /// Predicted negative, was negative.
    pub true_negatives: usize,
    /// Predicted negative, was positive.
    pub false_negatives: usize,
}

impl Confusion {
    /// Share of predicted positives that were positive (0 when none was predicted).
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// Share of positives that were predicted positive (0 when there are none).
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    /// Share of all examples predicted correctly (0 when there are none).
    pub fn accuracy(&self) -> f64 {
        ratio(
            self.true_positives + self.true_negatives,
            self.true_positives + self.true_negatives + self.false_positives + self.false_negatives,
        )
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Confusion counts when a score at or above `threshold` predicts positive.
pub fn confusion(
    scores: &[f64],
    labels: &[bool],
    threshold: f64,
) -> Result<Confusion, MetricsError> {
    check(scores, labels)?;
    let mut c = Confusion::default();
    for (&s, &y) in scores.iter().zip(labels) {
        match (s >= threshold, y) {
            (true, true) => c.true_positives += 1,
            (true, false) => c.false_positives += 1,
            (false, false) => c.true_negatives += 1,
            (false, true) => c.false_negatives += 1,
        }
    }
    Ok(c)
}

/// Mean and sample standard deviation (n - 1) of a list; `(0, 0)` when empty, sd 0 for one value.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}
