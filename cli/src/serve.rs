//! `leadq serve`: the whole pipeline in one process on the local SQLite file.
//!
//! The HTTP API is the ingest Lambda's router; enrich, score and route are in-process
//! workers on the durable SQLite queue (`leadq_local::worker`), calling the same stage
//! handlers as the Lambdas; the recalibrate schedules run on timers: decay hourly, alert
//! delivery every minute, training daily. Work is acked only when its stage succeeded, so
//! a crash (even `kill -9`) loses nothing: a restart picks the queue up where it was.

use anyhow::Context;
use leadq_local::settings::{INGEST_SECRET_KEY, LAST_TRAIN_KEY};
use leadq_local::worker::{Wakeups, WakingQueue, WorkerSettings, WorkerTotals, run_worker};
use leadq_local::{SqliteDirectory, SqliteLedger, SqliteOptions, SqliteSettings, SqliteStore};
use leadq_pipeline::alerts::{AlertConfig, HttpNotifier, deliver_due_alerts};
use leadq_pipeline::api::{API_KEYS_ENV, ApiState, IngestAuth, SECRET_ENV, parse_api_keys};
use leadq_pipeline::intake::FieldMapping;
use leadq_pipeline::routing::RoutingConfig;
use leadq_pipeline::stages::decay::{DEFAULT_MAX_PAGES, DEFAULT_PAGE_SIZE};
use leadq_pipeline::stages::handlers::done_if_lead_gone;
use leadq_pipeline::stages::{
    ModelCache, RouteContext, StagePorts, TrainReport, TrainSettings, enrich_stage_handler,
    route_stage_handler, score_stage_handler, sweep_decay, train_model,
};
use leadq_pipeline::{Clock, RetryPolicy, Stage, SystemClock};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The routing rules file in the config directory (required there).
pub const ROUTING_FILE: &str = "routing.toml";
/// The alert configuration file in the config directory (optional).
pub const ALERTS_FILE: &str = "alerts.toml";
/// The variable naming a form field mapping file, as for the ingest Lambda.
pub const FIELD_MAPPING_FILE_VAR: &str = "LEADQ_FIELD_MAPPING_FILE";
/// Routing without a config directory: no teams, so every lead that needs a person waits
/// in the fallback queue `unassigned`.
const BUILT_IN_ROUTING: &str = "fallback_queue = \"unassigned\"\n";
/// Pending alerts delivered per run of the alert timer.
const ALERT_DELIVERY_LIMIT: usize = 100;
/// How long shutdown waits for in-flight batches before leaving them to the queue.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Options of `leadq serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The SQLite file of the local store (created if missing).
    #[arg(long, value_name = "PATH", default_value = crate::companies::DEFAULT_DB)]
    db: PathBuf,
    /// A directory holding routing.toml (required in it) and alerts.toml (optional); hook
    /// URLs and secrets come from the environment variables alerts.toml names. Without
    /// it: no teams (leads needing a person wait in the queue "unassigned") and no alerts.
    #[arg(long, value_name = "DIR")]
    config: Option<PathBuf>,
    /// The port of the HTTP API (0: any free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Seconds a received message stays hidden from other workers; the work of a
    /// process that died comes back after it.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=43_200))]
    visibility_timeout: u64,
    /// Seconds between runs of the alert outbox delivery (retries of alerts whose first
    /// attempt failed).
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    alert_interval: u64,
    /// The stages whose queues this process works, comma-separated. Leaving one out holds
    /// its work in its queue until a start that works it; the API and the schedules run
    /// regardless.
    #[arg(
        long,
        value_name = "STAGES",
        value_delimiter = ',',
        default_value = "enrich,score,route"
    )]
    stages: Vec<WorkerStage>,
}

/// A stage `leadq serve --stages` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkerStage {
    /// Fill in the company and the person.
    Enrich,
    /// Compute the score card.
    Score,
    /// Decide the next action, assign a rep and alert.
    Route,
}

impl WorkerStage {
    fn stage(self) -> Stage {
        match self {
            WorkerStage::Enrich => Stage::Enrich,
            WorkerStage::Score => Stage::Score,
            WorkerStage::Route => Stage::Route,
        }
    }
}

/// Why `leadq serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A configuration file is missing, unreadable or refused.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong (never a URL or a secret).
        message: String,
    },
}

impl ServeError {
    /// The process exit code this error ends the command with: 2, a file to fix.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Config { .. } => 2,
        }
    }
}

/// Runs `leadq serve` until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let result = runtime.block_on(serve(args));
    // a store call still running past the grace period must not hold the exit up: its
    // message was not acked, so it stays queued
    runtime.shutdown_timeout(Duration::from_secs(5));
    result
}

fn init_logging() {
    init_logging_with("info");
}

/// Logging for `leadq demo`: warnings only unless `RUST_LOG` says otherwise (a line per
/// request would bury the demo's output).
pub fn init_logging_quiet() {
    init_logging_with("warn");
}

fn init_logging_with(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // a second init (tests calling run twice) keeps the first subscriber
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The routing rules and alert configuration `serve` runs with, and where they came from.
#[derive(Debug)]
pub struct ServeConfig {
    /// Teams, reps and the fallback queue.
    pub routing: RoutingConfig,
    /// Hooks and subscriptions; `None`: nobody is alerted.
    pub alerts: Option<AlertConfig>,
    /// Where the routing came from, for the start-up lines.
    pub routing_source: String,
}

/// Reads `DIR/routing.toml` (required) and `DIR/alerts.toml` (optional, hook URLs and
/// secrets through `env`); without a directory, the built-in routing and no alerts.
pub fn load_config(
    dir: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<ServeConfig, ServeError> {
    let Some(dir) = dir else {
        let routing =
            RoutingConfig::from_toml(BUILT_IN_ROUTING).map_err(|e| ServeError::Config {
                path: "built-in routing".into(),
                message: e.to_string(),
            })?;
        return Ok(ServeConfig {
            routing,
            alerts: None,
            routing_source: "built in (no --config): no teams, leads needing a person wait in the queue \"unassigned\"".into(),
        });
    };
    let routing_path = dir.join(ROUTING_FILE);
    let refused = |path: &Path, message: String| ServeError::Config {
        path: path.display().to_string(),
        message,
    };
    if !routing_path.is_file() {
        return Err(refused(
            &routing_path,
            format!("not found: the config directory must hold {ROUTING_FILE}"),
        ));
    }
    let routing = RoutingConfig::from_file(&routing_path)
        .map_err(|e| refused(&routing_path, e.to_string()))?;
    let alerts_path = dir.join(ALERTS_FILE);
    let alerts = if alerts_path.exists() {
        let text = std::fs::read_to_string(&alerts_path)
            .map_err(|e| refused(&alerts_path, format!("cannot be read: {e}")))?;
        Some(
            AlertConfig::from_toml_with_env(&text, &env)
                .map_err(|e| refused(&alerts_path, e.to_string()))?,
        )
    } else {
        None
    };
    Ok(ServeConfig {
        routing,
        alerts,
        routing_source: routing_path.display().to_string(),
    })
}

/// A new ingest secret: 32 random bytes as 64 hex characters.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex_string(&bytes)
}

fn hex_string(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Where the ingest secret came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `LEADQ_INGEST_SECRET`.
    Environment,
    /// Generated now and stored in the database.
    Generated,
    /// Generated on an earlier start, read from the database.
    Stored,
}

/// The ingest secret: `LEADQ_INGEST_SECRET` if set, else the one kept in the database,
/// generated and kept there if there is none yet.
pub async fn ingest_secret(
    settings: &SqliteSettings,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<(String, SecretSource)> {
    if let Some(secret) = env(SECRET_ENV).filter(|s| !s.trim().is_empty()) {
        return Ok((secret, SecretSource::Environment));
    }
    let kept = settings
        .insert_if_absent(INGEST_SECRET_KEY, &generate_secret())
        .await
        .context("cannot keep the ingest secret in the database")?;
    let source = if kept.inserted {
        SecretSource::Generated
    } else {
        SecretSource::Stored
    };
    Ok((kept.value, source))
}

/// Everything the workers and timers share.
pub struct Services {
    store: SqliteStore,
    queue: WakingQueue<leadq_local::SqliteQueue>,
    directory: SqliteDirectory,
    ledger: SqliteLedger,
    clock: Arc<dyn Clock>,
    models: ModelCache,
    routing: RoutingConfig,
    alerts: AlertConfig,
    alerts_configured: bool,
    notifier: HttpNotifier,
    policy: RetryPolicy,
    worker: WorkerSettings,
    alert_interval: Duration,
    schedules: bool,
    settings: SqliteSettings,
}

impl Services {
    fn ports(&self) -> StagePorts<'_> {
        StagePorts {
            store: &self.store,
            queue: &self.queue,
            clock: self.clock.as_ref(),
            policy: self.policy,
        }
    }

    /// The local store.
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// The work queues, waking this process's workers on send.
    pub fn queue(&self) -> &WakingQueue<leadq_local::SqliteQueue> {
        &self.queue
    }
}

/// What a local server runs with, resolved: `leadq serve` builds it from its options and
/// the environment, `leadq demo` from its own.
pub struct ServerParts {
    /// The SQLite file, already opened as `store` and `settings`.
    pub store: SqliteStore,
    /// Named values kept in the same file (the last training time).
    pub settings: SqliteSettings,
    /// Routing and alerts.
    pub config: ServeConfig,
    /// Which form field fills which lead attribute.
    pub mapping: FieldMapping,
    /// Who may call the API.
    pub auth: IngestAuth,
    /// The time every stage reads.
    pub clock: Arc<dyn Clock>,
    /// How the stage workers poll and handle their queues.
    pub worker: WorkerSettings,
    /// Time between runs of the alert outbox delivery.
    pub alert_interval: Duration,
    /// Whether the decay, alert and training timers run.
    pub schedules: bool,
    /// The stages whose queues get a worker.
    pub stages: Vec<Stage>,
}

/// A started local server: the API on its listener, the stage workers and the timers.
pub struct RunningServer {
    /// Where the API listens.
    pub address: SocketAddr,
    services: Arc<Services>,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<(Stage, WorkerTotals)>,
    timers: Option<std::thread::JoinHandle<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the API on `listener`, a worker per stage and (if asked) the timers.
pub fn start(
    listener: tokio::net::TcpListener,
    parts: ServerParts,
) -> anyhow::Result<RunningServer> {
    let address = listener.local_addr().context("no local address")?;
    let alerts_configured = parts.config.alerts.is_some();
    let alerts = parts.config.alerts.unwrap_or_default();
    let notifier = HttpNotifier::new(&alerts.delivery).context("cannot build the alert sender")?;
    let store = parts.store;
    let services = Arc::new(Services {
        queue: WakingQueue::new(store.queue(), Arc::new(Wakeups::default())),
        directory: store.directory(),
        ledger: store.ledger(),
        store,
        clock: parts.clock,
        models: ModelCache::default(),
        routing: parts.config.routing,
        alerts,
        alerts_configured,
        notifier,
        policy: RetryPolicy::default(),
        worker: parts.worker,
        alert_interval: parts.alert_interval,
        schedules: parts.schedules,
        settings: parts.settings,
    });
    let state = ApiState {
        store: Arc::new(services.store.clone()),
        queue: Arc::new(services.queue.clone()),
        clock: Arc::clone(&services.clock),
        auth: parts.auth,
        mapping: parts.mapping,
        policy: services.policy,
    };

    let (stop, shutdown) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for stage in parts.stages {
        let (services, shutdown) = (Arc::clone(&services), shutdown.clone());
        tasks.spawn(async move { (stage, stage_worker(services, stage, shutdown).await) });
    }
    // the schedules get a thread of their own: the alert delivery's future is not `Send`
    // (its stream of per-alert futures), so it cannot be spawned on the shared runtime
    let timers = if services.schedules {
        let (services, shutdown) = (Arc::clone(&services), shutdown.clone());
        Some(
            std::thread::Builder::new()
                .name("leadq-schedules".into())
                .spawn(move || run_schedules(services, shutdown))
                .context("cannot start the schedules' thread")?,
        )
    } else {
        None
    };

    let app = crate::dashboard::mount(
        leadq_pipeline::api::router(state),
        address,
        crate::dashboard::DashboardState::new(
            services.store.clone(),
            services.routing.clone(),
            Arc::clone(&services.clock),
        ),
    );
    let mut server_shutdown = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_shutdown.wait_for(|stop| *stop).await;
            })
            .await
    });
    Ok(RunningServer {
        address,
        services,
        stop,
        tasks,
        timers,
        server,
    })
}

impl RunningServer {
    /// The stores, queues and clock the workers use.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Messages waiting or in flight on every stage's queue: 0 when all work is done.
    pub async fn pending_work(&self) -> anyhow::Result<u64> {
        Ok(self.services.store.queue().pending().await?)
    }

    /// Runs the training job now, as its timer would.
    pub async fn train_now(&self) -> anyhow::Result<TrainReport> {
        train_job(&self.services, self.services.clock.now())
            .await
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// Stops taking work, finishes the batches in hand (up to a grace period: the rest
    /// stays queued) and stops the API.
    pub async fn shutdown(self) {
        let RunningServer {
            stop,
            mut tasks,
            timers,
            server,
            ..
        } = self;
        let _ = stop.send(true);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(done) = tasks.join_next().await {
                if let Ok((stage, totals)) = done {
                    tracing::info!(stage = stage.name(), ?totals, "worker stopped");
                }
            }
            if let Some(timers) = timers
                && tokio::task::spawn_blocking(move || timers.join())
                    .await
                    .is_err()
            {
                tracing::warn!("the schedules' thread failed");
            }
        })
        .await;
        if drained.is_err() {
            println!(
                "leadq serve: work still in hand after {}s is left queued; it is picked up on the next start",
                SHUTDOWN_GRACE.as_secs()
            );
        }
        match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
            Ok(Ok(Ok(()))) | Err(_) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "the HTTP server stopped with an error"),
            Ok(Err(error)) => tracing::warn!(%error, "the HTTP server task failed"),
        }
    }
}

async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let env = |var: &str| std::env::var(var).ok();
    let config = load_config(args.config.as_deref(), env)?;
    let mapping = match env(FIELD_MAPPING_FILE_VAR).filter(|p| !p.trim().is_empty()) {
        None => FieldMapping::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path.trim())
                .with_context(|| format!("{FIELD_MAPPING_FILE_VAR}={path}: cannot be read"))?;
            FieldMapping::from_toml(&text)
                .with_context(|| format!("{FIELD_MAPPING_FILE_VAR}={path}"))?
        }
    };
    // refuse bad credentials and a taken port before the database is created or changed
    let api_keys = env(API_KEYS_ENV).unwrap_or_default();
    parse_api_keys(&api_keys).context("the API credentials are refused")?;
    if let Some(secret) = env(SECRET_ENV).filter(|s| !s.trim().is_empty()) {
        IngestAuth::from_config(Some(secret), &api_keys)
            .context("the API credentials are refused")?;
    }
    let mut signals = StopSignals::install()?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.bind, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;

    let options = SqliteOptions::default();
    let db_name = args.db.display().to_string();
    let store = SqliteStore::open(&args.db, &options)
        .await
        .with_context(|| format!("cannot open {db_name}"))?;
    // one connection to the file: the store's (see `SqliteStore::settings`)
    let settings = store.settings();
    let (secret, source) = ingest_secret(&settings, env).await?;
    let auth = IngestAuth::from_config(Some(secret.clone()), &api_keys)
        .context("the API credentials are refused")?;
    // in the pipeline's order, each once
    let stages: Vec<Stage> = Stage::ALL
        .into_iter()
        .filter(|stage| args.stages.iter().any(|named| named.stage() == *stage))
        .collect();
    let routing_source = config.routing_source.clone();
    let hooks = config.alerts.as_ref().map(|alerts| alerts.hooks.len());
    let running = start(
        listener,
        ServerParts {
            store,
            settings,
            config,
            mapping,
            auth,
            clock: Arc::new(SystemClock),
            worker: WorkerSettings {
                visibility: Duration::from_secs(args.visibility_timeout),
                // sends in this process wake the workers; polling is for the rest
                idle_wait: Duration::from_millis(250),
                ..WorkerSettings::default()
            },
            alert_interval: Duration::from_secs(args.alert_interval),
            schedules: true,
            stages: stages.clone(),
        },
    )?;

    match source {
        SecretSource::Environment => println!("ingest secret: from {SECRET_ENV}"),
        SecretSource::Generated => println!(
            "ingest secret (generated now, shown only this once; kept in {db_name}, table settings, key {INGEST_SECRET_KEY}; {SECRET_ENV} overrides it): {secret}"
        ),
        SecretSource::Stored => println!(
            "ingest secret: the one generated on the first start, kept in {db_name} (table settings, key {INGEST_SECRET_KEY})"
        ),
    }
    println!("routing: {routing_source}");
    if stages.len() < Stage::ALL.len() {
        let names = |worked: bool| {
            Stage::ALL
                .into_iter()
                .filter(|stage| stages.contains(stage) == worked)
                .map(Stage::name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "workers: {}; not worked here: {} (its messages wait in the queue)",
            names(true),
            names(false)
        );
    }
    match hooks {
        Some(hooks) => println!("alerts: {hooks} hook(s) from {ALERTS_FILE}"),
        None => println!("alerts: none (no {ALERTS_FILE} in the config directory)"),
    }
    println!(
        "leadq serve: listening on http://{} (database {db_name}); Ctrl-C stops",
        running.address
    );

    signals.wait().await;
    println!("leadq serve: stopping; finishing the work in hand (the rest stays queued)");
    running.shutdown().await;
    println!("leadq serve: stopped");
    Ok(())
}

/// Ctrl-C and (on Unix) SIGTERM, listened for from creation on: a signal arriving
/// before [`StopSignals::wait`] is polled is not missed (nor kills the process).
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Starts listening for the signals.
    pub fn install() -> anyhow::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?,
                terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// Waits for the first of them.
    pub async fn wait(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// One stage's worker: the same handler as its Lambda, work on an erased lead done.
async fn stage_worker(
    services: Arc<Services>,
    stage: Stage,
    shutdown: watch::Receiver<bool>,
) -> WorkerTotals {
    let ports = services.ports();
    let ports = &ports;
    let services = services.as_ref();
    let settings = services.worker;
    let wakeup = Some(services.queue.wakeups().of(stage));
    match stage {
        Stage::Enrich => {
            run_worker(
                &services.queue,
                stage,
                settings,
                wakeup,
                shutdown,
                |envelope| async move {
                    let result = enrich_stage_handler(ports, &services.directory, &envelope).await;
                    done_if_lead_gone(&envelope, result).map(|_| ())
                },
            )
            .await
        }
        Stage::Score => {
            run_worker(
                &services.queue,
                stage,
                settings,
                wakeup,
                shutdown,
                |envelope| async move {
                    let result = score_stage_handler(ports, &services.models, &envelope).await;
                    done_if_lead_gone(&envelope, result).map(|_| ())
                },
            )
            .await
        }
        Stage::Route => {
            let context = RouteContext {
                ledger: &services.ledger,
                routing: &services.routing,
                alerts: &services.alerts,
                notifier: &services.notifier,
            };
            let context = &context;
            run_worker(
                &services.queue,
                stage,
                settings,
                wakeup,
                shutdown,
                |envelope| async move {
                    let result = route_stage_handler(ports, context, &envelope).await;
                    done_if_lead_gone(&envelope, result).map(|_| ())
                },
            )
            .await
        }
    }
}

/// The recalibrate schedules, run on timers in the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    /// The decay sweep, hourly (first run at start).
    Decay,
    /// Delivery of due alerts from the outbox, every `--alert-interval` (first run at start).
    Alerts,
    /// Training, daily: a day after the last run recorded in the database (at start if
    /// that day is over or there was none), so restarts neither skip nor repeat it.
    Train,
}

impl Job {
    fn period(self, services: &Services) -> Duration {
        match self {
            Job::Decay => Duration::from_secs(60 * 60),
            Job::Alerts => services.alert_interval,
            Job::Train => Duration::from_secs(24 * 60 * 60),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Job::Decay => "decay",
            Job::Alerts => "alerts",
            Job::Train => "train",
        }
    }
}

/// Runs the three timers on the calling thread until shutdown.
fn run_schedules(services: Arc<Services>, shutdown: watch::Receiver<bool>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::warn!(%error, "cannot start the schedules' runtime: no decay, alerts or training");
            return;
        }
    };
    runtime.block_on(async {
        tokio::join!(
            run_timer(&services, Job::Decay, shutdown.clone()),
            run_timer(&services, Job::Alerts, shutdown.clone()),
            run_timer(&services, Job::Train, shutdown.clone()),
        );
    });
}

/// How long after start a job of `period` last run at `last` is due: what is left of its
/// period, nothing if it is over (or the clock went back past it), nothing if never run.
fn first_delay(
    last: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
    period: Duration,
) -> Duration {
    let Some(last) = last else {
        return Duration::ZERO;
    };
    match (now - last).to_std() {
        Ok(elapsed) => period.saturating_sub(elapsed),
        // the last run is in the future: the clock changed, do not postpone
        Err(_) => Duration::ZERO,
    }
}

async fn run_timer(services: &Services, job: Job, mut shutdown: watch::Receiver<bool>) {
    let start = match job {
        Job::Train => {
            let last = match services.settings.get(LAST_TRAIN_KEY).await {
                Ok(last) => last,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the last training time; training now");
                    None
                }
            };
            let last = last.and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok());
            let wait = first_delay(
                last.map(|at| at.with_timezone(&chrono::Utc)),
                services.clock.now(),
                job.period(services),
            );
            tokio::time::Instant::now() + wait
        }
        Job::Decay | Job::Alerts => tokio::time::Instant::now(),
    };
    let mut interval = tokio::time::interval_at(start, job.period(services));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        run_job(services, job).await;
    }
}

/// A job's run, boxed so the three jobs have one type.
type JobRun<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + 'a>>;

/// Runs one scheduled job; a failure is logged and the next tick tries again.
async fn run_job(services: &Services, job: Job) {
    let now = services.clock.now();
    let run: JobRun<'_> = match job {
        Job::Decay => Box::pin(async move {
            sweep_decay(
                &services.store,
                &services.queue,
                now,
                DEFAULT_PAGE_SIZE,
                DEFAULT_MAX_PAGES,
            )
            .await
            .map(|report| {
                format!(
                    "{} lead(s) due, {} sent to scoring",
                    report.due, report.sent
                )
            })
            .map_err(|e| e.to_string())
        }),
        Job::Alerts if !services.alerts_configured => return,
        Job::Alerts => Box::pin(async move {
            deliver_due_alerts(
                &services.store,
                &services.notifier,
                &services.alerts,
                now,
                ALERT_DELIVERY_LIMIT,
            )
            .await
            .map(|report| {
                format!(
                    "{} sent, {} retrying, {} failed, {} skipped, {} error(s)",
                    report.sent,
                    report.retrying,
                    report.failed,
                    report.skipped,
                    report.errors.len()
                )
            })
            .map_err(|e| e.to_string())
        }),
        Job::Train => {
            Box::pin(async move { train_job(services, now).await.map(|report| report.reason) })
        }
    };
    match run.await {
        Ok(summary) => tracing::info!(job = job.name(), %summary, "scheduled job done"),
        Err(error) => {
            tracing::warn!(job = job.name(), %error, "scheduled job failed; the next run tries again")
        }
    }
}

/// Trains a challenger, promotes it if it is not worse, and records the run's time.
async fn train_job(
    services: &Services,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<TrainReport, String> {
    let settings = TrainSettings::default();
    let report = train_model(&services.store, now, &settings)
        .await
        .map_err(|e| e.to_string())?;
    if report.promoted {
        // this process's workers score with the promoted version from their next lead on
        services.models.invalidate();
    }
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if let Err(error) = services.settings.put(LAST_TRAIN_KEY, &at).await {
        tracing::warn!(%error, "cannot record the training time; the next start trains again");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daily_job_is_due_a_day_after_its_last_run() {
        let day = Duration::from_secs(24 * 60 * 60);
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let hours = |h: i64| now - chrono::TimeDelta::hours(h);
        assert_eq!(
            first_delay(None, now, day),
            Duration::ZERO,
            "never run: now"
        );
        assert_eq!(
            first_delay(Some(hours(20)), now, day),
            Duration::from_secs(4 * 60 * 60)
        );
        assert_eq!(first_delay(Some(hours(30)), now, day), Duration::ZERO);
        assert_eq!(
            first_delay(Some(hours(-5)), now, day),
            Duration::ZERO,
            "a last run in the future (clock changed) does not postpone training"
        );
    }

    #[test]
    fn secrets_are_64_hex_characters_and_differ() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), 64);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn without_a_config_directory_nobody_is_alerted_and_no_team_takes_leads() {
        let config = load_config(None, |_| None).expect("built-in config");
        assert!(config.alerts.is_none());
        assert!(config.routing.teams.is_empty());
        assert_eq!(config.routing.fallback_queue, "unassigned");
    }

    #[test]
    fn a_config_directory_without_routing_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = load_config(Some(dir.path()), |_| None).expect_err("refused");
        let text = error.to_string();
        assert!(text.contains(ROUTING_FILE), "{text}");
    }

    #[test]
    fn the_examples_load_with_hooks_from_the_environment() {
        let dir = tempfile::tempdir().expect("temp dir");
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        for file in [ROUTING_FILE, ALERTS_FILE] {
            std::fs::copy(examples.join(file), dir.path().join(file)).expect("copy");
        }
        let env = |var: &str| match var {
            "LEADQ_SLACK_SALES_URL" => Some("https://hooks.slack.com/services/T/B/x".to_string()),
            "LEADQ_CRM_WEBHOOK_URL" => Some("https://crm.example.com/in".to_string()),
            "LEADQ_CRM_WEBHOOK_SECRET" => Some("0123456789abcdef0123".to_string()),
            _ => None,
        };
        let config = load_config(Some(dir.path()), env).expect("examples load");
        assert_eq!(config.alerts.map(|a| a.hooks.len()), Some(2));
        assert!(!config.routing.teams.is_empty());
        // an unset hook variable is refused, naming the file
        let error = load_config(Some(dir.path()), |_| None).expect_err("refused");
        assert!(error.to_string().contains(ALERTS_FILE), "{error}");
    }

    #[tokio::test]
    async fn the_secret_is_generated_once_and_the_environment_overrides_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = SqliteSettings::open(dir.path().join("s.db"), &SqliteOptions::default())
            .await
            .expect("open");
        let (first, source) = ingest_secret(&settings, |_| None).await.expect("secret");
        assert_eq!(source, SecretSource::Generated);
        let (again, source) = ingest_secret(&settings, |_| None).await.expect("secret");
        assert_eq!(
            (again.as_str(), source),
            (first.as_str(), SecretSource::Stored)
        );
        let env = |var: &str| (var == SECRET_ENV).then(|| "from-the-environment-1234".to_string());
        let (given, source) = ingest_secret(&settings, env).await.expect("secret");
        assert_eq!(
            (given.as_str(), source),
            ("from-the-environment-1234", SecretSource::Environment)
        );
    }
}
