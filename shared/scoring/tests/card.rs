//! The card as a whole: determinism under shuffled events, `explain()` naming every reason,
//! `score_into` reusing a card, and the JSON form.

mod common;

use common::*;
use leadq_scoring::{
    Authority, Company, Consent, Event, EventKind, JobFunction, Lead, Model, Person, ScoreCard,
    Seniority, score, score_into,
};

fn full_lead() -> Lead {
    Lead {
        id: "lead-42".into(),
        person: Person {
            email: Some("dana@acme.example".into()),
            name: Some("Dana".into()),
            title: Some("VP Sales".into()),
            country: Some("US".into()),
            seniority: Some(Seniority::Vp),
            function: Some(JobFunction::Sales),
            authority: Some(Authority::DecisionMaker),
            ..Person::default()
        },
        company: Company {
            domain: Some("acme.example".into()),
            industry: Some("Software".into()),
            employees: Some(420),
            revenue_band: Some("10m-50m".into()),
            country: Some("DE".into()),
            tech_stack: Some(vec!["salesforce".into(), "segment".into(), "aws".into()]),
            business_model: Some("b2b".into()),
            ..Company::default()
        },
        created_at: Some(days_ago(60.0)),
        ..Lead::default()
    }
}

/// A mix of kinds and ages, with irregular ages so that decayed points are not round.
fn many_events() -> Vec<Event> {
    let kinds = [
        EventKind::PageView,
        EventKind::PricingView,
        EventKind::Session,
        EventKind::EmailOpen,
        EventKind::CaseStudyView,
        EventKind::Session,
        EventKind::PageView,
        EventKind::EmailClick,
        EventKind::ContentDownload,
        EventKind::Webinar,
        EventKind::PageView,
        EventKind::DemoPageView,
        EventKind::Session,
        EventKind::EmailOpen,
        EventKind::ProductUsage,
        EventKind::PageView,
        EventKind::PricingView,
        EventKind::Session,
        EventKind::EmailOpen,
        EventKind::PageView,
        EventKind::ProductUsage,
        EventKind::EmailOpen,
        EventKind::PageView,
        EventKind::Session,
    ];
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let days = (i as f64 * 1.37) % 23.0 + 0.11 * i as f64;
            let mut e = ev(*kind, days);
            if *kind == EventKind::Session {
                e.minutes = Some(0.7 + i as f64 * 0.93);
            }
            e
        })
        .collect()
}

/// A deterministic permutation of `events` (Fisher-Yates with a small LCG).
fn shuffled(events: &[Event], seed: u64) -> Vec<Event> {
    let mut out = events.to_vec();
    let mut state = seed;
    for i in (1..out.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.swap(i, (state >> 33) as usize % (i + 1));
    }
    out
}

#[test]
fn shuffled_events_give_identical_cards() {
    let m = Model::default_model();
    let lead = full_lead();
    let events = many_events();
    let reference = card(&lead, &events, &m);
    assert!(reference.reasons.len() > 10, "{:?}", reference.reasons);
    let mut reversed = events.clone();
    reversed.reverse();
    assert_eq!(card(&lead, &reversed, &m), reference, "reversed");
    for seed in 0..50 {
        let other = card(&lead, &shuffled(&events, seed), &m);
        // exact equality, down to the last bit of every float
        assert_eq!(other, reference, "seed {seed}");
    }
}

#[test]
fn the_same_input_gives_the_same_card_twice() {
    let m = Model::default_model();
    let a = card(&full_lead(), &many_events(), &m);
    let b = card(&full_lead(), &many_events(), &m);
    assert_eq!(a, b);
    assert_eq!(a.explain(), b.explain());
}

#[test]
fn explain_mentions_every_reason_and_the_verdict() {
    let m = Model::default_model();
    let mut lead = full_lead();
    lead.consent = Consent {
        email: Some(false),
        phone: None,
    };
    let c = card(&lead, &many_events(), &m);
    let text = c.explain();
    assert!(
        text.starts_with(&format!(
            "lead lead-42: {} ({}), next action {} [model rules-default-2026.11]",
            c.composite, c.band, c.next_action
        )),
        "{text}"
    );
    for r in &c.reasons {
        assert!(
            text.contains(&*r.rule),
            "`{}` missing from:\n{text}",
            r.rule
        );
    }
    // one line per reason, after the two header lines
    assert_eq!(text.lines().count(), 2 + c.reasons.len(), "{text}");
    assert!(text.contains("email consent withdrawn"), "{text}");
    assert!(text.contains("pricing_view"), "{text}");
}

#[test]
fn explain_names_the_disqualifier_and_the_missing_fields() {
    let m = Model::default_model();
    let mut rival = full_lead();
    rival.person.email = Some("sam@competitor.example".into());
    let text = card(&rival, &[], &m).explain();
    assert!(
        text.contains("disqualified by: competitor domain"),
        "{text}"
    );
    assert!(text.contains("held in the disqualified band"), "{text}");

    let c = card(&lead(), &[], &m);
    let text = c.explain();
    assert!(
        text.contains("missing data could make it mql at best, disqualified at worst"),
        "{text}"
    );
    for missing in &c.missing {
        assert!(text.contains(&*missing.field), "{text}");
    }
}

#[test]
fn score_into_a_reused_card_equals_score() {
    let m = Model::default_model();
    let events = many_events();
    let mut reused = ScoreCard::empty();
    // first a lead with everything (disqualified, missing data), then very different ones
    let mut rival = full_lead();
    rival.company.domain = Some("competitor.example".into());
    let leads = [rival, lead(), full_lead(), lead()];
    for (i, l) in leads.iter().enumerate() {
        let evs = if i % 2 == 0 {
            &events[..]
        } else {
            &events[..3]
        };
        score_into(&mut reused, l, evs, &m, now());
        assert_eq!(reused, score(l, evs, &m, now()), "lead {i}");
    }
}

#[test]
fn the_card_round_trips_through_json() {
    let c = card(&full_lead(), &many_events(), &Model::default_model());
    let json = serde_json::to_string(&c).unwrap();
    let back: ScoreCard = serde_json::from_str(&json).unwrap();
    // serde_json may parse a float one ulp off (no `float_roundtrip`): compare the rest
    // exactly and the floats within 1e-9
    assert_eq!(
        (back.composite, back.band, back.next_action, &back.lead_id),
        (c.composite, c.band, c.next_action, &c.lead_id)
    );
    assert_eq!(back.reasons.len(), c.reasons.len());
    for (b, r) in back.reasons.iter().zip(&c.reasons) {
        assert_eq!(
            (&b.rule, b.dimension, b.count),
            (&r.rule, r.dimension, r.count)
        );
        close(b.points, r.points);
        close(b.composite_points, r.composite_points);
        close(b.decayed, r.decayed);
    }
    close(back.scores.behaviour, c.scores.behaviour);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["band"], c.band.name());
    assert_eq!(value["next_action"], c.next_action.name());
    assert_eq!(value["model_version"], "rules-default-2026.11");
}

#[test]
fn a_full_lead_under_the_default_model() {
    let c = card(&full_lead(), &[], &Model::default_model());
    // fit: software 30 + 201-1000 employees 30 + 10m-50m 12 + DE in europe 15
    //      + tech min(8 + 5 + 3, 15) = 15 + b2b 10 = 112, capped at 100
    // stakeholder: vp 38 + sales 30 + decision maker 30 = 98
    // passive only (known 60 days, nothing active): -10
    // composite: 100 x 30% + 98 x 20% - 10 = 39.6 -> 40, mql
    assert_eq!(c.scores.fit, 100.0);
    assert_eq!(c.scores.stakeholder, 98.0);
    close(c.negative, -10.0);
    close(c.composite_exact(), 39.6);
    assert_eq!(c.composite, 40);
    assert_eq!(c.band, leadq_scoring::Band::Mql);
    assert_eq!(must_reason(&c, "tech_stack capped").points, -1.0);
    assert_eq!(must_reason(&c, "fit capped at 100").points, -12.0);
    // strong fit and a clear buyer, but no intent: sdr_review needs moderate intent
    assert_eq!(c.next_action, leadq_scoring::NextAction::Nurture);
    assert_eq!(c.model_version.as_ref(), "rules-default-2026.11");
    assert_eq!(c.lead_id, "lead-42");
    assert_eq!(c.scored_at, now());
    assert_eq!(c.probability, None);
}
