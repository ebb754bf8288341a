//! The worker: attaches to a coordinator (in this process or across the network), runs the
//! shards it is given through the invocation engine, and streams back what they measured.
//!
//! A worker outlives its link to the coordinator: when the stream breaks, its shards keep
//! running, their messages wait in the [`Spool`] (bounded in memory, spilled to disk), and it
//! attaches again with backoff; once back, everything not acknowledged goes out in order. The
//! coordinator keeps a worker's shards for it a grace period (`--reassign-after`) and counts
//! each report once, so nothing is lost or counted twice.
//!
//! Shutdown goes in a fixed order (STYLE §9): stop taking shards, stop every shard's sends,
//! let invocations in flight finish and their messages be acknowledged, then say goodbye (the
//! coordinator hands nothing on to wait for) and return.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use sebs_platform::TriggerFactories;
use sebs_proto::fleet::{
    Assignment, FromWorker, Pong, ShardDone, ShardKey, ShardReport, ToWorker, WorkerHello,
};
use sebs_proto::wire::{decode_from_worker, encode_from_worker};
use sebs_proto::{FleetError, FleetService};
use sebs_worker::engine::recorder::Recorder;
use sebs_worker::engine::records::Record;
use sebs_worker::engine::runner::{run_engine, EngineConfig, EngineSink, Progress};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{info_span, Instrument, Span};

use super::spool::Spool;
use crate::observe::{traces, WorkerMetrics};

/// Messages from the shards waiting for the agent, which moves them into the spool at once.
const OUTBOX: usize = 256;
/// The first pause before attaching again; it doubles up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long a stopping worker tries to deliver what it has before it gives up.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// How long a stopping worker waits for the coordinator to close its stream after goodbye.
const GOODBYE_WAIT: Duration = Duration::from_secs(5);

/// Where a worker keeps messages it cannot deliver yet.
#[derive(Clone, Debug)]
pub struct SpoolConfig {
    /// The folder of its spill file (created when first needed, deleted once read).
    pub dir: PathBuf,
    /// Bytes of messages it keeps in memory before spilling.
    pub memory: usize,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: std::env::temp_dir().join("sebs-spool"),
            memory: 64 << 20,
        }
    }
}

#[derive(Debug)]
pub struct WorkerAgent {
    hello: WorkerHello,
    factories: TriggerFactories,
    spool: SpoolConfig,
    metrics: Arc<WorkerMetrics>,
}

impl WorkerAgent {
    /// `hello.session` is replaced by a fresh random one: it names this agent's lifetime.
    pub fn new(mut hello: WorkerHello, factories: TriggerFactories, spool: SpoolConfig) -> Self {
        hello.session = rand::random::<u64>().max(1);
        WorkerAgent {
            hello,
            factories,
            spool,
            metrics: Arc::default(),
        }
    }

    /// Counts into `metrics` (which `--metrics-listen` serves).
    pub fn with_metrics(mut self, metrics: Arc<WorkerMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Attaches and serves until `shutdown` turns true, attaching again whenever the stream
    /// breaks. An error: the coordinator refused it (a wrong token, a name taken).
    pub async fn run(
        &self,
        fleet: &dyn FleetService,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), FleetError> {
        let worker = &self.hello.worker;
        let (outbox, mut messages) = mpsc::channel(OUTBOX);
        let mut spool = Spool::new(self.spool.dir.clone(), self.spool.memory);
        let mut shards: HashMap<ShardKey, watch::Sender<bool>> = HashMap::new();
        let mut running: JoinSet<ShardKey> = JoinSet::new();
        // The current stream, both ways, and how many spooled messages went out on it and
        // were acknowledged.
        let mut to: Option<mpsc::Sender<FromWorker>> = None;
        let mut from: Option<mpsc::Receiver<ToWorker>> = None;
        let (mut sent, mut acked) = (0u64, 0u64);
        let mut attached_once = false;
        let mut backoff = FIRST_BACKOFF;
        let mut retry_at = Instant::now();
        let mut drain_until: Option<Instant> = None;
        loop {
            let stopping = drain_until.is_some();
            if stopping && running.is_empty() && messages.is_empty() && spool.is_empty() {
                break;
            }
            if drain_until.is_some_and(|t| Instant::now() >= t) {
                tracing::warn!(%worker, undelivered = spool.len(), "stopping without delivering everything: the coordinator is out of reach");
                break;
            }
            if to.is_none() && Instant::now() >= retry_at {
                let (to_coordinator, from_worker) = mpsc::channel(OUTBOX);
                // A shutdown while attaching (an unreachable coordinator can take long) ends it.
                let attached = tokio::select! {
                    attached = fleet.attach(self.hello.clone(), from_worker) => Some(attached),
                    _ = stopped(&mut shutdown), if !stopping => None,
                };
                let Some(attached) = attached else {
                    for stop in shards.values() {
                        let _ = stop.send(true);
                    }
                    drain_until = Some(Instant::now() + DRAIN_LIMIT);
                    continue;
                };
                match attached {
                    Ok(inbox) => {
                        self.metrics.attached.set(&[], 1.0);
                        let undelivered = spool.len();
                        if attached_once {
                            tracing::info!(%worker, undelivered, memory_bytes = spool.memory(), spilled_ever = spool.spilled(), "attached to the coordinator again");
                        } else {
                            tracing::info!(%worker, region = %self.hello.region, "attached to the coordinator");
                        }
                        attached_once = true;
                        backoff = FIRST_BACKOFF;
                        (to, from) = (Some(to_coordinator), Some(inbox));
                        (sent, acked) = (0, 0);
                    }
                    Err(e @ (FleetError::Unauthenticated(_) | FleetError::InvalidArgument(_))) => {
                        return Err(e)
                    }
                    Err(e) => {
                        tracing::warn!(%worker, error = %e, undelivered = spool.len(), "cannot attach to the coordinator; trying again in {backoff:?}");
                        retry_at = back_off(&mut backoff);
                    }
                }
                continue;
            }
            let ready = spool.ready();
            let mut lost = false;
            tokio::select! {
                message = next_from(&mut from) => match message {
                    Some(ToWorker::Assign(a)) if !stopping => {
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
                    Some(ToWorker::Assign(a)) => {
                        tracing::debug!(%worker, shard = %a.key.shard, "an assignment while stopping, ignored");
                    }
                    Some(ToWorker::Stop(key)) => {
                        if let Some(stop) = shards.get(&key) {
                            let _ = stop.send(true);
                        }
                    }
                    Some(ToWorker::Ping(ping)) => {
                        let now = now_s();
                        if let Some(to) = &to {
                            // Clock samples are best effort: a full stream skips one.
                            let _ = to.try_send(FromWorker::Pong(Pong::answer(ping, now, now_s())));
                        }
                    }
                    Some(ToWorker::Ack(received)) => {
                        let received = received.min(sent);
                        spool.ack(received.saturating_sub(acked) as usize);
                        acked = acked.max(received);
                    }
                    None => lost = true,
                },
                Some(message) = messages.recv() => {
                    let mut bytes = Vec::new();
                    encode_from_worker(&message, &mut bytes);
                    if let Err(e) = spool.push(bytes) {
                        tracing::error!(%worker, error = %e, "cannot keep a message for the coordinator; it is lost");
                    }
                }
                permit = reserve(&to), if ready => match permit {
                    Some(permit) => match spool.take_next() {
                        Ok(Some(bytes)) => match decode_from_worker(&bytes) {
                            Ok(message) => {
                                permit.send(message);
                                spool.sent(bytes);
                                sent += 1;
                            }
                            Err(e) => tracing::error!(%worker, error = %e, "a spooled message does not decode; it is lost"),
                        },
                        Ok(None) => {}
                        Err(e) => tracing::error!(%worker, error = %e, "cannot read the spool"),
                    },
                    // The stream is closing: it is lost, as when `next_from` ends.
                    None => lost = true,
                },
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok(key) = done {
                        shards.remove(&key);
                    }
                }
                _ = stopped(&mut shutdown), if !stopping => {
                    // Stop taking shards, stop sending; what is in flight finishes and reports.
                    for stop in shards.values() {
                        let _ = stop.send(true);
                    }
                    drain_until = Some(Instant::now() + DRAIN_LIMIT);
                }
                _ = tokio::time::sleep_until(retry_at.into()), if to.is_none() => {}
                _ = tokio::time::sleep_until(drain_until.unwrap_or(retry_at).into()), if stopping => {}
            }
            if lost {
                self.metrics.attached.set(&[], 0.0);
                (to, from) = (None, None);
                spool.rewind();
                tracing::warn!(%worker, undelivered = spool.len(), shards = shards.len(), "lost the coordinator; shards keep running, attaching again");
                retry_at = back_off(&mut backoff);
            }
        }
        if let (Some(to), Some(mut from)) = (to, from) {
            // Goodbye: the coordinator hands nothing on to wait for, then closes the stream.
            if to.send(FromWorker::Bye).await.is_ok() {
                let _ = tokio::time::timeout(GOODBYE_WAIT, async {
                    while from.recv().await.is_some() {}
                })
                .await;
            }
        }
        self.metrics.attached.set(&[], 0.0);
        Ok(())
    }
}

/// When to attach again: after `backoff`, which doubles for the next time.
fn back_off(backoff: &mut Duration) -> Instant {
    let at = Instant::now() + *backoff;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    at
}

/// The coordinator's next message; never, without a stream.
async fn next_from(from: &mut Option<mpsc::Receiver<ToWorker>>) -> Option<ToWorker> {
    match from {
        Some(from) => from.recv().await,
        None => std::future::pending().await,
    }
}

/// Room for one message on the stream; `None` when it is closing; never, without a stream.
async fn reserve(to: &Option<mpsc::Sender<FromWorker>>) -> Option<mpsc::Permit<'_, FromWorker>> {
    match to {
        Some(to) => to.reserve().await.ok(),
        None => std::future::pending().await,
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
