//! sebs's `region-matrix` experiment: the benchmark deployed in every deployment region and
//! invoked from every worker region, so that one matrix shows what distance costs. Each cell
//! sends one discarded warm-up batch, then batches of `concurrency` until `repetitions`
//! invocations are measured.
//!
//! In one process there is one region (`local`, or the platform's), so the matrix is 1 × 1.
//! Through a fleet (`--coordinator`) the rows are the regions of its workers: each cell's
//! batches are jobs placed on that region, spread over its workers, against the deployment the
//! coordinator made.
//!
//! `invoke` writes `results.jsonl` (`{worker_region, deployment_region, warm_up, result}` per
//! invocation, as they arrive; through a fleet each result's `origin` names the worker) and
//! `matrix.json` (per cell: counts, the workers that sent, percentiles in ms, and the
//! client-time HDR histogram, V2 compressed in base64, µs), rewritten after every cell.
//! `process` draws the median and p99 heatmaps from the histograms and writes `matrix.csv`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use sebs_common::experiments::RegionMatrix;
use sebs_report::{Body, Chart, Heatmap, Series};
use serde_json::{json, Value};

use super::backend::{DeployRequest, ExperimentBackend, Region};
use super::csv::CsvWriter;
use super::hdr;
use super::report::{number, ReportWriter};
use crate::progress;
use crate::results::write_atomically;

/// The regions asked for, checked against those the backend has.
fn chosen(asked: &Option<Vec<String>>, available: Vec<Region>, field: &str) -> Result<Vec<Region>> {
    match asked {
        None => Ok(available),
        Some(list) => {
            for r in list {
                if !available.contains(r) {
                    bail!("{field}: region `{r}` is not available here (available: {}); with --coordinator the worker regions are those of the fleet's workers, or --regions", available.join(", "));
                }
            }
            Ok(list.clone())
        }
    }
}

pub async fn run(backend: &dyn ExperimentBackend, plan: &RegionMatrix, out: &Path) -> Result<()> {
    let regions = backend.regions();
    let workers = chosen(
        &plan.worker_regions,
        regions.workers,
        "experiments.region-matrix.worker-regions",
    )?;
    let deployments = chosen(
        &plan.deployment_regions,
        regions.deployments,
        "experiments.region-matrix.deployment-regions",
    )?;
    let prepared = backend.prepare(&plan.input_size, None).await?;
    let payload = Bytes::from(serde_json::to_vec(&prepared.event)?);
    let lines_path = out.join("results.jsonl");
    let mut lines = BufWriter::new(
        File::create(&lines_path).with_context(|| format!("creating {}", lines_path.display()))?,
    );
    let bar = progress::bar(
        (workers.len() * deployments.len()) as u64 * u64::from(plan.repetitions),
        "region-matrix",
    );
    let mut cells = Vec::new();
    for deployment in &deployments {
        let suffix = if deployments.len() > 1 {
            format!("-{deployment}")
        } else {
            String::new()
        };
        let request = DeployRequest {
            suffix,
            memory_mb: plan.memory,
            region: Some(deployment.clone()),
            ..Default::default()
        };
        let function = backend.deploy(&prepared, &request).await?;
        for worker in &workers {
            let mut histogram = hdr::empty();
            let (mut measured, mut failures) = (0u32, 0u32);
            let mut senders = std::collections::BTreeSet::new();
            let mut warm_up = true;
            // Bounded even if every invocation fails: the warm-up and three tries per batch.
            let batches = 1 + 3 * plan.repetitions.div_ceil(plan.concurrency);
            for _ in 0..batches {
                if measured >= plan.repetitions || backend.stop_requested() {
                    break;
                }
                backend
                    .invoke_batch(&function, payload.clone(), plan.concurrency, worker, &mut |r| {
                        let line = json!({"worker_region": worker, "deployment_region": deployment, "warm_up": warm_up, "result": r});
                        serde_json::to_writer(&mut lines, &line)?;
                        lines.write_all(b"\n")?;
                        lines.flush()?;
                        if let Some(origin) = &r.origin {
                            senders.insert(origin.worker.clone());
                        }
                        if warm_up {
                            return Ok(());
                        }
                        if r.error.is_some() {
                            failures += 1;
                        } else {
                            hdr::record(&mut histogram, r.times.client);
                            measured += 1;
                            bar.inc(1);
                        }
                        Ok(())
                    })
                    .await?;
                warm_up = false;
            }
            cells.push(json!({
                "worker_region": worker, "deployment_region": deployment, "function": function.name,
                "measured": measured, "failures": failures, "workers": senders,
                "client_time_ms": hdr::percentiles_ms(&histogram),
                "client_time_histogram": hdr::encode(&histogram)?,
            }));
            write_atomically(
                &out.join("matrix.json"),
                &serde_json::to_vec_pretty(
                    &json!({"workers": workers, "deployments": deployments, "cells": cells}),
                )?,
            )?;
        }
    }
    bar.finish_and_clear();
    println!(
        "region-matrix: {} worker × {} deployment regions measured; files in {}",
        workers.len(),
        deployments.len(),
        out.display()
    );
    Ok(())
}

/// `matrix.csv`: one row per cell, client time of the measured invocations in ms (empty when
/// none succeeded).
const MATRIX_COLUMNS: [&str; 9] = [
    "worker_region",
    "deployment_region",
    "count",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p99_9_ms",
    "max_ms",
];

pub fn process(dir: &Path) -> Result<()> {
    let path = dir.join("matrix.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {}: run `sebs experiment invoke region-matrix` first",
            path.display()
        )
    })?)
    .with_context(|| format!("parsing {}", path.display()))?;
    let names = |key: &str| -> Vec<String> {
        doc[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let (workers, deployments) = (names("workers"), names("deployments"));
    let mut histograms = Vec::new();
    for cell in doc["cells"].as_array().into_iter().flatten() {
        let text = cell["client_time_histogram"].as_str().unwrap_or("");
        let h =
            hdr::decode(text).with_context(|| format!("{}: a cell's histogram", path.display()))?;
        histograms.push((
            cell["worker_region"].as_str().unwrap_or("").to_string(),
            cell["deployment_region"].as_str().unwrap_or("").to_string(),
            h,
        ));
    }
    let value = |w: &str, d: &str, q: f64| {
        histograms
            .iter()
            .find(|(cw, cd, h)| cw == w && cd == d && !h.is_empty())
            .map(|(_, _, h)| h.value_at_quantile(q) as f64 / 1000.0)
    };
    let matrix = |q: f64| {
        workers
            .iter()
            .map(|w| deployments.iter().map(|d| value(w, d, q)).collect())
            .collect()
    };
    let mut report = ReportWriter::new(dir, "region-matrix");
    report.paragraph(format!(
        "Client time of warm invocations from {} worker region(s) to {} deployment region(s); percentiles from each cell's HDR histogram.",
        workers.len(),
        deployments.len()
    ));
    for (q, stem, name) in [(0.5, "heatmap-p50", "median"), (0.99, "heatmap-p99", "p99")] {
        report.figure(
            stem,
            &Chart {
                title: format!("{name} client time"),
                x_label: "deployment region".into(),
                y_label: "worker region".into(),
                body: Body::Heatmap(Heatmap {
                    rows: workers.clone(),
                    columns: deployments.clone(),
                    values: matrix(q),
                    unit: "ms".into(),
                }),
            },
            format!(
                "The {name} client time per worker region (rows) and deployment region (columns)."
            ),
        );
    }
    report.figure(
        "client-time-cdf",
        &Chart {
            title: "client time, cumulative".into(),
            x_label: "client time [ms]".into(),
            y_label: "fraction of invocations".into(),
            body: Body::Lines(
                histograms
                    .iter()
                    .map(|(w, d, h)| Series::line(format!("{w} → {d}"), hdr::cdf_ms(h)))
                    .collect(),
            ),
        },
        "CDF of the client time per cell.",
    );
    let keys = ["count", "mean", "p50", "p90", "p99", "max"];
    report.table(sebs_report::html::Table {
        caption: "Client time per cell (ms)".into(),
        header: ["worker", "deployment"]
            .iter()
            .map(|s| s.to_string())
            .chain(keys.iter().map(|k| k.to_string()))
            .collect(),
        rows: histograms
            .iter()
            .map(|(w, d, h)| {
                let p = hdr::percentiles_ms(h);
                [w.clone(), d.clone()]
                    .into_iter()
                    .chain(keys.iter().map(|k| number(&p[*k])))
                    .collect()
            })
            .collect(),
    });
    let mut csv = CsvWriter::create(&dir.join("matrix.csv"), &MATRIX_COLUMNS)?;
    for (w, d, h) in &histograms {
        let p = hdr::percentiles_ms(h);
        let ms = |k: &str| p[k].as_f64().map_or_else(String::new, |x| x.to_string());
        csv.row(&[
            w.clone(),
            d.clone(),
            h.len().to_string(),
            ms("mean"),
            ms("p50"),
            ms("p90"),
            ms("p99"),
            ms("p99_9"),
            ms("max"),
        ])?;
    }
    write_atomically(
        &dir.join("statistics.json"),
        &serde_json::to_vec_pretty(&json!({
            "experiment": "region-matrix",
            "cells": histograms.iter().map(|(w, d, h)| json!({"worker_region": w, "deployment_region": d, "client_time_ms": hdr::percentiles_ms(h)})).collect::<Vec<_>>(),
        }))?,
    )?;
    let path = report.finish()?;
    println!("region-matrix: {} written", path.display());
    Ok(())
}
