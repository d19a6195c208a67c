//! What the CLI's end-to-end tests share: a `leadq` process started by a test and read
//! line by line until it says where it serves; killed when dropped.

// each test binary uses a part of this module
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// A running `leadq` process, the URL it printed and the lines up to it.
pub struct Process {
    /// The process.
    pub child: Child,
    /// Where it serves, as printed.
    pub url: String,
    /// Its standard output up to and including the line with the URL.
    pub lines: Vec<String>,
}

impl Process {
    /// Spawns `command` with its standard output piped and reads it until `url_in` finds
    /// the URL in a line; kills it and panics with its output if none comes in `deadline`.
    pub fn start(
        mut command: Command,
        deadline: Duration,
        url_in: impl Fn(&str) -> Option<String>,
    ) -> Process {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start leadq");
        let stdout = child.stdout.take().expect("stdout");
        let (send, lines_in): (_, Receiver<String>) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + deadline;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_in.recv_timeout(left) {
                Ok(line) => {
                    let url = url_in(&line);
                    lines.push(line);
                    if let Some(url) = url {
                        // the rest of the output is read by the thread and dropped
                        std::thread::spawn(move || while lines_in.recv().is_ok() {});
                        return Process { child, url, lines };
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("leadq did not start serving; its output: {lines:?}");
                }
            }
        }
    }

    /// The ingest secret `leadq serve` printed on a first start.
    pub fn printed_secret(&self) -> Option<String> {
        self.lines.iter().find_map(|line| {
            line.strip_prefix("ingest secret (generated now")
                .and_then(|rest| rest.rsplit_once(": "))
                .map(|(_, secret)| secret.trim().to_string())
        })
    }

    /// SIGKILL, as a crash would.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `leadq serve --db DB --config CONFIG --port 0`, with no credentials from the test's
/// environment (a first start generates its secret) and warnings only on stderr.
pub fn serve_command(db: &Path, config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadq"));
    command
        .arg("serve")
        .arg("--db")
        .arg(db)
        .arg("--config")
        .arg(config)
        .args(["--port", "0"])
        .env_remove("LEADQ_INGEST_SECRET")
        .env_remove("LEADQ_API_KEYS")
        .env("RUST_LOG", "warn");
    command
}

/// The URL of `leadq serve`'s "listening on" line.
pub fn listening_url(line: &str) -> Option<String> {
    line.split_once("listening on ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(str::to_string)
}
