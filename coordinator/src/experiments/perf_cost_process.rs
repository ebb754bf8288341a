//! `experiment process perf-cost`: SeBS's `result.csv`, statistics split by memory, type and
//! cold/warm, box plots and CDFs, and the report.
//!
//! `result.csv` has SeBS's columns and units: `memory` (MB; 0 when the run had no memory
//! sizes), `type`, `is_cold` (`True`/`False`), `exec_time` (µs, the wrapper's begin to end),
//! `connection_time` (s, opening the connection; 0 on a kept-alive one), `client_time` (µs),
//! `provider_time` (µs, the platform's execution time), `mem_used` (MB). The provider's numbers
//! are already in the results (the local platform reports them with each reply), so SeBS's
//! step of downloading provider logs into `*-processed.json` files is not needed here.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sebs_common::confidence::Statistics;
use sebs_common::experiments::PerfCostType;
use sebs_common::ExecutionResult;
use sebs_report::{Body, BoxGroup, BoxSummary, Chart, Series};
use serde_json::{json, Value};

use super::csv::{python_bool, CsvWriter};
use super::report::{statistics_table, ReportWriter};
use crate::results::write_atomically;

/// SeBS's columns of `result.csv`.
pub const COLUMNS: [&str; 8] = [
    "memory",
    "type",
    "is_cold",
    "exec_time",
    "connection_time",
    "client_time",
    "provider_time",
    "mem_used",
];

/// One `<type>_results_<memory>.json` file.
struct RunFile {
    kind: PerfCostType,
    memory: u32,
    invocations: Vec<ExecutionResult>,
    statistics: Value,
}

/// `cold_results_128.json` → (cold, 128); `warm_results.json` → (warm, 0).
fn parse_name(name: &str) -> Option<(PerfCostType, u32)> {
    let stem = name.strip_suffix(".json")?;
    let (kind, rest) = stem.split_once("_results")?;
    let kind = PerfCostType::parse(kind)?;
    match rest {
        "" => Some((kind, 0)),
        m => m.strip_prefix('_')?.parse().ok().map(|m| (kind, m)),
    }
}

fn read_runs(dir: &Path) -> Result<Vec<RunFile>> {
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some((kind, memory)) = parse_name(name) else {
            continue;
        };
        let text = std::fs::read_to_string(&path)?;
        let doc: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let mut invocations = Vec::new();
        for function in doc["_invocations"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            for result in function.as_object().into_iter().flat_map(|m| m.values()) {
                invocations.push(serde_json::from_value(result.clone()).with_context(|| {
                    format!(
                        "{}: an invocation is not an ExecutionResult",
                        path.display()
                    )
                })?);
            }
        }
        invocations.sort_by(|a: &ExecutionResult, b| {
            a.times.client_begin.total_cmp(&b.times.client_begin)
        });
        runs.push(RunFile {
            kind,
            memory,
            invocations,
            statistics: doc["statistics"].clone(),
        });
    }
    if runs.is_empty() {
        bail!(
            "{} has no perf-cost results (<type>_results_<memory>.json): run `sebs experiment invoke perf-cost` first",
            dir.display()
        );
    }
    runs.sort_by_key(|r| (r.memory, r.kind));
    Ok(runs)
}

/// Samples in ms of one (memory, type, cold) set.
#[derive(Default)]
struct Samples {
    client: Vec<f64>,
    exec: Vec<f64>,
    provider: Vec<f64>,
}

pub fn process(dir: &Path) -> Result<()> {
    let runs = read_runs(dir)?;
    let mut csv = CsvWriter::create(&dir.join("result.csv"), &COLUMNS)?;
    let mut sets: BTreeMap<(u32, PerfCostType, bool), Samples> = BTreeMap::new();
    for run in &runs {
        for r in &run.invocations {
            csv.row(&[
                run.memory.to_string(),
                run.kind.as_str().to_string(),
                python_bool(r.stats.cold_start).to_string(),
                r.times.benchmark.to_string(),
                r.times.http_startup.to_string(),
                r.times.client.to_string(),
                r.provider_times.execution.to_string(),
                r.stats.memory_used.to_string(),
            ])?;
            let s = sets
                .entry((run.memory, run.kind, r.stats.cold_start))
                .or_default();
            s.client.push(r.times.client as f64 / 1000.0);
            s.exec.push(r.times.benchmark as f64 / 1000.0);
            s.provider.push(r.provider_times.execution as f64 / 1000.0);
        }
    }
    let label = |(memory, kind, cold): &(u32, PerfCostType, bool)| {
        format!(
            "{memory} MB {} {}",
            kind.as_str(),
            if *cold { "cold" } else { "warm" }
        )
    };
    let mut statistics = Vec::new();
    let mut tables = Vec::new();
    for (metric, title, pick) in [
        (
            "client_time_ms",
            "Client time (ms)",
            (|s: &Samples| &s.client) as fn(&Samples) -> &Vec<f64>,
        ),
        (
            "exec_time_ms",
            "Benchmark time, begin to end in the wrapper (ms)",
            |s: &Samples| &s.exec,
        ),
        (
            "provider_time_ms",
            "Provider execution time (ms)",
            |s: &Samples| &s.provider,
        ),
    ] {
        let mut rows = Vec::new();
        for (key, samples) in &sets {
            let stats = Statistics::of(pick(samples));
            statistics.push(json!({
                "memory": key.0, "type": key.1.as_str(), "is_cold": key.2, "metric": metric,
                "statistics": stats,
            }));
            rows.push((label(key), stats));
        }
        tables.push(statistics_table(title, &rows));
    }
    write_atomically(
        &dir.join("statistics.json"),
        &serde_json::to_vec_pretty(&json!({"experiment": "perf-cost", "sets": statistics}))?,
    )?;

    let mut report = ReportWriter::new(dir, "perf-cost");
    report.paragraph(format!(
        "{} runs (type × memory); every sample is a successful invocation the run type keeps. \
         Intervals are half widths in % of the mean (Student's t) or median (Le Boudec, n > 20).",
        runs.len()
    ));
    report.heading("Samples gathered");
    report.table(sebs_report::html::Table {
        caption: "What each run kept and rejected (SeBS's statistics)".into(),
        header: [
            "memory MB",
            "type",
            "samples",
            "cold",
            "failures",
            "not cold when forced",
            "batches",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: runs
            .iter()
            .map(|r| {
                let s = &r.statistics;
                vec![
                    r.memory.to_string(),
                    r.kind.as_str().to_string(),
                    s["samples_generated"].to_string(),
                    s["cold_count"].to_string(),
                    s["failures_count"].to_string(),
                    s["incorrect_count"].to_string(),
                    s["batches"].to_string(),
                ]
            })
            .collect(),
    });
    report.heading("Client time");
    for (cold, stem) in [(true, "client-time-cold"), (false, "client-time-warm")] {
        let groups: Vec<BoxGroup> = sets
            .iter()
            .filter(|(k, _)| k.2 == cold)
            .filter_map(|(k, s)| {
                Some(BoxGroup {
                    label: format!("{} MB {}", k.0, k.1.as_str()),
                    color: PerfCostType::ALL
                        .iter()
                        .position(|t| *t == k.1)
                        .unwrap_or(0),
                    summary: BoxSummary::of(&s.client)?,
                })
            })
            .collect();
        let start = if cold { "cold" } else { "warm" };
        let legend = PerfCostType::ALL
            .iter()
            .enumerate()
            .filter(|(_, t)| groups.iter().any(|g| g.label.ends_with(t.as_str())))
            .map(|(i, t)| (t.as_str().to_string(), i))
            .collect();
        report.figure(
            stem,
            &Chart {
                title: format!("{start} invocations: client time"),
                x_label: "memory and run type".into(),
                y_label: "client time [ms]".into(),
                body: Body::Boxes { groups, legend },
            },
            format!(
                "Client time of {start} invocations: boxes are quartiles, whiskers reach 1.5 IQR."
            ),
        );
    }
    // Cold and warm apart: their times differ by orders of magnitude.
    for (cold, start) in [(true, "cold"), (false, "warm")] {
        let cdfs: Vec<Series> = sets
            .iter()
            .filter(|(k, _)| k.2 == cold)
            .map(|(k, s)| Series::cdf(format!("{} MB {}", k.0, k.1.as_str()), &s.client))
            .collect();
        report.figure(
            &format!("client-time-cdf-{start}"),
            &Chart {
                title: format!("{start} invocations: client time, cumulative"),
                x_label: "client time [ms]".into(),
                y_label: "fraction of invocations".into(),
                body: Body::Lines(cdfs),
            },
            format!(
                "Empirical CDF of the client time of {start} invocations per memory and run type."
            ),
        );
    }
    report.heading("Statistics");
    for table in tables {
        report.table(table);
    }
    let path = report.finish()?;
    println!("perf-cost: {} and result.csv written", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_files_are_named_as_sebs_names_them() {
        assert_eq!(
            parse_name("cold_results_128.json"),
            Some((PerfCostType::Cold, 128))
        );
        assert_eq!(
            parse_name("sequential_results.json"),
            Some((PerfCostType::Sequential, 0))
        );
        assert_eq!(parse_name("cold_results_128.jsonl"), None);
        assert_eq!(parse_name("hot_results_128.json"), None);
        assert_eq!(parse_name("environment.json"), None);
    }
}
