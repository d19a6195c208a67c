//! Every cell of the next-action matrix, each hit deliberately by a scored lead, plus the
//! thresholds of the matrix at their exact edges.

mod common;

use common::*;
use leadq_scoring::{
    Authority, Company, DimensionScores, Event, EventKind, Lead, Model, NextAction, Person,
    Seniority, next_action,
};

/// Equal weights. Fit: industry `fN` gives N. Stakeholder: c_level 70 (a clear buyer),
/// manager 30; authority `decision_maker` 100, `user` 0. Intent: demo_request 50 (strong),
/// pricing_view 20 (moderate), page_view 5 (weak). Product: product_usage 35, trial 30.
/// Actions: strong_fit 70, good_fit 45, strong_intent 40, moderate_intent 15,
/// clear_stakeholder 60, strong_product_usage 30.
fn matrix_model() -> Model {
    model(
        [25.0, 25.0, 25.0, 25.0],
        r#"
[fit.industry]
f30 = 30
f44 = 44
f45 = 45
f50 = 50
f70 = 70
f80 = 80
[stakeholder.seniority]
c_level = 70
manager = 30
[stakeholder.authority]
decision_maker = 100
user = 0
[signals.demo_request]
points = 50
dimension = "intent"
[signals.pricing_view]
points = 20
dimension = "intent"
[signals.page_view]
points = 5
dimension = "intent"
[signals.product_usage]
points = 35
dimension = "behaviour"
[signals.trial_signup]
points = 30
dimension = "intent"
[negatives.competitor]
disqualify = true
domains = ["rival.example"]
"#,
    )
}

/// A lead with the given fit value and seniority; authority known (`user`, 0 points)
/// unless `authority_known` is false.
fn buyer(fit: &str, seniority: Seniority, authority_known: bool) -> Lead {
    Lead {
        company: Company {
            industry: Some(fit.into()),
            ..Company::default()
        },
        person: Person {
            seniority: Some(seniority),
            authority: authority_known.then_some(Authority::User),
            ..Person::default()
        },
        ..lead()
    }
}

fn action(lead: &Lead, kinds: &[EventKind]) -> NextAction {
    let events: Vec<Event> = kinds.iter().map(|k| ev(*k, 1.0)).collect();
    card(lead, &events, &matrix_model()).next_action
}

use EventKind::{DemoRequest, PageView, PricingView, ProductUsage, TrialSignup};
use Seniority::{CLevel, Manager};

#[test]
fn suppress_when_disqualified_whatever_else() {
    let mut l = buyer("f80", CLevel, true);
    l.company.domain = Some("rival.example".into());
    // would be sales_now
    assert_eq!(action(&l, &[DemoRequest]), NextAction::Suppress);
}

#[test]
fn sales_now_for_strong_fit_strong_intent_clear_buyer() {
    let c = card(
        &buyer("f80", CLevel, true),
        &[ev(DemoRequest, 1.0)],
        &matrix_model(),
    );
    assert_eq!(
        (c.scores.fit, c.scores.stakeholder, c.scores.intent),
        (80.0, 70.0, 50.0)
    );
    assert_eq!(c.next_action, NextAction::SalesNow);
    // strong fit is inclusive: 70
    assert_eq!(
        action(&buyer("f70", CLevel, true), &[DemoRequest]),
        NextAction::SalesNow
    );
}

#[test]
fn account_follow_up_for_strong_fit_without_a_clear_buyer() {
    assert_eq!(
        action(&buyer("f80", Manager, true), &[DemoRequest]),
        NextAction::AccountFollowUp
    );
    // even with no intent, and even with missing data
    assert_eq!(
        action(&buyer("f80", Manager, false), &[]),
        NextAction::AccountFollowUp
    );
}

#[test]
fn enrich_again_for_good_fit_when_missing_data_could_change_the_band() {
    let l = buyer("f50", CLevel, false);
    let c = card(&l, &[ev(PricingView, 1.0)], &matrix_model());
    // 25% of (50 + 70 + 0 + 20) = 35, cold; a decision maker would make it
    // 25% of (50 + 100 + 0 + 20) = 42.5, mql
    assert_eq!(c.composite, 35);
    let missing: Vec<&str> = c.missing.iter().map(|m| &*m.field).collect();
    assert_eq!(missing, ["person.authority"]);
    // without the missing field this lead would get sdr_review
    assert_eq!(c.next_action, NextAction::EnrichAgain);
}

#[test]
fn sdr_review_for_good_fit_and_moderate_intent() {
    assert_eq!(
        action(&buyer("f50", CLevel, true), &[PricingView]),
        NextAction::SdrReview
    );
    // good fit is inclusive: 45; and a manager is fine here
    assert_eq!(
        action(&buyer("f45", Manager, true), &[PricingView]),
        NextAction::SdrReview
    );
    // strong fit and a clear buyer without strong intent fall through to sdr_review
    assert_eq!(
        action(&buyer("f80", CLevel, true), &[PricingView]),
        NextAction::SdrReview
    );
}

#[test]
fn manual_review_for_weak_fit_with_strong_product_usage() {
    assert_eq!(
        action(&buyer("f30", Manager, true), &[ProductUsage]),
        NextAction::ManualReview
    );
    // trial signups count as product usage; 30 is exactly strong
    assert_eq!(
        action(&buyer("f44", Manager, true), &[TrialSignup]),
        NextAction::ManualReview
    );
}

#[test]
fn nurture_otherwise() {
    // weak fit, strong intent
    assert_eq!(
        action(&buyer("f30", CLevel, true), &[DemoRequest]),
        NextAction::Nurture
    );
    // good fit, weak intent (5 < 15), nothing missing
    assert_eq!(
        action(&buyer("f50", CLevel, true), &[PageView]),
        NextAction::Nurture
    );
    // good fit: product usage alone does not make a manual review
    assert_eq!(
        action(&buyer("f50", CLevel, true), &[ProductUsage]),
        NextAction::Nurture
    );
    // weak fit with missing data is not worth enriching
    assert_eq!(
        action(&buyer("f30", CLevel, false), &[PricingView]),
        NextAction::Nurture
    );
}

fn scores(fit: f64, stakeholder: f64, intent: f64) -> DimensionScores {
    DimensionScores {
        fit,
        stakeholder,
        behaviour: 0.0,
        intent,
    }
}

#[test]
fn matrix_thresholds_are_inclusive() {
    let m = matrix_model();
    let act = |s: DimensionScores, product: f64, fit_if_known: Option<f64>| {
        next_action(&s, product, false, fit_if_known, &m)
    };
    assert_eq!(
        act(scores(70.0, 60.0, 40.0), 0.0, None),
        NextAction::SalesNow
    );
    assert_eq!(
        act(scores(69.99, 60.0, 40.0), 0.0, None),
        NextAction::SdrReview
    );
    assert_eq!(
        act(scores(70.0, 59.99, 40.0), 0.0, None),
        NextAction::AccountFollowUp
    );
    assert_eq!(
        act(scores(70.0, 60.0, 39.99), 0.0, None),
        NextAction::SdrReview
    );
    assert_eq!(
        act(scores(45.0, 0.0, 15.0), 0.0, None),
        NextAction::SdrReview
    );
    assert_eq!(
        act(scores(45.0, 0.0, 14.99), 0.0, None),
        NextAction::Nurture
    );
    assert_eq!(
        act(scores(45.0, 0.0, 0.0), 0.0, Some(100.0)),
        NextAction::EnrichAgain
    );
    assert_eq!(
        act(scores(44.99, 0.0, 0.0), 0.0, Some(100.0)),
        NextAction::Nurture
    );
    assert_eq!(
        act(scores(44.99, 0.0, 0.0), 30.0, None),
        NextAction::ManualReview
    );
    assert_eq!(
        act(scores(44.99, 0.0, 0.0), 29.99, None),
        NextAction::Nurture
    );
    // an unknown company that could be a good fit is enriched only when it shows intent
    assert_eq!(
        act(scores(0.0, 0.0, 15.0), 0.0, Some(45.0)),
        NextAction::EnrichAgain
    );
    assert_eq!(
        act(scores(0.0, 0.0, 15.0), 0.0, Some(44.99)),
        NextAction::Nurture
    );
    assert_eq!(
        act(scores(0.0, 0.0, 14.99), 0.0, Some(100.0)),
        NextAction::Nurture
    );
    assert_eq!(
        next_action(&scores(100.0, 100.0, 100.0), 100.0, true, Some(100.0), &m),
        NextAction::Suppress
    );
}
