//! `leadq demo`: the whole local mode on a fresh database, driven through the real API
//! with a generated, deterministic history.
//!
//! The history (companies, reps, 1,000 leads, their behaviour over 60 days and the
//! outcomes of the older ones) is replayed in time order against an in-process server
//! whose clock is the replay's: each request is signed and received at the time it
//! happened, and the pipeline is drained before the clock moves on, so every stage sees
//! the time it would have seen live, the training job sees what was known when each deal
//! closed, and two runs give the same verdicts, routing and queue. Then the training job
//! runs, every lead is rescored at "now" with the version it promoted, the queue is
//! printed, and (unless `--exit`) the server goes on serving the dashboard on the real
//! clock.

mod world;

use crate::serve::{
    ALERTS_FILE, ROUTING_FILE, RunningServer, ServeConfig, ServerParts, StopSignals, ingest_secret,
    start,
};
use anyhow::{Context, bail};
use chrono::{DateTime, Duration, DurationRound, Utc};
use leadq_local::settings::INGEST_SECRET_KEY;
use leadq_local::worker::WorkerSettings;
use leadq_local::{SqliteOptions, SqliteStore};
use leadq_pipeline::alerts::AlertConfig;
use leadq_pipeline::api::IngestAuth;
use leadq_pipeline::envelope::{Cause, Envelope};
use leadq_pipeline::intake::FieldMapping;
use leadq_pipeline::routing::RoutingConfig;
use leadq_pipeline::signature::{SIGNATURE_HEADER, sign};
use leadq_pipeline::stages::CompanyDirectory;
use leadq_pipeline::{Clock, LeadRecord, LeadStore, Stage, WorkQueue};
use leadq_scoring::Band;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The seed of the generated history: fixed, so every run replays the same one.
const SEED: u64 = 2026;
/// Companies in the directory.
const COMPANIES: usize = 300;
/// The settings key that marks a database as the demo's (so a rerun may replace it).
const DEMO_MARK_KEY: &str = "demo_history_end";
/// Events per `POST /v1/events` (the API takes up to 500).
const EVENTS_PER_REQUEST: usize = 400;
/// How long one step of the replay may take to work through the pipeline.
const STEP_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);
/// Leads printed in the queue.
const QUEUE_ROWS: usize = 15;

/// Options of `leadq demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The SQLite file the demo writes. An earlier demo's file is replaced; any other
    /// existing file is refused.
    #[arg(long, value_name = "PATH", default_value = "leadq-demo.db")]
    db: PathBuf,
    /// The port the dashboard and API are served on after the replay (0: any free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Leads in the generated history.
    #[arg(long, default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(50..=20_000))]
    leads: u64,
    /// The end of the replayed history, RFC 3339 (default: the last noon, UTC). Runs with
    /// the same end print the same queue.
    #[arg(long, value_name = "TIME")]
    now: Option<DateTime<Utc>>,
    /// Print the queue and stop, instead of serving the dashboard afterwards.
    #[arg(long)]
    exit: bool,
}

/// The replay's clock: held at the replayed time while the history is replayed, then the
/// system clock.
#[derive(Debug, Default)]
struct ReplayClock {
    held: Mutex<Option<DateTime<Utc>>>,
}

impl ReplayClock {
    fn hold(&self, at: DateTime<Utc>) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    fn release(&self) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl Clock for ReplayClock {
    fn now(&self) -> DateTime<Utc> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_else(Utc::now)
    }
}

/// Runs `leadq demo`.
pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    crate::serve::init_logging_quiet();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let result = runtime.block_on(demo(args));
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    result
}

/// The last noon UTC at or before `now`.
fn last_noon(now: DateTime<Utc>) -> DateTime<Utc> {
    let day = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    let noon = day + Duration::hours(12);
    if noon > now {
        noon - Duration::days(1)
    } else {
        noon
    }
}

/// Removes an earlier demo's file (and its WAL files); refuses any other existing file.
fn fresh_database(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let shown = path.display();
    // read-only: a file that is not the demo's is not touched, not even by a schema
    let mark: Option<String> =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|conn| {
                conn.query_row(
                    "SELECT value FROM settings WHERE key = ?1",
                    [DEMO_MARK_KEY],
                    |row| row.get(0),
                )
            })
            .ok();
    if mark.is_none() {
        bail!(
            "{shown} exists and is not a demo database (a real one?): it is left alone; give another --db"
        );
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            std::fs::remove_file(&file)
                .with_context(|| format!("cannot remove the earlier demo {}", file.display()))?;
        }
    }
    Ok(())
}

/// The alert receiver of the demo: stands in for Slack and a CRM, counting what arrives.
struct Inbox {
    address: SocketAddr,
    received: Arc<AtomicUsize>,
}

async fn start_inbox() -> anyhow::Result<Inbox> {
    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hooks/{name}",
        axum::routing::post(move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("cannot start the demo's alert receiver")?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Inbox { address, received })
}

/// Hooks to the demo inbox: hot leads to a Slack-style channel, warm and hot leads with a
/// person's next action to a signed CRM webhook. The inbox is in this process: the long
/// timeout only keeps a loaded machine from timing a delivery out, which would change the
/// replay's alert count from one run to the next.
fn demo_alerts(inbox: SocketAddr, dashboard: SocketAddr) -> anyhow::Result<AlertConfig> {
    let text = format!(
        r#"
lead_url = "http://{dashboard}/leads/{{lead_id}}"

[delivery]
max_attempts = 3
timeout_ms = 10000

[hooks.sales_channel]
kind = "slack"
url_env = "DEMO_SLACK_URL"

[hooks.crm]
kind = "webhook"
url_env = "DEMO_CRM_URL"
secret_env = "DEMO_CRM_SECRET"

[[subscriptions]]
hook = "sales_channel"
bands = ["hot"]

[[subscriptions]]
hook = "crm"
bands = ["hot", "warm"]
next_actions = ["sales_now", "account_follow_up", "sdr_review"]
"#
    );
    let env = |var: &str| match var {
        "DEMO_SLACK_URL" => Some(format!("http://{inbox}/hooks/sales_channel")),
        "DEMO_CRM_URL" => Some(format!("http://{inbox}/hooks/crm")),
        "DEMO_CRM_SECRET" => Some("demo-crm-signing-secret-0123456789".to_string()),
        _ => None,
    };
    AlertConfig::from_toml_with_env(&text, env).context("the demo's alert configuration")
}

/// One request of the replay, at the time it happens.
enum Step<'a> {
    Form(&'a world::DemoLead),
    Events(Vec<Value>),
    Outcome(&'a world::DemoLead),
}

/// The replay's steps in time order; events are sent in one batch at the end of each day
/// (as an analytics export would), forms and outcomes when they happen.
fn steps(world: &world::World, now: DateTime<Utc>) -> Vec<(DateTime<Utc>, Step<'_>)> {
    let mut steps = Vec::new();
    let mut by_day: std::collections::BTreeMap<DateTime<Utc>, Vec<(DateTime<Utc>, Value)>> =
        std::collections::BTreeMap::new();
    for lead in &world.leads {
        steps.push((lead.created_at, Step::Form(lead)));
        if let Some((_, closed_at, _)) = lead.outcome {
            steps.push((closed_at, Step::Outcome(lead)));
        }
        for (at, event) in &lead.events {
            // the batch of the day holding `at`: days end at noon, as the history does
            let end = last_noon(*at) + Duration::days(1);
            let mut event = event.clone();
            if let Value::Object(fields) = &mut event {
                fields.insert("email".into(), json!(lead.email));
                fields.insert("at".into(), json!(at.to_rfc3339()));
            }
            by_day.entry(end.min(now)).or_default().push((*at, event));
        }
    }
    for (end, mut events) in by_day {
        events.sort_by_key(|(at, _)| *at);
        let events: Vec<Value> = events.into_iter().map(|(_, event)| event).collect();
        for chunk in events.chunks(EVENTS_PER_REQUEST) {
            steps.push((end, Step::Events(chunk.to_vec())));
        }
    }
    // stable: at equal times, forms before outcomes before the day's events
    steps.sort_by_key(|(at, step)| {
        let order = match step {
            Step::Form(_) => 0,
            Step::Outcome(_) => 1,
            Step::Events(_) => 2,
        };
        (*at, order)
    });
    steps
}

/// Signs and sends one request at the clock's time; refuses anything but a 2xx.
struct Driver {
    client: reqwest::Client,
    base: String,
    secret: String,
    clock: Arc<ReplayClock>,
}

impl Driver {
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let body = serde_json::to_vec(body)?;
        let at = self.clock.now().timestamp();
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, sign(self.secret.as_bytes(), at, &body))
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("POST {path} was refused ({status}): {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Waits until every message sent so far has been handled.
async fn drain(server: &RunningServer) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    loop {
        if server.pending_work().await? == 0 {
            return Ok(());
        }
        if started.elapsed() > STEP_LIMIT {
            bail!(
                "the pipeline did not finish a step within {}s",
                STEP_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

async fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    let now = args.now.unwrap_or_else(|| last_noon(Utc::now()));
    let lead_count = usize::try_from(args.leads).context("--leads")?;
    // the dashboard's port first: a taken port fails before anything is written
    let listener = if args.exit {
        None
    } else {
        Some(
            tokio::net::TcpListener::bind(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                args.port,
            ))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?,
        )
    };
    let dashboard = match &listener {
        Some(listener) => listener.local_addr()?,
        None => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.port),
    };
    fresh_database(&args.db)?;
    let db_name = args.db.display().to_string();
    let options = SqliteOptions::default();
    let store = SqliteStore::open(&args.db, &options)
        .await
        .with_context(|| format!("cannot open {db_name}"))?;
    // one connection to the file: the store's (see `SqliteStore::settings`)
    let settings = store.settings();
    settings
        .put(DEMO_MARK_KEY, &now.to_rfc3339())
        .await
        .context("cannot mark the demo database")?;
    let (secret, _) = ingest_secret(&settings, |_| None).await?;

    println!(
        "leadq demo: replaying 60 days of history up to {} into {db_name}",
        now.format("%Y-%m-%d %H:%M UTC")
    );
    let world = world::generate(SEED, COMPANIES, lead_count, now);
    let companies: Vec<_> = world.companies.iter().map(|c| c.facts.clone()).collect();
    store
        .directory()
        .upsert(&companies)
        .await
        .context("cannot fill the company directory")?;
    let routing = RoutingConfig::from_toml(world::ROUTING_TOML).context("the demo's routing")?;
    // the teams beside the database, so `leadq serve` can run it again with them
    let config_dir = args.db.with_extension("config");
    std::fs::create_dir_all(&config_dir)
        .with_context(|| format!("cannot create {}", config_dir.display()))?;
    std::fs::write(
        config_dir.join(ROUTING_FILE),
        world::ROUTING_TOML.trim_start(),
    )
    .with_context(|| format!("cannot write {}", config_dir.display()))?;
    let serve_again = format!(
        "leadq serve --db {db_name} --config {}",
        config_dir.display()
    );
    let inbox = start_inbox().await?;
    let alerts = demo_alerts(inbox.address, dashboard)?;

    let clock = Arc::new(ReplayClock::default());
    clock.hold(now - Duration::days(world::DAYS + 1));
    let replay_listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("cannot listen on loopback")?;
    let config = ServeConfig {
        routing: routing.clone(),
        alerts: Some(alerts.clone()),
        routing_source: "the demo's two teams".into(),
    };
    let server = start(
        replay_listener,
        ServerParts {
            store: store.clone(),
            settings: settings.clone(),
            config,
            mapping: FieldMapping::default(),
            auth: IngestAuth::from_config(Some(secret.clone()), "")
                .context("the demo's credentials")?,
            clock: Arc::clone(&clock) as Arc<dyn Clock>,
            // one record at a time: the replay is sequential, so it is the same every run
            worker: WorkerSettings {
                concurrency: 1,
                idle_wait: std::time::Duration::from_millis(250),
                ..WorkerSettings::default()
            },
            alert_interval: std::time::Duration::from_secs(60),
            schedules: false,
            stages: Stage::ALL.to_vec(),
        },
    )?;
    let driver = Driver {
        client: leadq_pipeline::tls::http_client_builder()?
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("cannot build the HTTP client")?,
        base: format!("http://{}", server.address),
        secret,
        clock: Arc::clone(&clock),
    };

    let replayed = replay(&server, &driver, &world, now).await;
    let replayed = match replayed {
        Ok(replayed) => replayed,
        Err(error) => {
            server.shutdown().await;
            return Err(error);
        }
    };
    clock.hold(now);
    let report = server.train_now().await?;
    println!("training: {}", report.reason);
    // every lead rescored at "now", with the version training promoted (if it did)
    let envelopes: Vec<Envelope> = replayed
        .lead_ids
        .iter()
        .map(|id| {
            Envelope::new(Stage::Score, id.clone(), "demo-model-change", now)
                .with_cause(Cause::ModelChange)
        })
        .collect();
    for chunk in envelopes.chunks(10) {
        server
            .services()
            .queue()
            .send(Stage::Score, chunk)
            .await
            .context("cannot queue the rescoring")?;
    }
    drain(&server).await?;
    let leads = load_leads(server.services().store(), &replayed.lead_ids).await?;
    server.shutdown().await;

    print_summary(
        &leads,
        &replayed,
        &report,
        inbox.received.load(Ordering::SeqCst),
    );
    print_queue(&leads, &routing);

    let Some(listener) = listener else {
        println!("database: {db_name} (`{serve_again}` serves it with the demo's teams)");
        return Ok(());
    };
    // from here on the real clock: the dashboard, the API and the schedules run live
    clock.release();
    let mut signals = StopSignals::install()?;
    let server = start(
        listener,
        ServerParts {
            store,
            settings,
            config: ServeConfig {
                routing,
                alerts: Some(alerts),
                routing_source: "the demo's two teams".into(),
            },
            mapping: FieldMapping::default(),
            auth: IngestAuth::from_config(Some(driver.secret.clone()), "")
                .context("the demo's credentials")?,
            clock: Arc::new(leadq_pipeline::SystemClock),
            worker: WorkerSettings::default(),
            alert_interval: std::time::Duration::from_secs(60),
            schedules: true,
            stages: Stage::ALL.to_vec(),
        },
    )?;
    println!();
    println!("dashboard: http://{}/", server.address);
    println!(
        "API: http://{}/v1/... (the ingest secret is in {db_name}, table settings, key {INGEST_SECRET_KEY}; {ALERTS_FILE}-style hooks go to the demo's own receiver)",
        server.address
    );
    println!("Ctrl-C stops; `{serve_again}` serves this database again");
    signals.wait().await;
    server.shutdown().await;
    Ok(())
}

/// What the replay sent.
struct Replayed {
    lead_ids: Vec<String>,
    events: usize,
    outcomes: usize,
}

async fn replay(
    server: &RunningServer,
    driver: &Driver,
    world: &world::World,
    now: DateTime<Utc>,
) -> anyhow::Result<Replayed> {
    let steps = steps(world, now);
    let mut progress = crate::backtest::Progress::new(steps.len() as u64, "requests");
    let mut replayed = Replayed {
        lead_ids: Vec::with_capacity(world.leads.len()),
        events: 0,
        outcomes: 0,
    };
    for (at, step) in &steps {
        driver.clock.hold(*at);
        match step {
            Step::Form(lead) => {
                let answer = driver.post("/v1/leads", &lead.form).await?;
                if let Some(id) = answer.get("lead_id").and_then(Value::as_str) {
                    replayed.lead_ids.push(id.to_string());
                }
            }
            Step::Events(events) => {
                driver
                    .post("/v1/events", &json!({ "events": events }))
                    .await?;
                replayed.events += events.len();
            }
            Step::Outcome(lead) => {
                if let Some((won, closed_at, amount)) = lead.outcome {
                    let mut body = json!({
                        "email": lead.email,
                        "status": if won { "won" } else { "lost" },
                        "closed_at": closed_at.to_rfc3339(),
                    });
                    if let Some(amount) = amount {
                        body["amount"] = json!(amount);
                    }
                    driver.post("/v1/outcomes", &body).await?;
                    replayed.outcomes += 1;
                }
            }
        }
        drain(server).await?;
        progress.tick("replaying the history");
    }
    progress.finish();
    Ok(replayed)
}

async fn load_leads(store: &SqliteStore, ids: &[String]) -> anyhow::Result<Vec<LeadRecord>> {
    let mut leads = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(record) = store.get_lead(id).await? {
            leads.push(record);
        }
    }
    Ok(leads)
}

fn print_summary(
    leads: &[LeadRecord],
    replayed: &Replayed,
    report: &leadq_pipeline::stages::TrainReport,
    alerts: usize,
) {
    let count = |band: Band| {
        leads
            .iter()
            .filter(|l| l.card.as_ref().is_some_and(|c| c.band == band))
            .count()
    };
    println!(
        "replayed: {} leads, {} events, {} outcomes; {} alerts reached the demo's Slack and CRM hooks",
        leads.len(),
        replayed.events,
        replayed.outcomes,
        alerts
    );
    println!(
        "bands: hot {}, warm {}, mql {}, cold {}, disqualified {}",
        count(Band::Hot),
        count(Band::Warm),
        count(Band::Mql),
        count(Band::Cold),
        count(Band::Disqualified)
    );
    if let (Some(challenger), Some(version)) = (&report.challenger, &report.version) {
        println!(
            "model {version}: holdout AUC {:.3}, log loss {:.3}, ECE {:.3}; {}",
            challenger.auc,
            challenger.log_loss,
            challenger.ece,
            if report.promoted {
                "promoted"
            } else {
                "not promoted"
            }
        );
    }
}

/// The top of the queue: the open leads a person should work first.
fn print_queue(leads: &[LeadRecord], routing: &RoutingConfig) {
    // the queue is the open leads: a closed deal is nobody's work
    let mut ranked: Vec<&LeadRecord> = leads
        .iter()
        .filter(|l| l.card.is_some() && l.closed.is_none())
        .collect();
    ranked.sort_by(|a, b| {
        let (ca, cb) = (a.card.as_ref(), b.card.as_ref());
        let key = |c: Option<&leadq_scoring::ScoreCard>| c.map_or(0, |c| c.composite);
        key(cb)
            .cmp(&key(ca))
            .then_with(|| a.lead.person.email.cmp(&b.lead.person.email))
    });
    println!();
    println!(
        "{:<32} {:>5} {:>6}  {:<13} {:<18} {:<14} top reasons",
        "lead", "score", "p(won)", "band", "next action", "rep"
    );
    for record in ranked.iter().take(QUEUE_ROWS) {
        let Some(card) = &record.card else { continue };
        let person = &record.lead.person;
        let who = match (&person.name, &record.lead.company.name) {
            (Some(name), Some(company)) => format!("{name}, {company}"),
            (Some(name), None) => name.clone(),
            (None, Some(company)) => company.clone(),
            (None, None) => "(unnamed)".into(),
        };
        let rep = record
            .assignment
            .as_ref()
            .map_or_else(|| "-".to_string(), |a| rep_name(a, routing));
        let reasons: Vec<String> = card
            .reasons
            .iter()
            .take(2)
            .map(|r| format!("{} {:+.1}", r.rule, r.composite_points))
            .collect();
        let probability = card.probability.map_or_else(
            || "-".to_string(),
            // a rounded 100% or 0% would claim a certainty no model has
            |p| format!("{:.0}%", (p * 100.0).clamp(1.0, 99.0)),
        );
        println!(
            "{:<32} {:>5} {:>6}  {:<13} {:<18} {:<14} {}",
            truncate(&who, 32),
            card.composite,
            probability,
            card.band.name(),
            card.next_action.name(),
            truncate(&rep, 14),
            reasons.join("; ")
        );
    }
}

fn rep_name(assignment: &leadq_pipeline::routing::Assignment, routing: &RoutingConfig) -> String {
    match assignment.rep() {
        Some(rep) => routing
            .rep(rep)
            .and_then(|(_, r)| r.name.clone())
            .unwrap_or_else(|| rep.to_string()),
        None => "(queue)".to_string(),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_history_ends_at_the_last_noon() {
        assert_eq!(
            last_noon(at("2026-11-23T15:30:00Z")),
            at("2026-11-23T12:00:00Z")
        );
        assert_eq!(
            last_noon(at("2026-11-23T09:00:00Z")),
            at("2026-11-22T12:00:00Z")
        );
        assert_eq!(
            last_noon(at("2026-11-23T12:00:00Z")),
            at("2026-11-23T12:00:00Z")
        );
    }

    #[test]
    fn steps_are_in_time_order_and_never_ahead_of_their_requests() {
        let now = at("2026-11-23T12:00:00Z");
        let world = world::generate(SEED, 60, 200, now);
        let steps = steps(&world, now);
        assert!(steps.windows(2).all(|w| w[0].0 <= w[1].0));
        for (sent_at, step) in &steps {
            assert!(*sent_at <= now);
            if let Step::Events(events) = step {
                for event in events {
                    let event_at = at(event["at"].as_str().expect("at"));
                    assert!(event_at <= *sent_at, "an event is sent after it happened");
                }
            }
        }
        let forms = steps
            .iter()
            .filter(|(_, s)| matches!(s, Step::Form(_)))
            .count();
        assert_eq!(forms, 200);
    }
}
