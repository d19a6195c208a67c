//! The lead store on DynamoDB: one table, the layout in [`crate::table`] and `TABLE.md`.
//!
//! Every write is create-if-absent or version-conditional; the adapter only translates
//! the port's calls into requests and the service's answers (conditions that failed,
//! cancellation reasons) back into the port's results.

use crate::batch::{Backoff, batch_write, get_items};
use crate::config::StoreConfig;
use crate::error::{StoreOp, built, corrupt, encode_error, sdk_error};
use crate::table::{
    self, ACTIVE_SK, ALERT_PREFIX, EMAIL_SK, ERASING, EVENT_PREFIX, GSI1, GSI1_PK, GSI1_SK, GSI2,
    GSI2_PK, GSI2_SK, HISTORY_PREFIX, IDEM_SK, Item, LEAD_SK, MODEL_PK, OUTCOMES_PK, PK,
    RESCORE_SHARDS, SK, TOMBSTONE_SK, TTL, TYPE, VERSION_PREFIX, key, n, s,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Delete, DeleteRequest, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, WriteRequest,
};
use chrono::{DateTime, Utc};
use leadq_pipeline::{
    Alert, AlertState, Claim, Created, HistoryEntry, LeadRecord, LeadStore, ModelVersion, Page,
    RepLedger, StoreError, StoredEvent, Tombstone, email_hash,
};
use leadq_scoring::Outcome;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Most events one `append_events` call may hold (TransactWriteItems takes 100 actions).
pub const MAX_EVENTS_PER_APPEND: usize = 99;

/// Attributes the store adds to a record's item (keys, index keys, TTL, bookkeeping).
const META: [&str; 10] = [
    PK, SK, TYPE, TTL, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, SEQ, ERASING,
];
/// Write order of an event within its lead (ties of `event.at` list in write order).
const SEQ: &str = "seq";
/// Most actions one TransactWriteItems call may hold.
const MAX_TRANSACTION_ACTIONS: usize = 100;
/// How often a transaction cancelled only by concurrent transactions is tried.
const TRANSACTION_ATTEMPTS: u32 = 3;
/// Idempotency status attribute values.
const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETED: &str = "COMPLETED";

/// The lead store on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    event_retention: Option<Duration>,
    backoff: Backoff,
}

/// What a conditional write found.
enum Written {
    /// The item was written.
    Yes,
    /// The condition failed; the item as it was, if the service returned it.
    ConditionFailed(Option<Item>),
}

/// What a transaction found.
enum Transacted {
    /// Every action was applied.
    Yes,
    /// A condition failed; one reason per action, in order.
    Cancelled(Vec<CancellationReason>),
}

fn is_condition_failure(reason: &CancellationReason) -> bool {
    reason.code() == Some("ConditionalCheckFailed")
}

/// The first event a cancelled append found already stored.
fn duplicate_event(
    record: &LeadRecord,
    events: &[StoredEvent],
    reasons: &[CancellationReason],
) -> StoreError {
    match events
        .iter()
        .zip(reasons)
        .find(|(_, r)| is_condition_failure(r))
    {
        Some((event, _)) => StoreError::DuplicateEvent {
            lead_id: record.id().to_string(),
            event_id: event.event_id.clone(),
        },
        None => StoreError::Backend {
            operation: "append_events",
            message: describe_reasons(reasons),
        },
    }
}

fn describe_reasons(reasons: &[CancellationReason]) -> String {
    let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("?")).collect();
    format!("transaction cancelled: [{}]", codes.join(", "))
}

/// Epoch nanoseconds, clamped to the `i64` range (years 1677-2262).
fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

fn names(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn values(pairs: Vec<(&str, AttributeValue)>) -> Option<HashMap<String, AttributeValue>> {
    Some(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Removes NULL attributes from maps, recursively: `None` fields are left out, not stored.
fn drop_nulls(item: &mut Item) {
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    for value in item.values_mut() {
        drop_nulls_in(value);
    }
}

fn drop_nulls_in(value: &mut AttributeValue) {
    match value {
        AttributeValue::M(map) => drop_nulls(map),
        AttributeValue::L(list) => list.iter_mut().for_each(drop_nulls_in),
        _ => {}
    }
}

/// The item of a record: its fields (serde_dynamo, `None`s left out) plus keys and type.
pub(crate) fn encode<T: Serialize>(
    op: StoreOp,
    value: &T,
    pk: String,
    sk: String,
    kind: &str,
) -> Result<Item, StoreError> {
    let mut item: Item = to_item(value).map_err(|e| encode_error(op, e))?;
    drop_nulls(&mut item);
    item.insert(PK.into(), s(pk));
    item.insert(SK.into(), s(sk));
    item.insert(TYPE.into(), s(kind));
    Ok(item)
}

/// The record of an item, without the store's own attributes.
pub(crate) fn decode<T: DeserializeOwned>(op: StoreOp, mut item: Item) -> Result<T, StoreError> {
    for name in META {
        item.remove(name);
    }
    from_item(item).map_err(|e| corrupt(op, e))
}

pub(crate) fn string_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number_attr(op: StoreOp, item: &Item, name: &str) -> Result<i64, StoreError> {
    let text = item
        .get(name)
        .and_then(|v| v.as_n().ok())
        .ok_or_else(|| corrupt(op, format!("attribute {name} is missing or not a number")))?;
    text.parse()
        .map_err(|e| corrupt(op, format!("attribute {name}: {e}")))
}

impl DynamoStore {
    /// A store on `config.table_name` through `client`.
    pub fn new(client: Client, config: StoreConfig) -> DynamoStore {
        DynamoStore {
            client,
            table: config.table_name,
            event_retention: config.event_retention,
            backoff: Backoff::default(),
        }
    }

    /// A store with a client built from an SDK configuration.
    pub fn from_sdk_config(sdk_config: &aws_config::SdkConfig, config: StoreConfig) -> DynamoStore {
        DynamoStore::new(Client::new(sdk_config), config)
    }

    /// Replaces the backoff of bulk writes.
    pub fn with_backoff(mut self, backoff: Backoff) -> DynamoStore {
        self.backoff = backoff;
        self
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// The item a lead record is stored as.
    pub fn lead_item(&self, record: &LeadRecord) -> Result<Item, StoreError> {
        let op = "encode_lead";
        let mut item = encode(
            op,
            record,
            table::lead_pk(record.id()),
            LEAD_SK.into(),
            "lead",
        )?;
        if let Some(rescore_at) = record.rescore_at {
            item.insert(
                GSI2_PK.into(),
                s(table::rescore_gsi_pk(table::rescore_shard(record.id()))),
            );
            item.insert(
                GSI2_SK.into(),
                s(table::rescore_gsi_sk(rescore_at, record.id())),
            );
        }
        Ok(item)
    }

    /// The item an event is stored as; `seq` orders events of equal time by write order.
    pub fn event_item(
        &self,
        lead_id: &str,
        event: &StoredEvent,
        seq: u64,
    ) -> Result<Item, StoreError> {
        let op = "encode_event";
        let mut item = encode(
            op,
            event,
            table::lead_pk(lead_id),
            table::event_sk(&event.event_id),
            "event",
        )?;
        item.insert(SEQ.into(), n(seq));
        if let Some(retention) = self.event_retention {
            let expires = event
                .event
                .at
                .timestamp()
                .saturating_add(retention.as_secs() as i64);
            item.insert(TTL.into(), n(expires));
        }
        Ok(item)
    }

    /// The item of the lock that reserves `email_key` for `lead_id`.
    pub fn email_lock_item(email_key: &str, lead_id: &str) -> Item {
        let mut item = key(table::email_pk(email_key), EMAIL_SK);
        item.insert(TYPE.into(), s("email_lock"));
        item.insert("lead_id".into(), s(lead_id));
        item
    }

    fn put(
        &self,
        op: StoreOp,
        item: Item,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Put, StoreError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(self::names(names))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if !values.is_empty() {
            put = put.set_expression_attribute_values(self::values(values));
        }
        built(op, put.build())
    }

    fn put_if_absent(&self, op: StoreOp, item: Item) -> Result<Put, StoreError> {
        self.put(
            op,
            item,
            "attribute_not_exists(#pk)",
            &[("#pk", PK)],
            Vec::new(),
        )
    }

    fn put_if_version(&self, op: StoreOp, item: Item, expected: u64) -> Result<Put, StoreError> {
        self.put(
            op,
            item,
            "#version = :expected",
            &[("#version", "version")],
            vec![(":expected", n(expected))],
        )
    }

    /// Sends a conditional PutItem built by [`Self::put`].
    async fn send_put(&self, op: StoreOp, put: Put) -> Result<Written, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .set_return_values_on_condition_check_failure(
                put.return_values_on_condition_check_failure,
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Yes),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(e)) => {
                    Ok(Written::ConditionFailed(e.item.clone()))
                }
                _ => Err(sdk_error(op, err)),
            },
        }
    }

    /// Sends a transaction; a cancellation caused only by concurrent transactions is retried.
    async fn transact(
        &self,
        op: StoreOp,
        actions: Vec<TransactWriteItem>,
    ) -> Result<Transacted, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Transacted::Yes),
                Err(err) => err,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                err.as_service_error()
            else {
                return Err(sdk_error(op, err));
            };
            let reasons = cancelled.cancellation_reasons().to_vec();
            if reasons.iter().any(is_condition_failure) {
                return Ok(Transacted::Cancelled(reasons));
            }
            let only_conflicts = reasons
                .iter()
                .all(|r| matches!(r.code(), None | Some("None") | Some("TransactionConflict")));
            if !only_conflicts || attempt >= TRANSACTION_ATTEMPTS {
                return Err(StoreError::Backend {
                    operation: op,
                    message: describe_reasons(&reasons),
                });
            }
            tokio::time::sleep(self.backoff.delay(attempt)).await;
        }
    }

    async fn get_item(
        &self,
        op: StoreOp,
        pk: String,
        sk: &str,
    ) -> Result<Option<Item>, StoreError> {
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

    /// Every item of a partition whose sort key starts with `prefix`, in sort-key order.
    async fn query_partition(
        &self,
        op: StoreOp,
        pk: String,
        prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start.take());
            request = if prefix.is_empty() {
                request.key_condition_expression("#pk = :pk")
            } else {
                request
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":prefix", s(prefix))
            };
            let output = request.send().await.map_err(|e| sdk_error(op, e))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(items),
            }
        }
    }

    /// The conditional Put of a lead: the stored version must be `expected` and the stored
    /// email key `stored_email` (so a changed key goes through [`Self::move_email`]).
    fn lead_put(
        &self,
        op: StoreOp,
        record: &LeadRecord,
        expected: u64,
        stored_email: Option<&str>,
    ) -> Result<Put, StoreError> {
        let item = self.lead_item(record)?;
        // A lead being erased is never written again, whatever version the writer holds.
        let names = [
            ("#version", "version"),
            ("#email_key", "email_key"),
            ("#erasing", ERASING),
        ];
        match stored_email {
            Some(email_key) => self.put(
                op,
                item,
                "#version = :expected AND #email_key = :email_key AND attribute_not_exists(#erasing)",
                &names,
                vec![(":expected", n(expected)), (":email_key", s(email_key))],
            ),
            None => self.put(
                op,
                item,
                "#version = :expected AND attribute_not_exists(#email_key) AND attribute_not_exists(#erasing)",
                &names,
                vec![(":expected", n(expected))],
            ),
        }
    }

    /// Writes `events` (each create-if-absent) and a lead whose stored version must be
    /// `record.version - 1`, in one transaction (one PutItem without events).
    async fn write_lead(
        &self,
        op: StoreOp,
        record: &LeadRecord,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        if events.len() > MAX_EVENTS_PER_APPEND {
            return Err(StoreError::Backend {
                operation: op,
                message: format!(
                    "at most {MAX_EVENTS_PER_APPEND} events per call, got {}",
                    events.len()
                ),
            });
        }
        let mut seen = HashSet::new();
        if let Some(dup) = events.iter().find(|e| !seen.insert(e.event_id.as_str())) {
            return Err(StoreError::DuplicateEvent {
                lead_id: record.id().to_string(),
                event_id: dup.event_id.clone(),
            });
        }
        let expected = record.version.saturating_sub(1);
        let lead = self.lead_put(op, record, expected, record.email_key.as_deref())?;
        let old = if events.is_empty() {
            match self.send_put(op, lead).await? {
                Written::Yes => return Ok(()),
                Written::ConditionFailed(old) => old,
            }
        } else {
            let mut actions = self.event_puts(op, record, events)?;
            actions.push(TransactWriteItem::builder().put(lead).build());
            let reasons = match self.transact(op, actions).await? {
                Transacted::Yes => return Ok(()),
                Transacted::Cancelled(reasons) => reasons,
            };
            match reasons.get(events.len()) {
                Some(lead_reason) if is_condition_failure(lead_reason) => lead_reason.item.clone(),
                _ => return Err(duplicate_event(record, events, &reasons)),
            }
        };
        let old = match old {
            Some(old) => Some(old),
            None => {
                self.get_item(op, table::lead_pk(record.id()), LEAD_SK)
                    .await?
            }
        };
        let Some(old) = old.filter(|old| !old.contains_key(ERASING)) else {
            return Err(StoreError::NotFound {
                what: "lead",
                id: record.id().to_string(),
            });
        };
        let conflict = StoreError::Conflict {
            lead_id: record.id().to_string(),
            expected,
        };
        if number_attr(op, &old, "version")? != expected as i64 {
            return Err(conflict);
        }
        let old_email = string_attr(&old, "email_key").map(str::to_string);
        if old_email == record.email_key {
            // The version and the key matched when read: the item changed in between.
            return Err(conflict);
        }
        self.move_email(op, record, events, expected, old_email)
            .await
    }

    /// Writes a lead whose email key changed: releases the old lock and takes the new one
    /// in the same transaction as the lead (and its events).
    async fn move_email(
        &self,
        op: StoreOp,
        record: &LeadRecord,
        events: &[StoredEvent],
        expected: u64,
        old_email: Option<String>,
    ) -> Result<(), StoreError> {
        if events.len() + 3 > MAX_TRANSACTION_ACTIONS {
            return Err(StoreError::Backend {
                operation: op,
                message: format!(
                    "an email key change takes at most {} events",
                    MAX_TRANSACTION_ACTIONS - 3
                ),
            });
        }
        let mut actions = self.event_puts(op, record, events)?;
        let lead_index = actions.len();
        let lead = self.lead_put(op, record, expected, old_email.as_deref())?;
        actions.push(TransactWriteItem::builder().put(lead).build());
        let mine = "attribute_not_exists(#pk) OR #lead_id = :me";
        let lock_names = [("#pk", PK), ("#lead_id", "lead_id")];
        if let Some(old_key) = &old_email {
            let delete = built(
                op,
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(table::email_pk(old_key), EMAIL_SK)))
                    .condition_expression(mine)
                    .set_expression_attribute_names(names(&lock_names))
                    .set_expression_attribute_values(values(vec![(":me", s(record.id()))]))
                    .build(),
            )?;
            actions.push(TransactWriteItem::builder().delete(delete).build());
        }
        let new_lock_index = actions.len();
        if let Some(new_key) = &record.email_key {
            let lock = DynamoStore::email_lock_item(new_key, record.id());
            let put = self.put(op, lock, mine, &lock_names, vec![(":me", s(record.id()))])?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        let reasons = match self.transact(op, actions).await? {
            Transacted::Yes => return Ok(()),
            Transacted::Cancelled(reasons) => reasons,
        };
        if reasons.get(lead_index).is_some_and(is_condition_failure) {
            return Err(StoreError::Conflict {
                lead_id: record.id().to_string(),
                expected,
            });
        }
        if let (Some(new_key), Some(reason)) = (&record.email_key, reasons.get(new_lock_index)) {
            if is_condition_failure(reason) {
                let holder = self.lock_holder(op, new_key, reason.item.as_ref()).await?;
                return Err(StoreError::Backend {
                    operation: op,
                    message: format!(
                        "email key {new_key} already belongs to lead {}",
                        holder.as_deref().unwrap_or("(unknown)")
                    ),
                });
            }
        }
        if reasons[..events.len().min(reasons.len())]
            .iter()
            .any(is_condition_failure)
        {
            return Err(duplicate_event(record, events, &reasons));
        }
        Err(StoreError::Backend {
            operation: op,
            message: format!(
                "email lock {} belongs to another lead: {}",
                old_email.as_deref().unwrap_or(""),
                describe_reasons(&reasons)
            ),
        })
    }

    /// One create-if-absent Put per event.
    fn event_puts(
        &self,
        op: StoreOp,
        record: &LeadRecord,
        events: &[StoredEvent],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut actions = Vec::with_capacity(events.len() + 3);
        for (i, event) in events.iter().enumerate() {
            let seq = record.version.saturating_mul(1000).saturating_add(i as u64);
            let put = self.put_if_absent(op, self.event_item(record.id(), event, seq)?)?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(actions)
    }

    /// Who holds an email lock, from the item a cancelled transaction returned or a read.
    async fn lock_holder(
        &self,
        op: StoreOp,
        email_key: &str,
        returned: Option<&Item>,
    ) -> Result<Option<String>, StoreError> {
        if let Some(holder) = returned.and_then(|item| string_attr(item, "lead_id")) {
            return Ok(Some(holder.to_string()));
        }
        let item = self
            .get_item(op, table::email_pk(email_key), EMAIL_SK)
            .await?;
        Ok(item
            .as_ref()
            .and_then(|i| string_attr(i, "lead_id"))
            .map(str::to_string))
    }

    /// Erasure, step 1: marks the lead `erasing` and bumps its version, so a writer holding
    /// the old version conflicts and every later read sees the lead as gone; takes it out
    /// of the rescore index. Returns the marked item, or `None` if no lead is stored.
    async fn mark_erasing(
        &self,
        lead_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Item>, StoreError> {
        const OP: StoreOp = "erase_lead";
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(table::lead_pk(lead_id), LEAD_SK)))
            // a retry keeps the time the first attempt marked
            .update_expression(
                "SET #erasing = if_not_exists(#erasing, :now), #version = #version + :one \
                 REMOVE #gsi2pk, #gsi2sk",
            )
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(names(&[
                ("#erasing", ERASING),
                ("#version", "version"),
                ("#gsi2pk", GSI2_PK),
                ("#gsi2sk", GSI2_SK),
                ("#pk", PK),
            ]))
            .set_expression_attribute_values(values(vec![
                (":now", s(table::ts_key(now))),
                (":one", n(1)),
            ]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(output.attributes.unwrap_or_default())),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(None),
                _ => Err(sdk_error(OP, err)),
            },
        }
    }

    /// Erasure, step 2: deletes every item of the lead's partition whose sort key starts
    /// with `prefix` (`""`: all of them) but the lead item (events, history, alerts), a
    /// page of keys at a time in BatchWriteItem chunks of 25. Nothing can be added
    /// meanwhile: appends conflict on the bumped version and the mark, history and alerts
    /// are written only beside a lead that is not marked.
    async fn delete_lead_items(&self, lead_id: &str, prefix: &str) -> Result<(), StoreError> {
        const OP: StoreOp = "erase_lead";
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .projection_expression("#pk, #sk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(table::lead_pk(lead_id)))
                .set_exclusive_start_key(start.take());
            request = if prefix.is_empty() {
                request.key_condition_expression("#pk = :pk")
            } else {
                request
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix))
            };
            let output = request.send().await.map_err(|e| sdk_error(OP, e))?;
            let mut requests = Vec::new();
            for item in output.items.unwrap_or_default() {
                let (Some(pk), Some(sk)) = (string_attr(&item, PK), string_attr(&item, SK)) else {
                    return Err(corrupt(OP, "item without keys in a lead's partition"));
                };
                if sk == LEAD_SK {
                    continue;
                }
                let delete = built(
                    OP,
                    DeleteRequest::builder().set_key(Some(key(pk, sk))).build(),
                )?;
                requests.push(WriteRequest::builder().delete_request(delete).build());
            }
            self.batch_write(OP, requests).await?;
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(()),
            }
        }
    }

    /// Erasure, step 3: one transaction deletes the marked lead and its email lock and
    /// stores the tombstone. A lead already gone means a concurrent erase finished first.
    async fn finish_erase(
        &self,
        lead_id: &str,
        email_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OP: StoreOp = "erase_lead";
        let lead = built(
            OP,
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(table::lead_pk(lead_id), LEAD_SK)))
                .condition_expression("attribute_exists(#erasing)")
                .expression_attribute_names("#erasing", ERASING)
                .build(),
        )?;
        let mut actions = vec![TransactWriteItem::builder().delete(lead).build()];
        if let Some(email_key) = email_key {
            let lock = built(
                OP,
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(table::email_pk(email_key), EMAIL_SK)))
                    .condition_expression("attribute_not_exists(#pk) OR #lead_id = :me")
                    .set_expression_attribute_names(names(&[("#pk", PK), ("#lead_id", "lead_id")]))
                    .set_expression_attribute_values(values(vec![(":me", s(lead_id))]))
                    .build(),
            )?;
            actions.push(TransactWriteItem::builder().delete(lock).build());
            let tombstone = Tombstone {
                email_hash: email_hash(email_key),
                lead_id: lead_id.to_string(),
                erased_at: now,
            };
            let item = encode(
                OP,
                &tombstone,
                table::tombstone_pk(&tombstone.email_hash),
                TOMBSTONE_SK.into(),
                "tombstone",
            )?;
            let put = built(
                OP,
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .build(),
            )?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact(OP, actions).await? {
            Transacted::Yes => Ok(()),
            Transacted::Cancelled(reasons) if reasons.first().is_some_and(is_condition_failure) => {
                Ok(())
            }
            Transacted::Cancelled(reasons) => Err(StoreError::Backend {
                operation: OP,
                message: format!(
                    "the email lock of lead {lead_id} belongs to another lead: {}",
                    describe_reasons(&reasons)
                ),
            }),
        }
    }

    /// Applies write requests through BatchWriteItem, 25 at a time, retrying unprocessed ones.
    pub async fn batch_write(
        &self,
        op: StoreOp,
        requests: Vec<WriteRequest>,
    ) -> Result<(), StoreError> {
        batch_write(op, requests, self.backoff, |batch| {
            let client = self.client.clone();
            let table = self.table.clone();
            async move {
                let output = client
                    .batch_write_item()
                    .request_items(table.clone(), batch)
                    .send()
                    .await
                    .map_err(|e| sdk_error(op, e))?;
                Ok(output
                    .unprocessed_items
                    .and_then(|mut unprocessed| unprocessed.remove(&table))
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// Leads of one rescore shard due at or before `hi`, after `after` (inclusive; the caller
    /// drops the cursor item), at most `limit`: `(gsi2sk, lead id)` and whether more remain.
    async fn rescore_shard_page(
        client: Client,
        table: String,
        shard: u32,
        after: Option<String>,
        hi: String,
        limit: i32,
    ) -> Result<(Vec<(String, String)>, bool), StoreError> {
        const OP: StoreOp = "leads_due_for_rescore";
        let mut request = client
            .query()
            .table_name(table)
            .index_name(GSI2)
            .limit(limit)
            .expression_attribute_names("#pk", GSI2_PK)
            .expression_attribute_names("#sk", GSI2_SK)
            .expression_attribute_values(":pk", s(table::rescore_gsi_pk(shard)))
            .expression_attribute_values(":hi", s(hi));
        request = match after {
            Some(lo) => request
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":lo", s(lo)),
            None => request.key_condition_expression("#pk = :pk AND #sk <= :hi"),
        };
        let output = request.send().await.map_err(|e| sdk_error(OP, e))?;
        let more = output
            .last_evaluated_key
            .as_ref()
            .is_some_and(|k| !k.is_empty());
        let mut found = Vec::new();
        for item in output.items.unwrap_or_default() {
            let (Some(sort), Some(pk)) = (string_attr(&item, GSI2_SK), string_attr(&item, PK))
            else {
                return Err(corrupt(OP, "index item without keys"));
            };
            let Some(lead_id) = pk.strip_prefix("LEAD#") else {
                return Err(corrupt(OP, format!("index item of {pk} is not a lead")));
            };
            found.push((sort.to_string(), lead_id.to_string()));
        }
        Ok((found, more))
    }
}

#[async_trait]
impl LeadStore for DynamoStore {
    async fn create_lead(&self, record: &LeadRecord) -> Result<Created, StoreError> {
        const OP: StoreOp = "create_lead";
        let lead = self.put_if_absent(OP, self.lead_item(record)?)?;
        let Some(email_key) = &record.email_key else {
            return match self.send_put(OP, lead).await? {
                Written::Yes => Ok(Created::New),
                Written::ConditionFailed(_) => Ok(Created::Existing(record.id().to_string())),
            };
        };
        let lock = self.put_if_absent(OP, DynamoStore::email_lock_item(email_key, record.id()))?;
        let actions = vec![
            TransactWriteItem::builder().put(lead).build(),
            TransactWriteItem::builder().put(lock).build(),
        ];
        for _ in 0..TRANSACTION_ATTEMPTS {
            let reasons = match self.transact(OP, actions.clone()).await? {
                Transacted::Yes => return Ok(Created::New),
                Transacted::Cancelled(reasons) => reasons,
            };
            if reasons.first().is_some_and(is_condition_failure) {
                return Ok(Created::Existing(record.id().to_string()));
            }
            let returned = reasons.get(1).and_then(|r| r.item.as_ref());
            if let Some(holder) = self.lock_holder(OP, email_key, returned).await? {
                return Ok(Created::Existing(holder));
            }
            // The lock was released between the write and the read: try again.
        }
        Err(StoreError::Backend {
            operation: OP,
            message: format!("email lock {email_key} kept changing"),
        })
    }

    async fn get_lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError> {
        const OP: StoreOp = "get_lead";
        match self.get_item(OP, table::lead_pk(lead_id), LEAD_SK).await? {
            // a lead being erased is gone for every reader
            Some(item) if item.contains_key(ERASING) => Ok(None),
            Some(item) => decode(OP, item).map(Some),
            None => Ok(None),
        }
    }

    async fn find_lead_by_email(&self, email_key: &str) -> Result<Option<String>, StoreError> {
        self.lock_holder("find_lead_by_email", email_key, None)
            .await
    }

    async fn update_lead(&self, record: &LeadRecord) -> Result<(), StoreError> {
        self.write_lead("update_lead", record, &[]).await
    }

    async fn append_events(
        &self,
        record: &LeadRecord,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        self.write_lead("append_events", record, events).await
    }

    async fn list_events(&self, lead_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        const OP: StoreOp = "list_events";
        let items = self
            .query_partition(OP, table::lead_pk(lead_id), EVENT_PREFIX)
            .await?;
        let mut events = Vec::with_capacity(items.len());
        for item in items {
            let seq = number_attr(OP, &item, SEQ).unwrap_or(0);
            let event: StoredEvent = decode(OP, item)?;
            events.push((seq, event));
        }
        events.sort_by(|(sa, a), (sb, b)| a.event.at.cmp(&b.event.at).then(sa.cmp(sb)));
        Ok(events.into_iter().map(|(_, e)| e).collect())
    }

    async fn existing_event_ids(
        &self,
        lead_id: &str,
        event_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        const OP: StoreOp = "existing_event_ids";
        let unique: HashSet<&String> = event_ids.iter().collect();
        let keys: Vec<Item> = unique
            .into_iter()
            .map(|id| key(table::lead_pk(lead_id), table::event_sk(id)))
            .collect();
        let found = get_items(
            &self.client,
            &self.table,
            OP,
            keys,
            self.backoff,
            |request| {
                request
                    .projection_expression("#id")
                    .expression_attribute_names("#id", "event_id")
            },
        )
        .await?;
        Ok(found
            .iter()
            .filter_map(|item| string_attr(item, "event_id").map(str::to_string))
            .collect())
    }

    async fn add_history(&self, lead_id: &str, entry: &HistoryEntry) -> Result<(), StoreError> {
        const OP: StoreOp = "add_history";
        let item = encode(
            OP,
            entry,
            table::lead_pk(lead_id),
            table::history_sk(entry.at),
            "history",
        )?;
        let put = self.put_if_absent(OP, item)?;
        // In one transaction with a check that the lead is stored and not being erased, so
        // no entry is written after an erase deleted the lead's history.
        let check = built(
            OP,
            ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(table::lead_pk(lead_id), LEAD_SK)))
                .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#erasing)")
                .set_expression_attribute_names(names(&[("#pk", PK), ("#erasing", ERASING)]))
                .build(),
        )?;
        let actions = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact(OP, actions).await? {
            Transacted::Yes => Ok(()),
            Transacted::Cancelled(reasons) if reasons.first().is_some_and(is_condition_failure) => {
                Err(StoreError::NotFound {
                    what: "lead",
                    id: lead_id.to_string(),
                })
            }
            // An entry at the same time is already there: adding is idempotent.
            Transacted::Cancelled(_) => Ok(()),
        }
    }

    async fn erase_lead(&self, lead_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let Some(marked) = self.mark_erasing(lead_id, now).await? else {
            // no lead, but an alert enqueued after an earlier erase finished may be left
            // under its id: alert payloads carry the person's name, so delete them too
            self.delete_lead_items(lead_id, ALERT_PREFIX).await?;
            return Ok(false);
        };
        self.delete_lead_items(lead_id, "").await?;
        // an erased lead keeps no rep busy; before the last step, so a retried erase
        // (the mark stays until then) frees the slot if this one failed
        crate::ledger::DynamoLedger::for_store(self)
            .release(lead_id)
            .await?;
        self.finish_erase(lead_id, string_attr(&marked, "email_key"), now)
            .await?;
        Ok(true)
    }

    async fn find_tombstone(&self, email_hash: &str) -> Result<Option<Tombstone>, StoreError> {
        const OP: StoreOp = "find_tombstone";
        match self
            .get_item(OP, table::tombstone_pk(email_hash), TOMBSTONE_SK)
            .await?
        {
            Some(item) => decode(OP, item).map(Some),
            None => Ok(None),
        }
    }

    async fn list_history(&self, lead_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        const OP: StoreOp = "list_history";
        let items = self
            .query_partition(OP, table::lead_pk(lead_id), HISTORY_PREFIX)
            .await?;
        items.into_iter().map(|item| decode(OP, item)).collect()
    }

    async fn leads_due_for_rescore(
        &self,
        due: DateTime<Utc>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page, StoreError> {
        const OP: StoreOp = "leads_due_for_rescore";
        if limit == 0 {
            return Ok(Page::default());
        }
        // Every key of a lead due at `due` sorts below `<due>$` (`$` follows `#`).
        let hi = format!("{}$", table::ts_key(due));
        if cursor.as_ref().is_some_and(|c| *c > hi) {
            return Ok(Page::default());
        }
        let per_shard = i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX);
        let mut tasks = tokio::task::JoinSet::new();
        for shard in 0..RESCORE_SHARDS {
            let (client, table) = (self.client.clone(), self.table.clone());
            let (after, hi) = (cursor.clone(), hi.clone());
            tasks.spawn(DynamoStore::rescore_shard_page(
                client, table, shard, after, hi, per_shard,
            ));
        }
        let mut found = Vec::new();
        let mut more = false;
        while let Some(joined) = tasks.join_next().await {
            let (items, shard_more) = joined.map_err(|e| StoreError::Backend {
                operation: OP,
                message: format!("shard query task failed: {e}"),
            })??;
            found.extend(items);
            more |= shard_more;
        }
        found.retain(|(sort, _)| cursor.as_ref().is_none_or(|c| sort > c));
        found.sort();
        more |= found.len() > limit;
        found.truncate(limit);
        let cursor = if more {
            found.last().map(|(sort, _)| sort.clone())
        } else {
            None
        };
        Ok(Page {
            ids: found.into_iter().map(|(_, id)| id).collect(),
            cursor,
        })
    }

    async fn claim_idempotency(
        &self,
        key: &str,
        now: DateTime<Utc>,
        expiration: DateTime<Utc>,
        in_progress_expiration: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        const OP: StoreOp = "claim_idempotency";
        let mut item = table::key(table::idem_pk(key), IDEM_SK);
        item.insert(TYPE.into(), s("idempotency"));
        item.insert("id".into(), s(key));
        item.insert("status".into(), s(IN_PROGRESS));
        item.insert("expiration".into(), n(nanos(expiration)));
        item.insert(
            "in_progress_expiration".into(),
            n(nanos(in_progress_expiration)),
        );
        item.insert(TTL.into(), n(expiration.timestamp()));
        // The Powertools condition, with times in epoch nanoseconds.
        let put = self.put(
            OP,
            item,
            "attribute_not_exists(#pk) OR #expiration < :now OR (#status = :in_progress AND #ipe < :now)",
            &[
                ("#pk", PK),
                ("#expiration", "expiration"),
                ("#status", "status"),
                ("#ipe", "in_progress_expiration"),
            ],
            vec![(":now", n(nanos(now))), (":in_progress", s(IN_PROGRESS))],
        )?;
        for _ in 0..TRANSACTION_ATTEMPTS {
            let held = match self.send_put(OP, put.clone()).await? {
                Written::Yes => return Ok(Claim::Claimed),
                Written::ConditionFailed(Some(old)) => Some(old),
                Written::ConditionFailed(None) => {
                    self.get_item(OP, table::idem_pk(key), IDEM_SK).await?
                }
            };
            // No record any more: it was released between the write and the read.
            let Some(held) = held else { continue };
            return match string_attr(&held, "status") {
                Some(COMPLETED) => Ok(Claim::Completed(
                    string_attr(&held, "data").map(str::to_string),
                )),
                Some(IN_PROGRESS) => Ok(Claim::InProgress),
                other => Err(corrupt(
                    OP,
                    format!("idempotency record {key} has status {other:?}"),
                )),
            };
        }
        Err(StoreError::Backend {
            operation: OP,
            message: format!("idempotency record {key} kept changing"),
        })
    }

    async fn complete_idempotency(
        &self,
        key: &str,
        data: Option<String>,
        expiration: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OP: StoreOp = "complete_idempotency";
        let mut update = String::from(
            "SET #status = :completed, #expiration = :expiration, #ttl = :ttl, #id = :id, #type = :type",
        );
        let mut attr_values = vec![
            (":completed", s(COMPLETED)),
            (":expiration", n(nanos(expiration))),
            (":ttl", n(expiration.timestamp())),
            (":id", s(key)),
            (":type", s("idempotency")),
        ];
        match data {
            Some(data) => {
                update.push_str(", #data = :data");
                attr_values.push((":data", s(data)));
            }
            None => update.push_str(" REMOVE #data"),
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(table::key(table::idem_pk(key), IDEM_SK)))
            .update_expression(update)
            .set_expression_attribute_names(names(&[
                ("#status", "status"),
                ("#expiration", "expiration"),
                ("#ttl", TTL),
                ("#id", "id"),
                ("#type", TYPE),
                ("#data", "data"),
            ]))
            .set_expression_attribute_values(values(attr_values))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        const OP: StoreOp = "release_idempotency";
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(table::key(table::idem_pk(key), IDEM_SK)))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn enqueue_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        const OP: StoreOp = "enqueue_alert";
        let put = self.put_if_absent(OP, alert_item(OP, alert)?)?;
        // In one transaction with a check that the lead is not being erased: an erase
        // deletes the partition once, so nothing may be added to it after the mark.
        let check = built(
            OP,
            ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(table::lead_pk(&alert.lead_id), LEAD_SK)))
                .condition_expression("attribute_not_exists(#erasing)")
                .expression_attribute_names("#erasing", ERASING)
                .build(),
        )?;
        let actions = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact(OP, actions).await? {
            Transacted::Yes => Ok(true),
            Transacted::Cancelled(reasons) if reasons.first().is_some_and(is_condition_failure) => {
                Err(StoreError::NotFound {
                    what: "lead",
                    id: alert.lead_id.clone(),
                })
            }
            // the alert is already in the outbox
            Transacted::Cancelled(_) => Ok(false),
        }
    }

    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        const OP: StoreOp = "update_alert";
        let expected = alert.version.saturating_sub(1);
        let put = self.put_if_version(OP, alert_item(OP, alert)?, expected)?;
        match self.send_put(OP, put).await? {
            Written::Yes => Ok(()),
            Written::ConditionFailed(Some(_)) => Err(StoreError::Conflict {
                lead_id: alert.lead_id.clone(),
                expected,
            }),
            Written::ConditionFailed(None) => Err(StoreError::NotFound {
                what: "alert",
                id: alert.id.clone(),
            }),
        }
    }

    async fn alerts_in_state(
        &self,
        state: AlertState,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError> {
        const OP: StoreOp = "alerts_in_state";
        let mut alerts = Vec::new();
        let mut start: Option<Item> = None;
        while alerts.len() < limit {
            let page = i32::try_from(limit - alerts.len()).unwrap_or(i32::MAX);
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI1_PK)
                .expression_attribute_values(":pk", s(table::alerts_gsi_pk(state)))
                .limit(page)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(OP, e))?;
            for item in output.items.unwrap_or_default() {
                alerts.push(decode(OP, item)?);
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        Ok(alerts)
    }

    async fn put_outcome(&self, outcome: &Outcome) -> Result<(), StoreError> {
        const OP: StoreOp = "put_outcome";
        let item = encode(
            OP,
            outcome,
            OUTCOMES_PK.into(),
            table::lead_pk(&outcome.lead_id),
            "outcome",
        )?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn list_outcomes(&self) -> Result<Vec<Outcome>, StoreError> {
        const OP: StoreOp = "list_outcomes";
        let items = self
            .query_partition(OP, OUTCOMES_PK.into(), "LEAD#")
            .await?;
        items.into_iter().map(|item| decode(OP, item)).collect()
    }

    async fn put_model_version(&self, version: &ModelVersion) -> Result<bool, StoreError> {
        const OP: StoreOp = "put_model_version";
        let item = encode(
            OP,
            version,
            MODEL_PK.into(),
            table::version_sk(&version.version),
            "model_version",
        )?;
        let put = self.put_if_absent(OP, item)?;
        Ok(matches!(self.send_put(OP, put).await?, Written::Yes))
    }

    async fn list_model_versions(&self) -> Result<Vec<ModelVersion>, StoreError> {
        const OP: StoreOp = "list_model_versions";
        let items = self
            .query_partition(OP, MODEL_PK.into(), VERSION_PREFIX)
            .await?;
        let mut versions = items
            .into_iter()
            .map(|item| decode(OP, item))
            .collect::<Result<Vec<ModelVersion>, _>>()?;
        versions.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.version.cmp(&a.version))
        });
        Ok(versions)
    }

    async fn set_active_model(&self, version: &str) -> Result<(), StoreError> {
        const OP: StoreOp = "set_active_model";
        let check = built(
            OP,
            ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(table::key(MODEL_PK, table::version_sk(version))))
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .build(),
        )?;
        let mut pointer = table::key(MODEL_PK, ACTIVE_SK);
        pointer.insert(TYPE.into(), s("active_model"));
        pointer.insert("version".into(), s(version));
        let put = built(
            OP,
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(pointer))
                .build(),
        )?;
        let actions = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact(OP, actions).await? {
            Transacted::Yes => Ok(()),
            Transacted::Cancelled(_) => Err(StoreError::NotFound {
                what: "model version",
                id: version.to_string(),
            }),
        }
    }

    async fn active_model(&self) -> Result<Option<ModelVersion>, StoreError> {
        const OP: StoreOp = "active_model";
        let Some(pointer) = self.get_item(OP, MODEL_PK.into(), ACTIVE_SK).await? else {
            return Ok(None);
        };
        let version = string_attr(&pointer, "version")
            .ok_or_else(|| corrupt(OP, "active-model pointer without a version"))?
            .to_string();
        match self
            .get_item(OP, MODEL_PK.into(), &table::version_sk(&version))
            .await?
        {
            Some(item) => decode(OP, item).map(Some),
            None => Err(corrupt(
                OP,
                format!("active model version {version} is not stored"),
            )),
        }
    }
}

/// The item an alert is stored as: in its lead's partition (so erasing the lead deletes
/// it with the events and history), indexed by state in `gsi1`.
fn alert_item(op: StoreOp, alert: &Alert) -> Result<Item, StoreError> {
    let mut item = encode(
        op,
        alert,
        table::lead_pk(&alert.lead_id),
        table::alert_sk(&alert.id),
        "alert",
    )?;
    item.insert(GSI1_PK.into(), s(table::alerts_gsi_pk(alert.state)));
    item.insert(
        GSI1_SK.into(),
        s(format!("{}#{}", table::ts_key(alert.created_at), alert.id)),
    );
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadq_scoring::{Event, EventKind, Lead, Model};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_default()
    }

    fn store() -> DynamoStore {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        DynamoStore::new(
            Client::from_conf(config),
            StoreConfig {
                table_name: "t".into(),
                event_retention: Some(Duration::from_secs(86_400)),
            },
        )
    }

    fn scored_record() -> LeadRecord {
        let now = at("2026-11-23T12:00:00Z");
        let mut lead = Lead {
            id: "lead-1".into(),
            ..Lead::default()
        };
        lead.person.email = Some("Ada@Example.com".into());
        lead.company.employees = Some(250);
        let mut record = LeadRecord::new(lead, Some("ada@example.com".into()), now);
        let event = Event::new(EventKind::PricingView, now);
        record.aggregates.add(&event);
        record.card = Some(leadq_scoring::score(
            &record.lead,
            &[event],
            &Model::default_model(),
            now,
        ));
        record.rescore_at = Some(at("2026-12-01T00:00:00.123456789Z"));
        record
    }

    #[test]
    fn lead_items_round_trip_without_nulls() {
        let store = store();
        let record = scored_record();
        let item = store.lead_item(&record).expect("encodes");
        assert_eq!(string_attr(&item, PK), Some("LEAD#lead-1"));
        assert_eq!(string_attr(&item, SK), Some("LEAD"));
        assert_eq!(
            string_attr(&item, GSI2_SK),
            Some("2026-12-01T00:00:00.123456789Z#lead-1")
        );
        assert!(string_attr(&item, GSI2_PK).is_some_and(|p| p.starts_with("RESCORE#")));
        let lead = item
            .get("lead")
            .and_then(|v| v.as_m().ok())
            .expect("lead map");
        let person = lead
            .get("person")
            .and_then(|v| v.as_m().ok())
            .expect("person map");
        assert!(!person.contains_key("name"), "None fields are left out");
        let back: LeadRecord = decode("test", item).expect("decodes");
        assert_eq!(back, record);
    }

    #[test]
    fn unscored_leads_stay_out_of_the_rescore_index() {
        let mut record = scored_record();
        record.rescore_at = None;
        let item = store().lead_item(&record).expect("encodes");
        assert!(!item.contains_key(GSI2_PK) && !item.contains_key(GSI2_SK));
    }

    #[test]
    fn events_carry_seq_and_ttl() {
        let event = StoredEvent {
            event_id: "e1".into(),
            event: Event::new(EventKind::Webinar, at("2026-01-01T00:00:00Z")),
            received_at: at("2026-01-01T00:00:01Z"),
        };
        let item = store().event_item("lead-1", &event, 7001).expect("encodes");
        assert_eq!(string_attr(&item, SK), Some("EVENT#e1"));
        assert_eq!(number_attr("t", &item, SEQ), Ok(7001));
        assert_eq!(
            number_attr("t", &item, TTL),
            Ok(at("2026-01-02T00:00:00Z").timestamp())
        );
        let back: StoredEvent = decode("test", item).expect("decodes");
        assert_eq!(back, event);
    }

    #[test]
    fn outcomes_decode_despite_their_strict_fields() {
        let outcome = Outcome {
            lead_id: "lead-1".into(),
            status: leadq_scoring::OutcomeStatus::Won,
            amount: None,
            closed_at: at("2026-01-01T00:00:00Z"),
        };
        let item = encode(
            "t",
            &outcome,
            OUTCOMES_PK.into(),
            table::lead_pk("lead-1"),
            "outcome",
        )
        .expect("encodes");
        assert_eq!(decode::<Outcome>("t", item), Ok(outcome));
    }

    #[test]
    fn corrupt_items_are_reported_as_such() {
        let mut item = key("LEAD#x", LEAD_SK);
        item.insert("version".into(), s("not a number"));
        let err = decode::<LeadRecord>("get_lead", item).expect_err("corrupt");
        assert!(
            matches!(
                err,
                StoreError::Corrupt {
                    operation: "get_lead",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn nanos_clamp_out_of_range_times() {
        assert_eq!(nanos(at("1970-01-01T00:00:01Z")), 1_000_000_000);
        assert_eq!(nanos(DateTime::<Utc>::MAX_UTC), i64::MAX);
        assert_eq!(nanos(DateTime::<Utc>::MIN_UTC), i64::MIN);
    }
}
