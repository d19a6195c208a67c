//! Delivering the outbox: claim an attempt with a conditional write, send, record what
//! happened; back off with full jitter between attempts, give up after the last one.
//!
//! Claiming is the store's version check: of two deliverers holding the same version of
//! an alert, only one can write the next version, so only one sends that attempt. The
//! claim also pushes `next_attempt_at` past the attempt's lease, so a deliverer that dies
//! mid-attempt delays the alert instead of losing it.

use super::config::AlertConfig;
use super::notifier::{DeliveryError, Notifier};
use crate::ports::{Alert, AlertState, LeadStore, StoreError};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use std::time::Duration;

/// Alerts delivered at once by [`deliver_due_alerts`].
pub const DELIVERY_CONCURRENCY: usize = 4;

/// Most alerts of one state looked through to find one by id or to find due ones.
pub const SCAN_LIMIT: usize = 1000;

/// Why an outbox operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlertError {
    /// The lead store failed.
    #[error("lead store: {0}")]
    Store(#[from] StoreError),
    /// No alert has this id.
    #[error("alert {alert_id} not found")]
    NotFound {
        /// The id asked for.
        alert_id: String,
    },
    /// Only a failed alert can be re-sent.
    #[error("alert {alert_id} is {state}: only a failed alert can be re-sent")]
    NotFailed {
        /// The alert.
        alert_id: String,
        /// Its state (`pending` or `sent`).
        state: &'static str,
    },
    /// Someone else changed the alert at the same moment.
    #[error("alert {alert_id} was changed by another request at the same time: retry")]
    Busy {
        /// The alert.
        alert_id: String,
    },
}

/// The snake_case name of an alert state.
pub fn state_name(state: AlertState) -> &'static str {
    match state {
        AlertState::Pending => "pending",
        AlertState::Sent => "sent",
        AlertState::Failed => "failed",
    }
}

/// An alert state by its name (`pending`, `sent`, `failed`).
pub fn state_from_name(name: &str) -> Option<AlertState> {
    match name {
        "pending" => Some(AlertState::Pending),
        "sent" => Some(AlertState::Sent),
        "failed" => Some(AlertState::Failed),
        _ => None,
    }
}

/// Why [`deliver_alert`] made no attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The alert is already sent or failed.
    NotPending(AlertState),
    /// Its next attempt is not due yet.
    NotDue(DateTime<Utc>),
    /// Another deliverer claimed this attempt first (or the copy given was stale).
    Claimed,
}

/// What [`deliver_alert`] did with one alert.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// The receiver accepted it, at this attempt.
    Sent {
        /// Attempts made, this one included.
        attempts: u32,
    },
    /// This attempt failed; the next is due at `next_attempt_at`.
    Retrying {
        /// Attempts made so far.
        attempts: u32,
        /// When the next attempt is due.
        next_attempt_at: DateTime<Utc>,
        /// Why this attempt failed.
        error: DeliveryError,
    },
    /// The last attempt failed (or the failure cannot be retried): the alert is failed.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// Why the last attempt failed, in words.
        error: String,
    },
    /// The attempt was made but recording its result lost a race with a deliverer that
    /// took the alert over after the lease lapsed; that deliverer's record stands.
    Superseded {
        /// Whether this attempt reached the receiver.
        delivered: bool,
    },
    /// No attempt was made.
    Skipped(Skip),
}

/// What [`deliver_due_alerts`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryReport {
    /// Alerts delivered.
    pub sent: usize,
    /// Alerts whose attempt failed and will be retried.
    pub retrying: usize,
    /// Alerts that failed for good.
    pub failed: usize,
    /// Alerts not attempted (claimed elsewhere, or superseded).
    pub skipped: usize,
    /// Alerts that could not be handled because the store failed, with the error.
    pub errors: Vec<(String, String)>,
}

fn after(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(wait)
        .ok()
        .and_then(|delta| now.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Makes one delivery attempt of `alert` if it is pending and due at `now`.
///
/// `alert` is the copy the caller holds (just enqueued, or just listed); if the stored
/// alert moved on since, the claim fails and nothing is sent. The claim writes the copy,
/// so the copy's payload is what is sent and kept. An alert whose hook is no
/// longer configured fails at once, so a person sees it and can re-send it once fixed.
pub async fn deliver_alert(
    store: &dyn LeadStore,
    notifier: &dyn Notifier,
    config: &AlertConfig,
    alert: &Alert,
    now: DateTime<Utc>,
) -> Result<DeliveryOutcome, AlertError> {
    if alert.state != AlertState::Pending {
        return Ok(DeliveryOutcome::Skipped(Skip::NotPending(alert.state)));
    }
    if alert.next_attempt_at > now {
        return Ok(DeliveryOutcome::Skipped(Skip::NotDue(
            alert.next_attempt_at,
        )));
    }
    let settings = &config.delivery;

    let mut claim = alert.clone();
    claim.attempts = alert.attempts.saturating_add(1);
    claim.version = alert.version.saturating_add(1);
    claim.next_attempt_at = after(now, settings.lease());
    match store.update_alert(&claim).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => return Ok(DeliveryOutcome::Skipped(Skip::Claimed)),
        Err(error) => return Err(error.into()),
    }

    let result = match config.hooks.get(&alert.hook) {
        Some(hook) => notifier.deliver(hook, &claim).await,
        None => Err(DeliveryError::Misconfigured {
            hook: alert.hook.clone(),
            message: "no hook of this name is configured".into(),
        }),
    };

    let mut record = claim.clone();
    record.version = claim.version.saturating_add(1);
    let outcome = match result {
        Ok(()) => {
            record.state = AlertState::Sent;
            record.last_error = None;
            DeliveryOutcome::Sent {
                attempts: record.attempts,
            }
        }
        Err(error) if error.is_retryable() && record.attempts < settings.max_attempts => {
            let backoff = settings.retry_policy().backoff(record.attempts);
            // a receiver asking to slow down gets at least what it asked, within reason
            let wait = error.retry_after().map_or(backoff, |asked| {
                backoff.max(asked.min(settings.backoff_max))
            });
            record.next_attempt_at = after(now, wait);
            record.last_error = Some(error.to_string());
            DeliveryOutcome::Retrying {
                attempts: record.attempts,
                next_attempt_at: record.next_attempt_at,
                error,
            }
        }
        Err(error) => {
            record.state = AlertState::Failed;
            record.last_error = Some(error.to_string());
            DeliveryOutcome::Failed {
                attempts: record.attempts,
                error: error.to_string(),
            }
        }
    };
    // if this write fails the claim's lease lapses and the attempt is made again: a
    // receiver may then see the alert twice, with the same Idempotency-Key to drop it by
    match store.update_alert(&record).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            tracing::warn!(
                alert_id = %alert.id,
                hook = %alert.hook,
                "alert taken over by another deliverer while this attempt ran"
            );
            return Ok(DeliveryOutcome::Superseded {
                delivered: matches!(outcome, DeliveryOutcome::Sent { .. }),
            });
        }
        Err(error) => return Err(error.into()),
    }
    match &outcome {
        DeliveryOutcome::Sent { attempts } => {
            crate::metrics::alert_sent();
            tracing::info!(alert_id = %alert.id, hook = %alert.hook, attempts, "alert sent");
        }
        DeliveryOutcome::Retrying {
            attempts, error, ..
        } => {
            tracing::warn!(alert_id = %alert.id, hook = %alert.hook, attempts, %error, "alert attempt failed, will retry");
        }
        DeliveryOutcome::Failed { attempts, error } => {
            crate::metrics::alert_failed();
            tracing::error!(alert_id = %alert.id, hook = %alert.hook, attempts, %error, "alert failed");
        }
        DeliveryOutcome::Superseded { .. } | DeliveryOutcome::Skipped(_) => {}
    }
    Ok(outcome)
}

/// Delivers up to `limit` pending alerts due at `now`, oldest first, a few at a time.
///
/// One alert's store error does not stop the others: it is reported in
/// [`DeliveryReport::errors`] and the alert is tried again on the next run.
pub async fn deliver_due_alerts(
    store: &dyn LeadStore,
    notifier: &dyn Notifier,
    config: &AlertConfig,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<DeliveryReport, AlertError> {
    let mut report = DeliveryReport::default();
    if limit == 0 {
        return Ok(report);
    }
    // alerts waiting out their backoff sit among the due ones: look further than `limit`
    let scan = limit
        .saturating_mul(4)
        .clamp(limit.min(SCAN_LIMIT), SCAN_LIMIT);
    let due: Vec<Alert> = store
        .alerts_in_state(AlertState::Pending, scan)
        .await?
        .into_iter()
        .filter(|alert| alert.next_attempt_at <= now)
        .take(limit)
        .collect();
    let results: Vec<(String, Result<DeliveryOutcome, AlertError>)> =
        futures_util::stream::iter(due.iter().map(|alert| async move {
            (
                alert.id.clone(),
                deliver_alert(store, notifier, config, alert, now).await,
            )
        }))
        .buffer_unordered(DELIVERY_CONCURRENCY)
        .collect()
        .await;
    for (alert_id, result) in results {
        match result {
            Ok(DeliveryOutcome::Sent { .. }) => report.sent += 1,
            Ok(DeliveryOutcome::Retrying { .. }) => report.retrying += 1,
            Ok(DeliveryOutcome::Failed { .. }) => report.failed += 1,
            Ok(DeliveryOutcome::Superseded { .. } | DeliveryOutcome::Skipped(_)) => {
                report.skipped += 1
            }
            Err(error) => report.errors.push((alert_id, error.to_string())),
        }
    }
    Ok(report)
}

/// Alerts in a state, oldest first, at most `limit`.
pub async fn list_alerts(
    store: &dyn LeadStore,
    state: AlertState,
    limit: usize,
) -> Result<Vec<Alert>, AlertError> {
    Ok(store.alerts_in_state(state, limit).await?)
}

/// Puts a failed alert back in the outbox: pending, due at `now`, attempts reset. It is
/// delivered by the next [`deliver_due_alerts`] run (or a direct [`deliver_alert`]).
pub async fn resend_alert(
    store: &dyn LeadStore,
    alert_id: &str,
    now: DateTime<Utc>,
) -> Result<Alert, AlertError> {
    let failed = store
        .alerts_in_state(AlertState::Failed, SCAN_LIMIT)
        .await?;
    let Some(alert) = failed.into_iter().find(|alert| alert.id == alert_id) else {
        // say why: an alert that exists but is not failed is a conflict, not a 404
        for state in [AlertState::Pending, AlertState::Sent] {
            let alerts = store.alerts_in_state(state, SCAN_LIMIT).await?;
            if alerts.iter().any(|alert| alert.id == alert_id) {
                return Err(AlertError::NotFailed {
                    alert_id: alert_id.to_owned(),
                    state: state_name(state),
                });
            }
        }
        return Err(AlertError::NotFound {
            alert_id: alert_id.to_owned(),
        });
    };
    let mut resent = alert;
    resent.state = AlertState::Pending;
    resent.attempts = 0;
    resent.next_attempt_at = now;
    resent.last_error = None;
    resent.version = resent.version.saturating_add(1);
    match store.update_alert(&resent).await {
        Ok(()) => {
            tracing::info!(alert_id = %resent.id, hook = %resent.hook, "failed alert queued again");
            Ok(resent)
        }
        Err(StoreError::Conflict { .. }) => Err(AlertError::Busy {
            alert_id: alert_id.to_owned(),
        }),
        Err(error) => Err(error.into()),
    }
}
