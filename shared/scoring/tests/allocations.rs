//! `score_into` allocates nothing once its card is warm: a counting global allocator
//! watches this thread while leads are scored into a reused card.

mod common;

use common::{days_ago, now};
use leadq_scoring::{
    Authority, Company, Consent, Event, EventKind, JobFunction, Lead, Model, Person, ScoreCard,
    Seniority, score, score_into,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations (and reallocations) made on a thread while its counter is on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: thread-locals may be gone while a thread shuts down
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made on this thread by `f`.
fn allocations(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(|n| n.get())
}

fn leads() -> Vec<(Lead, Vec<Event>)> {
    let full = Lead {
        id: "lead-full".into(),
        person: Person {
            email: Some("dana@acme.example".into()),
            country: Some("US".into()),
            seniority: Some(Seniority::Director),
            function: Some(JobFunction::Marketing),
            authority: Some(Authority::Influencer),
            ..Person::default()
        },
        company: Company {
            domain: Some("acme.example".into()),
            industry: Some("Software".into()),
            employees: Some(120),
            revenue_band: Some("10m-50m".into()),
            country: Some("GB".into()),
            tech_stack: Some(vec!["salesforce".into(), "hubspot".into(), "aws".into()]),
            business_model: Some("b2b".into()),
            ..Company::default()
        },
        consent: Consent {
            email: Some(false),
            phone: None,
        },
        created_at: Some(days_ago(45.0)),
        ..Lead::default()
    };
    let rival = Lead {
        id: "lead-rival-with-a-longer-id".into(),
        person: Person {
            email: Some("sam@competitor.example".into()),
            seniority: Some(Seniority::Student),
            ..Person::default()
        },
        ..Lead::default()
    };
    let empty = Lead {
        id: "lead-empty".into(),
        created_at: Some(days_ago(90.0)),
        ..Lead::default()
    };
    let events: Vec<Event> = EventKind::ALL
        .iter()
        .chain(&[EventKind::Session, EventKind::Session, EventKind::PageView])
        .enumerate()
        .map(|(i, kind)| Event {
            minutes: Some(3.0 + i as f64),
            ..Event::new(*kind, days_ago(i as f64 * 2.5))
        })
        .collect();
    vec![
        (full.clone(), events.clone()),
        (rival, events[..4].to_vec()),
        (empty, Vec::new()),
        (full, events[6..].to_vec()),
    ]
}

#[test]
fn score_into_allocates_nothing_after_warm_up() {
    let model = Model::default_model();
    let data = leads();
    let mut card = ScoreCard::empty();
    // warm-up: every lead once, so the card's buffers reach their largest size
    for (lead, events) in &data {
        score_into(&mut card, lead, events, &model, now());
    }
    // the data covers the paths: missing data, disqualification, negatives, every signal
    assert!(!score(&data[2].0, &[], &model, now()).missing.is_empty());
    assert!(
        score(&data[1].0, &data[1].1, &model, now())
            .disqualified_by
            .is_some()
    );

    let rounds = 250;
    let counted = allocations(|| {
        for _ in 0..rounds {
            for (lead, events) in &data {
                score_into(&mut card, lead, events, &model, now());
            }
        }
    });
    let per_score = counted as f64 / (rounds * data.len()) as f64;
    println!("allocations per score_into after warm-up: {per_score}");
    assert_eq!(counted, 0, "{per_score} allocations per score_into");
    // the counter does count: a fresh card allocates
    assert!(allocations(|| drop(score(&data[0].0, &data[0].1, &model, now()))) > 0);
}
