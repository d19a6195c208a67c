//! The trainer: L2-regularised logistic regression pulled towards a prior.
//!
//! It minimises `sum_i logloss_i + lambda / 2 * ||w - w_prior||^2` (the intercept is not
//! penalised), so with few outcomes the weights stay near the prior (the model as written,
//! or the previous version) and with many they follow the data.
//!
//! Features live in a [`FeatureMatrix`]: a dense block of numeric columns followed by one-hot
//! columns stored as the index of the active column of each group, so a categorical with a
//! hundred levels costs four bytes per row. Dense columns are standardised internally (the
//! penalty applies to weights per standard deviation) and reported back in the units given.
//! One-hot columns are not rescaled.
//!
//! The solver is Newton's method with a Cholesky factorisation when there are at most
//! [`NEWTON_MAX_FEATURES`] features (the Hessian is taken from a fixed, evenly spaced
//! subsample of rows when the data are large, the gradient always from every row), and
//! L-BFGS otherwise. Both stop when the largest gradient component, divided by the number of
//! rows, is below the tolerance. Everything is single-threaded and deterministic.

use serde::{Deserialize, Serialize};

/// Fewest examples of each class the trainer accepts by default.
pub const MIN_PER_CLASS: usize = 30;

/// Above this many features the trainer uses L-BFGS instead of Newton's method.
pub const NEWTON_MAX_FEATURES: usize = 400;

/// Multiply-adds one Hessian accumulation may spend before it subsamples rows.
const HESSIAN_BUDGET: usize = 130_000_000;

/// Fewest rows a subsampled Hessian uses.
const HESSIAN_MIN_ROWS: usize = 4_096;

/// From this many rows on, the trainer warm-starts on a subsample of them.
const WARM_START_MIN_ROWS: usize = 100_000;

/// The warm-start subsample is this fraction (one row in so many) of the rows.
const WARM_START_FRACTION: usize = 20;

/// Marks a one-hot group with no active column in a row.
const NONE: u32 = u32::MAX;

/// Why a model could not be trained.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// Too few outcomes of one class to learn anything.
    #[error(
        "not enough outcomes to train: {positives} positive and {negatives} negative examples, \
         at least {min} of each are needed"
    )]
    NotEnoughData {
        /// Positive examples given.
        positives: usize,
        /// Negative examples given.
        negatives: usize,
        /// Fewest of each class required.
        min: usize,
    },
    /// The number of labels differs from the number of feature rows.
    #[error("{rows} feature rows but {labels} labels")]
    LengthMismatch {
        /// Feature rows.
        rows: usize,
        /// Labels.
        labels: usize,
    },
    /// A row or a prior has the wrong shape, or a one-hot index is out of its range.
    #[error("{0}")]
    Shape(String),
    /// A feature value is NaN or infinite (or too large for the matrix's 32-bit storage).
    #[error("feature `{name}` of row {row} is not a finite number")]
    NonFinite {
        /// The row (0-based).
        row: usize,
        /// The feature's name.
        name: String,
    },
    /// An option is out of range.
    #[error("invalid training option: {0}")]
    InvalidOption(String),
    /// The solver stopped before the gradient was small enough.
    #[error(
        "the solver did not converge in {iterations} iterations \
         (gradient {gradient:.3e}, tolerance {tolerance:.1e})"
    )]
    NotConverged {
        /// Iterations run.
        iterations: usize,
        /// Largest gradient component per row when it stopped.
        gradient: f64,
        /// The tolerance asked for.
        tolerance: f64,
    },
}

/// Rows of features: `dense_width` numeric columns, then one-hot columns in groups.
///
/// Dense values are stored as `f32` (seven significant digits, plenty for features), which
/// halves the memory and the time of a pass over the data.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    names: Vec<String>,
    rows: usize,
    dense_width: usize,
    dense: Vec<f32>,
    groups: usize,
    onehot: Vec<u32>,
}

/// One row of a [`FeatureMatrix`].
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// Values of the dense columns.
    pub dense: &'a [f32],
    /// Active column of each one-hot group (absolute column index), `u32::MAX` for none.
    pub active: &'a [u32],
}

impl Row<'_> {
    /// Active one-hot columns of the row.
    pub fn active_columns(&self) -> impl Iterator<Item = usize> + '_ {
        self.active
            .iter()
            .filter(|&&k| k != NONE)
            .map(|&k| k as usize)
    }
}

impl FeatureMatrix {
    /// An empty matrix whose first `dense_width` columns are numeric and the rest one-hot,
    /// set by `groups` groups of which each row activates at most one column.
    pub fn new(names: Vec<String>, dense_width: usize, groups: usize) -> Result<Self, TrainError> {
        if dense_width > names.len() {
            return Err(TrainError::Shape(format!(
                "{dense_width} dense columns but only {} column names",
                names.len()
            )));
        }
        if names.len() >= NONE as usize {
            return Err(TrainError::Shape("too many columns".into()));
        }
        Ok(FeatureMatrix {
            names,
            rows: 0,
            dense_width,
            dense: Vec::new(),
            groups,
            onehot: Vec::new(),
        })
    }

    /// A matrix of numeric columns only, from rows of values.
    pub fn from_dense(names: Vec<String>, rows: &[Vec<f64>]) -> Result<Self, TrainError> {
        let width = names.len();
        let mut m = FeatureMatrix::new(names, width, 0)?;
        m.reserve(rows.len());
        for row in rows {
            m.push_row(row, &[])?;
        }
        Ok(m)
    }

    /// Reserves room for `rows` more rows.
    pub fn reserve(&mut self, rows: usize) {
        self.dense.reserve(rows.saturating_mul(self.dense_width));
        self.onehot.reserve(rows.saturating_mul(self.groups));
    }

    /// Appends a row: its dense values and, per one-hot group, the active column (an
    /// absolute column index at or after `dense_width`) or `None`.
    pub fn push_row(&mut self, dense: &[f64], active: &[Option<usize>]) -> Result<(), TrainError> {
        if dense.len() != self.dense_width || active.len() != self.groups {
            return Err(TrainError::Shape(format!(
                "row {} has {} dense values and {} one-hot groups, expected {} and {}",
                self.rows,
                dense.len(),
                active.len(),
                self.dense_width,
                self.groups
            )));
        }
        for (j, &v) in dense.iter().enumerate() {
            if !v.is_finite() || !(v as f32).is_finite() {
                return Err(TrainError::NonFinite {
                    row: self.rows,
                    name: self.names[j].clone(),
                });
            }
        }
        for k in active.iter().flatten() {
            if *k < self.dense_width || *k >= self.names.len() {
                return Err(TrainError::Shape(format!(
                    "row {}: one-hot column {k} is outside {}..{}",
                    self.rows,
                    self.dense_width,
                    self.names.len()
                )));
            }
        }
        self.dense.extend(dense.iter().map(|&v| v as f32));
        self.onehot
            .extend(active.iter().map(|k| k.map_or(NONE, |k| k as u32)));
        self.rows += 1;
        Ok(())
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns, dense and one-hot.
    pub fn cols(&self) -> usize {
        self.names.len()
    }

    /// Number of dense (numeric) columns; they come first.
    pub fn dense_width(&self) -> usize {
        self.dense_width
    }

    /// Number of one-hot groups.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// Column names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// One row, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<Row<'_>> {
        (i < self.rows).then(|| self.row_unchecked(i))
    }

    fn row_unchecked(&self, i: usize) -> Row<'_> {
        Row {
            dense: &self.dense[i * self.dense_width..(i + 1) * self.dense_width],
            active: &self.onehot[i * self.groups..(i + 1) * self.groups],
        }
    }

    /// A new matrix of the given rows (indices past the end are ignored).
    pub fn select_rows(&self, rows: &[usize]) -> FeatureMatrix {
        let mut out = FeatureMatrix {
            names: self.names.clone(),
            rows: 0,
            dense_width: self.dense_width,
            dense: Vec::new(),
            groups: self.groups,
            onehot: Vec::new(),
        };
        out.reserve(rows.len());
        for &i in rows.iter().filter(|&&i| i < self.rows) {
            let row = self.row_unchecked(i);
            out.dense.extend_from_slice(row.dense);
            out.onehot.extend_from_slice(row.active);
            out.rows += 1;
        }
        out
    }

    /// One row as a full vector of column values (one-hot columns 0 or 1), or `None` past the end.
    pub fn dense_row(&self, i: usize) -> Option<Vec<f64>> {
        let row = self.row(i)?;
        let mut out = vec![0.0; self.cols()];
        for (o, &v) in out.iter_mut().zip(row.dense) {
            *o = f64::from(v);
        }
        for k in row.active_columns() {
            out[k] = 1.0;
        }
        Some(out)
    }
}

/// Which solver to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// Newton up to [`NEWTON_MAX_FEATURES`] features, L-BFGS above.
    #[default]
    Auto,
    /// Newton's method with a Cholesky solve.
    Newton,
    /// Limited-memory BFGS.
    Lbfgs,
}

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Strength of the pull towards the prior (0 = none); the penalty is `lambda / 2 * ||w - w_prior||^2`
    /// on weights per standard deviation of their (dense) feature.
    pub lambda: f64,
    /// Prior weights in the units of the features given, one per column; `None` means zero.
    pub prior: Option<Vec<f64>>,
    /// Stop when the largest gradient component divided by the number of rows is below this.
    pub tolerance: f64,
    /// Most iterations before giving up with [`TrainError::NotConverged`].
    pub max_iterations: usize,
    /// Fewest examples of each class accepted.
    pub min_per_class: usize,
    /// The solver.
    pub solver: Solver,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            lambda: 1.0,
            prior: None,
            tolerance: 1e-5,
            max_iterations: 500,
            min_per_class: MIN_PER_CLASS,
            solver: Solver::Auto,
        }
    }
}

/// How a fit went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// The solver that ran (`newton` or `lbfgs`).
    pub solver: Solver,
    /// Iterations run.
    pub iterations: usize,
    /// Full passes over the data (function and gradient evaluations).
    pub passes: usize,
    /// Rows used for each Hessian (Newton only; 0 for L-BFGS).
    pub hessian_rows: usize,
    /// Largest gradient component per row at the end.
    pub gradient: f64,
    /// Rows of the subsample the solver was warm-started on (0 = none).
    pub warm_start_rows: usize,
    /// Final value of the objective divided by the number of rows.
    pub objective: f64,
}

/// A trained logistic model: `p = 1 / (1 + exp(-(intercept + sum_j weights_j * x_j)))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    /// Feature names, in column order.
    pub features: Vec<String>,
    /// One weight per feature, in the units of the features given.
    pub weights: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
    /// Weight of each dense feature per standard deviation of it (one-hot weights as they are);
    /// comparable across features.
    pub standardized_weights: Vec<f64>,
    /// The `lambda` it was trained with.
    pub lambda: f64,
    /// How the fit went.
    pub fit: FitReport,
}

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl LogisticModel {
    /// The log-odds of a full row of feature values (missing trailing values count as 0).
    pub fn logit(&self, x: &[f64]) -> f64 {
        self.intercept + self.weights.iter().zip(x).map(|(w, x)| w * x).sum::<f64>()
    }

    /// The predicted probability of a full row of feature values.
    pub fn probability(&self, x: &[f64]) -> f64 {
        sigmoid(self.logit(x))
    }

    /// Each feature's contribution `w_j * x_j` to the log-odds; with the intercept they add
    /// up to [`LogisticModel::logit`].
    pub fn contributions(&self, x: &[f64]) -> Vec<f64> {
        self.weights.iter().zip(x).map(|(w, x)| w * x).collect()
    }

    /// The log-odds of row `i` of a matrix (`None` past its end).
    pub fn logit_row(&self, m: &FeatureMatrix, i: usize) -> Option<f64> {
        let row = m.row(i)?;
        let w = |j: usize| self.weights.get(j).copied().unwrap_or(0.0);
        let mut z = self.intercept;
        for (j, &x) in row.dense.iter().enumerate() {
            z += w(j) * f64::from(x);
        }
        for k in row.active_columns() {
            z += w(k);
        }
        Some(z)
    }

    /// Predicted probabilities of every row of a matrix.
    pub fn predict(&self, m: &FeatureMatrix) -> Vec<f64> {
        (0..m.rows())
            .map(|i| sigmoid(self.logit_row(m, i).unwrap_or(0.0)))
            .collect()
    }

    /// Non-zero contributions `(column, w_j * x_j)` of row `i`; with the intercept they add up
    /// to its log-odds. Empty past the end.
    pub fn contributions_row(&self, m: &FeatureMatrix, i: usize) -> Vec<(usize, f64)> {
        let Some(row) = m.row(i) else {
            return Vec::new();
        };
        let w = |j: usize| self.weights.get(j).copied().unwrap_or(0.0);
        let mut out: Vec<(usize, f64)> = row
            .dense
            .iter()
            .enumerate()
            .map(|(j, &x)| (j, w(j) * f64::from(x)))
            .filter(|&(_, c)| c != 0.0)
            .collect();
        out.extend(
            row.active_columns()
                .map(|k| (k, w(k)))
                .filter(|&(_, c)| c != 0.0),
        );
        out
    }
}

/// Trains a logistic model on `x` with labels `y` (true = positive).
pub fn train(
    x: &FeatureMatrix,
    y: &[bool],
    options: &TrainOptions,
) -> Result<LogisticModel, TrainError> {
    if x.rows() != y.len() {
        return Err(TrainError::LengthMismatch {
            rows: x.rows(),
            labels: y.len(),
        });
    }
    if !(options.lambda.is_finite() && options.lambda >= 0.0) {
        return Err(TrainError::InvalidOption(format!(
            "lambda must be a finite number >= 0, got {}",
            options.lambda
        )));
    }
    if !(options.tolerance.is_finite() && options.tolerance > 0.0) {
        return Err(TrainError::InvalidOption(format!(
            "tolerance must be a finite number > 0, got {}",
            options.tolerance
        )));
    }
    let p = x.cols();
    if let Some(prior) = &options.prior {
        if prior.len() != p {
            return Err(TrainError::Shape(format!(
                "the prior has {} weights but there are {p} features",
                prior.len()
            )));
        }
        if let Some(j) = prior.iter().position(|w| !w.is_finite()) {
            return Err(TrainError::InvalidOption(format!(
                "prior weight of `{}` is not a finite number",
                x.names()[j]
            )));
        }
    }
    let positives = y.iter().filter(|&&v| v).count();
    let negatives = y.len() - positives;
    let min = options.min_per_class.max(1);
    if positives < min || negatives < min {
        return Err(TrainError::NotEnoughData {
            positives,
            negatives,
            min,
        });
    }

    let solver = match options.solver {
        Solver::Auto if p <= NEWTON_MAX_FEATURES => Solver::Newton,
        Solver::Auto => Solver::Lbfgs,
        s => s,
    };
    let mut problem = Problem::new(x, y, options);
    let mut theta = problem.start(positives, negatives);
    let solve =
        |problem: &mut Problem<'_>, theta: &mut Vec<f64>, options: &TrainOptions| match solver {
            Solver::Lbfgs => problem.lbfgs(theta, options),
            _ => problem.newton(theta, options),
        };
    // On large data, first solve on an evenly spaced subsample (same standardisation, penalty
    // scaled to its size): its optimum is within sampling error of the full one, so the full
    // solve then needs only the last few iterations.
    let mut warm_start_rows = 0;
    let n = x.rows();
    if n >= WARM_START_MIN_ROWS {
        let m = (n / WARM_START_FRACTION).max(WARM_START_MIN_ROWS / WARM_START_FRACTION);
        let rows: Vec<usize> = (0..m).map(|s| s * n / m).collect();
        let sub_x = x.select_rows(&rows);
        let sub_y: Vec<bool> = rows.iter().map(|&r| y[r]).collect();
        let mut sub = problem.on(&sub_x, &sub_y, options.lambda * m as f64 / n as f64);
        let mut sub_theta = theta.clone();
        let loose = TrainOptions {
            tolerance: options.tolerance.max(5e-4),
            ..options.clone()
        };
        if solve(&mut sub, &mut sub_theta, &loose).is_ok() {
            theta = sub_theta;
            warm_start_rows = m;
        }
    }
    let (iterations, gradient, objective) = solve(&mut problem, &mut theta, options)?;
    let mut model = problem.into_model(
        &theta,
        options.lambda,
        solver,
        iterations,
        gradient,
        objective,
    );
    model.fit.warm_start_rows = warm_start_rows;
    Ok(model)
}

/// The optimisation problem in standardised coordinates: `theta[0]` is the intercept,
/// `theta[1 + j]` the weight of column `j` (per standard deviation for dense columns).
struct Problem<'a> {
    x: &'a FeatureMatrix,
    y: &'a [bool],
    lambda: f64,
    mean: Vec<f64>,
    sd: Vec<f64>,
    inv_sd: Vec<f64>,
    /// Prior in standardised coordinates, one per column.
    prior: Vec<f64>,
    passes: usize,
    hessian_rows: usize,
    /// Multiply-adds one Hessian may spend before it subsamples rows.
    hessian_budget: usize,
    /// Scratch: effective raw weights of the dense columns.
    a: Vec<f64>,
    /// Scratch: raw gradient sums of the dense columns.
    gdense: Vec<f64>,
}

impl<'a> Problem<'a> {
    fn new(x: &'a FeatureMatrix, y: &'a [bool], options: &TrainOptions) -> Self {
        let d = x.dense_width();
        let n = x.rows();
        // One pass of sums shifted by the first row (keeps the variance accurate when the
        // mean is large against the spread).
        let shift: Vec<f64> = match x.row(0) {
            Some(row) => row.dense.iter().map(|&v| f64::from(v)).collect(),
            None => vec![0.0; d],
        };
        let mut s1 = vec![0.0; d];
        let mut s2 = vec![0.0; d];
        for i in 0..n {
            for (((a, b), &v), k) in s1
                .iter_mut()
                .zip(s2.iter_mut())
                .zip(x.row_unchecked(i).dense)
                .zip(&shift)
            {
                let c = f64::from(v) - k;
                *a += c;
                *b += c * c;
            }
        }
        let nf = (n as f64).max(1.0);
        let mean: Vec<f64> = s1.iter().zip(&shift).map(|(a, k)| k + a / nf).collect();
        let sd: Vec<f64> = s1
            .iter()
            .zip(&s2)
            .zip(&mean)
            .map(|((a, b), m)| {
                let var = ((b - a * a / nf) / nf).max(0.0);
                let sd = var.sqrt();
                if sd > 1e-12 * m.abs().max(1.0) {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        let inv_sd = sd.iter().map(|s| 1.0 / s).collect();
        let prior = match &options.prior {
            Some(w) => w
                .iter()
                .enumerate()
                .map(|(j, &w)| if j < d { w * sd[j] } else { w })
                .collect(),
            None => vec![0.0; x.cols()],
        };
        Problem {
            x,
            y,
            lambda: options.lambda,
            mean,
            sd,
            inv_sd,
            prior,
            passes: 0,
            hessian_rows: 0,
            hessian_budget: HESSIAN_BUDGET,
            a: vec![0.0; d],
            gdense: vec![0.0; d],
        }
    }

    /// The same problem (standardisation, prior) on other rows with another penalty.
    fn on<'b>(&self, x: &'b FeatureMatrix, y: &'b [bool], lambda: f64) -> Problem<'b> {
        Problem {
            x,
            y,
            lambda,
            mean: self.mean.clone(),
            sd: self.sd.clone(),
            inv_sd: self.inv_sd.clone(),
            prior: self.prior.clone(),
            passes: 0,
            hessian_rows: 0,
            hessian_budget: HESSIAN_BUDGET / 8,
            a: self.a.clone(),
            gdense: self.gdense.clone(),
        }
    }

    fn start(&self, positives: usize, negatives: usize) -> Vec<f64> {
        let mut theta = Vec::with_capacity(1 + self.prior.len());
        theta.push((positives as f64 / negatives as f64).ln());
        theta.extend_from_slice(&self.prior);
        theta
    }

    /// Objective and its gradient at `theta`, one pass over all rows.
    fn eval(&mut self, theta: &[f64], grad: &mut [f64]) -> f64 {
        self.passes += 1;
        let x = self.x;
        let d = x.dense_width();
        let g = x.groups();
        let mut c = theta[0];
        for j in 0..d {
            self.a[j] = theta[1 + j] * self.inv_sd[j];
            c -= self.a[j] * self.mean[j];
        }
        grad.iter_mut().for_each(|v| *v = 0.0);
        self.gdense.iter_mut().for_each(|v| *v = 0.0);
        // sum_i ln(1 + e_i) is taken as the log of blockwise products (each factor is in
        // (1, 2], so 512 of them stay far below f64::MAX): one logarithm per block, not per row.
        let mut loss = 0.0;
        let mut product = 1.0f64;
        let mut rsum = 0.0;
        let a = &self.a;
        let gdense = &mut self.gdense;
        let n = self.y.len();
        // Rows go in pairs so the loads of `a` and of the gradient are shared and the two
        // rows' arithmetic can overlap; an odd last row goes alone.
        let mut i = 0;
        while i < n {
            let pair = i + 1 < n;
            let x1 = &x.dense[i * d..(i + 1) * d];
            let x2 = if pair {
                &x.dense[(i + 1) * d..(i + 2) * d]
            } else {
                x1
            };
            let (d1, d2) = dot2(a, x1, x2);
            let mut r = [0.0f64; 2];
            for (slot, (row, dz)) in [(i, d1), (i + 1, d2)].into_iter().enumerate() {
                if slot == 1 && !pair {
                    break;
                }
                let active = &x.onehot[row * g..(row + 1) * g];
                let mut z = c + dz;
                for &k in active {
                    if k != NONE {
                        z += theta[1 + k as usize];
                    }
                }
                let yi = self.y[row];
                let e = (-z.abs()).exp();
                product *= 1.0 + e;
                if row % 512 == 511 {
                    loss += product.ln();
                    product = 1.0;
                }
                loss += z.max(0.0) - if yi { z } else { 0.0 };
                let prob = if z >= 0.0 {
                    1.0 / (1.0 + e)
                } else {
                    e / (1.0 + e)
                };
                r[slot] = prob - if yi { 1.0 } else { 0.0 };
                rsum += r[slot];
                for &k in active {
                    if k != NONE {
                        grad[1 + k as usize] += r[slot];
                    }
                }
            }
            axpy2(gdense, r[0], x1, r[1], x2);
            i += 2;
        }
        loss += product.ln();
        grad[0] = rsum;
        for j in 0..d {
            grad[1 + j] = (self.gdense[j] - self.mean[j] * rsum) * self.inv_sd[j];
        }
        let mut penalty = 0.0;
        for (j, prior) in self.prior.iter().enumerate() {
            let diff = theta[1 + j] - prior;
            penalty += diff * diff;
            grad[1 + j] += self.lambda * diff;
        }
        loss + 0.5 * self.lambda * penalty
    }

    /// Hessian of the data term in standardised coordinates (upper triangle filled, then
    /// mirrored), from every row or an evenly spaced subsample scaled up to all rows.
    fn hessian(&mut self, theta: &[f64], h: &mut [f64]) {
        const BLOCK: usize = 64;
        let x = self.x;
        let n = x.rows();
        let d = x.dense_width();
        let g = x.groups();
        let dim = theta.len();
        let k = 1 + d + g;
        let m = if n.saturating_mul(k * k) <= self.hessian_budget {
            n
        } else {
            (self.hessian_budget / (k * k)).max(HESSIAN_MIN_ROWS).min(n)
        };
        self.hessian_rows = m;
        h.iter_mut().for_each(|v| *v = 0.0);
        let kd = 1 + d;
        let mut v = vec![0.0; kd];
        v[0] = 1.0;
        let mut act: Vec<usize> = Vec::with_capacity(g);
        // The intercept-and-dense block is accumulated as V^T V over blocks of rows stored
        // column by column (sqrt(w) v per row), so the inner loops are contiguous dot products.
        // They run in f32 within a block (the Hessian only steers the steps; the gradient,
        // which decides convergence, is exact) and are summed into f64.
        let mut block = vec![0.0f32; kd * BLOCK];
        let mut filled = 0;
        for s in 0..m {
            let i = if m == n { s } else { s * n / m };
            let row = x.row_unchecked(i);
            for j in 0..d {
                v[1 + j] = (f64::from(row.dense[j]) - self.mean[j]) * self.inv_sd[j];
            }
            act.clear();
            act.extend(row.active_columns().map(|k| 1 + k));
            let mut z = dot64(&theta[..kd], &v);
            for &k in &act {
                z += theta[k];
            }
            let p = sigmoid(z);
            let w = p * (1.0 - p);
            if w == 0.0 {
                continue;
            }
            let sw = w.sqrt();
            for (a, va) in v.iter().enumerate() {
                block[a * BLOCK + filled] = (sw * va) as f32;
            }
            filled += 1;
            if filled == BLOCK {
                flush_block(&block, BLOCK, filled, kd, h, dim);
                filled = 0;
            }
            for &k in &act {
                for (a, va) in v.iter().enumerate() {
                    h[a * dim + k] += w * va;
                }
            }
            for (ia, &ka) in act.iter().enumerate() {
                for &kb in &act[ia..] {
                    let (lo, hi) = if ka <= kb { (ka, kb) } else { (kb, ka) };
                    h[lo * dim + hi] += w;
                }
            }
        }
        flush_block(&block, BLOCK, filled, kd, h, dim);
        let scale = n as f64 / m as f64;
        for a in 0..dim {
            for b in a..dim {
                let v = h[a * dim + b] * scale;
                h[a * dim + b] = v;
                h[b * dim + a] = v;
            }
        }
    }

    fn newton(
        &mut self,
        theta: &mut Vec<f64>,
        options: &TrainOptions,
    ) -> Result<(usize, f64, f64), TrainError> {
        let dim = theta.len();
        let n = self.x.rows() as f64;
        let tol = options.tolerance * n;
        let mut grad = vec![0.0; dim];
        let mut f = self.eval(theta, &mut grad);
        let mut h = vec![0.0; dim * dim];
        let mut factor: Option<Vec<f64>> = None;
        let mut delta = vec![0.0; dim];
        let mut trial = vec![0.0; dim];
        let mut trial_grad = vec![0.0; dim];
        let mut iterations = 0;
        let mut previous_gnorm = f64::INFINITY;
        let mut full_step = false;
        loop {
            let gnorm = inf_norm(&grad);
            if gnorm <= tol {
                return Ok((iterations, gnorm / n, f / n));
            }
            if iterations >= options.max_iterations {
                return Err(not_converged(iterations, gnorm / n, options.tolerance));
            }
            iterations += 1;
            // A Hessian is reused while the last step was taken whole and cut the gradient at
            // least fourfold (near the optimum it barely changes); otherwise it is recomputed.
            let reuse = full_step && gnorm <= 0.25 * previous_gnorm;
            if !reuse || factor.is_none() {
                self.hessian(theta, &mut h);
                for j in 1..dim {
                    h[j * dim + j] += self.lambda;
                }
                factor = cholesky_with_ridge(&h, dim);
            }
            for (dj, gj) in delta.iter_mut().zip(&grad) {
                *dj = -gj;
            }
            match &factor {
                Some(l) => cholesky_solve(l, dim, &mut delta),
                None => delta.iter_mut().for_each(|v| *v = f64::NAN),
            }
            let slope = dot64(&grad, &delta);
            let (slope, use_gradient) = if slope < 0.0 && slope.is_finite() {
                (slope, false)
            } else {
                // The factorisation failed numerically: fall back to a gradient step.
                let scale = 1.0 / (0.25 * n + self.lambda);
                for (dj, gj) in delta.iter_mut().zip(&grad) {
                    *dj = -gj * scale;
                }
                (-dot64(&grad, &grad) * scale, true)
            };
            let mut step = 1.0;
            let mut accepted = false;
            for _ in 0..60 {
                for ((t, th), dl) in trial.iter_mut().zip(theta.iter()).zip(&delta) {
                    *t = th + step * dl;
                }
                let f_new = self.eval(&trial, &mut trial_grad);
                let armijo = f_new <= f + 1e-4 * step * slope;
                let noise = f_new <= f + 1e-12 * f.abs() && inf_norm(&trial_grad) < gnorm;
                if f_new.is_finite() && (armijo || noise) {
                    accepted = true;
                    f = f_new;
                    break;
                }
                step *= 0.5;
            }
            if !accepted {
                // No decrease is measurable any more: the point is as good as f64 allows.
                if gnorm <= 1e3 * tol || use_gradient {
                    return Ok((iterations, gnorm / n, f / n));
                }
                return Err(not_converged(iterations, gnorm / n, options.tolerance));
            }
            full_step = step == 1.0 && !use_gradient;
            previous_gnorm = gnorm;
            std::mem::swap(theta, &mut trial);
            std::mem::swap(&mut grad, &mut trial_grad);
        }
    }

    fn lbfgs(
        &mut self,
        theta: &mut Vec<f64>,
        options: &TrainOptions,
    ) -> Result<(usize, f64, f64), TrainError> {
        const MEMORY: usize = 10;
        let dim = theta.len();
        let n = self.x.rows() as f64;
        let tol = options.tolerance * n;
        let mut grad = vec![0.0; dim];
        let mut f = self.eval(theta, &mut grad);
        let mut s_hist: Vec<Vec<f64>> = Vec::with_capacity(MEMORY);
        let mut y_hist: Vec<Vec<f64>> = Vec::with_capacity(MEMORY);
        let mut rho: Vec<f64> = Vec::with_capacity(MEMORY);
        let mut alpha = [0.0; MEMORY];
        let mut dir = vec![0.0; dim];
        let mut trial = vec![0.0; dim];
        let mut trial_grad = vec![0.0; dim];
        let mut iterations = 0;
        let mut gamma = 1.0 / (0.25 * n + self.lambda);
        loop {
            let gnorm = inf_norm(&grad);
            if gnorm <= tol {
                return Ok((iterations, gnorm / n, f / n));
            }
            if iterations >= options.max_iterations {
                return Err(not_converged(iterations, gnorm / n, options.tolerance));
            }
            iterations += 1;
            // Two-loop recursion: dir = -H * grad.
            for (d, g) in dir.iter_mut().zip(&grad) {
                *d = -g;
            }
            for k in (0..s_hist.len()).rev() {
                alpha[k] = rho[k] * dot64(&s_hist[k], &dir);
                for (d, yk) in dir.iter_mut().zip(&y_hist[k]) {
                    *d -= alpha[k] * yk;
                }
            }
            for d in dir.iter_mut() {
                *d *= gamma;
            }
            for k in 0..s_hist.len() {
                let beta = rho[k] * dot64(&y_hist[k], &dir);
                for (d, sk) in dir.iter_mut().zip(&s_hist[k]) {
                    *d += (alpha[k] - beta) * sk;
                }
            }
            let mut slope = dot64(&grad, &dir);
            if !(slope < 0.0 && slope.is_finite()) {
                // Lost descent: restart from a scaled gradient step.
                s_hist.clear();
                y_hist.clear();
                rho.clear();
                gamma = 1.0 / (0.25 * n + self.lambda);
                for (d, g) in dir.iter_mut().zip(&grad) {
                    *d = -g * gamma;
                }
                slope = dot64(&grad, &dir);
            }
            let mut step = 1.0;
            let mut accepted = false;
            for _ in 0..60 {
                for ((t, th), dl) in trial.iter_mut().zip(theta.iter()).zip(&dir) {
                    *t = th + step * dl;
                }
                let f_new = self.eval(&trial, &mut trial_grad);
                let armijo = f_new <= f + 1e-4 * step * slope;
                let noise = f_new <= f + 1e-12 * f.abs() && inf_norm(&trial_grad) < gnorm;
                if f_new.is_finite() && (armijo || noise) {
                    accepted = true;
                    f = f_new;
                    break;
                }
                step *= 0.5;
            }
            if !accepted {
                if gnorm <= 1e3 * tol {
                    return Ok((iterations, gnorm / n, f / n));
                }
                return Err(not_converged(iterations, gnorm / n, options.tolerance));
            }
            let s: Vec<f64> = trial.iter().zip(theta.iter()).map(|(a, b)| a - b).collect();
            let yv: Vec<f64> = trial_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
            let sy = dot64(&s, &yv);
            let yy = dot64(&yv, &yv);
            if sy > 1e-12 * yy.sqrt() * dot64(&s, &s).sqrt() && yy > 0.0 {
                if s_hist.len() == MEMORY {
                    s_hist.remove(0);
                    y_hist.remove(0);
                    rho.remove(0);
                }
                gamma = sy / yy;
                s_hist.push(s);
                y_hist.push(yv);
                rho.push(1.0 / sy);
            }
            std::mem::swap(theta, &mut trial);
            std::mem::swap(&mut grad, &mut trial_grad);
        }
    }

    fn into_model(
        self,
        theta: &[f64],
        lambda: f64,
        solver: Solver,
        iterations: usize,
        gradient: f64,
        objective: f64,
    ) -> LogisticModel {
        let d = self.x.dense_width();
        let mut weights = theta[1..].to_vec();
        let mut intercept = theta[0];
        for j in 0..d {
            weights[j] = theta[1 + j] * self.inv_sd[j];
            intercept -= weights[j] * self.mean[j];
        }
        let standardized_weights = weights
            .iter()
            .enumerate()
            .map(|(j, &w)| if j < d { w * self.sd[j] } else { w })
            .collect();
        LogisticModel {
            features: self.x.names().to_vec(),
            weights,
            intercept,
            standardized_weights,
            lambda,
            fit: FitReport {
                solver,
                iterations,
                passes: self.passes,
                hessian_rows: self.hessian_rows,
                gradient,
                warm_start_rows: 0,
                objective,
            },
        }
    }
}

fn not_converged(iterations: usize, gradient: f64, tolerance: f64) -> TrainError {
    TrainError::NotConverged {
        iterations,
        gradient,
        tolerance,
    }
}

/// Adds `V^T V` (upper triangle) of the first `filled` rows of a column-major block to `h`.
fn flush_block(block: &[f32], stride: usize, filled: usize, kd: usize, h: &mut [f64], dim: usize) {
    if filled == 0 {
        return;
    }
    for a in 0..kd {
        let ca = &block[a * stride..a * stride + filled];
        for b in a..kd {
            let cb = &block[b * stride..b * stride + filled];
            h[a * dim + b] += f64::from(dot8(ca, cb));
        }
    }
}

/// f32 dot product with eight independent accumulators (vectorisable).
#[inline]
fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut s = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            s[k] += x[k] * y[k];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + tail
}

fn inf_norm(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn dot64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `g += r1 * x1 + r2 * x2`.
#[inline]
fn axpy2(g: &mut [f64], r1: f64, x1: &[f32], r2: f64, x2: &[f32]) {
    for ((g, &v1), &v2) in g.iter_mut().zip(x1).zip(x2) {
        *g += r1 * f64::from(v1) + r2 * f64::from(v2);
    }
}

/// `(a . x1, a . x2)`, each with four independent accumulators.
#[inline]
fn dot2(a: &[f64], x1: &[f32], x2: &[f32]) -> (f64, f64) {
    let mut s1 = [0.0f64; 4];
    let mut s2 = [0.0f64; 4];
    let ca = a.chunks_exact(4);
    let c1 = x1.chunks_exact(4);
    let c2 = x2.chunks_exact(4);
    let (ra, r1, r2) = (ca.remainder(), c1.remainder(), c2.remainder());
    for ((w, u), v) in ca.zip(c1).zip(c2) {
        for k in 0..4 {
            s1[k] += w[k] * f64::from(u[k]);
            s2[k] += w[k] * f64::from(v[k]);
        }
    }
    let mut t1 = (s1[0] + s1[1]) + (s1[2] + s1[3]);
    let mut t2 = (s2[0] + s2[1]) + (s2[2] + s2[3]);
    for ((w, u), v) in ra.iter().zip(r1).zip(r2) {
        t1 += w * f64::from(*u);
        t2 += w * f64::from(*v);
    }
    (t1, t2)
}

/// Cholesky factor (lower triangle, row-major) of a symmetric positive definite `dim x dim`
/// matrix, adding a growing ridge to the diagonal if the factorisation breaks down; `None`
/// if even that fails.
fn cholesky_with_ridge(a: &[f64], dim: usize) -> Option<Vec<f64>> {
    let trace = (0..dim).map(|j| a[j * dim + j].abs()).sum::<f64>() / dim.max(1) as f64;
    let mut l = a.to_vec();
    let mut ridge = 0.0;
    for _ in 0..12 {
        l.copy_from_slice(a);
        for j in 0..dim {
            l[j * dim + j] += ridge;
        }
        if cholesky(&mut l, dim) {
            return Some(l);
        }
        ridge = if ridge == 0.0 {
            1e-10 * trace.max(1e-300)
        } else {
            ridge * 100.0
        };
    }
    None
}

/// Solves `L L^T x = b` in place, `L` from [`cholesky_with_ridge`].
fn cholesky_solve(l: &[f64], dim: usize, b: &mut [f64]) {
    for i in 0..dim {
        let s = b[i] - dot64(&l[i * dim..i * dim + i], &b[..i]);
        b[i] = s / l[i * dim + i];
    }
    for i in (0..dim).rev() {
        let mut s = b[i];
        for k in i + 1..dim {
            s -= l[k * dim + i] * b[k];
        }
        b[i] = s / l[i * dim + i];
    }
}

/// In-place Cholesky factorisation `A = L L^T` into the lower triangle; false if not positive definite.
fn cholesky(a: &mut [f64], dim: usize) -> bool {
    for j in 0..dim {
        let (top, bottom) = a.split_at_mut((j + 1) * dim);
        let row_j = &mut top[j * dim..];
        let diag = row_j[j] - row_j[..j].iter().map(|v| v * v).sum::<f64>();
        if diag.is_nan() || diag <= 0.0 {
            return false;
        }
        let diag = diag.sqrt();
        row_j[j] = diag;
        let row_j: &[f64] = row_j;
        for row_i in bottom.chunks_exact_mut(dim) {
            let s = row_i[j] - dot64(&row_i[..j], &row_j[..j]);
            row_i[j] = s / diag;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        // A = [[4, 2], [2, 3]], b = [2, 1] -> x = [0.5, 0].
        let a = vec![4.0, 2.0, 2.0, 3.0];
        let mut b = vec![2.0, 1.0];
        let l = cholesky_with_ridge(&a, 2).unwrap();
        cholesky_solve(&l, 2, &mut b);
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12, "{b:?}");
    }

    #[test]
    fn dot_handles_remainders() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let x = [1.0f32, 1.0, 1.0, 1.0, 2.0, 2.0];
        let y = [0.0f32, 1.0, 0.0, 0.0, 0.0, 1.0];
        assert_eq!(dot2(&a, &x, &y), (32.0, 8.0));
    }

    #[test]
    fn sigmoid_is_stable_at_the_extremes() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-15);
    }
}
