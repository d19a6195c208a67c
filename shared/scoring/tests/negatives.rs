//! Each negative signal: when it fires, when it does not, and what it takes off.

mod common;

use common::*;
use leadq_scoring::{
    Band, Company, Consent, Dimension, EventKind, JobFunction, Lead, Model, Occupation, Person,
    Seniority,
};

/// Fit 60 makes a composite of 60; behaviour has no weight, so signals only matter
/// through `passive_only`.
fn negatives_model() -> Model {
    model(
        FIT_ONLY,
        r#"
[fit.industry]
software = 60
[signals.email_open]
points = 2
dimension = "behaviour"
[signals.pricing_view]
points = 10
dimension = "behaviour"
active = true
[negatives.student]
points = -30
[negatives.job_seeker]
points = -40
[negatives.consultant]
points = -10
[negatives.unsubscribed]
points = -15
[negatives.competitor]
points = -50
domains = ["rival.example", "Other-Rival.example"]
[negatives.passive_only]
points = -10
after_days = 30
"#,
    )
}

fn base() -> Lead {
    Lead {
        company: Company {
            industry: Some("software".into()),
            ..Company::default()
        },
        ..lead()
    }
}

/// Scores `lead` and returns the composite and the labels of the negative reasons.
fn negatives_of(lead: &Lead, events: &[leadq_scoring::Event]) -> (u8, Vec<String>) {
    let c = card(lead, events, &negatives_model());
    let mut labels: Vec<String> = c
        .reasons
        .iter()
        .filter(|r| r.dimension == Dimension::Negative)
        .map(|r| r.rule.to_string())
        .collect();
    labels.sort();
    (c.composite, labels)
}

fn person(person: Person) -> Lead {
    Lead { person, ..base() }
}

#[test]
fn no_negative_fires_for_a_plain_lead() {
    assert_eq!(negatives_of(&base(), &[]), (60, vec![]));
}

#[test]
fn student_by_seniority_or_occupation_counts_once() {
    let by_seniority = person(Person {
        seniority: Some(Seniority::Student),
        ..Person::default()
    });
    let by_occupation = person(Person {
        occupation: Some(Occupation::Student),
        ..Person::default()
    });
    let both = person(Person {
        seniority: Some(Seniority::Student),
        occupation: Some(Occupation::Student),
        ..Person::default()
    });
    for l in [&by_seniority, &by_occupation, &both] {
        assert_eq!(negatives_of(l, &[]), (30, vec!["student".into()]));
    }
    let c = card(&by_seniority, &[], &negatives_model());
    let r = must_reason(&c, "student");
    assert_eq!((r.points, r.composite_points), (-30.0, -30.0));
    assert_eq!(c.negative, -30.0);
    assert_eq!(c.band, Band::Cold);
}

#[test]
fn job_seeker_and_consultant() {
    let seeker = person(Person {
        occupation: Some(Occupation::JobSeeker),
        ..Person::default()
    });
    assert_eq!(negatives_of(&seeker, &[]), (20, vec!["job seeker".into()]));
    let consultant = person(Person {
        function: Some(JobFunction::Consulting),
        ..Person::default()
    });
    assert_eq!(
        negatives_of(&consultant, &[]),
        (50, vec!["consultant".into()])
    );
    // other occupations and functions are not negative
    let employed = person(Person {
        occupation: Some(Occupation::Employed),
        function: Some(JobFunction::Sales),
        ..Person::default()
    });
    assert_eq!(negatives_of(&employed, &[]), (60, vec![]));
}

#[test]
fn unsubscribed_only_when_email_consent_is_withdrawn() {
    let consent = |email| Lead {
        consent: Consent { email, phone: None },
        ..base()
    };
    assert_eq!(
        negatives_of(&consent(Some(false)), &[]),
        (45, vec!["email consent withdrawn".into()])
    );
    assert_eq!(negatives_of(&consent(Some(true)), &[]), (60, vec![]));
    assert_eq!(negatives_of(&consent(None), &[]), (60, vec![]));
}

#[test]
fn competitor_by_company_domain_or_email_domain() {
    let by_company = |domain: &str| Lead {
        company: Company {
            domain: Some(domain.into()),
            ..base().company
        },
        ..base()
    };
    let by_email = |email: &str| {
        person(Person {
            email: Some(email.into()),
            ..Person::default()
        })
    };
    let hit = (10, vec!["competitor domain".to_string()]);
    assert_eq!(negatives_of(&by_company("rival.example"), &[]), hit);
    assert_eq!(negatives_of(&by_company("Rival.Example"), &[]), hit);
    assert_eq!(negatives_of(&by_email("jo@rival.example"), &[]), hit);
    // configured with capitals, matched ignoring case
    assert_eq!(negatives_of(&by_email("jo@other-rival.example"), &[]), hit);
    // not a competitor
    for miss in [
        by_company("notrival.example"),
        by_email("jo@notrival.example"),
        by_email("rival.example@gmail.com"),
        by_email("no-at-sign"),
    ] {
        assert_eq!(negatives_of(&miss, &[]), (60, vec![]), "{miss:?}");
    }
}

fn created(days: f64) -> Lead {
    Lead {
        created_at: Some(days_ago(days)),
        ..base()
    }
}

#[test]
fn passive_only_after_the_given_days_without_an_active_signal() {
    let passive = (50, vec!["only passive engagement".to_string()]);
    // known 31 days, no events at all
    assert_eq!(negatives_of(&created(31.0), &[]), passive);
    // exactly 30 days counts
    assert_eq!(negatives_of(&created(30.0), &[]), passive);
    // only passive events (email_open is not active)
    let opens = [
        ev(EventKind::EmailOpen, 1.0),
        ev(EventKind::EmailOpen, 20.0),
    ];
    assert_eq!(negatives_of(&created(40.0), &opens), passive);
    // events of a kind without a signal are not active either
    assert_eq!(
        negatives_of(&created(40.0), &[ev(EventKind::DemoRequest, 1.0)]),
        passive
    );
}

#[test]
fn passive_only_not_before_the_given_days_nor_with_an_active_signal() {
    assert_eq!(negatives_of(&created(29.0), &[]), (60, vec![]));
    // one active event, however old, clears it
    let events = [
        ev(EventKind::EmailOpen, 1.0),
        ev(EventKind::PricingView, 35.0),
    ];
    assert_eq!(negatives_of(&created(40.0), &events), (60, vec![]));
    // no creation date: the rule cannot apply
    assert_eq!(negatives_of(&base(), &[]), (60, vec![]));
    // created in the future
    assert_eq!(negatives_of(&created(-40.0), &[]), (60, vec![]));
}

#[test]
fn negatives_add_up() {
    let l = Lead {
        consent: Consent {
            email: Some(false),
            phone: None,
        },
        person: Person {
            seniority: Some(Seniority::Student),
            function: Some(JobFunction::Consulting),
            ..Person::default()
        },
        ..created(31.0)
    };
    let c = card(&l, &[], &negatives_model());
    // 60 - 30 - 10 - 15 - 10 = -5, floored at 0
    assert_eq!(c.composite, 0);
    assert_eq!(
        rules(&c),
        [
            "composite floored at 0",
            "consultant",
            "email consent withdrawn",
            "industry = software",
            "only passive engagement",
            "student",
        ]
    );
    close(c.negative, -60.0);
    close(c.composite_exact(), 0.0);
}
