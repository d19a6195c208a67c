//! Scoring throughput: the default model, leads with full firmographics and 20 events each
//! (a realistic mix of kinds and ages), scored with `score_into` into one reused card.
//!
//! `cargo bench -p leadq-scoring --bench score`; criterion reports leads per second.
//!
//! For a profiler, `LEADQ_PROFILE_ROUNDS=N` skips criterion and scores the same leads N
//! times, so that (for example) `valgrind --tool=callgrind` counts a fixed amount of work.

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, Throughput, criterion_group};
use leadq_scoring::{
    Authority, Company, Consent, Event, EventKind, JobFunction, Lead, Model, Person, ScoreCard,
    Seniority, score_into,
};
use std::hint::black_box;

/// Leads per iteration; each is scored once per iteration.
const LEADS: usize = 1024;
const EVENTS_PER_LEAD: usize = 20;

/// A small deterministic generator (PCG-style LCG), so every run scores the same leads.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn days(&mut self, max: f64) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 * max
    }
}

fn lead(i: usize, rng: &mut Rng, now: DateTime<Utc>) -> Lead {
    let industries = [
        "software",
        "Financial Services",
        "healthcare",
        "manufacturing",
        "retail",
        "mining",
        "internet",
        "education",
    ];
    let countries = ["US", "DE", "GB", "FR", "AU", "JP", "BR", "CA", "SE"];
    let revenue = ["<1m", "1m-10m", "10m-50m", "50m-250m", "250m-1b", "1b+"];
    let tech = [
        "salesforce",
        "hubspot",
        "segment",
        "snowflake",
        "aws",
        "gcp",
        "zendesk",
        "marketo",
    ];
    let models = ["b2b", "b2c", "marketplace", "b2b2c"];
    let seniorities = [
        Seniority::CLevel,
        Seniority::Vp,
        Seniority::Director,
        Seniority::Manager,
        Seniority::IndividualContributor,
    ];
    let functions = [
        JobFunction::Sales,
        JobFunction::Marketing,
        JobFunction::Engineering,
        JobFunction::Operations,
        JobFunction::Finance,
        JobFunction::It,
    ];
    let authorities = [
        Authority::DecisionMaker,
        Authority::Influencer,
        Authority::User,
    ];
    let domain = if i % 97 == 0 {
        "competitor.example".to_string()
    } else {
        format!("company{i}.example")
    };
    let stack_len = 2 + rng.below(4);
    Lead {
        id: format!("lead-{i:06}"),
        person: Person {
            email: Some(format!("person{i}@{domain}")),
            name: Some(format!("Person {i}")),
            title: Some("Head of Revenue Operations".into()),
            phone: None,
            country: Some(rng.pick(&countries).to_string()),
            seniority: Some(*rng.pick(&seniorities)),
            function: Some(*rng.pick(&functions)),
            authority: Some(*rng.pick(&authorities)),
            occupation: None,
        },
        company: Company {
            domain: Some(domain),
            name: Some(format!("Company {i}")),
            industry: Some(rng.pick(&industries).to_string()),
            employees: Some(1 + rng.below(20_000) as u32),
            revenue_band: Some(rng.pick(&revenue).to_string()),
            country: Some(rng.pick(&countries).to_string()),
            tech_stack: Some(
                (0..stack_len)
                    .map(|_| rng.pick(&tech).to_string())
                    .collect(),
            ),
            business_model: Some(rng.pick(&models).to_string()),
        },
        source: Some("website".into()),
        consent: Consent {
            email: Some(i % 13 != 0),
            phone: None,
        },
        created_at: Some(now - Duration::hours(rng.below(24 * 120) as i64)),
        ..Lead::default()
    }
}

/// Twenty events: mostly page views, email opens and sessions, some intent.
fn events(rng: &mut Rng, now: DateTime<Utc>) -> Vec<Event> {
    use EventKind::*;
    let mix = [
        PageView,
        PageView,
        PageView,
        PageView,
        PageView,
        EmailOpen,
        EmailOpen,
        EmailOpen,
        Session,
        Session,
        Session,
        EmailClick,
        PricingView,
        CaseStudyView,
        ContentDownload,
        Webinar,
        DemoPageView,
        ProductUsage,
        DemoRequest,
        TrialSignup,
        FormSubmit,
        EmailReply,
        Unsubscribe,
    ];
    (0..EVENTS_PER_LEAD)
        .map(|_| {
            let kind = *rng.pick(&mix);
            let age = Duration::milliseconds((rng.days(90.0) * 86_400_000.0) as i64);
            let mut event = Event::new(kind, now - age);
            if kind == Session {
                event.minutes = Some(rng.days(25.0));
            }
            event
        })
        .collect()
}

fn now() -> DateTime<Utc> {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

/// The leads scored, with their events: the same on every run.
fn data(now: DateTime<Utc>) -> Vec<(Lead, Vec<Event>)> {
    let mut rng = Rng(42);
    (0..LEADS)
        .map(|i| (lead(i, &mut rng, now), events(&mut rng, now)))
        .collect()
}

fn bench_score(c: &mut Criterion) {
    let model = Model::default_model();
    let now = now();
    let data = data(now);
    let mut card = ScoreCard::empty();

    let mut group = c.benchmark_group("score");
    group.throughput(Throughput::Elements(LEADS as u64));
    group.bench_function("score_into/default_model/20_events", |b| {
        b.iter(|| {
            for (lead, events) in &data {
                score_into(&mut card, black_box(lead), black_box(events), &model, now);
                black_box(&card);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_score);

fn main() {
    match std::env::var("LEADQ_PROFILE_ROUNDS") {
        Ok(rounds) => {
            let rounds: usize = rounds.parse().expect("LEADQ_PROFILE_ROUNDS is a number");
            let (model, now) = (Model::default_model(), now());
            let data = data(now);
            let mut card = ScoreCard::empty();
            for _ in 0..rounds {
                for (lead, events) in &data {
                    score_into(&mut card, black_box(lead), black_box(events), &model, now);
                    black_box(&card);
                }
            }
            println!("scored {} leads", rounds * data.len());
        }
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
