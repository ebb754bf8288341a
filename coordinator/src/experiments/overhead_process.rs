//! `experiment process invocation-overhead`: each invocation's clock drift from its datagram
//! exchanges, the invocation time corrected by it, statistics per size and start, and plots.
//!
//! Writes `result-processed.csv` beside each `result.csv` with SeBS's columns `payload_size,
//! repetition, is_cold, connection_time, start_timestamp, finish_timestamp, request_id,
//! clock_drift_mean, clock_drift_std, invocation_time` (seconds). The drift is the function's
//! clock minus this host's, so the invocation time is `finish − drift − start −
//! connection_time`. SeBS adds the drift instead of subtracting it (a **defect**: its result
//! is off by twice the clocks' offset; on one machine, where the offset is ~0, both agree).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use sebs_common::confidence::Statistics;
use sebs_common::stats::quantile_sorted;
use sebs_report::{Body, Chart, Marks, Series};
use serde_json::json;

use super::csv::{for_each_row, CsvWriter};
use super::overhead::COLUMNS;
use super::report::{statistics_table, ReportWriter};
use super::udp::read_exchanges;
use crate::results::write_atomically;

/// SeBS's columns of `result-processed.csv`.
pub const PROCESSED_COLUMNS: [&str; 10] = [
    "payload_size",
    "repetition",
    "is_cold",
    "connection_time",
    "start_timestamp",
    "finish_timestamp",
    "request_id",
    "clock_drift_mean",
    "clock_drift_std",
    "invocation_time",
];

/// Mean and sample standard deviation (pandas' `std`); NaN for what cannot be computed.
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (mean, std)
}

/// The invocation time corrected to the client's clock, seconds.
pub fn invocation_time(start: f64, finish: f64, connection: f64, drift: f64) -> f64 {
    finish - drift - start - connection
}

pub fn process(dir: &Path) -> Result<()> {
    let kinds: Vec<&str> = ["payload", "code"]
        .into_iter()
        .filter(|k| dir.join(k).join("result.csv").is_file())
        .collect();
    if kinds.is_empty() {
        bail!("{} has no payload/result.csv or code/result.csv: run `sebs experiment invoke invocation-overhead` first", dir.display());
    }
    let mut report = ReportWriter::new(dir, "invocation-overhead");
    report.paragraph(
        "Invocation time: from the client sending the request (minus connection set-up) to the \
         function's wrapper receiving it, with the function's timestamp moved to the client's \
         clock by the drift that 030's datagram exchanges measured.",
    );
    let mut all_stats = Vec::new();
    for kind in kinds {
        let kind_dir = dir.join(kind);
        let exchanges = read_exchanges(&kind_dir)?;
        let mut out =
            CsvWriter::create(&kind_dir.join("result-processed.csv"), &PROCESSED_COLUMNS)?;
        // (size, cold) -> invocation times in ms
        let mut sets: BTreeMap<(u64, bool), Vec<f64>> = BTreeMap::new();
        let mut no_drift = 0;
        for_each_row(&kind_dir.join("result.csv"), &COLUMNS, |row| {
            let drifts: Vec<f64> = exchanges
                .get(row.text(6))
                .map(|rows| rows.iter().map(|t| t.clock_drift()).collect())
                .unwrap_or_default();
            if drifts.is_empty() {
                no_drift += 1;
            }
            let (drift, drift_std) = mean_std(&drifts);
            let (start, finish, connection) = (row.number(4)?, row.number(5)?, row.number(3)?);
            let time = invocation_time(start, finish, connection, drift);
            let mut fields: Vec<String> = (0..COLUMNS.len())
                .map(|i| row.text(i).to_string())
                .collect();
            fields.extend([drift.to_string(), drift_std.to_string(), time.to_string()]);
            out.row(&fields)?;
            if time.is_finite() {
                sets.entry((row.number(0)? as u64, row.flag(2)?))
                    .or_default()
                    .push(time * 1000.0);
            }
            Ok(())
        })?;
        if no_drift > 0 {
            tracing::warn!(
                kind,
                no_drift,
                "invocations without datagram timestamps have no drift and no corrected time"
            );
        }
        let rows: Vec<(String, Option<Statistics>)> = sets
            .iter()
            .map(|((size, cold), v)| {
                (
                    format!("{size} B {}", if *cold { "cold" } else { "warm" }),
                    Statistics::of(v),
                )
            })
            .collect();
        for ((size, cold), v) in &sets {
            all_stats.push(json!({"type": kind, "size": size, "is_cold": cold, "invocation_time_ms": Statistics::of(v)}));
        }
        report.heading(format!("{kind} size"));
        let series = [(false, "warm"), (true, "cold")]
            .into_iter()
            .flat_map(|(cold, name)| {
                let samples: Vec<(f64, f64)> = sets
                    .iter()
                    .filter(|((_, c), _)| *c == cold)
                    .flat_map(|((size, _), v)| v.iter().map(move |t| (*size as f64 / 1e6, *t)))
                    .collect();
                let medians: Vec<(f64, f64)> = sets
                    .iter()
                    .filter(|((_, c), _)| *c == cold)
                    .map(|((size, _), v)| {
                        let mut s = v.clone();
                        s.sort_by(f64::total_cmp);
                        (*size as f64 / 1e6, quantile_sorted(&s, 0.5))
                    })
                    .collect();
                [
                    Series::points(format!("{name} invocations"), samples),
                    Series {
                        name: format!("{name} median"),
                        points: medians,
                        marks: Marks::Line,
                    },
                ]
            });
        report.figure(
            &format!("invocation-time-{kind}"),
            &Chart {
                title: format!("invocation time by {kind} size"),
                x_label: format!("{kind} size [MB]"),
                y_label: "invocation time [ms]".into(),
                body: Body::Lines(series.collect()),
            },
            format!(
                "Invocation time corrected by the clock drift, per {kind} size, warm and cold."
            ),
        );
        report.table(statistics_table(
            &format!("Invocation time (ms) by {kind} size"),
            &rows,
        ));
    }
    write_atomically(
        &dir.join("statistics.json"),
        &serde_json::to_vec_pretty(
            &json!({"experiment": "invocation-overhead", "sets": all_stats}),
        )?,
    )?;
    let path = report.finish()?;
    println!(
        "invocation-overhead: {} and result-processed.csv written",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drift_is_subtracted() {
        // Sent at 100.000 (client clock); the function's clock is 5 s ahead and stamped the
        // arrival 105.030; connecting took 10 ms: 20 ms of invocation time.
        let t = invocation_time(100.0, 105.030, 0.010, 5.0);
        assert!((t - 0.020).abs() < 1e-9, "{t}");
    }

    #[test]
    fn mean_and_sample_std_like_pandas() {
        // pandas: Series([1.0, 2.0, 4.0]).std() = 1.5275252316519468
        let (m, s) = mean_std(&[1.0, 2.0, 4.0]);
        assert!((m - 7.0 / 3.0).abs() < 1e-12);
        assert!((s - 1.5275252316519468).abs() < 1e-12);
        assert!(mean_std(&[]).0.is_nan());
    }
}
