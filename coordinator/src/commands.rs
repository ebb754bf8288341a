//! The `sebs benchmark` commands: from parsed arguments to results on disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use bytes::Bytes;
use sebs_common::config::{ConfigFile, Overrides, RunConfig};
use sebs_common::Benchmark;
use sebs_worker::{run_closed_loop, BatchHook, ClosedLoop};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::benchmark_side::{self, RunningClientSide};
use crate::cli::{DeploymentArgs, InvokeArgs, PackageArgs};
use crate::execution::execution_result;
use crate::inputs::tools::ToolsPython;
use crate::inputs::{InputPreparer, InputSize, PreparedInput};
use crate::load;
use crate::package::{BuiltPackage, PackageBuilder, PackageRequest};
use crate::platforms::{self, DeployedFunction, FunctionSpec, Platform};
use crate::project::Project;
use crate::results::summary::RunSummary;
use crate::results::{write_atomically, ResultWriter};

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
        let project = Project::locate()?;
        let (file, origin) = match &args.config {
            Some(path) => (ConfigFile::load(path)?, path.display().to_string()),
            None => (ConfigFile::default(), "command line".to_string()),
        };
        let run = file.validate(&origin, &overrides)?;
        let benchmark = project.catalogue().find(benchmark)?;
        benchmark.require_language(run.language)?;
        std::fs::create_dir_all(&args.cache)
            .with_context(|| format!("creating cache folder {}", args.cache.display()))?;
        let cache = args.cache.canonicalize()?;
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

/// Forces a cold start before each batch.
struct ColdStarts {
    platform: Arc<dyn Platform>,
    function: DeployedFunction,
}

#[async_trait]
impl BatchHook for ColdStarts {
    async fn before_batch(&self, _batch: u64) -> Result<(), String> {
        self.platform
            .enforce_cold_start(&self.function)
            .await
            .map_err(|e| format!("{e:#}"))
    }
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

/// `sebs benchmark invoke`. Returns whether any invocation succeeded.
pub async fn invoke(args: InvokeArgs) -> Result<bool> {
    let overrides = Overrides {
        repetitions: args.repetitions,
        concurrency: args.concurrency,
        memory: args.memory,
        timeout: args.timeout,
        update_storage: args.update_storage,
        ..args.deployment.overrides()
    };
    let session = Session::open(&args.benchmark, &args.deployment, overrides).await?;
    let outcome = run_invocations(&session, &args).await;
    session.platform.shutdown().await;
    outcome
}

async fn run_invocations(session: &Session, args: &InvokeArgs) -> Result<bool> {
    let (run, bench, platform) = (&session.run, &session.benchmark, &session.platform);
    // Checked before anything is built, so that a bad --rate fails at once.
    let open_loop = args
        .open_loop(args.concurrency, args.repetitions)
        .map_err(anyhow::Error::msg)?;
    if open_loop.is_some() && args.validate {
        anyhow::bail!("--validate checks closed-loop runs; drop --rate/--ramp or --validate");
    }

    benchmark_side::check_programs(bench)?;
    let inputs = session.input_preparer()?;
    let client =
        RunningClientSide::start(bench, &args.client_side, &inputs.data_dir(bench)).await?;
    let input = session
        .prepare_input(&inputs, args.size, client.url())
        .await?;

    let package = session.build_package().await?;
    let spec = FunctionSpec {
        name: session.function_name(),
        language: run.language,
        language_version: run.language_version.clone(),
        package_dir: package.dir.clone(),
        package_hash: package.meta.hash.clone(),
        memory_mb: run.memory.unwrap_or(bench.config.memory),
        timeout: Duration::from_secs(u64::from(run.timeout.unwrap_or(bench.config.timeout))),
        environment: input.environment.clone(),
    };
    let function = platform.deploy(&spec).await?;
    let built =
        platforms::trigger_factories().build(&platform.trigger_spec(&function, run.trigger)?)?;

    let metadata = json!({
        "benchmark": bench.name,
        "input_size": args.size.as_str(),
        "deployment": platform.deployment().as_str(),
        "language": run.language,
        "language_version": run.language_version,
        "architecture": run.architecture,
        "memory": spec.memory_mb,
        "timeout": spec.timeout.as_secs(),
        "repetitions": run.repetitions,
        "concurrency": run.concurrency,
        "cold_batches": args.cold,
        "package_hash": package.meta.hash,
        "event": input.event,
        "sebs_version": env!("CARGO_PKG_VERSION"),
    });
    let payload = Bytes::from(serde_json::to_vec(&input.event)?);
    if let Some(open) = open_loop {
        let stop = stop_on_ctrl_c();
        let outcome = load::run(
            &open,
            built.trigger,
            built.reader,
            payload,
            &args.output_dir,
            metadata,
            stop,
        )
        .await;
        client.finish(&args.output_dir).await?;
        return outcome;
    }
    let mut writer = ResultWriter::create(&args.output_dir, &function.name, metadata)?;
    let plan = ClosedLoop {
        invocations: u64::from(run.repetitions),
        concurrency: run.concurrency,
        batches: args.cold,
    };
    let hook: Option<Arc<dyn BatchHook>> = args.cold.then(|| {
        Arc::new(ColdStarts {
            platform: platform.clone(),
            function: function.clone(),
        }) as Arc<dyn BatchHook>
    });

    let stop = stop_on_ctrl_c();
    let (tx, mut rx) = mpsc::channel(1024);
    let driver = tokio::spawn(run_closed_loop(
        plan,
        built.trigger,
        payload,
        hook,
        tx,
        stop.clone(),
    ));

    let mut summary = RunSummary::default();
    // Handler outputs kept for --validate, by request id.
    let mut outputs: Vec<(String, serde_json::Value)> = Vec::new();
    while let Some(done) = rx.recv().await {
        let metrics = platform.provider_metrics(&function, &done.raw);
        let result = execution_result(&done.request_id, &done.raw, &metrics, function.memory_mb);
        if let Some(e) = &result.error {
            tracing::warn!(request = %result.request_id, kind = e.kind.as_str(), "invocation failed: {}", e.message);
        }
        summary.add(&result);
        writer.record(&result)?;
        if args.validate && result.error.is_none() {
            outputs.push((result.request_id.clone(), result.output["result"].clone()));
        }
    }
    let fired = driver.await?;
    let complete = matches!(&fired, Ok(n) if *n == plan.invocations) && !*stop.borrow();
    client.finish(&args.output_dir).await?;
    let stored = benchmark_side::keep_outputs(
        bench,
        args.validate,
        platform.storage().as_ref(),
        platform.benchmarks_bucket(),
        &input.output_prefixes,
        &args.output_dir,
    )
    .await?;
    let validation = if args.validate {
        let (ids, values): (Vec<String>, Vec<serde_json::Value>) = outputs.into_iter().unzip();
        let stored = Some((stored.as_path(), platform.benchmarks_bucket()));
        let verdicts = tokio::task::block_in_place(|| {
            inputs.validate(bench, run.language, &input.event, &values, stored)
        })?;
        let report = validation_report(&ids, verdicts.as_deref());
        writer.annotate("validation", report.clone());
        Some(report)
    } else {
        None
    };
    let path = writer.finish(complete)?;
    let report = summary.report();
    write_atomically(
        &writer.dir().join("summary.json"),
        &serde_json::to_vec_pretty(&report)?,
    )?;

    let title = format!(
        "{} ({} {}, {} MB) on {}, size {}",
        bench.name,
        run.language,
        run.language_version,
        spec.memory_mb,
        run.deployment,
        args.size.as_str()
    );
    print!("{}", summary.render(&title));
    if let Some(v) = &validation {
        println!(
            "  validation: {}",
            v["verdict"].as_str().unwrap_or_default()
        );
    }
    println!("  results: {}", path.display());
    if let Err(e) = fired {
        anyhow::bail!("the run stopped early: {e}");
    }
    if let Some(invalid) = validation
        .as_ref()
        .and_then(|v| v["invalid"].as_array())
        .filter(|i| !i.is_empty())
    {
        anyhow::bail!(
            "{} output(s) failed validation, first: {}",
            invalid.len(),
            invalid[0]["message"].as_str().unwrap_or_default()
        );
    }
    Ok(report.invocations > report.failures)
}

/// The `validation` entry of experiments.json: how many outputs were checked and which failed.
fn validation_report(
    ids: &[String],
    verdicts: Option<&[crate::inputs::Verdict]>,
) -> serde_json::Value {
    let Some(verdicts) = verdicts else {
        return json!({"checked": 0, "invalid": [], "verdict": "input.py has no validate_output; nothing checked"});
    };
    let invalid: Vec<serde_json::Value> = ids
        .iter()
        .zip(verdicts)
        .filter(|(_, v)| !v.valid)
        .map(|(id, v)| json!({"request_id": id, "message": v.message}))
        .collect();
    let verdict = format!(
        "{} of {} successful outputs valid",
        verdicts.len() - invalid.len(),
        verdicts.len()
    );
    json!({"checked": verdicts.len(), "invalid": invalid, "verdict": verdict})
}
