//! An open-loop run through the invocation engine in this process, for the experiments' own
//! backend (`experiments/in_process.rs`) until they run as fleet jobs; `benchmark invoke
//! --rate/--ramp` goes through the fleet (`fleet/`, `results/load_files.rs`).
//!
//! Writes to the output folder, as results arrive: `records.csv` (one line per invocation),
//! `latency.hlog` (HdrHistogram interval log, one interval a second, tags `latency` and `lag`);
//! at the end: `latency.hgrm`, `benchmark.hgrm`, `lag.hgrm` (HdrHistogram percentile
//! distributions, milliseconds) and `summary.json`. Latency is measured from each request's
//! intended send time, so it includes any time the request waited behind a slow one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use bytes::Bytes;
use hdrhistogram::Histogram;
use sebs_worker::engine::hgrm::{write_percentiles, IntervalLog};
use sebs_worker::engine::recorder::{Metric, Recorder};
use sebs_worker::engine::records::{CsvFile, Record};
use sebs_worker::engine::runner::{
    run_engine, EngineConfig, EngineOutcome, EngineSink, Load, Progress,
};
use sebs_worker::engine::schedule::{Arrival, RateProfile};
use sebs_worker::engine::share::Share;
use sebs_worker::engine::ReplyReader;
use sebs_worker::Trigger;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::results::write_atomically;

/// How an open-loop run was asked for.
#[derive(Clone, Debug)]
pub struct OpenLoopPlan {
    pub profile: RateProfile,
    pub arrival: Arrival,
    pub max_count: Option<u64>,
    pub tasks: usize,
}

/// Where an open-loop run stands after one interval, for a live status line.
#[derive(Clone, Copy, Debug)]
pub struct IntervalStatus {
    /// Seconds since the run started.
    pub elapsed_s: f64,
    pub sent: u64,
    /// Replies per second in this interval.
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Fraction behind the schedule (0 when on time).
    pub behind: f64,
}

/// Receives an [`IntervalStatus`] once a second instead of the default log line.
pub type StatusFn = Box<dyn FnMut(&IntervalStatus) + Send>;

/// What a finished open-loop run wrote and measured.
#[derive(Debug)]
pub struct LoadOutcome {
    /// The contents of summary.json.
    pub summary: Value,
    /// Whether any invocation succeeded.
    pub any_succeeded: bool,
}

/// Writes records, interval histograms and a live status line.
struct Intervals {
    records: CsvFile,
    log: IntervalLog<BufWriter<File>>,
    status: Option<StatusFn>,
}

#[async_trait]
impl EngineSink for Intervals {
    async fn flush(&mut self, records: &mut Vec<Record>, delta: &mut Recorder) {
        self.records.flush(records, delta).await;
    }

    async fn tick(&mut self, p: &Progress, delta: &Recorder) {
        let length = (p.to_s - p.from_s).max(0.0);
        for (tag, metric) in [("latency", Metric::Client), ("lag", Metric::Lag)] {
            let h = delta.histogram(metric, None, None);
            if let Err(e) = self.log.write_interval(p.from_s, length, &h, Some(tag)) {
                tracing::warn!(error = %e, "cannot write latency.hlog");
            }
        }
        let latency = delta.histogram(Metric::Client, None, None);
        let status = IntervalStatus {
            elapsed_s: p.to_s,
            sent: p.sent,
            rate: latency.len() as f64 / length.max(1e-9),
            p50_ms: latency.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: latency.value_at_quantile(0.99) as f64 / 1000.0,
            behind: p.behind().max(0.0),
        };
        match &mut self.status {
            Some(report) => report(&status),
            None => tracing::info!(
                "{:>6.1} s  sent {:>9}  ({:>7.0}/s this second)  p50 {:>8.2} ms  p99 {:>8.2} ms  behind {:>4.1}%",
                status.elapsed_s,
                status.sent,
                status.rate,
                status.p50_ms,
                status.p99_ms,
                status.behind * 100.0
            ),
        }
    }
}

/// Runs the plan against `trigger` and writes its files, printing nothing; `status` replaces
/// the status line logged once a second.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    plan: &OpenLoopPlan,
    trigger: Arc<dyn Trigger>,
    reader: Arc<dyn ReplyReader>,
    payload: Bytes,
    out_dir: &Path,
    metadata: Value,
    stop: watch::Receiver<bool>,
    status: Option<StatusFn>,
) -> Result<LoadOutcome> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let records = CsvFile::create(&out_dir.join("records.csv")).context("creating records.csv")?;
    let hlog = File::create(out_dir.join("latency.hlog")).context("creating latency.hlog")?;
    let started = sebs_worker::epoch_seconds(std::time::SystemTime::now());
    let mut sink = Intervals {
        records,
        log: IntervalLog::new(BufWriter::new(hlog), started)?,
        status,
    };
    let load = Load::Open {
        profile: plan.profile.clone(),
        arrival: plan.arrival,
        max_count: plan.max_count,
        share: Share::whole(),
    };
    let config = EngineConfig {
        flush_every: Duration::from_secs(1),
        ..EngineConfig::new(load, plan.tasks)
    };
    let outcome = run_engine(config, trigger, reader, payload, &mut sink, stop).await;
    sink.log.flush()?;

    let total = &outcome.total;
    for (file, metric) in [
        ("latency.hgrm", Metric::Client),
        ("benchmark.hgrm", Metric::Benchmark),
        ("lag.hgrm", Metric::Lag),
    ] {
        let h = total.histogram(
            metric,
            None,
            if metric == Metric::Benchmark {
                Some(true)
            } else {
                None
            },
        );
        let mut out = BufWriter::new(
            File::create(out_dir.join(file)).with_context(|| format!("creating {file}"))?,
        );
        write_percentiles(&h, 1000.0, &mut out)?;
        out.flush()?;
    }
    let summary = summarize(plan, &outcome, metadata);
    write_atomically(
        &out_dir.join("summary.json"),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    let failures: u64 = total.failures().map(|(_, n)| n).sum();
    Ok(LoadOutcome {
        summary,
        any_succeeded: total.count() > failures,
    })
}

/// Count, mean and percentiles of a µs histogram in ms (`null` when empty).
pub(crate) fn percentiles_ms(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    let at = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    json!({
        "count": h.len(),
        "mean": h.mean() / 1000.0,
        "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "p99_9": at(0.999),
        "max": h.max() as f64 / 1000.0,
    })
}

fn summarize(plan: &OpenLoopPlan, o: &EngineOutcome, metadata: Value) -> Value {
    let t = &o.total;
    let expected = plan.profile.expected_count();
    let expected = plan
        .max_count
        .map_or(expected, |cap| expected.min(cap as f64));
    let seconds = plan.profile.duration().as_secs_f64();
    let elapsed = o.elapsed.as_secs_f64();
    json!({
        "mode": "open-loop",
        "arrival": match plan.arrival { Arrival::Constant => "constant", Arrival::Poisson { .. } => "poisson" },
        "tasks": plan.tasks,
        "intended_invocations": expected.round() as u64,
        "sent": o.sent,
        "target_rate": expected / seconds,
        "achieved_rate": o.sent as f64 / seconds.max(elapsed.min(seconds)),
        "elapsed_s": elapsed,
        "worst_behind": o.worst_behind,
        "failures": t.failures().map(|(k, n)| (k.as_str().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "cold": t.histogram(Metric::Client, Some(true), None).len(),
        "warm": t.histogram(Metric::Client, Some(false), None).len(),
        "latency_ms": percentiles_ms(&t.histogram(Metric::Client, None, None)),
        "latency_ms_ok": {
            "cold": percentiles_ms(&t.histogram(Metric::Client, Some(true), Some(true))),
            "warm": percentiles_ms(&t.histogram(Metric::Client, Some(false), Some(true))),
        },
        "benchmark_ms": percentiles_ms(&t.histogram(Metric::Benchmark, None, Some(true))),
        "lag_ms": percentiles_ms(&t.histogram(Metric::Lag, None, None)),
        "run": metadata,
    })
}
