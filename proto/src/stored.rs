//! Runs, shards and accepted results as a coordinator keeps them in a durable store (etcd), so
//! that a coordinator that restarts can resume its runs: the values under the store's keys and
//! their encoding (`sebs/state/v1/state.proto`).
//!
//! A run's **batches** are its results: each holds the records the coordinator accepted from
//! one report, as they went out to watchers, and the histogram delta of exactly those
//! invocations. A batch is stored before its records go out, so whatever a watcher saw is in
//! the store, and a run resumed from its batches counts each invocation once.

use std::sync::Arc;

use prost::Message;
use sebs_worker::engine::seqset::SeqSet;

use crate::convert::job::{
    job_from_pb, job_to_pb, seqset_from_pb, seqset_to_pb, work_from_pb, work_to_pb,
};
use crate::convert::runs::{
    event_from_pb, event_to_pb, keyed_from_pb, keyed_to_pb, submission_from_pb, submission_to_pb,
    worker,
};
use crate::convert::{parse, required, ConvertError};
use crate::generated::sebs::runs::v1 as runs_pb;
use crate::generated::sebs::state::v1 as pb;
use crate::ids::{Attempt, Region, RunId, ShardId, WorkerId};
use crate::job::{JobSpec, ShardWork};
use crate::runs::{KeyedRecorder, RunEvent, RunRecord, ShardChange, Submission};

/// A stored value that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stored {what}: {message}")]
pub struct DecodeError {
    pub what: &'static str,
    pub message: String,
}

impl DecodeError {
    fn new(what: &'static str, e: impl std::fmt::Display) -> Self {
        DecodeError {
            what,
            message: e.to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Preparing,
    Running,
    Finished { complete: bool },
    Failed(String),
}

impl RunStatus {
    /// A run a coordinator that restarts takes up again.
    pub fn is_unfinished(&self) -> bool {
        matches!(self, RunStatus::Preparing | RunStatus::Running)
    }
}

#[derive(Clone, Debug)]
pub struct RunState {
    pub run: RunId,
    pub status: RunStatus,
    /// What was submitted: a resumed benchmark is prepared again from it.
    pub submission: Option<Submission>,
    /// The job, once the run has one (a benchmark has it after deployment).
    pub job: Option<JobSpec>,
    /// Epoch seconds, coordinator clock.
    pub started_at: f64,
    /// Epoch seconds (coordinator clock) when an open loop's schedule starts.
    pub open_start: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardStatus {
    /// Planned, not handed out yet (a later wave, or no worker available).
    Waiting,
    Running,
    Complete,
    Failed,
}

impl ShardStatus {
    fn as_str(self) -> &'static str {
        match self {
            ShardStatus::Waiting => "waiting",
            ShardStatus::Running => "running",
            ShardStatus::Complete => "complete",
            ShardStatus::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ShardState {
    pub shard: ShardId,
    /// The region it was planned for.
    pub region: Region,
    pub planned_worker: WorkerId,
    pub wave: u32,
    pub work: ShardWork,
    pub attempt: Attempt,
    pub worker: Option<WorkerId>,
    pub done: SeqSet,
    pub status: ShardStatus,
    /// Every attempt's changes, as `fleet.json` lists them.
    pub history: Vec<ShardChange>,
}

/// The results the coordinator accepted from one report.
#[derive(Clone, Debug)]
pub struct StoredBatch {
    pub shard: ShardId,
    pub attempt: Attempt,
    /// Seconds since the run started, when it was accepted.
    pub at_s: f64,
    pub records: Arc<Vec<RunRecord>>,
    /// The histograms of exactly these invocations.
    pub delta: KeyedRecorder,
}

impl RunState {
    pub fn encode(&self) -> Vec<u8> {
        let (status, complete, error) = match &self.status {
            RunStatus::Preparing => ("preparing", false, String::new()),
            RunStatus::Running => ("running", false, String::new()),
            RunStatus::Finished { complete } => ("finished", *complete, String::new()),
            RunStatus::Failed(why) => ("failed", false, why.clone()),
        };
        pb::StoredRun {
            run_id: self.run.0,
            status: status.to_string(),
            complete,
            error,
            submission: self.submission.as_ref().map(submission_to_pb),
            job: self.job.as_ref().map(job_to_pb),
            started_at: self.started_at,
            open_start: self.open_start,
        }
        .encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let what = "run";
        let r = pb::StoredRun::decode(bytes).map_err(|e| DecodeError::new(what, e))?;
        let status = match r.status.as_str() {
            "preparing" => RunStatus::Preparing,
            "running" => RunStatus::Running,
            "finished" => RunStatus::Finished {
                complete: r.complete,
            },
            "failed" => RunStatus::Failed(r.error),
            other => return Err(DecodeError::new(what, format!("status `{other}`"))),
        };
        let convert = |e: ConvertError| DecodeError::new(what, e);
        Ok(RunState {
            run: RunId(r.run_id),
            status,
            submission: r
                .submission
                .map(submission_from_pb)
                .transpose()
                .map_err(convert)?,
            job: r.job.map(job_from_pb).transpose().map_err(convert)?,
            started_at: r.started_at,
            open_start: r.open_start,
        })
    }
}

impl ShardState {
    pub fn encode(&self) -> Vec<u8> {
        pb::StoredShard {
            shard_id: self.shard.0,
            region: self.region.to_string(),
            planned_worker: self.planned_worker.to_string(),
            wave: self.wave,
            work: Some(work_to_pb(&self.work)),
            attempt: self.attempt.0,
            worker_id: self
                .worker
                .as_ref()
                .map(|w| w.to_string())
                .unwrap_or_default(),
            done: seqset_to_pb(&self.done),
            status: self.status.as_str().to_string(),
            history: self
                .history
                .iter()
                .filter_map(|c| match event_to_pb(&RunEvent::Shard(c.clone())).kind {
                    Some(runs_pb::run_event::Kind::Shard(c)) => Some(c),
                    _ => None,
                })
                .collect(),
        }
        .encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let what = "shard";
        let s = pb::StoredShard::decode(bytes).map_err(|e| DecodeError::new(what, e))?;
        let convert = |e: ConvertError| DecodeError::new(what, e);
        let status = [
            ShardStatus::Waiting,
            ShardStatus::Running,
            ShardStatus::Complete,
            ShardStatus::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s.status)
        .ok_or_else(|| DecodeError::new(what, format!("status `{}`", s.status)))?;
        let history = s
            .history
            .into_iter()
            .map(|c| {
                let event = runs_pb::RunEvent {
                    kind: Some(runs_pb::run_event::Kind::Shard(c)),
                };
                match event_from_pb(event).map_err(convert)? {
                    RunEvent::Shard(c) => Ok(c),
                    _ => Err(DecodeError::new(what, "history holds another event")),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(ShardState {
            shard: ShardId(s.shard_id),
            region: parse(&s.region, "shard.region").map_err(convert)?,
            planned_worker: worker(s.planned_worker, "shard.planned_worker").map_err(convert)?,
            wave: s.wave,
            work: work_from_pb(s.work).map_err(convert)?,
            attempt: Attempt(s.attempt),
            worker: (!s.worker_id.is_empty())
                .then(|| worker(s.worker_id, "shard.worker_id"))
                .transpose()
                .map_err(convert)?,
            done: seqset_from_pb(s.done),
            status,
            history,
        })
    }
}

impl StoredBatch {
    pub fn encode(&self) -> Vec<u8> {
        let records = match event_to_pb(&RunEvent::Records(self.records.clone())).kind {
            Some(runs_pb::run_event::Kind::Records(r)) => Some(r),
            _ => None,
        };
        pb::StoredBatch {
            shard_id: self.shard.0,
            attempt: self.attempt.0,
            at_s: self.at_s,
            records,
            delta: Some(keyed_to_pb(&self.delta)),
        }
        .encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let what = "batch";
        let b = pb::StoredBatch::decode(bytes).map_err(|e| DecodeError::new(what, e))?;
        let convert = |e: ConvertError| DecodeError::new(what, e);
        let event = runs_pb::RunEvent {
            kind: Some(runs_pb::run_event::Kind::Records(
                required(b.records, "batch.records").map_err(convert)?,
            )),
        };
        let RunEvent::Records(records) = event_from_pb(event).map_err(convert)? else {
            return Err(DecodeError::new(what, "records hold another event"));
        };
        Ok(StoredBatch {
            shard: ShardId(b.shard_id),
            attempt: Attempt(b.attempt),
            at_s: b.at_s,
            records,
            delta: keyed_from_pb(required(b.delta, "batch.delta").map_err(convert)?)
                .map_err(convert)?,
        })
    }

    /// The sequence numbers it holds.
    pub fn sequences(&self) -> Vec<u64> {
        self.records.iter().map(|r| r.record.sequence).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Placement;
    use crate::runs::{BenchmarkInvoke, ShardState as Change};

    #[test]
    fn runs_and_shards_read_back_as_they_were_stored() {
        let placement = Placement::parse("eu=2,us").unwrap();
        let run = RunState {
            run: RunId(9),
            status: RunStatus::Failed("no workers".into()),
            submission: Some(Submission::Benchmark(Box::new(BenchmarkInvoke {
                benchmark: "110".into(),
                size: "test".into(),
                placement: placement.clone(),
                ..BenchmarkInvoke::default()
            }))),
            job: None,
            started_at: 12.5,
            open_start: Some(13.0),
        };
        let back = RunState::decode(&run.encode()).unwrap();
        assert_eq!(back.status, run.status);
        assert_eq!((back.started_at, back.open_start), (12.5, Some(13.0)));
        assert!(
            matches!(back.submission, Some(Submission::Benchmark(b)) if b.benchmark == "110" && b.placement == placement)
        );

        let eu = Region::new("eu").unwrap();
        let shard = ShardState {
            shard: ShardId(3),
            region: eu.clone(),
            planned_worker: WorkerId::new("a").unwrap(),
            wave: 1,
            work: ShardWork::Closed {
                invocations: 10,
                tasks: 2,
            },
            attempt: Attempt(2),
            worker: None,
            done: SeqSet::from_ranges([0..4, 6..8]),
            status: ShardStatus::Waiting,
            history: vec![ShardChange {
                shard: ShardId(3),
                attempt: Attempt(1),
                worker: WorkerId::new("b").unwrap(),
                region: eu,
                state: Change::Reassigned,
                reason: "worker a left".into(),
            }],
        };
        assert_eq!(ShardState::decode(&shard.encode()).unwrap(), shard);
        assert!(RunState::decode(b"\xff\xff").is_err());
    }
}
