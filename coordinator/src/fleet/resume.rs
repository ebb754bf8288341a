//! Taking up runs a coordinator left unfinished, from a store that keeps them (etcd), and
//! telling a watcher that comes late what a run has accepted so far.
//!
//! A run is resumed from what the store holds: its submission (a benchmark is prepared again:
//! the package comes from the cache, the function is deployed again, which on a cloud finds it
//! current), its shard plan, and its batches, which are exactly the results watchers were sent
//! (a batch is stored before its records go out). Each batch counts again in the shard's
//! ledger, histograms and validation; every shard that is not complete goes out as a new
//! attempt that skips what is done. Workers re-attach on their own and get it as they come.
//!
//! A watcher (`RunService::watch`, e.g. a client that lost its coordinator) is sent the run's
//! `Started`, every shard change, every batch's records with its histograms bucketed into
//! intervals of `flush_every`, then follows; a client therefore writes its files anew from the
//! start, and they hold each invocation once.

use crate::observe::fleet_metrics::RunTracker;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sebs_proto::runs::{RunEvent, RunInterval, Submission};
use sebs_proto::RunId;
use sebs_worker::engine::seqset::SeqSet;
use tokio::sync::mpsc;

use super::coordinator::{now_s, Coordinator, Events, RunInput};
use super::planner::{Plan, PlannedShard};
use super::run::{self, Driver};
use super::state::{RunState, RunStatus, ShardState, ShardStatus, StoredBatch};

impl Coordinator {
    /// Takes up every unfinished run in the store; returns their ids (for the coordinator's
    /// copies). Each is reachable (`watch`, `cancel`) at once; it waits for workers to
    /// re-attach.
    pub async fn resume_runs(&self) -> Vec<RunId> {
        resume_runs(self).await
    }
}

async fn resume_runs(c: &Coordinator) -> Vec<RunId> {
    if !c.0.store.keeps_results() {
        return Vec::new();
    }
    let ids = match c.0.store.runs().await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the stored runs; none resumed");
            return Vec::new();
        }
    };
    let mut resumed = Vec::new();
    for id in ids {
        let state = match c.0.store.run(id).await {
            Ok(Some(state)) if state.status.is_unfinished() => state,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "cannot read a stored run; not resumed");
                continue;
            }
        };
        let (inbox, events) = c.register(id);
        let coordinator = c.clone();
        tokio::spawn(async move {
            resume(&coordinator, state, inbox, events).await;
            coordinator.unregister(id);
        });
        resumed.push(id);
    }
    resumed
}

/// Drives a stored run to its end, from where the store says it was.
async fn resume(
    c: &Coordinator,
    state: RunState,
    mut inbox: mpsc::Receiver<RunInput>,
    events: Events,
) {
    let run = state.run;
    let Some(submission) = state.submission.clone() else {
        tracing::warn!(%run, "a stored run without its submission cannot be resumed");
        return;
    };
    let shards = match c.0.store.shards(run).await {
        Ok(shards) => shards,
        Err(e) => return store_failed(c, run, &events, e.to_string()).await,
    };
    if state.status == RunStatus::Preparing || shards.is_empty() {
        // Nothing was planned, so nothing was measured: the run starts over.
        tracing::info!(%run, "resuming a run that had not started: preparing it again");
        let again = RunState {
            status: RunStatus::Preparing,
            ..state
        };
        if let Err(e) = c.0.store.put_run(&again).await {
            return store_failed(c, run, &events, e.to_string()).await;
        }
        return run::drive(c.clone(), run, submission, inbox, events).await;
    }
    let batches = match c.0.store.batches(run).await {
        Ok(batches) => batches,
        Err(e) => return store_failed(c, run, &events, e.to_string()).await,
    };
    tracing::info!(%run, shards = shards.len(), batches = batches.len(), "resuming the run: preparing it again");
    let prepared = match run::prepare(c, run, submission.clone(), &events).await {
        Ok(p) => p,
        Err(message) => return run::fail(c, run, &events, message).await,
    };
    let mut driver = restored(c, &state, submission, prepared, shards, batches, events);
    driver.store_run(RunStatus::Running).await;
    driver.run(&mut inbox).await;
    driver.finish().await;
}

async fn store_failed(c: &Coordinator, run: RunId, events: &Events, error: String) {
    run::fail(c, run, events, format!("cannot resume the run: {error}")).await;
}

/// The driver of a stored run: its plan, clocks and ledgers as they were, every shard that is
/// not complete waiting for a new attempt.
fn restored(
    c: &Coordinator,
    state: &RunState,
    submission: Submission,
    prepared: super::hooks::Prepared,
    mut stored: Vec<ShardState>,
    batches: Vec<StoredBatch>,
    events: Events,
) -> Driver {
    stored.sort_by_key(|s| s.shard);
    let plan = Plan {
        waves: stored.iter().map(|s| s.wave + 1).max().unwrap_or(0),
        shards: stored
            .iter()
            .map(|s| PlannedShard {
                shard: s.shard,
                worker: s.planned_worker.clone(),
                region: s.region.clone(),
                wave: s.wave,
                work: s.work.clone(),
            })
            .collect(),
    };
    let mut tracker = RunTracker::preparing(c.0.config.metrics.clone());
    tracker.running();
    let mut driver = Driver::new(
        c.clone(),
        state.run,
        submission,
        prepared,
        plan,
        events,
        tracker,
    );
    driver.started_at = state.started_at;
    let ago = Duration::try_from_secs_f64(now_s() - state.started_at).unwrap_or_default();
    driver.started = Instant::now().checked_sub(ago).unwrap_or_else(Instant::now);
    driver.open_start = state.open_start;
    let batches = distinct(batches);
    driver.batches = batches.len() as u64;
    let mut done: BTreeMap<u32, (SeqSet, u32)> = BTreeMap::new();
    for b in &batches {
        let (set, attempt) = done.entry(b.shard.0).or_default();
        for s in b.sequences() {
            set.insert(s);
        }
        *attempt = (*attempt).max(b.attempt.0);
    }
    for (i, s) in stored.into_iter().enumerate() {
        let (set, attempt) = done.remove(&s.shard.0).unwrap_or_default();
        let shard = &mut driver.shards[i];
        shard
            .ledger
            .restore(s.attempt.max(sebs_proto::Attempt(attempt)), set);
        shard.history = s.history;
        let closed_and_done = shard.ledger.is_complete() == Some(true);
        shard.status = match s.status {
            ShardStatus::Complete | ShardStatus::Failed => s.status,
            _ if closed_and_done => ShardStatus::Complete,
            _ => {
                shard.ledger.next_attempt();
                shard.why = "the coordinator restarted".to_string();
                ShardStatus::Waiting
            }
        };
    }
    // Workers of attempts before the restart, for the clock table (those that attach again).
    for change in driver.shards.iter().flat_map(|s| &s.history) {
        if !driver.workers_used.contains(&change.worker) {
            driver.workers_used.push(change.worker.clone());
        }
    }
    for b in &batches {
        let i = b.shard.0 as usize;
        if i < driver.shards.len() {
            driver.count(i, b);
        }
    }
    driver.wave = driver
        .shards
        .iter()
        .filter(|s| !matches!(s.status, ShardStatus::Complete | ShardStatus::Failed))
        .map(|s| s.plan.wave)
        .min()
        .unwrap_or(driver.waves);
    driver
}

/// The batches without any that repeats a (shard, sequence) of an earlier one: a write the
/// store made although it reported a failure, whose invocations then ran again.
fn distinct(batches: Vec<StoredBatch>) -> Vec<StoredBatch> {
    let mut seen: BTreeMap<u32, SeqSet> = BTreeMap::new();
    batches
        .into_iter()
        .filter(|b| {
            let set = seen.entry(b.shard.0).or_default();
            let sequences = b.sequences();
            if sequences.iter().any(|&s| set.contains(s)) {
                tracing::warn!(shard = %b.shard, "a stored batch repeats counted invocations; skipped");
                return false;
            }
            for s in sequences {
                set.insert(s);
            }
            true
        })
        .collect()
}

impl Driver {
    /// Sends `watcher` the run so far (when the store keeps it), then lets it follow.
    pub(super) async fn replay_to(&mut self, watcher: mpsc::Sender<RunEvent>) {
        let batches = match self.c.0.store.batches(self.run).await {
            Ok(batches) => distinct(batches),
            Err(e) => {
                tracing::warn!(run = %self.run, error = %e, "cannot read the run's results for a watcher");
                return;
            }
        };
        let mut replay = vec![
            RunEvent::Accepted(self.run),
            RunEvent::Started(Arc::new(self.started_event())),
        ];
        replay.extend(
            self.shards
                .iter()
                .flat_map(|s| s.history.iter().cloned().map(RunEvent::Shard)),
        );
        let every = self.c.0.config.flush_every.as_secs_f64().max(1e-3);
        let mut sent = 0u64;
        let mut bucket: Option<(u64, Vec<sebs_proto::runs::KeyedRecorder>)> = None;
        let mut ordered: Vec<&StoredBatch> = batches.iter().collect();
        ordered.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        for b in ordered {
            let n = (b.at_s / every).floor() as u64;
            if bucket.as_ref().is_some_and(|(m, _)| *m != n) {
                replay.push(interval(bucket.take(), every, sent));
            }
            sent += b.records.len() as u64;
            bucket
                .get_or_insert_with(|| (n, Vec::new()))
                .1
                .push(b.delta.clone());
            replay.push(RunEvent::Records(b.records.clone()));
        }
        if bucket.is_some() {
            replay.push(interval(bucket, every, sent));
        }
        for event in replay {
            if watcher.send(event).await.is_err() {
                return;
            }
        }
        self.events.add(watcher);
    }
}

/// One bucket of replayed histograms as an interval.
fn interval(
    bucket: Option<(u64, Vec<sebs_proto::runs::KeyedRecorder>)>,
    every: f64,
    sent: u64,
) -> RunEvent {
    let (n, deltas) = bucket.unwrap_or_default();
    RunEvent::Interval(Arc::new(RunInterval {
        from_s: n as f64 * every,
        to_s: (n + 1) as f64 * every,
        sent,
        intended: sent,
        deltas,
    }))
}
