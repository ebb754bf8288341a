//! `benchmark invoke` on the coordinator: the coordinator owns the platform, so it prepares the
//! input, builds the package, deploys the function and turns the invocation options into a job;
//! its hooks force cold starts between batches, read the platform's reports into SeBS's
//! `ExecutionResult`, validate outputs at the end and stop the platform.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use bytes::Bytes;
use sebs_common::config::ConfigFile;
use sebs_common::{Benchmark, ExecutionResult, Language};
use sebs_proto::job::{ClosedLoad, JobSpec, Load};
use sebs_proto::runs::BenchmarkInvoke;
use sebs_worker::engine::records::Record;
use sebs_worker::RawInvocation;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::hooks::{JobHooks, Prepared, Preparer};
use crate::commands::Session;
use crate::execution::execution_result;
use crate::inputs::tools::ToolsPython;
use crate::inputs::{InputPreparer, InputSize, Verdict};
use crate::platforms::{DeployedFunction, FunctionSpec, Platform};

/// Prepares benchmarks from the catalogue this process finds, with `cache` as its cache.
#[derive(Debug)]
pub struct BenchmarkPreparer {
    cache: PathBuf,
}

impl BenchmarkPreparer {
    pub fn new(cache: PathBuf) -> Self {
        BenchmarkPreparer { cache }
    }
}

#[async_trait]
impl Preparer for BenchmarkPreparer {
    async fn prepare(
        &self,
        invoke: BenchmarkInvoke,
        status: mpsc::UnboundedSender<String>,
    ) -> Result<Prepared> {
        let (file, origin) = match &invoke.config {
            Some(c) => (
                ConfigFile::parse(&c.text, Path::new(&c.origin))?,
                c.origin.clone(),
            ),
            None => (ConfigFile::default(), "command line".to_string()),
        };
        let session = Session::open_with(
            &invoke.benchmark,
            &file,
            &origin,
            &invoke.overrides,
            &self.cache,
        )
        .await?;
        match prepare_session(&session, &invoke, &status).await {
            Ok(prepared) => Ok(prepared),
            Err(e) => {
                session.platform.shutdown().await;
                Err(e)
            }
        }
    }
}

async fn prepare_session(
    session: &Session,
    invoke: &BenchmarkInvoke,
    status: &mpsc::UnboundedSender<String>,
) -> Result<Prepared> {
    let (run, bench, platform) = (&session.run, &session.benchmark, &session.platform);
    let size = <InputSize as clap::ValueEnum>::from_str(&invoke.size, false).map_err(|_| {
        anyhow::anyhow!(
            "input size `{}`: expected test, small or large",
            invoke.size
        )
    })?;
    let _ = status.send(format!(
        "preparing the {} input of {}",
        size.as_str(),
        bench.name
    ));
    let data = session.project.benchmark_data();
    let tools = tokio::task::block_in_place(|| {
        ToolsPython::ensure(
            Path::new("python3"),
            &data.join("requirements.txt"),
            &session.cache,
        )
    })?;
    let inputs = InputPreparer::new(tools, data, &session.cache);
    let storage = platform.storage();
    let input = inputs
        .prepare(
            bench,
            size,
            storage.as_ref(),
            platform.benchmarks_bucket(),
            run.update_storage,
        )
        .await?;
    tracing::info!(
        uploaded = input.uploaded,
        kept = input.kept,
        cleaned = input.cleaned,
        "input ready"
    );

    let _ = status.send(format!("building the {} package", run.language));
    let package = session.build_package().await?;
    let spec = FunctionSpec {
        name: session.function_name(),
        language: run.language,
        language_version: run.language_version.clone(),
        package_dir: package.dir.clone(),
        package_hash: package.meta.hash.clone(),
        memory_mb: run.memory.unwrap_or(bench.config.memory),
        timeout: Duration::from_secs(u64::from(run.timeout.unwrap_or(bench.config.timeout))),
    };
    let _ = status.send(format!("deploying {} on {}", spec.name, run.deployment));
    let function = platform.deploy(&spec).await?;
    let trigger = platform.trigger_spec(&function, run.trigger)?;

    let metadata = json!({
        "benchmark": bench.name,
        "input_size": size.as_str(),
        "deployment": platform.deployment().as_str(),
        "language": run.language,
        "language_version": run.language_version,
        "architecture": run.architecture,
        "memory": spec.memory_mb,
        "timeout": spec.timeout.as_secs(),
        "repetitions": run.repetitions,
        "concurrency": run.concurrency,
        "cold_batches": invoke.cold,
        "package_hash": package.meta.hash,
        "event": input.event,
        "sebs_version": env!("CARGO_PKG_VERSION"),
    });
    let title = format!(
        "{} ({} {}, {} MB) on {}, size {}",
        bench.name,
        run.language,
        run.language_version,
        spec.memory_mb,
        run.deployment,
        size.as_str()
    );
    let load = match &invoke.open {
        Some(open) => Load::Open(open.clone()),
        None => Load::Closed(ClosedLoad {
            invocations: u64::from(run.repetitions),
            concurrency: run.concurrency,
            batches: invoke.cold,
        }),
    };
    let keep_outputs = invoke.open.is_none();
    let validation = invoke.validate.then(|| Validation {
        inputs,
        benchmark: bench.clone(),
        language: run.language,
        event: input.event.clone(),
        outputs: Mutex::new(Vec::new()),
    });
    let job = JobSpec {
        function: function.name.clone(),
        trigger,
        payload: Bytes::from(serde_json::to_vec(&input.event)?),
        load,
        keep_outputs,
        placement: invoke.placement.clone(),
    };
    let hooks = BenchmarkHooks {
        platform: platform.clone(),
        function,
        validation,
    };
    Ok(Prepared {
        job,
        title,
        metadata,
        hooks: Arc::new(hooks),
    })
}

/// What `--validate` needs after the run: the input and every successful output.
struct Validation {
    inputs: InputPreparer,
    benchmark: Benchmark,
    language: Language,
    event: Value,
    /// Handler outputs of successful invocations, by request id.
    outputs: Mutex<Vec<(String, Value)>>,
}

struct BenchmarkHooks {
    platform: Arc<dyn Platform>,
    function: DeployedFunction,
    validation: Option<Validation>,
}

#[async_trait]
impl JobHooks for BenchmarkHooks {
    async fn before_wave(&self, _wave: u32) -> Result<(), String> {
        self.platform
            .enforce_cold_start(&self.function)
            .await
            .map_err(|e| format!("{e:#}"))
    }

    fn execution_result(&self, record: &Record, raw: &RawInvocation) -> ExecutionResult {
        let metrics = self.platform.provider_metrics(&self.function, raw);
        execution_result(
            record.request_id.as_str(),
            raw,
            &metrics,
            self.function.memory_mb,
        )
    }

    fn observe(&self, result: &ExecutionResult) {
        if let Some(e) = &result.error {
            tracing::warn!(request = %result.request_id, kind = e.kind.as_str(), "invocation failed: {}", e.message);
        }
        if let Some(v) = &self.validation {
            if result.error.is_none() {
                let mut outputs = v.outputs.lock().unwrap_or_else(|e| e.into_inner());
                outputs.push((result.request_id.clone(), result.output["result"].clone()));
            }
        }
    }

    async fn finish(&self, _complete: bool) -> Result<Option<Value>, String> {
        let Some(v) = &self.validation else {
            return Ok(None);
        };
        let outputs = std::mem::take(&mut *v.outputs.lock().unwrap_or_else(|e| e.into_inner()));
        let (ids, values): (Vec<String>, Vec<Value>) = outputs.into_iter().unzip();
        let verdicts = tokio::task::block_in_place(|| {
            v.inputs
                .validate(&v.benchmark, v.language, &v.event, &values)
        })
        .map_err(|e| format!("{e:#}"))?;
        Ok(Some(validation_report(&ids, verdicts.as_deref())))
    }

    async fn cleanup(&self) {
        self.platform.shutdown().await;
    }
}

/// The `validation` entry of experiments.json: how many outputs were checked and which failed.
fn validation_report(ids: &[String], verdicts: Option<&[Verdict]>) -> Value {
    let Some(verdicts) = verdicts else {
        return json!({"checked": 0, "invalid": [], "verdict": "input.py has no validate_output; nothing checked"});
    };
    let invalid: Vec<Value> = ids
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

/// Where the cache is made absolute (platforms and the package builder want full paths).
pub fn cache_dir(cache: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(cache)
        .with_context(|| format!("creating cache folder {}", cache.display()))?;
    Ok(cache.canonicalize()?)
}
