//! Several writers, threads or processes, on one SQLite file: the shared workload of the
//! SQLite multi-process test and of its `sqlite_writer` child binary.

use crate::contract::at;
use leadq_local::{SqliteOptions, SqliteStore};
use leadq_pipeline::{NewEvent, RetryPolicy, Stage, WorkQueue, record_events};
use leadq_scoring::{Event, EventKind};
use std::path::Path;
use std::time::Duration;

/// Receives after which a failed message moves to the dead-letter table, in the SQLite tests.
pub const MAX_RECEIVE_COUNT: u32 = 3;

/// The SQLite options of the tests.
pub fn options() -> SqliteOptions {
    SqliteOptions {
        max_receive_count: MAX_RECEIVE_COUNT,
        ..SqliteOptions::default()
    }
}

/// Writers sharing the file.
pub const WRITERS: usize = 4;
/// Events each writer appends.
pub const PER_WRITER: usize = 250;
/// Messages queued for the writers to drain.
pub const MESSAGES: usize = 100;

/// The events of one writer.
pub fn writer_events(writer: usize) -> Vec<NewEvent> {
    (0..PER_WRITER)
        .map(|i| {
            let n = writer * PER_WRITER + i;
            NewEvent::new(Event::new(
                EventKind::ALL[n % EventKind::ALL.len()],
                at(n as i64),
            ))
        })
        .collect()
}

/// A retry policy patient enough for heavy contention.
pub fn patient() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 500,
        base: Duration::from_millis(2),
        max: Duration::from_millis(50),
    }
}

/// One writer's share: its events in calls of 25, then drains the queue; returns the
/// message ids it received.
pub async fn write_and_drain(path: &Path, writer: usize) -> Vec<String> {
    let store = SqliteStore::open(path, &options()).await.expect("open");
    for chunk in writer_events(writer).chunks(25) {
        record_events(&store, "shared", chunk, at(10_000), &patient())
            .await
            .expect("record_events");
    }
    let queue = store.queue();
    let mut received = Vec::new();
    loop {
        let got = queue
            .receive(Stage::Score, 3, Duration::from_secs(120))
            .await
            .expect("receive");
        if got.is_empty() {
            break;
        }
        for delivery in got {
            queue
                .ack(Stage::Score, &delivery.receipt)
                .await
                .expect("ack");
            received.push(delivery.message_id);
        }
    }
    received
}
