//! `sebs benchmark invoke` as a client of a fleet: the in-process one by default, a
//! coordinator's across the network with `--coordinator`. Either way it submits the benchmark,
//! follows the run's events into the result files and prints the summary.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use sebs_common::config::{ConfigError, Overrides};
use sebs_proto::grpc::RemoteRuns;
use sebs_proto::runs::{BenchmarkInvoke, ConfigText, RunEvent, Submission};
use sebs_proto::{FleetError, RunId, RunService};
use tokio::sync::mpsc;

use super::local::LocalFleet;
use super::prepare::{BenchmarkPreparer, SideFiles};
use crate::cli::InvokeArgs;
use crate::results::follow::{follow, LostRun};

pub async fn invoke(args: InvokeArgs) -> Result<bool> {
    // Checked before anything is built, so that a bad --rate fails at once.
    let open = args
        .open_loop(args.concurrency, args.repetitions)
        .map_err(anyhow::Error::msg)?;
    if open.is_some() && args.validate {
        bail!("--validate checks closed-loop runs; drop --rate/--ramp or --validate");
    }
    let config = match &args.deployment.config {
        Some(path) => Some(ConfigText {
            text: std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?,
            origin: path.display().to_string(),
        }),
        None => None,
    };
    let invoke = BenchmarkInvoke {
        benchmark: args.benchmark.clone(),
        size: args.size.as_str().to_string(),
        config,
        overrides: Overrides {
            repetitions: args.repetitions,
            concurrency: args.concurrency,
            memory: args.memory,
            timeout: args.timeout,
            update_storage: args.update_storage,
            ..args.deployment.overrides()
        },
        cold: args.cold,
        validate: args.validate,
        open,
        placement: args.fleet.regions.clone().unwrap_or_default(),
        client_host: args.client_side.client_host.clone(),
        data_url: args.client_side.data_url.clone(),
    };
    let submission = Submission::Benchmark(Box::new(invoke));
    match &args.fleet.coordinator {
        None => {
            let files = SideFiles::In(args.output_dir.clone());
            let preparer = Arc::new(BenchmarkPreparer::new(args.deployment.cache.clone(), files));
            let fleet = LocalFleet::start(preparer).await?;
            let outcome =
                submit_and_follow(fleet.runs(), submission, &args.output_dir, false).await;
            fleet.stop().await;
            outcome
        }
        Some(url) => {
            let runs = Arc::new(RemoteRuns::new(args.fleet.security.address(url)?));
            submit_and_follow(runs, submission, &args.output_dir, true).await
        }
    }
}

/// Submits, then writes what the run sends into `dir`. The first Ctrl-C cancels the run (the
/// invocations in flight finish and are written); the second exits at once.
async fn submit_and_follow(
    runs: Arc<dyn RunService>,
    submission: Submission,
    dir: &Path,
    remote: bool,
) -> Result<bool> {
    let (run, events) = runs.submit(submission).await?;
    let canceller = {
        let runs = runs.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: finishing the invocations in flight and writing results (Ctrl-C again to quit now)");
                if let Err(e) = runs.cancel(run).await {
                    eprintln!("error: cannot cancel the run: {e}");
                }
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        })
    };
    let outcome = follow_again(runs.as_ref(), run, events, dir, remote).await;
    canceller.abort();
    outcome
}

/// How long a client waits for its coordinator to come back and resume the run.
const RECONNECT_FOR: Duration = Duration::from_secs(300);

/// Follows `run` into `dir`; when a remote coordinator goes away mid-run, watches the run again
/// as soon as the coordinator is back (one with `--etcd` resumes it and sends everything it
/// accepted so far), and writes the files anew from what it sends.
async fn follow_again(
    runs: &dyn RunService,
    run: RunId,
    mut events: mpsc::Receiver<RunEvent>,
    dir: &Path,
    remote: bool,
) -> Result<bool> {
    loop {
        match follow(events, dir, remote).await {
            Err(e) if remote && e.downcast_ref::<LostRun>().is_some() => {
                tracing::warn!(%run, "lost the coordinator; following the run again once it is back");
                events = watch_again(runs, run).await?;
            }
            outcome => return outcome,
        }
    }
}

/// Watches `run` again, trying while the coordinator is unreachable, for up to RECONNECT_FOR.
/// Only a coordinator that keeps results (`--etcd`) sends the run from its start, which the
/// files are written anew from.
async fn watch_again(runs: &dyn RunService, run: RunId) -> Result<mpsc::Receiver<RunEvent>> {
    let deadline = Instant::now() + RECONNECT_FOR;
    let mut backoff = Duration::from_millis(200);
    loop {
        match runs.watch(run).await {
            Ok(mut events) => match events.recv().await {
                Some(RunEvent::Accepted(_)) => {
                    tracing::info!(%run, "following the run again");
                    return Ok(events);
                }
                Some(_) => bail!(
                    "lost run {run}: its coordinator cannot send it from the start (it keeps no \
                     results; give it --etcd for that); the output folder holds what arrived before"
                ),
                None if Instant::now() < deadline => {
                    tracing::debug!(%run, "the coordinator is not ready to send the run yet")
                }
                None => bail!(
                    "lost run {run}: its coordinator did not send it within {RECONNECT_FOR:?}"
                ),
            },
            Err(FleetError::Unavailable(e)) if Instant::now() < deadline => {
                tracing::debug!(%run, error = %e, "the coordinator is not back yet");
            }
            Err(e) => bail!("lost run {run}: {e}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
