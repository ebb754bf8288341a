//! The result files of a run that keeps records rather than whole replies (open loops): written
//! as the run's events arrive.
//!
//! - `records.csv`: one line per invocation, appended per batch: the engine's columns
//!   (`sebs_worker::engine::records::HEADER`) and where it was fired from
//!   (`region,worker,shard,attempt,sequence`);
//! - `latency.hlog`: HdrHistogram interval log, one interval per coordinator tick, tags
//!   `latency` and `lag`;
//! - at the end `latency.hgrm`, `benchmark.hgrm`, `lag.hgrm` (percentile distributions, ms) and
//!   `summary.json`. Latency is measured from each request's intended send time.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use sebs_proto::job::Load;
use sebs_proto::runs::{RunFinished, RunInterval, RunRecord, RunStarted};
use sebs_worker::engine::hgrm::{write_percentiles, IntervalLog};
use sebs_worker::engine::recorder::{Metric, Recorder};
use sebs_worker::engine::records::{write_csv_fields, HEADER};
use sebs_worker::engine::schedule::Arrival;
use serde_json::{json, Value};

use super::write_atomically;
use crate::load::StatusFn;

/// Columns after the engine's in `records.csv`.
pub const ORIGIN_COLUMNS: &str = "region,worker,shard,attempt,sequence";

pub struct LoadFiles {
    dir: PathBuf,
    records: BufWriter<File>,
    hlog: IntervalLog<BufWriter<File>>,
    /// Told each interval instead of the status line (an experiment's progress display).
    status: Option<StatusFn>,
}

impl std::fmt::Debug for LoadFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadFiles")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl LoadFiles {
    pub fn create(dir: &Path, started_at: f64) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut records =
            BufWriter::new(File::create(dir.join("records.csv")).context("creating records.csv")?);
        writeln!(records, "{},{ORIGIN_COLUMNS}", HEADER.trim_end())?;
        records.flush()?;
        let hlog = File::create(dir.join("latency.hlog")).context("creating latency.hlog")?;
        Ok(LoadFiles {
            dir: dir.to_path_buf(),
            records,
            hlog: IntervalLog::new(BufWriter::new(hlog), started_at)?,
            status: None,
        })
    }

    /// Hands each interval's status to `status` instead of logging a line.
    pub fn with_status(mut self, status: Option<StatusFn>) -> Self {
        self.status = status;
        self
    }

    /// Appends a batch of records and flushes it.
    pub fn records(&mut self, batch: &[RunRecord]) -> Result<()> {
        for r in batch {
            write_csv_fields(&mut self.records, &r.record)?;
            let o = &r.origin;
            writeln!(
                self.records,
                ",{},{},{},{},{}",
                o.region, o.worker, o.shard, o.attempt, r.record.sequence
            )?;
        }
        self.records.flush().context("writing records.csv")
    }

    /// Writes the interval's histograms (all functions and regions together) and a status line.
    pub fn interval(&mut self, i: &RunInterval) {
        let mut delta = Recorder::new();
        for k in &i.deltas {
            delta.merge(&k.recorder);
        }
        let behind = if i.intended > 0 {
            1.0 - i.sent as f64 / i.intended as f64
        } else {
            0.0
        };
        record_interval(&mut self.hlog, i.from_s, i.to_s, i.sent, behind, &delta)
            .report(&mut self.status);
    }

    /// The percentile files and `summary.json`; prints the summary. Returns whether any
    /// invocation succeeded.
    pub fn finish(mut self, started: &RunStarted, finished: &RunFinished) -> Result<bool> {
        self.hlog.flush()?;
        self.records.flush()?;
        let mut total = Recorder::new();
        for k in &finished.totals {
            total.merge(&k.recorder);
        }
        write_percentile_files(&self.dir, &total)?;
        let summary = summarize(started, finished, &total);
        write_atomically(
            &self.dir.join("summary.json"),
            &serde_json::to_vec_pretty(&summary)?,
        )?;
        print!("{}", render(&summary));
        println!("  results: {}", self.dir.display());
        Ok(any_succeeded(&total))
    }
}

/// Where a load stands after one interval, for a live status line.
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

impl IntervalStatus {
    /// Hands the status to `to`, or logs the status line when there is none.
    pub fn report(&self, to: &mut Option<StatusFn>) {
        match to {
            Some(report) => report(self),
            None => tracing::info!(
                "{:>6.1} s  sent {:>9}  ({:>7.0}/s this second)  p50 {:>8.2} ms  p99 {:>8.2} ms  behind {:>4.1}%",
                self.elapsed_s,
                self.sent,
                self.rate,
                self.p50_ms,
                self.p99_ms,
                self.behind * 100.0
            ),
        }
    }
}

/// Writes the `latency` and `lag` histograms of the interval `from_s..to_s` (seconds since the
/// start) to the interval log; returns where the run stands, `behind` its fraction behind.
pub(crate) fn record_interval<W: Write>(
    log: &mut IntervalLog<W>,
    from_s: f64,
    to_s: f64,
    sent: u64,
    behind: f64,
    delta: &Recorder,
) -> IntervalStatus {
    let length = (to_s - from_s).max(0.0);
    for (tag, metric) in [("latency", Metric::Client), ("lag", Metric::Lag)] {
        let h = delta.histogram(metric, None, None);
        if let Err(e) = log.write_interval(from_s, length, &h, Some(tag)) {
            tracing::warn!(error = %e, "cannot write latency.hlog");
        }
    }
    let latency = delta.histogram(Metric::Client, None, None);
    IntervalStatus {
        elapsed_s: to_s,
        sent,
        rate: latency.len() as f64 / length.max(1e-9),
        p50_ms: latency.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: latency.value_at_quantile(0.99) as f64 / 1000.0,
        behind: behind.max(0.0),
    }
}

/// `latency.hgrm`, `benchmark.hgrm` (successful invocations) and `lag.hgrm` of `total` in `dir`.
pub(crate) fn write_percentile_files(dir: &Path, total: &Recorder) -> Result<()> {
    for (file, metric) in [
        ("latency.hgrm", Metric::Client),
        ("benchmark.hgrm", Metric::Benchmark),
        ("lag.hgrm", Metric::Lag),
    ] {
        let ok = (metric == Metric::Benchmark).then_some(true);
        let h = total.histogram(metric, None, ok);
        let mut out = BufWriter::new(
            File::create(dir.join(file)).with_context(|| format!("creating {file}"))?,
        );
        write_percentiles(&h, 1000.0, &mut out)?;
        out.flush()?;
    }
    Ok(())
}

/// Whether any invocation of the load succeeded.
pub(crate) fn any_succeeded(total: &Recorder) -> bool {
    let failures: u64 = total.failures().map(|(_, n)| n).sum();
    total.count() > failures
}

/// Count, mean and percentiles of a µs histogram in ms (`null` when empty).
pub fn percentiles_ms(h: &Histogram<u64>) -> Value {
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

fn summarize(started: &RunStarted, finished: &RunFinished, t: &Recorder) -> Value {
    let elapsed_s = finished.elapsed_s;
    let (mode, arrival, tasks, intended, seconds) = match &started.load {
        Load::Open(o) => (
            "open-loop",
            Some(o.arrival),
            o.tasks,
            o.intended(),
            o.profile.duration().as_secs_f64(),
        ),
        Load::Closed(c) => (
            "closed-loop",
            None,
            c.concurrency,
            c.invocations as f64,
            elapsed_s,
        ),
    };
    let figures = LoadFigures {
        mode,
        arrival,
        tasks: tasks.into(),
        intended,
        seconds,
        sent: finished.sent,
        elapsed_s,
        worst_behind: finished.worst_behind,
        complete: Some(finished.complete),
    };
    summary(&figures, t, started.metadata.clone())
}

/// What `summary.json` reports of a load besides its histograms, however the load ran.
pub(crate) struct LoadFigures {
    pub mode: &'static str,
    /// The open loop's arrival process (`null` for a closed loop).
    pub arrival: Option<Arrival>,
    pub tasks: u64,
    /// Invocations the plan asked for.
    pub intended: f64,
    /// Seconds the schedule spans (a closed loop's: the time it took).
    pub seconds: f64,
    pub sent: u64,
    pub elapsed_s: f64,
    /// The largest fraction behind schedule seen at any interval.
    pub worst_behind: f64,
    /// Whether every planned invocation was recorded and nobody stopped the run, where known.
    pub complete: Option<bool>,
}

/// The contents of `summary.json`: the figures, failures by kind, cold and warm counts and the
/// percentiles (ms) of latency (all, and successful by cold/warm), benchmark time and lag;
/// `run` is the run's metadata.
pub(crate) fn summary(f: &LoadFigures, t: &Recorder, run: Value) -> Value {
    let arrival = match f.arrival {
        Some(Arrival::Constant) => json!("constant"),
        Some(Arrival::Poisson { .. }) => json!("poisson"),
        None => Value::Null,
    };
    let mut summary = json!({
        "mode": f.mode,
        "arrival": arrival,
        "tasks": f.tasks,
        "intended_invocations": f.intended.round() as u64,
        "sent": f.sent,
        "target_rate": f.intended / f.seconds.max(1e-9),
        "achieved_rate": f.sent as f64 / f.seconds.max(f.elapsed_s.min(f.seconds)).max(1e-9),
        "elapsed_s": f.elapsed_s,
        "worst_behind": f.worst_behind,
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
        "run": run,
    });
    if let Some(complete) = f.complete {
        summary["complete"] = json!(complete);
    }
    summary
}

fn render(s: &Value) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let mut out = format!(
        "{} ({}, {} tasks): sent {} of {} intended; target {:.1}/s, achieved {:.1}/s; {} cold, {} warm\n",
        s["mode"].as_str().unwrap_or("").replace('-', " "),
        s["arrival"].as_str().unwrap_or("closed"),
        s["tasks"],
        s["sent"],
        s["intended_invocations"],
        f(&s["target_rate"]),
        f(&s["achieved_rate"]),
        s["cold"],
        s["warm"],
    );
    if let Some(failures) = s["failures"].as_object().filter(|m| !m.is_empty()) {
        for (kind, n) in failures {
            out.push_str(&format!("  failed with {kind}: {n}\n"));
        }
    }
    out.push_str(&format!(
        "  {:<20}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
        "(ms)", "p50", "p90", "p99", "p99.9", "max"
    ));
    for (name, key) in [
        ("latency", "latency_ms"),
        ("benchmark", "benchmark_ms"),
        ("schedule lag", "lag_ms"),
    ] {
        let h = &s[key];
        if h.is_null() {
            continue;
        }
        out.push_str(&format!(
            "  {:<20}{:>10.2}{:>10.2}{:>10.2}{:>10.2}{:>10.2}\n",
            name,
            f(&h["p50"]),
            f(&h["p90"]),
            f(&h["p99"]),
            f(&h["p99_9"]),
            f(&h["max"])
        ));
    }
    out
}
