//! The metrics a coordinator and a worker export, by name. Both count from histogram deltas,
//! once per report: a worker what it sends, a coordinator what it merged.

use std::sync::Arc;

use sebs_worker::engine::recorder::{Metric, Recorder};

use super::metrics::{Family, HistogramFamily};

/// Upper bounds of the schedule-lag histograms, in seconds: 1 ms to 10 s.
const LAG_BOUNDS_S: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Invocations, failures and schedule lag, as one side counts them.
#[derive(Debug)]
pub struct InvocationMetrics {
    /// By region, outcome (`ok`, `failed`) and start (`cold`, `warm`).
    pub invocations: Family,
    /// By region and kind (`ErrorKind`'s snake_case names).
    pub failures: Family,
    /// By region: how late each open-loop send left after its intended time.
    pub schedule_lag: HistogramFamily,
}

impl InvocationMetrics {
    fn new(invocations: &'static str, failures: &'static str, schedule_lag: &'static str) -> Self {
        InvocationMetrics {
            invocations: Family::counter(
                invocations,
                "Invocations, by the region they were sent from, outcome (ok, failed) and start (cold, warm).",
                &["region", "outcome", "start"],
            ),
            failures: Family::counter(
                failures,
                "Failed invocations by region and kind (connect, timeout, function_error, crashed, memory_limit, invalid_reply, http_status, platform).",
                &["region", "kind"],
            ),
            schedule_lag: HistogramFamily::new(
                schedule_lag,
                "How far open-loop sends fell behind their intended time, in seconds (closed loops have no schedule and add nothing).",
                &["region"],
                LAG_BOUNDS_S,
            ),
        }
    }

    /// Counts one report's histogram delta: what it holds per cell, its failures by kind and its
    /// lag histogram folded into the buckets. Cost: one pass over the delta's recorded values.
    pub fn count(&self, region: &str, delta: &Recorder) {
        for (cell, h) in delta.cells() {
            match cell.metric {
                Metric::Client => {
                    let outcome = if cell.ok { "ok" } else { "failed" };
                    let start = if cell.cold { "cold" } else { "warm" };
                    self.invocations
                        .add(&[region, outcome, start], h.len() as f64);
                }
                Metric::Lag => self.schedule_lag.observe_many(
                    &[region],
                    h.iter_recorded()
                        .map(|v| (v.value_iterated_to() as f64 / 1e6, v.count_at_value())),
                ),
                Metric::Benchmark | Metric::Connect => {}
            }
        }
        for (kind, n) in delta.failures() {
            self.failures.add(&[region, kind.as_str()], n as f64);
        }
    }

    fn render(&self, out: &mut String) {
        self.invocations.render(out);
        self.failures.render(out);
        self.schedule_lag.render(out);
    }
}

/// What `sebs coordinator` exports (`sebs_coordinator_*`).
#[derive(Debug)]
pub struct CoordinatorMetrics {
    /// Counted from the reports it merged (accepted ones only).
    pub merged: InvocationMetrics,
    /// Worker reports by result: `merged`, `duplicate` (held invocations already counted),
    /// `stale` (from an attempt that was replaced).
    pub reports: Family,
    /// Attached workers by region.
    pub workers: Family,
    /// Runs going on, by state (`preparing`, `running`).
    pub runs: Family,
    /// Runs that ended, by outcome (`complete`, `incomplete`, `failed`).
    pub runs_ended: Family,
    /// Shards running on a worker now, over all runs.
    pub active_shards: Family,
    /// Shards handed to another worker.
    pub reassignments: Family,
}

impl Default for CoordinatorMetrics {
    fn default() -> Self {
        CoordinatorMetrics {
            merged: InvocationMetrics::new(
                "sebs_coordinator_invocations_total",
                "sebs_coordinator_failures_total",
                "sebs_coordinator_schedule_lag_seconds",
            ),
            reports: Family::counter(
                "sebs_coordinator_reports_total",
                "Worker reports by result: merged, duplicate (refused: held invocations already counted), stale (refused: from a replaced attempt).",
                &["result"],
            ),
            workers: Family::gauge(
                "sebs_coordinator_workers",
                "Workers attached now, by region.",
                &["region"],
            ),
            runs: Family::gauge(
                "sebs_coordinator_runs",
                "Runs going on, by state (preparing, running).",
                &["state"],
            ),
            runs_ended: Family::counter(
                "sebs_coordinator_runs_ended_total",
                "Runs that ended, by outcome (complete, incomplete, failed).",
                &["outcome"],
            ),
            active_shards: Family::gauge(
                "sebs_coordinator_active_shards",
                "Shards running on a worker now, over all runs (updated once per tick).",
                &[],
            ),
            reassignments: Family::counter(
                "sebs_coordinator_reassignments_total",
                "Shards handed to another worker (one left, or the shard failed or came back short).",
                &[],
            ),
        }
    }
}

impl CoordinatorMetrics {
    pub fn render(&self, out: &mut String) {
        build_info(out, "coordinator");
        self.merged.render(out);
        for family in [
            &self.reports,
            &self.workers,
            &self.runs,
            &self.runs_ended,
            &self.active_shards,
            &self.reassignments,
        ] {
            family.render(out);
        }
    }
}

/// What `sebs worker` exports (`sebs_worker_*`).
#[derive(Debug)]
pub struct WorkerMetrics {
    /// Counted from the reports it sent.
    pub sent: InvocationMetrics,
    pub reports: Family,
    pub active_shards: Family,
    /// 1 while attached to a coordinator.
    pub attached: Family,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        WorkerMetrics {
            sent: InvocationMetrics::new(
                "sebs_worker_invocations_total",
                "sebs_worker_failures_total",
                "sebs_worker_schedule_lag_seconds",
            ),
            reports: Family::counter(
                "sebs_worker_reports_total",
                "Reports (records with their histogram delta) sent to the coordinator.",
                &[],
            ),
            active_shards: Family::gauge(
                "sebs_worker_active_shards",
                "Shard attempts running on this worker now.",
                &[],
            ),
            attached: Family::gauge(
                "sebs_worker_attached",
                "1 while attached to a coordinator, else 0.",
                &[],
            ),
        }
    }
}

impl WorkerMetrics {
    pub fn render(&self, out: &mut String) {
        build_info(out, "worker");
        self.sent.render(out);
        self.reports.render(out);
        self.active_shards.render(out);
        self.attached.render(out);
    }

    pub fn is_attached(&self) -> bool {
        self.attached.get(&[]) > 0.0
    }
}

/// `sebs_build_info{version, role} 1`.
fn build_info(out: &mut String, role: &str) {
    let info = Family::gauge(
        "sebs_build_info",
        "The sebs version and role of this process; always 1.",
        &["version", "role"],
    );
    info.set(&[env!("CARGO_PKG_VERSION"), role], 1.0);
    info.render(out);
}

/// One run as the coordinator's metrics see it: counted under `preparing`, then `running`, its
/// running shards in the active-shards gauge, and when dropped, whichever way the run ended, out
/// of both and into `runs_ended_total` (as `failed` unless told otherwise).
#[derive(Debug)]
pub struct RunTracker {
    metrics: Arc<CoordinatorMetrics>,
    state: &'static str,
    active_shards: f64,
    outcome: &'static str,
}

impl RunTracker {
    pub fn preparing(metrics: Arc<CoordinatorMetrics>) -> Self {
        metrics.runs.add(&["preparing"], 1.0);
        RunTracker {
            metrics,
            state: "preparing",
            active_shards: 0.0,
            outcome: "failed",
        }
    }

    pub fn running(&mut self) {
        self.metrics.runs.add(&[self.state], -1.0);
        self.state = "running";
        self.metrics.runs.add(&[self.state], 1.0);
    }

    /// How many of the run's shards run on a worker now.
    pub fn active_shards(&mut self, n: usize) {
        let n = n as f64;
        self.metrics.active_shards.add(&[], n - self.active_shards);
        self.active_shards = n;
    }

    /// The run finished, complete or not.
    pub fn finished(&mut self, complete: bool) {
        self.outcome = if complete { "complete" } else { "incomplete" };
    }
}

impl Drop for RunTracker {
    fn drop(&mut self) {
        self.active_shards(0);
        self.metrics.runs.add(&[self.state], -1.0);
        self.metrics.runs_ended.inc(&[self.outcome]);
    }
}
