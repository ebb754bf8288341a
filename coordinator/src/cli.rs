//! The command line, shaped like SeBS's (SEBS-CONTRACT §8).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use sebs_common::config::{Deployment, Overrides};
use sebs_common::{Architecture, Language};

use crate::inputs::InputSize;

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Invoke, package and list benchmarks.
    #[command(subcommand)]
    Benchmark(BenchmarkCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchmarkCommand {
    /// Build, deploy and invoke a benchmark; write experiments.json and print a summary.
    Invoke(InvokeArgs),
    /// Build a benchmark's code package (cached by content hash).
    Package(PackageArgs),
    /// List the benchmarks of the catalogue.
    List,
}

/// Options every command that touches a deployment takes. Values given here override the file.
#[derive(Debug, Args)]
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
    /// Where experiments.json and the other result files go.
    #[arg(long, default_value = ".")]
    pub output_dir: PathBuf,
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

fn parse_architecture(s: &str) -> Result<Architecture, String> {
    s.parse()
}
