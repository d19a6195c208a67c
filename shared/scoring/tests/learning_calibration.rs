//! The calibration of the rules: recovers known per-rule weights, stays near the rules with
//! few outcomes and follows the data with many, refuses too little data, applies
//! deterministically and explains truthfully.

use leadq_scoring::calibration::{FeatureKind, MIN_OUTCOMES_PER_CLASS};
use leadq_scoring::dataset::SplitMix64;
use leadq_scoring::train::sigmoid;
use leadq_scoring::{
    Calibration, CalibrationError, CalibrationOptions, Dimension, MissingData, Reason, ScoreCard,
};

const INDUSTRY: &str = "industry = software";
const SENIORITY: &str = "seniority = vp";
const PRICING: &str = "pricing_view";
const STUDENT: &str = "student";
const EMPLOYEES: &str = "company.employees";

/// True log-odds per composite point (per indicator for the missing field).
struct Truth {
    intercept: f64,
    industry: f64,
    seniority: f64,
    pricing: f64,
    student: f64,
    missing: f64,
}

fn reason(dimension: Dimension, rule: &str, composite_points: f64) -> Reason {
    Reason {
        dimension,
        rule: rule.into(),
        points: composite_points,
        composite_points,
        count: 0,
        decayed: 0.0,
    }
}

/// A card with the given reasons' composite points (absent when 0) and missing field.
fn card(
    id: usize,
    industry: f64,
    seniority: f64,
    pricing: f64,
    student: f64,
    missing: bool,
) -> ScoreCard {
    let mut card = ScoreCard::empty();
    card.lead_id = format!("lead-{id}");
    for (dimension, rule, points) in [
        (Dimension::Fit, INDUSTRY, industry),
        (Dimension::Stakeholder, SENIORITY, seniority),
        (Dimension::Intent, PRICING, pricing),
        (Dimension::Negative, STUDENT, student),
    ] {
        if points != 0.0 {
            card.reasons.push(reason(dimension, rule, points));
        }
    }
    if missing {
        card.missing.push(MissingData {
            field: EMPLOYEES.into(),
            best_points: 6.0,
            worst_points: 0.0,
        });
    }
    card.composite = card
        .reasons
        .iter()
        .map(|r| r.composite_points)
        .sum::<f64>()
        .clamp(0.0, 100.0)
        .round() as u8;
    card
}

/// `n` cards and outcomes drawn from `truth`.
fn generate(n: usize, seed: u64, truth: &Truth) -> (Vec<ScoreCard>, Vec<bool>) {
    let mut rng = SplitMix64::new(seed);
    let mut cards = Vec::with_capacity(n);
    let mut won = Vec::with_capacity(n);
    for i in 0..n {
        let industry = if rng.next_f64() < 0.4 { 9.0 } else { 0.0 };
        let seniority = if rng.next_f64() < 0.35 { 8.0 } else { 0.0 };
        let pricing = if rng.next_f64() < 0.5 {
            10.0 * rng.next_f64()
        } else {
            0.0
        };
        let student = if rng.next_f64() < 0.15 { -20.0 } else { 0.0 };
        let missing = rng.next_f64() < 0.3;
        let z = truth.intercept
            + truth.industry * industry
            + truth.seniority * seniority
            + truth.pricing * pricing
            + truth.student * student
            + if missing { truth.missing } else { 0.0 };
        won.push(rng.next_f64() < sigmoid(z));
        cards.push(card(i, industry, seniority, pricing, student, missing));
    }
    (cards, won)
}

fn weight(c: &Calibration, kind: FeatureKind, name: &str) -> f64 {
    c.features
        .iter()
        .find(|f| f.kind == kind && f.name == name)
        .map(|f| f.weight)
        .unwrap_or_else(|| panic!("no feature {name}"))
}

const KNOWN: Truth = Truth {
    intercept: -1.0,
    industry: 0.15,
    seniority: -0.05,
    pricing: 0.2,
    student: 0.04,
    missing: -0.8,
};

#[test]
fn recovers_the_per_rule_weights_it_was_generated_from() {
    let (cards, won) = generate(40_000, 7, &KNOWN);
    let options = CalibrationOptions {
        prior_strength: 0.0,
        ..CalibrationOptions::default()
    };
    let c = Calibration::fit(&cards, &won, &options).expect("fit");
    let rule = |name| weight(&c, FeatureKind::Rule, name);
    for (name, got, want, tolerance) in [
        ("industry", rule(INDUSTRY), KNOWN.industry, 0.01),
        ("seniority", rule(SENIORITY), KNOWN.seniority, 0.01),
        ("pricing", rule(PRICING), KNOWN.pricing, 0.01),
        ("student", rule(STUDENT), KNOWN.student, 0.01),
        (
            "missing",
            weight(&c, FeatureKind::Missing, EMPLOYEES),
            KNOWN.missing,
            0.08,
        ),
        ("intercept", c.intercept, KNOWN.intercept, 0.08),
    ] {
        assert!(
            (got - want).abs() < tolerance,
            "{name}: learned {got}, generated from {want}"
        );
    }
    assert_eq!(c.rows, 40_000);
    assert_eq!(c.won, won.iter().filter(|&&w| w).count());
}

/// Rules-as-written say every composite point is worth the same (`prior_slope`); the data
/// say a VP is worth nothing and pricing views are worth much more.
const DISAGREEING: Truth = Truth {
    intercept: -1.2,
    industry: 0.1,
    seniority: -0.1,
    pricing: 0.3,
    student: 0.05,
    missing: 0.0,
};

#[test]
fn few_outcomes_nudge_the_rules_and_many_override_them() {
    let (few_cards, few_won) = generate(90, 11, &DISAGREEING);
    let few_positives = few_won.iter().filter(|&&w| w).count();
    assert!(
        few_positives >= MIN_OUTCOMES_PER_CLASS
            && few_won.len() - few_positives >= MIN_OUTCOMES_PER_CLASS,
        "the small sample passes the guard: {few_positives} won of 90"
    );
    let (many_cards, many_won) = generate(3_000, 12, &DISAGREEING);
    let options = CalibrationOptions::default();
    let few = Calibration::fit(&few_cards, &few_won, &options).expect("few");
    let many = Calibration::fit(&many_cards, &many_won, &options).expect("many");

    for (name, truth) in [
        (SENIORITY, DISAGREEING.seniority),
        (PRICING, DISAGREEING.pricing),
    ] {
        let near_rules = |c: &Calibration| {
            let w = weight(c, FeatureKind::Rule, name);
            ((w - c.prior_slope).abs(), (w - truth).abs())
        };
        let (few_to_rules, few_to_data) = near_rules(&few);
        assert!(
            few_to_rules < few_to_data,
            "{name}, 90 outcomes: {} is nearer the data ({truth}) than the rules ({})",
            weight(&few, FeatureKind::Rule, name),
            few.prior_slope
        );
        let (many_to_rules, many_to_data) = near_rules(&many);
        assert!(
            many_to_data < many_to_rules,
            "{name}, 3000 outcomes: {} is nearer the rules ({}) than the data ({truth})",
            weight(&many, FeatureKind::Rule, name),
            many.prior_slope
        );
        assert!(
            many_to_data < 0.05,
            "{name}: 3000 outcomes land near the data"
        );
        // and the prior recorded for each rule is the rules' own slope
        let f = few
            .features
            .iter()
            .find(|f| f.name == name)
            .expect("feature");
        assert_eq!(f.prior_weight, few.prior_slope);
    }
    assert!(few.prior_slope > 0.0, "more points convert more");
}

#[test]
fn too_few_of_either_class_keeps_the_rules_and_says_why() {
    let (cards, won) = generate(400, 3, &KNOWN);
    let mut seen_won = 0;
    let labels: Vec<bool> = won
        .iter()
        .map(|&w| {
            // keep only the first 29 wins
            let keep = w && seen_won < 29;
            seen_won += usize::from(w);
            keep
        })
        .collect();
    let err = Calibration::fit(&cards, &labels, &CalibrationOptions::default())
        .expect_err("29 won outcomes are too few");
    assert_eq!(
        err,
        CalibrationError::NotEnoughData {
            won: 29,
            lost: 371,
            min: 30
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("keeping the hand-written rules"),
        "{message}"
    );
    assert!(message.contains("29 won"), "{message}");

    let none: Vec<bool> = vec![false; cards.len()];
    assert!(matches!(
        Calibration::fit(&cards, &none, &CalibrationOptions::default()),
        Err(CalibrationError::NotEnoughData { won: 0, .. })
    ));
    assert!(matches!(
        Calibration::fit(&[], &[], &CalibrationOptions::default()),
        Err(CalibrationError::NotEnoughData {
            won: 0,
            lost: 0,
            ..
        })
    ));
    assert_eq!(
        Calibration::fit(&cards, &won[1..], &CalibrationOptions::default()),
        Err(CalibrationError::LengthMismatch {
            cards: 400,
            outcomes: 399
        })
    );
    let bad = CalibrationOptions {
        prior_strength: f64::NAN,
        ..CalibrationOptions::default()
    };
    assert!(matches!(
        Calibration::fit(&cards, &won, &bad),
        Err(CalibrationError::InvalidOption(_))
    ));
}

#[test]
fn apply_is_deterministic_within_0_and_1_and_the_explanation_adds_up() {
    let (cards, won) = generate(2_000, 5, &KNOWN);
    let c = Calibration::fit(&cards, &won, &CalibrationOptions::default()).expect("fit");
    let again = Calibration::fit(&cards, &won, &CalibrationOptions::default()).expect("fit");
    assert_eq!(c, again, "training is deterministic");

    for original in cards.iter().take(200) {
        let mut a = original.clone();
        let mut b = original.clone();
        c.apply(&mut a);
        c.apply(&mut b);
        let p = a.probability.expect("a probability");
        assert_eq!(a, b);
        assert!((0.0..=1.0).contains(&p), "{p}");

        let explanation = c.explain(original);
        let total = explanation.intercept
            + explanation
                .contributions
                .iter()
                .map(|x| x.log_odds)
                .sum::<f64>();
        assert!((total - explanation.log_odds).abs() < 1e-12);
        assert_eq!(explanation.probability, p);
        assert!(
            explanation
                .contributions
                .windows(2)
                .all(|w| w[0].log_odds.abs() >= w[1].log_odds.abs()),
            "largest first"
        );
        for contribution in &explanation.contributions {
            let value = match contribution.kind {
                FeatureKind::Rule => {
                    original
                        .reasons
                        .iter()
                        .find(|r| {
                            let rule: &str = &r.rule;
                            rule == contribution.name
                        })
                        .expect("a reason")
                        .composite_points
                }
                FeatureKind::Missing => 1.0,
            };
            let w = weight(&c, contribution.kind, &contribution.name);
            assert!((contribution.log_odds - w * value).abs() < 1e-12);
        }
    }

    // a rule never seen in training keeps the rules' own weight per point
    let mut unseen = card(0, 0.0, 0.0, 0.0, 0.0, false);
    unseen
        .reasons
        .push(reason(Dimension::Fit, "country = fr", 6.0));
    let explanation = c.explain(&unseen);
    assert_eq!(explanation.contributions.len(), 1);
    assert!((explanation.contributions[0].log_odds - 6.0 * c.prior_slope).abs() < 1e-12);

    // extreme points stay a probability, never NaN
    let mut extreme = card(1, 1e300, 0.0, 1e300, -1e300, true);
    c.apply(&mut extreme);
    if let Some(p) = extreme.probability {
        assert!((0.0..=1.0).contains(&p), "{p}");
    }
}

#[test]
fn a_calibration_round_trips_through_json_and_refuses_nonsense() {
    let (cards, won) = generate(1_000, 9, &KNOWN);
    let c = Calibration::fit(&cards, &won, &CalibrationOptions::default()).expect("fit");
    let json = serde_json::to_string(&c).expect("json");
    let back: Calibration = serde_json::from_str(&json).expect("parse");
    back.validate().expect("valid");
    let (mut x, mut y) = (cards[3].clone(), cards[3].clone());
    c.apply(&mut x);
    back.apply(&mut y);
    assert_eq!(x.probability, y.probability);

    let mut twice = c.clone();
    twice.features.push(twice.features[0].clone());
    let err = twice.validate().expect_err("duplicate");
    assert!(err.to_string().contains("listed twice"), "{err}");
    let mut shuffled = c.clone();
    shuffled.features.swap(0, 1);
    let err = shuffled.validate().expect_err("unsorted");
    assert!(err.to_string().contains("sorted"), "{err}");
    let mut infinite = c.clone();
    infinite.features[0].weight = f64::INFINITY;
    let err = infinite.validate().expect_err("infinite");
    assert!(err.to_string().contains(&c.features[0].name), "{err}");
}

#[test]
fn degenerate_training_sets_give_the_base_rate() {
    let won: Vec<bool> = (0..200).map(|i| i % 4 == 0).collect();
    // no reasons at all, and every card alike
    for cards in [
        vec![card(0, 0.0, 0.0, 0.0, 0.0, false); 200],
        vec![card(0, 9.0, 8.0, 5.0, 0.0, true); 200],
    ] {
        let c = Calibration::fit(&cards, &won, &CalibrationOptions::default())
            .expect("a constant feature is absorbed by the intercept");
        let mut one = cards[0].clone();
        c.apply(&mut one);
        let p = one.probability.expect("a probability");
        assert!((p - 0.25).abs() < 0.01, "the base rate, got {p}");
    }
}

proptest::proptest! {
    #[test]
    fn any_card_gets_a_probability_within_0_and_1(
        points in proptest::collection::vec(-1e6f64..1e6, 0..6),
        missing in proptest::bool::ANY,
    ) {
        let (cards, won) = generate(300, 21, &KNOWN);
        let c = Calibration::fit(&cards, &won, &CalibrationOptions::default()).expect("fit");
        let mut any = card(0, 0.0, 0.0, 0.0, 0.0, missing);
        for (i, p) in points.iter().enumerate() {
            any.reasons.push(reason(Dimension::Fit, &format!("rule {}", i % 3), *p));
        }
        c.apply(&mut any);
        let p = any.probability.expect("finite points give a probability");
        proptest::prop_assert!((0.0..=1.0).contains(&p));
    }
}
