//! The route stage: the next action from the ScoreCard, the lead's assignment (a rep,
//! with capacity taken in the [`RepLedger`], or the fallback queue), then the alerts its
//! verdict calls for, into the outbox and tried once at once.
//!
//! Every step is safe to repeat, so a redelivered message changes nothing: the ledger
//! refuses a second slot for the same lead, the assignment is written only when it
//! changes, and an alert's id is the same for the same verdict, so the outbox keeps one
//! and only a newly enqueued alert is sent here (the outbox job retries the rest).
//!
//! The ledger and the lead are two writes; a run that fails between them leaves a slot
//! the record does not name yet. The next run finds it (`holder`) and adopts it when the
//! rules still pick that rep's team, or frees it, so no slot leaks and no lead holds two.

use super::StageError;
use super::handlers::{Handled, StagePorts};
use crate::alerts::{AlertConfig, DeliveryOutcome, Notifier, alerts_for, deliver_alert};
use crate::envelope::{Envelope, Stage};
use crate::ports::{LeadRecord, LeadStore, RepCaps, RepLedger, RepLoad, Take};
use crate::retry::RetryPolicy;
use crate::routing::{Assignee, Assignment, Candidate, Decision, Plan, RoutingConfig, assign_rep};
use crate::writes::update_lead_with_retry;
use chrono::{DateTime, NaiveDate, Utc};
use leadq_scoring::{Band, NextAction, ScoreCard};
use std::collections::BTreeMap;

/// What routing needs besides the stage ports.
#[derive(Clone, Copy)]
pub struct RouteContext<'a> {
    /// Reps' capacity.
    pub ledger: &'a dyn RepLedger,
    /// Teams, reps, strategies and the fallback queue.
    pub routing: &'a RoutingConfig,
    /// Hooks and subscriptions.
    pub alerts: &'a AlertConfig,
    /// Makes the immediate delivery attempt of each new alert.
    pub notifier: &'a dyn Notifier,
}

/// What happened to the lead's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentChange {
    /// Given to a rep now.
    Assigned,
    /// Put in the fallback queue now.
    Queued,
    /// The assignment it had stands (also a repeat of work already done).
    Kept,
    /// Its rep was freed and the assignment dropped.
    Released,
    /// It needs no person and has none.
    Unassigned,
    /// Not scored yet: nothing to route.
    NotScored,
}

/// What happened to one alert of the verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertAttempt {
    /// Put in the outbox now; the immediate attempt's outcome.
    Delivered(DeliveryOutcome),
    /// Put in the outbox now; the immediate attempt failed on the store (the outbox job
    /// will try it).
    AttemptFailed(String),
    /// Already in the outbox (a repeat): not sent again here.
    AlreadyQueued,
}

/// What [`route_lead`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteOutcome {
    /// The verdict routed, once scored.
    pub verdict: Option<(Band, NextAction)>,
    /// What happened to the assignment.
    pub change: AssignmentChange,
    /// The assignment as stored afterwards.
    pub assignment: Option<Assignment>,
    /// Why, in words.
    pub why: String,
    /// The verdict's alerts by id.
    pub alerts: BTreeMap<String, AlertAttempt>,
}

/// Routes a lead: assignment by the rules, then its verdict's alerts.
pub async fn route_lead(
    store: &dyn LeadStore,
    context: &RouteContext<'_>,
    lead_id: &str,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
) -> Result<RouteOutcome, StageError> {
    let record = match store.get_lead(lead_id).await? {
        Some(record) => record,
        None => {
            // an erased lead keeps no rep busy
            context.ledger.release(lead_id).await?;
            return Err(StageError::LeadNotFound {
                lead_id: lead_id.to_string(),
            });
        }
    };
    let Some(card) = record.card.clone() else {
        return Ok(RouteOutcome {
            verdict: None,
            change: AssignmentChange::NotScored,
            assignment: record.assignment,
            why: "not scored yet".into(),
            alerts: BTreeMap::new(),
        });
    };
    let (change, why, record) = match assign(store, context, record, now, policy).await {
        Ok(done) => done,
        Err(StageError::LeadNotFound { lead_id }) => {
            // erased while being routed: a slot taken meanwhile is freed
            context.ledger.release(&lead_id).await?;
            return Err(StageError::LeadNotFound { lead_id });
        }
        Err(other) => return Err(other),
    };
    let alerts = enqueue_alerts(store, context, &record, now).await?;
    Ok(RouteOutcome {
        verdict: Some((card.band, card.next_action)),
        change,
        assignment: record.assignment,
        why,
        alerts,
    })
}

/// Decides and records the assignment; returns what changed, why, and the record after.
async fn assign(
    store: &dyn LeadStore,
    context: &RouteContext<'_>,
    record: LeadRecord,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
) -> Result<(AssignmentChange, String, LeadRecord), StageError> {
    let ledger = context.ledger;
    let lead_id = record.id().to_string();
    let Some(card) = record.card.clone() else {
        return Ok((AssignmentChange::NotScored, "not scored yet".into(), record));
    };
    let current = record.assignment.clone();
    let held = ledger.holder(&lead_id).await?;
    if let Some(closed) = record.closed {
        let why = format!(
            "the deal closed {} on {}",
            match closed.status {
                leadq_scoring::OutcomeStatus::Won => "won",
                leadq_scoring::OutcomeStatus::Lost => "lost",
            },
            closed.at.format("%Y-%m-%d")
        );
        return match current.as_ref().and_then(Assignment::rep) {
            Some(rep) => {
                // the slot first: if writing the lead fails, the retry finds nothing to free
                ledger.release(&lead_id).await?;
                let why = format!("{why}: {rep} is free for new leads");
                let updated = write(store, &lead_id, None, now, policy).await?;
                Ok((AssignmentChange::Released, why, updated))
            }
            None => {
                if held.is_some() {
                    ledger.release(&lead_id).await?;
                }
                Ok((AssignmentChange::Unassigned, why, record))
            }
        };
    }
    let decide = |loads: &BTreeMap<String, RepLoad>| {
        assign_rep(
            context.routing,
            &record.lead,
            &card,
            current.as_ref(),
            loads,
            now,
        )
    };
    // whether to keep, release or assign does not depend on loads: read them only to
    // assign, for the reps of the team the rules pick
    let mut decision = decide(&BTreeMap::new());
    if let Decision::Assign(plan) = &decision
        && let Some(team) = plan.team.as_deref()
        && let Some(team) = context.routing.teams.iter().find(|t| t.name == team)
    {
        let asked: Vec<(&str, NaiveDate)> = team
            .reps
            .iter()
            .map(|rep| (rep.id.as_str(), rep.day(now)))
            .collect();
        let found = ledger.loads(&asked).await?;
        let loads: BTreeMap<String, RepLoad> = team
            .reps
            .iter()
            .map(|rep| rep.id.clone())
            .zip(found)
            .collect();
        decision = decide(&loads);
    }
    match decision {
        Decision::Keep { why } => {
            // a slot the record does not name (left by a failed run) is freed
            if let Some(held) = &held
                && current.as_ref().and_then(Assignment::rep) != Some(held.as_str())
            {
                ledger.release(&lead_id).await?;
            }
            Ok((AssignmentChange::Kept, why, record))
        }
        Decision::Unassigned { why } => {
            if held.is_some() {
                ledger.release(&lead_id).await?;
            }
            Ok((AssignmentChange::Unassigned, why, record))
        }
        Decision::Release { why } => {
            // the slot first: if writing the lead fails, the retry finds nothing to free
            ledger.release(&lead_id).await?;
            let updated = write(store, &lead_id, None, now, policy).await?;
            Ok((AssignmentChange::Released, why, updated))
        }
        Decision::Assign(plan) => {
            let (assignment, change) =
                take_capacity(context, &plan, &lead_id, held, &card, &current, now).await?;
            match assignment {
                None => Ok((AssignmentChange::Kept, keep_queued_why(&current), record)),
                Some(assignment) => {
                    let why = assignment.why.clone();
                    let updated = write(store, &lead_id, Some(assignment), now, policy).await?;
                    Ok((change, why, updated))
                }
            }
        }
    }
}

fn keep_queued_why(current: &Option<Assignment>) -> String {
    match current.as_ref().map(|a| &a.assignee) {
        Some(Assignee::Queue(queue)) => {
            format!("still no rep can take it: it stays in queue {queue}")
        }
        _ => "the assignment stands".into(),
    }
}

/// Takes a slot of the plan's first rep that accepts; the fallback queue when none does.
/// `None` when the lead already waits in the fallback queue and still no rep can take it.
async fn take_capacity(
    context: &RouteContext<'_>,
    plan: &Plan,
    lead_id: &str,
    held: Option<String>,
    card: &ScoreCard,
    current: &Option<Assignment>,
    now: DateTime<Utc>,
) -> Result<(Option<Assignment>, AssignmentChange), StageError> {
    let (ledger, routing) = (context.ledger, context.routing);
    let in_team = |rep: &str| plan.candidates.iter().find(|c| c.rep == rep);
    if let Some(held) = &held {
        // a slot taken by a run that failed before recording it: kept if the rules pick
        // that rep's team (its caps already count this lead), freed otherwise
        let held_in_team = routing
            .rep(held)
            .filter(|(team, _)| plan.team.as_deref() == Some(team.name.as_str()));
        if let Some((_, rep)) = held_in_team {
            let candidate = Candidate {
                rep: rep.id.clone(),
                day: rep.day(now),
                caps: RepCaps {
                    max_open_leads: rep.max_open_leads,
                    max_new_per_day: rep.max_new_per_day,
                },
                load: RepLoad::default(),
            };
            if let Take::AlreadyHeld(load) = ledger
                .take(&candidate.rep, lead_id, candidate.day, candidate.caps, now)
                .await?
            {
                let assignment = plan.to_rep(&candidate, load, &[], card, now);
                return Ok((Some(assignment), AssignmentChange::Assigned));
            }
        }
        ledger.release(lead_id).await?;
    }
    let mut refused = Vec::new();
    for candidate in &plan.candidates {
        match ledger
            .take(&candidate.rep, lead_id, candidate.day, candidate.caps, now)
            .await?
        {
            Take::Taken(load) | Take::AlreadyHeld(load) => {
                let assignment = plan.to_rep(candidate, load, &refused, card, now);
                return Ok((Some(assignment), AssignmentChange::Assigned));
            }
            Take::Full(load) => refused.push(format!(
                "{}: full when taken ({} of {} open leads, {} of {} new today)",
                candidate.rep,
                load.open,
                candidate.caps.max_open_leads,
                load.new_today,
                candidate.caps.max_new_per_day
            )),
            Take::HeldByOther(other) => {
                // a concurrent route of the same lead got there first: its rep stands
                if let Some(theirs) = in_team(&other) {
                    let load = ledger.load(&other, theirs.day).await?;
                    let assignment = plan.to_rep(theirs, load, &refused, card, now);
                    return Ok((Some(assignment), AssignmentChange::Assigned));
                }
                refused.push(format!("{}: the lead is held by {other}", candidate.rep));
            }
        }
    }
    if matches!(current.as_ref().map(|a| &a.assignee), Some(Assignee::Queue(q)) if *q == plan.fallback_queue)
    {
        return Ok((None, AssignmentChange::Kept));
    }
    Ok((
        Some(plan.to_queue(&refused, card, now)),
        AssignmentChange::Queued,
    ))
}

/// Stores the assignment (or none), writing only if it changes.
async fn write(
    store: &dyn LeadStore,
    lead_id: &str,
    assignment: Option<Assignment>,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
) -> Result<LeadRecord, StageError> {
    let updated = update_lead_with_retry(store, lead_id, now, policy, |record| {
        if same_assignee(&record.assignment, &assignment) {
            return false;
        }
        record.assignment = assignment.clone();
        true
    })
    .await?;
    Ok(updated.record)
}

/// Whether two assignments give the lead to the same rep or queue for the same verdict
/// (a repeat need not rewrite the time and the load).
fn same_assignee(stored: &Option<Assignment>, next: &Option<Assignment>) -> bool {
    match (stored, next) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.assignee == b.assignee && a.band == b.band && a.next_action == b.next_action
        }
        _ => false,
    }
}

/// Puts the verdict's alerts in the outbox and tries each newly enqueued one once.
///
/// An erase that finished between reading the lead and enqueueing could not see these
/// alerts; if the lead is gone by now, erasing again removes them and nothing is sent.
async fn enqueue_alerts(
    store: &dyn LeadStore,
    context: &RouteContext<'_>,
    record: &LeadRecord,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, AlertAttempt>, StageError> {
    let mut attempts = BTreeMap::new();
    let mut queued = Vec::new();
    for alert in alerts_for(record, context.alerts, now) {
        if store.enqueue_alert(&alert).await? {
            queued.push(alert);
        } else {
            attempts.insert(alert.id, AlertAttempt::AlreadyQueued);
        }
    }
    if !queued.is_empty() && store.get_lead(record.id()).await?.is_none() {
        store.erase_lead(record.id(), now).await?;
        return Err(StageError::LeadNotFound {
            lead_id: record.id().to_string(),
        });
    }
    for alert in queued {
        // the alert is safe in the outbox: a failed attempt is the outbox's to retry
        let attempt = match deliver_alert(store, context.notifier, context.alerts, &alert, now)
            .await
        {
            Ok(outcome) => AlertAttempt::Delivered(outcome),
            Err(error) => {
                tracing::warn!(alert_id = %alert.id, %error, "immediate alert attempt failed; the outbox job will retry");
                AlertAttempt::AttemptFailed(error.to_string())
            }
        };
        attempts.insert(alert.id, attempt);
    }
    Ok(attempts)
}

/// Routes the envelope's lead (no follow-up: route is the last stage).
pub async fn route_stage_handler(
    ports: &StagePorts<'_>,
    route: &RouteContext<'_>,
    envelope: &Envelope,
) -> Result<Handled<RouteOutcome>, StageError> {
    if envelope.kind != Stage::Route {
        return Err(StageError::wrong_stage(
            Stage::Route,
            envelope.kind,
            &envelope.lead_id,
        ));
    }
    let _timer = crate::metrics::time_stage(crate::metrics::MeteredStage::Route);
    let now = ports.clock.now();
    let outcome = route_lead(ports.store, route, &envelope.lead_id, now, &ports.policy).await?;
    Ok(Handled {
        outcome,
        follow_up: None,
    })
}
