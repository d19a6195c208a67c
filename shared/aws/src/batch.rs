//! Batch writes that respect the services' limits and retry what was left unprocessed.
//!
//! Both functions are generic over the call that sends one batch, so the chunking and the
//! retries are tested here without a service (the emulator accepts batches AWS refuses).

use crate::error::{StoreOp, built, sdk_error};
use crate::table::Item;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use aws_sdk_dynamodb::types::builders::KeysAndAttributesBuilder;
use leadq_pipeline::{QueueError, StoreError};
use std::future::Future;
use std::ops::Range;
use std::time::Duration;

/// Most items one BatchWriteItem call may hold.
pub const MAX_BATCH_WRITE_ITEMS: usize = 25;
/// Most keys one BatchGetItem call may hold.
pub const MAX_BATCH_GET_KEYS: usize = 100;
/// Most messages one SendMessageBatch call may hold.
pub const MAX_SEND_BATCH_MESSAGES: usize = 10;

/// Exponential backoff for retrying unprocessed items: `first`, `2 * first`, ... capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub first: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Calls per batch, the first included.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_secs(2),
            attempts: 8,
        }
    }
}

impl Backoff {
    /// The delay before retry number `retry` (1 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// Writes `items` in chunks of at most 25 through `write_batch`, which performs one
/// BatchWriteItem call and returns the items the service left unprocessed; those are
/// retried with exponential backoff, up to `backoff.attempts` calls per chunk.
pub async fn batch_write<T, F, Fut>(
    operation: &'static str,
    items: Vec<T>,
    backoff: Backoff,
    mut write_batch: F,
) -> Result<(), StoreError>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, StoreError>>,
{
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let mut pending: Vec<T> = items.by_ref().take(MAX_BATCH_WRITE_ITEMS).collect();
        let mut calls = 0;
        loop {
            calls += 1;
            pending = write_batch(pending).await?;
            if pending.is_empty() {
                break;
            }
            if calls >= backoff.attempts {
                return Err(StoreError::Backend {
                    operation,
                    message: format!(
                        "{} items still unprocessed after {calls} BatchWriteItem calls",
                        pending.len()
                    ),
                });
            }
            tokio::time::sleep(backoff.delay(calls)).await;
        }
    }
    Ok(())
}

/// Reads `keys` in chunks of at most 100 through `get_batch`, which performs one
/// BatchGetItem call and returns the items found and the keys left unprocessed; those are
/// retried with exponential backoff, up to `backoff.attempts` calls per chunk.
pub async fn batch_get<K, V, F, Fut>(
    operation: &'static str,
    keys: Vec<K>,
    backoff: Backoff,
    mut get_batch: F,
) -> Result<Vec<V>, StoreError>
where
    F: FnMut(Vec<K>) -> Fut,
    Fut: Future<Output = Result<(Vec<V>, Vec<K>), StoreError>>,
{
    let mut found = Vec::new();
    let mut keys = keys.into_iter().peekable();
    while keys.peek().is_some() {
        let mut pending: Vec<K> = keys.by_ref().take(MAX_BATCH_GET_KEYS).collect();
        let mut calls = 0;
        loop {
            calls += 1;
            let (items, unprocessed) = get_batch(pending).await?;
            found.extend(items);
            pending = unprocessed;
            if pending.is_empty() {
                break;
            }
            if calls >= backoff.attempts {
                return Err(StoreError::Backend {
                    operation,
                    message: format!(
                        "{} keys still unprocessed after {calls} BatchGetItem calls",
                        pending.len()
                    ),
                });
            }
            tokio::time::sleep(backoff.delay(calls)).await;
        }
    }
    Ok(found)
}

/// Reads `keys` of `table` with strongly consistent BatchGetItem calls through [`batch_get`];
/// `shape` adds to each request (a projection). Returns the items found, in no order.
pub async fn get_items(
    client: &Client,
    table: &str,
    operation: StoreOp,
    keys: Vec<Item>,
    backoff: Backoff,
    shape: fn(KeysAndAttributesBuilder) -> KeysAndAttributesBuilder,
) -> Result<Vec<Item>, StoreError> {
    batch_get(operation, keys, backoff, |batch| {
        let client = client.clone();
        let table = table.to_string();
        async move {
            let request = built(
                operation,
                shape(KeysAndAttributes::builder())
                    .set_keys(Some(batch))
                    .consistent_read(true)
                    .build(),
            )?;
            let output = client
                .batch_get_item()
                .request_items(table.clone(), request)
                .send()
                .await
                .map_err(|e| sdk_error(operation, e))?;
            let items = output
                .responses
                .and_then(|mut r| r.remove(&table))
                .unwrap_or_default();
            let unprocessed = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&table))
                .map(|k| k.keys)
                .unwrap_or_default();
            Ok((items, unprocessed))
        }
    })
    .await
}

/// Splits message bodies into SendMessageBatch calls: at most 10 messages and at most
/// `max_batch_bytes` of bodies per call.
pub fn send_chunks(sizes: &[usize], max_batch_bytes: usize) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, size) in sizes.iter().enumerate() {
        let full =
            i - start == MAX_SEND_BATCH_MESSAGES || (i > start && bytes + size > max_batch_bytes);
        if full {
            chunks.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        chunks.push(start..sizes.len());
    }
    chunks
}

/// One entry of a batch that the service refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    /// The entry's id within its batch.
    pub id: String,
    /// True if the request itself is wrong (retrying cannot help).
    pub sender_fault: bool,
    /// The service's error code.
    pub code: String,
    /// The service's message.
    pub message: String,
}

/// Sends `entries` (id, body) in one batch through `send_batch`, which performs one
/// SendMessageBatch call and returns the failed entries; failures that are not the
/// sender's fault are retried with backoff, up to `backoff.attempts` calls.
pub async fn send_with_retries<F, Fut>(
    operation: &'static str,
    entries: Vec<(String, String)>,
    backoff: Backoff,
    mut send_batch: F,
) -> Result<(), QueueError>
where
    F: FnMut(Vec<(String, String)>) -> Fut,
    Fut: Future<Output = Result<Vec<EntryFailure>, QueueError>>,
{
    let mut pending = entries;
    let mut calls = 0;
    loop {
        calls += 1;
        let failures = send_batch(pending.clone()).await?;
        if failures.is_empty() {
            return Ok(());
        }
        let describe = |f: &EntryFailure| format!("entry {}: {}: {}", f.id, f.code, f.message);
        if let Some(fatal) = failures.iter().find(|f| f.sender_fault) {
            return Err(QueueError::Backend {
                operation,
                message: format!("SendMessageBatch refused {}", describe(fatal)),
            });
        }
        if calls >= backoff.attempts {
            return Err(QueueError::Backend {
                operation,
                message: format!(
                    "{} messages still failing after {calls} SendMessageBatch calls; last: {}",
                    failures.len(),
                    describe(&failures[0])
                ),
            });
        }
        pending.retain(|(id, _)| failures.iter().any(|f| &f.id == id));
        tokio::time::sleep(backoff.delay(calls)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn quick() -> Backoff {
        Backoff {
            first: Duration::from_millis(10),
            max: Duration::from_millis(40),
            attempts: 5,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = quick();
        let delays: Vec<u128> = (1..=5).map(|r| b.delay(r).as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 40, 40]);
        assert_eq!(Backoff::default().delay(100), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn chunks_by_25_and_retries_unprocessed_items() {
        let calls: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
        let seen = calls.clone();
        // The fake service leaves every item divisible by 7 unprocessed on its first try.
        let retried: Arc<Mutex<Vec<u32>>> = Arc::default();
        let retried_in = retried.clone();
        let items: Vec<u32> = (0..60).collect();
        batch_write("seed", items, quick(), move |batch: Vec<u32>| {
            let seen = seen.clone();
            let retried = retried_in.clone();
            async move {
                assert!(
                    batch.len() <= MAX_BATCH_WRITE_ITEMS,
                    "a batch of {} items",
                    batch.len()
                );
                seen.lock().map_err(|_| poisoned())?.push(batch.clone());
                let mut retried = retried.lock().map_err(|_| poisoned())?;
                let mut unprocessed = Vec::new();
                for item in batch {
                    if item % 7 == 0 && !retried.contains(&item) {
                        retried.push(item);
                        unprocessed.push(item);
                    }
                }
                Ok(unprocessed)
            }
        })
        .await
        .expect("all written");
        let calls = calls.lock().map(|c| c.clone()).unwrap_or_default();
        let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
        // 25 (4 unprocessed: 0 7 14 21), retry 4; 25 (28 35 42 49), retry 4; 10 (56), retry 1.
        assert_eq!(sizes, [25, 4, 25, 4, 10, 1]);
        assert_eq!(calls[1], [0, 7, 14, 21]);
        let mut written: Vec<u32> = calls.concat();
        written.sort_unstable();
        written.dedup();
        assert_eq!(written, (0..60).collect::<Vec<_>>());
    }

    fn poisoned() -> StoreError {
        StoreError::Backend {
            operation: "test",
            message: "poisoned".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_on_items_never_processed() {
        let started = tokio::time::Instant::now();
        let err = batch_write(
            "erase_lead",
            vec![1, 2, 3],
            quick(),
            |batch: Vec<u32>| async move { Ok(batch[..1].to_vec()) },
        )
        .await
        .expect_err("never processed");
        assert_eq!(
            err,
            StoreError::Backend {
                operation: "erase_lead",
                message: "1 items still unprocessed after 5 BatchWriteItem calls".into()
            }
        );
        // Backed off 10 + 20 + 40 + 40 ms between the five calls.
        assert_eq!(started.elapsed(), Duration::from_millis(110));
    }

    #[tokio::test]
    async fn batch_errors_stop_the_write() {
        let err = batch_write("seed", vec![1; 30], quick(), |_batch: Vec<u32>| async {
            Err(poisoned())
        })
        .await
        .expect_err("failed call");
        assert_eq!(err, poisoned());
    }

    #[tokio::test(start_paused = true)]
    async fn batch_get_chunks_by_100_and_retries_unprocessed_keys() {
        let calls: Arc<Mutex<Vec<usize>>> = Arc::default();
        let seen = calls.clone();
        let found = batch_get(
            "existing_event_ids",
            (0..150).collect(),
            quick(),
            move |keys: Vec<u32>| {
                let seen = seen.clone();
                async move {
                    let first = seen
                        .lock()
                        .map(|mut c| {
                            c.push(keys.len());
                            c.len() == 1
                        })
                        .unwrap_or(false);
                    // the first call leaves its last 30 keys unprocessed; odd keys exist
                    let (now, later) = if first {
                        keys.split_at(70)
                    } else {
                        keys.split_at(keys.len())
                    };
                    let items: Vec<u32> = now.iter().copied().filter(|k| k % 2 == 1).collect();
                    Ok((items, later.to_vec()))
                }
            },
        )
        .await
        .expect("all read");
        assert_eq!(
            calls.lock().map(|c| c.clone()).unwrap_or_default(),
            [100, 30, 50]
        );
        let mut found = found;
        found.sort_unstable();
        assert_eq!(found, (0..150).filter(|k| k % 2 == 1).collect::<Vec<_>>());
    }

    #[test]
    fn send_chunks_respect_count_and_bytes() {
        assert_eq!(send_chunks(&[], 100), Vec::<Range<usize>>::new());
        assert_eq!(send_chunks(&[1; 25], 100), vec![0..10, 10..20, 20..25]);
        assert_eq!(
            send_chunks(&[40, 40, 40, 100, 1], 100),
            vec![0..2, 2..3, 3..4, 4..5]
        );
        assert_eq!(send_chunks(&[60, 40, 1], 100), vec![0..2, 2..3]);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_failed_entries() {
        let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let seen = calls.clone();
        let entries: Vec<(String, String)> = (0..10)
            .map(|i| (format!("m{i}"), format!("body {i}")))
            .collect();
        send_with_retries("send", entries, quick(), move |batch| {
            let seen = seen.clone();
            async move {
                let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
                let first = seen.lock().map(|mut c| {
                    c.push(ids.clone());
                    c.len() == 1
                });
                let failures = if first.unwrap_or(false) {
                    ["m3", "m8"]
                        .iter()
                        .map(|id| EntryFailure {
                            id: id.to_string(),
                            sender_fault: false,
                            code: "InternalError".into(),
                            message: "try again".into(),
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                Ok(failures)
            }
        })
        .await
        .expect("sent on retry");
        let calls = calls.lock().map(|c| c.clone()).unwrap_or_default();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1], ["m3", "m8"]);
    }

    #[tokio::test(start_paused = true)]
    async fn sender_faults_and_persistent_failures_are_errors() {
        let fail = |sender_fault: bool| {
            move |batch: Vec<(String, String)>| async move {
                Ok(vec![EntryFailure {
                    id: batch[0].0.clone(),
                    sender_fault,
                    code: "InvalidMessageContents".into(),
                    message: "bad char".into(),
                }])
            }
        };
        let one = || vec![("m0".to_string(), "x".to_string())];
        let err = send_with_retries("send", one(), quick(), fail(true))
            .await
            .expect_err("fatal");
        assert_eq!(
            err,
            QueueError::Backend {
                operation: "send",
                message: "SendMessageBatch refused entry m0: InvalidMessageContents: bad char"
                    .into()
            }
        );
        let err = send_with_retries("send", one(), quick(), fail(false))
            .await
            .expect_err("persistent");
        assert!(
            matches!(&err, QueueError::Backend { message, .. } if message.starts_with("1 messages still failing after 5")),
            "{err}"
        );
    }
}
