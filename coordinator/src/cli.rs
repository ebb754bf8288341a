//! The command line, shaped like SeBS's (SEBS-CONTRACT §8).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use sebs_common::config::{Deployment, Overrides, TriggerKind};
use sebs_common::{Architecture, Language};

use sebs_worker::engine::schedule::{parse_duration, Arrival, RateProfile};

use crate::benchmark_side::ClientSideArgs;
use crate::fleet::cli::{CoordinatorArgs, InvokeFleetArgs, WorkerArgs};
use crate::inputs::InputSize;
use sebs_proto::job::OpenLoad;

#[derive(Debug, Parser)]
#[command(
    name = "sebs",
    version,
    about = "The serverless benchmark suite: build, deploy and invoke benchmark functions, and measure them."
)]
pub struct Cli {
    /// Log every step, including function output.
    #[arg(long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Invoke, package and list benchmarks.
    #[command(subcommand)]
    Benchmark(BenchmarkCommand),
    /// Run a fleet's coordinator: it deploys functions and hands their invocations to workers.
    Coordinator(CoordinatorArgs),
    /// Run a fleet's worker: it attaches to a coordinator and invokes what it is given.
    Worker(WorkerArgs),
    /// Run experiments and process their results (SeBS's and sebs's own).
    #[command(subcommand)]
    Experiment(crate::experiments::cli::ExperimentCommand),
    /// List or remove what sebs created on a platform.
    #[command(subcommand)]
    Resources(crate::resources::ResourcesCommand),
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum BenchmarkCommand {
    /// Build, deploy and invoke a benchmark; write experiments.json and print a summary.
    Invoke(InvokeArgs),
    /// Build a benchmark's code package (cached by content hash).
    Package(PackageArgs),
    /// List the benchmarks of the catalogue.
    List,
    /// Deploy, invoke and validate every benchmark in every language (SeBS's regression).
    Regression(crate::regression::RegressionArgs),
}

/// Options every command that touches a deployment takes. Values given here override the file.
#[derive(Clone, Debug, Args)]
pub struct DeploymentArgs {
    /// Configuration file in SeBS's format (config/example.json).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where to deploy [default: local].
    #[arg(long, value_parser = parse_deployment)]
    pub deployment: Option<Deployment>,
    /// Function language [default: python].
    #[arg(long, value_parser = parse_language)]
    pub language: Option<Language>,
    /// Language version, e.g. 3.11 or 20 [default: 3.11 for python, 20 for nodejs].
    #[arg(long)]
    pub language_version: Option<String>,
    /// CPU architecture (x64, arm64) [default: this machine's].
    #[arg(long, value_parser = parse_architecture)]
    pub architecture: Option<Architecture>,
    /// Rebuild the code package even if the cached one is current.
    #[arg(long)]
    pub update_code: bool,
    /// How to invoke the function: its HTTP endpoint, or the platform's SDK [default: http].
    #[arg(long, value_parser = parse_trigger)]
    pub trigger: Option<TriggerKind>,
    /// Folder of cached packages, tools and local storage.
    #[arg(long, default_value = "cache")]
    pub cache: PathBuf,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// Benchmark: full name (110.dynamic-html), id (110) or short name (dynamic-html).
    pub benchmark: String,
    /// Input size.
    #[arg(value_enum)]
    pub size: InputSize,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    /// Number of invocations [default: 1].
    #[arg(long)]
    pub repetitions: Option<u32>,
    /// Invocations in flight at once [default: 1].
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Function memory in MB [default: the benchmark's config.json].
    #[arg(long)]
    pub memory: Option<u32>,
    /// Function timeout in seconds [default: the benchmark's config.json].
    #[arg(long)]
    pub timeout: Option<u32>,
    /// Force a cold start before every batch of --concurrency invocations (SeBS's "burst").
    #[arg(long)]
    pub cold: bool,
    /// Check every successful output with the benchmark's `validate_output` (from input.py).
    #[arg(long)]
    pub validate: bool,
    /// Upload input data again even if it is already in storage.
    #[arg(long)]
    pub update_storage: bool,
    /// Open loop: requests per second, constant (`200`) or in stages (`100@10s,400@20s,50..500@30s`);
    /// latency is measured from each request's intended send time. --concurrency caps requests in
    /// flight [default 32], --repetitions caps the total.
    #[arg(long, conflicts_with_all = ["cold", "ramp"])]
    pub rate: Option<String>,
    /// Open loop: a linear ramp of the rate, `FROM..TO` requests per second over --duration.
    #[arg(long, conflicts_with = "cold")]
    pub ramp: Option<String>,
    /// Open loop: how long to send, e.g. `30s`, `500ms`, `2m` (needed with a plain --rate or --ramp).
    #[arg(long)]
    pub duration: Option<String>,
    /// Open loop: arrival process.
    #[arg(long, value_enum, default_value = "constant")]
    pub arrival: ArrivalKind,
    /// Open loop: seed of Poisson arrivals (runs with the same seed send at the same times).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where experiments.json and the other result files go.
    #[arg(long, default_value = ".")]
    pub output_dir: PathBuf,
    #[command(flatten)]
    pub client_side: ClientSideArgs,
    #[command(flatten)]
    pub fleet: InvokeFleetArgs,
}

/// How open-loop requests arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ArrivalKind {
    /// Evenly spaced at the rate.
    Constant,
    /// A Poisson process at the rate (exponential gaps).
    Poisson,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// Benchmark: full name, id or short name.
    pub benchmark: String,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
}

impl DeploymentArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            deployment: self.deployment,
            language: self.language,
            language_version: self.language_version.clone(),
            architecture: self.architecture,
            update_code: self.update_code,
            trigger: self.trigger,
            ..Default::default()
        }
    }
}

fn parse_deployment(s: &str) -> Result<Deployment, String> {
    s.parse()
}

fn parse_language(s: &str) -> Result<Language, String> {
    s.parse()
        .map_err(|e: sebs_common::language::UnknownLanguage| e.to_string())
}

fn parse_trigger(s: &str) -> Result<TriggerKind, String> {
    s.parse()
}

fn parse_architecture(s: &str) -> Result<Architecture, String> {
    s.parse()
}

impl InvokeArgs {
    /// The open-loop plan, when --rate or --ramp asked for one.
    pub fn open_loop(
        &self,
        concurrency: Option<u32>,
        repetitions: Option<u32>,
    ) -> Result<Option<OpenLoad>, String> {
        let duration = self
            .duration
            .as_deref()
            .map(|d| parse_duration(d).map_err(|e| e.to_string()))
            .transpose()?;
        let spec = match (&self.rate, &self.ramp) {
            (Some(rate), None) => rate.as_str(),
            (None, Some(ramp)) if ramp.contains("..") && !ramp.contains('@') => ramp.as_str(),
            (None, Some(ramp)) => {
                return Err(format!("--ramp `{ramp}`: expected FROM..TO, e.g. 10..500"))
            }
            (Some(_), Some(_)) => return Err("give --rate or --ramp, not both".into()),
            (None, None) => {
                if self.duration.is_some() || self.arrival != ArrivalKind::Constant {
                    return Err("--duration and --arrival need --rate or --ramp".into());
                }
                return Ok(None);
            }
        };
        let profile = RateProfile::parse(spec, duration).map_err(|e| e.to_string())?;
        let arrival = match self.arrival {
            ArrivalKind::Constant => Arrival::Constant,
            ArrivalKind::Poisson => Arrival::Poisson { seed: self.seed },
        };
        Ok(Some(OpenLoad {
            profile,
            arrival,
            max_count: repetitions.map(u64::from),
            tasks: concurrency.unwrap_or(32),
        }))
    }
}
