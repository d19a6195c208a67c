//! The tabular encoder and the splits.

use leadq_scoring::dataset::{
    Column, DatasetError, Encoder, EncoderOptions, Table, stratified_kfold, stratified_split,
};

fn table(names: &[&str], rows: &[Vec<&str>], missing: &[&str]) -> Table {
    Table::from_rows(names.iter().map(|s| s.to_string()).collect(), rows, missing).unwrap()
}

#[test]
fn detects_kinds_and_missing_tokens() {
    let t = table(
        &["visits", "city", "score"],
        &[
            vec!["3", "Mumbai", "1.50"],
            vec!["", "Select", "2"],
            vec![" 4 ", "", "n/a"],
            vec!["5", "Pune", "1.5"],
        ],
        &["Select"],
    );
    assert_eq!(t.rows(), 4);
    let Some(Column::Numeric(visits)) = t.column(0) else {
        panic!("visits is numeric")
    };
    assert_eq!(visits[0], 3.0);
    assert!(visits[1].is_nan());
    assert_eq!(visits[2], 4.0);
    let city = t.column(1).unwrap();
    assert!(!city.is_numeric());
    assert!(city.is_missing(1) && city.is_missing(2) && !city.is_missing(0));
    // A text value turns a numeric column categorical; numbers keep one spelling per value.
    let Some(Column::Categorical { codes, levels }) = t.column(2) else {
        panic!("score is categorical")
    };
    assert_eq!(levels, &["1.5", "2", "n/a"]);
    assert_eq!(codes[0], codes[3]);
    assert_eq!(
        Table::from_rows(vec!["a".into()], &[vec!["1", "2"]], &[] as &[&str]).unwrap_err(),
        DatasetError::RowLength {
            row: 0,
            got: 2,
            expected: 1
        }
    );
}

/// 40 training rows and 4 test rows: `level` has A x20, B x12, C x5, D x3 in training.
fn fixture() -> (Table, Vec<usize>, Vec<usize>) {
    let mut rows = Vec::new();
    for i in 0..40 {
        let level = match i {
            0..20 => "A",
            20..32 => "B",
            32..37 => "C",
            _ => "D",
        };
        let amount = if i % 10 == 0 {
            String::new()
        } else {
            (i % 7).to_string()
        };
        rows.push(vec![amount, level.to_string(), "same".to_string()]);
    }
    // Test rows: an unseen level, a missing level, an extreme amount, a missing amount.
    rows.push(vec!["1000".into(), "Z".into(), "same".into()]);
    rows.push(vec!["1".into(), "".into(), "same".into()]);
    rows.push(vec!["-1000".into(), "A".into(), "other".into()]);
    rows.push(vec!["".into(), "B".into(), "same".into()]);
    let t = Table::from_rows(
        vec!["amount".into(), "level".into(), "constant".into()],
        &rows,
        &["Select"],
    )
    .unwrap();
    (t, (0..40).collect(), (40..44).collect())
}

#[test]
fn encodes_with_imputation_indicator_and_rare_pooling() {
    let (t, train, _) = fixture();
    let enc = Encoder::fit(&t, &train, &EncoderOptions::default()).unwrap();
    assert_eq!(
        enc.feature_names(),
        &[
            "amount",
            "amount (missing)",
            "level=A",
            "level=B",
            "level=(other)"
        ]
    );
    assert_eq!(enc.dense_width(), 2);
    assert_eq!(enc.skipped.len(), 1);
    assert_eq!(enc.skipped[0].column, "constant");
    let m = enc.transform(&t, &train).unwrap();
    assert_eq!((m.rows(), m.cols(), m.groups()), (40, 5, 1));
    // Standardised over the training rows: mean 0, variance 1.
    let values: Vec<f64> = (0..40).map(|i| m.dense_row(i).unwrap()[0]).collect();
    let mean = values.iter().sum::<f64>() / 40.0;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 40.0;
    assert!(
        mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
        "{mean} {var}"
    );
    // Row 0 had no amount: indicator set, value imputed with the median.
    let row0 = m.dense_row(0).unwrap();
    assert_eq!(row0[1], 1.0);
    let row1 = m.dense_row(1).unwrap();
    assert_eq!(row1[1], 0.0);
    assert_eq!(&row0[2..], &[1.0, 0.0, 0.0]);
    // C (5) and D (3) are rarer than 10: pooled.
    assert_eq!(&m.dense_row(33).unwrap()[2..], &[0.0, 0.0, 1.0]);
    assert_eq!(&m.dense_row(39).unwrap()[2..], &[0.0, 0.0, 1.0]);
    // A lower minimum keeps them.
    let enc = Encoder::fit(
        &t,
        &train,
        &EncoderOptions {
            min_category_count: 3,
            max_categories: 100,
        },
    )
    .unwrap();
    assert_eq!(
        &enc.feature_names()[2..],
        &["level=A", "level=B", "level=C", "level=D"]
    );
    // A cap keeps the most frequent.
    let enc = Encoder::fit(
        &t,
        &train,
        &EncoderOptions {
            min_category_count: 1,
            max_categories: 2,
        },
    )
    .unwrap();
    assert_eq!(
        &enc.feature_names()[2..],
        &["level=A", "level=B", "level=(other)"]
    );
}

#[test]
fn fits_on_training_rows_only() {
    let (t, train, test) = fixture();
    let enc = Encoder::fit(&t, &train, &EncoderOptions::default()).unwrap();
    let before = enc.clone();
    let m = enc.transform(&t, &test).unwrap();
    // Transforming never changes the encoder, and test extremes do not move the scaling.
    assert_eq!(enc, before);
    let imputed_train = enc.transform(&t, &[0]).unwrap().dense_row(0).unwrap()[0];
    let imputed_test = m.dense_row(3).unwrap()[0];
    assert_eq!(
        imputed_train, imputed_test,
        "the test row's gap gets the training median"
    );
    // Unseen `Z` and a missing level (never missing in training) go to (other).
    assert_eq!(&m.dense_row(0).unwrap()[2..], &[0.0, 0.0, 1.0]);
    assert_eq!(&m.dense_row(1).unwrap()[2..], &[0.0, 0.0, 1.0]);
    assert_eq!(&m.dense_row(2).unwrap()[2..], &[1.0, 0.0, 0.0]);
    // Without an (other) column an unseen level sets nothing.
    let enc = Encoder::fit(&t, &(0..32).collect::<Vec<_>>(), &EncoderOptions::default()).unwrap();
    assert_eq!(&enc.feature_names()[2..], &["level=A", "level=B"]);
    let m = enc.transform(&t, &test).unwrap();
    assert_eq!(&m.dense_row(0).unwrap()[2..], &[0.0, 0.0]);
    // The encoder applies to another table with the same columns, by name.
    let other = table(
        &["level", "amount", "constant"],
        &[vec!["B", "3", "x"]],
        &[],
    );
    let m = Encoder::fit(&t, &train, &EncoderOptions::default())
        .unwrap()
        .transform(&other, &[0])
        .unwrap();
    assert_eq!(&m.dense_row(0).unwrap()[1..], &[0.0, 0.0, 1.0, 0.0]);
    let missing_column = table(&["level"], &[vec!["B"]], &[]);
    assert_eq!(
        Encoder::fit(&t, &train, &EncoderOptions::default())
            .unwrap()
            .transform(&missing_column, &[0])
            .unwrap_err(),
        DatasetError::UnknownColumn("amount".into())
    );
    assert!(matches!(
        enc.transform(&t, &[99]),
        Err(DatasetError::RowOutOfRange { .. })
    ));
    assert_eq!(
        Encoder::fit(&t, &[], &EncoderOptions::default()).unwrap_err(),
        DatasetError::NoRows
    );
}

#[test]
fn missing_categories_get_their_own_level_when_common() {
    let rows: Vec<Vec<&str>> = (0..30)
        .map(|i| {
            vec![if i % 3 == 0 {
                "Select"
            } else if i % 3 == 1 {
                "x"
            } else {
                "y"
            }]
        })
        .collect();
    let t = table(&["c"], &rows, &["Select"]);
    let enc = Encoder::fit(&t, &(0..30).collect::<Vec<_>>(), &EncoderOptions::default()).unwrap();
    assert_eq!(enc.feature_names(), &["c=x", "c=y", "c=(missing)"]);
}

#[test]
fn stratified_split_is_seeded_and_keeps_proportions() {
    let labels: Vec<bool> = (0..1000).map(|i| i % 4 == 0).collect();
    let (train, test) = stratified_split(&labels, 0.2, 42).unwrap();
    assert_eq!(test.len(), 200);
    assert_eq!(train.len(), 800);
    assert_eq!(test.iter().filter(|&&i| labels[i]).count(), 50);
    assert_eq!(
        stratified_split(&labels, 0.2, 42).unwrap(),
        (train.clone(), test.clone())
    );
    assert_ne!(stratified_split(&labels, 0.2, 43).unwrap().1, test);
    let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..1000).collect::<Vec<_>>());
    assert!(stratified_split(&labels, 1.0, 1).is_err());
    assert!(stratified_split(&labels, f64::NAN, 1).is_err());
    assert!(stratified_split(&[true], 0.2, 1).is_err());
}

#[test]
fn stratified_kfold_covers_every_row_once() {
    let labels: Vec<bool> = (0..103).map(|i| i % 3 == 0).collect();
    let folds = stratified_kfold(&labels, 5, 7).unwrap();
    assert_eq!(folds.len(), 5);
    let mut seen = vec![0; 103];
    for f in &folds {
        for &i in &f.validate {
            seen[i] += 1;
        }
        assert_eq!(f.train.len() + f.validate.len(), 103);
        let pos = f.validate.iter().filter(|&&i| labels[i]).count();
        assert!((6..=7).contains(&pos), "{pos} positives in a fold");
    }
    assert!(seen.iter().all(|&s| s == 1));
    assert_eq!(stratified_kfold(&labels, 5, 7).unwrap(), folds);
    assert!(stratified_kfold(&labels, 1, 7).is_err());
    assert!(stratified_kfold(&[true, false, true], 2, 7).is_err());
}

#[test]
fn imputes_the_median_of_the_training_rows() {
    // Training values 1, 2, 3, 10 and one gap: median 2.5, imputed mean 3.7.
    let t = table(
        &["v"],
        &[vec!["1"], vec!["2"], vec![""], vec!["3"], vec!["10"]],
        &[],
    );
    let enc = Encoder::fit(&t, &[0, 1, 2, 3, 4], &EncoderOptions::default()).unwrap();
    let m = enc.transform(&t, &[0, 1, 2, 3, 4]).unwrap();
    let values = [1.0, 2.0, 2.5, 3.0, 10.0];
    let mean = 3.7;
    let sd = (values.iter().map(|v: &f64| (v - mean).powi(2)).sum::<f64>() / 5.0).sqrt();
    let got = m.dense_row(2).unwrap();
    assert!((got[0] - (2.5 - mean) / sd).abs() < 1e-6, "{got:?}");
    assert_eq!(got[1], 1.0);
}
