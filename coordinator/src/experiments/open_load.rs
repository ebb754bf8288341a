//! sebs's `load` experiment: one function under an open-loop load (a constant rate, stages,
//! ramps; evenly spaced or Poisson arrivals), through the invocation engine.
//!
//! `invoke` writes what `benchmark invoke --rate` writes (`records.csv`, `latency.hlog`,
//! `latency.hgrm`, `benchmark.hgrm`, `lag.hgrm`, `summary.json`). `process` merges the
//! interval log's histograms for the percentiles, and plots the rate intended and sent, latency
//! and schedule lag over time, cold starts, and the latency CDF.

use std::path::Path;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use sebs_common::experiments::{ArrivalProcess, Load};
use sebs_report::{Body, Chart, Series};
use sebs_worker::engine::schedule::{parse_duration, Arrival, RateProfile};
use serde_json::{json, Value};

use super::backend::{DeployRequest, ExperimentBackend};
use super::hdr;
use super::report::{number, ReportWriter};
use super::timeline::Timeline;
use crate::load::{IntervalStatus, OpenLoopPlan, StatusFn};
use crate::progress;
use crate::results::write_atomically;

/// The engine's plan from a section's schedule fields; errors name `section`'s fields.
pub fn plan_of(load: &Load, section: &str) -> Result<OpenLoopPlan> {
    let duration = load
        .duration
        .as_deref()
        .map(|d| parse_duration(d).with_context(|| format!("{section}.duration")))
        .transpose()?;
    let profile = RateProfile::parse(&load.schedule, duration)
        .with_context(|| format!("{section}.rate / {section}.ramp"))?;
    Ok(OpenLoopPlan {
        profile,
        arrival: arrival(load.arrival, load.seed),
        max_count: load.max_invocations,
        tasks: load.tasks as usize,
    })
}

pub fn arrival(process: ArrivalProcess, seed: u64) -> Arrival {
    match process {
        ArrivalProcess::Constant => Arrival::Constant,
        ArrivalProcess::Poisson => Arrival::Poisson { seed },
    }
}

/// A status line that shows the engine's last interval.
pub fn live_status(prefix: String, expected_s: f64) -> (indicatif::ProgressBar, StatusFn) {
    let line = progress::status(prefix);
    let shown = line.clone();
    let report: StatusFn = Box::new(move |s: &IntervalStatus| {
        shown.set_message(format!(
            "{:>6.1}/{expected_s:.0} s  sent {:>8}  {:>7.1}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  behind {:>4.1}%",
            s.elapsed_s,
            s.sent,
            s.rate,
            s.p50_ms,
            s.p99_ms,
            s.behind * 100.0
        ))
    });
    (line, report)
}

pub async fn run(backend: &dyn ExperimentBackend, load: &Load, out: &Path) -> Result<()> {
    let plan = plan_of(load, "experiments.load")?;
    let prepared = backend.prepare(&load.input_size, None).await?;
    let function = backend
        .deploy(
            &prepared,
            &DeployRequest {
                memory_mb: load.memory,
                ..Default::default()
            },
        )
        .await?;
    let payload = Bytes::from(serde_json::to_vec(&prepared.event)?);
    let metadata = json!({"experiment": "load", "benchmark": prepared.benchmark,
        "function": function.name, "memory": function.memory_mb, "region": function.region,
        "trigger": function.trigger, "schedule": load.schedule});
    let seconds = plan.profile.duration().as_secs_f64();
    let (line, status) = live_status("load".into(), seconds);
    let summary = backend
        .open_loop(&function, &plan, payload, out, metadata, Some(status))
        .await;
    line.finish_and_clear();
    let summary = summary?;
    println!(
        "load: sent {} of {} intended, {:.1}/s of {:.1}/s; latency p50 {} ms, p99 {} ms; files in {}",
        summary["sent"],
        summary["intended_invocations"],
        summary["achieved_rate"].as_f64().unwrap_or(f64::NAN),
        summary["target_rate"].as_f64().unwrap_or(f64::NAN),
        summary["latency_ms"]["p50"],
        summary["latency_ms"]["p99"],
        out.display()
    );
    Ok(())
}

/// The report section both open-loop experiments share: merged percentiles, the CDF, and the
/// timeline's plots.
pub fn open_loop_figures(
    report: &mut ReportWriter,
    hlogs: &[&Path],
    timeline: &Timeline,
) -> Result<Value> {
    let mut latency = hdr::empty();
    let mut lag = hdr::empty();
    for path in hlogs {
        let intervals = hdr::read_log(path)?;
        hdr::merge(&mut latency, &hdr::merged(&intervals, "latency"));
        hdr::merge(&mut lag, &hdr::merged(&intervals, "lag"));
    }
    let stats = json!({
        "latency_ms": hdr::percentiles_ms(&latency),
        "lag_ms": hdr::percentiles_ms(&lag),
    });
    let keys = ["count", "mean", "p50", "p90", "p99", "p99_9", "max"];
    report.table(sebs_report::html::Table {
        caption:
            "Percentiles from the merged HDR histograms (ms; latency from the intended send time)"
                .into(),
        header: std::iter::once("".to_string())
            .chain(keys.iter().map(|k| k.replace('_', ".")))
            .collect(),
        rows: ["latency_ms", "lag_ms"]
            .iter()
            .filter(|m| !stats[**m].is_null())
            .map(|m| {
                std::iter::once(m.trim_end_matches("_ms").to_string())
                    .chain(keys.iter().map(|k| number(&stats[*m][*k])))
                    .collect()
            })
            .collect(),
    });
    report.figure(
        "latency-cdf",
        &Chart {
            title: "latency, cumulative".into(),
            x_label: "latency [ms]".into(),
            y_label: "fraction of requests".into(),
            body: Body::Lines(vec![Series::line("latency", hdr::cdf_ms(&latency))]),
        },
        "CDF of the latency from the merged HDR histogram.",
    );
    for (stem, chart, caption) in timeline.charts("time since the start [s]") {
        report.figure(stem, &chart, caption);
    }
    Ok(stats)
}

pub fn process(dir: &Path) -> Result<()> {
    let summary_path = dir.join("summary.json");
    if !summary_path.is_file() {
        bail!(
            "{} has no summary.json: run `sebs experiment invoke load` first",
            dir.display()
        );
    }
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary_path)?)
        .with_context(|| format!("parsing {}", summary_path.display()))?;
    let elapsed = summary["elapsed_s"].as_f64().unwrap_or(60.0);
    let mut timeline = Timeline::new(elapsed);
    timeline.add(&dir.join("records.csv"))?;
    let mut report = ReportWriter::new(dir, "load");
    report.paragraph(format!(
        "Open loop ({} arrivals, {} tasks): {} of {} intended requests sent; target {:.2}/s, achieved {:.2}/s; \
         worst {:.1}% behind schedule; {} cold, {} warm.",
        summary["arrival"].as_str().unwrap_or("?"),
        summary["tasks"],
        summary["sent"],
        summary["intended_invocations"],
        summary["target_rate"].as_f64().unwrap_or(f64::NAN),
        summary["achieved_rate"].as_f64().unwrap_or(f64::NAN),
        summary["worst_behind"].as_f64().unwrap_or(0.0) * 100.0,
        summary["cold"],
        summary["warm"],
    ));
    let stats = open_loop_figures(&mut report, &[&dir.join("latency.hlog")], &timeline)?;
    write_atomically(
        &dir.join("statistics.json"),
        &serde_json::to_vec_pretty(
            &json!({"experiment": "load", "merged": stats, "bucket_s": timeline.width_s()}),
        )?,
    )?;
    let path = report.finish()?;
    println!("load: {} written", path.display());
    Ok(())
}
