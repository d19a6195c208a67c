//! Helpers shared by the test files: a fixed clock, small models written as TOML, leads.
#![allow(dead_code)] // each test file uses a different subset

use chrono::{DateTime, Duration, Utc};
use leadq_scoring::{Dimension, Event, EventKind, Lead, Model, Reason, ScoreCard, score};

/// The instant every test scores at.
pub fn now() -> DateTime<Utc> {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

/// `days` before [`now`] (negative: in the future), to the millisecond.
pub fn days_ago(days: f64) -> DateTime<Utc> {
    now() - Duration::milliseconds((days * 86_400_000.0).round() as i64)
}

/// An event of `kind`, `days` before [`now`].
pub fn ev(kind: EventKind, days: f64) -> Event {
    Event::new(kind, days_ago(days))
}

/// A session of `minutes`, `days` before [`now`].
pub fn session(minutes: Option<f64>, days: f64) -> Event {
    Event {
        minutes,
        ..ev(EventKind::Session, days)
    }
}

/// The bands of the default model, as an inline table.
pub const BANDS: &str =
    "{ hot = [80, 100], warm = [60, 79], mql = [40, 59], cold = [20, 39], disqualified = [0, 19] }";

/// The next-action thresholds of the default model, as an inline table.
pub const ACTIONS: &str = "{ strong_fit = 70, good_fit = 45, strong_intent = 40, \
     moderate_intent = 15, clear_stakeholder = 60, strong_product_usage = 30 }";

/// A model document: the given weights (fit, stakeholder, behaviour, intent), the default
/// bands and actions, then `tables` (TOML tables such as `[fit.industry]`).
pub fn doc(weights: [f64; 4], tables: &str) -> String {
    doc_with(weights, BANDS, ACTIONS, tables)
}

/// Like [`doc`], with the bands and the actions given as inline tables.
pub fn doc_with(weights: [f64; 4], bands: &str, actions: &str, tables: &str) -> String {
    let [fit, stakeholder, behaviour, intent] = weights;
    format!(
        "version = \"test\"\n\
         weights = {{ fit = {fit}, stakeholder = {stakeholder}, behaviour = {behaviour}, intent = {intent} }}\n\
         bands = {bands}\n\
         actions = {actions}\n\
         {tables}\n"
    )
}

/// Compiles a model document, failing the test with the error if it is refused.
pub fn model(weights: [f64; 4], tables: &str) -> Model {
    let text = doc(weights, tables);
    Model::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n--- document:\n{text}"))
}

/// Only the fit dimension counts in the composite.
pub const FIT_ONLY: [f64; 4] = [100.0, 0.0, 0.0, 0.0];
/// Only the stakeholder dimension counts.
pub const STAKEHOLDER_ONLY: [f64; 4] = [0.0, 100.0, 0.0, 0.0];
/// Only the behaviour dimension counts.
pub const BEHAVIOUR_ONLY: [f64; 4] = [0.0, 0.0, 100.0, 0.0];
/// Only the intent dimension counts.
pub const INTENT_ONLY: [f64; 4] = [0.0, 0.0, 0.0, 100.0];

/// A lead with only an id.
pub fn lead() -> Lead {
    Lead {
        id: "lead-1".into(),
        ..Lead::default()
    }
}

/// Scores at [`now`].
pub fn card(lead: &Lead, events: &[Event], model: &Model) -> ScoreCard {
    score(lead, events, model, now())
}

/// The reason with this rule label, if any.
pub fn reason<'a>(card: &'a ScoreCard, rule: &str) -> Option<&'a Reason> {
    card.reasons.iter().find(|r| &*r.rule == rule)
}

/// The reason with this rule label; fails the test if there is none.
pub fn must_reason<'a>(card: &'a ScoreCard, rule: &str) -> &'a Reason {
    reason(card, rule).unwrap_or_else(|| {
        panic!(
            "no reason `{rule}`; reasons: {:?}",
            card.reasons.iter().map(|r| &*r.rule).collect::<Vec<_>>()
        )
    })
}

/// The rule labels of a card's reasons, sorted, for comparisons that ignore order.
pub fn rules(card: &ScoreCard) -> Vec<String> {
    let mut out: Vec<String> = card.reasons.iter().map(|r| r.rule.to_string()).collect();
    out.sort();
    out
}

/// Sum of the reason points of one dimension.
pub fn reason_sum(card: &ScoreCard, dimension: Dimension) -> f64 {
    card.reasons
        .iter()
        .filter(|r| r.dimension == dimension)
        .map(|r| r.points)
        .sum()
}

/// Asserts two floats are equal within 1e-9.
#[track_caller]
pub fn close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-9,
        "expected {expected}, got {actual}"
    );
}
