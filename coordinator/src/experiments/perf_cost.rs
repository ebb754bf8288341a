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
    let prepared = backend.prepare(&plan.input_size).await?;
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
                    &mut |r| {
                        let kept = classify(kind, discard, &r, &mut outcome);
                        if kept {
                            bar.inc(1);
                            writer.record(&r)
                        } else {
                            let value = writer.log(&r)?;
                            if kind == PerfCostType::Cold
                                && !discard
                                && r.error.is_none()
                                && !r.stats.cold_start
                            {
                                outcome.incorrect.push(value);
                            }
                            Ok(())
                        }
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

/// Whether a result counts as a sample of `kind` (SeBS's rules), counting it in `outcome`.
/// Results of the first, discarded batch never count.
fn classify(kind: PerfCostType, discard: bool, r: &ExecutionResult, outcome: &mut Outcome) -> bool {
    if discard {
        return false;
    }
    if let Some(e) = &r.error {
        outcome
            .failures
            .push(format!("{}: {}", e.kind.as_str(), e.message));
        return false;
    }
    let cold = r.stats.cold_start;
    let kept = match kind {
        PerfCostType::Cold => cold,
        PerfCostType::Warm => !cold,
        PerfCostType::Burst | PerfCostType::Sequential => true,
    };
    if kept {
        outcome.samples += 1;
        outcome.cold += u32::from(cold);
    }
    kept
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
        let keeps =
            |kind, cold| classify(kind, false, &result(cold, false), &mut Outcome::default());
        assert!(keeps(PerfCostType::Cold, true) && !keeps(PerfCostType::Cold, false));
        assert!(keeps(PerfCostType::Warm, false) && !keeps(PerfCostType::Warm, true));
        assert!(keeps(PerfCostType::Burst, true) && keeps(PerfCostType::Burst, false));
        assert!(keeps(PerfCostType::Sequential, false));
        let mut outcome = Outcome::default();
        assert!(!classify(
            PerfCostType::Burst,
            true,
            &result(true, false),
            &mut outcome
        ));
        assert!(!classify(
            PerfCostType::Burst,
            false,
            &result(true, true),
            &mut outcome
        ));
        assert!(classify(
            PerfCostType::Burst,
            false,
            &result(true, false),
            &mut outcome
        ));
        assert_eq!((outcome.samples, outcome.cold), (1, 1));
        assert_eq!(outcome.failures, vec!["timeout: too slow".to_string()]);
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
