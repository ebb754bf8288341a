//! SeBS's network-ping-pong experiment (SEBS-CONTRACT §5): `invocations` invocations of
//! 020.network-benchmark, `threads` at a time, each exchanging `repetitions` (+1 discarded)
//! UDP datagrams with an echo on the client side.
//!
//! `invoke` writes `server-<request id>.csv` per invocation, downloads the function's
//! `results-<request id>.<8 hex>.csv` files, and keeps every invocation's `ExecutionResult` in
//! `invocations.jsonl` / `experiments.json`. `process` joins the two sides into `result.csv`
//! (`request_id, id, client_send, client_rcv, server_rcv, server_send, rtt`; epoch seconds and
//! seconds), and reports the RTT's mean, std, CV and p50/p75/p95/p99/p99.9 with a histogram.

use std::path::Path;

use anyhow::{bail, Result};
use futures_util::future::join_all;
use sebs_common::confidence::Statistics;
use sebs_common::experiments::NetworkPingPong;
use sebs_common::stats::quantile_sorted;
use sebs_report::{histogram, Body, Chart, Series};
use serde_json::json;

use super::backend::{DeployRequest, ExperimentBackend};
use super::client_side::Reach;
use super::csv::CsvWriter;
use super::report::{fixed, statistics_table, ReportWriter};
use super::udp::{exchange, output_location, prepare_with_echo, read_exchanges, with_repetitions};
use crate::progress;
use crate::results::{write_atomically, ResultWriter};

pub async fn run(
    backend: &dyn ExperimentBackend,
    plan: &NetworkPingPong,
    out: &Path,
) -> Result<()> {
    let reach = Reach::new(
        plan.client_address.as_deref(),
        "experiments.network-ping-pong.client-address",
    )?;
    let (echo, prepared) = prepare_with_echo(backend, reach).await?;
    let (bucket, prefix) = output_location(backend, &prepared.event)?;
    let function = backend.deploy(&prepared, &DeployRequest::default()).await?;
    let region = backend.regions().workers.remove(0);
    let event = with_repetitions(&prepared.event, plan.repetitions);
    let metadata = json!({"experiment": "network-ping-pong", "benchmark": prepared.benchmark,
        "invocations": plan.invocations, "repetitions": plan.repetitions, "threads": plan.threads});
    let mut writer = ResultWriter::create(out, &function.name, metadata)?;
    let bar = progress::bar(u64::from(plan.invocations), "network-ping-pong");
    let mut done = 0;
    while done < plan.invocations && !backend.stop_requested() {
        let round = plan.threads.min(plan.invocations - done);
        let results =
            join_all((0..round).map(|_| exchange(backend, &echo, &function, &event, &region, out)))
                .await;
        for result in results {
            let result = result?;
            if let Some(e) = &result.error {
                tracing::warn!(request = %result.request_id, kind = e.kind.as_str(), "invocation failed: {}", e.message);
            }
            writer.record(&result)?;
        }
        done += round;
        bar.inc(u64::from(round));
    }
    bar.finish_and_clear();
    writer.finish(done == plan.invocations)?;
    let files = backend.fetch_outputs(&bucket, &prefix, out).await?;
    println!(
        "network-ping-pong: {done} invocations, {} result files from the function in {}",
        files.len(),
        out.display()
    );
    Ok(())
}

pub fn process(dir: &Path) -> Result<()> {
    let exchanges = read_exchanges(dir)?;
    if exchanges.is_empty() {
        bail!("{} has no joined ping-pong timestamps (results-*.csv with server-*.csv): run `sebs experiment invoke network-ping-pong` first", dir.display());
    }
    let mut csv = CsvWriter::create(
        &dir.join("result.csv"),
        &[
            "request_id",
            "id",
            "client_send",
            "client_rcv",
            "server_rcv",
            "server_send",
            "rtt",
        ],
    )?;
    let mut rtt_ms = Vec::new();
    for (id, rows) in &exchanges {
        for (i, t) in rows.iter().enumerate() {
            csv.row(&[
                id.clone(),
                (i + 1).to_string(),
                format!("{:.6}", t.client_send),
                format!("{:.6}", t.client_rcv),
                format!("{:.6}", t.server_rcv),
                format!("{:.6}", t.server_send),
                format!("{:.9}", t.rtt()),
            ])?;
            rtt_ms.push(t.rtt() * 1000.0);
        }
    }
    let stats = Statistics::of(&rtt_ms);
    let mut sorted = rtt_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let quantiles: Vec<(&str, f64)> = [
        ("p50", 0.5),
        ("p75", 0.75),
        ("p95", 0.95),
        ("p99", 0.99),
        ("p99_9", 0.999),
    ]
    .into_iter()
    .map(|(name, q)| (name, quantile_sorted(&sorted, q)))
    .collect();
    let quantile_json: serde_json::Map<String, serde_json::Value> = quantiles
        .iter()
        .map(|(n, v)| (n.to_string(), json!(v)))
        .collect();
    write_atomically(
        &dir.join("statistics.json"),
        &serde_json::to_vec_pretty(&json!({
            "experiment": "network-ping-pong",
            "invocations": exchanges.len(),
            "rtt_ms": stats,
            "rtt_ms_quantiles": quantile_json,
        }))?,
    )?;

    let mut report = ReportWriter::new(dir, "network-ping-pong");
    report.paragraph(format!(
        "{} round trips of {} invocations. RTT = (server_rcv − client_send) + (client_rcv − server_send): \
         the round trip minus the time the client held the datagram; clock offsets cancel.",
        rtt_ms.len(),
        exchanges.len()
    ));
    report.table(statistics_table(
        "Round-trip time (ms)",
        &[("rtt".into(), stats)],
    ));
    report.table(sebs_report::html::Table {
        caption: "Percentiles of the round-trip time (ms)".into(),
        header: quantiles.iter().map(|(n, _)| n.replace('_', ".")).collect(),
        rows: vec![quantiles.iter().map(|(_, v)| fixed(*v)).collect()],
    });
    report.figure(
        "rtt-histogram",
        &Chart {
            title: "round-trip time".into(),
            x_label: "RTT [ms]".into(),
            y_label: "datagrams".into(),
            body: Body::Histogram(histogram(&rtt_ms, 50)),
        },
        "Histogram of the round-trip times (SeBS plots histogram.png with 2000 bins).",
    );
    report.figure(
        "rtt-cdf",
        &Chart {
            title: "round-trip time, cumulative".into(),
            x_label: "RTT [ms]".into(),
            y_label: "fraction of datagrams".into(),
            body: Body::Lines(vec![Series::cdf("rtt", &rtt_ms)]),
        },
        "Empirical CDF of the round-trip times.",
    );
    let path = report.finish()?;
    println!(
        "network-ping-pong: {} and result.csv written",
        path.display()
    );
    Ok(())
}
