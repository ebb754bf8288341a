//! The state of experiments and their shards, kept where a coordinator that takes over could
//! read it back: which runs exist, how each shard was planned, its current attempt and worker,
//! and which of its sequence numbers are done.
//!
//! The coordinator writes on every change of a shard's attempt or state, and its done set once a
//! tick while it grows. In memory by default; a store behind the same trait (etcd) makes a run
//! survive its coordinator.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use sebs_proto::job::{JobSpec, ShardWork};
use sebs_proto::{Attempt, Region, RunId, ShardId, WorkerId};
use sebs_worker::engine::seqset::SeqSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Preparing,
    Running,
    Finished { complete: bool },
    Failed(String),
}

#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct RunState {
    pub run: RunId,
    pub status: RunStatus,
    /// The job, once the run has one (a benchmark has it after deployment).
    pub job: Option<JobSpec>,
    /// Epoch seconds, coordinator clock.
    pub started_at: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardStatus {
    /// Planned, not handed out yet (a later wave, or no worker available).
    Waiting,
    Running,
    Complete,
    Failed,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ShardState {
    pub shard: ShardId,
    pub region: Region,
    pub wave: u32,
    pub work: ShardWork,
    pub attempt: Attempt,
    pub worker: Option<WorkerId>,
    pub done: SeqSet,
    pub status: ShardStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("state store: {0}")]
pub struct StoreError(pub String);

/// Writes as runs go; reads tell what became of a run. A coordinator that resumes runs from
/// the store (not built yet) is the reader of `shards` and `runs`.
#[allow(dead_code)]
#[async_trait]
pub trait StateStore: Send + Sync {
    async fn put_run(&self, run: &RunState) -> Result<(), StoreError>;
    async fn put_shard(&self, run: RunId, shard: &ShardState) -> Result<(), StoreError>;
    async fn run(&self, run: RunId) -> Result<Option<RunState>, StoreError>;
    async fn shards(&self, run: RunId) -> Result<Vec<ShardState>, StoreError>;
    async fn runs(&self) -> Result<Vec<RunId>, StoreError>;
}

/// A run and its shards, as stored.
type StoredRun = (RunState, BTreeMap<ShardId, ShardState>);

/// State in this process's memory: gone with the coordinator.
#[derive(Debug, Default)]
pub struct InMemoryStateStore {
    runs: Mutex<BTreeMap<RunId, StoredRun>>,
}

#[async_trait]
impl StateStore for InMemoryStateStore {
    async fn put_run(&self, run: &RunState) -> Result<(), StoreError> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.entry(run.run)
            .and_modify(|(r, _)| *r = run.clone())
            .or_insert_with(|| (run.clone(), BTreeMap::new()));
        Ok(())
    }

    async fn put_shard(&self, run: RunId, shard: &ShardState) -> Result<(), StoreError> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let (_, shards) = runs
            .get_mut(&run)
            .ok_or_else(|| StoreError(format!("run {run} is not stored")))?;
        shards.insert(shard.shard, shard.clone());
        Ok(())
    }

    async fn run(&self, run: RunId) -> Result<Option<RunState>, StoreError> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        Ok(runs.get(&run).map(|(r, _)| r.clone()))
    }

    async fn shards(&self, run: RunId) -> Result<Vec<ShardState>, StoreError> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        Ok(runs
            .get(&run)
            .map(|(_, s)| s.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn runs(&self) -> Result<Vec<RunId>, StoreError> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        Ok(runs.keys().copied().collect())
    }
}
