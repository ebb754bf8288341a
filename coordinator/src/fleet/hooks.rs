//! What a run needs from whoever set its job up: the benchmark preparer (which owns the
//! platform), an experiment, or nothing at all for a bare job.

use std::sync::Arc;

use async_trait::async_trait;
use sebs_common::ExecutionResult;
use sebs_proto::job::JobSpec;
use sebs_proto::runs::BenchmarkInvoke;
use sebs_proto::RunId;
use sebs_worker::engine::records::Record;
use sebs_worker::RawInvocation;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::execution::execution_result;
use crate::platforms::ProviderMetrics;

/// Called by the run as it goes. Every method has a default that suits a bare job.
#[async_trait]
pub trait JobHooks: Send + Sync {
    /// Before each wave of a batched load: where cold starts are forced. An error ends the run.
    async fn before_wave(&self, _wave: u32) -> Result<(), String> {
        Ok(())
    }

    /// A kept invocation (`raw` is its whole reply) as SeBS's `ExecutionResult`. By default
    /// from what the worker read of the reply; a platform reads its own reports.
    fn execution_result(&self, record: &Record, raw: &RawInvocation) -> ExecutionResult {
        let metrics = ProviderMetrics {
            execution_us: record.execution_us,
            initialization_us: record.init_us,
            memory_used_mb: record.memory_kib as f64 / 1024.0,
            billed_ms: record.execution_us.div_ceil(1000),
            error: None,
        };
        execution_result(record.request_id.as_str(), raw, &metrics, 0)
    }

    /// Sees each accepted result (to validate outputs later, say).
    fn observe(&self, _result: &ExecutionResult) {}

    /// After the last invocation: what goes into the run's `validation` entry, if anything. An
    /// error is reported as the run's failure.
    async fn finish(&self, _complete: bool) -> Result<Option<Value>, String> {
        Ok(None)
    }

    /// Releases what the job held (stops a local platform).
    async fn cleanup(&self) {}
}

/// A bare job's hooks: the defaults.
#[derive(Debug, Default)]
pub struct NoHooks;

impl JobHooks for NoHooks {}

/// A job ready to run, with what describes it in the results.
#[derive(Clone)]
pub struct Prepared {
    pub job: JobSpec,
    /// One line naming what runs.
    pub title: String,
    /// The run's settings, as experiments.json holds them.
    pub metadata: Value,
    pub hooks: Arc<dyn JobHooks>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("function", &self.job.function)
            .field("title", &self.title)
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// A job submitted as it is.
    pub fn bare(job: JobSpec) -> Self {
        Prepared {
            title: job.function.clone(),
            metadata: serde_json::json!({}),
            job,
            hooks: Arc::new(NoHooks),
        }
    }
}

/// Turns a `benchmark invoke` into a job: prepares inputs, builds and deploys. Steps are told
/// on `status` as they start.
#[async_trait]
pub trait Preparer: Send + Sync {
    async fn prepare(
        &self,
        run: RunId,
        invoke: BenchmarkInvoke,
        status: mpsc::UnboundedSender<String>,
    ) -> anyhow::Result<Prepared>;
}
