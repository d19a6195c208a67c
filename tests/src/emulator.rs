//! The emulator harness: `moto_server` on a free loopback port, DynamoDB and SQS over the
//! real wire protocol, with isolated resources per test.
//!
//! `moto_server` is found at `$LEADQ_MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server`,
//! else on `PATH`; if it is missing the test fails (never skips) and says how to install it.
//! moto's own server handles requests on many threads at once, but its backends are not
//! thread-safe (concurrent transactions both pass their conditions; iterations fail with
//! "dictionary changed size"). The harness therefore runs moto's server through the Python
//! of its installation with one lock around every request ([`SERIAL_LAUNCHER`]): requests
//! are applied one at a time, as atomically as DynamoDB applies them.
//!
//! One server runs per test binary ([`Moto::shared`]). It is started through a small shell
//! watchdog that reads the test process's pipe: when the test process exits, however it
//! exits, the pipe closes and the watchdog kills the server, so no orphan survives.
//!
//! Every test builds its own SDK clients (dummy credentials, fixed region, explicit
//! endpoint: nothing is read from `~/.aws`) and its own table and queues with unique names.

use crate::contract::{DirectoryHarness, Harness};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{
    ConfigBag, Credentials, Intercept, RuntimeComponents, SharedCredentialsProvider,
};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_sqs::types::QueueAttributeName;
use leadq_aws::directory::DynamoDirectory;
use leadq_aws::{DynamoStore, QueueConfig, QueueUrls, SqsQueue, StoreConfig, Timeouts};
use leadq_pipeline::stages::CompanyDirectory;
use leadq_pipeline::{LeadStore, Stage, WorkQueue};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How to install the pinned emulator (the README's test command runs the script).
pub const MOTO_INSTALL: &str = "scripts/install-moto.sh (run by scripts/test), which installs the pinned moto[server] into .venv";

/// Receives after which a failed test message moves to its dead-letter queue: the
/// template's `maxReceiveCount`, which is also the local queues' (the template test checks).
pub const MAX_RECEIVE_COUNT: u32 = leadq_pipeline::memory::DEFAULT_MAX_RECEIVE_COUNT;

/// How long a starting server may take to answer.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// Runs moto's server with every request applied under one lock (see the module docs).
///
/// It also makes moto's TransactWriteItems back a table up once per call instead of once
/// per action (moto deep-copies the whole table for each of the up to 100 actions, which
/// made a 26-action append on a 1,000-item table take half a second). Same semantics:
/// every copy is taken before the first write. Skipped if moto's internals changed.
pub const SERIAL_LAUNCHER: &str = r#"import copy, sys, threading
import moto.server as server
lock = threading.Lock()
run_simple = server.run_simple
def serialised_run_simple(host, port, app, **options):
    def serialised(environ, start_response):
        with lock:
            return list(app(environ, start_response))
    return run_simple(host, port, serialised, **options)
server.run_simple = serialised_run_simple
try:
    import moto.dynamodb.models as models
    class OneCopyPerObject:
        def __init__(self):
            self.copies = {}
        def deepcopy(self, value):
            if id(value) not in self.copies:
                self.copies[id(value)] = copy.deepcopy(value)
            return self.copies[id(value)]
    transact = models.DynamoDBBackend.transact_write_items
    def transact_once(self, *args, **kwargs):
        models.copy = OneCopyPerObject()
        try:
            return transact(self, *args, **kwargs)
        finally:
            models.copy = copy
    if getattr(models, "copy", None) is copy:
        models.DynamoDBBackend.transact_write_items = transact_once
except (ImportError, AttributeError):
    pass
server.main(sys.argv[1:])
"#;

/// The shell watchdog: runs the server, kills it when its standard input closes.
const WATCHDOG: &str = r#"exec 3<&0
"$0" "$@" </dev/null 3<&- &
child=$!
(read _ignored <&3; kill "$child" 2>/dev/null) &
exec 3<&-
wait "$child"
"#;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests_dir.parent().unwrap_or(tests_dir).to_path_buf()
}

/// Where `moto_server` is: `$LEADQ_MOTO_SERVER`, `<root>/.venv/bin/moto_server`, or `PATH`.
pub fn find_moto_server() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("LEADQ_MOTO_SERVER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "LEADQ_MOTO_SERVER={} is not a file: unset it to use the workspace's .venv, \
                 installed by the README's test command ({MOTO_INSTALL})",
                path.display()
            ))
        };
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.is_file() {
        return Ok(venv);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("moto_server"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|candidate| candidate.is_file());
    on_path.ok_or_else(|| {
        format!(
            "moto_server not found (looked at $LEADQ_MOTO_SERVER, {}, and PATH). \
             The emulator tests need it: run the README's test command, which installs it \
             ({MOTO_INSTALL}, at the workspace root).",
            venv.display()
        )
    })
}

/// The Python interpreter of a `moto_server` installation: `python3`/`python` beside the
/// script (a venv's or a prefix's `bin/`), else the script's `#!` interpreter.
pub fn moto_python(moto_server: &Path) -> Result<PathBuf, String> {
    let dir = moto_server.parent().unwrap_or(Path::new("."));
    for name in ["python3", "python"] {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let text = std::fs::read_to_string(moto_server).unwrap_or_default();
    let shebang = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("#!"))
        .unwrap_or("");
    match shebang.split_whitespace().next() {
        Some(interpreter) if interpreter.contains("python") && Path::new(interpreter).is_file() => {
            Ok(PathBuf::from(interpreter))
        }
        _ => Err(format!(
            "cannot tell which Python runs {} (no python beside it, no python #! line); \
             point LEADQ_MOTO_SERVER at the moto_server of a virtualenv ({MOTO_INSTALL})",
            moto_server.display()
        )),
    }
}

/// A running `moto_server`, stopped (with its watchdog) when dropped.
#[derive(Debug)]
pub struct MotoProcess {
    child: Child,
    watchdog_pipe: Option<ChildStdin>,
    endpoint: String,
    log: PathBuf,
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Whether an HTTP server answers on `addr` (a raw request, no client needed).
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl MotoProcess {
    /// Starts a private server on a free loopback port and waits until it answers.
    pub fn start() -> Result<MotoProcess, String> {
        let program = find_moto_server()?;
        let python = moto_python(&program)?;
        let mut last_error = String::new();
        // The port is free when picked but may be taken before the server binds it: retry.
        for _ in 0..3 {
            match MotoProcess::start_on(&program, &python, free_port()?) {
                Ok(process) => return Ok(process),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn start_on(program: &Path, python: &Path, port: u16) -> Result<MotoProcess, String> {
        let log =
            std::env::temp_dir().join(format!("leadq-moto-{}-{port}.log", std::process::id()));
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("creating {}: {e}", log.display()))?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(python)
            .args([
                "-c",
                SERIAL_LAUNCHER,
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", program.display()))?;
        let watchdog_pipe = child.stdin.take();
        let mut process = MotoProcess {
            child,
            watchdog_pipe,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while started.elapsed() < START_PATIENCE {
            if let Ok(Some(status)) = process.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) on port {port}:\n{}",
                    program.display(),
                    log_tail(&process.log)
                ));
            }
            if answers(addr) {
                return Ok(process);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "{} did not answer on port {port} within {START_PATIENCE:?}:\n{}",
            program.display(),
            log_tail(&process.log)
        ))
    }

    /// The server's URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Stops the server and waits until it is gone.
    pub fn stop(&mut self) {
        // Closing the pipe makes the watchdog kill the server; the shell exits with it.
        drop(self.watchdog_pipe.take());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MotoProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The one server of this test binary; it lives until the process exits.
fn shared_endpoint() -> &'static str {
    static SHARED: OnceLock<Result<MotoProcess, String>> = OnceLock::new();
    match SHARED.get_or_init(MotoProcess::start) {
        Ok(process) => process.endpoint(),
        Err(message) => panic!("the DynamoDB/SQS emulator is not available: {message}"),
    }
}

/// Counts the service calls (attempts, retries included) a client makes, by operation.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, usize>>>);

impl CallCounter {
    /// Calls so far, by operation (`DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessageBatch`).
    pub fn snapshot(&self) -> BTreeMap<String, usize> {
        self.0.lock().map(|calls| calls.clone()).unwrap_or_default()
    }

    /// Forgets the calls so far.
    pub fn reset(&self) {
        if let Ok(mut calls) = self.0.lock() {
            calls.clear();
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("(no target)")
            .to_string();
        if let Ok(mut calls) = self.0.lock() {
            *calls.entry(target).or_insert(0) += 1;
        }
        Ok(())
    }
}

/// An SDK configuration for an emulator: dummy credentials, fixed region, explicit endpoint.
pub fn sdk_config(endpoint: &str, timeouts: Timeouts) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "leadq-emulator",
        )))
        .endpoint_url(endpoint)
        .http_client(leadq_aws::https_client())
        .timeout_config(timeouts.timeout_config())
        .retry_config(timeouts.retry_config())
        .build()
}

/// Timeouts for the emulator: generous, because it is slow under parallel tests.
pub fn emulator_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        attempt: Duration::from_secs(20),
        operation: Duration::from_secs(60),
        max_attempts: 3,
    }
}

/// A name no other test (or test binary) uses.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// Stores `value` as an SSM SecureString named `name` (moto emulates SSM too).
pub async fn put_secure_string(client: &aws_sdk_ssm::Client, name: &str, value: &str) {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "put the parameter {name}: {}",
                aws_sdk_ssm::error::DisplayErrorContext(e)
            )
        });
}

/// The contract suite's harness on the emulator; [`Harness`] calls return fresh resources.
#[derive(Debug, Clone)]
pub struct Moto {
    endpoint: String,
    timeouts: Timeouts,
    max_receive_count: u32,
    counter: CallCounter,
}

impl Moto {
    /// The harness on this test binary's shared server (started on first use).
    pub fn shared() -> Moto {
        Moto::on(shared_endpoint())
    }

    /// A harness on the server at `endpoint`.
    pub fn on(endpoint: &str) -> Moto {
        Moto {
            endpoint: endpoint.to_string(),
            timeouts: emulator_timeouts(),
            max_receive_count: MAX_RECEIVE_COUNT,
            counter: CallCounter::default(),
        }
    }

    /// The same harness with other client timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Moto {
        self.timeouts = timeouts;
        self
    }

    /// The server's URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The calls made by every client of this harness.
    pub fn calls(&self) -> &CallCounter {
        &self.counter
    }

    /// A DynamoDB client for this test (counted).
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let sdk = sdk_config(&self.endpoint, self.timeouts);
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(self.counter.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// An SSM client for this test (not counted: only start-up reads secrets).
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&sdk_config(&self.endpoint, self.timeouts))
    }

    /// An SQS client for this test (counted).
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let sdk = sdk_config(&self.endpoint, self.timeouts);
        let config = aws_sdk_sqs::config::Builder::from(&sdk)
            .interceptor(self.counter.clone())
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// A fresh table with the design's schema, and a store on it.
    pub async fn dynamo_store(&self) -> Result<DynamoStore, String> {
        let client = self.dynamodb();
        let table_name = unique_name("leadq");
        leadq_aws::table::create_table(&client, &table_name)
            .await
            .map_err(|e| format!("creating table {table_name}: {e}"))?;
        let config = StoreConfig {
            table_name,
            event_retention: None,
        };
        Ok(DynamoStore::new(client, config))
    }

    /// Fresh queues for every stage, each with a dead-letter queue and redrive policy.
    pub async fn queue_config(&self, client: &aws_sdk_sqs::Client) -> Result<QueueConfig, String> {
        let mut queues = BTreeMap::new();
        let base = unique_name("leadq");
        for stage in Stage::ALL {
            let name = format!("{base}-{}", stage.name());
            let urls = create_queue_pair(client, &name, self.max_receive_count).await?;
            queues.insert(stage, urls);
        }
        Ok(QueueConfig {
            queues,
            receive_wait: Duration::ZERO,
        })
    }

    /// Fresh queues for every stage, and the SQS adapter on them.
    pub async fn sqs_queue(&self) -> Result<SqsQueue, String> {
        let client = self.sqs();
        let config = self.queue_config(&client).await?;
        Ok(SqsQueue::new(client, config))
    }
}

/// Creates `<name>-dlq` and `<name>` redriving to it after `max_receive_count` receives.
pub async fn create_queue_pair(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
) -> Result<QueueUrls, String> {
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .map_err(|e| {
            format!(
                "creating queue {name}-dlq: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?;
    let dlq_url = dlq.queue_url.ok_or("CreateQueue returned no URL")?;
    let attributes = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "reading {dlq_url}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?;
    let dlq_arn = attributes
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or("the dead-letter queue has no ARN")?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count.to_string(),
    });
    let queue = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(|e| {
            format!(
                "creating queue {name}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?;
    Ok(QueueUrls {
        url: queue.queue_url.ok_or("CreateQueue returned no URL")?,
        dlq_url: Some(dlq_url),
    })
}

#[async_trait::async_trait]
impl Harness for Moto {
    async fn store(&self) -> Arc<dyn LeadStore> {
        match self.dynamo_store().await {
            Ok(store) => Arc::new(store),
            Err(message) => panic!("emulator at {}: {message}", self.endpoint),
        }
    }

    async fn queue(&self) -> Arc<dyn WorkQueue> {
        match self.sqs_queue().await {
            Ok(queue) => Arc::new(queue),
            Err(message) => panic!("emulator at {}: {message}", self.endpoint),
        }
    }

    fn max_receive_count(&self) -> u32 {
        self.max_receive_count
    }
}

#[async_trait::async_trait]
impl DirectoryHarness for Moto {
    async fn directory(&self) -> Arc<dyn CompanyDirectory> {
        match self.dynamo_store().await {
            Ok(store) => Arc::new(DynamoDirectory::for_store(&store)),
            Err(message) => panic!("emulator at {}: {message}", self.endpoint),
        }
    }
}
