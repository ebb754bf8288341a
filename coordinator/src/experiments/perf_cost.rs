//! SeBS's perf-cost experiment (SEBS-CONTRACT §5): for each memory size the function is
//! updated, then for each run type batches of `concurrent-invocations` synchronous invocations
//! are sent until `repetitions` samples are gathered. The first batch of every type is
//! discarded. `cold` forces a cold start before each batch and keeps only cold results, `warm`
//! drops cold ones, `burst` forces cold starts and keeps everything, `sequential` sends one at a
//! time after a warm-up invocation.
//!
//! Files, per type and memory, in SeBS's names: `<type>_results_<memory>.json` (SeBS's
//! experiments.json layout with the kept invocations and a `statistics` entry:
//! `samples_generated`, `failures`, `failures_count`, `incorrect`, `incorrect_count`,
//! `cold_count`) and `<type>_results_<memory>.jsonl` (every invocation as it arrived, the
//! discarded ones included).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use sebs_common::experiments::{PerfCost, PerfCostType};
use sebs_common::ExecutionResult;
use serde_json::{json, Value};

use super::backend::{DeployRequest, ExperimentBackend, FunctionHandle, Prepared};
use crate::progress;
use crate::results::ResultWriter;

/// SeBS's file stem: `cold_results_128`, or `cold_results` when no memory size is set.
pub fn file_stem(kind: PerfCostType, memory: Option<u32>) -> String {
    match memory {
        Some(m) => format!("{}_results_{m}", kind.as_str()),
        None => format!("{}_results", kind.as_str()),
    }
}

pub async fn run(backend: &dyn ExperimentBackend, plan: &PerfCost, out: &Path) -> Result<()> {
    let prepared = backend.prepare(&plan.input_size, None).await?;
    let payload = Bytes::from(serde_json::to_vec(&prepared.event)?);
    // SeBS: without memory sizes, one run at the function's own memory.
    let memories: Vec<Option<u32>> = if plan.memory_sizes.is_empty() {
        vec![None]
    } else {
        plan.memory_sizes.iter().copied().map(Some).collect()
    };
    for memory in memories {
        let function = backend
            .deploy(
                &prepared,
                &DeployRequest {
                    memory_mb: memory,
                    ..Default::default()
                },
            )
            .await?;
        tracing::info!(function = %function.name, memory_mb = function.memory_mb, "function updated");
        for &kind in &plan.types {
            if backend.stop_requested() {
                return Ok(());
            }
            let run = TypeRun {
                backend,
                plan,
                function: &function,
                prepared: &prepared,
                kind,
                memory,
            };
            let outcome = run.go(payload.clone(), out).await?;
            println!(
                "perf-cost {:<10} {:>5} MB: {} samples ({} cold), {} failed, {} not cold when they should be",
                kind.as_str(),
                function.memory_mb,
                outcome.samples,
                outcome.cold,
                outcome.failures.len(),
                outcome.incorrect.len()
            );
        }
    }
    Ok(())
}

/// What one type gathered, SeBS's `statistics` entry.
#[derive(Debug, Default)]
struct Outcome {
    samples: u32,
    cold: u32,
    failures: Vec<String>,
    incorrect: Vec<Value>,
}

struct TypeRun<'a> {
    backend: &'a dyn ExperimentBackend,
    plan: &'a PerfCost,
    function: &'a FunctionHandle,
    prepared: &'a Prepared,
    kind: PerfCostType,
    memory: Option<u32>,
}

impl TypeRun<'_> {
    async fn go(&self, payload: Bytes, out: &Path) -> Result<Outcome> {
        let (plan, kind) = (self.plan, self.kind);
        let stem = file_stem(kind, self.memory);
        let concurrency = if kind == PerfCostType::Sequential {
            1
        } else {
            plan.concurrency
        };
        let metadata = json!({
            "experiment": "perf-cost",
            "type": kind.as_str(),
            "benchmark": self.prepared.benchmark,
            "input_size": self.prepared.size,
            "memory": self.function.memory_mb,
            "repetitions": plan.repetitions,
            "concurrent_invocations": concurrency,
            "deployment": self.backend.deployment().as_str(),
            "region": self.function.region,
            "trigger": self.function.trigger,
            "package_hash": self.prepared.package_hash,
        });
        let mut writer = ResultWriter::named(out, &stem, &stem, &self.function.name, metadata)?;
        let region = self.backend.regions().workers.remove(0);
        let bar = progress::bar(
            u64::from(plan.repetitions),
            format!("perf-cost {} {} MB", kind.as_str(), self.function.memory_mb),
        );
        if kind == PerfCostType::Sequential {
            // Warm-up: the instance exists before the first measured batch.
            self.backend
                .invoke_batch(self.function, payload.clone(), 1, &region, &mut |r| {
                    writer.log(&r).map(|_| ())
                })
                .await?;
        }
        let mut outcome = Outcome::default();
        let pause = Duration::from_secs_f64(plan.batch_pause_s);
        let mut batch = 0;
        while outcome.samples < plan.repetitions
            && batch < plan.max_batches
            && !self.backend.stop_requested()
        {
            if matches!(kind, PerfCostType::Cold | PerfCostType::Burst) {
                self.backend.enforce_cold_start(self.function).await?;
            }
            tokio::time::sleep(pause).await;
            let discard = batch == 0;
            self.backend
                .invoke_batch(
                    self.function,
                    payload.clone(),
                    concurrency,
                    &region,
                    &mut |r| match classify(kind, discard, &r) {
                        Verdict::Sample => {
                            outcome.samples += 1;
                            outcome.cold += u32::from(r.stats.cold_start);
                            bar.inc(1);
                            writer.record(&r)
                        }
                        Verdict::Failed(message) => {
                            outcome.failures.push(message);
                            writer.log(&r).map(drop)
                        }
                        Verdict::NotCold => {
                            outcome.incorrect.push(writer.log(&r)?);
                            Ok(())
                        }
                        Verdict::WarmUp | Verdict::Dropped => writer.log(&r).map(drop),
                    },
                )
                .await?;
            tokio::time::sleep(pause).await;
            batch += 1;
        }
        bar.finish_and_clear();
        if outcome.samples < plan.repetitions && !self.backend.stop_requested() {
            tracing::warn!(
                kind = kind.as_str(),
                samples = outcome.samples,
                batches = batch,
                "stopped after max-batches with fewer samples than repetitions"
            );
        }
        writer.annotate(
            "statistics",
            json!({
                "samples_generated": outcome.samples,
                "failures": outcome.failures,
                "failures_count": outcome.failures.len(),
                "incorrect": outcome.incorrect,
                "incorrect_count": outcome.incorrect.len(),
                "cold_count": outcome.cold,
                "batches": batch,
            }),
        );
        writer.finish(outcome.samples >= plan.repetitions)?;
        Ok(outcome)
    }
}

/// What becomes of one result in a run of some type (SeBS's rules).
#[derive(Debug, PartialEq)]
enum Verdict {
    /// A sample of the type.
    Sample,
    /// The invocation failed (counted in every batch, as SeBS does).
    Failed(String),
    /// Warm although a cold start was forced: SeBS's "incorrect".
    NotCold,
    /// In the first batch, which every type discards.
    WarmUp,
    /// Cold in a warm run: not a sample, not an error.
    Dropped,
}

fn classify(kind: PerfCostType, first_batch: bool, r: &ExecutionResult) -> Verdict {
    if let Some(e) = &r.error {
        return Verdict::Failed(format!("{}: {}", e.kind.as_str(), e.message));
    }
    if first_batch {
        return Verdict::WarmUp;
    }
    match (kind, r.stats.cold_start) {
        (PerfCostType::Cold, false) => Verdict::NotCold,
        (PerfCostType::Warm, true) => Verdict::Dropped,
        _ => Verdict::Sample,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sebs_common::{ErrorKind, InvocationError};

    fn result(cold: bool, failed: bool) -> ExecutionResult {
        let mut r = ExecutionResult::default();
        r.stats.cold_start = cold;
        r.error = failed.then(|| InvocationError {
            kind: ErrorKind::Timeout,
            message: "too slow".into(),
        });
        r
    }

    #[test]
    fn each_type_keeps_what_sebs_keeps() {
        let verdict = |kind, cold| classify(kind, false, &result(cold, false));
        assert_eq!(verdict(PerfCostType::Cold, true), Verdict::Sample);
        assert_eq!(verdict(PerfCostType::Cold, false), Verdict::NotCold);
        assert_eq!(verdict(PerfCostType::Warm, false), Verdict::Sample);
        assert_eq!(verdict(PerfCostType::Warm, true), Verdict::Dropped);
        assert_eq!(verdict(PerfCostType::Burst, true), Verdict::Sample);
        assert_eq!(verdict(PerfCostType::Burst, false), Verdict::Sample);
        assert_eq!(verdict(PerfCostType::Sequential, false), Verdict::Sample);
        assert_eq!(
            classify(PerfCostType::Burst, true, &result(true, false)),
            Verdict::WarmUp
        );
        assert_eq!(
            classify(PerfCostType::Burst, true, &result(true, true)),
            Verdict::Failed("timeout: too slow".into())
        );
    }

    #[test]
    fn file_stems_are_sebs_names() {
        assert_eq!(file_stem(PerfCostType::Cold, Some(128)), "cold_results_128");
        assert_eq!(
            file_stem(PerfCostType::Sequential, None),
            "sequential_results"
        );
    }
}
