//! `sebs experiment invoke|process NAME`: SeBS's experiments (perf-cost, network-ping-pong,
//! invocation-overhead, eviction-model) with its semantics, file names and CSV columns, and
//! sebs's own (load, trace-replay, region-matrix).
//!
//! Every experiment is written against [`backend::ExperimentBackend`], the narrow seam to what
//! runs invocations: [`in_process::InProcess`] (this process's platform, closed loop and
//! engine), or with `--coordinator` [`fleet_backend::FleetBackend`] (the coordinator holds the
//! platform in an experiment session, [`fleet_session`]; its workers invoke). `invoke` writes
//! raw results into `OUTPUT_DIR/NAME/` as they arrive, beside `environment.json` (the manifest:
//! versions, host, git commit, the configuration and the experiment's effective settings). `process` reads only those files
//! and writes CSV tables, `statistics.json`, plots (SVG and PNG) and a self-contained
//! `report.html`, so it can run anywhere the folder is copied to.

pub mod backend;
pub mod cli;
mod client_side;
mod csv;
mod eviction;
pub mod fleet_backend;
pub mod fleet_session;
mod hdr;
pub mod in_process;
mod manifest;
mod open_load;
mod overhead;
mod overhead_process;
mod perf_cost;
mod perf_cost_process;
mod ping_pong;
mod region_matrix;
mod report;
mod timeline;
mod trace;
mod trace_replay;
mod udp;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use sebs_common::config::{ConfigFile, Overrides};
use sebs_proto::grpc::RemoteRuns;
use sebs_proto::runs::{BenchmarkInvoke, ConfigText};
use serde_json::Value;

use self::backend::ExperimentBackend;
use self::cli::{ExperimentCommand, ExperimentInvokeArgs, ExperimentName, ExperimentProcessArgs};
use self::fleet_backend::FleetBackend;
use self::in_process::InProcess;
use crate::commands::{stop_on_ctrl_c, Session};
use crate::project::Project;
use crate::results::write_atomically;

/// The benchmarks SeBS's network experiments are built on.
pub const PING_PONG_BENCHMARK: &str = "020.network-benchmark";
pub const OVERHEAD_BENCHMARK: &str = "030.clock-synchronization";
pub const EVICTION_BENCHMARK: &str = "040.server-reply";

pub async fn command(command: ExperimentCommand) -> Result<bool> {
    match command {
        ExperimentCommand::Invoke(args) => invoke(*args).await,
        ExperimentCommand::Process(args) => process(&args).map(|_| true),
    }
}

/// Runs the experiment; returns whether any invocation succeeded.
async fn invoke(args: ExperimentInvokeArgs) -> Result<bool> {
    let name = args.name;
    if let (Some(url), Some(why)) = (&args.fleet.coordinator, not_through_fleet(name)) {
        bail!(
            "--coordinator {url}: {} cannot run through a fleet: {why}; run it without --coordinator, on a host where its client side belongs",
            name.as_str()
        );
    }
    let overrides = Overrides {
        update_storage: args.update_storage,
        ..args.deployment.overrides()
    };
    let (file, origin) = match &args.deployment.config {
        Some(path) => (ConfigFile::load(path)?, path.display().to_string()),
        None => (ConfigFile::default(), "command line".to_string()),
    };
    let plans = file.validate(&origin, &overrides)?.experiments;
    let to_json = |v: serde_json::Result<Value>| v.unwrap_or(Value::Null);
    let (benchmark, settings, seed) = match name {
        ExperimentName::PerfCost => (
            plans.perf_cost.benchmark.as_str(),
            to_json(serde_json::to_value(&plans.perf_cost)),
            None,
        ),
        ExperimentName::NetworkPingPong => (
            PING_PONG_BENCHMARK,
            to_json(serde_json::to_value(&plans.network_ping_pong)),
            None,
        ),
        ExperimentName::InvocationOverhead => (
            OVERHEAD_BENCHMARK,
            to_json(serde_json::to_value(&plans.invocation_overhead)),
            None,
        ),
        ExperimentName::EvictionModel => (
            EVICTION_BENCHMARK,
            to_json(serde_json::to_value(&plans.eviction_model)),
            None,
        ),
        ExperimentName::Load => (
            plans.load.benchmark.as_str(),
            to_json(serde_json::to_value(&plans.load)),
            Some(plans.load.seed),
        ),
        ExperimentName::TraceReplay => (
            plans.trace_replay.benchmark.as_str(),
            to_json(serde_json::to_value(&plans.trace_replay)),
            Some(plans.trace_replay.seed),
        ),
        ExperimentName::RegionMatrix => (
            plans.region_matrix.benchmark.as_str(),
            to_json(serde_json::to_value(&plans.region_matrix)),
            None,
        ),
    };
    let (backend, root): (Box<dyn ExperimentBackend>, PathBuf) = match &args.fleet.coordinator {
        None => {
            let session = Session::open(benchmark, &args.deployment, overrides).await?;
            let root = session.project.root.clone();
            (Box::new(InProcess::new(session, stop_on_ctrl_c())), root)
        }
        Some(url) => {
            let runs = Arc::new(RemoteRuns::new(args.fleet.security.address(url)?));
            let config = match &args.deployment.config {
                Some(path) => Some(ConfigText {
                    text: std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                    origin: path.display().to_string(),
                }),
                None => None,
            };
            let invoke = BenchmarkInvoke {
                benchmark: benchmark.to_string(),
                config,
                overrides,
                ..BenchmarkInvoke::default()
            };
            let placement = args.fleet.regions.clone().unwrap_or_default();
            let backend =
                FleetBackend::open(runs, url, invoke, placement, stop_on_ctrl_c()).await?;
            // The project holds the trace files and the git commit the manifest names; a
            // client outside it still runs what needs neither.
            let root = Project::locate().map_or_else(|_| PathBuf::from("."), |p| p.root);
            (Box::new(backend), root)
        }
    };
    let backend = backend.as_ref();
    let out = args.output_dir.join(name.as_str());
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut environment = manifest::environment(
        name.as_str(),
        &root,
        backend,
        args.deployment.config.as_deref(),
        seed,
    );
    environment["settings"] = settings;
    write_atomically(
        &out.join(report::ENVIRONMENT),
        &serde_json::to_vec_pretty(&environment)?,
    )?;

    let outcome = match name {
        ExperimentName::PerfCost => perf_cost::run(backend, &plans.perf_cost, &out).await,
        ExperimentName::NetworkPingPong => {
            ping_pong::run(backend, &plans.network_ping_pong, &out).await
        }
        ExperimentName::InvocationOverhead => {
            overhead::run(backend, &plans.invocation_overhead, &out).await
        }
        ExperimentName::EvictionModel => eviction::run(backend, &plans.eviction_model, &out).await,
        ExperimentName::Load => open_load::run(backend, &plans.load, &out).await,
        ExperimentName::TraceReplay => {
            trace_replay::run(backend, &plans.trace_replay, &root, &out).await
        }
        ExperimentName::RegionMatrix => {
            region_matrix::run(backend, &plans.region_matrix, &out).await
        }
    };
    let (interrupted, succeeded) = (backend.stop_requested(), backend.any_succeeded());
    backend.shutdown().await;
    outcome?;
    if interrupted {
        eprintln!("interrupted: what was measured is in {}", out.display());
    }
    println!(
        "  next: sebs experiment process {} --output-dir {}",
        name.as_str(),
        args.output_dir.display()
    );
    Ok(succeeded)
}

/// Why an experiment cannot run through a fleet, if it cannot.
fn not_through_fleet(name: ExperimentName) -> Option<&'static str> {
    match name {
        ExperimentName::NetworkPingPong | ExperimentName::InvocationOverhead => Some(
            "it measures UDP round trips and clock drift between the function and the client \
             side beside the invoker, but through a fleet the invokers are workers on other \
             hosts while the client side would run here",
        ),
        ExperimentName::EvictionModel => Some(
            "its functions hold TCP connections to a client side beside the invoker (a worker \
             elsewhere, through a fleet) across idle times of up to 20 minutes",
        ),
        ExperimentName::PerfCost
        | ExperimentName::Load
        | ExperimentName::TraceReplay
        | ExperimentName::RegionMatrix => None,
    }
}

fn process(args: &ExperimentProcessArgs) -> Result<()> {
    let dir = args.output_dir.join(args.name.as_str());
    if !dir.is_dir() {
        bail!(
            "no results in {}: run `sebs experiment invoke {} --output-dir {}` first",
            dir.display(),
            args.name.as_str(),
            args.output_dir.display()
        );
    }
    match args.name {
        ExperimentName::PerfCost => perf_cost_process::process(&dir),
        ExperimentName::NetworkPingPong => ping_pong::process(&dir),
        ExperimentName::InvocationOverhead => overhead_process::process(&dir),
        ExperimentName::EvictionModel => eviction::process(&dir),
        ExperimentName::Load => open_load::process(&dir),
        ExperimentName::TraceReplay => trace_replay::process(&dir),
        ExperimentName::RegionMatrix => region_matrix::process(&dir),
    }
}
