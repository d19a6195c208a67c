//! `coldstart`: starts each release bootstrap (and the hello-world baseline) many times
//! against a loopback Runtime API and prints the time to the first `/next` request.
//! `bench/coldstart/run.sh` builds the bootstraps and calls it.

use anyhow::Context;
use clap::Parser;
use leadq_coldstart::{Launch, RuntimeApi, lambda_env, percentile_ms};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Cold start of each function against lambda_runtime's hello world.
#[derive(Debug, Parser)]
struct Args {
    /// The folder holding `<name>/bootstrap` for each function and for `hello`
    /// (what `cargo lambda build` writes: target/lambda).
    #[arg(long, default_value = "target/lambda")]
    bootstraps: PathBuf,
    /// The repository, for the shipped configuration files (examples/).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Measured starts per binary (after two unrecorded ones that warm the page cache).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// The functions to measure.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ingest,enrich,score,route,recalibrate"
    )]
    functions: Vec<String>,
}

/// The environment the template gives `function`, with stand-ins for what AWS fills in
/// (the table and queue names; the secrets as values rather than SSM names, so no start
/// waits for SSM, which a deployed function does once).
fn function_env(function: &str, repo: &Path) -> Vec<(String, String)> {
    let example = |file: &str| repo.join("examples").join(file).display().to_string();
    let queue = |name: &str| format!("https://sqs.eu-west-1.amazonaws.com/123456789012/{name}");
    let mut env = lambda_env(function);
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    set("RUST_LOG", "info".into());
    set("TABLE_NAME", "leadq-coldstart".into());
    for (var, name) in [
        ("ENRICH_QUEUE_URL", "enrich"),
        ("SCORE_QUEUE_URL", "score"),
        ("ROUTE_QUEUE_URL", "route"),
        ("ENRICH_DLQ_URL", "enrich-dlq"),
        ("SCORE_DLQ_URL", "score-dlq"),
        ("ROUTE_DLQ_URL", "route-dlq"),
    ] {
        set(var, queue(name));
    }
    let alerts = |set: &mut dyn FnMut(&str, String)| {
        set("LEADQ_ALERTS_FILE", example("alerts.toml"));
        set(
            "LEADQ_SLACK_SALES_URL",
            "https://hooks.slack.com/services/T0/B0/coldstart".into(),
        );
        set(
            "LEADQ_CRM_WEBHOOK_URL",
            "https://crm.example.com/leadq".into(),
        );
        set(
            "LEADQ_CRM_WEBHOOK_SECRET",
            "coldstart-webhook-secret-0123456789".into(),
        );
    };
    match function {
        "ingest" => set(
            "LEADQ_INGEST_SECRET",
            "coldstart-ingest-secret-0123456789".into(),
        ),
        "route" => {
            set("LEADQ_ROUTING_FILE", example("routing.toml"));
            alerts(&mut set);
        }
        "recalibrate" => alerts(&mut set),
        _ => {}
    }
    env
}

/// The second baseline's name: the hello world on a current-thread runtime.
const CURRENT_THREAD: &str = "hello-current-thread";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut launches = vec![Launch {
        name: "hello".into(),
        program: args.bootstraps.join("hello").join("bootstrap"),
        env: lambda_env("hello"),
    }];
    // the current-thread baseline, when built (run.sh builds it; older folders lack it)
    let current_thread = args.bootstraps.join(CURRENT_THREAD).join("bootstrap");
    if current_thread.exists() {
        launches.push(Launch {
            name: CURRENT_THREAD.into(),
            program: current_thread,
            env: lambda_env(CURRENT_THREAD),
        });
    }
    for function in &args.functions {
        launches.push(Launch {
            name: function.clone(),
            program: args.bootstraps.join(function).join("bootstrap"),
            env: function_env(function, &args.repo),
        });
    }
    let api = RuntimeApi::start().await?;
    let timeout = Duration::from_secs(10);
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); launches.len()];
    // interleaved, so a burst of load elsewhere hits every binary alike
    for run in 0..args.runs + 2 {
        for (i, launch) in launches.iter().enumerate() {
            let took = api
                .time_to_first_next(launch, timeout)
                .await
                .with_context(|| format!("run {run}"))?;
            if run >= 2 {
                times[i].push(took);
            }
        }
    }
    for t in &mut times {
        t.sort();
    }
    let hello_p50 = percentile_ms(&times[0], 50.0);
    let current_thread_p50 = launches
        .iter()
        .position(|launch| launch.name == CURRENT_THREAD)
        .map(|i| percentile_ms(&times[i], 50.0));
    let extra_column = match current_thread_p50 {
        Some(_) => format!(" p50 / {CURRENT_THREAD} |"),
        None => String::new(),
    };
    println!(
        "| binary | size (bytes) | p50 ms | p90 ms | min ms | max ms | p50 / hello |{extra_column}"
    );
    println!(
        "|---|---|---|---|---|---|---|{}",
        if extra_column.is_empty() { "" } else { "---|" }
    );
    for (launch, t) in launches.iter().zip(&times) {
        let size = std::fs::metadata(&launch.program)
            .map(|m| m.len())
            .with_context(|| launch.program.display().to_string())?;
        let p50 = percentile_ms(t, 50.0);
        let extra = match current_thread_p50 {
            Some(baseline) => format!(" {:.2}x |", p50 / baseline),
            None => String::new(),
        };
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}x |{extra}",
            launch.name,
            size,
            p50,
            percentile_ms(t, 90.0),
            percentile_ms(t, 0.0),
            percentile_ms(t, 100.0),
            p50 / hello_p50
        );
    }
    println!(
        "\n{} measured starts per binary, interleaved, after 2 unrecorded each",
        args.runs
    );
    Ok(())
}
