//! sebs's `trace-replay` experiment: the busiest functions of a window of an Azure Functions
//! 2019 trace, each deployed as its own copy of the benchmark (`<function>-trace-<k>`) and
//! driven at its per-minute counts, sped up by `time-scale`, all at once.
//!
//! `invoke` writes `schedule.csv` (`function, hash_function, trigger, minute, invocations`: the
//! replayed counts) and, per trace function, the engine's files in
//! `functions/<k>-<hash>/`. `process` merges every function's histograms and records into one
//! report: percentiles, the rate intended and sent over time, cold starts, lag, and a table per
//! function.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures_util::future::join_all;
use sebs_common::experiments::TraceReplay;
use sebs_report::{Body, Chart, Series};
use serde_json::{json, Value};

use super::backend::{DeployRequest, ExperimentBackend};
use super::csv::{for_each_row, CsvWriter};
use super::open_load::{arrival, open_loop_figures};
use super::report::{fixed, ReportWriter};
use super::timeline::Timeline;
use super::trace;
use crate::load::{OpenLoopPlan, StatusFn};
use crate::progress;
use crate::results::write_atomically;

pub async fn run(
    backend: &dyn ExperimentBackend,
    plan: &TraceReplay,
    root: &Path,
    out: &Path,
) -> Result<()> {
    let path = if plan.trace.is_relative() {
        root.join(&plan.trace)
    } else {
        plan.trace.clone()
    };
    let functions = trace::read(&path).context("experiments.trace-replay.trace")?;
    let chosen = trace::select(
        &functions,
        plan.start_minute,
        plan.minutes,
        plan.functions,
        plan.triggers.as_deref(),
    );
    if chosen.is_empty() {
        bail!(
            "{}: no function{} has invocations in minutes {}..={}",
            path.display(),
            plan.triggers.as_ref().map_or(String::new(), |t| format!(
                " with trigger {}",
                t.join(" or ")
            )),
            plan.start_minute,
            plan.start_minute + plan.minutes - 1
        );
    }
    let mut schedule = CsvWriter::create(
        &out.join("schedule.csv"),
        &[
            "function",
            "hash_function",
            "trigger",
            "minute",
            "invocations",
        ],
    )?;
    for (k, f) in chosen.iter().enumerate() {
        for (m, count) in
            f.1.window(plan.start_minute, plan.minutes)
                .iter()
                .enumerate()
        {
            schedule.row(&[
                k.to_string(),
                f.1.function.clone(),
                f.1.trigger.clone(),
                (plan.start_minute as usize + m).to_string(),
                count.to_string(),
            ])?;
        }
    }
    let prepared = backend.prepare(&plan.input_size, None).await?;
    let payload = Bytes::from(serde_json::to_vec(&prepared.event)?);
    let mut runs = Vec::new();
    for (k, (index, f)) in chosen.iter().enumerate() {
        let request = DeployRequest {
            suffix: format!("-trace-{k}"),
            memory_mb: plan.memory,
            ..Default::default()
        };
        let function = backend.deploy(&prepared, &request).await?;
        let load = OpenLoopPlan {
            profile: trace::profile(f.window(plan.start_minute, plan.minutes), plan.time_scale)?,
            arrival: arrival(plan.arrival, plan.seed.wrapping_add(k as u64)),
            max_count: None,
            tasks: plan.tasks as usize,
        };
        let dir = out
            .join("functions")
            .join(format!("{k:02}-{}", short(&f.function)));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let metadata = json!({"experiment": "trace-replay", "trace": path.display().to_string(),
            "trace_row": index + 2, "hash_owner": f.owner, "hash_app": f.app, "hash_function": f.function,
            "trigger": f.trigger, "function": function.name, "time_scale": plan.time_scale});
        runs.push((function, load, dir, metadata));
    }
    let seconds = f64::from(plan.minutes) * 60.0 / plan.time_scale;
    let line = progress::status("trace-replay");
    let sent: Arc<Vec<AtomicU64>> = Arc::new(runs.iter().map(|_| AtomicU64::new(0)).collect());
    let replays = runs
        .iter()
        .enumerate()
        .map(|(k, (function, load, dir, metadata))| {
            let (sent, shown) = (sent.clone(), line.clone());
            let status: StatusFn = Box::new(move |s| {
                sent[k].store(s.sent, Ordering::Relaxed);
                let total: u64 = sent.iter().map(|n| n.load(Ordering::Relaxed)).sum();
                shown.set_message(format!(
                    "{:>6.1}/{seconds:.0} s  {} functions  sent {total}",
                    s.elapsed_s,
                    sent.len()
                ));
            });
            backend.open_loop(
                function,
                load,
                payload.clone(),
                dir,
                metadata.clone(),
                Some(status),
            )
        });
    let summaries = join_all(replays).await;
    line.finish_and_clear();
    let mut total = 0;
    for summary in summaries {
        total += summary?["sent"].as_u64().unwrap_or(0);
    }
    println!(
        "trace-replay: {} functions of {}, minutes {}..={} at {}x: {total} invocations sent; files in {}",
        runs.len(),
        path.display(),
        plan.start_minute,
        plan.start_minute + plan.minutes - 1,
        plan.time_scale,
        out.display()
    );
    Ok(())
}

/// The first 8 characters of a trace hash, for folder names.
fn short(hash: &str) -> String {
    hash.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect()
}

fn function_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let root = dir.join("functions");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .with_context(|| {
            format!(
                "reading {}: run `sebs experiment invoke trace-replay` first",
                root.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("summary.json").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!(
            "{} holds no replayed function (a folder with summary.json)",
            root.display()
        );
    }
    Ok(dirs)
}

pub fn process(dir: &Path) -> Result<()> {
    let dirs = function_dirs(dir)?;
    let summaries: Vec<Value> = dirs
        .iter()
        .map(|d| {
            let path = d.join("summary.json");
            serde_json::from_str(&std::fs::read_to_string(&path)?)
                .with_context(|| format!("parsing {}", path.display()))
        })
        .collect::<Result<_>>()?;
    let elapsed = summaries
        .iter()
        .filter_map(|s| s["elapsed_s"].as_f64())
        .fold(1.0, f64::max);
    let mut timeline = Timeline::new(elapsed);
    for d in &dirs {
        timeline.add(&d.join("records.csv"))?;
    }
    let mut report = ReportWriter::new(dir, "trace-replay");
    let time_scale = summaries[0]["run"]["time_scale"]
        .as_f64()
        .unwrap_or(f64::NAN);
    report.paragraph(format!(
        "{} functions of {} replayed at {time_scale}x (a trace minute every {:.2} s), each as its own function.",
        dirs.len(),
        summaries[0]["run"]["trace"].as_str().unwrap_or("the trace"),
        60.0 / time_scale
    ));
    let mut per_minute: std::collections::BTreeMap<u32, u64> = Default::default();
    for_each_row(
        &dir.join("schedule.csv"),
        &["minute", "invocations"],
        |row| {
            *per_minute.entry(row.number(0)? as u32).or_default() += row.number(1)? as u64;
            Ok(())
        },
    )?;
    report.figure(
        "trace",
        &Chart {
            title: "the replayed trace".into(),
            x_label: "minute of the day".into(),
            y_label: "invocations per minute".into(),
            body: Body::Lines(vec![Series::line(
                "all replayed functions",
                per_minute
                    .iter()
                    .map(|(m, n)| (f64::from(*m), *n as f64))
                    .collect(),
            )]),
        },
        "Invocations per trace minute, summed over the replayed functions.",
    );
    let hlogs: Vec<PathBuf> = dirs.iter().map(|d| d.join("latency.hlog")).collect();
    let hlog_refs: Vec<&Path> = hlogs.iter().map(PathBuf::as_path).collect();
    let merged = open_loop_figures(&mut report, &hlog_refs, &timeline)?;
    let field = |s: &Value, path: &[&str]| {
        path.iter()
            .fold(s, |v, k| &v[*k])
            .as_f64()
            .map_or("-".into(), fixed)
    };
    report.table(sebs_report::html::Table {
        caption: "Per function (latency in ms)".into(),
        header: [
            "function", "trigger", "intended", "sent", "cold", "failures", "p50", "p99",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: summaries
            .iter()
            .map(|s| {
                let failures: u64 = s["failures"]
                    .as_object()
                    .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
                vec![
                    short(s["run"]["hash_function"].as_str().unwrap_or("?")),
                    s["run"]["trigger"].as_str().unwrap_or("?").to_string(),
                    s["intended_invocations"].to_string(),
                    s["sent"].to_string(),
                    s["cold"].to_string(),
                    failures.to_string(),
                    field(s, &["latency_ms", "p50"]),
                    field(s, &["latency_ms", "p99"]),
                ]
            })
            .collect(),
    });
    write_atomically(
        &dir.join("statistics.json"),
        &serde_json::to_vec_pretty(
            &json!({"experiment": "trace-replay", "functions": dirs.len(), "merged": merged, "bucket_s": timeline.width_s()}),
        )?,
    )?;
    let path = report.finish()?;
    println!("trace-replay: {} written", path.display());
    Ok(())
}
