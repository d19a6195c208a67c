//! Missing data: which unknown fields could change the band, the span of bands they could
//! lead to, and silence when nothing unknown could change it.

mod common;

use common::*;
use leadq_scoring::{
    Band, BandSpan, Company, JobFunction, Lead, Model, NextAction, Person, Seniority,
};

const HALF_AND_HALF: [f64; 4] = [50.0, 50.0, 0.0, 0.0];

fn lead_with(industry: Option<&str>, seniority: Option<Seniority>) -> Lead {
    Lead {
        company: Company {
            industry: industry.map(String::from),
            ..Company::default()
        },
        person: Person {
            seniority,
            ..Person::default()
        },
        ..lead()
    }
}

fn fields(c: &leadq_scoring::ScoreCard) -> Vec<&str> {
    c.missing.iter().map(|m| &*m.field).collect()
}

#[test]
fn an_unknown_field_that_could_lift_the_band_is_listed() {
    let m = model(
        HALF_AND_HALF,
        "[fit.industry]\nsoftware = 40\nother = 0\n[stakeholder.seniority]\nc_level = 60\n",
    );
    let c = card(&lead_with(None, Some(Seniority::CLevel)), &[], &m);
    // 50% of 60 = 30, cold; software would add 50% of 40 = 20: 50, mql
    assert_eq!((c.composite, c.band), (30, Band::Cold));
    assert_eq!(
        c.missing_span,
        Some(BandSpan {
            best: Band::Mql,
            worst: Band::Cold
        })
    );
    assert_eq!(fields(&c), ["company.industry"]);
    close(c.missing[0].best_points, 20.0);
    close(c.missing[0].worst_points, 0.0);
}

#[test]
fn nothing_is_listed_when_no_unknown_could_change_the_band() {
    let m = model(
        HALF_AND_HALF,
        "[fit.industry]\nsoftware = 10\n[stakeholder.seniority]\nc_level = 60\n",
    );
    let c = card(&lead_with(None, Some(Seniority::CLevel)), &[], &m);
    // 30; software would add 5: 35, still cold
    assert_eq!((c.composite, c.band), (30, Band::Cold));
    assert_eq!(c.missing_span, None);
    assert!(c.missing.is_empty());
}

#[test]
fn unknown_fields_that_change_the_band_only_together_are_all_listed() {
    let m = model(
        HALF_AND_HALF,
        "[fit.industry]\nsoftware = 12\n[stakeholder.seniority]\nc_level = 60\n\
         [stakeholder.function]\nsales = 12\n",
    );
    let c = card(&lead_with(None, Some(Seniority::CLevel)), &[], &m);
    // 30; each alone adds 6 (36, cold), both add 12 (42, mql)
    assert_eq!(c.composite, 30);
    assert_eq!(
        c.missing_span,
        Some(BandSpan {
            best: Band::Mql,
            worst: Band::Cold
        })
    );
    // equal stakes: ordered by field name
    assert_eq!(fields(&c), ["company.industry", "person.function"]);
    for m in &c.missing {
        close(m.best_points, 6.0);
        close(m.worst_points, 0.0);
    }
}

#[test]
fn an_unknown_field_that_could_lower_the_band_is_listed_with_its_worst() {
    let m = model(
        HALF_AND_HALF,
        "[fit.industry]\nsoftware = 80\n[stakeholder.seniority]\nc_level = 60\n\
         [stakeholder.function]\nsales = 5\neducation = -30\n",
    );
    let l = lead_with(Some("software"), Some(Seniority::CLevel));
    let c = card(&l, &[], &m);
    // 40 + 30 = 70, warm; sales: 72.5 (warm); education: 40 + 15 = 55 (mql)
    assert_eq!((c.composite, c.band), (70, Band::Warm));
    assert_eq!(
        c.missing_span,
        Some(BandSpan {
            best: Band::Warm,
            worst: Band::Mql
        })
    );
    assert_eq!(fields(&c), ["person.function"]);
    close(c.missing[0].best_points, 2.5);
    close(c.missing[0].worst_points, -15.0);
    // once the function is known, nothing is missing
    let mut known = l.clone();
    known.person.function = Some(JobFunction::Education);
    let c = card(&known, &[], &m);
    assert_eq!((c.composite, c.missing_span), (55, None));
}

#[test]
fn an_unknown_field_that_cannot_move_a_full_dimension_is_left_out() {
    let m = model(
        HALF_AND_HALF,
        "[fit.industry]\nsoftware = 100\n[[fit.employees]]\nmin = 1\npoints = 30\n\
         [stakeholder.seniority]\nc_level = 60\n",
    );
    let c = card(&lead_with(Some("software"), None), &[], &m);
    // fit is already 100, so employees cannot add anything; seniority could add 30
    assert_eq!((c.composite, c.band), (50, Band::Mql));
    assert_eq!(
        c.missing_span,
        Some(BandSpan {
            best: Band::Hot,
            worst: Band::Mql
        })
    );
    assert_eq!(fields(&c), ["person.seniority"]);
}

#[test]
fn a_disqualified_lead_has_nothing_missing() {
    let m = model(
        HALF_AND_HALF,
        "[fit.industry]\nsoftware = 40\n[stakeholder.seniority]\nc_level = 60\n\
         [negatives.competitor]\ndisqualify = true\ndomains = [\"rival.example\"]\n",
    );
    let mut l = lead_with(None, Some(Seniority::CLevel));
    l.person.email = Some("a@rival.example".into());
    let c = card(&l, &[], &m);
    assert_eq!(c.band, Band::Disqualified);
    assert_eq!(c.missing_span, None);
    assert!(c.missing.is_empty());
}

#[test]
fn an_empty_lead_under_the_default_model_misses_every_field_by_stake() {
    let c = card(&lead(), &[], &Model::default_model());
    assert_eq!((c.composite, c.band), (0, Band::Disqualified));
    // every best value: fit min(30+30+15+20+15+10, 100) x 30% + 100 x 20% = 50, mql
    assert_eq!(
        c.missing_span,
        Some(BandSpan {
            best: Band::Mql,
            worst: Band::Disqualified
        })
    );
    let expected = [
        ("company.employees", 9.0), // 30 x 30%
        ("company.industry", 9.0),  // 30 x 30%
        ("person.seniority", 8.0),  // 40 x 20%
        ("company.country", 6.0),   // 20 x 30%
        ("person.authority", 6.0),  // 30 x 20%
        ("person.function", 6.0),   // 30 x 20%
        ("company.revenue_band", 4.5),
        ("company.tech_stack", 4.5), // 8+8+5+5+3 = 29, capped at 15
        ("company.business_model", 3.0),
    ];
    let got: Vec<(&str, f64)> = c
        .missing
        .iter()
        .map(|m| (&*m.field, m.best_points))
        .collect();
    assert_eq!(got, expected);
    assert!(c.missing.iter().all(|m| m.worst_points == 0.0));
    // weak fit: enriching is not the next step
    assert_eq!(c.next_action, NextAction::Nurture);
}

#[test]
fn fields_hidden_by_a_full_dimension_alone_are_listed_when_together_they_matter() {
    let m = model(
        FIT_ONLY,
        "[fit.industry]\nsoftware = 100\n[fit.business_model]\nb2b = 50\n\
         [[fit.employees]]\nmin = 1\npoints = -40\n\
         [fit.tech_stack]\ncap = 40\npoints = { legacy = -40 }\n",
    );
    let l = Lead {
        company: Company {
            industry: Some("software".into()),
            business_model: Some("b2b".into()),
            ..Company::default()
        },
        ..lead()
    };
    let c = card(&l, &[], &m);
    // fit 150, capped at 100: hot. Either unknown alone leaves 110 (still 100), both
    // together leave 70: warm
    assert_eq!((c.composite, c.band), (100, Band::Hot));
    assert_eq!(
        c.missing_span,
        Some(BandSpan {
            best: Band::Hot,
            worst: Band::Warm
        })
    );
    assert_eq!(fields(&c), ["company.employees", "company.tech_stack"]);
    for m in &c.missing {
        // with the other at its worst, each takes 30: 100 -> 70
        close(m.worst_points, -30.0);
        close(m.best_points, 0.0);
    }
}
