//! Result files, written as results arrive so that an interrupted run keeps what it measured.
//!
//! - `invocations.jsonl`: one `ExecutionResult` per line, appended and flushed per invocation;
//! - `experiments.json`: SeBS's layout (`_invocations` → function → request id → result),
//!   rewritten atomically every few seconds and at the end;
//! - `summary.json`: the statistics printed at the end.
//!
//! [`follow`] writes these (or, for runs that keep records only, [`load_files`]'s) from a run's
//! events, with [`fleet_files`]' latency matrix and fleet record beside them.

pub mod fleet_files;
pub mod follow;
pub mod load_files;
pub mod summary;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use sebs_common::ExecutionResult;
use serde_json::{json, Map, Value};

const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct ResultWriter {
    dir: PathBuf,
    /// The file name of the SeBS-layout document (`experiments.json`).
    document: String,
    function: String,
    metadata: Value,
    lines: BufWriter<File>,
    invocations: Map<String, Value>,
    begin_time: f64,
    last_checkpoint: Instant,
}

impl ResultWriter {
    /// Creates the output folder; `metadata` (benchmark, size, config) goes into experiments.json.
    pub fn create(dir: &Path, function: &str, metadata: Value) -> Result<Self> {
        Self::named(dir, "invocations", "experiments", function, metadata)
    }

    /// As `create`, with the files named `<lines>.jsonl` and `<document>.json` (experiments
    /// write several runs into one folder, e.g. perf-cost's `cold_results_128`).
    pub fn named(
        dir: &Path,
        lines: &str,
        document: &str,
        function: &str,
        metadata: Value,
    ) -> Result<Self> {
        fs::create_dir_all(dir)
            .with_context(|| format!("creating output folder {}", dir.display()))?;
        let path = dir.join(format!("{lines}.jsonl"));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let writer = ResultWriter {
            dir: dir.to_path_buf(),
            document: format!("{document}.json"),
            function: function.to_string(),
            metadata,
            lines: BufWriter::new(file),
            invocations: Map::new(),
            begin_time: sebs_worker::epoch_seconds(SystemTime::now()),
            last_checkpoint: Instant::now(),
        };
        writer.write_experiments(false)?;
        Ok(writer)
    }

    pub fn record(&mut self, result: &ExecutionResult) -> Result<()> {
        let value = self.log(result)?;
        self.invocations.insert(result.request_id.clone(), value);
        if self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            self.write_experiments(false)?;
            self.last_checkpoint = Instant::now();
        }
        Ok(())
    }

    /// Appends the result to the `.jsonl` file only: measured, but not part of the document
    /// (e.g. a warm-up invocation an experiment discards).
    pub fn log(&mut self, result: &ExecutionResult) -> Result<Value> {
        let value = serde_json::to_value(result)?;
        serde_json::to_writer(&mut self.lines, &value)?;
        self.lines.write_all(b"\n")?;
        self.lines.flush()?;
        Ok(value)
    }

    /// Adds a top-level entry to experiments.json (e.g. the validation verdicts).
    pub fn annotate(&mut self, key: &str, value: Value) {
        if let Some(meta) = self.metadata.as_object_mut() {
            meta.insert(key.to_string(), value);
        }
    }

    /// Writes the final experiments.json; `complete` is false when the run was cut short.
    pub fn finish(&mut self, complete: bool) -> Result<PathBuf> {
        self.lines.flush()?;
        self.write_experiments(complete)
    }

    fn write_experiments(&self, complete: bool) -> Result<PathBuf> {
        let mut doc = json!({
            "_invocations": { self.function.clone(): self.invocations },
            "_metrics": {},
            "begin_time": self.begin_time,
            "end_time": sebs_worker::epoch_seconds(SystemTime::now()),
            "result_bucket": null,
            "complete": complete,
        });
        if let (Some(doc), Some(meta)) = (doc.as_object_mut(), self.metadata.as_object()) {
            doc.extend(meta.clone());
        }
        let path = self.dir.join(&self.document);
        write_atomically(&path, &serde_json::to_vec_pretty(&doc)?)?;
        Ok(path)
    }
}

/// Writes beside the target and renames, so readers never see a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("json.partial");
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
