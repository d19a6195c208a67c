//! Properties over arbitrary leads and events (arbitrary strings, NaN, infinite and
//! negative minutes, far past and future timestamps), under the default model and under
//! a second model with odd weights, negative points and disqualification.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{now, reason_sum};
use leadq_scoring::{
    Authority, Company, Consent, Dimension, Event, EventKind, JobFunction, Lead, Model, Occupation,
    Person, ScoreCard, Seniority, score, score_into,
};
use proptest::prelude::*;
use proptest::sample::select;
use std::sync::LazyLock;

static DEFAULT: LazyLock<Model> = LazyLock::new(Model::default_model);

/// Everything capped, odd weights, negative rule and signal points, a disqualifier.
static ODD: LazyLock<Model> = LazyLock::new(|| {
    common::model(
        [33.3, 16.7, 41.0, 9.0],
        r#"
[regions]
europe = ["DE", "FR", "GB"]
[fit.industry]
software = 60
gambling = -50
other = 5
[[fit.employees]]
min = 1
max = 50
points = -10
[[fit.employees]]
min = 51
points = 45
[fit.country]
europe = 30
US = 35
other = -5
[fit.tech_stack]
cap = 20
points = { salesforce = 15, hubspot = 15, legacy = -12 }
[stakeholder.seniority]
c_level = 70
student = -30
[stakeholder.function]
sales = 40
hr = -20
[stakeholder.authority]
decision_maker = 35
[signals.session]
points = 2.5
per = "minute"
dimension = "behaviour"
half_life_days = 3
cap = 40
[signals.repeat_visit]
points = 7
dimension = "intent"
half_life_days = 11
cap = 35
[signals.pricing_view]
points = 13
dimension = "intent"
half_life_days = 0.5
cap = 60
active = true
[signals.unsubscribe]
points = -45
dimension = "behaviour"
cap = 90
[signals.email_open]
points = 0.3
dimension = "behaviour"
half_life_days = 1000
cap = 3
[signals.demo_request]
points = 100
dimension = "intent"
half_life_days = 45
cap = 100
active = true
[negatives.student]
points = -25
[negatives.unsubscribed]
points = -35
[negatives.competitor]
points = -5
disqualify = true
domains = ["rival.example"]
[negatives.passive_only]
points = -20
after_days = 10
"#,
    )
});

fn models() -> impl Strategy<Value = &'static Model> {
    prop_oneof![Just(&*DEFAULT), Just(&*ODD)]
}

fn text(known: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        3 => select(known).prop_map(|s| Some(s.to_string())),
        1 => any::<String>().prop_map(Some),
    ]
}

fn maybe<T: Clone + std::fmt::Debug + 'static>(
    values: &'static [T],
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![1 => Just(None), 3 => select(values).prop_map(Some)]
}

/// Instants from far past to far future, mostly within a year of `now`.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        8 => (-400_000_000i64..400_000_000).prop_map(|ms| now() + Duration::milliseconds(ms * 100)),
        1 => (-8_000_000_000_000i64..8_000_000_000_000)
            .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        1 => prop_oneof![Just(DateTime::<Utc>::MIN_UTC), Just(DateTime::<Utc>::MAX_UTC)],
    ]
}

fn minutes() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        2 => Just(None),
        4 => (0.0f64..60.0).prop_map(Some),
        1 => select(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -3.0, 0.0, f64::MAX, 1e12][..])
            .prop_map(Some),
        1 => any::<f64>().prop_map(Some),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (select(&EventKind::ALL[..]), instant(), minutes()).prop_map(|(kind, at, minutes)| Event {
        minutes,
        ..Event::new(kind, at)
    })
}

fn events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec(event(), 0..30)
}

fn lead() -> impl Strategy<Value = Lead> {
    let company = (
        text(&["rival.example", "competitor.example", "acme.example"]),
        text(&["software", "SOFTWARE", "gambling", "retail", "fintech", " "]),
        prop_oneof![
            Just(None),
            any::<u32>().prop_map(Some),
            (0u32..2000).prop_map(Some)
        ],
        text(&["10m-50m", "1b+", "<1m"]),
        text(&["US", "de", "GB", "JP", "", "Narnia"]),
        prop::option::of(prop::collection::vec(
            text(&[
                "salesforce",
                "HubSpot",
                "legacy",
                "aws",
                "segment",
                "snowflake",
            ])
            .prop_map(Option::unwrap_or_default),
            0..6,
        )),
        text(&["b2b", "b2c", "marketplace"]),
    )
        .prop_map(
            |(domain, industry, employees, revenue_band, country, tech_stack, business_model)| {
                Company {
                    domain,
                    industry,
                    employees,
                    revenue_band,
                    country,
                    tech_stack,
                    business_model,
                    ..Company::default()
                }
            },
        );
    let person = (
        text(&[
            "jo@rival.example",
            "jo@acme.example",
            "no-at",
            "a@competitor.example",
        ]),
        text(&["US", "FR", "BR"]),
        maybe(&[
            Seniority::CLevel,
            Seniority::Vp,
            Seniority::Director,
            Seniority::Manager,
            Seniority::IndividualContributor,
            Seniority::Student,
        ]),
        maybe(&[
            JobFunction::Sales,
            JobFunction::Hr,
            JobFunction::Consulting,
            JobFunction::Engineering,
            JobFunction::Other,
        ]),
        maybe(&[
            Authority::DecisionMaker,
            Authority::Influencer,
            Authority::User,
        ]),
        maybe(&[
            Occupation::Employed,
            Occupation::SelfEmployed,
            Occupation::Student,
            Occupation::JobSeeker,
        ]),
    )
        .prop_map(
            |(email, country, seniority, function, authority, occupation)| Person {
                email,
                country,
                seniority,
                function,
                authority,
                occupation,
                ..Person::default()
            },
        );
    (
        any::<String>(),
        company,
        person,
        prop::option::of(any::<bool>()),
        prop::option::of(instant()),
    )
        .prop_map(|(id, company, person, email_consent, created_at)| Lead {
            id,
            company,
            person,
            consent: Consent {
                email: email_consent,
                phone: None,
            },
            created_at,
            ..Lead::default()
        })
}

/// The kinds whose signal gives positive points in `model` (and, for sessions, whose
/// repeat visits do too).
fn positive_kinds(model: &Model) -> Vec<EventKind> {
    let signals = &model.config().signals;
    let positive = |name: &str| signals.get(name).is_none_or(|s| s.points >= 0.0);
    EventKind::ALL
        .into_iter()
        .filter(|k| positive(k.name()) && (*k != EventKind::Session || positive("repeat_visit")))
        .collect()
}

fn signal_points(card: &ScoreCard, kind: EventKind) -> f64 {
    common::reason(card, kind.name()).map_or(0.0, |r| r.points)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn everything_stays_in_range(model in models(), lead in lead(), events in events()) {
        let c = score(&lead, &events, model, now());
        prop_assert!(c.composite <= 100);
        for s in c.scores.as_array() {
            prop_assert!((0.0..=100.0).contains(&s), "{:?}", c.scores);
        }
        prop_assert!(c.negative.is_finite() && c.negative <= 0.0, "{}", c.negative);
        let exact = c.composite_exact();
        prop_assert!(exact.is_finite() && (-1e-9..=100.0 + 1e-9).contains(&exact), "{}", exact);
        for r in &c.reasons {
            prop_assert!(r.points.is_finite() && r.composite_points.is_finite(), "{:?}", r);
            prop_assert!(r.decayed.is_finite() && r.decayed >= 0.0, "{:?}", r);
        }
        for m in &c.missing {
            prop_assert!(m.best_points.is_finite() && m.worst_points <= 0.0 && m.best_points >= 0.0, "{:?}", m);
        }
        prop_assert_eq!(c.band, if c.disqualified_by.is_some() {
            leadq_scoring::Band::Disqualified
        } else {
            model.band_of(c.composite)
        });
        prop_assert_eq!(c.missing_span.is_some(), !c.missing.is_empty());
        // largest composite effect first, then by dimension and rule
        for pair in c.reasons.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let order = b.composite_points.abs().total_cmp(&a.composite_points.abs())
                .then(a.dimension.cmp(&b.dimension))
                .then_with(|| a.rule.cmp(&b.rule));
            prop_assert!(order.is_le(), "{:?} before {:?}", a, b);
        }
    }

    #[test]
    fn reasons_add_up(model in models(), lead in lead(), events in events()) {
        let c = score(&lead, &events, model, now());
        for d in [Dimension::Fit, Dimension::Stakeholder, Dimension::Behaviour, Dimension::Intent] {
            let sum = reason_sum(&c, d);
            prop_assert!((sum - c.scores.get(d)).abs() <= 1e-9,
                "{}: reasons {} vs score {}", d.name(), sum, c.scores.get(d));
        }
        prop_assert!((reason_sum(&c, Dimension::Negative) - c.negative).abs() <= 1e-9);
        for r in &c.reasons {
            let w = &model.config().weights;
            let weight = match r.dimension {
                Dimension::Fit => w.fit,
                Dimension::Stakeholder => w.stakeholder,
                Dimension::Behaviour => w.behaviour,
                Dimension::Intent => w.intent,
                Dimension::Negative => 100.0,
            };
            prop_assert!((r.composite_points - r.points * weight / 100.0).abs() <= 1e-12, "{:?}", r);
        }
        let exact = c.composite_exact();
        prop_assert_eq!(exact.round() as u8, c.composite, "composite_exact {}", exact);
    }

    #[test]
    fn a_positive_event_never_lowers_the_composite(
        model in models(),
        lead in lead(),
        events in events(),
        extra in event(),
        pick in any::<prop::sample::Index>(),
    ) {
        let kinds = positive_kinds(model);
        let extra = Event { kind: kinds[pick.index(kinds.len())], ..extra };
        let before = score(&lead, &events, model, now());
        let mut more = events.clone();
        more.insert(pick.index(events.len() + 1), extra.clone());
        let after = score(&lead, &more, model, now());
        prop_assert!(after.composite >= before.composite,
            "{} -> {} adding {:?}", before.composite, after.composite, extra);
        prop_assert!(after.composite_exact() >= before.composite_exact() - 1e-9);
        prop_assert!(signal_points(&after, extra.kind) >= signal_points(&before, extra.kind) - 1e-12);
    }

    #[test]
    fn an_older_event_never_counts_more(
        model in models(),
        lead in lead(),
        events in prop::collection::vec(event(), 1..30),
        pick in any::<prop::sample::Index>(),
        older_by_ms in 1i64..100_000_000_000,
    ) {
        let i = pick.index(events.len());
        let kind = events[i].kind;
        let Some(older_at) = events[i].at.checked_sub_signed(Duration::milliseconds(older_by_ms)) else {
            return Ok(());
        };
        let mut aged = events.clone();
        aged[i].at = older_at;
        let before = score(&lead, &events, model, now());
        let after = score(&lead, &aged, model, now());
        prop_assert!(signal_points(&after, kind).abs() <= signal_points(&before, kind).abs() + 1e-12,
            "{}: {} -> {}", kind.name(), signal_points(&before, kind), signal_points(&after, kind));
        if kind == EventKind::Session {
            let repeat = |c: &ScoreCard| common::reason(c, "repeat_visit").map_or(0.0, |r| r.points.abs());
            prop_assert!(repeat(&after) <= repeat(&before) + 1e-12);
        }
        if positive_kinds(model).contains(&kind) {
            prop_assert!(after.composite <= before.composite,
                "{}: {} -> {}", kind.name(), before.composite, after.composite);
            prop_assert!(after.composite_exact() <= before.composite_exact() + 1e-9);
        }
    }

    #[test]
    fn score_into_a_reused_card_equals_score(
        model in models(),
        first in lead(),
        first_events in events(),
        lead in lead(),
        events in events(),
    ) {
        let mut card = ScoreCard::empty();
        score_into(&mut card, &first, &first_events, model, now());
        score_into(&mut card, &lead, &events, model, now());
        prop_assert_eq!(&card, &score(&lead, &events, model, now()));
    }

    #[test]
    fn shuffled_events_give_identical_cards(
        model in models(),
        lead in lead(),
        (events, shuffled) in events().prop_flat_map(|e| (Just(e.clone()), Just(e).prop_shuffle())),
    ) {
        prop_assert_eq!(score(&lead, &events, model, now()), score(&lead, &shuffled, model, now()));
    }
}
