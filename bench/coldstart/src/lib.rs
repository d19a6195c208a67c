//! Cold start, measured as Lambda's init phase ends: from the moment a bootstrap process
//! is started to its first `GET /2018-06-01/runtime/invocation/next` on the Runtime API.
//!
//! Everything a function does before it can take an event happens in between: the
//! process and the async runtime start, telemetry and metrics are installed, the
//! configuration is read and checked, the SDK is configured, credentials are resolved from
//! the environment. What Lambda does before the process starts (fetching and unpacking the
//! package, the sandbox) is not in it, and is the same for every binary of a given size.
//!
//! [`RuntimeApi`] serves just enough of the Runtime API on loopback to see that request
//! (and an init error, if the function reports one); it never hands out an event.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The Runtime API path a function polls for its next event.
pub const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
/// The Runtime API path a function reports a failed init to.
pub const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// One binary to start, with the environment Lambda would give it.
#[derive(Debug, Clone)]
pub struct Launch {
    /// A name for the report (`ingest`, `hello`).
    pub name: String,
    /// The bootstrap.
    pub program: PathBuf,
    /// The environment, in full (nothing is inherited).
    pub env: Vec<(String, String)>,
}

/// Why a start could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum ColdStartError {
    /// The Runtime API could not listen on loopback.
    #[error("the runtime API could not listen on 127.0.0.1: {0}")]
    Listen(std::io::Error),
    /// The binary could not be started.
    #[error("{name}: cannot start {program}: {source}")]
    Spawn {
        /// The launch's name.
        name: String,
        /// The bootstrap.
        program: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The function reported a failed init.
    #[error("{name}: init failed: {body}")]
    InitError {
        /// The launch's name.
        name: String,
        /// What it posted to the init error path.
        body: String,
    },
    /// The process ended before asking for an event.
    #[error("{name}: exited ({status}) before asking for an event; its stderr: {stderr}")]
    Exited {
        /// The launch's name.
        name: String,
        /// How it ended.
        status: String,
        /// The end of what it wrote to stderr.
        stderr: String,
    },
    /// No request within the time allowed.
    #[error("{name}: no request for an event within {0:?}", .timeout)]
    Timeout {
        /// The launch's name.
        name: String,
        /// The time allowed.
        timeout: Duration,
    },
}

/// What the emulated Runtime API saw first.
#[derive(Debug)]
enum Seen {
    Next(Instant),
    InitError(String),
}

#[derive(Clone)]
struct Observer(Arc<Mutex<Option<mpsc::UnboundedSender<Seen>>>>);

impl Observer {
    fn report(&self, seen: Seen) {
        if let Ok(slot) = self.0.lock()
            && let Some(sender) = slot.as_ref()
        {
            let _ = sender.send(seen);
        }
    }
}

async fn next(State(observer): State<Observer>) -> &'static str {
    observer.report(Seen::Next(Instant::now()));
    // the function waits here for an event that never comes; the measurement kills it
    std::future::pending::<()>().await;
    ""
}

async fn init_error(State(observer): State<Observer>, body: Bytes) -> &'static str {
    observer.report(Seen::InitError(String::from_utf8_lossy(&body).into_owned()));
    "{\"status\":\"OK\"}"
}

/// A minimal Lambda Runtime API on a loopback port.
pub struct RuntimeApi {
    address: String,
    observer: Observer,
}

impl RuntimeApi {
    /// Listens on an ephemeral loopback port and serves from a background task.
    pub async fn start() -> Result<RuntimeApi, ColdStartError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(ColdStartError::Listen)?;
        let address = listener
            .local_addr()
            .map_err(ColdStartError::Listen)?
            .to_string();
        let observer = Observer(Arc::new(Mutex::new(None)));
        let app = Router::new()
            .route(NEXT_PATH, get(next))
            .route(INIT_ERROR_PATH, post(init_error))
            .with_state(observer.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(RuntimeApi { address, observer })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` (host:port).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Starts `launch` and returns the time from just before the process is spawned to
    /// its first request for an event; the process is then killed.
    pub async fn time_to_first_next(
        &self,
        launch: &Launch,
        timeout: Duration,
    ) -> Result<Duration, ColdStartError> {
        let (sender, mut seen) = mpsc::unbounded_channel();
        if let Ok(mut slot) = self.observer.0.lock() {
            *slot = Some(sender);
        }
        let mut command = tokio::process::Command::new(&launch.program);
        command
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command.spawn().map_err(|source| ColdStartError::Spawn {
            name: launch.name.clone(),
            program: launch.program.display().to_string(),
            source,
        })?;
        let outcome = tokio::select! {
            seen = seen.recv() => match seen {
                Some(Seen::Next(at)) => Ok(at.duration_since(started)),
                Some(Seen::InitError(body)) => Err(ColdStartError::InitError {
                    name: launch.name.clone(),
                    body,
                }),
                None => Err(ColdStartError::Timeout { name: launch.name.clone(), timeout }),
            },
            status = child.wait() => {
                let stderr = match child.stderr.take() {
                    Some(mut pipe) => {
                        use tokio::io::AsyncReadExt;
                        let mut text = String::new();
                        let _ = pipe.read_to_string(&mut text).await;
                        tail(&text, 600)
                    }
                    None => String::new(),
                };
                Err(ColdStartError::Exited {
                    name: launch.name.clone(),
                    status: status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                    stderr,
                })
            }
            () = tokio::time::sleep(timeout) => Err(ColdStartError::Timeout {
                name: launch.name.clone(),
                timeout,
            }),
        };
        if let Ok(mut slot) = self.observer.0.lock() {
            *slot = None;
        }
        let _ = child.kill().await;
        outcome
    }
}

fn tail(text: &str, chars: usize) -> String {
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(chars)).collect()
}

/// Nearest-rank percentile (`p` in 0..=100) of sorted durations, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// The environment Lambda gives every function, plus credentials and a region so the SDK
/// configures itself without asking the instance metadata service.
pub fn lambda_env(function: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/coldstart"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "coldstart"),
        ("AWS_SECRET_ACCESS_KEY", "coldstart"),
        ("AWS_SESSION_TOKEN", "coldstart"),
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("TZ", ":UTC"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&sorted, 50.0), 5.0);
        assert_eq!(percentile_ms(&sorted, 90.0), 9.0);
        assert_eq!(percentile_ms(&sorted, 100.0), 10.0);
        assert_eq!(percentile_ms(&sorted, 0.0), 1.0);
        assert!(percentile_ms(&[], 50.0).is_nan());
    }
}
