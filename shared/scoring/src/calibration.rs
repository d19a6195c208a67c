//! Learning from outcomes over the model's own rules: a calibrated conversion probability
//! and per-rule contributions in log-odds.
//!
//! The features of a lead are read off its [`ScoreCard`]: each reason's composite points
//! (a rule's points when it fired, a signal's decayed total, a negative signal's penalty)
//! under the reason's rule label, and a 0/1 indicator per missing field. The hand-written
//! rules are the prior: first a two-parameter calibration `logit = a + b * composite` is
//! fitted, which is exactly the rules with every composite point worth `b` log-odds; then
//! the per-rule weights are trained with the L2 trainer pulled towards `b` (missing-data
//! indicators towards 0). With few outcomes the pull wins and the rules only get
//! calibrated; with thousands the data win and the rules are re-weighted.
//!
//! A [`Calibration`] is plain serde data (stored as JSON with a model version; check a
//! stored one with [`Calibration::validate`]) and is applied at scoring time by
//! [`Calibration::apply`].

use crate::score::ScoreCard;
use crate::train::{FeatureMatrix, TrainError, TrainOptions, sigmoid, train};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Fewest won and fewest lost outcomes needed before the rules are re-weighted.
pub const MIN_OUTCOMES_PER_CLASS: usize = crate::train::MIN_PER_CLASS;

/// Default strength of the pull towards the rules (per standard deviation of a feature).
pub const DEFAULT_PRIOR_STRENGTH: f64 = 50.0;

/// Default most features (rule labels and missing fields) a calibration keeps.
pub const DEFAULT_MAX_FEATURES: usize = 200;

/// Why a calibration could not be fitted or read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    /// Too few outcomes of one class: the hand-written rules stay as they are.
    #[error(
        "keeping the hand-written rules: {won} won and {lost} lost outcomes, \
         at least {min} of each are needed to learn from them"
    )]
    NotEnoughData {
        /// Won (positive) outcomes given.
        won: usize,
        /// Lost (negative) outcomes given.
        lost: usize,
        /// Fewest of each needed.
        min: usize,
    },
    /// The number of outcomes differs from the number of cards.
    #[error("{cards} score cards but {outcomes} outcomes")]
    LengthMismatch {
        /// Cards given.
        cards: usize,
        /// Outcomes given.
        outcomes: usize,
    },
    /// An option is out of range.
    #[error("invalid calibration option: {0}")]
    InvalidOption(String),
    /// The trainer failed.
    #[error("training failed: {0}")]
    Train(#[from] TrainError),
    /// A stored calibration is not usable (see [`Calibration::validate`]).
    #[error("stored calibration is invalid: {0}")]
    Invalid(String),
}

/// What a feature measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// A reason's composite points, under its rule label.
    Rule,
    /// 1 when the field is listed as missing data, else 0.
    Missing,
}

/// One learned weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibratedFeature {
    /// Rule label or missing field.
    pub name: String,
    /// What the feature measures.
    pub kind: FeatureKind,
    /// Log-odds per unit of the feature (per composite point for rules).
    pub weight: f64,
    /// The weight the rules alone give it (the prior it was pulled towards).
    pub prior_weight: f64,
    /// Training rows in which the feature was non-zero.
    pub support: usize,
}

/// How to fit a [`Calibration`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationOptions {
    /// Strength of the pull towards the rules (the trainer's `lambda`).
    pub prior_strength: f64,
    /// Fewest won and fewest lost outcomes needed.
    pub min_per_class: usize,
    /// Most features kept, the most frequent first.
    pub max_features: usize,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        CalibrationOptions {
            prior_strength: DEFAULT_PRIOR_STRENGTH,
            min_per_class: MIN_OUTCOMES_PER_CLASS,
            max_features: DEFAULT_MAX_FEATURES,
        }
    }
}

/// A learned calibration of the rules: turns a ScoreCard into a conversion probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Intercept of the trained model (log-odds).
    pub intercept: f64,
    /// Intercept `a` of the rules-only calibration `a + b * composite`.
    pub prior_intercept: f64,
    /// Slope `b` of the rules-only calibration: log-odds per composite point. Rules the
    /// training data never saw keep this weight.
    pub prior_slope: f64,
    /// The learned weights, sorted by kind and name.
    pub features: Vec<CalibratedFeature>,
    /// Training rows.
    pub rows: usize,
    /// Won outcomes among them.
    pub won: usize,
    /// The pull towards the rules it was trained with.
    pub prior_strength: f64,
}

/// One rule's (or missing field's) share of a lead's log-odds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// Rule label or missing field.
    pub name: String,
    /// What the feature measures.
    pub kind: FeatureKind,
    /// Log-odds it adds (negative: it lowers the probability).
    pub log_odds: f64,
}

/// Why a calibrated model gives a lead its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The intercept (log-odds of a lead with no reasons and nothing missing).
    pub intercept: f64,
    /// Every non-zero contribution, largest magnitude first; with the intercept they add up
    /// to `log_odds`.
    pub contributions: Vec<Contribution>,
    /// The lead's log-odds.
    pub log_odds: f64,
    /// The calibrated probability, `sigmoid(log_odds)`.
    pub probability: f64,
}

/// The features of one card: `(kind, name) -> value`, reasons with the same label summed.
fn card_features(card: &ScoreCard) -> BTreeMap<(FeatureKind, &str), f64> {
    let mut out = BTreeMap::new();
    for reason in &card.reasons {
        let rule: &str = reason.rule.as_ref();
        *out.entry((FeatureKind::Rule, rule)).or_insert(0.0) += reason.composite_points;
    }
    for missing in &card.missing {
        let field: &str = missing.field.as_ref();
        out.insert((FeatureKind::Missing, field), 1.0);
    }
    out
}

/// The composite as the rules compute it before rounding (the sum of the reasons).
fn composite_of(card: &ScoreCard) -> f64 {
    card.reasons.iter().map(|r| r.composite_points).sum()
}

impl Calibration {
    /// Fits a calibration from cards (as scored before the outcome) and whether each lead
    /// was won. Fewer than `min_per_class` of either class is [`CalibrationError::NotEnoughData`]:
    /// the rules stay as they are, and the error says why.
    pub fn fit(
        cards: &[ScoreCard],
        won: &[bool],
        options: &CalibrationOptions,
    ) -> Result<Calibration, CalibrationError> {
        if cards.len() != won.len() {
            return Err(CalibrationError::LengthMismatch {
                cards: cards.len(),
                outcomes: won.len(),
            });
        }
        if !(options.prior_strength.is_finite() && options.prior_strength >= 0.0) {
            return Err(CalibrationError::InvalidOption(format!(
                "prior_strength must be a finite number >= 0, got {}",
                options.prior_strength
            )));
        }
        if options.max_features == 0 {
            return Err(CalibrationError::InvalidOption(
                "max_features must be at least 1".into(),
            ));
        }
        let positives = won.iter().filter(|&&w| w).count();
        let negatives = won.len() - positives;
        let min = options.min_per_class.max(1);
        if positives < min || negatives < min {
            return Err(CalibrationError::NotEnoughData {
                won: positives,
                lost: negatives,
                min,
            });
        }

        // 1. the rules alone, calibrated: logit = a + b * composite
        let composites: Vec<Vec<f64>> = cards.iter().map(|c| vec![composite_of(c)]).collect();
        let x = FeatureMatrix::from_dense(vec!["composite".into()], &composites)?;
        let rules_only = train(
            &x,
            won,
            &TrainOptions {
                lambda: 1e-6,
                min_per_class: min,
                ..TrainOptions::default()
            },
        )?;
        let (a, b) = (rules_only.intercept, rules_only.weights[0]);

        // 2. the vocabulary: features seen in training, the most frequent first
        let rows: Vec<BTreeMap<(FeatureKind, &str), f64>> =
            cards.iter().map(card_features).collect();
        let mut support: BTreeMap<(FeatureKind, &str), usize> = BTreeMap::new();
        for row in &rows {
            for (key, value) in row {
                if *value != 0.0 {
                    *support.entry(*key).or_insert(0) += 1;
                }
            }
        }
        let mut vocabulary: Vec<((FeatureKind, &str), usize)> = support.into_iter().collect();
        vocabulary.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        vocabulary.truncate(options.max_features);
        vocabulary.sort_by(|x, y| x.0.cmp(&y.0));

        // 3. per-rule weights pulled towards the rules
        let names: Vec<String> = vocabulary
            .iter()
            .map(|((kind, name), _)| match kind {
                FeatureKind::Rule => (*name).to_string(),
                FeatureKind::Missing => format!("missing {name}"),
            })
            .collect();
        let prior: Vec<f64> = vocabulary
            .iter()
            .map(|((kind, _), _)| match kind {
                FeatureKind::Rule => b,
                FeatureKind::Missing => 0.0,
            })
            .collect();
        let dense: Vec<Vec<f64>> = rows
            .iter()
            .map(|row| {
                vocabulary
                    .iter()
                    .map(|(key, _)| row.get(key).copied().unwrap_or(0.0))
                    .collect()
            })
            .collect();
        let x = FeatureMatrix::from_dense(names, &dense)?;
        let model = train(
            &x,
            won,
            &TrainOptions {
                lambda: options.prior_strength,
                prior: Some(prior.clone()),
                min_per_class: min,
                ..TrainOptions::default()
            },
        )?;
        let features = vocabulary
            .iter()
            .zip(model.weights.iter().zip(&prior))
            .map(
                |(((kind, name), support), (&weight, &prior_weight))| CalibratedFeature {
                    name: (*name).to_string(),
                    kind: *kind,
                    weight,
                    prior_weight,
                    support: *support,
                },
            )
            .collect();
        Ok(Calibration {
            intercept: model.intercept,
            prior_intercept: a,
            prior_slope: b,
            features,
            rows: cards.len(),
            won: positives,
            prior_strength: options.prior_strength,
        })
    }

    /// Checks that every number is finite and the features are sorted by kind and name,
    /// each listed once.
    pub fn validate(&self) -> Result<(), CalibrationError> {
        let numbers = [
            ("intercept", self.intercept),
            ("prior_intercept", self.prior_intercept),
            ("prior_slope", self.prior_slope),
            ("prior_strength", self.prior_strength),
        ];
        if let Some((name, _)) = numbers.iter().find(|(_, v)| !v.is_finite()) {
            return Err(CalibrationError::Invalid(format!(
                "{name} is not a finite number"
            )));
        }
        // `weight` looks features up by binary search: they must be sorted, each once
        let mut seen = std::collections::BTreeSet::new();
        for (i, f) in self.features.iter().enumerate() {
            if !(f.weight.is_finite() && f.prior_weight.is_finite()) {
                return Err(CalibrationError::Invalid(format!(
                    "the weight of `{}` is not a finite number",
                    f.name
                )));
            }
            if !seen.insert((f.kind, f.name.as_str())) {
                return Err(CalibrationError::Invalid(format!(
                    "`{}` is listed twice",
                    f.name
                )));
            }
            if let Some(previous) = i.checked_sub(1).map(|j| &self.features[j])
                && (previous.kind, previous.name.as_str()) > (f.kind, f.name.as_str())
            {
                return Err(CalibrationError::Invalid(format!(
                    "features must be sorted by kind and name; `{}` comes after `{}`",
                    f.name, previous.name
                )));
            }
        }
        Ok(())
    }

    /// The weight of a feature: learned, or for a rule never seen in training the rules'
    /// own `prior_slope` (a missing field never seen: 0).
    pub fn weight(&self, kind: FeatureKind, name: &str) -> f64 {
        match self
            .features
            .binary_search_by(|f| (f.kind, f.name.as_str()).cmp(&(kind, name)))
        {
            Ok(i) => self.features[i].weight,
            Err(_) => match kind {
                FeatureKind::Rule => self.prior_slope,
                FeatureKind::Missing => 0.0,
            },
        }
    }

    /// Each rule's and missing field's log-odds on this card, the intercept, the total and
    /// the probability.
    pub fn explain(&self, card: &ScoreCard) -> Explanation {
        let mut contributions: Vec<Contribution> = card_features(card)
            .into_iter()
            .map(|((kind, name), value)| Contribution {
                name: name.to_string(),
                kind,
                log_odds: self.weight(kind, name) * value,
            })
            .filter(|c| c.log_odds != 0.0)
            .collect();
        contributions.sort_by(|x, y| {
            y.log_odds
                .abs()
                .total_cmp(&x.log_odds.abs())
                .then_with(|| (x.kind, &x.name).cmp(&(y.kind, &y.name)))
        });
        // the same sum `probability` takes, so both give the same bits; the contributions
        // add up to it within rounding
        let log_odds = self.log_odds(card);
        Explanation {
            intercept: self.intercept,
            contributions,
            log_odds,
            probability: sigmoid(log_odds),
        }
    }

    /// The lead's log-odds of converting. Allocates nothing: it runs on every score.
    pub fn log_odds(&self, card: &ScoreCard) -> f64 {
        let mut z = self.intercept;
        for reason in &card.reasons {
            let rule: &str = reason.rule.as_ref();
            z += self.weight(FeatureKind::Rule, rule) * reason.composite_points;
        }
        for (i, missing) in card.missing.iter().enumerate() {
            let field: &str = missing.field.as_ref();
            // a field counts once, as in the features it was trained on
            let repeated = card.missing[..i].iter().any(|m| {
                let earlier: &str = m.field.as_ref();
                earlier == field
            });
            if !repeated {
                z += self.weight(FeatureKind::Missing, field);
            }
        }
        z
    }

    /// The calibrated probability (0..=1), `None` if the numbers overflow to nonsense.
    pub fn probability(&self, card: &ScoreCard) -> Option<f64> {
        let p = sigmoid(self.log_odds(card));
        p.is_finite().then_some(p.clamp(0.0, 1.0))
    }

    /// Fills `card.probability` with the calibrated probability.
    pub fn apply(&self, card: &mut ScoreCard) {
        card.probability = self.probability(card);
    }

    /// The rules-only probability `sigmoid(a + b * composite)`: what the hand-written rules
    /// say once calibrated, before any rule is re-weighted.
    pub fn rules_probability(&self, card: &ScoreCard) -> f64 {
        sigmoid(self.prior_intercept + self.prior_slope * composite_of(card))
    }
}
