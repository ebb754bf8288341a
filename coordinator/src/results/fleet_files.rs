//! What every run writes about the fleet that ran it, whatever else it keeps:
//!
//! - `latency-matrix.json`: client latency per region (rows) and function (columns), from the
//!   merged HDR histograms, split cold/warm (successful invocations) with failures counted;
//! - `fleet.json`: the run id, the workers with their clock offsets, and each shard's plan and
//!   history (which attempt ran where, and why it moved).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use sebs_proto::runs::{RunFinished, RunStarted, ShardChange};
use sebs_worker::engine::recorder::Metric;
use serde_json::{json, Map, Value};

use super::load_files::percentiles_ms;
use super::write_atomically;

/// Collects shard changes as they come; writes both files at the end.
#[derive(Debug, Default)]
pub struct FleetFiles {
    changes: Vec<ShardChange>,
}

impl FleetFiles {
    pub fn shard(&mut self, change: &ShardChange) {
        self.changes.push(change.clone());
    }

    /// Writes the files; returns the matrix as a table when more than one region took part.
    pub fn finish(
        &self,
        dir: &Path,
        started: &RunStarted,
        finished: &RunFinished,
    ) -> Result<Option<String>> {
        let matrix = matrix(finished);
        write_atomically(
            &dir.join("latency-matrix.json"),
            &serde_json::to_vec_pretty(&matrix)?,
        )?;
        write_atomically(
            &dir.join("fleet.json"),
            &serde_json::to_vec_pretty(&self.fleet(started, finished))?,
        )?;
        Ok((finished.totals.len() > 1).then(|| render(&matrix)))
    }

    fn fleet(&self, started: &RunStarted, finished: &RunFinished) -> Value {
        let shards: Vec<Value> = started
            .shards
            .iter()
            .map(|p| {
                let history: Vec<Value> = self
                    .changes
                    .iter()
                    .filter(|c| c.shard == p.shard)
                    .map(|c| {
                        json!({
                            "attempt": c.attempt.0,
                            "worker": c.worker.to_string(),
                            "region": c.region.to_string(),
                            "state": c.state.as_str(),
                            "reason": c.reason,
                        })
                    })
                    .collect();
                json!({
                    "shard": p.shard.0,
                    "region": p.region.to_string(),
                    "planned_worker": p.worker.to_string(),
                    "wave": p.wave,
                    "planned_invocations": p.planned,
                    "history": history,
                })
            })
            .collect();
        let workers: Vec<Value> = finished
            .workers
            .iter()
            .map(|w| {
                json!({
                    "worker": w.worker.to_string(),
                    "region": w.region.to_string(),
                    "clock_offset_s": w.offset_s,
                    "round_trip_s": w.round_trip_s,
                    "clock_samples": w.samples,
                })
            })
            .collect();
        json!({
            "run": started.run.to_string(),
            "started_at": started.started_at,
            "elapsed_s": finished.elapsed_s,
            "complete": finished.complete,
            "invocations": finished.sent,
            "duplicate_reports": finished.duplicates,
            "workers": workers,
            "shards": shards,
        })
    }
}

fn matrix(finished: &RunFinished) -> Value {
    let mut regions: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut functions: Vec<String> = Vec::new();
    for k in &finished.totals {
        let r = &k.recorder;
        let failed: u64 = r.failures().map(|(_, n)| n).sum();
        let cell = json!({
            "invocations": r.count(),
            "failures": failed,
            "cold": percentiles_ms(&r.histogram(Metric::Client, Some(true), Some(true))),
            "warm": percentiles_ms(&r.histogram(Metric::Client, Some(false), Some(true))),
        });
        regions
            .entry(k.region.to_string())
            .or_default()
            .insert(k.function.clone(), cell);
        if !functions.contains(&k.function) {
            functions.push(k.function.clone());
        }
    }
    json!({
        "metric": "client latency: from the intended send time (closed loops: the send) to the whole reply",
        "unit": "ms",
        "regions": regions.keys().collect::<Vec<_>>(),
        "functions": functions,
        "matrix": regions,
    })
}

/// The matrix as a table: one row per region and function.
fn render(matrix: &Value) -> String {
    let mut out = format!(
        "  {:<16}{:>8}{:>8}{:>12}{:>12}{:>12}\n",
        "region", "calls", "failed", "warm p50", "warm p99", "cold p50"
    );
    let ms = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.2}"));
    if let Some(regions) = matrix["matrix"].as_object() {
        for (region, functions) in regions {
            for cell in functions.as_object().into_iter().flat_map(|f| f.values()) {
                let _ = writeln!(
                    out,
                    "  {:<16}{:>8}{:>8}{:>12}{:>12}{:>12}",
                    region,
                    cell["invocations"],
                    cell["failures"],
                    ms(&cell["warm"]["p50"]),
                    ms(&cell["warm"]["p99"]),
                    ms(&cell["cold"]["p50"]),
                );
            }
        }
    }
    out
}
