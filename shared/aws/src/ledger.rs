//! Reps' capacity on DynamoDB ([`DynamoLedger`]), in the store's single table.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | holding | `HOLD#<lead id>` | `HOLD` | `rep`, `day`, `taken_at`: the rep slot the lead holds |
//! | rep load | `REP#<rep>` | `REP` | `open`: leads the rep holds |
//! | rep day | `REP#<rep>` | `DAY#<YYYY-MM-DD>` | `given`: leads given that day; `ttl` 35 days on |
//!
//! A take is one TransactWriteItems: Put the holding `attribute_not_exists(pk)` + Update
//! the rep's `open` under its cap + Update the day's `given` under its cap. Either all three
//! are written or none, so concurrent takes never overfill a rep and a repeated take
//! (the holding exists) writes nothing; the cancellation reasons say which condition
//! failed. Transactions cancelled only because they raced another one are retried with
//! jittered backoff.

use crate::batch::{Backoff, get_items};
use crate::dynamo::DynamoStore;
use crate::error::{StoreOp, built, sdk_error};
use crate::table::{Item, PK, SK, TTL, TYPE, key, n, s};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    CancellationReason, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use leadq_pipeline::{RepCaps, RepLedger, RepLoad, StoreError, Take};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Sort key of a lead's holding.
pub const HOLD_SK: &str = "HOLD";
/// Sort key of a rep's load.
pub const REP_SK: &str = "REP";
/// Sort-key prefix of a rep's day counts.
pub const DAY_PREFIX: &str = "DAY#";
/// How long a day's count is kept (it only matters on its own day).
pub const DAY_RETENTION_DAYS: i64 = 35;
/// How often a take or release cancelled only by racing transactions is tried.
const ATTEMPTS: u32 = 12;

/// Partition key of the holding of a lead.
pub fn holding_pk(lead_id: &str) -> String {
    format!("HOLD#{lead_id}")
}

/// Partition key of a rep's load and day counts.
pub fn rep_pk(rep: &str) -> String {
    format!("REP#{rep}")
}

/// Sort key of a rep's count of leads given on `day`.
pub fn day_sk(day: NaiveDate) -> String {
    format!("{DAY_PREFIX}{}", day.format("%Y-%m-%d"))
}

/// A [`RepLedger`] in the single table.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
    backoff: Backoff,
}

/// What one transaction attempt found.
enum Attempt {
    Done,
    Cancelled(Vec<CancellationReason>),
    Raced,
}

fn failed(reason: Option<&CancellationReason>) -> bool {
    reason.and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
}

fn number(item: Option<&Item>, name: &str) -> u32 {
    item.and_then(|item| item.get(name))
        .and_then(|value| value.as_n().ok())
        .and_then(|text| text.parse::<i64>().ok())
        .map_or(0, |n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

fn rep_of(item: Option<&Item>) -> Option<String> {
    item.and_then(|item| item.get("rep"))
        .and_then(|value| value.as_s().ok())
        .cloned()
}

/// A pseudo-random fraction of `delay`: racing transactions back off apart.
fn jitter(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = nanos.wrapping_mul(2_654_435_761) % 1000;
    delay.mul_f64(f64::from(mixed) / 1000.0)
}

impl DynamoLedger {
    /// The ledger in `table_name` through `client`.
    pub fn new(client: Client, table_name: impl Into<String>) -> DynamoLedger {
        DynamoLedger {
            client,
            table: table_name.into(),
            backoff: Backoff {
                first: Duration::from_millis(20),
                max: Duration::from_millis(500),
                attempts: ATTEMPTS,
            },
        }
    }

    /// The ledger in the same table, through the same client, as `store`.
    pub fn for_store(store: &DynamoStore) -> DynamoLedger {
        DynamoLedger::new(store.client().clone(), store.table_name())
    }

    async fn get(&self, op: StoreOp, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(op, e))?;
        Ok(output.item)
    }

    async fn read_load(
        &self,
        op: StoreOp,
        rep: &str,
        day: NaiveDate,
    ) -> Result<RepLoad, StoreError> {
        let open = self.get(op, rep_pk(rep), REP_SK).await?;
        let given = self.get(op, rep_pk(rep), &day_sk(day)).await?;
        Ok(RepLoad {
            open: number(open.as_ref(), "open"),
            new_today: number(given.as_ref(), "given"),
        })
    }

    async fn attempt(
        &self,
        op: StoreOp,
        actions: Vec<TransactWriteItem>,
    ) -> Result<Attempt, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Attempt::Done),
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            // another transaction on the same items is still being applied: a race
            if let Some(TransactWriteItemsError::TransactionInProgressException(_)) =
                err.as_service_error()
            {
                return Ok(Attempt::Raced);
            }
            return Err(sdk_error(op, err));
        };
        let reasons = cancelled.cancellation_reasons().to_vec();
        if reasons.iter().any(|r| failed(Some(r))) {
            return Ok(Attempt::Cancelled(reasons));
        }
        Ok(Attempt::Raced)
    }

    async fn wait(&self, attempt: u32) {
        tokio::time::sleep(jitter(self.backoff.delay(attempt))).await;
    }

    fn give_up(op: StoreOp, attempts: u32) -> StoreError {
        StoreError::RetriesExhausted {
            operation: op,
            attempts,
        }
    }

    fn take_actions(
        &self,
        op: StoreOp,
        rep: &str,
        lead_id: &str,
        day: NaiveDate,
        caps: RepCaps,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut holding = key(holding_pk(lead_id), HOLD_SK);
        holding.insert(TYPE.into(), s("rep_holding"));
        holding.insert("rep".into(), s(rep));
        holding.insert("lead_id".into(), s(lead_id));
        holding.insert("day".into(), s(day.format("%Y-%m-%d").to_string()));
        holding.insert("taken_at".into(), s(crate::table::ts_key(now)));
        let put = built(
            op,
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(holding))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )?;
        let open = built(
            op,
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(rep_pk(rep), REP_SK)))
                .update_expression("SET #type = :type ADD #open :one")
                .condition_expression("attribute_not_exists(#open) OR #open < :max")
                .expression_attribute_names("#type", TYPE)
                .expression_attribute_names("#open", "open")
                .expression_attribute_values(":type", s("rep_load"))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":max", n(caps.max_open_leads))
                .build(),
        )?;
        let expires = day
            .and_hms_opt(0, 0, 0)
            .map(|midnight| midnight.and_utc() + TimeDelta::days(DAY_RETENTION_DAYS))
            .map_or(0, |t| t.timestamp());
        let given = built(
            op,
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(rep_pk(rep), day_sk(day))))
                .update_expression("SET #type = :type, #ttl = :ttl ADD #given :one")
                .condition_expression("attribute_not_exists(#given) OR #given < :max")
                .expression_attribute_names("#type", TYPE)
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_names("#given", "given")
                .expression_attribute_values(":type", s("rep_day"))
                .expression_attribute_values(":ttl", n(expires))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":max", n(caps.max_new_per_day))
                .build(),
        )?;
        Ok(vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(open).build(),
            TransactWriteItem::builder().update(given).build(),
        ])
    }
}

#[async_trait]
impl RepLedger for DynamoLedger {
    async fn take(
        &self,
        rep: &str,
        lead_id: &str,
        day: NaiveDate,
        caps: RepCaps,
        now: DateTime<Utc>,
    ) -> Result<Take, StoreError> {
        const OP: StoreOp = "take_capacity";
        if caps.max_open_leads == 0 || caps.max_new_per_day == 0 {
            // `attribute_not_exists` would let a first take past a cap of zero
            if let Some(holder) = rep_of(self.get(OP, holding_pk(lead_id), HOLD_SK).await?.as_ref())
            {
                let load = self.read_load(OP, rep, day).await?;
                return Ok(if holder == rep {
                    Take::AlreadyHeld(load)
                } else {
                    Take::HeldByOther(holder)
                });
            }
            return Ok(Take::Full(self.read_load(OP, rep, day).await?));
        }
        let actions = self.take_actions(OP, rep, lead_id, day, caps, now)?;
        for attempt in 1..=ATTEMPTS {
            match self.attempt(OP, actions.clone()).await? {
                Attempt::Done => return Ok(Take::Taken(self.read_load(OP, rep, day).await?)),
                Attempt::Cancelled(reasons) => {
                    if failed(reasons.first()) {
                        let holder = rep_of(reasons.first().and_then(|r| r.item.as_ref()));
                        let holder = match holder {
                            Some(holder) => Some(holder),
                            None => {
                                rep_of(self.get(OP, holding_pk(lead_id), HOLD_SK).await?.as_ref())
                            }
                        };
                        match holder {
                            Some(holder) if holder == rep => {
                                return Ok(Take::AlreadyHeld(self.read_load(OP, rep, day).await?));
                            }
                            Some(holder) => return Ok(Take::HeldByOther(holder)),
                            // released between the cancellation and the read: try again
                            None => {}
                        }
                    } else {
                        return Ok(Take::Full(self.read_load(OP, rep, day).await?));
                    }
                }
                Attempt::Raced => {}
            }
            self.wait(attempt).await;
        }
        Err(Self::give_up(OP, ATTEMPTS))
    }

    async fn release(&self, lead_id: &str) -> Result<Option<String>, StoreError> {
        const OP: StoreOp = "release_capacity";
        for attempt in 1..=ATTEMPTS {
            let Some(rep) = rep_of(self.get(OP, holding_pk(lead_id), HOLD_SK).await?.as_ref())
            else {
                return Ok(None);
            };
            let delete = built(
                OP,
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(holding_pk(lead_id), HOLD_SK)))
                    .condition_expression("#rep = :rep")
                    .expression_attribute_names("#rep", "rep")
                    .expression_attribute_values(":rep", s(rep.clone()))
                    .build(),
            )?;
            let open = built(
                OP,
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(rep_pk(&rep), REP_SK)))
                    .update_expression("ADD #open :minus_one")
                    .condition_expression("#open > :zero")
                    .expression_attribute_names("#open", "open")
                    .expression_attribute_values(":minus_one", n(-1))
                    .expression_attribute_values(":zero", n(0))
                    .build(),
            )?;
            let mut actions = vec![TransactWriteItem::builder().delete(delete.clone()).build()];
            actions.push(TransactWriteItem::builder().update(open).build());
            match self.attempt(OP, actions).await? {
                Attempt::Done => return Ok(Some(rep)),
                Attempt::Cancelled(reasons) if !failed(reasons.first()) => {
                    // the count is already zero (it cannot go below): free the holding alone
                    match self
                        .attempt(
                            OP,
                            vec![TransactWriteItem::builder().delete(delete).build()],
                        )
                        .await?
                    {
                        Attempt::Done => return Ok(Some(rep)),
                        Attempt::Cancelled(_) | Attempt::Raced => {}
                    }
                }
                // the holding changed hands meanwhile, or a race: read again
                Attempt::Cancelled(_) | Attempt::Raced => {}
            }
            self.wait(attempt).await;
        }
        Err(Self::give_up(OP, ATTEMPTS))
    }

    async fn holder(&self, lead_id: &str) -> Result<Option<String>, StoreError> {
        let item = self
            .get("capacity_holder", holding_pk(lead_id), HOLD_SK)
            .await?;
        Ok(rep_of(item.as_ref()))
    }

    async fn load(&self, rep: &str, day: NaiveDate) -> Result<RepLoad, StoreError> {
        self.read_load("rep_load", rep, day).await
    }

    /// Both items of every rep in BatchGetItem calls (100 keys each) instead of two
    /// GetItem calls per rep.
    async fn loads(&self, reps: &[(&str, NaiveDate)]) -> Result<Vec<RepLoad>, StoreError> {
        const OP: StoreOp = "rep_loads";
        // BatchGetItem refuses a request that names a key twice
        let wanted: BTreeSet<(String, String)> = reps
            .iter()
            .flat_map(|(rep, day)| {
                [
                    (rep_pk(rep), REP_SK.to_string()),
                    (rep_pk(rep), day_sk(*day)),
                ]
            })
            .collect();
        let keys: Vec<Item> = wanted.into_iter().map(|(pk, sk)| key(pk, sk)).collect();
        let found = get_items(&self.client, &self.table, OP, keys, self.backoff, |r| r).await?;
        let text = |item: &Item, name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let by_key: HashMap<(String, String), Item> = found
            .into_iter()
            .filter_map(|item| Some(((text(&item, PK)?, text(&item, SK)?), item)))
            .collect();
        Ok(reps
            .iter()
            .map(|(rep, day)| RepLoad {
                open: number(by_key.get(&(rep_pk(rep), REP_SK.to_string())), "open"),
                new_today: number(by_key.get(&(rep_pk(rep), day_sk(*day))), "given"),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn keys_follow_the_table_layout() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        assert_eq!(holding_pk("lead-1"), "HOLD#lead-1");
        assert_eq!(rep_pk("ada"), "REP#ada");
        assert_eq!(day_sk(day), "DAY#2026-11-23");
    }

    #[test]
    fn missing_or_odd_counts_read_as_zero() {
        let item: Item = HashMap::from([
            ("open".to_string(), n(3)),
            ("given".to_string(), n(-2)),
            ("rep".to_string(), s("ada")),
        ]);
        assert_eq!(number(Some(&item), "open"), 3);
        assert_eq!(number(Some(&item), "given"), 0);
        assert_eq!(number(None, "open"), 0);
        assert_eq!(rep_of(Some(&item)).as_deref(), Some("ada"));
    }

    #[test]
    fn jitter_stays_within_the_delay() {
        let delay = Duration::from_millis(100);
        for _ in 0..100 {
            assert!(jitter(delay) <= delay);
        }
    }
}
