//! Training time on synthetic data drawn from known weights.
//!
//! `cargo bench -p leadq-scoring --bench train -- [ROWS] [COLS] [SOLVER]` (defaults 200000 50 auto;
//! SOLVER is auto, newton or lbfgs). Prints the fit time, iterations, data passes and the AUC
//! on the training rows. The end-to-end comparison against scikit-learn is
//! `bench/learning/compare.sh`.

use leadq_scoring::dataset::SplitMix64;
use leadq_scoring::metrics::roc_auc;
use leadq_scoring::train::{FeatureMatrix, Solver, TrainOptions, sigmoid, train};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let rows: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let cols: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(50);
    let solver = match args.get(2).map(String::as_str) {
        Some("newton") => Solver::Newton,
        Some("lbfgs") => Solver::Lbfgs,
        _ => Solver::Auto,
    };
    let mut rng = SplitMix64::new(42);
    let weights: Vec<f64> = (0..cols).map(|_| rng.normal() * 0.3).collect();
    let names = (0..cols).map(|j| format!("x{j}")).collect();
    let mut x = FeatureMatrix::new(names, cols, 0).expect("matrix");
    x.reserve(rows);
    let mut labels = Vec::with_capacity(rows);
    let mut row = vec![0.0; cols];
    for _ in 0..rows {
        for v in row.iter_mut() {
            *v = rng.normal();
        }
        let z = -0.5 + row.iter().zip(&weights).map(|(a, w)| a * w).sum::<f64>();
        labels.push(rng.next_f64() < sigmoid(z));
        x.push_row(&row, &[]).expect("row");
    }
    let options = TrainOptions {
        solver,
        ..TrainOptions::default()
    };
    let start = Instant::now();
    let model = train(&x, &labels, &options).expect("train");
    let seconds = start.elapsed().as_secs_f64();
    let auc = roc_auc(&model.predict(&x), &labels).expect("auc");
    println!(
        "train {rows} x {cols} ({:?}): {seconds:.3} s, {} iterations, {} passes, hessian rows {}, warm start rows {}, auc {auc:.4}",
        model.fit.solver,
        model.fit.iterations,
        model.fit.passes,
        model.fit.hessian_rows,
        model.fit.warm_start_rows
    );
}
