//! One run, from submission to its last event: prepare the job (a benchmark is built and
//! deployed first), plan its shards, hand them to workers wave by wave, accept their reports
//! once each, hand a departed worker's unfinished shards to others, and finish.
//!
//! The driver is one task that owns all of the run's state; workers' messages, membership
//! changes and cancellation reach it through its inbox, so nothing here is shared or locked.

use std::sync::Arc;
use std::time::Instant;

use sebs_common::result::Origin as ResultOrigin;
use sebs_proto::fleet::{Assignment, FromWorker, ShardDone, ShardKey, ShardReport, ToWorker};
use sebs_proto::job::Load;
use sebs_proto::runs::{
    KeyedRecorder, Origin, PlannedShard as PlannedEvent, RunEvent, RunFinished, RunInterval,
    RunRecord, RunStarted, ShardChange, ShardState, Submission,
};
use sebs_proto::{Attempt, Region, RunId, WorkerId};
use tokio::sync::mpsc;
use tracing::{info_span, Instrument, Span};

use super::coordinator::{now_s, Coordinator, Events, MemberChange, RunInput};
use super::hooks::Prepared;
use super::ledger::{HistogramTable, ShardLedger, Verdict};
use super::planner::{self, PlannedShard, WorkerSlot};
use super::state::{self, RunState, RunStatus, ShardStatus, StoredBatch};
use crate::observe::fleet_metrics::RunTracker;
use crate::observe::traces;

/// Drives `run` to its end; every way it ends sends `Finished` or `Failed` last. All of it
/// happens in the run's span, the root of its trace.
pub(super) async fn drive(
    c: Coordinator,
    run: RunId,
    submission: Submission,
    inbox: mpsc::Receiver<RunInput>,
    events: Events,
) {
    let span = info_span!("run", run = %run);
    drive_in_span(c, run, submission, inbox, events)
        .instrument(span)
        .await;
}

async fn drive_in_span(
    c: Coordinator,
    run: RunId,
    submission: Submission,
    mut inbox: mpsc::Receiver<RunInput>,
    events: Events,
) {
    // Counts the run under its state until it ends, whichever way.
    let tracker = RunTracker::preparing(c.0.config.metrics.clone());
    let prepared = match prepare(&c, run, submission.clone(), &events).await {
        Ok(p) => p,
        Err(message) => return fail(&c, run, &events, message).await,
    };
    // A cancel that came while the job was being prepared.
    let mut cancelled = false;
    while let Ok(input) = inbox.try_recv() {
        match input {
            RunInput::Cancel => cancelled = true,
            RunInput::Watch(watcher) => watch_from_start(run, &events, watcher).await,
            _ => {}
        }
    }
    let plan = if cancelled {
        Err("cancelled before it started".to_string())
    } else {
        match plan_when_workers(&c, run, &prepared, &mut inbox, &events).await {
            Ok(Some(plan)) => Ok(plan),
            Ok(None) => Err("cancelled before it started".to_string()),
            Err(message) => Err(message),
        }
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(message) => {
            prepared.hooks.cleanup().await;
            return fail(&c, run, &events, message).await;
        }
    };
    let mut driver = Driver::new(
        c.clone(),
        run,
        submission,
        prepared,
        plan,
        events.clone(),
        tracker,
    );
    driver.started().await;
    driver.run(&mut inbox).await;
    driver.finish().await;
}

pub(super) async fn fail(c: &Coordinator, run: RunId, events: &Events, message: String) {
    tracing::warn!(%run, "run failed: {message}");
    let state = RunState {
        run,
        status: RunStatus::Failed(message.clone()),
        submission: None,
        job: None,
        started_at: now_s(),
        open_start: None,
    };
    let _ = c.0.store.put_run(&state).await;
    events.send(RunEvent::Failed(message)).await;
}

/// Adds a watcher that came before the run started: it has missed nothing but `Accepted`.
async fn watch_from_start(run: RunId, events: &Events, watcher: mpsc::Sender<RunEvent>) {
    if watcher.send(RunEvent::Accepted(run)).await.is_ok() {
        events.add(watcher);
    }
}

/// The job of a submission: as it is, or a benchmark prepared (its steps told as they start).
pub(super) async fn prepare(
    c: &Coordinator,
    run: RunId,
    submission: Submission,
    events: &Events,
) -> Result<Prepared, String> {
    match submission {
        Submission::Job(job) => Ok(Prepared::bare(*job)),
        Submission::SessionJob(job) => c
            .preparer()
            .ok_or("this coordinator holds no experiment sessions")?
            .session_job(*job)
            .map_err(|e| format!("{e:#}")),
        Submission::Benchmark(invoke) => {
            let preparer = c
                .preparer()
                .ok_or("this coordinator cannot prepare benchmarks")?;
            let (status, mut steps) = mpsc::unbounded_channel();
            let forward = {
                let events = events.clone();
                tokio::spawn(async move {
                    while let Some(step) = steps.recv().await {
                        events.send(RunEvent::Status(step)).await;
                    }
                })
            };
            let prepared = preparer.prepare(run, *invoke, status).await;
            let _ = forward.await;
            prepared.map_err(|e| format!("{e:#}"))
        }
    }
}

/// The members that can invoke the job's function, as the planner sees them: those with a
/// live stream (one whose stream broke keeps what it has, and gets nothing new).
fn eligible(c: &Coordinator, prepared: &Prepared) -> Vec<WorkerSlot> {
    let deployment = prepared.job.trigger.deployment;
    c.0.membership
        .members()
        .into_iter()
        .filter(|m| m.deployments.contains(&deployment) && c.is_linked(&m.worker))
        .map(|m| WorkerSlot {
            worker: m.worker,
            region: m.region,
            capacity: m.capacity,
        })
        .collect()
}

/// Plans as soon as the placement can be met, waiting up to `worker_wait` for workers.
/// `Ok(None)`: cancelled while waiting.
async fn plan_when_workers(
    c: &Coordinator,
    run: RunId,
    prepared: &Prepared,
    inbox: &mut mpsc::Receiver<RunInput>,
    events: &Events,
) -> Result<Option<planner::Plan>, String> {
    let deadline = Instant::now() + c.0.config.worker_wait;
    let mut told = false;
    loop {
        let workers = eligible(c, prepared);
        match planner::plan(&prepared.job.load, &prepared.job.placement, &workers) {
            Ok(plan) => return Ok(Some(plan)),
            Err(
                e @ (planner::PlanError::NoWorkers | planner::PlanError::MissingRegions { .. }),
            ) => {
                if Instant::now() >= deadline {
                    return Err(format!("{e} (waited {:?})", c.0.config.worker_wait));
                }
                if !told {
                    events
                        .send(RunEvent::Status(format!("waiting for workers: {e}")))
                        .await;
                    told = true;
                }
            }
            Err(e) => return Err(e.to_string()),
        }
        let wait = tokio::time::sleep_until(deadline.into());
        tokio::select! {
            input = inbox.recv() => match input {
                Some(RunInput::Cancel) | None => return Ok(None),
                Some(RunInput::Watch(watcher)) => {
                    watch_from_start(run, events, watcher).await
                }
                Some(_) => {}
            },
            _ = wait => {}
        }
    }
}

/// A shard as the run tracks it.
pub(super) struct Shard {
    pub(super) plan: PlannedShard,
    pub(super) ledger: ShardLedger,
    pub(super) status: ShardStatus,
    pub(super) worker: Option<WorkerId>,
    /// The region of `worker`, where its records are filed.
    region: Option<Region>,
    /// Sequence numbers already done when the current attempt started (it skips them).
    skipped: u64,
    sent: u64,
    intended: u64,
    /// Workers the shard failed on (it is not given to them again).
    failed_on: Vec<WorkerId>,
    /// Since when it has waited for a worker.
    waiting_since: Option<Instant>,
    /// Why its current attempt was started, when it was handed over.
    pub(super) why: String,
    /// Its changes so far, as `fleet.json` lists them (stored, so that they survive a restart).
    pub(super) history: Vec<ShardChange>,
    /// The worker each attempt went to, to stop a replaced one that is still running.
    attempts: Vec<(Attempt, WorkerId)>,
    pub(super) dirty: bool,
    /// The current attempt's span (a child of the run's); the worker's continues it.
    span: Span,
}

impl Shard {
    pub(super) fn new(plan: PlannedShard) -> Self {
        Shard {
            ledger: ShardLedger::new(plan.work.sequences()),
            plan,
            status: ShardStatus::Waiting,
            worker: None,
            region: None,
            skipped: 0,
            sent: 0,
            intended: 0,
            failed_on: Vec::new(),
            waiting_since: None,
            why: String::new(),
            history: Vec::new(),
            attempts: Vec::new(),
            dirty: true,
            span: Span::none(),
        }
    }
}

pub(super) struct Driver {
    pub(super) c: Coordinator,
    pub(super) run: RunId,
    pub(super) submission: Submission,
    pub(super) prepared: Prepared,
    pub(super) shards: Vec<Shard>,
    pub(super) waves: u32,
    pub(super) wave: u32,
    pub(super) events: Events,
    pub(super) table: HistogramTable,
    /// Batches of results stored so far (the next one's index).
    pub(super) batches: u64,
    pub(super) started: Instant,
    pub(super) started_at: f64,
    /// Epoch seconds (coordinator clock) when an open loop's schedule starts.
    pub(super) open_start: Option<f64>,
    last_tick_s: f64,
    worst_behind: f64,
    cancelled: bool,
    error: Option<String>,
    duplicates: u64,
    /// Reports of replaced attempts, refused (`late_report`).
    late: u64,
    /// Replaced attempts told to stop once their late reports came.
    stopped_late: Vec<ShardKey>,
    /// Every worker that ran a shard, for the clock table.
    pub(super) workers_used: Vec<WorkerId>,
    tracker: RunTracker,
}

impl Driver {
    pub(super) fn new(
        c: Coordinator,
        run: RunId,
        submission: Submission,
        prepared: Prepared,
        plan: planner::Plan,
        events: Events,
        tracker: RunTracker,
    ) -> Self {
        Driver {
            c,
            run,
            submission,
            prepared,
            shards: plan.shards.into_iter().map(Shard::new).collect(),
            waves: plan.waves,
            wave: 0,
            events,
            table: HistogramTable::default(),
            batches: 0,
            started: Instant::now(),
            started_at: now_s(),
            open_start: None,
            last_tick_s: 0.0,
            worst_behind: 0.0,
            cancelled: false,
            error: None,
            duplicates: 0,
            late: 0,
            stopped_late: Vec::new(),
            workers_used: Vec::new(),
            tracker,
        }
    }

    async fn started(&mut self) {
        self.tracker.running();
        let job = &self.prepared.job;
        tracing::info!(run = %self.run, function = %job.function, shards = self.shards.len(), waves = self.waves, "run started");
        // The plan before the status: a running run always has its shards in the store.
        self.store_shards().await;
        self.store_run(RunStatus::Running).await;
        let started = self.started_event();
        self.events.send(RunEvent::Started(Arc::new(started))).await;
    }

    /// Stores the run with `status`, and what a coordinator needs to resume it.
    pub(super) async fn store_run(&self, status: RunStatus) {
        let state = RunState {
            run: self.run,
            status,
            submission: Some(self.submission.clone()),
            job: Some(self.prepared.job.clone()),
            started_at: self.started_at,
            open_start: self.open_start,
        };
        if let Err(e) = self.c.0.store.put_run(&state).await {
            tracing::warn!(run = %self.run, error = %e, "cannot store the run");
        }
    }

    /// The run's `Started` event.
    pub(super) fn started_event(&self) -> RunStarted {
        let job = &self.prepared.job;
        RunStarted {
            run: self.run,
            function: job.function.clone(),
            title: self.prepared.title.clone(),
            metadata: self.prepared.metadata.clone(),
            load: job.load.clone(),
            keep_outputs: job.keep_outputs,
            started_at: self.started_at,
            shards: self
                .shards
                .iter()
                .map(|s| PlannedEvent {
                    shard: s.plan.shard,
                    region: s.plan.region.clone(),
                    worker: s.plan.worker.clone(),
                    wave: s.plan.wave,
                    planned: s.plan.work.planned(),
                })
                .collect(),
        }
    }

    /// Runs wave after wave until all are done, the run is cancelled or fails.
    pub(super) async fn run(&mut self, inbox: &mut mpsc::Receiver<RunInput>) {
        let mut tick = tokio::time::interval(self.c.0.config.flush_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        while self.wave < self.waves && !self.cancelled && self.error.is_none() {
            let batched = matches!(self.prepared.job.load, Load::Closed(c) if c.batches);
            if batched {
                if let Err(e) = self.prepared.hooks.before_wave(self.wave).await {
                    self.error = Some(format!("before batch {}: {e}", self.wave));
                    break;
                }
            }
            if matches!(self.prepared.job.load, Load::Open(_)) && self.open_start.is_none() {
                self.open_start = Some(now_s() + self.c.0.config.start_lead.as_secs_f64());
                self.store_run(RunStatus::Running).await;
            }
            // (A resumed run's wave may hold shards that are already complete.)
            for i in self.in_wave() {
                if self.shards[i].status == ShardStatus::Waiting {
                    self.dispatch(i).await;
                }
            }
            while !self.wave_over() {
                tokio::select! {
                    input = inbox.recv() => match input {
                        Some(input) => self.handle(input).await,
                        None => return,
                    },
                    _ = tick.tick() => self.tick().await,
                }
            }
            self.wave += 1;
        }
        // Whatever was accepted since the last tick.
        self.tick().await;
    }

    fn in_wave(&self) -> Vec<usize> {
        (0..self.shards.len())
            .filter(|&i| self.shards[i].plan.wave == self.wave)
            .collect()
    }

    fn wave_over(&self) -> bool {
        self.in_wave().into_iter().all(|i| {
            matches!(
                self.shards[i].status,
                ShardStatus::Complete | ShardStatus::Failed
            )
        })
    }

    /// Tasks each worker runs for this run now.
    fn busy(&self, worker: &WorkerId) -> u64 {
        self.shards
            .iter()
            .filter(|s| s.status == ShardStatus::Running && s.worker.as_ref() == Some(worker))
            .map(|s| u64::from(s.plan.work.tasks()))
            .sum()
    }

    /// Hands shard `i` to its planned worker if it is still there, else to the best other one;
    /// with none, the shard waits for a worker to join.
    async fn dispatch(&mut self, i: usize) {
        if self.cancelled {
            self.shards[i].status = ShardStatus::Complete;
            return;
        }
        let workers = eligible(&self.c, &self.prepared);
        let shard = &self.shards[i];
        let planned = workers.iter().find(|w| {
            w.worker == shard.plan.worker
                && !shard.failed_on.contains(&w.worker)
                && shard.ledger.attempt().0 == 0
        });
        let target = match planned {
            Some(w) => Some(w.clone()),
            None => planner::reassign(
                &shard.plan.region,
                &workers,
                |w| self.busy(w),
                &shard.failed_on,
            )
            .cloned(),
        };
        let Some(target) = target else {
            let shard = &mut self.shards[i];
            shard.status = ShardStatus::Waiting;
            shard.waiting_since.get_or_insert_with(Instant::now);
            return;
        };
        let key = ShardKey {
            run: self.run,
            shard: shard.plan.shard,
            attempt: shard.ledger.attempt(),
        };
        let skip = shard.ledger.done().clone();
        let span = info_span!("shard", run = %self.run, shard = %key.shard, attempt = %key.attempt, worker = %target.worker, region = %target.region);
        let start_at = self
            .open_start
            .map(|at| at - self.c.offset_of(&target.worker));
        let job = &self.prepared.job;
        let assignment = Assignment {
            key,
            function: job.function.clone(),
            trigger: job.trigger.clone(),
            payload: job.payload.clone(),
            keep_outputs: job.keep_outputs,
            work: shard.plan.work.clone(),
            skip: skip.clone(),
            start_at,
            flush_every: self.c.0.config.flush_every,
            trace_parent: traces::trace_parent(&span),
        };
        if !self
            .c
            .send_to(&target.worker, ToWorker::Assign(Box::new(assignment)))
            .await
        {
            // Gone between the membership read and now: its leave event comes next.
            let shard = &mut self.shards[i];
            shard.status = ShardStatus::Waiting;
            shard.waiting_since.get_or_insert_with(Instant::now);
            return;
        }
        if !self.workers_used.contains(&target.worker) {
            self.workers_used.push(target.worker.clone());
        }
        let shard = &mut self.shards[i];
        shard.status = ShardStatus::Running;
        shard.worker = Some(target.worker.clone());
        shard.region = Some(target.region.clone());
        shard.skipped = skip.len();
        shard.sent = 0;
        shard.intended = 0;
        shard.waiting_since = None;
        shard.attempts.push((key.attempt, target.worker.clone()));
        shard.dirty = true;
        shard.span = span;
        let state = if key.attempt.0 == 0 {
            ShardState::Assigned
        } else {
            ShardState::Reassigned
        };
        tracing::debug!(run = %self.run, shard = %key.shard, attempt = %key.attempt, worker = %target.worker, "shard {}", state.as_str());
        let reason = std::mem::take(&mut self.shards[i].why);
        self.shard_change(i, target.worker, target.region, state, reason)
            .await;
    }

    /// Gives shard `i` to another attempt (its old one is over or gone), skipping what is done.
    async fn reassign(&mut self, i: usize, reason: String) {
        let shard = &mut self.shards[i];
        let from = shard.worker.take();
        let attempt = shard.ledger.next_attempt();
        shard.status = ShardStatus::Waiting;
        shard.why = reason.clone();
        self.c.0.config.metrics.reassignments.inc(&[]);
        tracing::warn!(run = %self.run, shard = %shard.plan.shard, %attempt, from = ?from.as_ref().map(|w| w.to_string()), "reassigning a shard: {reason}");
        self.dispatch(i).await;
    }

    fn shard_of(&self, key: &ShardKey) -> Option<usize> {
        let i = key.shard.0 as usize;
        (key.run == self.run && i < self.shards.len()).then_some(i)
    }

    async fn handle(&mut self, input: RunInput) {
        match input {
            RunInput::Worker(FromWorker::Report(report)) => self.report(*report).await,
            RunInput::Worker(FromWorker::Progress {
                key,
                sent,
                intended,
            }) => {
                if let Some(i) = self
                    .shard_of(&key)
                    .filter(|&i| self.shards[i].ledger.attempt() == key.attempt)
                {
                    let shard = &mut self.shards[i];
                    shard.sent = sent;
                    shard.intended = intended;
                }
            }
            RunInput::Worker(FromWorker::Done(done)) => self.done(done).await,
            // The coordinator's link handles these; they are never routed to a run.
            RunInput::Worker(FromWorker::Pong(_) | FromWorker::Bye) => {}
            RunInput::Member(MemberChange::Left { worker, reason }) => {
                self.left(&[worker], &reason).await;
                // Also shards that found their worker gone while it was being handed them.
                self.dispatch_waiting().await;
            }
            RunInput::Member(MemberChange::Resync) => {
                let members: Vec<WorkerId> = self
                    .c
                    .0
                    .membership
                    .members()
                    .into_iter()
                    .map(|m| m.worker)
                    .collect();
                let gone: Vec<WorkerId> = self
                    .shards
                    .iter()
                    .filter_map(|s| s.worker.clone())
                    .filter(|w| !members.contains(w))
                    .collect();
                self.left(&gone, "it is no longer a member").await;
                self.dispatch_waiting().await;
            }
            RunInput::Member(MemberChange::Joined) => self.dispatch_waiting().await,
            RunInput::Watch(watcher) => self.replay_to(watcher).await,
            RunInput::Cancel => {
                if self.cancelled {
                    return;
                }
                tracing::info!(run = %self.run, "cancelling: stopping every shard");
                self.cancelled = true;
                for i in 0..self.shards.len() {
                    let shard = &mut self.shards[i];
                    match (shard.status, shard.worker.clone()) {
                        (ShardStatus::Running, Some(worker)) => {
                            let key = ShardKey {
                                run: self.run,
                                shard: shard.plan.shard,
                                attempt: shard.ledger.attempt(),
                            };
                            self.c.send_to(&worker, ToWorker::Stop(key)).await;
                        }
                        (ShardStatus::Waiting, _) => shard.status = ShardStatus::Complete,
                        _ => {}
                    }
                }
            }
        }
    }

    /// Hands the running shards of workers that left to others (or, once cancelled, ends them).
    async fn left(&mut self, workers: &[WorkerId], reason: &str) {
        for i in 0..self.shards.len() {
            let shard = &self.shards[i];
            let on_gone = shard.worker.as_ref().is_some_and(|w| workers.contains(w));
            if shard.status != ShardStatus::Running || !on_gone {
                continue;
            }
            if self.cancelled {
                self.shards[i].status = ShardStatus::Complete;
            } else {
                let worker = shard
                    .worker
                    .clone()
                    .map(|w| w.to_string())
                    .unwrap_or_default();
                self.reassign(i, format!("worker {worker} left ({reason})"))
                    .await;
            }
        }
    }

    /// Tries again to place the current wave's shards that wait for a worker.
    async fn dispatch_waiting(&mut self) {
        for i in self.in_wave() {
            if self.shards[i].status == ShardStatus::Waiting {
                self.dispatch(i).await;
            }
        }
    }

    /// Accepts a report whole, or refuses it whole (stale attempt, duplicate, or the store
    /// cannot keep it). It is stored before it counts and before its records go out, so that
    /// what watchers saw survives a restart of the coordinator and nothing counts twice.
    async fn report(&mut self, report: ShardReport) {
        let Some(i) = self.shard_of(&report.key) else {
            return;
        };
        let sequences: Vec<u64> = report.records.iter().map(|r| r.sequence).collect();
        let shard = &self.shards[i];
        let span = info_span!(parent: &shard.span, "report", attempt = %report.key.attempt, records = sequences.len(), verdict = tracing::field::Empty);
        let reports = &self.c.0.config.metrics.reports;
        match shard.ledger.check(report.key.attempt, &sequences) {
            Verdict::Accepted => {}
            Verdict::Stale { current } => {
                reports.inc(&["stale"]);
                span.record("verdict", "stale");
                self.late_report(report.key, current).await;
                return;
            }
            Verdict::Duplicate => {
                reports.inc(&["duplicate"]);
                span.record("verdict", "duplicate");
                self.duplicates += 1;
                tracing::warn!(run = %self.run, shard = %report.key.shard, attempt = %report.key.attempt, "a report of invocations already counted, refused");
                return;
            }
        }
        let (Some(worker), Some(region)) = (shard.worker.clone(), shard.region.clone()) else {
            return;
        };
        let origin = Origin {
            region: region.clone(),
            worker,
            shard: report.key.shard,
            attempt: report.key.attempt,
        };
        let keep = self.prepared.job.keep_outputs;
        let records: Vec<RunRecord> = report
            .records
            .into_iter()
            .map(|mut record| {
                let raw = record.raw.take().map(|r| *r).unwrap_or_default();
                let result = keep.then(|| {
                    let mut result = self.prepared.hooks.execution_result(&record, &raw);
                    result.origin = Some(ResultOrigin {
                        region: origin.region.to_string(),
                        worker: origin.worker.to_string(),
                        shard: origin.shard.0,
                        attempt: origin.attempt.0,
                        sequence: record.sequence,
                    });
                    result
                });
                RunRecord {
                    origin: origin.clone(),
                    record,
                    result,
                }
            })
            .collect();
        let batch = StoredBatch {
            shard: report.key.shard,
            attempt: report.key.attempt,
            at_s: self.started.elapsed().as_secs_f64(),
            records: Arc::new(records),
            delta: KeyedRecorder {
                function: self.prepared.job.function.clone(),
                region,
                recorder: report.delta,
            },
        };
        if let Err(e) = self
            .c
            .0
            .store
            .put_batch(self.run, self.batches, &batch)
            .await
        {
            // Not counted: a closed shard then misses these and runs them again.
            tracing::warn!(run = %self.run, shard = %report.key.shard, error = %e, "cannot store a report; refused");
            return;
        }
        self.batches += 1;
        let metrics = &self.c.0.config.metrics;
        metrics.reports.inc(&["merged"]);
        metrics
            .merged
            .count(batch.delta.region.as_str(), &batch.delta.recorder);
        span.record("verdict", "merged");
        self.shards[i].ledger.accept(batch.attempt, &sequences);
        self.count(i, &batch);
        if !batch.records.is_empty() {
            self.events.send(RunEvent::Records(batch.records)).await;
        }
    }

    /// Counts the histograms and results of a batch of shard `i` that its ledger accepted.
    pub(super) fn count(&mut self, i: usize, batch: &StoredBatch) {
        self.shards[i].dirty = true;
        self.table.add(
            &batch.delta.function,
            &batch.delta.region,
            &batch.delta.recorder,
        );
        for result in batch.records.iter().filter_map(|r| r.result.as_ref()) {
            self.prepared.hooks.observe(result);
        }
    }

    /// A report of an attempt that was replaced (its worker came back after the grace period):
    /// refused whole, since the new attempt runs everything that was not done when it started.
    /// Its worker is told once to stop that attempt.
    async fn late_report(&mut self, key: ShardKey, current: Attempt) {
        self.late += 1;
        if self.stopped_late.contains(&key) {
            return;
        }
        self.stopped_late.push(key);
        let Some(i) = self.shard_of(&key) else { return };
        let worker = self.shards[i]
            .attempts
            .iter()
            .find(|(a, _)| *a == key.attempt)
            .map(|(_, w)| w.clone());
        tracing::info!(run = %self.run, shard = %key.shard, attempt = %key.attempt, %current, worker = ?worker.as_ref().map(|w| w.to_string()), "late reports of a replaced attempt: refused, and the attempt stopped");
        if let Some(worker) = worker {
            self.c.send_to(&worker, ToWorker::Stop(key)).await;
        }
    }

    async fn done(&mut self, done: ShardDone) {
        let Some(i) = self.shard_of(&done.key) else {
            return;
        };
        let shard = &self.shards[i];
        if shard.ledger.attempt() != done.key.attempt || shard.status != ShardStatus::Running {
            return;
        }
        let worker = shard.worker.clone();
        let region = shard.plan.region.clone();
        if let Some(error) = done.error {
            let Some(worker) = worker else { return };
            self.shards[i].failed_on.push(worker.clone());
            let others = eligible(&self.c, &self.prepared)
                .iter()
                .any(|w| !self.shards[i].failed_on.contains(&w.worker));
            if others && !self.cancelled {
                self.reassign(i, format!("it failed on {worker}: {error}"))
                    .await;
            } else {
                self.shards[i].status = ShardStatus::Failed;
                self.shards[i].dirty = true;
                self.shards[i].span = Span::none();
                let message = format!("shard {} failed on {worker}: {error}", done.key.shard);
                self.error.get_or_insert(message.clone());
                self.shard_change(i, worker, region, ShardState::Failed, message)
                    .await;
            }
            return;
        }
        let missing = self.shards[i].ledger.missing().unwrap_or(0);
        if missing > 0 && !self.cancelled {
            self.reassign(i, format!("{missing} invocations are missing"))
                .await;
            return;
        }
        self.shards[i].status = ShardStatus::Complete;
        self.shards[i].dirty = true;
        // The attempt's span ends here.
        self.shards[i].span = Span::none();
        if let Some(worker) = worker {
            self.shard_change(i, worker, region, ShardState::Done, String::new())
                .await;
        }
    }

    /// Tells watchers of a change of shard `i`, and keeps it in the shard's history.
    async fn shard_change(
        &mut self,
        i: usize,
        worker: WorkerId,
        region: Region,
        state: ShardState,
        reason: String,
    ) {
        let shard = &mut self.shards[i];
        let change = ShardChange {
            shard: shard.plan.shard,
            attempt: shard.ledger.attempt(),
            worker,
            region,
            state,
            reason,
        };
        shard.history.push(change.clone());
        shard.dirty = true;
        self.events.send(RunEvent::Shard(change)).await;
    }

    /// Once per `flush_every`: the interval's histograms and progress; shards' state stored;
    /// shards that waited too long for a worker fail the run.
    pub(super) async fn tick(&mut self) {
        let now_s = self.started.elapsed().as_secs_f64();
        let sent: u64 = self.shards.iter().map(|s| s.skipped + s.sent).sum();
        let intended: u64 = match self.prepared.job.load {
            Load::Open(_) => self
                .shards
                .iter()
                .map(|s| s.intended.max(s.skipped + s.sent))
                .sum(),
            Load::Closed(_) => sent,
        };
        if intended > 0 {
            self.worst_behind = self.worst_behind.max(1.0 - sent as f64 / intended as f64);
        }
        let interval = RunInterval {
            from_s: self.last_tick_s,
            to_s: now_s,
            sent,
            intended,
            deltas: self.table.take_interval(),
        };
        self.last_tick_s = now_s;
        let running = self
            .shards
            .iter()
            .filter(|s| s.status == ShardStatus::Running);
        self.tracker.active_shards(running.count());
        self.events
            .send(RunEvent::Interval(Arc::new(interval)))
            .await;
        self.store_shards().await;
        let wait = self.c.0.config.worker_wait;
        if let Some(s) = self
            .shards
            .iter()
            .find(|s| s.waiting_since.is_some_and(|t| t.elapsed() > wait))
        {
            let message = format!(
                "shard {} found no worker to run it for {wait:?}",
                s.plan.shard
            );
            self.error.get_or_insert(message);
            for s in &mut self.shards {
                if s.status == ShardStatus::Waiting {
                    s.status = ShardStatus::Failed;
                }
            }
        }
    }

    /// Stores the shards that changed since they were last stored.
    async fn store_shards(&mut self) {
        for i in 0..self.shards.len() {
            if std::mem::take(&mut self.shards[i].dirty) {
                let s = &self.shards[i];
                let state = state::ShardState {
                    shard: s.plan.shard,
                    region: s.plan.region.clone(),
                    planned_worker: s.plan.worker.clone(),
                    wave: s.plan.wave,
                    work: s.plan.work.clone(),
                    attempt: s.ledger.attempt(),
                    worker: s.worker.clone(),
                    done: s.ledger.done().clone(),
                    status: s.status,
                    history: s.history.clone(),
                };
                if let Err(e) = self.c.0.store.put_shard(self.run, &state).await {
                    tracing::warn!(run = %self.run, error = %e, "cannot store a shard's state");
                }
            }
        }
    }

    /// The last event: totals, clocks, validation; then the job's resources are released.
    pub(super) async fn finish(mut self) {
        let complete = !self.cancelled
            && self.error.is_none()
            && self.shards.iter().all(|s| {
                s.status == ShardStatus::Complete && s.ledger.is_complete() != Some(false)
            });
        let validation = match self.prepared.hooks.finish(complete).await {
            Ok(v) => v,
            Err(e) => {
                self.prepared.hooks.cleanup().await;
                return fail(&self.c, self.run, &self.events, e).await;
            }
        };
        let sent = self.shards.iter().map(|s| s.ledger.done().len()).sum();
        let finished = RunFinished {
            complete,
            error: self.error.clone(),
            totals: self.table.totals(),
            sent,
            elapsed_s: self.started.elapsed().as_secs_f64(),
            worst_behind: self.worst_behind,
            workers: self.c.clocks_of(&self.workers_used),
            validation,
            duplicates: self.duplicates,
        };
        // The shards' last changes, then the run: a coordinator that restarts now finds it over.
        self.store_shards().await;
        self.store_run(RunStatus::Finished { complete }).await;
        self.tracker.finished(complete);
        tracing::info!(run = %self.run, complete, invocations = sent, late_reports = self.late, duplicate_reports = self.duplicates, "run finished");
        self.events
            .send(RunEvent::Finished(Arc::new(finished)))
            .await;
        self.prepared.hooks.cleanup().await;
    }
}
