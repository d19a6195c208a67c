//! Learning from outcomes on any store: the train job promotes a challenger better than the
//! active model and refuses a worse one, keeps every version, leaks nothing that happened
//! after scoring, and a rollback points the active model back and is recorded. Run on
//! memory, SQLite and the DynamoDB emulator by `model_*.rs`.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use leadq_pipeline::stages::train::HoldoutMetrics;
use leadq_pipeline::stages::{
    ModelCache, ModelJobError, TrainSettings, VersionKind, VersionMetrics, lead_view,
    rollback_model, score_lead, train_model, version_kind, version_metrics,
};
use leadq_pipeline::{HistoryEntry, LeadRecord, LeadStore, ModelVersion, RetryPolicy, StoredEvent};
use leadq_scoring::calibration::FeatureKind;
use leadq_scoring::dataset::SplitMix64;
use leadq_scoring::model::DEFAULT_MODEL_TOML;
use leadq_scoring::train::sigmoid;
use leadq_scoring::{
    Band, Calibration, CalibrationOptions, Company, Event, EventKind, Lead, Model, NextAction,
    Outcome, OutcomeStatus, Person, ScoreCard, Seniority, score,
};

/// Leads per scenario: 160 train the challenger, the newest 40 judge it.
pub const LEADS: usize = 200;

/// When the first lead was scored.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0)
        .single()
        .expect("a valid time")
}

/// When the train job runs: after every outcome.
pub fn training_time() -> DateTime<Utc> {
    start() + TimeDelta::days(60)
}

/// Who converts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Regime {
    /// Software companies, VPs and pricing views convert (the rules agree, roughly).
    Usual,
    /// The market turned: education converts, software does not.
    Turned,
}

/// One generated lead: its attributes and whether it converts.
struct Drawn {
    lead: Lead,
    pricing_views: usize,
    won: bool,
}

fn draw(rng: &mut SplitMix64, id: &str, regime: Regime) -> Drawn {
    let industry = ["software", "retail", "education"][(rng.next_f64() * 3.0) as usize % 3];
    let vp = rng.next_f64() < 0.4;
    let pricing_views = (rng.next_f64() * 4.0) as usize % 4;
    let (software, education) = (
        f64::from(u8::from(industry == "software")),
        f64::from(u8::from(industry == "education")),
    );
    let z = match regime {
        Regime::Usual => {
            -1.6 + 2.2 * software - 1.2 * education
                + 1.0 * f64::from(u8::from(vp))
                + 0.5 * pricing_views as f64
        }
        Regime::Turned => -0.6 - 2.5 * software + 2.5 * education,
    };
    let won = rng.next_f64() < sigmoid(z);
    let lead = Lead {
        id: id.to_string(),
        person: Person {
            email: Some(format!("{id}@example.com")),
            seniority: Some(if vp {
                Seniority::Vp
            } else {
                Seniority::IndividualContributor
            }),
            ..Person::default()
        },
        company: Company {
            industry: Some(industry.to_string()),
            ..Company::default()
        },
        ..Lead::default()
    };
    Drawn {
        lead,
        pricing_views,
        won,
    }
}

/// Stores `LEADS` leads scored an hour apart, the first `usual` of them in the usual regime
/// and the rest turned, each with pricing views received before it was scored, a history
/// entry, a won/lost outcome a day later and, for won leads, two demo requests received
/// after scoring, one of them dated before it (leaks: training must see neither).
pub async fn seed(store: &dyn LeadStore, usual: usize, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for i in 0..LEADS {
        let id = format!("lead-{i:03}");
        let regime = if i < usual {
            Regime::Usual
        } else {
            Regime::Turned
        };
        let drawn = draw(&mut rng, &id, regime);
        let scored_at = start() + TimeDelta::hours(i as i64);
        let mut record = LeadRecord::new(
            drawn.lead,
            Some(format!("{id}@example.com")),
            scored_at - TimeDelta::minutes(30),
        );
        store.create_lead(&record).await.expect("create lead");
        let mut events: Vec<StoredEvent> = (0..drawn.pricing_views)
            .map(|k| {
                let at = scored_at - TimeDelta::minutes(20 - k as i64);
                StoredEvent {
                    event_id: format!("{id}-pricing-{k}"),
                    event: Event::new(EventKind::PricingView, at),
                    received_at: at,
                }
            })
            .collect();
        if drawn.won {
            // leaks: a demo request after scoring, and one from before that arrived late
            let (after, late) = (
                scored_at + TimeDelta::hours(2),
                scored_at + TimeDelta::hours(3),
            );
            events.push(StoredEvent {
                event_id: format!("{id}-demo"),
                event: Event::new(EventKind::DemoRequest, after),
                received_at: after,
            });
            events.push(StoredEvent {
                event_id: format!("{id}-demo-late"),
                event: Event::new(EventKind::DemoRequest, scored_at - TimeDelta::hours(1)),
                received_at: late,
            });
        }
        if !events.is_empty() {
            record.version += 1;
            for e in &events {
                record.aggregates.add(&e.event);
            }
            store.append_events(&record, &events).await.expect("events");
        }
        let entry = HistoryEntry {
            at: scored_at,
            from_band: None,
            to_band: Band::Mql,
            next_action: NextAction::Nurture,
            composite: 50,
            cause: "new lead".into(),
            model_version: "rules".into(),
        };
        store.add_history(&id, &entry).await.expect("history");
        let outcome = Outcome {
            lead_id: id,
            status: if drawn.won {
                OutcomeStatus::Won
            } else {
                OutcomeStatus::Lost
            },
            amount: Some(1000.0),
            closed_at: scored_at + TimeDelta::days(1),
        };
        store.put_outcome(&outcome).await.expect("outcome");
    }
}

/// The default rules stored as version `label`.
pub fn rules_version(label: &str, created_at: DateTime<Utc>) -> ModelVersion {
    let toml = DEFAULT_MODEL_TOML.replacen(
        "version = \"rules-default-2026.11\"",
        &format!("version = \"{label}\""),
        1,
    );
    assert!(
        toml.contains(label),
        "the default model's version line moved"
    );
    ModelVersion {
        version: label.to_string(),
        created_at,
        model_toml: toml,
        metrics_json: None,
        promoted: true,
        reason: "hand-written rules".into(),
    }
}

/// A calibration fitted on fresh leads of `regime` (not stored), as a stored version.
fn calibrated_version(label: &str, regime: Regime, created_at: DateTime<Utc>) -> ModelVersion {
    let model = Model::default_model();
    let mut rng = SplitMix64::new(99);
    let mut cards: Vec<ScoreCard> = Vec::new();
    let mut won = Vec::new();
    for i in 0..2000 {
        let drawn = draw(&mut rng, &format!("fit-{i}"), regime);
        let at = start();
        let events: Vec<Event> = (0..drawn.pricing_views)
            .map(|k| {
                Event::new(
                    EventKind::PricingView,
                    at - TimeDelta::minutes(k as i64 + 1),
                )
            })
            .collect();
        cards.push(score(&drawn.lead, &events, &model, at));
        won.push(drawn.won);
    }
    let calibration =
        Calibration::fit(&cards, &won, &CalibrationOptions::default()).expect("a calibration");
    let metrics = VersionMetrics {
        calibration: Some(calibration),
        ..VersionMetrics::default()
    };
    ModelVersion {
        metrics_json: Some(serde_json::to_string(&metrics).expect("json")),
        reason: format!("calibrated on the {regime:?} regime"),
        ..rules_version(label, created_at)
    }
}

/// Rules active; outcomes where the rules roughly agree: the trained challenger is
/// promoted, cards then carry its probability and version; a rollback returns to the
/// rules, is recorded, and refuses what it cannot do.
pub async fn check_a_better_challenger_is_promoted_and_can_be_rolled_back(store: &dyn LeadStore) {
    let rules = rules_version("rules-v1", start() - TimeDelta::days(1));
    assert!(store.put_model_version(&rules).await.expect("put"));
    store.set_active_model("rules-v1").await.expect("activate");
    seed(store, LEADS, 1).await;

    let report = train_model(store, training_time(), &TrainSettings::default())
        .await
        .expect("train");
    assert!(report.promoted, "{}", report.reason);
    assert!(report.reason.starts_with("promoted"), "{}", report.reason);
    assert!(report.reason.contains("rules-v1"), "{}", report.reason);
    let label = report.version.clone().expect("a version");
    assert_eq!(label, "trained-20260731T090000Z");
    assert_eq!(
        (
            report.data.examples,
            report.data.train_rows,
            report.data.holdout_rows
        ),
        (LEADS, 160, 40)
    );
    let (challenger, active) = (report.challenger.expect("c"), report.active.expect("a"));
    assert!(
        challenger.auc >= active.auc - 0.005,
        "{challenger:?} {active:?}"
    );
    assert!(
        challenger.ece <= active.ece + 0.02,
        "{challenger:?} {active:?}"
    );

    let stored = store.active_model().await.expect("active").expect("set");
    assert_eq!(stored.version, label);
    assert!(stored.promoted);
    assert_eq!(
        Model::from_toml_str(&stored.model_toml)
            .expect("rules")
            .version(),
        label
    );
    let metrics = version_metrics(&stored).expect("metrics");
    assert_eq!(version_kind(&metrics), VersionKind::Trained);
    assert_eq!(metrics.based_on.as_deref(), Some("rules-v1"));
    let calibration = metrics.calibration.expect("a calibration");
    assert!(
        calibration
            .features
            .iter()
            .all(|f| !f.name.contains("demo_request")),
        "a demo request received after scoring leaked into training: {:?}",
        calibration
            .features
            .iter()
            .map(|f| &f.name)
            .collect::<Vec<_>>()
    );
    assert!(
        calibration
            .features
            .iter()
            .any(|f| f.kind == FeatureKind::Rule && f.name.contains("pricing")),
        "pricing views received before scoring are features"
    );
    assert_eq!(metrics.weight_changes.len(), calibration.features.len());
    // the dashboard's charts: every holdout example in one calibration bin and one decile
    let holdout = metrics.data.as_ref().expect("training data").holdout_rows;
    let table = metrics
        .holdout_calibration
        .as_ref()
        .expect("a calibration table");
    assert_eq!(table.bins.iter().map(|b| b.count).sum::<usize>(), holdout);
    let deciles = metrics.holdout_deciles.as_ref().expect("a decile table");
    assert_eq!(deciles.rows.iter().map(|r| r.count).sum::<usize>(), holdout);

    // the score stage applies the promoted calibration
    let now = training_time() + TimeDelta::minutes(5);
    let scored = score_lead(
        store,
        &ModelCache::default(),
        "lead-007",
        "test",
        now,
        &RetryPolicy::default(),
    )
    .await
    .expect("score");
    let p = scored.card.probability.expect("a calibrated probability");
    assert!((0.0..=1.0).contains(&p), "{p}");
    assert_eq!(&*scored.card.model_version, label.as_str());
    let read = store
        .get_lead("lead-007")
        .await
        .expect("get")
        .expect("lead");
    assert_eq!(read.card.expect("card").probability, Some(p));
    // the lead's view explains the probability: contributions and intercept add up to it
    let view = lead_view(store, "lead-007").await.expect("view");
    let explained = view.probability_explained.expect("explained");
    let sum = explained.intercept
        + explained
            .contributions
            .iter()
            .map(|c| c.log_odds)
            .sum::<f64>();
    assert!((sum - explained.log_odds).abs() < 1e-9, "{explained:?}");
    assert!((explained.probability - p).abs() < 1e-12, "{explained:?}");
    assert!(!explained.contributions.is_empty());

    // rollback to the rules
    let back = rollback_model(store, "rules-v1", "  drift suspected ", now)
        .await
        .expect("rollback");
    assert_eq!(
        (back.from.as_deref(), back.to.as_str()),
        (Some(label.as_str()), "rules-v1")
    );
    assert_eq!(
        store
            .active_model()
            .await
            .expect("active")
            .expect("set")
            .version,
        "rules-v1"
    );
    let versions = store.list_model_versions().await.expect("list");
    let record = versions
        .iter()
        .find(|v| v.version == back.record)
        .expect("the rollback is recorded");
    assert!(!record.promoted);
    assert!(record.reason.contains(&label), "{}", record.reason);
    assert!(record.reason.contains("rules-v1"), "{}", record.reason);
    assert!(
        record.reason.contains("drift suspected"),
        "{}",
        record.reason
    );
    assert_eq!(
        version_kind(&version_metrics(record).expect("metrics")),
        VersionKind::Rollback
    );
    assert_eq!(versions.len(), 3, "rules, trained, rollback record");

    // refusals change nothing
    let later = now + TimeDelta::minutes(1);
    for (to, expected) in [
        ("rules-v9", ModelJobError::UnknownVersion("rules-v9".into())),
        ("rules-v1", ModelJobError::AlreadyActive("rules-v1".into())),
        (
            back.record.as_str(),
            ModelJobError::NotAModel(back.record.clone()),
        ),
    ] {
        let err = rollback_model(store, to, "", later).await.expect_err(to);
        assert_eq!(err, expected);
        assert!(err.to_string().contains(to), "{err}");
    }
    assert_eq!(store.list_model_versions().await.expect("list").len(), 3);
    assert_eq!(
        store
            .active_model()
            .await
            .expect("active")
            .expect("set")
            .version,
        "rules-v1"
    );

    // rules again: cards carry no probability
    let rescored = score_lead(
        store,
        &ModelCache::default(),
        "lead-007",
        "test",
        later,
        &RetryPolicy::default(),
    )
    .await
    .expect("score");
    assert_eq!(rescored.card.probability, None);
    let view = lead_view(store, rescored.card.lead_id.as_str())
        .await
        .expect("view");
    assert_eq!(view.probability_explained, None, "a rules-only card");
    assert_eq!(&*rescored.card.model_version, "rules-v1");
}

/// The active version is calibrated to a market that turned; the older outcomes are of
/// the usual market: the challenger learned from them is worse on the newest outcomes, so
/// it is stored but not promoted, and the reason says why.
pub async fn check_a_worse_challenger_is_refused_and_kept(store: &dyn LeadStore) {
    let turned = calibrated_version("turned-v2", Regime::Turned, start() - TimeDelta::days(1));
    assert!(store.put_model_version(&turned).await.expect("put"));
    store.set_active_model("turned-v2").await.expect("activate");
    seed(store, 160, 2).await;

    let report = train_model(store, training_time(), &TrainSettings::default())
        .await
        .expect("train");
    assert!(!report.promoted, "{}", report.reason);
    assert!(
        report.reason.starts_with("not promoted"),
        "{}",
        report.reason
    );
    assert!(report.reason.contains("AUC"), "{}", report.reason);
    assert!(report.reason.contains("turned-v2"), "{}", report.reason);
    let (challenger, active) = (report.challenger.expect("c"), report.active.expect("a"));
    assert!(
        challenger.auc < active.auc - 0.005,
        "{challenger:?} {active:?}"
    );

    assert_eq!(
        store
            .active_model()
            .await
            .expect("active")
            .expect("set")
            .version,
        "turned-v2",
        "the active version stays"
    );
    let label = report.version.expect("stored anyway");
    let versions = store.list_model_versions().await.expect("list");
    let stored = versions
        .iter()
        .find(|v| v.version == label)
        .expect("the refused challenger is kept");
    assert!(!stored.promoted);
    assert_eq!(stored.reason, report.reason);
    let metrics = version_metrics(stored).expect("metrics");
    assert_eq!(metrics.based_on.as_deref(), Some("turned-v2"));
    // (JSON keeps a float to within its last bit)
    let close = |a: Option<HoldoutMetrics>, b: HoldoutMetrics| {
        let a = a.expect("stored metrics");
        [
            (a.auc, b.auc),
            (a.log_loss, b.log_loss),
            (a.brier, b.brier),
            (a.ece, b.ece),
        ]
        .iter()
        .all(|(x, y)| (x - y).abs() <= 1e-12 * y.abs().max(1.0))
    };
    assert!(
        close(metrics.active, active),
        "{:?} {active:?}",
        metrics.active
    );
    assert!(
        close(metrics.challenger, challenger),
        "{:?}",
        metrics.challenger
    );
    // weight changes are against the active calibration, largest first
    let changes = &metrics.weight_changes;
    assert!(!changes.is_empty());
    assert!(
        changes
            .windows(2)
            .all(|w| w[0].change.abs() >= w[1].change.abs())
    );
    let software = changes
        .iter()
        .find(|c| c.name.contains("software"))
        .expect("the software rule");
    assert!(
        software.before < 0.0 && software.after > software.before,
        "the turned market penalised software, the older outcomes reward it: {software:?}"
    );
}

/// Too few outcomes: nothing is stored, the rules stay, and the report says why.
pub async fn check_too_few_outcomes_store_nothing(store: &dyn LeadStore) {
    let report = train_model(store, training_time(), &TrainSettings::default())
        .await
        .expect("train");
    assert_eq!((report.version, report.promoted), (None, false));
    assert!(
        report.reason.contains("keeping the hand-written rules"),
        "{}",
        report.reason
    );
    assert!(store.list_model_versions().await.expect("list").is_empty());
    assert_eq!(store.active_model().await.expect("active"), None);

    // with a stored version active, the guard names it as what is kept
    let rules = rules_version("rules-v1", start());
    assert!(store.put_model_version(&rules).await.expect("put"));
    store.set_active_model("rules-v1").await.expect("activate");
    let report = train_model(store, training_time(), &TrainSettings::default())
        .await
        .expect("train");
    assert_eq!(report.version, None);
    assert!(
        report
            .reason
            .starts_with("keeping active version rules-v1: 0 won and 0 lost"),
        "{}",
        report.reason
    );
    assert_eq!(store.list_model_versions().await.expect("list").len(), 1);
}
