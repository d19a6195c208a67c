//! Helpers shared by the embedded adapters (memory here, SQLite in `leadq-local`), so
//! they apply the port semantics identically: the idempotency claim condition, the
//! timestamp key used for ordering, and the rescore page cursor.

use crate::ports::{Claim, IdempotencyRecord, IdempotencyStatus};
use chrono::{DateTime, Utc};

/// Decides a claim against the stored record: `None` means the caller may claim the key.
///
/// This is the Powertools condition `attribute_not_exists(id) OR expiration < now OR
/// (status = INPROGRESS AND in_progress_expiration < now)`, evaluated in full precision.
pub fn claim_blocked_by(existing: Option<&IdempotencyRecord>, now: DateTime<Utc>) -> Option<Claim> {
    let record = existing?;
    if record.expiration < now {
        return None;
    }
    match record.status {
        IdempotencyStatus::InProgress if record.in_progress_expiration < now => None,
        IdempotencyStatus::InProgress => Some(Claim::InProgress),
        IdempotencyStatus::Completed => Some(Claim::Completed(record.data.clone())),
    }
}

/// A timestamp as nanoseconds since the epoch, clamped to the `i64` range (years 1677-2262),
/// so it orders correctly as an integer key.
pub fn time_key(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Encodes the position after `(time_key(rescore_at), lead_id)` as a page cursor.
pub fn encode_rescore_cursor(rescore_key: i64, lead_id: &str) -> String {
    format!("{rescore_key}:{lead_id}")
}

/// Decodes a page cursor into its `(time_key, lead_id)` position; `None` if malformed.
pub fn decode_rescore_cursor(cursor: &str) -> Option<(i64, String)> {
    let (key, lead_id) = cursor.split_once(':')?;
    Some((key.parse().ok()?, lead_id.to_string()))
}

/// Decodes the optional cursor passed to `leads_due_for_rescore`, refusing a malformed one.
pub fn rescore_page_start(
    cursor: Option<&str>,
) -> Result<Option<(i64, String)>, crate::StoreError> {
    cursor
        .map(|cursor| {
            decode_rescore_cursor(cursor).ok_or_else(|| crate::StoreError::Backend {
                operation: "leads_due_for_rescore",
                message: format!("malformed page cursor {cursor:?}"),
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
    }

    fn record(
        status: IdempotencyStatus,
        expiration: i64,
        in_progress_expiration: i64,
    ) -> IdempotencyRecord {
        IdempotencyRecord {
            id: "k".into(),
            status,
            expiration: at(expiration),
            in_progress_expiration: at(in_progress_expiration),
            data: Some("d".into()),
        }
    }

    #[test]
    fn claim_condition_matches_powertools() {
        assert_eq!(claim_blocked_by(None, at(100)), None);
        let live = record(IdempotencyStatus::InProgress, 1_000, 200);
        assert_eq!(
            claim_blocked_by(Some(&live), at(100)),
            Some(Claim::InProgress)
        );
        assert_eq!(
            claim_blocked_by(Some(&live), at(200)),
            Some(Claim::InProgress)
        );
        assert_eq!(claim_blocked_by(Some(&live), at(201)), None);
        let done = record(IdempotencyStatus::Completed, 1_000, 200);
        assert_eq!(
            claim_blocked_by(Some(&done), at(500)),
            Some(Claim::Completed(Some("d".into())))
        );
        assert_eq!(claim_blocked_by(Some(&done), at(1_001)), None);
    }

    #[test]
    fn cursor_round_trips_and_time_keys_order() {
        let cursor = encode_rescore_cursor(time_key(at(1_700_000_000)), "lead:1");
        assert_eq!(
            decode_rescore_cursor(&cursor),
            Some((1_700_000_000_000_000_000, "lead:1".into()))
        );
        assert_eq!(decode_rescore_cursor("garbage"), None);
        assert!(time_key(at(-5)) < time_key(at(5)));
        assert_eq!(time_key(DateTime::<Utc>::MAX_UTC), i64::MAX);
        assert_eq!(time_key(DateTime::<Utc>::MIN_UTC), i64::MIN);
    }

    #[test]
    fn a_malformed_page_cursor_is_refused_naming_the_operation() {
        assert_eq!(rescore_page_start(None), Ok(None));
        let cursor = encode_rescore_cursor(42, "lead-7");
        assert_eq!(
            rescore_page_start(Some(&cursor)),
            Ok(Some((42, "lead-7".into())))
        );
        match rescore_page_start(Some("garbage")) {
            Err(crate::StoreError::Backend { operation, message }) => {
                assert_eq!(operation, "leads_due_for_rescore");
                assert!(message.contains("garbage"), "{message}");
            }
            other => panic!("expected a Backend error, got {other:?}"),
        }
    }
}
