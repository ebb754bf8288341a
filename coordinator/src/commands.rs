//! The `sebs benchmark` commands: from parsed arguments to results on disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use sebs_common::config::{ConfigFile, Overrides, RunConfig};
use sebs_common::Benchmark;
use tokio::sync::watch;

use crate::benchmark_side;
use crate::cli::{DeploymentArgs, InvokeArgs, PackageArgs};
use crate::inputs::tools::ToolsPython;
use crate::inputs::{InputPreparer, InputSize, PreparedInput};
use crate::package::{BuiltPackage, PackageBuilder, PackageRequest};
use crate::platforms::{self, Platform};
use crate::project::Project;

/// What a command needs once its arguments are checked.
pub(crate) struct Session {
    pub(crate) project: Project,
    pub(crate) run: RunConfig,
    pub(crate) benchmark: Benchmark,
    pub(crate) cache: PathBuf,
    pub(crate) platform: Arc<dyn Platform>,
}

impl Session {
    pub(crate) async fn open(
        benchmark: &str,
        args: &DeploymentArgs,
        overrides: Overrides,
    ) -> Result<Self> {
        let (file, origin) = match &args.config {
            Some(path) => (ConfigFile::load(path)?, path.display().to_string()),
            None => (ConfigFile::default(), "command line".to_string()),
        };
        Self::open_with(benchmark, &file, &origin, &overrides, &args.cache).await
    }

    /// Validates the configuration (`origin` names it in errors), finds the benchmark and
    /// starts the platform.
    pub(crate) async fn open_with(
        benchmark: &str,
        file: &ConfigFile,
        origin: &str,
        overrides: &Overrides,
        cache: &Path,
    ) -> Result<Self> {
        let project = Project::locate()?;
        let run = file.validate(origin, overrides)?;
        let benchmark = project.catalogue().find(benchmark)?;
        benchmark.require_language(run.language)?;
        let cache = crate::fleet::prepare::cache_dir(cache)?;
        let platform = platforms::create(&run, &cache).await?;
        Ok(Session {
            project,
            run,
            benchmark,
            cache,
            platform,
        })
    }

    pub(crate) fn function_name(&self) -> String {
        let raw = format!(
            "sebs-{}-{}-{}",
            self.benchmark.name, self.run.language, self.run.language_version
        );
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect()
    }

    pub(crate) async fn build_package(&self) -> Result<BuiltPackage> {
        let python = self.platform.python_for(&self.run.language_version).ok();
        let python = python.unwrap_or_else(|| PathBuf::from("python3"));
        let installer = self.platform.dependency_installer();
        let request = PackageRequest {
            benchmark: &self.benchmark,
            language: self.run.language,
            language_version: &self.run.language_version,
            architecture: self.run.architecture,
            platform: self.run.deployment.as_str(),
            wrappers_root: &self.project.wrappers(),
            python: &python,
            installer: installer.as_deref(),
            force: self.run.update_code,
        };
        let builder = PackageBuilder::new(&self.cache);
        let built = tokio::task::block_in_place(|| builder.build(&request)).with_context(|| {
            format!(
                "building the {} package of {}",
                self.run.language, self.benchmark.name
            )
        })?;
        tracing::info!(
            benchmark = %self.benchmark.name,
            rebuilt = built.rebuilt,
            size_kib = built.meta.size_bytes / 1024,
            hash = &built.meta.hash[..12],
            "{}", if built.rebuilt { "package built" } else { "package cached" }
        );
        Ok(built)
    }

    /// Generates the benchmark's data, runs its `input.py` and uploads what it asks for; the
    /// preparer also validates outputs later.
    /// The input preparer of this project and cache, with the tools' Python environment ready.
    pub(crate) fn input_preparer(&self) -> Result<InputPreparer> {
        let data = self.project.benchmark_data();
        let tools = tokio::task::block_in_place(|| {
            ToolsPython::ensure(
                Path::new("python3"),
                &data.join("requirements.txt"),
                &self.cache,
            )
        })?;
        Ok(InputPreparer::new(tools, data, &self.cache))
    }

    /// Generates the benchmark's input of `size`, uploads it to the platform's storage and
    /// allocates its NoSQL tables; `client_url` is where its client side listens, if it has one.
    pub(crate) async fn prepare_input(
        &self,
        inputs: &InputPreparer,
        size: InputSize,
        client_url: Option<&str>,
    ) -> Result<PreparedInput> {
        let storage = self.platform.storage();
        let input = inputs
            .prepare(
                &self.benchmark,
                size,
                storage.as_ref(),
                self.platform.benchmarks_bucket(),
                self.run.update_storage,
                client_url,
                self.platform.nosql().as_deref(),
            )
            .await?;
        tracing::info!(
            uploaded = input.uploaded,
            kept = input.kept,
            cleaned = input.cleaned,
            "input ready"
        );
        Ok(input)
    }
}

pub fn list() -> Result<()> {
    let project = Project::locate()?;
    let benchmarks = project.catalogue().list()?;
    println!(
        "{:<28}{:<15}{:>8}{:>9}  needs",
        "benchmark", "languages", "memory", "timeout"
    );
    for b in benchmarks {
        let (needs, dependencies) = benchmark_side::needs(&b);
        println!(
            "{:<28}{:<15}{:>5} MB{:>7} s  {needs}",
            b.name,
            b.config.languages.join(","),
            b.config.memory,
            b.config.timeout,
        );
        for line in dependencies {
            println!("{:<28}  {line}", "");
        }
    }
    Ok(())
}

pub async fn package(args: PackageArgs) -> Result<()> {
    let session = Session::open(
        &args.benchmark,
        &args.deployment,
        args.deployment.overrides(),
    )
    .await?;
    let built = session.build_package().await;
    session.platform.shutdown().await;
    let built = built?;
    println!(
        "{} {} package of {} at {} ({} KiB, hash {})",
        if built.rebuilt { "built" } else { "cached" },
        session.run.language,
        session.benchmark.name,
        built.dir.display(),
        built.meta.size_bytes / 1024,
        &built.meta.hash[..16]
    );
    Ok(())
}

/// A flag that turns true at the first Ctrl-C; the second one exits at once.
pub(crate) fn stop_on_ctrl_c() -> watch::Receiver<bool> {
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: finishing the invocations in flight and writing results (Ctrl-C again to quit now)");
            let _ = stop_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    stop
}

/// `sebs benchmark invoke`: through the in-process fleet, or a coordinator's with
/// `--coordinator`. Returns whether any invocation succeeded.
pub async fn invoke(args: InvokeArgs) -> Result<bool> {
    crate::fleet::client::invoke(args).await
}
