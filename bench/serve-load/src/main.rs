//! Load on `leadq serve`: starts the release binary on a fresh database with a team that
//! takes every lead, sends signed form submissions as fast as `--concurrency` clients can,
//! waits until every lead has been routed, and reads each lead's time from ingest to its
//! routing decision out of the database (both stamped by the server's clock, so the
//! measurement adds no polling load). Prints the throughput and the latency percentiles.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use leadq_pipeline::signature::{SIGNATURE_HEADER, sign};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "serve-load-secret-0123456789abcdef0123456789";

/// Every lead gets a person: one team without rules, four reps with room for all.
const ROUTING: &str = r#"
fallback_queue = "unassigned"
assign_actions = ["sales_now", "account_follow_up", "sdr_review", "manual_review", "enrich_again", "nurture"]
release_actions = ["suppress"]

[[teams]]
name = "everyone"
strategy = "least_loaded"

[[teams.reps]]
id = "rep-1"
max_open_leads = 1000000
max_new_per_day = 1000000

[[teams.reps]]
id = "rep-2"
max_open_leads = 1000000
max_new_per_day = 1000000

[[teams.reps]]
id = "rep-3"
max_open_leads = 1000000
max_new_per_day = 1000000

[[teams.reps]]
id = "rep-4"
max_open_leads = 1000000
max_new_per_day = 1000000
"#;

/// Options.
#[derive(Debug, Parser)]
struct Args {
    /// The leadq binary to load (build it with `cargo build --release -p leadq`).
    #[arg(long, default_value = "target/release/leadq")]
    leadq: PathBuf,
    /// Form submissions to send.
    #[arg(long, default_value_t = 10_000)]
    forms: usize,
    /// Clients sending at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Offered load in forms per second (form i is sent at i/rate s); 0: as fast as the
    /// clients can.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// How long the pipeline may take to route everything after the last POST.
    #[arg(long, default_value_t = 600)]
    drain_seconds: u64,
}

/// The server under load; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(args: &Args, dir: &std::path::Path) -> anyhow::Result<Server> {
    let config = dir.join("config");
    std::fs::create_dir_all(&config)?;
    std::fs::write(config.join("routing.toml"), ROUTING)?;
    let mut child = Command::new(&args.leadq)
        .args(["serve", "--port", "0", "--db"])
        .arg(dir.join("load.db"))
        .arg("--config")
        .arg(&config)
        .env("LEADQ_INGEST_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", args.leadq.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let Some(line) = lines.next() else {
            bail!("leadq serve stopped before listening");
        };
        let line = line?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .context("no address")?
                .to_string();
        }
    };
    // keep reading so the server never blocks on a full pipe
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, base })
}

fn form(i: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "email": format!("buyer{i}@company{}.example", i % 997),
        "name": format!("Buyer {i}"),
        "job_title": "VP Marketing",
        "company": format!("Company {}", i % 997),
        "website": format!("https://www.company{}.example/", i % 997),
        "industry": "Software",
        "company_size": "201-500",
        "country": "US",
        "gdpr_consent": true,
        "page": "/pricing"
    }))
    .expect("json")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("leadq-serve-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let server = start_server(&args, &dir)?;
    let client = leadq_pipeline::tls::http_client_builder()?
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let url = format!("{}/v1/leads", server.base);

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (client, url, next) = (client.clone(), url.clone(), Arc::clone(&next));
        let (forms, rate) = (args.forms, args.rate);
        tasks.push(tokio::spawn(async move {
            let mut post_ms = Vec::new();
            let mut refused = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= forms {
                    break;
                }
                if rate > 0.0 {
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let body = form(i);
                let signature = sign(SECRET.as_bytes(), Utc::now().timestamp(), &body);
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header(SIGNATURE_HEADER, signature)
                    .body(body)
                    .send()
                    .await;
                post_ms.push(sent.elapsed().as_secs_f64() * 1e3);
                match response {
                    Ok(response) if response.status().is_success() => {}
                    Ok(response) => {
                        if refused == 0 {
                            let status = response.status();
                            let text = response.text().await.unwrap_or_default();
                            eprintln!("refused: {status} {text}");
                        }
                        refused += 1;
                    }
                    Err(error) => {
                        if refused == 0 {
                            eprintln!("failed: {error}");
                        }
                        refused += 1;
                    }
                }
            }
            (post_ms, refused)
        }));
    }
    let mut post_ms = Vec::with_capacity(args.forms);
    let mut refused = 0;
    for task in tasks {
        let (ms, r) = task.await?;
        post_ms.extend(ms);
        refused += r;
    }
    let posting = started.elapsed();

    // wait until every lead has been routed: the queues are empty
    let db = rusqlite::Connection::open_with_flags(
        dir.join("load.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    db.busy_timeout(Duration::from_secs(5))?;
    let deadline = Instant::now() + Duration::from_secs(args.drain_seconds);
    loop {
        let pending: i64 =
            db.query_row("SELECT COUNT(*) FROM queue_messages", [], |row| row.get(0))?;
        if pending == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{pending} messages still queued after {}s",
                args.drain_seconds
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dead: i64 = db.query_row("SELECT COUNT(*) FROM queue_dead_letters", [], |row| {
        row.get(0)
    })?;

    let mut statement = db.prepare(
        "SELECT json_extract(record, '$.created_at'), json_extract(record, '$.assignment.at') FROM leads",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
    })?;
    let mut latencies = Vec::new();
    let (mut first, mut last): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = (None, None);
    let mut unrouted = 0;
    for row in rows {
        let (created, routed) = row?;
        let created: DateTime<Utc> = created.parse()?;
        first = Some(first.map_or(created, |f| f.min(created)));
        match routed {
            Some(routed) => {
                let routed: DateTime<Utc> = routed.parse()?;
                last = Some(last.map_or(routed, |l| l.max(routed)));
                latencies.push((routed - created).num_microseconds().unwrap_or(0) as f64 / 1e3);
            }
            None => unrouted += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    post_ms.sort_by(f64::total_cmp);
    let span = match (first, last) {
        (Some(first), Some(last)) => (last - first).num_microseconds().unwrap_or(1) as f64 / 1e6,
        _ => f64::NAN,
    };
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "forms {} (refused {refused}), concurrency {}, offered {}, posted in {:.2} s ({:.0}/s accepted by the API)",
        args.forms,
        args.concurrency,
        if args.rate > 0.0 {
            format!("{:.0}/s", args.rate)
        } else {
            "as fast as possible".into()
        },
        posting.as_secs_f64(),
        args.forms as f64 / posting.as_secs_f64()
    );
    println!(
        "routed {} (not routed {unrouted}, dead letters {dead}); first ingest to last routing decision {span:.2} s: {:.0} leads/s sustained through every stage",
        latencies.len(),
        latencies.len() as f64 / span
    );
    println!(
        "POST -> routing decision (server clock): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "POST round trip (client): p50 {:.1} ms, p99 {:.1} ms",
        percentile(&post_ms, 50.0),
        percentile(&post_ms, 99.0)
    );
    Ok(())
}
