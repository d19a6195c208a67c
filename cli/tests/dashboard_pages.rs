//! The dashboard of `leadq serve` over HTTP: the real binary on a loopback port and a
//! SQLite store seeded through the store port (leads with cards, history, events, an
//! assignment, a rep's slot, a failed and a sent alert, a trained model version), then
//! each page's content, escaping, the 404 and 400 pages, the re-send button and the
//! refusal of a cross-site POST; and that a non-loopback bind does not serve it.

mod support;

use chrono::{DateTime, Duration as Span, Utc};
use leadq_local::settings::LAST_TRAIN_KEY;
use leadq_local::{SqliteOptions, SqliteSettings, SqliteStore};
use leadq_pipeline::routing::{Assignee, Assignment, Strategy};
use leadq_pipeline::stages::train::{HoldoutMetrics, TrainingData, VersionMetrics, WeightChange};
use leadq_pipeline::{
    Alert, AlertState, HistoryEntry, LeadRecord, LeadStore, ModelVersion, Provenance, RepCaps,
    RepLedger, StoredEvent,
};
use leadq_scoring::calibration::FeatureKind;
use leadq_scoring::metrics::{calibration, deciles};
use leadq_scoring::model::DEFAULT_MODEL_TOML;
use leadq_scoring::{
    Band, BandSpan, Calibration, Dimension, Event, EventKind, Lead, MissingData, NextAction,
    Reason, ScoreCard,
};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{Process, listening_url, serve_command};

/// The lead whose name is markup: it must show as text everywhere.
const XSS_LEAD: &str = "lead-xss";
const XSS_NAME: &str = "<script>alert('x')</script>";
const COLD_LEAD: &str = "lead-cold";
const FAILED_ALERT: &str = "alert-failed-1";
const SENT_ALERT: &str = "alert-sent-1";
const VERSION: &str = "trained-20261120T030000Z";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn card(id: &str, composite: u8, band: Band, action: NextAction, now: DateTime<Utc>) -> ScoreCard {
    let mut card = ScoreCard::empty();
    card.lead_id = id.into();
    card.model_version = "rules-default-2026.11".into();
    card.scored_at = now;
    card.composite = composite;
    card.band = band;
    card.next_action = action;
    card.scores.fit = 80.0;
    card.scores.stakeholder = 60.0;
    card.scores.behaviour = 40.0;
    card.scores.intent = 90.0;
    card
}

fn reason(dimension: Dimension, rule: &str, composite_points: f64, count: u32) -> Reason {
    Reason {
        dimension,
        rule: rule.into(),
        points: composite_points * 3.0,
        composite_points,
        count,
        decayed: if count > 0 { 1.5 } else { 0.0 },
    }
}

fn lead(id: &str, name: &str, company: &str, created: DateTime<Utc>) -> LeadRecord {
    let mut lead = Lead {
        id: id.into(),
        ..Lead::default()
    };
    lead.person.name = Some(name.into());
    lead.person.email = Some(format!("{id}@example.com"));
    lead.person.title = Some("VP <b>Sales</b>".into());
    lead.company.name = Some(company.into());
    LeadRecord::new(lead, Some(format!("{id}@example.com")), created)
}

/// Seeds the store; returns nothing but what the pages are checked against.
async fn seed(db: &Path) {
    let store = SqliteStore::open(db, &SqliteOptions::default())
        .await
        .expect("open the store");
    let now = Utc::now();

    // the hot lead, named with markup, scored 2 h ago: sales_now is overdue (1 h target)
    let mut hot = lead(XSS_LEAD, XSS_NAME, "Acme & <i>Co</i>", now - Span::days(3));
    let mut hot_card = card(
        XSS_LEAD,
        91,
        Band::Hot,
        NextAction::SalesNow,
        now - Span::hours(2),
    );
    hot_card.probability = Some(0.42);
    hot_card.reasons = vec![
        reason(Dimension::Intent, "demo_request", 8.0, 2),
        reason(Dimension::Fit, "industry = software", 9.5, 0),
        reason(Dimension::Negative, "<img src=x onerror=alert(1)>", -2.0, 0),
    ];
    hot_card.missing = vec![MissingData {
        field: "company.employees".into(),
        best_points: 6.0,
        worst_points: -3.0,
    }];
    hot_card.missing_span = Some(BandSpan {
        best: Band::Hot,
        worst: Band::Warm,
    });
    hot.card = Some(hot_card);
    hot.provenance.insert(
        "company.industry".into(),
        Provenance {
            provider: "company_directory".into(),
            confidence: 0.9,
            at: now - Span::days(3),
        },
    );
    hot.assignment = Some(Assignment {
        assignee: Assignee::Rep("ada".into()),
        team: Some("inside".into()),
        rule: "teams[0] inside: any lead".into(),
        strategy: Some(Strategy::LeastLoaded),
        rep_load: None,
        band: Band::Hot,
        next_action: NextAction::SalesNow,
        composite: 91,
        at: now - Span::hours(2),
        why: "sales_now lead matched inside; least_loaded picked ada".into(),
    });
    store.create_lead(&hot).await.expect("create the hot lead");
    for (hours, from, to, composite, cause) in [
        (72, None, Band::Warm, 70, "new lead"),
        (2, Some(Band::Warm), Band::Hot, 91, "new events"),
    ] {
        store
            .add_history(
                XSS_LEAD,
                &HistoryEntry {
                    at: now - Span::hours(hours),
                    from_band: from,
                    to_band: to,
                    next_action: if to == Band::Hot {
                        NextAction::SalesNow
                    } else {
                        NextAction::SdrReview
                    },
                    composite,
                    cause: cause.into(),
                    model_version: "rules-default-2026.11".into(),
                },
            )
            .await
            .expect("history");
    }
    let mut with_events = store
        .get_lead(XSS_LEAD)
        .await
        .expect("read")
        .expect("stored");
    let mut event = Event::new(EventKind::PricingView, now - Span::hours(3));
    event
        .properties
        .insert("page".into(), "/pricing?<x>".into());
    with_events.aggregates.add(&event);
    with_events.version += 1;
    store
        .append_events(
            &with_events,
            &[StoredEvent {
                event_id: "e1".into(),
                event,
                received_at: now - Span::hours(3),
            }],
        )
        .await
        .expect("events");
    store
        .ledger()
        .take(
            "ada",
            XSS_LEAD,
            now.date_naive(),
            RepCaps {
                max_open_leads: 10,
                max_new_per_day: 5,
            },
            now,
        )
        .await
        .expect("take a slot");

    // a cold lead, and one waiting in the fallback queue, and one not scored yet
    let mut cold = lead(COLD_LEAD, "Carl Cold", "Frost Ltd", now - Span::days(1));
    cold.card = Some(card(COLD_LEAD, 12, Band::Cold, NextAction::Nurture, now));
    store.create_lead(&cold).await.expect("create");
    let mut queued = lead(
        "lead-queued",
        "Quinn Queue",
        "Waiting Inc",
        now - Span::hours(5),
    );
    queued.card = Some(card(
        "lead-queued",
        66,
        Band::Warm,
        NextAction::SdrReview,
        now,
    ));
    queued.assignment = Some(Assignment {
        assignee: Assignee::Queue("unassigned".into()),
        team: None,
        rule: "no team matched".into(),
        strategy: None,
        rep_load: None,
        band: Band::Warm,
        next_action: NextAction::SdrReview,
        composite: 66,
        at: now,
        why: "no team matched".into(),
    });
    store.create_lead(&queued).await.expect("create");
    store
        .create_lead(&lead("lead-new", "Nora New", "Fresh Co", now))
        .await
        .expect("create");

    // the outbox: one failed, one sent
    for (id, state, error) in [
        (
            FAILED_ALERT,
            AlertState::Failed,
            Some("HTTP 500 from the hook"),
        ),
        (SENT_ALERT, AlertState::Sent, None),
    ] {
        store
            .enqueue_alert(&Alert {
                id: id.into(),
                lead_id: XSS_LEAD.into(),
                hook: "sales-slack".into(),
                payload: "{}".into(),
                state,
                attempts: 5,
                next_attempt_at: now,
                last_error: error.map(str::to_string),
                version: 1,
                created_at: now - Span::hours(1),
            })
            .await
            .expect("alert");
    }

    // a trained version with its holdout tables, made active
    let probs: Vec<f64> = (0..40).map(|i| f64::from(i) / 40.0).collect();
    let won: Vec<bool> = (0..40).map(|i| i % 3 == 0 || i > 30).collect();
    let metrics = VersionMetrics {
        calibration: Some(Calibration {
            intercept: -2.0,
            prior_intercept: -2.5,
            prior_slope: 0.05,
            features: Vec::new(),
            rows: 160,
            won: 50,
            prior_strength: 50.0,
        }),
        based_on: None,
        data: Some(TrainingData {
            outcomes: 200,
            examples: 200,
            skipped: 0,
            train_rows: 160,
            train_won: 50,
            holdout_rows: 40,
            holdout_won: 17,
            holdout_from: Some(now - Span::days(10)),
        }),
        challenger: Some(HoldoutMetrics {
            auc: 0.8123,
            log_loss: 0.51,
            brier: 0.17,
            ece: 0.043,
        }),
        active: Some(HoldoutMetrics {
            auc: 0.7001,
            log_loss: 0.9,
            brier: 0.3,
            ece: 0.31,
        }),
        weight_changes: vec![WeightChange {
            name: "pricing_view".into(),
            kind: FeatureKind::Rule,
            before: 0.05,
            after: 0.09,
            change: 0.04,
        }],
        holdout_calibration: Some(calibration(&probs, &won, 10).expect("table")),
        holdout_deciles: Some(deciles(&probs, &won).expect("deciles")),
        ..VersionMetrics::default()
    };
    store
        .put_model_version(&ModelVersion {
            version: VERSION.into(),
            created_at: now - Span::days(3),
            model_toml: DEFAULT_MODEL_TOML.replacen(
                "version = \"rules-default-2026.11\"",
                &format!("version = \"{VERSION}\""),
                1,
            ),
            metrics_json: Some(serde_json::to_string(&metrics).expect("json")),
            promoted: true,
            reason: "promoted: better on the holdout".into(),
        })
        .await
        .expect("version");
    store.set_active_model(VERSION).await.expect("activate");

    // training ran just now: serve's start must not train over the seeded versions
    SqliteSettings::open(db, &SqliteOptions::default())
        .await
        .expect("settings")
        .put(
            LAST_TRAIN_KEY,
            &now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .await
        .expect("last train");
}

/// A config directory: one team, one rep.
fn config_dir(dir: &Path) -> PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(
        config.join("routing.toml"),
        r#"fallback_queue = "unassigned"
[[teams]]
name = "inside"
strategy = "least_loaded"
[[teams.reps]]
id = "ada"
name = "Ada <Lovelace>"
max_open_leads = 10
max_new_per_day = 5
"#,
    )
    .expect("routing.toml");
    config
}

/// A running `leadq serve`, its URL and its start-up lines.
type Server = Process;

/// Starts `leadq serve` on `db` with the test's config, bound to `bind`.
fn start_server(db: &Path, config: &Path, bind: &str) -> Server {
    let mut command = serve_command(db, config);
    command.args(["--bind", bind]);
    Process::start(command, Duration::from_secs(60), listening_url)
}

struct Page {
    status: u16,
    content_type: String,
    csp: String,
    body: String,
}

fn client() -> reqwest::Client {
    leadq_pipeline::tls::http_client_builder()
        .expect("TLS configuration")
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get(url: &str) -> Page {
    let response = client().get(url).send().await.expect("GET");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    Page {
        status: response.status().as_u16(),
        content_type: header("content-type"),
        csp: header("content-security-policy"),
        body: response.text().await.expect("body"),
    }
}

/// No markup from the seeded values: no script element, no injected attribute.
fn assert_escaped(body: &str) {
    assert!(!body.contains("<script"), "a script element: {body}");
    assert!(!body.contains("<img"), "an injected image: {body}");
    assert!(
        !body.contains("<i>Co"),
        "injected markup from a company name"
    );
    assert!(!body.contains("<b>Sales"), "injected markup from a title");
}

fn seeded() -> (tempfile::TempDir, PathBuf, PathBuf, tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("dashboard.db");
    let runtime = runtime();
    runtime.block_on(seed(&db));
    let config = config_dir(dir.path());
    (dir, db, config, runtime)
}

#[test]
fn every_page_shows_the_store_escaped() {
    // the rep's slot is taken on the seeding day; the page counts the day it is served
    let seeded_on = Utc::now().date_naive();
    let (_dir, db, config, runtime) = seeded();
    let server = start_server(&db, &config, "127.0.0.1");
    let base = server.url.clone();
    runtime.block_on(async {
        // the queue: matrix, rows by band then composite, rep, SLA
        let queue = get(&format!("{base}/")).await;
        assert_eq!(queue.status, 200);
        assert!(
            queue.content_type.starts_with("text/html"),
            "{}",
            queue.content_type
        );
        assert!(queue.csp.contains("default-src 'none'"), "{}", queue.csp);
        assert!(
            !queue.csp.contains("script-src"),
            "scripts must stay forbidden"
        );
        assert_escaped(&queue.body);
        assert!(
            queue
                .body
                .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
        );
        assert!(queue.body.contains("Acme &amp; &lt;i&gt;Co&lt;/i&gt;"));
        assert!(queue.body.contains("By band and next action"));
        assert!(
            queue
                .body
                .contains("3 scored lead(s), 1 waiting to be scored")
        );
        let (hot, warm, cold) = (
            queue
                .body
                .find("href=\"/leads/lead-xss\"")
                .expect("hot lead listed"),
            queue.body.find("Quinn Queue").expect("queued lead listed"),
            queue.body.find("Carl Cold").expect("cold lead listed"),
        );
        assert!(hot < warm && warm < cold, "ordered by band");
        assert!(
            queue.body.contains("overdue by 1 h"),
            "sales_now 2 h old: overdue"
        );
        assert!(
            queue
                .body
                .contains("<span class=\"muted\">queue</span> unassigned")
        );
        assert!(
            queue.body.contains("<td>Ada &lt;Lovelace&gt;</td>"),
            "the rep by name"
        );
        assert!(
            !queue.body.contains("Nora New"),
            "unscored leads are only counted"
        );

        // filters
        let hot_only = get(&format!("{base}/?band=hot&action=sales_now")).await;
        assert_eq!(hot_only.status, 200);
        assert!(hot_only.body.contains("href=\"/leads/lead-xss\""));
        assert!(!hot_only.body.contains("Carl Cold"));
        for bad in [
            "band=lukewarm",
            "action=%3Cscript%3E",
            "sort=name",
            "band=hot&band=x",
        ] {
            let refused = get(&format!("{base}/?{bad}")).await;
            assert_eq!(refused.status, 400, "{bad}");
            assert!(refused.content_type.starts_with("text/html"));
            assert!(refused.body.contains("That filter is not valid"), "{bad}");
            assert!(!refused.body.contains("<script"), "{bad}");
        }

        // a lead: verdict, reasons largest first, missing data, probability, assignment,
        // score changes, events, provenance
        let page = get(&format!("{base}/leads/{XSS_LEAD}")).await;
        assert_eq!(page.status, 200);
        assert_escaped(&page.body);
        let body = &page.body;
        assert!(body.contains("<span class=\"big\">91</span>"));
        assert!(body.contains("band-hot"));
        assert!(body.contains("sales now"));
        assert!(body.contains("42.0%"), "the calibrated probability");
        let industry = body.find("industry = software").expect("top reason");
        let demo = body.find("demo_request").expect("second reason");
        assert!(industry < demo, "reasons largest first");
        assert!(body.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(body.contains("company.employees"));
        assert!(body.contains("rep <b>Ada &lt;Lovelace&gt;</b> (ada)"));
        assert!(body.contains("least_loaded picked ada"));
        assert!(body.contains("new events"), "the score change");
        assert!(body.contains("rules-default-2026.11"));
        assert!(body.contains("pricing_view"), "the event");
        assert!(body.contains("page=/pricing?&lt;x&gt;"));
        assert!(body.contains("company_directory"), "provenance");

        let missing = get(&format!("{base}/leads/no-such-lead")).await;
        assert_eq!(missing.status, 404);
        assert!(missing.body.contains("No such lead"));
        let hostile = get(&format!("{base}/leads/%3Cscript%3E")).await;
        assert_eq!(hostile.status, 404);
        assert!(!hostile.body.contains("<script"));
        assert!(hostile.body.contains("&lt;script&gt;"));

        // reps
        let reps = get(&format!("{base}/reps")).await;
        assert_eq!(reps.status, 200);
        assert!(reps.body.contains("Team inside"));
        assert!(reps.body.contains("least loaded"));
        assert!(reps.body.contains("Ada &lt;Lovelace&gt;"));
        assert!(reps.body.contains("1 / 10"), "one open lead of 10");
        if Utc::now().date_naive() == seeded_on {
            assert!(reps.body.contains("1 / 5"), "one given today of 5");
        } else {
            // the run crossed midnight (UTC) between seeding and the request
            assert!(reps.body.contains("0 / 5"), "none given today of 5");
        }
        assert!(
            reps.body.contains("<b>1</b> lead(s) waiting"),
            "the fallback queue"
        );

        // the model
        let model = get(&format!("{base}/model")).await;
        assert_eq!(model.status, 200);
        assert!(
            model.body.contains(&format!("version {VERSION}")),
            "the active one"
        );
        assert!(model.body.contains("0.8123"), "the AUC");
        assert!(model.body.contains("0.7001"), "the then active AUC");
        assert!(model.body.contains("aria-label=\"calibration chart\""));
        assert!(model.body.contains("aria-label=\"lift chart\""));
        assert!(model.body.contains("pricing_view"), "the weight change");
        assert!(model.body.contains("+0.0400"));

        // alerts
        let alerts = get(&format!("{base}/alerts")).await;
        assert_eq!(alerts.status, 200);
        assert_escaped(&alerts.body);
        assert!(alerts.body.contains("Failed (1)"));
        assert!(alerts.body.contains("Sent (1)"));
        assert!(alerts.body.contains("HTTP 500 from the hook"));
        assert!(
            alerts
                .body
                .contains(&format!("action=\"/alerts/{FAILED_ALERT}/resend\""))
        );
        assert!(
            !alerts
                .body
                .contains(&format!("/alerts/{SENT_ALERT}/resend"))
        );
    });
}

#[test]
fn a_failed_alert_is_resent_from_this_site_only() {
    let (_dir, db, config, runtime) = seeded();
    let server = start_server(&db, &config, "127.0.0.1");
    let base = server.url.clone();
    let host = base.trim_start_matches("http://").to_string();
    let resend = format!("{base}/alerts/{FAILED_ALERT}/resend");
    runtime.block_on(async {
        let state = |id: &'static str| {
            let db = db.clone();
            async move {
                let store = SqliteStore::open(&db, &SqliteOptions::default())
                    .await
                    .expect("open");
                for state in [AlertState::Failed, AlertState::Pending, AlertState::Sent] {
                    let alerts = store.alerts_in_state(state, 100).await.expect("alerts");
                    if alerts.iter().any(|a| a.id == id) {
                        return state;
                    }
                }
                panic!("alert {id} is gone");
            }
        };

        // another site's page (Origin), or a link from one (Referer): refused, nothing changed
        for (name, value) in [
            ("origin", "http://evil.example".to_string()),
            ("origin", "null".to_string()),
            ("referer", "http://evil.example/page".to_string()),
        ] {
            let response = client()
                .post(&resend)
                .header(name, value.as_str())
                .send()
                .await
                .expect("POST");
            assert_eq!(response.status().as_u16(), 403, "{name}: {value}");
            assert!(
                response
                    .text()
                    .await
                    .expect("body")
                    .contains("another site")
            );
            assert_eq!(state(FAILED_ALERT).await, AlertState::Failed);
        }

        // the dashboard's own form: back in the outbox, 303 to the alerts page
        let response = client()
            .post(&resend)
            .header("origin", format!("http://{host}"))
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status().as_u16(), 303);
        assert_eq!(
            response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok()),
            Some("/alerts?done=resent")
        );
        assert_eq!(state(FAILED_ALERT).await, AlertState::Pending);
        let page = get(&format!("{base}/alerts?done=resent")).await;
        assert!(page.body.contains("The alert is back in the outbox"));
        assert!(page.body.contains("Pending (1)"));
        assert!(page.body.contains("Failed (0)"));

        // again: it is not failed any more; an unknown id: not found; a sent one: refused
        for (id, done) in [
            (FAILED_ALERT, "not_failed"),
            ("no-such-alert", "not_found"),
            (SENT_ALERT, "not_failed"),
        ] {
            let response = client()
                .post(format!("{base}/alerts/{id}/resend"))
                .header("referer", format!("http://{host}/alerts"))
                .send()
                .await
                .expect("POST");
            assert_eq!(response.status().as_u16(), 303, "{id}");
            assert_eq!(
                response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok()),
                Some(format!("/alerts?done={done}").as_str()),
                "{id}"
            );
        }
        assert_eq!(state(SENT_ALERT).await, AlertState::Sent);
    });
}

#[test]
fn a_non_loopback_bind_serves_no_dashboard() {
    let (_dir, db, config, runtime) = seeded();
    let server = start_server(&db, &config, "0.0.0.0");
    assert!(
        server
            .lines
            .iter()
            .any(|line| line.starts_with("dashboard: not served on 0.0.0.0")),
        "{:?}",
        server.lines
    );
    let port = server.url.rsplit(':').next().expect("port").to_string();
    runtime.block_on(async {
        for path in ["/", "/reps", "/model", "/alerts", "/leads/lead-xss"] {
            let page = get(&format!("http://127.0.0.1:{port}{path}")).await;
            assert_eq!(page.status, 404, "{path}");
            assert!(!page.body.contains("Carl Cold"), "{path}");
            assert!(
                !page.body.contains("<html"),
                "{path}: the API's answer, not a page"
            );
        }
    });
}

#[test]
fn an_empty_store_says_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(
        config.join("routing.toml"),
        "fallback_queue = \"unassigned\"\n",
    )
    .expect("routing.toml");
    let server = start_server(&dir.path().join("empty.db"), &config, "127.0.0.1");
    let base = server.url.clone();
    runtime().block_on(async {
        for (path, says) in [
            ("/", "No leads yet"),
            ("/reps", "No teams are configured"),
            ("/model", "No model version is stored yet"),
            ("/alerts", "No alerts yet"),
        ] {
            let page = get(&format!("{base}{path}")).await;
            assert_eq!(page.status, 200, "{path}");
            assert!(page.body.contains(says), "{path}: {}", page.body);
        }
    });
}
