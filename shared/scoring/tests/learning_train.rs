//! The trainer: recovers known weights, respects its prior, refuses too little data.

use leadq_scoring::dataset::SplitMix64;
use leadq_scoring::train::{FeatureMatrix, Solver, TrainError, TrainOptions, sigmoid, train};

/// Features: x0 ~ N(0,1), x1 ~ 5 + 10 N(0,1), x2 ~ N(0, 0.1); labels drawn from the weights
/// (1, -1 and 0.5 per standard deviation).
const TRUE_WEIGHTS: [f64; 3] = [1.0, -0.1, 5.0];
const TRUE_INTERCEPT: f64 = 0.7;

fn generate(n: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<bool>) {
    let mut rng = SplitMix64::new(seed);
    let mut rows = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let x = vec![rng.normal(), 5.0 + 10.0 * rng.normal(), 0.1 * rng.normal()];
        let z = TRUE_INTERCEPT + x.iter().zip(TRUE_WEIGHTS).map(|(a, w)| a * w).sum::<f64>();
        labels.push(rng.next_f64() < sigmoid(z));
        rows.push(x);
    }
    (rows, labels)
}

fn names(p: usize) -> Vec<String> {
    (0..p).map(|j| format!("x{j}")).collect()
}

/// Distance in standard-deviation units (sd of x: 1, 10, 0.1).
fn distance(a: &[f64], b: &[f64]) -> f64 {
    let sd = [1.0, 10.0, 0.1];
    a.iter()
        .zip(b)
        .zip(sd)
        .map(|((x, y), s)| ((x - y) * s).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn recovers_the_weights_it_was_generated_from() {
    let (rows, labels) = generate(20_000, 7);
    let x = FeatureMatrix::from_dense(names(3), &rows).unwrap();
    let options = TrainOptions {
        lambda: 1e-3,
        ..TrainOptions::default()
    };
    let model = train(&x, &labels, &options).unwrap();
    assert!(
        distance(&model.weights, &TRUE_WEIGHTS) < 0.1,
        "weights {:?} intercept {}",
        model.weights,
        model.intercept
    );
    assert!(
        (model.intercept - TRUE_INTERCEPT).abs() < 0.1,
        "{}",
        model.intercept
    );
    assert!(model.fit.gradient <= options.tolerance);
    // Standardised weights are the raw ones times each feature's sd.
    assert!((model.standardized_weights[1] / model.weights[1] - 10.0).abs() < 0.2);
}

#[test]
fn newton_and_lbfgs_reach_the_same_optimum() {
    let (rows, labels) = generate(3_000, 11);
    let x = FeatureMatrix::from_dense(names(3), &rows).unwrap();
    let fit = |solver| {
        train(
            &x,
            &labels,
            &TrainOptions {
                solver,
                tolerance: 1e-9,
                ..TrainOptions::default()
            },
        )
        .unwrap()
    };
    let newton = fit(Solver::Newton);
    let lbfgs = fit(Solver::Lbfgs);
    assert_eq!(newton.fit.solver, Solver::Newton);
    assert_eq!(lbfgs.fit.solver, Solver::Lbfgs);
    for (a, b) in newton
        .standardized_weights
        .iter()
        .zip(&lbfgs.standardized_weights)
    {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    assert!((newton.intercept - lbfgs.intercept).abs() < 1e-4);
}

/// 30 positives and 30 negatives (the minimum) from the stream, then the first 5,000 rows.
#[test]
fn the_prior_dominates_few_outcomes_and_yields_to_many() {
    let prior = vec![-1.0, 0.1, -5.0];
    let gap = distance(&TRUE_WEIGHTS, &prior);
    let (rows, labels) = generate(20_000, 3);
    let options = TrainOptions {
        lambda: 50.0,
        prior: Some(prior.clone()),
        ..TrainOptions::default()
    };

    let (mut pos, mut neg) = (0, 0);
    let mut few_rows = Vec::new();
    let mut few_labels = Vec::new();
    for (r, &y) in rows.iter().zip(&labels) {
        let count = if y { &mut pos } else { &mut neg };
        if *count < 30 {
            *count += 1;
            few_rows.push(r.clone());
            few_labels.push(y);
        }
    }
    assert_eq!(few_rows.len(), 60);
    let x = FeatureMatrix::from_dense(names(3), &few_rows).unwrap();
    let few = train(&x, &few_labels, &options).unwrap();
    let to_prior = distance(&few.weights, &prior);
    assert!(
        to_prior < 0.3 * gap,
        "60 examples: {:?} is {to_prior:.3} from the prior (gap {gap:.3})",
        few.weights
    );

    let x = FeatureMatrix::from_dense(names(3), &rows[..5_000]).unwrap();
    let many = train(&x, &labels[..5_000], &options).unwrap();
    let to_truth = distance(&many.weights, &TRUE_WEIGHTS);
    assert!(
        to_truth < 0.15 * gap,
        "5,000 examples: {:?} is {to_truth:.3} from the truth (gap {gap:.3})",
        many.weights
    );

    // Without the prior the same few examples land far from it.
    let free = train(&x, &labels[..5_000], &TrainOptions::default()).unwrap();
    assert!(distance(&free.weights, &prior) > 0.8 * gap);
}

#[test]
fn refuses_too_few_outcomes_and_says_how_many() {
    let (rows, labels) = generate(2_000, 5);
    // Keep 29 positives and every negative.
    let mut kept_rows = Vec::new();
    let mut kept_labels = Vec::new();
    let mut pos = 0;
    for (r, &y) in rows.iter().zip(&labels) {
        if y {
            if pos == 29 {
                continue;
            }
            pos += 1;
        }
        kept_rows.push(r.clone());
        kept_labels.push(y);
    }
    let negatives = kept_labels.iter().filter(|&&y| !y).count();
    let x = FeatureMatrix::from_dense(names(3), &kept_rows).unwrap();
    let err = train(&x, &kept_labels, &TrainOptions::default()).unwrap_err();
    assert_eq!(
        err,
        TrainError::NotEnoughData {
            positives: 29,
            negatives,
            min: 30
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("29 positive") && message.contains(&format!("{negatives} negative")),
        "{message}"
    );
    // No rows at all is the same refusal, not a panic.
    let empty = FeatureMatrix::from_dense(names(3), &[]).unwrap();
    assert!(matches!(
        train(&empty, &[], &TrainOptions::default()),
        Err(TrainError::NotEnoughData { .. })
    ));
}

#[test]
fn refuses_bad_input_without_panicking() {
    let (rows, labels) = generate(200, 9);
    assert!(matches!(
        FeatureMatrix::from_dense(names(3), &[vec![1.0, f64::NAN, 0.0]]),
        Err(TrainError::NonFinite { row: 0, .. })
    ));
    assert!(FeatureMatrix::from_dense(names(3), &[vec![1.0, 1e300, 0.0]]).is_err());
    assert!(FeatureMatrix::from_dense(names(3), &[vec![1.0]]).is_err());
    let x = FeatureMatrix::from_dense(names(3), &rows).unwrap();
    assert!(matches!(
        train(&x, &labels[1..], &TrainOptions::default()),
        Err(TrainError::LengthMismatch { .. })
    ));
    let bad = |o: TrainOptions| train(&x, &labels, &o).is_err();
    assert!(bad(TrainOptions {
        lambda: -1.0,
        ..TrainOptions::default()
    }));
    assert!(bad(TrainOptions {
        lambda: f64::NAN,
        ..TrainOptions::default()
    }));
    assert!(bad(TrainOptions {
        tolerance: 0.0,
        ..TrainOptions::default()
    }));
    assert!(bad(TrainOptions {
        prior: Some(vec![0.0; 2]),
        ..TrainOptions::default()
    }));
    assert!(bad(TrainOptions {
        prior: Some(vec![0.0, f64::INFINITY, 0.0]),
        ..TrainOptions::default()
    }));
    let mut m = FeatureMatrix::new(names(3), 1, 1).unwrap();
    assert!(
        m.push_row(&[0.0], &[Some(0)]).is_err(),
        "a one-hot index inside the dense block"
    );
    assert!(
        m.push_row(&[0.0], &[Some(3)]).is_err(),
        "a one-hot index past the end"
    );
    assert!(m.push_row(&[0.0], &[Some(2)]).is_ok());
}

#[test]
fn one_hot_storage_matches_dense_storage() {
    // x0 numeric; a three-level categorical stored once as one-hot indices, once densely.
    let mut rng = SplitMix64::new(21);
    let n = 2_000;
    let mut dense_rows = Vec::new();
    let mut labels = Vec::new();
    let names = vec!["x".to_string(), "c=a".into(), "c=b".into(), "c=c".into()];
    let mut sparse = FeatureMatrix::new(names.clone(), 1, 1).unwrap();
    for _ in 0..n {
        let x = rng.normal();
        let level = rng.below(3);
        let z = 0.8 * x + [-1.0, 0.0, 1.5][level];
        labels.push(rng.next_f64() < sigmoid(z));
        let mut row = vec![x, 0.0, 0.0, 0.0];
        row[1 + level] = 1.0;
        sparse.push_row(&[x], &[Some(1 + level)]).unwrap();
        dense_rows.push(row);
    }
    let dense = FeatureMatrix::from_dense(names, &dense_rows).unwrap();
    let options = TrainOptions {
        tolerance: 1e-10,
        ..TrainOptions::default()
    };
    let a = train(&sparse, &labels, &options).unwrap();
    let b = train(&dense, &labels, &options).unwrap();
    let lbfgs = train(
        &sparse,
        &labels,
        &TrainOptions {
            solver: Solver::Lbfgs,
            ..options.clone()
        },
    )
    .unwrap();
    for (x, y) in a.weights.iter().zip(&lbfgs.weights) {
        assert!((x - y).abs() < 1e-4, "newton {x} vs lbfgs {y}");
    }
    // Identical logits row by row (the parameterisations differ only where the penalty is flat).
    for i in 0..n {
        let la = a.logit_row(&sparse, i).unwrap();
        let lb = b.logit_row(&dense, i).unwrap();
        assert!((la - lb).abs() < 0.05, "row {i}: {la} vs {lb}");
    }
    let row0 = sparse.dense_row(0).unwrap();
    assert!(
        row0.iter()
            .zip(&dense_rows[0])
            .all(|(a, b)| (a - b).abs() < 1e-6)
    );
}

#[test]
fn contributions_add_up_to_the_logit_and_training_is_deterministic() {
    let (rows, labels) = generate(1_000, 13);
    let x = FeatureMatrix::from_dense(names(3), &rows).unwrap();
    let a = train(&x, &labels, &TrainOptions::default()).unwrap();
    let b = train(&x, &labels, &TrainOptions::default()).unwrap();
    assert_eq!(a, b);
    for (i, row) in rows.iter().enumerate().take(50) {
        let c = a.contributions(row);
        let total = a.intercept + c.iter().sum::<f64>();
        assert!((total - a.logit(row)).abs() < 1e-12);
        let from_matrix: f64 = a.contributions_row(&x, i).iter().map(|(_, c)| c).sum();
        assert!((a.intercept + from_matrix - a.logit_row(&x, i).unwrap()).abs() < 1e-9);
        assert!((a.probability(row) - a.predict(&x)[i]).abs() < 1e-6);
    }
    assert_eq!(a.logit_row(&x, 10_000), None);
}

#[test]
fn separable_data_still_converges_with_a_penalty() {
    let rows: Vec<Vec<f64>> = (0..200).map(|i| vec![f64::from(i)]).collect();
    let labels: Vec<bool> = (0..200).map(|i| i >= 100).collect();
    let x = FeatureMatrix::from_dense(names(1), &rows).unwrap();
    let model = train(&x, &labels, &TrainOptions::default()).unwrap();
    assert!(model.weights[0] > 0.0);
    assert!(model.predict(&x)[150] > 0.9);
    // A constant column is harmless: its weight stays at the prior (0).
    let rows: Vec<Vec<f64>> = rows.iter().map(|r| vec![r[0], 3.0]).collect();
    let x = FeatureMatrix::from_dense(names(2), &rows).unwrap();
    let model = train(&x, &labels, &TrainOptions::default()).unwrap();
    assert!(model.weights[1].abs() < 1e-9, "{:?}", model.weights);
}

#[test]
fn large_data_warm_starts_on_a_subsample_and_still_converges() {
    let (rows, labels) = generate(120_000, 17);
    let x = FeatureMatrix::from_dense(names(3), &rows).unwrap();
    let options = TrainOptions {
        lambda: 1.0,
        ..TrainOptions::default()
    };
    let model = train(&x, &labels, &options).unwrap();
    assert!(model.fit.warm_start_rows > 0);
    assert!(model.fit.gradient <= options.tolerance);
    assert!(
        distance(&model.weights, &TRUE_WEIGHTS) < 0.05,
        "{:?}",
        model.weights
    );
    let sub = x.select_rows(&(0..1000).collect::<Vec<_>>());
    let small = train(&sub, &labels[..1000], &options).unwrap();
    assert_eq!(small.fit.warm_start_rows, 0);
}
