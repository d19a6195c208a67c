//! `leadq`: the lead-qualification engine's command line.

mod backtest;
mod companies;
mod dashboard;
mod demo;
mod error;
mod input;
mod models;
mod report;
mod score_cmd;
mod serve;
mod submit;

use clap::{Parser, Subcommand};
use error::{CliError, EXIT_FAILURE};
use std::process::ExitCode;

/// leadq: explainable lead scoring, routing and recalibration.
#[derive(Debug, Parser)]
#[command(name = "leadq", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands; each lives in its own module with an `Args` struct and a `run`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Score leads from a JSON lines or CSV file and print their verdicts.
    Score(score_cmd::ScoreArgs),
    /// Train and evaluate a logistic model on a CSV of leads with known outcomes.
    Backtest(backtest::BacktestArgs),
    /// Manage the company directory the enrich stage looks companies up in.
    Companies(companies::CompaniesArgs),
    /// Send a lead, events or an outcome to an ingest endpoint, signed as ingest expects.
    Submit(submit::SubmitArgs),
    /// List, show and roll back the model versions of the local store.
    Models(models::ModelsArgs),
    /// Replay a generated history through the local mode, print the queue and serve the dashboard.
    Demo(demo::DemoArgs),
    /// Run the API, the enrich, score and route workers and the schedules on the local store.
    Serve(serve::ServeArgs),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Score(args) => score_cmd::run(&args)?,
        Command::Backtest(args) => backtest::run(&args)?,
        Command::Companies(args) => companies::run(&args)?,
        Command::Submit(args) => submit::run(&args)?,
        Command::Models(args) => models::run(&args)?,
        Command::Serve(args) => serve::run(&args)?,
        Command::Demo(args) => demo::run(&args)?,
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leadq: {e:#}");
            let code = if let Some(cli) = e.downcast_ref::<CliError>() {
                cli.exit_code()
            } else if let Some(companies) = e.downcast_ref::<companies::CompaniesError>() {
                companies.exit_code()
            } else if let Some(submit) = e.downcast_ref::<submit::SubmitError>() {
                submit.exit_code()
            } else if let Some(models) = e.downcast_ref::<models::ModelsError>() {
                models.exit_code()
            } else if let Some(serve) = e.downcast_ref::<serve::ServeError>() {
                serve.exit_code()
            } else {
                EXIT_FAILURE
            };
            ExitCode::from(code)
        }
    }
}
