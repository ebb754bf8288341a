//! The worker: attaches to a coordinator (in this process or across the network), runs the
//! shards it is given through the invocation engine, and streams back what they measured.
//!
//! Shutdown goes in a fixed order (STYLE §9): stop taking shards, stop every shard's sends,
//! let invocations in flight finish and their results flush, then detach (which ends the
//! worker's membership) and return.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use sebs_platform::TriggerFactories;
use sebs_proto::fleet::{
    Assignment, FromWorker, Pong, ShardDone, ShardKey, ShardReport, ToWorker, WorkerHello,
};
use sebs_proto::{FleetError, FleetService};
use sebs_worker::engine::recorder::Recorder;
use sebs_worker::engine::records::Record;
use sebs_worker::engine::runner::{run_engine, EngineConfig, EngineSink, Progress};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{info_span, Instrument, Span};

use crate::observe::{traces, WorkerMetrics};

/// Messages waiting to go to the coordinator. A full queue slows the engine's aggregator, never
/// the tasks' sends (they hand over on a timer).
const OUTBOX: usize = 256;

/// Why a worker stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum WorkerExit {
    /// Asked to (shutdown): everything it ran was reported.
    Shutdown,
    /// The coordinator went away; its shards were stopped.
    LostCoordinator,
}

#[derive(Debug)]
pub struct WorkerAgent {
    hello: WorkerHello,
    factories: TriggerFactories,
    metrics: Arc<WorkerMetrics>,
}

impl WorkerAgent {
    pub fn new(hello: WorkerHello, factories: TriggerFactories) -> Self {
        WorkerAgent {
            hello,
            factories,
            metrics: Arc::default(),
        }
    }

    /// Counts into `metrics` (which `--metrics-listen` serves).
    pub fn with_metrics(mut self, metrics: Arc<WorkerMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Attaches and serves until `shutdown` turns true or the coordinator goes away. An error:
    /// the coordinator refused to attach it (a wrong token, say).
    pub async fn run(
        &self,
        fleet: &dyn FleetService,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<WorkerExit, FleetError> {
        let (outbox, from_worker) = mpsc::channel(OUTBOX);
        // A shutdown while attaching (an unreachable coordinator can take long) ends it.
        let mut inbox = tokio::select! {
            attached = fleet.attach(self.hello.clone(), from_worker) => attached?,
            _ = stopped(&mut shutdown) => return Ok(WorkerExit::Shutdown),
        };
        tracing::info!(worker = %self.hello.worker, region = %self.hello.region, "attached to the coordinator");
        self.metrics.attached.set(&[], 1.0);
        let mut shards: HashMap<ShardKey, watch::Sender<bool>> = HashMap::new();
        let mut running: JoinSet<ShardKey> = JoinSet::new();
        let exit = loop {
            tokio::select! {
                message = inbox.recv() => match message {
                    Some(ToWorker::Assign(a)) => {
                        let (stop, stopped) = watch::channel(false);
                        shards.insert(a.key, stop);
                        let (factories, outbox) = (self.factories.clone(), outbox.clone());
                        let region = self.hello.region.to_string();
                        // The attempt's span continues the coordinator's, across the network.
                        let span = info_span!("shard", run = %a.key.run, shard = %a.key.shard, attempt = %a.key.attempt, worker = %self.hello.worker, region = %region);
                        if let Some(parent) = &a.trace_parent {
                            traces::continue_trace(&span, parent);
                        }
                        let sink = Reports {
                            key: a.key,
                            outbox,
                            region,
                            metrics: self.metrics.clone(),
                            span: span.clone(),
                        };
                        running.spawn(async move {
                            let key = a.key;
                            let metrics = sink.metrics.clone();
                            metrics.active_shards.add(&[], 1.0);
                            run_shard(*a, &factories, sink, stopped).await;
                            metrics.active_shards.add(&[], -1.0);
                            key
                        }.instrument(span));
                    }
                    Some(ToWorker::Stop(key)) => {
                        if let Some(stop) = shards.get(&key) {
                            let _ = stop.send(true);
                        }
                    }
                    Some(ToWorker::Ping(ping)) => {
                        let now = now_s();
                        let _ = outbox.send(FromWorker::Pong(Pong::answer(ping, now, now_s()))).await;
                    }
                    None => break WorkerExit::LostCoordinator,
                },
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok(key) = done {
                        shards.remove(&key);
                    }
                }
                _ = stopped(&mut shutdown) => break WorkerExit::Shutdown,
            }
        };
        // Stop taking shards (the inbox is no longer read), stop sending, let what is in flight
        // finish and report, then detach by dropping the outbox.
        for stop in shards.values() {
            let _ = stop.send(true);
        }
        if exit == WorkerExit::LostCoordinator {
            tracing::warn!(worker = %self.hello.worker, "lost the coordinator; stopping every shard");
        }
        while running.join_next().await.is_some() {}
        drop(outbox);
        self.metrics.attached.set(&[], 0.0);
        Ok(exit)
    }
}

/// Completes when `stop` turns true; never, if nobody can set it any more.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs one shard attempt to its end and says so.
async fn run_shard(
    a: Assignment,
    factories: &TriggerFactories,
    mut sink: Reports,
    stop: watch::Receiver<bool>,
) {
    let key = a.key;
    let outbox = sink.outbox.clone();
    let built = match factories.build(&a.trigger) {
        Ok(built) => built,
        Err(e) => {
            let error = Some(format!("cannot build the trigger of {}: {e:#}", a.function));
            let _ = outbox
                .send(FromWorker::Done(ShardDone {
                    key,
                    sent: 0,
                    error,
                }))
                .await;
            return;
        }
    };
    tracing::info!(run = %key.run, shard = %key.shard, attempt = %key.attempt, tasks = a.work.tasks(), skip = a.skip.len(), "shard started");
    let config = EngineConfig {
        load: a.work.engine_load(),
        tasks: a.work.tasks().max(1) as usize,
        flush_every: a.flush_every,
        start: a.start_at.map(instant_of),
        id_prefix: id_prefix(&key),
        keep_raw: a.keep_outputs,
        skip: a.skip,
    };
    let outcome = run_engine(
        config,
        built.trigger,
        built.reader,
        a.payload,
        &mut sink,
        stop,
    )
    .await;
    tracing::info!(run = %key.run, shard = %key.shard, attempt = %key.attempt, sent = outcome.sent, "shard done");
    let _ = outbox
        .send(FromWorker::Done(ShardDone {
            key,
            sent: outcome.sent,
            error: None,
        }))
        .await;
}

/// Request ids of a shard attempt: run (32 bits), shard (32), attempt (16), sequence (48).
fn id_prefix(key: &ShardKey) -> u128 {
    (u128::from(key.run.0 as u32) << 96)
        | (u128::from(key.shard.0) << 64)
        | (u128::from(key.attempt.0 as u16) << 48)
}

/// The `Instant` of an epoch time on this machine's clock.
fn instant_of(epoch_s: f64) -> Instant {
    let (now, now_s) = (Instant::now(), now_s());
    let ahead = Duration::try_from_secs_f64((epoch_s - now_s).abs()).unwrap_or_default();
    if epoch_s >= now_s {
        now + ahead
    } else {
        now.checked_sub(ahead).unwrap_or(now)
    }
}

fn now_s() -> f64 {
    sebs_worker::epoch_seconds(SystemTime::now())
}

/// The engine's sink on a worker: each flush becomes one report, each tick a progress message.
struct Reports {
    key: ShardKey,
    outbox: mpsc::Sender<FromWorker>,
    /// Where reports are counted, under the worker's region.
    region: String,
    metrics: Arc<WorkerMetrics>,
    /// The attempt's span: each report is a child.
    span: Span,
}

#[async_trait]
impl EngineSink for Reports {
    async fn flush(&mut self, records: &mut Vec<Record>, delta: &mut Recorder) {
        if records.is_empty() && delta.count() == 0 {
            return;
        }
        let report = ShardReport {
            key: self.key,
            records: std::mem::take(records),
            delta: std::mem::take(delta),
        };
        let _span = info_span!(parent: &self.span, "report", records = report.records.len());
        // Counted from the delta, once per report, before it leaves (the engine is not waiting).
        self.metrics.sent.count(&self.region, &report.delta);
        self.metrics.reports.inc(&[]);
        let _ = self.outbox.send(FromWorker::Report(Box::new(report))).await;
    }

    async fn tick(&mut self, progress: &Progress, _interval: &Recorder) {
        let _ = self
            .outbox
            .send(FromWorker::Progress {
                key: self.key,
                sent: progress.sent,
                intended: progress.intended,
            })
            .await;
    }
}
