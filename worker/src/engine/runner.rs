//! The invocation engine: `tasks` concurrent tasks, each holding its own connection through the
//! trigger, drive a closed or open load and record every invocation.
//!
//! Like wrk2, an open load gives each task its share of one global arrival schedule. A task
//! waits until its next intended time, sends, and measures latency from the intended time, so a
//! stalled endpoint that delays later sends shows up in their latency (coordinated omission is
//! corrected) and in the schedule lag the engine records for itself.
//!
//! The hot loop allocates nothing per request: histograms are per task, records are plain
//! structs pushed into a reused per-task buffer, request ids are fixed-size, and a task whose
//! trigger offers [`Trigger::own_connection`] (plain HTTP) sends through its own lean
//! connection, which reuses its buffers. (Triggers without one, e.g. hyper's for HTTPS, allocate
//! per request inside `invoke`.) A task hands its records together with the
//! histogram delta of exactly those invocations to the aggregator on a timer (or when its buffer
//! is full), never per request; the aggregator passes both to an [`EngineSink`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::reader::ReplyReader;
use super::recorder::{Recorder, Sample};
use super::records::{Record, RequestId, Timing};
use super::schedule::{share_schedule, Arrival, RateProfile};
use super::seqset::{Positions, SeqSet};
use super::share::Share;
use super::timer::PreciseTimer;
use crate::trigger::{epoch_seconds, InvocationRequest, Trigger};

/// What load to drive.
#[derive(Clone, Debug)]
pub enum Load {
    /// Each task sends its next request as soon as its previous reply arrived; invocations are
    /// numbered 0..invocations.
    Closed { invocations: u64 },
    /// Requests at intended times from a rate profile, the engine sending its `share` of them
    /// (all of them: [`Share::whole`]).
    Open {
        profile: RateProfile,
        arrival: Arrival,
        max_count: Option<u64>,
        share: Share,
    },
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub load: Load,
    /// Concurrent tasks (connections), the most requests in flight at once.
    pub tasks: usize,
    /// How often tasks hand their records and histogram deltas over (and at most this many
    /// records, [`BATCH_RECORDS`], in between).
    pub flush_every: Duration,
    /// When the schedule starts: its intended times are offsets from here. `None`: now. A
    /// start in the past sends what was due at once (each request's lag says how late).
    pub start: Option<Instant>,
    /// Request ids are this with the sequence number in the low 48 bits.
    pub id_prefix: u128,
    /// Keep each whole [`crate::RawInvocation`] (reply body and headers) in its record.
    pub keep_raw: bool,
    /// Sequence numbers not to send (already done by an earlier attempt).
    pub skip: SeqSet,
}

impl EngineConfig {
    /// A config with a random request-id prefix, starting now, keeping no replies, skipping
    /// nothing, flushing once a second.
    pub fn new(load: Load, tasks: usize) -> Self {
        EngineConfig {
            load,
            tasks,
            flush_every: Duration::from_secs(1),
            start: None,
            id_prefix: rand::random::<u128>(),
            keep_raw: false,
            skip: SeqSet::new(),
        }
    }
}

/// A task hands its records over when it has this many, or on its timer. Small enough that
/// 64 tasks' buffers stay a few MB, large enough that a hand-over (and, on a worker, one
/// report with its histogram delta) serves hundreds of invocations.
pub const BATCH_RECORDS: usize = 256;

/// Closed loads: the most positions a task claims at once.
const CLAIM: u64 = 8;

/// Closed loads: how many positions a task claims at once. Claiming several saves a shared
/// counter's cache line a trip per request, but a task that claims more than its share of a
/// small load runs them one after another where the others would have run them at once: a SeBS
/// batch of N at concurrency N must put one invocation on each task (each on an instance of its
/// own). So a task claims one at a time unless the load is many times the tasks.
fn claim_size(positions: u64, tasks: usize) -> u64 {
    (positions / (tasks as u64 * 16).max(1)).clamp(1, CLAIM)
}

/// Where the engine's results go. The aggregator calls it; tasks never do.
#[async_trait]
pub trait EngineSink: Send {
    /// One task's records since its last flush, and the histogram delta of exactly those
    /// invocations. Take what you keep (`std::mem::take`); the engine reuses what is left.
    async fn flush(&mut self, records: &mut Vec<Record>, delta: &mut Recorder);

    /// Once per `flush_every` and at the end: where the run stands, and the histograms of what
    /// arrived since the last tick.
    async fn tick(&mut self, _progress: &Progress, _interval: &Recorder) {}
}

/// A sink that keeps nothing (the outcome's total still counts everything).
#[derive(Clone, Copy, Debug, Default)]
pub struct Discard;

#[async_trait]
impl EngineSink for Discard {
    async fn flush(&mut self, _records: &mut Vec<Record>, _delta: &mut Recorder) {}
}

/// Where the run stands at one tick.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Seconds since the run started, at the start and end of this interval.
    pub from_s: f64,
    pub to_s: f64,
    /// Requests sent so far.
    pub sent: u64,
    /// Requests the schedule intended by now (closed loops: equal to `sent`).
    pub intended: u64,
}

impl Progress {
    /// How far the engine is behind its schedule, as a fraction of what was intended.
    pub fn behind(&self) -> f64 {
        if self.intended == 0 {
            0.0
        } else {
            1.0 - self.sent as f64 / self.intended as f64
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct EngineOutcome {
    pub total: Recorder,
    pub sent: u64,
    pub elapsed: Duration,
    /// Epoch seconds when the run started.
    pub started_at: f64,
    /// The largest fraction behind schedule seen at any tick.
    pub worst_behind: f64,
}

/// Warn when this far behind schedule (InVitro's threshold).
pub const BEHIND_WARNING: f64 = 0.10;

/// What a task hands over: its records and the histograms of exactly those invocations.
struct TaskFlush {
    records: Vec<Record>,
    delta: Recorder,
}

struct Shared {
    trigger: Arc<dyn Trigger>,
    reader: Arc<dyn ReplyReader>,
    payload: Bytes,
    sent: AtomicU64,
    /// Closed loads: the next position in `closed`.
    next_closed: AtomicU64,
    /// Closed loads: how many positions a task takes from `next_closed` at once.
    claim: u64,
    /// Closed loads: the sequence numbers to send, in order.
    closed: Positions,
    skip: SeqSet,
    start: Instant,
    id_prefix: u128,
    keep_raw: bool,
    /// Emptied recorders and record buffers, handed back by the aggregator so tasks reuse them.
    spare: Mutex<Vec<TaskFlush>>,
    /// Open loads wait for their intended send times on this timer (slot = task).
    timer: Option<PreciseTimer>,
}

impl Shared {
    fn spare(&self) -> TaskFlush {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        spare.unwrap_or_else(|| TaskFlush {
            records: Vec::with_capacity(BATCH_RECORDS),
            delta: Recorder::new(),
        })
    }
}

/// Runs the load to its end, or until `stop` turns true.
pub async fn run_engine(
    config: EngineConfig,
    trigger: Arc<dyn Trigger>,
    reader: Arc<dyn ReplyReader>,
    payload: Bytes,
    sink: &mut dyn EngineSink,
    stop: watch::Receiver<bool>,
) -> EngineOutcome {
    let tasks = config.tasks.max(1);
    let now = Instant::now();
    let start = config.start.unwrap_or(now);
    let started_at = epoch_seconds(SystemTime::now()) - signed_elapsed(start, now);
    let closed = match &config.load {
        Load::Closed { invocations } => {
            Positions::new(&config.skip.complement_within(0..*invocations))
        }
        Load::Open { .. } => Positions::default(),
    };
    let shared = Arc::new(Shared {
        trigger,
        reader,
        payload,
        sent: AtomicU64::new(0),
        next_closed: AtomicU64::new(0),
        claim: claim_size(closed.len(), tasks),
        closed,
        skip: config.skip.clone(),
        start,
        id_prefix: config.id_prefix,
        keep_raw: config.keep_raw,
        spare: Mutex::new(Vec::new()),
        timer: match &config.load {
            Load::Open { .. } => match PreciseTimer::start(tasks) {
                Ok(timer) => Some(timer),
                Err(e) => {
                    tracing::warn!(error = %e, "no timer thread; open-loop sends fall back to tokio's millisecond timer");
                    None
                }
            },
            Load::Closed { .. } => None,
        },
    });
    let (tx, mut rx) = mpsc::channel::<TaskFlush>(tasks * 4);
    let mut set = JoinSet::new();
    for task in 0..tasks {
        let (shared, load, tx, stop) = (
            shared.clone(),
            config.load.clone(),
            tx.clone(),
            stop.clone(),
        );
        let flush_every = config.flush_every;
        set.spawn(async move { drive(task, tasks, load, shared, tx, stop, flush_every).await });
    }
    drop(tx);

    let mut total = Recorder::new();
    let mut interval = Recorder::new();
    let mut tick = tokio::time::interval(config.flush_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let (mut last_s, mut worst_behind, mut warned_at) = (0.0, 0.0f64, f64::NEG_INFINITY);
    let progress = |last_s: f64| {
        let now_s = signed_elapsed(shared.start, Instant::now());
        let sent = shared.sent.load(Ordering::Relaxed);
        Progress {
            from_s: last_s,
            to_s: now_s,
            sent,
            intended: intended_by(&config.load, &shared.closed, now_s, sent),
        }
    };
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Some(mut flush) => {
                    interval.merge(&flush.delta);
                    sink.flush(&mut flush.records, &mut flush.delta).await;
                    flush.records.clear();
                    flush.delta.reset();
                    shared.spare.lock().unwrap_or_else(|e| e.into_inner()).push(flush);
                }
                None => break,
            },
            _ = tick.tick() => {
                let p = progress(last_s);
                sink.tick(&p, &interval).await;
                let behind = p.behind();
                worst_behind = worst_behind.max(behind);
                if behind > BEHIND_WARNING && p.to_s - warned_at >= 10.0 {
                    tracing::warn!(
                        sent = p.sent,
                        intended = p.intended,
                        "the engine is {:.0}% behind its schedule: the endpoint or this machine cannot keep up; latencies stay corrected",
                        behind * 100.0
                    );
                    warned_at = p.to_s;
                }
                total.merge(&interval);
                interval.reset();
                last_s = p.to_s;
            }
        }
    }
    while set.join_next().await.is_some() {}
    let p = progress(last_s);
    sink.tick(&p, &interval).await;
    worst_behind = worst_behind.max(p.behind());
    total.merge(&interval);
    EngineOutcome {
        total,
        sent: shared.sent.load(Ordering::Relaxed),
        elapsed: shared.start.elapsed(),
        started_at,
        worst_behind,
    }
}

/// Seconds from `start` to `now`, negative when `start` is still ahead.
fn signed_elapsed(start: Instant, now: Instant) -> f64 {
    now.saturating_duration_since(start).as_secs_f64()
        - start.saturating_duration_since(now).as_secs_f64()
}

/// Arrivals the schedule intended by `now_s` (open loads), or what was sent (closed loads).
fn intended_by(load: &Load, closed: &Positions, now_s: f64, sent: u64) -> u64 {
    match load {
        Load::Closed { .. } => sent.min(closed.len()),
        Load::Open {
            profile,
            max_count,
            share,
            ..
        } => {
            let t = Duration::from_secs_f64(now_s.clamp(0.0, profile.duration().as_secs_f64()));
            let expected = (profile.cumulative(t) * share.fraction()).ceil() as u64;
            max_count.map_or(expected, |cap| expected.min(share.owned_below(cap)))
        }
    }
}

/// Completes when `stop` turns true; never, if its sender is gone (nobody can stop the run).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// One task: its share of the load, its own recorder and record buffer.
async fn drive(
    task: usize,
    tasks: usize,
    load: Load,
    shared: Arc<Shared>,
    tx: mpsc::Sender<TaskFlush>,
    stop: watch::Receiver<bool>,
    flush_every: Duration,
) {
    let mut own = shared.spare();
    // The task's own connection, when the trigger has them (plain HTTP): no pool in between.
    let mut connection = shared.trigger.own_connection();
    let mut last_flush = Instant::now();
    // Closed loads: positions claimed and not yet sent, and sends not yet added to `sent`. Both
    // counters are shared by every task; touching them once per request would move their cache
    // line between cores at every request.
    let mut claimed = 0..0;
    let mut unreported = 0;
    let mut schedule = match &load {
        Load::Open {
            profile,
            arrival,
            max_count,
            share,
        } => Some(share_schedule(
            profile, *arrival, share, task, tasks, *max_count,
        )),
        Load::Closed { .. } => None,
    };
    loop {
        if *stop.borrow() {
            break;
        }
        // The sequence number and intended send time: from the schedule, or now for closed
        // loads.
        let (sequence, due) = match &mut schedule {
            Some(s) => match s.next_arrival() {
                Some((sequence, _)) if shared.skip.contains(sequence) => continue,
                Some((sequence, offset)) => (sequence, shared.start + offset),
                None => break,
            },
            None => {
                if claimed.is_empty() {
                    let first = shared
                        .next_closed
                        .fetch_add(shared.claim, Ordering::Relaxed);
                    claimed = first..first.saturating_add(shared.claim);
                }
                let position = claimed.next().unwrap_or(u64::MAX);
                match shared.closed.get(position) {
                    Some(sequence) => (sequence, Instant::now()),
                    None => break,
                }
            }
        };
        if schedule.is_some() && due > Instant::now() {
            let mut stop = stop.clone();
            let wait = async {
                match &shared.timer {
                    Some(timer) => timer.sleep_until(task, due).await,
                    None => tokio::time::sleep_until(due.into()).await,
                }
            };
            tokio::select! {
                _ = wait => {}
                _ = stopped(&mut stop) => break,
            }
        }
        // A closed loop's request is due when it is sent.
        let sent = if schedule.is_some() {
            Instant::now()
        } else {
            due
        };
        // Counted when sent, so that progress against the schedule is not late by a reply (closed
        // loads have no schedule: they add their count at each hand-over).
        if schedule.is_some() {
            shared.sent.fetch_add(1, Ordering::Relaxed);
        } else {
            unreported += 1;
        }
        let request_id = RequestId::new(shared.id_prefix, sequence);
        let request = InvocationRequest {
            request_id: request_id.as_str(),
            payload: &shared.payload,
        };
        let pooled;
        let raw = match &mut connection {
            Some(connection) => connection.invoke(request).await,
            None => {
                pooled = shared.trigger.invoke(request).await;
                &pooled
            }
        };
        let done = Instant::now();
        let reading = shared.reader.read(raw);
        let timing = Timing {
            intended_s: due.saturating_duration_since(shared.start).as_secs_f64(),
            client_begin: raw.client_begin,
            latency_us: done.saturating_duration_since(due).as_micros() as u64,
            service_us: done.saturating_duration_since(sent).as_micros() as u64,
            lag_us: sent.saturating_duration_since(due).as_micros() as u64,
            connect_us: (raw.http_startup * 1e6) as u64,
            first_byte_us: (raw.first_byte * 1e6) as u64,
        };
        own.delta.record(&Sample {
            client_us: timing.latency_us,
            benchmark_us: reading.benchmark_us,
            connect_us: (raw.http_startup > 0.0).then_some(timing.connect_us),
            lag_us: schedule.is_some().then_some(timing.lag_us),
            cold: reading.cold,
            ok: reading.failure.is_none(),
        });
        if let Some(kind) = reading.failure {
            own.delta.record_failure(kind);
        }
        let mut record = Record::new(
            sequence,
            request_id,
            timing,
            raw.status.unwrap_or(0),
            &reading,
        );
        if shared.keep_raw {
            record.raw = Some(Box::new(raw.clone()));
        }
        own.records.push(record);
        if own.records.len() >= BATCH_RECORDS
            || done.saturating_duration_since(last_flush) >= flush_every
        {
            shared.sent.fetch_add(unreported, Ordering::Relaxed);
            unreported = 0;
            let full = std::mem::replace(&mut own, shared.spare());
            if tx.send(full).await.is_err() {
                break;
            }
            last_flush = done;
        }
    }
    shared.sent.fetch_add(unreported, Ordering::Relaxed);
    let _ = tx.send(own).await;
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
