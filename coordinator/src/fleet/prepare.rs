//! `benchmark invoke` on the coordinator: the coordinator owns the platform, so it prepares the
//! input (starting the benchmark's client side, if it has one), builds the package, deploys the
//! function and turns the invocation options into a job; its hooks force cold starts between
//! batches, read the platform's reports into SeBS's `ExecutionResult`, and at the end stop the
//! client side, download the outputs, validate them and stop the platform.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use bytes::Bytes;
use sebs_common::config::ConfigFile;
use sebs_common::{ExecutionResult, Language};
use sebs_proto::job::{ClosedLoad, JobSpec, Load};
use sebs_proto::runs::BenchmarkInvoke;
use sebs_proto::RunId;
use sebs_worker::engine::records::Record;
use sebs_worker::RawInvocation;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::hooks::{JobHooks, Prepared, Preparer};
use crate::benchmark_side::{self, ClientSideArgs, RunningClientSide};
use crate::commands::Session;
use crate::execution::execution_result;
use crate::inputs::{InputPreparer, InputSize, Verdict};
use crate::platforms::{DeployedFunction, FunctionSpec};

/// Where the coordinator's side of a benchmark writes: the client side's records
/// (`client-side/`) and the outputs it downloads (`outputs/`).
#[derive(Clone, Debug)]
pub enum SideFiles {
    /// Into this folder: the output folder of a run in one process.
    In(PathBuf),
    /// Into `<folder>/<run id>/`: a coordinator serving clients elsewhere.
    PerRun(PathBuf),
}

impl SideFiles {
    fn dir(&self, run: RunId) -> PathBuf {
        match self {
            SideFiles::In(dir) => dir.clone(),
            SideFiles::PerRun(base) => base.join(run.to_string()),
        }
    }
}

/// Prepares benchmarks from the catalogue this process finds, with `cache` as its cache.
#[derive(Debug)]
pub struct BenchmarkPreparer {
    cache: PathBuf,
    files: SideFiles,
}

impl BenchmarkPreparer {
    pub fn new(cache: PathBuf, files: SideFiles) -> Self {
        BenchmarkPreparer { cache, files }
    }
}

#[async_trait]
impl Preparer for BenchmarkPreparer {
    async fn prepare(
        &self,
        run: RunId,
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
        let session = Arc::new(session);
        match prepare_session(&session, &invoke, &status, self.files.dir(run)).await {
            Ok(prepared) => Ok(prepared),
            Err(e) => {
                session.platform.shutdown().await;
                Err(e)
            }
        }
    }
}

async fn prepare_session(
    session: &Arc<Session>,
    invoke: &BenchmarkInvoke,
    status: &mpsc::UnboundedSender<String>,
    out: PathBuf,
) -> Result<Prepared> {
    let (run, bench, platform) = (&session.run, &session.benchmark, &session.platform);
    let size = <InputSize as clap::ValueEnum>::from_str(&invoke.size, false).map_err(|_| {
        anyhow::anyhow!(
            "input size `{}`: expected test, small or large",
            invoke.size
        )
    })?;
    benchmark_side::check_programs(bench)?;
    let _ = status.send(format!(
        "preparing the {} input of {}",
        size.as_str(),
        bench.name
    ));
    let inputs = session.input_preparer()?;
    let client_args = ClientSideArgs {
        client_host: invoke.client_host.clone(),
        data_url: invoke.data_url.clone(),
    };
    let client = RunningClientSide::start(bench, &client_args, &inputs.data_dir(bench)).await?;
    let input = session.prepare_input(&inputs, size, client.url()).await?;

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
        environment: input.environment.clone(),
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
    let job = JobSpec {
        function: function.name.clone(),
        trigger,
        payload: Bytes::from(serde_json::to_vec(&input.event)?),
        load,
        keep_outputs: invoke.open.is_none(),
        placement: invoke.placement.clone(),
    };
    let hooks = BenchmarkHooks {
        session: session.clone(),
        function,
        inputs,
        event: input.event,
        output_prefixes: input.output_prefixes,
        validation: invoke.validate.then(|| Validation {
            language: run.language,
            outputs: Mutex::new(Vec::new()),
        }),
        client: tokio::sync::Mutex::new(Some(client)),
        out,
    };
    Ok(Prepared {
        job,
        title,
        metadata,
        hooks: Arc::new(hooks),
    })
}

/// What `--validate` collects during the run: every successful output.
struct Validation {
    language: Language,
    /// Handler outputs of successful invocations, by request id.
    outputs: Mutex<Vec<(String, Value)>>,
}

struct BenchmarkHooks {
    session: Arc<Session>,
    function: DeployedFunction,
    inputs: InputPreparer,
    event: Value,
    output_prefixes: Vec<String>,
    validation: Option<Validation>,
    /// Taken when the run finishes.
    client: tokio::sync::Mutex<Option<RunningClientSide>>,
    /// Where the client side's records and downloaded outputs go.
    out: PathBuf,
}

#[async_trait]
impl JobHooks for BenchmarkHooks {
    async fn before_wave(&self, _wave: u32) -> Result<(), String> {
        self.session
            .platform
            .enforce_cold_start(&self.function)
            .await
            .map_err(|e| format!("{e:#}"))
    }

    fn execution_result(&self, record: &Record, raw: &RawInvocation) -> ExecutionResult {
        let metrics = self.session.platform.provider_metrics(&self.function, raw);
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

    /// Stops the client side and writes what it recorded; downloads the outputs (for 020 and
    /// 030, and for `--validate`); validates them.
    async fn finish(&self, _complete: bool) -> Result<Option<Value>, String> {
        self.finish_sides().await.map_err(|e| format!("{e:#}"))
    }

    async fn cleanup(&self) {
        self.session.platform.shutdown().await;
    }
}

impl BenchmarkHooks {
    async fn finish_sides(&self) -> Result<Option<Value>> {
        if let Some(client) = self.client.lock().await.take() {
            client.finish(&self.out).await?;
        }
        let (bench, platform) = (&self.session.benchmark, &self.session.platform);
        let storage = platform.storage();
        let stored = benchmark_side::keep_outputs(
            bench,
            self.validation.is_some(),
            storage.as_ref(),
            platform.benchmarks_bucket(),
            &self.output_prefixes,
            &self.out,
        )
        .await?;
        let Some(v) = &self.validation else {
            return Ok(None);
        };
        let outputs = std::mem::take(&mut *v.outputs.lock().unwrap_or_else(|e| e.into_inner()));
        let (ids, values): (Vec<String>, Vec<Value>) = outputs.into_iter().unzip();
        let stored = Some((stored.as_path(), platform.benchmarks_bucket()));
        let verdicts = tokio::task::block_in_place(|| {
            self.inputs
                .validate(bench, v.language, &self.event, &values, stored)
        })?;
        Ok(Some(validation_report(&ids, verdicts.as_deref())))
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
