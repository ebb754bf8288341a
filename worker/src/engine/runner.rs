//! The invocation engine: `tasks` concurrent tasks, each holding its own connection through the
//! trigger, drive a closed or open load and record every invocation.
//!
//! An open load is one arrival schedule that the tasks draw from: a task that is free takes the
//! next arrival, renders its request and hands it to the timer thread, which writes it at the
//! intended time (see [`super::timer`]); the task then reads the reply and measures latency from
//! the intended time. A slow reply therefore holds up only its own task, not the arrivals after
//! it (wrk2 deals each connection a fixed share, so one slow reply delays that connection's next
//! sends); sends fall behind only when every task is waiting on a reply. Latency counts from the
//! intended time, so a stalled endpoint that delays later sends shows up in their latency
//! (coordinated omission is corrected) and in the schedule lag the engine records for itself.
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
use super::recorder::{Metric, Recorder, Sample};
use super::records::{Record, RequestId, Timing};
use super::schedule::{share_schedule, Arrival, RateProfile, TaskSchedule};
use super::seqset::{Positions, SeqSet};
use super::share::Share;
use super::timer::{Dispatch, Dispatched, PreciseTimer};
use crate::lean_http::LeanConnection;
use crate::trigger::{epoch_seconds, signed_elapsed, InvocationRequest, Trigger};

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

/// When a task hands over: at [`BATCH_RECORDS`] records or every `every`, whichever comes
/// first. The first hand-over comes after a share of both proportional to the task's number, so
/// that tasks started together (and running at the same pace) do not all hand over in the same
/// instant, and the aggregator's work (and the allocations of the first hand-overs) spreads over
/// the interval instead of stalling every task at once.
#[derive(Clone, Copy, Debug)]
struct Flushes {
    every: Duration,
    records: usize,
    next: Instant,
}

impl Flushes {
    fn staggered(every: Duration, task: usize, tasks: usize) -> Self {
        let part = (task + 1) as f64 / tasks.max(1) as f64;
        Flushes {
            every,
            records: ((BATCH_RECORDS as f64 * part).ceil() as usize).clamp(1, BATCH_RECORDS),
            next: Instant::now() + every.mul_f64(part),
        }
    }

    fn due(&self, records: usize, now: Instant) -> bool {
        records >= self.records || now >= self.next
    }

    fn done(&mut self, now: Instant) {
        self.records = BATCH_RECORDS;
        self.next = now + self.every;
    }
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
    /// Open loads: whether the timer thread that sends them ran at real-time priority.
    pub realtime_timer: bool,
}

/// Warn when this far behind schedule (InVitro's threshold).
pub const BEHIND_WARNING: f64 = 0.10;

/// What a task hands over: its records and the histograms of exactly those invocations.
struct TaskFlush {
    records: Vec<Record>,
    delta: Recorder,
}

impl TaskFlush {
    /// An empty one; for an open load with the histograms of a warm success already made.
    fn new(open: bool) -> Self {
        let mut delta = Recorder::new();
        if open {
            delta.make_cells(
                &[Metric::Client, Metric::Benchmark, Metric::Lag],
                false,
                true,
            );
        }
        TaskFlush {
            records: Vec::with_capacity(BATCH_RECORDS),
            delta,
        }
    }
}

/// How long after its tasks are made an open load's schedule starts (unless the caller set the
/// start): time for every task to take its first arrival and be waiting for it, so that the
/// first arrivals are not late by the tasks' own start.
const OPEN_LEAD: Duration = Duration::from_millis(20);

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
    /// Open loads: the arrivals not yet taken, in order. A task takes the next one when it is
    /// free (a few hundred ns under the lock, tens of thousands of times a second at most).
    arrivals: Option<Mutex<TaskSchedule>>,
    /// Open loads wait for their intended send times on this timer (slot = task).
    timer: Option<PreciseTimer>,
}

impl Shared {
    /// Open loads: the next arrival not yet taken and not to be skipped, as (sequence, due).
    fn next_arrival(&self, arrivals: &Mutex<TaskSchedule>) -> Option<(u64, Instant)> {
        let mut arrivals = arrivals.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let (sequence, offset) = arrivals.next_arrival()?;
            if !self.skip.contains(sequence) {
                return Some((sequence, self.start + offset));
            }
        }
    }

    fn spare(&self) -> TaskFlush {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        spare.unwrap_or_else(|| TaskFlush::new(self.arrivals.is_some()))
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
    let open = matches!(config.load, Load::Open { .. });
    // Each task's own connection, when the trigger has them (plain HTTP). An open loop opens
    // them before its schedule starts, so that its first arrivals are not late by a handshake
    // each; a closed loop's first invocations measure their connect time, as SeBS's do.
    let mut connections: Vec<_> = (0..tasks).map(|_| trigger.own_connection()).collect();
    if open {
        connections = open_all(connections, stop.clone()).await;
    }
    // Each task's first buffers and histograms, made before the schedule starts.
    let firsts: Vec<TaskFlush> = (0..tasks).map(|_| TaskFlush::new(open)).collect();
    let now = Instant::now();
    let lead = if open { OPEN_LEAD } else { Duration::ZERO };
    let start = config.start.unwrap_or(now + lead);
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
        arrivals: match &config.load {
            Load::Open {
                profile,
                arrival,
                max_count,
                share,
            } => Some(Mutex::new(share_schedule(
                profile, *arrival, share, 0, 1, *max_count,
            ))),
            Load::Closed { .. } => None,
        },
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
    for (task, (connection, own)) in connections.into_iter().zip(firsts).enumerate() {
        let (shared, tx, stop) = (shared.clone(), tx.clone(), stop.clone());
        let flushes = Flushes::staggered(config.flush_every, task, tasks);
        set.spawn(async move { drive(task, connection, own, shared, tx, stop, flushes).await });
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
        realtime_timer: shared.timer.as_ref().is_some_and(PreciseTimer::realtime),
    }
}

/// Opens every connection at once and waits until all have connected or failed (a failed one
/// stays closed and connects again at its first request), or until `stop`.
async fn open_all(
    connections: Vec<Option<LeanConnection>>,
    mut stop: watch::Receiver<bool>,
) -> Vec<Option<LeanConnection>> {
    let tasks = connections.len();
    let mut opening = JoinSet::new();
    for (task, connection) in connections.into_iter().enumerate() {
        opening.spawn(async move {
            let mut connection = connection;
            if let Some(c) = connection.as_mut() {
                if let Err(e) = c.open().await {
                    tracing::debug!(error = %e.message, "could not open a connection ahead of the schedule");
                }
            }
            (task, connection)
        });
    }
    let mut opened: Vec<Option<LeanConnection>> = (0..tasks).map(|_| None).collect();
    loop {
        tokio::select! {
            done = opening.join_next() => match done {
                Some(Ok((task, connection))) => opened[task] = connection,
                Some(Err(e)) => tracing::warn!(error = %e, "a connection's opening task failed"),
                None => break,
            },
            // Abandoned openings: their tasks connect at their first request, if any.
            _ = stopped(&mut stop) => break,
        }
    }
    opened
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
    mut connection: Option<LeanConnection>,
    mut own: TaskFlush,
    shared: Arc<Shared>,
    tx: mpsc::Sender<TaskFlush>,
    stop: watch::Receiver<bool>,
    mut flushes: Flushes,
) {
    // Closed loads: positions claimed and not yet sent, and sends not yet added to `sent`. Both
    // counters are shared by every task; touching them once per request would move their cache
    // line between cores at every request.
    let mut claimed = 0..0;
    let mut unreported = 0;
    let open = shared.arrivals.is_some();
    loop {
        if *stop.borrow() {
            break;
        }
        // The sequence number and intended send time: from the schedule, or now for closed
        // loads.
        let (sequence, due) = match &shared.arrivals {
            Some(arrivals) => match shared.next_arrival(arrivals) {
                Some(arrival) => arrival,
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
        let request_id = RequestId::new(shared.id_prefix, sequence);
        let request = InvocationRequest {
            request_id: request_id.as_str(),
            payload: &shared.payload,
        };
        // Open loads wait for the arrival's time. On an open connection the timer thread writes
        // the request itself when it wakes, so that the send does not also wait for a runtime
        // worker to run this task.
        let (mut dispatched, mut last) = (None, false);
        if open && due > Instant::now() {
            let mut stop = stop.clone();
            let wait = async {
                let Some(timer) = &shared.timer else {
                    tokio::time::sleep_until(due.into()).await;
                    return None;
                };
                match connection.as_mut().and_then(|c| c.prepare(request)) {
                    Some((socket, bytes)) => {
                        Some(timer.send_at(task, due, Dispatch { socket, bytes }).await)
                    }
                    None => {
                        timer.sleep_until(task, due).await;
                        None
                    }
                }
            };
            tokio::select! {
                done = wait => dispatched = done,
                _ = stopped(&mut stop) => {
                    // A request the timer thread wrote just before the stop is on its way: read
                    // its reply and record it, then stop.
                    dispatched = shared.timer.as_ref().and_then(|t| t.withdraw(task));
                    if dispatched.is_none() {
                        break;
                    }
                    last = true;
                }
            }
        }
        // When the request left: a closed loop's is due when it is sent.
        let sent = match &dispatched {
            Some(Dispatched {
                sent: Some((at, _)),
                ..
            }) => *at,
            _ if open => Instant::now(),
            _ => due,
        };
        // Counted when sent, so that progress against the schedule is not late by a reply (closed
        // loads have no schedule: they add their count at each hand-over).
        if open {
            shared.sent.fetch_add(1, Ordering::Relaxed);
        } else {
            unreported += 1;
        }
        let pooled;
        // The reply and when it was complete.
        let (raw, done) = match (&mut connection, dispatched) {
            (Some(connection), Some(d)) => connection.invoke_prepared(d.bytes, d.sent).await,
            // `sent` was read just now (a closed loop's is its due time): the invocation starts there.
            (Some(connection), None) => connection.invoke_from(request, sent).await,
            (None, _) => {
                pooled = shared.trigger.invoke(request).await;
                (&pooled, Instant::now())
            }
        };
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
            lag_us: open.then_some(timing.lag_us),
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
        if last {
            break;
        }
        if flushes.due(own.records.len(), done) {
            shared.sent.fetch_add(unreported, Ordering::Relaxed);
            unreported = 0;
            let full = std::mem::replace(&mut own, shared.spare());
            if tx.send(full).await.is_err() {
                break;
            }
            flushes.done(done);
        }
    }
    shared.sent.fetch_add(unreported, Ordering::Relaxed);
    let _ = tx.send(own).await;
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
