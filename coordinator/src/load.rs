//! An open-loop run through the invocation engine in this process, for the experiments'
//! in-process backend (`experiments/in_process.rs`); `benchmark invoke --rate/--ramp` and
//! experiments with `--coordinator` go through the fleet (`fleet/`, `results/load_files.rs`).
//!
//! Writes to the output folder, as results arrive: `records.csv` (one line per invocation),
//! `latency.hlog` (HdrHistogram interval log, one interval a second, tags `latency` and `lag`);
//! at the end: `latency.hgrm`, `benchmark.hgrm`, `lag.hgrm` (HdrHistogram percentile
//! distributions, milliseconds) and `summary.json`. Latency is measured from each request's
//! intended send time, so it includes any time the request waited behind a slow one.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use bytes::Bytes;
use sebs_worker::engine::hgrm::IntervalLog;
use sebs_worker::engine::recorder::Recorder;
use sebs_worker::engine::records::{CsvFile, Record};
use sebs_worker::engine::runner::{run_engine, EngineConfig, EngineSink, Load, Progress};
use sebs_worker::engine::schedule::{Arrival, RateProfile};
use sebs_worker::engine::share::Share;
use sebs_worker::engine::ReplyReader;
use sebs_worker::Trigger;
use serde_json::Value;
use tokio::sync::watch;

pub use crate::results::load_files::IntervalStatus;
use crate::results::load_files::{
    any_succeeded, record_interval, summary, write_percentile_files, LoadFigures,
};
use crate::results::write_atomically;

/// How an open-loop run was asked for.
#[derive(Clone, Debug)]
pub struct OpenLoopPlan {
    pub profile: RateProfile,
    pub arrival: Arrival,
    pub max_count: Option<u64>,
    pub tasks: usize,
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
        record_interval(&mut self.log, p.from_s, p.to_s, p.sent, p.behind(), delta)
            .report(&mut self.status);
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
    write_percentile_files(out_dir, total)?;
    let expected = plan.profile.expected_count();
    let figures = LoadFigures {
        mode: "open-loop",
        arrival: Some(plan.arrival),
        tasks: plan.tasks as u64,
        intended: plan
            .max_count
            .map_or(expected, |cap| expected.min(cap as f64)),
        seconds: plan.profile.duration().as_secs_f64(),
        sent: outcome.sent,
        elapsed_s: outcome.elapsed.as_secs_f64(),
        worst_behind: outcome.worst_behind,
        complete: None,
    };
    let summary = summary(&figures, total, metadata);
    write_atomically(
        &out_dir.join("summary.json"),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    Ok(LoadOutcome {
        summary,
        any_succeeded: any_succeeded(total),
    })
}
