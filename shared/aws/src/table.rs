//! The single-table layout: key schema, item keys, indexes, TTL (see `TABLE.md`).
//!
//! One table holds every item; `pk`/`sk` are strings:
//!
//! | item | pk | sk | index keys |
//! |---|---|---|---|
//! | lead | `LEAD#<id>` | `LEAD` | `gsi2pk = RESCORE#<shard>`, `gsi2sk = <rescore_at>#<id>` (while `rescore_at` is set) |
//! | email lock | `EMAIL#<email key>` | `EMAIL` | |
//! | event | `LEAD#<id>` | `EVENT#<event id>` | |
//! | score history | `LEAD#<id>` | `HIST#<at>` | |
//! | outcome | `OUTCOMES` | `LEAD#<id>` | |
//! | idempotency | `IDEM#<key>` | `IDEM` | |
//! | alert | `LEAD#<lead id>` | `ALERT#<alert id>` | `gsi1pk = ALERTS#<state>`, `gsi1sk = <created_at>#<id>` |
//! | model version | `MODEL` | `VERSION#<label>` | |
//! | active-model pointer | `MODEL` | `ACTIVE` | |
//! | tombstone | `TOMB#<email hash>` | `TOMBSTONE` | |
//! | company (directory) | `COMPANY#<domain>` | `COMPANY` | |
//! | rep holding, rep load, rep day ([`crate::ledger`]) | `HOLD#<lead id>` / `REP#<rep>` | `HOLD` / `REP` / `DAY#<date>` | |
//!
//! `gsi1` (projection ALL) lists alerts by state; `gsi2` (projection KEYS_ONLY) lists leads
//! due for rescore, spread over [`RESCORE_SHARDS`] partitions. `ttl` (epoch seconds) expires
//! idempotency records and, with a retention set, events. Timestamps in keys are fixed-width
//! UTC text with nanoseconds ([`ts_key`]), so string order is time order. The lead item keeps
//! compact event aggregates; events are items of their own.

use crate::error::{StoreOp, built, sdk_error};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use chrono::{DateTime, Utc};
use leadq_pipeline::{AlertState, StoreError};
use std::collections::HashMap;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// Alerts-by-state index.
pub const GSI1: &str = "gsi1";
/// Partition key of [`GSI1`].
pub const GSI1_PK: &str = "gsi1pk";
/// Sort key of [`GSI1`].
pub const GSI1_SK: &str = "gsi1sk";
/// Due-for-rescore index (sharded).
pub const GSI2: &str = "gsi2";
/// Partition key of [`GSI2`].
pub const GSI2_PK: &str = "gsi2pk";
/// Sort key of [`GSI2`].
pub const GSI2_SK: &str = "gsi2sk";
/// TTL attribute (epoch seconds).
pub const TTL: &str = "ttl";
/// Item type attribute (for humans and exports).
pub const TYPE: &str = "type";
/// Number of partitions the due-for-rescore index is spread over.
pub const RESCORE_SHARDS: u32 = 8;

/// The sort key of a lead item.
pub const LEAD_SK: &str = "LEAD";
/// The sort key of an email lock.
pub const EMAIL_SK: &str = "EMAIL";
/// The sort key of an idempotency record.
pub const IDEM_SK: &str = "IDEM";
/// Sort-key prefix of alerts, kept in their lead's partition so erasure finds them.
pub const ALERT_PREFIX: &str = "ALERT#";
/// Sort-key prefix of events.
pub const EVENT_PREFIX: &str = "EVENT#";
/// Sort-key prefix of score history.
pub const HISTORY_PREFIX: &str = "HIST#";
/// Sort-key prefix of model versions.
pub const VERSION_PREFIX: &str = "VERSION#";
/// Partition of outcomes.
pub const OUTCOMES_PK: &str = "OUTCOMES";
/// Partition of model versions and the active pointer.
pub const MODEL_PK: &str = "MODEL";
/// Sort key of the active-model pointer.
pub const ACTIVE_SK: &str = "ACTIVE";
/// Sort key of a company of the directory.
pub const COMPANY_SK: &str = "COMPANY";
/// Sort key of a tombstone.
pub const TOMBSTONE_SK: &str = "TOMBSTONE";
/// Attribute that marks a lead as being erased (its value: when the erase began).
pub const ERASING: &str = "erasing";

/// A timestamp as fixed-width UTC text with nanoseconds; string order is time order.
pub fn ts_key(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// Partition key of a lead's items.
pub fn lead_pk(lead_id: &str) -> String {
    format!("LEAD#{lead_id}")
}

/// Partition key of an email lock.
pub fn email_pk(email_key: &str) -> String {
    format!("EMAIL#{email_key}")
}

/// Partition key of an idempotency record.
pub fn idem_pk(key: &str) -> String {
    format!("IDEM#{key}")
}

/// Partition key of a company of the directory, by normalised domain.
pub fn company_pk(domain: &str) -> String {
    format!("COMPANY#{domain}")
}

/// Partition key of the tombstone of an erased person's hashed email key.
pub fn tombstone_pk(email_hash: &str) -> String {
    format!("TOMB#{email_hash}")
}

/// Sort key of an event.
pub fn event_sk(event_id: &str) -> String {
    format!("{EVENT_PREFIX}{event_id}")
}

/// Sort key of an alert (its partition is its lead's, [`lead_pk`]).
pub fn alert_sk(alert_id: &str) -> String {
    format!("{ALERT_PREFIX}{alert_id}")
}

/// Sort key of a history entry.
pub fn history_sk(at: DateTime<Utc>) -> String {
    format!("{HISTORY_PREFIX}{}", ts_key(at))
}

/// Sort key of a model version.
pub fn version_sk(label: &str) -> String {
    format!("{VERSION_PREFIX}{label}")
}

/// `gsi1pk` of alerts in a state.
pub fn alerts_gsi_pk(state: AlertState) -> String {
    let name = match state {
        AlertState::Pending => "pending",
        AlertState::Sent => "sent",
        AlertState::Failed => "failed",
    };
    format!("ALERTS#{name}")
}

/// The due-for-rescore shard of a lead: FNV-1a-64 of its id, stable across builds.
pub fn rescore_shard(lead_id: &str) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in lead_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(RESCORE_SHARDS)) as u32
}

/// `gsi2pk` of a rescore shard.
pub fn rescore_gsi_pk(shard: u32) -> String {
    format!("RESCORE#{shard:02}")
}

/// `gsi2sk` of a lead due at `rescore_at`: orders by time, then lead id.
pub fn rescore_gsi_sk(rescore_at: DateTime<Utc>, lead_id: &str) -> String {
    format!("{}#{lead_id}", ts_key(rescore_at))
}

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The primary key `{pk, sk}` of an item.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// Size of an item as DynamoDB bills it (names + values, per the documented rules).
///
/// Strings and binaries count their bytes, numbers about 1 byte per 2 digits plus 1,
/// booleans and null 1 byte, lists and maps 3 bytes plus 1 per element plus their contents.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(v) => v.len(),
        AttributeValue::N(v) => number_size(v),
        AttributeValue::B(v) => v.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|x| number_size(x)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|x| x.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|x| 1 + value_size(x)).sum::<usize>(),
        AttributeValue::M(v) => {
            3 + v
                .iter()
                .map(|(k, x)| 1 + k.len() + value_size(x))
                .sum::<usize>()
        }
        _ => 0,
    }
}

fn number_size(text: &str) -> usize {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    digits.div_ceil(2) + 1
}

/// Write units one write of an item costs (1 per KB, rounded up); doubled in a transaction.
pub fn write_units(item: &Item, transactional: bool) -> usize {
    let units = item_size(item).div_ceil(1024).max(1);
    if transactional { units * 2 } else { units }
}

/// Creates the table with the design's key schema, indexes and TTL (tests, local setups).
///
/// The SAM template in `infra/` declares the same; this is the executable reference.
pub async fn create_table(client: &Client, table_name: &str) -> Result<(), StoreError> {
    const OP: StoreOp = "create_table";
    let string_attr = |name: &str| {
        built(
            OP,
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build(),
        )
    };
    let key_elem = |name: &str, key_type: KeyType| {
        built(
            OP,
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build(),
        )
    };
    let gsi = |name: &str,
               pk: &str,
               sk: &str,
               projection: ProjectionType|
     -> Result<GlobalSecondaryIndex, StoreError> {
        built(
            OP,
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key_elem(pk, KeyType::Hash)?)
                .key_schema(key_elem(sk, KeyType::Range)?)
                .projection(Projection::builder().projection_type(projection).build())
                .build(),
        )
    };
    let mut request = client
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem(PK, KeyType::Hash)?)
        .key_schema(key_elem(SK, KeyType::Range)?)
        .global_secondary_indexes(gsi(GSI1, GSI1_PK, GSI1_SK, ProjectionType::All)?)
        .global_secondary_indexes(gsi(GSI2, GSI2_PK, GSI2_SK, ProjectionType::KeysOnly)?);
    for name in [PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK] {
        request = request.attribute_definitions(string_attr(name)?);
    }
    request.send().await.map_err(|e| sdk_error(OP, e))?;
    client
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(built(
            OP,
            TimeToLiveSpecification::builder()
                .attribute_name(TTL)
                .enabled(true)
                .build(),
        )?)
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn time_keys_are_fixed_width_and_ordered() {
        let a = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .unwrap_or_default();
        let b = a + chrono::Duration::nanoseconds(1);
        assert_eq!(ts_key(a), "2026-01-02T03:04:05.000000000Z");
        assert_eq!(ts_key(a).len(), ts_key(b).len());
        assert!(ts_key(a) < ts_key(b));
        assert!(rescore_gsi_sk(a, "zzz") < rescore_gsi_sk(b, "aaa"));
    }

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(rescore_shard("lead-1"), rescore_shard("lead-1"));
        let used: std::collections::BTreeSet<u32> = (0..200)
            .map(|i| rescore_shard(&format!("lead-{i}")))
            .collect();
        assert_eq!(used.len(), RESCORE_SHARDS as usize);
        assert_eq!(rescore_gsi_pk(3), "RESCORE#03");
    }

    #[test]
    fn item_size_follows_the_billing_rules() {
        let mut item = key("LEAD#1", "LEAD");
        item.insert("n".into(), n(12345));
        item.insert(
            "m".into(),
            AttributeValue::M(HashMap::from([("a".into(), AttributeValue::Bool(true))])),
        );
        // pk+6, sk+4, n + (3 digits rounded up + 1), m + 3 + (1 + a + bool)
        assert_eq!(item_size(&item), 2 + 6 + 2 + 4 + 1 + 4 + 1 + 3 + 1 + 1 + 1);
        assert_eq!(write_units(&item, false), 1);
        assert_eq!(write_units(&item, true), 2);
        item.insert("big".into(), s("x".repeat(2000)));
        assert_eq!(write_units(&item, false), 2);
    }
}
