//! SQLite store throughput: lead upserts per second (`create_lead` of new leads and
//! version-checked `update_lead`), through the async API as the pipeline calls it.
//!
//! `cargo bench -p leadq-local --bench store`

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leadq_local::{LeadStore, SqliteOptions, SqliteStore};
use leadq_pipeline::LeadRecord;
use leadq_scoring::{Lead, Person};

fn record(n: u64) -> LeadRecord {
    let now = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let email = format!("person{n}@example{}.com", n % 97);
    let lead = Lead {
        id: format!("lead-{n:010}"),
        person: Person {
            email: Some(email.clone()),
            name: Some("Ada Lovelace".into()),
            title: Some("VP Engineering".into()),
            ..Person::default()
        },
        source: Some("website".into()),
        created_at: Some(now),
        ..Lead::default()
    };
    LeadRecord::new(lead, Some(email), now)
}

fn upserts(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (label, synchronous_full) in [("synchronous_normal", false), ("synchronous_full", true)] {
        let options = SqliteOptions {
            synchronous_full,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open_blocking(dir.path().join(format!("{label}.db")), &options)
            .expect("open");
        let mut group = c.benchmark_group(format!("sqlite_store/{label}"));
        group.throughput(Throughput::Elements(1));

        let mut next = 0u64;
        group.bench_function("create_lead", |b| {
            b.iter(|| {
                next += 1;
                runtime
                    .block_on(store.create_lead(&record(next)))
                    .expect("create_lead")
            })
        });

        let mut hot = record(u64::MAX);
        runtime
            .block_on(store.create_lead(&hot))
            .expect("create_lead");
        group.bench_function("update_lead", |b| {
            b.iter(|| {
                hot.version += 1;
                hot.lead.source = Some(format!("update {}", hot.version));
                runtime
                    .block_on(store.update_lead(&hot))
                    .expect("update_lead")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, upserts);
criterion_main!(benches);
