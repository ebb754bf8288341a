//! `sebs experiment invoke|process NAME`, as SeBS spells them.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::DeploymentArgs;
use crate::fleet::cli::InvokeFleetArgs;

#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Run an experiment; its raw results go to OUTPUT_DIR/NAME/ as they arrive.
    Invoke(Box<ExperimentInvokeArgs>),
    /// Turn an experiment's raw results into CSV tables, statistics, plots and report.html.
    Process(ExperimentProcessArgs),
}

/// The experiments: SeBS's four, and sebs's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExperimentName {
    /// Cold, warm, burst and sequential invocations at several memory sizes (SeBS).
    PerfCost,
    /// UDP round trips between the client and 020.network-benchmark (SeBS).
    NetworkPingPong,
    /// Invocation time by payload or code size, clock-drift corrected with 030 (SeBS).
    InvocationOverhead,
    /// How long idle instances of 040.server-reply survive (SeBS).
    EvictionModel,
    /// An open-loop load: rates, stages, ramps, Poisson arrivals (sebs).
    Load,
    /// Functions of an Azure Functions 2019 trace replayed minute by minute (sebs).
    TraceReplay,
    /// Every worker region × every deployment region (sebs).
    RegionMatrix,
}

impl ExperimentName {
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentName::PerfCost => "perf-cost",
            ExperimentName::NetworkPingPong => "network-ping-pong",
            ExperimentName::InvocationOverhead => "invocation-overhead",
            ExperimentName::EvictionModel => "eviction-model",
            ExperimentName::Load => "load",
            ExperimentName::TraceReplay => "trace-replay",
            ExperimentName::RegionMatrix => "region-matrix",
        }
    }
}

#[derive(Debug, Args)]
pub struct ExperimentInvokeArgs {
    pub name: ExperimentName,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    /// Upload input data again even if it is already in storage.
    #[arg(long)]
    pub update_storage: bool,
    /// Through a fleet: --coordinator URL, --regions, and the credentials (--ca, --token-file,
    /// --tls-cert/--tls-key, --plaintext).
    #[command(flatten)]
    pub fleet: InvokeFleetArgs,
    /// Results go to OUTPUT_DIR/NAME/.
    #[arg(long, default_value = ".")]
    pub output_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExperimentProcessArgs {
    pub name: ExperimentName,
    /// The folder `experiment invoke` wrote NAME/ into.
    #[arg(long, default_value = ".")]
    pub output_dir: PathBuf,
}
