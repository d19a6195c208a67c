//! Metrics against hand-computed values.

use leadq_scoring::Band;
use leadq_scoring::metrics::{
    MetricsError, band_distribution, brier_score, calibration, confusion, deciles, log_loss,
    mean_sd, roc_auc,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn auc_of_four_examples() {
    // Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered right.
    let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
    assert!(close(auc, 0.75), "{auc}");
}

#[test]
fn auc_counts_ties_as_half() {
    // Positive 0.5 ties both negatives (2 x 0.5), positive 0.9 beats both (2): 3 / 4.
    let auc = roc_auc(&[0.5, 0.5, 0.5, 0.9], &[false, true, false, true]).unwrap();
    assert!(close(auc, 0.75), "{auc}");
    let all_tied = roc_auc(&[1.0; 6], &[true, false, true, false, false, true]).unwrap();
    assert!(close(all_tied, 0.5));
    let perfect = roc_auc(&[0.1, 0.2, 0.3, 0.4], &[false, false, true, true]).unwrap();
    assert!(close(perfect, 1.0));
    let inverted = roc_auc(&[0.4, 0.3, 0.2, 0.1], &[false, false, true, true]).unwrap();
    assert!(close(inverted, 0.0));
}

#[test]
fn log_loss_of_known_probabilities() {
    // -(ln 0.9 + ln 0.8) / 2
    let ll = log_loss(&[0.9, 0.2], &[true, false]).unwrap();
    assert!(
        close(
            ll,
            (0.105_360_515_657_826_3 + 0.223_143_551_314_209_76) / 2.0
        ),
        "{ll}"
    );
    // A certain, wrong prediction is clipped at 1e-15: -ln(1e-15).
    let clipped = log_loss(&[0.0], &[true]).unwrap();
    assert!((clipped - 34.538_776_394_910_684).abs() < 1e-6, "{clipped}");
    assert!(matches!(
        log_loss(&[1.2], &[true]),
        Err(MetricsError::NotProbability { index: 0, .. })
    ));
}

#[test]
fn brier_of_known_probabilities() {
    // (0.1^2 + 0.2^2 + 0.6^2) / 3
    let b = brier_score(&[0.9, 0.2, 0.6], &[true, false, false]).unwrap();
    assert!(close(b, 0.41 / 3.0), "{b}");
}

#[test]
fn calibration_table_and_ece() {
    let t = calibration(&[0.05, 0.15, 0.12, 0.95], &[false, true, false, true], 10).unwrap();
    assert_eq!(t.bins.len(), 10);
    assert_eq!(t.bins[0].count, 1);
    assert_eq!(t.bins[1].count, 2);
    assert_eq!(t.bins[1].positives, 1);
    assert!(close(t.bins[1].mean_predicted, 0.135));
    assert!(close(t.bins[1].observed_rate, 0.5));
    assert_eq!(t.bins[9].count, 1);
    // 1/4 * 0.05 + 2/4 * 0.365 + 1/4 * 0.05
    assert!(close(t.ece, 0.2075), "{}", t.ece);
    // 1.0 falls in the last bin.
    let edge = calibration(&[1.0, 0.0], &[true, false], 10).unwrap();
    assert_eq!(edge.bins[9].count, 1);
    assert!(close(edge.ece, 0.0));
    assert!(calibration(&[0.5], &[true], 0).is_err());
}

#[test]
fn decile_table_and_lift() {
    // Scores 19..0, positives at 19, 18, 17 and 0: deciles of two rows each.
    let scores: Vec<f64> = (0..20).map(f64::from).collect();
    let labels: Vec<bool> = (0..20).map(|s| matches!(s, 19 | 18 | 17 | 0)).collect();
    let t = deciles(&scores, &labels).unwrap();
    assert_eq!(t.rows.len(), 10);
    assert!(t.rows.iter().all(|r| r.count == 2));
    assert!(close(t.base_rate, 0.2));
    assert!(close(t.rows[0].rate, 1.0));
    assert!(close(t.rows[1].rate, 0.5));
    assert!(close(t.rows[2].rate, 0.0));
    assert!(close(t.rows[9].rate, 0.5));
    assert_eq!((t.rows[0].min_score, t.rows[0].max_score), (18.0, 19.0));
    assert!(close(t.top_lift, 5.0));
    assert_eq!(t.top_over_bottom, Some(2.0));
    // Uneven sizes differ by at most one.
    let t = deciles(&[0.0; 23], &[true; 23]).unwrap();
    let sizes: Vec<usize> = t.rows.iter().map(|r| r.count).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 23);
    assert!(sizes.iter().all(|&s| s == 2 || s == 3));
}

#[test]
fn band_shares() {
    let d = band_distribution(&[Band::Hot, Band::Hot, Band::Cold, Band::Mql]);
    let shares: Vec<(Band, usize, f64)> = d.iter().map(|b| (b.band, b.count, b.share)).collect();
    assert_eq!(
        shares,
        vec![
            (Band::Hot, 2, 0.5),
            (Band::Warm, 0, 0.0),
            (Band::Mql, 1, 0.25),
            (Band::Cold, 1, 0.25),
            (Band::Disqualified, 0, 0.0),
        ]
    );
    assert!(band_distribution(&[]).iter().all(|b| b.share == 0.0));
}

#[test]
fn confusion_at_a_threshold() {
    let c = confusion(
        &[0.9, 0.6, 0.4, 0.2, 0.5],
        &[true, false, true, false, true],
        0.5,
    )
    .unwrap();
    assert_eq!(
        (
            c.true_positives,
            c.false_positives,
            c.true_negatives,
            c.false_negatives
        ),
        (2, 1, 1, 1)
    );
    assert!(close(c.precision(), 2.0 / 3.0));
    assert!(close(c.recall(), 2.0 / 3.0));
    assert!(close(c.accuracy(), 0.6));
}

#[test]
fn refuses_what_it_cannot_measure() {
    assert_eq!(
        roc_auc(&[0.1, 0.2], &[true]),
        Err(MetricsError::LengthMismatch {
            scores: 2,
            labels: 1
        })
    );
    assert_eq!(roc_auc(&[], &[]), Err(MetricsError::Empty));
    assert_eq!(
        roc_auc(&[0.1, 0.2], &[true, true]),
        Err(MetricsError::OneClass {
            positives: 2,
            negatives: 0
        })
    );
    assert_eq!(
        roc_auc(&[0.1, f64::NAN], &[true, false]),
        Err(MetricsError::NonFinite { index: 1 })
    );
    assert!(deciles(&[0.1, 0.2], &[false, false]).is_err());
    assert!(brier_score(&[], &[]).is_err());
}

#[test]
fn mean_and_sample_sd() {
    let (m, s) = mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
    assert!(close(m, 5.0));
    assert!(close(s, (32.0f64 / 7.0).sqrt()));
    assert_eq!(mean_sd(&[]), (0.0, 0.0));
    assert_eq!(mean_sd(&[3.0]), (3.0, 0.0));
}
