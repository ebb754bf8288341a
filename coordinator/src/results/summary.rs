//! The statistics printed after a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sebs_common::stats::Summary;
use sebs_common::{ErrorKind, ExecutionResult};
use serde::Serialize;

/// Accumulates what the summary needs, one invocation at a time.
#[derive(Debug, Default)]
pub struct RunSummary {
    count: usize,
    failures: BTreeMap<ErrorKind, (usize, String)>,
    cold: Samples,
    warm: Samples,
    containers: std::collections::BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Samples {
    client_ms: Vec<f64>,
    benchmark_ms: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct SummaryReport {
    pub invocations: usize,
    pub failures: usize,
    pub failures_by_kind: BTreeMap<String, usize>,
    pub cold: usize,
    pub warm: usize,
    pub containers: usize,
    /// Milliseconds, successful invocations only.
    pub client_time_ms: Split,
    pub benchmark_time_ms: Split,
}

#[derive(Debug, Serialize)]
pub struct Split {
    pub cold: Option<Summary>,
    pub warm: Option<Summary>,
}

impl RunSummary {
    pub fn add(&mut self, r: &ExecutionResult) {
        self.count += 1;
        if let Some(id) = &r.container_id {
            self.containers.insert(id.clone());
        }
        if let Some(e) = &r.error {
            let entry = self
                .failures
                .entry(e.kind)
                .or_insert((0, e.message.clone()));
            entry.0 += 1;
            return;
        }
        let s = if r.stats.cold_start {
            &mut self.cold
        } else {
            &mut self.warm
        };
        s.client_ms.push(r.times.client as f64 / 1000.0);
        s.benchmark_ms.push(r.times.benchmark as f64 / 1000.0);
    }

    pub fn report(&self) -> SummaryReport {
        SummaryReport {
            invocations: self.count,
            failures: self.failures.values().map(|(n, _)| n).sum(),
            failures_by_kind: self
                .failures
                .iter()
                .map(|(k, (n, _))| (k.as_str().to_string(), *n))
                .collect(),
            cold: self.cold.client_ms.len(),
            warm: self.warm.client_ms.len(),
            containers: self.containers.len(),
            client_time_ms: Split {
                cold: Summary::of(&self.cold.client_ms),
                warm: Summary::of(&self.warm.client_ms),
            },
            benchmark_time_ms: Split {
                cold: Summary::of(&self.cold.benchmark_ms),
                warm: Summary::of(&self.warm.benchmark_ms),
            },
        }
    }

    /// The table printed to the terminal.
    pub fn render(&self, title: &str) -> String {
        let r = self.report();
        let mut out = String::new();
        let _ = writeln!(out, "{title}");
        let _ = writeln!(
            out,
            "  {} invocations: {} succeeded ({} cold, {} warm), {} failed; {} distinct containers",
            r.invocations,
            r.cold + r.warm,
            r.cold,
            r.warm,
            r.failures,
            r.containers
        );
        for (kind, (n, first)) in &self.failures {
            let _ = writeln!(
                out,
                "  failed with {}: {n} (first: {})",
                kind.as_str(),
                first_line(first)
            );
        }
        let _ = writeln!(
            out,
            "  {:<22}{:>6}{:>11}{:>11}{:>11}{:>11}",
            "time (ms)", "n", "mean", "median", "p95", "p99"
        );
        let rows = [
            ("client, cold", &r.client_time_ms.cold),
            ("client, warm", &r.client_time_ms.warm),
            ("benchmark, cold", &r.benchmark_time_ms.cold),
            ("benchmark, warm", &r.benchmark_time_ms.warm),
        ];
        for (name, s) in rows {
            if let Some(s) = s {
                let _ = writeln!(
                    out,
                    "  {:<22}{:>6}{:>11.2}{:>11.2}{:>11.2}{:>11.2}",
                    name, s.count, s.mean, s.median, s.p95, s.p99
                );
            }
        }
        out
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
