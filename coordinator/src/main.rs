//! `sebs`: the serverless benchmark suite.

mod benchmark_side;
mod cli;
mod commands;
mod execution;
mod experiments;
mod fleet;
mod inputs;
mod load;
mod observe;
mod package;
mod platforms;
mod progress;
mod project;
mod regression;
mod resources;
mod results;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{BenchmarkCommand, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if cli.verbose { "debug" } else { "info" };
    // The in-process fleet of `benchmark invoke` keeps its coordinator's and worker's comings
    // and goings to itself unless asked; `sebs coordinator` and `sebs worker` report them.
    let fleet_level = match (&cli.command, cli.verbose) {
        (Command::Benchmark(_) | Command::MergeBench(_), false) => "warn",
        _ => default_level,
    };
    let filter = EnvFilter::try_from_env("SEBS_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,sebs={default_level},sebs::fleet={fleet_level},sebs_worker={default_level},sebs_proto={default_level}"
        ))
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let fmt = tracing_subscriber::fmt::layer()
        // Escape codes only for a terminal: logs redirected to a file stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(progress::LogWriter)
        .with_target(false);
    let service = match &cli.command {
        Command::Coordinator(_) => "sebs-coordinator",
        Command::Worker(_) => "sebs-worker",
        _ => "sebs",
    };
    // Within the runtime: an OTLP exporter's channel runs on it.
    let telemetry = {
        let _runtime = runtime.enter();
        observe::traces::init(filter, fmt, service)
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Benchmark(BenchmarkCommand::List) => commands::list().map(|_| true),
            Command::Benchmark(BenchmarkCommand::Package(args)) => {
                commands::package(args).await.map(|_| true)
            }
            Command::Benchmark(BenchmarkCommand::Invoke(args)) => commands::invoke(args).await,
            Command::Coordinator(args) => fleet::commands::coordinator(args).await,
            Command::Worker(args) => fleet::commands::worker(args).await,
            Command::Benchmark(BenchmarkCommand::Regression(args)) => {
                regression::run(args).await.map(|_| true)
            }
            Command::Experiment(command) => experiments::command(command).await,
            Command::Resources(command) => resources::run(command).await.map(|_| true),
            Command::MergeBench(args) => fleet::merge_bench::merge_bench(args).await,
        }
    });
    // Spans still buffered go out while the runtime (the exporter's channel) still runs.
    telemetry.shutdown();
    // Instances are child processes killed on drop; shut the runtime down so they are.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("error: every invocation failed");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
