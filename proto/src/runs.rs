//! What a client submits and what it hears back while the run goes on.

use std::sync::Arc;

use sebs_common::config::Overrides;
use sebs_common::ExecutionResult;
use sebs_worker::engine::recorder::Recorder;
use sebs_worker::engine::records::Record;
use serde_json::Value;

use crate::ids::{Attempt, Region, RunId, ShardId, WorkerId};
use crate::job::{JobSpec, Load, OpenLoad, Placement};

#[derive(Clone, Debug)]
pub enum Submission {
    /// `sebs benchmark invoke`: the coordinator prepares inputs, builds, deploys, then runs.
    Benchmark(Box<BenchmarkInvoke>),
    /// A job on a function that is already deployed.
    Job(Box<JobSpec>),
}

/// `sebs benchmark invoke`, as the client asked for it.
#[derive(Clone, Debug, Default)]
pub struct BenchmarkInvoke {
    pub benchmark: String,
    /// `test`, `small` or `large`.
    pub size: String,
    /// The configuration file's text, and what to call it in messages (its path).
    pub config: Option<ConfigText>,
    pub overrides: Overrides,
    pub cold: bool,
    pub validate: bool,
    /// An open loop instead of SeBS's closed one.
    pub open: Option<OpenLoad>,
    pub placement: Placement,
    /// Where functions reach the benchmark's client side, if it has one (`--client-host`).
    pub client_host: Option<String>,
    /// A URL serving 120.uploader's files instead of a local server (`--data-url`).
    pub data_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigText {
    pub text: String,
    pub origin: String,
}

/// Where an invocation was fired from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub region: Region,
    pub worker: WorkerId,
    pub shard: ShardId,
    pub attempt: Attempt,
}

/// One accepted invocation: its record (without the raw reply) and, when outputs are kept,
/// its `ExecutionResult`.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub origin: Origin,
    pub record: Record,
    pub result: Option<ExecutionResult>,
}

/// Histograms of one function invoked from one region.
#[derive(Clone, Debug)]
pub struct KeyedRecorder {
    pub function: String,
    pub region: Region,
    pub recorder: Recorder,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlannedShard {
    pub shard: ShardId,
    pub region: Region,
    pub worker: WorkerId,
    pub wave: u32,
    /// Invocations it is meant to send (expected, for open loads).
    pub planned: f64,
}

#[derive(Clone, Debug)]
pub struct RunStarted {
    pub run: RunId,
    pub function: String,
    /// One line naming what runs.
    pub title: String,
    /// The run's settings, as experiments.json holds them.
    pub metadata: Value,
    pub load: Load,
    pub keep_outputs: bool,
    /// Epoch seconds, coordinator clock.
    pub started_at: f64,
    pub shards: Vec<PlannedShard>,
}

#[derive(Clone, Debug)]
pub struct RunInterval {
    pub from_s: f64,
    pub to_s: f64,
    pub sent: u64,
    pub intended: u64,
    pub deltas: Vec<KeyedRecorder>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardState {
    Assigned,
    Reassigned,
    Done,
    Failed,
}

impl ShardState {
    pub fn as_str(self) -> &'static str {
        match self {
            ShardState::Assigned => "assigned",
            ShardState::Reassigned => "reassigned",
            ShardState::Done => "done",
            ShardState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ShardState::Assigned,
            ShardState::Reassigned,
            ShardState::Done,
            ShardState::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ShardChange {
    pub shard: ShardId,
    pub attempt: Attempt,
    pub worker: WorkerId,
    pub region: Region,
    pub state: ShardState,
    pub reason: String,
}

/// What the coordinator measured of a worker's clock.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerClock {
    pub worker: WorkerId,
    pub region: Region,
    /// Coordinator clock minus worker clock, seconds.
    pub offset_s: f64,
    /// Round trip of the sample the offset comes from, seconds.
    pub round_trip_s: f64,
    pub samples: u32,
}

#[derive(Clone, Debug)]
pub struct RunFinished {
    /// Every planned invocation was recorded and nobody stopped the run.
    pub complete: bool,
    /// Why the run stopped early.
    pub error: Option<String>,
    pub totals: Vec<KeyedRecorder>,
    pub sent: u64,
    pub elapsed_s: f64,
    pub worst_behind: f64,
    pub workers: Vec<WorkerClock>,
    pub validation: Option<Value>,
    /// Reports refused because their invocations were already counted.
    pub duplicates: u64,
}

/// What a watcher hears, in order: `Accepted`, any `Status`, `Started`, then records,
/// intervals and shard changes as they happen, and last `Finished` or `Failed`.
#[derive(Clone, Debug)]
pub enum RunEvent {
    Accepted(RunId),
    Status(String),
    Started(Arc<RunStarted>),
    Records(Arc<Vec<RunRecord>>),
    Interval(Arc<RunInterval>),
    Shard(ShardChange),
    Finished(Arc<RunFinished>),
    Failed(String),
}
