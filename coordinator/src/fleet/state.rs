//! The state of experiments and their shards, kept where a coordinator that restarts reads it
//! back (`resume.rs`): which runs exist and what was submitted, each run's job, how each shard
//! was planned, its current attempt and worker, its history and which of its sequence numbers
//! are done, and the results accepted so far (`StoredBatch`).
//!
//! The driver stores a run when it is submitted, prepared and finished, its shards once a tick
//! when they changed, and each accepted report as a batch **before** its records go out to
//! watchers. In memory by default, where nothing survives the coordinator and no batch is kept;
//! `state_etcd.rs` keeps all of it in etcd.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use sebs_proto::RunId;

pub use sebs_proto::stored::{RunState, RunStatus, ShardState, ShardStatus, StoredBatch};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("state store: {0}")]
pub struct StoreError(pub String);

#[async_trait]
pub trait StateStore: Send + Sync {
    async fn put_run(&self, run: &RunState) -> Result<(), StoreError>;
    async fn put_shard(&self, run: RunId, shard: &ShardState) -> Result<(), StoreError>;
    /// Stores the `index`th batch of `run`'s results (indices count from 0 without gaps).
    async fn put_batch(
        &self,
        run: RunId,
        index: u64,
        batch: &StoredBatch,
    ) -> Result<(), StoreError>;
    async fn run(&self, run: RunId) -> Result<Option<RunState>, StoreError>;
    async fn shards(&self, run: RunId) -> Result<Vec<ShardState>, StoreError>;
    /// The run's batches in index order.
    async fn batches(&self, run: RunId) -> Result<Vec<StoredBatch>, StoreError>;
    async fn runs(&self) -> Result<Vec<RunId>, StoreError>;
    /// Whether batches are kept: then a watcher that comes late is sent the run's results so
    /// far, and runs can be resumed.
    fn keeps_results(&self) -> bool;
}

/// A run and its shards, as stored.
type StoredRun = (RunState, BTreeMap<sebs_proto::ShardId, ShardState>);

/// State in this process's memory: gone with the coordinator. It keeps no batches, so that a
/// run's memory does not grow with its results.
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

    async fn put_batch(&self, _: RunId, _: u64, _: &StoredBatch) -> Result<(), StoreError> {
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

    async fn batches(&self, _: RunId) -> Result<Vec<StoredBatch>, StoreError> {
        Ok(Vec::new())
    }

    async fn runs(&self) -> Result<Vec<RunId>, StoreError> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        Ok(runs.keys().copied().collect())
    }

    fn keeps_results(&self) -> bool {
        false
    }
}
