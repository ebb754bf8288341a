//! `sebs benchmark regression`: every benchmark in every language it has, deployed, invoked once
//! and its output validated, `--parallelism` benchmarks at a time (SeBS's regression,
//! SEBS-CONTRACT §5); the languages of one benchmark run one after another.
//!
//! Each pair runs through the same code as `sebs benchmark invoke BENCH SIZE --validate`, with
//! its result files in `<output-dir>/<benchmark>/<language>/`. A pair passes when its invocation
//! succeeded and `validate_output` accepted it; anything else is a failure with its cause: a
//! build, deployment or input error, a failed invocation (its error kind and message), an
//! invalid output, or a benchmark without `validate_output`. `regression.json` in the output
//! folder is rewritten as each pair finishes, so an interrupted run keeps what it learned.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use sebs_common::{Benchmark, Language};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::benchmark_side::ClientSideArgs;
use crate::cli::{ArrivalKind, DeploymentArgs, InvokeArgs};
use crate::inputs::InputSize;
use crate::project::Project;
use crate::results::write_atomically;

#[derive(Debug, Args)]
pub struct RegressionArgs {
    /// Input size.
    #[arg(value_enum)]
    pub size: InputSize,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    /// Only these benchmarks (full name, id or short name); repeat the option for several
    /// [default: every benchmark].
    #[arg(long = "benchmark", value_name = "BENCHMARK")]
    pub benchmarks: Vec<String>,
    /// Benchmarks run at once (the languages of one benchmark run one after another).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
    /// Where regression.json and each pair's result files go.
    #[arg(long, default_value = "regression")]
    pub output_dir: PathBuf,
    #[command(flatten)]
    pub client_side: ClientSideArgs,
}

/// How one benchmark × language pair went.
#[derive(Clone, Debug, Serialize)]
pub struct PairResult {
    pub benchmark: String,
    pub language: Language,
    pub passed: bool,
    /// Why it failed; empty when it passed.
    pub cause: String,
    /// Wall-clock seconds of the whole pair: data, build, deployment, invocation, validation.
    pub seconds: f64,
    pub output_dir: PathBuf,
}

/// Runs the regression; fails when any pair failed.
pub async fn run(args: RegressionArgs) -> Result<()> {
    let project = Project::locate()?;
    let catalogue = project.catalogue();
    let benchmarks: Vec<Benchmark> = if args.benchmarks.is_empty() {
        catalogue.list()?
    } else {
        args.benchmarks
            .iter()
            .map(|b| catalogue.find(b))
            .collect::<Result<_, _>>()?
    };
    let languages: Vec<Language> = match args.deployment.language {
        Some(l) => vec![l],
        None => vec![Language::Python, Language::Nodejs],
    };
    let pairs: Vec<(Benchmark, Language)> = benchmarks
        .iter()
        .flat_map(|b| languages.iter().map(move |l| (b.clone(), *l)))
        .filter(|(b, l)| b.supports(*l))
        .collect();
    if pairs.is_empty() {
        bail!("no benchmark has an implementation in the languages asked for");
    }
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("creating {}", args.output_dir.display()))?;
    let report_path = args.output_dir.join("regression.json");
    println!(
        "regression of {} benchmark × language pairs, size {}, {} at a time",
        pairs.len(),
        args.size.as_str(),
        args.parallelism
    );

    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(usize::from(args.parallelism)));
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let mut running = tokio::task::JoinSet::new();
    // The languages of one benchmark run one after another: they share its storage prefixes,
    // which each run empties of outputs before it starts. Benchmarks run in parallel.
    for benchmark in &benchmarks {
        let mine: Vec<(Benchmark, Language, InvokeArgs)> = pairs
            .iter()
            .filter(|(b, _)| b.name == benchmark.name)
            .map(|(b, l)| (b.clone(), *l, invoke_args(&args, b, *l)))
            .collect();
        let (permits, done_tx) = (permits.clone(), done_tx.clone());
        running.spawn(async move {
            let _permit = permits.acquire_owned().await;
            for (benchmark, language, invoke) in mine {
                let _ = done_tx.send(run_pair(benchmark, language, invoke).await);
            }
        });
    }
    drop(done_tx);
    let mut results: Vec<PairResult> = Vec::new();
    while let Some(result) = done.recv().await {
        if result.passed {
            println!(
                "PASS {} {} ({:.1} s)",
                result.benchmark, result.language, result.seconds
            );
        } else {
            println!(
                "FAIL {} {}: {}",
                result.benchmark, result.language, result.cause
            );
        }
        results.push(result);
        write_report(&report_path, &args, &results, pairs.len(), started)?;
    }
    while let Some(task) = running.join_next().await {
        task.context("a regression task panicked")?;
    }
    results.sort_by(|a, b| {
        (&a.benchmark, a.language.as_str()).cmp(&(&b.benchmark, b.language.as_str()))
    });
    write_report(&report_path, &args, &results, pairs.len(), started)?;
    let failed: Vec<&PairResult> = results.iter().filter(|r| !r.passed).collect();
    println!(
        "{} passed, {} failed ({:.0} s); report: {}",
        results.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64(),
        report_path.display()
    );
    if !failed.is_empty() {
        let names: Vec<String> = failed
            .iter()
            .map(|r| format!("{} {}", r.benchmark, r.language))
            .collect();
        bail!(
            "{} of {} pairs failed: {}",
            failed.len(),
            results.len(),
            names.join(", ")
        );
    }
    Ok(())
}

/// The `benchmark invoke` arguments of one pair: one validated invocation.
fn invoke_args(args: &RegressionArgs, benchmark: &Benchmark, language: Language) -> InvokeArgs {
    let mut deployment = args.deployment.clone();
    deployment.language = Some(language);
    if args.deployment.language.is_none() {
        deployment.language_version = None; // a version only means something for one language
    }
    InvokeArgs {
        benchmark: benchmark.name.clone(),
        size: args.size,
        deployment,
        repetitions: None,
        concurrency: None,
        memory: None,
        timeout: None,
        cold: false,
        validate: true,
        update_storage: false,
        rate: None,
        ramp: None,
        duration: None,
        arrival: ArrivalKind::Constant,
        seed: 42,
        output_dir: args
            .output_dir
            .join(&benchmark.name)
            .join(language.as_str()),
        client_side: args.client_side.clone(),
        fleet: Default::default(),
    }
}

async fn run_pair(benchmark: Benchmark, language: Language, args: InvokeArgs) -> PairResult {
    let began = Instant::now();
    let output_dir = args.output_dir.clone();
    let outcome = crate::commands::invoke(args).await;
    let cause = match outcome {
        Ok(true) => unvalidated(&output_dir),
        Ok(false) => Some(first_failure(&output_dir)),
        Err(e) => Some(format!("{e:#}")),
    };
    PairResult {
        benchmark: benchmark.name,
        language,
        passed: cause.is_none(),
        cause: cause.unwrap_or_default(),
        seconds: began.elapsed().as_secs_f64(),
        output_dir,
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Why a successful run does not count: no output was checked.
fn unvalidated(dir: &Path) -> Option<String> {
    let validation = read_json(&dir.join("experiments.json")).map(|e| e["validation"].clone());
    match validation.as_ref().and_then(|v| v["checked"].as_u64()) {
        Some(n) if n > 0 => None,
        _ => Some(format!(
            "no output was validated ({})",
            validation
                .and_then(|v| v["verdict"].as_str().map(str::to_string))
                .unwrap_or_else(|| "no validation in experiments.json".into())
        )),
    }
}

/// The first failed invocation's error kind and message, from invocations.jsonl.
fn first_failure(dir: &Path) -> String {
    let lines = std::fs::read_to_string(dir.join("invocations.jsonl")).unwrap_or_default();
    lines
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|r| {
            let e = r.get("error")?;
            Some(format!(
                "invocation failed ({}): {}",
                e["kind"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("")
            ))
        })
        .unwrap_or_else(|| "every invocation failed".into())
}

fn write_report(
    path: &Path,
    args: &RegressionArgs,
    results: &[PairResult],
    total: usize,
    started: Instant,
) -> Result<()> {
    let passed = results.iter().filter(|r| r.passed).count();
    let report = serde_json::json!({
        "size": args.size.as_str(),
        "deployment": args.deployment.deployment.map(|d| d.to_string()).unwrap_or_else(|| "local".into()),
        "pairs": total,
        "finished": results.len(),
        "passed": passed,
        "failed": results.len() - passed,
        "seconds": started.elapsed().as_secs_f64(),
        "results": results,
    });
    write_atomically(path, &serde_json::to_vec_pretty(&report)?)
}
